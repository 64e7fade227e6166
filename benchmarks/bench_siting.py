"""Benchmark: MCLP and p-median with HiGHS against PySAL spopt, on a Bogotá-sized instance.

Instance: residences sampled from the official address points (the demo drop's size,
20,000), aggregated to H3 hexagons (weights = residences; demand at their mean location);
2,000 candidate sites sampled from other address points (standing in for network nodes in
under-served hexagons); the 81 hospitals as the existing services of the type. Travel minutes
are walking times on the city's street network (centrelines of the data directory, 4.5 km/h,
snapping distance included), as `geo-integration site` computes them; ``--euclidean`` uses
straight-line distance x 1.25 instead (the spopt comparison is the same either way: both
solvers get the same cost matrix).

Runs, for p = 10 and 20:

- MCLP (T = 15 min) with HiGHS through ``solve_siting`` and with ``spopt.locate.MCLP`` (dense
  cost matrix, existing services as predefined facilities, CBC through pulp);
- p-median with existing services (cost matrix cut at 60 min) with HiGHS;
- p-median with spopt: ``spopt.locate.PMedian`` needs a dense assignment variable per demand x
  site pair (6 million here, beyond pulp), and its k-nearest variant has no predefined
  (existing) facilities; so both are run on a random subsample of demand hexagons and
  candidates (``--sub``), the existing services kept, and the ratio is reported for that.

Usage::

    GEO_INTEGRATION_DATA=/work/shared/data/bogota PYTHONPATH=. \\
        python benchmarks/bench_siting.py [--resolution 9] [--no-spopt] [--p 10 20]

Prints times, objectives, gaps and the spopt/HiGHS time ratios; writes nothing.
"""

from __future__ import annotations

import argparse
import resource
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.spatial import cKDTree

DETOUR = 1.25
SPEED_M_PER_MIN = 4500.0 / 60.0
EUCLIDEAN = False
_NETWORK: list[Any] = []


def _network() -> Any:
    if not _NETWORK:
        from geo_integration.network import load_network

        _NETWORK.append(load_network(speed_kmh=4.5))
    return _NETWORK[0]


