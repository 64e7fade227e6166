"""The geocoding index: the city's address points and streets arranged for fast matching.

:func:`build_index` (a kernel) takes the official address points, the street centrelines,
the localities and UPZ (and optionally the SITP stops, for avenue names) and returns a
:class:`GeocodeIndex`, in projected metres (EPSG:9377):

- ``labels``: every canonical label of the address points and its position (level *exact*);
- ``faces``: per block face (street + cross street), the house numbers known on it, sorted,
  with their positions (level *interpolated*);
- ``corners``: per block face, the corner of the street and the cross street (from the
  centreline junctions, else extrapolated from the face's points to house number 0) and the
  direction in which house numbers grow (level *intersection*);
- ``gaps``: per street, where its block faces meet: between the last point of one face
  and the first point of the next one along the street (the corner of the next face's
  cross street lies there, and so do the cross streets numbered in between) (level
  *intersection* when the gap is short);
- ``street_corners``: the corners of each street sorted by cross-street number, and
  ``grid``: every corner in address space (calle number, carrera number) (level *grid*);
- ``areas``: centroids of localities and UPZ by name (level *area*);
- ``avenues``: the avenue table, name -> numbered streets, voted from the data, and
  ``avenue_xy``: the vertices of the centrelines that carry each avenue's name
  (``avenue_shapes`` maps an avenue table key to its ``avenue_id``).

:func:`load_index` (I/O) builds it from the data directory once and caches it on disk,
keyed by the input files' sizes and modification times and :data:`INDEX_VERSION`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from geo_integration.address import (
    AVENUE_ALIASES,
    CALLE_LIKE,
    CARRERA_LIKE,
    avenue_key,
    family_type,
)
from geo_integration.errors import GeocodeError
from geo_integration.geocode_places import (
    build_locality_grid,
    corner_alternates,
    label_alternates,
)

__all__ = [
    "INDEX_VERSION",
    "GeocodeIndex",
    "build_avenue_table",
    "build_index",
    "code_value",
    "default_cache_dir",
    "load_index",
]

log = logging.getLogger(__name__)

#: Bump when the index layout or its construction changes (invalidates caches on disk).
INDEX_VERSION = "22"
CACHE_ENV_VAR = "GEO_INTEGRATION_CACHE"

FloatArray = npt.NDArray[np.float64]

_STREET = r"(CL|KR|AC|AK|DG|TV) (\d{1,3})([A-Z]{0,2}?)(?:(BIS)([A-Z]?))?(?: ([SE]))?"
_LABEL_RE = (
    rf"^{_STREET}, (\d{{1,3}})([A-Z]{{0,2}}?)(?: ?(BIS) ?([A-Z]?))?[ -](\d{{1,3}}) ?([SE])?$"
)
_CODE = re.compile(r"^(\d{1,3})([A-Z]{0,2}?)(?:(BIS)([A-Z]?))?(?: ([SE]))?$")
#: Offset of the interpolation key: face id * _FACE_STRIDE + house number.
_FACE_STRIDE = 1000
#: Offset of the along-street key: street id * _STREET_STRIDE + cross value + 1000.
_STREET_STRIDE = 4000.0
#: Longest gap between consecutive block faces of a street that places a corner (metres).
GAP_MAX_M = 100.0


@dataclass
class GeocodeIndex:
    """Everything the matcher needs, in metres (EPSG:9377). See the module docstring."""

    labels: pd.Index
    label_xy: FloatArray
    label_spread: FloatArray
    faces: pd.Index
    face_house_key: npt.NDArray[np.int64]
    face_house_xy: FloatArray
    corners: pd.Index
    corner_xy: FloatArray
    corner_dir: FloatArray
    corner_from_streets: npt.NDArray[np.bool_]
    streets: pd.Index
    street_corner_key: FloatArray
    street_corner_xy: FloatArray
    grid_uv: FloatArray
    grid_xy: FloatArray
    areas: pd.DataFrame
    avenues: dict[str, list[str]]
    avenue_xy: FloatArray = field(default_factory=lambda: np.empty((0, 2)))
    avenue_id: npt.NDArray[np.int64] = field(default_factory=lambda: np.empty(0, np.int64))
    avenue_shapes: dict[str, int] = field(default_factory=dict)
    gap_key: FloatArray = field(default_factory=lambda: np.empty(0))
    gap_next: FloatArray = field(default_factory=lambda: np.empty(0))
    gap_xy: FloatArray = field(default_factory=lambda: np.empty((0, 6)))
    alt_key: pd.Index = field(default_factory=lambda: pd.Index([], dtype=object))
    alt_xy: FloatArray = field(default_factory=lambda: np.empty((0, 2)))
    loc_grid: npt.NDArray[np.uint32] = field(default_factory=lambda: np.empty((0, 0), np.uint32))
    loc_origin: FloatArray = field(default_factory=lambda: np.zeros(3))
    fingerprint: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, int]:
        """Counts of each part (for logs and reports)."""
        return {
            "labels": len(self.labels),
            "faces": len(self.faces),
            "corners": len(self.corners),
            "streets": len(self.streets),
            "grid_corners": len(self.grid_uv),
            "gaps": len(self.gap_key),
            "alternates": len(self.alt_key),
            "areas": len(self.areas),
            "avenues": len(self.avenues),
        }


# ---------------------------------------------------------------------------------------------
# codes and values


def _rank_table() -> dict[str, float]:
    letters = [chr(c) for c in range(65, 91)]
    table = {"": 0.0}
    for a in letters:
        table[a] = float(ord(a) - 64)
        for b in letters:
            table[a + b] = ord(a) - 64 + (ord(b) - 64) / 27
    return table


_RANKS = _rank_table()


def code_value(
    number: int | str, letters: str, bis: bool | str, bis_letter: str, card: str
) -> float:
    """Position of a street number in address space (monotone along the city grid).

    ``45`` -> 45, ``45A`` -> 45.04, ``45ABIS`` -> 45.05; Sur and Este numbers count the other
    way from 1 (``1 Sur`` -> 0, ``2 Sur`` -> -1).
    """
    frac = _RANKS.get(letters, 0.0) + (0.5 if bis else 0.0) + _RANKS.get(bis_letter, 0.0) / 27
    value = int(number) + frac / 28.0
    return 1.0 - value if card in ("S", "E") else value


_value = code_value


def _code_text(number: str, letters: str, bis: str, bis_letter: str) -> str:
    return f"{int(number)}{letters}{'BIS' if bis else ''}{bis_letter}"


_STREET_ONLY = re.compile(rf"^{_STREET}$")
_NAMED_LABEL_RE = (
    r"^(?P<t>CL|KR|AC|AK|DG|TV) (?P<n>\d{1,3})(?P<l>[A-Z]{0,2}?)(?:(?P<b>BIS)(?P<bl>[A-Z]?))?"
    r"(?: (?P<sc>[SE]))?, (?P<cn>\d{1,3})(?P<cl>[A-Z]{0,2}?)(?: ?(?P<cb>BIS) ?(?P<cbl>[A-Z]?))?"
    r"[ -](?P<h>\d{1,3}) ?(?P<tc>[SE])?$"
)


def _arrow_value(p: Any, prefix: str, card: Any) -> FloatArray:
    """Vectorised :func:`code_value` on the extracted groups ``{prefix}n``, ``l``, ``b``, ``bl``."""
    import pyarrow.compute as pc

    names = list(_RANKS)
    ranks = np.array([_RANKS[k] for k in names])

    def rank(col: Any) -> FloatArray:
        idx = pc.index_in(col, value_set=_arrow_strings(names)).to_numpy(zero_copy_only=False)
        idx = np.nan_to_num(idx.astype(float), nan=0.0).astype(int)
        return np.asarray(ranks[idx], dtype=np.float64)

    number = pc.cast(p.field(f"{prefix}n"), "int32").to_numpy().astype(float)
    bis = pc.not_equal(p.field(f"{prefix}b"), "").to_numpy(zero_copy_only=False)
    frac = rank(p.field(f"{prefix}l")) + 0.5 * bis + rank(p.field(f"{prefix}bl")) / 27
    value = number + frac / 28.0
    sur_este = np.asarray(card != "", dtype=bool)
    return np.where(sur_este, 1.0 - value, value)


def _arrow_strings(values: list[str]) -> Any:
    import pyarrow as pa

    return pa.array(values, type=pa.string())


def parse_official(labels: pd.Series) -> pd.DataFrame:
    """Parse official labels (``"KR 14Q, 74 43 S"``) into canonical components (vectorised).

    Returns a frame aligned to ``labels`` with ``ok`` and, where ok: ``label`` (canonical,
    hyphen and cardinal placement normalised as by :func:`geo_integration.address.parse_address`),
    ``street`` (family key ``"CL 42 S"``), ``cross`` (``"15 E"``), ``house``, ``face``
    (``"CL 42 S|15 E"``), ``street_value``/``cross_value`` (address space) and ``calle``.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array(labels.astype(object).where(labels.notna(), ""), type=pa.string())
    extracted = pc.extract_regex(arr, _NAMED_LABEL_RE)
    ok = extracted.is_valid().to_numpy(zero_copy_only=False)
    p = extracted.filter(extracted.is_valid())
    t = p.field("t")
    calle_mask = pc.is_in(t, value_set=_arrow_strings(sorted(CALLE_LIKE)))
    cards = pc.binary_join_element_wise(p.field("sc"), p.field("tc"), "")
    has_s = pc.match_substring(cards, "S")
    has_e = pc.match_substring(cards, "E")
    not_calle = pc.invert(calle_mask)
    s_card = pc.if_else(
        pc.and_(calle_mask, has_s), "S", pc.if_else(pc.and_(not_calle, has_e), "E", "")
    )
    c_card = pc.if_else(
        pc.and_(calle_mask, has_e), "E", pc.if_else(pc.and_(not_calle, has_s), "S", "")
    )

    def code(prefix: str) -> Any:
        number = pc.cast(pc.cast(p.field(f"{prefix}n"), "int32"), "string")
        bis = pc.if_else(pc.not_equal(p.field(f"{prefix}b"), ""), "BIS", "")
        return pc.binary_join_element_wise(
            number, p.field(f"{prefix}l"), bis, p.field(f"{prefix}bl"), ""
        )

    def tail(card: Any) -> Any:
        return pc.if_else(pc.equal(card, ""), "", pc.binary_join_element_wise(" ", card, ""))

    s_code, c_code = code(""), code("c")
    s_tail, c_tail = tail(s_card), tail(c_card)
    house_num = pc.cast(p.field("h"), "int32")
    house = pc.utf8_lpad(pc.cast(house_num, "string"), 2, "0")
    fam = pc.if_else(pc.equal(t, "AC"), "CL", pc.if_else(pc.equal(t, "AK"), "KR", t))
    join = pc.binary_join_element_wise
    street = join(fam, " ", s_code, s_tail, "")
    cross = join(c_code, c_tail, "")

    def text(values: Any) -> Any:
        return pd.array(values, dtype="str")  # Arrow-backed, no copy through Python objects

    table = pd.DataFrame(
        {
            "label": text(join(t, " ", s_code, s_tail, ", ", c_code, " ", house, c_tail, "")),
            "street": text(street),
            "cross": text(cross),
            "house": house_num.to_numpy(),
            "face": text(join(street, "|", cross, "")),
            "street_value": _arrow_value(p, "", s_card.to_numpy(zero_copy_only=False)),
            "cross_value": _arrow_value(p, "c", c_card.to_numpy(zero_copy_only=False)),
            "calle": calle_mask.to_numpy(zero_copy_only=False),
        },
        index=labels.index[ok],
    )
    out = table.reindex(labels.index)
    out.insert(0, "ok", ok)
    return out


