"""Greedy ranking of chosen sites and the independent greedy solution."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from geo_integration.errors import AnalysisError
from geo_integration.siting_greedy import greedy_sites, objective_of, rank_sites
from geo_integration.siting_models import SitingProblem, solve_model

# units u1..u4 (5, 5, 4, 4 migrants); c0 reaches {u1, u2}, c1 {u1, u3}, c2 {u2, u4}
TRAP = np.array(
    [
        [1.0, 1.0, np.inf],
        [1.0, np.inf, 1.0],
        [np.inf, 1.0, np.inf],
        [np.inf, np.inf, 1.0],
    ]
)


def trap() -> SitingProblem:
    return SitingProblem.from_cost_matrix(
        TRAP, [5.0, 5.0, 4.0, 4.0], candidate_ids=["c0", "c1", "c2"], cutoff=10
    )


def random_problem(seed: int, capacities: bool = False) -> SitingProblem:
    rng = np.random.default_rng(seed)
    dem, cand = rng.uniform(0, 10, (40, 2)), rng.uniform(0, 10, (15, 2))
    cost = np.linalg.norm(dem[:, None] - cand[None], axis=2)
    cost[cost > 6] = np.inf
    return SitingProblem.from_cost_matrix(
        cost,
        rng.integers(0, 30, 40),
        existing_time=np.where(rng.uniform(size=40) < 0.2, 1.0, np.inf),
        capacities=rng.uniform(20, 80, 15) if capacities else None,
        cutoff=6,
    )


def test_greedy_falls_into_the_trap_and_the_exact_model_does_not() -> None:
    prob = trap()
    greedy = greedy_sites(prob, model="mclp", p=2, threshold=2)
    assert prob.candidate_ids[greedy.sites].tolist() == ["c0", "c1"]
    assert greedy.objective == 14.0
    assert greedy.gains.tolist() == [10.0, 4.0]
    exact = solve_model(prob, model="mclp", p=2, threshold=2)
    assert exact.objective == 18.0
    ranked = rank_sites(prob, exact.chosen, model="mclp", threshold=2)
    assert prob.candidate_ids[ranked.sites].tolist() == ["c1", "c2"]  # tie: lower index first
    assert ranked.gains.tolist() == [9.0, 9.0]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(
    ("model", "capacities"), [("mclp", False), ("mclp", True), ("pmedian", False)]
)
def test_marginal_gains_sum_to_the_objective_change(
    seed: int, model: str, capacities: bool
) -> None:
    prob = random_problem(seed, capacities)
    sign = 1.0 if model == "mclp" else -1.0
    for solution in (
        greedy_sites(prob, model=model, p=4, threshold=3.0, capacity=capacities),
        rank_sites(
            prob,
            solve_model(prob, model=model, p=4, threshold=3.0, capacity=capacities).chosen,
            model=model,
            threshold=3.0,
            capacity=capacities,
        ),
    ):
        assert solution.sites.size == 4
        assert solution.gains.sum() == pytest.approx(
            sign * (solution.objective - solution.baseline)
        )
        assert np.all(solution.gains >= -1e-9)
        if model == "mclp":
            assert solution.newly_covered.sum() == pytest.approx(solution.gains.sum())
        if model == "mclp" and not capacities:  # coverage is submodular: gains never grow
            assert np.all(np.diff(solution.gains) <= 1e-9)


def test_rank_puts_the_single_best_site_first() -> None:
    prob = random_problem(4)
    exact = solve_model(prob, model="mclp", p=5, threshold=3.0)
    ranked = rank_sites(prob, exact.chosen, model="mclp", threshold=3.0)
    singles = [objective_of(prob, [s], model="mclp", threshold=3.0) for s in exact.chosen]
    assert objective_of(prob, [ranked.sites[0]], model="mclp", threshold=3.0) == max(singles)


def test_greedy_lscp_reaches_the_target() -> None:
    prob = random_problem(5)
    greedy = greedy_sites(prob, model="lscp", p=None, threshold=3.0, target_share=0.6)
    times = prob.times_with(greedy.sites)
    assert prob.weights[times <= 3.0].sum() >= 0.6 * prob.total_weight
    exact = solve_model(prob, model="lscp", threshold=3.0, target_share=0.6)
    assert exact.objective <= greedy.objective


def test_greedy_pcenter_and_minmax_give_p_sites() -> None:
    rng = np.random.default_rng(6)
    prob = random_problem(6)
    groups = rng.choice(["01", "02", "03"], prob.n_demand)
    grouped = SitingProblem.from_cost_matrix(
        prob.cost, prob.weights, existing_time=prob.existing_time, demand_groups=groups, cutoff=6
    )
    for model in ("pcenter", "minmax_beyond"):
        greedy = greedy_sites(grouped, model=model, p=3, threshold=3.0)
        exact = solve_model(grouped, model=model, p=3, threshold=3.0)
        assert greedy.sites.size == 3
        assert exact.objective <= greedy.objective + 1e-9


def test_greedy_checks_p() -> None:
    with pytest.raises(AnalysisError, match="p must be"):
        greedy_sites(trap(), model="mclp", p=4, threshold=2)


def test_objective_of_sparse_zero_minutes() -> None:
    cost = sp.csr_matrix((np.array([0.0]), (np.array([0]), np.array([0]))), shape=(1, 1))
    prob = SitingProblem.from_cost_matrix(cost, [3.0], cutoff=5)
    assert objective_of(prob, [0], model="pmedian", threshold=None) == 0.0
    assert objective_of(prob, [], model="pmedian", threshold=None) == 15.0  # unreached: cutoff
