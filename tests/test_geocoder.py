"""Tests of the offline geocoder, level by level, on the mini city (tests/minicity.py).

In the mini city, Calle n lies at y = 100 n and Carrera m at x = -100 m (grid metres from
``ORIGIN``); address points lie every 20 m along each block face, so "CL 5, 3 20" is at
(-320, 500) and "KR 3, 5 20" at (-300, 520).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from minicity import ORIGIN, to_wgs
from pyproj import Transformer
from shapely.geometry import LineString, Point

from geo_integration import loaders
from geo_integration.errors import MissingColumnError
from geo_integration.geocode_cache import GeocodeCache
from geo_integration.geocode_index import GeocodeIndex, build_index
from geo_integration.geocode_online import OnlineGeocoder, query_text
from geo_integration.geocoder import (
    LEVELS,
    RESULT_COLUMNS,
    geocode_addresses,
    make_geocoder,
    match_labels,
)

_TO_METRIC = Transformer.from_crs("EPSG:4326", "EPSG:9377", always_xy=True)


@pytest.fixture(scope="module")
def index(minicity_dir: Path) -> GeocodeIndex:
    return build_index(
        loaders.load_addresses(minicity_dir),
        loaders.load_streets(minicity_dir),
        loaders.load_localities(minicity_dir),
        loaders.load_upz(minicity_dir),
        stops=loaders.load_sitp_stops(minicity_dir),
    )


def grid(result: pd.DataFrame) -> np.ndarray:
    """Result positions in mini-city grid metres."""
    x, y = _TO_METRIC.transform(result["lon"].to_numpy(), result["lat"].to_numpy())
    return np.column_stack([np.asarray(x) - ORIGIN[0], np.asarray(y) - ORIGIN[1]])


def one(index: GeocodeIndex, text: str, **kw: Any) -> tuple[pd.Series, np.ndarray]:
    result = geocode_addresses(pd.Series([text]), index=index, **kw)
    return result.iloc[0], grid(result)[0]


# ---------------------------------------------------------------------------------------------
# levels


def test_exact(index: GeocodeIndex) -> None:
    row, xy = one(index, "Calle 5 # 3-20, apto 301")
    assert row["match_level"] == "exact"
    assert row["confidence"] == 1.0
    assert row["matched_address"] == "CL 5, 3 20"
    np.testing.assert_allclose(xy, [-320, 500], atol=0.5)
    row, xy = one(index, "Carrera 3 No. 5-20")
    np.testing.assert_allclose(xy, [-300, 520], atol=0.5)


def test_exact_under_the_equivalent_type(index: GeocodeIndex) -> None:
    row, xy = one(index, "Avenida Calle 5 # 3-20")
    assert row["match_level"] == "exact"
    assert row["confidence"] == pytest.approx(0.95)
    assert row["matched_address"] == "CL 5, 3 20"
    np.testing.assert_allclose(xy, [-320, 500], atol=0.5)


def test_interpolated_between_known_numbers(index: GeocodeIndex) -> None:
    row, xy = one(index, "CL 5, 3 30")
    assert row["match_level"] == "interpolated"
    assert 0.5 < row["confidence"] < 1.0
    np.testing.assert_allclose(xy, [-330, 500], atol=0.5)
    row, xy = one(index, "Carrera 7 # 4-47")
    assert row["match_level"] == "interpolated"
    np.testing.assert_allclose(xy, [-700, 447], atol=0.5)


def test_intersection_beyond_the_known_numbers(index: GeocodeIndex) -> None:
    # points on the face go 20..80: 90 is measured from the corner of KR 3, towards KR 4
    row, xy = one(index, "Calle 5 # 3-90")
    assert row["match_level"] == "intersection"
    np.testing.assert_allclose(xy, [-390, 500], atol=1.0)


def test_intersection_on_a_face_without_points(index: GeocodeIndex) -> None:
    # no point is labelled on Calle 5 past Carrera 10; the centrelines meet there
    row, xy = one(index, "Calle 5 # 10-10")
    assert row["match_level"] == "intersection"
    np.testing.assert_allclose(xy, [-1010, 500], atol=1.0)


def test_intersection_of_two_streets(index: GeocodeIndex) -> None:
    row, xy = one(index, "Carrera 3 con Calle 5")
    assert row["match_level"] == "intersection"
    assert row["matched_address"] == "KR 3 - CL 5"
    np.testing.assert_allclose(xy, [-300, 500], atol=1.0)


def test_parallel_streets_do_not_meet(index: GeocodeIndex) -> None:
    row, _ = one(index, "Carrera 3 con Carrera 5")
    assert row["match_level"] == "none"


def test_intersection_where_the_faces_jump(index: GeocodeIndex) -> None:
    # Carrera 3A does not exist: on Calle 5 the faces go from 3 (last point 3-80, at x=-380)
    # to 4 (first point 4-20, x=-420, so its corner is at x=-400); 3A lies halfway, -390
    row, xy = one(index, "Calle 5 # 3A-10")
    assert row["match_level"] == "intersection"
    np.testing.assert_allclose(xy, [-400, 500], atol=0.5)


def test_intersection_read_both_ways(index: GeocodeIndex) -> None:
    # Carrera 3A is unknown, but Calle 5's numbering passes 3A halfway from its last point
    # numbered 3 (x=-380) to the corner of Carrera 4 (x=-400)
    row, xy = one(index, "Carrera 3A con Calle 5")
    assert row["match_level"] == "intersection"
    assert row["matched_address"] == "CL 5 - KR 3A"
    np.testing.assert_allclose(xy, [-390, 500], atol=0.5)


def test_intersection_where_the_faces_jump_to_a_single_point(minicity_dir: Path) -> None:
    # Calle 5 at Carrera 4 keeps one point (4-40), no centreline of Carrera 4 and none of
    # its points: the corner is 40 m back from that point towards the previous face
    points = loaders.load_addresses(minicity_dir)
    drop = points["address"].str.startswith(("KR 4, ", "CL 5, 4 "))
    points = pd.concat([points[~drop], points[points["address"] == "CL 5, 4 40"]])
    streets = loaders.load_streets(minicity_dir)
    index = build_index(
        points,
        streets[streets["etiqueta"] != "KR 4"],
        loaders.load_localities(minicity_dir),
    )
    row, xy = one(index, "Calle 5 # 4-60")
    assert row["match_level"] == "intersection"
    np.testing.assert_allclose(xy, [-460, 500], atol=0.5)


def test_a_rural_town_reusing_the_labels_is_not_the_corner(minicity_dir: Path) -> None:
    # Calle 3 and Carrera 2 also cross in a town 5 km away where the city has no point; in
    # the city, Calle 3 has no centreline and no point is numbered at that corner: the
    # corner is not the town's, and the grid places it between Carrera 2's corners
    points = loaders.load_addresses(minicity_dir)
    points = points[~points["address"].str.startswith(("KR 2, 3 ", "CL 3, 2 "))]
    streets = loaders.load_streets(minicity_dir)
    town = [((4900, 5000), (5100, 5000), "CL 3"), ((5000, 4900), (5000, 5100), "KR 2")]
    lines = gpd.GeoDataFrame(
        {"etiqueta": [t[2] for t in town], "nombre": None, "source": "mvi_2023"},
        geometry=[LineString(np.column_stack(to_wgs(*np.array(t[:2]).T))) for t in town],
        crs="EPSG:4326",
    )
    index = build_index(
        points,
        pd.concat([streets[streets["etiqueta"] != "CL 3"], lines], ignore_index=True),
        loaders.load_localities(minicity_dir),
    )
    row, xy = one(index, "Carrera 2 con Calle 3")
    assert row["match_level"] == "grid"
    np.testing.assert_allclose(xy, [-200, 300], atol=1.0)


@pytest.fixture(scope="module")
def two_places(minicity_dir: Path) -> GeocodeIndex:
    """The mini city as locality 08 and a town 5 km east as locality 20, where three points
    repeat the city's labels "CL 7, 2 20/40/60" and Calle 7 crosses Carrera 2."""
    from shapely.geometry import box

    town = [(f"CL 7, 2 {h}", 5000.0 - h, 700.0) for h in (20, 40, 60)]
    lon, lat = to_wgs(np.array([t[1] for t in town]), np.array([t[2] for t in town]))
    points = pd.concat(
        [
            loaders.load_addresses(minicity_dir),
            gpd.GeoDataFrame(
                {"address": [t[0] for t in town]},
                geometry=gpd.points_from_xy(lon, lat),
                crs="EPSG:4326",
            ),
        ],
        ignore_index=True,
    )
    crossing = [  # four segments meeting at (5000, 700)
        ((4900, 700), (5000, 700), "CL 7"),
        ((5000, 700), (5100, 700), "CL 7"),
        ((5000, 600), (5000, 700), "KR 2"),
        ((5000, 700), (5000, 800), "KR 2"),
    ]
    lines = gpd.GeoDataFrame(
        {"etiqueta": [c[2] for c in crossing], "nombre": None, "source": "mvi_2023"},
        geometry=[LineString(np.column_stack(to_wgs(*np.array(c[:2]).T))) for c in crossing],
        crs="EPSG:4326",
    )
    streets = pd.concat([loaders.load_streets(minicity_dir), lines], ignore_index=True)
    squares = [box(-1100, 0, 0, 1100), box(4500, 200, 5500, 1200)]
    localities = gpd.GeoDataFrame(
        {"loc_code": ["08", "20"], "loc_name": ["Kennedy", "Sumapaz"]},
        geometry=[
            shapely.transform(sq, lambda xy: np.column_stack(to_wgs(xy[:, 0], xy[:, 1])))
            for sq in squares
        ],
        crs="EPSG:4326",
    )
    return build_index(points, streets, localities)


