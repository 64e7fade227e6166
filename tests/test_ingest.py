from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pyarrow as pa
import pytest
from minicity import point_at
from pyproj import Transformer
from shapely.geometry import Point, Polygon

from geo_integration.cli import main
from geo_integration.errors import DropError, GeocodeError
from geo_integration.ingest import ingest_drop, locate_in_polygons, resolve_drop
from geo_integration.privacy import keyed_hash64
from geo_integration.store import Drop, list_drops

P1 = point_at(2, 8)  # Kennedy ('08') in the mini city
P2 = point_at(9, 2)  # La Candelaria ('17')
FAR_OUT = Point(-74.05, 4.70)  # inside the Bogotá region, outside the mini city's localities


@pytest.fixture(autouse=True)
def _no_default_data(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEO_INTEGRATION_DATA", str(tmp_path_factory.mktemp("nodata")))
    monkeypatch.delenv("GEO_INTEGRATION_STORE", raising=False)


def make_drop(folder: Path, files: dict[str, str | bytes | Callable[[Path], None]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if callable(content):
            content(path)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return folder


def check_invariant(drop: Drop) -> None:
    """rows read == accepted + quarantined for every file, and the store agrees."""
    quarantine = drop.quarantine
    for entry in drop.report["files"]:
        assert entry["rows_read"] == entry["rows_accepted"] + entry["rows_quarantined"], entry
        assert sum(entry["quarantine_reasons"].values()) == entry["rows_quarantined"]
        assert (quarantine["source_file"] == entry["path"]).sum() == entry["rows_quarantined"]
        if entry["kind"] in ("residences", "services"):
            table = getattr(drop, entry["kind"])
            assert (table["source_file"] == entry["path"]).sum() == entry["rows_accepted"]


def ingest(folder: Path, store: Path, **options: object) -> Drop:
    drop = ingest_drop(folder, store=store, **options)  # type: ignore[arg-type]
    check_invariant(drop)
    return drop


def entry(drop: Drop, path: str) -> dict[str, object]:
    return next(e for e in drop.report["files"] if e["path"] == path)


def csv_rows(header: str, *rows: str) -> str:
    return "\n".join([header, *rows]) + "\n"


def xy(p: Point) -> str:
    return f"{p.y:.7f},{p.x:.7f}"


# ------------------------------------------------------------------------------- formats


def _xlsx(path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Residentes junio"])
    sheet.append(["id", "latitud", "longitud", "personas"])
    sheet.append(["X1", P1.y, P1.x, 3])
    sheet.append(["X2", P2.y, P2.x, None])
    book.save(path)


def _geo(kind: str) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        frame = gpd.GeoDataFrame(
            {"id": [f"{kind}1", f"{kind}2"], "personas": [1, 2]},
            geometry=[P1, P2],
            crs="EPSG:4326",
        )
        if kind == "parquet":
            frame.iloc[:1].to_parquet(path)
        elif kind == "gpkg":
            frame.iloc[:1].to_crs("EPSG:9377").to_file(path, layer="hogares")
        else:
            frame.to_file(path)

    return write


def test_every_format_ingested(tmp_path: Path, minicity_dir: Path) -> None:
    drop_dir = make_drop(
        tmp_path / "drop",
        {
            "residentes.csv": csv_rows("id,latitud,longitud", f"C1,{xy(P1)}", f"C2,{xy(P2)}"),
            "residentes_b.xlsx": _xlsx,
            "residentes_c.geojson": _geo("geojson"),
            "residentes_d.gpkg": _geo("gpkg"),
            "residentes_e.parquet": _geo("parquet"),
            "servicios.csv": csv_rows(
                "id;nombre;secretaria;tipo;capacidad;horario;latitud;longitud",
                f"S1;Colegio Uno;Educación;Colegio;120;L-V 7-13;{P1.y:.7f};{P1.x:.7f}".replace(
                    ".", ","
                ),
                f"S2;CADE Sur;Gobierno;SuperCADE;;24h;{P2.y:.7f};{P2.x:.7f}".replace(".", ","),
            ),
        },
    )
    drop = ingest(drop_dir, tmp_path / "store", data_dir=minicity_dir)
    counts = {
        e["path"]: (e["kind"], e["rows_read"], e["rows_accepted"]) for e in drop.report["files"]
    }
    assert counts == {
        "residentes.csv": ("residences", 2, 2),
        "residentes_b.xlsx": ("residences", 2, 2),
        "residentes_c.geojson": ("residences", 2, 2),
        "residentes_d.gpkg": ("residences", 1, 1),
        "residentes_e.parquet": ("residences", 1, 1),
        "servicios.csv": ("services", 2, 2),
    }
    assert entry(drop, "residentes_b.xlsx")["header_row"] == 2
    assert entry(drop, "residentes_d.gpkg")["crs"] == "EPSG:9377"
    res = drop.residences.set_index("source_file")
    assert res.crs.to_epsg() == 4326
    assert res.loc["residentes_d.gpkg", "lon"] == pytest.approx(P1.x, abs=1e-7)
    assert res.loc["residentes_b.xlsx", "household_size"].tolist() == [3, 1]
    assert sorted(drop.residences["loc_code"]) == ["08"] * 5 + ["17"] * 3
    svc = drop.services.set_index("service_id")
    assert (
        svc.loc["S1", "service_type"] == "school"
        and svc.loc["S2", "service_type"] == "citizen_service"
    )
    assert svc.loc["S1", "capacity"] == 120 and np.isnan(svc.loc["S2", "capacity"])
    assert svc.loc["S1", "name"] == "Colegio Uno" and svc.loc["S1", "secretariat"] == "Educación"
    assert svc.loc["S1", "lat"] == pytest.approx(P1.y, abs=1e-7)
    assert drop.report["totals"]["residences"] == 8 and drop.report["totals"]["services"] == 2


@pytest.mark.parametrize(
    ("encoding", "delimiter"),
    [("utf-8", ";"), ("utf-8-sig", ","), ("cp1252", "\t"), ("latin-1", ";"), ("utf-16", "\t")],
)
def test_encodings_delimiters_and_decimal_comma(
    tmp_path: Path, encoding: str, delimiter: str
) -> None:
    lat, lon = f"{P1.y:.6f}".replace(".", ","), f"{P1.x:.6f}".replace(".", ",")
    if delimiter == ",":
        lat, lon = f'"{lat}"', f'"{lon}"'
    d = delimiter
    text = f"id{d}localidad{d}latitud{d}longitud\nA{d}Ciudad Bolívar{d}{lat}{d}{lon}\n"
    drop_dir = make_drop(tmp_path / "drop", {"residentes.csv": text.encode(encoding)})
    drop = ingest(drop_dir, tmp_path / "store")
    (row,) = drop.residences.itertuples()
    assert row.localidad == "Ciudad Bolívar" and row.loc_code_given == "19"
    assert row.lat == pytest.approx(round(P1.y, 6)) and row.lon == pytest.approx(round(P1.x, 6))
    assert entry(drop, "residentes.csv")["delimiter"] == delimiter


# ------------------------------------------------------------------------------- CRS cases


def _proj(crs: str, p: Point) -> tuple[float, float]:
    return Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(p.x, p.y)


def _crs_case(case: str) -> dict[str, str]:
    if case == "wgs84":
        return {"residentes.csv": csv_rows("id,lat,lon", f"A,{xy(P1)}", f"B,{xy(P2)}")}
    if case == "swapped":
        return {
            "residentes.csv": csv_rows(
                "id,lat,lon", *(f"{k},{p.x},{p.y}" for k, p in (("A", P1), ("B", P2)))
            )
        }
    if case in ("3116_in_lat_lon", "9377_as_x_y"):
        crs = "EPSG:3116" if case.startswith("3116") else "EPSG:9377"
        header = "id,latitud,longitud" if crs == "EPSG:3116" else "id,y,x"
        rows = [
            f"{k},{_proj(crs, p)[1]:.3f},{_proj(crs, p)[0]:.3f}" for k, p in (("A", P1), ("B", P2))
        ]
        return {"residentes.csv": csv_rows(header, *rows)}
    if case == "4686_declared":
        rows = [
            f"{k},{_proj('EPSG:4686', p)[1]:.8f},{_proj('EPSG:4686', p)[0]:.8f}"
            for k, p in (("A", P1), ("B", P2))
        ]
        return {
            "hogares.csv": csv_rows("codigo,lat,lon", *rows),
            "drop.toml": '[files."hogares.csv"]\nkind = "residences"\ncrs = "EPSG:4686"\n',
        }
    rows = [
        f"{k};{_proj('EPSG:3116', p)[0]:.2f};{_proj('EPSG:3116', p)[1]:.2f}".replace(".", ",")
        for k, p in (("A", P1), ("B", P2))
    ]
    return {
        "hogares.csv": csv_rows("codigo;este;norte", *rows),
        "drop.toml": (
            '[files."hogares.csv"]\nkind = "residences"\ncrs = "EPSG:3116"\ndecimal = ","\n'
            'columns = { id = "codigo", lon = "este", lat = "norte" }\n'
        ),
    }


@pytest.mark.parametrize(
    ("case", "crs", "source"),
    [
        ("wgs84", "EPSG:4326", "detected"),
        ("swapped", "EPSG:4326", "detected"),
        ("3116_in_lat_lon", "EPSG:3116", "detected"),
        ("9377_as_x_y", "EPSG:9377", "detected"),
        ("4686_declared", "EPSG:4686", "declared"),
        ("3116_mapped_columns", "EPSG:3116", "declared"),
    ],
)
def test_crs_cases(tmp_path: Path, case: str, crs: str, source: str) -> None:
    drop = ingest(make_drop(tmp_path / "drop", _crs_case(case)), tmp_path / "store")
    (file_entry,) = [e for e in drop.report["files"] if e["kind"] == "residences"]
    assert (file_entry["crs"], file_entry["crs_source"]) == (crs, source)
    res = drop.residences.sort_values("source_row")
    assert res["lon"].to_numpy() == pytest.approx([P1.x, P2.x], abs=1e-6)
    assert res["lat"].to_numpy() == pytest.approx([P1.y, P2.y], abs=1e-6)
    assert (res["coord_source"] == "input").all()


def test_single_swapped_row_fixed_and_counted(tmp_path: Path) -> None:
    files = {"residentes.csv": csv_rows("id,lat,lon", f"A,{xy(P1)}", f"B,{P2.x},{P2.y}")}
    drop = ingest(make_drop(tmp_path / "drop", files), tmp_path / "store")
    assert entry(drop, "residentes.csv")["swapped_rows"] == 1
    assert drop.residences["lat"].to_numpy() == pytest.approx([P1.y, P2.y])


# ------------------------------------------------------------------------------- quarantine

GOOD = xy(P1)
RESIDENTS = csv_rows(
    "id,direccion,latitud,longitud,personas,localidad,nombre",
    f"R1,CL 1,{GOOD},2,Kennedy,Ana",  # 2 accepted
    f"R2,{'x' * 600},{GOOD},1,,Ana",  # 3 field_too_long
    f'R3,"CL 2\x01",{GOOD},1,,Ana',  # 4 control_characters
    f'R4,"=HYPERLINK(""http://x"",""y"")",{GOOD},1,,Ana',  # 5 formula_injection
    f"R5,<b onclick=x>CL 3</b>,{GOOD},1,,Ana",  # 6 markup_in_text
    "R6,CL 3,nan,-74.1,1,,Ana",  # 7 non_finite_coordinates
    "R7,CL 3,4.6N,-74.1,1,,Ana",  # 8 bad_coordinates
    "R8,CL 3,4.6,,1,,Ana",  # 9 partial_coordinates
    "R9,CL 3,0,0,1,,Ana",  # 10 outside_bogota_region
    f"R10,CL 3,{GOOD},0,,Ana",  # 11 bad_household_size
    f"R11,CL 3,{GOOD},2.5,,Ana",  # 12 bad_household_size
    ",,,,1,,Ana",  # 13 no_location
    f"R1,CL 9,{GOOD},1,,Ana",  # 14 duplicate_id
    "R12,KR 10 # 20-30,,,3,Suba,Ana",  # 15 accepted, waits for geocoding
    "1,2,3,4,5,6,7,8",  # 16 wrong_field_count
    "",  # 17 blank: not a row
    f"R13,CL 4,{GOOD},,,Ana",  # 18 accepted, household size 1
)
SERVICES = csv_rows(
    "id,nombre,tipo,capacidad,latitud,longitud",
    f"S1,Colegio,colegio,10,{GOOD}",
    f"S2,Jardín,jardin infantil,-3,{GOOD}",
    f"S3,CADE,cade,muchos,{GOOD}",
    f"S4,\"=cmd|' /C calc'!A0\",cade,1,{GOOD}",
)


def _geo_reasons(path: Path) -> None:
    gpd.GeoDataFrame(
        {"id": ["R1", "G2", "G3"]},
        geometry=[P1, Polygon([(P1.x, P1.y), (P2.x, P1.y), (P2.x, P2.y)]), P2],
        crs="EPSG:4326",
    ).to_file(path)


def test_every_quarantine_reason(tmp_path: Path) -> None:
    files = {
        "residentes.csv": RESIDENTS,
        "servicios.csv": SERVICES,
        "residentes_geo.geojson": _geo_reasons,
    }
    drop = ingest(make_drop(tmp_path / "drop", files), tmp_path / "store")
    got = {(q.source_file, q.source_row): q.reason for q in drop.quarantine.itertuples()}
    assert got == {
        ("residentes.csv", 3): "field_too_long",
        ("residentes.csv", 4): "control_characters",
        ("residentes.csv", 5): "formula_injection",
        ("residentes.csv", 6): "markup_in_text",
        ("residentes.csv", 7): "non_finite_coordinates",
        ("residentes.csv", 8): "bad_coordinates",
        ("residentes.csv", 9): "partial_coordinates",
        ("residentes.csv", 10): "outside_bogota_region",
        ("residentes.csv", 11): "bad_household_size",
        ("residentes.csv", 12): "bad_household_size",
        ("residentes.csv", 13): "no_location",
        ("residentes.csv", 14): "duplicate_id",
        ("residentes.csv", 16): "wrong_field_count",
        ("servicios.csv", 3): "bad_capacity",
        ("servicios.csv", 4): "bad_capacity",
        ("servicios.csv", 5): "formula_injection",
        ("residentes_geo.geojson", 0): "duplicate_id",  # R1 came first in residentes.csv
        ("residentes_geo.geojson", 1): "bad_geometry",
    }
    res = entry(drop, "residentes.csv")
    assert (res["rows_read"], res["rows_accepted"], res["blank_rows"]) == (16, 3, 1)
    assert res["pending_geocoding"] == 1
    pending = drop.residences.set_index("source_row").loc[15]
    assert pending["coord_source"] == "none" and np.isnan(pending["lon"])
    assert pending["household_size"] == 3 and drop.residences.geometry.isna().sum() == 1
    assert drop.report["geocoding"] == {"done": False, "pending": 1}


def test_quarantine_keeps_original_values_without_personal_fields(tmp_path: Path) -> None:
    drop = ingest(make_drop(tmp_path / "drop", {"residentes.csv": RESIDENTS}), tmp_path / "store")
    rows = drop.quarantine_rows("residentes.csv").set_index("source_row")
    assert rows.loc[8, "latitud"] == "4.6N" and rows.loc[8, "reason"] == "bad_coordinates"
    assert rows.loc[5, "direccion"] == '=HYPERLINK("http://x","y")'
    assert "nombre" not in rows.columns
    assert json.loads(drop.quarantine.set_index("source_row").loc[16, "values"])[
        "_extra_fields"
    ] == ["8"]


def test_personal_fields_dropped_unless_declared(tmp_path: Path) -> None:
    text = csv_rows(
        "id,nombre,cedula,telefono,correo,lat,lon", f"A,Ana Pérez,123,300,a@b.co,{GOOD}"
    )
    drop = ingest(make_drop(tmp_path / "d1", {"residentes.csv": text}), tmp_path / "store")
    assert not {"nombre", "cedula", "telefono", "correo"} & set(drop.residences.columns)
    assert not any(c.startswith("personal_") for c in drop.residences.columns)
    assert entry(drop, "residentes.csv")["personal_columns_dropped"] == [
        "nombre",
        "cedula",
        "telefono",
        "correo",
    ]
    kept = ingest(
        make_drop(
            tmp_path / "d2", {"residentes.csv": text, "drop.toml": "keep_personal_fields = true\n"}
        ),
        tmp_path / "store",
    )
    assert kept.residences.loc[0, "personal_nombre"] == "Ana Pérez"
    assert kept.residences.loc[0, "personal_correo"] == "a@b.co"


def test_record_ids_salted_stable_within_a_store(tmp_path: Path) -> None:
    store = tmp_path / "store"
    first = ingest(
        make_drop(tmp_path / "d1", {"residentes.csv": csv_rows("id,lat,lon", f"R-77,{GOOD}")}),
        store,
    )
    second = ingest(
        make_drop(
            tmp_path / "d2", {"residentes.csv": csv_rows("id,lat,lon", f"R-77,{GOOD}", f",{GOOD}")}
        ),
        store,
    )
    other = ingest(
        make_drop(tmp_path / "d3", {"residentes.csv": csv_rows("id,lat,lon", f"R-77,{GOOD}")}),
        tmp_path / "other",
    )
    salt = (store / ".salt").read_bytes()
    key = hashlib.blake2b(salt, digest_size=16, person=b"gi-record-id").digest()
    expected = f"{int(keyed_hash64(pa.array(['R-77']), key)[0]):016x}"
    assert first.manifest["id_scheme"] == 2
    assert first.residences.loc[0, "record_id"] == expected
    assert second.residences.loc[0, "record_id"] == expected
    assert other.residences.loc[0, "record_id"] != expected
    no_id = second.residences.loc[1, "record_id"]
    assert len(no_id) == 16 and no_id != expected
    for table in (first.residences, second.residences):
        assert not table.drop(columns="geometry").astype(str).isin(["R-77"]).any().any()


# ------------------------------------------------------------------------------- the store


def test_idempotent_and_new_drop_never_overwrites(tmp_path: Path) -> None:
    store = tmp_path / "store"
    drop_dir = make_drop(tmp_path / "drop", {"residentes.csv": csv_rows("id,lat,lon", f"A,{GOOD}")})
    first = ingest(drop_dir, store)
    again = ingest(drop_dir, store)
    assert first.created and not again.created and again.drop_id == first.drop_id
    before = {p.name: p.read_bytes() for p in first.path.iterdir()}
    (drop_dir / "residentes.csv").write_text(csv_rows("id,lat,lon", f"A,{GOOD}", f"B,{GOOD}"))
    changed = ingest(drop_dir, store)
    assert changed.created and changed.drop_id != first.drop_id
    assert {p.name: p.read_bytes() for p in first.path.iterdir()} == before
    assert list_drops(store)["drop_id"].tolist() == [first.drop_id, changed.drop_id]


def test_drop_date_from_drop_toml(tmp_path: Path) -> None:
    files = {
        "residentes.csv": csv_rows("id,lat,lon", f"A,{GOOD}"),
        "drop.toml": "date = 2024-06-01\n",
    }
    drop = ingest(make_drop(tmp_path / "drop", files), tmp_path / "store")
    assert drop.drop_id.startswith("20240601-") and drop.drop_id[9:] == drop.digest[:12]


def _cut_xlsx(path: Path) -> None:
    _xlsx(path)
    path.write_bytes(path.read_bytes()[:300])


def test_bad_files_are_errors_and_do_not_stop_the_others(tmp_path: Path) -> None:
    files = {
        "residentes_ok.csv": csv_rows("id,lat,lon", f"A,{GOOD}"),
        "residentes_empty.csv": b"",
        "residentes_bin.csv": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
        "residentes_cut.xlsx": _cut_xlsx,
        "residentes_sheet.xlsx": _xlsx,
        "residentes_noloc.csv": csv_rows("id,nombre", "A,Ana"),
        "notas.csv": "hola",
        "LEEME.txt": "notas del equipo",
        "drop.toml": (
            '[files."residentes_sheet.xlsx"]\nsheet = "Nope"\n'
            '[files."servicios_missing.csv"]\nkind = "services"\n'
        ),
    }
    drop = ingest(make_drop(tmp_path / "drop", files), tmp_path / "store")
    errors = {e["path"]: e["errors"] for e in drop.report["files"]}
    assert errors["residentes_ok.csv"] == []
    assert "empty file" in errors["residentes_empty.csv"][0]
    assert "binary file" in errors["residentes_bin.csv"][0]
    assert "not a readable XLSX" in errors["residentes_cut.xlsx"][0]
    assert "no sheet 'Nope'" in errors["residentes_sheet.xlsx"][0]
    assert "no location columns" in errors["residentes_noloc.csv"][0]
    assert "not recognised" in errors["notas.csv"][0]
    leeme = next(e for e in drop.report["files"] if e["path"] == "LEEME.txt")
    assert errors["LEEME.txt"] == [] and "a document" in leeme["warnings"][0]
    assert "not in the drop" in errors["servicios_missing.csv"][0]
    for path, messages in errors.items():
        assert all(m.startswith(path) for m in messages)
    assert drop.report["totals"]["residences"] == 1
    assert drop.report["totals"]["files_with_errors"] == 7


def test_nothing_ingestable_is_a_drop_error_naming_every_file(tmp_path: Path) -> None:
    files = {"residentes.csv": b"", "servicios.xlsx": b"not a zip", "datos.csv": "x"}
    store = tmp_path / "store"
    with pytest.raises(DropError) as info:
        ingest_drop(make_drop(tmp_path / "drop", files), store=store)
    for name in files:
        assert name in str(info.value)
    assert list_drops(store).empty


def test_bad_drop_folders(tmp_path: Path) -> None:
    with pytest.raises(DropError, match="not found"):
        ingest_drop(tmp_path / "missing", store=tmp_path / "s")
    (tmp_path / "file.csv").write_text("x")
    with pytest.raises(DropError, match="not a folder"):
        ingest_drop(tmp_path / "file.csv", store=tmp_path / "s")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DropError, match="empty drop"):
        ingest_drop(tmp_path / "empty", store=tmp_path / "s")
    make_drop(tmp_path / "badtoml", {"residentes.csv": "id\n", "drop.toml": "x = = 1"})
    with pytest.raises(DropError, match="not valid TOML"):
        ingest_drop(tmp_path / "badtoml", store=tmp_path / "s")


# ------------------------------------------------------------------------------- areas


def test_areas_flags_and_locality_disagreements(tmp_path: Path, minicity_dir: Path) -> None:
    text = csv_rows(
        "id,lat,lon,localidad",
        f"A,{xy(P1)},KENNEDY",
        f"B,{xy(P1)},Suba",  # given Suba, lies in Kennedy
        f"C,{xy(P2)},La Candelaria",
        f"D,{xy(FAR_OUT)},Chapinero",  # near Bogotá, outside the mini city's localities
        f"E,{xy(P2)},Villa Rica",
    )
    drop = ingest(
        make_drop(tmp_path / "drop", {"residentes.csv": text}),
        tmp_path / "store",
        data_dir=minicity_dir,
    )
    res = drop.residences.set_index("record_id").sort_values("source_row")
    assert res["loc_code"].fillna("-").tolist() == ["08", "08", "17", "-", "17"]
    assert res["loc_code_given"].fillna("-").tolist() == ["08", "11", "17", "02", "-"]
    assert res["outside_bogota"].tolist() == [False, False, False, True, False]
    assert res["upz_code"].notna().tolist() == [True, True, True, False, True]
    e = entry(drop, "residentes.csv")
    assert (e["localidad_disagreements"], e["localidad_unrecognised"], e["outside_bogota"]) == (
        1,
        1,
        1,
    )
    assert drop.report["areas"] == {"assigned": True, "upz": True}


def test_without_boundaries_outside_flag_uses_the_district_box(tmp_path: Path) -> None:
    text = csv_rows("id,lat,lon", f"A,{xy(P1)}", "B,4.95,-74.05")  # north of the district box
    drop = ingest(make_drop(tmp_path / "drop", {"residentes.csv": text}), tmp_path / "store")
    assert "loc_code" not in drop.residences.columns
    assert drop.residences["outside_bogota"].tolist() == [False, True]
    assert drop.report["areas"]["assigned"] is False


def test_locate_in_polygons_matches_assign_areas(minicity_dir: Path) -> None:
    from geo_integration import loaders
    from geo_integration.areas import assign_areas

    rng = np.random.default_rng(3)
    lon = rng.uniform(P2.x - 0.01, P1.x + 0.01, 2000)
    lat = rng.uniform(P1.y - 0.01, P2.y + 0.01, 2000)
    lon[:3] = np.nan
    localities, upz = loaders.load_localities(minicity_dir), loaders.load_upz(minicity_dir)
    corners = np.concatenate([np.asarray(g.exterior.coords) for g in localities.geometry])
    lon[3 : 3 + len(corners)], lat[3 : 3 + len(corners)] = corners[:, 0], corners[:, 1]
    points = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs="EPSG:4326")
    expected = assign_areas(points, localities, upz)
    for layer, code in ((localities, "loc_code"), (upz, "upz_code")):
        got = pd.Series(locate_in_polygons(lon, lat, layer, code), dtype=object)
        assert got.fillna("-").tolist() == expected[code].fillna("-").tolist()
        assert got.notna().sum() > 300


@pytest.mark.shared_data
def test_real_boundaries_area_assignment(tmp_path: Path, shared_data: Path) -> None:
    from geo_integration import loaders
    from geo_integration.areas import assign_areas

    rng = np.random.default_rng(5)
    lon, lat = rng.uniform(-74.22, -74.01, 300), rng.uniform(4.47, 4.80, 300)
    rows = [f"R{i},{a:.7f},{o:.7f}" for i, (a, o) in enumerate(zip(lat, lon, strict=True))]
    rows.append("Z,4.5981,-74.0760")  # Plaza de Bolívar: La Candelaria
    drop = ingest(
        make_drop(tmp_path / "drop", {"residentes.csv": csv_rows("id,lat,lon", *rows)}),
        tmp_path / "store",
        data_dir=shared_data,
    )
    res = drop.residences.sort_values("source_row").reset_index(drop=True)
    expected = assign_areas(
        res.geometry, loaders.load_localities(shared_data), loaders.load_upz(shared_data)
    )
    assert res["loc_code"].fillna("-").tolist() == expected["loc_code"].fillna("-").tolist()
    assert res["upz_code"].fillna("-").tolist() == expected["upz_code"].fillna("-").tolist()
    assert res["loc_code"].iloc[-1] == "17"
    assert (res["outside_bogota"] == res["loc_code"].isna()).all()


# ------------------------------------------------------------------------------- geocoding


def test_geocoder_hook_called_once_on_pending_addresses(tmp_path: Path, minicity_dir: Path) -> None:
    calls: list[list[object]] = []

    def geocoder(addresses: pd.Series) -> pd.DataFrame:
        calls.append(addresses.tolist())
        hit = addresses.str.startswith("CL")
        return pd.DataFrame(
            {
                "lat": np.where(hit, P2.y, np.nan),
                "lon": np.where(hit, P2.x, np.nan),
                "match_level": np.where(hit, "exact", "none"),
                "confidence": np.where(hit, 0.9, 0.0),
                "matched_address": np.where(hit, "CL 9, 2 00", None),
            },
            index=addresses.index,
        )

    files = {
        "residentes.csv": csv_rows(
            "id,direccion,lat,lon", f"A,CL 1,{xy(P1)}", "B,CL 9 # 2-00,,", "C,Finca sin nombre,,"
        ),
        "servicios.csv": csv_rows("id,nombre,direccion,lat,lon", "S,Centro,KR 5 # 1-1,,"),
    }
    drop = ingest(
        make_drop(tmp_path / "drop", files),
        tmp_path / "store",
        data_dir=minicity_dir,
        geocoder=geocoder,
    )
    assert calls == [["CL 9 # 2-00", "Finca sin nombre", "KR 5 # 1-1"]]
    res = drop.residences.set_index("source_row")
    assert res.loc[2, "coord_source"] == "input" and pd.isna(res.loc[2, "match_level"])
    assert res.loc[3, "coord_source"] == "geocoded" and res.loc[3, "lat"] == pytest.approx(P2.y)
    assert res.loc[3, "match_level"] == "exact" and res.loc[3, "confidence"] == 0.9
    assert res.loc[3, "loc_code"] == "17"  # areas assigned after geocoding
    assert res.loc[4, "coord_source"] == "none" and res.loc[4, "match_level"] == "none"
    assert drop.services.loc[0, "coord_source"] == "none"
    assert drop.report["geocoding"] == {"done": True, "requested": 3, "matched": 1}


def test_bad_geocoder_result_is_an_error_and_nothing_is_written(tmp_path: Path) -> None:
    files = {"residentes.csv": csv_rows("id,direccion,lat,lon", "B,CL 9 # 2-00,,")}
    store = tmp_path / "store"
    with pytest.raises(GeocodeError, match="lacks column"):
        ingest_drop(
            make_drop(tmp_path / "drop", files),
            store=store,
            geocoder=lambda a: pd.DataFrame(index=a.index),
        )
    assert list_drops(store).empty


# ------------------------------------------------------------------------------- hostile


def test_hostile_inputs_never_crash(tmp_path: Path) -> None:
    wide = ",".join(f"c{i}" for i in range(10_000)) + "\n" + ",".join(["1"] * 10_000) + "\n"
    huge = "x" * 200_000
    files = {
        "residentes_wide.csv": wide,
        "residentes_huge.csv": csv_rows(
            "id,direccion,lat,lon", f"A,{huge},{GOOD}", f"B,CL 1,{GOOD}"
        ),
        "residentes_exact.csv": csv_rows(
            "id,direccion,lat,lon", f'A,"{huge}",{GOOD}', "B,1,2,3,4,5", f"C,CL 1,{GOOD}"
        ),
        "servicios.csv": csv_rows(
            "id,nombre,lat,lon", f"S1,<script>alert(1)</script>,{GOOD}", f"S2,Centro,{GOOD}"
        ),
        "residentes;rm -rf ~.csv": csv_rows("id,lat,lon", f"../../etc/passwd,{GOOD}", "N,inf,-inf"),
    }
    drop = ingest(make_drop(tmp_path / "drop", files), tmp_path / "store")
    assert "10000 columns" in entry(drop, "residentes_wide.csv")["errors"][0]
    assert entry(drop, "residentes_huge.csv")["quarantine_reasons"] == {"field_too_long": 1}
    exact = entry(drop, "residentes_exact.csv")
    assert exact["quarantine_reasons"] == {"field_too_long": 1, "wrong_field_count": 1}
    assert entry(drop, "servicios.csv")["quarantine_reasons"] == {"markup_in_text": 1}
    assert entry(drop, "residentes;rm -rf ~.csv")["quarantine_reasons"] == {
        "non_finite_coordinates": 1
    }
    stored = drop.quarantine.set_index(["source_file", "source_row"]).loc[
        ("residentes_huge.csv", 2), "values"
    ]
    assert len(json.loads(stored)["direccion"]) < 10_100


# ------------------------------------------------------------------------------- API and CLI


def test_resolve_drop_accepts_folders_and_references(tmp_path: Path) -> None:
    store = tmp_path / "store"
    drop_dir = make_drop(tmp_path / "drop", {"residentes.csv": csv_rows("id,lat,lon", f"A,{GOOD}")})
    made = resolve_drop(drop_dir, store=store)
    assert made.created
    for ref in (made.drop_id, made.drop_id[:10], str(made.path), "latest"):
        assert resolve_drop(ref, store=store).drop_id == made.drop_id
    assert not resolve_drop(drop_dir, store=store).created


def test_cli_ingest_report_and_exit_codes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store, report = tmp_path / "store", tmp_path / "out" / "report.json"
    drop_dir = make_drop(
        tmp_path / "drop",
        {"residentes.csv": RESIDENTS, "residentes_empty.csv": b""},
    )
    assert main(["ingest", str(drop_dir), "--store", str(store), "--report", str(report)]) == 0
    out = capsys.readouterr()
    assert "residentes_empty.csv: empty file" in out.err
    data = json.loads(report.read_text())
    for item in data["files"]:
        assert {
            "path",
            "kind",
            "rows_read",
            "rows_accepted",
            "rows_quarantined",
            "quarantine_reasons",
            "errors",
        } <= set(item)
    assert "R1" not in report.read_text() and "Ana" not in report.read_text()
    bad = make_drop(tmp_path / "bad", {"residentes.csv": b""})
    assert main(["ingest", str(bad), "--store", str(store)]) == 1
    assert "residentes.csv" in capsys.readouterr().err
    assert main(["drops", "list", "--store", str(store)]) == 0
    assert data["drop_id"] in capsys.readouterr().out
    assert main(["drops", "compare", data["drop_id"], "latest", "--store", str(store)]) == 0
    assert "<10" in capsys.readouterr().out
    assert main(["drops", "compare", "nope", "latest", "--store", str(store)]) == 1
