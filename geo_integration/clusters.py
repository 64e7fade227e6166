"""Clusters of residence: where migrants concentrate (a kernel: no I/O).

:func:`find_clusters` labels each residence with the cluster it belongs to (``-1``: noise or no
coordinates); :func:`cluster_table` describes each cluster (people, area, majority locality and
UPZ, travel times) with a polygon that never traces individual homes.

Clustering is done in metres (EPSG:9377) and counts **people** (``household_size``):

``method="dbscan"`` (default)
    Residences are first pooled on a square grid of ``grid_m`` metres (default 25 m; ``0``
    pools identical coordinates only) and each occupied square becomes one point at its centre,
    weighted by the people in it. DBSCAN then runs with ``sample_weight`` = people: a square is
    a core point when at least ``min_samples`` people live within ``eps_m`` metres of it
    (itself included). Pooling makes a million residences tractable and costs at most
    ``grid_m / sqrt(2)`` metres of precision, small against ``eps_m``.
``method="hdbscan"``
    HDBSCAN (scikit-learn) on the residences themselves; it cannot weight points, so people
    are counted in two steps: ``min_cluster_size`` and ``min_samples`` are set in
    **residences** (``min_samples`` people divided by the mean household size, rounded up)
    and the people post-filter below applies. ``eps_m`` is its
    ``cluster_selection_epsilon``. Quadratic in the worst case: meant for drops of up to some
    tens of thousands of residences.

Chaining (DBSCAN): in a large drop the dense half of the city can form one chain of core
points, a "cluster" of hundreds of thousands of people that tells a planner nothing. A cluster
holding more than ``max_cluster_share`` of the drop's people (default 10 %) is therefore
re-clustered on its own with the core density doubled (up to 4 doublings) until it divides
into at least two clusters of ``min_cluster_people`` that together keep at least half of its
people; its members outside the parts become noise (they live at a density between the two
levels, like the homes along a bridge between two cores), and parts still above the share
are divided again. A cluster that no doubling divides so is kept whole: a large area of even
density is one cluster. ``None`` turns this off.

With either method, clusters with fewer than ``min_cluster_people`` people become noise.
``min_samples=None`` sets the core density relative to the drop: ``density_factor`` (3) times
the people an ``eps_m`` disc would hold if the drop were spread evenly over the inhabited
part of the city (the 250 m squares with at least one residence).

Stability: the points are put in a canonical order (sorted by coordinates) before clustering,
and clusters are numbered by decreasing people (ties: the lowest coordinates first), so the
labels do not depend on the order of the input rows.

Polygons (privacy): the members' coordinates are snapped to a ``snap_m`` lattice (25 m),
their concave hull is buffered by ``buffer_m`` (>= 100 m, default 150 m) and simplified with
a ``simplify_m`` tolerance (>= 50 m). Simplification keeps a subset of the buffer's vertices,
so every vertex lies ``buffer_m`` from the hull of snapped points, hence at least
``buffer_m - snap_m / sqrt(2)`` metres from every member residence: no residence coordinate
is a vertex, and the arcs of the buffer are centred on lattice points, not on homes.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Sequence
from typing import Literal

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd

from geo_integration.errors import AnalysisError, MissingColumnError
from geo_integration.geo import METRIC_CRS, WGS84

__all__ = [
    "cluster_polygon",
    "cluster_table",
    "find_clusters",
    "group_codes",
    "lattice_index",
    "majority_by",
    "median_by_codes",
    "metric_xy",
    "require_columns",
    "service_types_of",
    "sum_by",
    "threshold_label",
    "weighted_median_by",
]

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
NOISE = -1
_DENSITY_SQUARE_M = 250.0
_HDBSCAN_WARN = 50_000


def threshold_label(minutes: float) -> str:
    """Column label of a threshold: ``15.0`` -> ``"15"``, ``12.5`` -> ``"12.5"``."""
    return f"{minutes:g}"


def service_types_of(residences: pd.DataFrame) -> list[str]:
    """Service types with a ``time_<type>`` column, sorted."""
    return sorted(c.removeprefix("time_") for c in residences.columns if c.startswith("time_"))


def require_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        msg = f"{what} lacks column(s) {missing!r}; has {list(frame.columns)!r}"
        raise MissingColumnError(msg, column=missing[0])


def _people(residences: pd.DataFrame) -> FloatArray:
    size = pd.to_numeric(residences["household_size"], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(size) | (size < 1)
    if bad.any():
        row = residences.index[bad][0]
        value = residences["household_size"].loc[row]
        msg = f"household_size must be an integer >= 1; row {row!r} has {value!r}"
        raise AnalysisError(msg)
    return size


def metric_xy(residences: pd.DataFrame) -> tuple[FloatArray, FloatArray]:
    """EPSG:9377 metres of the ``lon``/``lat`` columns (NaN where not finite)."""
    from pyproj import Transformer

    lon = pd.to_numeric(residences["lon"], errors="coerce").to_numpy(dtype=float)
    lat = pd.to_numeric(residences["lat"], errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(lon) & np.isfinite(lat)
    x = np.full(len(lon), np.nan)
    y = np.full(len(lon), np.nan)
    if ok.any():
        tr = Transformer.from_crs(WGS84, METRIC_CRS, always_xy=True)
        x[ok], y[ok] = tr.transform(lon[ok], lat[ok])
    return x, y


def find_clusters(
    residences: pd.DataFrame,
    *,
    min_cluster_people: int = 50,
    min_samples: float | None = None,
    eps_m: float | None = None,
    method: Literal["dbscan", "hdbscan"] = "dbscan",
    grid_m: float = 25.0,
    density_factor: float = 3.0,
    max_cluster_share: float | None = 0.1,
    seed: int | None = None,
) -> pd.Series:
    """Label each residence with its cluster of residence.

    Parameters
    ----------
    residences
        One row per residence with ``lon``, ``lat`` (EPSG:4326) and ``household_size``.
    min_cluster_people
        Clusters with fewer people are dropped (labelled noise).
    min_samples
        DBSCAN: people within ``eps_m`` of a point for it to be a core point. HDBSCAN: the
        same number of people, turned into residences (see the module docstring).
        ``None``: relative to the drop's mean density (``density_factor``).
    eps_m
        DBSCAN neighbourhood radius in metres (``None``: 200 m). HDBSCAN: cluster selection
        epsilon (``None``: 0).
    method
        ``"dbscan"`` or ``"hdbscan"``.
    grid_m
        DBSCAN pooling grid in metres (``0``: identical coordinates only).
    density_factor
        Multiple of the mean density used when ``min_samples`` is ``None``.
    max_cluster_share
        DBSCAN: clusters holding more than this share of the people are divided at higher
        densities (see the module docstring); ``None``: never.
    seed
        Accepted for a uniform API; both algorithms are deterministic on the canonical
        order, so it does not change the result.

    Returns
    -------
    Series
        ``cluster_id`` (int) aligned to ``residences.index``: ``0, 1, ...`` by decreasing
        people, ``-1`` for noise and for rows without coordinates.
    """
    del seed
    require_columns(residences, ["lon", "lat", "household_size"], "residences")
    if method not in ("dbscan", "hdbscan"):
        msg = f"method must be 'dbscan' or 'hdbscan', got {method!r}"
        raise AnalysisError(msg)
    if eps_m is not None and eps_m <= 0:
        msg = f"eps_m must be positive metres, got {eps_m!r}"
        raise AnalysisError(msg)
    if max_cluster_share is not None and not 0 < max_cluster_share <= 1:
        msg = f"max_cluster_share must be in (0, 1], got {max_cluster_share!r}"
        raise AnalysisError(msg)
    if grid_m < 0 or (method == "dbscan" and eps_m is not None and grid_m >= eps_m):
        msg = f"grid_m must be >= 0 and smaller than eps_m, got {grid_m!r}"
        raise AnalysisError(msg)
    people = _people(residences)
    x, y = metric_xy(residences)
    ok = np.isfinite(x) & np.isfinite(y)
    labels = np.full(len(residences), NOISE, dtype=np.int64)
    if ok.sum() >= 2:
        radius = eps_m if eps_m is not None else 200.0
        core = (
            float(min_samples)
            if min_samples is not None
            else _relative_min_samples(x[ok], y[ok], people[ok], radius, density_factor)
        )
        if core < 1:
            msg = f"min_samples must be at least 1 person, got {min_samples!r}"
            raise AnalysisError(msg)
        if method == "dbscan":
            limit = None if max_cluster_share is None else max_cluster_share * people[ok].sum()
            sub = _dbscan(
                x[ok],
                y[ok],
                people[ok],
                radius,
                core,
                grid_m,
                limit=limit,
                min_people=min_cluster_people,
            )
        else:
            sub = _hdbscan(x[ok], y[ok], people[ok], eps_m or 0.0, core)
        labels[ok] = _renumber(sub, x[ok], y[ok], people[ok], min_cluster_people)
    log.info(
        "%s: %d cluster(s), %d of %d residences clustered",
        method,
        int(labels.max()) + 1,
        int((labels >= 0).sum()),
        len(labels),
    )
    return pd.Series(labels, index=residences.index, name="cluster_id")


def _relative_min_samples(
    x: FloatArray, y: FloatArray, people: FloatArray, eps_m: float, factor: float
) -> float:
    squares = len(lattice_index(x, y, _DENSITY_SQUARE_M)[0])
    density = people.sum() / (squares * _DENSITY_SQUARE_M**2)
    value = max(2.0, factor * density * math.pi * eps_m**2)
    log.info("min_samples set to %.1f people (density factor %.1f)", value, factor)
    return value


def lattice_index(
    x: FloatArray, y: FloatArray, step_m: float
) -> tuple[IntArray, IntArray, IntArray]:
    """Occupied squares of a ``step_m`` lattice, in canonical (column, row) order.

    Returns
    -------
    (columns, rows, inverse)
        Integer lattice coordinates of each occupied square (sorted by column, then row) and,
        for each input point, the position of its square.
    """
    gx = np.floor(x / step_m).astype(np.int64)
    gy = np.floor(y / step_m).astype(np.int64)
    x0, y0 = gx.min(), gy.min()
    span = int(gy.max() - y0) + 1
    keys, inverse = np.unique((gx - x0) * span + (gy - y0), return_inverse=True)
    return keys // span + x0, keys % span + y0, inverse.reshape(-1)


def _pool(x: FloatArray, y: FloatArray, grid_m: float) -> tuple[FloatArray, IntArray]:
    """Canonical pooled points (sorted) and the inverse map from rows to them."""
    if grid_m > 0:
        cols, rows, inverse = lattice_index(x, y, grid_m)
        return (np.column_stack([cols, rows]).astype(float) + 0.5) * grid_m, inverse
    uniq_f, inverse = np.unique(np.column_stack([x, y]), axis=0, return_inverse=True)
    return uniq_f, inverse.reshape(-1)


def _dbscan(
    x: FloatArray,
    y: FloatArray,
    people: FloatArray,
    eps_m: float,
    core: float,
    grid_m: float,
    *,
    limit: float | None = None,
    min_people: float = 0.0,
) -> IntArray:
    """DBSCAN on the pooled points; clusters of more than ``limit`` people are divided into
    parts of at least ``min_people`` (see :func:`_divide_large`)."""
    points, inverse = _pool(x, y, grid_m)
    weights = np.bincount(inverse, weights=people, minlength=len(points)).astype(np.float64)
    pooled = _dbscan_pooled(points, weights, eps_m, core)
    if limit is not None:
        pooled = _divide_large(points, weights, pooled, eps_m, core, limit, min_people)
    return pooled[inverse]


def _dbscan_pooled(points: FloatArray, weights: FloatArray, eps_m: float, core: float) -> IntArray:
    from sklearn.cluster import DBSCAN

    model = DBSCAN(eps=eps_m, min_samples=math.ceil(core - 1e-9), algorithm="kd_tree")
    return np.asarray(model.fit(points, sample_weight=weights).labels_, dtype=np.int64)


_MAX_DOUBLINGS = 4
#: A division must keep at least this share of the cluster's people in its parts.
_KEEP_SHARE = 0.5


def _divide_large(
    points: FloatArray,
    weights: FloatArray,
    labels: IntArray,
    eps_m: float,
    core: float,
    limit: float,
    min_people: float,
) -> IntArray:
    """Divide clusters heavier than ``limit`` people by re-clustering each at a doubled core
    density (up to :data:`_MAX_DOUBLINGS` times) until it gives two parts of ``min_people``."""
    out = labels.copy()
    found = out >= 0
    heavy = np.bincount(out[found], weights=weights[found]) if found.any() else np.zeros(0)
    queue = [(int(g), core) for g in np.flatnonzero(heavy > limit)]
    next_id = int(out.max()) + 1
    while queue:
        group, level = queue.pop()
        members = np.flatnonzero(out == group)
        parts, level = _parts(points[members], weights[members], eps_m, level, min_people)
        if parts is None:
            continue
        log.info(
            "a cluster of %.0f people divided into %d", weights[members].sum(), parts.max() + 1
        )
        out[members] = NOISE
        for part in range(int(parts.max()) + 1):
            out[members[parts == part]] = next_id
            if weights[members][parts == part].sum() > limit:
                queue.append((next_id, level))
            next_id += 1
    return out


def _parts(
    points: FloatArray, weights: FloatArray, eps_m: float, core: float, min_people: float
) -> tuple[IntArray | None, float]:
    """Parts (``0..n-1``, noise ``-1``) of a cluster at the first doubled density that gives
    at least two of ``min_people`` holding at least half its people, and that density;
    ``None`` when no doubling does (a higher density only keeps fewer people)."""
    for _ in range(_MAX_DOUBLINGS):
        core *= 2.0
        sub = _dbscan_pooled(points, weights, eps_m, core)
        found = sub >= 0
        if not found.any():
            return None, core
        mass = np.bincount(sub[found], weights=weights[found])
        kept = np.flatnonzero(mass >= min_people)
        if mass[kept].sum() < _KEEP_SHARE * weights.sum():
            return None, core  # the parts would leave most people out: not a division
        if len(kept) >= 2:
            remap = np.full(len(mass), NOISE, dtype=np.int64)
            remap[kept] = np.arange(len(kept))
            return np.where(found, remap[np.maximum(sub, 0)], NOISE), core
    return None, core


def _hdbscan(
    x: FloatArray, y: FloatArray, people: FloatArray, eps_m: float, core_people: float
) -> IntArray:
    from sklearn.cluster import HDBSCAN

    if len(x) > _HDBSCAN_WARN:
        log.warning("HDBSCAN on %d residences may be slow; consider method='dbscan'", len(x))
    order = np.lexsort((people, y, x))
    size = max(2, math.ceil(core_people / float(people.mean())))
    size = min(size, len(x))
    model = HDBSCAN(
        min_cluster_size=size,
        min_samples=size,
        cluster_selection_epsilon=eps_m,
        copy=True,
    )
    sorted_labels = np.asarray(model.fit(np.column_stack([x, y])[order]).labels_, np.int64)
    labels = np.empty_like(sorted_labels)
    labels[order] = sorted_labels
    return labels


def _renumber(
    labels: IntArray, x: FloatArray, y: FloatArray, people: FloatArray, min_people: float
) -> IntArray:
    """Drop small clusters and number the rest by decreasing people, then lowest point."""
    out = np.full(len(labels), NOISE, dtype=np.int64)
    found = labels >= 0
    if not found.any():
        return out
    frame = pd.DataFrame({"g": labels[found], "x": x[found], "y": y[found], "p": people[found]})
    stats = frame.groupby("g").agg(p=("p", "sum"), x=("x", "min"), y=("y", "min"))
    stats = stats[stats["p"] >= min_people]
    stats = stats.sort_values(["p", "x", "y"], ascending=[False, True, True])
    new_id = pd.Series(np.arange(len(stats), dtype=np.int64), index=stats.index)
    mapped = pd.Series(labels[found]).map(new_id).fillna(NOISE).to_numpy(dtype=np.int64)
    out[found] = mapped
    return out


def group_codes(groups: npt.ArrayLike | pd.Series) -> tuple[IntArray, pd.Index]:
    """Integer code of each row's group (``-1`` where missing) and the sorted group keys."""
    series = groups if isinstance(groups, pd.Series) else pd.Series(np.asarray(groups))
    codes, uniques = pd.factorize(series, sort=True)
    return np.asarray(codes, dtype=np.int64), pd.Index(uniques)