def parse_street_labels(labels: pd.Series) -> pd.DataFrame:
    """Parse centreline labels (``"CL 63BIS S"``) into family key, cross key and value."""
    positions, uniques = pd.factorize(np.asarray(labels, dtype=object))
    rows: list[tuple[Any, ...]] = []
    for text in uniques:
        m = _STREET_ONLY.match(text) if isinstance(text, str) else None
        if m is None:
            rows.append((False, None, None, None, None, np.nan, False, False))
            continue
        t, n, lt, b, bl, c = (g or "" for g in m.groups())
        code = _code_text(n, lt, b, bl)
        tail = f" {c}" if c else ""
        rows.append(
            (
                True,
                t,
                f"{family_type(t)} {code}{tail}",
                f"{t} {code}{tail}",
                f"{code}{tail}",
                _value(n, lt, b, bl, c),
                t in CALLE_LIKE,
                t in CARRERA_LIKE,
            )
        )
    rows.append((False, None, None, None, None, np.nan, False, False))  # missing values
    columns = ["ok", "type", "street", "label", "cross", "value", "calle", "carrera"]
    table = pd.DataFrame.from_records(rows, columns=columns)
    out = table.iloc[positions].reset_index(drop=True)
    out.index = labels.index
    return out


def cross_values(codes: pd.Series) -> FloatArray:
    """Address-space value of cross keys such as ``"15 E"`` or ``"74"`` (NaN if unreadable)."""
    positions, uniques = pd.factorize(np.asarray(codes, dtype=object))
    values = np.full(len(uniques) + 1, np.nan)  # the last one for missing values (-1)
    for i, text in enumerate(uniques):
        m = _CODE.match(text) if isinstance(text, str) else None
        if m is not None:
            values[i] = _value(*(g or "" for g in m.groups()))
    return values[positions]


# ---------------------------------------------------------------------------------------------
# building


def _unit(vectors: FloatArray) -> FloatArray:
    norm = np.hypot(vectors[:, 0], vectors[:, 1])
    with np.errstate(invalid="ignore", divide="ignore"):
        out = vectors / norm[:, None]
    out[~np.isfinite(out)] = np.nan
    return out


def _group_mean(codes: npt.NDArray[np.intp], xy: FloatArray, n: int) -> FloatArray:
    count = np.bincount(codes, minlength=n).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.column_stack(
            [np.bincount(codes, xy[:, k], minlength=n) / count for k in range(xy.shape[1])]
        )


def _street_medians(streets: npt.NDArray[np.object_], xy: FloatArray) -> pd.DataFrame:
    """Median position of each street's points: where the bulk of the street lies."""
    frame = pd.DataFrame({"street": streets, "x": xy[:, 0], "y": xy[:, 1]})
    return frame.groupby("street")[["x", "y"]].median()


def _label_table(
    parsed: pd.DataFrame, xy: FloatArray, medians: pd.DataFrame
) -> tuple[pd.DataFrame, Any]:
    """Position and spread of each canonical label.

    A label with several points (the same address in two places, or a typo in the source)
    takes the point nearest the bulk of its street; ``spread`` is the largest distance from
    it to the label's other points. Returns the table (indexed by label) and the label code
    of each point.
    """
    codes, uniques = pd.factorize(parsed["label"].to_numpy())
    med = medians.reindex(parsed["street"].to_numpy()).to_numpy(float)
    dist = np.hypot(*(xy - med).T)
    order = np.lexsort((dist, codes))
    first = order[np.r_[True, codes[order][1:] != codes[order][:-1]]]
    chosen = np.empty((len(uniques), 2))
    chosen[codes[first]] = xy[first]
    gap = np.hypot(*(xy - chosen[codes]).T)
    spread = np.zeros(len(uniques))
    np.maximum.at(spread, codes, gap)
    table = pd.DataFrame(
        {"x": chosen[:, 0], "y": chosen[:, 1], "spread": spread}, index=pd.Index(uniques)
    )
    return table, codes


