from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from geo_integration.errors import DropError, MissingColumnError
from geo_integration.schema import (
    QUARANTINE_REASONS,
    file_kind,
    is_known_header,
    parse_drop_config,
    recognise_columns,
    service_type_key,
    text_problems,
)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("residentes.csv", "residences"),
        ("Residentes_junio 2024.xlsx", "residences"),
        ("residences-north.geojson", "residences"),
        ("MIGRANTES.gpkg", "residences"),
        ("servicios.csv", "services"),
        ("services.parquet", "services"),
        ("Puntos de atención.xlsx", "services"),
        ("sub/residentes.csv", "residences"),
        ("notas.txt", "unknown"),
        ("datos_residentes.csv", "unknown"),
    ],
)
def test_file_kind_by_name(name: str, kind: str) -> None:
    assert file_kind(name) == kind


def test_spanish_columns_recognised_and_personal_split() -> None:
    cols = [
        "ID",
        "Dirección de residencia",
        "Latitud",
        "Longitud",
        "Localidad",
        "Barrio",
        "UPZ",
        "Personas",
        "Nombre completo",
        "Número de cédula",
        "Celular",
        "Correo electrónico",
        "Fecha de nacimiento",
        "Estrato",
    ]
    cm = recognise_columns(cols, kind="residences")
    assert cm.fields == {
        "id": "ID",
        "address": "Dirección de residencia",
        "lat": "Latitud",
        "lon": "Longitud",
        "localidad": "Localidad",
        "barrio": "Barrio",
        "upz": "UPZ",
        "household_size": "Personas",
    }
    assert set(cm.personal) == {
        "Nombre completo",
        "Número de cédula",
        "Celular",
        "Correo electrónico",
        "Fecha de nacimiento",
    }
    assert cm.ignored == ("Estrato",)


def test_english_service_columns_and_name_is_not_personal_for_services() -> None:
    cols = ["service_id", "name", "secretariat", "service_type", "capacity", "hours", "lat", "lon"]
    cm = recognise_columns(cols, kind="services")
    assert cm.fields["name"] == "name"
    assert cm.fields["id"] == "service_id"
    assert cm.fields["capacity"] == "capacity"
    assert cm.personal == ()


def test_lat_lon_preferred_over_x_y_with_warning() -> None:
    cm = recognise_columns(["x", "y", "latitud", "longitud"], kind="residences")
    assert cm.fields["lat"] == "latitud" and cm.fields["lon"] == "longitud"
    assert any("'latitud' and 'y'" in w for w in cm.warnings)


def test_mapping_wins_and_missing_mapped_column_is_named() -> None:
    cm = recognise_columns(["a", "b", "c"], kind="residences", mapping={"lat": "a", "lon": "b"})
    assert cm.fields == {"lat": "a", "lon": "b"}
    with pytest.raises(MissingColumnError, match="'zz'"):
        recognise_columns(["a"], kind="residences", mapping={"lat": "zz"})


def test_known_headers() -> None:
    assert is_known_header("Dirección") and is_known_header("LONGITUD")
    assert not is_known_header("Listado de migrantes junio")


