"""The p-median model: Lagrangian bound and reduction, then an exact MILP with HiGHS (a kernel).

Choose ``p`` new sites minimising migrant-weighted minutes to the nearest service, existing
services fixed (a unit's fallback is its existing time, capped at ``unreached_time``).

City-sized instances (thousands of demand units, 2,000 candidates) have hundreds of thousands
of useful demand-candidate pairs, too many for a direct MILP in a minute. The solver therefore

1. builds a good solution: the greedy one, improved by vertex substitution (swap an open
   site for a closed one while the total falls);
2. computes the Lagrangian bound (relaxing "each unit is assigned once"; the bound equals the
   LP bound of the full model) by subgradient optimisation, cheap sparse sums only;
3. fixes, with the classic reduction tests, every candidate whose opening (or closing) would
   push the bound above the incumbent: those are closed (or open) in every better solution;
4. solves the reduced problem exactly with HiGHS (:func:`solve_pmedian_milp`: the radius
   formulation over each unit's ``k`` nearest useful candidates, ``k`` growing until exact).

The answer is exactly optimal (to ``mip_gap``); at the time limit the best solution and a
valid bound are returned.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from geo_integration.errors import AnalysisError, SolverError
from geo_integration.siting_models import (
    _TOL,
    Milp,
    ModelSolution,
    SitingProblem,
    _check_p,
    _gap,
    _open_vector,
    _stack_milp,
    _time_left,
    read_chosen,
    run_milp,
)

__all__ = ["lagrangian_bound", "solve_pmedian", "solve_pmedian_milp", "vertex_substitution"]

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


# --------------------------------------------------------------------------------------------
# Useful pairs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Pairs:
    """Pairs (unit, candidate) where the candidate beats the unit's fallback; units with
    migrants only. ``g`` is each unit's fallback time."""

    row: IntArray
    col: IntArray
    time: FloatArray
    weight: FloatArray  # weight of the pair's unit
    g: FloatArray
    w: FloatArray
    n_candidates: int


def _useful_pairs(problem: SitingProblem) -> _Pairs:
    g = problem.base_time()
    coo = problem.cost.tocoo()
    keep = (coo.data < g[coo.row]) & (problem.weights[coo.row] > 0)
    row = coo.row[keep].astype(np.int64)
    return _Pairs(
        row=row,
        col=coo.col[keep].astype(np.int64),
        time=coo.data[keep],
        weight=problem.weights[row],
        g=g,
        w=problem.weights,
        n_candidates=problem.n_candidates,
    )


def _total(pairs: _Pairs, sites: IntArray) -> float:
    times = pairs.g.copy()
    open_ = np.zeros(pairs.n_candidates, dtype=bool)
    open_[sites] = True
    hit = open_[pairs.col]
    np.minimum.at(times, pairs.row[hit], pairs.time[hit])
    return float(pairs.w @ times)


# --------------------------------------------------------------------------------------------
# Heuristic: vertex substitution
# --------------------------------------------------------------------------------------------


def vertex_substitution(
    problem: SitingProblem,
    sites: npt.ArrayLike,
    *,
    max_sweeps: int = 50,
    deadline: float = math.inf,
) -> tuple[IntArray, float]:
    """Improve ``sites`` by swaps (Teitz and Bart): for each open site, the best closed
    candidate to replace it, applied while the migrant-weighted minutes fall.

    Returns the improved sites (sorted) and their total migrant-minutes.
    """
    pairs = _useful_pairs(problem)
    current = [int(s) for s in np.unique(np.asarray(sites, dtype=np.int64))]
    value = _total(pairs, np.array(current, dtype=np.int64))
    for _ in range(max_sweeps):
        improved = False
        for k in list(current):
            if time.perf_counter() > deadline:
                return np.array(sorted(current), dtype=np.int64), value
            rest = [s for s in current if s != k]
            times = pairs.g.copy()
            open_ = np.zeros(pairs.n_candidates, dtype=bool)
            open_[rest] = True
            hit = open_[pairs.col]
            np.minimum.at(times, pairs.row[hit], pairs.time[hit])
            saving = pairs.weight * np.maximum(times[pairs.row] - pairs.time, 0.0)
            gain = np.bincount(pairs.col, weights=saving, minlength=pairs.n_candidates)
            gain[rest] = -np.inf
            j = int(np.argmax(gain))
            candidate = float(pairs.w @ times) - float(gain[j])
            if j != k and candidate < value - 1e-9 * max(abs(value), 1.0):
                current = [*rest, j]
                value = candidate
                improved = True
        if not improved:
            break
    return np.array(sorted(current), dtype=np.int64), value