def test_the_locality_chooses_among_places(two_places: GeocodeIndex) -> None:
    frame = pd.DataFrame(
        {
            "dir": ["Calle 7 # 2-40", "Calle 7 # 2-40", "Calle 7 # 2-40", "Carrera 2 con Calle 7"],
            "loc": ["Sumapaz", "Kennedy", None, "Sumapaz"],
        }
    )
    result = geocode_addresses(frame, address_col="dir", localidad_col="loc", index=two_places)
    xy = grid(result)
    assert list(result["match_level"]) == ["exact", "exact", "exact", "intersection"]
    np.testing.assert_allclose(xy[0], [4960, 700], atol=0.5)  # the town's point
    np.testing.assert_allclose(xy[1], [-240, 700], atol=0.5)  # the city's
    np.testing.assert_allclose(xy[2], [-240, 700], atol=0.5)  # the city's, by default
    np.testing.assert_allclose(xy[3], [5000, 700], atol=0.5)  # the town's junction
    assert result["confidence"].tolist() == pytest.approx([0.7, 0.8, 0.8, 0.6])
    assert result["match_reason"].isna().all()


def test_a_corner_in_two_places_has_a_lower_confidence(two_places: GeocodeIndex) -> None:
    row, xy = one(two_places, "Carrera 2 con Calle 7")
    np.testing.assert_allclose(xy, [-200, 700], atol=0.5)  # the city's, by default
    assert row["confidence"] == pytest.approx(0.6)  # 0.8 for a junction, less 0.2
    row, _ = one(two_places, "Carrera 3 con Calle 7")
    assert row["confidence"] == pytest.approx(0.8)


