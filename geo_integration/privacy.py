"""Privacy kernels: small-count suppression, personal fields, salted ids (no I/O).

Residence data is sensitive. Any published cell or area with fewer than ``k`` migrants is
suppressed: its counts and every measure derived from them are blanked, and a
``suppressed`` flag says so, so maps and reports can state it.

On ingest, personal columns of residence records (names, document numbers, phones, e-mails,
birth dates, ...) are recognised by their header (:func:`is_personal_column`) and dropped, and
record ids are replaced by salted hashes (:func:`salted_ids`): ``sha256(salt + id)`` cut to 16
hex digits. The salt is random and kept in the drop store (see :mod:`geo_integration.store`),
so the same id gives the same record id in every drop of one store, and an id cannot be
recovered without the salt.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from geo_integration.errors import AnalysisError, MissingColumnError
from geo_integration.text import snake_key

__all__ = [
    "PERSONAL_KEYS",
    "SALT_BYTES",
    "is_personal_column",
    "new_salt",
    "personal_columns",
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
    """Return ``sha256(salt + id)`` as 16 hex digits for each id (UTF-8 encoded).

    Parameters
    ----------
    ids
        Original record ids (strings; no missing values).
    salt
        Random bytes of the store (:func:`new_salt`).

    Examples
    --------
    >>> salted_ids(["A1", "A1", "B2"], b"salt")[0] == salted_ids(["A1"], b"salt")[0]
    True
    >>> len(salted_ids(["A1"], b"salt")[0])
    16
    """
    return salted_id_array(ids, salt).to_pylist()


def salted_id_array(ids: Iterable[str], salt: bytes) -> pa.Array:
    """:func:`salted_ids` as a pyarrow string array, built without per-row formatting.

    One SHA-256 per id is unavoidable; the hex digits are made in a single vectorised step.
    """
    if not salt:
        msg = "salted ids need a non-empty salt"
        raise AnalysisError(msg)
    sha = hashlib.sha256
    digests = b"".join([sha(salt + value.encode("utf-8")).digest() for value in ids])
    n = len(digests) // 32
    first8 = np.frombuffer(digests, dtype=np.uint8).reshape(n, 32)[:, :8]
    hex_text = first8.tobytes().hex().encode("ascii")
    offsets = (np.arange(n + 1, dtype=np.int64) * 16).astype(np.int32)
    return pa.Array.from_buffers(
        pa.string(), n, [None, pa.py_buffer(offsets.tobytes()), pa.py_buffer(hex_text)]
    )
