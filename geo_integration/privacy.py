"""Privacy kernels: small-count suppression, personal fields, salted ids (no I/O).

Residence data is sensitive. Any published cell or area with fewer than ``k`` migrants is
suppressed: its counts and every measure derived from them are blanked, and a
``suppressed`` flag says so, so maps and reports can state it.

On ingest, personal columns of residence records (names, document numbers, phones, e-mails,
birth dates, ...) are recognised by their header (:func:`is_personal_column`) and dropped, and
record ids are replaced by keyed hashes (:func:`salted_ids`): SipHash-2-4 of the id with a key
derived from the store's salt, as 16 hex digits (:data:`ID_SCHEME` 2; scheme 1 was
``sha256(salt + id)`` cut to 16 hex digits). The salt is random and kept in the drop store (see
:mod:`geo_integration.store`), so the same id gives the same record id in every drop of one
store, and an id cannot be recovered without the salt. SipHash is a keyed pseudo-random
function made for short inputs; here it runs over whole arrays with numpy
(:func:`keyed_hash64`), a few times faster than one SHA-256 call per id.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from geo_integration.errors import AnalysisError, MissingColumnError
from geo_integration.text import snake_key

__all__ = [
    "ID_SCHEME",
    "PERSONAL_KEYS",
    "SALT_BYTES",
    "hex_ids",
    "is_personal_column",
    "keyed_hash64",
    "new_salt",
    "personal_columns",
    "record_key",
    "salted_id_array",
    "salted_ids",
    "strip_personal_fields",
    "suppress_small_counts",
]

#: Words that mark a column as personal when they appear as a word of its snake-case header.
PERSONAL_KEYS: frozenset[str] = frozenset(
    {
        # names
        "nombre", "nombres", "name", "names", "apellido", "apellidos", "surname", "lastname",
        "firstname", "fullname",
        # identity documents
        "documento", "documentos", "cedula", "cc", "pasaporte", "passport", "ppt", "pep",
        "dni", "identificacion", "identification", "nuip", "rut",
        # phones
        "telefono", "telefonos", "tel", "celular", "movil", "phone", "mobile", "whatsapp",
        # e-mail
        "correo", "email", "mail", "e_mail",
        # birth
        "nacimiento", "birth", "birthdate", "dob",
        # signatures
        "firma", "signature",
    }
)  # fmt: skip
#: Whole snake-case headers that are personal although no single word says so.
_PERSONAL_HEADERS = frozenset(
    {"id_number", "numero_id", "no_id", "num_id", "e_mail", "fecha_nac", "doc", "num_doc",
     "no_doc", "tipo_doc", "nro_doc"}
)  # fmt: skip
#: Bytes of a salt made by :func:`new_salt`.
SALT_BYTES = 32
#: Version of the record id function (see the module docstring); stored in each drop's
#: manifest, so that drops whose ids cannot match are never compared.
ID_SCHEME = 2


def suppress_small_counts(
    table: pd.DataFrame,
    *,
    count_col: str = "migrants",
    k: int = 10,
    blank: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Blank the rows of ``table`` whose ``count_col`` is below ``k``.

    Parameters
    ----------
    table
        One row per published unit (hexagon, UPZ, locality, cluster).
    count_col
        Column holding the number of migrants of each unit.
    k
        Privacy threshold: units with ``0 < count < k`` are suppressed. Units with a count of
        zero reveal nobody and are kept.
    blank
        Columns to blank on suppressed rows; default: every numeric column.

    Returns
    -------
    DataFrame
        A copy, aligned to ``table``, with the blanked values set to missing and a boolean
        ``suppressed`` column.
    """
    if count_col not in table.columns:
        msg = f"column {count_col!r} not in table; columns: {list(table.columns)!r}"
        raise MissingColumnError(msg, column=count_col)
    if k < 1:
        msg = f"privacy threshold k must be at least 1, got {k!r}"
        raise AnalysisError(msg)
    out = table.copy()
    counts = pd.to_numeric(out[count_col], errors="coerce").fillna(0).to_numpy()
    small = (counts > 0) & (counts < k)
    cols = list(blank) if blank is not None else list(out.select_dtypes("number").columns)
    missing = [c for c in cols if c not in out.columns]
    if missing:
        msg = f"columns to blank not in table: {missing!r}"
        raise MissingColumnError(msg, column=missing[0])
    for col in cols:
        if small.any():
            if not pd.api.types.is_float_dtype(out[col]):
                out[col] = (
                    out[col].astype("float64")
                    if pd.api.types.is_numeric_dtype(out[col])
                    else out[col].astype(object)
                )
            out.loc[small, col] = np.nan
    out["suppressed"] = small
    return out


