"""The drop store: dated, content-hashed folders of normalised drops (I/O).

Layout::

    STORE/
      .salt                         random per-store salt of record ids (mode 0600)
      20240601-3fa2c1d09e7b/        <ingest date or drop.toml date>-<12 hex of the drop hash>
        residences.parquet          GeoParquet, EPSG:4326 (see docs/architecture.md)
        services.parquet            GeoParquet, EPSG:4326
        quarantine.parquet          rows not accepted: file, row, reason, original values
        report.json, report.txt     the ingest report
        manifest.json               input files (hash, size, kind, counts), created, version

The drop hash is the SHA-256 of the drop's files (names and bytes), so ingesting the same
files again finds the existing drop and writes nothing; a different drop always gets a new
folder, never overwriting an old one. A drop is written into a hidden staging folder and
renamed into place when complete. The store is internal and as sensitive as the drops
themselves: it holds residence-level rows.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from geo_integration.config import resolve_store_dir
from geo_integration.errors import StoreError
from geo_integration.fileio import write_bytes

__all__ = [
    "Drop",
    "DropComparison",
    "compare_drops",
    "drop_digest",
    "find_drop",
    "id_scheme",
    "list_drops",
    "open_drop",
    "points_parquet_writer",
    "store_salt",
]

SALT_FILE = ".salt"
DROP_ID = re.compile(r"^(\d{8})-([0-9a-f]{12})$")
TABLE_FILES = {
    "residences": "residences.parquet",
    "services": "services.parquet",
    "quarantine": "quarantine.parquet",
}
StoreArg = str | os.PathLike[str] | None


@dataclass
class Drop:
    """A normalised drop in the store.

    Attributes
    ----------
    drop_id
        ``YYYYMMDD-<hash12>``.
    path
        Its folder.
    manifest, report
        The contents of ``manifest.json`` and ``report.json``.
    created
        True when the call that returned it wrote it (False: it was already in the store).
    """

    drop_id: str
    path: Path
    manifest: dict[str, Any]
    report: dict[str, Any]
    created: bool = False
    _tables: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def date(self) -> dt.date:
        """The drop's date (from its id)."""
        return dt.datetime.strptime(self.drop_id[:8], "%Y%m%d").date()

    @property
    def digest(self) -> str:
        """The full SHA-256 of the drop's files."""
        return str(self.manifest["drop_hash"])

    @property
    def residences(self) -> Any:
        """Residence records (GeoDataFrame, EPSG:4326), read on first use."""
        return self._geo("residences")

    @property
    def services(self) -> Any:
        """Service points (GeoDataFrame, EPSG:4326), read on first use."""
        return self._geo("services")

    @property
    def quarantine(self) -> pd.DataFrame:
        """Quarantined rows: ``source_file``, ``source_row``, ``kind``, ``reason``,
        ``detail`` and ``values`` (the original values as a JSON object of text)."""
        if "quarantine" not in self._tables:
            self._tables["quarantine"] = pd.read_parquet(self.path / TABLE_FILES["quarantine"])
        return self._tables["quarantine"].copy()

    def quarantine_rows(self, source_file: str) -> pd.DataFrame:
        """The quarantined rows of one input file with their original columns, to be fixed
        and sent again (``source_row`` and ``reason`` first)."""
        part = self.quarantine
        part = part[part["source_file"] == source_file]
        values = pd.DataFrame([json.loads(v) for v in part["values"]], index=part.index)
        head = part[["source_row", "reason", "detail"]]
        return pd.concat([head, values], axis=1).reset_index(drop=True)

    def _geo(self, name: str) -> Any:
        import geopandas as gpd

        if name not in self._tables:
            self._tables[name] = gpd.read_parquet(self.path / TABLE_FILES[name])
        return self._tables[name].copy()


# ------------------------------------------------------------------------------------ salt


