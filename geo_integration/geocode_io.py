"""Reading and writing the tables of the ``geocode`` command (I/O).

A deliberately small reader (CSV, XLSX, GeoJSON, Parquet) kept apart so that the drop
readers of :mod:`geo_integration.readers` can replace it. All values are read as text;
output goes through :func:`geo_integration.fileio.atomic_path`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from geo_integration.errors import InputFileError
from geo_integration.fileio import atomic_path

__all__ = ["read_table", "write_table"]

READABLE = (".csv", ".txt", ".xlsx", ".geojson", ".json", ".parquet")


def _read_csv(path: Path) -> pd.DataFrame:
    for encoding in ("utf-8-sig", "latin-1"):
        try:
            return pd.read_csv(
                path, dtype=str, keep_default_na=False, na_values=[""], sep=None,
                engine="python", encoding=encoding,
            )  # fmt: skip
        except UnicodeDecodeError:
            continue
    msg = "not readable as UTF-8 or Latin-1 text"
    raise InputFileError(msg, path=path)


def read_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a table of records; geometry columns are dropped (the geocoder makes its own).

    Raises
    ------
    InputFileError
        If the file is missing, empty, of an unknown kind or unreadable.
    """
    file = Path(path)
    suffix = file.suffix.lower()
    if suffix not in READABLE:
        msg = f"unknown file kind {suffix!r}; readable: {', '.join(READABLE)}"
        raise InputFileError(msg, path=file)
    try:
        if suffix in (".csv", ".txt"):
            frame = _read_csv(file)
        elif suffix == ".xlsx":
            frame = pd.read_excel(file, dtype=str)
        elif suffix in (".geojson", ".json"):
            import geopandas as gpd

            frame = pd.DataFrame(gpd.read_file(file)).drop(columns="geometry", errors="ignore")
        else:
            frame = pd.read_parquet(file).drop(columns="geometry", errors="ignore")
    except InputFileError:
        raise
    except FileNotFoundError:
        msg = "file not found"
        raise InputFileError(msg, path=file) from None
    except Exception as exc:  # any reader failure is a bad input file
        msg = f"cannot read as {suffix[1:]}: {exc}"
        raise InputFileError(msg, path=file) from exc
    if frame.empty and not len(frame.columns):
        msg = "no columns"
        raise InputFileError(msg, path=file)
    return frame


def write_table(frame: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write ``frame`` as CSV unless the extension says .parquet, .geojson or .xlsx.

    A GeoDataFrame keeps its geometry in GeoParquet and GeoJSON; CSV and XLSX get the
    ``lat``/``lon`` columns only.
    """
    import geopandas as gpd

    target = Path(path)
    suffix = target.suffix.lower()
    plain = pd.DataFrame(frame.drop(columns="geometry", errors="ignore"))
    with atomic_path(target) as tmp:
        if suffix == ".parquet":
            if isinstance(frame, gpd.GeoDataFrame):
                frame.to_parquet(tmp)
            else:
                plain.to_parquet(tmp)
        elif suffix == ".geojson":
            geo = frame if isinstance(frame, gpd.GeoDataFrame) else gpd.GeoDataFrame(plain)
            geo.to_file(tmp, driver="GeoJSON")
        elif suffix == ".xlsx":
            plain.to_excel(tmp, index=False, engine="openpyxl")
        else:
            plain.to_csv(tmp, index=False)
    return target