# --------------------------------------------------------------------------------------------
# Lagrangian bound and reduction tests
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LagrangianBound:
    """Result of :func:`lagrangian_bound`.

    Attributes
    ----------
    bound
        Lower bound on the migrant-weighted minutes of any ``p`` sites.
    reduced_cost
        ``rho_j``: what opening candidate j contributes to the bound at the best multipliers.
    iterations
        Subgradient iterations run.
    """

    bound: float
    reduced_cost: FloatArray
    iterations: int


def lagrangian_bound(
    problem: SitingProblem,
    p: int,
    *,
    upper: float,
    max_iter: int = 3000,
    target_gap: float = 1e-7,
    deadline: float = math.inf,
) -> LagrangianBound:
    """Lagrangian lower bound of the p-median with existing services (subgradient).

    Relaxing the assignment rows ``sum_j x_ij + s_i = 1`` with multipliers ``lambda_i``
    leaves ``sum_i lambda_i + sum_i min(0, w_i g_i - lambda_i) + (sum of the p smallest
    rho_j)``, with ``rho_j = sum_i min(0, w_i c_ij - lambda_i)``; its maximum over
    ``lambda`` is the LP bound. ``upper`` (a feasible objective) scales the steps.
    """
    pairs = _useful_pairs(problem)
    wc = pairs.weight * pairs.time
    wg = pairs.w * pairs.g
    active = pairs.w > 0
    lam = wg.copy()
    best, best_lam = -math.inf, lam.copy()
    step, stall, it = 2.0, 0, 0
    n_c = pairs.n_candidates
    for it in range(1, max_iter + 1):  # noqa: B007
        red = np.minimum(0.0, wc - lam[pairs.row])
        rho = np.bincount(pairs.col, weights=red, minlength=n_c)
        pick = np.argpartition(rho, p - 1)[:p] if p < n_c else np.arange(n_c)
        fallback = np.minimum(0.0, wg - lam)
        value = float(lam.sum() + fallback.sum() + rho[pick].sum())
        if value > best + 1e-12 * max(abs(value), 1.0):
            best, best_lam, stall = value, lam.copy(), 0
        else:
            stall += 1
            if stall >= 30:
                step, stall = step / 2.0, 0
        gap = (upper - best) / max(abs(upper), 1e-9)
        if step < 1e-4 or gap <= target_gap or time.perf_counter() > deadline:
            break
        opened = np.zeros(n_c, dtype=bool)
        opened[pick] = True
        assigned = np.bincount(
            pairs.row, weights=((red < 0) & opened[pairs.col]).astype(float), minlength=lam.size
        )
        sub = np.where(active, 1.0 - (fallback < 0) - assigned, 0.0)
        norm = float(sub @ sub)
        if norm == 0:
            break
        lam = lam + step * max(upper - value, 1e-9 * abs(upper)) / norm * sub
    red = np.minimum(0.0, wc - best_lam[pairs.row])
    rho = np.bincount(pairs.col, weights=red, minlength=n_c)
    return LagrangianBound(bound=best, reduced_cost=rho.astype(np.float64), iterations=it)


def _reduction(lag: LagrangianBound, p: int, upper: float) -> tuple[BoolArray, BoolArray]:
    """Candidates closed (resp. open) in every solution better than ``upper``."""
    rho = lag.reduced_cost
    n_c = rho.size
    if p >= n_c:
        return np.zeros(n_c, bool), np.ones(n_c, bool)
    order = np.argsort(rho, kind="stable")
    inside = np.zeros(n_c, dtype=bool)
    inside[order[:p]] = True
    rho_p, rho_next = rho[order[p - 1]], rho[order[p]]
    margin = 1e-9 * max(abs(upper), 1.0)
    closed = ~inside & (lag.bound - rho_p + rho > upper + margin)
    opened = inside & (lag.bound - rho + rho_next > upper + margin)
    return closed, opened


def _restrict(
    problem: SitingProblem, closed: BoolArray, opened: BoolArray
) -> tuple[SitingProblem, IntArray, IntArray]:
    """The problem over the free candidates, the fixed open sites folded into the existing
    times. Returns it, the free candidates' original indices and the fixed open ones."""
    free = np.flatnonzero(~closed & ~opened).astype(np.int64)
    fixed = np.flatnonzero(opened).astype(np.int64)
    existing = problem.times_with(fixed, capped=False)
    sub = replace(
        problem,
        cost=problem.cost[:, free].tocsr(),
        existing_time=existing,
        candidate_ids=problem.candidate_ids[free],
        capacities=None,
        candidate_lon=None,
        candidate_lat=None,
        candidate_names=None,
    )
    return sub, free, fixed


