"""Service gaps: unmet demand on the H3 grid, hot spots, rankings and candidate areas.

:func:`find_gaps` takes the per-residence frame and the hexagon table of the accessibility
stage and returns a :class:`GapsResult`; its :meth:`GapsResult.write` writes the published
layers (GeoParquet + CSV) with small counts suppressed and no residence-level row.

Measures (``T`` is a threshold label such as ``15``; ``Tm`` the main threshold, 15 minutes by
default; ``t`` a service type; ``all`` the composite of the types analysed)
    ``beyond_<T>_<t>``
        Migrants farther than ``T`` walking minutes from the nearest service of type ``t``
        (unreachable included): ``migrants - within_<T>_<t>``.
    ``eb_share_beyond_<Tm>_<t>``
        Share of the cell's migrants beyond ``Tm``, smoothed by global Empirical Bayes
        (Marshall 1991): ``w * r + (1 - w) * m`` with ``r = beyond / migrants``, ``m`` the city
        share, ``s2 = sum(b * (r - m)^2) / sum(b) - m / mean(b)`` (0 if negative) and
        ``w = s2 / (s2 + m / b)``. Cells with few migrants are pulled toward the city share.
    ``e2sfca_pct_<t>``
        Mid-rank percentile of ``e2sfca_<t>`` among the cells, in (0, 1); a missing score
        counts as the lowest supply.
    ``gap_<t>`` (the gap index)
        ``eb_share_beyond_<Tm>_<t> * log1p(migrants) * (1 - e2sfca_pct_<t>)``: more of the
        cell's people far away and more people in the cell raise it; more supply per demand
        lowers it. It is 0 when nobody is beyond ``Tm``. Monotonicity (more people beyond,
        or more people all beyond -> not lower; more supply -> not higher) is property-tested
        in ``tests/test_gaps.py``.
    ``gap_all``
        Mean of ``gap_<t>`` over the types analysed.

Hot spots (see :mod:`geo_integration.hotspots`), for each ``v`` in the types and ``all``, on
``gap_<v>``: ``gi_z_<v>``, ``gi_p_<v>`` (two-sided pseudo p-value), ``gi_q_<v>``
(Benjamini-Hochberg adjusted), ``gi_class_<v>`` (``hot_99``, ``hot_95``, ``hot_90``,
``cold_99``, ``cold_95``, ``cold_90``, ``not_significant``), ``lisa_p_<v>``, ``lisa_q_<v>``,
``lisa_class_<v>`` (``HH``, ``LL``, ``HL``, ``LH``, ``not_significant``).

Tables of the result
    ``hexagons``
        The input hexagon table (same index and rows) plus ``loc_code``/``upz_code`` (the area
        holding most of the cell's migrants, when absent), ``beyond_<T>_<t>``,
        ``eb_share_beyond_<Tm>_<t>``, ``e2sfca_pct_<t>``, ``gap_<t>``, ``gap_all`` and the hot
        spot columns above.
    ``clusters``
        :func:`geo_integration.clusters.cluster_table` (``cluster_id``, ``migrants``,
        ``residences``, ``loc_code``, ``loc_name``, ``loc_share``, ``upz_code``,
        ``upz_share``, ``area_km2``, ``median_time_<t>``, ``share_beyond_<T>_<t>``) plus
        ``gap_<v>`` (migrant-weighted mean of its residents' cell gaps) and
        ``underserved_<v>`` (``share_beyond_<Tm>_<t> >= underserved_share``, 0.5 by default;
        for ``all`` the mean share over the types), geometry (polygon).
    ``rank_localities`` / ``rank_upz``
        One row per locality / UPZ, ordered by ``rank`` (1 = largest ``gap_all``, the
        migrant-weighted mean of the residents' cell gap; ties: more migrants beyond ``Tm``,
        then the code): ``loc_code`` (and ``upz_code``), ``loc_name``, ``migrants``,
        ``residences``, per type ``median_time_<t>``, ``beyond_<T>_<t>``,
        ``share_beyond_<T>_<t>``, ``e2sfca_<t>`` (migrant-weighted mean), ``gap_<t>``,
        ``hot_cells_<v>`` (cells at ``hot_95`` or ``hot_99`` whose majority area it is),
        ``gap_all``, ``rank``.
    ``candidate_areas``
        For the siting stage: ``area_id``, ``kind`` (``hotspot_cell`` | ``cluster``),
        ``service_type`` (a type or ``all``), ``h3_cell``, ``cluster_id``, ``migrants``,
        ``gap``, ``gi_class``, geometry (a point inside the area: the cell centre or a
        representative point of the cluster polygon). Hot-spot cells are those at
        ``hot_95`` or ``hot_99``; clusters are the under-served ones.

Written layers (:meth:`GapsResult.write`): ``gap_hexagons``, ``clusters``,
``rank_localities``, ``rank_upz``, ``candidate_areas`` as ``.parquet`` (GeoParquet when the
layer has geometry, EPSG:4326) and ``.csv`` (geometry as WKT), and ``gaps_parameters.json``.
Hexagons, areas and hot cells with fewer than ``privacy_k`` migrants keep their row and
geometry but every number and class is blanked and ``suppressed`` is True; clusters below
``privacy_k`` are left out. The per-residence cluster labels are never written.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd

from geo_integration.clusters import (
    cluster_table,
    find_clusters,
    group_codes,
    majority_by,
    require_columns,
    service_types_of,
    sum_by,
    threshold_label,
    time_summary,
)
from geo_integration.config import Settings
from geo_integration.errors import AnalysisError, PrivacyError
from geo_integration.geo import WGS84

__all__ = [
    "GAP_FORMULA",
    "GapsResult",
    "eb_smooth",
    "find_gaps",
    "gap_index",
    "percentile_rank",
]

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
GAP_FORMULA = "gap = eb_share_beyond_Tm * log1p(migrants) * (1 - e2sfca_percentile)"
HOT = ("hot_99", "hot_95")
ALL = "all"
#: Columns that identify a residence or a person; never written.
FORBIDDEN = ("lon", "lat", "record_id", "address", "household_size", "source_row", "source_file")


def eb_smooth(events: npt.ArrayLike, population: npt.ArrayLike) -> FloatArray:
    """Global Empirical Bayes smoothed rates (formula in the module docstring).

    Parameters
    ----------
    events
        Events per unit (here: migrants beyond the threshold), ``0 <= events <= population``.
    population
        Population at risk per unit (migrants), all positive.
    """
    e = np.asarray(events, dtype=float)
    b = np.asarray(population, dtype=float)
    if e.shape != b.shape or e.ndim != 1:
        msg = f"events and population must be 1-D of one length, got {e.shape!r}, {b.shape!r}"
        raise AnalysisError(msg)
    if len(b) == 0:
        return np.zeros(0)
    if not (np.isfinite(b).all() and (b > 0).all()):
        msg = f"population must be positive and finite; minimum is {np.nanmin(b)!r}"
        raise AnalysisError(msg)
    if not (np.isfinite(e).all() and (e >= 0).all() and (e <= b).all()):
        msg = "events must be finite with 0 <= events <= population"
        raise AnalysisError(msg)
    rate = e / b
    mean = e.sum() / b.sum()
    var = float((b * (rate - mean) ** 2).sum() / b.sum() - mean / b.mean())
    var = max(var, 0.0)
    denom = var + mean / b
    weight = np.divide(var, denom, out=np.ones_like(b), where=denom > 0)
    return np.asarray(weight * rate + (1.0 - weight) * mean, dtype=float)


def percentile_rank(values: npt.ArrayLike) -> FloatArray:
    """Mid-rank percentile in (0, 1) (ties share their mean rank); NaN ranks lowest."""
    v = np.asarray(values, dtype=float)
    n = len(v)
    if n == 0:
        return np.zeros(0)
    filled = np.where(np.isnan(v), -np.inf, v)
    ranks = pd.Series(filled).rank(method="average").to_numpy()
    return np.asarray((ranks - 0.5) / n, dtype=float)


def gap_index(beyond: npt.ArrayLike, migrants: npt.ArrayLike, e2sfca: npt.ArrayLike) -> FloatArray:
    """The gap index of each cell: ``EB(beyond / migrants) * log1p(migrants) * (1 - pct)``.

    Parameters
    ----------
    beyond
        Migrants beyond the main threshold, per cell.
    migrants
        Migrants per cell (positive).
    e2sfca
        E2SFCA score per cell (supply per demand; higher is better served), NaN if unknown.
    """
    m = np.asarray(migrants, dtype=float)
    share = eb_smooth(beyond, m)
    return np.asarray(share * np.log1p(m) * (1.0 - percentile_rank(e2sfca)), dtype=float)


def main_threshold(thresholds_min: Sequence[float], main: float | None = None) -> float:
    """The main threshold: ``main`` if given, else 15 minutes if listed, else the median."""
    values = sorted(float(t) for t in thresholds_min)
    if main is not None:
        if float(main) not in values:
            msg = f"main threshold {main!r} is not one of the thresholds {values!r}"
            raise AnalysisError(msg)
        return float(main)
    return 15.0 if 15.0 in values else values[(len(values) - 1) // 2]


def _check_hexagons(
    hexagons: pd.DataFrame, types: Sequence[str], thresholds: Sequence[float]
) -> None:
    need = ["h3_cell", "migrants"]
    for t in types:
        need += [f"within_{threshold_label(x)}_{t}" for x in thresholds]
        need.append(f"e2sfca_{t}")
    require_columns(hexagons, need, "hexagon table")
    dup = hexagons["h3_cell"].duplicated()
    if dup.any():
        msg = f"hexagon table has duplicate h3_cell {hexagons['h3_cell'][dup].iloc[0]!r}"
        raise AnalysisError(msg)
    migrants = pd.to_numeric(hexagons["migrants"], errors="coerce")
    if not (migrants > 0).all():
        row = hexagons.index[~(migrants > 0)][0]
        msg = f"hexagon table: migrants must be positive; row {row!r} has {migrants[row]!r}"
        raise AnalysisError(msg)


def gap_columns(
    hexagons: pd.DataFrame,
    *,
    service_types: Sequence[str],
    thresholds_min: Sequence[float],
    main_min: float,
) -> pd.DataFrame:
    """The gap measures of each cell (module docstring), aligned to ``hexagons.index``."""
    migrants = pd.to_numeric(hexagons["migrants"]).to_numpy(dtype=float)
    out = pd.DataFrame(index=hexagons.index)
    main = threshold_label(main_min)
    for t in service_types:
        for limit in thresholds_min:
            label = threshold_label(limit)
            within = pd.to_numeric(hexagons[f"within_{label}_{t}"]).to_numpy(dtype=float)
            out[f"beyond_{label}_{t}"] = np.clip(migrants - within, 0.0, migrants)
        beyond = out[f"beyond_{main}_{t}"].to_numpy()
        e2 = pd.to_numeric(hexagons[f"e2sfca_{t}"], errors="coerce").to_numpy(dtype=float)
        out[f"eb_share_beyond_{main}_{t}"] = eb_smooth(beyond, migrants)
        out[f"e2sfca_pct_{t}"] = percentile_rank(e2)
        out[f"gap_{t}"] = gap_index(beyond, migrants, e2)
    out[f"gap_{ALL}"] = out[[f"gap_{t}" for t in service_types]].mean(axis=1)
    return out


def _hot_spot_columns(
    hexagons: pd.DataFrame,
    variants: Sequence[str],
    *,
    permutations: int,
    seed: int,
    n_jobs: int,
) -> pd.DataFrame:
    from geo_integration.hotspots import getis_ord, local_moran

    parts = []
    computed: dict[str, pd.DataFrame] = {}
    for v in variants:
        values = hexagons[f"gap_{v}"]
        twin = next((u for u in computed if values.equals(hexagons[f"gap_{u}"])), None)
        if twin is not None:  # e.g. "all" with a single type: same values, same answer
            stats = computed[twin].copy()
        else:
            gi = getis_ord(
                values,
                hexagons["h3_cell"],
                permutations=permutations,
                seed=seed,
                n_jobs=n_jobs,
            )
            lisa = local_moran(
                values,
                hexagons["h3_cell"],
                permutations=permutations,
                seed=seed,
                n_jobs=n_jobs,
            )
            stats = pd.concat([gi, lisa.drop(columns=["lisa_i"])], axis=1)
            computed[v] = stats
        parts.append(stats.set_axis([f"{c}_{v}" for c in stats.columns], axis=1))
    return pd.concat(parts, axis=1)


def _cell_majority(residences: pd.DataFrame, key: str) -> pd.Series:
    """Per H3 cell: the ``key`` area holding most of its migrants (ties: smallest code)."""
    people = pd.to_numeric(residences["household_size"]).to_numpy(dtype=float)
    return majority_by(residences["h3_cell"], residences[key], people)["key"]


def _from_cells(hexagons: pd.DataFrame, residences: pd.DataFrame) -> Any:
    """A function giving, for each residence, a hexagon column's value (NaN when its cell is
    not in the table)."""
    pos = pd.Index(hexagons["h3_cell"]).get_indexer(residences["h3_cell"])
    known = pos >= 0

    def take(column: str) -> FloatArray:
        values = pd.to_numeric(hexagons[column], errors="coerce").to_numpy(dtype=float)
        return np.where(known, values[np.where(known, pos, 0)], np.nan)

    return take


def _weighted_mean(codes: IntArray, n: int, values: FloatArray, weights: FloatArray) -> FloatArray:
    ok = np.isfinite(values)
    num = sum_by(codes, n, np.where(ok, values * weights, 0.0))
    den = sum_by(codes, n, np.where(ok, weights, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / den, np.nan)


def rank_areas(
    residences: pd.DataFrame,
    hexagons: pd.DataFrame,
    *,
    level: Literal["locality", "upz"],
    service_types: Sequence[str],
    thresholds_min: Sequence[float],
    main_min: float,
) -> pd.DataFrame:
    """Rank localities or UPZ by gap (columns in the module docstring)."""
    from geo_integration.localities import locality_name

    key = "loc_code" if level == "locality" else "upz_code"
    people = pd.to_numeric(residences["household_size"]).to_numpy(dtype=float)
    codes, keys = group_codes(residences[key])
    n = len(keys)
    out = pd.DataFrame(index=pd.Index(keys, name=key))
    if level == "upz":
        loc = majority_by(residences[key], residences["loc_code"], people)["key"]
        out["loc_code"] = loc.to_numpy()
    out["loc_name"] = [
        locality_name(c) if isinstance(c, str) else None
        for c in (out.index if level == "locality" else out["loc_code"])
    ]
    out["migrants"] = np.round(sum_by(codes, n, people)).astype(np.int64)
    out["residences"] = np.bincount(codes[codes >= 0], minlength=n).astype(np.int64)
    times = time_summary(
        residences[key],
        residences,
        people,
        service_types=service_types,
        thresholds_min=thresholds_min,
    )
    for column in times.columns:
        out[column] = times[column].to_numpy()
    take = _from_cells(hexagons, residences)
    for t in service_types:
        out[f"e2sfca_{t}"] = _weighted_mean(codes, n, take(f"e2sfca_{t}"), people)
    for v in [*service_types, ALL]:
        out[f"gap_{v}"] = _weighted_mean(codes, n, take(f"gap_{v}"), people)
        hot = hexagons.loc[hexagons[f"gi_class_{v}"].isin(HOT), key]
        out[f"hot_cells_{v}"] = hot.value_counts().reindex(out.index).fillna(0).astype(np.int64)
    main = threshold_label(main_min)
    out["_far"] = out[[f"beyond_{main}_{t}" for t in service_types]].sum(axis=1)
    out = out.reset_index()
    out = out.sort_values(
        [f"gap_{ALL}", "_far", key], ascending=[False, False, True], na_position="last"
    )
    out["rank"] = np.arange(1, len(out) + 1, dtype=np.int64)
    return out.drop(columns="_far").reset_index(drop=True)


def _cluster_gaps(
    clusters: gpd.GeoDataFrame,
    residences: pd.DataFrame,
    labels: pd.Series,
    hexagons: pd.DataFrame,
    *,
    service_types: Sequence[str],
    main_min: float,
    underserved_share: float,
) -> gpd.GeoDataFrame:
    out = clusters.copy()
    people = pd.to_numeric(residences["household_size"]).to_numpy(dtype=float)
    lab = labels.to_numpy()
    codes, ids = group_codes(lab)
    codes = np.where(lab >= 0, codes, -1)  # noise counts in no cluster
    take = _from_cells(hexagons, residences)
    for v in [*service_types, ALL]:
        means = pd.Series(_weighted_mean(codes, len(ids), take(f"gap_{v}"), people), index=ids)
        out[f"gap_{v}"] = out["cluster_id"].map(means).astype(float)
    main = threshold_label(main_min)
    shares = out[[f"share_beyond_{main}_{t}" for t in service_types]]
    for t in service_types:
        out[f"underserved_{t}"] = (
            shares[f"share_beyond_{main}_{t}"] >= underserved_share
        ).to_numpy()
    out[f"underserved_{ALL}"] = (shares.mean(axis=1) >= underserved_share).to_numpy()
    return out


def candidate_areas(
    hexagons: pd.DataFrame,
    clusters: gpd.GeoDataFrame,
    *,
    service_types: Sequence[str],
) -> gpd.GeoDataFrame:
    """Significant hot cells (>= 95 %) and under-served clusters, as points for siting."""
    import h3
    from shapely.geometry import Point

    rows: list[dict[str, Any]] = []
    for v in [*service_types, ALL]:
        hot = hexagons[hexagons[f"gi_class_{v}"].isin(HOT)]
        for cell, migrants, gap, cls in zip(
            hot["h3_cell"], hot["migrants"], hot[f"gap_{v}"], hot[f"gi_class_{v}"], strict=True
        ):
            lat, lng = h3.cell_to_latlng(cell)
            rows.append(
                {
                    "area_id": f"hex-{v}-{cell}",
                    "kind": "hotspot_cell",
                    "service_type": v,
                    "h3_cell": cell,
                    "cluster_id": pd.NA,
                    "migrants": float(migrants),
                    "gap": float(gap),
                    "gi_class": cls,
                    "geometry": Point(lng, lat),
                }
            )
        chosen = clusters[clusters[f"underserved_{v}"].astype(bool)]
        for cid, migrants, gap, geom in zip(
            chosen["cluster_id"],
            chosen["migrants"],
            chosen[f"gap_{v}"],
            chosen.geometry,
            strict=True,
        ):
            rows.append(
                {
                    "area_id": f"cluster-{v}-{cid}",
                    "kind": "cluster",
                    "service_type": v,
                    "h3_cell": None,
                    "cluster_id": int(cid),
                    "migrants": float(migrants),
                    "gap": float(gap),
                    "gi_class": None,
                    "geometry": _h3_centre(geom.representative_point()),
                }
            )
    columns = [
        "area_id",
        "kind",
        "service_type",
        "h3_cell",
        "cluster_id",
        "migrants",
        "gap",
        "gi_class",
        "geometry",
    ]
    frame = pd.DataFrame(rows, columns=columns)
    frame["cluster_id"] = frame["cluster_id"].astype("Int64")
    frame = frame.sort_values(["service_type", "gap", "area_id"], ascending=[True, False, True])
    return gpd.GeoDataFrame(frame.reset_index(drop=True), geometry="geometry", crs=WGS84)


def _h3_centre(point: Any, resolution: int = 10) -> Any:
    """The centre of the H3 cell holding ``point``: a published point never lands on a
    home by accident of geometry (the privacy check knows H3 centres)."""
    import h3
    from shapely.geometry import Point

    lat, lng = h3.cell_to_latlng(h3.latlng_to_cell(point.y, point.x, resolution))
    return Point(lng, lat)


@dataclass
class GapsResult:
    """Result of :func:`find_gaps` (tables described in the module docstring).

    ``residence_cluster`` (the cluster of each residence, aligned to the input) is for
    in-memory use only and is never written.
    """

    clusters: gpd.GeoDataFrame
    hexagons: gpd.GeoDataFrame
    rank_localities: pd.DataFrame
    rank_upz: pd.DataFrame
    candidate_areas: gpd.GeoDataFrame
    residence_cluster: pd.Series
    parameters: dict[str, Any] = field(default_factory=dict)

    def published(self) -> dict[str, pd.DataFrame]:
        """The layers as written: small counts suppressed, small clusters dropped."""
        from geo_integration.privacy import suppress_small_counts

        k = int(self.parameters.get("privacy_k", 10))
        clusters = self.clusters[self.clusters["migrants"] >= k].reset_index(drop=True)
        hexes = _suppress(self.hexagons, k, suppress_small_counts)
        small_cluster = (self.candidate_areas["kind"] == "cluster") & (
            self.candidate_areas["migrants"] < k
        )
        candidates = _suppress(
            self.candidate_areas[~small_cluster].reset_index(drop=True), k, suppress_small_counts
        )
        # a small place is left out, not blanked: a blank hexagon (0.1 km²) or hot-cell
        # point would still say that a few migrants live there
        hexes = hexes[~hexes["suppressed"].astype(bool)] if "suppressed" in hexes else hexes
        if "suppressed" in candidates:
            candidates = candidates[~candidates["suppressed"].astype(bool)]
        layers: dict[str, pd.DataFrame] = {
            "clusters": clusters,
            "gap_hexagons": hexes,
            "rank_localities": _suppress(self.rank_localities, k, suppress_small_counts),
            "rank_upz": _suppress(self.rank_upz, k, suppress_small_counts),
            "candidate_areas": candidates,
        }
        for name, layer in layers.items():
            bad = [c for c in layer.columns if c in FORBIDDEN]
            if bad:
                msg = f"layer {name!r} would publish residence-level column(s) {bad!r}"
                raise PrivacyError(msg)
        return layers

    def write(self, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
        """Write every published layer as ``<name>.parquet`` (GeoParquet when it has
        geometry) and ``<name>.csv`` (geometry as WKT), plus ``gaps_parameters.json``.

        Returns
        -------
        dict
            File name -> path written.
        """
        from geo_integration.fileio import atomic_path, write_text

        root = Path(out_dir)
        written: dict[str, Path] = {}
        for name, layer in self.published().items():
            target = root / f"{name}.parquet"
            with atomic_path(target) as tmp:
                layer.to_parquet(tmp, index=False)
            written[target.name] = target
            flat = pd.DataFrame(layer)
            if isinstance(layer, gpd.GeoDataFrame):
                flat["geometry"] = layer.geometry.to_wkt()
            target = root / f"{name}.csv"
            write_text(target, flat.to_csv(index=False))
            written[target.name] = target
        target = root / "gaps_parameters.json"
        write_text(target, json.dumps(self.parameters, indent=2, ensure_ascii=False) + "\n")
        written[target.name] = target
        log.info("wrote %d gap files to %s", len(written), root)
        return written


def _suppress(table: pd.DataFrame, k: int, suppress: Any) -> pd.DataFrame:
    if "migrants" not in table.columns:
        return table
    derived = [c for c in table.columns if c.startswith(("gi_class", "lisa_class"))]
    if "gi_class" in table.columns and "gi_class" not in derived:
        derived.append("gi_class")
    numeric = list(table.select_dtypes("number").columns)
    out = suppress(table, count_col="migrants", k=k, blank=[*numeric, *derived])
    if isinstance(table, gpd.GeoDataFrame):
        return gpd.GeoDataFrame(out, geometry=table.geometry.name, crs=table.crs)
    return out


def _hex_geometry(hexagons: pd.DataFrame) -> gpd.GeoDataFrame:
    if isinstance(hexagons, gpd.GeoDataFrame) and hexagons.geometry.name in hexagons:
        return hexagons.to_crs(WGS84) if hexagons.crs is not None else hexagons.set_crs(WGS84)
    from geo_integration.areas import hex_polygons

    polys = hex_polygons(hexagons["h3_cell"].tolist())
    return gpd.GeoDataFrame(hexagons.copy(), geometry=polys.to_numpy(), crs=WGS84)


def find_gaps(
    residences: pd.DataFrame,
    hexagons: pd.DataFrame,
    *,
    settings: Settings | None = None,
    service_types: Sequence[str] | None = None,
    main_threshold_min: float | None = None,
    cluster_method: Literal["dbscan", "hdbscan"] = "dbscan",
    eps_m: float | None = None,
    min_samples: float | None = None,
    min_cluster_people: int = 50,
    max_cluster_share: float | None = 0.1,
    permutations: int = 999,
    underserved_share: float = 0.5,
    n_jobs: int = 1,
) -> GapsResult:
    """Clusters, unmet demand, hot spots, rankings and candidate areas.

    Parameters
    ----------
    residences
        Per-residence frame of the accessibility stage: ``lon``, ``lat``,
        ``household_size``, ``loc_code``, ``upz_code``, ``h3_cell``, ``time_<type>``.
    hexagons
        Hexagon table of the accessibility stage: ``h3_cell``, ``migrants``,
        ``within_<T>_<type>`` for every threshold, ``e2sfca_<type>`` (geometry optional).
    settings
        Thresholds, privacy ``k`` and seed (default :class:`Settings`).
    service_types
        Types to analyse (default: every ``time_<type>`` of ``residences`` whose
        ``e2sfca_<type>`` is in ``hexagons``: service types, not secretariats).
    main_threshold_min
        Threshold of the gap index (default 15 minutes, else the median threshold).
    cluster_method, eps_m, min_samples, min_cluster_people, max_cluster_share
        Passed to :func:`geo_integration.clusters.find_clusters`.
    permutations
        Permutations of the hot-spot tests (seeded with ``settings.seed``).
    underserved_share
        A cluster is under-served for a type when at least this share of its migrants live
        beyond the main threshold.
    n_jobs
        Processes for the permutation engine.

    Returns
    -------
    GapsResult
    """
    settings = settings or Settings()
    if service_types is not None:
        types = list(service_types)
    else:  # service types measured with supply (secretariats have times only: skipped)
        types = [t for t in service_types_of(residences) if f"e2sfca_{t}" in hexagons.columns]
    if not types:
        msg = "no service type: residences have no time_<type> column"
        raise AnalysisError(msg)
    thresholds = [float(t) for t in settings.thresholds_min]
    main = main_threshold(thresholds, main_threshold_min)
    need = ["lon", "lat", "household_size", "loc_code", "upz_code", "h3_cell"]
    require_columns(residences, [*need, *(f"time_{t}" for t in types)], "residences")
    _check_hexagons(hexagons, types, thresholds)
    hexes = _hex_geometry(hexagons)
    for key in ("loc_code", "upz_code"):
        if key not in hexes.columns:
            hexes[key] = hexes["h3_cell"].map(_cell_majority(residences, key))
    gaps = gap_columns(hexes, service_types=types, thresholds_min=thresholds, main_min=main)
    hexes = pd.concat([hexes, gaps], axis=1)
    spots = _hot_spot_columns(
        hexes, [*types, ALL], permutations=permutations, seed=settings.seed, n_jobs=n_jobs
    )
    hexes = gpd.GeoDataFrame(pd.concat([hexes, spots], axis=1), crs=WGS84)
    labels = find_clusters(
        residences,
        min_cluster_people=min_cluster_people,
        max_cluster_share=max_cluster_share,
        min_samples=min_samples,
        eps_m=eps_m,
        method=cluster_method,
        seed=settings.seed,
    )
    clusters = cluster_table(residences, labels, service_types=types, thresholds_min=thresholds)
    clusters = _cluster_gaps(
        clusters,
        residences,
        labels,
        hexes,
        service_types=types,
        main_min=main,
        underserved_share=underserved_share,
    )
    parameters = {
        "service_types": types,
        "thresholds_min": thresholds,
        "main_threshold_min": main,
        "gap_formula": GAP_FORMULA,
        "permutations": permutations,
        "seed": settings.seed,
        "fdr": "Benjamini-Hochberg on two-sided pseudo p-values; classes at q <= 0.01/0.05/0.10",
        "lisa_alpha": 0.05,
        "privacy_k": settings.privacy_k,
        "cluster_method": cluster_method,
        "eps_m": eps_m,
        "min_samples": min_samples,
        "min_cluster_people": min_cluster_people,
        "max_cluster_share": max_cluster_share,
        "underserved_share": underserved_share,
    }
    return GapsResult(
        clusters=clusters,
        hexagons=hexes,
        rank_localities=rank_areas(
            residences,
            hexes,
            level="locality",
            service_types=types,
            thresholds_min=thresholds,
            main_min=main,
        ),
        rank_upz=rank_areas(
            residences,
            hexes,
            level="upz",
            service_types=types,
            thresholds_min=thresholds,
            main_min=main,
        ),
        candidate_areas=candidate_areas(hexes, clusters, service_types=types),
        residence_cluster=labels,
        parameters=parameters,
    )