def sum_by(codes: IntArray, n_groups: int, weights: npt.ArrayLike) -> FloatArray:
    """Sum of ``weights`` per group code (rows with code ``-1`` are ignored)."""
    ok = codes >= 0
    w = np.broadcast_to(np.asarray(weights, dtype=float), codes.shape)
    return np.bincount(codes[ok], weights=w[ok], minlength=n_groups).astype(float)


def median_by_codes(
    codes: IntArray, n_groups: int, values: npt.ArrayLike, weights: npt.ArrayLike
) -> FloatArray:
    """Weighted lower median per group code; NaN where a group has no value."""
    v = np.asarray(values, dtype=float)
    w = np.asarray(weights, dtype=float)
    keep = (codes >= 0) & ~np.isnan(v) & (w > 0)
    out = np.full(n_groups, np.nan)
    if not keep.any():
        return out
    c, v, w = codes[keep], v[keep], w[keep]
    by_value = np.argsort(v, kind="stable")
    order = by_value[np.argsort(c[by_value], kind="stable")]  # by group, then value
    c, v, w = c[order], v[order], w[order]
    cum = np.cumsum(w)
    totals = np.bincount(c, weights=w, minlength=n_groups)
    before = np.concatenate([[0.0], np.cumsum(totals)[:-1]])
    present = totals > 0
    target = (before + totals / 2.0 - 1e-9 * totals)[present]
    pos = np.searchsorted(cum, target, side="left")
    out[present] = v[np.minimum(pos, len(v) - 1)]
    return out


