"""Walking access to services per residence, hexagon, UPZ and locality (orchestration).

:func:`compute_access` snaps residences and service points to the walking network, measures
for every service type (and every secretariat) the walking time to the nearest service, the
migrants within each threshold, and the supply per demand (2SFCA, E2SFCA), and aggregates
them to H3 hexagons, UPZ and localities. :meth:`AccessResult.write` writes the aggregated
tables (GeoParquet and CSV) with small counts suppressed, never a per-residence table.

Column vocabulary
-----------------
``<key>`` names what is measured: a service type as given in the services table
(``school``, ``health``, ``transit``...) or a secretariat as ``sec_<name>``
(``sec_educacion``, ``sec_integracion_social``: every service of that secretariat).
``<T>`` is a threshold in whole minutes (``10``, ``15``, ``30``; ``7.5`` if not whole).

Per residence (:attr:`AccessResult.residences`, in memory only, index aligned to the input):

- ``time_<key>``: walking minutes to the nearest service (inf: unreachable; NaN: residence
  not located);
- ``e2sfca_<key>``, ``two_sfca_<key>``: supply per migrant within reach (service types only);
- ``snap_m``: metres from the residence to the street it was snapped to;
- ``far_from_network``: ``snap_m`` above ``Settings.snap_max_m`` (default 300 m);
- ``located``: has coordinates (the others are counted, not measured);
- ``lon``, ``lat``: the residence's position (EPSG:4326; NaN when not located);
- ``h3_cell``, ``loc_code``, ``upz_code``: the units it counts in.

Aggregates (:attr:`AccessResult.hexagons`, ``upz``, ``localities``; GeoDataFrames in EPSG:4326
indexed by ``h3_cell`` / ``upz_code`` / ``loc_code``, with ``upz_name`` / ``loc_name`` where
known):

- ``migrants``: people in located residences (sum of ``household_size``);
- ``residences``: located residences;
- ``median_time_<key>``: half of the migrants walk less than this (minutes);
- ``within_<T>_<key>``: migrants within ``T`` minutes of the nearest service;
- ``share_within_<T>_<key>``: the same as a share of ``migrants`` (NaN where none);
- ``e2sfca_<key>``, ``two_sfca_<key>``: migrant-weighted mean supply per migrant (capacity
  units per migrant; times 1,000 for "places per 1,000 migrants"); service types only;
- hexagons also hold ``centroid_time_<key>``: minutes from the hexagon's centre to the
  nearest service (the place, whoever lives there).

Service areas (:attr:`AccessResult.service_areas`, EPSG:4326): ``key``, ``group``
(``service_type`` or ``secretariat``), ``threshold_min``, ``area_km2``, polygon.

Written files also carry ``suppressed`` (True where 0 < migrants < k: every number of that row
is blank).

Capacity: a facility's ``capacity`` is its supply. When no facility of a type has a capacity,
each counts 1 and the ratio reads "facilities per migrant"; when only some have one, the
missing ones get the median of the known ones of that type. Both are counted in
``AccessResult.report["capacity"]``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from geo_integration.errors import AnalysisError, DropError, InputFileError, MissingColumnError

if TYPE_CHECKING:
    import geopandas as gpd

    from geo_integration.config import Settings
    from geo_integration.network import Snap, StreetNetwork

__all__ = ["AccessResult", "compute_access", "measure_keys"]

log = logging.getLogger(__name__)

RESIDENCE_COLUMNS = ("household_size", "geometry")
SERVICE_COLUMNS = ("service_id", "service_type", "geometry")
SECRETARIAT_PREFIX = "sec_"


@dataclass
class AccessResult:
    """Walking access measures (see the module docstring for every column).

    Attributes
    ----------
    residences
        Per residence, in memory only (never written).
    hexagons, upz, localities
        Aggregates with polygons (EPSG:4326).
    service_areas
        Polygons reachable within each threshold of the nearest service of each key.
    keys
        ``key -> "service_type" | "secretariat"``, in column order.
    thresholds
        Minutes.
    report
        Counts: residences not located, far from the network, services per key, capacity
        fill-ins, network build report.
    """

    residences: pd.DataFrame
    hexagons: gpd.GeoDataFrame
    upz: gpd.GeoDataFrame
    localities: gpd.GeoDataFrame
    service_areas: gpd.GeoDataFrame
    keys: dict[str, str]
    thresholds: tuple[float, ...]
    report: dict[str, Any] = field(default_factory=dict)
    privacy_k: int = 10

    def write(self, out_dir: str | os.PathLike[str]) -> list[Path]:
        """Write the aggregated tables and service areas; return the written paths.

        ``hexagons``, ``upz`` and ``localities`` go to GeoParquet and CSV (without geometry)
        after small-count suppression (``privacy_k``): UPZ and localities below ``k`` are
        blanked and flagged ``suppressed``; hexagons below ``k`` are left out (a blank
        0.1 km² cell would still say that a few migrants live there); service areas to
        GeoParquet and a CSV of their sizes; the counts to ``access_report.json``. No
        per-residence table is ever written.
        """
        from geo_integration.fileio import atomic_path, write_text
        from geo_integration.privacy import suppress_small_counts

        out = Path(out_dir)
        written: list[Path] = []
        tables = {"hexagons": self.hexagons, "upz": self.upz, "localities": self.localities}
        for name, table in tables.items():
            safe = suppress_small_counts(table, count_col="migrants", k=self.privacy_k)
            if name == "hexagons":
                safe = safe[~safe["suppressed"].to_numpy(dtype=bool)]
            _check_aggregate(safe, name)
            with atomic_path(out / f"access_{name}.parquet") as tmp:
                safe.to_parquet(tmp)
            written.append(out / f"access_{name}.parquet")
            csv = pd.DataFrame(safe.drop(columns="geometry"))
            write_text(out / f"access_{name}.csv", csv.to_csv())
            written.append(out / f"access_{name}.csv")
        with atomic_path(out / "access_service_areas.parquet") as tmp:
            self.service_areas.to_parquet(tmp)
        written.append(out / "access_service_areas.parquet")
        sizes = pd.DataFrame(self.service_areas.drop(columns="geometry"))
        write_text(out / "access_service_areas.csv", sizes.to_csv(index=False))
        written.append(out / "access_service_areas.csv")
        report = json.dumps(self.report, indent=2, ensure_ascii=False, default=_json_default)
        write_text(out / "access_report.json", report + "\n")
        written.append(out / "access_report.json")
        return written


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def _check_aggregate(table: pd.DataFrame, name: str) -> None:
    """Refuse to write anything that looks like a per-residence table."""
    from geo_integration.errors import PrivacyError

    personal = {"record_id", "address", "lon", "lat", "source_row", "snap_m", "matched_address"}
    found = sorted(personal & set(table.columns))
    if found:
        msg = f"{name}: refusing to write per-residence columns {found!r}"
        raise PrivacyError(msg)


# --------------------------------------------------------------------------- inputs


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        msg = f"{what}: missing column(s) {missing!r}; columns: {list(frame.columns)!r}"
        raise MissingColumnError(msg, column=missing[0])


def _metric_xy(frame: gpd.GeoDataFrame) -> npt.NDArray[np.float64]:
    """EPSG:9377 coordinates of point geometries; NaN rows where missing or empty."""
    import shapely

    from geo_integration.geo import METRIC_CRS

    if frame.crs is None:
        msg = "points have no CRS; expected EPSG:4326"
        raise AnalysisError(msg)
    geoms = frame.geometry.to_crs(METRIC_CRS).to_numpy()
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    xy = np.full((len(geoms), 2), np.nan)
    if ok.any():
        pts = shapely.centroid(geoms[ok])  # a point stays itself
        xy[ok] = np.column_stack([shapely.get_x(pts), shapely.get_y(pts)])
    return xy


def measure_keys(
    services: pd.DataFrame,
    *,
    service_types: Sequence[str] | None = None,
    secretariats: dict[str, list[str]] | None = None,
) -> dict[str, tuple[str, npt.NDArray[np.int64]]]:
    """Group services into what is measured: each service type, then each secretariat.

    Returns ``key -> (group, row positions)``. The secretariat of a service is its
    ``secretariat`` column, else the one ``secretariats`` (Settings) lists for its type.
    ``service_types`` restricts the types measured (and so the secretariats' members).
    """
    from geo_integration.text import snake_key

    types = services["service_type"].astype(str).map(snake_key).to_numpy()
    wanted = sorted(set(types)) if service_types is None else [snake_key(t) for t in service_types]
    unknown = [t for t in wanted if t not in set(types)]
    if unknown:
        msg = f"service type(s) {unknown!r} not in the services; types: {sorted(set(types))!r}"
        raise AnalysisError(msg)
    keys: dict[str, tuple[str, npt.NDArray[np.int64]]] = {}
    for t in wanted:
        keys[t] = ("service_type", np.flatnonzero(types == t))
    by_type = {snake_key(t): name for name, ts in (secretariats or {}).items() for t in ts}
    if "secretariat" in services.columns:
        given = services["secretariat"].astype("string")
        sec = given.where(given.notna() & (given.str.strip() != ""), None)
    else:
        sec = pd.Series([None] * len(services), index=services.index, dtype="object")
    sec = sec.astype(object).where(sec.notna(), pd.Series(types, index=services.index).map(by_type))
    sec_keys = sec.map(
        lambda s: None if s is None or pd.isna(s) else SECRETARIAT_PREFIX + snake_key(s)
    )
    chosen = np.isin(types, wanted)
    for key in sorted({k for k in sec_keys[chosen] if k}):
        keys[key] = ("secretariat", np.flatnonzero(chosen & (sec_keys == key).to_numpy()))
    return keys


def _capacity(
    services: pd.DataFrame, rows: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.float64], dict[str, Any]]:
    if "capacity" in services.columns:
        cap = pd.to_numeric(services["capacity"].iloc[rows], errors="coerce").to_numpy(
            float, copy=True
        )
    else:
        cap = np.full(rows.shape[0], np.nan)
    cap[cap < 0] = np.nan
    known = np.isfinite(cap)
    if not known.any():
        return np.ones(rows.shape[0]), {
            "rule": "unknown: 1 per facility",
            "filled": int(rows.shape[0]),
        }
    fill = float(np.median(cap[known]))
    out = np.where(known, cap, fill)
    return out, {"rule": f"missing filled with the median {fill:g}", "filled": int((~known).sum())}


# --------------------------------------------------------------------------- measures


def _entry(snap: Snap, mpm: float) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    cu, cv = snap.cost_minutes(mpm)
    return np.column_stack([snap.u, snap.v]), np.column_stack([cu, cv])


def _times(
    net: StreetNetwork, src: Snap, dst: Snap
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Nearest-source minutes at the located ``dst`` points, and the node times."""
    from geo_integration.access import node_times, same_edge_times, times_at

    mpm = net.metres_per_minute
    sn, sc = _entry(src, mpm)
    nodes_t = node_times(net.minutes, sn, source_cost=sc)
    dn, dc = _entry(dst, mpm)
    direct = same_edge_times(
        dst.edge, dst.along_u_m, dst.snap_m, src.edge, src.along_u_m, src.snap_m, metres_per_min=mpm
    )
    return np.minimum(times_at(nodes_t, dn, dc), direct), nodes_t


def _fca(
    net: StreetNetwork,
    src: Snap,
    dst: Snap,
    demand: npt.NDArray[np.float64],
    supply: npt.NDArray[np.float64],
    *,
    catchment: float,
    decay: str,
    steps: Sequence[tuple[float, float]] | None,
    sigma: float | None,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    from geo_integration.access import catchment_access, decay_weights, same_edge_pairs

    mpm = net.metres_per_minute
    sn, sc = _entry(src, mpm)
    dn, dc = _entry(dst, mpm)
    direct = same_edge_pairs(
        dst.edge, dst.along_u_m, dst.snap_m, src.edge, src.along_u_m, src.snap_m, metres_per_min=mpm
    )
    fns = [
        decay_weights(decay, catchment=catchment, steps=steps, sigma=sigma),
        decay_weights("none", catchment=catchment),
    ]
    (e2, _r), (plain, _p) = catchment_access(
        net.minutes,
        sn,
        dn,
        demand,
        supply,
        fns,
        facility_cost=sc,
        demand_cost=dc,
        limit=catchment,
        direct=direct,
        node_xy=net.node_xy,
    )
    return e2, plain


def compute_access(
    residences: gpd.GeoDataFrame,
    services: gpd.GeoDataFrame,
    network: StreetNetwork,
    *,
    settings: Settings | None = None,
    service_types: Sequence[str] | None = None,
    catchment_min: float = 30.0,
    decay: str = "step",
    steps: Sequence[tuple[float, float]] | None = None,
    sigma: float | None = None,
    localities: gpd.GeoDataFrame | None = None,
    upz: gpd.GeoDataFrame | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    with_service_areas: bool = True,
) -> AccessResult:
    """Measure walking access to services for every residence and aggregate it.

    Parameters
    ----------
    residences
        Normalised residences (``household_size``, point ``geometry`` in EPSG:4326;
        ``loc_code`` / ``upz_code`` are used when present, else assigned from the
        boundaries). Rows without geometry are counted as not located and not measured.
    services
        Normalised services (``service_id``, ``service_type``, ``geometry``; ``secretariat``
        and ``capacity`` when known).
    network
        The walking network (:func:`geo_integration.network.load_network`); its speed is
        replaced by ``settings.walking_speed_kmh``.
    settings
        Thresholds, speed, snap distance, H3 resolution, privacy k, secretariats.
    service_types
        Types to measure (default: all present).
    catchment_min, decay, steps, sigma
        Catchment and distance decay of the E2SFCA (see :func:`geo_integration.access.e2sfca`);
        the plain 2SFCA uses the same catchment without decay.
    localities, upz
        Boundaries (as from the loaders); loaded from ``data_dir`` when not given.
    with_service_areas
        False skips the service-area polygons (the slowest part on a whole city).

    Raises
    ------
    MissingColumnError
        If a required column is absent.
    AnalysisError
        If no service is left to measure, or an unknown service type is asked for.
    """
    from geo_integration.config import Settings
    from geo_integration.network import snap_points

    cfg = settings if settings is not None else Settings()
    _require(residences, RESIDENCE_COLUMNS, "residences")
    _require(services, SERVICE_COLUMNS, "services")
    net = (
        network.with_speed(cfg.walking_speed_kmh)
        if network.speed_kmh != cfg.walking_speed_kmh
        else network
    )
    thresholds = tuple(float(t) for t in cfg.thresholds_min)

    res_xy = _metric_xy(residences)
    located = np.asarray(np.isfinite(res_xy).all(axis=1), dtype=bool)
    people = pd.to_numeric(residences["household_size"], errors="coerce").fillna(1).clip(lower=1)
    res_snap = snap_points(net, res_xy[located], snap_max_m=cfg.snap_max_m)
    svc_xy = _metric_xy(services)
    svc_ok = np.asarray(np.isfinite(svc_xy).all(axis=1), dtype=bool)
    svc = services[svc_ok].reset_index(drop=True)
    svc_snap = snap_points(net, svc_xy[svc_ok], snap_max_m=cfg.snap_max_m)
    keys = measure_keys(svc, service_types=service_types, secretariats=cfg.secretariats)
    if not keys:
        msg = "no located service to measure access to"
        raise AnalysisError(msg)

    frame = _residence_frame(residences, located, res_xy, res_snap, people, cfg)
    frame = _add_areas(frame, residences, localities, upz, data_dir)
    demand = people.to_numpy(float)[located]
    hex_cells = pd.Index(frame["h3_cell"].dropna().unique())
    centres = _hex_centres(hex_cells, net, cfg.snap_max_m)
    found = _measure(
        net,
        keys,
        svc,
        svc_snap,
        res_snap,
        centres,
        demand,
        thresholds=thresholds,
        fca={"catchment": catchment_min, "decay": decay, "steps": steps, "sigma": sigma},
        with_service_areas=with_service_areas,
    )
    frame = _with_columns(frame, located, found.columns)
    hexagons, upz_t, loc_t = _aggregates(
        frame, keys, thresholds, hex_cells, found.centroid, localities, upz, data_dir
    )
    report = _report(residences, located, res_snap, svc, svc_ok, keys, found.capacity, net)
    return AccessResult(
        residences=frame,
        hexagons=hexagons,
        upz=upz_t,
        localities=loc_t,
        service_areas=_areas_frame(found.areas),
        keys={k: g for k, (g, _r) in keys.items()},
        thresholds=thresholds,
        report=report,
        privacy_k=cfg.privacy_k,
    )


@dataclass
class _Found:
    """Per-key measures of the located residences (columns), hexagon centres, service areas
    and capacity fill-ins."""

    columns: dict[str, npt.NDArray[np.float64]] = field(default_factory=dict)
    centroid: dict[str, npt.NDArray[np.float64]] = field(default_factory=dict)
    areas: list[dict[str, Any]] = field(default_factory=list)
    capacity: dict[str, Any] = field(default_factory=dict)


def _measure(
    net: StreetNetwork,
    keys: dict[str, tuple[str, npt.NDArray[np.int64]]],
    svc: pd.DataFrame,
    svc_snap: Snap,
    res_snap: Snap,
    centres: Snap,
    demand: npt.NDArray[np.float64],
    *,
    thresholds: tuple[float, ...],
    fca: dict[str, Any],
    with_service_areas: bool,
) -> _Found:
    """Times, supply ratios and service areas for every key (a key with the same services
    as an earlier one reuses its results)."""
    out = _Found()
    samples = None
    done: dict[bytes, str] = {}
    for key, (group, rows) in keys.items():
        src = svc_snap.take(rows)
        same = done.setdefault(np.sort(rows).tobytes(), key)
        if same != key:
            out.columns[f"time_{key}"] = out.columns[f"time_{same}"]
            out.centroid[key] = out.centroid[same]
            out.areas += [r | {"key": key, "group": group} for r in out.areas if r["key"] == same]
            continue
        out.columns[f"time_{key}"], nodes_t = _times(net, src, res_snap)
        out.centroid[key] = _times(net, src, centres)[0] if len(centres.edge) else np.zeros(0)
        if group == "service_type":
            supply, out.capacity[key] = _capacity(svc, rows)
            e2, plain = _fca(net, src, res_snap, demand, supply, **fca)
            out.columns[f"e2sfca_{key}"], out.columns[f"two_sfca_{key}"] = e2, plain
        if with_service_areas:
            samples = samples or _samples(net)
            out.areas += _areas(net, samples, nodes_t, src, key, group, thresholds)
    return out


# --------------------------------------------------------------------------- frames


def _residence_frame(
    residences: pd.DataFrame,
    located: npt.NDArray[np.bool_],
    xy: npt.NDArray[np.float64],
    snap: Snap,
    people: pd.Series,
    cfg: Settings,
) -> pd.DataFrame:
    from pyproj import Transformer

    from geo_integration.areas import h3_cells
    from geo_integration.geo import METRIC_CRS, WGS84

    frame = pd.DataFrame(index=residences.index)
    frame["located"] = located
    frame["household_size"] = people.to_numpy(float)
    frame["snap_m"] = np.nan
    frame.loc[located, "snap_m"] = snap.snap_m
    frame["far_from_network"] = False
    frame.loc[located, "far_from_network"] = snap.far_from_network
    lon, lat = Transformer.from_crs(METRIC_CRS, WGS84, always_xy=True).transform(xy[:, 0], xy[:, 1])
    frame["lon"], frame["lat"] = lon, lat  # in memory only: never written
    frame["h3_cell"] = h3_cells(lat, lon, resolution=cfg.h3_resolution)
    return frame


def _with_columns(
    frame: pd.DataFrame,
    located: npt.NDArray[np.bool_],
    columns: dict[str, npt.NDArray[np.float64]],
) -> pd.DataFrame:
    """``frame`` with the per-key columns of the located residences (NaN elsewhere)."""
    full = {}
    for name, values in columns.items():
        full[name] = np.full(len(frame), np.nan)
        full[name][located] = values
    return pd.concat([frame, pd.DataFrame(full, index=frame.index)], axis=1)


def _boundaries(
    localities: gpd.GeoDataFrame | None,
    upz: gpd.GeoDataFrame | None,
    data_dir: str | os.PathLike[str] | None,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    from geo_integration import loaders

    loc = localities if localities is not None else loaders.load_localities(data_dir)
    up = upz if upz is not None else loaders.load_upz(data_dir)
    return loc, up


def _add_areas(
    frame: pd.DataFrame,
    residences: gpd.GeoDataFrame,
    localities: gpd.GeoDataFrame | None,
    upz: gpd.GeoDataFrame | None,
    data_dir: str | os.PathLike[str] | None,
) -> pd.DataFrame:
    have = all(c in residences.columns for c in ("loc_code", "upz_code"))
    if have:
        frame["loc_code"] = residences["loc_code"].astype("string")
        frame["upz_code"] = residences["upz_code"].astype("string")
        return frame
    from geo_integration.areas import assign_areas

    loc, up = _boundaries(localities, upz, data_dir)
    areas = assign_areas(residences.geometry, loc, up)
    frame["loc_code"] = areas["loc_code"].astype("string")
    frame["upz_code"] = areas["upz_code"].astype("string")
    return frame


def _hex_centres(cells: pd.Index, net: StreetNetwork, snap_max_m: float) -> Snap:
    import h3

    from geo_integration.network import _to_metric_xy, snap_points

    if len(cells) == 0:
        return snap_points(net, np.zeros((0, 2)), snap_max_m=snap_max_m)
    latlng = np.array([h3.cell_to_latlng(c) for c in cells])
    return snap_points(net, _to_metric_xy(latlng[:, 1], latlng[:, 0]), snap_max_m=snap_max_m)


def _samples(net: StreetNetwork) -> Any:
    from geo_integration.service_areas import StreetSamples

    return StreetSamples.of(net)


def _areas(
    net: StreetNetwork,
    samples: Any,
    nodes_t: npt.NDArray[np.float64],
    src: Snap,
    key: str,
    group: str,
    thresholds: tuple[float, ...],
) -> list[dict[str, Any]]:
    from geo_integration.service_areas import service_areas

    polys = service_areas(
        net,
        nodes_t,
        thresholds,
        samples=samples,
        sources=(src.edge, src.along_u_m, src.snap_m),
    )
    return [
        {"key": key, "group": group, "threshold_min": thr, "geometry": poly}
        for thr, poly in zip(thresholds, polys, strict=True)
        if poly is not None
    ]


def _areas_frame(rows: list[dict[str, Any]]) -> gpd.GeoDataFrame:
    import geopandas as gpd

    from geo_integration.geo import METRIC_CRS, WGS84

    frame = gpd.GeoDataFrame(
        rows or {"key": [], "group": [], "threshold_min": [], "geometry": []},
        geometry="geometry",
        crs=METRIC_CRS,
    )
    frame["area_km2"] = (frame.geometry.area / 1e6).round(3)
    return frame[["key", "group", "threshold_min", "area_km2", "geometry"]].to_crs(WGS84)


def _weighted_median(
    codes: npt.NDArray[np.int64],
    n_groups: int,
    values: npt.NDArray[np.float64],
    weights: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """Per group, the smallest value with at least half of the group's weight at or below
    (NaN values left out; NaN for a group without values)."""
    ok = ~np.isnan(values)
    g, v, w = codes[ok], values[ok], weights[ok]
    order = np.lexsort((v, g))
    g, v, w = g[order], v[order], w[order]
    total = np.bincount(g, w, minlength=n_groups)
    cum = np.cumsum(w)
    start = np.searchsorted(g, np.arange(n_groups))
    before = np.concatenate([[0.0], cum])[start]
    past = np.flatnonzero(cum - before[g] >= total[g] / 2)
    out = np.full(n_groups, np.nan)
    if past.size:
        head = past[np.r_[True, g[past][1:] != g[past][:-1]]]
        out[g[head]] = v[head]
    return out


def _aggregate(
    frame: pd.DataFrame, by: str, keys: dict[str, tuple[str, Any]], thresholds: tuple[float, ...]
) -> pd.DataFrame:
    from geo_integration.access import threshold_label

    data = frame[frame["located"] & frame[by].notna()]
    codes, labels = pd.factorize(data[by].astype(str), sort=True)
    n = len(labels)
    w = data["household_size"].to_numpy(float)
    migrants = np.bincount(codes, w, minlength=n)
    share_base = np.where(migrants > 0, migrants, np.nan)
    cols: dict[str, Any] = {
        "migrants": migrants,
        "residences": np.bincount(codes, minlength=n).astype("int64"),
    }
    for key, (group, _rows) in keys.items():
        t = data[f"time_{key}"].to_numpy(float)
        cols[f"median_time_{key}"] = _weighted_median(codes, n, t, w)
        for thr in thresholds:
            lab = threshold_label(thr)
            within = np.bincount(codes, np.where(t <= thr, w, 0.0), minlength=n)
            cols[f"within_{lab}_{key}"] = within
            cols[f"share_within_{lab}_{key}"] = within / share_base
        if group == "service_type":
            for measure in ("e2sfca", "two_sfca"):
                x = data[f"{measure}_{key}"].to_numpy(float) * w
                cols[f"{measure}_{key}"] = (
                    np.bincount(codes, np.nan_to_num(x), minlength=n) / migrants
                )
    return pd.DataFrame(cols, index=pd.Index(labels, name=by))


def _aggregates(
    frame: pd.DataFrame,
    keys: dict[str, tuple[str, Any]],
    thresholds: tuple[float, ...],
    cells: pd.Index,
    centroid_times: dict[str, npt.NDArray[np.float64]],
    localities: gpd.GeoDataFrame | None,
    upz: gpd.GeoDataFrame | None,
    data_dir: str | os.PathLike[str] | None,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    import geopandas as gpd

    from geo_integration.areas import hex_polygons
    from geo_integration.geo import WGS84

    hexes = _aggregate(frame, "h3_cell", keys, thresholds).reindex(cells.astype(str))
    centroid = pd.DataFrame(
        {f"centroid_time_{key}": values for key, values in centroid_times.items()},
        index=hexes.index,
    )
    hexes = pd.concat([hexes, centroid], axis=1)
    hexes.index.name = "h3_cell"
    hex_geo = gpd.GeoDataFrame(hexes, geometry=hex_polygons(hexes.index).to_numpy(), crs=WGS84)
    loc, up = _boundaries(localities, upz, data_dir)
    tables = []
    for by, bounds, name in (("upz_code", up, "upz_name"), ("loc_code", loc, "loc_name")):
        agg = _aggregate(frame, by, keys, thresholds)
        base = pd.DataFrame(bounds.drop(columns="geometry")).set_index(by)[[name]]
        table = base.join(agg, how="outer")
        table["migrants"] = table["migrants"].fillna(0.0)
        table["residences"] = table["residences"].fillna(0).astype("int64")
        geoms = bounds.set_index(by).geometry.reindex(table.index)
        tables.append(
            gpd.GeoDataFrame(table, geometry=geoms.to_numpy(), crs=bounds.crs).to_crs(WGS84)
        )
    return hex_geo, tables[0], tables[1]


def _report(
    residences: pd.DataFrame,
    located: npt.NDArray[np.bool_],
    snap: Snap,
    services: pd.DataFrame,
    svc_ok: npt.NDArray[np.bool_],
    keys: dict[str, tuple[str, npt.NDArray[np.int64]]],
    capacity: dict[str, Any],
    net: StreetNetwork,
) -> dict[str, Any]:
    report = {
        "residences": len(residences),
        "residences_not_located": int((~located).sum()),
        "residences_far_from_network": int(snap.far_from_network.sum()),
        "services_not_located": int((~svc_ok).sum()),
        "services": {k: len(rows) for k, (_g, rows) in keys.items()},
        "capacity": capacity,
        "walking_speed_kmh": net.speed_kmh,
        "network": net.report.to_dict() if net.report else None,
    }
    if report["residences_not_located"]:
        log.warning(
            "%d of %d residences have no coordinates: counted as not located, not measured",
            report["residences_not_located"],
            len(residences),
        )
    return report


# --------------------------------------------------------------------------- drop


def _read_normalised_drop(
    path: str | os.PathLike[str],
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Read ``residences.parquet`` and ``services.parquet`` of a normalised drop directory.

    Raises
    ------
    DropError
        If the directory or one of the files is missing.
    InputFileError
        If a file cannot be read; ``MissingColumnError`` if a required column is absent.
    """
    import geopandas as gpd

    folder = Path(path)
    if not folder.is_dir():
        msg = f"drop directory not found: {str(folder)!r}"
        raise DropError(msg)
    frames = []
    for name, required in (("residences", RESIDENCE_COLUMNS), ("services", SERVICE_COLUMNS)):
        file = folder / f"{name}.parquet"
        if not file.is_file():
            msg = f"{folder}: {name}.parquet is missing (expected a normalised drop)"
            raise DropError(msg)
        try:
            frame = gpd.read_parquet(file)
        except Exception as exc:
            msg = f"cannot read as GeoParquet: {exc}"
            raise InputFileError(msg, path=file) from exc
        missing = [c for c in required if c not in frame.columns]
        if missing:
            msg = f"missing column(s) {missing!r}; columns: {list(frame.columns)!r}"
            raise MissingColumnError(msg, path=file, column=missing[0])
        frames.append(frame)
    return frames[0], frames[1]