def test_drop_config_full_example() -> None:
    text = """
date = 2024-06-01
keep_personal_fields = true
[defaults]
decimal = ","
[files."hogares.xlsx"]
kind = "residences"
sheet = "Hoja2"
header_row = 3
crs = "EPSG:3116"
columns = { lat = "coord_y", lon = "coord_x" }
"""
    config = parse_drop_config(text)
    assert config.date == dt.date(2024, 6, 1)
    assert config.keep_personal_fields is True
    spec = config.for_file("hogares.xlsx")
    assert (spec.kind, spec.sheet, spec.header_row, spec.crs) == (
        "residences",
        "Hoja2",
        3,
        "EPSG:3116",
    )
    assert spec.decimal == ","  # from the defaults
    assert spec.columns == {"lat": "coord_y", "lon": "coord_x"}
    assert config.for_file("other.csv").decimal == ","


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("colour = 1", "unknown key"),
        ('[files."a.csv"]\nkind = "people"', "kind must be"),
        ('[files."../a.csv"]\nkind = "services"', "inside the drop folder"),
        ('[files."/etc/passwd"]\nkind = "services"', "inside the drop folder"),
        ('[files."a.csv"]\ncrs = "EPSG:999999"', "unknown CRS"),
        ('[files."a.csv"]\ncolumns = { height = "h" }', "unknown field"),
        ('[files."a.csv"]\ndecimal = ";"', "decimal must be"),
        ('date = "yesterday"', "YYYY-MM-DD"),
        ("this is not toml", "not valid TOML"),
        ("x = " + "[" * 5000 + "]" * 5000, "nested too deeply"),
        ('[files."a\\u0000.csv"]\nkind = "services"', "holds control characters"),
        ("[defaults]\nheader_row = true", "header_row must be"),
        ("[defaults]\nsheet = 0", "sheet must be"),
        ("[defaults]\nlayer = 2", "layer must be"),
        ('[defaults]\nencoding = "klingon"', "unknown encoding 'klingon'"),
        ("[defaults]\nencoding = [1]", "unknown encoding"),
        ("[defaults]\ncrs = 4.5", "crs must be"),
        ('[defaults]\ndelimiter = "\\""', "delimiter must be one character"),
    ],
)
def test_drop_config_errors(text: str, match: str) -> None:
    with pytest.raises(DropError, match=match):
        parse_drop_config(text)


def test_text_problems_each_reason() -> None:
    values = pa.array(
        [
            "CL 45 # 12-34 SUR",  # fine, a hyphen inside is fine
            "x" * 501,
            "CL 1\x00",
            '=HYPERLINK("http://evil","clic")',
            "-2+3+cmd|' /C calc'!A0",
            "@SUM(A1)",
            "=== sin dato ===",  # starts with '=' but is no formula: kept
            "<script>alert(1)</script>",
            "javascript:alert(1)",
            "CL 5 < KR 7",  # a lone '<' is no tag
            None,
        ]
    )
    out = text_problems(values)
    assert out["field_too_long"].tolist() == [i == 1 for i in range(11)]
    assert out["control_characters"].tolist() == [i == 2 for i in range(11)]
    assert np.nonzero(out["formula_injection"])[0].tolist() == [3, 4, 5]
    assert np.nonzero(out["markup_in_text"])[0].tolist() == [7, 8]


def test_service_type_keys() -> None:
    assert service_type_key("Colegio") == "school"
    assert service_type_key("SALUD") == "health"
    assert service_type_key("SuperCADE") == "citizen_service"
    assert service_type_key("Casa de Igualdad") == "women"
    assert service_type_key("Comisaría de Familia") == "comisaria_de_familia"
    assert service_type_key("  ") is None


def test_vocabulary_is_fixed_and_documented() -> None:
    import geo_integration.schema as schema

    for reason in QUARANTINE_REASONS:
        assert f"``{reason}``" in (schema.__doc__ or "")


def test_text_problems_match_the_plain_regular_expressions() -> None:
    """The byte scan only preselects: the result equals matching every value."""
    import pyarrow.compute as pc

    from geo_integration.schema import _CONTROL, _FORMULA, _MARKUP, MAX_FIELD_CHARS

    rng = np.random.default_rng(11)
    pieces = ["a", "ñ", " ", "=", "+", "-", "@", "(", "|", "!", "<", ">", "b", "/", ":"]
    pieces += ["\x00", "\x1b", "\t", "\n", "javascript", "JavaScript :", "<a ", "€", "x" * 200]
    values = ["".join(rng.choice(pieces, rng.integers(0, 12))) for _ in range(3000)] + [None]
    array = pa.array(values)
    out = text_problems(array)

    def regex(pattern: str) -> list[bool]:
        return pc.fill_null(pc.match_substring_regex(array, pattern), False).to_pylist()

    long = pc.fill_null(pc.greater(pc.utf8_length(array), MAX_FIELD_CHARS), False).to_pylist()
    assert out["field_too_long"].tolist() == long
    assert out["control_characters"].tolist() == regex(_CONTROL)
    assert out["formula_injection"].tolist() == regex(_FORMULA)
    assert out["markup_in_text"].tolist() == regex(_MARKUP)
    assert sum(out["formula_injection"]) > 50 and sum(out["markup_in_text"]) > 50
