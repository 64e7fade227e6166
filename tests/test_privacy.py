from __future__ import annotations

import pandas as pd
import pytest

from geo_integration.errors import MissingColumnError
from geo_integration.privacy import suppress_small_counts


def test_small_counts_blanked_zero_and_large_kept() -> None:
    table = pd.DataFrame(
        {"cell": ["a", "b", "c"], "migrants": [3, 0, 12], "share": [0.5, 0.0, 0.25]}
    )
    out = suppress_small_counts(table, k=10)
    assert out["suppressed"].tolist() == [True, False, False]
    assert pd.isna(out.loc[0, "migrants"]) and pd.isna(out.loc[0, "share"])
    assert out.loc[2, "migrants"] == 12 and out.loc[2, "share"] == 0.25
    assert out.loc[0, "cell"] == "a"
    assert table.loc[0, "migrants"] == 3  # input untouched


def test_missing_count_column_is_named() -> None:
    with pytest.raises(MissingColumnError, match="'people'"):
        suppress_small_counts(pd.DataFrame({"x": [1]}), count_col="people")
