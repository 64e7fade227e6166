from __future__ import annotations

import json
from pathlib import Path

import h3
import pandas as pd
import pytest

from geo_integration.privacy_check import build_needles, scan_outputs, scan_text


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


def _needles(residences: pd.DataFrame):  # type: ignore[no-untyped-def]
    return build_needles(
        residences,
        lat_col="latitud",
        lon_col="longitud",
        address_cols=["direccion"],
        id_cols=["id"],
        personal_cols=["nombre", "telefono"],
    )


def test_clean_aggregate_passes(residences: pd.DataFrame) -> None:
    text = "loc_code,migrants\n08,120\n11,95\n"
    assert scan_text(text, _needles(residences)) == []


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ('{"type": "Point", "coordinates": [-74.08123, 4.61234]}', "coordinates"),
        ("L.marker([4.6123, -74.0812])", "coordinates"),
        ("lat,lon\n4.61234,-74.08124\n", "coordinates"),
        ("<td>CALLE 45 23 10 APTO 301</td>", "address"),
        ("row CASO-00017 here", "id"),
        ("tel 3001234567", "personal_field"),
    ],
)
def test_each_kind_of_leak_is_found(residences: pd.DataFrame, text: str, kind: str) -> None:
    kinds = {k for k, _ in scan_text(text, _needles(residences))}
    assert kinds == {kind}


def test_coarse_and_h3_coordinates_are_not_leaks(residences: pd.DataFrame) -> None:
    needles = _needles(residences)
    assert scan_text("[-74.081, 4.612]", needles) == []  # 3 decimals: about 110 m
    cell = h3.latlng_to_cell(4.612345, -74.081234, 9)
    lat, lon = h3.cell_to_latlng(cell)
    fake = build_needles(pd.DataFrame({"lat": [lat], "lon": [lon]}))
    assert scan_text(f"[{lon:.6f}, {lat:.6f}]", fake) == []


def test_detail_never_repeats_the_value(residences: pd.DataFrame) -> None:
    found = scan_text("CASO-00017 4.612345 -74.081234", _needles(residences))
    assert found and all("CASO" not in d and "4.61" not in d for _, d in found)


def test_scan_outputs_reads_parquet_xlsx_and_html(residences: pd.DataFrame, tmp_path: Path) -> None:
    import geopandas as gpd

    out = tmp_path / "out"
    out.mkdir()
    (out / "ok.json").write_text(json.dumps({"migrants": 3}), encoding="utf-8")
    gpd.GeoDataFrame(
        {"n": [1]}, geometry=gpd.points_from_xy([-74.081234], [4.612345]), crs="EPSG:4326"
    ).to_parquet(out / "points.parquet")
    pd.DataFrame({"x": ["Calle 45 # 23-10 apto 301"]}).to_excel(out / "t.xlsx", index=False)
    (out / "map.html").write_text(
        "<script>var p = [4.70123, -74.05111];</script>", encoding="utf-8"
    )
    leaks = scan_outputs(out, _needles(residences))
    assert {(leak.path, leak.kind) for leak in leaks} == {
        ("points.parquet", "coordinates"),
        ("t.xlsx", "address"),
        ("map.html", "coordinates"),
    }