def is_personal_column(name: object) -> bool:
    """Return True when a column header names personal data.

    Accent-, case- and punctuation-insensitive: a header is personal when one of its words is
    in :data:`PERSONAL_KEYS` or the whole header is a known personal label.

    Examples
    --------
    >>> is_personal_column("Número de Cédula"), is_personal_column("correo_electrónico")
    (True, True)
    >>> is_personal_column("Fecha de nacimiento"), is_personal_column("personas")
    (True, False)
    """
    key = snake_key(name)
    if key in _PERSONAL_HEADERS:
        return True
    return any(word in PERSONAL_KEYS for word in key.split("_"))


def personal_columns(columns: Iterable[object]) -> list[object]:
    """Return the columns of ``columns`` that :func:`is_personal_column` marks personal."""
    return [c for c in columns if is_personal_column(c)]


def strip_personal_fields(
    table: pd.DataFrame, *, keep: Sequence[str] = ()
) -> tuple[pd.DataFrame, list[str]]:
    """Drop the personal columns of ``table``.

    Parameters
    ----------
    table
        Residence records, any columns.
    keep
        Columns never dropped even if their header looks personal (the recognised fields of
        the drop, e.g. ``localidad`` mapped from ``nombre_localidad``).

    Returns
    -------
    (DataFrame, list of str)
        A copy without the personal columns, and the names of the dropped columns.
    """
    dropped = [str(c) for c in personal_columns(table.columns) if c not in keep]
    return table.drop(columns=dropped), dropped


def new_salt() -> bytes:
    """Return a new random salt of :data:`SALT_BYTES` bytes."""
    return secrets.token_bytes(SALT_BYTES)


def salted_ids(ids: Iterable[str], salt: bytes) -> list[str]:
    """Return the record id of each id: its keyed hash (:func:`keyed_hash64`) as 16 hex digits.

    Parameters
    ----------
    ids
        Original record ids (strings; no missing values), hashed as UTF-8.
    salt
        Random bytes of the store (:func:`new_salt`); the hash key is derived from it.

    Examples
    --------
    >>> salted_ids(["A1", "A1", "B2"], b"salt")[0] == salted_ids(["A1"], b"salt")[0]
    True
    >>> len(salted_ids(["A1"], b"salt")[0])
    16
    """
    return salted_id_array(pa.array(list(ids), type=pa.string()), salt).to_pylist()


def salted_id_array(ids: pa.Array | pa.ChunkedArray, salt: bytes) -> pa.Array:
    """:func:`salted_ids` of a pyarrow string array (no nulls), as a pyarrow string array."""
    return hex_ids(keyed_hash64(ids, record_key(salt)))


def record_key(salt: bytes) -> bytes:
    """The 16-byte SipHash key of record ids, derived from a store's salt."""
    if not salt:
        msg = "salted ids need a non-empty salt"
        raise AnalysisError(msg)
    return hashlib.blake2b(salt, digest_size=16, person=b"gi-record-id").digest()


def hex_ids(hashes: npt.NDArray[np.uint64]) -> pa.Array:
    """Each 64-bit hash as 16 lower-case hex digits (a pyarrow string array), vectorised."""
    n = len(hashes)
    text = np.asarray(hashes, dtype=">u8").tobytes().hex().encode("ascii")
    offsets = np.arange(n + 1, dtype=np.int32) * 16
    return pa.Array.from_buffers(
        pa.string(), n, [None, pa.py_buffer(offsets.tobytes()), pa.py_buffer(text)]
    )


# SipHash-2-4 (Aumasson and Bernstein, 2012), vectorised over many messages at once.
_SIP_INIT = (0x736F6D6570736575, 0x646F72616E646F6D, 0x6C7967656E657261, 0x7465646279746573)
#: Cells of the message matrix gathered at a time (bounds the working memory).
_SIP_CELLS = 1 << 17


