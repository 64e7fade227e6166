"""Scan outputs for anything that reveals an individual residence.

``geo-integration privacy-check OUT_DIR --drop DROP_DIR`` reads the raw drop, collects what
would identify a residence (its coordinates to 4 decimals, its address, its id and personal
fields), and searches every output file for them. It fails if it finds any.

How coordinates are judged. A leak is a (lat, lon) pair of a residence, rounded to 4 decimals
(about 11 m), written next to each other in an output (in either order, as consecutive numbers
of the text). Published geometry has many vertices, and some fall within 11 m of a home by
chance; these are not leaks when the pair is:

- a vertex or centre of an H3 cell (resolutions 6 to 12): hexagon layers are built from them;
- quantised to 3 decimals or fewer (about 110 m), which cannot reveal 4 decimals;
- a vertex of a public reference layer or a public service point given as ``allowed_points``.

Strings: addresses (normalised: accents, case and punctuation ignored, at least 8 characters),
ids and personal-field values (whole tokens, at least 5 characters) of the drop's residence rows.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h3
import numpy as np
import pandas as pd

from geo_integration.text import name_key

__all__ = [
    "Leak",
    "Needles",
    "build_needles",
    "drop_needles",
    "raw_residence_values",
    "scan_outputs",
    "scan_text",
]

_NUMBER = re.compile(r"-?\d{1,3}\.\d{4,}")
_TEXT_SUFFIXES = {
    ".html",
    ".htm",
    ".csv",
    ".json",
    ".geojson",
    ".txt",
    ".log",
    ".md",
    ".toml",
    ".tsv",
}
_BINARY_SKIP = {".png", ".jpg", ".jpeg", ".gif", ".svg", ".ico", ".woff", ".woff2", ".ttf"}


@dataclass(frozen=True)
class Leak:
    """One finding: which file, what kind of value, and a redacted hint of where."""

    path: str
    kind: str  # "coordinates" | "address" | "id" | "personal_field"
    detail: str


@dataclass
class Needles:
    """What identifies the drop's residences."""

    pairs: set[tuple[int, int]] = field(default_factory=set)  # (lat*1e4, lon*1e4) rounded
    addresses: dict[tuple[str, str], set[tuple[str, ...]]] = field(default_factory=dict)
    # (first word, second word) -> addresses as word tuples (name_key words)
    tokens: dict[str, str] = field(default_factory=dict)  # token -> kind ("id"/"personal_field")
    allowed: set[tuple[int, int]] = field(default_factory=set)


def _q4(values: Iterable[float]) -> np.ndarray:
    return np.rint(np.asarray(list(values), dtype=float) * 1e4).astype(np.int64)


def build_needles(
    residences: pd.DataFrame,
    *,
    lat_col: str | None = "lat",
    lon_col: str | None = "lon",
    address_cols: Iterable[str] = (),
    id_cols: Iterable[str] = (),
    personal_cols: Iterable[str] = (),
    allowed_points: Iterable[tuple[float, float]] = (),
) -> Needles:
    """Collect what identifies residences from raw residence rows.

    Parameters
    ----------
    residences
        The drop's residence rows as read (original values).
    lat_col, lon_col
        Coordinate columns in degrees (EPSG:4326); non-numeric values are ignored.
    address_cols, id_cols, personal_cols
        Columns holding addresses, record ids and personal fields.
    allowed_points
        (lat, lon) of public points (service points, reference vertices) that may appear.
    """
    needles = Needles()
    if lat_col in residences.columns and lon_col in residences.columns:
        lat = pd.to_numeric(residences[lat_col], errors="coerce").to_numpy(dtype=float)
        lon = pd.to_numeric(residences[lon_col], errors="coerce").to_numpy(dtype=float)
        ok = np.isfinite(lat) & np.isfinite(lon)
        needles.pairs = set(zip(_q4(lat[ok]).tolist(), _q4(lon[ok]).tolist(), strict=True))
    for col in address_cols:
        for value in residences[col].dropna().astype(str):
            key = name_key(value)
            words = tuple(key.split())
            if len(key) >= 8 and len(words) >= 2:
                needles.addresses.setdefault((words[0], words[1]), set()).add(words)
    for kind, cols in (("id", id_cols), ("personal_field", personal_cols)):
        for col in cols:
            for value in residences[col].dropna().astype(str):
                token = value.strip()
                if len(token) >= 5:
                    needles.tokens[token.upper()] = kind
    allowed = list(allowed_points)
    if allowed:
        arr = np.asarray(allowed, dtype=float)
        needles.allowed = set(zip(_q4(arr[:, 0]).tolist(), _q4(arr[:, 1]).tolist(), strict=True))
    return needles


def _is_coarse(text: str) -> bool:
    decimals = text.split(".", 1)[1].rstrip("0")
    return len(decimals) <= 3


def _is_h3_point(lat: float, lon: float) -> bool:
    for res in range(6, 13):
        cell = h3.latlng_to_cell(lat, lon, res)
        candidates = [h3.cell_to_latlng(cell), *h3.cell_to_boundary(cell)]
        if any(abs(a - lat) < 2e-5 and abs(b - lon) < 2e-5 for a, b in candidates):
            return True
    return False


