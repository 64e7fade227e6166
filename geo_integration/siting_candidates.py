"""Candidate sites for new service points: read a user's file, sample network nodes.

Candidates may be any points the user proposes (public buildings, schools, SuperCADE,
TransMilenio stations, the candidate areas of the gap analysis, ...). :func:`read_candidates`
reads them from CSV/XLSX (``lat``/``lon`` or ``x``/``y`` columns), GeoJSON, GeoPackage,
Shapefile or (Geo)Parquet into ``candidate_id``, ``name`` and a point geometry in EPSG:4326.
A row that cannot be used is dropped and reported (file, row, column, problem), never
silently; with ``strict=True`` the first such row raises :class:`InputFileError`.

:func:`sample_candidates_in_hexagons` picks street-network nodes inside given H3 cells (for
example the under-served hexagons) as candidates; :func:`coincides_with_existing` flags
candidates that are already existing services (they are fixed, never chosen again).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd

from geo_integration.errors import AnalysisError, InputFileError, MissingColumnError
from geo_integration.geo import BOGOTA_BBOX, METRIC_CRS, WGS84
from geo_integration.text import snake_key

__all__ = [
    "CandidateFile",
    "coincides_with_existing",
    "read_candidates",
    "sample_candidates_in_hexagons",
]

log = logging.getLogger(__name__)

_ID_NAMES = ("candidate_id", "id", "codigo", "code", "cod", "id_sitio", "site_id")
_NAME_NAMES = ("name", "nombre", "nombre_sitio", "sitio", "label", "etiqueta")
_LAT_NAMES = ("lat", "latitude", "latitud", "y_lat")
_LON_NAMES = ("lon", "lng", "long", "longitude", "longitud", "x_lon")
_X_NAMES = ("x", "coord_x", "coordenada_x", "este")
_Y_NAMES = ("y", "coord_y", "coordenada_y", "norte")
_TABLE_SUFFIXES = {".csv", ".txt", ".tsv", ".xlsx", ".xls"}
_GEO_SUFFIXES = {".geojson", ".json", ".gpkg", ".shp"}
#: Projected systems recognised for x/y columns (Bogotá extents computed from BOGOTA_BBOX).
_XY_SYSTEMS: dict[str, tuple[float, float, float, float]] = {
    "EPSG:9377": (4.83e6, 1.96e6, 4.90e6, 2.10e6),
    "EPSG:3116": (9.5e5, 9.0e5, 1.02e6, 1.035e6),
}


@dataclass(frozen=True)
class CandidateFile:
    """Candidates read from a user file.

    Attributes
    ----------
    frame
        GeoDataFrame (EPSG:4326): ``candidate_id`` (str), ``name`` (str or None), ``lon``,
        ``lat``, ``source_row`` and point ``geometry``.
    dropped
        One row per dropped input row: ``row``, ``column``, ``problem``.
    path
        The file read.
    notes
        Whole-file remarks (CRS detected, polygons reduced to points, ...).
    """

    frame: gpd.GeoDataFrame
    dropped: pd.DataFrame
    path: str
    notes: list[str] = field(default_factory=list)


def read_candidates(
    path: str | os.PathLike[str],
    *,
    id_column: str | None = None,
    name_column: str | None = None,
    crs: str | None = None,
    strict: bool = False,
) -> CandidateFile:
    """Read candidate sites from a user file.

    Parameters
    ----------
    path
        CSV/TSV/XLSX with ``lat``/``lon`` (also ``latitud``/``longitud``...) or ``x``/``y``
        columns; GeoJSON, GeoPackage, Shapefile or Parquet/GeoParquet. Polygons (e.g. candidate
        areas) are reduced to a point inside them.
    id_column, name_column
        Columns holding the id and the name; default: recognised by name (``id``, ``codigo``,
        ``nombre``, ...). Without an id column, ids are ``C<row>``.
    crs
        CRS of ``x``/``y`` columns or of a geometry file without one; default: detected
        (EPSG:4326 degrees, EPSG:9377 or EPSG:3116 metres) from the values.
    strict
        Raise on the first unusable row instead of dropping it.

    Raises
    ------
    InputFileError
        When the file cannot be read, has no rows, no coordinates, or no usable row (or, with
        ``strict``, at the first bad row), naming the file, row and column.
    """
    file = Path(path)
    if not file.is_file():
        msg = "candidates file not found"
        raise InputFileError(msg, path=file)
    suffix = file.suffix.lower()
    raw, geo, first_row = _read_raw(file, suffix)
    if len(raw) == 0:
        msg = "the file has no rows"
        raise InputFileError(msg, path=file)
    rows = np.arange(len(raw)) + first_row
    notes: list[str] = []
    problems: list[tuple[int, str | None, str]] = []
    if geo:
        assert isinstance(raw, gpd.GeoDataFrame)
        lon, lat = _from_geometry(raw, file, crs, rows, problems, notes)
    else:
        lon, lat = _from_columns(raw, file, crs, rows, problems, notes)
    ids = _id_values(raw, file, id_column, rows, problems)
    names = _name_values(raw, file, name_column)
    return _finish(file, rows, ids, names, lon, lat, problems, notes, strict)


def _read_raw(file: Path, suffix: str) -> tuple[pd.DataFrame, bool, int]:
    """Return the raw table, whether it has geometries, and the number of its first row."""
    try:
        if suffix in (".csv", ".txt", ".tsv"):
            return _read_csv(file), False, 2
        if suffix in (".xlsx", ".xls"):
            return pd.read_excel(file, dtype=str), False, 2
        if suffix in _GEO_SUFFIXES:
            return gpd.read_file(file), True, 0
        if suffix == ".parquet":
            try:
                return gpd.read_parquet(file), True, 0
            except (ValueError, KeyError):
                return pd.read_parquet(file).astype(object), False, 0
    except InputFileError:
        raise
    except (OSError, ValueError, ImportError) as exc:
        msg = f"cannot read the file: {exc}"
        raise InputFileError(msg, path=file) from None
    msg = (
        f"unsupported candidates file type {suffix!r}; use one of "
        f"{sorted(_TABLE_SUFFIXES | _GEO_SUFFIXES | {'.parquet'})!r}"
    )
    raise InputFileError(msg, path=file)


def _read_csv(file: Path) -> pd.DataFrame:
    for encoding in ("utf-8-sig", "latin-1"):
        try:
            return pd.read_csv(file, dtype=str, sep=None, engine="python", encoding=encoding)
        except UnicodeDecodeError:
            continue
        except pd.errors.EmptyDataError:
            msg = "the file is empty"
            raise InputFileError(msg, path=file) from None
    msg = "cannot decode the file as UTF-8 or Latin-1"
    raise InputFileError(msg, path=file)


def _find(columns: Sequence[str], wanted: Sequence[str]) -> str | None:
    keys = {snake_key(c): c for c in columns}
    for name in wanted:
        if name in keys:
            return keys[name]
    return None


def _numbers(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Parse numbers (a decimal comma is accepted); return values and a 'was given' mask."""
    texts = [None if pd.isna(v) else str(v).strip().replace(",", ".") for v in values.tolist()]
    given = np.array([t not in (None, "") for t in texts], dtype=bool)
    nums = pd.to_numeric(pd.Series(texts, dtype=object), errors="coerce")
    return nums.to_numpy(dtype=float, na_value=np.nan), given