def test_outside_the_locality_given(two_places: GeocodeIndex) -> None:
    frame = pd.DataFrame({"dir": ["Calle 5 # 3-20"], "loc": ["Sumapaz"]})
    result = geocode_addresses(frame, address_col="dir", localidad_col="loc", index=two_places)
    np.testing.assert_allclose(grid(result)[0], [-320, 500], atol=0.5)  # no other place
    assert result.loc[0, "match_level"] == "exact"
    assert result.loc[0, "confidence"] == pytest.approx(0.5)
    assert result.loc[0, "match_reason"] == "outside_locality"


def test_grid_along_a_known_street(minicity_dir: Path) -> None:
    # without the points of Calle 5 at Carrera 4, the faces jump 140 m (from 3-80 to 5-20):
    # too far to place 3A; the grid places it between the corners of Carreras 3 and 4
    points = loaders.load_addresses(minicity_dir)
    index = build_index(
        points[~points["address"].str.startswith("CL 5, 4 ")],
        loaders.load_streets(minicity_dir),
        loaders.load_localities(minicity_dir),
    )
    row, xy = one(index, "Calle 5 # 3A-10")
    assert row["match_level"] == "grid"
    assert -400 < xy[0] < -300
    assert xy[1] == pytest.approx(500, abs=1.0)


