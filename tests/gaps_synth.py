"""Synthetic inputs for the clusters / hot-spot / gap tests, in the accessibility contract.

A hexagonal patch of H3 resolution-9 cells around a point of Kennedy (``hex_patch``),
residences placed inside chosen cells with chosen travel times (``residences_in_cells``),
and the hexagon table the accessibility stage would build from them (``hex_table``).
Localities and UPZ are assigned by position: west of the patch centre is Kennedy ('08'),
east is Suba ('11'); each half holds two UPZ (south / north).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
from shapely.geometry import Point, Polygon

CENTRE = (4.62, -74.10)  # lat, lng
THRESHOLDS = (10.0, 15.0, 30.0)

TimeFn = Callable[[str, np.random.Generator, int], np.ndarray]


def hex_patch(radius: int, *, centre: tuple[float, float] = CENTRE) -> list[str]:
    """The cells within ``radius`` rings of the centre cell, sorted."""
    return sorted(h3.grid_disk(h3.latlng_to_cell(*centre, 9), radius))


def centre_cell(*, centre: tuple[float, float] = CENTRE) -> str:
    return str(h3.latlng_to_cell(*centre, 9))


def _areas(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    west = lon < CENTRE[1]
    south = lat < CENTRE[0]
    loc = np.where(west, "08", "11")
    upz = np.where(west, np.where(south, "UPZ1", "UPZ2"), np.where(south, "UPZ3", "UPZ4"))
    return loc, upz


def residences_in_cells(
    counts: Mapping[str, int],
    times: Mapping[str, TimeFn],
    *,
    seed: int = 0,
    max_household: int = 3,
) -> gpd.GeoDataFrame:
    """Residences inside cells: ``counts[cell]`` of them, jittered around the cell centre.

    ``times[type](cell, rng, n)`` returns the ``n`` travel times (minutes) of the residences
    of ``cell`` to the nearest service of ``type``.
    """
    rng = np.random.default_rng(seed)
    parts = []
    for cell in sorted(counts):
        n = counts[cell]
        if n == 0:
            continue
        lat0, lng0 = h3.cell_to_latlng(cell)
        # about +-100 m, well inside a resolution-9 cell (edge ~175 m)
        lat = lat0 + rng.uniform(-0.0009, 0.0009, n)
        lng = lng0 + rng.uniform(-0.0009, 0.0009, n)
        part = {
            "lon": lng,
            "lat": lat,
            "household_size": rng.integers(1, max_household + 1, n),
            "h3_cell": [cell] * n,
        }
        for kind, fn in times.items():
            part[f"time_{kind}"] = np.asarray(fn(cell, rng, n), dtype=float)
        parts.append(pd.DataFrame(part))
    frame = pd.concat(parts, ignore_index=True)
    frame["loc_code"], frame["upz_code"] = _areas(frame["lon"].to_numpy(), frame["lat"].to_numpy())
    frame.index = pd.RangeIndex(1000, 1000 + len(frame), name="residence")
    return gpd.GeoDataFrame(
        frame, geometry=gpd.points_from_xy(frame["lon"], frame["lat"]), crs="EPSG:4326"
    )


def hex_table(
    residences: pd.DataFrame,
    e2sfca: Mapping[str, Callable[[str], float]],
    *,
    thresholds: Sequence[float] = THRESHOLDS,
) -> gpd.GeoDataFrame:
    """The hexagon table of the accessibility contract, built from ``residences``."""
    people = residences["household_size"].astype(float)
    cells = sorted(residences["h3_cell"].unique())
    out = pd.DataFrame({"h3_cell": cells})
    grouped = people.groupby(residences["h3_cell"])
    out["migrants"] = grouped.sum().reindex(cells).astype(int).to_numpy()
    out["residences"] = grouped.size().reindex(cells).to_numpy()
    for kind, score in e2sfca.items():
        time = residences[f"time_{kind}"]
        out[f"median_time_{kind}"] = (
            time.groupby(residences["h3_cell"]).median().reindex(cells).to_numpy()
        )
        for t in thresholds:
            within = people.where(time <= t, 0.0).groupby(residences["h3_cell"]).sum()
            out[f"within_{t:g}_{kind}"] = within.reindex(cells).astype(int).to_numpy()
            out[f"share_within_{t:g}_{kind}"] = out[f"within_{t:g}_{kind}"] / out["migrants"]
        out[f"e2sfca_{kind}"] = [score(c) for c in cells]
    polys = [Polygon([(b, a) for a, b in h3.cell_to_boundary(c)]) for c in cells]
    out.index = pd.RangeIndex(500, 500 + len(out))
    return gpd.GeoDataFrame(out, geometry=polys, crs="EPSG:4326")


def cell_point(cell: str) -> Point:
    lat, lng = h3.cell_to_latlng(cell)
    return Point(lng, lat)
