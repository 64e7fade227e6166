"""Hot spots on the H3 grid: Getis-Ord Gi* and local Moran's I with FDR control (a kernel).

Both statistics are computed with esda on binary contiguity weights between the H3 cells
present in the table (a cell's neighbours are the cells of ``h3.grid_disk(cell, 1)`` that are
also present). Inference is by conditional permutation (``permutations`` draws, default 999,
seeded by ``seed`` so results are reproducible), then corrected for multiple testing with the
Benjamini-Hochberg false-discovery-rate procedure.

Pseudo p-values
    esda's own ``p_sim`` is *directed* (the tail is chosen after looking at the data), which
    halves the honest p-value. This module recomputes a **two-sided** pseudo p-value from the
    simulated statistics: ``p = min(1, 2 * min(P_up, P_down))`` with
    ``P_up = (#{sim >= obs} + 1) / (R + 1)`` and ``P_down = (#{sim <= obs} + 1) / (R + 1)``.
    The smallest attainable value is ``2 / (R + 1)`` (0.002 for 999 permutations).

FDR
    Benjamini-Hochberg adjusted p-values (q-values) are computed over the tested cells; a cell
    is significant at level ``a`` when ``q <= a``. Consequence of the pseudo p-value floor:
    with ``n`` tested cells, a cell can only reach the 99 % class when at least
    ``0.2 * n`` cells sit at the floor (for ``R = 999``); raise ``permutations`` for finer
    levels on large grids.

Islands
    A cell with no neighbour present (an isolated inhabited cell) has no neighbourhood to
    test: it takes part in the statistics of the others (its value is in the city totals and
    in the permutation pool) but is itself not tested: ``p`` and ``q`` are missing, the class
    is ``not_significant``, and it does not count in the FDR denominator.

Classes
    Gi*: ``hot_99``, ``hot_95``, ``hot_90``, ``cold_99``, ``cold_95``, ``cold_90`` (the sign of
    the permutation z-score, the strictest FDR level passed) or ``not_significant``.
    Local Moran: ``HH``, ``LL``, ``HL``, ``LH`` (value / neighbours' mean above or below the
    mean) when ``q <= lisa_alpha`` (default 0.05), else ``not_significant``.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from geo_integration.errors import AnalysisError

__all__ = [
    "GI_CLASSES",
    "LISA_CLASSES",
    "NOT_SIGNIFICANT",
    "bh_adjust",
    "getis_ord",
    "hex_neighbours",
    "local_moran",
    "two_sided_pseudo_p",
]

log = logging.getLogger(__name__)

NOT_SIGNIFICANT = "not_significant"
#: FDR levels of the Gi* classes, strictest first, with their label suffix.
FDR_LEVELS: tuple[tuple[float, str], ...] = ((0.01, "99"), (0.05, "95"), (0.10, "90"))
GI_CLASSES: tuple[str, ...] = (
    *(f"hot_{s}" for _a, s in FDR_LEVELS),
    *(f"cold_{s}" for _a, s in FDR_LEVELS),
    NOT_SIGNIFICANT,
)
LISA_CLASSES: tuple[str, ...] = ("HH", "LL", "HL", "LH", NOT_SIGNIFICANT)
_MIN_TESTED = 3

FloatArray = npt.NDArray[np.float64]


def hex_neighbours(cells: Sequence[str]) -> dict[int, list[int]]:
    """Return the contiguity of H3 cells as positions: ``{i: [j, ...]}`` (sorted, no self).

    Parameters
    ----------
    cells
        H3 cell strings, all of the same resolution and unique.
    """
    import h3

    position = {c: i for i, c in enumerate(cells)}
    if len(position) != len(cells):
        dup = pd.Index(cells)[pd.Index(cells).duplicated()][0]
        msg = f"H3 cells must be unique; {dup!r} appears more than once"
        raise AnalysisError(msg)
    out: dict[int, list[int]] = {}
    for cell, i in position.items():
        ring = (position.get(d) for d in h3.grid_disk(cell, 1) if d != cell)
        out[i] = sorted(j for j in ring if j is not None)
    return out


def _weights(neighbours: dict[int, list[int]]) -> Any:
    from libpysal.weights import W

    return W(neighbours, id_order=sorted(neighbours), silence_warnings=True)


def two_sided_pseudo_p(observed: npt.ArrayLike, simulated: npt.ArrayLike) -> FloatArray:
    """Two-sided permutation p-values.

    Parameters
    ----------
    observed
        ``(n,)`` observed statistics.
    simulated
        ``(n, R)`` statistics simulated under the null.

    Returns
    -------
    ndarray
        ``min(1, 2 * min(P_up, P_down))`` per row (see the module docstring).
    """
    obs = np.asarray(observed, dtype=float).reshape(-1, 1)
    sim = np.asarray(simulated, dtype=float)
    reps = sim.shape[1]
    up = ((sim >= obs).sum(axis=1) + 1.0) / (reps + 1.0)
    down = ((sim <= obs).sum(axis=1) + 1.0) / (reps + 1.0)
    return np.minimum(1.0, 2.0 * np.minimum(up, down))


def bh_adjust(pvalues: npt.ArrayLike) -> FloatArray:
    """Benjamini-Hochberg adjusted p-values (q-values); missing p-values stay missing.

    ``q_(i) = min_{j >= i} p_(j) * m / j`` over the ``m`` non-missing p-values sorted
    ascending; rejecting ``q <= a`` is the BH procedure at FDR level ``a``.
    """
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = ok.size
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    scaled = p[order] * m / np.arange(1, m + 1)
    out[order] = np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1])
    return out


def _inputs(values: pd.Series, cells: pd.Series) -> tuple[FloatArray, list[str]]:
    if not values.index.equals(cells.index):
        msg = "values and cells must share one index"
        raise AnalysisError(msg)
    y = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    if not np.isfinite(y).all():
        bad = values.index[~np.isfinite(y)][0]
        msg = f"values must be finite; row {bad!r} is {values.loc[bad]!r}"
        raise AnalysisError(msg)
    return y, [str(c) for c in cells]


def _testable(y: FloatArray, neighbours: dict[int, list[int]]) -> npt.NDArray[np.bool_]:
    has_nb = np.array([bool(neighbours[i]) for i in range(len(y))], dtype=bool)
    if has_nb.sum() < _MIN_TESTED or np.ptp(y) == 0:
        log.warning(
            "hot-spot test skipped: %d cell(s) with neighbours, value range %.3g",
            int(has_nb.sum()),
            float(np.ptp(y)) if len(y) else 0.0,
        )
        return np.zeros(len(y), dtype=bool)
    return has_nb


def _prepared(
    values: pd.Series, y: FloatArray, cells: list[str], columns: tuple[str, str, str, str]
) -> tuple[pd.DataFrame, dict[int, list[int]], npt.NDArray[np.bool_]]:
    """The empty result (statistic, p and q missing, class not significant: ``columns`` in
    that order), the cells' contiguity and which cells can be tested."""
    *numbers, label = columns
    out = pd.DataFrame(
        {**dict.fromkeys(numbers, np.nan), label: NOT_SIGNIFICANT}, index=values.index
    )
    neighbours = hex_neighbours(cells)
    return out, neighbours, _testable(y, neighbours)


