"""Reading candidate files and sampling candidate nodes in hexagons."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from minicity import ORIGIN, point_at, to_wgs
from shapely.geometry import box

from geo_integration.areas import h3_cells
from geo_integration.errors import AnalysisError, InputFileError, MissingColumnError
from geo_integration.siting_candidates import (
    coincides_with_existing,
    read_candidates,
    sample_candidates_in_hexagons,
)

CSV = """codigo;nombre;latitud;longitud
A1;Colegio Uno;4,6210;-74,1010
A2;Biblioteca;abc;-74.1
A3;Swapped;-74.10;4.62
A1;Duplicate;4.63;-74.10
A5;Parque;4.64;-74.09
A6;Empty lat;;-74.09
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_bad_rows_are_dropped_and_reported(tmp_path: Path) -> None:
    got = read_candidates(write(tmp_path, "cand.csv", CSV))
    assert got.frame["candidate_id"].tolist() == ["A1", "A5"]
    assert got.frame["name"].tolist() == ["Colegio Uno", "Parque"]
    assert got.frame.crs.to_epsg() == 4326
    assert got.frame["lat"].iloc[0] == pytest.approx(4.621)  # decimal comma read
    assert got.frame["source_row"].tolist() == [2, 6]  # file lines (header is line 1)
    problems = dict(zip(got.dropped["row"], got.dropped["problem"], strict=True))
    assert set(problems) == {3, 4, 5, 7}
    assert "'abc' is not a number" in problems[3]
    assert "swapped" in problems[4]
    assert "duplicate candidate id 'A1'" in problems[5]
    assert "empty" in problems[7]


def test_strict_raises_on_first_bad_row(tmp_path: Path) -> None:
    with pytest.raises(InputFileError) as info:
        read_candidates(write(tmp_path, "cand.csv", CSV), strict=True)
    assert info.value.row == 3
    assert info.value.column == "latitud"
    assert "cand.csv, row 3, column 'latitud'" in str(info.value)


def test_projected_xy_detected(tmp_path: Path) -> None:
    text = f"x,y,name\n{ORIGIN[0]:.2f},{ORIGIN[1]:.2f},centro\n"
    got = read_candidates(write(tmp_path, "xy.csv", text))
    assert got.frame["lon"].iloc[0] == pytest.approx(-74.10, abs=1e-6)
    assert got.frame["lat"].iloc[0] == pytest.approx(4.62, abs=1e-6)
    assert got.frame["candidate_id"].tolist() == ["C2"]
    assert any("EPSG:9377" in note for note in got.notes)


def test_unknown_xy_system_and_missing_columns(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="pass crs="):
        read_candidates(write(tmp_path, "a.csv", "x,y\n1,2\n"))
    with pytest.raises(MissingColumnError, match="no coordinate columns"):
        read_candidates(write(tmp_path, "b.csv", "name,address\nx,y\n"))
    with pytest.raises(InputFileError, match="not found"):
        read_candidates(tmp_path / "missing.csv")
    with pytest.raises(InputFileError, match="no usable candidate rows"):
        read_candidates(write(tmp_path, "c.csv", "lat,lon\n40.4,-3.7\n"))
    with pytest.raises(InputFileError, match="unsupported"):
        read_candidates(write(tmp_path, "d.doc", "x"))


def test_geojson_polygons_become_inner_points(tmp_path: Path) -> None:
    square = box(-74.102, 4.618, -74.098, 4.622)
    frame = gpd.GeoDataFrame(
        {"id": ["area-1", "stop-2"], "nombre": ["Zona", "Estación"]},
        geometry=[square, point_at(5, 5)],
        crs="EPSG:4326",
    ).to_crs("EPSG:9377")
    path = tmp_path / "c.gpkg"
    frame.to_file(path)
    got = read_candidates(path)
    assert got.frame["candidate_id"].tolist() == ["area-1", "stop-2"]
    assert square.contains(got.frame.geometry.iloc[0])
    assert got.frame.geometry.iloc[1].distance(point_at(5, 5)) < 1e-7
    assert got.frame["source_row"].tolist() == [0, 1]
    assert any("Polygon" in note for note in got.notes)


def test_parquet_table_and_explicit_columns(tmp_path: Path) -> None:
    path = tmp_path / "c.parquet"
    pd.DataFrame({"site": ["s1"], "label": ["Uno"], "lat": [4.6], "lon": [-74.1]}).to_parquet(path)
    got = read_candidates(path, id_column="site", name_column="label")
    assert got.frame["candidate_id"].tolist() == ["s1"]
    assert got.frame["name"].tolist() == ["Uno"]
    with pytest.raises(MissingColumnError, match="'nope'"):
        read_candidates(path, id_column="nope")


def test_sample_candidates_in_hexagons_is_seeded_and_inside() -> None:
    xs, ys = np.meshgrid(np.arange(0, 1000, 50.0), np.arange(0, 1000, 50.0))
    lon, lat = to_wgs(xs.ravel(), ys.ravel())
    node_cells = h3_cells(lat, lon, resolution=9)
    cells = pd.Series(node_cells).value_counts().index[:3].tolist()
    idx, labels = sample_candidates_in_hexagons(cells, lat, lon, per_cell=2, seed=1)
    assert len(idx) == 6
    assert (node_cells[idx] == labels).all()
    assert set(labels) == set(cells)
    again, _ = sample_candidates_in_hexagons(cells, lat, lon, per_cell=2, seed=1)
    assert np.array_equal(idx, again)
    few, _ = sample_candidates_in_hexagons(cells[:1], lat, lon, per_cell=10_000)
    assert few.size == int((node_cells == cells[0]).sum())
    with pytest.raises(AnalysisError, match="not H3"):
        sample_candidates_in_hexagons(["zzz"], lat, lon)


def test_coincides_with_existing() -> None:
    cand = np.array([[0.0, 0.0], [100.0, 0.0], [5.0, 5.0]])
    exist = np.array([[1.0, 1.0]])
    assert coincides_with_existing(cand, exist).tolist() == [True, False, True]
    assert coincides_with_existing(cand, np.zeros((0, 2))).tolist() == [False] * 3
