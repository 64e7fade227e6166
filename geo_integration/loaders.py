"""Loaders of the reference data in the data directory.

Every loader takes the data directory (``None``: resolved by
:func:`geo_integration.config.resolve_data_dir`) and returns a (Geo)DataFrame; geometries are
in EPSG:4326. Column names are the package's own, the same everywhere:

- localities: ``loc_code`` ('01'..'20'), ``loc_name`` (proper name, accents restored),
  ``rural`` (Sumapaz), ``area_km2``;
- UPZ: ``upz_code`` ('UPZ9', as in the boundary file), ``upz_number`` (9), ``upz_name``,
  ``upz_kind`` ('UPZ' or 'UPR'), ``loc_code``.

Results are memoised per file (path, size and modification time), and a copy is returned so
callers may modify it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

import geopandas as gpd
import numpy as np
import pandas as pd

from geo_integration.config import resolve_data_dir
from geo_integration.datadir import data_path
from geo_integration.errors import DataCheckError
from geo_integration.geo import METRIC_CRS, WGS84
from geo_integration.localities import locality_code, locality_name
from geo_integration.text import name_key

__all__ = [
    "load_addresses",
    "load_blocks",
    "load_hospitals",
    "load_localities",
    "load_migration_figures",
    "load_population",
    "load_schools",
    "load_sitp_stops",
    "load_streets",
    "load_supercade",
    "load_transmilenio",
    "load_upz",
]

DataDir = str | os.PathLike[str] | None
FrameT = TypeVar("FrameT", pd.DataFrame, gpd.GeoDataFrame)


def _file(data_dir: DataDir, dataset: str) -> Path:
    return data_path(resolve_data_dir(data_dir), dataset)


def _memo(path: Path, reader: Callable[[Path], FrameT]) -> FrameT:
    stat = path.stat()
    frame: FrameT = _cached(str(path), stat.st_size, stat.st_mtime_ns, reader)
    return frame.copy()


@lru_cache(maxsize=16)
def _cached(path: str, size: int, mtime: int, reader: Callable[[Path], FrameT]) -> FrameT:
    del size, mtime  # part of the cache key only
    return reader(Path(path))


def _to_wgs84(frame: gpd.GeoDataFrame, path: Path) -> gpd.GeoDataFrame:
    if frame.crs is None:
        msg = f"{path}: no CRS declared"
        raise DataCheckError(msg)
    return frame.to_crs(WGS84)


def _read_localities(path: Path) -> gpd.GeoDataFrame:
    raw = _to_wgs84(gpd.read_file(path), path)
    codes = raw["LocCodigo"].astype(str).str.zfill(2)
    by_name = raw["LocNombre"].map(locality_code)
    bad = codes[codes != by_name]
    if len(bad):
        msg = f"{path}: locality code and name disagree on rows {bad.index.tolist()!r}"
        raise DataCheckError(msg)
    out = gpd.GeoDataFrame(
        {
            "loc_code": codes.to_numpy(),
            "loc_name": [locality_name(c) for c in codes],
            "rural": (codes == "20").to_numpy(),
            "area_km2": (raw["LocArea"].astype(float) / 1e6).round(3).to_numpy(),
        },
        geometry=raw.geometry.to_numpy(),
        crs=WGS84,
    )
    return out.sort_values("loc_code").reset_index(drop=True)


def load_localities(data_dir: DataDir = None) -> gpd.GeoDataFrame:
    """Load the 20 localities, sorted by code.

    Returns
    -------
    GeoDataFrame
        ``loc_code``, ``loc_name`` (e.g. 'La Candelaria', 'Ciudad Bolívar'), ``rural``
        (True for Sumapaz), ``area_km2`` and polygon geometry in EPSG:4326.
    """
    return _memo(_file(data_dir, "localities"), _read_localities)


def _read_upz(path: Path) -> gpd.GeoDataFrame:
    raw = _to_wgs84(gpd.read_file(path), path)
    codes = raw["UPlCodigo"].astype(str)
    number = codes.str.extract(r"(\d+)$")[0].astype(int)
    kind = np.where(raw["UPlTipo"].astype(int) == 1, "UPZ", "UPR")
    localities = load_localities(path.parent.parent)
    points = gpd.GeoDataFrame(
        geometry=raw.to_crs(METRIC_CRS).representative_point().to_crs(WGS84), crs=WGS84
    )
    joined = gpd.sjoin(points, localities[["loc_code", "geometry"]], how="left", predicate="within")
    joined = joined[~joined.index.duplicated()]
    out = gpd.GeoDataFrame(
        {
            "upz_code": codes.to_numpy(),
            "upz_number": number.to_numpy(),
            "upz_name": raw["UPlNombre"].astype(str).str.strip().to_numpy(),
            "upz_kind": kind,
            "loc_code": joined["loc_code"].to_numpy(),
            "area_km2": (raw["UPlArea"].astype(float) / 1e6).round(3).to_numpy(),
        },
        geometry=raw.geometry.to_numpy(),
        crs=WGS84,
    )
    return out.sort_values(["upz_kind", "upz_number"]).reset_index(drop=True)


def load_upz(data_dir: DataDir = None) -> gpd.GeoDataFrame:
    """Load the 112 UPZ and 4 rural UPR with the code of the locality each lies in.

    The boundary file has no locality column: each unit is given the locality that contains
    its representative point.
    """
    return _memo(_file(data_dir, "upz"), _read_upz)


def _read_pop_locality(path: Path) -> pd.DataFrame:
    raw = pd.read_csv(path, dtype={"codigo_localidad": str})
    raw = raw[raw["area"].astype(str).str.lower() == "total"]
    out = pd.DataFrame(
        {
            "loc_code": raw["codigo_localidad"].str.zfill(2),
            "year": raw["ano"].astype(int),
            "population": raw["poblacion_total"].astype(int),
        }
    )
    return out.reset_index(drop=True)


def _read_pop_upz(path: Path) -> pd.DataFrame:
    raw = pd.read_csv(path, dtype={"codigo_upz": str, "codigo_localidad": str})
    out = pd.DataFrame(
        {
            "upz_code": "UPZ" + raw["codigo_upz"].astype(int).astype(str),
            "loc_code": raw["codigo_localidad"].str.zfill(2),
            "year": raw["ano"].astype(int),
            "population": raw["poblacion_total"].round().astype(int),
        }
    )
    return out.reset_index(drop=True)


def load_population(
    data_dir: DataDir = None, *, level: str = "locality", year: int | None = None
) -> pd.DataFrame:
    """Load population by locality (2018-2020, 2025) or by UPZ (2018, 2024).

    Parameters
    ----------
    level
        ``"locality"`` or ``"upz"``.
    year
        Keep one year only; ``None`` keeps the latest available.

    Returns
    -------
    DataFrame
        ``loc_code`` (and ``upz_code`` for UPZ), ``year``, ``population``.
    """
    if level == "locality":
        table = _memo(_file(data_dir, "population_locality"), _read_pop_locality)
    elif level == "upz":
        table = _memo(_file(data_dir, "population_upz"), _read_pop_upz)
    else:
        msg = f"level must be 'locality' or 'upz', got {level!r}"
        raise ValueError(msg)
    chosen = int(table["year"].max()) if year is None else year
    out = table[table["year"] == chosen].reset_index(drop=True)
    if out.empty:
        msg = f"no {level} population for year {year!r}; years: {sorted(table['year'].unique())!r}"
        raise DataCheckError(msg)
    return out


def _read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, encoding="utf-8-sig")


def load_migration_figures(data_dir: DataDir = None) -> pd.DataFrame:
    """Load the public figures on Venezuelan migrants (indicator, locality, value, source)."""
    table = _memo(_file(data_dir, "migration_figures"), _read_csv)
    table["valor"] = pd.to_numeric(table["valor"], errors="coerce")
    table["loc_code"] = table["localidad"].map(locality_code)
    return table


def _read_geo(path: Path) -> gpd.GeoDataFrame:
    return _to_wgs84(
        gpd.read_file(path) if path.suffix != ".parquet" else gpd.read_parquet(path), path
    )


def load_addresses(data_dir: DataDir = None) -> gpd.GeoDataFrame:
    """Load the 1.43 million official address points (``address``, point geometry).

    ``address`` is the official label, e.g. ``"CL 9, 2 39 E"``; about 62,000 rural or
    unnamed points start with ``"?"``.
    """
    return _memo(_file(data_dir, "addresses"), _read_geo)


def load_blocks(data_dir: DataDir = None) -> gpd.GeoDataFrame:
    """Load the 43,944 city blocks (``block_id``, polygon geometry)."""
    return _memo(_file(data_dir, "blocks"), _read_geo)


def load_streets(data_dir: DataDir = None) -> gpd.GeoDataFrame:
    """Load the street centrelines (``etiqueta``, ``nombre``, ``source``, ``length_m``).

    ``approximated`` is True on the segments derived from blocks in the centre, which
    the data README asks to treat as approximate.
    """
    streets = _memo(_file(data_dir, "streets"), _read_geo)
    streets["approximated"] = streets["source"].astype(str) == "derived_from_blocks"
    return streets


def _read_sitp(path: Path) -> gpd.GeoDataFrame:
    raw = pd.read_csv(path, dtype=str, encoding="utf-8-sig")
    lon = pd.to_numeric(raw["longitud"], errors="coerce")
    lat = pd.to_numeric(raw["latitud"], errors="coerce")
    out = pd.DataFrame(
        {
            "stop_id": raw["cenefa"],
            "name": raw["nombre"],
            "label": raw["direccion_bandera"].str.strip(),
            "loc_code": raw["localidad"].map(locality_code),
        }
    )
    return gpd.GeoDataFrame(out, geometry=gpd.points_from_xy(lon, lat), crs=WGS84)


def load_sitp_stops(data_dir: DataDir = None) -> gpd.GeoDataFrame:
    """Load the 7,618 SITP bus stops: ``stop_id``, ``name``, ``label`` (``"AC 100 - KR 54"``)."""
    return _memo(_file(data_dir, "sitp_stops"), _read_sitp)


def load_transmilenio(data_dir: DataDir = None) -> gpd.GeoDataFrame:
    """Load the 140 TransMilenio trunk stations (``name``, ``line``)."""
    raw = _memo(_file(data_dir, "transmilenio"), _read_geo)
    return gpd.GeoDataFrame(
        {"name": raw["nombre_estacion"].astype(str), "line": raw["troncal_estacion"].astype(str)},
        geometry=raw.geometry,
        crs=WGS84,
    )


def load_schools(data_dir: DataDir = None) -> gpd.GeoDataFrame:
    """Load the 2,063 schools (``name``, ``address``, ``levels``, ``journal``).

    The addresses are human-typed and end in ``"BOGOTA CO"``; a few points are misplaced.
    The ``phone`` column of the source is not loaded.
    """
    raw = _memo(_file(data_dir, "schools"), _read_geo)
    return raw.drop(columns=[c for c in ("phone",) if c in raw.columns])


def load_hospitals(data_dir: DataDir = None) -> gpd.GeoDataFrame:
    """Load the 81 hospitals and clinics (``name``, ``address``); quality is low."""
    return _memo(_file(data_dir, "hospitals"), _read_geo)


def _read_supercade(path: Path) -> pd.DataFrame:
    # the last column (``fuente``) holds unquoted commas: join the extra fields back into it
    import csv

    with path.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    width = len(header)
    fixed = [[*r[: width - 1], ",".join(r[width - 1 :])] for r in body if r]
    table = pd.DataFrame(fixed, columns=header, dtype=object)
    return table.replace({"": None})


def load_supercade(data_dir: DataDir = None) -> pd.DataFrame:
    """Load the SuperCADE / CADE list (``tipo``, ``nombre``, ``direccion``; few addresses).

    The source's last column (``fuente``) contains unquoted commas; they are kept in it.
    """
    return _memo(_file(data_dir, "supercade"), _read_supercade)


def locality_key_table(data_dir: DataDir = None) -> pd.DataFrame:
    """Return ``name_key`` -> ``loc_code`` for the boundary names (for diagnostics)."""
    loc = load_localities(data_dir)
    return pd.DataFrame({"key": loc["loc_name"].map(name_key), "loc_code": loc["loc_code"]})
