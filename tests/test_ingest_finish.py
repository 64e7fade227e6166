from __future__ import annotations

from pathlib import Path

import numpy as np

from geo_integration import loaders
from geo_integration.ingest_finish import PolygonIndex, locate_in_polygons


def test_polygon_index_batches_agree_with_one_call(minicity_dir: Path) -> None:
    localities = loaders.load_localities(minicity_dir)
    x0, y0, x1, y1 = localities.total_bounds
    rng = np.random.default_rng(8)
    lon = rng.uniform(x0 - 0.01, x1 + 0.01, 3000)
    lat = rng.uniform(y0 - 0.01, y1 + 0.01, 3000)
    lon[:5] = np.nan
    whole = locate_in_polygons(lon, lat, localities, "loc_code")
    index = PolygonIndex(localities, "loc_code")
    parts = [index.locate(lon[i : i + 700], lat[i : i + 700]) for i in range(0, 3000, 700)]
    assert np.concatenate(parts).tolist() == whole.tolist()
    codes = index.codes(lon, lat).to_pylist()
    assert codes == whole.tolist()
    assert (whole == None).sum() > 100 and (whole != None).sum() > 200  # noqa: E711
    classified = index._pure[index._pure != -2]
    assert (classified >= 0).any() and (classified == -3).any()  # pure and boundary cells
