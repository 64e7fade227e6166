"""Benchmark: walking network and accessibility kernels on the whole city.

Run from the repository root (needs the Bogotá data mirror; writes nothing in the repo)::

    GEO_INTEGRATION_DATA=/work/shared/data/bogota PYTHONPATH=. python benchmarks/bench_access.py

Measures: graph build from the centrelines (cold) and cached load; snapping; nearest-service
times for every residence and service type (20,000 and 1,000,000 residences sampled from the
official address points, seed 1); E2SFCA + 2SFCA with 30-minute catchments for the 2,063
schools; peak memory. Baseline in the same run: the plain networkx way, one
``single_source_dijkstra_path_length`` per facility with a 30-minute cutoff, on every
hospital and TransMilenio station and on a subset of schools (extrapolated linearly to all
of them, and said so), with an identical-times check.
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


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


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


def nearest_all(net: Any, snaps: dict[str, Any], res: Any) -> dict[str, np.ndarray]:
    from geo_integration.access import node_times, same_edge_times, times_at

    mpm = net.metres_per_minute
    rn = np.column_stack([res.u, res.v])
    rc = np.column_stack(res.cost_minutes(mpm))
    out = {}
    for key, s in snaps.items():
        t = node_times(
            net.minutes,
            np.column_stack([s.u, s.v]),
            source_cost=np.column_stack(s.cost_minutes(mpm)),
        )
        direct = same_edge_times(
            res.edge, res.along_u_m, res.snap_m, s.edge, s.along_u_m, s.snap_m, metres_per_min=mpm
        )
        out[key] = np.minimum(times_at(t, rn, rc), direct)
    return out


def fca(net: Any, s: Any, res: Any, demand: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    from geo_integration.access import catchment_costs, e2sfca, two_step_fca

    mpm = net.metres_per_minute
    costs = catchment_costs(
        net.minutes,
        np.column_stack([s.u, s.v]),
        np.column_stack([res.u, res.v]),
        facility_cost=np.column_stack(s.cost_minutes(mpm)),
        demand_cost=np.column_stack(res.cost_minutes(mpm)),
        limit=CUTOFF,
    )
    supply = np.ones(len(s.edge))
    return e2sfca(costs, demand, supply), two_step_fca(costs, demand, supply), int(costs.nnz)


def nx_graph(net: Any) -> Any:
    import networkx as nx

    g = nx.Graph()
    mins = net.edge_length_m / net.metres_per_minute
    g.add_weighted_edges_from(
        zip(net.edge_u.tolist(), net.edge_v.tolist(), mins.tolist(), strict=True)
    )
    return g


def nx_node_times(
    g: Any, net: Any, s: Any, rows: np.ndarray
) -> tuple[list[dict[Any, float]], float]:
    """The plain way: one cutoff Dijkstra per facility (entering through a facility node)."""
    import networkx as nx

    cu, cv = s.cost_minutes(net.metres_per_minute)
    out = []
    start = time.perf_counter()
    for j in rows.tolist():
        f = ("facility", j)
        g.add_edge(f, int(s.u[j]), weight=float(cu[j]))
        g.add_edge(f, int(s.v[j]), weight=float(cv[j]))
        out.append(nx.single_source_dijkstra_path_length(g, f, cutoff=CUTOFF, weight="weight"))
        g.remove_node(f)
    return out, time.perf_counter() - start


def nx_nearest(dicts: list[dict[Any, float]], net: Any, res: Any) -> np.ndarray:
    best = np.full(net.n_nodes, np.inf)
    for d in dicts:
        keys = np.fromiter((k for k in d if not isinstance(k, tuple)), dtype=np.int64)
        vals = np.fromiter((d[k] for k in d if not isinstance(k, tuple)), dtype=float)
        np.minimum.at(best, keys, vals)
    cu, cv = res.cost_minutes(net.metres_per_minute)
    return np.minimum(best[res.u] + cu, best[res.v] + cv)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20000,1000000")
    parser.add_argument("--nx-schools", type=int, default=300, help="schools in the nx baseline")
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
        f"graph build from centrelines (cold, incl. cache write): {t_cold:.2f} s; "
        f"cached load: {t_cached:.2f} s"
    )
    print(f"  {net.report.summary()}")
    svc = services(data_dir)
    snaps = {k: snap_points(net, metric_xy(v)) for k, v in svc.items()}
    print("services: " + ", ".join(f"{k} {len(v.edge)}" for k, v in snaps.items()))
    addresses = metric_xy(load_addresses(data_dir))
    rng = np.random.default_rng(1)
    g = nx_graph(net)
    for size in (int(s) for s in args.sizes.split(",")):
        xy = addresses[rng.choice(addresses.shape[0], size, replace=True)]
        demand = rng.integers(1, 6, size).astype(float)
        res, t_snap = timed(lambda xy=xy: snap_points(net, xy))
        times, t_near = timed(lambda res=res: nearest_all(net, snaps, res))
        (_e2, _plain, nnz), t_fca = timed(
            lambda res=res, demand=demand: fca(net, snaps["school"], res, demand)
        )
        print(f"\n{size:,} residences: snapping {t_snap:.2f} s")
        print(
            f"  nearest times, 3 types ({sum(len(s.edge) for s in snaps.values())} "
            f"facilities): {t_near:.3f} s"
        )
        print(
            f"  E2SFCA + 2SFCA, {len(snaps['school'].edge)} schools, 30-min catchments: "
            f"{t_fca:.2f} s ({nnz:,} pairs in reach)"
        )
        print("  median minutes: " + ", ".join(f"{k} {np.median(v):.1f}" for k, v in times.items()))
        print(f"  peak memory so far: {peak_gb():.2f} GB")
        if size > 100_000:
            continue
        # networkx baseline: all hospitals and stations, a subset of schools
        nx_total = 0.0
        nx_times: dict[str, float] = {}
        worst = 0.0
        mismatch = 0
        for key, s in snaps.items():
            n_fac = len(s.edge)
            rows = (
                np.arange(n_fac)
                if key != "school"
                else rng.choice(n_fac, min(args.nx_schools, n_fac), replace=False)
            )
            dicts, t_nx = nx_node_times(g, net, s, rows)
            scale = n_fac / len(rows)
            nx_total += t_nx * scale
            nx_times[key] = t_nx * scale
            note = "" if scale == 1 else f" (on {len(rows)}, extrapolated x{scale:.1f})"
            print(f"  networkx per-facility cutoff Dijkstra, {key}: {t_nx * scale:.2f} s{note}")
            if key != "school":
                ref = nx_nearest(dicts, net, res)
                from geo_integration.access import same_edge_times

                ref = np.minimum(
                    ref,
                    same_edge_times(
                        res.edge,
                        res.along_u_m,
                        res.snap_m,
                        s.edge,
                        s.along_u_m,
                        s.snap_m,
                        metres_per_min=net.metres_per_minute,
                    ),
                )
                ok = ref <= CUTOFF
                worst = max(worst, float(np.abs(ref[ok] - times[key][ok]).max()))
                mismatch += int(((times[key] <= CUTOFF) != ok).sum())
        print(f"  networkx total (nearest times, all facilities): {nx_total:.1f} s")
        print(f"  speed ratio, nearest times: {nx_total / t_near:.0f}x")
        print(
            "  speed ratio, school catchments (nx Dijkstra part only vs our whole "
            f"E2SFCA+2SFCA): {nx_times['school'] / t_fca:.1f}x"
        )
        print(
            "  identical times (health, transit; within the cutoff): max |difference| = "
            f"{worst:.2e} min, {mismatch} residences in/out of reach differently"
        )
    print(f"\npeak memory: {peak_gb():.2f} GB")


if __name__ == "__main__":
    main()