def test_grid_extrapolates_outside_the_city(index: GeocodeIndex) -> None:
    # Calle 12 is two blocks north of the grid: (x, y) = (-300 - 10, 1200) on a regular grid
    row, xy = one(index, "Calle 12 # 3-10")
    assert row["match_level"] == "grid"
    assert row["confidence"] < 0.5
    np.testing.assert_allclose(xy, [-310, 1200], atol=5.0)


def test_grid_does_not_extrapolate_far(index: GeocodeIndex) -> None:
    row, _ = one(index, "Carrera 109 con Calle 23")
    assert row["match_level"] == "none"
    assert row["match_reason"] == "street_not_found"


def test_area_centroid_when_the_address_fails(index: GeocodeIndex, minicity_dir: Path) -> None:
    frame = pd.DataFrame(
        {
            "dir": ["sin dirección", "Calle 5 # 3-20", None],
            "barrio": [None, None, "UPZ de prueba 1"],
            "localidad": ["Kennedy", "Suba", "Suba"],
        }
    )
    result = geocode_addresses(
        frame, address_col="dir", barrio_col="barrio", localidad_col="localidad", index=index
    )
    assert list(result["match_level"]) == ["area", "exact", "area"]
    assert result.loc[0, "matched_address"] == "Kennedy"
    assert result.loc[0, "match_reason"] == "no_street_type"
    assert result.loc[0, "confidence"] == pytest.approx(0.1)
    kennedy = loaders.load_localities(minicity_dir).set_index("loc_code").loc["08", "geometry"]
    assert kennedy.contains(Point(result.loc[0, "lon"], result.loc[0, "lat"]))
    assert result.loc[2, "matched_address"] == "UPZ DE PRUEBA 1"  # the barrio column first
    assert result.loc[2, "confidence"] == pytest.approx(0.25)


def test_none_keeps_its_reason(index: GeocodeIndex) -> None:
    result = geocode_addresses(pd.Series(["apto 301", None, "Calle 45"]), index=index)
    assert list(result["match_level"]) == ["none"] * 3
    assert list(result["match_reason"]) == ["no_street_type", "empty", "no_cross_number"]
    assert result["lat"].isna().all()
    assert result.geometry.isna().all()
    assert (result["confidence"] == 0).all()


def test_named_avenue_from_the_centrelines(index: GeocodeIndex) -> None:
    # in the mini city, Carrera 5 is named "AVENIDA DE PRUEBA"
    assert index.avenues["PRUEBA"] == ["KR 5"]
    row, xy = one(index, "Avenida de Prueba # 5-20")
    assert row["match_level"] == "exact"
    np.testing.assert_allclose(xy, [-500, 520], atol=0.5)


def test_levels_are_ordered_best_first(index: GeocodeIndex) -> None:
    texts = ["CL 5, 3 20", "CL 5, 3 30", "CL 5, 3 90", "CL 12, 3 10", "xx"]
    result = geocode_addresses(pd.Series(texts), index=index)
    assert list(result["match_level"]) == ["exact", "interpolated", "intersection", "grid", "none"]
    assert result["confidence"].is_monotonic_decreasing
    assert set(result["match_level"]) <= set(LEVELS)


# ---------------------------------------------------------------------------------------------
# API


def test_result_aligned_to_the_input_index(index: GeocodeIndex) -> None:
    series = pd.Series(["xx", "CL 5, 3 20", "CL 5, 3 20"], index=[10, 3, 7])
    result = geocode_addresses(series, index=index)
    assert list(result.index) == [10, 3, 7]
    assert list(result.columns) == [*RESULT_COLUMNS, "geometry"]
    assert result.crs.to_epsg() == 4326
    assert result.loc[3, "lat"] == result.loc[7, "lat"]


