"""Tests of the geocoding index (geo_integration.geocode_index) on the mini city."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from minicity import ORIGIN, reference_layers

from geo_integration import loaders
from geo_integration.errors import GeocodeError
from geo_integration.geocode_index import (
    build_avenue_table,
    build_index,
    default_cache_dir,
    index_fingerprint,
    load_index,
)


def to_metric(lon: float, lat: float) -> tuple[float, float]:
    from pyproj import Transformer

    return Transformer.from_crs("EPSG:4326", "EPSG:9377", always_xy=True).transform(lon, lat)


def test_index_of_the_mini_city(minicity_dir: Path) -> None:
    index = build_index(*reference_layers(minicity_dir))
    assert len(index.labels) == 720
    assert len(index.faces) == 180  # 90 calle faces and 90 carrera faces
    assert "CL 5|10" in index.corners  # centreline junction, no points
    corner = index.corners.get_loc("CL 5|3")
    np.testing.assert_allclose(index.corner_xy[corner] - ORIGIN, [-300, 500], atol=0.5)
    np.testing.assert_allclose(index.corner_dir[corner], [-1, 0], atol=1e-6)
    assert len(index.grid_uv) == 100
    assert {"KENNEDY", "SUBA", "08", "UPZ DE PRUEBA 1", "UPZ1"} <= set(index.areas["key"])


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
    points, streets, locs, upz = reference_layers(minicity_dir)
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
