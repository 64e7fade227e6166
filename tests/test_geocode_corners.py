"""Tests of the corners of block faces (geo_integration.geocode_corners) on the mini city.

Each case changes the mini city (tests/minicity.py: Calle n at y = 100 n, Carrera m at
x = -100 m, in grid metres from ``ORIGIN``) so that one source of corners is the only one,
and checks the corner the index keeps against the answer known by hand.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from minicity import ORIGIN, reference_layers, to_wgs

from geo_integration.geocode_corners import vote_street_labels
from geo_integration.geocode_index import GeocodeIndex, build_index
from geo_integration.geocode_labels import parse_official


def _grid_points(labels: list[str], xy: list[tuple[float, float]]) -> gpd.GeoDataFrame:
    """Address points at mini-city grid metres."""
    arr = np.asarray(xy, dtype=float)
    lon, lat = to_wgs(arr[:, 0], arr[:, 1])
    return gpd.GeoDataFrame(
        {"address": labels}, geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326"
    )


def _grid_lines(lines: list[list[tuple[float, float]]], label: str) -> gpd.GeoDataFrame:
    """Centrelines at mini-city grid metres."""
    from shapely.geometry import LineString

    geoms = []
    for line in lines:
        arr = np.asarray(line, dtype=float)
        lon, lat = to_wgs(arr[:, 0], arr[:, 1])
        geoms.append(LineString(np.column_stack([lon, lat])))
    frame = {"etiqueta": label, "nombre": None, "source": "mvi_2023", "length_m": 40.0}
    return gpd.GeoDataFrame(frame, index=range(len(geoms)), geometry=geoms, crs="EPSG:4326")


def to_metric(lon: float, lat: float) -> tuple[float, float]:
    from pyproj import Transformer

    return Transformer.from_crs("EPSG:4326", "EPSG:9377", always_xy=True).transform(lon, lat)


def _corner(index: GeocodeIndex, face: str) -> np.ndarray:
    return np.asarray(index.corner_xy[index.corners.get_loc(face)] - ORIGIN)


def test_face_fit_of_a_wide_street(minicity_dir: Path) -> None:
    # Calle 5 between Carreras 3 and 4 as a 70 m wide avenue: even numbers 35 m south of
    # the centreline, odd numbers 35 m north; no centreline junction tells the corner
    points, streets, locs, upz = reference_layers(minicity_dir)
    points = points[~points["address"].str.startswith(("CL 5, 3 ", "KR 3, "))]
    houses = range(11, 90, 7)
    wide = _grid_points(
        [f"CL 5, 3 {h:02d}" for h in houses],
        [(-300 - h, 500 + (35 if h % 2 else -35)) for h in houses],
    )
    streets = streets[streets["etiqueta"] != "KR 3"]
    index = build_index(pd.concat([points, wide], ignore_index=True), streets, locs, upz)
    np.testing.assert_allclose(_corner(index, "CL 5|3"), [-300, 500], atol=1.0)
    np.testing.assert_allclose(
        index.corner_dir[index.corners.get_loc("CL 5|3")], [-1, 0], atol=0.01
    )


def test_face_fit_keeps_one_place(minicity_dir: Path) -> None:
    # three points of "CL 7, 2 .." also in a rural town 5 km away: the city's five win
    points, streets, locs, upz = reference_layers(minicity_dir)
    points = points[~points["address"].str.startswith("KR 2, ")]
    town = _grid_points(
        [f"CL 7, 2 {h}" for h in (30, 50, 70)], [(5000 - h, 700) for h in (30, 50, 70)]
    )
    streets = streets[streets["etiqueta"] != "KR 2"]
    index = build_index(pd.concat([points, town], ignore_index=True), streets, locs, upz)
    np.testing.assert_allclose(_corner(index, "CL 7|2"), [-200, 700], atol=1.0)


def test_junction_where_a_street_stops_short(minicity_dir: Path) -> None:
    # Carrera 3's centreline stops 60 m short of Calle 5 on both sides, and no point is
    # numbered on either street at that corner: the loose ends, carried on, meet Calle 5
    points, streets, locs, upz = reference_layers(minicity_dir)
    points = points[~points["address"].str.startswith(("CL 5, 3 ", "KR 3, 5 "))]
    start_y = streets.geometry.map(lambda g: to_metric(*g.coords[0])[1] - ORIGIN[1])
    cut = (streets["etiqueta"] == "KR 3") & np.isin(np.round(start_y), [400, 500])
    short = _grid_lines([[(-300, 400), (-300, 440)], [(-300, 560), (-300, 600)]], "KR 3")
    index = build_index(points, pd.concat([streets[~cut], short]), locs, upz)
    np.testing.assert_allclose(_corner(index, "KR 3|5"), [-300, 500], atol=0.5)
    np.testing.assert_allclose(_corner(index, "CL 5|3"), [-300, 500], atol=0.5)


def test_unlabelled_centrelines_take_the_label_of_their_points(minicity_dir: Path) -> None:
    from pyproj import Transformer

    points, streets, _, _ = reference_layers(minicity_dir)
    start_y = streets.geometry.map(lambda g: to_metric(*g.coords[0])[1] - ORIGIN[1])
    # Carrera 3 from Calle 4 to 5 and Calle 9 from Carrera 1 to 2 lose their labels
    lost = ((streets["etiqueta"] == "KR 3") & (np.round(start_y) == 400)) | (
        (streets["etiqueta"] == "CL 9")
        & (streets.index == streets.index[streets["etiqueta"] == "CL 9"][0])
    )
    streets.loc[lost, "etiqueta"] = None
    # and the points of Calle 9 between Carreras 1 and 2 are gone: nothing to vote
    points = points[~points["address"].str.startswith("CL 9, 1 ")]
    parsed = parse_official(points["address"])
    tm = Transformer.from_crs("EPSG:4326", "EPSG:9377", always_xy=True).transform
    x, y = tm(points.geometry.x.to_numpy(), points.geometry.y.to_numpy())
    voted = vote_street_labels(streets, parsed["street"].to_numpy(), np.column_stack([x, y]), tm)
    assert voted[lost].tolist() == [None, "KR 3"]  # Calle 9's segment first
    assert voted[~lost].tolist() == streets.loc[~lost, "etiqueta"].tolist()