def _entries(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from geo_integration.network import snap_points

    net = _network()
    snap = snap_points(net, xy)
    cu, cv = snap.cost_minutes(net.metres_per_minute)
    return np.column_stack([snap.u, snap.v]), np.column_stack([cu, cv])


def travel_minutes(origin_xy: np.ndarray, dest_xy: np.ndarray, cutoff_min: float) -> sp.csr_matrix:
    """Walking minutes origin x destination within ``cutoff_min`` (sparse)."""
    if not EUCLIDEAN:
        from geo_integration.access import catchment_costs

        net = _network()
        on, oc = _entries(origin_xy)
        dn, dc = _entries(dest_xy)
        costs = catchment_costs(
            net.minutes,
            dn,
            on,
            facility_cost=dc,
            demand_cost=oc,
            limit=cutoff_min,
            node_xy=net.node_xy,
        )
        return sp.csr_matrix(costs.T)
    radius = cutoff_min * SPEED_M_PER_MIN / DETOUR
    coo = cKDTree(origin_xy).sparse_distance_matrix(
        cKDTree(dest_xy), radius, output_type="coo_matrix"
    )
    minutes = coo.data * DETOUR / SPEED_M_PER_MIN
    # sparse_distance_matrix leaves out zero distances: add them back explicitly
    tree = cKDTree(dest_xy)
    dist, idx = tree.query(origin_xy, k=1)
    zero = np.flatnonzero(dist == 0)
    rows = np.concatenate([coo.row, zero])
    cols = np.concatenate([coo.col, idx[zero]])
    vals = np.concatenate([minutes, np.zeros(zero.size)])
    return sp.csr_matrix((vals, (rows, cols)), shape=(len(origin_xy), len(dest_xy)))


def nearest_minutes(origin_xy: np.ndarray, dest_xy: np.ndarray) -> np.ndarray:
    """Minutes from each origin to its nearest destination."""
    if not EUCLIDEAN:
        from geo_integration.access import nearest_times

        net = _network()
        dn, dc = _entries(dest_xy)
        on, oc = _entries(origin_xy)
        return nearest_times(net.minutes, dn, on, source_cost=dc, target_cost=oc)
    dist, _ = cKDTree(dest_xy).query(origin_xy, k=1)
    return dist * DETOUR / SPEED_M_PER_MIN


def dense_minutes(
    origin_xy: np.ndarray, dest_xy: np.ndarray, cutoff: float, *, fill: float
) -> np.ndarray:
    """The same minutes as :func:`travel_minutes`, dense, ``fill`` beyond the cutoff (spopt
    takes dense matrices)."""
    sparse = travel_minutes(origin_xy, dest_xy, cutoff).tocoo()
    out = np.full(sparse.shape, fill, dtype=float)
    out[sparse.row, sparse.col] = sparse.data
    return out


@dataclass
class Instance:
    demand_xy: np.ndarray
    weights: np.ndarray
    demand_ids: np.ndarray
    cand_xy: np.ndarray
    exist_xy: np.ndarray
    residences: int
    resolution: int
    res_xy: np.ndarray | None = None


def build_instance(*, residences: int, candidates: int, resolution: int, seed: int) -> Instance:
    from pyproj import Transformer

    import geo_integration as gi
    from geo_integration.geo import BOGOTA_URBAN_BBOX

    addresses = gi.load_addresses()
    addresses = addresses[~addresses["address"].astype(str).str.startswith("?")]
    lon, lat = addresses.geometry.x.to_numpy(), addresses.geometry.y.to_numpy()
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(addresses), residences + candidates, replace=False)
    res_i, cand_i = picks[:residences], picks[residences:]
    to_metric = Transformer.from_crs("EPSG:4326", "EPSG:9377", always_xy=True)
    x, y = to_metric.transform(lon[picks], lat[picks])
    xy = np.column_stack([x, y])
    cells = gi.h3_cells(lat[res_i], lon[res_i], resolution=resolution)
    units = (
        pd.DataFrame({"cell": cells, "x": xy[:residences, 0], "y": xy[:residences, 1]})
        .groupby("cell")
        .agg(x=("x", "mean"), y=("y", "mean"), weight=("x", "size"))
    )
    hospitals = gi.load_hospitals()
    hx, hy = hospitals.geometry.x.to_numpy(), hospitals.geometry.y.to_numpy()
    x0, y0, x1, y1 = BOGOTA_URBAN_BBOX
    inside = (hx >= x0) & (hx <= x1) & (hy >= y0) & (hy <= y1)
    ex, ey = to_metric.transform(hx[inside], hy[inside])
    del cand_i
    return Instance(
        demand_xy=units[["x", "y"]].to_numpy(),
        weights=units["weight"].to_numpy(dtype=float),
        demand_ids=units.index.to_numpy(),
        cand_xy=xy[residences:],
        exist_xy=np.column_stack([ex, ey]),
        residences=residences,
        resolution=resolution,
        res_xy=xy[:residences],
    )


def problem_for(inst: Instance, cutoff: float, *, existing: bool = True) -> Any:
    from geo_integration.siting_models import SitingProblem

    exist = nearest_minutes(inst.demand_xy, inst.exist_xy) if existing else None
    return SitingProblem.from_cost_matrix(
        travel_minutes(inst.demand_xy, inst.cand_xy, cutoff),
        inst.weights,
        existing_time=exist,
        demand_ids=inst.demand_ids,
        candidate_ids=[f"C{i}" for i in range(len(inst.cand_xy))],
        cutoff=cutoff,
    )


def ours(problem: Any, model: str, p: int, threshold: float, time_limit: float) -> dict:
    from geo_integration.siting import solve_siting

    t0 = time.perf_counter()
    result = solve_siting(problem, model=model, p=p, threshold=threshold, time_limit=time_limit)
    s = result.summary
    return {
        "status": s["status"],
        "objective": s["objective"],
        "gap": s["mip_gap"],
        "solver_s": s["solve_time_s"],
        "total_s": time.perf_counter() - t0,
        "greedy": s["greedy_objective"],
        "greedy_shortfall": s["greedy_shortfall"],
        "size": s["details"].get("milp_size"),
        "runs": s["details"].get("runs", 1),
    }


