"""The synthetic demo drop, on the mini city (answers by hand) and on the real mirror."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tomllib
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
from minicity import ORIGIN
from pyproj import Transformer

from geo_integration import loaders
from geo_integration.areas import assign_areas
from geo_integration.cli import main
from geo_integration.demo import (
    DEFAULT_DATE,
    DEFAULT_RESIDENTS,
    DEFAULT_SEED,
    DEMO_SOURCE,
    locality_allocation,
    make_demo_drop,
)
from geo_integration.errors import ConfigError, DataCheckError, DropError
from geo_integration.geo import BOGOTA_BBOX
from geo_integration.localities import locality_code
from geo_integration.text import fold

N = 3000
SEED = 7
MAIN_CSV = f"residentes_{DEFAULT_DATE[:7]}.csv"
# Largest-remainder rounding of 3000 * rates, by hand: 2220, 450, 300 and
# empty 7.5 -> 8 (first of the two .5 remainders), swapped 6, text 6, outside 4.5 -> 4, dup 6.
EXPECTED_KINDS = {
    "address_only": 2220,
    "coords_only": 450,
    "address_and_coords": 300,
    "empty": 8,
    "swapped_lat_lon": 6,
    "text_household_size": 6,
    "outside_bogota": 4,
    "duplicate_id": 6,
}
# Mini city: Kennedy has the published 40 %; the other 60 % go by population 20k:30k:40k
# (Suba 11, Ciudad Bolívar 19, La Candelaria 17, see tests/minicity.py).
EXPECTED_SHARE = {"08": 0.40, "11": 0.60 * 2 / 9, "19": 0.60 * 3 / 9, "17": 0.60 * 4 / 9}


@pytest.fixture(scope="module")
def drop(minicity_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "drop"
    make_demo_drop(out, residents=N, seed=SEED, data_dir=minicity_dir)
    return out


@pytest.fixture(scope="module")
def meta(drop: Path) -> dict:
    return tomllib.loads((drop / "drop.toml").read_text(encoding="utf-8"))


def _read_main(drop: Path) -> pd.DataFrame:
    return pd.read_csv(
        drop / MAIN_CSV,
        sep=";",
        decimal=",",
        encoding="utf-8-sig",
        dtype=str,
        keep_default_na=False,
    )


def _read_xlsx(drop: Path) -> pd.DataFrame:
    table = pd.read_excel(drop / "migrantes_suba.xlsx", header=3, dtype=str, keep_default_na=False)
    return table.rename(columns=lambda c: fold(c).lower())


def _residences(drop: Path) -> pd.DataFrame:
    """Main CSV and XLSX rows with float coordinates (the EPSG:9377 file apart)."""
    table = pd.concat([_read_main(drop), _read_xlsx(drop)], ignore_index=True)
    for col in ("latitud", "longitud"):
        table[col] = pd.to_numeric(table[col].str.replace(",", "."), errors="coerce")
    return table


def _gps_wgs84(drop: Path) -> pd.DataFrame:
    gps = pd.read_csv(drop / "ubicaciones_gps_magna_sirgas.csv", dtype={"id": str})
    lon, lat = Transformer.from_crs("EPSG:9377", "EPSG:4326", always_xy=True).transform(
        gps["x"].to_numpy(), gps["y"].to_numpy()
    )
    return gps.assign(latitud=lat, longitud=lon)


# --- allocation --------------------------------------------------------------------------


def test_allocation_public_figure_then_population(minicity_dir: Path) -> None:
    table = locality_allocation(
        loaders.load_migration_figures(minicity_dir), loaders.load_population(minicity_dir)
    )
    shares = dict(zip(table["loc_code"], table["share"], strict=True))
    assert shares == pytest.approx(EXPECTED_SHARE)
    methods = dict(zip(table["loc_code"], table["method"], strict=True))
    assert methods == {
        "08": "public figure",
        "11": "population",
        "17": "population",
        "19": "population",
    }


def test_allocation_rejects_shares_over_100() -> None:
    figs = pd.DataFrame(
        {
            "indicador": ["pct_migrantes_venezolanos_en_localidad"] * 2,
            "loc_code": ["08", "11"],
            "valor": [70.0, 40.0],
            "fuente_primaria": ["x", "x"],
            "fecha_corte": ["2024", "2024"],
        }
    )
    pop = pd.DataFrame({"loc_code": ["08", "11"], "population": [1, 1], "year": [2025, 2025]})
    with pytest.raises(DataCheckError, match="100"):
        locality_allocation(figs, pop)


# --- rows, kinds, shares -----------------------------------------------------------------


def test_requested_rows_across_files(drop: Path, meta: dict) -> None:
    main_rows, xlsx_rows = len(_read_main(drop)), len(_read_xlsx(drop))
    gps_rows = len(_gps_wgs84(drop))
    assert main_rows + xlsx_rows + gps_rows == N
    files = meta["demo"]["files"]
    assert files[MAIN_CSV]["rows"] == main_rows
    assert files["migrantes_suba.xlsx"]["rows"] == xlsx_rows
    assert files["ubicaciones_gps_magna_sirgas.csv"]["rows"] == gps_rows
    assert meta["demo"]["residences"] == N


def test_row_kinds_and_malformed_rates_as_documented(drop: Path, meta: dict) -> None:
    rows = _residences(drop)
    gps = _gps_wgs84(drop)
    assert meta["demo"]["row_kinds"] | meta["demo"]["malformed"] == EXPECTED_KINDS
    has_addr = rows["direccion"].str.strip() != ""
    has_xy = rows["latitud"].notna() & rows["longitud"].notna()
    swapped = has_xy & (rows["latitud"] < -60) & (rows["longitud"] > 0)
    lo_lon, lo_lat, hi_lon, hi_lat = BOGOTA_BBOX
    in_city = rows["longitud"].between(lo_lon, hi_lon) & rows["latitud"].between(lo_lat, hi_lat)
    outside = has_xy & ~swapped & ~in_city
    text_size = ~rows["personas"].str.fullmatch(r"[1-8]")
    ids = pd.concat([rows["id"], gps["id"]])
    assert int((~has_addr & ~has_xy).sum()) == EXPECTED_KINDS["empty"]
    assert int(swapped.sum()) == EXPECTED_KINDS["swapped_lat_lon"]
    assert int(outside.sum()) == EXPECTED_KINDS["outside_bogota"]
    assert int(text_size.sum()) == EXPECTED_KINDS["text_household_size"]
    assert len(ids) - ids.nunique() == EXPECTED_KINDS["duplicate_id"]
    # every mini-city label is usable, so address/coordinate rows are exactly as planned
    assert int((has_addr & has_xy).sum()) == EXPECTED_KINDS["address_and_coords"]
    coords_only = int((~has_addr & has_xy & in_city).sum()) + len(gps)
    assert coords_only == EXPECTED_KINDS["coords_only"]
    assert int((has_addr & ~has_xy).sum()) == (
        EXPECTED_KINDS["address_only"]
        + EXPECTED_KINDS["text_household_size"]
        + EXPECTED_KINDS["duplicate_id"]
    )
    assert gps["personas"].astype(str).str.fullmatch(r"[1-8]").all()


def _quadrant_from_address(text: str) -> str | None:
    """Locality of a mini-city address from its numbers (tests/minicity.py): Calle n runs at
    y = 100 n, Carrera m at x = -100 m; west of x = -550 and south of y = 550 is Kennedy."""
    numbers = [int(d) for d in re.findall(r"\d+", text)][:3]
    if len(numbers) < 3:
        return None
    first = fold(text).lower().split()[0]
    street, cross, house = numbers
    if first.startswith(("k", "cr", "car")):
        x, y = 100 * street, 100 * cross + house  # x as metres west
    else:
        x, y = 100 * cross + house, 100 * street
    west, south = x > 550, y < 550
    return {(True, True): "08", (True, False): "11", (False, True): "19"}.get((west, south), "17")


def test_locality_shares_follow_the_allocation(drop: Path, minicity_dir: Path) -> None:
    rows = _residences(drop)
    gps = _gps_wgs84(drop)
    localities = loaders.load_localities(minicity_dir)
    with_xy = pd.concat([rows[rows["latitud"].notna()], gps], ignore_index=True)
    points = gpd.GeoSeries(
        gpd.points_from_xy(with_xy["longitud"], with_xy["latitud"]), crs="EPSG:4326"
    )
    by_xy = assign_areas(points, localities)["loc_code"].dropna()
    addr_only = rows[rows["latitud"].isna() & (rows["direccion"] != "")]
    by_addr = addr_only["direccion"].map(_quadrant_from_address).dropna()
    located = pd.concat([by_xy, by_addr])
    m = len(located)
    assert m > 0.98 * N
    counts = located.value_counts()
    # Each row's locality is an independent draw with the allocation's probabilities, so a
    # locality's count is Binomial(m, p): 4.5 standard deviations bound it with probability
    # above 1 - 1e-5 whatever the seed (malformed rows are located by none of the two ways,
    # independently of their locality).
    for code, p in EXPECTED_SHARE.items():
        sd = (m * p * (1 - p)) ** 0.5
        assert abs(counts.get(code, 0) - m * p) <= 4.5 * sd, (code, counts.to_dict())


def test_address_and_coordinates_agree(drop: Path) -> None:
    rows = _residences(drop)
    both = rows[rows["latitud"].notna() & (rows["direccion"] != "")]
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:9377", always_xy=True).transform(
        both["longitud"].to_numpy(), both["latitud"].to_numpy()
    )
    expected = np.array([_grid_position(t) for t in both["direccion"]])
    dist = np.hypot(x - ORIGIN[0] - expected[:, 0], y - ORIGIN[1] - expected[:, 1])
    # GPS noise is 8 m per axis: 40 m is 5 standard deviations (P < 4e-6 per row)
    assert len(both) == EXPECTED_KINDS["address_and_coords"]
    assert dist.max() < 40.0


def _grid_position(text: str) -> tuple[float, float]:
    """Grid metres of a mini-city address point: "CL n, m d" lies d m west of Carrera m on
    Calle n, "KR m, n d" d m north of Calle n on Carrera m (tests/minicity.py)."""
    street, cross, house = [int(d) for d in re.findall(r"\d+", text)][:3]
    if fold(text).lower().split()[0].startswith(("k", "cr", "car")):
        return -100.0 * street, 100.0 * cross + house
    return -100.0 * cross - house, 100.0 * street


# --- formats, markers, determinism --------------------------------------------------------


def test_messy_forms_in_the_drop(drop: Path) -> None:
    addresses = _residences(drop)["direccion"]
    addresses = addresses[addresses != ""]
    for pattern in [
        r"#",
        r"\bNo\.? ",
        r"^(?:Cll|CLL|cll) ",
        r"^(?:Cra|Kra|Kr|KR|CRA|KRA)\.? ",
        r"(?i)\bapto\b",
        r"(?i)bogot",
        r"\d+-\d+",
        r"^[^a-z]+$",
    ]:
        assert addresses.str.contains(pattern, regex=True).any(), pattern
    localidad = _residences(drop)["localidad"]
    assert {"Kennedy", "KENNEDY", "kennedy", "Ciudad Bolívar", "CIUDAD BOLIVAR"} <= set(localidad)
    assert (localidad == "").any()
    # every spelling resolves to a locality of the mini city
    codes = localidad[localidad != ""].map(locality_code)
    assert set(codes) == set(EXPECTED_SHARE)


def test_xlsx_is_capped(
    minicity_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import geo_integration.demo as demo

    monkeypatch.setattr(demo, "XLSX_MAX_ROWS", 25)
    result = make_demo_drop(tmp_path / "capped", residents=400, seed=2, data_dir=minicity_dir)
    assert result.files["migrantes_suba.xlsx"] == 25 == len(_read_xlsx(result.path))
    assert (
        sum(
            v
            for k, v in result.files.items()
            if k.endswith((".csv", ".xlsx")) and k != "servicios.csv"
        )
        == 400
    )


def test_synthetic_markers_everywhere(drop: Path, meta: dict) -> None:
    assert meta["synthetic"] is True and meta["demo"]["seed"] == SEED
    assert meta["date"] == DEFAULT_DATE
    rows = _residences(drop)
    assert (rows["fuente"] == DEMO_SOURCE).all()
    assert rows["nombre"].str.fullmatch(r"PERSONA SINTÉTICA \d{7}").all()
    assert rows["documento"].str.fullmatch(r"DOC-DEMO-\d{7}").all()
    assert rows["correo"].str.endswith("@ejemplo.invalid").all()
    assert (pd.read_csv(drop / "ubicaciones_gps_magna_sirgas.csv")["fuente"] == DEMO_SOURCE).all()
    services = pd.read_csv(drop / "servicios.csv")
    assert services["fuente"].str.startswith(DEMO_SOURCE).all()
    stand_ins = json.loads((drop / "puntos_atencion.geojson").read_text(encoding="utf-8"))
    names = [f["properties"]["nombre"] for f in stand_ins["features"]]
    assert all("(SIMULAD" in n for n in names)
    assert all(f["properties"]["fuente"].startswith(DEMO_SOURCE) for f in stand_ins["features"])
    leeme = (drop / "LEEME.txt").read_text(encoding="utf-8")
    assert "DATOS SINTÉTICOS" in leeme and "ESTIMACIÓN" in leeme and "SIMULADOS" in leeme
    sheet = openpyxl.load_workbook(drop / "migrantes_suba.xlsx", read_only=True)["Migrantes"]
    assert "DATOS SINTÉTICOS" in str(next(sheet.iter_rows(max_row=1, values_only=True))[0])


def test_files_readable_with_documented_formats(drop: Path) -> None:
    raw = (drop / MAIN_CSV).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    main_csv = pd.read_csv(drop / MAIN_CSV, sep=";", decimal=",", encoding="utf-8-sig")
    assert main_csv["latitud"].dtype == float and main_csv["latitud"].notna().any()
    sheet = openpyxl.load_workbook(drop / "migrantes_suba.xlsx", read_only=True)["Migrantes"]
    header = next(sheet.iter_rows(min_row=4, max_row=4, values_only=True))
    assert header[:6] == ("Id", "Nombre", "Documento", "Teléfono", "Correo", "Dirección")
    xlsx = pd.read_excel(drop / "migrantes_suba.xlsx", header=3)
    assert xlsx["Latitud"].dtype == float
    points = gpd.read_file(drop / "puntos_atencion.geojson")
    assert points.crs.to_epsg() == 4326 and (points.geom_type == "Point").all()
    gps = _gps_wgs84(drop)
    assert gps["latitud"].between(4.5, 4.8).all() and gps["longitud"].between(-74.2, -74.0).all()
    services = pd.read_csv(drop / "servicios.csv", encoding="utf-8")
    assert list(services.columns) == [
        "nombre",
        "secretaria",
        "tipo",
        "capacidad",
        "horario",
        "direccion",
        "latitud",
        "longitud",
        "fuente",
    ]


def test_same_seed_same_bytes(drop: Path, minicity_dir: Path, tmp_path: Path) -> None:
    again = make_demo_drop(tmp_path / "again", residents=N, seed=SEED, data_dir=minicity_dir)
    names = sorted(p.name for p in drop.iterdir())
    assert names == sorted(p.name for p in again.path.iterdir())
    for name in names:
        assert _sha(drop / name) == _sha(again.path / name), name
    other = make_demo_drop(tmp_path / "other", residents=N, seed=SEED + 1, data_dir=minicity_dir)
    assert _sha(drop / MAIN_CSV) != _sha(other.path / MAIN_CSV)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- services ----------------------------------------------------------------------------


def test_services_from_the_real_layers(drop: Path, meta: dict) -> None:
    services = pd.read_csv(drop / "servicios.csv", dtype={"capacidad": "Int64"})
    by_type = services.groupby("tipo").size().to_dict()
    assert by_type == {"colegio": 3, "salud": 1, "atencion_ciudadana": 1, "transporte": 2}
    schools = services[services["tipo"] == "colegio"].set_index("nombre")
    # JARDIN TRES is pre-school only (40-200 places); the others teach one level (150-600)
    assert 40 <= schools.loc["JARDIN TRES", "capacidad"] <= 200
    assert schools.loc[["COLEGIO UNO", "COLEGIO DOS"], "capacidad"].between(150, 600).all()
    cade = services[services["tipo"] == "atencion_ciudadana"].iloc[0]
    assert cade["direccion"] == "Calle 5 No. 5-50" and pd.isna(cade["latitud"])
    assert cade["secretaria"] == "Secretaría General"
    transit = services[services["tipo"] == "transporte"]
    assert transit["capacidad"].isna().all() and transit["latitud"].notna().all()
    stand_ins = gpd.read_file(drop / "puntos_atencion.geojson")
    # 4 localities x (2 SDIS + 1 Casa de Igualdad + 1 Centro Intégrate)
    assert stand_ins["secretaria"].value_counts().to_dict() == {
        "Secretaría de Integración Social": 8,
        "Secretaría de la Mujer": 4,
        "Secretaría de Gobierno": 4,
    }
    assert (stand_ins["capacidad"] > 0).all() and (stand_ins["horario"] != "").all()
    assert meta["demo"]["services"] == len(services) + len(stand_ins)


def test_bad_source_services_dropped_or_fixed(minicity_dir: Path, tmp_path: Path) -> None:
    city = tmp_path / "city"
    shutil.copytree(minicity_dir, city)
    schools = gpd.read_file(city / "services" / "colegios.geojson")
    far_point = gpd.points_from_xy([-99.05], [19.39])  # Mexico City, as in the real layer
    far = schools.iloc[[0]].assign(name="COLEGIO LEJANO", geometry=far_point)
    pd.concat([schools, far]).to_file(city / "services" / "colegios.geojson", driver="GeoJSON")
    hospitals = gpd.read_file(city / "services" / "hospitales.geojson")
    shop = hospitals.assign(name="Bicicletas Robert")
    pd.concat([hospitals, shop]).to_file(city / "services" / "hospitales.geojson", driver="GeoJSON")
    result = make_demo_drop(tmp_path / "drop", residents=50, seed=1, data_dir=city)
    meta = tomllib.loads((result.path / "drop.toml").read_text(encoding="utf-8"))
    assert meta["demo"]["hospitals_dropped_not_health"] == ["Bicicletas Robert"]
    assert meta["demo"]["schools_coordinates_removed_outside_bogota"] == 1
    services = pd.read_csv(result.path / "servicios.csv").set_index("nombre")
    assert "Bicicletas Robert" not in services.index
    assert pd.isna(services.loc["COLEGIO LEJANO", "latitud"])
    assert services.loc["COLEGIO LEJANO", "direccion"] != ""


# --- options, folder safety, CLI ----------------------------------------------------------


def test_bad_options(minicity_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="residents"):
        make_demo_drop(tmp_path / "a", residents=0, data_dir=minicity_dir)
    with pytest.raises(ConfigError, match="seed"):
        make_demo_drop(tmp_path / "a", residents=5, seed=-1, data_dir=minicity_dir)
    with pytest.raises(ConfigError, match="2026-13-01"):
        make_demo_drop(tmp_path / "a", residents=5, data_dir=minicity_dir, date="2026-13-01")


def test_refuses_foreign_folder_replaces_previous_demo(minicity_dir: Path, tmp_path: Path) -> None:
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(DropError, match="not empty"):
        make_demo_drop(foreign, residents=5, data_dir=minicity_dir)
    assert (foreign / "notes.txt").read_text() == "mine"
    out = tmp_path / "demo"
    make_demo_drop(out, residents=40, seed=1, data_dir=minicity_dir, date="2026-10-31")
    make_demo_drop(out, residents=20, seed=1, data_dir=minicity_dir)
    assert not (out / "residentes_2026-10.csv").exists()
    meta = tomllib.loads((out / "drop.toml").read_text(encoding="utf-8"))
    assert meta["demo"]["residences"] == 20


def test_cli_demo_make(
    minicity_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cli"
    code = main(
        [
            "demo",
            "make",
            str(out),
            "--residents",
            "60",
            "--seed",
            "3",
            "--data-dir",
            str(minicity_dir),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "SYNTHETIC" in printed and MAIN_CSV in printed
    assert main(["demo", "make", str(out), "--residents", "0"]) == 2
    assert (
        main(
            [
                "demo",
                "make",
                str(tmp_path / "x"),
                "--date",
                "31/12/2026",
                "--data-dir",
                str(minicity_dir),
            ]
        )
        == 1
    )
    assert "31/12/2026" in capsys.readouterr().err


def test_public_api_exports() -> None:
    import geo_integration as gi

    assert gi.make_demo_drop is make_demo_drop
    assert callable(gi.messy_addresses) and callable(gi.locality_allocation)


def test_cli_defaults_match_the_api() -> None:
    from geo_integration.cli import demo_make

    defaults = {p.name: p.default for p in demo_make.params}
    assert defaults["residents"] == DEFAULT_RESIDENTS
    assert defaults["seed"] == DEFAULT_SEED
    assert defaults["date"] == DEFAULT_DATE


# --- real data ---------------------------------------------------------------------------


@pytest.mark.shared_data
def test_real_mirror_all_localities_suba_kennedy_largest(shared_data: Path, tmp_path: Path) -> None:
    # 20,000 rows: Sumapaz's share (0.05 %) then gives 9 expected rows, so all 20 localities
    # appear with probability above 0.9999.
    result = make_demo_drop(tmp_path / "real", residents=20_000, seed=1, data_dir=shared_data)
    rows = result.allocation.set_index("loc_code")["rows"]
    assert len(rows) == 20 and (rows > 0).all()
    assert set(rows.sort_values(ascending=False).index[:2]) == {"11", "08"}
    shares = result.allocation.set_index("loc_code")["share"]
    assert shares["11"] == pytest.approx(0.162) and shares["08"] == pytest.approx(0.156)
    # independent check on the rows with coordinates
    table = _residences(result.path)
    ok = table["latitud"].between(3.7, 4.9) & table["longitud"].between(-74.5, -73.9)
    points = gpd.GeoSeries(
        gpd.points_from_xy(table.loc[ok, "longitud"], table.loc[ok, "latitud"]), crs="EPSG:4326"
    )
    by_xy = assign_areas(points, loaders.load_localities(shared_data))["loc_code"]
    assert set(by_xy.value_counts().index[:2]) == {"11", "08"}
    addresses = table["direccion"][table["direccion"] != ""]
    for pattern in [
        r"(?i)\bsur\b",
        r"(?i)\beste\b",
        r"(?i)\bbis\b",
        r"(?i)^(?:av\.?|avenida) (?!calle|carrera|cra|kr\b|cll)[a-z]",
    ]:
        assert addresses.str.contains(pattern, regex=True).any(), pattern
    meta = tomllib.loads((result.path / "drop.toml").read_text(encoding="utf-8"))
    assert meta["demo"]["hospitals_dropped_not_health"] == ["Bicicletas Robert"]
    assert meta["demo"]["schools_coordinates_removed_outside_bogota"] >= 1
    assert meta["demo"]["services_by_type"]["integracion_social"] == 40