def store_salt(store: StoreArg = None) -> bytes:
    """Return the store's salt, creating it (random, file mode 0600) on first use.

    Raises
    ------
    StoreError
        If the salt file exists but is damaged.
    """
    from geo_integration.privacy import SALT_BYTES, new_salt

    root = resolve_store_dir(store)
    path = root / SALT_FILE
    if not path.exists():
        root.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".salt.", dir=root)
        os.close(fd)
        tmp = Path(name)
        try:
            write_bytes(tmp, new_salt())
            tmp.chmod(0o600)
            os.link(tmp, path)  # fails if another process created it first: keep theirs
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    salt = path.read_bytes()
    if len(salt) != SALT_BYTES:
        msg = f"{path}: damaged salt ({len(salt)} bytes, expected {SALT_BYTES})"
        raise StoreError(msg)
    return salt


# ------------------------------------------------------------------------------- hashing


def drop_digest(
    files: Iterable[tuple[str, Path]], *, refused: Iterable[str] = ()
) -> tuple[str, dict[str, dict[str, Any]]]:
    """Hash a drop's files (relative name and bytes of each, in name order).

    ``refused`` are the lines that name the entries of the drop folder that were not read
    (links, special files, ...): they count in the drop's hash, so that the same files with
    other refused entries make another drop (with its own report).

    Returns
    -------
    (digest, files)
        The drop's SHA-256 and, per relative name, ``{"sha256": ..., "size": ...}``.
    """
    total = hashlib.sha256()
    for line in sorted(refused):
        name = line.encode("utf-8", errors="backslashreplace")
        total.update(b"refused" + len(name).to_bytes(8, "big") + name)
    each: dict[str, dict[str, Any]] = {}
    for rel, path in sorted(files):
        name = rel.encode("utf-8")
        size = path.stat().st_size
        total.update(len(name).to_bytes(8, "big") + name + size.to_bytes(8, "big"))
        own = hashlib.sha256()
        with path.open("rb") as fh:
            while block := fh.read(1 << 20):
                own.update(block)
                total.update(block)
        each[rel] = {"sha256": own.hexdigest(), "size": size}
    return total.hexdigest(), each


def find_drop(digest: str, *, store: StoreArg = None) -> Drop | None:
    """Return the drop of the store whose hash is ``digest``, or ``None``."""
    root = resolve_store_dir(store)
    if not root.is_dir():
        return None
    for path in sorted(root.glob(f"*-{digest[:12]}")):
        drop = _load(path)
        if drop is not None and drop.digest == digest:
            return drop
    return None


