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
ingested. Entries of the folder that are never opened (links, pipes and devices, unreadable
files, names with control characters or undecodable bytes) are errors too. When no file at
all can be ingested, :class:`~geo_integration.errors.DropError` names every file and why, and
nothing is written.

Memory is bounded: each file is read and checked chunk by chunk
(:mod:`geo_integration.ingest_rows`), its rows go to spools that spill to the staging folder
beyond ``spill_bytes`` (:mod:`geo_integration.spool`), and the tables are completed and
written batch by batch (:mod:`geo_integration.ingest_finish`).

Residences never leave the store at row level: the report holds counts only.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geo_integration.errors import DropError, InputFileError, MissingColumnError
from geo_integration.ingest_finish import (
    DropFacts,
    FileResult,
    Geocoder,
    PolygonIndex,
    geocode,
    load_areas,
    locate_in_polygons,
    report_text,
    write_report,
    write_tables,
)
from geo_integration.ingest_rows import FileState, KeySet, process_chunk
from geo_integration.readers import DEFAULT_CHUNK_ROWS, RestartExact, TableReader
from geo_integration.schema import (
    RESIDENCES,
    SERVICES,
    UNKNOWN,
    ColumnMap,
    DropConfig,
    FileConfig,
    file_kind,
    parse_drop_config,
    recognise_columns,
)
from geo_integration.spool import DEFAULT_SPILL_BYTES, SpillBudget, Spool
from geo_integration.store import Drop, StoreArg

__all__ = [
    "Geocoder",
    "PolygonIndex",
    "ingest_drop",
    "locate_in_polygons",
    "report_text",
    "resolve_drop",
]

log = logging.getLogger(__name__)

CONFIG_FILE = "drop.toml"


@dataclass
class _Context:
    """What every file of one ingest shares."""

    config: DropConfig
    key: bytes
    seen: dict[str, KeySet]
    chunk_rows: int
    spool_dir: Path
    budget: SpillBudget
    collect_pending: bool
    files_read: int = 0

    def spools(self) -> tuple[Spool, Spool]:
        """A fresh pair of spools (accepted, quarantined) for one reading of a file."""
        self.files_read += 1
        name = f"{self.files_read:05d}"
        return (
            Spool(self.spool_dir / f"{name}-accepted.parquet", self.budget),
            Spool(self.spool_dir / f"{name}-quarantine.parquet", self.budget),
        )


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
        info = reader.info
        shown = info.columns[:20] + (["..."] if len(info.columns) > 20 else [])
        msg = (
            "no location columns: expected latitude/longitude (latitud, lat, y / longitud, "
            f"lon, x) or an address (direccion, address); columns: {shown!r}"
        )
        if info.format == "csv":
            msg += f" (fields split at {info.delimiter!r}; set delimiter in drop.toml if wrong)"
        raise MissingColumnError(msg, path=info.path)


def _read_file(
    reader: TableReader, kind: str, fconf: FileConfig, rel: str, ctx: _Context
) -> FileState:
    colmap = recognise_columns(reader.info.columns, kind=kind, mapping=fconf.columns)
    _require_location(colmap, reader)
    for attempt in (reader, reader.exact()):
        accepted, quarantine = ctx.spools()
        st = FileState(
            rel=rel,
            kind=kind,
            config=fconf,
            reader=attempt,
            colmap=colmap,
            keep_personal=ctx.config.keep_personal_fields,
            key=ctx.key,
            known=ctx.seen[kind],
            accepted=accepted,
            quarantine=quarantine,
            collect_pending=ctx.collect_pending,
        )
        try:
            for chunk in attempt.chunks(chunk_rows=ctx.chunk_rows):
                process_chunk(chunk, st)
                log.debug("%s: %d rows read so far", rel, st.rows_read)
        except RestartExact:
            st.discard()
            log.info("%s: irregular lines, reading it again with the exact CSV reader", rel)
            continue
        except BaseException:
            st.discard()
            raise
        st.accepted.close()
        st.quarantine.close()
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


