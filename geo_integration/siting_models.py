"""Location-allocation models for new service points, solved exactly with HiGHS (a kernel).

A :class:`SitingProblem` holds everything the models need, as plain arrays:

- ``cost``: a sparse matrix, demand units x candidate sites, of travel minutes, holding only
  the pairs within ``cutoff`` minutes (an absent pair is beyond the cutoff; an explicitly
  stored ``0.0`` is a zero-minute pair);
- ``weights``: migrants in each demand unit (hexagon or network node, never a residence);
- ``existing_time``: minutes from each demand unit to the nearest existing service of the
  type (``inf`` when none is within the cutoff). Existing services stay open: they are never
  candidates, and demand they already serve counts as served.

The models (each maximises or minimises over the *new* sites only):

``mclp``
    Maximal coverage: choose ``p`` sites maximising migrants within ``threshold`` minutes of a
    service (existing or new); with capacities, a new site serves at most its capacity.
``pmedian``
    Choose ``p`` sites minimising migrant-weighted minutes to the nearest service (in
    :mod:`geo_integration.siting_pmedian`: Lagrangian bound and reduction, then a MILP over
    each unit's ``k`` nearest useful candidates with an exact fallback).
``lscp``
    Set covering: the fewest sites so that ``target_share`` of migrants is within
    ``threshold`` (below 100 %: bisection over MCLP solves); an unreachable target is
    reported with the largest reachable share.
``pcenter``
    Minimise the longest time of any demand unit with migrants (bisection over set-covering
    feasibility problems), then, at that longest time, maximise coverage within ``threshold``.
``minmax_beyond``
    Minimise the number of migrants beyond ``threshold`` in the worst-served demand group
    (locality), then maximise total coverage at that level.

Every model is built as one sparse matrix and passed to HiGHS in bulk. Solver values are read
as chosen when above 0.5 (:func:`read_chosen`). Each solve reports its status, objective,
bound, relative MIP gap and wall time; when the time limit is reached, the best solution
found and its gap are returned.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import math
import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from geo_integration.errors import AnalysisError, SolverError

__all__ = [
    "MODELS",
    "Milp",
    "ModelSolution",
    "SitingProblem",
    "SolveOutcome",
    "capacitated_allocation",
    "read_chosen",
    "run_milp",
    "solve_lscp",
    "solve_mclp",
    "solve_minmax_beyond",
    "solve_model",
    "solve_pcenter",
]

log = logging.getLogger(__name__)

MODELS: tuple[str, ...] = ("mclp", "pmedian", "lscp", "pcenter", "minmax_beyond")

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
ObjArray = npt.NDArray[np.object_]

_TOL = 1e-9


# --------------------------------------------------------------------------------------------
# The problem
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class SitingProblem:
    """Demand, candidates and travel times of one siting question (see the module docstring).

    Build it with :meth:`from_cost_matrix`; the attributes are read-only arrays.

    Attributes
    ----------
    cost
        CSR matrix (demand x candidates) of minutes, pairs within ``cutoff`` only.
    weights
        Migrants per demand unit.
    existing_time
        Minutes to the nearest existing service (``inf``: none within ``cutoff``).
    candidate_ids, demand_ids
        Identifiers (object arrays), unique.
    demand_groups
        Group (locality code) of each demand unit, or ``None``.
    capacities
        Migrants each candidate can serve, or ``None`` (unlimited).
    cutoff
        Pairs farther than this many minutes are absent from ``cost``.
    unreached_time
        Minutes charged to a demand unit that no open service reaches within ``cutoff``
        (p-median and p-center); defaults to ``cutoff``.
    candidate_lon, candidate_lat, candidate_names
        Optional candidate attributes carried to the results.
    notes
        What was changed while building (dropped candidates, ...).
    """

    cost: sp.csr_matrix
    weights: FloatArray
    existing_time: FloatArray
    candidate_ids: ObjArray
    demand_ids: ObjArray
    demand_groups: ObjArray | None
    capacities: FloatArray | None
    cutoff: float
    unreached_time: float
    candidate_lon: FloatArray | None = None
    candidate_lat: FloatArray | None = None
    candidate_names: ObjArray | None = None
    notes: tuple[str, ...] = field(default=())

    @classmethod
    def from_cost_matrix(
        cls,
        cost: sp.spmatrix | sp.sparray | npt.ArrayLike,
        demand_weights: npt.ArrayLike,
        *,
        existing_time: npt.ArrayLike | None = None,
        candidate_ids: Sequence[Any] | npt.ArrayLike | None = None,
        demand_ids: Sequence[Any] | npt.ArrayLike | None = None,
        demand_groups: Sequence[Any] | npt.ArrayLike | None = None,
        capacities: npt.ArrayLike | None = None,
        cutoff: float | None = None,
        unreached_time: float | None = None,
        existing_candidate_ids: Sequence[Any] = (),
        candidate_lon: npt.ArrayLike | None = None,
        candidate_lat: npt.ArrayLike | None = None,
        candidate_names: Sequence[Any] | npt.ArrayLike | None = None,
    ) -> SitingProblem:
        """Build a problem from a travel-time matrix.

        Parameters
        ----------
        cost
            Demand x candidates minutes. A scipy sparse matrix holds only the pairs within the
            cutoff (stored zeros are zero-minute pairs); a dense array marks absent pairs with
            ``inf`` or NaN.
        demand_weights
            Migrants per demand unit (>= 0).
        existing_time
            Minutes from each demand unit to its nearest existing service of the type;
            ``inf`` where none is within the cutoff. ``None``: there is no existing service.
        candidate_ids, demand_ids
            Identifiers; default ``0..n-1``.
        demand_groups
            Locality code (or any group label) per demand unit, for the per-locality
            coverage and the ``minmax_beyond`` model.
        capacities
            Migrants each candidate can serve (> 0), for the capacitated MCLP.
        cutoff
            Pairs beyond this many minutes are absent (dropped if present). Default: the
            largest stored time (or the largest finite existing time if larger).
        unreached_time
            Minutes charged to demand no open service reaches within the cutoff (p-median,
            p-center). Default: ``cutoff``.
        existing_candidate_ids
            Candidates that coincide with an existing service: they are removed from the
            choice (existing services are fixed, never re-chosen), with a note.
        candidate_lon, candidate_lat, candidate_names
            Candidate attributes carried into the results (EPSG:4326 degrees).

        Raises
        ------
        AnalysisError
            On shape mismatches, negative or missing values, duplicate ids.
        """
        matrix = _as_cost_matrix(cost)
        n_d, n_c = matrix.shape
        weights = _float_vector(demand_weights, n_d, "demand_weights")
        if np.any(weights < 0):
            msg = f"demand_weights must be >= 0; first negative at {int(np.argmin(weights))}"
            raise AnalysisError(msg)
        exist = (
            np.full(n_d, np.inf)
            if existing_time is None
            else _float_vector(existing_time, n_d, "existing_time", allow_inf=True)
        )
        if np.any(exist < 0):
            msg = "existing_time must be >= 0 minutes (inf where there is none)"
            raise AnalysisError(msg)
        cut = _resolve_cutoff(matrix, exist, cutoff)
        if matrix.nnz and float(matrix.data.max()) > cut:
            keep = matrix.data <= cut
            coo = matrix.tocoo()
            matrix = sp.csr_matrix(
                (coo.data[keep], (coo.row[keep], coo.col[keep])), shape=matrix.shape
            )
        exist = np.where(exist <= cut, exist, np.inf)
        unreached = cut if unreached_time is None else float(unreached_time)
        if not unreached >= cut:
            msg = f"unreached_time ({unreached!r}) must be at least the cutoff ({cut!r})"
            raise AnalysisError(msg)
        cand_ids = _ids(candidate_ids, n_c, "candidate_ids")
        dem_ids = _ids(demand_ids, n_d, "demand_ids")
        groups = None if demand_groups is None else _labels(demand_groups, n_d, "demand_groups")
        caps = None
        if capacities is not None:
            caps = _float_vector(capacities, n_c, "capacities")
            if np.any(caps <= 0):
                msg = f"capacities must be > 0; first bad at candidate {cand_ids[caps <= 0][0]!r}"
                raise AnalysisError(msg)
        lon = None if candidate_lon is None else _float_vector(candidate_lon, n_c, "lon", nan=True)
        lat = None if candidate_lat is None else _float_vector(candidate_lat, n_c, "lat", nan=True)
        names = None if candidate_names is None else _labels(candidate_names, n_c, "names")
        problem = cls(
            cost=matrix,
            weights=weights,
            existing_time=exist,
            candidate_ids=cand_ids,
            demand_ids=dem_ids,
            demand_groups=groups,
            capacities=caps,
            cutoff=cut,
            unreached_time=unreached,
            candidate_lon=lon,
            candidate_lat=lat,
            candidate_names=names,
        )
        if len(existing_candidate_ids):
            problem = problem.drop_candidates(existing_candidate_ids, reason="existing service")
        return problem

    # -- sizes -------------------------------------------------------------------------------

    @property
    def n_demand(self) -> int:
        """Number of demand units."""
        return int(self.cost.shape[0])

    @property
    def n_candidates(self) -> int:
        """Number of candidate sites."""
        return int(self.cost.shape[1])

    @property
    def total_weight(self) -> float:
        """Migrants in all demand units."""
        return float(self.weights.sum())

    # -- derived arrays ----------------------------------------------------------------------

    def check_threshold(self, threshold: float) -> float:
        """Return ``threshold`` as a float, checking it lies within the cost matrix cutoff."""
        value = float(threshold)
        if not value > 0:
            msg = f"threshold must be positive minutes, got {threshold!r}"
            raise AnalysisError(msg)
        if value > self.cutoff + _TOL:
            msg = (
                f"threshold {value!r} min exceeds the cost matrix cutoff {self.cutoff!r} min: "
                "pairs beyond the cutoff are unknown; rebuild the matrix with a larger cutoff"
            )
            raise AnalysisError(msg)
        return value

    def coverage_matrix(self, threshold: float) -> sp.csr_matrix:
        """Return the 0/1 CSR matrix of pairs within ``threshold`` minutes."""
        t = self.check_threshold(threshold)
        coo = self.cost.tocoo()
        keep = coo.data <= t + _TOL
        return sp.csr_matrix(
            (np.ones(int(keep.sum())), (coo.row[keep], coo.col[keep])), shape=self.cost.shape
        )

    def base_time(self, *, capped: bool = True) -> FloatArray:
        """Minutes to the nearest existing service: capped at ``unreached_time`` (for time
        sums and maxima), or ``inf`` beyond the cutoff (``capped=False``, for coverage)."""
        if not capped:
            return self.existing_time.copy()
        return np.minimum(self.existing_time, self.unreached_time)

    def times_with(self, sites: npt.ArrayLike, *, capped: bool = True) -> FloatArray:
        """Minutes from each demand unit to its nearest service with ``sites`` (indices) open;
        ``capped`` as in :meth:`base_time`."""
        idx = np.asarray(sites, dtype=np.int64)
        best = self.base_time(capped=capped)
        if idx.size == 0:
            return best
        sub = self.cost[:, idx].tocoo()
        if sub.nnz:
            np.minimum.at(best, sub.row, sub.data)
        return best

    def nearest_site(self, sites: npt.ArrayLike) -> IntArray:
        """Index (into candidates) of each unit's nearest open new site when it beats every
        existing service; -1 otherwise."""
        idx = np.asarray(sites, dtype=np.int64)
        out = np.full(self.n_demand, -1, dtype=np.int64)
        if idx.size == 0:
            return out
        sub = self.cost[:, idx].tocoo()
        order = np.lexsort((sub.data, sub.row))
        rows, cols, vals = sub.row[order], sub.col[order], sub.data[order]
        first = np.ones(rows.size, dtype=bool)
        first[1:] = rows[1:] != rows[:-1]
        rows, cols, vals = rows[first], cols[first], vals[first]
        better = vals < self.base_time()[rows]
        out[rows[better]] = idx[cols[better]]
        return out

    # -- variants ----------------------------------------------------------------------------

    def with_weights(self, weights: npt.ArrayLike) -> SitingProblem:
        """Return the same problem with other demand weights (e.g. a bootstrap replicate)."""
        return replace(self, weights=_float_vector(weights, self.n_demand, "weights"))

    def drop_candidates(self, ids: Sequence[Any], *, reason: str) -> SitingProblem:
        """Return the problem without the candidates ``ids`` (unknown ids are ignored), with
        a note naming them and ``reason``."""
        drop = np.isin(self.candidate_ids, np.asarray(list(ids), dtype=object))
        if not drop.any():
            return self
        keep = np.flatnonzero(~drop)
        dropped = [str(x) for x in self.candidate_ids[drop]]
        shown = ", ".join(dropped[:10]) + (" ..." if len(dropped) > 10 else "")
        note = f"{len(dropped)} candidate(s) dropped ({reason}), never chosen: {shown}"
        log.info(note)

        def sub(arr: Any) -> Any:
            return None if arr is None else arr[keep]

        return replace(
            self,
            cost=self.cost[:, keep].tocsr(),
            candidate_ids=self.candidate_ids[keep],
            capacities=sub(self.capacities),
            candidate_lon=sub(self.candidate_lon),
            candidate_lat=sub(self.candidate_lat),
            candidate_names=sub(self.candidate_names),
            notes=(*self.notes, note),
        )


def _as_cost_matrix(cost: Any) -> sp.csr_matrix:
    if sp.issparse(cost):
        matrix = sp.csr_matrix(cost, dtype=np.float64, copy=True)
        matrix.sum_duplicates()
    else:
        dense = np.asarray(cost, dtype=np.float64)
        if dense.ndim != 2:
            msg = f"cost must be a 2-D matrix, got shape {dense.shape!r}"
            raise AnalysisError(msg)
        rows, cols = np.nonzero(np.isfinite(dense))
        matrix = sp.csr_matrix((dense[rows, cols], (rows, cols)), shape=dense.shape)
    if matrix.nnz and not np.all(np.isfinite(matrix.data)):
        msg = "a sparse cost matrix must store finite minutes only (leave far pairs out)"
        raise AnalysisError(msg)
    if matrix.nnz and float(matrix.data.min()) < 0:
        msg = f"cost must be >= 0 minutes, found {float(matrix.data.min())!r}"
        raise AnalysisError(msg)
    if matrix.shape[0] == 0 or matrix.shape[1] == 0:
        msg = f"cost matrix is empty: shape {matrix.shape!r}"
        raise AnalysisError(msg)
    return matrix


def _resolve_cutoff(matrix: sp.csr_matrix, exist: FloatArray, cutoff: float | None) -> float:
    if cutoff is not None:
        value = float(cutoff)
        if not value > 0 or not math.isfinite(value):
            msg = f"cutoff must be positive finite minutes, got {cutoff!r}"
            raise AnalysisError(msg)
        return value
    finite = exist[np.isfinite(exist)]
    stored = float(matrix.data.max()) if matrix.nnz else 0.0
    value = max(stored, float(finite.max()) if finite.size else 0.0)
    return value if value > 0 else 1.0


def _float_vector(
    values: npt.ArrayLike, n: int, name: str, *, allow_inf: bool = False, nan: bool = False
) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if arr.shape[0] != n:
        msg = f"{name} has {arr.shape[0]} values, expected {n}"
        raise AnalysisError(msg)
    bad = np.isinf(arr) if not allow_inf else np.zeros(n, dtype=bool)
    if not nan:
        bad |= np.isnan(arr)
    if bad.any():
        msg = f"{name} holds a non-finite value at position {int(np.argmax(bad))}"
        raise AnalysisError(msg)
    return arr.copy()


def _ids(values: Any, n: int, name: str) -> ObjArray:
    arr = np.arange(n).astype(object) if values is None else _labels(values, n, name)
    uniq, counts = np.unique(arr.astype(str), return_counts=True)
    if np.any(counts > 1):
        msg = f"{name} must be unique; duplicated: {uniq[counts > 1][:5].tolist()!r}"
        raise AnalysisError(msg)
    return arr


def _labels(values: Any, n: int, name: str) -> ObjArray:
    arr = np.empty(n, dtype=object)
    items = list(values)
    if len(items) != n:
        msg = f"{name} has {len(items)} values, expected {n}"
        raise AnalysisError(msg)
    arr[:] = items
    return arr


# --------------------------------------------------------------------------------------------
# HiGHS plumbing
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Milp:
    """A mixed-integer linear programme in bulk arrays: ``row_lower <= A x <= row_upper``,
    ``lower <= x <= upper``, optimise ``cost @ x`` (maximise when ``maximize``)."""

    cost: FloatArray
    lower: FloatArray
    upper: FloatArray
    integer: BoolArray
    matrix: sp.csr_matrix
    row_lower: FloatArray
    row_upper: FloatArray
    maximize: bool = False


@dataclass(frozen=True)
class SolveOutcome:
    """What one HiGHS run returned.

    Attributes
    ----------
    status
        ``optimal``, ``time_limit`` (best solution returned), ``time_limit_no_solution``,
        ``infeasible`` or ``stopped``.
    objective, bound
        Solver objective of the returned solution and the proven bound (NaN if none).
    gap
        ``|bound - objective| / max(|objective|, 1)``; 0 when proven optimal within tolerance.
    time_s
        Wall time of the run, seconds.
    values
        Column values, or ``None`` when there is no solution.
    """

    status: str
    objective: float
    bound: float
    gap: float
    time_s: float
    values: FloatArray | None
    n_cols: int
    n_rows: int
    n_nonzeros: int

    @property
    def has_solution(self) -> bool:
        """Whether a feasible solution was returned."""
        return self.values is not None


def read_chosen(values: npt.ArrayLike, *, threshold: float = 0.5) -> IntArray:
    """Return the indices whose decision value exceeds ``threshold``.

    Solvers return values such as ``1e-14`` for closed sites and ``0.9999999`` for open ones;
    comparing with 0.5 reads them robustly.
    """
    return np.flatnonzero(np.asarray(values, dtype=np.float64) > threshold).astype(np.int64)


_BANNER_DONE = False
_BANNER_LOCK = threading.Lock()


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    """Silence C-level stdout (HiGHS prints a banner when the first solver is created)."""
    libc = ctypes.CDLL(None)
    try:
        fd = os.dup(1)
    except OSError:  # no stdout at all
        yield
        return
    try:
        with Path(os.devnull).open("wb") as null:
            os.dup2(null.fileno(), 1)
            try:
                yield
            finally:
                libc.fflush(None)
                os.dup2(fd, 1)
    finally:
        os.close(fd)


def _new_highs() -> Any:
    import highspy

    global _BANNER_DONE
    with _BANNER_LOCK:  # the stdout juggling below must not interleave between threads
        if _BANNER_DONE:
            solver = highspy.Highs()
        else:
            with _quiet_stdout():
                solver = highspy.Highs()
            _BANNER_DONE = True
    solver.setOptionValue("output_flag", False)
    return solver


def solver_version() -> str:
    """Return ``"HiGHS <version>"``."""
    return f"HiGHS {_new_highs().version()}"


def run_milp(
    milp: Milp,
    *,
    time_limit: float = 60.0,
    mip_gap: float = 1e-6,
    start: FloatArray | None = None,
    threads: int | None = None,
    presolve: bool = True,
) -> SolveOutcome:
    """Solve ``milp`` with HiGHS and return its outcome.

    Parameters
    ----------
    time_limit
        Seconds; on reaching it the best solution found (if any) is returned with its gap.
    mip_gap
        Relative gap at which HiGHS stops and declares optimality.
    start
        A feasible column vector to start from (e.g. the greedy solution).
    threads
        HiGHS threads; ``None`` leaves HiGHS' default.
    presolve
        ``False`` switches HiGHS' presolve off: on the coverage models it spent most of the
        time (1.5 of 1.8 s on the demo's MCLP) for no reduction that helped the solve.

    Raises
    ------
    SolverError
        If HiGHS rejects the model or fails.
    """
    import highspy

    h = _new_highs()
    h.setOptionValue("time_limit", float(max(time_limit, 1e-3)))
    h.setOptionValue("mip_rel_gap", float(mip_gap))
    if threads is not None:
        h.setOptionValue("threads", int(threads))
    if not presolve:
        h.setOptionValue("presolve", "off")
    a = milp.matrix.tocsc()
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = int(a.shape[1]), int(a.shape[0])
    lp.col_cost_ = np.ascontiguousarray(milp.cost, dtype=np.float64)
    lp.col_lower_ = np.ascontiguousarray(milp.lower, dtype=np.float64)
    lp.col_upper_ = np.ascontiguousarray(milp.upper, dtype=np.float64)
    lp.row_lower_ = np.ascontiguousarray(milp.row_lower, dtype=np.float64)
    lp.row_upper_ = np.ascontiguousarray(milp.row_upper, dtype=np.float64)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = a.indptr.astype(np.int32)
    lp.a_matrix_.index_ = a.indices.astype(np.int32)
    lp.a_matrix_.value_ = a.data.astype(np.float64)
    lp.sense_ = highspy.ObjSense.kMaximize if milp.maximize else highspy.ObjSense.kMinimize
    if milp.integer.any():
        kinds = np.where(milp.integer, 1, 0).astype(np.uint8)
        lp.integrality_ = [
            highspy.HighsVarType.kInteger if k else highspy.HighsVarType.kContinuous
            for k in kinds.tolist()
        ]
    status = h.passModel(lp)
    if status == highspy.HighsStatus.kError:
        msg = f"HiGHS rejected the model ({lp.num_col_} columns, {lp.num_row_} rows)"
        raise SolverError(msg)
    if start is not None:
        sol = highspy.HighsSolution()
        sol.col_value = np.asarray(start, dtype=np.float64).tolist()
        sol.value_valid = True
        h.setSolution(sol)
    t0 = time.perf_counter()
    h.run()
    elapsed = time.perf_counter() - t0
    return _outcome(h, milp, elapsed, a)


def _outcome(h: Any, milp: Milp, elapsed: float, a: sp.csc_matrix) -> SolveOutcome:
    import highspy

    model_status = h.getModelStatus()
    info = h.getInfo()
    has_sol = int(info.primal_solution_status) == 2
    values = np.asarray(h.getSolution().col_value, dtype=np.float64) if has_sol else None
    ms = highspy.HighsModelStatus
    if model_status == ms.kOptimal:
        status = "optimal"
    elif model_status == ms.kTimeLimit:
        status = "time_limit" if has_sol else "time_limit_no_solution"
    elif model_status in (ms.kInfeasible, ms.kUnboundedOrInfeasible):
        status = "infeasible"
        values = None
    elif model_status in (
        ms.kInterrupt,
        ms.kIterationLimit,
        ms.kSolutionLimit,
        ms.kMemoryLimit,
        ms.kObjectiveBound,
        ms.kObjectiveTarget,
    ):
        status = "stopped"
    elif model_status == ms.kModelEmpty:
        status = "optimal"
        values = np.zeros(int(a.shape[1]))
    else:
        msg = f"HiGHS failed: {h.modelStatusToString(model_status)}"
        raise SolverError(msg)
    objective = float(milp.cost @ values) if values is not None else math.nan
    bound = _bound(info, milp, objective, status)
    gap = abs(bound - objective) / max(abs(objective), 1.0) if values is not None else math.nan
    if status == "optimal" and math.isfinite(gap):
        gap = max(gap, 0.0)
    return SolveOutcome(
        status=status,
        objective=objective,
        bound=bound,
        gap=gap,
        time_s=elapsed,
        values=values,
        n_cols=int(a.shape[1]),
        n_rows=int(a.shape[0]),
        n_nonzeros=int(a.nnz),
    )


def _bound(info: Any, milp: Milp, objective: float, status: str) -> float:
    if not milp.integer.any():
        return objective
    bound = float(info.mip_dual_bound)
    if not math.isfinite(bound):
        return objective if status == "optimal" else math.nan
    # the bound can never be worse than the objective of the returned solution
    if math.isfinite(objective):
        bound = max(bound, objective) if milp.maximize else min(bound, objective)
    return bound


def _stack_milp(
    n_cols: int,
    rows: list[tuple[npt.NDArray[Any], npt.NDArray[Any], npt.NDArray[Any]]],
    row_bounds: list[tuple[npt.NDArray[Any], npt.NDArray[Any]]],
) -> tuple[sp.csr_matrix, FloatArray, FloatArray]:
    """Stack row blocks given as (local row, column, value) triplets into one CSR matrix."""
    r_all, c_all, v_all, lo_all, hi_all = [], [], [], [], []
    offset = 0
    for (r, c, v), (lo, hi) in zip(rows, row_bounds, strict=True):
        r_all.append(np.asarray(r, dtype=np.int64) + offset)
        c_all.append(np.asarray(c, dtype=np.int64))
        v_all.append(np.asarray(v, dtype=np.float64))
        lo_all.append(np.asarray(lo, dtype=np.float64))
        hi_all.append(np.asarray(hi, dtype=np.float64))
        offset += len(lo)
    matrix = sp.csr_matrix(
        (np.concatenate(v_all), (np.concatenate(r_all), np.concatenate(c_all))),
        shape=(offset, n_cols),
    )
    return matrix, np.concatenate(lo_all), np.concatenate(hi_all)


# --------------------------------------------------------------------------------------------
# Solutions
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelSolution:
    """The exact solution of one model, in the user's terms.

    Attributes
    ----------
    model
        Model name (see :data:`MODELS`).
    chosen
        Indices of the chosen candidates (sorted).
    status
        ``optimal``, ``time_limit``, ``time_limit_no_solution`` (the start solution is
        returned), ``infeasible``, ``target_infeasible`` (LSCP: the sites reaching the largest
        reachable share are returned), ``stopped``.
    objective
        Objective of ``chosen`` in the model's unit (see ``objective_unit``).
    bound
        Proven bound on the optimum, same unit (NaN when unknown).
    gap
        Relative gap ``|bound - objective| / |objective|`` (0 when proven optimal).
    time_s
        Solver wall time, seconds (all runs of the model together).
    objective_unit
        ``migrants_within_threshold``, ``migrant_minutes``, ``sites``, ``minutes`` or
        ``migrants_beyond_threshold``.
    details
        Model-specific facts (reachable share, k used, allocation, runs, sizes).
    """

    model: str
    chosen: IntArray
    status: str
    objective: float
    bound: float
    gap: float
    time_s: float
    objective_unit: str
    details: dict[str, Any] = field(default_factory=dict)


def _check_p(problem: SitingProblem, p: int) -> int:
    if int(p) != p or p < 1:
        msg = f"p must be a positive integer, got {p!r}"
        raise AnalysisError(msg)
    if p > problem.n_candidates:
        msg = f"p = {p} exceeds the {problem.n_candidates} candidate sites available"
        raise AnalysisError(msg)
    return int(p)


def _open_vector(n: int, sites: npt.ArrayLike | None) -> FloatArray:
    y = np.zeros(n)
    if sites is not None:
        y[np.asarray(sites, dtype=np.int64)] = 1.0
    return y


def _gap(objective: float, bound: float) -> float:
    """Relative gap ``|bound - objective| / |objective|`` (as solvers report it)."""
    if not (math.isfinite(objective) and math.isfinite(bound)):
        return math.nan
    return abs(bound - objective) / max(abs(objective), 1e-9)


def _time_left(deadline: float) -> float:
    return max(deadline - time.perf_counter(), 0.0)


def _uncovered_reach(problem: SitingProblem, threshold: float) -> tuple[IntArray, sp.csr_matrix]:
    """Demand units with migrants, beyond ``threshold`` of every existing service and reached
    by at least one candidate; and their coverage rows."""
    cover = problem.coverage_matrix(threshold)
    reach = np.diff(cover.indptr) > 0
    rows = np.flatnonzero((problem.weights > 0) & (problem.existing_time > threshold) & reach)
    return rows.astype(np.int64), cover[rows]


def _covered_before(problem: SitingProblem, threshold: float) -> float:
    return float(problem.weights[problem.existing_time <= threshold].sum())


# --------------------------------------------------------------------------------------------
# MCLP
# --------------------------------------------------------------------------------------------


def solve_mclp(
    problem: SitingProblem,
    *,
    p: int,
    threshold: float,
    capacity: bool = False,
    time_limit: float = 60.0,
    mip_gap: float = 1e-6,
    start: npt.ArrayLike | None = None,
) -> ModelSolution:
    """Maximal coverage: ``p`` new sites maximising migrants within ``threshold`` minutes.

    Variables: ``y_j`` (open candidate j, binary); uncapacitated ``z_i`` (unit i covered,
    continuous in [0, 1]) with ``z_i <= sum_{j reaching i} y_j``; capacitated ``x_ij`` (share
    of unit i served by j) with ``sum_j x_ij <= 1``, ``x_ij <= y_j`` and
    ``sum_i w_i x_ij <= capacity_j y_j``. Units already covered by an existing service are
    constant and left out of the model. ``sum_j y_j = p``.

    Returns
    -------
    ModelSolution
        ``objective``: migrants within the threshold after siting (existing coverage
        included); ``details['covered_weight']``: migrants covered per demand unit.
    """
    p = _check_p(problem, p)
    t = problem.check_threshold(threshold)
    if capacity and problem.capacities is None:
        msg = "capacity=True needs candidate capacities (SitingProblem capacities=...)"
        raise AnalysisError(msg)
    rows, cover = _uncovered_reach(problem, t)
    base = _covered_before(problem, t)
    n_c = problem.n_candidates
    w = problem.weights[rows]
    if capacity:
        milp, pairs = _mclp_capacitated_milp(problem, rows, cover, p)
    else:
        milp, pairs = _mclp_milp(n_c, rows, cover, w, p), None
    start_vec = None
    if start is not None:
        start_vec = _mclp_start(problem, rows, cover, pairs, start, t, capacity)
    # presolve off for the plain MCLP: measured 3-7x faster on the city instances (the
    # benchmark and the demo run), same optima; the capacitated model keeps it
    out = run_milp(milp, time_limit=time_limit, mip_gap=mip_gap, start=start_vec, presolve=capacity)
    values = out.values if out.has_solution else start_vec
    chosen = read_chosen(values[:n_c]) if values is not None else np.zeros(0, np.int64)
    covered = _covered_weights(problem, chosen, t, capacity)
    objective = float(covered.sum())
    # without a solver bound, every reachable migrant covered is a valid (weak) bound
    bound = base + (out.bound if math.isfinite(out.bound) else float(w.sum()))
    return ModelSolution(
        model="mclp",
        chosen=chosen,
        status=out.status,
        objective=objective,
        bound=bound,
        gap=_gap(objective, bound),
        time_s=out.time_s,
        objective_unit="migrants_within_threshold",
        details={
            "covered_weight": covered,
            "covered_before": base,
            "capacity": capacity,
            "milp_size": (out.n_rows, out.n_cols, out.n_nonzeros),
        },
    )


def _mclp_milp(n_c: int, rows: IntArray, cover: sp.csr_matrix, w: FloatArray, p: int) -> Milp:
    n_r = rows.size
    coo = cover.tocoo()
    n_cols = n_c + n_r
    z = n_c + np.arange(n_r)
    link = (
        np.concatenate([coo.row, np.arange(n_r)]),
        np.concatenate([coo.col, z]),
        np.concatenate([-np.ones(coo.nnz), np.ones(n_r)]),
    )
    card = (np.zeros(n_c, np.int64), np.arange(n_c), np.ones(n_c))
    matrix, lo, hi = _stack_milp(
        n_cols,
        [link, card],
        [(np.full(n_r, -np.inf), np.zeros(n_r)), (np.array([p]), np.array([p]))],
    )
    return Milp(
        cost=np.concatenate([np.zeros(n_c), w]),
        lower=np.zeros(n_cols),
        upper=np.ones(n_cols),
        integer=np.concatenate([np.ones(n_c, bool), np.zeros(n_r, bool)]),
        matrix=matrix,
        row_lower=lo,
        row_upper=hi,
        maximize=True,
    )


def _mclp_capacitated_milp(
    problem: SitingProblem, rows: IntArray, cover: sp.csr_matrix, p: int | None
) -> tuple[Milp, tuple[IntArray, IntArray]]:
    """Capacitated MCLP (``p=None``: no cardinality row, all columns free; used for the LP
    allocation of a fixed set of sites)."""
    n_c = problem.n_candidates
    caps = problem.capacities if problem.capacities is not None else np.full(n_c, np.inf)
    coo = cover.tocoo()
    pi, pj = coo.row.astype(np.int64), coo.col.astype(np.int64)
    n_e = pi.size
    x = n_c + np.arange(n_e)
    w = problem.weights[rows][pi]
    n_r = rows.size
    demand = (pi, x, np.ones(n_e))
    link = (
        np.concatenate([np.arange(n_e), np.arange(n_e)]),
        np.concatenate([x, pj]),
        np.concatenate([np.ones(n_e), -np.ones(n_e)]),
    )
    cap = (np.concatenate([pj, np.arange(n_c)]), np.concatenate([x, np.arange(n_c)]),
           np.concatenate([w, -np.minimum(caps, w.sum() + 1.0)]))  # fmt: skip
    blocks = [demand, link, cap]
    bounds = [
        (np.full(n_r, -np.inf), np.ones(n_r)),
        (np.full(n_e, -np.inf), np.zeros(n_e)),
        (np.full(n_c, -np.inf), np.zeros(n_c)),
    ]
    if p is not None:
        blocks.append((np.zeros(n_c, np.int64), np.arange(n_c), np.ones(n_c)))
        bounds.append((np.array([float(p)]), np.array([float(p)])))
    matrix, lo, hi = _stack_milp(n_c + n_e, blocks, bounds)
    milp = Milp(
        cost=np.concatenate([np.zeros(n_c), w]),
        lower=np.zeros(n_c + n_e),
        upper=np.ones(n_c + n_e),
        integer=np.concatenate([np.full(n_c, p is not None), np.zeros(n_e, bool)]),
        matrix=matrix,
        row_lower=lo,
        row_upper=hi,
        maximize=True,
    )
    return milp, (pi, pj)


def capacitated_allocation(
    problem: SitingProblem, sites: npt.ArrayLike, threshold: float
) -> FloatArray:
    """Migrants covered per demand unit when ``sites`` open with their capacities.

    Units within ``threshold`` of an existing service are covered in full; the rest are
    allocated to the open sites by a linear programme maximising the migrants served (a
    unit may be split between sites).
    """
    t = problem.check_threshold(threshold)
    covered = np.where(problem.existing_time <= t, problem.weights, 0.0)
    idx = np.asarray(sites, dtype=np.int64)
    if idx.size == 0:
        return covered
    rows, cover = _uncovered_reach(problem, t)
    mask = np.zeros(problem.n_candidates, bool)
    mask[idx] = True
    cover = cover.multiply(mask[None, :]).tocsr()
    cover.eliminate_zeros()
    if cover.nnz == 0:
        return covered
    milp, (pi, _pj) = _mclp_capacitated_milp(problem, rows, cover, None)
    n_c = problem.n_candidates
    upper = milp.upper.copy()
    upper[:n_c] = mask.astype(float)
    lower = milp.lower.copy()
    lower[:n_c] = mask.astype(float)
    lp = replace(milp, lower=lower, upper=upper, integer=np.zeros(milp.cost.size, bool))
    out = run_milp(lp, time_limit=60.0)
    if out.values is None:
        msg = f"capacity allocation LP failed: {out.status}"
        raise SolverError(msg)
    x = np.clip(out.values[n_c:], 0.0, 1.0)
    share = np.minimum(np.bincount(pi, weights=x, minlength=rows.size), 1.0)
    covered[rows] = problem.weights[rows] * share
    return covered


def _covered_weights(
    problem: SitingProblem, chosen: IntArray, threshold: float, capacity: bool
) -> FloatArray:
    if capacity:
        return capacitated_allocation(problem, chosen, threshold)
    times = problem.times_with(chosen, capped=False)
    return np.where(times <= threshold, problem.weights, 0.0)


def _mclp_start(
    problem: SitingProblem,
    rows: IntArray,
    cover: sp.csr_matrix,
    pairs: tuple[IntArray, IntArray] | None,
    start: npt.ArrayLike,
    threshold: float,
    capacity: bool,
) -> FloatArray:
    n_c = problem.n_candidates
    y = _open_vector(n_c, start)
    if not capacity:
        z = np.minimum(cover @ y, 1.0)
        return np.concatenate([y, z])
    assert pairs is not None
    pi, pj = pairs
    x = _greedy_allocation(problem, rows, pi, pj, y)
    return np.concatenate([y, x])


def _greedy_allocation(
    problem: SitingProblem, rows: IntArray, pi: IntArray, pj: IntArray, y: FloatArray
) -> FloatArray:
    """A feasible allocation of units to open sites within capacities (pairs in cost order)."""
    caps = problem.capacities
    left = np.array(caps if caps is not None else np.full(y.size, np.inf), dtype=float)
    need = problem.weights[rows].copy()
    x = np.zeros(pi.size)
    cost = np.asarray(problem.cost[rows[pi], pj]).reshape(-1)
    for e in np.argsort(cost, kind="stable"):
        i, j = pi[e], pj[e]
        if y[j] < 0.5 or need[i] <= 0 or left[j] <= 0:
            continue
        amount = min(need[i], left[j])
        x[e] = amount / problem.weights[rows[i]]
        need[i] -= amount
        left[j] -= amount
    return np.clip(x, 0.0, 1.0)


# --------------------------------------------------------------------------------------------
# LSCP
# --------------------------------------------------------------------------------------------


def solve_lscp(
    problem: SitingProblem,
    *,
    threshold: float,
    target_share: float = 1.0,
    time_limit: float = 60.0,
    mip_gap: float = 1e-6,
    start: npt.ArrayLike | None = None,
) -> ModelSolution:
    """Set covering: the fewest new sites putting ``target_share`` of migrants within
    ``threshold`` minutes.

    When the target cannot be reached even with every candidate open, the status is
    ``target_infeasible``, ``details['reachable_share']`` gives the largest reachable share and
    the sites returned are the fewest reaching it. At 100 % (of the reachable) it is a
    set-covering MILP; below, the smallest ``p`` whose maximal coverage (MCLP) reaches the
    target, found by bisection, so ties between equally few sites go to more coverage.

    Returns
    -------
    ModelSolution
        ``objective``: number of new sites; ``details['share_after']``, ``['target_share']``.
    """
    if not 0 < target_share <= 1:
        msg = f"target_share must be in (0, 1], got {target_share!r}"
        raise AnalysisError(msg)
    t = problem.check_threshold(threshold)
    total = problem.total_weight
    if total <= 0:
        msg = "no migrants in the demand: nothing to cover"
        raise AnalysisError(msg)
    rows, cover = _uncovered_reach(problem, t)
    base = _covered_before(problem, t)
    reachable = base + float(problem.weights[rows].sum())
    status_note = None
    share = float(target_share)
    if share * total > reachable + _TOL * max(total, 1.0):
        status_note = "target_infeasible"
        share = reachable / total
    need = share * total - base - 1e-9 * max(total, 1.0)
    details: dict[str, Any] = {
        "target_share": float(target_share),
        "reachable_share": reachable / total,
        "share_before": base / total,
    }
    rows_weight = float(problem.weights[rows].sum())
    full = need >= rows_weight - 1e-9 * max(total, 1.0)
    if need <= 0:
        chosen, bound, status, spent, size = np.zeros(0, np.int64), 0.0, "optimal", 0.0, None
    elif full:
        chosen, bound, status, spent, size = _lscp_cover_all(
            problem, rows, cover, start, time_limit, mip_gap
        )
    else:
        chosen, bound, status, spent, size = _lscp_by_mclp(
            problem, t, base + need, start, time_limit, mip_gap
        )
    times = problem.times_with(chosen, capped=False)
    details["share_after"] = float(problem.weights[times <= t].sum()) / total
    if status_note is not None and status in ("optimal", "time_limit"):
        status = status_note if status == "optimal" else f"{status_note}+time_limit"
    objective = float(chosen.size)
    details["milp_size"] = size
    return ModelSolution(
        model="lscp",
        chosen=chosen,
        status=status,
        objective=objective,
        bound=float(bound),
        gap=_gap(objective, bound) if objective > 0 else 0.0,
        time_s=spent,
        objective_unit="sites",
        details=details,
    )


_LscpRun = tuple[IntArray, float, str, float, tuple[int, int, int] | None]


def _lscp_cover_all(
    problem: SitingProblem,
    rows: IntArray,
    cover: sp.csr_matrix,
    start: npt.ArrayLike | None,
    time_limit: float,
    mip_gap: float,
) -> _LscpRun:
    """Every reachable unit covered: a set-covering MILP."""
    milp = _lscp_milp(problem, rows, cover)
    start_vec = None
    if start is not None:
        y = _open_vector(problem.n_candidates, start)
        if np.all(cover @ y >= 1):
            start_vec = y
    out = run_milp(milp, time_limit=time_limit, mip_gap=mip_gap, start=start_vec)
    values = out.values if out.has_solution else start_vec
    if values is None:
        msg = f"set covering found no solution within {time_limit} s"
        raise SolverError(msg)
    chosen = read_chosen(values[: problem.n_candidates])
    bound = math.ceil(out.bound - 1e-6) if math.isfinite(out.bound) else 1.0
    return chosen, float(bound), out.status, out.time_s, (out.n_rows, out.n_cols, out.n_nonzeros)


def _lscp_by_mclp(
    problem: SitingProblem,
    threshold: float,
    target: float,
    start: npt.ArrayLike | None,
    time_limit: float,
    mip_gap: float,
) -> _LscpRun:
    """A share below 100 %: the smallest ``p`` whose maximal coverage reaches ``target``
    migrants, by bisection over exact MCLP solves (coverage grows with ``p``); the sites of
    that MCLP also cover the most among the fewest."""
    deadline = time.perf_counter() + time_limit
    best: IntArray | None = None
    hi = problem.n_candidates
    if start is not None:
        sites = np.unique(np.asarray(start, dtype=np.int64))
        if float(_covered_weights(problem, sites, threshold, False).sum()) >= target:
            best, hi = sites, int(sites.size)
    lo, proven_lo, spent, size = 1, 1, 0.0, None
    undecided, solved_hi = False, False
    while lo < hi or not solved_hi:
        mid = (lo + hi) // 2 if lo < hi else hi
        sol = solve_mclp(
            problem, p=mid, threshold=threshold, time_limit=_time_left(deadline), mip_gap=mip_gap
        )
        spent += sol.time_s
        size = sol.details["milp_size"]
        if sol.objective >= target - 1e-9 * max(target, 1.0):
            best, hi, solved_hi = sol.chosen, mid, True
        elif math.isfinite(sol.bound) and sol.bound < target - 1e-9 * max(target, 1.0):
            lo = proven_lo = mid + 1
        else:
            undecided, lo = True, mid + 1
        if _time_left(deadline) <= 0 or lo > hi:
            break
    if best is None:
        msg = f"no set of sites reaching the target found within {time_limit} s"
        raise SolverError(msg)
    status = "optimal" if proven_lo >= best.size and not undecided else "time_limit"
    return best, float(min(proven_lo, best.size)), status, spent, size


def _lscp_milp(problem: SitingProblem, rows: IntArray, cover: sp.csr_matrix) -> Milp:
    n_c = problem.n_candidates
    coo = cover.tocoo()
    n_r = rows.size
    matrix, lo, hi = _stack_milp(
        n_c,
        [(coo.row.astype(np.int64), coo.col.astype(np.int64), np.ones(coo.nnz))],
        [(np.ones(n_r), np.full(n_r, np.inf))],
    )
    return Milp(
        cost=np.ones(n_c),
        lower=np.zeros(n_c),
        upper=np.ones(n_c),
        integer=np.ones(n_c, bool),
        matrix=matrix,
        row_lower=lo,
        row_upper=hi,
    )


# --------------------------------------------------------------------------------------------
# p-center
# --------------------------------------------------------------------------------------------


def solve_pcenter(
    problem: SitingProblem,
    *,
    p: int,
    threshold: float | None = None,
    time_limit: float = 60.0,
    mip_gap: float = 1e-6,
    start: npt.ArrayLike | None = None,
) -> ModelSolution:
    """p-center: ``p`` new sites minimising the longest time of any demand unit with migrants.

    Bisection over the distinct times: a longest time ``r`` is feasible when ``p`` sites can
    reach, within ``r``, every unit the existing services do not (a set-covering feasibility
    problem). At the optimal ``r*``, a last solve keeps every unit within ``r*`` and maximises
    migrants within ``threshold`` (when given), so the sites also serve many.

    Returns
    -------
    ModelSolution
        ``objective``: the longest time in minutes.
    """
    p = _check_p(problem, p)
    t = None if threshold is None else problem.check_threshold(threshold)
    deadline = time.perf_counter() + time_limit
    active = problem.weights > 0
    if not active.any():
        msg = "no migrants in the demand: nothing to serve"
        raise AnalysisError(msg)
    base = problem.base_time()
    coo = problem.cost.tocoo()
    best_any = base.copy()
    np.minimum.at(best_any, coo.row, coo.data)
    lower = float(best_any[active].max())
    current = (
        np.asarray(start, dtype=np.int64)
        if start is not None
        else _pcenter_seed(problem, p, active)
    )
    upper = float(problem.times_with(current)[active].max())
    values = np.unique(np.concatenate([coo.data, base[active], [upper]]))
    values = values[(values >= lower - _TOL) & (values <= upper + _TOL)]
    lo, hi = 0, values.size - 1  # values[hi] is feasible (upper)
    proven_lo = lower
    spent, runs, undecided = 0.0, 0, False
    while lo < hi and _time_left(deadline) > 0:
        mid = (lo + hi) // 2
        radius = float(values[mid])
        out, sites = _pcenter_feasible(problem, p, radius, active, _time_left(deadline))
        spent += out.time_s
        runs += 1
        if sites is not None:
            hi, current = mid, sites
        elif out.status == "infeasible":
            lo = mid + 1
            proven_lo = max(proven_lo, float(values[lo]))
        else:
            undecided = True
            lo = mid + 1
    radius = float(values[hi])
    if lo < hi:
        undecided = True
    details: dict[str, Any] = {"runs": runs, "lower_bound_all_open": lower}
    if t is not None and _time_left(deadline) > 0:
        final = _pcenter_fill(problem, p, radius, t, current, _time_left(deadline))
        spent += final.time_s
        runs += 1
        if final.values is not None:
            current = read_chosen(final.values[: problem.n_candidates])
    objective = float(problem.times_with(current)[active].max())
    status = "time_limit" if undecided else "optimal"
    details["runs"] = runs
    return ModelSolution(
        model="pcenter",
        chosen=np.sort(current),
        status=status,
        objective=objective,
        bound=proven_lo if undecided else objective,
        gap=_gap(objective, proven_lo if undecided else objective),
        time_s=spent,
        objective_unit="minutes",
        details=details,
    )


def _pcenter_seed(problem: SitingProblem, p: int, active: BoolArray) -> IntArray:
    """Farthest-first: open, p times, the candidate nearest to the worst-served unit."""
    chosen: list[int] = []
    csr = problem.cost
    times = problem.base_time()
    for _ in range(p):
        order = np.argsort(-np.where(active, times, -np.inf), kind="stable")
        pick = -1
        for i in order[: min(order.size, 50)]:
            lo, hi = csr.indptr[i], csr.indptr[i + 1]
            cols, vals = csr.indices[lo:hi], csr.data[lo:hi]
            free = ~np.isin(cols, chosen) & (vals < times[i])
            if free.any():
                pick = int(cols[free][np.argmin(vals[free])])
                break
        if pick < 0:
            rest = np.setdiff1d(np.arange(problem.n_candidates), chosen)
            pick = int(rest[0])
        chosen.append(pick)
        times = problem.times_with(np.array(chosen))
    return np.array(sorted(chosen), dtype=np.int64)


def _pcenter_feasible(
    problem: SitingProblem, p: int, radius: float, active: BoolArray, limit: float
) -> tuple[SolveOutcome, IntArray | None]:
    n_c = problem.n_candidates
    need = active & (problem.base_time() > radius + _TOL)
    rows = np.flatnonzero(need)
    coo = problem.cost[rows].tocoo()
    keep = coo.data <= radius + _TOL
    r, c = coo.row[keep].astype(np.int64), coo.col[keep].astype(np.int64)
    if np.unique(r).size < rows.size:  # some unit reachable by no candidate within radius
        empty = SolveOutcome("infeasible", math.nan, math.nan, math.nan, 0.0, None, 0, 0, 0)
        return empty, None
    matrix, lo, hi = _stack_milp(
        n_c,
        [(r, c, np.ones(r.size)), (np.zeros(n_c, np.int64), np.arange(n_c), np.ones(n_c))],
        [(np.ones(rows.size), np.full(rows.size, np.inf)), (np.array([0.0]), np.array([p]))],
    )
    milp = Milp(
        cost=np.zeros(n_c),
        lower=np.zeros(n_c),
        upper=np.ones(n_c),
        integer=np.ones(n_c, bool),
        matrix=matrix,
        row_lower=lo,
        row_upper=hi,
    )
    out = run_milp(milp, time_limit=limit)
    if out.values is None:
        return out, None
    sites = read_chosen(out.values)
    extra = np.setdiff1d(np.arange(n_c), sites)[: p - sites.size]
    return out, np.sort(np.concatenate([sites, extra]))


def _pcenter_fill(
    problem: SitingProblem, p: int, radius: float, threshold: float, current: IntArray, limit: float
) -> SolveOutcome:
    """Exactly ``p`` sites keeping every unit within ``radius``, maximising coverage."""
    n_c = problem.n_candidates
    active = problem.weights > 0
    rows_c, cover = _uncovered_reach(problem, threshold)
    milp = _mclp_milp(n_c, rows_c, cover, problem.weights[rows_c], p)
    need = np.flatnonzero(active & (problem.base_time() > radius + _TOL))
    coo = problem.cost[need].tocoo()
    keep = coo.data <= radius + _TOL
    n_cols = milp.cost.size
    extra, lo, hi = _stack_milp(
        n_cols,
        [
            (
                coo.row[keep].astype(np.int64),
                coo.col[keep].astype(np.int64),
                np.ones(int(keep.sum())),
            )
        ],
        [(np.ones(need.size), np.full(need.size, np.inf))],
    )
    milp = replace(
        milp,
        matrix=sp.vstack([milp.matrix, extra]).tocsr(),
        row_lower=np.concatenate([milp.row_lower, lo]),
        row_upper=np.concatenate([milp.row_upper, hi]),
    )
    y = _open_vector(n_c, current)
    start = np.concatenate([y, np.minimum(cover @ y, 1.0)])
    return run_milp(milp, time_limit=limit, start=start)


# --------------------------------------------------------------------------------------------
# Min-max migrants beyond the threshold per group
# --------------------------------------------------------------------------------------------


def solve_minmax_beyond(
    problem: SitingProblem,
    *,
    p: int,
    threshold: float,
    time_limit: float = 60.0,
    mip_gap: float = 1e-6,
    start: npt.ArrayLike | None = None,
) -> ModelSolution:
    """Equity view: ``p`` sites minimising the migrants beyond ``threshold`` in the worst-served
    demand group (locality); then, at that level, maximising total coverage.

    Returns
    -------
    ModelSolution
        ``objective``: migrants beyond the threshold in the worst group;
        ``details['worst_group']`` names it.
    """
    p = _check_p(problem, p)
    t = problem.check_threshold(threshold)
    if problem.demand_groups is None:
        msg = "minmax_beyond needs demand_groups (the locality of each demand unit)"
        raise AnalysisError(msg)
    deadline = time.perf_counter() + time_limit
    groups, gidx = np.unique(problem.demand_groups.astype(str), return_inverse=True)
    rows, cover = _uncovered_reach(problem, t)
    n_c, n_r = problem.n_candidates, rows.size
    w = problem.weights
    beyond0 = np.bincount(
        gidx, weights=np.where(problem.existing_time > t, w, 0.0), minlength=groups.size
    )
    base = _mclp_milp(n_c, rows, cover, w[rows], p)
    m_col = n_c + n_r
    n_cols = m_col + 1
    grp = (gidx[rows].astype(np.int64), n_c + np.arange(n_r), w[rows])
    grp_m = (np.arange(groups.size), np.full(groups.size, m_col), np.ones(groups.size))
    gm, glo, ghi = _stack_milp(
        n_cols,
        [(np.concatenate([grp[0], grp_m[0]]), np.concatenate([grp[1], grp_m[1]]),
          np.concatenate([grp[2], grp_m[2]]))],
        [(beyond0, np.full(groups.size, np.inf))],
    )  # fmt: skip
    matrix = sp.vstack([sp.hstack([base.matrix, sp.csr_matrix((base.matrix.shape[0], 1))]), gm])
    phase1 = Milp(
        cost=np.concatenate([np.zeros(m_col), [1.0]]),
        lower=np.zeros(n_cols),
        upper=np.concatenate([np.ones(m_col), [np.inf]]),
        integer=np.concatenate([base.integer, [False]]),
        matrix=matrix.tocsr(),
        row_lower=np.concatenate([base.row_lower, glo]),
        row_upper=np.concatenate([base.row_upper, ghi]),
    )
    start_vec = None
    if start is not None:
        y = _open_vector(n_c, start)
        z = np.minimum(cover @ y, 1.0)
        worst = beyond0 - np.bincount(gidx[rows], weights=w[rows] * z, minlength=groups.size)
        start_vec = np.concatenate([y, z, [worst.max()]])
    out1 = run_milp(phase1, time_limit=_time_left(deadline), mip_gap=mip_gap, start=start_vec)
    spent = out1.time_s
    values = out1.values if out1.has_solution else start_vec
    status = out1.status
    if values is not None and out1.status == "optimal" and _time_left(deadline) > 0:
        level = float(values[m_col])
        upper = phase1.upper.copy()
        upper[m_col] = level + 1e-6 * max(1.0, level)
        phase2 = replace(phase1, cost=np.concatenate([np.zeros(n_c), -w[rows], [0.0]]), upper=upper)
        out2 = run_milp(phase2, time_limit=_time_left(deadline), mip_gap=mip_gap, start=values)
        spent += out2.time_s
        if out2.has_solution:
            values = out2.values
    chosen = read_chosen(values[:n_c]) if values is not None else np.zeros(0, np.int64)
    times = problem.times_with(chosen, capped=False)
    beyond = np.bincount(gidx, weights=np.where(times > t, w, 0.0), minlength=groups.size)
    objective = float(beyond.max())
    bound = out1.bound if math.isfinite(out1.bound) else 0.0
    return ModelSolution(
        model="minmax_beyond",
        chosen=chosen,
        status=status,
        objective=objective,
        bound=bound,
        gap=_gap(objective, bound),
        time_s=spent,
        objective_unit="migrants_beyond_threshold",
        details={
            "worst_group": str(groups[int(np.argmax(beyond))]),
            "beyond_by_group": dict(zip(groups.tolist(), beyond.tolist(), strict=True)),
        },
    )


# --------------------------------------------------------------------------------------------
# Dispatch
# --------------------------------------------------------------------------------------------


def solve_model(
    problem: SitingProblem,
    *,
    model: str,
    p: int | None = None,
    threshold: float | None = 15.0,
    capacity: bool = False,
    target_share: float = 1.0,
    k_nearest: int = 25,
    time_limit: float = 60.0,
    mip_gap: float = 1e-6,
    start: npt.ArrayLike | None = None,
) -> ModelSolution:
    """Solve ``model`` (one of :data:`MODELS`) exactly; see each ``solve_*`` function."""
    if model not in MODELS:
        msg = f"unknown model {model!r}; expected one of {list(MODELS)!r}"
        raise AnalysisError(msg)
    if time_limit <= 0:
        msg = f"time_limit must be positive seconds, got {time_limit!r}"
        raise AnalysisError(msg)
    opts: dict[str, Any] = {"time_limit": time_limit, "mip_gap": mip_gap, "start": start}
    if model == "lscp":
        return solve_lscp(
            problem, threshold=_need(threshold, model), target_share=target_share, **opts
        )
    if p is None:
        msg = f"model {model!r} needs p (the number of new sites)"
        raise AnalysisError(msg)
    if model == "mclp":
        return solve_mclp(
            problem, p=p, threshold=_need(threshold, model), capacity=capacity, **opts
        )
    if model == "pmedian":
        from geo_integration.siting_pmedian import solve_pmedian

        return solve_pmedian(problem, p=p, k_nearest=k_nearest, **opts)
    if model == "pcenter":
        return solve_pcenter(problem, p=p, threshold=threshold, **opts)
    return solve_minmax_beyond(problem, p=p, threshold=_need(threshold, model), **opts)


def _need(threshold: float | None, model: str) -> float:
    if threshold is None:
        msg = f"model {model!r} needs a threshold in minutes"
        raise AnalysisError(msg)
    return float(threshold)