def _coordinate_leaks(text: str, needles: Needles) -> Iterator[str]:
    if not needles.pairs:
        return
    numbers = _NUMBER.findall(text)
    values = [float(n) for n in numbers]
    for i in range(len(values) - 1):
        for a, b, sa, sb in ((i, i + 1, 0, 1), (i + 1, i, 1, 0)):
            lat, lon = values[a], values[b]
            if not (-5 < lat < 14 and -80 < lon < -66):  # Colombia, lat before lon
                continue
            key = (round(lat * 1e4), round(lon * 1e4))
            if key not in needles.pairs or key in needles.allowed:
                continue
            if _is_coarse(numbers[i + sa]) or _is_coarse(numbers[i + sb]):
                continue
            if _is_h3_point(lat, lon):
                continue
            yield f"a residence's coordinates near character {text.find(numbers[i])}"


def _address_hits(words: list[str], index: dict[tuple[str, str], set[tuple[str, ...]]]) -> int:
    found: set[tuple[str, ...]] = set()
    for i in range(len(words) - 1):
        candidates = index.get((words[i], words[i + 1]))
        if candidates:
            found.update(a for a in candidates if tuple(words[i : i + len(a)]) == a)
    return len(found)


def scan_text(text: str, needles: Needles) -> list[tuple[str, str]]:
    """Return (kind, detail) for every leak found in ``text``; details never repeat the value."""
    found: list[tuple[str, str]] = [("coordinates", d) for d in _coordinate_leaks(text, needles)]
    if needles.addresses:
        hits = _address_hits(name_key(text).split(), needles.addresses)
        if hits:
            found.append(("address", f"{hits} residence address(es)"))
    if needles.tokens:
        words = set(re.findall(r"[\w.@+-]{5,}", text.upper()))
        kinds: dict[str, int] = {}
        for token, kind in needles.tokens.items():
            if token in words:
                kinds[kind] = kinds.get(kind, 0) + 1
        found += [(kind, f"{n} value(s) from the drop") for kind, n in sorted(kinds.items())]
    return found


def _file_texts(path: Path) -> Iterator[str]:
    suffix = path.suffix.lower()
    if suffix in _BINARY_SKIP:
        return
    if suffix == ".parquet":
        yield from _parquet_texts(path)
    elif suffix == ".xlsx":
        yield from _xlsx_texts(path)
    elif suffix in _TEXT_SUFFIXES:
        yield path.read_text(encoding="utf-8", errors="replace")
    else:
        yield path.read_bytes().decode("utf-8", errors="replace")


def _parquet_texts(path: Path) -> Iterator[str]:
    import pyarrow.parquet as pq

    table = pq.read_table(path).to_pandas()
    geo = [c for c in table.columns if table[c].dtype == object and _looks_wkb(table[c])]
    for col in geo:
        import shapely

        table[col] = shapely.to_wkt(shapely.from_wkb(table[col].to_numpy()), rounding_precision=-1)
    buf = io.StringIO()
    table.to_csv(buf, index=False, float_format="%.10f")
    yield buf.getvalue()


def _looks_wkb(series: pd.Series) -> bool:
    sample = series.dropna().head(1).tolist()
    return bool(sample) and isinstance(sample[0], bytes | bytearray)


def _xlsx_texts(path: Path) -> Iterator[str]:
    with zipfile.ZipFile(path) as zf:
        for name in zf.namelist():
            if name.endswith(".xml"):
                yield zf.read(name).decode("utf-8", errors="replace")


def scan_outputs(out_dir: Path, needles: Needles, *, skip: Iterable[str] = ()) -> list[Leak]:
    """Scan every file under ``out_dir`` and return the leaks found (empty when clean).

    ``skip`` names top-level entries (files or folders) of ``out_dir`` not to scan.
    """
    leaks: list[Leak] = []
    skipped = set(skip)
    for path in sorted(p for p in out_dir.rglob("*") if p.is_file()):
        rel = path.relative_to(out_dir).as_posix()
        if rel.split("/", 1)[0] in skipped:
            continue
        for text in _file_texts(path):
            for kind, detail in scan_text(text, needles):
                leaks.append(Leak(rel, kind, detail))
    return leaks


def leaks_to_json(leaks: list[Leak]) -> str:
    """Serialise leaks for a report (no leaked value is included)."""
    return json.dumps([leak.__dict__ for leak in leaks], ensure_ascii=False, indent=2)


def raw_residence_values(drop_dir: Path) -> pd.DataFrame:
    """Read the residence files of a raw drop folder and return what identifies people.

    Returns
    -------
    DataFrame
        Text columns ``id``, ``address``, ``lat``, ``lon`` (as typed) and ``personal``
        (every personal field's value, one row per value), from every residence file that
        can be read. Files that cannot be read are skipped (ingest reports them).
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
    for col in ("id", "personal", "address"):
        if col not in table.columns:
            table[col] = None
    return build_needles(
        table,
        address_cols=["address"],
        id_cols=["id"],
        personal_cols=["personal"],
        allowed_points=allowed_points,
    )