def _ingest_file(path: Path, rel: str, ctx: _Context) -> FileResult:
    from geo_integration.readers import open_table

    fconf = ctx.config.for_file(rel)
    kind = fconf.kind or file_kind(rel)
    if kind == "ignore":
        result = FileResult(_entry(rel, UNKNOWN))
        result.entry["warnings"].append("ignored, as drop.toml says")
        return result
    if fconf.kind is None and Path(rel).suffix.lower() in DOCUMENT_SUFFIXES:
        result = FileResult(_entry(rel, UNKNOWN))
        result.entry["warnings"].append("a document (not a data file): not ingested")
        return result
    result = FileResult(_entry(rel, kind))
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
    ctx.seen[kind].update(st.new_ids)
    if st.accepted.spilled or st.quarantine.spilled:
        log.info(
            "%s: rows spilled to disk while reading (accepted: %s, quarantined: %s)",
            rel,
            st.accepted.spilled,
            st.quarantine.spilled,
        )
    _fill_entry(result.entry, st)
    result.accepted, result.quarantine = st.accepted, st.quarantine
    result.people, result.bbox, result.pending = st.people, st.bbox, st.pending
    return result


def _fill_entry(entry: dict[str, Any], st: FileState) -> None:
    guess = st.guess
    entry.update(
        {
            "rows_read": st.rows_read,
            "rows_accepted": st.rows_accepted,
            "rows_quarantined": st.rows_quarantined,
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
    entry["warnings"] = entry["warnings"] + list(st.colmap.warnings) + st.reader.warnings
    if st.rows_read == 0:
        blank = f" ({st.blank_rows} empty rows)" if st.blank_rows else ""
        entry["warnings"].append(f"no data rows under the header{blank}")
    if guess and guess.source == "declared" and guess.share_in_region < 0.5:
        entry["warnings"].append(
            f"only {guess.share_in_region:.0%} of the points fall near Bogotá with the "
            f"declared CRS {guess.crs}"
        )


# ------------------------------------------------------------------------------ the drop


def _drop_files(root: Path) -> tuple[list[tuple[str, Path]], list[tuple[str, str]]]:
    """Regular files of the drop (hidden ones skipped), and the entries refused, with why.

    Refused: symbolic links (never followed), special files (pipes, sockets, devices: never
    opened), files that cannot be read, names that are not valid UTF-8 or hold control
    characters, and folders named like a data file (their files are still read).
    """
    from geo_integration.readers import FORMATS

    files: list[tuple[str, Path]] = []
    refused: list[tuple[str, str]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath)
        links = [d for d in dirnames if (base / d).is_symlink()]
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in links)
        for name in dirnames:
            if Path(name).suffix.lower() in FORMATS:
                rel = _shown((base / name).relative_to(root).as_posix())
                refused.append((rel, "a folder named like a data file, not a file"))
        for name in sorted([*filenames, *links]):
            if name.startswith("."):
                continue
            path = base / name
            rel = path.relative_to(root).as_posix()
            why = _refusal(path, rel)
            if why:
                refused.append((_shown(rel), why))
            else:
                files.append((rel, path))
    return files, refused


def _shown(rel: str) -> str:
    """A file name safe to print: undecodable bytes and control characters escaped."""
    from geo_integration.readers import printable

    raw = os.fsencode(rel)
    text = raw.decode("utf-8", errors="backslashreplace")
    return printable(text)


def _refusal(path: Path, rel: str) -> str | None:
    """Why a drop entry is not read, or ``None``."""
    import stat

    from geo_integration.readers import printable

    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        return "the file name is not valid UTF-8 text; rename the file"
    if printable(rel) != rel:
        return "the file name holds control characters (a line break, ...); rename the file"
    if path.is_symlink():
        return "a symbolic link; links are not followed"
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        return f"cannot be read ({exc.strerror or type(exc).__name__})"
    if not stat.S_ISREG(mode):
        return "not a regular file (a named pipe, socket or device); it is not opened"
    try:
        with path.open("rb") as fh:
            fh.read(1)
    except OSError as exc:
        return f"cannot be read ({exc.strerror or type(exc).__name__})"
    return None


#: Largest drop.toml read (bytes).
MAX_CONFIG_BYTES = 1 << 20


def _read_config(root: Path) -> DropConfig:
    path = root / CONFIG_FILE
    if path.is_symlink():
        msg = f"{path}: a symbolic link; links are not followed"
        raise DropError(msg)
    if not path.exists():
        return DropConfig()
    if not path.is_file():
        msg = f"{path}: not a regular file"
        raise DropError(msg)
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            msg = f"{path}: larger than {MAX_CONFIG_BYTES:,} bytes; is it really drop.toml?"
            raise DropError(msg)
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        msg = f"{path}: not UTF-8 text"
        raise DropError(msg) from None
    except OSError as exc:
        msg = f"{path}: cannot be read ({exc.strerror or type(exc).__name__})"
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
    spill_bytes: int = DEFAULT_SPILL_BYTES,
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
        Rows read and checked at a time.
    spill_bytes
        Bytes of accepted and quarantined rows held in memory; beyond that they are spilled
        to disk (in the store's staging folder) until the drop is written. Memory is bounded
        by this and ``chunk_rows``, not by the size of the files.

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
    from geo_integration.privacy import record_key
    from geo_integration.store import (
        commit_drop,
        discard_staging,
        drop_digest,
        find_drop,
        staging_dir,
        store_salt,
    )

    root = _check_drop_dir(drop_dir)
    files, refused = _drop_files(root)
    if not files and not refused:
        msg = f"empty drop: no files in {str(root)!r}"
        raise DropError(msg)
    config = _read_config(root)
    try:
        digest, hashes = drop_digest(files, refused=[f"{rel}: {why}" for rel, why in refused])
    except OSError as exc:  # a file that became unreadable after it was listed
        msg = f"cannot read the drop's files in {str(root)!r}: {exc}"
        raise DropError(msg) from None
    existing = find_drop(digest, store=store)
    if existing is not None:
        log.info("drop already in the store as %s; nothing to do", existing.drop_id)
        return existing
    key = record_key(store_salt(store))
    staging = staging_dir(digest, store=store)
    try:
        spool_dir = staging / ".spool"
        spool_dir.mkdir()
        seen = {RESIDENCES: KeySet(), SERVICES: KeySet()}
        budget = SpillBudget(spill_bytes)
        ctx = _Context(config, key, seen, chunk_rows, spool_dir, budget, geocoder is not None)
        when = date or config.date or dt.date.today()
        facts = DropFacts(f"{when:%Y%m%d}-{digest[:12]}", digest, root, hashes, config)
        _ingest_into(staging, facts, files, refused, ctx, geocoder, data_dir)
    except BaseException:
        discard_staging(staging)
        raise
    return commit_drop(staging, facts.drop_id, digest, store=store)


def _ingest_into(
    staging: Path,
    facts: DropFacts,
    files: list[tuple[str, Path]],
    refused: list[tuple[str, str]],
    ctx: _Context,
    geocoder: Geocoder | None,
    data_dir: str | os.PathLike[str] | None,
) -> None:
    """Read every file, then write the drop into ``staging``."""
    import shutil

    clock = _Clock()
    results = _ingest_files(files, refused, facts.config, ctx)
    clock.lap("read and checked %d files", len(results))
    if not results:
        msg = f"no data files in {str(facts.root)!r}, only {CONFIG_FILE}"
        raise DropError(msg)
    if not any(r.ingested for r in results):
        msg = f"nothing in {str(facts.root)!r} could be ingested: {_why_not(results)}"
        raise DropError(msg)
    extra: dict[str, Any] = {"geocoding": geocode(results, geocoder)}
    clock.lap("geocoding: %s", extra["geocoding"])
    areas = load_areas(data_dir)
    extra["areas"] = areas.describe()
    write_tables(staging, results, areas, geocoded=geocoder is not None, batch_rows=ctx.chunk_rows)
    for result in results:
        for spool in (result.accepted, result.quarantine):
            if spool is not None:
                spool.discard()
    shutil.rmtree(ctx.spool_dir, ignore_errors=True)
    clock.lap("areas %s; tables written", extra["areas"])
    write_report(staging, facts, results, extra)


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


def _why_not(results: list[FileResult]) -> str:
    """Why each file gave no rows: its errors, else its first warning."""
    lines: list[str] = []
    for result in results:
        entry = result.entry
        notes = entry["errors"] or [f"{entry['path']}: {w}" for w in entry["warnings"][:1]]
        lines += notes or [f"{entry['path']}: no rows"]
    return "; ".join(lines)


def _ingest_files(
    files: list[tuple[str, Path]],
    refused: list[tuple[str, str]],
    config: DropConfig,
    ctx: _Context,
) -> list[FileResult]:
    results = [_ingest_file(path, rel, ctx) for rel, path in files if rel != CONFIG_FILE]
    for rel, why in refused:
        result = FileResult(_entry(rel, file_kind(rel)))
        result.entry["errors"].append(f"{rel}: {why}")
        results.append(result)
    present = {rel for rel, _p in files}
    for rel in sorted(set(config.files) - present):
        result = FileResult(_entry(rel, config.files[rel].kind or file_kind(rel)))
        result.entry["errors"].append(f"{rel}: named in drop.toml but not in the drop")
        results.append(result)
    return results


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