def test_a_plain_list_of_addresses(index: GeocodeIndex) -> None:
    result = geocode_addresses(["xx", "CL 5, 3 20"], index=index)
    assert list(result.index) == [0, 1]
    assert list(result["match_level"]) == ["none", "exact"]
    with pytest.raises(TypeError, match="'CL 5, 3 20'"):
        geocode_addresses("CL 5, 3 20", index=index)


def test_frame_keeps_its_columns(index: GeocodeIndex) -> None:
    frame = pd.DataFrame({"id": ["a", "b"], "addr": ["CL 5, 3 20", "KR 3, 5 20"]}, index=[5, 6])
    result = geocode_addresses(frame, address_col="addr", index=index)
    assert isinstance(result, gpd.GeoDataFrame)
    assert list(result.columns[:2]) == ["id", "addr"]
    assert list(result.index) == [5, 6]


def test_missing_columns_are_named(index: GeocodeIndex) -> None:
    frame = pd.DataFrame({"addr": ["CL 5, 3 20"]})
    with pytest.raises(MissingColumnError, match="'direccion'"):
        geocode_addresses(frame, address_col="direccion", index=index)
    with pytest.raises(MissingColumnError, match="address_col"):
        geocode_addresses(frame, index=index)
    with pytest.raises(MissingColumnError, match="'barrio'"):
        geocode_addresses(frame, address_col="addr", barrio_col="barrio", index=index)


def test_match_labels_kernel(index: GeocodeIndex) -> None:
    from geo_integration.address import parse_address

    out = match_labels([parse_address("CL 5, 3 20"), parse_address("nada")], index)
    assert list(out["match_level"]) == ["exact", "none"]
    assert out.loc[0, "x"] == pytest.approx(ORIGIN[0] - 320, abs=0.5)


def test_make_geocoder_for_ingest(index: GeocodeIndex, tmp_path: Path) -> None:
    geocoder = make_geocoder(index=index, cache=tmp_path / "c.sqlite")
    series = pd.Series(["CL 5, 3 20", "xx"], index=["r1", "r2"])
    out = geocoder(series)
    assert list(out.index) == ["r1", "r2"]
    assert list(out.columns) == list(RESULT_COLUMNS)
    assert list(out["match_level"]) == ["exact", "none"]


# ---------------------------------------------------------------------------------------------
# cache


