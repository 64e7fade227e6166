"""Exact siting models against brute force over every p-subset of tiny instances."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import linprog

from geo_integration.errors import AnalysisError
from geo_integration.siting_models import (
    Milp,
    SitingProblem,
    read_chosen,
    run_milp,
    solve_lscp,
    solve_mclp,
    solve_minmax_beyond,
    solve_model,
    solve_pcenter,
)

SEEDS = [0, 1, 2, 3]


def instance(
    seed: int, n_d: int = 14, n_c: int = 8, n_e: int = 2, cutoff: float | None = None
) -> dict:
    """Random points in a 10 x 10 square; minutes = Euclidean distance; dense truth."""
    rng = np.random.default_rng(seed)
    dem = rng.uniform(0, 10, (n_d, 2))
    cand = rng.uniform(0, 10, (n_c, 2))
    exist = rng.uniform(0, 10, (n_e, 2))
    dist = np.linalg.norm(dem[:, None] - cand[None], axis=2)
    dist_e = np.linalg.norm(dem[:, None] - exist[None], axis=2)
    weights = rng.integers(0, 30, n_d).astype(float)
    weights[0] = 0.0  # a unit without migrants
    return {
        "dist": dist,
        "existing": dist_e.min(axis=1) if n_e else np.full(n_d, np.inf),
        "weights": weights,
        "groups": np.array(["01", "02", "03"] * n_d)[:n_d],
        "cutoff": cutoff,
    }


def problem_of(data: dict, **kw: object) -> SitingProblem:
    return SitingProblem.from_cost_matrix(
        data["dist"],
        data["weights"],
        existing_time=data["existing"],
        demand_groups=data["groups"],
        cutoff=data["cutoff"],
        **kw,  # type: ignore[arg-type]
    )


def times_of(data: dict, subset: tuple[int, ...], unreached: float = math.inf) -> np.ndarray:
    dist = data["dist"].copy()
    existing = data["existing"].copy()
    if data["cutoff"] is not None:
        dist[dist > data["cutoff"]] = np.inf
        existing[existing > data["cutoff"]] = np.inf
    best = existing
    if subset:
        best = np.minimum(best, dist[:, list(subset)].min(axis=1))
    return np.minimum(best, unreached)


def brute(data: dict, p: int, score) -> float:  # type: ignore[no-untyped-def]
    n_c = data["dist"].shape[1]
    return max(score(s) for s in itertools.combinations(range(n_c), p))


# -- MCLP -------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("p", [1, 3])
def test_mclp_matches_brute_force(seed: int, p: int) -> None:
    data = instance(seed)
    t = 2.5
    w = data["weights"]
    best = brute(data, p, lambda s: float(w[times_of(data, s) <= t].sum()))
    sol = solve_mclp(problem_of(data), p=p, threshold=t)
    assert sol.status == "optimal"
    assert sol.chosen.size == p
    assert sol.objective == pytest.approx(best)
    assert float(w[times_of(data, tuple(sol.chosen)) <= t].sum()) == pytest.approx(best)
    assert sol.gap <= 1e-6


def allocation_value(data: dict, subset: tuple[int, ...], caps: np.ndarray, t: float) -> float:
    """Independent LP (scipy) of the capacitated coverage of a fixed set of sites."""
    w = data["weights"]
    covered0 = data["existing"] <= t
    pairs = [
        (i, j) for i in range(w.size) for j in subset if not covered0[i] and data["dist"][i, j] <= t
    ]
    base = float(w[covered0].sum())
    if not pairs:
        return base
    c = -np.array([w[i] for i, _ in pairs])
    rows_i = sorted({i for i, _ in pairs})
    a = np.zeros((len(rows_i) + len(subset), len(pairs)))
    for e, (i, j) in enumerate(pairs):
        a[rows_i.index(i), e] = 1.0
        a[len(rows_i) + subset.index(j), e] = w[i]
    b = np.concatenate([np.ones(len(rows_i)), caps[list(subset)]])
    res = linprog(c, A_ub=a, b_ub=b, bounds=(0, 1), method="highs")
    return base - float(res.fun)


@pytest.mark.parametrize("seed", SEEDS[:3])
def test_capacitated_mclp_matches_brute_force_and_respects_capacities(seed: int) -> None:
    data = instance(seed)
    t, p = 3.0, 2
    caps = np.random.default_rng(seed + 100).uniform(15, 40, data["dist"].shape[1])
    best = brute(data, p, lambda s: allocation_value(data, s, caps, t))
    sol = solve_mclp(problem_of(data, capacities=caps), p=p, threshold=t, capacity=True)
    assert sol.status == "optimal"
    assert sol.objective == pytest.approx(best, abs=1e-6)
    uncapped = solve_mclp(problem_of(data), p=p, threshold=t)
    assert sol.objective <= uncapped.objective + 1e-9
    # what the new sites serve never exceeds their capacities
    added = sol.objective - float(data["weights"][data["existing"] <= t].sum())
    assert added <= caps[sol.chosen].sum() + 1e-6


def test_capacity_binds_on_a_hand_instance() -> None:
    # one candidate reaches two units of 30 and 50 migrants but can serve only 60
    cost = sp.csr_matrix(np.array([[1.0], [2.0]]))
    prob = SitingProblem.from_cost_matrix(cost, [30.0, 50.0], capacities=[60.0], cutoff=10)
    sol = solve_mclp(prob, p=1, threshold=5, capacity=True)
    assert sol.objective == pytest.approx(60.0)
    assert solve_mclp(prob, p=1, threshold=5).objective == pytest.approx(80.0)
    with pytest.raises(AnalysisError, match="capacities"):
        solve_mclp(
            SitingProblem.from_cost_matrix(cost, [1, 1], cutoff=10), p=1, threshold=5, capacity=True
        )


# -- LSCP -------------------------------------------------------------------------------------


def fewest_sites(data: dict, t: float, share: float) -> int | None:
    w = data["weights"]
    n_c = data["dist"].shape[1]
    for p in range(n_c + 1):
        for s in itertools.combinations(range(n_c), p):
            if w[times_of(data, s) <= t].sum() >= share * w.sum() - 1e-9:
                return p
    return None


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("share", [1.0, 0.7])
def test_lscp_matches_brute_force(seed: int, share: float) -> None:
    data = instance(seed, n_c=10)
    data["dist"][:, -1] = 0.5  # one candidate reaches everybody: every target is feasible
    t = 2.5
    sol = solve_lscp(problem_of(data), threshold=t, target_share=share)
    assert sol.status == "optimal"
    assert sol.objective == fewest_sites(data, t, share)
    assert sol.details["share_after"] >= share - 1e-9


def test_lscp_infeasible_target_reports_reachable_share() -> None:
    data = instance(5, n_c=6)
    t = 1.5
    w = data["weights"]
    all_open = tuple(range(6))
    reachable = float(w[times_of(data, all_open) <= t].sum()) / w.sum()
    assert reachable < 1.0  # the instance is really infeasible at 100 %
    sol = solve_lscp(problem_of(data), threshold=t, target_share=1.0)
    assert sol.status == "target_infeasible"
    assert sol.details["reachable_share"] == pytest.approx(reachable)
    assert sol.details["share_after"] == pytest.approx(reachable)
    assert sol.objective == fewest_sites(data, t, reachable)


# -- p-center ---------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_pcenter_matches_brute_force(seed: int) -> None:
    data = instance(seed)
    p = 2
    active = data["weights"] > 0
    best = -brute(data, p, lambda s: -float(times_of(data, s)[active].max()))
    sol = solve_pcenter(problem_of(data), p=p, threshold=2.5)
    assert sol.status == "optimal"
    assert sol.chosen.size == p
    assert sol.objective == pytest.approx(best)
    # among the sites achieving it, coverage within the threshold is maximal
    w = data["weights"]
    n_c = data["dist"].shape[1]
    ties = [
        float(w[times_of(data, s) <= 2.5].sum())
        for s in itertools.combinations(range(n_c), p)
        if times_of(data, s)[active].max() <= best + 1e-9
    ]
    assert float(w[times_of(data, tuple(sol.chosen)) <= 2.5].sum()) == pytest.approx(max(ties))


# -- min-max beyond threshold per locality ------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_minmax_beyond_matches_brute_force(seed: int) -> None:
    data = instance(seed, n_d=18)
    p, t = 2, 2.5
    w = data["weights"]
    groups = data["groups"]

    def worst(s: tuple[int, ...]) -> float:
        beyond = times_of(data, s) > t
        return max(float(w[beyond & (groups == g)].sum()) for g in np.unique(groups))

    best = -brute(data, p, lambda s: -worst(s))
    sol = solve_minmax_beyond(problem_of(data), p=p, threshold=t)
    assert sol.status == "optimal"
    assert sol.objective == pytest.approx(best)
    assert worst(tuple(sol.chosen)) == pytest.approx(best)
    assert sol.details["worst_group"] in {"01", "02", "03"}


def test_minmax_needs_groups() -> None:
    prob = SitingProblem.from_cost_matrix(np.ones((2, 2)), [1, 1])
    with pytest.raises(AnalysisError, match="demand_groups"):
        solve_minmax_beyond(prob, p=1, threshold=1.0)


# -- existing services, reading, limits ----------------------------------------------------------


def test_existing_services_are_never_rechosen_and_count_as_covered() -> None:
    # candidate "E" coincides with the existing service; it would be the best pick
    cost = np.array([[0.0, 5.0, 9.0], [0.5, 9.0, 9.0], [9.0, 9.0, 1.0]])
    weights = [50.0, 40.0, 10.0]
    existing = [0.0, 0.5, 9.0]
    prob = SitingProblem.from_cost_matrix(
        cost,
        weights,
        existing_time=existing,
        candidate_ids=["E", "B", "C"],
        existing_candidate_ids=["E"],
    )
    assert list(prob.candidate_ids) == ["B", "C"]
    assert any("existing service" in note and "E" in note for note in prob.notes)
    sol = solve_mclp(prob, p=1, threshold=2.0)
    assert prob.candidate_ids[sol.chosen].tolist() == ["C"]
    assert sol.objective == pytest.approx(100.0)  # 90 already covered + 10 new


def test_read_chosen_uses_half_threshold() -> None:
    values = np.array([1e-14, 0.9999999, 0.5, 0.5000001, -1e-12, 1.0])
    assert read_chosen(values).tolist() == [1, 3, 5]


def test_time_limit_returns_best_solution_and_gap() -> None:
    rng = np.random.default_rng(7)
    n_d, n_c = 1500, 600
    dem, cand = rng.uniform(0, 60, (n_d, 2)), rng.uniform(0, 60, (n_c, 2))
    from scipy.spatial import cKDTree

    cost = cKDTree(dem).sparse_distance_matrix(cKDTree(cand), 6.0, output_type="coo_matrix")
    prob = SitingProblem.from_cost_matrix(cost.tocsr(), rng.integers(1, 50, n_d), cutoff=6.0)
    from geo_integration.siting_greedy import greedy_sites

    start = greedy_sites(prob, model="mclp", p=25, threshold=5.0).sites
    sol = solve_mclp(prob, p=25, threshold=5.0, time_limit=0.01, start=start)
    assert "time_limit" in sol.status
    assert sol.chosen.size == 25
    assert sol.gap >= 0
    assert sol.bound >= sol.objective


def test_run_milp_reports_infeasible() -> None:
    milp = Milp(
        cost=np.ones(1),
        lower=np.zeros(1),
        upper=np.ones(1),
        integer=np.ones(1, bool),
        matrix=sp.csr_matrix(np.ones((1, 1))),
        row_lower=np.array([2.0]),
        row_upper=np.array([np.inf]),
    )
    assert run_milp(milp).status == "infeasible"


# -- building the problem ---------------------------------------------------------------------


def test_sparse_cost_keeps_explicit_zero_minutes() -> None:
    cost = sp.csr_matrix((np.array([0.0, 3.0]), (np.array([0, 1]), np.array([0, 1]))), (2, 2))
    prob = SitingProblem.from_cost_matrix(cost, [5.0, 5.0], cutoff=10)
    assert prob.cost.nnz == 2
    assert solve_mclp(prob, p=1, threshold=1.0).objective == pytest.approx(5.0)


def test_pairs_beyond_the_cutoff_are_dropped_and_threshold_checked() -> None:
    prob = SitingProblem.from_cost_matrix(np.array([[1.0, 12.0]]), [1.0], cutoff=10)
    assert prob.cost.nnz == 1
    with pytest.raises(AnalysisError, match="exceeds the cost matrix cutoff"):
        solve_mclp(prob, p=1, threshold=15)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"demand_weights": [1.0, -1.0]}, "demand_weights must be >= 0"),
        ({"demand_weights": [1.0]}, "has 1 values, expected 2"),
        ({"existing_time": [1.0, np.nan]}, "non-finite"),
        ({"candidate_ids": ["a", "a"]}, "unique"),
        ({"capacities": [1.0, 0.0]}, "capacities must be > 0"),
    ],
)
def test_bad_problem_inputs(kwargs: dict, match: str) -> None:
    args = {"demand_weights": [1.0, 1.0]} | kwargs
    with pytest.raises(AnalysisError, match=match):
        SitingProblem.from_cost_matrix(np.ones((2, 2)), **args)


def test_solve_model_checks_arguments() -> None:
    prob = SitingProblem.from_cost_matrix(np.ones((2, 2)), [1, 1])
    with pytest.raises(AnalysisError, match="unknown model"):
        solve_model(prob, model="pmedan", p=1)
    with pytest.raises(AnalysisError, match="exceeds the 2 candidate"):
        solve_model(prob, model="mclp", p=3, threshold=1)
    with pytest.raises(AnalysisError, match="needs p"):
        solve_model(prob, model="pmedian")


def test_units_beyond_the_cutoff_are_not_covered_at_a_threshold_equal_to_it() -> None:
    # unit 1 is reached by nothing within the 15-minute cutoff; its capped time (15) must not
    # count as "within 15 minutes"
    cost = sp.csr_matrix((np.array([3.0]), (np.array([0]), np.array([0]))), shape=(2, 1))
    prob = SitingProblem.from_cost_matrix(cost, [4.0, 6.0], cutoff=15)
    sol = solve_mclp(prob, p=1, threshold=15)
    assert sol.objective == pytest.approx(4.0)
    assert solve_lscp(prob, threshold=15).details["reachable_share"] == pytest.approx(0.4)


def test_the_solver_prints_nothing() -> None:
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import numpy as np\n"
        "from geo_integration.siting_models import SitingProblem, solve_model\n"
        "prob = SitingProblem.from_cost_matrix(np.ones((3, 2)), [1, 2, 3])\n"
        "solve_model(prob, model='mclp', p=1, threshold=1.0)\n"
    )
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True,
        env={"PYTHONPATH": str(root), "PATH": ""},
    )  # fmt: skip
    assert out.stdout == ""
