"""Siting new service points: solve a model, explain the choice, write the results.

:func:`solve_siting` takes a :class:`~geo_integration.siting_models.SitingProblem` (demand
units, candidate sites, travel minutes, existing services) and returns a :class:`SitingResult`:
the exact (HiGHS) solution of the chosen model, its sites ranked by marginal gain, an
independent greedy solution for comparison, and coverage before and after per locality.
:func:`~geo_integration.siting_robust.robustness` re-solves under resampled and jittered
demand; :meth:`SitingResult.with_robustness` adds each site's selection frequency.

Results hold demand units (hexagons or network nodes), never residences; the written tables
blank figures of localities and sites with fewer than ``privacy_k`` migrants.

A street-network wrapper needs only to produce the arrays of
:meth:`SitingProblem.from_cost_matrix`: aggregate residences to demand units (weights =
migrants, groups = locality codes), snap demand units and candidates to nodes, run a
multi-source shortest-path search from the candidates with a cutoff (the threshold for
MCLP/LSCP/equity, e.g. 60 minutes for p-median and p-center) into a sparse matrix, and one
multi-source search from the existing services for ``existing_time``; candidates that are
existing services (:func:`~geo_integration.siting_candidates.coincides_with_existing`) go in
``existing_candidate_ids``. For robustness, the same steps applied to a residence table form
the ``problem_factory``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from geo_integration.errors import AnalysisError
from geo_integration.fileio import atomic_path, write_text
from geo_integration.privacy import suppress_small_counts
from geo_integration.siting_greedy import RankedSites, greedy_sites, rank_sites
from geo_integration.siting_models import (
    MODELS,
    ModelSolution,
    SitingProblem,
    solve_model,
)

if TYPE_CHECKING:
    from geo_integration.siting_robust import RobustnessResult

__all__ = ["MODELS", "SitingProblem", "SitingResult", "solve_siting"]

log = logging.getLogger(__name__)

_MAXIMISE = {"mclp"}
SITE_COLUMNS = [
    "candidate_id",
    "name",
    "rank",
    "marginal_gain",
    "newly_covered",
    "migrants_served",
    "selection_frequency",
]


@dataclass(frozen=True)
class SitingResult:
    """Result of :func:`solve_siting`.

    Attributes
    ----------
    model
        The model solved (``mclp``, ``pmedian``, ``lscp``, ``pcenter``, ``minmax_beyond``).
    sites
        The chosen new sites, best first: ``candidate_id``, ``name``, ``rank`` (1 = adds most),
        ``marginal_gain`` (what the site adds given existing services and the sites ranked
        before it, in ``summary['gain_unit']``), ``newly_covered`` (migrants it newly puts
        within the threshold), ``migrants_served`` (migrants whose nearest service it becomes),
        ``selection_frequency`` (share of robustness replicates choosing it; NaN until
        :meth:`with_robustness`) and ``lon``/``lat`` when the candidates have coordinates.
    greedy_sites
        The independent greedy solution, same columns.
    coverage
        Per demand group (locality; column ``group_col``): ``demand_units``, ``migrants``,
        ``covered_before``, ``covered_after``, ``added``, ``share_before``, ``share_after``,
        ``mean_time_before``, ``mean_time_after`` (minutes, unreached units counted at the
        problem's ``unreached_time``), plus an ``all`` row for the whole city.
    demand
        Per demand unit (in memory only, never written): ``demand_id``, group, ``migrants``,
        ``time_before``, ``time_after``, ``covered_before``, ``covered_after`` (migrants),
        ``nearest_new_site``.
    summary
        Plain-data facts: model, p, threshold, status, objective and its unit, bound, MIP gap,
        solver and total times, greedy objective and shortfall, coverage before/after, migrants
        no service reaches within the cutoff before/after (counted at ``unreached_time_min`` in
        times), notes.
    robustness
        Selection frequency of every site chosen in any replicate (after
        :meth:`with_robustness`), else ``None``.
    """

    model: str
    sites: pd.DataFrame
    greedy_sites: pd.DataFrame
    coverage: pd.DataFrame
    demand: pd.DataFrame
    summary: dict[str, Any]
    group_col: str = "loc_code"
    robustness: pd.DataFrame | None = field(default=None)

    @property
    def chosen_ids(self) -> list[Any]:
        """Candidate ids of the chosen sites, in rank order."""
        return self.sites["candidate_id"].tolist()

    def explain(self, *, top: int | None = None) -> list[str]:
        """One English sentence per chosen site, e.g. ``"site 1 (C17) adds 4,210 migrants
        within 15 minutes"`` (labels in Spanish are the maps and reports' job)."""
        unit = self.summary["gain_unit"]
        threshold = self.summary.get("threshold_min")
        lines = []
        shown = self.sites if top is None else self.sites.head(top)
        for row in shown.itertuples():
            if unit == "migrants_within_threshold":
                what = f"adds {row.marginal_gain:,.0f} migrants within {threshold:g} minutes"
            else:
                what = f"saves {row.marginal_gain:,.0f} migrant-minutes of walking"
            lines.append(f"site {row.rank} ({row.candidate_id}) {what}")
        return lines

    def with_robustness(self, robust: RobustnessResult) -> SitingResult:
        """Return a copy with ``selection_frequency`` filled from ``robust``."""
        freq = robust.frequency["selection_frequency"]

        def fill(table: pd.DataFrame) -> pd.DataFrame:
            out = table.copy()
            out["selection_frequency"] = (
                out["candidate_id"].map(freq.to_dict()).fillna(0.0).astype(float)
            )
            return out

        summary = dict(self.summary)
        summary["robustness"] = robust.summary()
        return replace(
            self,
            sites=fill(self.sites),
            greedy_sites=fill(self.greedy_sites),
            summary=summary,
            robustness=robust.frequency.reset_index(),
        )

    def write(self, out_dir: str | os.PathLike[str], *, privacy_k: int = 10) -> dict[str, Path]:
        """Write the results to ``out_dir`` (atomically) and return the paths written.

        Files: ``sites.geojson`` and ``sites.csv`` (chosen sites), ``greedy_sites.csv``,
        ``coverage_by_locality.csv``, ``summary.json`` and, after :meth:`with_robustness`,
        ``selection_frequency.csv``. Localities and sites with fewer than ``privacy_k``
        migrants have their figures blanked (``suppressed`` column); no residence-level and no
        demand-unit-level row is written.
        """
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        sites = _suppress_sites(self.sites, privacy_k)
        paths = {
            "sites_geojson": _write_geojson(out / "sites.geojson", sites),
            "sites_csv": _write_csv(out / "sites.csv", sites),
            "greedy_sites_csv": _write_csv(
                out / "greedy_sites.csv", _suppress_sites(self.greedy_sites, privacy_k)
            ),
            "coverage_csv": _write_csv(
                out / "coverage_by_locality.csv", _suppress_coverage(self.coverage, privacy_k)
            ),
        }
        if self.robustness is not None:
            paths["frequency_csv"] = _write_csv(out / "selection_frequency.csv", self.robustness)
        summary = _suppress_summary(self.summary, privacy_k)
        summary["privacy_k"] = privacy_k
        summary["files"] = sorted(p.name for p in paths.values())
        paths["summary_json"] = write_text(
            out / "summary.json", json.dumps(_jsonable(summary), indent=2, ensure_ascii=False)
        )
        return paths


# --------------------------------------------------------------------------------------------
# Solving
# --------------------------------------------------------------------------------------------


def solve_siting(
    problem: SitingProblem,
    *,
    model: str = "mclp",
    p: int | None = 5,
    threshold: float | None = 15.0,
    capacity: bool = False,
    target_share: float = 1.0,
    k_nearest: int = 25,
    time_limit: float = 60.0,
    mip_gap: float = 1e-6,
    warm_start: bool = True,
    group_col: str = "loc_code",
) -> SitingResult:
    """Choose new service sites with ``model`` and explain the choice.

    Parameters
    ----------
    problem
        Demand, candidates and travel times (:class:`SitingProblem`).
    model
        ``mclp`` (maximal coverage), ``pmedian``, ``lscp`` (fewest sites for
        ``target_share``), ``pcenter`` or ``minmax_beyond`` (equity views).
    p
        Number of new sites (not used by ``lscp``).
    threshold
        Walking minutes that count as served (coverage, LSCP, the equity view; also the
        coverage tables of p-median and p-center).
    capacity
        MCLP only: a new site serves at most its capacity (``problem.capacities``).
    target_share
        LSCP only: share of migrants to put within the threshold (1.0 = all).
    k_nearest
        p-median only: candidates modelled per demand unit (more are added when needed).
    time_limit
        Seconds for the exact solve; at the limit the best solution and its gap are returned.
    mip_gap
        Relative gap at which the solver stops.
    warm_start
        Start the solver from the greedy solution.
    group_col
        Column name of the demand groups in the coverage table.

    Returns
    -------
    SitingResult
    """
    if model not in MODELS:
        msg = f"unknown model {model!r}; expected one of {list(MODELS)!r}"
        raise AnalysisError(msg)
    if model == "mclp" and threshold is None:
        msg = "mclp needs a threshold in minutes"
        raise AnalysisError(msg)
    if capacity and model != "mclp":
        msg = f"capacities apply to the mclp model only, not {model!r}"
        raise AnalysisError(msg)
    started = time.perf_counter()
    greedy = greedy_sites(
        problem,
        model=model,
        p=p,
        threshold=threshold,
        capacity=capacity,
        target_share=target_share,
    )
    exact = solve_model(
        problem,
        model=model,
        p=p,
        threshold=threshold,
        capacity=capacity,
        target_share=target_share,
        k_nearest=k_nearest,
        time_limit=time_limit,
        mip_gap=mip_gap,
        start=greedy.sites if warm_start and greedy.sites.size else None,
    )
    ranked = rank_sites(problem, exact.chosen, model=model, threshold=threshold, capacity=capacity)
    demand = _demand_table(problem, exact, threshold, group_col)
    coverage = _coverage_table(demand, group_col)
    summary = _summary(
        problem, exact, ranked, greedy, coverage, model=model, p=p, threshold=threshold
    )
    unreached_before = ~np.isfinite(problem.base_time(capped=False))
    unreached_after = ~np.isfinite(problem.times_with(exact.chosen, capped=False))
    summary.update(
        migrants_unreached_before=float(problem.weights[unreached_before].sum()),
        migrants_unreached_after=float(problem.weights[unreached_after].sum()),
        capacity=capacity,
        target_share=target_share if model == "lscp" else None,
        time_limit_s=time_limit,
        total_time_s=time.perf_counter() - started,
    )
    log.info(
        "%s: %s, objective %.6g %s, gap %.3g, %.2f s",
        model,
        exact.status,
        exact.objective,
        exact.objective_unit,
        exact.gap,
        exact.time_s,
    )
    return SitingResult(
        model=model,
        sites=_site_table(problem, ranked, exact.chosen),
        greedy_sites=_site_table(problem, greedy, greedy.sites),
        coverage=coverage,
        demand=demand,
        summary=summary,
        group_col=group_col,
    )


def _site_table(problem: SitingProblem, ranked: RankedSites, chosen: np.ndarray) -> pd.DataFrame:
    idx = ranked.sites
    nearest = problem.nearest_site(chosen)
    served = pd.Series(problem.weights[nearest >= 0]).groupby(nearest[nearest >= 0]).sum()
    names = problem.candidate_names
    table = pd.DataFrame(
        {
            "candidate_id": problem.candidate_ids[idx],
            "name": names[idx] if names is not None else [None] * idx.size,
            "rank": np.arange(1, idx.size + 1),
            "marginal_gain": ranked.gains,
            "newly_covered": ranked.newly_covered,
            "migrants_served": served.reindex(idx).fillna(0.0).to_numpy(),
            "selection_frequency": np.full(idx.size, math.nan),
        }
    )
    if problem.candidate_lon is not None and problem.candidate_lat is not None:
        table["lon"] = problem.candidate_lon[idx]
        table["lat"] = problem.candidate_lat[idx]
    return table


def _demand_table(
    problem: SitingProblem, exact: ModelSolution, threshold: float | None, group_col: str
) -> pd.DataFrame:
    before = problem.base_time()
    after = problem.times_with(exact.chosen)
    w = problem.weights
    if threshold is None:
        cov_before = cov_after = np.full(w.size, math.nan)
    else:
        cov_before = np.where(problem.base_time(capped=False) <= threshold, w, 0.0)
        covered = exact.details.get("covered_weight")
        if covered is None:
            reached = problem.times_with(exact.chosen, capped=False)
            covered = np.where(reached <= threshold, w, 0.0)
        cov_after = np.asarray(covered, dtype=float)
    nearest = problem.nearest_site(exact.chosen)
    groups = (
        problem.demand_groups
        if problem.demand_groups is not None
        else np.full(problem.n_demand, "all", dtype=object)
    )
    return pd.DataFrame(
        {
            "demand_id": problem.demand_ids,
            group_col: groups,
            "migrants": w,
            "time_before": before,
            "time_after": after,
            "covered_before": cov_before,
            "covered_after": cov_after,
            "nearest_new_site": _ids_or_none(problem, nearest),
        }
    )


def _ids_or_none(problem: SitingProblem, index: np.ndarray) -> np.ndarray:
    out = np.full(index.size, None, dtype=object)
    out[index >= 0] = problem.candidate_ids[index[index >= 0]]
    return out


def _coverage_table(demand: pd.DataFrame, group_col: str) -> pd.DataFrame:
    frame = demand.assign(
        _wt_before=demand["migrants"] * demand["time_before"],
        _wt_after=demand["migrants"] * demand["time_after"],
        **{group_col: demand[group_col].fillna("none").astype(str)},
    )
    agg = {
        "demand_units": ("demand_id", "size"),
        "migrants": ("migrants", "sum"),
        "covered_before": ("covered_before", "sum"),
        "covered_after": ("covered_after", "sum"),
        "_wt_before": ("_wt_before", "sum"),
        "_wt_after": ("_wt_after", "sum"),
    }
    table = frame.groupby(group_col, sort=True).agg(**agg).reset_index()
    total = frame.agg({k: v[1] for k, v in agg.items() if k != "demand_units"})
    all_row = pd.DataFrame([{group_col: "all", "demand_units": len(frame), **total.to_dict()}])
    table = pd.concat([table, all_row], ignore_index=True)
    if demand["covered_before"].isna().all():
        table[["covered_before", "covered_after"]] = math.nan
    migrants = table["migrants"].where(table["migrants"] > 0)
    table["added"] = table["covered_after"] - table["covered_before"]
    table["share_before"] = table["covered_before"] / migrants
    table["share_after"] = table["covered_after"] / migrants
    table["mean_time_before"] = table.pop("_wt_before") / migrants
    table["mean_time_after"] = table.pop("_wt_after") / migrants
    return table


def _summary(
    problem: SitingProblem,
    exact: ModelSolution,
    ranked: RankedSites,
    greedy: RankedSites,
    coverage: pd.DataFrame,
    *,
    model: str,
    p: int | None,
    threshold: float | None,
) -> dict[str, Any]:
    from geo_integration.siting_models import solver_version

    city = coverage.iloc[-1]
    details = {k: v for k, v in exact.details.items() if k not in ("covered_weight",)}
    shortfall = _shortfall(model, exact.objective, greedy.objective)
    return {
        "model": model,
        "p": p,
        "n_sites": int(exact.chosen.size),
        "threshold_min": threshold,
        "status": exact.status,
        "objective": exact.objective,
        "objective_unit": exact.objective_unit,
        "bound": exact.bound,
        "mip_gap": exact.gap,
        "solve_time_s": exact.time_s,
        "baseline_objective": ranked.baseline,
        "greedy_objective": greedy.objective,
        "greedy_shortfall": shortfall,
        "gain_unit": ranked.unit,
        "migrants_total": float(city["migrants"]),
        "covered_before": _num(city["covered_before"]),
        "covered_after": _num(city["covered_after"]),
        "share_before": _num(city["share_before"]),
        "share_after": _num(city["share_after"]),
        "mean_time_before": _num(city["mean_time_before"]),
        "mean_time_after": _num(city["mean_time_after"]),
        "n_demand_units": problem.n_demand,
        "n_candidates": problem.n_candidates,
        "cutoff_min": problem.cutoff,
        "unreached_time_min": problem.unreached_time,
        "solver": solver_version(),
        "details": details,
        "notes": list(problem.notes),
    }


def _shortfall(model: str, exact: float, greedy: float) -> float:
    """How much worse the greedy objective is than the exact one, relative (>= 0 when the
    exact solution is proven optimal)."""
    if not (math.isfinite(exact) and math.isfinite(greedy)):
        return math.nan
    diff = exact - greedy if model in _MAXIMISE else greedy - exact
    return diff / max(abs(exact), 1e-9)


def _num(value: Any) -> float | None:
    value = float(value)
    return None if math.isnan(value) else value


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def _suppress_sites(table: pd.DataFrame, k: int) -> pd.DataFrame:
    return suppress_small_counts(
        table,
        count_col="migrants_served",
        k=k,
        blank=["marginal_gain", "newly_covered", "migrants_served"],
    )


def _suppress_coverage(table: pd.DataFrame, k: int) -> pd.DataFrame:
    numeric = [c for c in table.columns if c not in ("demand_units",)]
    numeric = [c for c in numeric if pd.api.types.is_numeric_dtype(table[c])]
    return suppress_small_counts(table, count_col="migrants", k=k, blank=numeric)


def _suppress_summary(summary: dict[str, Any], k: int) -> dict[str, Any]:
    out = dict(summary)
    total = out.get("migrants_total") or 0.0
    if 0 < total < k:
        for key in ("migrants_total", "covered_before", "covered_after", "objective", "bound"):
            out[key] = None
        out["suppressed"] = True
    out.get("details", {}).pop("beyond_by_group", None)
    return out


def _write_csv(path: Path, table: pd.DataFrame) -> Path:
    out = table.copy()
    for col in out.columns:
        if pd.api.types.is_float_dtype(out[col]):
            out[col] = out[col].round(7 if col in ("lon", "lat") else 4)
    with atomic_path(path) as tmp:
        out.to_csv(tmp, index=False)
    return path


def _write_geojson(path: Path, sites: pd.DataFrame) -> Path:
    features = []
    props = [c for c in sites.columns if c not in ("lon", "lat")]
    for row in sites.to_dict("records"):
        lon, lat = row.get("lon"), row.get("lat")
        geometry = None
        if lon is not None and lat is not None and math.isfinite(lon) and math.isfinite(lat):
            geometry = {"type": "Point", "coordinates": [round(lon, 7), round(lat, 7)]}
        features.append(
            {
                "type": "Feature",
                "geometry": geometry,
                "properties": _jsonable({c: row[c] for c in props}),
            }
        )
    doc = {"type": "FeatureCollection", "features": features}
    return write_text(path, json.dumps(doc, ensure_ascii=False, indent=1))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return None if not math.isfinite(value) else value
    if value is None or isinstance(value, str | int | bool):
        return value
    if value is pd.NA or value is pd.NaT:
        return None
    return str(value)
