"""Corners of block faces: where a street meets its cross street (kernels, no I/O).

The matcher's *intersection* level needs, for a block face ``"CL 45|23"`` (Calle 45 from
its corner with Carrera 23), where that corner is. Sources, best first:

- the **centreline junctions** of the two streets: a shared vertex, a street ending within
  25 m of the other, lines crossing without a vertex, or a street's loose end carried on up
  to :data:`RAY_REACH_M` (only for faces with nothing else); the junction nearest where the
  face's own points put it is kept, and one far from every point of its street (a rural
  town reusing the city's labels) is not;
- the **face fit**: the face's points (house number = metres from the corner) extrapolated
  to number 0, each side of the street apart (odd and even numbers), in one place;
- the **face gaps**: where a street's faces jump past a cross street's number, between the
  last point of one face and the first of the next (gaps up to :data:`GAP_MAX_M`).

Centrelines without a label take the street of the address points along them
(:func:`vote_street_labels`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from geo_integration.geocode_labels import cross_values, parse_street_labels

__all__ = [
    "GAP_MAX_M",
    "RAY_REACH_M",
    "STREET_STRIDE",
    "VOTE_RADIUS_M",
    "face_corners",
    "face_gaps",
    "fit_faces",
    "pick_junctions",
    "street_junctions",
    "vote_street_labels",
]

FloatArray = npt.NDArray[np.float64]

#: Offset of the along-street key: street id * STREET_STRIDE + cross value + 1000.
STREET_STRIDE = 4000.0
#: Longest gap between consecutive block faces of a street that places a corner (metres).
GAP_MAX_M = 100.0
#: Address points within this distance of an unlabelled centreline vote for its label.
VOTE_RADIUS_M = 20.0
#: How far a street's end is carried on to meet a crossing street (metres).
RAY_REACH_M = 100.0


def _unit(vectors: FloatArray) -> FloatArray:
    norm = np.hypot(vectors[:, 0], vectors[:, 1])
    with np.errstate(invalid="ignore", divide="ignore"):
        out = vectors / norm[:, None]
    out[~np.isfinite(out)] = np.nan
    return out


def fit_faces(points: pd.DataFrame) -> pd.DataFrame:
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


def face_gaps(
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
    key = ends["sid"].to_numpy()[:-1] * STREET_STRIDE + ends["value"].to_numpy()[:-1] + 1000.0
    geometry = np.column_stack([a, corner, unit])
    return key[keep], ends["value"].to_numpy(float)[1:][keep], geometry[keep]


def street_junctions(
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
    trees = _Trees(metric, lab["calle"].to_numpy(bool))
    near = _near_junctions(metric, lab, trees)
    new = pd.Index(shared["face"].unique()).get_indexer(near["face"]) < 0
    found = pd.concat([shared, near[new]], ignore_index=True)
    rays = _ray_junctions(metric, lab, trees)
    known = pd.Index(found["face"]).append(fitted).unique()
    return pd.concat([found, rays[known.get_indexer(rays["face"]) < 0]], ignore_index=True)


class _Trees:
    """Spatial indexes of the calle-like and of the carrera-like segments: a junction pairs
    one of each, so each query searches only the other orientation."""

    def __init__(self, metric: Any, calle: npt.NDArray[np.bool_]) -> None:
        import shapely

        self.calle = calle
        self.members = (np.flatnonzero(calle), np.flatnonzero(~calle))
        self.trees = tuple(shapely.STRtree(metric[m]) for m in self.members)

    def crossing(
        self, geoms: Any, is_calle: npt.NDArray[np.bool_], **query: Any
    ) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
        """Pairs (item of ``geoms``, segment) where the segment has the other orientation
        (``query``: STRtree predicate and distance; none for bounding boxes)."""
        items, segments = [], []
        for side, other in ((True, 1), (False, 0)):
            which = np.flatnonzero(is_calle == side)
            qi, si = self.trees[other].query(geoms[which], **query)
            items.append(which[qi])
            segments.append(self.members[other][si])
        return np.concatenate(items), np.concatenate(segments)


def _ray_junctions(
    metric: Any, lab: pd.DataFrame, trees: _Trees, reach: float = RAY_REACH_M
) -> pd.DataFrame:
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
    ri, b = trees.crossing(rays, trees.calle[owner])
    a = owner[ri]
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


def _near_junctions(metric: Any, lab: pd.DataFrame, trees: _Trees) -> pd.DataFrame:
    """Junctions without a shared vertex: a street ending within 25 m of a crossing street (a
    calle stopping at the edge of an avenue whose centreline runs down its median; the
    junction is the end's projection on the avenue), and streets whose lines cross (bridges,
    interchanges, unnoded crossings; the junction is where they cross)."""
    import shapely

    ends = np.concatenate([shapely.get_point(metric, 0), shapely.get_point(metric, -1)])
    owner = np.concatenate([np.arange(len(metric)), np.arange(len(metric))])
    qi, b = trees.crossing(ends, trees.calle[owner], predicate="dwithin", distance=25.0)
    a = owner[qi]
    at = shapely.line_interpolate_point(metric[b], shapely.line_locate_point(metric[b], ends[qi]))
    # and streets that cross without a shared vertex (interchanges, unnoded crossings)
    calles, carreras = trees.members
    qi, si = trees.trees[1].query(metric[calles])  # bounding boxes, then the predicate
    ca, cb = calles[qi], carreras[si]
    keep = shapely.crosses(metric[ca], metric[cb])
    ca, cb = ca[keep], cb[keep]
    crossing = shapely.centroid(shapely.intersection(metric[ca], metric[cb]))
    a, b = np.concatenate([a, ca]), np.concatenate([b, cb])
    return _junction_rows(a, b, np.concatenate([at, crossing]), lab)


def pick_junctions(
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


def face_corners(fits: pd.DataFrame, nodes: pd.DataFrame) -> pd.DataFrame:
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
