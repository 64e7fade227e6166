"""Robustness of a siting choice: re-solve under resampled and jittered demand (a kernel).

Two things are uncertain in the demand: which migrants the drop happens to hold, and where
each residence really is (geocoding error depends on the match level). Each replicate

1. resamples the residences with replacement (bootstrap), and
2. moves each residence by a random offset whose root-mean-square length is the typical
   error of its match level (:data:`DEFAULT_JITTER_M`, metres),

then asks ``problem_factory`` to rebuild the problem from those residences (aggregating them to
demand units and computing travel times: the network wrapper supplies one that snaps to the
street network; tests use a Euclidean one), solves it, and records which sites are chosen.
A site chosen in 48 of 50 replicates is a safe recommendation; one chosen in 12 is not.

Problems are built one by one in the calling thread; the solves run in ``workers`` threads
(HiGHS releases the interpreter lock while it solves), with at most twice as many problems
held at once. Each replicate has its own random stream, so the result does not depend on
``workers``.
"""

from __future__ import annotations

import logging
import math
import os
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from geo_integration.errors import AnalysisError, MissingColumnError
from geo_integration.siting_greedy import greedy_sites
from geo_integration.siting_models import SitingProblem, solve_model

__all__ = ["DEFAULT_JITTER_M", "RobustnessResult", "jitter_offsets", "robustness"]

log = logging.getLogger(__name__)

#: Typical (root-mean-square) geocoding error in metres by match level.
DEFAULT_JITTER_M: dict[str, float] = {
    "exact": 10.0,
    "interpolated": 25.0,
    "intersection": 50.0,
    "grid": 150.0,
    "area": 800.0,
}


@dataclass(frozen=True)
class RobustnessResult:
    """Selection frequencies over the replicates.

    Attributes
    ----------
    frequency
        Indexed by ``candidate_id``: ``times_selected`` and ``selection_frequency`` (share of
        replicates choosing the site, in [0, 1]) for every site chosen at least once, most
        frequent first.
    objectives
        Objective of each replicate (model unit).
    statuses
        Solver status of each replicate.
    replicates, seed, bootstrap, jitter, method
        How the replicates were made.
    """

    frequency: pd.DataFrame
    objectives: np.ndarray
    statuses: list[str]
    replicates: int
    seed: int
    bootstrap: bool
    jitter: bool
    method: str

    def summary(self) -> dict[str, Any]:
        """Plain-data summary (for the result's summary JSON)."""
        obj = self.objectives[np.isfinite(self.objectives)]
        q = np.quantile(obj, [0.05, 0.5, 0.95]).tolist() if obj.size else [math.nan] * 3
        return {
            "replicates": self.replicates,
            "seed": self.seed,
            "bootstrap": self.bootstrap,
            "jitter": self.jitter,
            "method": self.method,
            "objective_p05": q[0],
            "objective_median": q[1],
            "objective_p95": q[2],
            "not_optimal": sum(s != "optimal" for s in self.statuses),
        }