def weighted_median_by(
    groups: npt.ArrayLike, values: npt.ArrayLike, weights: npt.ArrayLike
) -> pd.Series:
    """Weighted (lower) median of ``values`` within each group; NaN values are ignored.

    The median of a group is its smallest value whose cumulative weight reaches half the
    group's total weight. ``inf`` is a value like any other (unreachable), so a group where
    more than half the weight is unreachable has median ``inf``.

    Returns
    -------
    Series
        Indexed by the sorted group keys (groups with no finite-or-inf value are absent).
    """
    codes, keys = group_codes(groups)
    med = median_by_codes(codes, len(keys), values, weights)
    return pd.Series(med, index=keys).dropna()


def cluster_polygon(
    x: FloatArray,
    y: FloatArray,
    *,
    buffer_m: float = 150.0,
    simplify_m: float = 50.0,
    snap_m: float = 25.0,
    concavity: float = 0.3,
) -> object:
    """A polygon (EPSG:9377) covering points without revealing them (module docstring)."""
    import shapely

    if buffer_m < 100 or simplify_m < 50 or snap_m <= 0:
        msg = (
            f"need buffer_m >= 100, simplify_m >= 50 and snap_m > 0; got {buffer_m!r}, "
            f"{simplify_m!r}, {snap_m!r}"
        )
        raise AnalysisError(msg)
    cols, rows, _inverse = lattice_index(x + snap_m / 2, y + snap_m / 2, snap_m)
    lattice = np.column_stack([cols, rows]).astype(float) * snap_m
    hull = shapely.concave_hull(shapely.multipoints(lattice), ratio=concavity)
    shape = shapely.buffer(hull, buffer_m)
    return shapely.simplify(shape, simplify_m, preserve_topology=True)