def _from_columns(
    raw: pd.DataFrame,
    file: Path,
    crs: str | None,
    rows: np.ndarray,
    problems: list[tuple[int, str | None, str]],
    notes: list[str],
) -> tuple[np.ndarray, np.ndarray]:
    cols = list(raw.columns)
    lat_c, lon_c = _find(cols, _LAT_NAMES), _find(cols, _LON_NAMES)
    x_c, y_c = _find(cols, _X_NAMES), _find(cols, _Y_NAMES)
    system: str | None
    if lat_c and lon_c:
        xcol, ycol, system = lon_c, lat_c, crs or WGS84
    elif x_c and y_c:
        xcol, ycol, system = x_c, y_c, crs
    else:
        msg = f"no coordinate columns: need lat/lon or x/y; columns are {cols!r}"
        raise MissingColumnError(msg, path=file, column="lat")
    x, gx = _numbers(raw[xcol])
    y, gy = _numbers(raw[ycol])
    for col, vals, given in ((xcol, x, gx), (ycol, y, gy)):
        for k in np.flatnonzero(~np.isfinite(vals)):
            what = "is empty" if not given[k] else f"{raw[col].iloc[k]!r} is not a number"
            problems.append((int(rows[k]), col, f"coordinate {what}"))
    if system is None:
        system = _detect_xy_crs(x, y, file)
        notes.append(f"x/y read as {system} (detected from the values)")
    return _to_lonlat(x, y, system, xcol, rows, problems)


def _detect_xy_crs(x: np.ndarray, y: np.ndarray, file: Path) -> str:
    ok = np.isfinite(x) & np.isfinite(y)
    systems = {WGS84: (BOGOTA_BBOX[0], BOGOTA_BBOX[1], BOGOTA_BBOX[2], BOGOTA_BBOX[3])}
    systems.update(_XY_SYSTEMS)
    best, share = None, 0.0
    for name, (x0, y0, x1, y1) in systems.items():
        inside = float(np.mean((x[ok] >= x0) & (x[ok] <= x1) & (y[ok] >= y0) & (y[ok] <= y1)))
        if inside > share:
            best, share = name, inside
    if best is None or share < 0.5:
        msg = (
            "cannot tell the coordinate system of the x/y columns (neither degrees nor "
            "EPSG:9377/EPSG:3116 metres in Bogotá); pass crs="
        )
        raise InputFileError(msg, path=file, column="x")
    return best