# --------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------


def solve_pmedian(
    problem: SitingProblem,
    *,
    p: int,
    k_nearest: int = 25,
    time_limit: float = 60.0,
    mip_gap: float = 1e-6,
    start: npt.ArrayLike | None = None,
    reduce: bool = True,
) -> ModelSolution:
    """p-median: ``p`` new sites minimising migrant-weighted minutes (see the module docstring).

    Parameters
    ----------
    k_nearest
        Candidates per demand unit in the MILP (more are added when needed).
    start
        Initial sites (e.g. greedy); without it the greedy solution is computed.
    reduce
        Use the Lagrangian bound and reduction tests before the MILP (``False``: MILP only).

    Returns
    -------
    ModelSolution
        ``objective``: total migrant-minutes (``details['mean_time']`` per migrant).
    """
    p = _check_p(problem, p)
    if k_nearest < 1:
        msg = f"k_nearest must be >= 1, got {k_nearest!r}"
        raise AnalysisError(msg)
    t0 = time.perf_counter()
    deadline = t0 + time_limit
    if not reduce:
        return solve_pmedian_milp(
            problem, p=p, k_nearest=k_nearest, time_limit=time_limit, mip_gap=mip_gap, start=start
        )
    if start is None:
        from geo_integration.siting_greedy import greedy_sites

        start = greedy_sites(problem, model="pmedian", p=p, threshold=None).sites
    heuristic, upper = vertex_substitution(problem, start, deadline=t0 + 0.25 * time_limit)
    lag = lagrangian_bound(
        problem, p, upper=upper, target_gap=mip_gap / 10, deadline=t0 + 0.5 * time_limit
    )
    closed, opened = _reduction(lag, p, upper)
    details: dict[str, Any] = {
        "heuristic_objective": upper,
        "lagrangian_bound": lag.bound,
        "lagrangian_iterations": lag.iterations,
        "fixed_closed": int(closed.sum()),
        "fixed_open": int(opened.sum()),
    }
    log.info(
        "p-median: heuristic %.6g, Lagrangian bound %.6g; %d candidates fixed closed, %d open",
        upper,
        lag.bound,
        closed.sum(),
        opened.sum(),
    )
    chosen, objective, bound, status = heuristic, upper, lag.bound, "optimal"
    spent = time.perf_counter() - t0
    if _gap(upper, lag.bound) > mip_gap:
        sub, free, fixed = _restrict(problem, closed, opened)
        p_free = p - fixed.size
        if p_free > 0 and free.size >= p_free:
            warm = np.flatnonzero(np.isin(free, heuristic)) if p_free else None
            exact = solve_pmedian_milp(
                sub,
                p=p_free,
                k_nearest=k_nearest,
                time_limit=max(_time_left(deadline), 1e-3),
                mip_gap=mip_gap,
                start=warm if warm is not None and warm.size == p_free else None,
            )
            spent += exact.time_s
            found = np.sort(np.concatenate([fixed, free[exact.chosen]]))
            value = float(problem.weights @ problem.times_with(found))
            if value < objective:
                chosen, objective = found, value
            # better solutions lie in the reduced space, where exact.bound holds
            bound = max(lag.bound, min(exact.bound, upper))
            status = exact.status
            details.update(runs=exact.details["runs"], milp_size=exact.details["milp_size"])
            details["free_candidates"] = int(free.size)
        else:  # no better solution can exist beyond the fixed open sites
            if p_free == 0:
                value = float(problem.weights @ problem.times_with(fixed))
                if value < objective:
                    chosen, objective = fixed, value
            bound = objective
    total = problem.total_weight
    details["mean_time"] = objective / total if total > 0 else math.nan
    return ModelSolution(
        model="pmedian",
        chosen=chosen,
        status=status,
        objective=objective,
        bound=bound,
        gap=_gap(objective, bound),
        time_s=time.perf_counter() - t0,
        objective_unit="migrant_minutes",
        details=details,
    )


# --------------------------------------------------------------------------------------------
# Exact MILP (k nearest options, radius formulation)
# --------------------------------------------------------------------------------------------