def spopt_mclp(inst: Instance, p: int, threshold: float, time_limit: float) -> dict:
    import pulp
    from spopt.locate import MCLP

    t0 = time.perf_counter()
    sites = np.vstack([inst.cand_xy, inst.exist_xy])
    cost = dense_minutes(inst.demand_xy, sites, threshold, fill=threshold + 1)
    predefined = np.r_[np.zeros(len(inst.cand_xy)), np.ones(len(inst.exist_xy))].astype(int)
    model = MCLP.from_cost_matrix(
        cost,
        inst.weights,
        service_radius=threshold,
        p_facilities=p + len(inst.exist_xy),
        predefined_facilities_arr=predefined,
    )
    built = time.perf_counter() - t0
    model.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit))
    total = time.perf_counter() - t0
    return {
        "status": pulp.LpStatus[model.problem.status],
        "objective": model.problem.objective.value(),
        "build_s": built,
        "total_s": total,
    }


def subsample(inst: Instance, n_demand: int, n_cand: int, seed: int) -> Instance:
    rng = np.random.default_rng(seed)
    d = np.sort(rng.choice(len(inst.weights), min(n_demand, len(inst.weights)), replace=False))
    c = np.sort(rng.choice(len(inst.cand_xy), min(n_cand, len(inst.cand_xy)), replace=False))
    return Instance(
        demand_xy=inst.demand_xy[d],
        weights=inst.weights[d],
        demand_ids=inst.demand_ids[d],
        cand_xy=inst.cand_xy[c],
        exist_xy=inst.exist_xy,
        residences=int(inst.weights[d].sum()),
        resolution=inst.resolution,
    )


def spopt_pmedian(inst: Instance, p: int, cutoff: float, time_limit: float) -> dict:
    """spopt PMedian on the same costs as ours: minutes capped at the cutoff."""
    import pulp
    from spopt.locate import PMedian

    t0 = time.perf_counter()
    sites = np.vstack([inst.cand_xy, inst.exist_xy])
    cost = np.minimum(dense_minutes(inst.demand_xy, sites, cutoff, fill=cutoff), cutoff)
    predefined = np.r_[np.zeros(len(inst.cand_xy)), np.ones(len(inst.exist_xy))].astype(int)
    model = PMedian.from_cost_matrix(
        cost, inst.weights, p_facilities=p + len(inst.exist_xy),
        predefined_facilities_arr=predefined,
    )  # fmt: skip
    built = time.perf_counter() - t0
    model.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit))
    return {
        "status": pulp.LpStatus[model.problem.status],
        "objective": model.problem.objective.value(),
        "build_s": built,
        "total_s": time.perf_counter() - t0,
    }


