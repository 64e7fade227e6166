"""Tests of the geocode command's reader/writer and of the CLI command."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from geo_integration.cli import main
from geo_integration.errors import InputFileError
from geo_integration.geocode_io import read_table, write_table

ROWS = pd.DataFrame(
    {
        "id": ["1", "2", "3"],
        "dir": ["Calle 5 # 3-20", "Carrera 3 # 5-30", "nada"],
        "localidad": ["Kennedy", "Suba", "Kennedy"],
    }
)


@pytest.mark.parametrize("suffix", [".csv", ".xlsx", ".parquet", ".geojson"])
def test_read_each_kind(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"in{suffix}"
    if suffix == ".geojson":
        points = gpd.points_from_xy([0, 0, 0], [0, 0, 0])
        gpd.GeoDataFrame(ROWS, geometry=points, crs="EPSG:4326").to_file(path)
    elif suffix == ".xlsx":
        ROWS.to_excel(path, index=False)
    elif suffix == ".parquet":
        ROWS.to_parquet(path)
    else:
        ROWS.to_csv(path, index=False)
    table = read_table(path)
    assert list(table["dir"]) == list(ROWS["dir"])
    assert "geometry" not in table.columns


def test_read_semicolon_latin1_csv(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes("id;dir\n1;Calle 5 # 3-20 Bogotá\n".encode("latin-1"))
    assert read_table(path).loc[0, "dir"] == "Calle 5 # 3-20 Bogotá"


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="unknown file kind"):
        read_table(tmp_path / "x.pdf")
    with pytest.raises(InputFileError, match="not found"):
        read_table(tmp_path / "missing.csv")
    bad = tmp_path / "bad.parquet"
    bad.write_text("not parquet")
    with pytest.raises(InputFileError, match=r"bad\.parquet"):
        read_table(bad)


@pytest.mark.parametrize("suffix", [".csv", ".xlsx", ".parquet", ".geojson"])
def test_write_each_kind(tmp_path: Path, suffix: str) -> None:
    frame = gpd.GeoDataFrame(
        {"a": ["x", "y"], "lat": [4.6, None], "lon": [-74.1, None]},
        geometry=[gpd.points_from_xy([-74.1], [4.6])[0], None],
        crs="EPSG:4326",
    )
    path = write_table(frame, tmp_path / f"out{suffix}")
    back = read_table(path)
    assert list(back["a"]) == ["x", "y"]
    assert not list(tmp_path.glob(".*tmp"))


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, minicity_dir: Path, tmp_path: Path) -> Path:
    monkeypatch.setenv("GEO_INTEGRATION_DATA", str(minicity_dir))
    monkeypatch.setenv("GEO_INTEGRATION_CACHE", str(tmp_path / "cache"))
    return tmp_path


def test_cli_geocode_csv(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = env / "drop.csv"
    ROWS.to_csv(src, index=False)
    code = main(["geocode", str(src), "--address-col", "dir", "--localidad-col", "localidad"])
    assert code == 0
    out = pd.read_csv(env / "drop_geocoded.csv")
    assert list(out.columns) == [*ROWS.columns, "lat", "lon", "match_level", "confidence",
                                 "matched_address", "match_reason"]  # fmt: skip
    assert list(out["match_level"]) == ["exact", "interpolated", "area"]
    summary = capsys.readouterr().out
    assert "exact 1" in summary and "area 1" in summary
    assert (env / "cache" / "geocode_cache.sqlite").exists()


def test_cli_geocode_to_geoparquet_without_cache(env: Path) -> None:
    src = env / "drop.xlsx"
    ROWS.to_excel(src, index=False)
    target = env / "out.parquet"
    code = main(["geocode", str(src), "--address-col", "dir", "--out", str(target), "--no-cache"])
    assert code == 0
    out = gpd.read_parquet(target)
    assert out.geometry.notna().sum() == 2
    assert not (env / "cache" / "geocode_cache.sqlite").exists()


def test_cli_geocode_missing_column(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = env / "drop.csv"
    ROWS.to_csv(src, index=False)
    assert main(["geocode", str(src), "--address-col", "direccion"]) == 1
    err = capsys.readouterr().err
    assert "drop.csv" in err and "'direccion'" in err


def test_cli_geocode_usage_and_help(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["geocode", str(env / "x.csv")]) == 2  # --address-col is required
    assert main(["geocode", "--help"]) == 0
    assert "sensitive" in capsys.readouterr().out
