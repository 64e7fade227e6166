from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from minicity import point_at

from geo_integration import loaders
from geo_integration.areas import assign_areas, h3_cells, hex_polygons
from geo_integration.errors import AnalysisError


def test_assign_areas_quadrants_and_outside(minicity_dir: Path) -> None:
    pts = gpd.GeoDataFrame(
        geometry=[point_at(2, 8), point_at(9, 2), point_at(50, 50), None],
        index=[10, 11, 12, 13],
        crs="EPSG:4326",
    )
    out = assign_areas(pts, loaders.load_localities(minicity_dir), loaders.load_upz(minicity_dir))
    assert out.index.tolist() == [10, 11, 12, 13]
    assert out.loc[10, "loc_code"] == "08"  # south-west: Kennedy
    assert out.loc[11, "loc_name"] == "La Candelaria"  # north-east
    assert out.loc[[12, 13], "loc_code"].isna().all()
    assert out.loc[10, "upz_code"] in {"UPZ1", "UPZ2"}


def test_h3_cells_handle_nan_and_validate() -> None:
    cells = h3_cells([4.6, np.nan], [-74.1, -74.1], resolution=9)
    assert cells[1] is None and isinstance(cells[0], str)
    poly = hex_polygons([cells[0]])
    assert poly.iloc[0].contains(gpd.points_from_xy([-74.1], [4.6])[0])
    with pytest.raises(AnalysisError):
        h3_cells([1.0], [1.0, 2.0])