def _face_points(parsed: pd.DataFrame, labels: pd.DataFrame, codes: Any) -> pd.DataFrame:
    """One row per (face, house): mean position of its well-placed labels."""
    _, first = np.unique(codes, return_index=True)
    rows = parsed.iloc[first][
        ["face", "house", "street", "cross", "calle", "street_value", "cross_value"]
    ].reset_index(drop=True)
    rows["x"], rows["y"] = labels["x"].to_numpy(), labels["y"].to_numpy()
    key = rows["face"].astype(str) + "#" + rows["house"].astype(int).astype(str)
    kcodes, kuniq = pd.factorize(key.to_numpy())
    keep = np.unique(kcodes, return_index=True)[1]
    mean = _group_mean(kcodes, rows[["x", "y"]].to_numpy(float), len(kuniq))
    out = rows.iloc[keep].reset_index(drop=True)
    out[["x", "y"]] = mean[kcodes[keep]]
    out["house"] = out["house"].astype(int)
    return out


def _fit_faces(points: pd.DataFrame) -> pd.DataFrame:
    """Per face, least squares of position on house number: corner (h=0) and direction.

    Only the points near the face's most central point are used (a face whose label is
    repeated elsewhere, a rural town or a typo, keeps one place). Odd and even numbers lie
    on opposite sides of the street and are fitted apart: the corner is the mean of the two
    sides (the centreline, however wide the street), else the one side that fits, else a
    fit of both sides together. In each fit, points farther than 25 m from a first fit are
    dropped before the second one.
    """
    codes, faces = pd.factorize(points["face"].to_numpy())
    n = len(faces)
    h = points["house"].to_numpy(float)
    xy = points[["x", "y"]].to_numpy(float)
    keep = _one_place(codes, h, xy, n)
    whole, whole_ok, _ = _fit_valid(codes, h, xy, keep, n, min_range=8)
    sides, sides_ok, count = _fit_valid(codes * 2 + h.astype(int) % 2, h, xy, keep, 2 * n, 6)
    even, odd = sides[0::2], sides[1::2]
    even_ok, odd_ok = sides_ok[0::2], sides_ok[1::2]
    both = even_ok & odd_ok
    apart = np.hypot(even[:, 0] - odd[:, 0], even[:, 1] - odd[:, 1])
    mean = both & (apart <= 100.0)
    pick_even = even_ok & ~(both & (count[1::2] > count[0::2]))
    fit = np.where(pick_even[:, None], even, odd)
    fit = np.where(mean[:, None], (even + odd) / 2, fit)
    fit = np.where((whole_ok & ~both)[:, None], whole, fit)
    return pd.DataFrame(
        {
            "ax": fit[:, 0],
            "ay": fit[:, 1],
            "bx": fit[:, 2],
            "by": fit[:, 3],
            "valid": whole_ok | even_ok | odd_ok,
        },
        index=pd.Index(faces),
    )


def _one_place(
    codes: npt.NDArray[np.intp], h: FloatArray, xy: FloatArray, n: int
) -> npt.NDArray[np.bool_]:
    """Points of each group near its seed (the point nearest the group's median position),
    within 150 m plus 1.5 m per house number of difference."""
    frame = pd.DataFrame({"c": codes, "x": xy[:, 0], "y": xy[:, 1]})
    median = frame.groupby("c")[["x", "y"]].median().reindex(range(n)).to_numpy()
    dist = np.hypot(*(xy - median[codes]).T)
    order = np.lexsort((dist, codes))
    first = order[np.r_[True, codes[order][1:] != codes[order][:-1]]]
    seed = np.zeros(n, dtype=np.intp)
    seed[codes[first]] = first
    s = seed[codes]
    return np.asarray(np.hypot(*(xy - xy[s]).T) <= 150.0 + 1.5 * np.abs(h - h[s]), dtype=bool)


def _fit_valid(
    codes: npt.NDArray[np.intp],
    h: FloatArray,
    xy: FloatArray,
    keep: npt.NDArray[np.bool_],
    n: int,
    min_range: float,
) -> tuple[FloatArray, npt.NDArray[np.bool_], npt.NDArray[np.int64]]:
    """Two-pass fit per group; valid with 2+ points over ``min_range`` house numbers and a
    slope of 0.4-2.5 m per number. Returns the fit, its validity and the points kept."""
    fit = _regress(codes, h, xy, keep, n)
    pred = fit[codes, 0:2] + h[:, None] * fit[codes, 2:4]
    keep = keep & ~(np.hypot(*(xy - pred).T) > 25.0)
    fit = _regress(codes, h, xy, keep, n)
    count = np.bincount(codes[keep], minlength=n)
    hmin = np.full(n, np.inf)
    hmax = np.full(n, -np.inf)
    np.minimum.at(hmin, codes[keep], h[keep])
    np.maximum.at(hmax, codes[keep], h[keep])
    slope = np.hypot(fit[:, 2], fit[:, 3])
    valid = (count >= 2) & (hmax - hmin >= min_range) & (slope >= 0.4) & (slope <= 2.5)
    return fit, valid, count


def _regress(
    codes: Any, h: FloatArray, xy: FloatArray, keep: npt.NDArray[np.bool_], n: int
) -> FloatArray:
    c, hk, xk, yk = codes[keep], h[keep], xy[keep, 0], xy[keep, 1]
    cnt = np.bincount(c, minlength=n).astype(float)

    def mean(values: FloatArray) -> FloatArray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.bincount(c, values, minlength=n) / cnt

    mh, mx, my = mean(hk), mean(xk), mean(yk)
    var = mean(hk * hk) - mh * mh
    with np.errstate(invalid="ignore", divide="ignore"):
        bx = (mean(hk * xk) - mh * mx) / var
        by = (mean(hk * yk) - mh * my) / var
    return np.column_stack([mx - bx * mh, my - by * mh, bx, by])


#: Address points within this distance of an unlabelled centreline vote for its label.
VOTE_RADIUS_M = 20.0


def vote_street_labels(
    streets: Any,
    point_streets: npt.NDArray[np.object_],
    xy: FloatArray,
    to_metric: Any,
    *,
    radius: float = VOTE_RADIUS_M,
    min_votes: int = 3,
    share: float = 0.6,
) -> pd.Series:
    """Labels of the centrelines, those without one taken from the address points along
    them.

    Each unlabelled segment is sampled at 30, 50 and 70 % of its length (away from the
    corners, where the cross street's points lie); the (up to 8) address points within
    ``radius`` of each sample vote for their street (``"CL 72F S"``). A segment takes the
    street with at least ``min_votes`` votes and ``share`` of them (the rule that named the
    approximated centrelines of the data).

    Parameters
    ----------
    streets
        Centrelines with ``etiqueta`` (EPSG:4326).
    point_streets, xy
        Street key and position (metres) of each address point.
    to_metric
        ``f(lon, lat) -> (x, y)``.

    Returns
    -------
    Series
        ``etiqueta`` aligned to ``streets``, with the voted labels filled in.
    """
    import shapely
    from scipy.spatial import cKDTree

    out = streets["etiqueta"].astype(object).where(streets["etiqueta"].notna(), None)
    todo = np.flatnonzero(~parse_street_labels(streets["etiqueta"])["ok"].to_numpy())
    if len(todo) == 0 or len(xy) == 0:
        return out
    seg = shapely.transform(
        streets.geometry.to_numpy()[todo],
        lambda c: np.column_stack(to_metric(c[:, 0], c[:, 1])),
    )
    samples = np.concatenate(
        [
            shapely.get_coordinates(shapely.line_interpolate_point(seg, f, normalized=True))
            for f in (0.3, 0.5, 0.7)
        ]
    )
    dist, near = cKDTree(xy).query(samples, k=8, distance_upper_bound=radius)
    hit = np.isfinite(dist)
    votes = pd.DataFrame(
        {
            "seg": np.broadcast_to(np.tile(np.arange(len(seg)), 3)[:, None], hit.shape)[hit],
            "street": point_streets[near[hit]],
        }
    )
    tally = votes.groupby(["seg", "street"]).size().rename("n").reset_index()
    total = tally.groupby("seg")["n"].transform("sum")
    best = tally[(tally["n"] >= min_votes) & (tally["n"] >= share * total)]
    best = best.sort_values("n", ascending=False).drop_duplicates("seg")
    out.iloc[todo[best["seg"].to_numpy()]] = best["street"].to_numpy()
    return out