def keyed_hash64(values: pa.Array | pa.ChunkedArray, key: bytes) -> npt.NDArray[np.uint64]:
    """SipHash-2-4 of each string's UTF-8 bytes with a 16-byte key, as uint64.

    Equal to the reference SipHash-2-4 (its 64-bit output read little-endian). Messages are
    grouped by their number of 8-byte blocks and hashed a group at a time with numpy, so a
    million short ids take a fraction of a second.

    Parameters
    ----------
    values
        A pyarrow string (or large string) array without nulls.
    key
        16 bytes.
    """
    if len(key) != 16:
        msg = f"SipHash needs a 16-byte key, got {len(key)} bytes"
        raise AnalysisError(msg)
    array = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if array.null_count:
        msg = f"cannot hash missing values ({array.null_count} nulls)"
        raise AnalysisError(msg)
    if pa.types.is_string(array.type):
        array = array.cast(pa.large_string())
    elif not pa.types.is_large_string(array.type):
        msg = f"keyed_hash64 hashes strings, got {array.type}"
        raise AnalysisError(msg)
    _, off_buf, data_buf = array.buffers()
    n = len(array)
    offsets = np.frombuffer(off_buf, dtype=np.int64)[array.offset : array.offset + n + 1]
    lengths = offsets[1:] - offsets[:-1]
    blocks = lengths // 8 + 1
    size = int(offsets[-1]) if n else 0
    raw = np.frombuffer(data_buf, dtype=np.uint8)[:size] if size else np.zeros(0, np.uint8)
    data = np.concatenate([raw, np.zeros(8 * int(blocks.max(initial=1)), dtype=np.uint8)])
    k0, k1 = np.frombuffer(key, dtype="<u8")
    out = np.empty(n, dtype=np.uint64)
    for count in np.flatnonzero(np.bincount(blocks)).tolist():
        rows = np.nonzero(blocks == count)[0]
        step = max(1, _SIP_CELLS // (8 * count))
        for start in range(0, len(rows), step):
            part = rows[start : start + step]
            words = _sip_words(data, offsets[part], lengths[part], count)
            out[part] = _sip_hash(words, k0, k1)
    return out


def _sip_words(
    data: npt.NDArray[np.uint8],
    starts: npt.NDArray[np.int64],
    lengths: npt.NDArray[np.int64],
    count: int,
) -> npt.NDArray[np.uint64]:
    """The padded message blocks (rows x ``count`` little-endian words) of each message.

    ``data`` ends with at least ``8 * count`` padding bytes, so every gather is in bounds.
    """
    width = 8 * count
    cols = np.arange(width, dtype=np.int64)
    matrix = data[starts[:, None] + cols[None, :]]
    matrix *= cols[None, :] < lengths[:, None]
    matrix[:, width - 1] = lengths.astype(np.uint8)  # length mod 256
    return matrix.view("<u8").astype(np.uint64)


def _rotl(x: npt.NDArray[np.uint64], bits: int, tmp: npt.NDArray[np.uint64]) -> None:
    """Rotate ``x`` left by ``bits`` in place (``tmp``: scratch of the same shape)."""
    np.right_shift(x, np.uint64(64 - bits), out=tmp)
    np.left_shift(x, np.uint64(bits), out=x)
    x |= tmp


def _sip_rounds(v: list[npt.NDArray[np.uint64]], rounds: int, tmp: npt.NDArray[np.uint64]) -> None:
    v0, v1, v2, v3 = v
    for _ in range(rounds):
        v0 += v1
        _rotl(v1, 13, tmp)
        v1 ^= v0
        _rotl(v0, 32, tmp)
        v2 += v3
        _rotl(v3, 16, tmp)
        v3 ^= v2
        v0 += v3
        _rotl(v3, 21, tmp)
        v3 ^= v0
        v2 += v1
        _rotl(v1, 17, tmp)
        v1 ^= v2
        _rotl(v2, 32, tmp)


def _sip_hash(words: npt.NDArray[np.uint64], k0: np.uint64, k1: np.uint64) -> Any:
    n = len(words)
    keys = (k0, k1, k0, k1)
    v = [
        np.full(n, np.uint64(init) ^ k, dtype=np.uint64)
        for init, k in zip(_SIP_INIT, keys, strict=True)
    ]
    tmp = np.empty(n, dtype=np.uint64)
    for j in range(words.shape[1]):
        block = words[:, j]
        v[3] ^= block
        _sip_rounds(v, 2, tmp)
        v[0] ^= block
    v[2] ^= np.uint64(0xFF)
    _sip_rounds(v, 4, tmp)
    return v[0] ^ v[1] ^ v[2] ^ v[3]
