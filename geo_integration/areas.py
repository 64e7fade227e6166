"""Assign points to localities, UPZ and H3 hexagons (a kernel: no I/O).

Functions take point geometries or coordinate arrays and return results aligned to the
input index; points outside every polygon get missing values, never an error.
"""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import h3
import numpy as np
import numpy.typing as npt
import pandas as pd

from geo_integration.errors import AnalysisError
from geo_integration.geo import WGS84

__all__ = ["assign_areas", "h3_cells", "hex_polygons"]


def _first_match(
    points: gpd.GeoSeries, polygons: gpd.GeoDataFrame, columns: list[str]
) -> pd.DataFrame:
    left = gpd.GeoDataFrame(geometry=points.reset_index(drop=True), crs=points.crs)
    joined = gpd.sjoin(left, polygons[[*columns, "geometry"]], how="left", predicate="within")
    joined = joined[~joined.index.duplicated(keep="first")].sort_index()
    out = joined[columns].copy()
    out.index = points.index
    return out


def assign_areas(
    points: gpd.GeoDataFrame | gpd.GeoSeries,
    localities: gpd.GeoDataFrame,
    upz: gpd.GeoDataFrame | None = None,
) -> pd.DataFrame:
    """Return the locality (and UPZ) that contains each point.

    Parameters
    ----------
    points
        Point geometries (missing or empty geometries give missing areas).
    localities
        As from :func:`geo_integration.loaders.load_localities` (``loc_code``, ``loc_name``).
    upz
        As from :func:`geo_integration.loaders.load_upz`; ``None`` skips the UPZ columns.

    Returns
    -------
    DataFrame
        Aligned to ``points.index``: ``loc_code``, ``loc_name`` and, with ``upz``,
        ``upz_code``, ``upz_name``. Missing where a point lies in no polygon.
    """
    geoms = points.geometry if isinstance(points, gpd.GeoDataFrame) else points
    if geoms.crs is None:
        msg = "points have no CRS; expected EPSG:4326"
        raise AnalysisError(msg)
    geoms = geoms.to_crs(WGS84)
    out = _first_match(geoms, localities.to_crs(WGS84), ["loc_code", "loc_name"])
    if upz is not None:
        upz_part = _first_match(geoms, upz.to_crs(WGS84), ["upz_code", "upz_name"])
        out = out.join(upz_part)
    return out


def h3_cells(
    lat: npt.ArrayLike, lon: npt.ArrayLike, *, resolution: int = 9
) -> npt.NDArray[np.object_]:
    """Return the H3 cell (hex string) of each coordinate; ``None`` where not finite.

    Parameters
    ----------
    lat, lon
        Degrees (EPSG:4326), same length.
    resolution
        H3 resolution, 0..15 (9: cells of about 0.1 km²).
    """
    lat_a = np.asarray(lat, dtype=float)
    lon_a = np.asarray(lon, dtype=float)
    if lat_a.shape != lon_a.shape:
        msg = f"lat and lon differ in shape: {lat_a.shape!r} vs {lon_a.shape!r}"
        raise AnalysisError(msg)
    if not 0 <= resolution <= 15:
        msg = f"H3 resolution must be 0..15, got {resolution!r}"
        raise AnalysisError(msg)
    out = np.full(lat_a.shape, None, dtype=object)
    ok = np.isfinite(lat_a) & np.isfinite(lon_a) & (np.abs(lat_a) <= 90) & (np.abs(lon_a) <= 180)
    out[ok] = [
        h3.latlng_to_cell(a, b, resolution)
        for a, b in zip(lat_a[ok].tolist(), lon_a[ok].tolist(), strict=True)
    ]
    return out


def hex_polygons(cells: Sequence[str] | pd.Index) -> gpd.GeoSeries:
    """Return the polygon of each H3 cell (EPSG:4326), indexed by cell."""
    from shapely.geometry import Polygon

    cells = list(cells)
    polys = [Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(c)]) for c in cells]
    return gpd.GeoSeries(polys, index=pd.Index(cells, name="h3_cell"), crs=WGS84)
