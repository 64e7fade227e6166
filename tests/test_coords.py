from __future__ import annotations

import numpy as np
import pytest
from pyproj import Transformer

from geo_integration.coords import (
    MISSING,
    NON_FINITE,
    NOT_A_NUMBER,
    OK,
    REGION_BBOX,
    detect_crs,
    in_region,
    parse_numbers,
    to_wgs84,
)

LON = np.array([-74.10, -74.05, -74.15, -74.08])
LAT = np.array([4.60, 4.70, 4.55, 4.65])


def _project(crs: str) -> tuple[np.ndarray, np.ndarray]:
    x, y = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(LON, LAT)
    return np.asarray(x), np.asarray(y)


def test_parse_numbers_status_and_decimal_forms() -> None:
    values, status = parse_numbers(
        ["4,61", " -74.1 ", "", None, "abc", "inf", "NaN", "1e999", "1.004.567,5", "1,004,567.5"]
    )
    assert status.tolist() == [OK, OK, MISSING, MISSING, NOT_A_NUMBER] + [NON_FINITE] * 3 + [OK, OK]
    assert values[0] == pytest.approx(4.61) and values[1] == pytest.approx(-74.1)
    assert values[8] == pytest.approx(1004567.5) and values[9] == pytest.approx(1004567.5)
    assert np.isnan(values[[2, 3, 4, 5, 6, 7]]).all()


def test_parse_numbers_declared_decimal() -> None:
    values, status = parse_numbers(["4,6", "1.000,5"], decimal=",")
    assert values.tolist() == [4.6, 1000.5]
    values, status = parse_numbers(["4,6", "4.6"], decimal=".")
    assert status.tolist() == [NOT_A_NUMBER, OK]


def test_wgs84_detected_and_not_swapped() -> None:
    guess = detect_crs(LAT, LON)
    assert (guess.crs, guess.swapped, guess.source) == ("EPSG:4326", False, "detected")


def test_swapped_columns_detected_for_the_file() -> None:
    guess = detect_crs(LON, LAT)  # latitude column holds longitudes
    assert guess.swapped
    lon, lat, _rows = to_wgs84(LON, LAT, guess)
    assert np.allclose(lon, LON) and np.allclose(lat, LAT)


@pytest.mark.parametrize("crs", ["EPSG:3116", "EPSG:9377"])
def test_projected_values_in_lat_lon_columns(crs: str) -> None:
    x, y = _project(crs)
    guess = detect_crs(y, x)  # northing in 'latitud', easting in 'longitud'
    assert guess.crs == crs and guess.share_in_region == 1.0
    lon, lat, _rows = to_wgs84(y, x, guess)
    assert np.allclose(lon, LON, atol=1e-7) and np.allclose(lat, LAT, atol=1e-7)


def test_declared_crs_is_used() -> None:
    x, y = _project("EPSG:4686")
    guess = detect_crs(y, x, declared="EPSG:4686")
    assert (guess.crs, guess.source) == ("EPSG:4686", "declared")
    lon, lat, _rows = to_wgs84(y, x, guess)
    assert np.allclose(lon, LON, atol=1e-6) and np.allclose(lat, LAT, atol=1e-6)


def test_untrusted_declared_crs_replaced_when_wrong() -> None:
    x, y = _project("EPSG:3116")
    guess = detect_crs(y, x, declared="EPSG:4326", trust_declared=False)
    assert (guess.crs, guess.source) == ("EPSG:3116", "detected")
    trusted = detect_crs(y, x, declared="EPSG:4326")
    assert trusted.crs == "EPSG:4326" and trusted.share_in_region == 0.0


def test_single_swapped_row_is_fixed_and_reported() -> None:
    a, b = LAT.copy(), LON.copy()
    a[2], b[2] = b[2], a[2]
    guess = detect_crs(a, b)
    lon, lat, swapped = to_wgs84(a, b, guess)
    assert swapped.tolist() == [False, False, True, False]
    assert np.allclose(lon, LON) and np.allclose(lat, LAT)


def test_far_points_stay_far_and_nan_stays_nan() -> None:
    a = np.array([4.6, 0.0, np.nan, 10.9])
    b = np.array([-74.1, 0.0, -74.1, -74.8])
    lon, lat, swapped = to_wgs84(a, b, detect_crs(a, b))
    assert in_region(lon, lat).tolist() == [True, False, False, False]
    assert not swapped.any()
    assert REGION_BBOX[0] < -74.47 and REGION_BBOX[3] > 4.86


def test_trimmed_text_trims_like_arrow_and_nulls_empty_values() -> None:
    import pyarrow as pa
    import pyarrow.compute as pc

    from geo_integration.coords import trimmed_text

    spaces = [chr(c) for c in range(0x3001) if chr(c).isspace()] + ["\u180e", "\u200b"]
    values = [f"{s}x{s}" for s in spaces] + ["a", "  ", "", None, "é", "b\u3000", "\u00a0"]
    expected = pc.utf8_trim_whitespace(pa.array(values)).to_pylist()
    expected = [None if v == "" else v for v in expected]
    assert trimmed_text(pa.array(values)).to_pylist() == expected
    assert trimmed_text(pa.array(["a", "b"])).to_pylist() == ["a", "b"]
    assert trimmed_text(pa.chunked_array([["a "], [" b"]])).to_pylist() == ["a", "b"]


def _reference_number(value: str | None) -> tuple[float, int]:
    """One value, the slow obvious way (decimal mark decided per value)."""
    import math
    import re

    from geo_integration.coords import MISSING, NON_FINITE, NOT_A_NUMBER, OK

    text = (value or "").strip()
    if not text:
        return math.nan, MISSING
    if "," in text and "." in text:
        comma_last = text.rfind(",") > text.rfind(".")
        text = text.replace(".", "").replace(",", ".") if comma_last else text.replace(",", "")
    elif "," in text:
        text = text.replace(",", ".")
    if re.fullmatch(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?", text):
        number = float(text)
        return (number, OK) if math.isfinite(number) else (math.nan, NON_FINITE)
    if re.fullmatch(r"(?i)[+-]?(nan|inf|infinity)", text):
        return math.nan, NON_FINITE
    return math.nan, NOT_A_NUMBER


def _check_against_reference(values: list[str | None]) -> None:
    numbers, status = parse_numbers(values)
    expected = [_reference_number(v) for v in values]
    assert status.tolist() == [s for _n, s in expected]
    ok = status == 0
    assert np.allclose(numbers[ok], [n for (n, s) in expected if s == 0])
    assert np.isnan(numbers[~ok]).all()


@pytest.mark.parametrize("seed", [1, 2])
def test_parse_numbers_matches_a_per_value_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    pieces = ["4", "6", "1", "0", ".", ",", "-", "+", "e", "E", "N", "nan", "inf", " ", "x", "9"]
    values: list[str | None] = [
        "".join(rng.choice(pieces, rng.integers(0, 7))) for _ in range(2000)
    ]
    values += ["4,61", "-74,08", "1.004.567,5", "1,004,567.5", "1e999", "-Infinity", "4.6.1"]
    values += [None, "", "   "]
    _check_against_reference(values)  # malformed numbers ("4.6.1"): the regular-expression path
    numbers = [f"{x:.6f}" for x in rng.uniform(-80, 80, 500)]
    words = ["sin dato", "nan", "-inf", "N/A", "4.6N", "", None, "1e999", "4,61", "1.004.567,5"]
    _check_against_reference([*numbers, *words])  # words only: cast what looks like a number
    _check_against_reference([*numbers, "1e999", "4,61", None])  # numbers only: one cast
