"""Tests of the geocoding index (geo_integration.geocode_index) on the mini city."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from minicity import ORIGIN, to_wgs

from geo_integration import loaders
from geo_integration.errors import GeocodeError
from geo_integration.geocode_index import (
    GeocodeIndex,
    build_avenue_table,
    build_index,
    code_value,
    default_cache_dir,
    index_fingerprint,
    load_index,
    parse_official,
    parse_street_labels,
)


def test_parse_official_normalises_labels() -> None:
    labels = pd.Series(
        [
            "CL 9, 2 39 E",
            "CL 16H, 112-84",
            "KR 17F, 66-45S",
            "AK 106, 16H 18",
            "?, 22D 38",
            "CL 5, 23 10 S",
            "CL 2, IN 8",
        ]
    )
    out = parse_official(labels)
    assert list(out["ok"]) == [True, True, True, True, False, True, False]
    assert out.loc[1, "label"] == "CL 16H, 112 84"
    assert out.loc[2, "label"] == "KR 17F, 66 45 S"
    assert out.loc[3, "face"] == "KR 106|16H"  # AK is in the KR family
    assert out.loc[0, "face"] == "CL 9|2 E"
    assert out.loc[5, "label"] == "CL 5 S, 23 10"  # S belongs to the calle
    assert out.loc[2, "house"] == 45
    assert out.loc[0, "cross_value"] == pytest.approx(1 - 2)


def test_code_value_is_monotone() -> None:
    values = [
        code_value(2, "", False, "", "S"),
        code_value(1, "A", False, "", "S"),
        code_value(1, "", False, "", "S"),
        code_value(1, "", False, "", ""),
        code_value(45, "", False, "", ""),
        code_value(45, "A", False, "", ""),
        code_value(45, "A", True, "", ""),
        code_value(45, "A", True, "B", ""),
        code_value(45, "B", False, "", ""),
        code_value(46, "", False, "", ""),
    ]
    assert values == sorted(values)
    assert len(set(values)) == len(values)


def test_street_labels() -> None:
    out = parse_street_labels(pd.Series(["CL 63BIS S", "AK 30", None, "AVENIDA"]))
    assert list(out["ok"]) == [True, True, False, False]
    assert out.loc[0, "street"] == "CL 63BIS S"
    assert out.loc[1, "street"] == "KR 30"
    assert out.loc[1, "label"] == "AK 30"


def test_index_of_the_mini_city(minicity_dir: Path) -> None:
    index = build_index(
        loaders.load_addresses(minicity_dir),
        loaders.load_streets(minicity_dir),
        loaders.load_localities(minicity_dir),
        loaders.load_upz(minicity_dir),
    )
    assert len(index.labels) == 720
    assert len(index.faces) == 180  # 90 calle faces and 90 carrera faces
    assert "CL 5|10" in index.corners  # centreline junction, no points
    corner = index.corners.get_loc("CL 5|3")
    np.testing.assert_allclose(index.corner_xy[corner] - ORIGIN, [-300, 500], atol=0.5)
    np.testing.assert_allclose(index.corner_dir[corner], [-1, 0], atol=1e-6)
    assert len(index.grid_uv) == 100
    assert {"KENNEDY", "SUBA", "08", "UPZ DE PRUEBA 1", "UPZ1"} <= set(index.areas["key"])


def _layers(minicity_dir: Path) -> tuple[Any, Any, Any, Any]:
    return (
        loaders.load_addresses(minicity_dir).copy(),
        loaders.load_streets(minicity_dir).copy(),
        loaders.load_localities(minicity_dir),
        loaders.load_upz(minicity_dir),
    )


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
    points, streets, locs, upz = _layers(minicity_dir)
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
    points, streets, locs, upz = _layers(minicity_dir)
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
    points, streets, locs, upz = _layers(minicity_dir)
    points = points[~points["address"].str.startswith(("CL 5, 3 ", "KR 3, 5 "))]
    start_y = streets.geometry.map(lambda g: to_metric(*g.coords[0])[1] - ORIGIN[1])
    cut = (streets["etiqueta"] == "KR 3") & np.isin(np.round(start_y), [400, 500])
    short = _grid_lines([[(-300, 400), (-300, 440)], [(-300, 560), (-300, 600)]], "KR 3")
    index = build_index(points, pd.concat([streets[~cut], short]), locs, upz)
    np.testing.assert_allclose(_corner(index, "KR 3|5"), [-300, 500], atol=0.5)
    np.testing.assert_allclose(_corner(index, "CL 5|3"), [-300, 500], atol=0.5)


def test_unlabelled_centrelines_take_the_label_of_their_points(minicity_dir: Path) -> None:
    from pyproj import Transformer

    from geo_integration.geocode_index import parse_official, vote_street_labels

    points, streets, _, _ = _layers(minicity_dir)
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


def test_avenue_table_votes(minicity_dir: Path) -> None:
    streets = loaders.load_streets(minicity_dir).copy()
    streets.loc[streets["etiqueta"] == "CL 2", "nombre"] = "AVENIDA LARGA"
    streets.loc[streets.index[:2], "nombre"] = "AVENIDA LARGA"  # 2 short segments of CL 1
    table = build_avenue_table(streets)
    assert table["PRUEBA"] == ["KR 5"]
    assert table["LARGA"] == ["CL 2", "CL 1"]  # longest first, both above 10 %
    assert table["NQS"] == ["AK 30"]  # colloquial alias fills what the data lacks


def test_avenue_shape_carried_by_its_numbered_label(minicity_dir: Path) -> None:
    # Carrera 5 is "AK 5", named "Avenida de Prueba" only north of Calle 5: the unnamed
    # southern segments labelled AK 5 are part of the avenue too
    points, streets, locs, upz = _layers(minicity_dir)
    kr5 = streets["etiqueta"] == "KR 5"
    start_y = streets.geometry.map(lambda g: to_metric(*g.coords[0])[1] - ORIGIN[1])
    streets.loc[kr5, "etiqueta"] = "AK 5"
    streets.loc[kr5 & (start_y < 500), "nombre"] = None
    index = build_index(points, streets, locs, upz)
    assert index.avenues["PRUEBA"] == ["AK 5"]
    shape = index.avenue_xy[index.avenue_id == index.avenue_shapes["PRUEBA"]] - ORIGIN
    assert shape[:, 1].min() == pytest.approx(100, abs=0.5)  # from Calle 1
    assert shape[:, 1].max() == pytest.approx(1000, abs=0.5)  # to Calle 10
    np.testing.assert_allclose(shape[:, 0], -500, atol=0.5)


def test_avenue_table_from_stops(minicity_dir: Path) -> None:
    stops = loaders.load_sitp_stops(minicity_dir).copy()
    # three stops on Carrera 8 call it by a name
    stops.loc[[1, 3], "label"] = ["AV. Ocho - CL 2", "AV. Ocho - CL 8"]
    stops = pd.concat([stops, stops.iloc[[1]].assign(label="CL 2 - AV. Ocho")])
    table = build_avenue_table(loaders.load_streets(minicity_dir), stops)
    assert table["OCHO"] == ["KR 8"]


def test_load_index_caches_on_disk(minicity_dir: Path, tmp_path: Path) -> None:
    first = load_index(minicity_dir, cache_dir=tmp_path)
    cached = list(tmp_path.glob("geocode_index_*"))
    assert len(cached) == 1
    again = load_index(minicity_dir, cache_dir=tmp_path)
    assert again.fingerprint == first.fingerprint
    assert again.summary() == first.summary()
    assert list(again.labels) == list(first.labels)
    np.testing.assert_array_equal(again.face_house_key, first.face_house_key)
    assert again.avenues == first.avenues


def test_fingerprint_follows_the_inputs(minicity_dir: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "data"
    shutil.copytree(minicity_dir, copy)
    before = index_fingerprint(copy)
    target = copy / "addresses" / "placas_domiciliarias.parquet"
    stat = target.stat()
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert index_fingerprint(copy) != before


def test_missing_data_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(GeocodeError, match="placas_domiciliarias"):
        load_index(tmp_path, cache_dir=tmp_path / "cache")


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GEO_INTEGRATION_CACHE", str(tmp_path))
    assert default_cache_dir() == tmp_path
    monkeypatch.delenv("GEO_INTEGRATION_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "geo_integration"


@pytest.mark.shared_data
@pytest.mark.slow
def test_real_index_avenues_and_exact_point(shared_data: Path, tmp_path: Path) -> None:
    from geo_integration.geocoder import geocode_addresses

    # about 30 s to build; set GEO_INTEGRATION_CACHE to keep it between runs
    index = load_index(shared_data, cache_dir=os.environ.get("GEO_INTEGRATION_CACHE", tmp_path))
    assert index.avenues["BOYACA"][0] == "AK 72"
    assert index.avenues["NQS"][0].endswith(" 30")
    result = geocode_addresses(
        pd.Series(["Calle 9 # 2-39 Este", "Av. Boyacá # 23-10"]), index=index
    )
    assert result.loc[0, "match_level"] == "exact"
    assert result.loc[1, "match_level"] in ("exact", "interpolated", "intersection")
    assert 4.5 < result.loc[1, "lat"] < 4.8
