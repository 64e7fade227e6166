"""Read the files of a data drop into raw tables of text, in chunks (I/O).

Formats: CSV (delimiter ``,`` ``;`` tab or ``|``; UTF-8, UTF-8 with BOM, UTF-16 with BOM,
cp1252/Latin-1), XLSX (first sheet or a named one; header row found among the first 20 rows),
GeoJSON, GeoPackage and (Geo)Parquet. Every value comes out as text (or null), with the
original column names, so that nothing is interpreted before :mod:`geo_integration.ingest`
decides what each column means; nothing is ever evaluated (XLSX formulas are read as their
text, never computed).

Rows are numbered as a person would find them: CSV rows by record with the header line as
its own number (the first data row under a header on line 1 is row 2, as a spreadsheet shows
it), XLSX rows by sheet row, features of GeoJSON/GeoPackage/Parquet from 0.

Large CSV files are streamed in chunks (bounded memory). A CSV file whose lines do not all
split into the header's number of fields is re-read by the exact reader (Python's ``csv``),
which keeps those lines apart as malformed rows with their number, instead of failing.
A file that cannot be read at all raises :class:`~geo_integration.errors.InputFileError`
naming it.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import json
import math
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from geo_integration.errors import InputFileError
from geo_integration.schema import MAX_COLUMNS, FileConfig, is_known_header

__all__ = [
    "FORMATS",
    "MalformedRow",
    "RawChunk",
    "RestartExact",
    "TableInfo",
    "TableReader",
    "open_table",
    "printable",
]

#: File suffix -> format.
FORMATS: dict[str, str] = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "csv",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".geojson": "geojson",
    ".json": "geojson",
    ".gpkg": "gpkg",
    ".parquet": "parquet",
    ".geoparquet": "parquet",
}
_REFUSED = {
    ".xls": "old Excel .xls files are not supported; save the sheet as .xlsx",
    ".ods": "OpenDocument sheets are not supported; save the sheet as .xlsx or .csv",
    ".shp": "shapefiles are not supported; send GeoPackage or GeoJSON",
    ".zip": "compressed files are not supported; unpack them into the drop folder",
}
_DELIMITERS = (",", ";", "\t", "|")
_HEAD_BYTES = 1 << 16
#: Longest first line read to find the header (bytes).
MAX_HEADER_BYTES = 1 << 20
#: Longest CSV line the exact reader accepts (characters); longer lines make the file fail.
MAX_LINE_CHARS = 10_000_000
DEFAULT_CHUNK_ROWS = 250_000


class RestartExact(Exception):  # noqa: N818 - a signal, not an error
    """Raised by the fast CSV reader when the file needs the exact reader."""


@dataclass(frozen=True)
class MalformedRow:
    """A CSV line that does not split into the header's columns."""

    row: int
    fields: list[str]
    reason: str = "wrong_field_count"


@dataclass
class RawChunk:
    """A slice of a file's rows, all values as text.

    Attributes
    ----------
    table
        One string column per original column (null where a cell is empty).
    rows
        Row number of each table row (see the module docstring).
    x, y
        Point coordinates of geo formats (NaN where a feature has no geometry).
    bad_geometry
        True where a feature's geometry is not a point.
    geometry_text
        WKT of each feature's geometry (geo formats; for quarantine records).
    malformed
        Rows that could not be split into columns (CSV only).
    blank_rows
        Rows with no value at all, skipped (not counted as read).
    """

    table: pa.Table
    rows: npt.NDArray[np.int64]
    x: npt.NDArray[np.float64] | None = None
    y: npt.NDArray[np.float64] | None = None
    bad_geometry: npt.NDArray[np.bool_] | None = None
    geometry_text: list[str | None] | None = None
    malformed: list[MalformedRow] = field(default_factory=list)
    blank_rows: int = 0