def jitter_offsets(
    levels: pd.Series | np.ndarray,
    *,
    rng: np.random.Generator,
    jitter_m: Mapping[str, float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Random (dx, dy) offsets in metres for residences of the given match levels.

    Each offset is isotropic Gaussian with root-mean-square length ``jitter_m[level]``;
    missing levels get no offset.

    Raises
    ------
    AnalysisError
        On a level absent from ``jitter_m``.
    """
    table = dict(DEFAULT_JITTER_M if jitter_m is None else jitter_m)
    lv = pd.Series(np.asarray(levels, dtype=object))
    known = lv.isna() | lv.isin(list(table))
    if not known.all():
        bad = sorted(set(lv[~known].astype(str)))
        msg = f"unknown match level(s) {bad!r}; known: {sorted(table)!r}"
        raise AnalysisError(msg)
    sigma = lv.map(table).astype(float).fillna(0.0).to_numpy() / math.sqrt(2.0)
    dx = rng.normal(0.0, 1.0, sigma.size) * sigma
    dy = rng.normal(0.0, 1.0, sigma.size) * sigma
    return dx, dy


def robustness(
    problem_factory: Callable[[pd.DataFrame], SitingProblem],
    residences: pd.DataFrame,
    *,
    model: str = "mclp",
    p: int | None = 5,
    threshold: float | None = 15.0,
    replicates: int = 50,
    seed: int = 20240601,
    bootstrap: bool = True,
    jitter: bool = True,
    jitter_m: Mapping[str, float] | None = None,
    level_col: str = "match_level",
    method: str = "milp",
    time_limit: float = 60.0,
    workers: int | None = None,
    **options: Any,
) -> RobustnessResult:
    """Re-solve ``model`` on ``replicates`` perturbed copies of the demand.

    Parameters
    ----------
    problem_factory
        Builds a :class:`SitingProblem` from a residence table (columns ``x``, ``y`` in metres,
        EPSG:9377, plus every other column of ``residences``): it aggregates residences to
        demand units and computes travel times. It must keep candidate ids stable.
    residences
        One row per residence: ``x``, ``y`` (metres) and, for the jitter, ``level_col``.
        Held in memory only; nothing per residence is returned.
    model, p, threshold, options
        As for :func:`geo_integration.siting_models.solve_model` (``capacity``,
        ``target_share``, ``k_nearest``, ``mip_gap``).
    replicates
        Number of perturbed copies (default 50).
    seed
        Seed of the random generator: the same seed gives the same frequencies.
    bootstrap, jitter
        Which perturbations to apply (at least one).
    jitter_m
        Error in metres by match level (default :data:`DEFAULT_JITTER_M`).
    method
        ``"milp"`` (exact, warm-started from greedy; ``time_limit`` seconds per replicate) or
        ``"greedy"`` (fast).
    workers
        Threads solving replicates at once (default: the machine's cores, at most 4).

    Returns
    -------
    RobustnessResult
    """
    _check_inputs(residences, replicates, bootstrap, jitter, method, level_col)
    if jitter and level_col not in residences.columns:
        log.info("no %r column: residences are not jittered", level_col)
    counts: dict[Any, int] = {}
    objectives = np.full(replicates, math.nan)
    statuses: list[str] = []
    problems = _replicate_problems(
        problem_factory, residences, replicates, seed, bootstrap, jitter, jitter_m, level_col
    )
    n_workers = workers if workers is not None else min(4, os.cpu_count() or 1)

    def solve(problem: SitingProblem) -> tuple[np.ndarray, float, str]:
        return _solve_once(problem, model, p, threshold, method, time_limit, options)

    for r, (problem, (chosen, objective, status)) in enumerate(
        _solved(problems, solve, max(1, n_workers))
    ):
        objectives[r] = objective
        statuses.append(status)
        for cid in problem.candidate_ids[chosen]:
            counts[cid] = counts.get(cid, 0) + 1
    frequency = pd.DataFrame(
        {"times_selected": pd.Series(counts, dtype="int64")},
    )
    frequency.index.name = "candidate_id"
    frequency["selection_frequency"] = frequency["times_selected"] / replicates
    frequency = frequency.sort_values(
        ["times_selected"], ascending=False, kind="stable"
    ).rename_axis("candidate_id")
    return RobustnessResult(
        frequency=frequency,
        objectives=objectives,
        statuses=statuses,
        replicates=replicates,
        seed=seed,
        bootstrap=bootstrap,
        jitter=jitter,
        method=method,
    )


def _replicate_problems(
    problem_factory: Callable[[pd.DataFrame], SitingProblem],
    residences: pd.DataFrame,
    replicates: int,
    seed: int,
    bootstrap: bool,
    jitter: bool,
    jitter_m: Mapping[str, float] | None,
    level_col: str,
) -> Iterator[SitingProblem]:
    """The perturbed problems, one random stream per replicate."""
    n = len(residences)
    base = residences.reset_index(drop=True)
    for seq in np.random.SeedSequence(seed).spawn(replicates):
        rng = np.random.default_rng(seq)
        sample = base.iloc[rng.integers(0, n, n)] if bootstrap else base
        sample = sample.reset_index(drop=True).copy()
        if jitter and level_col in sample.columns:
            dx, dy = jitter_offsets(sample[level_col], rng=rng, jitter_m=jitter_m)
            sample["x"] = sample["x"].to_numpy(dtype=float) + dx
            sample["y"] = sample["y"].to_numpy(dtype=float) + dy
        yield problem_factory(sample)


def _solved(
    problems: Iterator[SitingProblem],
    solve: Callable[[SitingProblem], tuple[np.ndarray, float, str]],
    workers: int,
) -> Iterator[tuple[SitingProblem, tuple[np.ndarray, float, str]]]:
    """(problem, solution) in the order of ``problems``, solving up to ``workers`` at once,
    with at most ``2 * workers`` problems built and not yet returned."""
    if workers == 1:
        for problem in problems:
            yield problem, solve(problem)
        return
    pending: deque[tuple[SitingProblem, Future[tuple[np.ndarray, float, str]]]] = deque()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for problem in problems:
            pending.append((problem, pool.submit(solve, problem)))
            if len(pending) >= 2 * workers:
                done, future = pending.popleft()
                yield done, future.result()
        while pending:
            done, future = pending.popleft()
            yield done, future.result()


def _check_inputs(
    residences: pd.DataFrame,
    replicates: int,
    bootstrap: bool,
    jitter: bool,
    method: str,
    level_col: str,
) -> None:
    missing = [c for c in ("x", "y") if c not in residences.columns]
    if missing:
        msg = f"residences need columns 'x' and 'y' (metres); missing {missing!r}"
        raise MissingColumnError(msg, column=missing[0])
    if len(residences) == 0:
        msg = "no residences to resample"
        raise AnalysisError(msg)
    if replicates < 1:
        msg = f"replicates must be >= 1, got {replicates!r}"
        raise AnalysisError(msg)
    if not (bootstrap or jitter):
        msg = "robustness needs bootstrap=True or jitter=True"
        raise AnalysisError(msg)
    if method not in ("milp", "greedy"):
        msg = f"method must be 'milp' or 'greedy', got {method!r}"
        raise AnalysisError(msg)


def _solve_once(
    problem: SitingProblem,
    model: str,
    p: int | None,
    threshold: float | None,
    method: str,
    time_limit: float,
    options: dict[str, Any],
) -> tuple[np.ndarray, float, str]:
    capacity = bool(options.get("capacity", False))
    target = float(options.get("target_share", 1.0))
    greedy = greedy_sites(
        problem, model=model, p=p, threshold=threshold, capacity=capacity, target_share=target
    )
    if method == "greedy":
        return greedy.sites, greedy.objective, "greedy"
    solution = solve_model(
        problem,
        model=model,
        p=p,
        threshold=threshold,
        time_limit=time_limit,
        start=greedy.sites if greedy.sites.size else None,
        **options,
    )
    return solution.chosen, solution.objective, solution.status
