"""Scan outputs for anything that reveals an individual residence.

``geo-integration privacy-check OUT_DIR --drop DROP_DIR`` collects what would identify a
residence of the drop (its coordinates to 4 decimals, its address, its id and personal fields)
and searches every output file for them. It fails if it finds any.

Coordinates. Every coordinate pair written in an output is found where it can be told apart
as a pair: point geometries and polygon/line vertices of GeoParquet and WKT, ``[a, b]`` arrays of
HTML, JSON and GeoJSON, ``"lat": a, "lng": b`` objects, latitude/longitude columns of tables
and adjacent numbers in a spreadsheet row. A pair matches a residence when both numbers,
rounded to 4 decimals (about 11 m), equal the residence's. Then:

- a **point** (a marker, a table row, a point geometry) that matches a residence is a leak,
  unless it is a public point (``allowed_points``: service points, proposed sites) or the
  centre of an H3 cell;
- **vertices** of polygons and lines are many, and some fall within 11 m of a home by chance.
  Vertices of H3 cells and of public layers (``allowed_vertices``: localities, UPZ) are
  skipped; the rest of a file is a leak when more of its vertices match residences than chance
  explains: more than ``expected + 4·sqrt(expected) + 2``, where ``expected`` is the mean
  number of matches of the same vertices moved 33 m in eight directions (the local density of
  homes). A polygon that traces homes matches where it is, not 33 m away, and is caught.

Strings: addresses (accents, case and punctuation ignored, at least 8 characters and two words),
ids and personal-field values (whole tokens of at least 5 characters) of the drop's residence
rows. Addresses of public service points are not needles.
"""

from __future__ import annotations

import io
import itertools
import json
import math
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h3
import numpy as np
import numpy.typing as npt
import pandas as pd

from geo_integration.text import name_key, name_keys

__all__ = [
    "Leak",
    "Needles",
    "build_needles",
    "drop_needles",
    "raw_residence_values",
    "scan_outputs",
    "scan_text",
]

_NUM = r"(-?\d{1,3}\.\d+)"
_BRACKET_PAIR = re.compile(r"\[\s*" + _NUM + r"\s*,\s*" + _NUM + r"\s*\]")
_LATLNG = re.compile(
    r"[\"']?lat(?:itude|itud)?[\"']?\s*[:=]\s*"
    + _NUM
    + r"\s*,\s*[\"']?(?:lng|lon|longitude|longitud)"
    r"[\"']?\s*[:=]\s*" + _NUM,
    re.IGNORECASE,
)
_WKT = re.compile(
    r"\b(POINT|LINESTRING|POLYGON|MULTIPOLYGON|MULTILINESTRING|MULTIPOINT)\s*\(([^A-Z]*)"
)
_WKT_PAIR = re.compile(_NUM + r"\s+" + _NUM)
_TEXT_SUFFIXES = {".html", ".htm", ".json", ".geojson", ".txt", ".log", ".md", ".toml", ".tsv"}
_BINARY_SKIP = {".png", ".jpg", ".jpeg", ".gif", ".svg", ".ico", ".woff", ".woff2", ".ttf"}
_LAT_NAMES = {"lat", "latitude", "latitud", "y"}
_LON_NAMES = {"lon", "lng", "longitude", "longitud", "x"}

Int64Array = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Leak:
    """One finding: which file, what kind of value, and a redacted hint of where."""

    path: str
    kind: str  # "coordinates" | "address" | "id" | "personal_field"
    detail: str


@dataclass
class Needles:
    """What identifies the drop's residences, and what public data may appear."""

    pairs: set[int] = field(default_factory=set)  # _pack(lat, lon) at 4 decimals
    addresses: dict[tuple[str, str], set[tuple[str, ...]]] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)  # token -> "id" / "personal_field"
    # multi-word personal values (names), indexed like addresses
    phrases: dict[tuple[str, str], set[tuple[str, ...]]] = field(default_factory=dict)
    allowed_points: set[int] = field(default_factory=set)
    allowed_vertices: set[int] = field(default_factory=set)
    _sorted: dict[str, Int64Array] = field(default_factory=dict, repr=False, compare=False)

    def sorted_keys(self, name: str) -> Int64Array:
        """The key set ``name`` (``pairs``, ``allowed_points``, ``allowed_vertices``) as a
        sorted array, made again only when the set has changed size (the sets only grow
        while the needles are built)."""
        keys: set[int] = getattr(self, name)
        cached = self._sorted.get(name)
        if cached is None or len(cached) != len(keys):
            cached = np.sort(np.fromiter(keys, dtype=np.int64, count=len(keys)))
            self._sorted[name] = cached
        return cached


