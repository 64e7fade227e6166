"""compute_access, AccessResult.write and the ``access`` command on the mini city."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from minicity import point_at, street_segments
from shapely.geometry import Point

from geo_integration.accessibility import _read_normalised_drop, compute_access, measure_keys
from geo_integration.cli import main
from geo_integration.config import Settings
from geo_integration.errors import AnalysisError, DropError, MissingColumnError
from geo_integration.network import network_from_centrelines


@pytest.fixture(scope="module")
def net():  # type: ignore[no-untyped-def]
    return network_from_centrelines(street_segments())


def drop_frames() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    # 12 households of 1 at Calle 2 between Carreras 2 and 3 (south-east: Ciudad Bolívar),
    # one of 3 at Calle 9 / Carrera 9 (north-west: Suba), one not located, one far away
    geoms = [point_at(2, 2.5)] * 12 + [point_at(9, 9), None, point_at(2, 14)]
    residences = gpd.GeoDataFrame(
        {"record_id": [f"r{i}" for i in range(15)], "household_size": [1] * 12 + [3, 2, 1]},
        geometry=geoms,
        crs="EPSG:4326",
        index=pd.RangeIndex(100, 115),
    )
    services = gpd.GeoDataFrame(
        {
            "service_id": ["s1", "s2", "h1"],
            "name": ["Colegio A", "Colegio B", "Hospital"],
            "secretariat": ["Educación", "Educación", None],
            "service_type": ["school", "school", "health"],
            "capacity": [120.0, np.nan, np.nan],
        },
        geometry=[point_at(2, 2), point_at(9, 8), point_at(5, 5)],
        crs="EPSG:4326",
    )
    return residences, services


def test_compute_access_known_by_hand(net, minicity_dir: Path) -> None:  # type: ignore[no-untyped-def]
    residences, services = drop_frames()
    result = compute_access(residences, services, net, settings=Settings(), data_dir=minicity_dir)
    res = result.residences
    assert res.index.equals(residences.index)
    assert result.keys == {
        "health": "service_type",
        "school": "service_type",
        "sec_educacion": "secretariat",
        "sec_salud": "secretariat",
    }
    # 50 m along Calle 2 to the school at Carrera 2: 50 / 75 minutes
    assert res.loc[100, "time_school"] == pytest.approx(50 / 75, rel=1e-6)
    assert res.loc[112, "time_school"] == pytest.approx(100 / 75, rel=1e-6)
    # to the hospital at Calle 5 / Carrera 5: 300 + 250 m
    assert res.loc[100, "time_health"] == pytest.approx(550 / 75, rel=1e-6)
    assert res.loc[100, "time_sec_educacion"] == res.loc[100, "time_school"]
    assert np.isnan(res.loc[113, "time_school"]) and not res.loc[113, "located"]
    assert res.loc[114, "far_from_network"] and res.loc[114, "snap_m"] == pytest.approx(
        400, rel=1e-3
    )
    # the far residence walks its 250 m to the grid and then along it
    assert res.loc[114, "time_school"] == pytest.approx((400 + 800) / 75, rel=1e-3)
    assert result.report["residences_not_located"] == 1
    assert result.report["residences_far_from_network"] == 1
    assert result.report["capacity"]["health"]["filled"] == 1
    loc = result.localities
    # the far residence lies outside every locality: it counts in its hexagon only
    assert loc.loc["19", "migrants"] == 12 and loc.loc["11", "migrants"] == 3
    assert loc.loc["19", "within_10_health"] == 12
    assert loc.loc["11", "within_10_health"] == 0 and loc.loc["11", "within_15_health"] == 3
    assert loc.loc["11", "share_within_10_health"] == 0.0
    assert loc.loc["08", "migrants"] == 0 and loc.loc["08", "residences"] == 0
    assert loc.loc["19", "median_time_school"] == pytest.approx(50 / 75, rel=1e-6)
    # E2SFCA by hand: every located migrant is within 30 minutes of the one hospital
    # (capacity unknown: 1 facility), weights by 10-minute zone
    # 12 people at 7.3 min (weight 1), 3 at 10.7 and 1 at 16 min (0.68): R = 1 / 14.72
    assert res.loc[100, "e2sfca_health"] == pytest.approx(1 / 14.72)
    assert res.loc[112, "e2sfca_health"] == pytest.approx(0.68 / 14.72)
    assert res.loc[100, "two_sfca_health"] == pytest.approx(1 / 16)
    hexes = result.hexagons
    assert hexes["migrants"].sum() == 16 and "centroid_time_school" in hexes.columns
    assert set(result.service_areas["key"]) == set(result.keys)
    assert (result.service_areas["area_km2"] > 0).all()


def test_write_suppresses_and_never_writes_residences(
    net, minicity_dir: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    residences, services = drop_frames()
    result = compute_access(
        residences,
        services,
        net,
        settings=Settings(),
        data_dir=minicity_dir,
        with_service_areas=False,
    )
    paths = result.write(tmp_path)
    assert {p.name for p in paths} >= {
        "access_hexagons.parquet",
        "access_upz.csv",
        "access_localities.csv",
        "access_report.json",
    }
    loc = gpd.read_parquet(tmp_path / "access_localities.parquet")
    assert loc.loc["11", "suppressed"] and np.isnan(loc.loc["11", "migrants"])
    assert not loc.loc["19", "suppressed"] and loc.loc["19", "migrants"] == 12
    hexes = gpd.read_parquet(tmp_path / "access_hexagons.parquet")
    small = result.hexagons.index[result.hexagons["migrants"] < Settings().privacy_k]
    assert len(small) and not set(small) & set(hexes.index)  # left out, not blanked
    assert (hexes["migrants"] >= Settings().privacy_k).all()
    for path in paths:
        text = path.read_bytes()
        assert b"r10" not in text and b"record_id" not in text and b"snap_m" not in text
    assert not any("residence" in p.name for p in tmp_path.iterdir())


def test_measure_keys_and_errors(net, minicity_dir: Path) -> None:  # type: ignore[no-untyped-def]
    _res, services = drop_frames()
    keys = measure_keys(services, service_types=["School"], secretariats=Settings().secretariats)
    assert list(keys) == ["school", "sec_educacion"]
    with pytest.raises(AnalysisError):
        measure_keys(services, service_types=["library"])
    residences, _svc = drop_frames()
    with pytest.raises(MissingColumnError):
        compute_access(
            residences.drop(columns="household_size"), services, net, data_dir=minicity_dir
        )


def write_drop(folder: Path) -> Path:
    residences, services = drop_frames()
    folder.mkdir(parents=True, exist_ok=True)
    residences.to_parquet(folder / "residences.parquet")
    services.to_parquet(folder / "services.parquet")
    return folder


def test_read_normalised_drop_errors(tmp_path: Path) -> None:
    with pytest.raises(DropError):
        _read_normalised_drop(tmp_path / "nope")
    folder = write_drop(tmp_path / "drop")
    res, svc = _read_normalised_drop(folder)
    assert len(res) == 15 and len(svc) == 3
    gpd.GeoDataFrame({"x": [1]}, geometry=[Point(0, 0)], crs="EPSG:4326").to_parquet(
        folder / "services.parquet"
    )
    with pytest.raises(MissingColumnError, match=r"services\.parquet"):
        _read_normalised_drop(folder)


def test_cli_access(
    minicity_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("GEO_INTEGRATION_CACHE", str(tmp_path / "cache"))
    drop = write_drop(tmp_path / "drop")
    out = tmp_path / "out"
    code = main(
        [
            "access",
            str(drop),
            "--service-type",
            "school",
            "--thresholds",
            "5,20",
            "--out",
            str(out),
            "--data-dir",
            str(minicity_dir),
            "--no-service-areas",
        ]
    )
    assert code == 0, capsys.readouterr().err
    upz = pd.read_csv(out / "access_upz.csv")
    assert "within_5_school" in upz.columns and "share_within_20_sec_educacion" in upz.columns
    assert "time_health" not in upz.columns and "median_time_health" not in upz.columns
    assert list((tmp_path / "cache").rglob("network-*.npz"))
    assert (
        main(
            [
                "access",
                str(tmp_path / "missing"),
                "--out",
                str(out),
                "--data-dir",
                str(minicity_dir),
            ]
        )
        == 1
    )
    assert "missing" in capsys.readouterr().err
    assert main(["access", str(drop), "--thresholds", "ten", "--out", str(out)]) == 2


def test_weighted_median_by_hand() -> None:
    from geo_integration.accessibility import _weighted_median

    codes = np.array([0, 1, 0, 0, 1, 2])
    values = np.array([3.0, 5.0, 1.0, 2.0, np.nan, np.nan])
    weights = np.array([1.0, 1.0, 1.0, 2.0, 1.0, 4.0])
    # group 0: 1 (w 1), 2 (w 2), 3 (w 1): half of 4 is reached at 2; group 2 has no values
    got = _weighted_median(codes, 4, values, weights)
    np.testing.assert_array_equal(got, [2.0, 5.0, np.nan, np.nan])
    # an even split takes the lower value, as "at least half at or below"
    got = _weighted_median(np.zeros(2, dtype=np.int64), 1, np.array([7.0, 1.0]), np.ones(2))
    assert got.tolist() == [1.0]