@dataclass
class TableInfo:
    """How a file was read: format, encoding, delimiter, sheet, header, columns, CRS."""

    path: Path
    format: str
    columns: list[str]
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    layer: str | None = None
    header_row: int | None = None
    crs: str | None = None
    crs_trusted: bool = True
    has_geometry: bool = False

    def describe(self) -> dict[str, Any]:
        """Return the reading facts as plain data (for the ingest report)."""
        out = {
            "format": self.format,
            "encoding": self.encoding,
            "delimiter": self.delimiter,
            "sheet": self.sheet,
            "layer": self.layer,
            "header_row": self.header_row,
            "file_crs": self.crs if self.has_geometry else None,
        }
        return {k: v for k, v in out.items() if v is not None}


class TableReader:
    """A file opened for reading: :attr:`info` and :meth:`chunks`."""

    def __init__(self, info: TableInfo, config: FileConfig) -> None:
        self.info = info
        self.config = config
        #: What the report should say about how the file was read (set while reading).
        self.warnings: list[str] = []

    def chunks(self, *, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[RawChunk]:
        """Yield the rows in chunks of at most ``chunk_rows``."""
        raise NotImplementedError

    def exact(self) -> TableReader:
        """Return the exact (slower) reader of the same file (CSV only)."""
        return self

    def _fail(self, message: str, *, row: int | None = None) -> InputFileError:
        return InputFileError(message, path=self.info.path, row=row)


def open_table(path: Path, config: FileConfig | None = None) -> TableReader:
    """Open a drop file for reading.

    Parameters
    ----------
    path
        The file; its suffix gives the format (:data:`FORMATS`).
    config
        The file's settings from ``drop.toml`` (encoding, delimiter, sheet, header row, ...).

    Raises
    ------
    InputFileError
        If the file is empty, binary where text is expected, corrupt or truncated, or lacks
        the named sheet or layer.
    """
    config = config or FileConfig()
    suffix = path.suffix.lower()
    if suffix in _REFUSED:
        raise InputFileError(_REFUSED[suffix], path=path)
    fmt = FORMATS.get(suffix)
    if fmt is None:
        msg = f"unknown file type {suffix or '(none)'!r}; expected one of {sorted(FORMATS)!r}"
        raise InputFileError(msg, path=path)
    if path.stat().st_size == 0:
        raise InputFileError("empty file", path=path)
    opener = {
        "csv": _open_csv,
        "xlsx": _open_xlsx,
        "geojson": _open_ogr,
        "gpkg": _open_ogr,
        "parquet": _open_parquet,
    }[fmt]
    return opener(path, config, fmt)


# ----------------------------------------------------------------------------------- helpers


#: Longest column name kept (characters); longer header cells are cut.
MAX_NAME_CHARS = 200
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with control characters shown as escapes (``"a\\x1bb"``), for messages."""
    return _CONTROL_CHARS.sub(lambda m: repr(m.group())[1:-1], text)


def _column_name(raw: object, i: int) -> str:
    name = "" if raw is None else printable(" ".join(str(raw).split()))
    if len(name) > MAX_NAME_CHARS:
        name = f"{name[:MAX_NAME_CHARS]}...[{len(name) - MAX_NAME_CHARS} more characters]"
    return name or f"column_{i + 1}"


def _unique_columns(names: Sequence[object], path: Path) -> list[str]:
    out: list[str] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(names):
        name = _column_name(raw, i)
        if name in seen:
            seen[name] += 1
            name = f"{name}.{seen[name]}"
        seen.setdefault(name, 0)
        out.append(name)
    if len(out) > MAX_COLUMNS:
        msg = f"{len(out)} columns, more than the {MAX_COLUMNS} a drop file may have"
        raise InputFileError(msg, path=path)
    return out


def _header_index(rows: list[list[str | None]]) -> int:
    """Index of the header among the first rows: the first with two known column names."""
    for i, row in enumerate(rows[:20]):
        if sum(1 for v in row if v is not None and is_known_header(v)) >= 2:
            return i
    for i, row in enumerate(rows):
        if any(v not in (None, "") for v in row):
            return i
    return 0


def _string_table(columns: list[str], values: list[list[str | None]]) -> pa.Table:
    return pa.table(
        {c: pa.array(v, type=pa.string()) for c, v in zip(columns, values, strict=True)}
    )


# --------------------------------------------------------------------------------------- CSV


def _sniff_delimiter(lines: list[str]) -> str:
    best, best_score = ",", (0.0, 0)
    for delim in _DELIMITERS:
        counts = [len(r) for r in csv.reader(lines, delimiter=delim) if r]
        if not counts:
            continue
        mode = max(set(counts), key=counts.count)
        score = (round(counts.count(mode) / len(counts), 1), mode)
        if mode >= 2 and score > best_score:
            best, best_score = delim, score
    return best


def _read_head(path: Path) -> bytes:
    """The first bytes of a file: at least the first line, up to :data:`MAX_HEADER_BYTES`."""
    with path.open("rb") as fh:
        head = fh.read(_HEAD_BYTES)
        while b"\n" not in head and b"\r" not in head and len(head) < MAX_HEADER_BYTES:
            more = fh.read(_HEAD_BYTES)
            if not more:
                break
            head += more
    return head


def _open_csv(path: Path, config: FileConfig, fmt: str) -> TableReader:
    from geo_integration.csvtext import MIXED, decode_head, detect_encoding

    head = _read_head(path)
    if config.encoding:
        try:
            encoding = codecs.lookup(config.encoding).name
        except LookupError:
            msg = f"unknown encoding {config.encoding!r} in drop.toml"
            raise InputFileError(msg, path=path) from None
    else:
        encoding = detect_encoding(path, head)
    whole = path.stat().st_size <= len(head)
    text = decode_head(head, encoding)
    if not whole and not any(c in text for c in "\r\n"):
        msg = f"the first line is longer than {MAX_HEADER_BYTES:,} bytes; is this a CSV file?"
        raise InputFileError(msg, path=path, row=1)
    lines = text.splitlines()[:50] if whole else text.splitlines()[:-1][:50]
    if not any(line.strip() for line in lines):
        raise InputFileError("no header line: the file holds no text", path=path)
    skip = 0
    delimiter = config.delimiter
    if lines and lines[0].lower().startswith("sep=") and len(lines[0].strip()) == 5:
        delimiter, skip, lines = delimiter or lines[0].strip()[4], 1, lines[1:]
    delimiter = delimiter or _sniff_delimiter(lines)
    rows: list[list[str | None]] = [list(r) for r in csv.reader(lines, delimiter=delimiter)]
    if config.header_row is not None:
        index = config.header_row - 1 - skip
        if not 0 <= index < len(rows):
            msg = f"header_row {config.header_row} is not among the first lines of the file"
            raise InputFileError(msg, path=path)
    else:
        index = _header_index(rows)
    info = TableInfo(
        path=path,
        format=fmt,
        columns=_unique_columns(list(rows[index]), path),
        encoding=encoding,
        delimiter=delimiter,
        header_row=index + 1 + skip,
    )
    if encoding == MIXED:
        return _ExactCsvReader(info, config)
    return _CsvReader(info, config)


class _CsvReader(TableReader):
    """Fast CSV reader (pyarrow, streamed); hands over to the exact one on irregular lines."""

    def chunks(self, *, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[RawChunk]:
        import pyarrow.csv as pcsv

        info = self.info
        invalid: list[int] = []

        def on_invalid(row: Any) -> str:
            invalid.append(1)
            return "skip"

        read_options = pcsv.ReadOptions(
            encoding=_arrow_encoding(info.encoding),
            skip_rows=info.header_row or 1,
            column_names=info.columns,
            block_size=_block_bytes(chunk_rows),
        )
        parse_options = pcsv.ParseOptions(
            delimiter=info.delimiter or ",",
            newlines_in_values=True,
            ignore_empty_lines=False,
            invalid_row_handler=on_invalid,
        )
        convert_options = pcsv.ConvertOptions(
            column_types=dict.fromkeys(info.columns, pa.string()),
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        )
        next_row = (info.header_row or 1) + 1
        try:
            reader = pcsv.open_csv(
                info.path,
                read_options=read_options,
                parse_options=parse_options,
                convert_options=convert_options,
            )
            for batch in reader:
                if invalid:
                    raise RestartExact
                for start in range(0, batch.num_rows, chunk_rows):
                    part = pa.Table.from_batches([batch.slice(start, chunk_rows)])
                    yield _drop_blank(part, np.arange(next_row, next_row + part.num_rows))
                    next_row += part.num_rows
        except pa.ArrowInvalid as exc:
            # a row longer than a block, an unterminated quote, a decoding error, ...
            raise RestartExact from exc
        except pa.ArrowException as exc:
            msg = f"the CSV file cannot be read: {str(exc)[:200]}"
            raise self._fail(msg) from None
        if invalid:
            raise RestartExact

    def exact(self) -> TableReader:
        return _ExactCsvReader(self.info, self.config)


def _block_bytes(chunk_rows: int) -> int:
    """Bytes the fast CSV reader parses at a time: about ``chunk_rows`` rows, 64 KB to 8 MB."""
    return int(min(8 << 20, max(64 << 10, chunk_rows * 128)))


def _arrow_encoding(encoding: str | None) -> str:
    if encoding in (None, "utf-8", "utf-8-sig", "utf_8"):
        return "utf8"
    return str(encoding)


def _blank(column: Any) -> npt.NDArray[np.bool_]:
    import pyarrow.compute as pc

    empty = pc.fill_null(pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(column)), 0), True)
    return np.asarray(empty.to_numpy(zero_copy_only=False), dtype=np.bool_)


def _drop_blank(
    table: pa.Table, rows: npt.NDArray[np.int64], malformed: list[MalformedRow] | None = None
) -> RawChunk:
    """Drop the rows whose every value is empty (they are not counted as read)."""
    if table.num_columns == 0 or table.num_rows == 0:
        return RawChunk(table, rows.astype(np.int64), malformed=malformed or [])
    candidates = np.nonzero(_blank(table.column(0)))[0]
    for column in table.columns[1:]:
        if not len(candidates):
            break
        candidates = candidates[_blank(column.take(pa.array(candidates)))]
    if len(candidates):
        keep = np.ones(table.num_rows, dtype=bool)
        keep[candidates] = False
        table = table.filter(pa.array(keep))
        rows = rows[keep]
    return RawChunk(
        table, rows.astype(np.int64), malformed=malformed or [], blank_rows=len(candidates)
    )


class _ExactCsvReader(TableReader):
    """Record-by-record CSV reader: keeps irregular lines apart as malformed rows."""

    def chunks(self, *, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[RawChunk]:
        from geo_integration.csvtext import MIXED, LineDecoder

        info = self.info
        width = len(info.columns)
        if info.encoding in (MIXED, "utf-8", "utf-8-sig"):  # lines not UTF-8 read as cp1252
            with info.path.open("rb") as raw:
                decoder = LineDecoder(raw, max_chars=MAX_LINE_CHARS)
                yield from self._parse(decoder, width, chunk_rows)
            if decoder.too_long_at is not None:
                raise self._fail(_TOO_LONG, row=decoder.too_long_at)
            if decoder.not_utf8_count:
                info.encoding = MIXED
            self.warnings = [w for w in [decoder.warning()] if w]
            return
        with info.path.open(encoding=info.encoding, newline="", errors="strict") as fh:
            try:
                yield from self._parse(_bounded_lines(fh, self), width, chunk_rows)
            except UnicodeDecodeError as exc:
                msg = f"not valid {info.encoding} text ({exc.reason}); set encoding in drop.toml"
                raise self._fail(msg) from None

    def _parse(self, lines: Iterable[str], width: int, chunk_rows: int) -> Iterator[RawChunk]:
        reader = csv.reader(lines, delimiter=self.info.delimiter or ",")
        number = 0
        for _ in range(self.info.header_row or 1):
            next(reader, None)
            number += 1
        yield from self._records(reader, number, width, chunk_rows)

    def _records(self, reader: Any, number: int, width: int, chunk_rows: int) -> Iterator[RawChunk]:
        values: list[list[str | None]] = [[] for _ in range(width)]
        rows: list[int] = []
        malformed: list[MalformedRow] = []
        while True:
            first_line = reader.line_num + 1
            try:
                record = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                number += 1
                malformed.append(MalformedRow(number, [], f"field_too_long: {exc}"))
                continue
            number += 1
            if len(record) > width and not any(v.strip() for v in record[width:]):
                record = record[:width]
            if len(record) != width and any(v.strip() for v in record):
                malformed.append(_malformed(number, record, width, first_line, reader.line_num))
                continue
            for col, value in zip(values, record, strict=False):
                col.append(value)
            for col in values[len(record) :]:
                col.append("")
            rows.append(number)
            if len(rows) >= chunk_rows:
                yield self._chunk(values, rows, malformed)
                values, rows, malformed = [[] for _ in range(width)], [], []
        if rows or malformed:
            yield self._chunk(values, rows, malformed)

    def _chunk(
        self, values: list[list[str | None]], rows: list[int], malformed: list[MalformedRow]
    ) -> RawChunk:
        table = _string_table(self.info.columns, values)
        return _drop_blank(table, np.asarray(rows, dtype=np.int64), malformed)


def _malformed(number: int, record: list[str], width: int, first: int, last: int) -> MalformedRow:
    why = f"{len(record)} fields, header has {width}"
    if last > first:
        why += f"; the row runs over lines {first} to {last} of the file (a quote left open?)"
    return MalformedRow(number, record, f"wrong_field_count: {why}")


_TOO_LONG = f"a line longer than {MAX_LINE_CHARS:,} characters; the file is not CSV text"


def _bounded_lines(fh: Any, reader: TableReader) -> Iterator[str]:
    number = 0
    while line := fh.readline(MAX_LINE_CHARS + 1):
        number += 1
        if len(line) > MAX_LINE_CHARS:
            raise reader._fail(_TOO_LONG, row=number)
        yield line


# -------------------------------------------------------------------------------------- XLSX


def _cell_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    text = getattr(value, "text", None)  # array formulas
    return str(text if text is not None else value)


def _open_xlsx(path: Path, config: FileConfig, fmt: str) -> TableReader:
    sheet, rows = _xlsx_head(path, config)
    if config.header_row is not None:
        index = config.header_row - 1
        if index >= len(rows):
            msg = f"header_row {config.header_row} is below the first rows of sheet {sheet!r}"
            raise InputFileError(msg, path=path)
    else:
        index = _header_index(rows)
    if not rows or not any(v not in (None, "") for v in rows[index]):
        raise InputFileError(f"sheet {sheet!r} is empty", path=path)
    header = list(rows[index])
    while header and header[-1] in (None, ""):
        header.pop()
    info = TableInfo(
        path=path,
        format=fmt,
        columns=_unique_columns(header, path),
        sheet=sheet,
        header_row=index + 1,
    )
    return _XlsxReader(info, config)


def _workbook(path: Path) -> Any:
    import zipfile

    import openpyxl

    try:
        return openpyxl.load_workbook(path, read_only=True, data_only=False)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError) as exc:
        msg = f"not a readable XLSX workbook (corrupt or truncated?): {type(exc).__name__}"
        raise InputFileError(msg, path=path) from None
    except Exception as exc:  # openpyxl raises many kinds on malformed XML
        msg = f"not a readable XLSX workbook: {type(exc).__name__}: {str(exc)[:200]}"
        raise InputFileError(msg, path=path) from None


def _pick_sheet(book: Any, config: FileConfig, path: Path) -> Any:
    names = list(book.sheetnames)
    wanted = config.sheet
    if wanted is None:
        return book[names[0]]
    if isinstance(wanted, int) and 1 <= wanted <= len(names):
        return book[names[wanted - 1]]
    if isinstance(wanted, str) and wanted in names:
        return book[wanted]
    msg = f"no sheet {wanted!r} in the workbook; sheets: {names!r}"
    raise InputFileError(msg, path=path)


def _xlsx_rows(path: Path, config: FileConfig) -> Iterator[tuple[str, list[str | None]]]:
    book = _workbook(path)
    try:
        sheet = _pick_sheet(book, config, path)
        if not hasattr(sheet, "iter_rows"):
            msg = f"sheet {sheet.title!r} is a chart, not a table"
            raise InputFileError(msg, path=path)
        sheet.reset_dimensions()
        for row in sheet.iter_rows(values_only=True):
            yield sheet.title, [_cell_text(v) for v in row]
    except InputFileError:
        raise
    except Exception as exc:  # malformed sheet XML inside a valid zip
        msg = f"sheet cannot be read (corrupt?): {type(exc).__name__}: {str(exc)[:200]}"
        raise InputFileError(msg, path=path) from None
    finally:
        book.close()


def _xlsx_head(path: Path, config: FileConfig) -> tuple[str, list[list[str | None]]]:
    rows: list[list[str | None]] = []
    title = ""
    limit = max(20, config.header_row or 0)
    for sheet_title, row in _xlsx_rows(path, config):
        title = sheet_title
        rows.append(row)
        if len(rows) >= limit:
            break
    if not title:
        book = _workbook(path)
        try:
            title = str(_pick_sheet(book, config, path).title)
        finally:
            book.close()
    return title, rows


class _XlsxReader(TableReader):
    def chunks(self, *, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[RawChunk]:
        info = self.info
        width = len(info.columns)
        header = info.header_row or 1
        values: list[list[str | None]] = [[] for _ in range(width)]
        rows: list[int] = []
        for number, (_title, row) in enumerate(_xlsx_rows(info.path, self.config), start=1):
            if number <= header:
                continue
            cells = (row + [None] * width)[:width]
            for col, value in zip(values, cells, strict=True):
                col.append(value)
            rows.append(number)
            if len(rows) >= chunk_rows:
                yield _drop_blank(_string_table(info.columns, values), np.asarray(rows))
                values, rows = [[] for _ in range(width)], []
        if rows:
            yield _drop_blank(_string_table(info.columns, values), np.asarray(rows))


# --------------------------------------------------------------------------- geo formats


def _text_column(column: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    import pyarrow.compute as pc

    if pa.types.is_string(column.type):
        return column
    if pa.types.is_large_string(column.type):
        return pc.cast(column, pa.string())
    try:
        return pc.cast(column, pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        values = [None if v is None else json.dumps(v, default=str) for v in column.to_pylist()]
        return pa.array(values, type=pa.string())


def _geo_chunk(
    table: pa.Table, geometry: str | None, first_row: int, columns: list[str]
) -> RawChunk:
    import shapely

    rows = np.arange(first_row, first_row + table.num_rows, dtype=np.int64)
    attrs = {
        name: _text_column(table.column(i))
        for i, name in zip(range(table.num_columns), table.column_names, strict=True)
        if name != geometry
    }
    out = pa.table({c: attrs[c] for c in columns}) if columns else pa.table({})
    if geometry is None:
        return RawChunk(out if columns else table, rows)
    wkb = table.column(geometry).to_pylist()
    geoms = shapely.from_wkb(np.array(wkb, dtype=object), on_invalid="ignore")
    kinds = shapely.get_type_id(geoms)
    single = shapely.get_num_geometries(geoms) == 1
    points = np.where((kinds == 4) & single, shapely.get_geometry(geoms, 0), geoms)
    is_point = shapely.get_type_id(points) == 0
    present = ~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)
    x = np.where(is_point & present, shapely.get_x(points), np.nan)
    y = np.where(is_point & present, shapely.get_y(points), np.nan)
    text = [None if g is None else shapely.to_wkt(g, rounding_precision=-1)[:1000] for g in geoms]
    return RawChunk(out, rows, x=x, y=y, bad_geometry=present & ~is_point, geometry_text=text)


def _open_ogr(path: Path, config: FileConfig, fmt: str) -> TableReader:
    import pyogrio

    try:
        layers = pyogrio.list_layers(path)
        layer = config.layer
        names = [str(n) for n, _t in layers]
        if layer is not None and layer not in names:
            msg = f"no layer {layer!r}; layers: {names!r}"
            raise InputFileError(msg, path=path)
        info = pyogrio.read_info(path, layer=layer)
    except InputFileError:
        raise
    except Exception as exc:  # pyogrio/GDAL errors on corrupt or truncated files
        msg = f"not a readable {fmt} file (corrupt or truncated?): {str(exc)[:200]}"
        raise InputFileError(msg, path=path) from None
    columns = _unique_columns(list(info["fields"]), path)
    return _OgrReader(
        TableInfo(
            path=path,
            format=fmt,
            columns=columns,
            layer=layer or (names[0] if names and fmt == "gpkg" else None),
            crs=info.get("crs"),
            crs_trusted=fmt != "geojson",
            has_geometry=info.get("geometry_type") is not None,
        ),
        config,
    )


class _OgrReader(TableReader):
    def chunks(self, *, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[RawChunk]:
        import pyogrio

        info = self.info
        first = 0
        try:
            with pyogrio.open_arrow(
                info.path, layer=info.layer, batch_size=chunk_rows, use_pyarrow=True
            ) as (meta, reader):
                mapping = dict(zip(list(meta["fields"]), info.columns, strict=True))
                for batch in reader:
                    table = pa.Table.from_batches([batch])
                    names = table.column_names
                    geometry = next((n for n in names if n not in mapping), None)
                    renamed = table.rename_columns([mapping.get(n, n) for n in names])
                    yield _geo_chunk(renamed, geometry, first, info.columns)
                    first += table.num_rows
        except InputFileError:
            raise
        except Exception as exc:
            msg = f"reading stopped at feature {first}: {str(exc)[:200]}"
            raise self._fail(msg) from None


def _parquet_geo(path: Path, schema: pa.Schema) -> tuple[str | None, str | None]:
    meta = (schema.metadata or {}).get(b"geo")
    if meta is None:
        return None, None
    try:
        geo = json.loads(meta)
        column = geo["primary_column"]
        spec = geo["columns"][column]
    except (ValueError, KeyError, TypeError) as exc:
        msg = f"bad GeoParquet metadata: {exc!r}"
        raise InputFileError(msg, path=path) from None
    if spec.get("encoding", "WKB") != "WKB":
        msg = f"GeoParquet geometry encoding {spec.get('encoding')!r} not supported (use WKB)"
        raise InputFileError(msg, path=path)
    crs = spec.get("crs", "OGC:CRS84")
    if crs is None:
        return column, None
    from pyproj import CRS

    parsed = CRS.from_user_input(crs)
    epsg = parsed.to_epsg()
    return column, f"EPSG:{epsg}" if epsg else parsed.to_string()


def _open_parquet(path: Path, config: FileConfig, fmt: str) -> TableReader:
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except (pa.ArrowException, OSError) as exc:
        msg = f"not a readable Parquet file (corrupt or truncated?): {str(exc)[:200]}"
        raise InputFileError(msg, path=path) from None
    geometry, crs = _parquet_geo(path, schema)
    names = [n for n in schema.names if n != geometry]
    return _ParquetReader(
        TableInfo(
            path=path,
            format=fmt,
            columns=_unique_columns(list(names), path),
            crs=crs,
            has_geometry=geometry is not None,
        ),
        config,
        geometry,
    )


class _ParquetReader(TableReader):
    def __init__(self, info: TableInfo, config: FileConfig, geometry: str | None) -> None:
        super().__init__(info, config)
        self.geometry = geometry

    def chunks(self, *, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[RawChunk]:
        import pyarrow.parquet as pq

        first = 0
        try:
            source = pq.ParquetFile(self.info.path, pre_buffer=False)  # one row group at a time
            for batch in source.iter_batches(batch_size=chunk_rows):
                table = pa.Table.from_batches([batch])
                names = [
                    self.geometry if n == self.geometry else c
                    for n, c in zip(table.column_names, self._names(table), strict=True)
                ]
                yield _geo_chunk(
                    table.rename_columns(names), self.geometry, first, self.info.columns
                )
                first += table.num_rows
        except (pa.ArrowException, OSError) as exc:
            msg = f"reading stopped at row {first}: {str(exc)[:200]}"
            raise self._fail(msg) from None

    def _names(self, table: pa.Table) -> list[str]:
        columns = iter(self.info.columns)
        return [n if n == self.geometry else next(columns) for n in table.column_names]
