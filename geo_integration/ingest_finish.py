"""Ingest, drop level: geocoding, areas, and writing the drop into the store.

Used by :mod:`geo_integration.ingest` once every file has been read. The accepted rows of
each file (in its :class:`~geo_integration.spool.Spool`) are completed batch by batch and
streamed to ``residences.parquet`` / ``services.parquet``: the locality code of the given
locality name, the geocoder's answers for the rows that waited for them, the locality and UPZ
that contain each point (:class:`PolygonIndex`), and the ``outside_bogota`` flag. Memory is
bounded by the batch size, not by the size of the drop.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from geo_integration.coords import in_region
from geo_integration.errors import GeocodeError
from geo_integration.ingest_rows import quarantine_schema
from geo_integration.schema import RESIDENCES, SERVICES, DropConfig
from geo_integration.spool import Spool

__all__ = ["GRID_DEG", "FileResult", "PolygonIndex", "locate_in_polygons"]

log = logging.getLogger(__name__)

#: ``(addresses) -> DataFrame`` aligned to the addresses' index with ``lat``, ``lon``,
#: ``match_level``, ``confidence``, ``matched_address``.
Geocoder = Callable[[pd.Series], pd.DataFrame]
GEOCODE_COLUMNS = ("lat", "lon", "match_level", "confidence", "matched_address")
_STRING = pa.string()

SCHEMAS: dict[str, dict[str, pa.DataType]] = {
    RESIDENCES: {
        "record_id": _STRING,
        "source_file": _STRING,
        "source_row": pa.int64(),
        "address": _STRING,
        "localidad": _STRING,
        "barrio": _STRING,
        "upz": _STRING,
        "household_size": pa.int64(),
        "lon": pa.float64(),
        "lat": pa.float64(),
        "coord_source": _STRING,
    },
    SERVICES: {
        "service_id": _STRING,
        "source_file": _STRING,
        "source_row": pa.int64(),
        "name": _STRING,
        "secretariat": _STRING,
        "service_type": _STRING,
        "hours": _STRING,
        "address": _STRING,
        "localidad": _STRING,
        "barrio": _STRING,
        "upz": _STRING,
        "capacity": pa.float64(),
        "lon": pa.float64(),
        "lat": pa.float64(),
        "coord_source": _STRING,
    },
}


@dataclass
class FileResult:
    """The report entry of a file and its rows (none when the file failed)."""

    entry: dict[str, Any]
    accepted: Spool | None = None
    quarantine: Spool | None = None
    people: int = 0
    bbox: list[float] = field(default_factory=list)
    pending: list[tuple[npt.NDArray[np.int64], pa.Array]] = field(default_factory=list)
    geocoded: pd.DataFrame | None = None

    @property
    def ingested(self) -> bool:
        return self.entry["kind"] in (RESIDENCES, SERVICES) and not self.entry["errors"]


# ------------------------------------------------------------------------------ geocoding


def geocode(results: list[FileResult], geocoder: Geocoder | None) -> dict[str, Any]:
    """Call the geocoder once on the addresses of every accepted row without coordinates.

    Each file's answers are kept in its :attr:`FileResult.geocoded` (indexed by the row's
    position among the file's accepted rows), to be applied while writing.
    """
    files = [r for r in results if r.ingested]
    total = sum(r.entry.get("pending_geocoding", 0) for r in files)
    if geocoder is None:
        return {"done": False, "pending": total}
    parts = [(r, pos, addr) for r in files for pos, addr in r.pending]
    values: list[Any] = [v for _r, _p, addr in parts for v in addr.to_pylist()]
    addresses = pd.Series(values, dtype=object, name="address")
    answer = geocoder(addresses) if total else pd.DataFrame(columns=list(GEOCODE_COLUMNS))
    _check_geocoded(answer, addresses)
    answer = answer.reset_index(drop=True)
    start = 0
    for result in files:
        positions = [pos for r, pos, _a in parts if r is result]
        count = sum(len(p) for p in positions)
        part = answer.iloc[start : start + count].copy()
        start += count
        part.index = np.concatenate(positions) if positions else np.zeros(0, dtype=np.int64)
        result.geocoded = part
    matched = int(_finite(answer["lat"]).__and__(_finite(answer["lon"])).sum())
    return {"done": True, "requested": total, "matched": matched}


def _finite(values: pd.Series) -> npt.NDArray[np.bool_]:
    return np.isfinite(pd.to_numeric(values, errors="coerce").to_numpy(dtype=float))


def _check_geocoded(result: object, addresses: pd.Series) -> None:
    if not isinstance(result, pd.DataFrame):
        msg = f"the geocoder returned {type(result).__name__}, expected a DataFrame"
        raise GeocodeError(msg)
    missing = [c for c in GEOCODE_COLUMNS if c not in result.columns]
    if missing:
        msg = f"the geocoder's result lacks column(s) {missing!r}"
        raise GeocodeError(msg)
    if len(result) != len(addresses) or not result.index.equals(addresses.index):
        msg = (
            f"the geocoder returned {len(result)} rows, not aligned to the "
            f"{len(addresses)} addresses it was given"
        )
        raise GeocodeError(msg)


def _apply_geocoded(table: pa.Table, answer: pd.DataFrame, first: int) -> pa.Table:
    """Put the geocoder's answers for rows ``first ..`` of a file into ``table``."""
    n = table.num_rows
    inside = (answer.index >= first) & (answer.index < first + n)
    part = answer[inside]
    rows = part.index.to_numpy(dtype=np.int64) - first
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
        ("coord_source", pa.array(source, type=_STRING)),
        ("match_level", pa.array(level, type=_STRING)),
        ("confidence", confidence),
        ("matched_address", pa.array(matched, type=_STRING)),
    ):
        table = _put(table, name, values)
    return table


