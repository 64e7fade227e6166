"""Ingest, row level: one chunk of a drop file to accepted rows and quarantine rows.

Used by :mod:`geo_integration.ingest`. For each chunk of raw text (a
:class:`~geo_integration.readers.RawChunk`) every row gets at most one quarantine reason (the
first that applies, in the order of :data:`geo_integration.schema.QUARANTINE_REASONS`); the
rows without a reason are accepted. Accepted rows are normalised (trimmed text, numbers,
WGS84 coordinates, keyed record ids) and quarantined rows keep their original values as JSON
text; both go to the file's :class:`~geo_integration.spool.Spool` so that memory stays
bounded. Everything is vectorised over the chunk, except the JSON of quarantined rows.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
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
from geo_integration.readers import RawChunk, TableReader
from geo_integration.schema import (
    MAX_HOUSEHOLD,
    QUARANTINE_REASONS,
    RESIDENCES,
    SERVICES,
    ColumnMap,
    FileConfig,
    reason_codes,
    service_type_key,
    text_problems,
)
from geo_integration.spool import Spool

__all__ = ["FileState", "KeySet", "process_chunk"]

#: Longest original value kept in a quarantine record (characters); longer ones are cut.
MAX_VALUE_CHARS = 10_000
#: Fields beyond the header's kept in a quarantine record; the others are counted.
MAX_EXTRA_FIELDS = 50
TEXT_FIELDS = {
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
_CODES = reason_codes()
_NAMES = np.array(["", *QUARANTINE_REASONS], dtype=object)
_STRING = pa.string()


class KeySet:
    """A set of 64-bit keys (hashed ids), 8 bytes a key, held as sorted runs.

    Runs of similar size are merged, so adding n keys in chunks costs O(n log n) and a
    membership test looks at O(log n) runs.
    """

    def __init__(self) -> None:
        self._runs: list[npt.NDArray[np.uint64]] = []

    def __len__(self) -> int:
        return sum(len(r) for r in self._runs)

    def contains(self, keys: npt.NDArray[np.uint64]) -> npt.NDArray[np.bool_]:
        """True where a key is in the set."""
        found = np.zeros(len(keys), dtype=bool)
        for run in self._runs:
            at = np.searchsorted(run, keys)
            found |= run[np.minimum(at, len(run) - 1)] == keys
        return found

    def add(self, keys: npt.NDArray[np.uint64]) -> None:
        """Add keys (any order, repeats allowed)."""
        self.add_sorted(_distinct(np.sort(keys)))

    def add_sorted(self, keys: npt.NDArray[np.uint64]) -> None:
        """Add keys given sorted and distinct."""
        if len(keys):
            self._push(keys)

    def update(self, other: KeySet) -> None:
        """Add every key of ``other``."""
        for run in other._runs:
            self._push(run)

    def _push(self, run: npt.NDArray[np.uint64]) -> None:
        self._runs.append(run)
        while len(self._runs) > 1 and len(self._runs[-2]) <= 2 * len(self._runs[-1]):
            merged = np.concatenate([self._runs[-2], self._runs[-1]])
            del self._runs[-2:]
            merged.sort(kind="stable")  # two sorted runs: timsort merges them in linear time
            self._runs.append(_distinct(merged))


def _distinct(ordered: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """The distinct values of a sorted array (``np.unique`` without its hashing cost)."""
    if len(ordered) < 2:
        return ordered
    keep = np.empty(len(ordered), dtype=bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered if keep.all() else ordered[keep]


@dataclass
class FileState:
    """Everything learnt while reading one file (one reading attempt).

    ``known`` are the ids accepted by earlier files of the drop (same kind); ``new_ids``
    those accepted from this file, merged into ``known`` only when the file succeeds.
    """

    rel: str
    kind: str
    config: FileConfig
    reader: TableReader
    colmap: ColumnMap
    keep_personal: bool
    key: bytes
    known: KeySet
    accepted: Spool
    quarantine: Spool
    collect_pending: bool = False
    guess: CrsGuess | None = None
    new_ids: KeySet = field(default_factory=KeySet)
    reasons: Counter[str] = field(default_factory=Counter)
    rows_read: int = 0
    blank_rows: int = 0
    swapped_rows: int = 0
    pending_geocoding: int = 0
    people: int = 0
    bbox: list[float] = field(default_factory=lambda: [np.inf, np.inf, -np.inf, -np.inf])
    pending: list[tuple[npt.NDArray[np.int64], pa.Array]] = field(default_factory=list)

    @property
    def rows_accepted(self) -> int:
        return self.accepted.num_rows

    @property
    def rows_quarantined(self) -> int:
        return self.quarantine.num_rows

    def discard(self) -> None:
        """Forget the rows (the file failed or is read again)."""
        self.accepted.discard()
        self.quarantine.discard()


def _mark(
    codes: npt.NDArray[np.int8],
    detail: npt.NDArray[np.object_],
    mask: npt.NDArray[np.bool_],
    reason: str,
    text: str,
) -> None:
    code = _CODES[reason]
    replace = mask & ((codes == 0) | (codes > code))
    if replace.any():
        codes[replace] = code
        detail[replace] = text


def _bools(values: Any) -> npt.NDArray[np.bool_]:
    return np.asarray(pc.fill_null(values, False).to_numpy(zero_copy_only=False), dtype=bool)


def _clean(column: Any) -> pa.Array:
    """Trimmed text, empty values as nulls."""
    from geo_integration.coords import trimmed_text

    return trimmed_text(column)


# ------------------------------------------------------------------------------ location


def _coordinates(chunk: RawChunk, st: FileState) -> tuple[Any, Any, Any, Any]:
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


def _crs_guess(st: FileState, a: Any, b: Any, valid: npt.NDArray[np.bool_]) -> CrsGuess:
    if st.guess is None and valid.any():
        info = st.reader.info
        declared = st.config.crs or (info.crs if info.has_geometry else None)
        trusted = st.config.crs is not None or info.crs_trusted
        st.guess = detect_crs(a[valid], b[valid], declared=declared, trust_declared=trusted)
    return st.guess or CrsGuess("EPSG:4326", False, 0.0, "detected")


def _locate(
    chunk: RawChunk, st: FileState, codes: Any, detail: Any, address: Any
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
    none = (sa == MISSING) & (sb == MISSING)
    if none.any():
        _mark(codes, detail, none & ~_bools(pc.is_valid(address)), "no_location", "")
    st.swapped_rows += int((swapped & (codes == 0)).sum())
    return lon, lat, valid


# ------------------------------------------------------------------------------ numbers


def _number_field(chunk: RawChunk, st: FileState, name: str) -> tuple[Any, Any] | None:
    column = st.colmap.fields.get(name)
    if column is None:
        return None
    return parse_numbers(chunk.table.column(column), decimal=st.config.decimal)


def _household(chunk: RawChunk, st: FileState, codes: Any, detail: Any) -> Any:
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


def _capacity(chunk: RawChunk, st: FileState, codes: Any, detail: Any) -> Any:
    parsed = _number_field(chunk, st, "capacity")
    if parsed is None:
        return np.full(chunk.table.num_rows, np.nan)
    values, status = parsed
    with np.errstate(invalid="ignore"):
        bad = (status == NOT_A_NUMBER) | (status == NON_FINITE) | ((status == OK) & (values < 0))
    _mark(codes, detail, bad, "bad_capacity", repr(st.colmap.fields["capacity"]))
    return values


# ------------------------------------------------------------------------------ ids


def _duplicates(
    ids: Any, st: FileState, codes: Any, detail: Any
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint64]]:
    """Quarantine repeated ids; return the rows with an id still accepted and their hashes.

    Ids are compared by their keyed 64-bit hash (the residences' record id), so the ids of a
    drop are held in 8 bytes each, whatever their number.
    """
    from geo_integration.privacy import keyed_hash64

    rows = np.nonzero((codes == 0) & _bools(pc.is_valid(ids)))[0]
    if not len(rows):
        return rows, np.zeros(0, dtype=np.uint64)
    hashes = keyed_hash64(ids.take(pa.array(rows)), st.key)
    ordered = np.sort(hashes)
    later = np.zeros(len(rows), dtype=bool)  # a repeat of an earlier row of this chunk
    later[1:] = ordered[1:] == ordered[:-1]
    seen = st.known.contains(ordered) | st.new_ids.contains(ordered)
    dup = np.zeros(len(rows), dtype=bool)
    if later.any() or seen.any():  # rare: find which rows, keeping the first of each id
        order = np.argsort(hashes, kind="stable")
        dup[order] = later | seen
    st.new_ids.add_sorted(ordered[~later & ~seen])
    if dup.any():
        mask = np.zeros(len(codes), dtype=bool)
        mask[rows[dup]] = True
        _mark(codes, detail, mask, "duplicate_id", repr(st.colmap.fields.get("id")))
    return rows[~dup], hashes[~dup]


def _record_ids(
    ids: Any, keep: npt.NDArray[np.bool_], with_id: Any, hashes: Any, rows: Any, st: FileState
) -> pa.Array:
    """Keyed record ids of residences, ids as given for services; file and row when absent."""
    from geo_integration.privacy import hex_ids, keyed_hash64

    n = int(keep.sum())
    position = np.cumsum(keep) - 1  # row of the chunk -> position among the accepted rows
    has_id = np.zeros(n, dtype=bool)
    has_id[position[with_id]] = True
    absent = np.nonzero(~has_id)[0]
    if st.kind == SERVICES:
        out = ids.filter(pa.array(keep))
        if len(absent):
            labels = _row_labels(f"{st.rel}:", rows[absent])
            out = pc.if_else(pa.array(has_id), out, _spread(labels, absent, n))
        return out
    values = np.zeros(n, dtype=np.uint64)
    values[position[with_id]] = hashes
    if len(absent):
        values[absent] = keyed_hash64(_row_labels(f"{st.rel}\x00#", rows[absent]), st.key)
    return hex_ids(values)


def _row_labels(prefix: str, rows: npt.NDArray[np.int64]) -> pa.Array:
    numbers = pc.cast(pa.array(rows, type=pa.int64()), _STRING)
    return pc.binary_join_element_wise(pa.scalar(prefix), numbers, "")


def _spread(values: pa.Array, at: npt.NDArray[np.int64], n: int) -> pa.Array:
    """An array of ``n`` nulls with ``values`` placed at positions ``at``."""
    index = np.full(n, -1, dtype=np.int64)
    index[at] = np.arange(len(at))
    return values.take(pa.array(index, mask=index < 0))


# ------------------------------------------------------------------------------ a chunk


def process_chunk(chunk: RawChunk, st: FileState) -> None:
    """Check every row of ``chunk``; spool the accepted and the quarantined rows."""
    table, n = chunk.table, chunk.table.num_rows
    st.blank_rows += chunk.blank_rows
    st.rows_read += n + len(chunk.malformed)
    codes = np.zeros(n, dtype=np.int8)
    detail = np.full(n, "", dtype=object)
    fields = st.colmap.fields
    text = {
        f: _clean(table.column(fields[f])) if f in fields else pa.nulls(n, type=_STRING)
        for f in TEXT_FIELDS[st.kind]
    }
    for name in TEXT_FIELDS[st.kind]:
        if name in fields:
            for reason, mask in text_problems(text[name]).items():
                _mark(codes, detail, mask, reason, repr(fields[name]))
    lon, lat, valid = _locate(chunk, st, codes, detail, text["address"])
    numbers = (
        {"household_size": _household(chunk, st, codes, detail)}
        if st.kind == RESIDENCES
        else {"capacity": _capacity(chunk, st, codes, detail)}
    )
    with_id, hashes = _duplicates(text["id"], st, codes, detail)
    keep = codes == 0
    ids = _record_ids(text["id"], keep, with_id, hashes, chunk.rows[keep], st)
    st.accepted.append(_accepted(chunk, st, keep, text, numbers, ids, (lon, lat, valid)))
    st.quarantine.append(_quarantined(chunk, st, ~keep, codes, detail))


def _accepted(
    chunk: RawChunk,
    st: FileState,
    keep: npt.NDArray[np.bool_],
    text: dict[str, Any],
    numbers: dict[str, Any],
    ids: pa.Array,
    location: tuple[Any, Any, Any],
) -> pa.Table:
    lon, lat, valid = (v[keep] for v in location)
    mask = pa.array(keep)
    rows = chunk.rows[keep]
    count = len(rows)
    out: dict[str, Any] = {
        "record_id" if st.kind == RESIDENCES else "service_id": ids,
        "source_file": pa.repeat(pa.scalar(st.rel), count),
        "source_row": pa.array(rows, type=pa.int64()),
    }
    for name in TEXT_FIELDS[st.kind][1:]:
        out[name] = text[name].filter(mask)
    if st.kind == SERVICES:
        out["service_type"] = _service_types(out["service_type"])
    for name, values in numbers.items():
        out[name] = pa.array(values[keep])
    out["lon"], out["lat"] = pa.array(lon), pa.array(lat)
    source = pa.DictionaryArray.from_arrays(
        pa.array(np.where(valid, 0, 1).astype(np.int8)), pa.array(["input", "none"])
    )
    out["coord_source"] = source.cast(_STRING)
    if st.kind == RESIDENCES and st.keep_personal:
        for column in st.colmap.personal:
            out[f"personal_{_snake(column)}"] = _clean(chunk.table.column(column)).filter(mask)
    _note_accepted(st, out, lon, lat, valid)
    return pa.table(out)


def _note_accepted(st: FileState, out: dict[str, Any], lon: Any, lat: Any, valid: Any) -> None:
    """Running totals of the accepted rows: people, extent, rows waiting for geocoding."""
    if "household_size" in out:
        st.people += int(pc.sum(out["household_size"]).as_py() or 0)
    if valid.any():
        box = st.bbox
        box[:] = [
            min(box[0], float(lon[valid].min())),
            min(box[1], float(lat[valid].min())),
            max(box[2], float(lon[valid].max())),
            max(box[3], float(lat[valid].max())),
        ]
    waiting = ~valid & _bools(pc.is_valid(out["address"]))
    count = int(waiting.sum())
    if count and st.collect_pending:
        where = np.nonzero(waiting)[0]
        st.pending.append((where + st.accepted.num_rows, out["address"].take(pa.array(where))))
    st.pending_geocoding += count


def _service_types(kinds: pa.Array) -> pa.Array:
    unique = pc.unique(kinds).drop_null()
    keys = pa.array([service_type_key(v) for v in unique.to_pylist()], type=_STRING)
    return pc.take(keys, pc.index_in(kinds, value_set=unique))


def _snake(name: str) -> str:
    from geo_integration.text import snake_key

    return snake_key(name) or "column"


def _capped(value: object) -> object:
    if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
        return value[:MAX_VALUE_CHARS] + f"...[{len(value) - MAX_VALUE_CHARS} more characters]"
    return value


def _quarantined(
    chunk: RawChunk,
    st: FileState,
    drop: npt.NDArray[np.bool_],
    codes: npt.NDArray[np.int8],
    detail: npt.NDArray[np.object_],
) -> pa.Table:
    if not drop.any() and not chunk.malformed:
        return pa.table({})
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
    names = st.reader.info.columns
    for bad in chunk.malformed:
        named = dict(zip(names, bad.fields, strict=False))
        record: dict[str, Any] = {k: v for k, v in named.items() if k not in hidden}
        if len(bad.fields) > len(names):
            extra = bad.fields[len(names) :]
            record["_extra_fields"] = extra[:MAX_EXTRA_FIELDS]
            if len(extra) > MAX_EXTRA_FIELDS:
                record["_extra_fields"].append(f"...[{len(extra) - MAX_EXTRA_FIELDS} more fields]")
        reason, _, why = bad.reason.partition(": ")
        records.append(record)
        rows.append(bad.row)
        reasons.append(reason)
        details.append(why or f"{len(bad.fields)} fields, header has {len(names)}")
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
            "reason": pa.array(reasons, type=_STRING),
            "detail": pa.array(details, type=_STRING),
            "values": pa.array(texts, type=_STRING),
        }
    )


def quarantine_schema() -> pa.Schema:
    """Columns of the quarantine table."""
    names = ("source_file", "source_row", "kind", "reason", "detail", "values")
    return pa.schema([(n, pa.int64() if n == "source_row" else _STRING) for n in names])