def _run_seeded(factory: Any, seed: int) -> Any:
    """Run an esda statistic keeping numpy's global random state untouched.

    esda seeds ``np.random`` globally when numba is absent; the caller's state is restored.
    """
    state = np.random.get_state()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return factory(seed)
    finally:
        np.random.set_state(state)


def getis_ord(
    values: pd.Series,
    cells: pd.Series,
    *,
    permutations: int = 999,
    seed: int = 0,
    n_jobs: int = 1,
) -> pd.DataFrame:
    """Getis-Ord Gi* hot and cold spots with permutation inference and FDR classes.

    Parameters
    ----------
    values
        Non-negative values to test (e.g. a gap index), one per cell.
    cells
        H3 cell of each row (unique), same index as ``values``.
    permutations
        Conditional permutations (at least 99).
    seed
        Seed of the permutations.
    n_jobs
        Processes for esda's permutation engine (1: in process).

    Returns
    -------
    DataFrame
        Aligned to ``values.index``: ``gi_z`` (z-score against the permutation distribution),
        ``gi_p`` (two-sided pseudo p-value), ``gi_q`` (BH-adjusted) and ``gi_class``.
    """
    y, cell_list = _inputs(values, cells)
    if permutations < 99:
        msg = f"permutations must be at least 99, got {permutations!r}"
        raise AnalysisError(msg)
    if (y < 0).any():
        msg = f"Gi* needs non-negative values; minimum is {y.min()!r}"
        raise AnalysisError(msg)
    out, neighbours, tested = _prepared(values, y, cell_list, ("gi_z", "gi_p", "gi_q", "gi_class"))
    if not tested.any():
        return out
    from esda.getisord import G_Local

    def factory(s: int) -> Any:
        return G_Local(
            y,
            _weights(neighbours),
            transform="B",
            star=True,
            permutations=permutations,
            seed=s,
            n_jobs=n_jobs,
            keep_simulations=True,
        )

    stat = _run_seeded(factory, seed)
    sims = np.asarray(stat.rGs, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (stat.Gs - sims.mean(axis=1)) / sims.std(axis=1)
    p = np.where(tested, two_sided_pseudo_p(stat.Gs, sims), np.nan)
    q = bh_adjust(p)
    out["gi_z"] = np.where(tested, z, np.nan)
    out["gi_p"] = p
    out["gi_q"] = q
    out["gi_class"] = _gi_classes(z, q)
    return out


def _gi_classes(z: FloatArray, q: FloatArray) -> npt.NDArray[np.object_]:
    classes = np.full(len(z), NOT_SIGNIFICANT, dtype=object)
    for alpha, suffix in reversed(FDR_LEVELS):  # loosest first; stricter levels overwrite
        sig = np.isfinite(q) & (q <= alpha) & np.isfinite(z)
        classes[sig & (z > 0)] = f"hot_{suffix}"
        classes[sig & (z < 0)] = f"cold_{suffix}"
    return classes


def local_moran(
    values: pd.Series,
    cells: pd.Series,
    *,
    permutations: int = 999,
    seed: int = 0,
    lisa_alpha: float = 0.05,
    n_jobs: int = 1,
) -> pd.DataFrame:
    """Local Moran's I clusters (HH, LL, HL, LH) with permutation inference and FDR.

    Weights are row-standardised H3 contiguity; p-values are two-sided pseudo p-values,
    BH-adjusted over the tested cells; a cell gets its quadrant when ``q <= lisa_alpha``.

    Returns
    -------
    DataFrame
        Aligned to ``values.index``: ``lisa_i``, ``lisa_p``, ``lisa_q`` and ``lisa_class``.
    """
    y, cell_list = _inputs(values, cells)
    if not 0 < lisa_alpha < 1:
        msg = f"lisa_alpha must be in (0, 1), got {lisa_alpha!r}"
        raise AnalysisError(msg)
    out, neighbours, tested = _prepared(
        values, y, cell_list, ("lisa_i", "lisa_p", "lisa_q", "lisa_class")
    )
    if not tested.any():
        return out
    from esda.moran import Moran_Local

    def factory(s: int) -> Any:
        return Moran_Local(
            y,
            _weights(neighbours),
            transformation="r",
            permutations=permutations,
            seed=s,
            n_jobs=n_jobs,
            keep_simulations=True,
        )

    stat = _run_seeded(factory, seed)
    p = np.where(tested, two_sided_pseudo_p(stat.Is, np.asarray(stat.rlisas)), np.nan)
    q = bh_adjust(p)
    quadrant = np.array(["", "HH", "LH", "LL", "HL"], dtype=object)[np.asarray(stat.q, int)]
    sig = np.isfinite(q) & (q <= lisa_alpha) & (quadrant != "")
    out["lisa_i"] = np.where(tested, stat.Is, np.nan)
    out["lisa_p"] = p
    out["lisa_q"] = q
    out["lisa_class"] = np.where(sig, quadrant, NOT_SIGNIFICANT)
    return out
