from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Polygon

from geo_integration.privacy_check import Needles, build_needles, scan_outputs, scan_text


@pytest.fixture
def residences() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": ["CASO-00017", "CASO-00018"],
            "direccion": ["Calle 45 # 23-10 apto 301", "Cra 7 Bis A # 32-16 Sur"],
            "latitud": [4.612345, 4.701234],
            "longitud": [-74.081234, -74.051111],
            "nombre": ["Persona Ficticia Uno", None],
            "telefono": ["3001234567", "3007654321"],
        }
    )


def _needles(residences: pd.DataFrame, **kw: object) -> Needles:
    return build_needles(
        residences,
        lat_col="latitud",
        lon_col="longitud",
        address_cols=["direccion"],
        id_cols=["id"],
        personal_cols=["nombre", "telefono"],
        **kw,  # type: ignore[arg-type]
    )


def test_clean_aggregate_passes(residences: pd.DataFrame) -> None:
    text = "loc_code,migrants\n08,120\n11,95\n"
    assert scan_text(text, _needles(residences)) == []


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ('{"type": "Point", "coordinates": [-74.08123, 4.61234]}', "coordinates"),
        ("L.marker([4.6123, -74.0812], {})", "coordinates"),
        ('{"lat": 4.61234, "lng": -74.08124}', "coordinates"),
        ("POINT (-74.08123 4.61234)", "coordinates"),
        ("<td>CALLE 45 23 10 APTO 301</td>", "address"),
        ("row CASO-00017 here", "id"),
        ("tel 3001234567", "personal_field"),
    ],
)
def test_each_kind_of_leak_is_found(residences: pd.DataFrame, text: str, kind: str) -> None:
    kinds = {k for k, _ in scan_text(text, _needles(residences))}
    assert kinds == {kind}


def test_public_points_and_h3_centres_are_allowed(residences: pd.DataFrame) -> None:
    needles = _needles(residences, allowed_points=[(4.612345, -74.081234)])
    assert scan_text("L.marker([4.61234, -74.08123])", needles) == []
    cell = h3.latlng_to_cell(4.612345, -74.081234, 9)
    lat, lon = h3.cell_to_latlng(cell)
    fake = build_needles(pd.DataFrame({"lat": [lat], "lon": [lon]}))
    assert scan_text(f"L.marker([{lat:.6f}, {lon:.6f}])", fake) == []


def test_a_polygon_tracing_homes_is_found_but_chance_vertices_are_not() -> None:
    rng = np.random.default_rng(0)
    lat = 4.6 + rng.uniform(0, 0.01, 300)
    lon = -74.1 + rng.uniform(0, 0.01, 300)
    needles = build_needles(pd.DataFrame({"lat": lat, "lon": lon}))
    ring = ", ".join(f"[{b:.6f}, {a:.6f}]" for a, b in zip(lat[:20], lon[:20], strict=True))
    traced = f'{{"coordinates": [[{ring}]]}}'
    found = scan_text(traced, needles)
    assert found and found[0][0] == "coordinates" and "vertices" in found[0][1]
    # 2,000 random vertices over the same extent: some fall on a home by chance only
    vlat = 4.6 + rng.uniform(0, 0.01, 2000)
    vlon = -74.1 + rng.uniform(0, 0.01, 2000)
    ring = ", ".join(f"[{b:.6f}, {a:.6f}]" for a, b in zip(vlat, vlon, strict=True))
    assert scan_text(f'{{"coordinates": [[{ring}]]}}', needles) == []


def test_public_addresses_are_not_needles(residences: pd.DataFrame) -> None:
    needles = _needles(residences, public_addresses=["CALLE 45 # 23-10 APTO 301"])
    assert scan_text("CALLE 45 23 10 APTO 301", needles) == []


def test_detail_never_repeats_the_value(residences: pd.DataFrame) -> None:
    found = scan_text("CASO-00017 [4.612345, -74.081234]", _needles(residences))
    assert found and all("CASO" not in d and "4.61" not in d for _, d in found)


def test_scan_outputs_reads_parquet_csv_xlsx_and_html(
    residences: pd.DataFrame, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "ok.json").write_text(json.dumps({"migrants": 3}), encoding="utf-8")
    gpd.GeoDataFrame(
        {"n": [1]}, geometry=gpd.points_from_xy([-74.081234], [4.612345]), crs="EPSG:4326"
    ).to_parquet(out / "points.parquet")
    square = Polygon([(-74.2, 4.5), (-74.2, 4.51), (-74.19, 4.51), (-74.2, 4.5)])
    gpd.GeoDataFrame({"n": [1]}, geometry=[square], crs="EPSG:4326").to_parquet(
        out / "area.parquet"
    )
    pd.DataFrame({"x": ["Calle 45 # 23-10 apto 301"]}).to_excel(out / "t.xlsx", index=False)
    pd.DataFrame({"lat": [4.70123], "lon": [-74.05111]}).to_csv(out / "rows.csv", index=False)
    (out / "map.html").write_text(
        "<script>L.marker([4.70123, -74.05111])</script>", encoding="utf-8"
    )
    (out / "skip").mkdir()
    (out / "skip" / "x.html").write_text("[4.70123, -74.05111]", encoding="utf-8")
    leaks = scan_outputs(out, _needles(residences), skip=["skip"])
    assert {(leak.path, leak.kind) for leak in leaks} == {
        ("points.parquet", "coordinates"),
        ("t.xlsx", "address"),
        ("rows.csv", "coordinates"),
        ("map.html", "coordinates"),
    }


def test_address_phrases_found_whole_only(residences: pd.DataFrame) -> None:
    needles = _needles(residences)
    assert scan_text("<p>Servicio en CALLE 45 23 11, no en la 10</p>", needles) == []
    found = scan_text("a b CALLE 45 23 10 APTO 301 c CRA 7 BIS A 32 16 SUR", needles)
    assert ("address", "2 residence address(es)") in found


def test_membership_by_binary_search_equals_isin() -> None:
    from geo_integration.privacy_check import _member

    rng = np.random.default_rng(3)
    homes = np.unique(rng.integers(-50, 50, 40))
    keys = rng.integers(-60, 60, 500)
    assert np.array_equal(_member(keys, homes), np.isin(keys, homes))
    assert not _member(keys, homes[:0]).any()