def _to_lonlat(
    x: np.ndarray,
    y: np.ndarray,
    system: str,
    col: str,
    rows: np.ndarray,
    problems: list[tuple[int, str | None, str]],
) -> tuple[np.ndarray, np.ndarray]:
    from pyproj import Transformer

    ok = np.isfinite(x) & np.isfinite(y)
    lon, lat = np.full(x.size, np.nan), np.full(x.size, np.nan)
    if ok.any():
        tr = Transformer.from_crs(system, WGS84, always_xy=True)
        lon[ok], lat[ok] = tr.transform(x[ok], y[ok])
    x0, y0, x1, y1 = BOGOTA_BBOX
    inside = (lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1)
    swapped = (lat >= x0) & (lat <= x1) & (lon >= y0) & (lon <= y1)
    for k in np.flatnonzero(ok & ~inside):
        hint = " (latitude and longitude look swapped)" if swapped[k] else ""
        where = f"({lon[k]:.5f}, {lat[k]:.5f})"
        problems.append((int(rows[k]), col, f"point {where} is outside Bogotá{hint}"))
        lon[k] = lat[k] = np.nan
    return lon, lat


def _from_geometry(
    raw: gpd.GeoDataFrame,
    file: Path,
    crs: str | None,
    rows: np.ndarray,
    problems: list[tuple[int, str | None, str]],
    notes: list[str],
) -> tuple[np.ndarray, np.ndarray]:
    frame = raw
    if frame.crs is None:
        if crs is None:
            msg = "the file declares no coordinate reference system; pass crs="
            raise InputFileError(msg, path=file)
        frame = frame.set_crs(crs)
    geoms = frame.geometry
    empty = geoms.isna().to_numpy() | geoms.is_empty.to_numpy()
    for k in np.flatnonzero(empty):
        problems.append((int(rows[k]), "geometry", "empty geometry"))
    area_like = ~geoms.geom_type.isin(["Point"]).to_numpy() & ~empty
    if area_like.any():
        kinds = sorted(set(geoms[area_like].geom_type))
        notes.append(f"{int(area_like.sum())} {'/'.join(kinds)} reduced to a point inside each")
    lon, lat = np.full(len(frame), np.nan), np.full(len(frame), np.nan)
    metric = frame.geometry[~empty].to_crs(METRIC_CRS)
    inner = area_like[~empty]
    if inner.any():
        metric[inner] = metric[inner].representative_point()
    if len(metric):
        wgs = metric.to_crs(WGS84)
        lon[~empty], lat[~empty] = wgs.x.to_numpy(dtype=float), wgs.y.to_numpy(dtype=float)
    return _to_lonlat(lon, lat, WGS84, "geometry", rows, problems)


def _id_values(
    raw: pd.DataFrame,
    file: Path,
    id_column: str | None,
    rows: np.ndarray,
    problems: list[tuple[int, str | None, str]],
) -> np.ndarray:
    col = _explicit(raw, file, id_column) if id_column else _find(list(raw.columns), _ID_NAMES)
    if col is None:
        return np.array([f"C{r}" for r in rows], dtype=object)
    values = raw[col].map(lambda v: None if pd.isna(v) else str(v).strip())
    out = values.to_numpy(dtype=object)
    seen: set[str] = set()
    for k, value in enumerate(out):
        if value in (None, ""):
            problems.append((int(rows[k]), col, "empty candidate id"))
        elif value in seen:
            problems.append((int(rows[k]), col, f"duplicate candidate id {value!r}"))
        else:
            seen.add(value)
    return out


def _name_values(raw: pd.DataFrame, file: Path, name_column: str | None) -> np.ndarray:
    col = (
        _explicit(raw, file, name_column) if name_column else _find(list(raw.columns), _NAME_NAMES)
    )
    if col is None:
        return np.full(len(raw), None, dtype=object)
    return raw[col].map(lambda v: None if pd.isna(v) else str(v).strip()).to_numpy(dtype=object)


def _explicit(raw: pd.DataFrame, file: Path, column: str) -> str:
    if column not in raw.columns:
        msg = f"column {column!r} not found; columns are {list(raw.columns)!r}"
        raise MissingColumnError(msg, path=file, column=column)
    return column


