"""Coordinates of drop records: number parsing, CRS detection, swapped axes (a kernel).

Drops give coordinates as text in two columns (``latitud``/``longitud``, ``y``/``x``), in
WGS84 or MAGNA-SIRGAS (geographic EPSG:4686, Bogotá zone EPSG:3116, Origen Nacional
EPSG:9377), with a decimal point or a decimal comma. This module

- parses the text to numbers, vectorised, with a status per value (:func:`parse_numbers`);
- decides the CRS and axis order of a file from its values (:func:`detect_crs`): each
  candidate CRS and both axis orders are tried on a sample, and the one that puts most points
  in Bogotá wins, so projected coordinates typed into ``lat``/``lon`` columns and swapped
  columns are both recognised;
- converts to WGS84 longitude/latitude and swaps back the individual rows whose axes are
  exchanged (:func:`to_wgs84`);
- tells which points lie within the Bogotá region (:func:`in_region`).

Everything works on whole arrays; nothing is decided row by row in Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from geo_integration.errors import AnalysisError
from geo_integration.geo import BOGOTA_BBOX, WGS84

__all__ = [
    "CANDIDATE_CRS",
    "MISSING",
    "NON_FINITE",
    "NOT_A_NUMBER",
    "OK",
    "REGION_BBOX",
    "CrsGuess",
    "detect_crs",
    "in_region",
    "parse_numbers",
    "to_wgs84",
    "trimmed_text",
]

#: Status codes of :func:`parse_numbers`.
OK, MISSING, NOT_A_NUMBER, NON_FINITE = 0, 1, 2, 3

#: Margin (degrees, about 25 km) around the district within which points are kept (and
#: flagged when outside the localities); farther points are quarantined.
REGION_MARGIN_DEG = 0.23
#: (min_lon, min_lat, max_lon, max_lat) of the Bogotá region.
REGION_BBOX: tuple[float, float, float, float] = (
    BOGOTA_BBOX[0] - REGION_MARGIN_DEG,
    BOGOTA_BBOX[1] - REGION_MARGIN_DEG,
    BOGOTA_BBOX[2] + REGION_MARGIN_DEG,
    BOGOTA_BBOX[3] + REGION_MARGIN_DEG,
)
#: CRS tried when a file does not declare one (EPSG:4686 is not distinguishable from WGS84
#: by its values and differs from it by less than a metre).
CANDIDATE_CRS: tuple[str, ...] = (WGS84, "EPSG:3116", "EPSG:9377")
_GEOGRAPHIC = {WGS84, "EPSG:4686", "OGC:CRS84"}
_SAMPLE = 20_000

_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
_NON_FINITE = r"(?i)^[+-]?(nan|inf|infinity)$"

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def _as_text(values: Any) -> pa.Array | pa.ChunkedArray:
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return values if pa.types.is_string(values.type) else pc.cast(values, pa.string())
    return pa.array(
        [None if v is None or v != v else str(v) for v in values],
        type=pa.string(),
    )


# First and last bytes of white space (ASCII, and UTF-8 lead/last bytes of Unicode spaces).
_ASCII_SPACE = bytes([*range(0x09, 0x0E), *range(0x1C, 0x21)])
_FIRST_SPACE = _ASCII_SPACE + bytes([0xC2, 0xE1, 0xE2, 0xE3])
_LAST_SPACE = _ASCII_SPACE + bytes(range(0x80, 0xC0))


def trimmed_text(text: Any) -> pa.Array:
    """Text (a pyarrow string array) trimmed of white space, with empty values as nulls.

    The trim is skipped when no value begins or ends with a byte of white space.
    """
    from geo_integration.textscan import Utf8Bytes

    text = text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text
    if pa.types.is_large_string(text.type):
        text = text.cast(pa.string())
    scan = Utf8Bytes(text)
    if scan.first(_FIRST_SPACE).any() or scan.last(_LAST_SPACE).any():
        text = pc.utf8_trim_whitespace(text)
        scan = Utf8Bytes(text)
    empty = scan.valid & (scan.lengths == 0)
    if empty.any():
        text = pc.if_else(pa.array(empty), pa.scalar(None, pa.string()), text)
    return text


def _normalise_decimal(text: Any, decimal: str | None) -> Any:
    from geo_integration.textscan import Utf8Bytes

    if decimal == ",":
        return pc.replace_substring(pc.replace_substring(text, ".", ""), ",", ".")
    if decimal == ".":
        return text
    scan = Utf8Bytes(text)
    has_comma = scan.holds(b",")
    if not has_comma.any():
        return text
    has_dot = scan.holds(b".")
    # "4,61": a decimal comma (values with more commas and no dot do not parse either way)
    commas = pc.if_else(pa.array(has_comma & ~has_dot), pc.replace_substring(text, ",", "."), text)
    both = has_comma & has_dot
    if not both.any():
        return commas
    # both: the last of the two is the decimal mark ("1.004.567,8" and "1,004,567.8")
    rev = pc.utf8_reverse(text)
    comma_is_decimal = pc.less(pc.find_substring(rev, ","), pc.find_substring(rev, "."))
    european = pc.replace_substring(pc.replace_substring(text, ".", ""), ",", ".")
    english = pc.replace_substring(text, ",", "")
    return pc.if_else(pa.array(both), pc.if_else(comma_is_decimal, european, english), commas)


def parse_numbers(
    values: Any, *, decimal: str | None = None
) -> tuple[FloatArray, npt.NDArray[np.int8]]:
    """Parse text to numbers, with a status per value.

    Parameters
    ----------
    values
        Text (a pyarrow string array, or any sequence; ``None``/NaN are missing).
    decimal
        ``"."``: decimal point only; ``","``: decimal comma (dots are thousands separators);
        ``None``: decided per value (``"4,61"`` and ``"1.004.567,8"`` use a comma,
        ``"4.61"`` and ``"1,004,567.8"`` a point).

    Returns
    -------
    (values, status)
        float64 values (NaN unless status is :data:`OK`) and int8 status:
        :data:`OK`, :data:`MISSING` (empty), :data:`NOT_A_NUMBER`, :data:`NON_FINITE`
        (NaN, inf, or a number too large for float64).

    Examples
    --------
    >>> v, s = parse_numbers(["4,61", " -74.1 ", "", "abc", "inf", "1.004.567,5"])
    >>> v[:2].tolist(), s.tolist(), float(v[5])
    ([4.61, -74.1], [0, 0, 1, 2, 3, 0], 1004567.5)
    """
    text = trimmed_text(_as_text(values))
    missing = pc.is_null(text)
    text = _normalise_decimal(text, decimal)
    fast = _fast_parse(text, missing)
    if fast is None:
        fast = _parse_some(text, missing)
    if fast is not None:
        return fast
    is_number = pc.fill_null(pc.match_substring_regex(text, _NUMBER), False)
    numbers = pc.cast(pc.if_else(is_number, text, pa.scalar(None, pa.string())), pa.float64())
    out = np.array(pc.fill_null(numbers, np.nan).to_numpy(zero_copy_only=False), dtype=float)
    status = np.full(len(out), NOT_A_NUMBER, dtype=np.int8)
    status[np.asarray(is_number.to_numpy(zero_copy_only=False), dtype=bool)] = OK
    status[~np.isfinite(out) & (status == OK)] = NON_FINITE
    non_finite = pc.fill_null(pc.match_substring_regex(text, _NON_FINITE), False)
    status[np.asarray(non_finite.to_numpy(zero_copy_only=False), dtype=bool)] = NON_FINITE
    status[np.asarray(missing.to_numpy(zero_copy_only=False), dtype=bool)] = MISSING
    out[status != OK] = np.nan
    return out, status


# every byte but the digits, signs, decimal point and exponent: a value holding one is no number
_NOT_NUMERIC = bytes(b for b in range(256) if b not in b"0123456789+-.eE")


def _parse_some(text: Any, missing: Any) -> tuple[FloatArray, npt.NDArray[np.int8]] | None:
    """Cast the values made only of number characters; the others are not numbers (or NaN
    and infinities, spelled out). ``None`` when the cast still fails ("1.2.3")."""
    from geo_integration.textscan import Utf8Bytes

    odd = Utf8Bytes(text).holds(_NOT_NUMERIC)
    mask = pa.array(odd)
    parsed = _fast_parse(pc.if_else(mask, pa.scalar(None, pa.string()), text), missing)
    if parsed is None:
        return None
    out, status = parsed
    where = np.nonzero(odd)[0]
    spelled = pc.match_substring_regex(text.take(pa.array(where)), _NON_FINITE)
    spelled_np = np.asarray(pc.fill_null(spelled, False).to_numpy(zero_copy_only=False), bool)
    status[where] = np.where(spelled_np, NON_FINITE, NOT_A_NUMBER)
    return out, status


def _fast_parse(text: Any, missing: Any) -> tuple[FloatArray, npt.NDArray[np.int8]] | None:
    """Cast straight to float64 when every value is a plain number (the usual case)."""
    try:
        numbers = pc.cast(text, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    out = np.array(pc.fill_null(numbers, np.nan).to_numpy(zero_copy_only=False), dtype=float)
    status = np.where(np.isfinite(out), OK, NON_FINITE).astype(np.int8)
    status[np.asarray(missing.to_numpy(zero_copy_only=False), dtype=bool)] = MISSING
    out[status != OK] = np.nan
    return out, status


def in_region(
    lon: FloatArray,
    lat: FloatArray,
    *,
    bbox: tuple[float, float, float, float] = REGION_BBOX,
) -> BoolArray:
    """Return True where (lon, lat) lies within ``bbox`` (NaN gives False)."""
    with np.errstate(invalid="ignore"):
        return (lon >= bbox[0]) & (lon <= bbox[2]) & (lat >= bbox[1]) & (lat <= bbox[3])


@lru_cache(maxsize=8)
def _transformer(crs: str) -> Any:
    from pyproj import Transformer

    return Transformer.from_crs(crs, WGS84, always_xy=True)


def _project(x: FloatArray, y: FloatArray, crs: str) -> tuple[FloatArray, FloatArray]:
    """(x, y) in ``crs`` (x = easting/longitude) to WGS84 (lon, lat)."""
    if crs == WGS84 or crs == "OGC:CRS84":
        return x, y
    lon, lat = _transformer(crs).transform(x, y, errcheck=False)
    return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)


def _plausible(crs: str, x: FloatArray, y: FloatArray) -> bool:
    big = np.nanmedian(np.abs(np.concatenate([x, y]))) > 1000
    return big != (crs in _GEOGRAPHIC)


@dataclass(frozen=True)
class CrsGuess:
    """The CRS and axis order chosen for a file.

    Attributes
    ----------
    crs
        e.g. ``"EPSG:4326"``.
    swapped
        True when the column named latitude/y holds longitude/easting (the whole file).
    share_in_region
        Share of the sampled points that fall in the Bogotá region with this choice.
    source
        ``"declared"`` (drop.toml or the file's own CRS) or ``"detected"``.
    """

    crs: str
    swapped: bool
    share_in_region: float
    source: str


def _score(a: FloatArray, b: FloatArray, crs: str, swapped: bool) -> float:
    x, y = (a, b) if swapped else (b, a)
    lon, lat = _project(x, y, crs)
    return float(in_region(lon, lat).mean()) if len(lon) else 0.0


def detect_crs(
    a: FloatArray,
    b: FloatArray,
    *,
    declared: str | None = None,
    trust_declared: bool = True,
) -> CrsGuess:
    """Choose the CRS and axis order of a file's coordinates.

    Parameters
    ----------
    a, b
        Values of the latitude/northing column and of the longitude/easting column (NaN where
        missing); only finite pairs are used, at most 20,000 of them.
    declared
        CRS declared by drop.toml or by the file.
    trust_declared
        When False (a CRS that a format assumes by default, like GeoJSON's WGS84), the
        declared CRS is replaced by a detected one that places more points in Bogotá.
    """
    ok = np.isfinite(a) & np.isfinite(b)
    sa, sb = a[ok][:_SAMPLE], b[ok][:_SAMPLE]
    if declared is not None:
        best = max(
            (CrsGuess(declared, s, _score(sa, sb, declared, s), "declared") for s in (False, True)),
            key=lambda g: g.share_in_region,
        )
        if trust_declared or best.share_in_region >= 0.5 or not len(sa):
            return best
    else:
        best = CrsGuess(WGS84, False, 0.0, "detected")
    for crs in CANDIDATE_CRS:
        if not len(sa) or not _plausible(crs, sb, sa):
            continue
        for swapped in (False, True):
            score = _score(sa, sb, crs, swapped)
            if score > best.share_in_region:
                best = CrsGuess(crs, swapped, score, "detected")
    return best


def to_wgs84(
    a: FloatArray, b: FloatArray, guess: CrsGuess
) -> tuple[FloatArray, FloatArray, BoolArray]:
    """Convert a file's coordinates to WGS84 with the chosen CRS and axis order.

    Rows that fall outside the Bogotá region as given but inside it with their two values
    exchanged are swapped back.

    Returns
    -------
    (lon, lat, swapped_rows)
        Longitude and latitude (NaN where an input is not finite) and the rows swapped back.
    """
    if a.shape != b.shape:
        msg = f"coordinate arrays differ in shape: {a.shape!r} vs {b.shape!r}"
        raise AnalysisError(msg)
    x, y = (a, b) if guess.swapped else (b, a)
    lon, lat = _project(x, y, guess.crs)
    ok = np.isfinite(a) & np.isfinite(b)
    outside = ok & ~in_region(lon, lat)
    swapped = np.zeros(len(a), dtype=bool)
    if outside.any():
        idx = np.nonzero(outside)[0]
        alt_lon, alt_lat = _project(y[idx], x[idx], guess.crs)
        fix = in_region(alt_lon, alt_lat)
        lon, lat = lon.copy(), lat.copy()
        lon[idx[fix]], lat[idx[fix]] = alt_lon[fix], alt_lat[fix]
        swapped[idx[fix]] = True
    lon = np.where(ok, lon, np.nan)
    lat = np.where(ok, lat, np.nan)
    return lon, lat, swapped
