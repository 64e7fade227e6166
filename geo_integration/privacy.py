"""Privacy kernels: small-count suppression (no I/O).

Residence data is sensitive. Any published cell or area with fewer than ``k`` migrants is
suppressed: its counts and every measure derived from them are blanked, and a
``suppressed`` flag says so, so maps and reports can state it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from geo_integration.errors import AnalysisError, MissingColumnError

__all__ = ["suppress_small_counts"]


def suppress_small_counts(
    table: pd.DataFrame,
    *,
    count_col: str = "migrants",
    k: int = 10,
    blank: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Blank the rows of ``table`` whose ``count_col`` is below ``k``.

    Parameters
    ----------
    table
        One row per published unit (hexagon, UPZ, locality, cluster).
    count_col
        Column holding the number of migrants of each unit.
    k
        Privacy threshold: units with ``0 < count < k`` are suppressed. Units with a count of
        zero reveal nobody and are kept.
    blank
        Columns to blank on suppressed rows; default: every numeric column.

    Returns
    -------
    DataFrame
        A copy, aligned to ``table``, with the blanked values set to missing and a boolean
        ``suppressed`` column.
    """
    if count_col not in table.columns:
        msg = f"column {count_col!r} not in table; columns: {list(table.columns)!r}"
        raise MissingColumnError(msg, column=count_col)
    if k < 1:
        msg = f"privacy threshold k must be at least 1, got {k!r}"
        raise AnalysisError(msg)
    out = table.copy()
    counts = pd.to_numeric(out[count_col], errors="coerce").fillna(0).to_numpy()
    small = (counts > 0) & (counts < k)
    cols = list(blank) if blank is not None else list(out.select_dtypes("number").columns)
    missing = [c for c in cols if c not in out.columns]
    if missing:
        msg = f"columns to blank not in table: {missing!r}"
        raise MissingColumnError(msg, column=missing[0])
    for col in cols:
        if small.any():
            if not pd.api.types.is_float_dtype(out[col]):
                out[col] = (
                    out[col].astype("float64")
                    if pd.api.types.is_numeric_dtype(out[col])
                    else out[col].astype(object)
                )
            out.loc[small, col] = np.nan
    out["suppressed"] = small
    return out