def _pmedian_options(
    problem: SitingProblem, k: IntArray
) -> tuple[IntArray, IntArray, FloatArray, FloatArray, BoolArray]:
    """For each unit: its ``k_i`` nearest candidates strictly better than the existing
    service, and the fallback time ``g_i`` when none of them is open.

    Returns pair rows, pair columns, pair times, fallback per unit, and whether the fallback
    is a lower bound only (more options exist beyond the k kept).
    """
    base = problem.base_time()
    coo = problem.cost.tocoo()
    useful = (coo.data < base[coo.row]) & (problem.weights[coo.row] > 0)
    r, c, v = coo.row[useful].astype(np.int64), coo.col[useful].astype(np.int64), coo.data[useful]
    order = np.lexsort((c, v, r))
    r, c, v = r[order], c[order], v[order]
    starts = np.searchsorted(r, np.arange(problem.n_demand))
    rank = np.arange(r.size) - starts[r]
    keep = rank < k[r]
    counts = np.bincount(r, minlength=problem.n_demand)
    truncated = counts > k
    fallback = base.copy()
    nxt = rank == k[r]
    fallback[r[nxt]] = v[nxt]
    return r[keep], c[keep], v[keep], fallback, truncated


def solve_pmedian_milp(
    problem: SitingProblem,
    *,
    p: int,
    k_nearest: int = 25,
    time_limit: float = 60.0,
    mip_gap: float = 1e-6,
    start: npt.ArrayLike | None = None,
) -> ModelSolution:
    """p-median MILP over all candidates (used on the reduced problem by :func:`solve_pmedian`).

    Each demand unit i is modelled with its ``k_nearest`` nearest candidates that beat its
    existing service (in the radius formulation, see :func:`_pmedian_milp`) and a fallback
    time ``g_i`` when none of them is open: its existing time (capped at ``unreached_time``),
    or, when more candidates were cut off, the time of the next one, which makes the model a
    lower bound.
    After each solve, units whose fallback underestimated their real time get more options
    and the model is solved again, so the final solution is exactly optimal for the full
    problem (as spopt's k-nearest p-median does).

    Returns
    -------
    ModelSolution
        ``objective``: total migrant-minutes (``details['mean_time']`` per migrant).
    """
    p = _check_p(problem, p)
    if k_nearest < 1:
        msg = f"k_nearest must be >= 1, got {k_nearest!r}"
        raise AnalysisError(msg)
    deadline = time.perf_counter() + time_limit
    k = np.full(problem.n_demand, int(k_nearest), dtype=np.int64)
    # the best solution in true minutes (each model underestimates units it truncates)
    best = None if start is None else np.sort(np.asarray(start, dtype=np.int64))
    best_obj = math.inf if best is None else float(problem.weights @ problem.times_with(best))
    bound, runs, spent = -math.inf, 0, 0.0
    while True:
        pr, pc, pv, fallback, truncated = _pmedian_options(problem, k)
        milp, constant = _pmedian_milp(problem, p, pr, pc, pv, fallback)
        start_vec = None if best is None else _pmedian_start(milp, problem.n_candidates, p, best)
        out = run_milp(milp, time_limit=_time_left(deadline), mip_gap=mip_gap, start=start_vec)
        runs += 1
        spent += out.time_s
        if math.isfinite(out.bound):
            bound = max(bound, constant + out.bound)  # every model is a relaxation
        short = np.zeros(problem.n_demand, dtype=bool)
        if out.values is not None:
            chosen = read_chosen(out.values[: problem.n_candidates])
            times = problem.times_with(chosen)
            value = float(problem.weights @ times)
            if value < best_obj - _TOL:
                best, best_obj = chosen, value
            short = truncated & (times > fallback + _TOL) & (problem.weights > 0)
        if not short.any() or out.status != "optimal" or _time_left(deadline) <= 0:
            break
        k[short] = np.maximum(k[short] * 2, k[short] + 1)
        log.info("p-median: %d unit(s) need more than k options; re-solving", int(short.sum()))
    if best is None:
        msg = f"p-median: no solution within {time_limit} s and no start given"
        raise SolverError(msg)
    chosen, objective = best, best_obj
    if not math.isfinite(bound):  # every candidate open is a valid (weak) bound
        bound = float(problem.weights @ problem.times_with(np.arange(problem.n_candidates)))
    status = out.status if out.status != "optimal" or not short.any() else "time_limit"
    total = problem.total_weight
    return ModelSolution(
        model="pmedian",
        chosen=chosen,
        status=status,
        objective=objective,
        bound=bound,
        gap=_gap(objective, bound),
        time_s=spent,
        objective_unit="migrant_minutes",
        details={
            "mean_time": objective / total if total > 0 else math.nan,
            "runs": runs,
            "k_max": int(k.max()),
            "milp_size": (out.n_rows, out.n_cols, out.n_nonzeros),
        },
    )