def test_cache_geocodes_only_what_is_new(
    index: GeocodeIndex, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import geo_integration.geocoder as geocoder

    calls: list[int] = []
    real = geocoder.match_labels

    def spy(parsed: Any, idx: GeocodeIndex) -> pd.DataFrame:
        calls.append(len(parsed))
        return real(parsed, idx)

    monkeypatch.setattr(geocoder, "match_labels", spy)
    cache = tmp_path / "geocode.sqlite"
    first = geocode_addresses(
        pd.Series(["Calle 5 # 3-20 apto 9", "CL 5, 3 30"]), index=index, cache=cache
    )
    assert calls == [2]
    second = geocode_addresses(
        pd.Series(["CL 5, 3 20", "CL 5, 3 30", "CL 5, 3 90"]), index=index, cache=cache
    )
    assert calls == [2, 1]  # only "CL 5, 3 90" was new
    pd.testing.assert_series_equal(
        first["lat"].reset_index(drop=True), second["lat"].iloc[:2].reset_index(drop=True)
    )
    assert list(second["match_level"]) == ["exact", "interpolated", "intersection"]
    with sqlite3.connect(cache) as con:
        stored = [r[0] for r in con.execute("SELECT label FROM results")]
    assert sorted(stored) == ["CL 5, 3 20", "CL 5, 3 30", "CL 5, 3 90"]  # no raw text


def test_cache_round_trip_and_sources(tmp_path: Path) -> None:
    cache = GeocodeCache(tmp_path / "sub" / "c.sqlite")
    frame = pd.DataFrame(
        {
            "lat": [4.6, np.nan],
            "lon": [-74.1, np.nan],
            "match_level": ["exact", "none"],
            "confidence": [1.0, 0.0],
            "matched_address": ["CL 1, 2 03", None],
            "match_reason": [None, "no_position"],
        },
        index=["CL 1, 2 03", "CL 9, 9 99"],
    )
    assert cache.put(frame, source="idx1") == 2
    got = cache.get(["CL 9, 9 99", "CL 1, 2 03", "unknown"], source="idx1")
    assert sorted(got.index) == ["CL 1, 2 03", "CL 9, 9 99"]
    assert got.loc["CL 1, 2 03", "lat"] == pytest.approx(4.6)
    assert np.isnan(got.loc["CL 9, 9 99", "lat"])
    assert cache.get(["CL 1, 2 03"], source="idx2").empty
    assert cache.prune(keep_sources=["idx2"]) == 2
    assert len(cache) == 0


# ---------------------------------------------------------------------------------------------
# online (mocked: never a real request)


class _Location:
    def __init__(self, lat: float, lon: float) -> None:
        self.latitude, self.longitude = lat, lon


def test_online_only_for_what_stays_unmatched(index: GeocodeIndex, tmp_path: Path) -> None:
    asked: list[str] = []

    def lookup(text: str) -> _Location | None:
        asked.append(text)
        return _Location(4.65, -74.10) if "Calle 40" in text else _Location(40.0, -3.7)

    online = OnlineGeocoder(lookup=lookup)
    texts = pd.Series(["CL 5, 3 20", "Calle 40 # 80-10", "Calle 41 # 80-10"])
    cache = tmp_path / "c.sqlite"
    result = geocode_addresses(texts, index=index, online=online, cache=cache)
    assert list(result["match_level"]) == ["exact", "online", "none"]  # Madrid is rejected
    assert result.loc[1, "lat"] == pytest.approx(4.65)
    assert asked == ["Calle 40 #80-10, Bogotá, Colombia", "Calle 41 #80-10, Bogotá, Colombia"]
    geocode_addresses(texts, index=index, online=online, cache=cache)
    assert len(asked) == 2  # answers (found or not) are cached


def test_online_is_off_by_default(index: GeocodeIndex) -> None:
    result = geocode_addresses(pd.Series(["Calle 40 # 80-10"]), index=index)
    assert result.loc[0, "match_level"] == "none"


def test_online_uses_a_rate_limited_nominatim(monkeypatch: pytest.MonkeyPatch) -> None:
    import geopy.geocoders

    made: dict[str, Any] = {}

    class FakeNominatim:
        def __init__(self, *, user_agent: str, timeout: float) -> None:
            made["user_agent"] = user_agent

        def geocode(self, text: str) -> None:
            made.setdefault("texts", []).append(text)

    monkeypatch.setattr(geopy.geocoders, "Nominatim", FakeNominatim)
    engine = OnlineGeocoder(min_delay_seconds=0.0)
    out = engine.geocode(["KR 14Q, 74 43 S"])
    assert np.isnan(out.loc["KR 14Q, 74 43 S", "lat"])
    assert made["texts"] == ["Carrera 14Q #74-43 Sur, Bogotá, Colombia"]
    assert "geo_integration" in made["user_agent"]


def test_query_text() -> None:
    assert query_text("CL 42 S, 15 32 E") == "Calle 42 Sur #15-32 Este, Bogotá, Colombia"
    assert query_text("KR 109 - CL 23") == "KR 109 con CL 23, Bogotá, Colombia"


def test_progress_is_reported(index: GeocodeIndex) -> None:
    seen: list[tuple[int, int]] = []
    geocode_addresses(
        pd.Series(["CL 5, 3 20", "CL 5, 3 30", "CL 5, 3 20"]),
        index=index,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert seen[-1] == (2, 2)  # two distinct texts


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=40), min_size=1, max_size=5))
def test_any_text_gets_a_level(index: GeocodeIndex, texts: list[str]) -> None:
    result = geocode_addresses(pd.Series(texts), index=index)
    assert len(result) == len(texts)
    assert set(result["match_level"]) <= set(LEVELS)
    placed = result["match_level"] != "none"
    assert result.loc[placed, "lat"].notna().all()
    assert result.loc[~placed, "match_reason"].notna().all()
