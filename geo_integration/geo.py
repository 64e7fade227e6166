"""Coordinate reference systems and the extent of Bogotá.

All loaders return data in :data:`WGS84` (EPSG:4326). Metric work (distances, buffers, areas,
clustering) is done in :data:`METRIC_CRS`, MAGNA-SIRGAS / Origen Nacional (EPSG:9377), the
national projected CRS of Colombia, whose unit is the metre.
"""

from __future__ import annotations

from typing import TypeVar

import geopandas as gpd

__all__ = [
    "BOGOTA_BBOX",
    "BOGOTA_URBAN_BBOX",
    "METRIC_CRS",
    "WGS84",
    "to_metric",
    "to_wgs84",
]

WGS84 = "EPSG:4326"
METRIC_CRS = "EPSG:9377"

#: (min_lon, min_lat, max_lon, max_lat) enclosing the whole district, Sumapaz included,
#: with a margin of about 2 km.
BOGOTA_BBOX: tuple[float, float, float, float] = (-74.47, 3.71, -73.97, 4.86)
#: The urban area (localities 01-19), with a small margin.
BOGOTA_URBAN_BBOX: tuple[float, float, float, float] = (-74.24, 4.44, -73.98, 4.84)

GeoT = TypeVar("GeoT", gpd.GeoDataFrame, gpd.GeoSeries)


def to_metric(data: GeoT) -> GeoT:
    """Return ``data`` projected to :data:`METRIC_CRS` (metres).

    Parameters
    ----------
    data
        A GeoDataFrame or GeoSeries with a CRS set.
    """
    return data.to_crs(METRIC_CRS)


def to_wgs84(data: GeoT) -> GeoT:
    """Return ``data`` in :data:`WGS84` (longitude, latitude)."""
    return data.to_crs(WGS84)
