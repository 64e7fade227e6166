"""The geocoding index: the city's address points and streets arranged for fast matching.

:func:`build_index` (a kernel) takes the official address points, the street centrelines and
the localities and UPZ, and returns a :class:`GeocodeIndex`, in projected metres (EPSG:9377):

- ``labels``: every canonical label of the address points and its position (level *exact*);
- ``faces``: per block face (street + cross street), the house numbers known on it, sorted,
  with their positions (level *interpolated*);
- ``corners``: per block face, the corner of the street and the cross street and the
  direction in which house numbers grow, and ``gaps``: where a street's faces jump past
  a cross street's number (level *intersection*; see :mod:`geo_integration.geocode_corners`);
- ``street_corners``: the corners of each street sorted by cross-street number, and
  ``grid``: every corner in address space (calle number, carrera number) (level *grid*);
- ``areas``: centroids of localities and UPZ by name (level *area*);
- ``avenues``: the avenue table, name -> numbered streets, voted from the data, and
  ``avenue_xy``: the vertices of the centrelines of each avenue (``avenue_shapes`` maps an
  avenue table key to its ``avenue_id``);
- ``alt_key``/``alt_xy``: other places of labels and corners repeated far apart, and
  ``loc_grid``: the localities (see :mod:`geo_integration.geocode_places`).

The index uses neither the SITP stops nor the schools: the benchmark's references stay
independent of it. :func:`load_index` (I/O) builds it from the data directory once and
caches it on disk, keyed by the input files' sizes and modification times and
:data:`INDEX_VERSION`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from geo_integration.address import AVENUE_ALIASES, avenue_key
from geo_integration.errors import GeocodeError
from geo_integration.geocode_corners import (
    STREET_STRIDE,
    face_corners,
    face_gaps,
    fit_faces,
    pick_junctions,
    street_junctions,
    vote_street_labels,
)
from geo_integration.geocode_labels import (
    code_value,
    cross_values,
    parse_official,
    parse_street_labels,
)
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
    "cross_values",
    "default_cache_dir",
    "load_index",
    "parse_official",
    "parse_street_labels",
]

log = logging.getLogger(__name__)

#: Bump when the index layout or its construction changes (invalidates caches on disk).
INDEX_VERSION = "23"
CACHE_ENV_VAR = "GEO_INTEGRATION_CACHE"

FloatArray = npt.NDArray[np.float64]

#: Offset of the interpolation key: face id * _FACE_STRIDE + house number.
_FACE_STRIDE = 1000


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
# building


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
    street_codes, streets = pd.factorize(parsed["street"].to_numpy())
    med = medians.reindex(streets).to_numpy(float)[street_codes]
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
    face_codes = pd.factorize(rows["face"].to_numpy())[0].astype(np.int64)
    kcodes, kuniq = pd.factorize(face_codes * _FACE_STRIDE + rows["house"].to_numpy(np.int64))
    keep = np.unique(kcodes, return_index=True)[1]
    mean = _group_mean(kcodes, rows[["x", "y"]].to_numpy(float), len(kuniq))
    out = rows.iloc[keep].reset_index(drop=True)
    out[["x", "y"]] = mean[kcodes[keep]]
    out["house"] = out["house"].astype(int)
    return out


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
    fits = fit_faces(points)
    streets = streets.assign(
        etiqueta=vote_street_labels(streets, parsed["street"].to_numpy(), xy, to_metric)
    )
    street_labels = parse_street_labels(streets["etiqueta"])
    fitted = fits.index[fits["valid"].to_numpy()]
    found = street_junctions(streets, street_labels, to_metric, fitted=fitted)
    nodes = pick_junctions(fits, found, medians, points)
    corners = face_corners(fits, nodes)
    street_info = pd.concat(
        [
            points.drop_duplicates("street").set_index("street")[["street_value", "calle"]],
            _street_values(street_labels),
        ]
    )
    street_info = street_info[~street_info.index.duplicated()]
    grid_uv, grid_xy = _grid(corners, street_info["street_value"], street_info["calle"])
    index = _assemble(labels, points, corners, grid_uv, grid_xy)
    index.gap_key, index.gap_next, index.gap_xy = face_gaps(points, fits, index.streets)
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
    fid, faces = pd.factorize(points["face"].to_numpy(), sort=True)
    key = fid.astype(np.int64) * _FACE_STRIDE + points["house"].to_numpy(np.int64)
    order = np.argsort(key, kind="stable")
    streets = pd.Index(np.sort(pd.concat([corners["street"], points["street"]]).unique()))
    sid = streets.get_indexer(corners["street"])
    skey = sid * STREET_STRIDE + corners["cross_value"].to_numpy(float) + 1000.0
    sorder = np.argsort(skey, kind="stable")
    return GeocodeIndex(
        labels=pd.Index(labels.index.to_numpy()),
        label_xy=labels[["x", "y"]].to_numpy(float),
        label_spread=labels["spread"].to_numpy(float),
        faces=pd.Index(faces),
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
