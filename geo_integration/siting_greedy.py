"""Greedy siting: rank chosen sites by marginal gain, and a pure greedy solution (a kernel).

Staff explain a choice site by site: "site 1 adds 4,210 migrants within 15 minutes, site 2
adds 2,980, ...". :func:`rank_sites` orders any set of sites that way: at each step it takes
the site of the set that adds the most to what the existing services and the sites already
ranked give. :func:`greedy_sites` builds an independent greedy solution from all candidates
(the classic heuristic), to compare with the exact one.

The gain is measured in:

- ``migrants_within_threshold``: migrants newly within the threshold (MCLP, LSCP, the equity
  models; with capacities, as allocated within capacities);
- ``migrant_minutes``: migrant-minutes saved (p-median, and p-center without a threshold).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from geo_integration.errors import AnalysisError
from geo_integration.siting_models import (
    MODELS,
    SitingProblem,
    _pcenter_seed,
    _uncovered_reach,
    capacitated_allocation,
)

__all__ = ["RankedSites", "gain_unit", "greedy_sites", "objective_of", "rank_sites"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class RankedSites:
    """Sites in rank order with what each adds.

    Attributes
    ----------
    sites
        Candidate indices, best first.
    gains
        Marginal gain of each site given those before it, in ``unit`` (>= 0 is better).
    newly_covered
        Migrants each site newly puts within the threshold, in the same order (NaN without a
        threshold).
    unit
        ``migrants_within_threshold`` or ``migrant_minutes`` (saved).
    objective, baseline
        Objective of the whole set and of no new site, in the model's objective unit.
    """

    sites: IntArray
    gains: FloatArray
    newly_covered: FloatArray
    unit: str
    objective: float
    baseline: float


def gain_unit(model: str, threshold: float | None) -> str:
    """Return the unit in which sites of ``model`` are ranked."""
    if model == "pmedian" or threshold is None:
        return "migrant_minutes"
    return "migrants_within_threshold"


def objective_of(
    problem: SitingProblem,
    sites: npt.ArrayLike,
    *,
    model: str,
    threshold: float | None,
    capacity: bool = False,
) -> float:
    """Return the objective of ``sites`` (indices) for ``model``, in the model's unit.

    mclp: migrants within the threshold; pmedian: migrant-minutes; lscp: number of sites;
    pcenter: longest minutes of a unit with migrants; minmax_beyond: migrants beyond the
    threshold in the worst group.
    """
    idx = np.unique(np.asarray(sites, dtype=np.int64))
    if model not in MODELS:
        msg = f"unknown model {model!r}; expected one of {list(MODELS)!r}"
        raise AnalysisError(msg)
    if model == "lscp":
        return float(idx.size)
    times = problem.times_with(idx, capped=model in ("pmedian", "pcenter"))
    if model == "pmedian":
        return float(problem.weights @ times)
    if model == "pcenter":
        active = problem.weights > 0
        return float(times[active].max()) if active.any() else 0.0
    t = _need_threshold(threshold, model)
    if model == "mclp":
        return float(_covered(problem, idx, t, capacity).sum())
    if problem.demand_groups is None:
        msg = "minmax_beyond needs demand_groups"
        raise AnalysisError(msg)
    _, gidx = np.unique(problem.demand_groups.astype(str), return_inverse=True)
    beyond = np.bincount(gidx, weights=np.where(times > t, problem.weights, 0.0))
    return float(beyond.max())


def _need_threshold(threshold: float | None, model: str) -> float:
    if threshold is None:
        msg = f"model {model!r} needs a threshold"
        raise AnalysisError(msg)
    return float(threshold)


def _covered(
    problem: SitingProblem, sites: IntArray, threshold: float, capacity: bool
) -> FloatArray:
    if capacity:
        return capacitated_allocation(problem, sites, threshold)
    times = problem.times_with(sites, capped=False)
    return np.where(times <= threshold, problem.weights, 0.0)


def rank_sites(
    problem: SitingProblem,
    sites: npt.ArrayLike,
    *,
    model: str,
    threshold: float | None,
    capacity: bool = False,
) -> RankedSites:
    """Order ``sites`` by marginal gain (see the module docstring).

    The gains add up to the change of the ranking measure from no new site to all of
    ``sites``: for MCLP, the migrants newly within the threshold; for p-median, the
    migrant-minutes saved.
    """
    idx = np.unique(np.asarray(sites, dtype=np.int64))
    unit = gain_unit(model, threshold)
    cap = capacity and model == "mclp"
    if unit == "migrant_minutes":
        order, gains = _rank_minutes(problem, idx)
    elif cap:
        order, gains = _rank_capacitated(problem, idx, float(threshold))  # type: ignore[arg-type]
    else:
        order, gains = _rank_coverage(problem, idx, float(threshold))  # type: ignore[arg-type]
    newly = _newly_covered(problem, order, threshold, cap)
    return RankedSites(
        sites=order,
        gains=gains,
        newly_covered=newly,
        unit=unit,
        objective=objective_of(problem, idx, model=model, threshold=threshold, capacity=cap),
        baseline=objective_of(
            problem, np.zeros(0, np.int64), model=model, threshold=threshold, capacity=cap
        )
        if model != "lscp"
        else 0.0,
    )


def _rank_coverage(
    problem: SitingProblem, sites: IntArray, threshold: float
) -> tuple[IntArray, FloatArray]:
    rows, cover = _uncovered_reach(problem, threshold)
    sub = cover[:, sites].tocsc()
    left = problem.weights[rows].copy()
    remaining = list(range(sites.size))
    order, gains = [], []
    while remaining:
        values = sub[:, remaining].T @ left
        best = int(np.argmax(values))
        k = remaining.pop(best)
        order.append(int(sites[k]))
        gains.append(float(values[best]))
        col = sub.indices[sub.indptr[k] : sub.indptr[k + 1]]
        left[col] = 0.0
    return np.array(order, dtype=np.int64), np.array(gains, dtype=float)


def _rank_minutes(problem: SitingProblem, sites: IntArray) -> tuple[IntArray, FloatArray]:
    sub = problem.cost[:, sites].tocsc()
    rows_of = [sub.indices[sub.indptr[k] : sub.indptr[k + 1]] for k in range(sites.size)]
    vals_of = [sub.data[sub.indptr[k] : sub.indptr[k + 1]] for k in range(sites.size)]
    times = problem.base_time()
    w = problem.weights
    remaining = list(range(sites.size))
    order, gains = [], []
    while remaining:
        values = [
            float(w[rows_of[k]] @ np.maximum(times[rows_of[k]] - vals_of[k], 0.0))
            for k in remaining
        ]
        best = int(np.argmax(values))
        k = remaining.pop(best)
        order.append(int(sites[k]))
        gains.append(values[best])
        times[rows_of[k]] = np.minimum(times[rows_of[k]], vals_of[k])
    return np.array(order, dtype=np.int64), np.array(gains, dtype=float)


def _rank_capacitated(
    problem: SitingProblem, sites: IntArray, threshold: float
) -> tuple[IntArray, FloatArray]:
    current = float(capacitated_allocation(problem, np.zeros(0, np.int64), threshold).sum())
    chosen: list[int] = []
    remaining = [int(s) for s in sites]
    gains = []
    while remaining:
        values = [
            float(capacitated_allocation(problem, np.array([*chosen, s]), threshold).sum())
            for s in remaining
        ]
        best = int(np.argmax(values))
        chosen.append(remaining.pop(best))
        gains.append(values[best] - current)
        current = values[best]
    return np.array(chosen, dtype=np.int64), np.array(gains, dtype=float)


def _newly_covered(
    problem: SitingProblem, order: IntArray, threshold: float | None, capacity: bool
) -> FloatArray:
    if threshold is None:
        return np.full(order.size, math.nan)
    t = float(threshold)
    out = np.zeros(order.size)
    previous = float(_covered(problem, order[:0], t, capacity).sum())
    for k in range(order.size):
        now = float(_covered(problem, order[: k + 1], t, capacity).sum())
        out[k] = now - previous
        previous = now
    return out


# --------------------------------------------------------------------------------------------
# Pure greedy
# --------------------------------------------------------------------------------------------


def greedy_sites(
    problem: SitingProblem,
    *,
    model: str,
    p: int | None,
    threshold: float | None,
    capacity: bool = False,
    target_share: float = 1.0,
) -> RankedSites:
    """Greedy solution from all candidates: add, one at a time, the site that improves the
    model's measure most (for LSCP, until the target share or no more gain; for p-center,
    the site nearest to the worst-served unit). Returned ranked by :func:`rank_sites`."""
    if model not in MODELS:
        msg = f"unknown model {model!r}; expected one of {list(MODELS)!r}"
        raise AnalysisError(msg)
    if model == "lscp":
        t = _need_threshold(threshold, model)
        chosen = _greedy_coverage(problem, None, t, target_share=target_share)
    else:
        if p is None or p < 1 or p > problem.n_candidates:
            msg = f"p must be in 1..{problem.n_candidates}, got {p!r}"
            raise AnalysisError(msg)
        if model == "pmedian":
            chosen = _greedy_minutes(problem, p)
        elif model == "pcenter":
            chosen = _pcenter_seed(problem, p, problem.weights > 0)
        elif model == "minmax_beyond":
            chosen = _greedy_minmax(problem, p, _need_threshold(threshold, model))
        elif capacity:
            chosen = _greedy_capacitated(problem, p, _need_threshold(threshold, model))
        else:
            chosen = _greedy_coverage(problem, p, _need_threshold(threshold, model))
    return rank_sites(problem, chosen, model=model, threshold=threshold, capacity=capacity)


def _fill(chosen: list[int], p: int | None, n: int) -> IntArray:
    """Complete ``chosen`` to ``p`` sites with the first unused candidates (no gain left)."""
    if p is not None and len(chosen) < p:
        rest = np.setdiff1d(np.arange(n), chosen)[: p - len(chosen)]
        chosen = [*chosen, *rest.tolist()]
    return np.array(sorted(chosen), dtype=np.int64)


def _greedy_coverage(
    problem: SitingProblem, p: int | None, threshold: float, *, target_share: float = 1.0
) -> IntArray:
    rows, cover = _uncovered_reach(problem, threshold)
    csc = cover.tocsc()
    left = problem.weights[rows].copy()
    total = problem.total_weight
    covered = float(problem.weights[problem.existing_time <= threshold].sum())
    gains = np.asarray(csc.T @ left).reshape(-1)
    chosen: list[int] = []
    while p is None or len(chosen) < p:
        if p is None and covered >= target_share * total - 1e-9 * max(total, 1.0):
            break
        j = int(np.argmax(gains))
        if gains[j] <= 0:
            break
        chosen.append(j)
        covered += float(gains[j])
        hit = csc.indices[csc.indptr[j] : csc.indptr[j + 1]]
        hit = hit[left[hit] > 0]
        if hit.size:
            gains -= np.asarray(cover[hit].T @ left[hit]).reshape(-1)
            left[hit] = 0.0
        gains[j] = -np.inf
    return _fill(chosen, p, problem.n_candidates)


def _greedy_minutes(problem: SitingProblem, p: int) -> IntArray:
    coo = problem.cost.tocoo()
    rows, cols, vals = coo.row, coo.col, coo.data
    times = problem.base_time()
    w = problem.weights
    chosen: list[int] = []
    for _ in range(p):
        saving = w[rows] * np.maximum(times[rows] - vals, 0.0)
        gains = np.bincount(cols, weights=saving, minlength=problem.n_candidates)
        gains[chosen] = -np.inf
        j = int(np.argmax(gains))
        chosen.append(j)
        hit = cols == j
        np.minimum.at(times, rows[hit], vals[hit])
    return np.array(sorted(chosen), dtype=np.int64)


def _greedy_minmax(problem: SitingProblem, p: int, threshold: float) -> IntArray:
    assert problem.demand_groups is not None
    groups, gidx = np.unique(problem.demand_groups.astype(str), return_inverse=True)
    rows, cover = _uncovered_reach(problem, threshold)
    w = problem.weights
    beyond = np.bincount(
        gidx, weights=np.where(problem.existing_time > threshold, w, 0.0), minlength=groups.size
    )
    left = w[rows].copy()
    chosen: list[int] = []
    for _ in range(p):
        by_group = sp.csr_matrix(
            (left, (np.arange(rows.size), gidx[rows])), shape=(rows.size, groups.size)
        )
        gain = np.asarray((cover.T @ by_group).todense())  # candidates x groups
        worst = (beyond[None, :] - gain).max(axis=1)
        score = worst - 1e-9 * gain.sum(axis=1) / max(float(w.sum()), 1.0)
        score[chosen] = np.inf
        j = int(np.argmin(score))
        chosen.append(j)
        beyond = beyond - gain[j]
        col = cover[:, j].tocoo().row
        left[col] = 0.0
    return np.array(sorted(chosen), dtype=np.int64)


def _greedy_capacitated(problem: SitingProblem, p: int, threshold: float) -> IntArray:
    """Greedy with a nearest-first allocation: each step opens the site that can newly serve
    the most (reachable unserved migrants, up to its capacity), then fills it nearest first."""
    rows, cover = _uncovered_reach(problem, threshold)
    caps = problem.capacities
    assert caps is not None
    csc = cover.tocsc()
    times = problem.cost[rows].tocsc()
    left = problem.weights[rows].copy()
    chosen: list[int] = []
    for _ in range(p):
        reach = np.asarray(csc.T @ left).reshape(-1)
        gains = np.minimum(reach, caps)
        gains[chosen] = -np.inf
        j = int(np.argmax(gains))
        chosen.append(j)
        hit = csc.indices[csc.indptr[j] : csc.indptr[j + 1]]
        col = times[:, j].toarray().reshape(-1)
        room = float(caps[j])
        for i in hit[np.argsort(col[hit], kind="stable")]:
            take = min(left[i], room)
            left[i] -= take
            room -= take
            if room <= 0:
                break
    return np.array(sorted(chosen), dtype=np.int64)
