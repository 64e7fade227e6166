"""Benchmark: Gi* hot spots on every inhabited H3 cell of the city, and clustering of
1,000,000 residences.

Run from the repository root (needs the Bogotá data mirror)::

    GEO_INTEGRATION_DATA=/work/shared/data/bogota PYTHONPATH=. \\
        python benchmarks/bench_gaps.py [--residences 1000000] [--seed 1]

Setup (not timed): samples ``--residences`` residences from the 1.43 million official address
points (``load_addresses``), four times as likely in Suba, Kennedy, Ciudad Bolívar and Bosa,
with 1-6 people each; picks random service points among the addresses (80 ``health``, 600
``school``); fakes walking times as 1.3 x straight-line distance at 75 m/min; builds the
hexagon table of the accessibility contract (H3 resolution 9, a 2SFCA stand-in for E2SFCA).

Timed, each in a forked child process (wall time; peak memory = the child's ``ru_maxrss``
minus its resident size at the start, i.e. what the step itself adds):

- ``gi_star_999``: Gi* with 999 permutations (``hotspots.getis_ord``) on all inhabited cells;
  baseline ``gi_star_analytic``: esda's Gi* with no permutations, on the same cells;
- ``local_moran_999``: local Moran's I, 999 permutations (informative);
- ``clusters_1m``: ``clusters.find_clusters`` (DBSCAN on the 25 m pooled grid) on all
  residences; baselines ``dbscan_unpooled_200k`` (DBSCAN pooling identical coordinates only, on
  a 200,000 subsample) and ``hdbscan_20k`` (HDBSCAN on a 20,000 subsample);
- ``cluster_table``: polygons, majority areas and times of the clusters found;
- ``find_gaps``: the whole analysis (2 types, 3 hot-spot variants, clusters, rankings).

Targets: <= 30 s each for ``gi_star_999`` and ``clusters_1m``. Nothing is written to disk.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

TARGET_S = 30.0
FAVOURED = ("11", "08", "19", "07")
THRESHOLDS = (10.0, 15.0, 30.0)
SERVICES = {"health": 80, "school": 600}
WALK_M_PER_MIN = 75.0
DETOUR = 1.3
CATCHMENT_M = 1500.0


def _rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 2**20


def _child(fn: Callable[[], Any], queue: Any) -> None:
    start = _rss_mb()
    t0 = time.perf_counter()
    info = fn()
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put((wall, peak - start, peak, info))


def measure(name: str, fn: Callable[[], Any]) -> tuple[float, float]:
    """Run ``fn`` in a forked child; print and return (seconds, added peak MB)."""
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(fn, queue))
    proc.start()
    wall, added, peak, info = queue.get()
    proc.join()
    print(f"{name:<22} {wall:8.2f} s   +{added:7.0f} MB (child peak {peak:6.0f} MB)   {info}")
    return wall, added


def build_layout(n: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-residence frame and hexagon table (accessibility contract), faked from real
    address points."""
    import geopandas as gpd
    from scipy.spatial import cKDTree

    from geo_integration.areas import assign_areas, h3_cells
    from geo_integration.clusters import metric_xy
    from geo_integration.loaders import load_addresses, load_localities, load_upz

    rng = np.random.default_rng(seed)
    addresses = load_addresses()
    areas = assign_areas(addresses, load_localities(), load_upz())
    ok = areas["loc_code"].notna().to_numpy() & (areas["loc_code"] != "20").to_numpy()
    weight = np.where(areas["loc_code"].isin(FAVOURED), 4.0, 1.0) * ok
    pick = rng.choice(len(addresses), size=n, replace=True, p=weight / weight.sum())
    lon = addresses.geometry.x.to_numpy()[pick]
    lat = addresses.geometry.y.to_numpy()[pick]
    res = pd.DataFrame(
        {
            "lon": lon,
            "lat": lat,
            "household_size": rng.integers(1, 7, n),
            "loc_code": areas["loc_code"].to_numpy()[pick],
            "upz_code": areas["upz_code"].to_numpy()[pick],
        }
    )
    uniq, inverse = np.unique(pick, return_inverse=True)
    pts = addresses.geometry.iloc[uniq]
    res["h3_cell"] = h3_cells(pts.y.to_numpy(), pts.x.to_numpy(), resolution=9)[inverse]
    x, y = metric_xy(res)
    all_x, all_y = metric_xy(
        pd.DataFrame({"lon": addresses.geometry.x[ok], "lat": addresses.geometry.y[ok]})
    )
    sites = {}
    for kind, count in SERVICES.items():
        chosen = rng.choice(len(all_x), size=count, replace=False)
        sites[kind] = np.column_stack([all_x[chosen], all_y[chosen]])
        dist, _ = cKDTree(sites[kind]).query(np.column_stack([x, y]))
        res[f"time_{kind}"] = dist * DETOUR / WALK_M_PER_MIN
    res = gpd.GeoDataFrame(res, geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
    return res, _hex_table(res, x, y, sites)


def _hex_table(
    res: pd.DataFrame, x: np.ndarray, y: np.ndarray, sites: dict[str, np.ndarray]
) -> pd.DataFrame:
    import geopandas as gpd
    from scipy.spatial import cKDTree

    from geo_integration.areas import hex_polygons

    people = res["household_size"].astype(float)
    cell = res["h3_cell"]
    grouped = people.groupby(cell)
    hexes = pd.DataFrame({"migrants": grouped.sum(), "residences": grouped.size()})
    centre = pd.DataFrame({"x": x, "y": y}).groupby(cell.to_numpy()).mean().reindex(hexes.index)
    tree = cKDTree(centre.to_numpy())
    for kind, pts in sites.items():
        time_ = res[f"time_{kind}"]
        hexes[f"median_time_{kind}"] = time_.groupby(cell).median()
        for t in THRESHOLDS:
            within = people.where(time_ <= t, 0.0).groupby(cell).sum()
            hexes[f"within_{t:g}_{kind}"] = within
            hexes[f"share_within_{t:g}_{kind}"] = within / hexes["migrants"]
        demand = hexes["migrants"].to_numpy()
        near = tree.query_ball_point(pts, CATCHMENT_M)
        ratio = np.array([1.0 / max(demand[ix].sum(), 1.0) for ix in near])
        score = np.zeros(len(hexes))
        for j, ix in enumerate(near):
            score[ix] += ratio[j]
        hexes[f"e2sfca_{kind}"] = score * 1000.0
    hexes = hexes.reset_index(names="h3_cell")
    polys = hex_polygons(hexes["h3_cell"].tolist())
    return gpd.GeoDataFrame(hexes, geometry=polys.to_numpy(), crs="EPSG:4326")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--residences", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    # import the heavy libraries here so that no timed child pays for them
    import esda.getisord
    import esda.moran
    import libpysal.weights
    import sklearn.cluster

    from geo_integration.clusters import find_clusters
    from geo_integration.config import Settings
    from geo_integration.gaps import find_gaps, gap_columns
    from geo_integration.hotspots import getis_ord, local_moran

    del esda, libpysal, sklearn
    t0 = time.perf_counter()
    res, hexes = build_layout(args.residences, args.seed)
    gaps = gap_columns(
        hexes, service_types=list(SERVICES), thresholds_min=THRESHOLDS, main_min=15.0
    )
    hexes = pd.concat([hexes, gaps], axis=1)
    print(
        f"setup {time.perf_counter() - t0:.1f} s: {len(res):,} residences, "
        f"{int(res['household_size'].sum()):,} people, {len(hexes):,} inhabited H3 res-9 cells"
    )
    values, cells = hexes["gap_health"], hexes["h3_cell"]

    def gi() -> str:
        out = getis_ord(values, cells, permutations=999, seed=1)
        return f"classes {out['gi_class'].value_counts().to_dict()}"

    def gi_analytic() -> str:
        from esda.getisord import G_Local

        from geo_integration.hotspots import _weights, hex_neighbours

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            weights = _weights(hex_neighbours(list(cells)))
            stat = G_Local(values.to_numpy(), weights, "B", 0, star=True)
        return f"{int((np.abs(stat.Zs) > 1.96).sum())} cells |z| > 1.96 (no FDR)"

    def lisa() -> str:
        out = local_moran(values, cells, permutations=999, seed=1)
        return f"classes {out['lisa_class'].value_counts().to_dict()}"

    def clusters() -> str:
        labels = find_clusters(res, eps_m=200.0)
        sizes = res["household_size"].groupby(labels).sum().drop(-1, errors="ignore")
        return (
            f"{len(sizes)} clusters, {int(sizes.sum()):,} people clustered, "
            f"largest {int(sizes.max()) if len(sizes) else 0:,}"
        )

    sub_200k = res.sample(200_000, random_state=1) if len(res) > 200_000 else res
    sub_20k = res.sample(20_000, random_state=1) if len(res) > 20_000 else res

    def dbscan_unpooled() -> str:
        labels = find_clusters(sub_200k, eps_m=200.0, grid_m=0.0)
        return f"{int(labels.max()) + 1} clusters on {len(sub_200k):,} residences"

    def hdbscan_20k() -> str:
        labels = find_clusters(sub_20k, method="hdbscan")
        return f"{int(labels.max()) + 1} clusters on {len(sub_20k):,} residences"

    def table() -> str:
        from geo_integration.clusters import cluster_table

        labels = find_clusters(res, eps_m=200.0)
        t = time.perf_counter()
        out = cluster_table(res, labels, thresholds_min=THRESHOLDS)
        return f"{len(out)} polygons; table alone {time.perf_counter() - t:.2f} s"

    def whole() -> str:
        result = find_gaps(res, hexes.drop(columns=gaps.columns), settings=Settings(seed=1))
        return (
            f"{len(result.clusters)} clusters, "
            f"{int(result.hexagons['gi_class_all'].isin(['hot_95', 'hot_99']).sum())} hot cells "
            f"(all), {len(result.candidate_areas)} candidate areas"
        )

    print(f"{'step':<22} {'wall':>10}   {'added peak':>10}")
    gi_s, gi_mb = measure("gi_star_999", gi)
    base_s, _ = measure("gi_star_analytic", gi_analytic)
    measure("local_moran_999", lisa)
    cl_s, cl_mb = measure("clusters_1m", clusters)
    unpooled_s, _ = measure("dbscan_unpooled_200k", dbscan_unpooled)
    hdb_s, _ = measure("hdbscan_20k", hdbscan_20k)
    measure("cluster_table", table)
    measure("find_gaps", whole)
    print()
    print(f"gi_star_999 / analytic Gi*: {gi_s / base_s:.1f}x")
    print(f"clusters_1m / unpooled DBSCAN on 200k: {cl_s / unpooled_s:.2f}x")
    print(f"clusters_1m / HDBSCAN on 20k: {cl_s / hdb_s:.2f}x")
    for name, secs, mb in (("gi_star_999", gi_s, gi_mb), ("clusters_1m", cl_s, cl_mb)):
        verdict = "meets" if secs <= TARGET_S else "MISSES"
        print(f"{name}: {secs:.2f} s, +{mb:.0f} MB: {verdict} the {TARGET_S:.0f} s target")


if __name__ == "__main__":
    main()