def majority_by(
    groups: npt.ArrayLike | pd.Series, keys: npt.ArrayLike | pd.Series, weights: npt.ArrayLike
) -> pd.DataFrame:
    """Per group: the key holding most weight (ties: smallest key) and its share.

    ``groups`` and ``keys`` are aligned by position; missing groups are ignored, missing
    keys count in the total only.

    Returns
    -------
    DataFrame
        ``key`` (missing when a group has no key) and ``share``, indexed by sorted group.
    """
    g, groups_ix = group_codes(groups)
    k, keys_ix = group_codes(keys)
    w = np.asarray(weights, dtype=float)
    n_g, n_k = len(groups_ix), max(len(keys_ix), 1)
    totals = sum_by(g, n_g, w)
    both = (g >= 0) & (k >= 0)
    table = np.bincount(g[both] * n_k + k[both], weights=w[both], minlength=n_g * n_k)
    table = table.reshape(n_g, n_k)
    best = table.argmax(axis=1)  # first maximum: the smallest key
    top = table[np.arange(n_g), best]
    has = top > 0
    key = pd.Series(
        np.where(has, np.asarray(keys_ix, dtype=object)[best] if len(keys_ix) else None, None),
        index=groups_ix,
        dtype=object,
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(has, top / totals, np.nan)
    return pd.DataFrame({"key": key, "share": share}, index=groups_ix)


def time_summary(
    groups: npt.ArrayLike | pd.Series,
    residences: pd.DataFrame,
    people: FloatArray,
    *,
    service_types: Sequence[str],
    thresholds_min: Sequence[float],
) -> pd.DataFrame:
    """Per group and type: people-weighted ``median_time_<t>``, ``beyond_<T>_<t>`` (people
    farther than ``T`` minutes, unreachable included) and ``share_beyond_<T>_<t>`` (over the
    people with a known time). Indexed by the sorted groups; rows align by position."""
    codes, keys = group_codes(groups)
    n = len(keys)
    columns: dict[str, FloatArray] = {}
    for t in service_types:
        time = pd.to_numeric(residences[f"time_{t}"], errors="coerce").to_numpy(dtype=float)
        columns[f"median_time_{t}"] = median_by_codes(codes, n, time, people)
        known = sum_by(codes, n, np.where(np.isnan(time), 0.0, people))
        for limit in thresholds_min:
            far = sum_by(codes, n, np.where(time > limit, people, 0.0))
            label = threshold_label(limit)
            columns[f"beyond_{label}_{t}"] = far
            with np.errstate(divide="ignore", invalid="ignore"):
                columns[f"share_beyond_{label}_{t}"] = np.where(known > 0, far / known, np.nan)
    return pd.DataFrame(columns, index=keys)


def cluster_table(
    residences: pd.DataFrame,
    labels: pd.Series,
    *,
    service_types: Sequence[str] | None = None,
    thresholds_min: Sequence[float] = (10.0, 15.0, 30.0),
    buffer_m: float = 150.0,
    simplify_m: float = 50.0,
    snap_m: float = 25.0,
) -> gpd.GeoDataFrame:
    """Describe each cluster found by :func:`find_clusters`.

    Parameters
    ----------
    residences
        The per-residence frame (``lon``, ``lat``, ``household_size``, ``loc_code``,
        ``upz_code``, ``time_<type>``).
    labels
        Cluster of each residence, aligned to ``residences`` (``-1``: noise).
    service_types
        Types to summarise; ``None``: every ``time_<type>`` column.
    thresholds_min
        Walking-time thresholds in minutes.
    buffer_m, simplify_m, snap_m
        Polygon generalisation (module docstring).

    Returns
    -------
    GeoDataFrame
        One row per cluster (EPSG:4326): ``cluster_id``, ``migrants``, ``residences``,
        ``loc_code``, ``loc_name``, ``loc_share``, ``upz_code``, ``upz_share``, ``area_km2``,
        per type ``median_time_<t>`` and per threshold ``share_beyond_<T>_<t>``, geometry.
    """
    from geo_integration.localities import locality_name

    require_columns(
        residences, ["lon", "lat", "household_size", "loc_code", "upz_code"], "residences"
    )
    if not labels.index.equals(residences.index):
        msg = "labels must be aligned to the residences index"
        raise AnalysisError(msg)
    types = list(service_types) if service_types is not None else service_types_of(residences)
    require_columns(residences, [f"time_{t}" for t in types], "residences")
    member = labels.to_numpy() >= 0
    res = residences.loc[member]
    lab = labels.to_numpy()[member]
    people = _people(res)
    x, y = metric_xy(res)
    codes, ids = group_codes(lab)
    n = len(ids)
    table = pd.DataFrame({"cluster_id": np.asarray(ids, dtype=np.int64)})
    table["migrants"] = np.round(sum_by(codes, n, people)).astype(np.int64)
    table["residences"] = np.bincount(codes, minlength=n).astype(np.int64)
    loc = majority_by(lab, res["loc_code"], people)
    upz = majority_by(lab, res["upz_code"], people)
    table["loc_code"] = loc["key"].to_numpy()
    table["loc_name"] = [locality_name(c) if isinstance(c, str) else None for c in loc["key"]]
    table["loc_share"] = loc["share"].to_numpy()
    table["upz_code"] = upz["key"].to_numpy()
    table["upz_share"] = upz["share"].to_numpy()
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(n + 1))
    polys = [
        cluster_polygon(
            x[order[a:b]], y[order[a:b]], buffer_m=buffer_m, simplify_m=simplify_m, snap_m=snap_m
        )
        for a, b in itertools.pairwise(bounds)
    ]
    metric = gpd.GeoSeries(polys, crs=METRIC_CRS)
    table["area_km2"] = (metric.area / 1e6).round(3).to_numpy()
    times = time_summary(lab, res, people, service_types=types, thresholds_min=thresholds_min)
    for column in times.columns:
        if not column.startswith("beyond_"):
            table[column] = times[column].to_numpy()
    return gpd.GeoDataFrame(table, geometry=metric.to_crs(WGS84).to_numpy(), crs=WGS84)