def geocoded_bbox(result: FileResult) -> list[float]:
    """The file's extent with its geocoded points."""
    box = list(result.bbox) or [np.inf, np.inf, -np.inf, -np.inf]
    answer = result.geocoded
    if answer is not None and len(answer):
        lat = pd.to_numeric(answer["lat"], errors="coerce").to_numpy(dtype=float)
        lon = pd.to_numeric(answer["lon"], errors="coerce").to_numpy(dtype=float)
        ok = np.isfinite(lat) & np.isfinite(lon)
        if ok.any():
            box = [
                min(box[0], float(lon[ok].min())),
                min(box[1], float(lat[ok].min())),
                max(box[2], float(lon[ok].max())),
                max(box[3], float(lat[ok].max())),
            ]
    return box


# ------------------------------------------------------------------------------ areas

#: Side of the grid cells of :class:`PolygonIndex` (degrees, about 220 m).
GRID_DEG = 0.002
_MAX_CELLS = 4_000_000
_UNKNOWN, _BOUNDARY = -2, -3  # cell classes besides a polygon row and -1 (no polygon)


class PolygonIndex:
    """Which polygon of a layer contains each point: exact, and fast for millions of points.

    The layer's extent is cut in a grid of :data:`GRID_DEG` cells. A cell that lies in the
    interior of one polygon and touches no other gives that polygon to all its points at
    once; cells are classified the first time a point falls in them. The points of the
    other cells (along boundaries, about a tenth) are tested one by one with prepared
    geometries. Points on a boundary are outside, as with ``within``; when polygons overlap,
    the first in table order wins.

    Parameters
    ----------
    polygons
        GeoDataFrame in EPSG:4326.
    code
        Column whose value is returned for each point.
    """

    def __init__(self, polygons: Any, code: str) -> None:
        self.geoms = np.array(list(polygons.geometry), dtype=object)
        self.labels = np.array([*polygons[code].tolist(), None], dtype=object)
        present = [g for g in self.geoms if g is not None and not g.is_empty]
        if present:
            import shapely

            x0, y0, x1, y1 = shapely.total_bounds(np.array(present, dtype=object))
        else:
            x0 = y0 = x1 = y1 = 0.0
        self.bounds = (float(x0), float(y0), float(x1), float(y1))
        self.cell = GRID_DEG
        while ((x1 - x0) / self.cell + 1) * ((y1 - y0) / self.cell + 1) > _MAX_CELLS:
            self.cell *= 2
        self.nx = int((x1 - x0) // self.cell) + 1
        self.ny = int((y1 - y0) // self.cell) + 1
        self._pure = np.full(self.nx * self.ny if present else 0, _UNKNOWN, dtype=np.int32)

    def locate(self, lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64]) -> Any:
        """Code of the polygon containing each point, ``None`` where none does."""
        return self.labels[self.locate_index(lon, lat)]  # -1 picks the trailing None

    def codes(self, lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64]) -> pa.Array:
        """:meth:`locate` as a pyarrow string array (null where no polygon holds the point)."""
        found = self.locate_index(lon, lat)
        labels = pa.array(self.labels[:-1].tolist(), type=_STRING)
        return labels.take(pa.array(found, mask=found < 0))

    def locate_index(
        self, lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.int32]:
        """Row of the polygon containing each point, -1 where none does."""
        found = np.full(len(lon), -1, dtype=np.int32)
        x0, y0, x1, y1 = self.bounds
        with np.errstate(invalid="ignore"):
            ok = np.nonzero((lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1))[0]
        if len(ok) and len(self._pure):
            ix = np.minimum(((lon[ok] - x0) // self.cell).astype(np.int64), self.nx - 1)
            iy = np.minimum(((lat[ok] - y0) // self.cell).astype(np.int64), self.ny - 1)
            cells = ix * self.ny + iy
            present = np.flatnonzero(np.bincount(cells, minlength=len(self._pure)))
            self._classify(present[self._pure[present] == _UNKNOWN])
            kind = self._pure[cells]
            found[ok] = np.maximum(kind, -1)
            rest = ok[kind == _BOUNDARY]
            found[rest] = _exact(lon[rest], lat[rest], self.geoms)
        return found

    def _classify(self, cells: npt.NDArray[np.int64]) -> None:
        """Polygon whose interior holds each cell if no other polygon touches it, else
        ``_BOUNDARY`` (or -1 when no polygon touches the cell)."""
        import shapely

        if not len(cells):
            return
        cx, cy = np.divmod(cells, self.ny)
        x0, y0 = self.bounds[:2]
        boxes = shapely.box(
            x0 + cx * self.cell,
            y0 + cy * self.cell,
            x0 + (cx + 1) * self.cell,
            y0 + (cy + 1) * self.cell,
        )
        tree = shapely.STRtree(boxes)
        touching = np.zeros(len(boxes), dtype=np.int32)
        inside = np.full(len(boxes), -1, dtype=np.int32)
        for i, geom in enumerate(self.geoms):
            if geom is None or geom.is_empty:
                continue
            touching[tree.query(geom, predicate="intersects")] += 1
            held = tree.query(geom, predicate="contains_properly")
            inside[held[inside[held] < 0]] = i
        pure = (touching == 1) & (inside >= 0)
        self._pure[cells] = np.where(pure, inside, np.where(touching == 0, -1, _BOUNDARY))


def locate_in_polygons(
    lon: npt.NDArray[np.float64],
    lat: npt.NDArray[np.float64],
    polygons: Any,
    code: str,
) -> npt.NDArray[np.object_]:
    """Code of the first polygon (in table order) that contains each point, else ``None``.

    See :class:`PolygonIndex` (build one to locate many batches against the same layer).
    """
    return np.asarray(PolygonIndex(polygons, code).locate(lon, lat), dtype=object)


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


@dataclass
class Areas:
    """The boundary layers areas are assigned from (``None``: not assigned)."""

    localities: PolygonIndex | None = None
    upz: PolygonIndex | None = None

    def describe(self) -> dict[str, Any]:
        return {"assigned": self.localities is not None, "upz": self.upz is not None}


def load_areas(data_dir: str | os.PathLike[str] | None) -> Areas:
    """Index the locality (and UPZ) boundaries of the data directory, when present."""
    from geo_integration.config import resolve_data_dir
    from geo_integration.datadir import PATHS
    from geo_integration.geo import WGS84
    from geo_integration.loaders import load_localities, load_upz

    if data_dir is None:
        resolved = resolve_data_dir(None)
        if not (resolved / PATHS["localities"]).is_file():
            log.info("no locality boundaries in %s: areas not assigned", resolved)
            return Areas()
        data_dir = resolved
    localities = PolygonIndex(load_localities(data_dir).to_crs(WGS84), "loc_code")
    if not (Path(data_dir) / PATHS["upz"]).is_file():
        return Areas(localities)
    return Areas(localities, PolygonIndex(load_upz(data_dir).to_crs(WGS84), "upz_code"))


def _assign(table: pa.Table, areas: Areas, entry: dict[str, Any]) -> pa.Table:
    from geo_integration.geo import BOGOTA_BBOX

    lon, lat = _numbers(table, "lon"), _numbers(table, "lat")
    has_point = np.isfinite(lon) & np.isfinite(lat)
    if areas.localities is None:
        outside = has_point & ~in_region(lon, lat, bbox=BOGOTA_BBOX)
    else:
        codes = areas.localities.codes(lon, lat)
        table = _put(table, "loc_code", codes)
        if areas.upz is not None:
            table = _put(table, "upz_code", areas.upz.codes(lon, lat))
        outside = has_point & ~_bools(pc.is_valid(codes))
        differ = pc.not_equal(codes, table.column("loc_code_given"))  # null unless both given
        entry["localidad_disagreements"] += int(pc.sum(differ).as_py() or 0)
    entry["outside_bogota"] += int(outside.sum())
    return _put(table, "outside_bogota", pa.array(outside, type=pa.bool_()))


def _bools(values: Any) -> npt.NDArray[np.bool_]:
    return np.asarray(pc.fill_null(values, False).to_numpy(zero_copy_only=False), dtype=bool)


def _given_localities(names: Any) -> pa.Array:
    """Locality code of each given locality name (null where unknown), vectorised."""
    from geo_integration.localities import locality_code

    unique = pc.unique(names).drop_null()
    codes = pa.array([locality_code(v) for v in unique.to_pylist()], type=_STRING)
    return pc.take(codes, pc.index_in(names, value_set=unique))


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


# ------------------------------------------------------------------------------ writing


def output_schema(
    kind: str, results: list[FileResult], *, geocoded: bool, areas: Areas
) -> pa.Schema:
    """Columns of a kind's table: the fixed ones, personal ones kept, then added ones."""
    fields = dict(SCHEMAS[kind])
    for result in results:
        spool = result.accepted
        if result.ingested and result.entry["kind"] == kind and spool and spool.schema:
            for column in spool.schema:
                fields.setdefault(column.name, column.type)
    fields["loc_code_given"] = _STRING
    if geocoded:
        fields |= {"match_level": _STRING, "confidence": pa.float64(), "matched_address": _STRING}
    if areas.localities is not None:
        fields["loc_code"] = _STRING
        if areas.upz is not None:
            fields["upz_code"] = _STRING
    fields["outside_bogota"] = pa.bool_()
    return pa.schema(list(fields.items()))


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    columns = [
        table.column(f.name).cast(f.type)
        if f.name in table.column_names
        else pa.nulls(table.num_rows, type=f.type)
        for f in schema
    ]
    return pa.table(columns, schema=schema)


def completed_batches(
    result: FileResult, areas: Areas, *, geocoded: bool, batch_rows: int
) -> Iterator[pa.Table]:
    """The accepted rows of a file, completed (areas, geocoding), batch by batch.

    Adds ``outside_bogota``, ``localidad_unrecognised`` and ``localidad_disagreements`` to
    the file's report entry.
    """
    entry = result.entry
    entry["outside_bogota"] = entry["localidad_unrecognised"] = 0
    if areas.localities is not None:
        entry["localidad_disagreements"] = 0
    if result.accepted is None:
        return
    first = 0
    for table in result.accepted.tables(batch_rows=batch_rows):
        given = _given_localities(table.column("localidad"))
        unknown = pc.and_(pc.is_valid(table.column("localidad")), pc.is_null(given))
        entry["localidad_unrecognised"] += int(pc.sum(unknown).as_py() or 0)
        out = table.append_column("loc_code_given", given)
        if geocoded and result.geocoded is not None:
            out = _apply_geocoded(out, result.geocoded, first)
        first += table.num_rows
        yield _assign(out, areas, entry)


def write_tables(
    staging: Path,
    results: list[FileResult],
    areas: Areas,
    *,
    geocoded: bool,
    batch_rows: int,
) -> None:
    """Stream the completed tables of each kind and the quarantine into ``staging``."""
    import pyarrow.parquet as pq

    from geo_integration.fileio import atomic_path
    from geo_integration.store import points_parquet_writer

    for kind in (RESIDENCES, SERVICES):
        files = [r for r in results if r.ingested and r.entry["kind"] == kind]
        schema = output_schema(kind, files, geocoded=geocoded, areas=areas)
        bbox = _union_bbox([geocoded_bbox(r) for r in files])
        with points_parquet_writer(staging / f"{kind}.parquet", schema, bbox=bbox) as write:
            for result in files:
                for table in completed_batches(
                    result, areas, geocoded=geocoded, batch_rows=batch_rows
                ):
                    write(_conform(table, schema))
    target = staging / "quarantine.parquet"
    with atomic_path(target) as tmp, pq.ParquetWriter(tmp, quarantine_schema()) as writer:
        for result in results:
            if result.ingested and result.quarantine is not None:
                for table in result.quarantine.tables(batch_rows=batch_rows):
                    writer.write_table(table)


def _union_bbox(boxes: list[list[float]]) -> list[float] | None:
    good = [b for b in boxes if b and np.isfinite(b).all()]
    if not good:
        return None
    array = np.array(good)
    return [
        float(array[:, 0].min()),
        float(array[:, 1].min()),
        float(array[:, 2].max()),
        float(array[:, 3].max()),
    ]


# ------------------------------------------------------------------------------ the report


def totals(results: list[FileResult]) -> dict[str, Any]:
    """Drop totals of the report."""
    reasons: Counter[str] = Counter()
    for r in results:
        reasons.update(r.entry["quarantine_reasons"])
    ingested = [r for r in results if r.ingested]
    return {
        "files": len(results),
        "files_ingested": len(ingested),
        "files_with_errors": sum(bool(r.entry["errors"]) for r in results),
        "rows_read": sum(r.entry["rows_read"] for r in results),
        "residences": sum(
            r.entry["rows_accepted"] for r in ingested if r.entry["kind"] == RESIDENCES
        ),
        "services": sum(r.entry["rows_accepted"] for r in ingested if r.entry["kind"] == SERVICES),
        "people": sum(r.people for r in ingested),
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
    total = report["totals"]
    lines += [
        "",
        (
            f"Residences: {total['residences']:,} ({total['people']:,} people); "
            f"services: {total['services']:,}; quarantined rows: {total['quarantined']:,}"
        ),
        f"Files: {total['files_ingested']} ingested, {total['files_with_errors']} with errors",
    ]
    geo = report["geocoding"]
    if geo.get("done"):
        lines.append(f"Geocoded: {geo['matched']:,} of {geo['requested']:,} addresses")
    else:
        lines.append(f"Waiting for geocoding (address, no coordinates): {geo['pending']:,}")
    if not report["areas"]["assigned"]:
        lines.append("Areas not assigned: no locality boundaries in the data directory")
    return "\n".join(lines) + "\n"


@dataclass
class DropFacts:
    """What identifies a drop being written: id, hash, source folder, input file hashes."""

    drop_id: str
    digest: str
    root: Path
    hashes: dict[str, dict[str, Any]]
    config: DropConfig


def write_report(
    staging: Path, facts: DropFacts, results: list[FileResult], extra: dict[str, Any]
) -> None:
    """Write ``report.json``, ``report.txt`` and ``manifest.json`` into ``staging``."""
    from geo_integration import __version__
    from geo_integration.fileio import write_text
    from geo_integration.privacy import ID_SCHEME
    from geo_integration.store import write_json

    created = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
    drop_id = facts.drop_id
    report = {
        "drop_id": drop_id,
        "drop_hash": facts.digest,
        "date": f"{drop_id[:4]}-{drop_id[4:6]}-{drop_id[6:8]}",
        "created": created,
        "source": str(facts.root),
        "package_version": __version__,
        "keep_personal_fields": facts.config.keep_personal_fields,
        "files": [r.entry for r in results],
        "totals": totals(results),
        **extra,
    }
    counts = ("kind", "rows_read", "rows_accepted", "rows_quarantined")
    files = {
        r.entry["path"]: {
            **facts.hashes.get(r.entry["path"], {}),
            **{k: r.entry[k] for k in counts},
        }
        for r in results
    }
    manifest = {k: report[k] for k in ("drop_id", "drop_hash", "date", "created", "source")}
    manifest |= {
        "package_version": __version__,
        "id_scheme": ID_SCHEME,
        "files": files,
        "totals": report["totals"],
    }
    write_json(staging / "report.json", report)
    write_text(staging / "report.txt", report_text(report))
    write_json(staging / "manifest.json", manifest)
