"""p-median: Lagrangian bound, reduction and MILP against brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp

from geo_integration.siting_models import SitingProblem
from geo_integration.siting_pmedian import (
    _reduction,
    lagrangian_bound,
    solve_pmedian,
    solve_pmedian_milp,
    vertex_substitution,
)


def problem(seed: int, n_d: int = 30, n_c: int = 12, cutoff: float = 6.0) -> SitingProblem:
    rng = np.random.default_rng(seed)
    dem, cand = rng.uniform(0, 10, (n_d, 2)), rng.uniform(0, 10, (n_c, 2))
    exist = rng.uniform(0, 10, (2, 2))
    dist = np.linalg.norm(dem[:, None] - cand[None], axis=2)
    dist[dist > cutoff] = np.inf
    existing = np.linalg.norm(dem[:, None] - exist[None], axis=2).min(axis=1)
    weights = rng.integers(0, 30, n_d).astype(float)
    return SitingProblem.from_cost_matrix(
        dist, weights, existing_time=np.where(existing <= cutoff, existing, np.inf), cutoff=cutoff
    )


def brute(prob: SitingProblem, p: int) -> tuple[float, tuple[int, ...]]:
    """Independent dense evaluation of every p-subset (absent pairs cost the cutoff)."""
    dense = np.full(prob.cost.shape, prob.unreached_time)
    coo = prob.cost.tocoo()
    dense[coo.row, coo.col] = coo.data
    base = np.minimum(prob.existing_time, prob.unreached_time)
    best = (np.inf, ())
    for s in itertools.combinations(range(prob.n_candidates), p):
        value = float(prob.weights @ np.minimum(base, dense[:, list(s)].min(axis=1)))
        best = min(best, (value, s))
    return best


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("p", [1, 3])
def test_pmedian_matches_brute_force(seed: int, p: int) -> None:
    prob = problem(seed)
    best, _ = brute(prob, p)
    sol = solve_pmedian(prob, p=p)
    assert sol.status == "optimal"
    assert sol.objective == pytest.approx(best)
    assert sol.bound <= best + 1e-6
    assert sol.gap <= 1e-6


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("k", [1, 2, 25])
def test_milp_alone_matches_brute_force_for_any_k(seed: int, k: int) -> None:
    prob = problem(seed)
    best, _ = brute(prob, 2)
    sol = solve_pmedian_milp(prob, p=2, k_nearest=k)
    assert sol.status == "optimal"
    assert sol.objective == pytest.approx(best)
    assert sol.bound == pytest.approx(best, rel=1e-6)
    assert solve_pmedian(prob, p=2, k_nearest=k, reduce=False).objective == pytest.approx(best)


@pytest.mark.parametrize("seed", [4, 5, 6])
def test_lagrangian_bound_and_substitution(seed: int) -> None:
    prob = problem(seed, n_d=40, n_c=14)
    best, best_set = brute(prob, 3)
    start = np.array([0, 1, 2])
    improved, value = vertex_substitution(prob, start)
    assert improved.size == 3
    assert value <= float(prob.weights @ prob.times_with(start)) + 1e-9
    assert value == pytest.approx(float(prob.weights @ prob.times_with(improved)))
    lag = lagrangian_bound(prob, 3, upper=value)
    assert lag.bound <= best + 1e-6  # a valid lower bound
    assert lag.bound >= 0.5 * best  # and not a trivial one
    closed, opened = _reduction(lag, 3, value + 1e-6)  # any optimum is strictly better
    assert not closed[list(best_set)].any()
    assert set(np.flatnonzero(opened)) <= set(best_set)


def test_unreached_time_is_charged() -> None:
    # unit 1 is reached by nobody within the cutoff: it costs unreached_time (30)
    cost = sp.csr_matrix((np.array([2.0]), (np.array([0]), np.array([0]))), shape=(2, 2))
    prob = SitingProblem.from_cost_matrix(cost, [1.0, 1.0], cutoff=10, unreached_time=30)
    for sol in (solve_pmedian(prob, p=1), solve_pmedian_milp(prob, p=1)):
        assert sol.objective == pytest.approx(2.0 + 30.0)
        assert list(sol.chosen) == [0]


def test_time_limit_returns_a_solution_and_a_valid_bound() -> None:
    rng = np.random.default_rng(9)
    dem, cand = rng.uniform(0, 40, (900, 2)), rng.uniform(0, 40, (400, 2))
    from scipy.spatial import cKDTree

    cost = cKDTree(dem).sparse_distance_matrix(cKDTree(cand), 12.0, output_type="coo_matrix")
    prob = SitingProblem.from_cost_matrix(
        cost.tocsr(), rng.integers(1, 50, 900), existing_time=np.full(900, 12.0), cutoff=12.0
    )
    sol = solve_pmedian(prob, p=15, time_limit=0.05, k_nearest=3)
    assert sol.chosen.size == 15
    assert sol.objective == pytest.approx(float(prob.weights @ prob.times_with(sol.chosen)))
    assert sol.bound <= sol.objective + 1e-6
    assert sol.gap >= 0
    if sol.status != "optimal":
        assert "time_limit" in sol.status