def robustness_run(inst: Instance, p: int, threshold: float, replicates: int, seed: int) -> dict:
    """Selection frequencies over bootstrap + jitter replicates (synthetic match levels:
    60 % exact, 20 % interpolated, 10 % intersection, 7 % grid, 3 % area)."""
    from pyproj import Transformer

    import geo_integration as gi
    from geo_integration.siting_models import SitingProblem
    from geo_integration.siting_robust import robustness

    assert inst.res_xy is not None
    to_wgs = Transformer.from_crs("EPSG:9377", "EPSG:4326", always_xy=True)
    rng = np.random.default_rng(seed)
    levels = rng.choice(
        ["exact", "interpolated", "intersection", "grid", "area"],
        len(inst.res_xy),
        p=[0.6, 0.2, 0.1, 0.07, 0.03],
    )
    table = pd.DataFrame({"x": inst.res_xy[:, 0], "y": inst.res_xy[:, 1], "match_level": levels})
    ids = [f"C{i}" for i in range(len(inst.cand_xy))]

    def factory(res: pd.DataFrame) -> SitingProblem:
        lon, lat = to_wgs.transform(res["x"].to_numpy(), res["y"].to_numpy())
        cells = gi.h3_cells(lat, lon, resolution=inst.resolution)
        units = (
            res.assign(cell=cells)
            .groupby("cell")
            .agg(x=("x", "mean"), y=("y", "mean"), w=("x", "size"))
        )
        xy = units[["x", "y"]].to_numpy()
        return SitingProblem.from_cost_matrix(
            travel_minutes(xy, inst.cand_xy, threshold),
            units["w"].to_numpy(dtype=float),
            existing_time=nearest_minutes(xy, inst.exist_xy),
            candidate_ids=ids,
            cutoff=threshold,
        )

    t0 = time.perf_counter()
    result = robustness(
        factory, table, model="mclp", p=p, threshold=threshold, replicates=replicates, seed=seed
    )
    freq = result.frequency["selection_frequency"]
    return {
        "replicates": replicates,
        "total_s": time.perf_counter() - t0,
        "per_replicate_s": (time.perf_counter() - t0) / replicates,
        "sites_always": int((freq == 1.0).sum()),
        "sites_ge_half": int((freq >= 0.5).sum()),
        "distinct_sites": len(freq),
    }


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def show(label: str, row: dict) -> None:
    parts = []
    for key, value in row.items():
        if isinstance(value, float):
            parts.append(f"{key}={value:,.6g}")
        else:
            parts.append(f"{key}={value}")
    print(f"  {label:<28} " + "  ".join(parts), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--resolution", type=int, default=9)
    parser.add_argument("--residences", type=int, default=20_000)
    parser.add_argument("--candidates", type=int, default=2_000)
    parser.add_argument("--p", type=int, nargs="+", default=[10, 20])
    parser.add_argument("--threshold", type=float, default=15.0)
    parser.add_argument("--pmedian-cutoff", type=float, default=60.0)
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--no-spopt", action="store_true")
    parser.add_argument("--euclidean", action="store_true",
                        help="straight-line x 1.25 instead of the street network")  # fmt: skip
    parser.add_argument("--no-spopt-pmedian", action="store_true")
    parser.add_argument("--robustness", type=int, default=0, metavar="R",
                        help="also time R robustness replicates of the MCLP")  # fmt: skip
    parser.add_argument(
        "--sub",
        type=int,
        nargs=2,
        default=[400, 200],
        metavar=("DEMAND", "CANDIDATES"),
        help="subsample for the spopt p-median comparison",
    )
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    global EUCLIDEAN
    EUCLIDEAN = args.euclidean

    t0 = time.perf_counter()
    inst = build_instance(
        residences=args.residences,
        candidates=args.candidates,
        resolution=args.resolution,
        seed=args.seed,
    )
    print(
        f"instance: {len(inst.weights):,} demand hexagons (H3 res {inst.resolution}) from "
        f"{inst.residences:,} residences, {len(inst.cand_xy):,} candidates, "
        f"{len(inst.exist_xy)} existing (hospitals); built in {time.perf_counter() - t0:.1f} s"
    )
    t1 = time.perf_counter()
    mclp_problem = problem_for(inst, args.threshold)
    pmed_problem = problem_for(inst, args.pmedian_cutoff)
    print(
        f"cost matrices: T={args.threshold:g} min {mclp_problem.cost.nnz:,} pairs; "
        f"p-median cut {args.pmedian_cutoff:g} min {pmed_problem.cost.nnz:,} pairs; "
        f"{time.perf_counter() - t1:.1f} s"
    )
    small = subsample(inst, args.sub[0], args.sub[1], args.seed)
    small_problem = problem_for(small, args.pmedian_cutoff)
    for p in args.p:
        print(f"p = {p}")
        ours_mclp = ours(mclp_problem, "mclp", p, args.threshold, args.time_limit)
        show("MCLP HiGHS", ours_mclp)
        if not args.no_spopt:
            theirs = spopt_mclp(inst, p, args.threshold, args.time_limit * 10)
            show("MCLP spopt+CBC", theirs)
            print(
                f"  MCLP time ratio spopt/HiGHS = {theirs['total_s'] / ours_mclp['total_s']:.1f}"
                f"; objectives equal: {np.isclose(theirs['objective'], ours_mclp['objective'])}"
            )
        show("p-median HiGHS (existing)", ours(pmed_problem, "pmedian", p, args.threshold,
                                               args.time_limit))  # fmt: skip
        if not (args.no_spopt or args.no_spopt_pmedian):
            label = f"p-median {len(small.weights)}x{len(small.cand_xy)}"
            ours_small = ours(small_problem, "pmedian", p, args.threshold, args.time_limit)
            show(f"{label} HiGHS", ours_small)
            theirs = spopt_pmedian(small, p, args.pmedian_cutoff, args.time_limit * 10)
            show(f"{label} spopt+CBC", theirs)
            print(
                f"  p-median (subsample) time ratio spopt/HiGHS = "
                f"{theirs['total_s'] / ours_small['total_s']:.1f}; objectives equal: "
                f"{np.isclose(theirs['objective'], ours_small['objective'], rtol=1e-6)}"
            )
        if args.robustness:
            show("MCLP robustness", robustness_run(inst, p, args.threshold, args.robustness,
                                                   args.seed))  # fmt: skip
        print(f"  peak memory so far: {peak_mb():,.0f} MB", flush=True)


if __name__ == "__main__":
    main()