def _finish(
    file: Path,
    rows: np.ndarray,
    ids: np.ndarray,
    names: np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
    problems: list[tuple[int, str | None, str]],
    notes: list[str],
    strict: bool,
) -> CandidateFile:
    problems.sort(key=lambda item: item[0])
    if strict and problems:
        row, col, problem = problems[0]
        raise InputFileError(problem, path=file, row=row, column=col)
    bad_rows = {row for row, _c, _p in problems}
    keep = np.array([r not in bad_rows for r in rows], dtype=bool)
    dropped = pd.DataFrame(problems, columns=["row", "column", "problem"])
    if not keep.any():
        row, col, problem = problems[0]
        msg = f"no usable candidate rows ({len(rows)} dropped); first: {problem}"
        raise InputFileError(msg, path=file, row=row, column=col)
    if len(bad_rows):
        log.warning(
            "%s: %d candidate row(s) dropped, e.g. row %s: %s",
            file,
            len(bad_rows),
            problems[0][0],
            problems[0][2],
        )
    frame = gpd.GeoDataFrame(
        {
            "candidate_id": ids[keep].astype(str),
            "name": names[keep],
            "lon": lon[keep],
            "lat": lat[keep],
            "source_row": rows[keep],
        },
        geometry=gpd.points_from_xy(lon[keep], lat[keep]),
        crs=WGS84,
    )
    return CandidateFile(frame=frame, dropped=dropped, path=str(file), notes=notes)


# --------------------------------------------------------------------------------------------
# Kernels on arrays
# --------------------------------------------------------------------------------------------


def sample_candidates_in_hexagons(
    cells: Sequence[str] | npt.NDArray[np.object_],
    node_lat: npt.ArrayLike,
    node_lon: npt.ArrayLike,
    *,
    per_cell: int = 3,
    seed: int = 20240601,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.object_]]:
    """Pick up to ``per_cell`` network nodes at random inside each of the H3 ``cells``.

    Parameters
    ----------
    cells
        H3 cell ids (all of one resolution), e.g. the under-served hexagons.
    node_lat, node_lon
        Coordinates of the street-network nodes (degrees).
    per_cell
        Nodes to pick per cell (all of them when a cell has fewer).
    seed
        Random seed; the same inputs and seed give the same picks.

    Returns
    -------
    (node_index, cell)
        Indices into the node arrays, sorted by cell then index, and the cell of each.
    """
    import h3

    from geo_integration.areas import h3_cells

    wanted = pd.unique(pd.Series(np.asarray(cells, dtype=object).tolist(), dtype=object))
    if per_cell < 1:
        msg = f"per_cell must be >= 1, got {per_cell!r}"
        raise AnalysisError(msg)
    if wanted.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, dtype=object)
    bad = [c for c in wanted if not (isinstance(c, str) and h3.is_valid_cell(c))]
    if bad:
        msg = f"not H3 cell ids: {bad[:5]!r}"
        raise AnalysisError(msg)
    resolutions = {h3.get_resolution(c) for c in wanted}
    if len(resolutions) != 1:
        msg = f"cells must share one H3 resolution, got {sorted(resolutions)!r}"
        raise AnalysisError(msg)
    node_cells = h3_cells(node_lat, node_lon, resolution=resolutions.pop())
    rng = np.random.default_rng(seed)
    picked: list[npt.NDArray[np.int64]] = []
    labels: list[str] = []
    inside = pd.Series(np.arange(node_cells.size)).groupby(node_cells, sort=False)
    groups: dict[Any, npt.NDArray[np.int64]] = {k: v.to_numpy() for k, v in inside}
    empty = 0
    for cell in sorted(wanted):
        members = groups.get(cell)
        if members is None:
            empty += 1
            continue
        take = np.sort(rng.choice(members, size=min(per_cell, members.size), replace=False))
        picked.append(take.astype(np.int64))
        labels.extend([cell] * take.size)
    if empty:
        log.info("%d of %d cells hold no network node", empty, wanted.size)
    index = np.concatenate(picked) if picked else np.zeros(0, np.int64)
    return index, np.array(labels, dtype=object)


def coincides_with_existing(
    candidate_xy: npt.ArrayLike,
    existing_xy: npt.ArrayLike,
    *,
    tolerance_m: float = 10.0,
) -> npt.NDArray[np.bool_]:
    """Flag candidates within ``tolerance_m`` metres of an existing service.

    Coordinates are ``(n, 2)`` arrays in metres (EPSG:9377). Flagged candidates should be
    passed as ``existing_candidate_ids`` so they are never chosen again.
    """
    from scipy.spatial import cKDTree

    cand = np.asarray(candidate_xy, dtype=float).reshape(-1, 2)
    exist = np.asarray(existing_xy, dtype=float).reshape(-1, 2)
    if exist.shape[0] == 0 or cand.shape[0] == 0:
        return np.zeros(cand.shape[0], dtype=bool)
    dist, _ = cKDTree(exist).query(cand, k=1)
    return np.asarray(dist <= tolerance_m, dtype=bool)
