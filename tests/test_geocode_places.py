"""Tests of the places elsewhere and the locality grid (geo_integration.geocode_places).

A city square (locality 08) and a town 5 km east (locality 20) in grid metres; the answers
are known by hand.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import Transformer
from shapely.geometry import box

from geo_integration.geocode_places import (
    build_locality_grid,
    corner_alternates,
    label_alternates,
    near_locality,
)

_TO_METRIC = Transformer.from_crs("EPSG:4326", "EPSG:9377", always_xy=True).transform
_TO_WGS = Transformer.from_crs("EPSG:9377", "EPSG:4326", always_xy=True).transform
X0, Y0 = 4_870_000.0, 2_060_000.0


def _localities() -> gpd.GeoDataFrame:
    squares = [box(X0, Y0, X0 + 1000, Y0 + 1000), box(X0 + 4500, Y0, X0 + 5500, Y0 + 1000)]
    geoms = [gpd.GeoSeries([sq], crs="EPSG:9377").to_crs("EPSG:4326").iloc[0] for sq in squares]
    return gpd.GeoDataFrame(
        {"loc_code": ["08", "20"], "loc_name": ["Kennedy", "Sumapaz"]},
        geometry=geoms,
        crs="EPSG:4326",
    )


def test_label_alternates_keep_the_far_points_once() -> None:
    codes = np.array([0, 0, 0, 0, 1, 1])  # rows of "CL 7, 2 50" and "CL 8, 1 10" below
    xy = np.array([[0, 0], [5000, 0], [5100, 50], [300, 0], [10, 10], [20, 10]], dtype=float)
    chosen = pd.DataFrame({"x": [0.0, 10.0], "y": [0.0, 10.0]}, index=["CL 7, 2 50", "CL 8, 1 10"])
    out = label_alternates(codes, xy, chosen)
    # 300 m away is the same place; 5000 and 5100 are one other place (one 500 m cell)
    assert list(out["key"]) == ["CL 7, 2 50"]
    assert out.loc[0, ["x", "y"]].tolist() == [5000.0, 0.0]


def test_corner_alternates() -> None:
    junctions = pd.DataFrame(
        {"face": ["CL 7|2", "CL 7|2", "KR 9|1"], "x": [0.0, 6000.0, 50.0], "y": [0.0, 0.0, 0.0]}
    )
    corners = pd.DataFrame({"x": [0.0], "y": [0.0]}, index=["CL 7|2"])
    out = corner_alternates(junctions, corners)
    # the far junction of CL 7|2, and KR 9|1's only one (no corner was kept for it)
    assert sorted(zip(out["key"], out["x"], strict=True)) == [("CL 7|2", 6000.0), ("KR 9|1", 50.0)]


def test_locality_grid_with_a_tolerance() -> None:
    grid, origin = build_locality_grid(_localities(), _TO_METRIC)
    x = np.array([X0 + 500, X0 + 1800, X0 + 2600, X0 + 5000, X0 + 500, X0 + 500])
    y = np.array([Y0 + 500, Y0 + 500, Y0 + 500, Y0 + 500, Y0 + 500, np.nan])
    kennedy = near_locality(grid, origin, x, y, np.full(6, 8))
    sumapaz = near_locality(grid, origin, x, y, np.full(6, 20))
    # inside; 800 m east of Kennedy (within 1 km); 1.6 km from both; in Sumapaz; missing
    assert kennedy.tolist() == [True, True, False, False, True, True]
    assert sumapaz.tolist() == [False, False, False, True, False, True]
    unknown = near_locality(grid, origin, x[:1], y[:1], np.array([0]))
    assert unknown.tolist() == [True]  # no locality given: nothing to check
    far = near_locality(grid, origin, np.array([X0 - 50_000]), np.array([Y0]), np.array([8]))
    assert far.tolist() == [False]
