"""Ingest a data drop: a folder of files to normalised tables, quarantine and report.

``ingest_drop(DROP_DIR)`` reads every file of the folder (see :mod:`geo_integration.readers`),
recognises residence and service files and their columns (:mod:`geo_integration.schema`),
parses and converts coordinates (:mod:`geo_integration.coords`), drops personal fields and
salts record ids (:mod:`geo_integration.privacy`), and writes the normalised drop into the
drop store (:mod:`geo_integration.store`). Rows that cannot be accepted go to quarantine with
their file, row number, reason (the fixed vocabulary of :mod:`geo_integration.schema`) and
original values. For every file, rows read == rows accepted + rows quarantined.

A file that cannot be read at all (empty, binary, truncated, wrong sheet, no location
columns, ...) is an error of that file, named in the report; the other files are still
ingested. When no file at all can be ingested, :class:`~geo_integration.errors.DropError`
names every file and why, and nothing is written.

Residences never leave the store at row level: the report holds counts only.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from geo_integration.coords import (
    MISSING,
    NON_FINITE,
    NOT_A_NUMBER,
    OK,
    CrsGuess,
    detect_crs,
    in_region,
    parse_numbers,
    to_wgs84,
)
from geo_integration.errors import DropError, GeocodeError, InputFileError, MissingColumnError
from geo_integration.readers import DEFAULT_CHUNK_ROWS, RawChunk, RestartExact, TableReader
from geo_integration.schema import (
    MAX_HOUSEHOLD,
    QUARANTINE_REASONS,
    RESIDENCES,
    SERVICES,
    UNKNOWN,
    ColumnMap,
    DropConfig,
    FileConfig,
    file_kind,
    parse_drop_config,
    reason_codes,
    recognise_columns,
    service_type_key,
    text_problems,
)
from geo_integration.store import Drop, StoreArg

__all__ = ["Geocoder", "ingest_drop", "resolve_drop"]

log = logging.getLogger(__name__)

#: ``(addresses) -> DataFrame`` aligned to the addresses' index with ``lat``, ``lon``,
#: ``match_level``, ``confidence``, ``matched_address``.
Geocoder = Callable[[pd.Series], pd.DataFrame]

CONFIG_FILE = "drop.toml"
#: Longest original value kept in a quarantine record (characters); longer ones are cut.
MAX_VALUE_CHARS = 10_000
_TEXT_FIELDS = {
    RESIDENCES: ("id", "address", "localidad", "barrio", "upz"),
    SERVICES: (
        "id",
        "name",
        "secretariat",
        "service_type",
        "hours",
        "address",
        "localidad",
        "barrio",
        "upz",
    ),
}
_GEOCODE_COLUMNS = ("lat", "lon", "match_level", "confidence", "matched_address")
_CODES = reason_codes()
_NAMES = np.array(["", *QUARANTINE_REASONS], dtype=object)


# ------------------------------------------------------------------------------ file state


@dataclass
class _FileState:
    """Everything learnt while reading one file; merged into the drop when the file ends."""

    rel: str
    kind: str
    config: FileConfig
    reader: TableReader
    colmap: ColumnMap
    keep_personal: bool
    salt: bytes
    seen: set[str]
    guess: CrsGuess | None = None
    new_ids: set[str] = field(default_factory=set)
    accepted: list[pa.Table] = field(default_factory=list)
    quarantine: list[pa.Table] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)
    rows_read: int = 0
    blank_rows: int = 0
    swapped_rows: int = 0
    pending_geocoding: int = 0


def _mark(
    codes: npt.NDArray[np.int8],
    detail: npt.NDArray[np.object_],
    mask: npt.NDArray[np.bool_],
    reason: str,
    text: str,
) -> None:
    code = _CODES[reason]
    replace = mask & ((codes == 0) | (codes > code))
    codes[replace] = code
    detail[replace] = text


def _clean(column: Any) -> pa.Array | pa.ChunkedArray:
    text = pc.utf8_trim_whitespace(column)
    return pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)


def _nulls(n: int) -> pa.Array:
    return pa.nulls(n, type=pa.string())


# ------------------------------------------------------------------------------ a chunk


def _coordinates(
    chunk: RawChunk, st: _FileState
) -> tuple[npt.NDArray[np.float64], ...] | tuple[Any, ...]:
    """Return (a, b, status_a, status_b): latitude-like and longitude-like values."""
    n = chunk.table.num_rows
    if st.reader.info.has_geometry and chunk.x is not None and chunk.y is not None:

        def status(v: npt.NDArray[np.float64]) -> npt.NDArray[np.int8]:
            out = np.where(np.isfinite(v), OK, NON_FINITE).astype(np.int8)
            out[np.isnan(v)] = MISSING
            return out

        return chunk.y, chunk.x, status(chunk.y), status(chunk.x)
    fields = st.colmap.fields
    if "lat" in fields and "lon" in fields:
        a, sa = parse_numbers(chunk.table.column(fields["lat"]), decimal=st.config.decimal)
        b, sb = parse_numbers(chunk.table.column(fields["lon"]), decimal=st.config.decimal)
        return a, b, sa, sb
    nan = np.full(n, np.nan)
    missing = np.full(n, MISSING, dtype=np.int8)
    return nan, nan.copy(), missing, missing.copy()


def _crs_guess(st: _FileState, a: Any, b: Any, valid: npt.NDArray[np.bool_]) -> CrsGuess:
    if st.guess is None and valid.any():
        info = st.reader.info
        declared = st.config.crs or (info.crs if info.has_geometry else None)
        trusted = st.config.crs is not None or info.crs_trusted
        st.guess = detect_crs(a[valid], b[valid], declared=declared, trust_declared=trusted)
    return st.guess or CrsGuess("EPSG:4326", False, 0.0, "detected")


def _locate(
    chunk: RawChunk, st: _FileState, codes: Any, detail: Any, address: Any
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    a, b, sa, sb = _coordinates(chunk, st)
    if chunk.bad_geometry is not None:
        _mark(codes, detail, chunk.bad_geometry, "bad_geometry", "geometry")
    _mark(codes, detail, (sa == NON_FINITE) | (sb == NON_FINITE), "non_finite_coordinates", "")
    _mark(codes, detail, (sa == NOT_A_NUMBER) | (sb == NOT_A_NUMBER), "bad_coordinates", "")
    _mark(codes, detail, (sa == MISSING) != (sb == MISSING), "partial_coordinates", "")
    valid = (sa == OK) & (sb == OK)
    guess = _crs_guess(st, a, b, valid)
    lon, lat, swapped = to_wgs84(a, b, guess)
    far = valid & ~in_region(lon, lat)
    _mark(codes, detail, far, "outside_bogota_region", guess.crs)
    no_address = np.asarray(pc.is_null(address).to_numpy(zero_copy_only=False), dtype=bool)
    none = (sa == MISSING) & (sb == MISSING)
    _mark(codes, detail, none & no_address, "no_location", "")
    st.swapped_rows += int((swapped & (codes == 0)).sum())
    return lon, lat, valid


def _number_field(
    chunk: RawChunk, st: _FileState, name: str
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int8]] | None:
    column = st.colmap.fields.get(name)
    if column is None:
        return None
    return parse_numbers(chunk.table.column(column), decimal=st.config.decimal)


def _household(chunk: RawChunk, st: _FileState, codes: Any, detail: Any) -> Any:
    parsed = _number_field(chunk, st, "household_size")
    n = chunk.table.num_rows
    if parsed is None:
        return np.ones(n, dtype=np.int64)
    values, status = parsed
    with np.errstate(invalid="ignore"):
        good = (status == OK) & (values == np.floor(values)) & (values >= 1)
        good &= values <= MAX_HOUSEHOLD
    column = st.colmap.fields["household_size"]
    _mark(codes, detail, (status != MISSING) & ~good, "bad_household_size", repr(column))
    return np.where(good, values, 1).astype(np.int64)


def _capacity(chunk: RawChunk, st: _FileState, codes: Any, detail: Any) -> Any:
    parsed = _number_field(chunk, st, "capacity")
    if parsed is None:
        return np.full(chunk.table.num_rows, np.nan)
    values, status = parsed
    with np.errstate(invalid="ignore"):
        bad = (status == NOT_A_NUMBER) | (status == NON_FINITE) | ((status == OK) & (values < 0))
    _mark(codes, detail, bad, "bad_capacity", repr(st.colmap.fields["capacity"]))
    return values


def _duplicates(ids: Any, st: _FileState, codes: Any, detail: Any) -> npt.NDArray[np.object_]:
    """Quarantine repeated ids; return the id of each row (``None`` where absent)."""
    keys = np.asarray(ids.to_numpy(zero_copy_only=False), dtype=object)
    idx = np.nonzero((codes == 0) & pd.notna(keys))[0]
    candidates = keys[idx].tolist()
    seen, new = st.seen, st.new_ids
    distinct = set(candidates)
    if len(distinct) == len(idx) and distinct.isdisjoint(seen) and distinct.isdisjoint(new):
        new |= distinct  # the usual case, at C speed
        return keys
    dup = np.zeros(len(idx), dtype=bool)
    for i, key in enumerate(candidates):
        if key in seen or key in new:
            dup[i] = True
        else:
            new.add(key)
    mask = np.zeros(len(codes), dtype=bool)
    mask[idx[dup]] = True
    _mark(codes, detail, mask, "duplicate_id", repr(st.colmap.fields.get("id")))
    return keys


def _record_ids(
    keys: npt.NDArray[np.object_], rows: npt.NDArray[np.int64], st: _FileState
) -> pa.Array:
    """Service ids as given, salted record ids for residences; file and row when absent."""
    from geo_integration.privacy import salted_id_array

    missing = pd.isna(keys)
    if missing.any():
        mark = ":" if st.kind == SERVICES else "\x00#"
        keys = keys.copy()
        keys[missing] = [f"{st.rel}{mark}{r}" for r in rows[missing].tolist()]
    if st.kind == SERVICES:
        return pa.array(keys, type=pa.string())
    return salted_id_array(keys.tolist(), st.salt)


def _process_chunk(chunk: RawChunk, st: _FileState) -> None:
    table, n = chunk.table, chunk.table.num_rows
    st.blank_rows += chunk.blank_rows
    st.rows_read += n + len(chunk.malformed)
    codes = np.zeros(n, dtype=np.int8)
    detail = np.full(n, "", dtype=object)
    fields = st.colmap.fields
    text = {
        f: _clean(table.column(fields[f])) if f in fields else _nulls(n)
        for f in _TEXT_FIELDS[st.kind]
    }
    for name, column in text.items():
        if name in fields:
            for reason, mask in text_problems(column).items():
                _mark(codes, detail, mask, reason, repr(fields[name]))
    lon, lat, valid = _locate(chunk, st, codes, detail, text["address"])
    numbers = (
        {"household_size": _household(chunk, st, codes, detail)}
        if st.kind == RESIDENCES
        else {"capacity": _capacity(chunk, st, codes, detail)}
    )
    keys = _duplicates(text["id"], st, codes, detail)
    keep = codes == 0
    numbers["keys"] = keys
    st.accepted.append(_accepted(chunk, st, keep, text, numbers, lon, lat, valid))
    st.quarantine.append(_quarantined(chunk, st, ~keep, codes, detail))
    st.pending_geocoding += int((keep & ~valid).sum())


def _accepted(
    chunk: RawChunk,
    st: _FileState,
    keep: npt.NDArray[np.bool_],
    text: dict[str, Any],
    numbers: dict[str, Any],
    lon: Any,
    lat: Any,
    valid: Any,
) -> pa.Table:
    mask = pa.array(keep)
    rows = chunk.rows[keep]
    count = len(rows)
    id_column = "record_id" if st.kind == RESIDENCES else "service_id"
    out: dict[str, Any] = {
        id_column: _record_ids(numbers.pop("keys")[keep], rows, st),
        "source_file": pa.repeat(pa.scalar(st.rel), count),
        "source_row": pa.array(rows, type=pa.int64()),
    }
    for name in _TEXT_FIELDS[st.kind][1:]:
        out[name] = text[name].filter(mask)
    if st.kind == SERVICES:
        kinds = pd.Series(text["service_type"].filter(mask).to_pylist(), dtype=object)
        out["service_type"] = pa.array(kinds.map(service_type_key), type=pa.string())
    for name, values in numbers.items():
        out[name] = pa.array(values[keep])
    out["lon"] = pa.array(lon[keep])
    out["lat"] = pa.array(lat[keep])
    out["coord_source"] = pa.array(np.where(valid[keep], "input", "none"), type=pa.string())
    if st.kind == RESIDENCES and st.keep_personal:
        for column in st.colmap.personal:
            out[f"personal_{_snake(column)}"] = _clean(chunk.table.column(column)).filter(mask)
    return pa.table(out)


def _snake(name: str) -> str:
    from geo_integration.text import snake_key

    return snake_key(name) or "column"


def _capped(value: object) -> object:
    if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
        return value[:MAX_VALUE_CHARS] + f"...[{len(value) - MAX_VALUE_CHARS} more characters]"
    return value


def _quarantined(
    chunk: RawChunk,
    st: _FileState,
    drop: npt.NDArray[np.bool_],
    codes: npt.NDArray[np.int8],
    detail: npt.NDArray[np.object_],
) -> pa.Table:
    hidden = set() if st.keep_personal or st.kind == SERVICES else set(st.colmap.personal)
    columns = [c for c in chunk.table.column_names if c not in hidden]
    records: list[dict[str, Any]] = chunk.table.select(columns).filter(pa.array(drop)).to_pylist()
    if chunk.geometry_text is not None:
        shapes = [g for g, d in zip(chunk.geometry_text, drop.tolist(), strict=True) if d]
        for one, shape in zip(records, shapes, strict=True):
            one["geometry"] = shape
    rows = chunk.rows[drop].tolist()
    reasons = _NAMES[codes[drop]].tolist()
    details = detail[drop].tolist()
    for bad in chunk.malformed:
        named = dict(zip(st.reader.info.columns, bad.fields, strict=False))
        record: dict[str, Any] = {k: v for k, v in named.items() if k not in hidden}
        if len(bad.fields) > len(st.reader.info.columns):
            record["_extra_fields"] = bad.fields[len(st.reader.info.columns) :]
        reason, _, why = bad.reason.partition(": ")
        records.append(record)
        rows.append(bad.row)
        reasons.append(reason)
        details.append(why or f"{len(bad.fields)} fields, header has {len(st.reader.info.columns)}")
    st.reasons.update(reasons)
    texts = [
        json.dumps({k: _capped(v) for k, v in r.items()}, ensure_ascii=False, default=str)
        for r in records
    ]
    return pa.table(
        {
            "source_file": pa.repeat(pa.scalar(st.rel), len(rows)),
            "source_row": pa.array(rows, type=pa.int64()),
            "kind": pa.repeat(pa.scalar(st.kind), len(rows)),
            "reason": pa.array(reasons, type=pa.string()),
            "detail": pa.array(details, type=pa.string()),
            "values": pa.array(texts, type=pa.string()),
        }
    )


# ------------------------------------------------------------------------------ a file


@dataclass
class _FileResult:
    """The report entry of a file and its tables (empty when the file failed)."""

    entry: dict[str, Any]
    accepted: list[pa.Table] = field(default_factory=list)
    quarantine: list[pa.Table] = field(default_factory=list)

    @property
    def ingested(self) -> bool:
        return self.entry["kind"] in (RESIDENCES, SERVICES) and not self.entry["errors"]


@dataclass
class _Context:
    config: DropConfig
    salt: bytes
    seen: dict[str, set[str]]
    chunk_rows: int


def _entry(rel: str, kind: str) -> dict[str, Any]:
    return {
        "path": rel,
        "kind": kind,
        "rows_read": 0,
        "rows_accepted": 0,
        "rows_quarantined": 0,
        "quarantine_reasons": {},
        "errors": [],
        "warnings": [],
    }


def _require_location(colmap: ColumnMap, reader: TableReader) -> None:
    fields = colmap.fields
    if ("lat" in fields) != ("lon" in fields):
        have, lack = ("lat", "lon") if "lat" in fields else ("lon", "lat")
        msg = f"column {fields[have]!r} gives {have} but no column gives {lack}"
        raise MissingColumnError(msg, path=reader.info.path)
    if not reader.info.has_geometry and "lat" not in fields and "address" not in fields:
        msg = (
            "no location columns: expected latitude/longitude (latitud, lat, y / longitud, "
            f"lon, x) or an address (direccion, address); columns: {reader.info.columns!r}"
        )
        raise MissingColumnError(msg, path=reader.info.path)


def _read_file(
    reader: TableReader, kind: str, fconf: FileConfig, rel: str, ctx: _Context
) -> _FileState:
    colmap = recognise_columns(reader.info.columns, kind=kind, mapping=fconf.columns)
    _require_location(colmap, reader)
    for attempt in (reader, reader.exact()):
        st = _FileState(
            rel=rel,
            kind=kind,
            config=fconf,
            reader=attempt,
            colmap=colmap,
            keep_personal=ctx.config.keep_personal_fields,
            salt=ctx.salt,
            seen=ctx.seen[kind],
        )
        try:
            for chunk in attempt.chunks(chunk_rows=ctx.chunk_rows):
                _process_chunk(chunk, st)
        except RestartExact:
            log.info("%s: irregular lines, reading it again with the exact CSV reader", rel)
            continue
        return st
    msg = "the file could not be read consistently"  # pragma: no cover - exact never restarts
    raise InputFileError(msg, path=reader.info.path)


def _error_text(exc: Exception, rel: str) -> str:
    if isinstance(exc, InputFileError):
        where = f"row {exc.row}: " if exc.row is not None else ""
        return f"{rel}: {where}{exc.detail}"
    return f"{rel}: unexpected {type(exc).__name__}: {str(exc)[:300]}"


#: Notes that travel with a drop (LEEME.txt, README.md, a PDF letter): listed, not ingested.
DOCUMENT_SUFFIXES = frozenset({".txt", ".md", ".pdf", ".doc", ".docx", ".odt", ".rtf"})


def _ingest_file(path: Path, rel: str, ctx: _Context) -> _FileResult:
    from geo_integration.readers import open_table

    fconf = ctx.config.for_file(rel)
    kind = fconf.kind or file_kind(rel)
    if kind == "ignore":
        result = _FileResult(_entry(rel, UNKNOWN))
        result.entry["warnings"].append("ignored, as drop.toml says")
        return result
    if fconf.kind is None and Path(rel).suffix.lower() in DOCUMENT_SUFFIXES:
        result = _FileResult(_entry(rel, UNKNOWN))
        result.entry["warnings"].append("a document (not a data file): not ingested")
        return result
    result = _FileResult(_entry(rel, kind))
    if kind == UNKNOWN:
        result.entry["errors"].append(
            f"{rel}: not recognised as residences (residentes*, residences*, migrantes*) or "
            "services (servicios*, services*, puntos*); name it so or map it in drop.toml"
        )
        return result
    try:
        reader = open_table(path, fconf)
        st = _read_file(reader, kind, fconf, rel, ctx)
    except InputFileError as exc:
        result.entry["errors"].append(_error_text(exc, rel))
        return result
    except Exception as exc:  # a hostile file must never stop the other files
        log.warning("%s: unexpected error", rel, exc_info=True)
        result.entry["errors"].append(_error_text(exc, rel))
        return result
    ctx.seen[kind] |= st.new_ids
    _fill_entry(result.entry, st)
    result.accepted, result.quarantine = st.accepted, st.quarantine
    return result


def _fill_entry(entry: dict[str, Any], st: _FileState) -> None:
    accepted = sum(t.num_rows for t in st.accepted)
    quarantined = sum(t.num_rows for t in st.quarantine)
    guess = st.guess
    entry.update(
        {
            "rows_read": st.rows_read,
            "rows_accepted": accepted,
            "rows_quarantined": quarantined,
            "quarantine_reasons": dict(sorted(st.reasons.items())),
            **st.reader.info.describe(),
            "columns": dict(st.colmap.fields),
            "personal_columns_dropped": []
            if st.keep_personal or st.kind == SERVICES
            else list(st.colmap.personal),
            "columns_ignored": list(st.colmap.ignored)
            + (list(st.colmap.personal) if st.kind == SERVICES else []),
            "crs": guess.crs if guess else None,
            "crs_source": guess.source if guess else None,
            "swapped_rows": st.swapped_rows,
            "blank_rows": st.blank_rows,
            "pending_geocoding": st.pending_geocoding,
        }
    )
    entry["warnings"] = entry["warnings"] + list(st.colmap.warnings)
    if guess and guess.source == "declared" and guess.share_in_region < 0.5:
        entry["warnings"].append(
            f"only {guess.share_in_region:.0%} of the points fall near Bogotá with the "
            f"declared CRS {guess.crs}"
        )


# ------------------------------------------------------------------------------ the drop


def _drop_files(root: Path) -> tuple[list[tuple[str, Path]], list[str]]:
    """Regular files of the drop (hidden ones skipped) and the names of refused links."""
    files: list[tuple[str, Path]] = []
    links: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        base = Path(dirpath)
        for name in sorted(filenames):
            path = base / name
            rel = path.relative_to(root).as_posix()
            if name.startswith("."):
                continue
            if path.is_symlink():
                links.append(rel)
            elif path.is_file():
                files.append((rel, path))
    return files, links


def _read_config(root: Path) -> DropConfig:
    path = root / CONFIG_FILE
    if not path.is_file():
        return DropConfig()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        msg = f"{path}: not UTF-8 text"
        raise DropError(msg) from None
    return parse_drop_config(text, source=str(path))


def _check_drop_dir(drop_dir: str | os.PathLike[str]) -> Path:
    root = Path(drop_dir).expanduser()
    if not root.exists():
        msg = f"drop folder not found: {str(root)!r}"
        raise DropError(msg)
    if not root.is_dir():
        msg = f"not a folder: {str(root)!r}; a drop is a folder of files"
        raise DropError(msg)
    return root.resolve()


def ingest_drop(
    drop_dir: str | os.PathLike[str],
    *,
    store: StoreArg = None,
    data_dir: str | os.PathLike[str] | None = None,
    geocoder: Geocoder | None = None,
    date: dt.date | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> Drop:
    """Ingest a drop folder into the drop store (idempotent).

    Parameters
    ----------
    drop_dir
        Folder of residence and service files (and an optional ``drop.toml``).
    store
        Drop store (default: :func:`geo_integration.config.resolve_store_dir`).
    data_dir
        Reference data directory. Given: localities and UPZ are loaded from it (an error if
        missing). ``None``: the default data directory is used when it holds the locality
        boundaries, else areas are not assigned (the report says so).
    geocoder
        Optional ``(addresses) -> DataFrame`` (see :data:`Geocoder`), called once on the
        addresses of the accepted rows without coordinates; matched rows get
        ``coord_source = "geocoded"``.
    date
        Date of the drop (default: ``date`` of drop.toml, else today).
    chunk_rows
        Rows read at a time (memory bound for large CSV files).

    Returns
    -------
    Drop
        The drop in the store; ``created`` is False when the same files were ingested before
        (nothing is written then).

    Raises
    ------
    DropError
        If the folder is missing or empty, drop.toml is invalid, or no file can be ingested.
    """
    from geo_integration.store import drop_digest, find_drop, store_salt

    root = _check_drop_dir(drop_dir)
    files, links = _drop_files(root)
    if not files:
        msg = f"empty drop: no files in {str(root)!r}"
        raise DropError(msg)
    config = _read_config(root)
    digest, hashes = drop_digest(files)
    existing = find_drop(digest, store=store)
    if existing is not None:
        log.info("drop already in the store as %s; nothing to do", existing.drop_id)
        return existing
    ctx = _Context(config, store_salt(store), {RESIDENCES: set(), SERVICES: set()}, chunk_rows)
    clock = _Clock()
    results = _ingest_files(root, files, links, config, ctx)
    clock.lap("read and checked %d files", len(results))
    if not any(r.ingested for r in results):
        lines = "; ".join(e for r in results for e in r.entry["errors"] or ["nothing to read"])
        msg = f"nothing in {str(root)!r} could be ingested: {lines}"
        raise DropError(msg)
    tables = {kind: _assemble(kind, results) for kind in (RESIDENCES, SERVICES)}
    extra = {"geocoding": _geocode(tables, geocoder)}
    clock.lap("geocoding: %s", extra["geocoding"])
    extra["areas"] = _assign_areas(tables, data_dir)
    _per_file_area_counts(results, tables)
    clock.lap("areas: %s", extra["areas"])
    when = date or config.date or dt.date.today()
    drop_id = f"{when:%Y%m%d}-{digest[:12]}"
    drop = _write(drop_id, digest, root, hashes, results, tables, extra, config, store)
    clock.lap("wrote %s", drop.path)
    return drop


class _Clock:
    """Logs the time of each stage (``-v`` on the command line shows it)."""

    def __init__(self) -> None:
        import time

        self._now = time.perf_counter
        self._last = self._now()

    def lap(self, message: str, *args: object) -> None:
        now = self._now()
        log.info(message + " (%.2f s)", *args, now - self._last)
        self._last = now


def _ingest_files(
    root: Path,
    files: list[tuple[str, Path]],
    links: list[str],
    config: DropConfig,
    ctx: _Context,
) -> list[_FileResult]:
    results = [_ingest_file(path, rel, ctx) for rel, path in files if rel != CONFIG_FILE]
    for rel in links:
        result = _FileResult(_entry(rel, file_kind(rel)))
        result.entry["errors"].append(f"{rel}: a symbolic link; links are not followed")
        results.append(result)
    present = {rel for rel, _p in files}
    for rel in sorted(set(config.files) - present):
        result = _FileResult(_entry(rel, config.files[rel].kind or file_kind(rel)))
        result.entry["errors"].append(f"{rel}: named in drop.toml but not in the drop")
        results.append(result)
    return results


# ------------------------------------------------------------------------------ assembly

_SCHEMAS: dict[str, dict[str, pa.DataType]] = {
    RESIDENCES: {
        "record_id": pa.string(),
        "source_file": pa.string(),
        "source_row": pa.int64(),
        "address": pa.string(),
        "localidad": pa.string(),
        "barrio": pa.string(),
        "upz": pa.string(),
        "household_size": pa.int64(),
        "lon": pa.float64(),
        "lat": pa.float64(),
        "coord_source": pa.string(),
    },
    SERVICES: {
        "service_id": pa.string(),
        "source_file": pa.string(),
        "source_row": pa.int64(),
        "name": pa.string(),
        "secretariat": pa.string(),
        "service_type": pa.string(),
        "hours": pa.string(),
        "address": pa.string(),
        "localidad": pa.string(),
        "barrio": pa.string(),
        "upz": pa.string(),
        "capacity": pa.float64(),
        "lon": pa.float64(),
        "lat": pa.float64(),
        "coord_source": pa.string(),
    },
}


def _assemble(kind: str, results: list[_FileResult]) -> pa.Table:
    parts = [t for r in results if r.entry["kind"] == kind for t in r.accepted]
    schema = _SCHEMAS[kind]
    if parts:
        table = pa.concat_tables(parts, promote_options="permissive")
    else:
        table = pa.table({name: pa.array([], type=t) for name, t in schema.items()})
    table = table.select([*schema, *(c for c in table.column_names if c not in schema)])
    return table.append_column("loc_code_given", _given_localities(table.column("localidad")))


def _given_localities(names: pa.ChunkedArray) -> pa.Array:
    """Locality code of each given locality name (null where unknown), vectorised."""
    from geo_integration.localities import locality_code

    unique = pc.unique(names).drop_null()
    codes = pa.array([locality_code(v) for v in unique.to_pylist()], type=pa.string())
    return pc.take(codes, pc.index_in(names, value_set=unique)).combine_chunks()


def _numbers(table: pa.Table, name: str) -> npt.NDArray[np.float64]:
    return np.array(
        pc.fill_null(table.column(name), np.nan).to_numpy(zero_copy_only=False), dtype=float
    )


def _put(table: pa.Table, name: str, values: Any) -> pa.Table:
    """Set (or add) column ``name``."""
    array = values if isinstance(values, pa.Array | pa.ChunkedArray) else pa.array(values)
    if name in table.column_names:
        return table.set_column(table.column_names.index(name), name, array)
    return table.append_column(name, array)


def _pending(table: pa.Table) -> npt.NDArray[np.int64]:
    none = pc.equal(table.column("coord_source"), "none")
    mask = pc.and_(none, pc.is_valid(table.column("address")))
    return np.nonzero(np.asarray(mask.to_numpy(zero_copy_only=False), dtype=bool))[0]


def _geocode(tables: dict[str, pa.Table], geocoder: Geocoder | None) -> dict[str, Any]:
    pending = {kind: _pending(t) for kind, t in tables.items()}
    total = sum(len(p) for p in pending.values())
    if geocoder is None:
        return {"done": False, "pending": total}
    values: list[Any] = []
    for kind in (RESIDENCES, SERVICES):
        values += tables[kind].column("address").take(pa.array(pending[kind])).to_pylist()
    addresses = pd.Series(values, dtype=object, name="address")
    result = geocoder(addresses) if total else pd.DataFrame(columns=list(_GEOCODE_COLUMNS))
    _check_geocoded(result, addresses)
    matched, start = 0, 0
    for kind in (RESIDENCES, SERVICES):
        rows = pending[kind]
        part = result.iloc[start : start + len(rows)]
        start += len(rows)
        tables[kind], hits = _apply_geocoded(tables[kind], rows, part)
        matched += hits
    return {"done": True, "requested": total, "matched": matched}


def _check_geocoded(result: object, addresses: pd.Series) -> None:
    if not isinstance(result, pd.DataFrame):
        msg = f"the geocoder returned {type(result).__name__}, expected a DataFrame"
        raise GeocodeError(msg)
    missing = [c for c in _GEOCODE_COLUMNS if c not in result.columns]
    if missing:
        msg = f"the geocoder's result lacks column(s) {missing!r}"
        raise GeocodeError(msg)
    if len(result) != len(addresses) or not result.index.equals(addresses.index):
        msg = (
            f"the geocoder returned {len(result)} rows, not aligned to the "
            f"{len(addresses)} addresses it was given"
        )
        raise GeocodeError(msg)


def _apply_geocoded(
    table: pa.Table, rows: npt.NDArray[np.int64], part: pd.DataFrame
) -> tuple[pa.Table, int]:
    n = table.num_rows
    lat = pd.to_numeric(part["lat"], errors="coerce").to_numpy(dtype=float)
    lon = pd.to_numeric(part["lon"], errors="coerce").to_numpy(dtype=float)
    hit = np.isfinite(lat) & np.isfinite(lon)
    lons, lats = _numbers(table, "lon"), _numbers(table, "lat")
    lons[rows[hit]], lats[rows[hit]] = lon[hit], lat[hit]
    source = np.array(table.column("coord_source").to_pylist(), dtype=object)
    source[rows[hit]] = "geocoded"
    level = np.full(n, None, dtype=object)
    matched = np.full(n, None, dtype=object)
    confidence = np.full(n, np.nan)
    level[rows] = part["match_level"].astype(object).where(part["match_level"].notna(), None)
    matched[rows] = (
        part["matched_address"].astype(object).where(part["matched_address"].notna(), None)
    )
    confidence[rows] = pd.to_numeric(part["confidence"], errors="coerce").to_numpy(dtype=float)
    for name, values in (
        ("lon", lons),
        ("lat", lats),
        ("coord_source", pa.array(source, type=pa.string())),
        ("match_level", pa.array(level, type=pa.string())),
        ("confidence", confidence),
        ("matched_address", pa.array(matched, type=pa.string())),
    ):
        table = _put(table, name, values)
    return table, int(hit.sum())


def _boundaries(data_dir: str | os.PathLike[str] | None) -> tuple[Any, Any] | None:
    from geo_integration.config import resolve_data_dir
    from geo_integration.datadir import PATHS
    from geo_integration.loaders import load_localities, load_upz

    if data_dir is None:
        resolved = resolve_data_dir(None)
        if not (resolved / PATHS["localities"]).is_file():
            log.info("no locality boundaries in %s: areas not assigned", resolved)
            return None
        data_dir = resolved
    upz = load_upz(data_dir) if (Path(data_dir) / PATHS["upz"]).is_file() else None
    return load_localities(data_dir), upz


#: Side of the grid cells of :func:`locate_in_polygons` (degrees, about 220 m).
GRID_DEG = 0.002


def locate_in_polygons(
    lon: npt.NDArray[np.float64],
    lat: npt.NDArray[np.float64],
    polygons: Any,
    code: str,
) -> npt.NDArray[np.object_]:
    """Code of the first polygon (in table order) that contains each point, else ``None``.

    Exact, and fast for a million points: the points are binned in a grid of
    :data:`GRID_DEG` cells; a cell that lies in the interior of one polygon and touches no
    other gives its code to all its points at once, and only the points of the other cells
    (along boundaries, about a tenth) are tested one by one with prepared geometries. Points
    on a boundary are outside, as with ``within``.
    """
    import shapely

    ok = np.nonzero(np.isfinite(lon) & np.isfinite(lat))[0]
    found = np.full(len(lon), -1, dtype=np.int32)
    geoms = np.array(list(polygons.geometry), dtype=object)
    if len(ok) and len(geoms):
        x0, y0 = float(lon[ok].min()), float(lat[ok].min())
        ix = np.floor((lon[ok] - x0) / GRID_DEG).astype(np.int64)
        iy = np.floor((lat[ok] - y0) / GRID_DEG).astype(np.int64)
        cells, inverse = np.unique(ix * (int(iy.max()) + 1) + iy, return_inverse=True)
        cx, cy = np.divmod(cells, int(iy.max()) + 1)
        boxes = shapely.box(
            x0 + cx * GRID_DEG,
            y0 + cy * GRID_DEG,
            x0 + (cx + 1) * GRID_DEG,
            y0 + (cy + 1) * GRID_DEG,
        )
        pure = _pure_cells(boxes, geoms)
        found[ok] = pure[inverse.ravel()]
        rest = ok[found[ok] < 0]
        found[rest] = _exact(lon[rest], lat[rest], geoms)
    labels = np.array([*polygons[code].tolist(), None], dtype=object)
    return labels[found]  # -1 picks the trailing None


def _pure_cells(boxes: Any, geoms: npt.NDArray[np.object_]) -> npt.NDArray[np.int32]:
    """Index of the polygon whose interior holds each cell, if no other polygon touches it."""
    import shapely

    tree = shapely.STRtree(boxes)
    touching = np.zeros(len(boxes), dtype=np.int32)
    inside = np.full(len(boxes), -1, dtype=np.int32)
    for i, geom in enumerate(geoms):
        if geom is None or geom.is_empty:
            continue
        touching[tree.query(geom, predicate="intersects")] += 1
        held = tree.query(geom, predicate="contains_properly")
        inside[held[inside[held] < 0]] = i
    return np.where(touching == 1, inside, -1).astype(np.int32)


def _exact(
    lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64], geoms: npt.NDArray[np.object_]
) -> npt.NDArray[np.int32]:
    """First polygon containing each point (-1: none), testing only bounding-box candidates."""
    import shapely

    order = np.argsort(lon, kind="stable")
    lon_s, lat_s = lon[order], lat[order]
    found = np.full(len(lon), -1, dtype=np.int32)
    for i, geom in enumerate(geoms):
        if geom is None or geom.is_empty:
            continue
        minx, miny, maxx, maxy = geom.bounds
        lo = int(np.searchsorted(lon_s, minx, side="left"))
        hi = int(np.searchsorted(lon_s, maxx, side="right"))
        part = slice(lo, hi)
        sel = (lat_s[part] >= miny) & (lat_s[part] <= maxy) & (found[part] < 0)
        idx = np.nonzero(sel)[0] + lo
        if len(idx):
            shapely.prepare(geom)
            hit = shapely.contains_xy(geom, lon_s[idx], lat_s[idx])
            found[idx[hit]] = i
    out = np.empty(len(lon), dtype=np.int32)
    out[order] = found
    return out


def _assign_areas(
    tables: dict[str, pa.Table], data_dir: str | os.PathLike[str] | None
) -> dict[str, Any]:
    from geo_integration.geo import BOGOTA_BBOX, WGS84

    loaded = _boundaries(data_dir)
    for kind, table in tables.items():
        lon, lat = _numbers(table, "lon"), _numbers(table, "lat")
        has_point = np.isfinite(lon) & np.isfinite(lat)
        if loaded is None:
            outside = has_point & ~in_region(lon, lat, bbox=BOGOTA_BBOX)
        else:
            localities, upz = loaded
            codes = locate_in_polygons(lon, lat, localities.to_crs(WGS84), "loc_code")
            table = _put(table, "loc_code", pa.array(codes, type=pa.string()))
            if upz is not None:
                upz_codes = locate_in_polygons(lon, lat, upz.to_crs(WGS84), "upz_code")
                table = _put(table, "upz_code", pa.array(upz_codes, type=pa.string()))
            outside = has_point & pd.isna(codes)
        tables[kind] = _put(table, "outside_bogota", pa.array(outside, type=pa.bool_()))
    return {"assigned": loaded is not None, "upz": loaded is not None and loaded[1] is not None}


def _per_file_area_counts(results: list[_FileResult], tables: dict[str, pa.Table]) -> None:
    for kind, table in tables.items():
        columns = ["source_file", "outside_bogota", "localidad", "loc_code_given"]
        if "loc_code" in table.column_names:
            columns.append("loc_code")
        frame = table.select(columns).to_pandas()
        by_file = frame.groupby("source_file", sort=False, observed=True)
        outside = by_file["outside_bogota"].sum()
        unknown = (
            (frame["localidad"].notna() & frame["loc_code_given"].isna())
            .groupby(frame["source_file"])
            .sum()
        )
        disagree = None
        if "loc_code" in frame.columns:
            both = frame["loc_code"].notna() & frame["loc_code_given"].notna()
            differ = both & (frame["loc_code"] != frame["loc_code_given"])
            disagree = differ.groupby(frame["source_file"]).sum()
        for result in results:
            entry = result.entry
            if entry["kind"] != kind or not result.ingested:
                continue
            rel = entry["path"]
            entry["outside_bogota"] = int(outside.get(rel, 0))
            entry["localidad_unrecognised"] = int(unknown.get(rel, 0))
            if disagree is not None:
                entry["localidad_disagreements"] = int(disagree.get(rel, 0))


# ------------------------------------------------------------------------------ writing


def _totals(results: list[_FileResult], tables: dict[str, pa.Table]) -> dict[str, Any]:
    reasons: Counter[str] = Counter()
    for r in results:
        reasons.update(r.entry["quarantine_reasons"])
    return {
        "files": len(results),
        "files_ingested": sum(r.ingested for r in results),
        "files_with_errors": sum(bool(r.entry["errors"]) for r in results),
        "rows_read": sum(r.entry["rows_read"] for r in results),
        "residences": tables[RESIDENCES].num_rows,
        "services": tables[SERVICES].num_rows,
        "people": int(pc.sum(tables[RESIDENCES].column("household_size")).as_py() or 0),
        "quarantined": sum(r.entry["rows_quarantined"] for r in results),
        "quarantine_reasons": dict(sorted(reasons.items())),
    }


def report_text(report: dict[str, Any]) -> str:
    """Render an ingest report as a readable plain-text summary (counts only)."""
    lines = [
        f"Drop {report['drop_id']}  ({report['date']}, ingested {report['created']})",
        f"Source: {report['source']}",
        "",
        f"{'file':<40} {'kind':<10} {'read':>9} {'accepted':>9} {'quarant.':>9}",
    ]
    for entry in report["files"]:
        lines.append(
            f"{entry['path'][:40]:<40} {entry['kind']:<10} {entry['rows_read']:>9,} "
            f"{entry['rows_accepted']:>9,} {entry['rows_quarantined']:>9,}"
        )
        for reason, count in entry["quarantine_reasons"].items():
            lines.append(f"{'':<4}quarantined {reason}: {count:,}")
        lines += [f"{'':<4}ERROR {e}" for e in entry["errors"]]
        lines += [f"{'':<4}warning: {w}" for w in entry["warnings"]]
    totals = report["totals"]
    lines += [
        "",
        (
            f"Residences: {totals['residences']:,} ({totals['people']:,} people); "
            f"services: {totals['services']:,}; quarantined rows: {totals['quarantined']:,}"
        ),
        f"Files: {totals['files_ingested']} ingested, {totals['files_with_errors']} with errors",
    ]
    geo = report["geocoding"]
    if geo.get("done"):
        lines.append(f"Geocoded: {geo['matched']:,} of {geo['requested']:,} addresses")
    else:
        lines.append(f"Waiting for geocoding (address, no coordinates): {geo['pending']:,}")
    if not report["areas"]["assigned"]:
        lines.append("Areas not assigned: no locality boundaries in the data directory")
    return "\n".join(lines) + "\n"


def _write(
    drop_id: str,
    digest: str,
    root: Path,
    hashes: dict[str, dict[str, Any]],
    results: list[_FileResult],
    tables: dict[str, pa.Table],
    extra: dict[str, Any],
    config: DropConfig,
    store: StoreArg,
) -> Drop:
    import pyarrow.parquet as pq

    from geo_integration import __version__
    from geo_integration.fileio import atomic_path, write_text
    from geo_integration.store import (
        commit_drop,
        discard_staging,
        staging_dir,
        write_json,
        write_points_parquet,
    )

    created = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
    totals = _totals(results, tables)
    report = {
        "drop_id": drop_id,
        "drop_hash": digest,
        "date": f"{drop_id[:4]}-{drop_id[4:6]}-{drop_id[6:8]}",
        "created": created,
        "source": str(root),
        "package_version": __version__,
        "keep_personal_fields": config.keep_personal_fields,
        "files": [r.entry for r in results],
        "totals": totals,
        **extra,
    }
    files = {
        r.entry["path"]: {
            **hashes.get(r.entry["path"], {}),
            **{k: r.entry[k] for k in ("kind", "rows_read", "rows_accepted", "rows_quarantined")},
        }
        for r in results
    }
    manifest = {k: report[k] for k in ("drop_id", "drop_hash", "date", "created", "source")}
    manifest |= {"package_version": __version__, "files": files, "totals": totals}
    quarantine = [t for r in results for t in r.quarantine]
    staging = staging_dir(digest, store=store)
    try:
        for kind, table in tables.items():
            write_points_parquet(table, staging / f"{kind}.parquet")
        with atomic_path(staging / "quarantine.parquet") as tmp:
            pq.write_table(_quarantine_table(quarantine), tmp)
        write_json(staging / "report.json", report)
        write_text(staging / "report.txt", report_text(report))
        write_json(staging / "manifest.json", manifest)
    except BaseException:
        discard_staging(staging)
        raise
    return commit_drop(staging, drop_id, digest, store=store)


def _quarantine_table(parts: list[pa.Table]) -> pa.Table:
    if parts:
        return pa.concat_tables(parts)
    names = ("source_file", "source_row", "kind", "reason", "detail", "values")
    return pa.table(
        {n: pa.array([], type=pa.int64() if n == "source_row" else pa.string()) for n in names}
    )


def resolve_drop(
    arg: str | os.PathLike[str] | Drop,
    *,
    store: StoreArg = None,
    data_dir: str | os.PathLike[str] | None = None,
) -> Drop:
    """Return a drop from a raw drop folder (ingested first, idempotently) or a store reference.

    Parameters
    ----------
    arg
        A raw drop folder, a drop id, a drop folder of the store, or ``"latest"``.
    """
    from geo_integration.store import open_drop

    if isinstance(arg, Drop):
        return arg
    path = Path(arg).expanduser()
    if path.is_dir() and not (path / "manifest.json").is_file():
        return ingest_drop(path, store=store, data_dir=data_dir)
    return open_drop(arg, store=store)