def _pmedian_milp(
    problem: SitingProblem,
    p: int,
    pr: IntArray,
    pc: IntArray,
    pv: FloatArray,
    fallback: FloatArray,
) -> tuple[Milp, float]:
    """Radius formulation (Garcia, Labbe and Marin 2011) of the p-median on the kept options.

    For unit i with distinct option times ``D_1 < ... < D_L`` and fallback ``g``, variable
    ``z_il`` (continuous) is 1 when no option within ``D_l`` is open:
    ``z_il >= 1 - sum_{j: c_ij <= D_l} y_j``, written as a chain
    ``z_i1 + sum_{c_ij = D_1} y_j >= 1`` and ``z_il - z_i,l-1 + sum_{c_ij = D_l} y_j >= 0``
    (equivalent, since every term is non-negative, and linear rather than quadratic in the
    number of options); the unit's time is ``D_1 + sum_l (D_{l+1} - D_l) z_il`` with
    ``D_{L+1} = g``. Same optimum and LP bound as the assignment formulation, far smaller.
    """
    n_c = problem.n_candidates
    w = problem.weights
    n_e = pr.size
    new_level = np.ones(n_e, dtype=bool)
    if n_e > 1:
        new_level[1:] = (pr[1:] != pr[:-1]) | (pv[1:] > pv[:-1] + _TOL)
    level = np.cumsum(new_level) - 1  # global level id of each pair
    n_lv = int(new_level.sum())
    lv_row = pr[new_level]  # unit of each level
    lv_time = pv[new_level]
    last = np.ones(n_lv, dtype=bool)
    if n_lv > 1:
        last[:-1] = lv_row[1:] != lv_row[:-1]
    nxt = np.empty(n_lv)
    nxt[:-1] = lv_time[1:]
    nxt[last] = fallback[lv_row[last]]
    delta = np.maximum(nxt - lv_time, 0.0)
    # chained rows: z_i1 + sum_{level 1} y >= 1; z_il - z_i,l-1 + sum_{level l} y >= 0
    z = n_c + np.arange(n_lv)
    first_lv = np.ones(n_lv, dtype=bool)
    first_lv[1:] = lv_row[1:] != lv_row[:-1]
    prev = np.flatnonzero(~first_lv)
    cover = (
        np.concatenate([level, np.arange(n_lv), prev]),
        np.concatenate([pc, z, z[prev - 1]]),
        np.concatenate([np.ones(n_e + n_lv), -np.ones(prev.size)]),
    )
    card = (np.zeros(n_c, np.int64), np.arange(n_c), np.ones(n_c))
    matrix, lo, hi = _stack_milp(
        n_c + n_lv,
        [cover, card],
        [
            (first_lv.astype(float), np.full(n_lv, np.inf)),
            (np.array([float(p)]), np.array([float(p)])),
        ],
    )
    first = np.full(problem.n_demand, np.nan)
    first[lv_row[::-1]] = lv_time[::-1]  # smallest level time of each unit
    base = np.where(np.isnan(first), fallback, first)
    milp = Milp(
        cost=np.concatenate([np.zeros(n_c), w[lv_row] * delta]),
        lower=np.zeros(n_c + n_lv),
        upper=np.ones(n_c + n_lv),
        integer=np.concatenate([np.ones(n_c, bool), np.zeros(n_lv, bool)]),
        matrix=matrix,
        row_lower=lo,
        row_upper=hi,
        maximize=False,
    )
    return milp, float(w @ base)


def _pmedian_start(milp: Milp, n_c: int, p: int, sites: IntArray) -> FloatArray | None:
    """Column values of ``sites`` in the chained radius model of :func:`_pmedian_milp`."""
    if sites.size != p:
        return None
    y = _open_vector(n_c, sites)
    per_level = np.asarray(milp.matrix[:-1, :n_c] @ y).reshape(-1)
    first = milp.row_lower[:-1] > 0.5  # first level of each unit
    unit = np.cumsum(first) - 1
    total = np.cumsum(per_level)
    before_unit = (total - per_level)[first]
    opened = total - before_unit[unit]  # open options up to each level of the unit
    return np.concatenate([y, (opened < 0.5).astype(float)])
