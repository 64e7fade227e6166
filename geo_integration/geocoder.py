"""Offline geocoding of Bogotá addresses: matching parsed addresses against the index.

Levels, best first (``match_level``):

1. ``exact``: the canonical label is an official address point (confidence 1.0; 0.95 when
   found under the equivalent type, ``CL 45`` as ``AC 45``, or without a cross-street BIS);
2. ``interpolated``: between the nearest known house numbers on the same block face;
3. ``intersection``: the corner of the street and the cross street (centreline junction,
   else extrapolated from the face's points, else where the street's block faces jump
   past the cross street's number), moved by the house number in metres along the street;
4. ``grid``: a model of the street grid fitted on known corners: along the street between
   its known corners when the street is known, else a local affine map from address space
   (calle number, carrera number) to map space fitted on the nearest known corners;
5. ``area``: the centroid of the barrio, UPZ or locality named in the record;
6. ``none``: no position; ``match_reason`` says why.

With an :class:`geo_integration.geocode_online.OnlineGeocoder` (off by default), rows left at
``area`` or ``none`` may come back as ``online`` (confidence 0.5).

:func:`match_labels` is the kernel (parsed addresses + index -> positions in metres).
:func:`geocode_addresses` is the public API (texts -> GeoDataFrame in EPSG:4326, with the
result cache and the optional online geocoder); :func:`make_geocoder` returns the callable
that ingest uses.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from geo_integration.address import (
    CALLE_LIKE,
    CARRERA_LIKE,
    ParsedAddress,
    StreetRef,
    family_type,
    parse_address,
)
from geo_integration.errors import MissingColumnError
from geo_integration.geocode_corners import STREET_STRIDE
from geo_integration.geocode_index import GeocodeIndex, code_value

if TYPE_CHECKING:
    import geopandas as gpd

    from geo_integration.geocode_cache import GeocodeCache
    from geo_integration.geocode_online import OnlineGeocoder

__all__ = [
    "LEVELS",
    "MATCH_REASONS",
    "RESULT_COLUMNS",
    "geocode_addresses",
    "make_geocoder",
    "match_labels",
]

log = logging.getLogger(__name__)

#: Match levels, best first.
LEVELS: tuple[str, ...] = ("exact", "interpolated", "intersection", "grid", "area", "none")
#: Columns added by the geocoder.
RESULT_COLUMNS: tuple[str, ...] = (
    "lat",
    "lon",
    "match_level",
    "confidence",
    "matched_address",
    "match_reason",
)
#: Reasons of a ``none`` result that come from matching (parse reasons are in
#: :data:`geo_integration.address.REASONS`).
MATCH_REASONS: dict[str, str] = {
    "street_not_found": "the street is not in the city's streets or address points",
    "no_position": "the street is known but neither the cross street nor the grid places it",
    "outside_locality": "placed (confidence halved) outside the locality given in the record,"
    " which holds no other place of that address",
}

_EXACT, _INTERP, _CORNER, _STREET, _GRID, _NONE = range(6)
_STRIDE = 1000
#: Largest distance in address space (street numbers) from a known corner for the grid model.
GRID_MAX_DISTANCE = 12.0


@dataclass
class _Candidates:
    query: npt.NDArray[np.intp]
    rank: npt.NDArray[np.intp]
    exact: list[str | None]
    face: list[str]
    street: list[str]
    label: list[str]
    house: npt.NDArray[np.float64]
    cross_value: npt.NDArray[np.float64]
    uv: npt.NDArray[np.float64]


def _street_variants(p: ParsedAddress, avenues: dict[str, list[str]]) -> list[StreetRef]:
    assert p.street is not None
    base = p.street
    out = [base]
    twin = {"CL": "AC", "AC": "CL", "KR": "AK", "AK": "KR"}.get(base.kind)
    if twin:
        out.append(_retype(base, twin))
    if p.avenue is not None:
        for label in avenues.get(p.avenue, [])[1:3]:
            ref = _ref_from_label(label)
            if ref is not None:
                out.append(ref)
    if base.kind in ("AV", "AU"):
        for kind in ("AK", "AC"):
            out.append(_retype(base, kind))
    return out


def _retype(ref: StreetRef, kind: str) -> StreetRef:
    return StreetRef(kind, ref.number, ref.letters, ref.bis, ref.bis_letter, ref.cardinal)


def _value(ref: StreetRef) -> float:
    return code_value(ref.number, ref.letters, ref.bis, ref.bis_letter, ref.cardinal)


def _crossing(a: str, b: str) -> bool:
    """True unless both types are calle-like or both carrera-like."""
    return not ((a in CALLE_LIKE and b in CALLE_LIKE) or (a in CARRERA_LIKE and b in CARRERA_LIKE))


def _ref_from_label(label: str) -> StreetRef | None:
    p = parse_address(f"{label}, 1 01")
    return p.street


def _uv(street: StreetRef, cross: StreetRef) -> tuple[float, float]:
    sv = code_value(street.number, street.letters, street.bis, street.bis_letter, street.cardinal)
    cv = code_value(cross.number, cross.letters, cross.bis, cross.bis_letter, cross.cardinal)
    if street.kind in CALLE_LIKE:
        return sv, cv
    if street.kind in CARRERA_LIKE:
        return cv, sv
    return np.nan, np.nan


_Row = tuple[str | None, str, str, str, float, float, tuple[float, float]]


def _address_candidates(p: ParsedAddress, avenues: dict[str, list[str]]) -> list[_Row]:
    """Ways to read one parsed address, most faithful first: (exact label or None, face
    key, street key, label, house, cross value, (u, v)).

    An intersection is read both ways, the avenue first (``AK 7 - CL 40`` is also looked
    up along Calle 40's numbering, as ``CL 40 - KR 7``).
    """
    assert p.street is not None and p.cross is not None
    if p.intersection and p.avenue and not _is_avenue(p.street, avenues.get(p.avenue, [])):
        p = p._replace(street=p.cross, cross=p.street)  # the avenue first
    rows = _readings(p, avenues)
    if p.intersection:
        rows += _readings(p._replace(street=p.cross, cross=p.street, avenue=None), avenues)
    return rows


def _readings(p: ParsedAddress, avenues: dict[str, list[str]]) -> list[_Row]:
    assert p.street is not None and p.cross is not None
    cross: StreetRef = p.cross
    crosses = [cross]
    if cross.bis:
        crosses.append(
            StreetRef(cross.kind, cross.number, cross.letters, False, "", cross.cardinal)
        )
    house = float(p.house) if p.house is not None and not p.intersection else np.nan
    rows: list[_Row] = []
    for s in _street_variants(p, avenues):
        if p.intersection and not _crossing(s.kind, cross.kind):
            continue  # parallel streets do not meet
        s_tail = f" {s.cardinal}" if s.cardinal else ""
        fam = f"{family_type(s.kind)} {s.code}{s_tail}"
        for c in crosses:
            c_tail = f" {c.cardinal}" if c.cardinal else ""
            cross_key = f"{c.code}{c_tail}"
            exact = None
            if p.intersection:
                label = f"{s.street_label} - {c.street_label}"
                uv = _uv_intersection(s, c)
            elif p.house is None:
                label, uv = f"{s.street_label}, {cross_key}", _uv(s, c)
            else:
                exact = label = f"{s.street_label}, {c.code} {p.house:02d}{c_tail}"
                uv = _uv(s, c)
            rows.append((exact, f"{fam}|{cross_key}", fam, label, house, _value(c), uv))
    return rows


def _candidates(parsed: Sequence[ParsedAddress], avenues: dict[str, list[str]]) -> _Candidates:
    query: list[int] = []
    rank: list[int] = []
    rows: list[_Row] = []
    for q, p in enumerate(parsed):
        if p.street is None or p.cross is None:
            continue
        found = _address_candidates(p, avenues)
        query.extend([q] * len(found))
        rank.extend(range(len(found)))
        rows.extend(found)
    columns: list[tuple[Any, ...]] = list(zip(*rows, strict=True)) if rows else [()] * 7
    return _Candidates(
        query=np.asarray(query, dtype=np.intp),
        rank=np.asarray(rank, dtype=np.intp),
        exact=list(columns[0]),
        face=list(columns[1]),
        street=list(columns[2]),
        label=list(columns[3]),
        house=np.asarray(columns[4], dtype=float),
        cross_value=np.asarray(columns[5], dtype=float),
        uv=np.asarray(columns[6], dtype=float).reshape(-1, 2),
    )


def _uv_intersection(street: StreetRef, cross: StreetRef) -> tuple[float, float]:
    if street.kind in CALLE_LIKE or cross.kind in CARRERA_LIKE:
        return _uv_pair(street, cross)
    if street.kind in CARRERA_LIKE or cross.kind in CALLE_LIKE:
        return _uv_pair(cross, street)
    return np.nan, np.nan


def _uv_pair(calle: StreetRef, carrera: StreetRef) -> tuple[float, float]:
    return _value(calle), _value(carrera)


# ---------------------------------------------------------------------------------------------
# levels (vectorised over candidates)


@dataclass
class _Hits:
    level: npt.NDArray[np.intp]
    xy: npt.NDArray[np.float64]
    conf: npt.NDArray[np.float64]
    matched: npt.NDArray[np.object_]


def _exact(index: GeocodeIndex, cand: _Candidates, hits: _Hits) -> None:
    labels = np.array([e if e is not None else "" for e in cand.exact], dtype=object)
    pos = index.labels.get_indexer(pd.Index(labels))
    ok = pos >= 0
    hits.level[ok] = _EXACT
    hits.xy[ok] = index.label_xy[pos[ok]]
    spread = index.label_spread[pos[ok]]
    base = np.where(cand.rank[ok] == 0, 1.0, 0.95)
    hits.conf[ok] = np.where(spread > 30.0, base * 0.8, base)
    hits.matched[ok] = labels[ok]


def _interpolated(
    index: GeocodeIndex, cand: _Candidates, hits: _Hits, fid: npt.NDArray[np.intp]
) -> None:
    todo = (hits.level == _NONE) & (fid >= 0) & np.isfinite(cand.house)
    if not todo.any() or len(index.face_house_key) == 0:
        return
    rows = np.flatnonzero(todo)
    h = cand.house[rows].astype(np.int64)
    key = fid[rows].astype(np.int64) * _STRIDE + h
    keys = index.face_house_key
    pos = np.searchsorted(keys, key)
    hi = np.minimum(pos, len(keys) - 1)
    lo = np.maximum(pos - 1, 0)
    same = keys[hi] == key
    hi_ok = (keys[hi] // _STRIDE == key // _STRIDE) & (pos < len(keys))
    lo_ok = (keys[lo] // _STRIDE == key // _STRIDE) & (pos > 0)
    both = hi_ok & lo_ok & ~same
    h_lo, h_hi = keys[lo] % _STRIDE, keys[hi] % _STRIDE
    xy_lo, xy_hi = index.face_house_xy[lo], index.face_house_xy[hi]
    with np.errstate(invalid="ignore", divide="ignore"):
        t = (h - h_lo) / (h_hi - h_lo)
    xy = xy_lo + t[:, None] * (xy_hi - xy_lo)
    gap = (h_hi - h_lo).astype(float)
    span = np.hypot(*(xy_hi - xy_lo).T)
    sane = span <= 2.5 * gap + 40.0
    use = same | (both & sane)
    xy = np.where(same[:, None], xy_hi, xy)
    conf = np.where(same, 0.95, 0.9 - 0.3 * np.minimum(gap, 60.0) / 60.0)
    r = rows[use]
    hits.level[r] = _INTERP
    hits.xy[r] = xy[use]
    hits.conf[r] = conf[use]
    hits.matched[r] = np.asarray(cand.label, dtype=object)[r]


def _intersection(
    index: GeocodeIndex, cand: _Candidates, hits: _Hits, face_keys: npt.NDArray[np.object_]
) -> None:
    todo = hits.level == _NONE
    if not todo.any():
        return
    rows = np.flatnonzero(todo)
    ci = index.corners.get_indexer(pd.Index(face_keys[rows]))
    ok = ci >= 0
    rows, ci = rows[ok], ci[ok]
    h = np.nan_to_num(cand.house[rows], nan=0.0)
    direction = index.corner_dir[ci]
    known_dir = np.asarray(np.isfinite(direction).all(axis=1), dtype=bool)
    xy = index.corner_xy[ci] + np.where(known_dir[:, None], direction * h[:, None], 0.0)
    conf = np.where(index.corner_from_streets[ci], 0.8, 0.75)
    conf = np.where(known_dir | (h == 0), conf, conf - 0.2) - 0.1 * np.minimum(h, 100.0) / 100.0
    elsewhere = pd.Index(face_keys[rows]).isin(index.alt_key)  # the streets meet elsewhere too
    conf = np.where(elsewhere, conf - 0.2, conf)
    hits.level[rows] = _CORNER
    hits.xy[rows] = xy
    hits.conf[rows] = conf
    hits.matched[rows] = np.asarray(cand.label, dtype=object)[rows]


def _face_gap(index: GeocodeIndex, cand: _Candidates, hits: _Hits) -> None:
    """The corner where the street's block faces jump past the cross street's number.

    On a street whose faces go ``... 14, 19 ...``, Carrera 15 to 19 meet it between the
    last point numbered 14 and the first numbered 19: at 19's corner for 19, halfway from
    14's last point to that corner for 15 to 18.
    """
    todo = (hits.level == _NONE) & np.isfinite(cand.cross_value)
    if not todo.any() or len(index.gap_key) == 0:
        return
    rows = np.flatnonzero(todo)
    sid = index.streets.get_indexer(pd.Index(np.asarray(cand.street, dtype=object)[rows]))
    key = sid * STREET_STRIDE + cand.cross_value[rows] + 1000.0
    pos = np.searchsorted(index.gap_key, key) - 1
    g = np.clip(pos, 0, len(index.gap_key) - 1)
    same = np.floor(index.gap_key[g] / STREET_STRIDE) == sid
    at_next = np.abs(cand.cross_value[rows] - index.gap_next[g]) < 1e-9
    ok = (pos >= 0) & (sid >= 0) & same & (at_next | (cand.cross_value[rows] < index.gap_next[g]))
    geom = index.gap_xy[g]
    corner = np.where(at_next[:, None], geom[:, 2:4], (geom[:, 0:2] + geom[:, 2:4]) / 2)
    h = np.nan_to_num(cand.house[rows], nan=0.0)
    xy = corner + geom[:, 4:6] * h[:, None]
    r = rows[ok]
    hits.level[r] = _CORNER
    hits.xy[r] = xy[ok]
    hits.conf[r] = np.where(at_next, 0.7, 0.65)[ok] - 0.1 * np.minimum(h[ok], 100.0) / 100.0
    hits.matched[r] = np.asarray(cand.label, dtype=object)[r]


def _along_street(index: GeocodeIndex, cand: _Candidates, hits: _Hits) -> None:
    todo = (hits.level == _NONE) & np.isfinite(cand.cross_value)
    if not todo.any() or len(index.street_corner_key) < 2:
        return
    rows = np.flatnonzero(todo)
    sid = index.streets.get_indexer(pd.Index(np.asarray(cand.street, dtype=object)[rows]))
    ok = sid >= 0
    rows, sid = rows[ok], sid[ok]
    key = sid * STREET_STRIDE + cand.cross_value[rows] + 1000.0
    keys = index.street_corner_key
    n = len(keys)
    pos = np.searchsorted(keys, key)
    street_of = np.floor(keys / STREET_STRIDE)
    i1 = np.clip(pos - 1, 0, n - 1)
    i2 = np.clip(pos, 0, n - 1)
    lo_ok = (pos > 0) & (street_of[i1] == sid)
    hi_ok = (pos < n) & (street_of[i2] == sid)
    # beyond the known corners: extrapolate from the nearest corner and one up to 4 further
    far_lo = np.clip(i1 - 4, 0, n - 1)
    far_hi = np.clip(i2 + 4, 0, n - 1)
    for _step in range(4):
        far_lo = np.where(street_of[far_lo] == sid, far_lo, np.minimum(far_lo + 1, i1))
        far_hi = np.where(street_of[far_hi] == sid, far_hi, np.maximum(far_hi - 1, i2))
    a = np.where(lo_ok & hi_ok, i1, np.where(lo_ok, far_lo, i2))
    b = np.where(lo_ok & hi_ok, i2, np.where(lo_ok, i1, far_hi))
    valid = (street_of[a] == sid) & (street_of[b] == sid) & (a != b) & (lo_ok | hi_ok)
    valid &= _inside_or_wide(keys, a, b, lo_ok & hi_ok)
    ka, kb = keys[a], keys[b]
    with np.errstate(invalid="ignore", divide="ignore"):
        t = (key - ka) / (kb - ka)
    pa, pb = index.street_corner_xy[a], index.street_corner_xy[b]
    direction = pb - pa
    norm = np.hypot(*direction.T)
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = direction / norm[:, None]
    h = np.nan_to_num(cand.house[rows], nan=0.0)
    with np.errstate(invalid="ignore"):
        xy = pa + t[:, None] * direction + unit * h[:, None]
    inside = lo_ok & hi_ok
    reach = np.where(inside, 0.0, np.minimum(np.abs(key - np.where(lo_ok, ka, kb)), 10.0))
    valid &= np.isfinite(xy).all(axis=1) & (reach <= 6.0)
    conf = np.where(inside, 0.6, 0.5 - 0.03 * reach)
    r = rows[valid]
    hits.level[r] = _STREET
    hits.xy[r] = xy[valid]
    hits.conf[r] = conf[valid]
    hits.matched[r] = np.asarray(cand.label, dtype=object)[r]


def _inside_or_wide(
    keys: npt.NDArray[np.float64],
    a: npt.NDArray[np.intp],
    b: npt.NDArray[np.intp],
    inside: npt.NDArray[np.bool_],
) -> npt.NDArray[np.bool_]:
    """Extrapolation needs a baseline of at least half a street number."""
    return np.asarray(inside | (np.abs(keys[b] - keys[a]) >= 0.5), dtype=bool)


def _grid(index: GeocodeIndex, cand: _Candidates, hits: _Hits, k: int = 16) -> None:
    todo = (hits.level == _NONE) & np.isfinite(cand.uv).all(axis=1)
    if not todo.any() or len(index.grid_uv) < 3:
        return
    rows = np.flatnonzero(todo)
    tree = _grid_tree(index)
    k = min(k, len(index.grid_uv))
    dist, nb = tree.query(cand.uv[rows], k=k)
    near = dist[:, 0]
    w = 1.0 / (dist + 1.0) ** 2
    spread_u = index.grid_uv[nb, 0].std(axis=1)
    spread_v = index.grid_uv[nb, 1].std(axis=1)
    uv = cand.uv[rows]
    # centred on the query (address space) and the nearest corner (map space)
    duv = index.grid_uv[nb] - uv[:, None, :]
    ref = index.grid_xy[nb[:, 0]]
    dxy = index.grid_xy[nb] - ref[:, None, :]
    design = np.concatenate([np.ones((*nb.shape, 1)), duv], axis=2)  # q,k,3
    wd = design * w[:, :, None]
    ridge = np.diag([0.0, 1e-6, 1e-6])
    normal = np.einsum("qki,qkj->qij", wd, design) + ridge
    rhs = np.einsum("qki,qkj->qij", wd, dxy)  # q,3,2
    coef = np.linalg.solve(normal, rhs)  # q,3,2 : rows (at query, d/du, d/dv)
    xy = ref + coef[:, 0]
    # house numbers move along the street: d(xy)/dv for a calle, d(xy)/du for a carrera
    calle = np.array([s.split(" ", 1)[0] in CALLE_LIKE for s in np.asarray(cand.street)[rows]])
    along = np.where(calle[:, None], coef[:, 2], coef[:, 1])
    norm = np.hypot(*along.T)
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = along / norm[:, None]
    h = np.nan_to_num(cand.house[rows], nan=0.0)
    xy = xy + np.nan_to_num(unit) * h[:, None]
    valid = np.isfinite(xy).all(axis=1) & (near <= GRID_MAX_DISTANCE)
    valid &= (spread_u >= 0.3) & (spread_v >= 0.3)  # neighbours must span both directions
    conf = np.clip(0.45 - 0.03 * near, 0.1, 0.45)
    r = rows[valid]
    hits.level[r] = _GRID
    hits.xy[r] = xy[valid]
    hits.conf[r] = conf[valid]
    hits.matched[r] = np.asarray(cand.label, dtype=object)[r]


_TREES: dict[Any, Any] = {}


def _grid_tree(index: GeocodeIndex) -> Any:
    from scipy.spatial import cKDTree

    tree = _TREES.get(id(index))
    if tree is None or tree.n != len(index.grid_uv):
        tree = cKDTree(index.grid_uv)
        if len(_TREES) > 512:
            _TREES.clear()
        _TREES[id(index)] = tree
    return tree


def match_labels(parsed: Sequence[ParsedAddress], index: GeocodeIndex) -> pd.DataFrame:
    """Match parsed addresses against the index (a kernel: no I/O).

    Parameters
    ----------
    parsed
        Parsed addresses (typically one per distinct canonical label).
    index
        As from :func:`geo_integration.geocode_index.load_index`.

    Returns
    -------
    DataFrame
        One row per item of ``parsed`` (same order, RangeIndex): ``x``, ``y`` (EPSG:9377),
        ``match_level``, ``confidence``, ``matched_address``, ``match_reason``. Levels are
        ``exact``, ``interpolated``, ``intersection``, ``grid`` or ``none`` (the *area* level
        needs area names and is added by :func:`geocode_addresses`).
    """
    n = len(parsed)
    out = pd.DataFrame(
        {
            "x": np.full(n, np.nan),
            "y": np.full(n, np.nan),
            "match_level": "none",
            "confidence": 0.0,
            "matched_address": pd.Series([None] * n, dtype=object),
            "match_reason": [p.reason for p in parsed],
        }
    )
    # fast path: the canonical label itself is an official point
    first_try = index.labels.get_indexer(
        pd.Index([p.label if p.house is not None and not p.intersection else "" for p in parsed])
    )
    direct = first_try >= 0
    if direct.any():
        out.loc[direct, "x"] = index.label_xy[first_try[direct], 0]
        out.loc[direct, "y"] = index.label_xy[first_try[direct], 1]
        out.loc[direct, "match_level"] = "exact"
        spread = index.label_spread[first_try[direct]]
        out.loc[direct, "confidence"] = np.where(spread > 30.0, 0.8, 1.0)
        out.loc[direct, "matched_address"] = [
            p.label for p, d in zip(parsed, direct, strict=True) if d
        ]
    rest = np.flatnonzero(~direct)
    if len(rest) < n:
        sub = _match_candidates([parsed[int(i)] for i in rest], index)
        sub.index = rest
        out.loc[rest] = sub.to_numpy()
    else:
        out = _match_candidates(parsed, index)
    _avenue_crossings(parsed, out, index)
    return out


def _match_candidates(parsed: Sequence[ParsedAddress], index: GeocodeIndex) -> pd.DataFrame:
    n = len(parsed)
    out = pd.DataFrame(
        {
            "x": np.full(n, np.nan),
            "y": np.full(n, np.nan),
            "match_level": "none",
            "confidence": 0.0,
            "matched_address": pd.Series([None] * n, dtype=object),
            "match_reason": [p.reason for p in parsed],
        }
    )
    cand = _candidates(parsed, index.avenues)
    if len(cand.query) == 0:
        return out
    m = len(cand.query)
    hits = _Hits(
        level=np.full(m, _NONE, dtype=np.intp),
        xy=np.full((m, 2), np.nan),
        conf=np.zeros(m),
        matched=np.full(m, None, dtype=object),
    )
    face_keys = np.asarray(cand.face, dtype=object)
    fid = index.faces.get_indexer(pd.Index(face_keys))
    _exact(index, cand, hits)
    _interpolated(index, cand, hits, fid)
    _intersection(index, cand, hits, face_keys)
    _face_gap(index, cand, hits)
    _along_street(index, cand, hits)
    _grid(index, cand, hits)
    order = np.lexsort((cand.rank, hits.level, cand.query))
    first = order[np.r_[True, cand.query[order][1:] != cand.query[order][:-1]]]
    q = cand.query[first]
    level = hits.level[first]
    found = level < _NONE
    names = np.array(["exact", "interpolated", "intersection", "grid", "grid", "none"])
    out.loc[q, "match_level"] = names[level]
    out.loc[q[found], "x"] = hits.xy[first[found], 0]
    out.loc[q[found], "y"] = hits.xy[first[found], 1]
    out.loc[q[found], "confidence"] = np.round(hits.conf[first[found]], 3)
    out.loc[q[found], "matched_address"] = hits.matched[first[found]]
    out.loc[q[found], "match_reason"] = None
    known = index.streets.get_indexer(pd.Index(np.asarray(cand.street, dtype=object)[first])) >= 0
    known |= fid[first] >= 0
    reason = np.where(known, "no_position", "street_not_found")
    out.loc[q[~found], "match_reason"] = reason[~found]
    return out


# ---------------------------------------------------------------------------------------------
# named avenues: where the avenue's own centreline meets the cross street

#: A result for a named avenue farther than this from the avenue's crossing is replaced.
AVENUE_TOLERANCE_M = 250.0
_OPPOSITE_TYPES = {"CL": ("KR", "TV"), "DG": ("KR", "TV"), "KR": ("CL", "DG"), "TV": ("CL", "DG")}


def _avenue_points(index: GeocodeIndex, shape: int) -> tuple[Any, npt.NDArray[np.float64]]:
    from scipy.spatial import cKDTree

    key = (id(index), shape)
    cached = _TREES.get(key)
    if cached is None:
        lo, hi = np.searchsorted(index.avenue_id, [shape, shape + 1])
        pts = index.avenue_xy[lo:hi]
        cached = (cKDTree(pts), pts) if len(pts) else (None, pts)
        _TREES[key] = cached
    return cached


def _street_corner_points(index: GeocodeIndex, street: str) -> npt.NDArray[np.float64]:
    sid = index.streets.get_indexer(pd.Index([street]))[0]
    if sid < 0:
        return np.empty((0, 2))
    lo, hi = np.searchsorted(
        index.street_corner_key, [sid * STREET_STRIDE, (sid + 1) * STREET_STRIDE]
    )
    return index.street_corner_xy[lo:hi]


def _avenue_crossing(index: GeocodeIndex, p: ParsedAddress) -> npt.NDArray[np.float64] | None:
    """Where the named avenue of ``p`` meets its cross street, moved by the house number."""
    assert p.avenue is not None and p.street is not None and p.cross is not None
    tree, pts = _avenue_points(index, index.avenue_shapes[p.avenue])
    if tree is None:
        return None
    avenue_is_street = not p.intersection or _is_avenue(p.street, index.avenues[p.avenue])
    avenue, cross = (p.street, p.cross) if avenue_is_street else (p.cross, p.street)
    tail = f" {cross.cardinal}" if cross.cardinal else ""
    if cross.kind:
        keys = [f"{family_type(cross.kind)} {cross.code}{tail}"]
    else:
        keys = [
            f"{t} {cross.code}{tail}" for t in _OPPOSITE_TYPES.get(family_type(avenue.kind), ())
        ]
    found: list[tuple[float, int]] = []
    for key in keys:
        corners = _street_corner_points(index, key)
        if len(corners) == 0:
            continue
        dist, nearest = tree.query(corners)
        for i in np.flatnonzero(dist <= 120.0):
            if dist[i] <= 40.0 or _crosses(tree, pts, pts[nearest[i]], corners):
                found.append((float(dist[i]), int(nearest[i])))
    if not found:
        return None
    where = pts[[j for _, j in found]]
    if np.ptp(where[:, 0]) > 500.0 or np.ptp(where[:, 1]) > 500.0:
        return None  # the cross street meets the avenue in several places: ambiguous
    at = pts[min(found)[1]]
    h = float(p.house or 0) if not p.intersection else 0.0
    if h == 0.0:
        return at
    return at + h * _avenue_direction(tree, pts, at, cross if avenue_is_street else avenue)


def _is_avenue(ref: StreetRef, entries: Sequence[str]) -> bool:
    """True when ``ref`` is one of the numbered streets of an avenue table entry."""
    for label in entries:
        other = _ref_from_label(label)
        if other is not None and (family_type(other.kind), other.code, other.cardinal) == (
            family_type(ref.kind),
            ref.code,
            ref.cardinal,
        ):
            return True
    return False


def _tangent(tree: Any, pts: npt.NDArray[np.float64], at: npt.NDArray[np.float64]) -> Any:
    _, near = tree.query(at, k=min(6, len(pts)))
    local = pts[np.atleast_1d(near)] - at
    _, _, vt = np.linalg.svd(local - local.mean(axis=0), full_matrices=False)
    return vt[0]


def _crosses(
    tree: Any, pts: npt.NDArray[np.float64], at: npt.NDArray[np.float64], corners: Any
) -> bool:
    """True when the cross street's corners near ``at`` lie on both sides of the avenue (a
    street running alongside the avenue does not cross it; one that ends on it has a corner
    within 40 m, accepted before this test)."""
    rel = corners - at
    near = rel[np.hypot(rel[:, 0], rel[:, 1]) <= 400.0]
    t = _tangent(tree, pts, at)
    side = np.sign(t[0] * near[:, 1] - t[1] * near[:, 0])
    return bool((side > 0).any() and (side < 0).any())


def _avenue_direction(
    tree: Any, pts: npt.NDArray[np.float64], at: npt.NDArray[np.float64], cross: StreetRef
) -> npt.NDArray[np.float64]:
    """Unit tangent of the avenue at ``at``, pointing to higher cross numbers: north across
    calles (south across Sur ones), west across carreras (east across Este ones)."""
    t = _tangent(tree, pts, at)
    calle = cross.kind in CALLE_LIKE or (not cross.kind and cross.cardinal == "S")
    want = np.array([0.0, 1.0]) if calle else np.array([-1.0, 0.0])
    if cross.cardinal in ("S", "E"):
        want = -want
    return np.asarray(t if t @ want >= 0 else -t, dtype=float)


def _avenue_crossings(
    parsed: Sequence[ParsedAddress], out: pd.DataFrame, index: GeocodeIndex
) -> None:
    """Check named-avenue results against the avenue's own centreline.

    A named avenue changes numbered street along its length (Avenida Caracas is KR 14, then
    other streets in the south): a numbered result far from where the named centreline meets
    the cross street is replaced by that crossing (level ``intersection``).
    """
    for i, p in enumerate(parsed):
        if p.avenue is None or p.avenue not in index.avenue_shapes or p.cross is None:
            continue
        at = _avenue_crossing(index, p)
        if at is None:
            continue
        x, y = float(out.at[i, "x"]), float(out.at[i, "y"])  # type: ignore[arg-type]
        better = out.at[i, "match_level"] in ("exact", "interpolated", "intersection")
        if better and np.hypot(x - at[0], y - at[1]) <= AVENUE_TOLERANCE_M:
            continue
        out.at[i, "x"], out.at[i, "y"] = float(at[0]), float(at[1])
        out.at[i, "match_level"], out.at[i, "confidence"] = "intersection", 0.7
        out.at[i, "matched_address"], out.at[i, "match_reason"] = p.label, None


# ---------------------------------------------------------------------------------------------
# area level


def _area_positions(
    frame: pd.DataFrame, columns: Sequence[str], index: GeocodeIndex
) -> pd.DataFrame:
    """Centroid of the first named area found in ``columns`` (barrio, UPZ, locality)."""
    from geo_integration.text import name_key

    areas = index.areas.set_index("key")
    out = pd.DataFrame(
        {"x": np.nan, "y": np.nan, "name": None, "kind": None}, index=frame.index, dtype=object
    )
    for col in columns:
        keys = frame[col].map(lambda v: name_key(v) if isinstance(v, str) else "")
        hit = keys.isin(areas.index) & out["name"].isna()
        if hit.any():
            found = areas.loc[keys[hit]]
            out.loc[hit, "x"] = found["x"].to_numpy()
            out.loc[hit, "y"] = found["y"].to_numpy()
            out.loc[hit, "name"] = found["name"].to_numpy()
            out.loc[hit, "kind"] = found["kind"].to_numpy()
    return out


_AREA_CONFIDENCE = {"barrio": 0.3, "upz": 0.25, "locality": 0.1}


# ---------------------------------------------------------------------------------------------
# public API


def _to_wgs84(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> tuple[Any, Any]:
    from pyproj import Transformer

    from geo_integration.geo import METRIC_CRS, WGS84

    tr = Transformer.from_crs(METRIC_CRS, WGS84, always_xy=True)
    lon, lat = tr.transform(x, y)
    return np.asarray(lat, dtype=float), np.asarray(lon, dtype=float)


def _geocode_labels(
    parsed: list[ParsedAddress],
    index: GeocodeIndex,
    cache: GeocodeCache | None,
) -> pd.DataFrame:
    """Results for distinct parsed addresses, through the cache (lat/lon, level, ...)."""
    labels = [p.label for p in parsed]
    result = pd.DataFrame(
        {
            "lat": np.nan,
            "lon": np.nan,
            "match_level": "none",
            "confidence": 0.0,
            "matched_address": None,
            "match_reason": [p.reason for p in parsed],
        },
        index=pd.RangeIndex(len(parsed)),
    )
    ok_rows = [i for i, lbl in enumerate(labels) if lbl is not None]
    ok_labels = [str(labels[i]) for i in ok_rows]
    todo = ok_rows
    if cache is not None and ok_rows:
        cached = cache.get(ok_labels, source=index.fingerprint or "index")
        hit_rows = [i for i in ok_rows if labels[i] in cached.index]
        if hit_rows:
            result.loc[hit_rows, list(cached.columns)] = cached.loc[
                [labels[i] for i in hit_rows]
            ].to_numpy()
        hit = set(hit_rows)
        todo = [i for i in ok_rows if i not in hit]
        log.info("geocode cache: %d of %d labels known", len(hit_rows), len(ok_rows))
    if todo:
        matched = match_labels([parsed[i] for i in todo], index)
        lat, lon = _to_wgs84(matched["x"].to_numpy(float), matched["y"].to_numpy(float))
        matched["lat"], matched["lon"] = lat, lon
        cols = ["lat", "lon", "match_level", "confidence", "matched_address", "match_reason"]
        result.loc[todo, cols] = matched[cols].to_numpy()
        if cache is not None:
            store = result.loc[todo, cols].copy()
            store.index = pd.Index([labels[i] for i in todo])
            cache.put(store, source=index.fingerprint or "index")
    return result


def geocode_addresses(
    data: pd.Series | pd.DataFrame | Sequence[str],
    *,
    address_col: str | None = None,
    barrio_col: str | None = None,
    upz_col: str | None = None,
    localidad_col: str | None = None,
    index: GeocodeIndex | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    cache: GeocodeCache | str | os.PathLike[str] | None = None,
    online: OnlineGeocoder | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> gpd.GeoDataFrame:
    """Geocode Bogotá addresses offline.

    Parameters
    ----------
    data
        Address texts (a Series, or any sequence of strings: the result is then indexed
        0..n-1), or a DataFrame with ``address_col``.
    address_col
        Column of ``data`` holding the addresses (required for a DataFrame).
    barrio_col, upz_col, localidad_col
        Optional area columns for the *area* level, tried in this order.
    index
        A prebuilt index; default :func:`geo_integration.geocode_index.load_index` on
        ``data_dir``.
    cache
        A :class:`geo_integration.geocode_cache.GeocodeCache` or the path of its SQLite
        file; ``None``: no cache. The cache holds canonical labels (addresses): keep it with
        the drop store, never with published outputs.
    online
        An :class:`geo_integration.geocode_online.OnlineGeocoder` for the rows no offline
        level placed (sends those addresses out: only with the user's consent). Default off.
    progress
        Called as ``progress(done, total)`` while parsing (the CLI shows a bar with it).

    Returns
    -------
    GeoDataFrame
        Aligned to ``data``'s index, EPSG:4326: for a DataFrame its columns, for a Series
        none; then ``lat``, ``lon``, ``match_level``, ``confidence``, ``matched_address``,
        ``match_reason`` (why a row is ``none``, or why it fell back to ``area``) and point
        geometry (missing where unmatched).

    Raises
    ------
    MissingColumnError
        If a named column is absent.
    """
    import geopandas as gpd

    frame = _as_frame(data, address_col)
    col = address_col if isinstance(data, pd.DataFrame) else "__address__"
    if index is None:
        from geo_integration.geocode_index import load_index

        index = load_index(data_dir)
    texts = frame[col]
    codes, uniques = pd.factorize(texts.astype(object), use_na_sentinel=True)
    avenues = index.avenues
    parsed_raw: list[ParsedAddress] = []
    total = len(uniques)
    for i, text in enumerate(uniques):
        parsed_raw.append(parse_address(text, avenues=avenues))
        if progress is not None and (i % 5000 == 0 or i == total - 1):
            progress(i + 1, total)
    by_label: dict[str | None, int] = {}
    distinct: list[ParsedAddress] = []
    raw_to_distinct = np.empty(len(parsed_raw) + 1, dtype=np.intp)
    for i, p in enumerate(parsed_raw):
        key = p.label if p.label is not None else f"\0{p.reason}"
        j = by_label.get(key)
        if j is None:
            j = by_label[key] = len(distinct)
            distinct.append(p)
        raw_to_distinct[i] = j
    failed = ParsedAddress(label=None, reason="empty")
    raw_to_distinct[-1] = len(distinct)
    distinct.append(failed)
    store = _open_cache(cache)
    results = _geocode_labels(distinct, index, store)
    rows = results.iloc[raw_to_distinct[codes]].reset_index(drop=True)
    rows.index = frame.index
    if localidad_col is not None and localidad_col in frame.columns:
        rows = _apply_localities(
            rows, frame[localidad_col], distinct, raw_to_distinct[codes], index
        )
    area_cols = [c for c in (barrio_col, upz_col, localidad_col) if c is not None]
    if area_cols:
        rows = _apply_areas(rows, frame, area_cols, index)
    if online is not None:
        rows = _apply_online(rows, texts, distinct, raw_to_distinct[codes], online, store)
    out = frame.drop(columns=["__address__"], errors="ignore").copy()
    for c in RESULT_COLUMNS:
        out[c] = rows[c].to_numpy()
    out["confidence"] = out["confidence"].astype(float)
    out["lat"] = out["lat"].astype(float)
    out["lon"] = out["lon"].astype(float)
    geometry = gpd.GeoSeries(gpd.points_from_xy(out["lon"], out["lat"]), index=out.index)
    geometry[out["lat"].isna()] = None
    return gpd.GeoDataFrame(out, geometry=geometry, crs="EPSG:4326")


def _as_frame(
    data: pd.Series | pd.DataFrame | Sequence[str], address_col: str | None
) -> pd.DataFrame:
    if isinstance(data, str):
        msg = f"give a list of addresses, not one string: {data!r}"
        raise TypeError(msg)
    if not isinstance(data, pd.Series | pd.DataFrame):
        data = pd.Series(list(data), dtype=object)
    if isinstance(data, pd.Series):
        return pd.DataFrame({"__address__": data.to_numpy(dtype=object)}, index=data.index)
    if address_col is None:
        msg = "address_col is required when geocoding a DataFrame"
        raise MissingColumnError(msg)
    if address_col not in data.columns:
        msg = f"no column {address_col!r}; columns: {list(map(str, data.columns))!r}"
        raise MissingColumnError(msg, column=address_col)
    return data


def _open_cache(cache: GeocodeCache | str | os.PathLike[str] | None) -> GeocodeCache | None:
    if cache is None:
        return None
    from geo_integration.geocode_cache import GeocodeCache

    return cache if isinstance(cache, GeocodeCache) else GeocodeCache(cache)


def _apply_areas(
    rows: pd.DataFrame, frame: pd.DataFrame, columns: list[str], index: GeocodeIndex
) -> pd.DataFrame:
    for col in columns:
        if col not in frame.columns:
            msg = f"no area column {col!r}; columns: {list(map(str, frame.columns))!r}"
            raise MissingColumnError(msg, column=col)
    todo = rows["match_level"] == "none"
    if not todo.any():
        return rows
    found = _area_positions(frame.loc[todo], columns, index)
    found = found[found["name"].notna()]
    if found.empty:
        return rows
    lat, lon = _to_wgs84(found["x"].to_numpy(float), found["y"].to_numpy(float))
    rows = rows.copy()
    rows.loc[found.index, "lat"] = lat
    rows.loc[found.index, "lon"] = lon
    rows.loc[found.index, "match_level"] = "area"
    rows.loc[found.index, "confidence"] = found["kind"].map(_AREA_CONFIDENCE).to_numpy()
    rows.loc[found.index, "matched_address"] = found["name"].to_numpy()
    return rows


def _to_metric(lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64]) -> tuple[Any, Any]:
    from pyproj import Transformer

    from geo_integration.geo import METRIC_CRS, WGS84

    tr = Transformer.from_crs(WGS84, METRIC_CRS, always_xy=True)
    x, y = tr.transform(lon, lat)
    return np.asarray(x, dtype=float), np.asarray(y, dtype=float)


_PLACED = ("exact", "interpolated", "intersection", "grid")


def _apply_localities(
    rows: pd.DataFrame,
    stated: pd.Series,
    distinct: list[ParsedAddress],
    which: npt.NDArray[np.intp],
    index: GeocodeIndex,
) -> pd.DataFrame:
    """Records placed far (see :data:`geo_integration.geocode_places.LOCALITY_TOLERANCE_M`)
    from the locality their record gives move to another place of their label or corner in
    that locality (a rural town reusing the city's labels, or the other way round); with no
    such place they stay, with half their confidence and ``match_reason``
    ``outside_locality``."""
    from geo_integration.geocode_places import near_locality
    from geo_integration.localities import locality_code

    code = pd.to_numeric(stated.map(locality_code), errors="coerce").fillna(0).to_numpy(int)
    check = rows["match_level"].isin(_PLACED).to_numpy() & (code > 0)
    if not check.any() or index.loc_grid.size == 0:
        return rows
    todo = np.flatnonzero(check)
    x, y = _to_metric(rows["lon"].to_numpy(float)[todo], rows["lat"].to_numpy(float)[todo])
    far = todo[~near_locality(index.loc_grid, index.loc_origin, x, y, code[todo])]
    if len(far) == 0:
        return rows
    rows = rows.copy()
    pairs = pd.DataFrame({"row": far, "parsed": which[far], "code": code[far]})
    for j, c in pairs[["parsed", "code"]].drop_duplicates().itertuples(index=False):
        found = _alternate_in(index, distinct[j], c)
        same = (pairs["parsed"] == j) & (pairs["code"] == c)
        target = rows.index[pairs.loc[same, "row"].to_numpy()]
        if found is None:
            rows.loc[target, "confidence"] = rows.loc[target, "confidence"].astype(float) * 0.5
            rows.loc[target, "match_reason"] = "outside_locality"
            continue
        (ax, ay), level = found
        lat, lon = _to_wgs84(np.array([ax]), np.array([ay]))
        rows.loc[target, "lat"], rows.loc[target, "lon"] = float(lat[0]), float(lon[0])
        rows.loc[target, "match_level"] = level
        rows.loc[target, "confidence"] = 0.7 if level == "exact" else 0.6
        rows.loc[target, "match_reason"] = None
    return rows


def _alternate_in(
    index: GeocodeIndex, p: ParsedAddress, code: int
) -> tuple[tuple[float, float], str] | None:
    """Another place of ``p``'s label (level exact) or of one of its corners (level
    intersection) within locality ``code``."""
    from geo_integration.geocode_places import near_locality

    if p.street is None or p.cross is None or len(index.alt_key) == 0:
        return None
    rows = _address_candidates(p, index.avenues)
    labels = [r[0] for r in rows if r[0] is not None]
    faces = [r[1] for r in rows]
    for keys, level in ((labels, "exact"), (faces, "intersection")):
        pos = index.alt_key.get_indexer_for(pd.Index(list(dict.fromkeys(keys))))
        pos = pos[pos >= 0]
        if len(pos) == 0:
            continue
        xy = index.alt_xy[pos]
        inside = near_locality(
            index.loc_grid, index.loc_origin, xy[:, 0], xy[:, 1], np.full(len(pos), code)
        )
        if inside.any():
            hit = xy[np.flatnonzero(inside)[0]]
            return (float(hit[0]), float(hit[1])), level
    return None


def _apply_online(
    rows: pd.DataFrame,
    texts: pd.Series,
    distinct: list[ParsedAddress],
    which: npt.NDArray[np.intp],
    online: OnlineGeocoder,
    cache: GeocodeCache | None,
) -> pd.DataFrame:
    todo = (rows["match_level"].isin(["none", "area"])).to_numpy()
    labels = [distinct[j].label for j in which]
    wanted = sorted({labels[i] for i in np.flatnonzero(todo) if labels[i] is not None})
    if not wanted:
        return rows
    found = online.geocode(wanted, cache=cache)
    found = found[np.isfinite(found["lat"].to_numpy(float))]
    rows = rows.copy()
    pick = np.array([todo[i] and labels[i] in found.index for i in range(len(labels))])
    if not pick.any():
        return rows
    chosen = pd.Index([labels[i] for i in np.flatnonzero(pick)])
    target = rows.index[pick]
    rows.loc[target, "lat"] = found["lat"].reindex(chosen).to_numpy(float)
    rows.loc[target, "lon"] = found["lon"].reindex(chosen).to_numpy(float)
    rows.loc[target, "match_level"] = "online"
    rows.loc[target, "confidence"] = 0.5
    rows.loc[target, "matched_address"] = chosen.to_numpy()
    rows.loc[target, "match_reason"] = None
    return rows


def make_geocoder(
    *,
    data_dir: str | os.PathLike[str] | None = None,
    cache: str | os.PathLike[str] | None = None,
    online: bool = False,
    index: GeocodeIndex | None = None,
) -> Callable[[pd.Series], pd.DataFrame]:
    """Return the geocoder callable used by ingest.

    The callable takes a Series of address texts and returns a DataFrame aligned to its
    index with ``lat``, ``lon``, ``match_level``, ``confidence``, ``matched_address`` and
    ``match_reason``. The index is loaded on first use.

    Parameters
    ----------
    data_dir
        Reference data directory.
    cache
        Path of the SQLite result cache (``None``: no cache).
    online
        Also ask Nominatim (OpenStreetMap) for what stays unmatched: sends those addresses
        out of the machine. Off by default.
    index
        A prebuilt index (tests).
    """
    state: dict[str, Any] = {"index": index}

    def geocode(addresses: pd.Series) -> pd.DataFrame:
        if state["index"] is None:
            from geo_integration.geocode_index import load_index

            state["index"] = load_index(data_dir)
        engine = None
        if online:
            from geo_integration.geocode_online import OnlineGeocoder

            engine = OnlineGeocoder()
        result = geocode_addresses(addresses, index=state["index"], cache=cache, online=engine)
        return pd.DataFrame(result[list(RESULT_COLUMNS)])

    return geocode
