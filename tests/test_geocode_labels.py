"""Tests of the official and street label readers (geo_integration.geocode_labels)."""

from __future__ import annotations

import pandas as pd
import pytest

from geo_integration.geocode_labels import code_value, parse_official, parse_street_labels


def test_parse_official_normalises_labels() -> None:
    labels = pd.Series(
        [
            "CL 9, 2 39 E",
            "CL 16H, 112-84",
            "KR 17F, 66-45S",
            "AK 106, 16H 18",
            "?, 22D 38",
            "CL 5, 23 10 S",
            "CL 2, IN 8",
        ]
    )
    out = parse_official(labels)
    assert list(out["ok"]) == [True, True, True, True, False, True, False]
    assert out.loc[1, "label"] == "CL 16H, 112 84"
    assert out.loc[2, "label"] == "KR 17F, 66 45 S"
    assert out.loc[3, "face"] == "KR 106|16H"  # AK is in the KR family
    assert out.loc[0, "face"] == "CL 9|2 E"
    assert out.loc[5, "label"] == "CL 5 S, 23 10"  # S belongs to the calle
    assert out.loc[2, "house"] == 45
    assert out.loc[0, "cross_value"] == pytest.approx(1 - 2)


def test_code_value_is_monotone() -> None:
    values = [
        code_value(2, "", False, "", "S"),
        code_value(1, "A", False, "", "S"),
        code_value(1, "", False, "", "S"),
        code_value(1, "", False, "", ""),
        code_value(45, "", False, "", ""),
        code_value(45, "A", False, "", ""),
        code_value(45, "A", True, "", ""),
        code_value(45, "A", True, "B", ""),
        code_value(45, "B", False, "", ""),
        code_value(46, "", False, "", ""),
    ]
    assert values == sorted(values)
    assert len(set(values)) == len(values)


def test_street_labels() -> None:
    out = parse_street_labels(pd.Series(["CL 63BIS S", "AK 30", None, "AVENIDA"]))
    assert list(out["ok"]) == [True, True, False, False]
    assert out.loc[0, "street"] == "CL 63BIS S"
    assert out.loc[1, "street"] == "KR 30"
    assert out.loc[1, "label"] == "AK 30"
