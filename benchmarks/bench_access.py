"""Benchmark: walking network and accessibility kernels on the whole city.

Run from the repository root (needs the Bogotá data mirror; writes nothing in the repo)::

    GEO_INTEGRATION_DATA=/work/shared/data/bogota PYTHONPATH=. python benchmarks/bench_access.py

Measures, for 20,000 and 1,000,000 residences sampled from the official address points
(seed 1): graph build from the centrelines (cold) and cached load; the street index for
snapping; nearest-service times for every residence and service type, snapping included
(the user-visible job); E2SFCA + 2SFCA with 30-minute catchments for the 2,063 schools, the
way :func:`compute_access` does it (same-street walks included); peak memory. At 20,000
residences, also :func:`compute_access` end to end (times for 3 types and 3 secretariats,
supply ratios, aggregates, service areas).

Baseline in the same run (20,000 residences): the plain networkx way, one
``single_source_dijkstra_path_length`` per facility with a 30-minute cutoff, for every
hospital, TransMilenio station and school (``--nx-schools`` takes a subset of schools and
extrapolates, and says so); then the same measures from its distances: nearest times, the
catchment pairs, E2SFCA and 2SFCA. The check is that both ways give identical numbers. Our
timings are the best of ``--repeat`` runs (default 3; networkx runs once, ~30 s).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np

CUTOFF = 30.0
TARGETS = {"nearest": 2.0, "fca": 20.0, "build": 60.0, "memory": 4.0, "ratio": 20.0}


def timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[Any, float]:
    """Result and wall time of ``fn`` (the best of ``repeat`` runs)."""
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return out, best


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def services(data_dir: str | None) -> dict[str, Any]:
    from geo_integration import loaders

    return {
        "school": loaders.load_schools(data_dir),
        "health": loaders.load_hospitals(data_dir),
        "transit": loaders.load_transmilenio(data_dir),
    }


def metric_xy(frame: Any) -> np.ndarray:
    import shapely

    return shapely.get_coordinates(frame.to_crs("EPSG:9377").geometry.to_numpy())


def entries(net: Any, snap: Any) -> tuple[np.ndarray, np.ndarray]:
    return np.column_stack([snap.u, snap.v]), np.column_stack(
        snap.cost_minutes(net.metres_per_minute)
    )


def direct(net: Any, s: Any, res: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from geo_integration.access import same_edge_pairs

    return same_edge_pairs(
        res.edge,
        res.along_u_m,
        res.snap_m,
        s.edge,
        s.along_u_m,
        s.snap_m,
        metres_per_min=net.metres_per_minute,
    )


def nearest_all(net: Any, snaps: dict[str, Any], res: Any) -> dict[str, np.ndarray]:
    from geo_integration.access import node_times, same_edge_times, times_at

    mpm = net.metres_per_minute
    rn, rc = entries(net, res)
    out = {}
    for key, s in snaps.items():
        fn, fc = entries(net, s)
        t = node_times(net.minutes, fn, source_cost=fc)
        near = same_edge_times(
            res.edge, res.along_u_m, res.snap_m, s.edge, s.along_u_m, s.snap_m, metres_per_min=mpm
        )
        out[key] = np.minimum(times_at(t, rn, rc), near)
    return out


def fca(net: Any, s: Any, res: Any, demand: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """E2SFCA and 2SFCA as compute_access does them (catchment_access, direct walks)."""
    from geo_integration.access import catchment_access, decay_weights

    fns = [decay_weights("step", catchment=CUTOFF), decay_weights("none", catchment=CUTOFF)]
    fn, fc = entries(net, s)
    rn, rc = entries(net, res)
    (e2, _r), (plain, _p) = catchment_access(
        net.minutes,
        fn,
        rn,
        demand,
        np.ones(len(s.edge)),
        fns,
        facility_cost=fc,
        demand_cost=rc,
        limit=CUTOFF,
        direct=direct(net, s, res),
        node_xy=net.node_xy,
    )
    return e2, plain


# --------------------------------------------------------------------------- networkx way


def nx_graph(net: Any) -> Any:
    import networkx as nx

    g = nx.Graph()
    mins = net.edge_length_m / net.metres_per_minute
    g.add_weighted_edges_from(
        zip(net.edge_u.tolist(), net.edge_v.tolist(), mins.tolist(), strict=True)
    )
    return g


def nx_search(g: Any, net: Any, s: Any, rows: np.ndarray) -> tuple[list[Any], float]:
    """One cutoff Dijkstra per facility (entering through a facility node), kept as arrays."""
    import networkx as nx

    cu, cv = s.cost_minutes(net.metres_per_minute)
    out = []
    start = time.perf_counter()
    for j in rows.tolist():
        f = ("facility", j)
        g.add_edge(f, int(s.u[j]), weight=float(cu[j]))
        g.add_edge(f, int(s.v[j]), weight=float(cv[j]))
        d = nx.single_source_dijkstra_path_length(g, f, cutoff=CUTOFF, weight="weight")
        g.remove_node(f)
        del d[f]
        out.append(
            (np.fromiter(d.keys(), np.int64, len(d)), np.fromiter(d.values(), float, len(d)))
        )
    return out, time.perf_counter() - start


def nx_nearest(found: list[Any], net: Any, res: Any) -> np.ndarray:
    best = np.full(net.n_nodes, np.inf)
    for nodes, minutes in found:
        np.minimum.at(best, nodes, minutes)
    cu, cv = res.cost_minutes(net.metres_per_minute)
    return np.minimum(best[res.u] + cu, best[res.v] + cv)


def nx_pairs(found: list[Any], net: Any, res: Any) -> Any:
    """The facilities x residences matrix of minutes within the cutoff, from nx distances."""
    import scipy.sparse as sp

    cu, cv = res.cost_minutes(net.metres_per_minute)
    scratch = np.full(net.n_nodes, np.inf)
    rows, cols, vals = [], [], []
    for j, (nodes, minutes) in enumerate(found):
        scratch[nodes] = minutes
        t = np.minimum(scratch[res.u] + cu, scratch[res.v] + cv)
        scratch[nodes] = np.inf
        hit = np.flatnonzero(t <= CUTOFF)
        rows.append(np.full(hit.shape[0], j))
        cols.append(hit)
        vals.append(t[hit])
    return sp.csr_array(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(len(found), len(res.edge)),
    )


def nx_fca(found: list[Any], net: Any, s: Any, res: Any, demand: np.ndarray) -> Any:
    from geo_integration.access import decay_weights, fca_ratio, with_direct_pairs

    costs = with_direct_pairs(nx_pairs(found, net, res), *direct(net, s, res), limit=CUTOFF)
    supply = np.ones(len(s.edge))
    e2 = fca_ratio(costs, demand, supply, decay_weights("step", catchment=CUTOFF))[0]
    plain = fca_ratio(costs, demand, supply, decay_weights("none", catchment=CUTOFF))[0]
    return e2, plain


def rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    scale = np.maximum(np.abs(b), 1e-300)
    return float(np.max(np.abs(a - b) / scale)) if a.size else 0.0


def baseline(
    g: Any,
    net: Any,
    snaps: dict[str, Any],
    res: Any,
    demand: np.ndarray,
    ours: dict[str, Any],
    nx_schools: int,
    rng: np.random.Generator,
) -> None:
    from geo_integration.access import catchment_costs, same_edge_times

    mpm = net.metres_per_minute
    total, worst, mismatch = 0.0, 0.0, 0
    school_found: list[Any] = []
    school_rows = np.arange(0)
    school_search = 0.0
    for key, s in snaps.items():
        n_fac = len(s.edge)
        part = key == "school" and 0 < nx_schools < n_fac
        rows = rng.choice(n_fac, nx_schools, replace=False) if part else np.arange(n_fac)
        found, t_nx = nx_search(g, net, s, rows)
        scale = n_fac / len(rows)
        total += t_nx * scale
        note = f" (on {len(rows)}, extrapolated x{scale:.1f})" if part else ""
        print(f"  networkx per-facility cutoff Dijkstra, {key}: {t_nx * scale:.2f} s{note}")
        if key == "school":
            school_found, school_rows, school_search = found, rows, t_nx * scale
        if part:
            continue
        ref = nx_nearest(found, net, res)
        ref = np.minimum(
            ref,
            same_edge_times(
                res.edge,
                res.along_u_m,
                res.snap_m,
                s.edge,
                s.along_u_m,
                s.snap_m,
                metres_per_min=mpm,
            ),
        )
        ok = ref <= CUTOFF
        worst = max(worst, float(np.abs(ref[ok] - ours["times"][key][ok]).max()))
        mismatch += int(((ours["times"][key] <= CUTOFF) != ok).sum())
    print(
        f"  nearest times: networkx {total:.1f} s vs ours {ours['t_near']:.3f} s: "
        f"{total / ours['t_near']:.0f}x faster (snapping apart: both use the same snaps)"
    )
    print(
        f"  identical nearest times (within the cutoff): max |difference| = {worst:.2e} min, "
        f"{mismatch} residences in/out of reach differently"
    )
    # catchments: the nx pairs against ours for the schools searched
    s = snaps["school"]
    fn, fc = entries(net, s)
    rn, rc = entries(net, res)
    mine = catchment_costs(
        net.minutes,
        fn[school_rows],
        rn,
        facility_cost=fc[school_rows],
        demand_cost=rc,
        limit=CUTOFF,
        node_xy=net.node_xy,
    )
    theirs = nx_pairs(school_found, net, res)
    same_pairs = (mine.astype(bool) != theirs.astype(bool)).nnz
    diff = abs(mine - theirs).max() if mine.nnz else 0.0
    print(
        f"  identical catchment pairs ({len(school_rows)} schools, {theirs.nnz:,} pairs): "
        f"max |difference| = {diff:.2e} min, {same_pairs} pairs in/out of reach differently"
    )
    if len(school_rows) == len(s.edge):
        (e2, plain), t_rest = timed(lambda: nx_fca(school_found, net, s, res, demand))
        nx_all = school_search + t_rest
        print(
            f"  E2SFCA + 2SFCA the networkx way: {nx_all:.1f} s (searches {school_search:.1f} s, "
            f"pairs and ratios {t_rest:.1f} s) vs ours {ours['t_fca']:.2f} s: "
            f"{nx_all / ours['t_fca']:.1f}x faster (searches only: "
            f"{school_search / ours['t_fca']:.1f}x)"
        )
        print(
            f"  identical E2SFCA / 2SFCA: max relative difference "
            f"{rel_diff(ours['e2'], e2):.1e} / {rel_diff(ours['plain'], plain):.1e}"
        )
    else:
        print(
            f"  E2SFCA + 2SFCA: networkx searches alone (extrapolated) {school_search:.1f} s vs "
            f"ours whole {ours['t_fca']:.2f} s: {school_search / ours['t_fca']:.1f}x faster"
        )


# --------------------------------------------------------------------------- compute_access


def compute_access_run(
    net: Any, svc: dict[str, Any], xy: np.ndarray, data_dir: str, repeat: int
) -> float:
    """compute_access end to end on ``xy`` (areas already assigned, as in a stored drop)."""
    import geopandas as gpd
    import pandas as pd

    from geo_integration import loaders
    from geo_integration.accessibility import compute_access
    from geo_integration.areas import assign_areas
    from geo_integration.config import Settings

    rng = np.random.default_rng(2)
    residences = gpd.GeoDataFrame(
        {"household_size": rng.integers(1, 6, len(xy))},
        geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]),
        crs="EPSG:9377",
    ).to_crs("EPSG:4326")
    localities, upz = loaders.load_localities(data_dir), loaders.load_upz(data_dir)
    areas = assign_areas(residences.geometry, localities, upz)
    residences["loc_code"], residences["upz_code"] = areas["loc_code"], areas["upz_code"]
    secretariat = {"school": "Educación", "health": "Salud", "transit": "Movilidad"}
    frames = []
    for key, frame in svc.items():
        part = frame[["geometry"]].copy()
        part["service_type"], part["secretariat"] = key, secretariat[key]
        frames.append(part)
    services = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs="EPSG:4326")
    services["service_id"] = [f"s{i}" for i in range(len(services))]
    result, elapsed = timed(
        lambda: compute_access(
            residences,
            services,
            net,
            settings=Settings(),
            localities=localities,
            upz=upz,
            data_dir=data_dir,
        ),
        repeat,
    )
    print(
        f"  compute_access end to end ({len(result.keys)} keys, {len(result.hexagons):,} "
        f"hexagons, {len(result.service_areas)} service areas): {elapsed:.2f} s"
    )
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20000,1000000")
    parser.add_argument(
        "--nx-schools", type=int, default=0, help="schools in the nx baseline (0: all of them)"
    )
    parser.add_argument("--no-compute-access", action="store_true")
    parser.add_argument("--repeat", type=int, default=3, help="our timings: best of this many runs")
    args = parser.parse_args()
    from geo_integration.config import resolve_data_dir
    from geo_integration.loaders import load_addresses
    from geo_integration.network import load_network, snap_points

    data_dir = str(resolve_data_dir())
    print(f"data: {data_dir}")
    with tempfile.TemporaryDirectory() as cache:
        net, t_cold = timed(lambda: load_network(data_dir, cache_dir=cache))
        _again, t_cached = timed(lambda: load_network(data_dir, cache_dir=cache))
    print(
        f"graph build from centrelines (cold, incl. cache write): {t_cold:.2f} s "
        f"(target <= {TARGETS['build']:.0f} s); cached load: {t_cached:.2f} s"
    )
    print(f"  {net.report.summary()}")
    svc = services(data_dir)
    _index, t_index = timed(lambda: net.segment_index)
    print(f"street segment index for snapping (once per network and process): {t_index:.2f} s")
    snaps = {k: snap_points(net, metric_xy(v)) for k, v in svc.items()}
    print("services: " + ", ".join(f"{k} {len(v.edge)}" for k, v in snaps.items()))
    addresses = metric_xy(load_addresses(data_dir))
    rng = np.random.default_rng(1)
    g = nx_graph(net)
    for size in (int(s) for s in args.sizes.split(",")):
        xy = addresses[rng.choice(addresses.shape[0], size, replace=True)]
        demand = rng.integers(1, 6, size).astype(float)
        res, t_snap = timed(lambda xy=xy: snap_points(net, xy), args.repeat)
        times, t_near = timed(lambda res=res: nearest_all(net, snaps, res), args.repeat)
        (e2, plain), t_fca = timed(
            lambda res=res, demand=demand: fca(net, snaps["school"], res, demand), args.repeat
        )
        n_fac = sum(len(s.edge) for s in snaps.values())
        print(f"\n{size:,} residences (our timings: best of {args.repeat} runs)")
        print(
            f"  nearest-service times, 3 types ({n_fac} facilities), snapping included: "
            f"{t_snap + t_near:.2f} s (snapping {t_snap:.2f} s, times {t_near:.3f} s; "
            f"target <= {TARGETS['nearest']:.0f} s)"
        )
        print(
            f"  E2SFCA + 2SFCA, {len(snaps['school'].edge)} schools, 30-min catchments: "
            f"{t_fca:.2f} s (target <= {TARGETS['fca']:.0f} s)"
        )
        print("  median minutes: " + ", ".join(f"{k} {np.median(v):.1f}" for k, v in times.items()))
        print(f"  peak memory so far: {peak_gb():.2f} GB (target < {TARGETS['memory']:.0f} GB)")
        if size > 100_000:
            continue
        ours = {"times": times, "t_near": t_near, "t_fca": t_fca, "e2": e2, "plain": plain}
        baseline(g, net, snaps, res, demand, ours, args.nx_schools, np.random.default_rng(7))
        if not args.no_compute_access:
            compute_access_run(net, svc, xy, data_dir, args.repeat)
    print(f"\npeak memory: {peak_gb():.2f} GB")


if __name__ == "__main__":
    main()
