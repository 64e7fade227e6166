"""Siting on the street network: demand, candidates and travel times for the siting models.

:func:`site` is the drop-level API behind ``geo-integration site``: it aggregates the located
residences to H3 cells (demand units, weights = migrants, group = locality), takes candidate
sites (a user file, the gaps analysis' candidate areas, or network nodes sampled in
under-served hexagons), computes walking minutes from every candidate to every demand unit
within the cutoff on the street network, and the minutes from each unit to its nearest
existing service of the type, then solves with :func:`geo_integration.siting.solve_siting`
and, optionally, measures robustness under resampled and jittered demand.

Candidate-to-node times are computed once (one limited Dijkstra per candidate); each
robustness replicate only re-snaps its demand points and reads those times.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp

from geo_integration.config import Settings
from geo_integration.errors import AnalysisError
from geo_integration.network import StreetNetwork, snap_points

__all__ = ["CandidateSet", "NetworkSiting", "candidate_set", "site"]

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

#: Cutoff (minutes) of the models that need times beyond the coverage threshold.
LONG_CUTOFF_MIN = 60.0
#: At most this many candidates are generated when the user gives none.
MAX_CANDIDATES = 2000


def _lonlat(x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    from pyproj import Transformer

    tr = Transformer.from_crs("EPSG:9377", "EPSG:4326", always_xy=True)
    lon, lat = tr.transform(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    return np.asarray(lon), np.asarray(lat)


@dataclass
class CandidateSet:
    """Candidate sites: ids, names, coordinates (EPSG:4326 and 9377) and where they came from."""

    ids: npt.NDArray[np.object_]
    names: npt.NDArray[np.object_]
    lon: FloatArray
    lat: FloatArray
    xy: FloatArray
    source: str
    notes: list[str]


def _metric(lon: npt.ArrayLike, lat: npt.ArrayLike) -> FloatArray:
    from pyproj import Transformer

    tr = Transformer.from_crs("EPSG:4326", "EPSG:9377", always_xy=True)
    x, y = tr.transform(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    return np.column_stack([x, y])


def candidate_set(
    *,
    network: StreetNetwork,
    hexagons: pd.DataFrame,
    service_type: str,
    threshold_min: float,
    path: str | os.PathLike[str] | None = None,
    candidate_areas: pd.DataFrame | None = None,
    per_cell: int = 2,
    seed: int = 20240601,
) -> CandidateSet:
    """Candidates from a user file, else the gaps analysis' areas plus network nodes sampled in
    hexagons where fewer than half of the migrants are within ``threshold_min``."""
    from geo_integration.siting_candidates import read_candidates, sample_candidates_in_hexagons

    if path is not None:
        found = read_candidates(path)
        frame = found.frame
        notes = list(found.notes) + [
            f"row {r.row}: {r.problem}" for r in found.dropped.itertuples()
        ]
        return CandidateSet(
            frame["candidate_id"].astype(str).to_numpy(dtype=object),
            frame["name"].to_numpy(dtype=object),
            frame["lon"].to_numpy(float),
            frame["lat"].to_numpy(float),
            _metric(frame["lon"], frame["lat"]),
            f"file {path}",
            notes,
        )
    ids: list[str] = []
    names: list[str] = []
    lon: list[float] = []
    lat: list[float] = []
    if candidate_areas is not None and len(candidate_areas):
        areas = candidate_areas[candidate_areas["service_type"] == service_type]
        ids += areas["area_id"].astype(str).tolist()
        names += (areas["kind"].astype(str) + " " + areas["area_id"].astype(str)).tolist()
        lon += areas.geometry.x.astype(float).tolist()
        lat += areas.geometry.y.astype(float).tolist()
    under = _underserved_cells(hexagons, service_type, threshold_min)
    if len(under):
        nodes, cells = sample_candidates_in_hexagons(
            under,
            network.node_lonlat[:, 1],
            network.node_lonlat[:, 0],
            per_cell=per_cell,
            seed=seed,
        )
        for node, cell in zip(nodes.tolist(), cells.tolist(), strict=True):
            ids.append(f"node-{node}")
            names.append(f"nodo de red en {cell}")
            lon.append(float(network.node_lonlat[node, 0]))
            lat.append(float(network.node_lonlat[node, 1]))
    if not ids:
        msg = f"no candidate sites for {service_type!r}: give a file with --candidates"
        raise AnalysisError(msg)
    notes = []
    if len(ids) > MAX_CANDIDATES:
        rng = np.random.default_rng(seed)
        keep = np.sort(rng.choice(len(ids), MAX_CANDIDATES, replace=False))
        notes.append(f"{len(ids)} candidates generated; {MAX_CANDIDATES} sampled at random")
        ids, names = [ids[i] for i in keep], [names[i] for i in keep]
        lon, lat = [lon[i] for i in keep], [lat[i] for i in keep]
    return CandidateSet(
        np.array(ids, dtype=object),
        np.array(names, dtype=object),
        np.array(lon),
        np.array(lat),
        _metric(lon, lat),
        "gaps candidate areas and network nodes in under-served hexagons",
        notes,
    )


def _underserved_cells(
    hexagons: pd.DataFrame, service_type: str, threshold_min: float
) -> npt.NDArray[np.object_]:
    """H3 cells where fewer than half of the migrants are within ``threshold_min`` (from the
    coverage share when that threshold was measured, else from the median time)."""
    table = hexagons.reset_index() if "h3_cell" not in hexagons.columns else hexagons
    share = f"share_within_{threshold_min:g}_{service_type}"
    median = f"median_time_{service_type}"
    if share in table.columns:
        mask = pd.to_numeric(table[share], errors="coerce") < 0.5
    elif median in table.columns:
        mask = pd.to_numeric(table[median], errors="coerce") > threshold_min
    else:
        return np.array([], dtype=object)
    return table.loc[mask.to_numpy(), "h3_cell"].astype(str).to_numpy(dtype=object)


@dataclass
class NetworkSiting:
    """Builds siting problems on the street network for one service type.

    The candidate-to-node times (sparse, within the cutoff) are computed once; each call of
    :meth:`problem` aggregates the given residences to H3 cells and reads those times.
    """

    network: StreetNetwork
    candidates: CandidateSet
    existing_xy: FloatArray
    cutoff: float
    resolution: int
    _cand_nodes: sp.csc_array | None = None
    _exist_times: FloatArray | None = None
    _existing_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        from geo_integration.access import catchment_costs, node_times
        from geo_integration.siting_candidates import coincides_with_existing

        net = self.network
        mpm = net.metres_per_minute
        snap = snap_points(net, self.candidates.xy)
        cu, cv = snap.cost_minutes(mpm)
        every = np.arange(net.node_xy.shape[0])
        self._cand_nodes = catchment_costs(
            net.minutes,
            np.column_stack([snap.u, snap.v]),
            every,
            facility_cost=np.column_stack([cu, cv]),
            limit=self.cutoff,
            node_xy=net.node_xy,
        ).tocsc()
        if len(self.existing_xy):
            es = snap_points(net, self.existing_xy)
            eu, ev = es.cost_minutes(mpm)
            ok = es.located
            self._exist_times = node_times(
                net.minutes,
                np.column_stack([es.u, es.v])[ok],
                source_cost=np.column_stack([eu, ev])[ok],
                limit=self.cutoff,
            )
            same = coincides_with_existing(self.candidates.xy, self.existing_xy)
            self._existing_ids = tuple(self.candidates.ids[same].tolist())

    def demand(self, residences: pd.DataFrame) -> pd.DataFrame:
        """Residences (``x``, ``y`` metres, ``household_size``, ``loc_code``) aggregated to H3
        cells: ``h3_cell``, ``migrants``, ``loc_code`` (majority), ``x``, ``y`` (the
        migrant-weighted mean position; in memory only)."""
        from geo_integration.areas import h3_cells

        lon, lat = _lonlat(residences["x"].to_numpy(float), residences["y"].to_numpy(float))
        frame = pd.DataFrame(
            {
                "h3_cell": h3_cells(lat, lon, resolution=self.resolution),
                "w": residences["household_size"].to_numpy(float),
                "x": residences["x"].to_numpy(float),
                "y": residences["y"].to_numpy(float),
                "loc_code": residences["loc_code"].astype(object).to_numpy(),
            }
        ).dropna(subset=["h3_cell"])
        frame["wx"], frame["wy"] = frame["w"] * frame["x"], frame["w"] * frame["y"]
        grouped = frame.groupby("h3_cell", sort=True)
        out = grouped[["w", "wx", "wy"]].sum()
        loc = frame.groupby(["h3_cell", "loc_code"])["w"].sum().reset_index()
        loc = loc.sort_values(["h3_cell", "w"], ascending=[True, False]).drop_duplicates("h3_cell")
        return pd.DataFrame(
            {
                "h3_cell": out.index.to_numpy(),
                "migrants": out["w"].to_numpy(),
                "loc_code": loc.set_index("h3_cell").reindex(out.index)["loc_code"].to_numpy(),
                "x": (out["wx"] / out["w"]).to_numpy(),
                "y": (out["wy"] / out["w"]).to_numpy(),
            }
        )

    def costs(self, demand: pd.DataFrame) -> tuple[sp.csr_array, FloatArray]:
        """Demand x candidate minutes within the cutoff, and minutes to the nearest existing
        service (inf beyond the cutoff or without any)."""
        net = self.network
        snap = snap_points(net, demand[["x", "y"]].to_numpy(float))
        cu, cv = snap.cost_minutes(net.metres_per_minute)
        assert self._cand_nodes is not None
        m = self._cand_nodes
        parts = []
        for nodes, extra in ((snap.u, cu), (snap.v, cv)):
            block = m[:, nodes].tocoo()
            parts.append((block.col, block.row, block.data + extra[block.col]))
        rows = np.concatenate([p[0] for p in parts])
        cols = np.concatenate([p[1] for p in parts])
        vals = np.concatenate([p[2] for p in parts])
        keep = vals <= self.cutoff
        table = pd.DataFrame({"r": rows[keep], "c": cols[keep], "v": vals[keep]})
        best = table.groupby(["r", "c"], sort=False)["v"].min().reset_index()
        cost = sp.csr_array(
            (best["v"].to_numpy(), (best["r"].to_numpy(), best["c"].to_numpy())),
            shape=(len(demand), len(self.candidates.ids)),
        )
        if self._exist_times is None:
            existing = np.full(len(demand), np.inf)
        else:
            t = self._exist_times
            existing = np.minimum(t[snap.u] + cu, t[snap.v] + cv)
            existing[existing > self.cutoff] = np.inf
        return cost, existing

    def problem(self, residences: pd.DataFrame, *, capacities: FloatArray | None = None) -> Any:
        """The :class:`~geo_integration.siting_models.SitingProblem` for ``residences``."""
        from geo_integration.siting_models import SitingProblem

        demand = self.demand(residences)
        cost, existing = self.costs(demand)
        return SitingProblem.from_cost_matrix(
            cost,
            demand["migrants"].to_numpy(float),
            existing_time=existing,
            candidate_ids=self.candidates.ids,
            demand_ids=demand["h3_cell"].to_numpy(dtype=object),
            demand_groups=demand["loc_code"].to_numpy(dtype=object),
            capacities=capacities,
            cutoff=self.cutoff,
            existing_candidate_ids=self._existing_ids,
            candidate_lon=self.candidates.lon,
            candidate_lat=self.candidates.lat,
            candidate_names=self.candidates.names,
        )


def _residence_table(residences: pd.DataFrame) -> pd.DataFrame:
    """Located residences as the siting kernels want them: metres, weights, locality, level."""
    located = residences[
        np.isfinite(pd.to_numeric(residences["lon"], errors="coerce"))
        & np.isfinite(pd.to_numeric(residences["lat"], errors="coerce"))
    ]
    xy = _metric(located["lon"], located["lat"])
    level = (
        located["match_level"].fillna("input").astype(str)
        if "match_level" in located.columns
        else pd.Series("input", index=located.index)
    )
    return pd.DataFrame(
        {
            "x": xy[:, 0],
            "y": xy[:, 1],
            "household_size": located["household_size"].to_numpy(float),
            "loc_code": located["loc_code"].astype(object).to_numpy(),
            "match_level": level.replace({"input": "exact"}).to_numpy(),
        }
    )


def site(
    residences: pd.DataFrame,
    services: pd.DataFrame,
    hexagons: pd.DataFrame,
    network: StreetNetwork,
    *,
    service_type: str,
    model: str = "mclp",
    p: int = 5,
    threshold_min: float = 15.0,
    candidates: str | os.PathLike[str] | None = None,
    candidate_areas: pd.DataFrame | None = None,
    capacity: bool = False,
    replicates: int = 20,
    settings: Settings | None = None,
    time_limit: float = 60.0,
) -> Any:
    """Choose ``p`` new sites for ``service_type`` on the street network.

    Parameters
    ----------
    residences
        Normalised residences (``lon``, ``lat``, ``household_size``, ``loc_code``; optional
        ``match_level``, used for the robustness jitter). Unlocated rows are left out.
    services
        Existing service points (``service_type``, ``lon``, ``lat``, ``capacity``); those of
        ``service_type`` are kept fixed as already open.
    hexagons
        Accessibility hexagons (``h3_cell``, ``share_within_<T>_<type>``) to find
        under-served cells for candidate sampling.
    network
        The walking network.
    model, p, threshold_min, capacity
        As for :func:`geo_integration.siting.solve_siting`.
    candidates, candidate_areas
        A user file of candidate points; else the gaps analysis' candidate areas plus
        network nodes sampled in under-served hexagons.
    replicates
        Robustness replicates (bootstrap + jitter by match level); 0 skips them.

    Returns
    -------
    SitingResult
        With ``selection_frequency`` filled when ``replicates > 0``.
    """
    from geo_integration.siting import solve_siting
    from geo_integration.siting_robust import robustness

    cfg = settings or Settings()
    existing = services[services["service_type"] == service_type]
    existing = existing[np.isfinite(existing["lon"]) & np.isfinite(existing["lat"])]
    if not len(existing):
        log.warning("no existing %r services: every migrant counts as unserved", service_type)
    cands = candidate_set(
        network=network,
        hexagons=hexagons,
        service_type=service_type,
        threshold_min=threshold_min,
        path=candidates,
        candidate_areas=candidate_areas,
        seed=cfg.seed,
    )
    cutoff = threshold_min if model in ("mclp", "lscp", "minmax_beyond") else LONG_CUTOFF_MIN
    builder = NetworkSiting(
        network,
        cands,
        _metric(existing["lon"], existing["lat"]) if len(existing) else np.empty((0, 2)),
        max(cutoff, threshold_min),
        cfg.h3_resolution,
    )
    caps = None
    if capacity:
        known = pd.to_numeric(existing.get("capacity"), errors="coerce").dropna()
        if known.empty:
            msg = f"--capacity needs capacities: no {service_type!r} service has one"
            raise AnalysisError(msg)
        caps = np.full(len(cands.ids), float(known.median()))
    table = _residence_table(residences)
    problem = builder.problem(table, capacities=caps)
    result = solve_siting(
        problem,
        model=model,
        p=p,
        threshold=threshold_min,
        capacity=capacity,
        time_limit=time_limit,
    )
    if replicates > 0:
        robust = robustness(
            lambda frame: builder.problem(frame, capacities=caps),
            table,
            model=model,
            p=p,
            threshold=threshold_min,
            replicates=replicates,
            seed=cfg.seed,
            capacity=capacity,
            time_limit=time_limit,
        )
        result = result.with_robustness(robust)
    result.summary["candidates"] = {
        "source": cands.source,
        "count": len(cands.ids),
        "notes": cands.notes,
    }
    result.summary["service_type"] = service_type
    return result