def _member(keys: Int64Array, sorted_keys: Int64Array) -> npt.NDArray[np.bool_]:
    """Whether each of ``keys`` is in ``sorted_keys`` (binary search, no re-sorting)."""
    if not len(sorted_keys):
        return np.zeros(len(keys), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return sorted_keys[at] == keys


@dataclass
class _Coords:
    """Coordinate pairs found in one text or table, as (lat, lon) degrees."""

    points: list[FloatArray] = field(default_factory=list)
    vertices: list[FloatArray] = field(default_factory=list)

    def add(self, lat: FloatArray, lon: FloatArray, *, vertex: bool) -> None:
        pairs = np.column_stack([lat, lon]).astype(float)
        (self.vertices if vertex else self.points).append(pairs)

    def stacked(self, which: str) -> FloatArray:
        parts = self.vertices if which == "vertices" else self.points
        return np.vstack(parts) if parts else np.empty((0, 2))


def _pack(lat: npt.ArrayLike, lon: npt.ArrayLike) -> Int64Array:
    """Pack (lat, lon) rounded to 4 decimals into one integer key per pair."""
    la = np.rint(np.asarray(lat, dtype=float) * 1e4).astype(np.int64)
    lo = np.rint(np.asarray(lon, dtype=float) * 1e4).astype(np.int64)
    return la * 10_000_000 + lo


def _finite_pairs(lat: npt.ArrayLike, lon: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    la = pd.to_numeric(pd.Series(np.asarray(lat, dtype=object)), errors="coerce").to_numpy(float)
    lo = pd.to_numeric(pd.Series(np.asarray(lon, dtype=object)), errors="coerce").to_numpy(float)
    ok = np.isfinite(la) & np.isfinite(lo) & (np.abs(la) <= 90) & (np.abs(lo) <= 180)
    return la[ok], lo[ok]


def build_needles(
    residences: pd.DataFrame,
    *,
    lat_col: str = "lat",
    lon_col: str = "lon",
    address_cols: Iterable[str] = (),
    id_cols: Iterable[str] = (),
    personal_cols: Iterable[str] = (),
    allowed_points: Iterable[tuple[float, float]] = (),
    allowed_vertices: Iterable[tuple[float, float]] = (),
    public_addresses: Iterable[str] = (),
) -> Needles:
    """Collect what identifies residences from their rows.

    Parameters
    ----------
    residences
        Residence rows (original or normalised values).
    lat_col, lon_col
        Coordinate columns in degrees (EPSG:4326); non-numeric values are ignored.
    address_cols, id_cols, personal_cols
        Columns holding addresses, record ids and personal fields.
    allowed_points, allowed_vertices
        (lat, lon) of public points (service points, proposed sites) and of vertices of
        public layers (localities, UPZ), which may appear in outputs.
    public_addresses
        Addresses of public places (service points): not needles even if a residence
        shares one.
    """
    needles = Needles()
    if lat_col in residences.columns and lon_col in residences.columns:
        lat, lon = _finite_pairs(residences[lat_col], residences[lon_col])
        needles.pairs = set(_pack(lat, lon).tolist())
    for col in address_cols:
        for _value, key in _keyed(_distinct(residences[col])):
            words = tuple(key.split())
            if len(key) >= 8 and len(words) >= 2:
                needles.addresses.setdefault((words[0], words[1]), set()).add(words)
    _drop_public_addresses(needles, public_addresses)
    for kind, cols in (("id", id_cols), ("personal_field", personal_cols)):
        for col in cols:
            for value, key in _keyed(_distinct(residences[col])):
                token = value.strip().upper()
                words = tuple(key.split())
                if len(words) >= 2 and kind == "personal_field":
                    needles.phrases.setdefault((words[0], words[1]), set()).add(words)
                elif len(token) >= 5:
                    needles.tokens[token] = kind
    for target, given in (
        (needles.allowed_points, allowed_points),
        (needles.allowed_vertices, allowed_vertices),
    ):
        arr = np.asarray(list(given), dtype=float).reshape(-1, 2)
        arr = arr[np.isfinite(arr).all(axis=1)]
        target.update(_pack(arr[:, 0], arr[:, 1]).tolist())
    return needles


_KEY_CHUNK = 100_000


def _keyed(values: list[str]) -> Iterator[tuple[str, str]]:
    """(value, name key) pairs, keyed a chunk at a time (bounded memory)."""
    for start in range(0, len(values), _KEY_CHUNK):
        part = values[start : start + _KEY_CHUNK]
        yield from zip(part, name_keys(part), strict=True)


def _distinct(column: pd.Series) -> list[str]:
    """The distinct non-missing values of ``column`` as text."""
    return [str(v) for v in column.dropna().astype(str).drop_duplicates().tolist()]


def _drop_public_addresses(needles: Needles, public: Iterable[str]) -> None:
    """Forget residence addresses that a public place's address contains: a school at
    "Calle 45 # 23-10 Bogotá" shown in a popup reveals no one living at "Calle 45 # 23-10"."""
    for text in public:
        for address in _phrases_in(name_key(text).split(), needles.addresses):
            needles.addresses[address[0], address[1]].discard(address)


# ------------------------------------------------------------------------- extraction


def _text_coords(text: str, coords: _Coords) -> None:
    """Coordinate pairs of a text: ``[a, b]`` arrays, lat/lng objects and WKT."""
    found = list(_BRACKET_PAIR.finditer(text))
    if found:
        # a pair inside a list of pairs ("[[a, b], [c, d]]") is a vertex; alone, a point
        vertex = np.array([_in_sequence(text, m.start(), m.end()) for m in found])
        a = np.array([float(m.group(1)) for m in found])
        b = np.array([float(m.group(2)) for m in found])
        # GeoJSON writes [lon, lat], Leaflet [lat, lon]: try both orders
        for lat, lon in ((a, b), (b, a)):
            coords.add(lat[vertex], lon[vertex], vertex=True)
            coords.add(lat[~vertex], lon[~vertex], vertex=False)
    for lat_s, lon_s in _LATLNG.findall(text):
        coords.add(np.array([float(lat_s)]), np.array([float(lon_s)]), vertex=False)
    for kind, body in _WKT.findall(text):
        pairs = _WKT_PAIR.findall(body)
        if pairs:
            xy = np.array(pairs, dtype=float)
            coords.add(xy[:, 1], xy[:, 0], vertex=kind.upper() not in ("POINT", "MULTIPOINT"))


def _in_sequence(text: str, start: int, end: int) -> bool:
    before = text[max(0, start - 8) : start].rstrip()
    after = text[end : end + 8].lstrip()
    return before.endswith(("[", "],")) or (
        after.startswith((",[", ", [", ",\n")) and not (before.endswith(("(", ":")))
    )


def _table_coords(table: pd.DataFrame, coords: _Coords) -> None:
    """Latitude/longitude columns of a table: one point per row."""
    lower = {str(c).strip().lower(): c for c in table.columns}
    lat_col = next((lower[n] for n in _LAT_NAMES if n in lower), None)
    lon_col = next((lower[n] for n in _LON_NAMES if n in lower), None)
    if lat_col is not None and lon_col is not None:
        lat, lon = _finite_pairs(table[lat_col], table[lon_col])
        coords.add(lat, lon, vertex=False)


def _geometry_coords(geoms: Any, coords: _Coords) -> None:
    import shapely

    geoms = np.asarray(geoms)
    geoms = geoms[~shapely.is_missing(geoms)]
    kinds = shapely.get_type_id(geoms)
    is_point = np.isin(kinds, (0, 4))  # Point, MultiPoint
    for mask, vertex in ((is_point, False), (~is_point, True)):
        if mask.any():
            xy = shapely.get_coordinates(geoms[mask])
            coords.add(xy[:, 1], xy[:, 0], vertex=vertex)


# --------------------------------------------------------------------------- judging


def _h3_related(lat: float, lon: float) -> tuple[bool, bool]:
    """(is an H3 cell centre, is an H3 cell vertex) at resolutions 6 to 12, within 2e-5°."""
    centre = vertex = False
    for res in range(6, 13):
        cell = h3.latlng_to_cell(lat, lon, res)
        clat, clon = h3.cell_to_latlng(cell)
        centre |= abs(clat - lat) < 2e-5 and abs(clon - lon) < 2e-5
        vertex |= any(
            abs(a - lat) < 2e-5 and abs(b - lon) < 2e-5 for a, b in h3.cell_to_boundary(cell)
        )
    return centre, vertex


def _matches(pairs: FloatArray, needles: Needles, allowed: str) -> FloatArray:
    """The residence locations among ``pairs``, except those in the key set ``allowed``."""
    if not len(pairs) or not needles.pairs:
        return np.empty((0, 2))
    inside = (np.abs(pairs[:, 0]) <= 90) & (np.abs(pairs[:, 1]) <= 180)
    pairs = pairs[inside]
    keys = _pack(pairs[:, 0], pairs[:, 1])
    hit = _member(keys, needles.sorted_keys("pairs"))
    hit &= ~_member(keys, needles.sorted_keys(allowed))
    return np.unique(pairs[hit], axis=0)


_SHIFTS = [(dy, dx) for dy in (-3, 0, 3) for dx in (-3, 0, 3) if (dy, dx) != (0, 0)]


def _chance_matches(vertices: FloatArray, needles: Needles) -> float:
    """How many vertices would match homes by chance here: the mean number of matches of
    the same vertices moved by 3 cells (about 33 m) in eight directions. A polygon that
    traces homes matches where it is, not 33 m away; one that merely crosses a dense
    neighbourhood matches about as often either way."""
    unique = np.unique(_pack(vertices[:, 0], vertices[:, 1]))
    if not len(unique):
        return 0.0
    homes = needles.sorted_keys("pairs")
    counts = [_member(unique + dy * 10_000_000 + dx, homes).sum() for dy, dx in _SHIFTS]
    return float(np.mean(counts))


def coordinate_findings(coords: _Coords, needles: Needles) -> list[str]:
    """Judge the pairs found in one file (see the module docstring); details are redacted."""
    out: list[str] = []
    points = _matches(coords.stacked("points"), needles, "allowed_points")
    real = [p for p in points if not _h3_related(p[0], p[1])[0]]
    if real:
        out.append(f"{len(real)} residence location(s) written as points")
    vertices = coords.stacked("vertices")
    hits = _matches(vertices, needles, "allowed_vertices")
    hits = np.array([p for p in hits if not _h3_related(p[0], p[1])[1]]).reshape(-1, 2)
    expected = _chance_matches(vertices, needles) if len(hits) else 0.0
    limit = expected + 4 * math.sqrt(expected) + 2
    if len(hits) > limit:
        out.append(
            f"{len(hits)} polygon/line vertices at residence locations "
            f"(chance explains about {expected:.1f})"
        )
    return out


def _phrases_in(
    words: list[str], index: dict[tuple[str, str], set[tuple[str, ...]]]
) -> set[tuple[str, ...]]:
    """The phrases of ``index`` (keyed by their first two words) that occur in ``words``."""
    starts = [i for i, pair in enumerate(itertools.pairwise(words)) if pair in index]
    found: set[tuple[str, ...]] = set()
    for i in starts:
        found.update(a for a in index[words[i], words[i + 1]] if tuple(words[i : i + len(a)]) == a)
    return found


def string_findings(text: str, needles: Needles) -> list[tuple[str, str]]:
    """(kind, detail) for addresses, ids and personal values found in ``text``."""
    found: list[tuple[str, str]] = []
    keyed = name_key(text).split() if needles.addresses or needles.phrases else []
    for index, kind, what in (
        (needles.addresses, "address", "residence address(es)"),
        (needles.phrases, "personal_field", "personal value(s) from the drop"),
    ):
        hits = len(_phrases_in(keyed, index)) if index else 0
        if hits:
            found.append((kind, f"{hits} {what}"))
    if needles.tokens:
        words = set(re.findall(r"[\w.@+-]{5,}", text.upper()))
        kinds: dict[str, int] = {}
        for token, kind in needles.tokens.items():
            if token in words:
                kinds[kind] = kinds.get(kind, 0) + 1
        found += [(kind, f"{n} value(s) from the drop") for kind, n in sorted(kinds.items())]
    return found


def scan_text(text: str, needles: Needles) -> list[tuple[str, str]]:
    """Return (kind, detail) for every finding in ``text``; details never repeat a value."""
    coords = _Coords()
    _text_coords(text, coords)
    found = [("coordinates", d) for d in coordinate_findings(coords, needles)]
    return found + string_findings(text, needles)


# ----------------------------------------------------------------------------- files


def _scan_table(table: pd.DataFrame, needles: Needles, coords: _Coords) -> list[tuple[str, str]]:
    _table_coords(table, coords)
    text_cols = [
        c
        for c in table.columns
        if table[c].dtype == object or pd.api.types.is_string_dtype(table[c])
    ]
    buf = io.StringIO()
    table[text_cols].to_csv(buf, index=False)
    text = buf.getvalue()
    _text_coords(text, coords)
    return string_findings(text, needles)


def _scan_file(path: Path, needles: Needles) -> list[tuple[str, str]]:
    suffix = path.suffix.lower()
    coords = _Coords()
    found: list[tuple[str, str]] = []
    if suffix in _BINARY_SKIP:
        return []
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path).to_pandas()
        for col in [c for c in table.columns if _looks_wkb(table[c])]:
            import shapely

            _geometry_coords(shapely.from_wkb(table[col].to_numpy()), coords)
            table = table.drop(columns=col)
        found += _scan_table(table, needles, coords)
    elif suffix == ".csv":
        try:
            table = pd.read_csv(path, dtype=str, keep_default_na=False)
        except (pd.errors.ParserError, UnicodeDecodeError, ValueError):
            table = pd.DataFrame({"text": [path.read_text(encoding="utf-8", errors="replace")]})
        found += _scan_table(table, needles, coords)
    elif suffix == ".xlsx":
        for rows in _xlsx_rows(path):
            for row in rows:
                numbers = np.array(row, dtype=float)
                if len(numbers) >= 2:
                    coords.add(numbers[:-1], numbers[1:], vertex=False)
        text = "\n".join(_xlsx_texts(path))
        _text_coords(text, coords)
        found += string_findings(text, needles)
    else:
        text = path.read_text(encoding="utf-8", errors="replace")
        _text_coords(text, coords)
        found += string_findings(text, needles)
    return [("coordinates", d) for d in coordinate_findings(coords, needles)] + found


def _looks_wkb(series: pd.Series) -> bool:
    sample = series.dropna().head(1).tolist()
    return bool(sample) and isinstance(sample[0], bytes | bytearray)


def _xlsx_texts(path: Path) -> Iterator[str]:
    with zipfile.ZipFile(path) as zf:
        for name in zf.namelist():
            if name.endswith(".xml"):
                yield zf.read(name).decode("utf-8", errors="replace")


def _xlsx_rows(path: Path) -> Iterator[list[list[float]]]:
    """Numeric cell values of each worksheet row (for adjacent lat/lon numbers)."""
    row_re = re.compile(r"<row[^>]*>(.*?)</row>", re.S)
    num_re = re.compile(r"<c [^>]*?(?:t=\"n\")?[^>]*><v>(-?\d+\.\d+)</v></c>")
    with zipfile.ZipFile(path) as zf:
        for name in zf.namelist():
            if name.startswith("xl/worksheets/") and name.endswith(".xml"):
                xml = zf.read(name).decode("utf-8", errors="replace")
                yield [[float(v) for v in num_re.findall(r)] for r in row_re.findall(xml)]


def scan_outputs(out_dir: Path, needles: Needles, *, skip: Iterable[str] = ()) -> list[Leak]:
    """Scan every file under ``out_dir`` and return the findings (empty when clean).

    ``skip`` names top-level entries (files or folders) of ``out_dir`` not to scan.
    """
    leaks: list[Leak] = []
    skipped = set(skip)
    for path in sorted(p for p in out_dir.rglob("*") if p.is_file()):
        rel = path.relative_to(out_dir).as_posix()
        if rel.split("/", 1)[0] in skipped:
            continue
        leaks += [Leak(rel, kind, detail) for kind, detail in _scan_file(path, needles)]
    return leaks


def leaks_to_json(leaks: list[Leak]) -> str:
    """Serialise findings for a report (no leaked value is included)."""
    return json.dumps([leak.__dict__ for leak in leaks], ensure_ascii=False, indent=2)


# ---------------------------------------------------------------------------- needles


def raw_residence_values(drop_dir: Path) -> pd.DataFrame:
    """Read the residence files of a raw drop folder and return what identifies people.

    Returns
    -------
    DataFrame
        ``id``, ``address`` (text as typed), ``lat``, ``lon`` (numbers where they parse as
        degrees) and ``personal`` (every personal field's value, one row per value), from
        every residence file that can be read. Files that cannot be read are skipped
        (ingest reports them).
    """
    from geo_integration.errors import GeoIntegrationError
    from geo_integration.ingest import CONFIG_FILE, _drop_files, _read_config
    from geo_integration.readers import open_table
    from geo_integration.schema import RESIDENCES, file_kind, recognise_columns

    config = _read_config(drop_dir)
    files, _links = _drop_files(drop_dir)
    parts: list[pd.DataFrame] = []
    for rel, path in files:
        fconf = config.for_file(rel)
        if rel == CONFIG_FILE or (fconf.kind or file_kind(rel)) != RESIDENCES:
            continue
        try:
            reader = open_table(path, fconf)
            colmap = recognise_columns(reader.info.columns, kind=RESIDENCES, mapping=fconf.columns)
            for chunk in reader.chunks():
                parts.append(_identifying(chunk.table.to_pandas(), colmap))
        except (GeoIntegrationError, OSError, ValueError):
            continue
    if not parts:
        return pd.DataFrame(columns=["id", "address", "lat", "lon", "personal"])
    return pd.concat(parts, ignore_index=True)


def _identifying(table: pd.DataFrame, colmap: Any) -> pd.DataFrame:
    out = pd.DataFrame(index=table.index)
    for name in ("id", "address", "lat", "lon"):
        column = colmap.fields.get(name)
        out[name] = table[column] if column in table.columns else None
    for name in ("lat", "lon"):
        out[name] = pd.to_numeric(
            out[name].astype("string").str.replace(",", ".", regex=False), errors="coerce"
        )
    personal = [c for c in colmap.personal if c in table.columns]
    extra = [pd.DataFrame({"personal": table[c].dropna().astype(str).to_numpy()}) for c in personal]
    return pd.concat([out, *extra], ignore_index=True)


def drop_needles(
    residences: pd.DataFrame,
    *,
    raw: pd.DataFrame | None = None,
    allowed_points: Iterable[tuple[float, float]] = (),
    allowed_vertices: Iterable[tuple[float, float]] = (),
    public_addresses: Iterable[str] = (),
) -> Needles:
    """Needles from a drop: its normalised residences (``lat``, ``lon``, ``address``: the
    coordinates as placed, geocoded ones included) and, when given, the raw values of its
    residence files (:func:`raw_residence_values`: ids, addresses, coordinates as typed and
    personal fields)."""
    cols = [c for c in ("lat", "lon", "address") if c in residences.columns]
    frames = [pd.DataFrame(residences[cols]).reset_index(drop=True)]
    if raw is not None and not raw.empty:
        frames.append(raw)
    table = pd.concat(frames, ignore_index=True)
    for col in ("id", "personal", "address", "lat", "lon"):
        if col not in table.columns:
            table[col] = None
    return build_needles(
        table,
        address_cols=["address"],
        id_cols=["id"],
        personal_cols=["personal"],
        allowed_points=allowed_points,
        allowed_vertices=allowed_vertices,
        public_addresses=public_addresses,
    )


def reference_vertices(localities: Any, upz: Any) -> FloatArray:
    """(lat, lon) of every vertex of the public boundary layers (allowed in outputs)."""
    import shapely

    parts = []
    for layer in (localities, upz):
        if layer is not None:
            xy = shapely.get_coordinates(layer.geometry.to_numpy())
            parts.append(np.column_stack([xy[:, 1], xy[:, 0]]))
    return np.vstack(parts) if parts else np.empty((0, 2))