def _face_gaps(
    points: pd.DataFrame, fits: pd.DataFrame, streets: pd.Index
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Where consecutive block faces of each street meet.

    For faces ``f`` then ``g`` along a street (by cross-street number), ``a`` is the position
    of f's highest house number and ``b`` that of g's lowest one ``h`` (from the face fit
    when valid, else the point itself). House numbers are metres from the corner, so g's
    corner is ``b`` moved back by ``h`` towards ``a`` (at most to ``a``). Gaps longer than
    :data:`GAP_MAX_M` are dropped.

    Returns
    -------
    key, next_value, geometry
        ``street id * stride + f's cross value + 1000`` (sorted), g's cross value, and
        ``(ax, ay, corner x, corner y, ux, uy)`` with ``u`` the unit vector from ``a`` to
        ``b`` (the way house numbers grow).
    """
    p = points.sort_values(["face", "house"])
    face = p["face"].to_numpy()
    start = np.r_[True, face[1:] != face[:-1]]
    end = np.r_[face[1:] != face[:-1], True]
    ends = pd.DataFrame(
        {
            "street": p["street"].to_numpy()[start],
            "value": p["cross_value"].to_numpy(float)[start],
            "h0": p["house"].to_numpy(float)[start],
            "h1": p["house"].to_numpy(float)[end],
            "x0": p["x"].to_numpy()[start],
            "y0": p["y"].to_numpy()[start],
            "x1": p["x"].to_numpy()[end],
            "y1": p["y"].to_numpy()[end],
        },
        index=pd.Index(face[start]),
    )
    fit = fits.reindex(ends.index)
    ok = fit["valid"].fillna(False).to_numpy(bool)
    for k, h in (("0", "h0"), ("1", "h1")):
        for axis in ("x", "y"):
            along = fit[f"a{axis}"].to_numpy() + fit[f"b{axis}"].to_numpy() * ends[h].to_numpy()
            ends[f"{axis}{k}"] = np.where(ok, along, ends[f"{axis}{k}"].to_numpy())
    ends["sid"] = streets.get_indexer(pd.Index(ends["street"].to_numpy()))
    ends = ends[ends["sid"] >= 0].sort_values(["sid", "value"])
    same = ends["sid"].to_numpy()[1:] == ends["sid"].to_numpy()[:-1]
    a = ends[["x1", "y1"]].to_numpy(float)[:-1]
    b = ends[["x0", "y0"]].to_numpy(float)[1:]
    gap = np.hypot(*(b - a).T)
    keep = same & (gap <= GAP_MAX_M)
    unit = _unit(b - a)
    unit = np.where(np.isfinite(unit), unit, 0.0)
    back = np.minimum(ends["h0"].to_numpy(float)[1:], gap)
    corner = b - back[:, None] * unit
    key = ends["sid"].to_numpy()[:-1] * _STREET_STRIDE + ends["value"].to_numpy()[:-1] + 1000.0
    geometry = np.column_stack([a, corner, unit])
    return key[keep], ends["value"].to_numpy(float)[1:][keep], geometry[keep]


def _street_nodes(
    streets: Any, lab: pd.DataFrame, to_metric: Any, *, fitted: pd.Index
) -> pd.DataFrame:
    """Junctions of centrelines of crossing streets (a calle-like and a carrera-like one).

    One row per junction and face key (``"CL 45|23"``): a face may have several (two
    carriageways, or the same labels in a rural town). Faces with no junction and no fit of
    their points (``fitted``) may take one where a street's end, carried on, meets a crossing
    street (:func:`_ray_junctions`).
    """
    import shapely

    ok = lab["ok"].to_numpy()
    geoms = streets.geometry.to_numpy()[ok]
    lab = lab[ok]
    ends = []
    for where in (0, -1):
        pts = shapely.get_coordinates(shapely.get_point(geoms, where))
        ends.append(pd.DataFrame({"x": pts[:, 0], "y": pts[:, 1], "i": np.arange(len(geoms))}))
    e = pd.concat(ends, ignore_index=True)
    micro = np.round(e[["x", "y"]].to_numpy() * 1e6).astype(np.int64)  # 6 decimals, exact
    e["node"] = np.unique(micro, axis=0, return_inverse=True)[1].ravel()
    for col in ("street", "cross", "value", "calle"):
        e[col] = lab[col].to_numpy()[e["i"]]
    e = e.drop_duplicates(["node", "street"])
    pairs = e.merge(e, on="node", suffixes=("", "_o"))
    pairs = pairs[(pairs["street"] != pairs["street_o"]) & (pairs["calle"] != pairs["calle_o"])]
    mx, my = to_metric(pairs["x"].to_numpy(), pairs["y"].to_numpy())
    shared = pd.DataFrame(
        {
            "face": (pairs["street"] + "|" + pairs["cross_o"]).to_numpy(),
            "street": pairs["street"].to_numpy(),
            "x": mx,
            "y": my,
        }
    )
    metric = shapely.transform(geoms, lambda xy: np.column_stack(to_metric(xy[:, 0], xy[:, 1])))
    near = _near_junctions(metric, lab)
    new = pd.Index(shared["face"].unique()).get_indexer(near["face"]) < 0
    found = pd.concat([shared, near[new]], ignore_index=True)
    rays = _ray_junctions(metric, lab)
    known = pd.Index(found["face"]).append(fitted).unique()
    return pd.concat([found, rays[known.get_indexer(rays["face"]) < 0]], ignore_index=True)


#: How far a street's end is carried on to meet a crossing street (metres).
RAY_REACH_M = 100.0


def _ray_junctions(metric: Any, lab: pd.DataFrame, reach: float = RAY_REACH_M) -> pd.DataFrame:
    """Where a street's loose end, carried on straight for up to ``reach`` metres, meets a
    crossing street: a street whose centreline stops short of an avenue (a gap in the
    approximated centrelines, a wide junction). An end is loose when no other segment of
    the same street shares it; its direction is that of the last 15 m of the segment."""
    import shapely

    street = lab["street"].to_numpy(object)
    length = shapely.length(metric)
    back = np.minimum(15.0, length)
    tips = np.concatenate([shapely.get_point(metric, 0), shapely.get_point(metric, -1)])
    inner = np.concatenate(
        [
            shapely.line_interpolate_point(metric, back),
            shapely.line_interpolate_point(metric, length - back),
        ]
    )
    owner = np.concatenate([np.arange(len(metric)), np.arange(len(metric))])
    tip = shapely.get_coordinates(tips)
    node = pd.DataFrame(
        {"s": street[owner], "x": np.round(tip[:, 0] * 2), "y": np.round(tip[:, 1] * 2)}
    )
    loose = ~node.duplicated(keep=False).to_numpy() & (np.repeat(length, 2) >= 5.0)
    tip, owner = tip[loose], owner[loose]
    unit = _unit(tip - shapely.get_coordinates(inner)[loose])
    ok = np.isfinite(unit).all(axis=1)
    tip, owner, unit = tip[ok], owner[ok], unit[ok]
    rays = shapely.linestrings(
        np.stack([tip + 0.5 * unit, tip + reach * unit], axis=1).reshape(-1, 2),
        indices=np.repeat(np.arange(len(tip)), 2),
    )
    ri, si = shapely.STRtree(metric).query(rays)
    a, b = owner[ri], si
    calle = lab["calle"].to_numpy(bool)
    keep = (calle[a] != calle[b]) & (street[a] != street[b])
    ri, a, b = ri[keep], a[keep], b[keep]
    keep = shapely.intersects(rays[ri], metric[b])
    ri, a, b = ri[keep], a[keep], b[keep]
    hit = shapely.intersection(rays[ri], metric[b])
    at = shapely.line_interpolate_point(
        rays[ri], shapely.line_locate_point(rays[ri], shapely.centroid(hit))
    )
    return _junction_rows(a, b, at, lab)


def _junction_rows(
    a: npt.NDArray[np.intp], b: npt.NDArray[np.intp], at: Any, lab: pd.DataFrame
) -> pd.DataFrame:
    """Junction rows of segments ``a`` and ``b`` meeting at ``at``, for both faces."""
    import shapely

    street = pd.Series(lab["street"].to_numpy(object), dtype="str")
    cross = pd.Series(lab["cross"].to_numpy(object), dtype="str")

    def faces(s: npt.NDArray[np.intp], c: npt.NDArray[np.intp]) -> Any:
        return (
            street.iloc[s].reset_index(drop=True) + "|" + cross.iloc[c].reset_index(drop=True)
        ).to_numpy(object)

    x, y = shapely.get_x(at), shapely.get_y(at)
    rows = pd.DataFrame(
        {
            "face": np.concatenate([faces(a, b), faces(b, a)]),
            "street": np.concatenate([street.to_numpy(object)[a], street.to_numpy(object)[b]]),
            "x": np.concatenate([x, x]),
            "y": np.concatenate([y, y]),
        }
    )
    return rows.drop_duplicates(["face", "x", "y"])


def _near_junctions(metric: Any, lab: pd.DataFrame) -> pd.DataFrame:
    """Junctions without a shared vertex: a street ending within 25 m of a crossing street (a
    calle stopping at the edge of an avenue whose centreline runs down its median; the
    junction is the end's projection on the avenue), and streets whose lines cross (bridges,
    interchanges, unnoded crossings; the junction is where they cross)."""
    import shapely

    ends = np.concatenate([shapely.get_point(metric, 0), shapely.get_point(metric, -1)])
    owner = np.concatenate([np.arange(len(metric)), np.arange(len(metric))])
    qi, si = shapely.STRtree(metric).query(ends, predicate="dwithin", distance=25.0)
    a, b = owner[qi], si
    calle = lab["calle"].to_numpy(bool)
    street = lab["street"].to_numpy(object)
    keep = (calle[a] != calle[b]) & (street[a] != street[b])
    qi, a, b = qi[keep], a[keep], b[keep]
    at = shapely.line_interpolate_point(metric[b], shapely.line_locate_point(metric[b], ends[qi]))
    # and streets that cross without a shared vertex (interchanges, unnoded crossings)
    ca, cb = shapely.STRtree(metric).query(metric)
    keep = (ca < cb) & (calle[ca] != calle[cb]) & (street[ca] != street[cb])
    ca, cb = ca[keep], cb[keep]
    keep = shapely.crosses(metric[ca], metric[cb])
    ca, cb = ca[keep], cb[keep]
    crossing = shapely.centroid(shapely.intersection(metric[ca], metric[cb]))
    a, b = np.concatenate([a, ca]), np.concatenate([b, cb])
    return _junction_rows(a, b, np.concatenate([at, crossing]), lab)


def _pick_nodes(
    fits: pd.DataFrame, nodes: pd.DataFrame, medians: pd.DataFrame, points: pd.DataFrame
) -> pd.DataFrame:
    """One junction per face, the one nearest where the face's points put it.

    The reference is the face's fitted corner (junctions farther than 150 m are not
    trusted), else the median of its points (250 m plus twice their spread around it),
    else the bulk of the street; in the last case only junctions near a point of their
    street count when the street has points (a rural town reusing the city's labels
    loses).
    """
    valid = fits[fits["valid"]]
    codes, faces = pd.factorize(points["face"].to_numpy(object))
    pxy = points[["x", "y"]].to_numpy(float)
    median = pd.DataFrame(pxy, columns=["x", "y"]).groupby(codes).median().to_numpy()
    offset = np.hypot(*(pxy - median[codes]).T)
    spread = np.zeros(len(faces))
    np.maximum.at(spread, codes, offset)
    face_median = pd.DataFrame(
        {"x": median[:, 0], "y": median[:, 1], "spread": spread}, index=pd.Index(faces)
    )
    ref = pd.DataFrame(index=nodes["face"].unique())
    ref["x"] = valid["ax"].reindex(ref.index)
    ref["y"] = valid["ay"].reindex(ref.index)
    ref["limit"] = np.where(ref["x"].notna(), 150.0, np.nan)
    loose = ref["x"].isna().to_numpy()
    around = face_median.reindex(ref.index[loose])
    ref.loc[loose, ["x", "y"]] = around[["x", "y"]].to_numpy()
    ref.loc[loose, "limit"] = 250.0 + 2.0 * around["spread"].to_numpy()
    street_of = nodes.drop_duplicates("face").set_index("face")["street"]
    node_median = nodes.groupby("street")[["x", "y"]].median()
    fallback = medians.combine_first(node_median).reindex(street_of.reindex(ref.index))
    loose = ref["x"].isna().to_numpy()
    ref.loc[loose, ["x", "y"]] = fallback[["x", "y"]].to_numpy()[loose]
    r = ref.reindex(nodes["face"].to_numpy())
    dist = np.hypot(
        nodes["x"].to_numpy() - r["x"].to_numpy(), nodes["y"].to_numpy() - r["y"].to_numpy()
    )
    limit = r["limit"].to_numpy()
    keep = np.where(np.isnan(limit), _near_street_points(nodes, points), dist <= limit)
    picked = nodes.assign(d=dist)[keep].sort_values("d")
    return picked.drop_duplicates("face").set_index("face")[["x", "y"]]


def _near_street_points(
    nodes: pd.DataFrame, points: pd.DataFrame, cell: float = 250.0
) -> npt.NDArray[np.bool_]:
    """True for junctions within about ``cell``-``2 cell`` metres of an address point of
    their street, or whose street has no address points."""
    point_sid, streets = pd.factorize(points["street"].to_numpy(object))
    node_sid = pd.Index(streets).get_indexer(pd.Index(nodes["street"].to_numpy(object)))

    def keys(sid: Any, x: Any, y: Any) -> npt.NDArray[np.int64]:
        cx = np.floor(np.asarray(x, dtype=float) / cell).astype(np.int64) % 1_000_000
        cy = np.floor(np.asarray(y, dtype=float) / cell).astype(np.int64) % 1_000_000
        return np.asarray((sid.astype(np.int64) * 1_000_000 + cx) * 1_000_000 + cy)

    known = np.unique(keys(point_sid, points["x"], points["y"]))
    near = np.zeros(len(nodes), dtype=bool)
    for dx in (-cell, 0.0, cell):
        for dy in (-cell, 0.0, cell):
            k = keys(node_sid, nodes["x"].to_numpy() + dx, nodes["y"].to_numpy() + dy)
            near |= np.isin(k, known)
    return near | (node_sid < 0)


def _corners(fits: pd.DataFrame, nodes: pd.DataFrame) -> pd.DataFrame:
    """Corner of each face: centreline junction if known, else the face fit at house 0."""
    valid = fits[fits["valid"]]
    corners = pd.DataFrame(index=valid.index.union(nodes.index))
    corners["x"] = nodes["x"].reindex(corners.index)
    corners["y"] = nodes["y"].reindex(corners.index)
    corners["from_streets"] = corners["x"].notna()
    fill = corners["x"].isna()
    corners.loc[fill, "x"] = valid["ax"].reindex(corners.index)[fill]
    corners.loc[fill, "y"] = valid["ay"].reindex(corners.index)[fill]
    d = _unit(np.column_stack([valid["bx"], valid["by"]]))
    corners["dx"] = pd.Series(d[:, 0], index=valid.index).reindex(corners.index)
    corners["dy"] = pd.Series(d[:, 1], index=valid.index).reindex(corners.index)
    keys = corners.index.to_series().str.split("|", n=1, regex=False)
    corners["street"] = keys.str[0]
    corners["cross"] = keys.str[1]
    corners["cross_value"] = cross_values(corners["cross"])
    corners = corners[np.isfinite(corners["cross_value"])]
    corners = pd.concat([corners, _swapped(corners)])
    return _directions_from_neighbours(corners)


_OPPOSITE = {"CL": ("KR", "TV"), "DG": ("KR", "TV"), "KR": ("CL", "DG"), "TV": ("CL", "DG")}


def _swapped(corners: pd.DataFrame) -> pd.DataFrame:
    """The same corners seen from the cross street: ``CL 45|23`` gives ``KR 23|45``.

    The cross street's type is not in the key: each type of the other orientation is tried
    and kept when such a street is known. Directions are left to the neighbouring corners.
    """
    known = pd.Index(corners["street"].unique())
    parts = corners["street"].str.split(" ", n=1, regex=False)
    kind, rest = parts.str[0], parts.str[1]
    rows = []
    for k in (0, 1):
        other = kind.map({t: pair[k] for t, pair in _OPPOSITE.items()}).fillna("")
        street = other + " " + corners["cross"]
        face = street + "|" + rest
        keep = (other != "").to_numpy() & (known.get_indexer(pd.Index(street)) >= 0)
        keep &= corners.index.get_indexer(pd.Index(face)) < 0
        sub = corners.loc[keep, ["x", "y", "from_streets"]].copy()
        sub["street"] = street[keep].to_numpy()
        sub["cross"] = rest[keep].to_numpy()
        sub.index = pd.Index(face[keep].to_numpy())
        rows.append(sub)
    out = pd.concat(rows)
    out = out[~out.index.duplicated()]
    out["dx"] = np.nan
    out["dy"] = np.nan
    out["cross_value"] = cross_values(out["cross"])
    return out[np.isfinite(out["cross_value"])]


def _directions_from_neighbours(corners: pd.DataFrame) -> pd.DataFrame:
    """Faces without a fitted direction point to the next corner along the street."""
    c = corners.sort_values(["street", "cross_value"])
    same_next = c["street"].shift(-1) == c["street"]
    same_prev = c["street"].shift(1) == c["street"]
    nxt = np.column_stack([c["x"].shift(-1) - c["x"], c["y"].shift(-1) - c["y"]])
    prv = np.column_stack([c["x"] - c["x"].shift(1), c["y"] - c["y"].shift(1)])
    step = np.where(same_next.to_numpy()[:, None], nxt, np.nan)
    step = np.where(np.isnan(step) & same_prev.to_numpy()[:, None], prv, step)
    unit = _unit(step)
    missing = c["dx"].isna().to_numpy()
    c.loc[missing, "dx"] = unit[missing, 0]
    c.loc[missing, "dy"] = unit[missing, 1]
    return c


def _grid(corners: pd.DataFrame, street_values: pd.Series, street_calle: pd.Series) -> Any:
    """Corners in address space: u = calle value, v = carrera value."""
    sv = corners["street"].map(street_values)
    calle = corners["street"].map(street_calle)
    ok = sv.notna() & calle.notna()
    c = corners[ok]
    sv, calle = sv[ok].astype(float), calle[ok].astype(bool)
    u = np.where(calle, sv, c["cross_value"])
    v = np.where(calle, c["cross_value"], sv)
    g = pd.DataFrame({"u": np.round(u, 4), "v": np.round(v, 4), "x": c["x"], "y": c["y"]})
    g = g.groupby(["u", "v"], as_index=False).mean()
    return g[["u", "v"]].to_numpy(float), g[["x", "y"]].to_numpy(float)


def build_avenue_table(
    streets: Any,
    stops: Any | None = None,
    *,
    to_metric: Any | None = None,
    street_labels: pd.DataFrame | None = None,
) -> dict[str, list[str]]:
    """Vote the numbered street of each avenue name from the data.

    Parameters
    ----------
    streets
        Centrelines with ``etiqueta`` (``"AK 14"``) and ``nombre`` (``"AVENIDA CARACAS"``):
        each name gets the streets that carry it, by total length (families merged:
        ``AK 14`` and ``KR 14`` are one street), keeping those with >= 10 % of the length.
        Numbered avenues get their number as key (``"68": ["AK 68", "AC 68"]``).
    stops
        Optional SITP stops (``label`` like ``"AV. Boyacá - AC 170"``, point geometry): a
        name part of a label votes for the labelled centreline nearest to the stop (within
        40 m, other than the label's numbered street). Names absent from the centrelines
        are added with the streets that 2+ stops and 20 %+ of the votes name.
    to_metric
        ``f(lon, lat) -> (x, y)``; default EPSG:4326 -> EPSG:9377.

    Returns
    -------
    dict
        name key (:func:`geo_integration.address.avenue_key`) -> street labels, best first.
        Colloquial aliases (:data:`geo_integration.address.AVENUE_ALIASES`) fill names the
        data lacks.
    """
    lab = parse_street_labels(streets["etiqueta"]) if street_labels is None else street_labels
    frame = pd.DataFrame(
        {
            "name": streets["nombre"].astype("string"),
            "label": lab["label"],
            "street": lab["street"],
            "length": pd.to_numeric(streets.get("length_m", 1.0), errors="coerce"),
        }
    )
    frame = frame[lab["ok"].to_numpy()]
    table: dict[str, list[str]] = {}
    named = frame[frame["name"].notna()].copy()
    named["key"] = named["name"].map(avenue_key)
    named = named[named["key"].str.len() > 0]
    for key, group in named.groupby("key"):
        table[str(key)] = _vote(group)
    numbered = frame[frame["label"].str.match(r"^A[CK] \d+$")].copy()
    numbered["key"] = numbered["label"].str.split(" ").str[1]
    for key, group in numbered.groupby("key"):
        by = group.groupby("label")["length"].sum().sort_values(ascending=False)
        table[str(key)] = [str(lbl) for lbl in by.index]
    if stops is not None and len(stops):
        for key, labels in _stop_votes(stops, streets, lab, to_metric).items():
            if not any(_same_name(key, existing) for existing in table):
                table[key] = labels
    for alias, (label, _official) in AVENUE_ALIASES.items():
        table.setdefault(alias, [label])
    return dict(sorted(table.items()))


def _same_name(typed: str, official: str) -> bool:
    a, b = typed.split(), official.split()
    return len(a) == len(b) and all(y.startswith(x) or x == y for x, y in zip(a, b, strict=True))


def _vote(group: pd.DataFrame) -> list[str]:
    by_family = group.groupby("street")["length"].sum()
    total = by_family.sum()
    keep = by_family[by_family >= 0.1 * total].sort_values(ascending=False).head(3)
    out = []
    for fam in keep.index:
        members = group[group["street"] == fam].groupby("label")["length"].sum()
        out.append(str(members.idxmax()))
    return out


def _stop_votes(
    stops: Any, streets: Any, lab: pd.DataFrame, to_metric: Any
) -> dict[str, list[str]]:
    import shapely

    to_metric = to_metric or _transformer()
    parts = stops["label"].astype("string").str.split(r"\s*[-–]\s*", n=1, regex=True, expand=True)
    if parts.shape[1] < 2:
        return {}
    typed = r"^\s*(?:AK|AC|KR|CL|DG|TV|CALLE|CARRERA|CRA|CLL|KRA)\b"
    rows = []
    for a, b in ((0, 1), (1, 0)):
        name = parts[a].fillna("")
        is_name = ~name.str.upper().str.match(typed) & name.str.contains(r"[A-Za-z]{3,}")
        other = parse_street_labels(
            parts[b].fillna("").str.upper().str.strip().str.replace(r"\s+SUR$", " S", regex=True)
        )
        rows.append(
            pd.DataFrame(
                {
                    "stop": np.arange(len(stops)),
                    "key": name.map(avenue_key),
                    "other": other["street"],
                }
            )[is_name.to_numpy()]
        )
    names = pd.concat(rows, ignore_index=True)
    names = names[names["key"].str.len() > 0]
    if names.empty:
        return {}
    ok = lab["ok"].to_numpy()
    seg = shapely.transform(
        streets.geometry.to_numpy()[ok], lambda xy: np.column_stack(to_metric(xy[:, 0], xy[:, 1]))
    )
    seg_street = lab.loc[ok, "street"].to_numpy()
    seg_label = lab.loc[ok, "label"].to_numpy()
    pts = stops.geometry.to_numpy()[names["stop"].to_numpy()]
    px, py = to_metric(shapely.get_x(pts), shapely.get_y(pts))
    pts = shapely.points(px, py)
    tree = shapely.STRtree(seg)
    qi, si = tree.query(pts, predicate="dwithin", distance=40.0)
    d = shapely.distance(pts[qi], seg[si])
    cand = pd.DataFrame({"q": qi, "street": seg_street[si], "label": seg_label[si], "d": d})
    other = names["other"].fillna("").astype(str).to_numpy()
    cand = cand[cand["street"].astype(str).to_numpy() != other[cand["q"].to_numpy()]]
    best = cand.sort_values("d").drop_duplicates("q")
    best["key"] = names["key"].to_numpy()[best["q"]]
    out: dict[str, list[str]] = {}
    for key, group in best.groupby("key"):
        counts = group.groupby("street")["label"].agg(["size", lambda s: s.mode().iloc[0]])
        counts.columns = ["n", "label"]
        counts = counts.sort_values("n", ascending=False)
        log.debug("stop votes for %s: %s", key, counts["n"].head(4).to_dict())
        keep = counts[(counts["n"] >= 3) & (counts["n"] >= 0.2 * counts["n"].sum())].head(3)
        if len(keep):
            out[str(key)] = [str(lbl) for lbl in keep["label"]]
    return out


def _areas(localities: Any, upz: Any | None, to_metric: Any) -> pd.DataFrame:
    from geo_integration.text import name_key

    rows = []
    frames = [("locality", localities, "loc_name", "loc_code")]
    if upz is not None:
        frames.append(("upz", upz, "upz_name", "upz_code"))
    for kind, frame, name_col, code_col in frames:
        pts = frame.geometry.representative_point()
        x, y = to_metric(pts.x.to_numpy(), pts.y.to_numpy())
        for name, code, xi, yi in zip(frame[name_col], frame[code_col], x, y, strict=True):
            keys = {name_key(name), name_key(code)}
            if kind == "locality" and name_key(name).startswith("LA "):
                keys.add(name_key(name)[3:])
            for key in keys:
                rows.append({"key": key, "kind": kind, "name": str(name), "x": xi, "y": yi})
    table = pd.DataFrame(rows, columns=["key", "kind", "name", "x", "y"])
    return table.drop_duplicates("key").reset_index(drop=True)


def _transformer() -> Any:
    from pyproj import Transformer

    from geo_integration.geo import METRIC_CRS, WGS84

    return Transformer.from_crs(WGS84, METRIC_CRS, always_xy=True).transform


def build_index(
    addresses: Any,
    streets: Any,
    localities: Any,
    upz: Any | None = None,
    *,
    stops: Any | None = None,
) -> GeocodeIndex:
    """Build the geocoding index from reference layers (all in EPSG:4326).

    Parameters
    ----------
    addresses
        Address points with ``address`` (official label) and point geometry.
    streets
        Centrelines with ``etiqueta`` and ``nombre``.
    localities, upz
        As from :mod:`geo_integration.loaders` (for the *area* level).
    stops
        Optional SITP stops (``label``, geometry), used only to name avenues.

    Returns
    -------
    GeocodeIndex
    """
    t0 = time.perf_counter()
    to_metric = _transformer()
    parsed = parse_official(addresses["address"])
    ok = parsed["ok"].to_numpy()
    if not ok.any():
        msg = f"no address point has an official label among {len(addresses)} rows"
        raise GeocodeError(msg)
    parsed = parsed[ok]
    geom = addresses.geometry.to_numpy()[ok]
    import shapely

    x, y = to_metric(shapely.get_x(geom), shapely.get_y(geom))
    xy = np.column_stack([x, y])
    medians = _street_medians(parsed["street"].to_numpy(), xy)
    labels, codes = _label_table(parsed, xy, medians)
    points = _face_points(parsed, labels, codes)
    fits = _fit_faces(points)
    streets = streets.assign(
        etiqueta=vote_street_labels(streets, parsed["street"].to_numpy(), xy, to_metric)
    )
    street_labels = parse_street_labels(streets["etiqueta"])
    fitted = fits.index[fits["valid"].to_numpy()]
    found = _street_nodes(streets, street_labels, to_metric, fitted=fitted)
    nodes = _pick_nodes(fits, found, medians, points)
    corners = _corners(fits, nodes)
    street_info = pd.concat(
        [
            points.drop_duplicates("street").set_index("street")[["street_value", "calle"]],
            _street_values(street_labels),
        ]
    )
    street_info = street_info[~street_info.index.duplicated()]
    grid_uv, grid_xy = _grid(corners, street_info["street_value"], street_info["calle"])
    index = _assemble(labels, points, corners, grid_uv, grid_xy)
    index.gap_key, index.gap_next, index.gap_xy = _face_gaps(points, fits, index.streets)
    _alternates(index, codes, xy, labels, found, corners)
    index.loc_grid, index.loc_origin = build_locality_grid(localities, to_metric)
    index.areas = _areas(localities, upz, to_metric)
    index.avenues = build_avenue_table(
        streets, stops, to_metric=to_metric, street_labels=street_labels
    )
    _avenue_shapes(index, streets, to_metric)
    index.meta = {"build_seconds": round(time.perf_counter() - t0, 2), **index.summary()}
    log.info("geocoding index built in %.1f s: %s", time.perf_counter() - t0, index.summary())
    return index


def _alternates(
    index: GeocodeIndex,
    codes: npt.NDArray[np.intp],
    xy: FloatArray,
    chosen: pd.DataFrame,
    junctions: pd.DataFrame,
    corners: pd.DataFrame,
) -> None:
    """Other places of labels and corners (see :mod:`geo_integration.geocode_places`);
    ``codes`` gives each point's row in ``chosen`` (the label table)."""
    alt = pd.concat(
        [label_alternates(codes, xy, chosen), corner_alternates(junctions, corners)],
        ignore_index=True,
    ).sort_values("key", kind="stable")
    index.alt_key = pd.Index(alt["key"].to_numpy(object))
    index.alt_xy = alt[["x", "y"]].to_numpy(float)


def _shape_key(key: str, names: list[str]) -> str | None:
    """The centreline name an avenue table key stands for: itself, the official name of an
    alias, or a name whose words the key abbreviates in order (``C CALI``, ``A MEJIA``)."""
    if key in names:
        return key
    if key in AVENUE_ALIASES:
        return AVENUE_ALIASES[key][1] if AVENUE_ALIASES[key][1] in names else None
    typed = key.split()
    for name in names:
        words = name.split()
        j, full = 0, False
        for word in words:
            if j < len(typed) and (
                word.startswith(typed[j]) or (typed[j] == "1" and word == "PRIMERO")
            ):
                full |= word == typed[j]
                j += 1
        if j == len(typed) and full:
            return name
    return None


def _avenue_shapes(index: GeocodeIndex, streets: Any, to_metric: Any) -> None:
    """Vertices of the centrelines of each avenue (for crossings by geometry): those named
    after it, and the unnamed ones labelled with its main numbered avenue label (``AK 72``
    for Avenida Boyacá, where its name is missing), when no other avenue has that label
    first."""
    import shapely

    has_name = streets["nombre"].notna().to_numpy()
    keys = np.full(len(streets), "", dtype=object)
    keys[has_name] = streets["nombre"][has_name].astype(str).map(avenue_key).to_numpy()
    names = sorted(set(keys[has_name]) - {""})
    ids = {name: i for i, name in enumerate(names)}
    first = pd.Series(
        {name: labels[0] for name, labels in index.avenues.items() if name in ids and labels}
    )
    first = first[first.str.match(r"^A[CK] ") & ~first.duplicated(keep=False)]
    owner = pd.Series(first.index, index=first.to_numpy())
    label = streets["etiqueta"].astype(object).where(streets["etiqueta"].notna(), "")
    carry = ~has_name & label.isin(owner.index).to_numpy(bool)
    keys[carry] = owner.reindex(label[carry]).to_numpy()
    named = streets[keys != ""]
    keys = keys[keys != ""]
    coords, which = shapely.get_coordinates(named.geometry.to_numpy(), return_index=True)
    x, y = to_metric(coords[:, 0], coords[:, 1])
    seg_id = np.array([ids.get(k, -1) for k in keys], dtype=np.int64)[which]
    keep = seg_id >= 0
    order = np.argsort(seg_id[keep], kind="stable")
    index.avenue_xy = np.column_stack([x, y])[keep][order]
    index.avenue_id = seg_id[keep][order]
    shapes = {}
    for key in index.avenues:
        if key.isdigit():
            continue
        shape = _shape_key(key, names)
        if shape is not None:
            shapes[key] = ids[shape]
    index.avenue_shapes = shapes


def _street_values(lab: pd.DataFrame) -> pd.DataFrame:
    lab = lab[lab["ok"] & (lab["calle"] | lab["carrera"])].drop_duplicates("street")
    return pd.DataFrame(
        {"street_value": lab["value"].to_numpy(float), "calle": lab["calle"].to_numpy(bool)},
        index=pd.Index(lab["street"].to_numpy(), name="street"),
    )


def _assemble(
    labels: pd.DataFrame,
    points: pd.DataFrame,
    corners: pd.DataFrame,
    grid_uv: FloatArray,
    grid_xy: FloatArray,
) -> GeocodeIndex:
    faces = pd.Index(np.sort(points["face"].unique()))
    fid = faces.get_indexer(points["face"])
    key = fid.astype(np.int64) * _FACE_STRIDE + points["house"].to_numpy(np.int64)
    order = np.argsort(key, kind="stable")
    streets = pd.Index(np.sort(pd.concat([corners["street"], points["street"]]).unique()))
    sid = streets.get_indexer(corners["street"])
    skey = sid * _STREET_STRIDE + corners["cross_value"].to_numpy(float) + 1000.0
    sorder = np.argsort(skey, kind="stable")
    return GeocodeIndex(
        labels=pd.Index(labels.index.to_numpy()),
        label_xy=labels[["x", "y"]].to_numpy(float),
        label_spread=labels["spread"].to_numpy(float),
        faces=faces,
        face_house_key=key[order],
        face_house_xy=points[["x", "y"]].to_numpy(float)[order],
        corners=pd.Index(corners.index.to_numpy()),
        corner_xy=corners[["x", "y"]].to_numpy(float),
        corner_dir=corners[["dx", "dy"]].to_numpy(float),
        corner_from_streets=corners["from_streets"].to_numpy(bool),
        streets=streets,
        street_corner_key=skey[sorder],
        street_corner_xy=corners[["x", "y"]].to_numpy(float)[sorder],
        grid_uv=grid_uv,
        grid_xy=grid_xy,
        areas=pd.DataFrame(columns=["key", "kind", "name", "x", "y"]),
        avenues={},
    )


# ---------------------------------------------------------------------------------------------
# disk cache (I/O)

_ARRAYS = (
    "alt_xy",
    "loc_grid",
    "loc_origin",
    "gap_key",
    "gap_next",
    "gap_xy",
    "label_xy",
    "label_spread",
    "face_house_key",
    "face_house_xy",
    "corner_xy",
    "corner_dir",
    "corner_from_streets",
    "street_corner_key",
    "street_corner_xy",
    "grid_uv",
    "grid_xy",
    "avenue_xy",
    "avenue_id",
)
_INDEXES = ("labels", "faces", "corners", "streets", "alt_key")


def default_cache_dir() -> Path:
    """``$GEO_INTEGRATION_CACHE``, else ``$XDG_CACHE_HOME/geo_integration``, else
    ``~/.cache/geo_integration``."""
    env = os.environ.get(CACHE_ENV_VAR, "")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "geo_integration"


def save_index(index: GeocodeIndex, directory: Path) -> Path:
    """Write ``index`` into ``directory`` (replaced atomically as a whole)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    directory = Path(directory)
    tmp = directory.with_name(f".{directory.name}.{os.getpid()}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    np.savez(tmp / "arrays.npz", **{name: getattr(index, name) for name in _ARRAYS})
    for name in _INDEXES:
        values = getattr(index, name).to_numpy().astype(str)
        pq.write_table(pa.table({"v": values}), tmp / f"{name}.parquet")
    index.areas.to_parquet(tmp / "areas.parquet", index=False)
    meta = {
        "fingerprint": index.fingerprint,
        "meta": index.meta,
        "avenues": index.avenues,
        "avenue_shapes": index.avenue_shapes,
    }
    (tmp / "meta.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    if directory.exists():
        shutil.rmtree(directory)
    tmp.rename(directory)
    return directory


def read_index(directory: Path) -> GeocodeIndex:
    """Read an index written by :func:`save_index`."""
    import pyarrow.parquet as pq

    directory = Path(directory)
    try:
        meta = json.loads((directory / "meta.json").read_text(encoding="utf-8"))
        with np.load(directory / "arrays.npz") as npz:
            arrays = {name: npz[name] for name in _ARRAYS}
        indexes = {
            name: pd.Index(pq.read_table(directory / f"{name}.parquet").column("v").to_numpy())
            for name in _INDEXES
        }
        areas = pd.read_parquet(directory / "areas.parquet")
    except (OSError, ValueError, KeyError) as exc:
        msg = f"cannot read the geocoding index in {str(directory)!r}: {exc}"
        raise GeocodeError(msg) from exc
    return GeocodeIndex(
        **indexes,
        **arrays,
        areas=areas,
        avenues={k: list(v) for k, v in meta["avenues"].items()},
        avenue_shapes={k: int(v) for k, v in meta["avenue_shapes"].items()},
        fingerprint=meta["fingerprint"],
        meta=meta["meta"],
    )


def _inputs(data_dir: Path) -> list[Path]:
    from geo_integration.datadir import PATHS

    names = ("addresses", "streets", "localities", "upz")
    return [data_dir / PATHS[n] for n in names]


def index_fingerprint(data_dir: Path) -> str:
    """Hash of the index inputs' names, sizes and modification times, and the code version."""
    from geo_integration import __version__

    digest = hashlib.sha256(f"{INDEX_VERSION}|{__version__}".encode())
    for path in _inputs(data_dir):
        if path.exists():
            stat = path.stat()
            digest.update(f"|{path.name}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def load_index(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    rebuild: bool = False,
) -> GeocodeIndex:
    """Return the geocoding index of the data directory, from the disk cache when possible.

    Parameters
    ----------
    data_dir
        Reference data directory (default: see :func:`geo_integration.config.resolve_data_dir`).
        The index is built from the address points, the centrelines and the areas only
        (not from the SITP stops, which the benchmark uses as independent references).
    cache_dir
        Where built indexes are kept (default :func:`default_cache_dir`); one subdirectory per
        fingerprint of the inputs.
    rebuild
        Build again even when a cached index exists.

    Raises
    ------
    GeocodeError
        If the data directory lacks the address points or the centrelines.
    """
    from geo_integration import loaders
    from geo_integration.config import resolve_data_dir

    root = resolve_data_dir(data_dir)
    missing = [str(p) for p in _inputs(root)[:2] if not p.exists()]
    if missing:
        msg = f"the geocoder needs {missing!r}: run 'geo-integration data fetch' first"
        raise GeocodeError(msg)
    fingerprint = index_fingerprint(root)
    target = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    directory = target / f"geocode_index_{fingerprint}"
    if directory.is_dir() and not rebuild:
        try:
            return read_index(directory)
        except GeocodeError as exc:
            log.warning("rebuilding the geocoding index: %s", exc)
    index = build_index(
        loaders.load_addresses(root),
        loaders.load_streets(root),
        loaders.load_localities(root),
        loaders.load_upz(root),
    )
    index.fingerprint = fingerprint
    try:
        save_index(index, directory)
    except OSError as exc:
        log.warning("could not cache the geocoding index in %s: %s", directory, exc)
    return index