def _load(path: Path) -> Drop | None:
    if not DROP_ID.match(path.name) or not (path / "manifest.json").is_file():
        return None
    try:
        manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
        report = json.loads((path / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        msg = f"{path}: damaged drop ({exc})"
        raise StoreError(msg) from None
    return Drop(path.name, path, manifest, report)


# ------------------------------------------------------------------------------- writing


def staging_dir(digest: str, *, store: StoreArg = None) -> Path:
    """Create and return a hidden staging folder in the store for a drop being written."""
    root = resolve_store_dir(store)
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".staging-{digest[:12]}-", dir=root))


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented UTF-8 JSON, atomically."""
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"
    write_bytes(path, text.encode("utf-8"))


def commit_drop(staging: Path, drop_id: str, digest: str, *, store: StoreArg = None) -> Drop:
    """Move a complete staging folder into place as ``drop_id``.

    If a drop with the same hash appeared meanwhile (another process), the staging folder is
    removed and that drop is returned.
    """
    root = resolve_store_dir(store)
    target = root / drop_id
    try:
        if target.exists():
            raise FileExistsError(target)
        staging.rename(target)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        existing = find_drop(digest, store=root)
        if existing is None:
            msg = f"{target}: cannot create the drop folder (exists with other contents?)"
            raise StoreError(msg) from None
        return existing
    drop = _load(target)
    if drop is None:  # pragma: no cover - we just wrote it
        msg = f"{target}: drop written but unreadable"
        raise StoreError(msg)
    drop.created = True
    return drop


def discard_staging(staging: Path) -> None:
    """Remove a staging folder after a failed ingest."""
    shutil.rmtree(staging, ignore_errors=True)


def _point_wkb(lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64]) -> pa.Array:
    """WKB points (little-endian, 21 bytes each) built with numpy; null where not finite."""
    n = len(lon)
    ok = np.isfinite(lon) & np.isfinite(lat)
    record = np.zeros(n, dtype=[("order", "u1"), ("type", "<u4"), ("x", "<f8"), ("y", "<f8")])
    record["order"], record["type"], record["x"], record["y"] = 1, 1, lon, lat
    offsets = np.arange(n + 1, dtype=np.int32) * record.dtype.itemsize
    validity = pa.py_buffer(np.packbits(ok, bitorder="little").tobytes())
    return pa.Array.from_buffers(
        pa.binary(),
        n,
        [validity, pa.py_buffer(offsets.tobytes()), pa.py_buffer(record.tobytes())],
        null_count=int(n - ok.sum()),
    )


# Columns with few distinct values (dictionary-encoded) and columns worth min/max statistics;
# skipping the rest (ids, addresses, WKB) halves the write time of a million rows.
_DICTIONARY_COLUMNS = {
    "source_file", "localidad", "barrio", "upz", "coord_source", "loc_code_given", "loc_code",
    "upz_code", "secretariat", "service_type", "match_level",
}  # fmt: skip
_STATISTICS_COLUMNS = {"source_row", "lon", "lat", "household_size", "capacity"}
_WRITE_ROWS = 1 << 20


def _wgs84_projjson() -> dict[str, Any]:
    from pyproj import CRS

    return dict(CRS.from_epsg(4326).to_json_dict())


def write_points_parquet(frame: pd.DataFrame | pa.Table, path: Path) -> None:
    """Write ``frame`` (DataFrame or Arrow table) as GeoParquet, points from ``lon``/``lat``.

    The points (EPSG:4326, WKB encoding) are built with numpy, not shapely: writing a million
    points takes a fraction of a second. Rows without finite coordinates get a null geometry.
    """
    import pyarrow.compute as pc

    table = (
        frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
    )
    lon = np.asarray(pc.fill_null(table.column("lon"), np.nan).to_numpy(), dtype=float)
    lat = np.asarray(pc.fill_null(table.column("lat"), np.nan).to_numpy(), dtype=float)
    ok = np.isfinite(lon) & np.isfinite(lat)
    bbox = (
        [float(lon[ok].min()), float(lat[ok].min()), float(lon[ok].max()), float(lat[ok].max())]
        if ok.any()
        else None
    )
    with points_parquet_writer(path, table.schema, bbox=bbox) as write:
        write(table)


@contextlib.contextmanager
def points_parquet_writer(
    path: Path, schema: pa.Schema, *, bbox: Sequence[float] | None = None
) -> Iterator[Callable[[pa.Table], None]]:
    """Write a GeoParquet file of points in batches: yields ``write(table)``.

    Each table has the columns of ``schema`` (with ``lon`` and ``lat``); a ``geometry`` column
    of WKB points (EPSG:4326) is added, null where a coordinate is not finite. ``bbox``
    (min lon, min lat, max lon, max lat of all the points) goes into the GeoParquet metadata.
    The file appears at ``path`` only when the block ends without error (atomic).
    """
    import pyarrow.parquet as pq

    from geo_integration.fileio import atomic_path

    column: dict[str, Any] = {
        "encoding": "WKB",
        "geometry_types": ["Point"],
        "crs": _wgs84_projjson(),
    }
    if bbox is not None:
        column["bbox"] = [float(v) for v in bbox]
    geo = {"version": "1.0.0", "primary_column": "geometry", "columns": {"geometry": column}}
    metadata = dict(schema.metadata or {})
    metadata[b"geo"] = json.dumps(geo).encode("utf-8")
    full = schema.append(pa.field("geometry", pa.binary())).with_metadata(metadata)

    def write(table: pa.Table) -> None:
        import pyarrow.compute as pc

        for start in range(0, max(table.num_rows, 1), _WRITE_ROWS):
            part = table.slice(start, _WRITE_ROWS)
            lon = np.asarray(pc.fill_null(part.column("lon"), np.nan).to_numpy(), dtype=float)
            lat = np.asarray(pc.fill_null(part.column("lat"), np.nan).to_numpy(), dtype=float)
            points = part.append_column("geometry", _point_wkb(lon, lat))
            writer.write_table(points.cast(full) if not points.schema.equals(full) else points)

    with atomic_path(path) as tmp:
        writer = pq.ParquetWriter(
            tmp,
            full,
            use_dictionary=[c for c in full.names if c in _DICTIONARY_COLUMNS],
            write_statistics=[c for c in full.names if c in _STATISTICS_COLUMNS],
        )
        try:
            yield write
        finally:
            writer.close()


# ------------------------------------------------------------------------------- reading


def list_drops(store: StoreArg = None) -> pd.DataFrame:
    """List the drops of the store, oldest first.

    Returns
    -------
    DataFrame
        ``drop_id``, ``date``, ``created`` (ingest time, ISO), ``files``, ``residences``,
        ``services``, ``quarantined``, ``path``.
    """
    root = resolve_store_dir(store)
    rows = []
    for path in sorted(root.iterdir()) if root.is_dir() else []:
        drop = _load(path)
        if drop is None:
            continue
        totals = drop.manifest.get("totals", {})
        rows.append(
            {
                "drop_id": drop.drop_id,
                "date": drop.date.isoformat(),
                "created": drop.manifest.get("created", ""),
                "files": len(drop.manifest.get("files", {})),
                "residences": int(totals.get("residences", 0)),
                "services": int(totals.get("services", 0)),
                "quarantined": int(totals.get("quarantined", 0)),
                "path": str(drop.path),
            }
        )
    columns = ["drop_id", "date", "created", "files", "residences", "services"]
    table = pd.DataFrame(rows, columns=[*columns, "quarantined", "path"])
    return table.sort_values(["created", "drop_id"]).reset_index(drop=True)


def open_drop(ref: str | os.PathLike[str] | Drop, *, store: StoreArg = None) -> Drop:
    """Open a drop of the store.

    Parameters
    ----------
    ref
        A drop id (``20240601-3fa2c1d09e7b``, or an unambiguous start of one), the path of a
        drop folder, or ``"latest"`` (the most recently ingested).

    Raises
    ------
    StoreError
        If no drop (or more than one) matches.
    """
    if isinstance(ref, Drop):
        return ref
    root = resolve_store_dir(store)
    text = str(ref)
    as_path = Path(text).expanduser()
    if as_path.is_dir() and (as_path / "manifest.json").is_file():
        found = _load(as_path.resolve())
        if found is not None:
            return found
    table = list_drops(root)
    if table.empty:
        msg = f"no drops in the store {str(root)!r}; ingest one with `geo-integration ingest`"
        raise StoreError(msg)
    if text == "latest":
        matches = [table["drop_id"].iloc[-1]]
    else:
        matches = [d for d in table["drop_id"] if d.startswith(text)]
    if len(matches) != 1:
        what = "no drop" if not matches else f"{len(matches)} drops"
        msg = f"{what} in {str(root)!r} match {text!r}; drops: {table['drop_id'].tolist()!r}"
        raise StoreError(msg)
    drop = _load(root / matches[0])
    assert drop is not None
    return drop


# ----------------------------------------------------------------------------- comparing


@dataclass(frozen=True)
class DropComparison:
    """Differences between two drops.

    Attributes
    ----------
    a, b
        Drop ids.
    by_locality
        One row per locality code ('01'..'20', ``outside`` for points outside the district,
        ``unknown`` when neither the point nor a given locality says where): ``residences_a``,
        ``residences_b``, ``residences_diff`` (b - a), ``people_*`` (household sizes summed)
        and ``services_*``.
    services_by_type
        ``service_type`` -> ``services_a``, ``services_b``, ``services_diff``.
    records
        Residence records in both drops, only in a, only in b (by salted record id).
    """

    a: str
    b: str
    by_locality: pd.DataFrame
    services_by_type: pd.DataFrame
    records: dict[str, int]


def _area(table: pd.DataFrame) -> pd.Series:
    area = pd.Series("unknown", index=table.index, dtype=object)
    if "loc_code_given" in table.columns:
        area = table["loc_code_given"].astype(object).where(table["loc_code_given"].notna(), area)
    if "loc_code" in table.columns:
        has_point = table["lon"].notna().to_numpy(dtype=bool)
        area = area.where(~has_point, "outside")
        area = table["loc_code"].astype(object).where(table["loc_code"].notna(), area)
    return area


def _counts(drop: Drop, tag: str) -> pd.DataFrame:
    res, svc = drop.residences, drop.services
    people = pd.to_numeric(res.get("household_size", pd.Series(dtype=float)), errors="coerce")
    parts = {
        f"residences_{tag}": res.groupby(_area(res)).size(),
        f"people_{tag}": people.groupby(_area(res)).sum(),
        f"services_{tag}": svc.groupby(_area(svc)).size(),
    }
    return pd.DataFrame(parts)


def id_scheme(drop: Drop) -> int:
    """Version of the record id function the drop was ingested with (1 before it was stored)."""
    return int(drop.manifest.get("id_scheme", 1))


def _same_id_scheme(a: Drop, b: Drop) -> None:
    from geo_integration.privacy import ID_SCHEME

    sa, sb = id_scheme(a), id_scheme(b)
    if sa != sb:
        old = a if sa < sb else b
        msg = (
            f"drops {a.drop_id} (record id scheme {sa}) and {b.drop_id} (scheme {sb}) cannot be "
            f"compared: the same person has different record ids in them. Delete the older drop "
            f"folder {str(old.path)!r} and ingest its files again (current scheme: {ID_SCHEME})"
        )
        raise StoreError(msg)


def compare_drops(
    a: str | os.PathLike[str] | Drop, b: str | os.PathLike[str] | Drop, *, store: StoreArg = None
) -> DropComparison:
    """Compare two drops: per-locality residence, people and service counts, and records.

    The result is in memory only (it holds small counts); publish it through
    :func:`geo_integration.privacy.suppress_small_counts`.
    """
    da, db = open_drop(a, store=store), open_drop(b, store=store)
    _same_id_scheme(da, db)
    table = _counts(da, "a").join(_counts(db, "b"), how="outer").fillna(0)
    for what in ("residences", "people", "services"):
        table[f"{what}_diff"] = table[f"{what}_b"] - table[f"{what}_a"]
    order = [f"{w}_{s}" for w in ("residences", "people", "services") for s in ("a", "b", "diff")]
    table = table[order].astype("int64").sort_index()
    table.index.name = "area"
    types = pd.DataFrame(
        {
            "services_a": da.services.groupby("service_type").size(),
            "services_b": db.services.groupby("service_type").size(),
        }
    ).fillna(0)
    types["services_diff"] = types["services_b"] - types["services_a"]
    ids_a = set(da.residences["record_id"])
    ids_b = set(db.residences["record_id"])
    records = {
        "both": len(ids_a & ids_b),
        "only_a": len(ids_a - ids_b),
        "only_b": len(ids_b - ids_a),
    }
    return DropComparison(da.drop_id, db.drop_id, table, types.astype("int64"), records)
