"""What the files of a data drop mean: file kinds, column names, ``drop.toml``, row checks.

A kernel: no file I/O (``drop.toml`` is parsed from its text). It answers three questions:

- which kind of records a file holds (:func:`file_kind`): residences (``residentes*``,
  ``residences*``, ``migrantes*``), services (``servicios*``, ``services*``, ``puntos*``), or
  unknown;
- which column holds which field (:func:`recognise_columns`), from common Spanish and English
  headers (``direccion``/``address``, ``latitud``/``lat``/``y``, ``personas``/
  ``household_size``, ``secretaria``/``secretariat``, ...), or from ``drop.toml``;
- why a row cannot be accepted: the fixed vocabulary :data:`QUARANTINE_REASONS` and the
  vectorised text checks (:func:`text_problems`).

Quarantine vocabulary (a row gets the first reason that applies, in this order):

``wrong_field_count``
    A CSV line has more (non-empty) or fewer fields than the header.
``field_too_long``
    A kept text field is longer than :data:`MAX_FIELD_CHARS` characters.
``control_characters``
    A kept text field holds control characters (NUL, escape, ...).
``formula_injection``
    A kept text field looks like a spreadsheet formula: it starts with ``=``, ``+``, ``-`` or
    ``@`` and contains ``(``, ``|`` or ``!`` (``=HYPERLINK(...)``, ``@SUM(A1)``,
    ``=cmd|' /C calc'!A0``). Nothing is ever evaluated; other text starting with ``=`` is kept
    (renderers neutralise it when they write CSV/XLSX).
``markup_in_text``
    A kept text field holds an HTML tag or a ``javascript:`` URL.
``bad_geometry``
    A GeoJSON/GeoPackage/GeoParquet feature whose geometry is not a point.
``non_finite_coordinates``
    A coordinate is NaN or infinite.
``bad_coordinates``
    A coordinate is not a number.
``partial_coordinates``
    One coordinate is given and the other is empty.
``outside_bogota_region``
    The point lies far outside the district (beyond :data:`geo_integration.coords.REGION_BBOX`,
    about 25 km around it), whatever CRS is tried. Points near the district but outside its
    localities are kept and flagged ``outside_bogota``.
``bad_household_size``
    The household size is not a whole number from 1 to :data:`MAX_HOUSEHOLD`.
``bad_capacity``
    A service's capacity is not a number >= 0.
``no_location``
    Neither coordinates nor an address. (An address without coordinates is kept, to be
    geocoded.)
``duplicate_id``
    The record's id was already accepted from an earlier row of the same kind in the drop
    (ids are compared by their 64-bit keyed hash, the residences' record id).
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from geo_integration.errors import DropError
from geo_integration.text import name_key, snake_key

__all__ = [
    "FIELDS",
    "KINDS",
    "MAX_COLUMNS",
    "MAX_FIELD_CHARS",
    "MAX_HOUSEHOLD",
    "QUARANTINE_REASONS",
    "ColumnMap",
    "DropConfig",
    "FileConfig",
    "file_kind",
    "is_known_header",
    "parse_drop_config",
    "recognise_columns",
    "service_type_key",
    "text_problems",
]

RESIDENCES = "residences"
SERVICES = "services"
UNKNOWN = "unknown"
KINDS = (RESIDENCES, SERVICES)

#: Longest accepted text field (characters).
MAX_FIELD_CHARS = 500
#: Largest accepted household size (a shelter may declare many people; more is an error).
MAX_HOUSEHOLD = 100
#: A file with more columns than this is refused as a whole.
MAX_COLUMNS = 1000

#: Fixed quarantine vocabulary, in priority order (reason -> meaning).
QUARANTINE_REASONS: dict[str, str] = {
    "wrong_field_count": "the line has more or fewer fields than the header",
    "field_too_long": f"a text field is longer than {MAX_FIELD_CHARS} characters",
    "control_characters": "a text field holds control characters",
    "formula_injection": "a text field looks like a spreadsheet formula",
    "markup_in_text": "a text field holds an HTML tag or a javascript: URL",
    "bad_geometry": "the feature's geometry is not a point",
    "non_finite_coordinates": "a coordinate is NaN or infinite",
    "bad_coordinates": "a coordinate is not a number",
    "partial_coordinates": "only one of the two coordinates is given",
    "outside_bogota_region": "the point lies far outside Bogotá",
    "bad_household_size": f"the household size is not a whole number from 1 to {MAX_HOUSEHOLD}",
    "bad_capacity": "the capacity is not a number >= 0",
    "no_location": "neither coordinates nor an address",
    "duplicate_id": "the id was already accepted from an earlier row of the drop",
}

#: Fields recognised per kind.
FIELDS: dict[str, tuple[str, ...]] = {
    RESIDENCES: ("id", "address", "lat", "lon", "localidad", "barrio", "upz", "household_size"),
    SERVICES: (
        "id",
        "name",
        "secretariat",
        "service_type",
        "capacity",
        "hours",
        "address",
        "lat",
        "lon",
        "localidad",
        "barrio",
        "upz",
    ),
}

# Header synonyms (snake keys), best first. A column matches a field by exact key; the
# prefixes below catch longer headers (``direccion_de_residencia``).
_SYNONYMS: dict[str, tuple[str, ...]] = {
    "id": (
        "id",
        "record_id",
        "service_id",
        "id_registro",
        "id_hogar",
        "id_residencia",
        "id_migrante",
        "id_servicio",
        "id_punto",
        "codigo",
        "codigo_registro",
        "codigo_servicio",
        "codigo_punto",
        "identificador",
        "consecutivo",
        "folio",
        "code",
        "cod",
    ),
    "address": (
        "direccion",
        "address",
        "direccion_residencia",
        "direccion_de_residencia",
        "direccion_vivienda",
        "direccion_hogar",
        "domicilio",
        "street_address",
        "dir",
        "addr",
    ),
    "lat": (
        "latitud",
        "latitude",
        "lat",
        "coord_y",
        "coordenada_y",
        "y_coord",
        "northing",
        "y",
    ),
    "lon": (
        "longitud",
        "longitude",
        "lon",
        "lng",
        "long",
        "coord_x",
        "coordenada_x",
        "x_coord",
        "easting",
        "x",
    ),
    "localidad": (
        "localidad",
        "locality",
        "nombre_localidad",
        "localidad_nombre",
        "codigo_localidad",
        "cod_localidad",
        "loc_code",
        "district",
    ),
    "barrio": ("barrio", "nombre_barrio", "barrio_nombre", "neighbourhood", "neighborhood"),
    "upz": ("upz", "nombre_upz", "upz_nombre", "codigo_upz", "upz_code"),
    "household_size": (
        "personas",
        "household_size",
        "numero_personas",
        "numero_de_personas",
        "num_personas",
        "n_personas",
        "no_personas",
        "personas_hogar",
        "tamano_hogar",
        "integrantes",
        "miembros",
        "miembros_hogar",
        "people",
        "persons",
        "household",
    ),
    "name": (
        "nombre",
        "name",
        "nombre_servicio",
        "nombre_punto",
        "nombre_sede",
        "service_name",
        "sede",
    ),
    "secretariat": (
        "secretaria",
        "secretariat",
        "entidad",
        "secretaria_responsable",
        "agency",
    ),
    "service_type": (
        "tipo",
        "service_type",
        "tipo_servicio",
        "tipo_de_servicio",
        "type",
        "categoria",
        "category",
        "servicio",
    ),
    "capacity": ("capacidad", "capacity", "cupos", "cupo", "capacidad_atencion"),
    "hours": ("horario", "hours", "horarios", "horario_atencion", "opening_hours"),
}
_PREFIXES: dict[str, tuple[str, ...]] = {
    "address": ("direccion_", "address_"),
    "household_size": ("numero_de_personas", "personas_"),
}

_FILE_PATTERNS: dict[str, tuple[str, ...]] = {
    RESIDENCES: ("residentes", "residences", "residencias", "residents", "migrantes", "migrants"),
    SERVICES: ("servicios", "services", "puntos"),
}

# Service type words -> the package's snake_case keys.
_SERVICE_TYPES: dict[str, str] = {
    "colegio": "school",
    "colegios": "school",
    "escuela": "school",
    "institucion educativa": "school",
    "educacion": "school",
    "school": "school",
    "salud": "health",
    "hospital": "health",
    "clinica": "health",
    "centro de salud": "health",
    "cami": "health",
    "upa": "health",
    "uss": "health",
    "health": "health",
    "cade": "citizen_service",
    "supercade": "citizen_service",
    "atencion al ciudadano": "citizen_service",
    "punto de atencion": "citizen_service",
    "gobierno": "citizen_service",
    "citizen service": "citizen_service",
    "atencion ciudadana": "citizen_service",
    "mujer": "women",
    "casa de igualdad": "women",
    "casa de igualdad de oportunidades": "women",
    "casa de igualdad de oportunidades para las mujeres": "women",
    "women": "women",
    "atencion migrantes": "migrant_services",
    "atencion a migrantes": "migrant_services",
    "centro integrate": "migrant_services",
    "integrate": "migrant_services",
    "migrant services": "migrant_services",
    "integracion social": "social_integration",
    "comedor comunitario": "social_integration",
    "jardin infantil": "social_integration",
    "social integration": "social_integration",
    "transporte": "transit",
    "movilidad": "transit",
    "transit": "transit",
}


_KNOWN_HEADERS = frozenset(k for keys in _SYNONYMS.values() for k in keys)


def is_known_header(name: object) -> bool:
    """Return True when ``name`` is a recognised column header of any field (any kind)."""
    return snake_key(name) in _KNOWN_HEADERS


def file_kind(name: str) -> str:
    """Return the kind of a drop file from its name: residences, services or unknown.

    Examples
    --------
    >>> file_kind("Residentes_2024-06.csv"), file_kind("puntos servicio.xlsx")
    ('residences', 'services')
    >>> file_kind("notas.txt")
    'unknown'
    """
    stem = snake_key(PurePosixPath(name).name)
    for kind, prefixes in _FILE_PATTERNS.items():
        if any(stem.startswith(p) for p in prefixes):
            return kind
    return UNKNOWN


def service_type_key(value: object) -> str | None:
    """Return the snake_case key of a service type (``"Colegio"`` -> ``"school"``).

    Unknown types become their own snake key (``"Comisaría de Familia"`` ->
    ``"comisaria_de_familia"``); empty values give ``None``.
    """
    if value is None:
        return None
    key = name_key(value).lower()
    if not key:
        return None
    return _SERVICE_TYPES.get(key, key.replace(" ", "_"))


@dataclass(frozen=True)
class FileConfig:
    """What ``drop.toml`` says about one file (every field optional).

    Attributes
    ----------
    kind
        ``residences``, ``services`` or ``ignore``.
    columns
        Field -> column name in the file (``{"lat": "coord_norte"}``).
    crs
        CRS of the coordinates (``"EPSG:3116"``); ``None``: detected.
    decimal
        Decimal separator of numbers, ``"."`` or ``","``; ``None``: detected per value.
    encoding, delimiter
        CSV text encoding and field delimiter; ``None``: detected.
    sheet
        XLSX sheet name or 1-based number; ``None``: the first sheet.
    header_row
        1-based row of the header (CSV line or sheet row); ``None``: detected.
    layer
        GeoPackage layer; ``None``: the first layer.
    """

    kind: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    crs: str | None = None
    decimal: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | int | None = None
    header_row: int | None = None
    layer: str | None = None


@dataclass(frozen=True)
class DropConfig:
    """The parsed ``drop.toml`` of a drop (all optional).

    ``date`` names the drop (else the ingest date); ``keep_personal_fields`` keeps personal
    columns of residences in the store (never in outputs); ``defaults`` apply to every file and
    ``files`` (path relative to the drop -> :class:`FileConfig`) override them.
    ``synthetic`` marks a made-up drop (the demo); ``description`` and the tables ``meta``
    and ``demo`` are free metadata, kept in ``metadata`` and otherwise ignored.
    """

    date: dt.date | None = None
    keep_personal_fields: bool = False
    defaults: FileConfig = field(default_factory=FileConfig)
    files: dict[str, FileConfig] = field(default_factory=dict)
    synthetic: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)

    def for_file(self, rel: str) -> FileConfig:
        """Return the settings of the file at ``rel`` (defaults overridden by its own)."""
        own = self.files.get(rel)
        if own is None:
            return self.defaults
        merged = {
            name: getattr(own, name) if getattr(own, name) not in (None, {}) else value
            for name, value in vars(self.defaults).items()
        }
        merged["columns"] = {**self.defaults.columns, **own.columns}
        return FileConfig(**merged)


_FILE_KEYS = set(FileConfig.__dataclass_fields__)
_META_KEYS = {"description", "meta", "demo"}
_TOP_KEYS = {"date", "keep_personal_fields", "defaults", "files", "synthetic", *_META_KEYS}


def parse_drop_config(text: str, *, source: str = "drop.toml") -> DropConfig:
    """Parse the text of a ``drop.toml``.

    Example::

        date = 2024-06-01
        keep_personal_fields = false
        [defaults]
        decimal = ","
        [files."listado hogares.xlsx"]
        kind = "residences"
        sheet = "Hoja2"
        header_row = 3
        crs = "EPSG:3116"
        columns = { lat = "coord_y", lon = "coord_x", id = "codigo" }

    Raises
    ------
    DropError
        If the text is not TOML, holds an unknown key, or a value is out of range.
    """
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = f"{source}: not valid TOML: {exc}"
        raise DropError(msg) from None
    except RecursionError:
        msg = f"{source}: not valid TOML: arrays or tables nested too deeply"
        raise DropError(msg) from None
    _unknown(raw, _TOP_KEYS, source)
    files_raw = raw.get("files", {})
    if not isinstance(files_raw, dict):
        msg = f"{source}: [files] must be a table of file names, got {files_raw!r}"
        raise DropError(msg)
    files = {}
    for name, spec in files_raw.items():
        rel = _safe_rel(name, source)
        files[rel] = _file_config(spec, f"{source} [files.{name!r}]")
    keep = raw.get("keep_personal_fields", False)
    if not isinstance(keep, bool):
        msg = f"{source}: keep_personal_fields must be true or false, got {keep!r}"
        raise DropError(msg)
    synthetic = raw.get("synthetic", False)
    if not isinstance(synthetic, bool):
        msg = f"{source}: synthetic must be true or false, got {synthetic!r}"
        raise DropError(msg)
    return DropConfig(
        date=_date(raw.get("date"), source),
        keep_personal_fields=keep,
        defaults=_file_config(raw.get("defaults", {}), f"{source} [defaults]"),
        files=files,
        synthetic=synthetic,
        metadata={k: raw[k] for k in sorted(_META_KEYS & set(raw))},
    )


def _unknown(raw: dict[str, Any], known: set[str], where: str) -> None:
    extra = sorted(set(raw) - known)
    if extra:
        msg = f"{where}: unknown key(s) {extra!r}; known: {sorted(known)!r}"
        raise DropError(msg)


def _safe_rel(name: str, source: str) -> str:
    if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in name):
        msg = f"{source}: file name {name!r} holds control characters"
        raise DropError(msg)
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or not path.parts:
        msg = f"{source}: file {name!r} must be a path inside the drop folder"
        raise DropError(msg)
    return path.as_posix()


def _date(value: object, source: str) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        msg = f"{source}: date must be YYYY-MM-DD, got {value!r}"
        raise DropError(msg) from None


def _file_config(spec: object, where: str) -> FileConfig:
    if not isinstance(spec, dict):
        msg = f"{where}: expected a table, got {spec!r}"
        raise DropError(msg)
    _unknown(spec, _FILE_KEYS, where)
    values = dict(spec)
    kind = values.get("kind")
    if kind is not None and kind not in (*KINDS, "ignore"):
        msg = f"{where}: kind must be 'residences', 'services' or 'ignore', got {kind!r}"
        raise DropError(msg)
    columns = values.get("columns", {})
    if not isinstance(columns, dict) or not all(isinstance(v, str) for v in columns.values()):
        msg = f"{where}: columns must map field names to column names, got {columns!r}"
        raise DropError(msg)
    known = {f for fields in FIELDS.values() for f in fields}
    bad = sorted(set(columns) - known)
    if bad:
        msg = f"{where}: unknown field(s) {bad!r} in columns; fields: {sorted(known)!r}"
        raise DropError(msg)
    if values.get("decimal") not in (None, ".", ","):
        msg = f"{where}: decimal must be '.' or ',', got {values['decimal']!r}"
        raise DropError(msg)
    _check_reading(values, where)
    crs = values.get("crs")
    if crs is not None:
        values["crs"] = _check_crs(crs, where)
    return FileConfig(**values)


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _check_reading(values: dict[str, Any], where: str) -> None:
    """Types of the settings that say how to read a file."""
    delim = values.get("delimiter")
    if delim is not None and (not isinstance(delim, str) or len(delim) != 1 or delim in '"\r\n'):
        msg = f"{where}: delimiter must be one character (not a quote or line break), got {delim!r}"
        raise DropError(msg)
    header = values.get("header_row")
    if header is not None and not _whole(header):
        msg = f"{where}: header_row must be a row number >= 1, got {header!r}"
        raise DropError(msg)
    sheet = values.get("sheet")
    if sheet is not None and not (isinstance(sheet, str) or _whole(sheet)):
        msg = f"{where}: sheet must be a sheet name or a number >= 1, got {sheet!r}"
        raise DropError(msg)
    layer = values.get("layer")
    if layer is not None and not isinstance(layer, str):
        msg = f"{where}: layer must be a layer name, got {layer!r}"
        raise DropError(msg)
    encoding = values.get("encoding")
    if encoding is not None:
        import codecs

        try:
            codecs.lookup(encoding if isinstance(encoding, str) else "")
        except LookupError:
            msg = f"{where}: unknown encoding {encoding!r} (use e.g. 'utf-8', 'cp1252')"
            raise DropError(msg) from None


def _check_crs(crs: object, where: str) -> str:
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    if not isinstance(crs, str) and not _whole(crs):
        msg = f"{where}: crs must be a CRS name or EPSG number, got {crs!r}"
        raise DropError(msg)
    text = f"EPSG:{crs}" if isinstance(crs, int) else str(crs)
    try:
        CRS.from_user_input(text)
    except CRSError:
        msg = f"{where}: unknown CRS {crs!r} (use e.g. 'EPSG:4326', 'EPSG:3116', 'EPSG:9377')"
        raise DropError(msg) from None
    return text


@dataclass(frozen=True)
class ColumnMap:
    """How the columns of one file were understood.

    Attributes
    ----------
    fields
        Field -> column name.
    personal
        Columns holding personal data (names, documents, phones, e-mails, birth dates).
    ignored
        Other columns, not kept.
    warnings
        Ambiguities resolved (two columns for one field: the first synonym wins).
    """

    fields: dict[str, str]
    personal: tuple[str, ...]
    ignored: tuple[str, ...]
    warnings: tuple[str, ...] = ()


def recognise_columns(
    columns: Sequence[str], *, kind: str, mapping: dict[str, str] | None = None
) -> ColumnMap:
    """Recognise which column holds which field.

    Parameters
    ----------
    columns
        Column names as read.
    kind
        ``residences`` or ``services``.
    mapping
        Field -> column from ``drop.toml``; wins over recognition. A mapped column that is
        not in the file raises :class:`~geo_integration.errors.MissingColumnError`.
    """
    from geo_integration.errors import MissingColumnError
    from geo_integration.privacy import is_personal_column

    mapping = dict(mapping or {})
    missing = [c for c in mapping.values() if c not in columns]
    if missing:
        msg = (
            f"column {missing[0]!r} named in drop.toml is not in the file; "
            f"columns: {list(columns)!r}"
        )
        raise MissingColumnError(msg, column=missing[0])
    fields = {f: c for f, c in mapping.items() if f in FIELDS[kind]}
    used = set(fields.values())
    warnings: list[str] = []
    keys = {c: snake_key(c) for c in columns}
    for name in FIELDS[kind]:
        if name in fields:
            continue
        found = _best_column(name, [c for c in columns if c not in used], keys)
        if found:
            fields[name] = found[0]
            used.add(found[0])
            warnings += [
                f"columns {found[0]!r} and {other!r} both look like {name}; using {found[0]!r}"
                for other in found[1:]
            ]
    rest = [c for c in columns if c not in used]
    personal = tuple(c for c in rest if is_personal_column(c))
    ignored = tuple(c for c in rest if c not in personal)
    return ColumnMap(fields, personal, ignored, tuple(warnings))


def _best_column(name: str, columns: list[str], keys: dict[str, str]) -> list[str]:
    synonyms = _SYNONYMS[name]
    ranked = sorted(
        (synonyms.index(keys[c]), i, c) for i, c in enumerate(columns) if keys[c] in synonyms
    )
    if ranked:
        return [c for *_r, c in ranked]
    prefixes = _PREFIXES.get(name, ())
    return [c for c in columns if any(keys[c].startswith(p) for p in prefixes)]


_CONTROL = r"[\x00-\x08\x0B\x0C\x0E-\x1F\x7F]"
_FORMULA = r"^\s*[=+\-@].*[(|!]"
_MARKUP = r"(?i)(<\s*/?\s*[a-z][^<>]*>|javascript\s*:)"
# Any value that one of the three patterns could match holds a control byte, "<" or ":"
# somewhere, or starts with "=", "+", "-", "@" or white space: found by a byte scan.
_SUSPECT_BYTES = bytes([*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F]) + b"<:"
_SUSPECT_START = b"=+-@ \t\n\r\x0b\x0c"


def _mask(values: Any) -> npt.NDArray[np.bool_]:
    return np.asarray(pc.fill_null(values, False).to_numpy(zero_copy_only=False), dtype=bool)


def text_problems(values: pa.Array | pa.ChunkedArray) -> dict[str, npt.NDArray[np.bool_]]:
    """Vectorised checks of one text column: reason -> boolean mask.

    Nulls pass every check. The reasons are ``field_too_long``, ``control_characters``,
    ``formula_injection`` and ``markup_in_text`` (see the module docstring). A scan of the
    UTF-8 bytes finds the few suspect values (:mod:`geo_integration.textscan`); only those
    are measured or matched against each pattern.
    """
    from geo_integration.textscan import Utf8Bytes

    array = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    scan = Utf8Bytes(array)
    n = len(array)
    too_long = np.zeros(n, dtype=bool)
    long = np.nonzero(scan.lengths > MAX_FIELD_CHARS)[0]  # characters <= bytes
    if len(long):
        chars = pc.utf8_length(array.take(pa.array(long, type=pa.int64())))
        too_long[long] = _mask(pc.greater(chars, MAX_FIELD_CHARS))
    out = {"field_too_long": too_long}
    suspect = scan.holds(_SUSPECT_BYTES) | scan.first(_SUSPECT_START)
    where = np.nonzero(suspect)[0]
    subset = array.take(pa.array(where, type=pa.int64()))
    patterns = {
        "control_characters": _CONTROL,
        "formula_injection": _FORMULA,
        "markup_in_text": _MARKUP,
    }
    for reason, pattern in patterns.items():
        mask = np.zeros(n, dtype=bool)
        if len(where):
            mask[where] = _mask(pc.match_substring_regex(subset, pattern))
        out[reason] = mask
    return out


def reason_codes() -> dict[str, int]:
    """Reason -> small integer (1-based, in priority order); 0 means accepted."""
    return {reason: i + 1 for i, reason in enumerate(QUARANTINE_REASONS)}


def first_reason(
    current: npt.NDArray[np.int8], mask: npt.NDArray[np.bool_], reason: str
) -> npt.NDArray[np.int8]:
    """Set ``reason`` where ``mask`` holds and no reason of higher priority is set yet."""
    code = reason_codes()[reason]
    replace = mask & ((current == 0) | (current > code))
    current[replace] = code
    return current


def reason_names(codes: Iterable[int]) -> list[str]:
    """Inverse of :func:`reason_codes` for a sequence of codes."""
    names = list(QUARANTINE_REASONS)
    return [names[c - 1] for c in codes]
