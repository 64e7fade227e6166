"""A corpus of hostile or broken drops: each never crashes, never executes anything, and ends
in exactly the expected outcome (which files are errors and why, which rows are quarantined
with which reason, how many rows are accepted), with rows read == accepted + quarantined for
every file. Every drop is made by code here (no binary files in the repository)."""

from __future__ import annotations

import json
import logging
import os
import re
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pyarrow as pa
import pytest
from shapely.geometry import Point, Polygon

from geo_integration.errors import DropError
from geo_integration.ingest import ingest_drop
from geo_integration.store import Drop, list_drops

Content = str | bytes | Callable[[Path], None]
LAT, LON = "4.6100000", "-74.0800000"  # central Bogotá
GOOD = f"{LAT},{LON}"
MB = 1 << 20


@pytest.fixture(autouse=True)
def _no_default_data(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEO_INTEGRATION_DATA", str(tmp_path_factory.mktemp("nodata")))
    monkeypatch.delenv("GEO_INTEGRATION_STORE", raising=False)


def rows(header: str, *lines: str, end: str = "\n") -> str:
    return end.join([header, *lines]) + end


# ------------------------------------------------------------------------------ file makers


def _xlsx_with_formulas(path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["id", "direccion", "latitud", "longitud"])
    sheet.append(["X1", "CL 1 # 2-3", float(LAT), float(LON)])
    sheet.append(["X2", '=HYPERLINK("http://evil.example","clic")', float(LAT), float(LON)])
    sheet.append(["X3", "CL 2 # 3-4", "=4.61+0", float(LON)])
    book.save(path)


def _check_xlsx_formulas(drop: Drop, root: Path) -> None:
    book = openpyxl.load_workbook(root / "drop" / "residentes.xlsx")
    assert book.active["B3"].data_type == "f"  # the test file really holds live formulas
    stored = drop.quarantine_rows("residentes.xlsx").set_index("source_row")
    assert stored.loc[3, "direccion"] == '=HYPERLINK("http://evil.example","clic")'
    assert stored.loc[4, "latitud"] == "=4.61+0"


def _truncated_xlsx(path: Path) -> None:
    _xlsx_with_formulas(path)
    path.write_bytes(path.read_bytes()[:400])


def _xlsx_as_csv(path: Path) -> None:
    _xlsx_with_formulas(path)


def _gpkg_polygons(path: Path) -> None:
    square = Polygon([(-74.09, 4.60), (-74.08, 4.60), (-74.08, 4.61), (-74.09, 4.61)])
    gpd.GeoDataFrame(
        {"id": ["P1", "P2", "P3"]},
        geometry=[square, square.buffer(0.001), Point(float(LON), float(LAT))],
        crs="EPSG:4326",
    ).to_file(path, layer="manzanas")


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _symlinks(path: Path) -> None:
    outside = path.parent.parent / "outside.csv"
    outside.write_text(rows("id,lat,lon", f"Z,{GOOD}"))
    path.symlink_to(outside)
    (path.parent / "enlace_carpeta").symlink_to(path.parent.parent, target_is_directory=True)


def _folder_named_like_a_file(path: Path) -> None:
    path.mkdir()
    (path / "residentes_dentro.csv").write_text(rows("id,lat,lon", f"I1,{GOOD}"))


def _unreadable(path: Path) -> None:
    path.write_text(rows("id,lat,lon", f"U1,{GOOD}"))
    path.chmod(0)


def _toml_link(path: Path) -> None:
    outside = path.parent.parent / "config.toml"
    outside.write_text("date = 2024-06-01\n")
    path.symlink_to(outside)


def _random_bytes(path: Path) -> None:
    path.write_bytes(np.random.default_rng(7).integers(0, 256, 4000, dtype=np.uint8).tobytes())


# ------------------------------------------------------------------------------ the corpus


@dataclass
class Case:
    """One bad drop and its exact outcome."""

    name: str
    files: dict[str | bytes, Content]
    errors: dict[str, str] = field(default_factory=dict)  # file -> fragment of its error
    quarantine: dict[str, dict[int, str]] = field(default_factory=dict)  # file -> row: reason
    accepted: dict[str, int] = field(default_factory=dict)  # file -> rows accepted
    warnings: dict[str, str] = field(default_factory=dict)  # file -> fragment of a warning
    drop_error: str | None = None  # the whole drop is refused with this message
    check: Callable[[Drop, Path], None] | None = None
    root_skip: str | None = None  # skipped when running as root, for this reason


def _check_html(drop: Drop, root: Path) -> None:
    kept = drop.residences.set_index("source_row")
    assert kept.loc[5, "address"] == "CL 5 < 6 # 7-8"
    assert drop.services.loc[0, "hours"] == "L-V 8:00-17:00"


def _check_formula_kept_text(drop: Drop, root: Path) -> None:
    kept = drop.residences.set_index("source_row")
    assert kept.loc[7, "address"] == "=5"  # no function call: kept, written as text later


def _check_enormous(drop: Drop, root: Path) -> None:
    stored = drop.quarantine.set_index(["source_file", "source_row"])
    value = json.loads(stored.loc[("residentes.csv", 2), "values"])["direccion"]
    assert value.startswith("yyyy") and value.endswith(f"[{MB - 10_000} more characters]")
    assert "notas" not in drop.residences.columns
    extra = json.loads(stored.loc[("residentes_exacto.csv", 3), "values"])["_extra_fields"]
    assert len(extra) == 51 and extra[-1] == "...[99948 more fields]"  # 100,002 fields read


def _check_household(drop: Drop, root: Path) -> None:
    kept = drop.residences.set_index("source_row")["household_size"].to_dict()
    assert kept == {2: 3, 7: 10, 9: 1, 10: 4, 11: 2}
    assert drop.report["totals"]["people"] == 20
    assert drop.residences.set_index("source_row").loc[11, "lat"] == pytest.approx(4.61)


def _check_duplicates(drop: Drop, root: Path) -> None:
    ids = drop.residences["record_id"]
    assert ids.is_unique and len(ids) == 5


def _check_encodings(drop: Drop, root: Path) -> None:
    table = drop.residences
    got = table[table["source_row"] < 4].set_index(["source_file", "source_row"])["address"]
    assert got.to_dict() == {
        ("residentes_bom.csv", 2): "Dirección 1",
        ("residentes_bom.csv", 3): "Dirección 2",
        ("residentes_mezcla.csv", 2): "Dirección 1",
        ("residentes_mezcla.csv", 3): "Dirección 2",
        ("residentes_latin1.csv", 2): "Dirección 3",
        ("residentes_profundo.csv", 2): "CL 0",
        ("residentes_profundo.csv", 3): "CL 1",
    }
    deep = table[table["source_file"] == "residentes_profundo.csv"].set_index("source_row")
    assert deep.loc[[5002, 5003], "address"].tolist() == ["Dirección 4", "Dirección 5"]
    by_file = {e["path"]: e for e in drop.report["files"]}
    assert by_file["residentes_latin1.csv"]["encoding"] == "cp1252"
    assert by_file["residentes_mezcla.csv"]["encoding"] == "utf-8+cp1252"
    assert by_file["residentes_profundo.csv"]["encoding"] == "utf-8+cp1252"


def _check_unbalanced(drop: Drop, root: Path) -> None:
    detail = drop.quarantine.loc[0, "detail"]
    assert detail == (
        "2 fields, header has 4; the row runs over lines 2 to 4 of the file (a quote left open?)"
    )


def _check_line_endings(drop: Drop, root: Path) -> None:
    table = drop.residences.sort_values(["source_file", "source_row"])
    assert table["source_row"].tolist() == [2, 3, 2, 3, 2, 3]
    assert table["barrio"].tolist() == ["Centro", "Sur"] * 3


def _check_links(drop: Drop, root: Path) -> None:
    assert "Z" not in drop.residences["record_id"].tolist()
    assert drop.report["totals"]["residences"] == 1


def _check_names(drop: Drop, root: Path) -> None:
    made = {p.name for p in root.iterdir()}
    assert made == {"drop", "store"}, made  # nothing was created by a name
    assert not list(Path.cwd().glob("PWNED*"))
    text = (drop.path / "report.txt").read_text(encoding="utf-8")
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", text)


def _check_header_escape(drop: Drop, root: Path) -> None:
    entry = drop.report["files"][0]
    assert entry["columns_ignored"] == ["\\x1b[31mrojo"]
    raw = (drop.path / "report.json").read_bytes() + (drop.path / "report.txt").read_bytes()
    assert b"\x1b" not in raw


def _check_long_header(drop: Drop, root: Path) -> None:
    ignored = drop.report["files"][0]["columns_ignored"]
    assert ignored == ["h" * 200 + "...[99800 more characters]"]


CASES: list[Case] = [
    Case(
        "html_and_js_in_text",
        {
            "residentes.csv": rows(
                "id,direccion,barrio,lat,lon",
                f"R1,<script>alert(1)</script>,Centro,{GOOD}",
                f"R2,CL 1,javascript:alert(1),{GOOD}",
                f'R3,"<img src=x onerror=alert(1)>",Sur,{GOOD}',
                f"R4,CL 5 < 6 # 7-8,Norte,{GOOD}",
                f'R5,CL 2,"<a href=""http://x"">y</a>",{GOOD}',
                f"R6,CL 3,Centro,{GOOD}",
            ),
            "servicios.csv": rows(
                "id,nombre,horario,lat,lon",
                f"S1,<b>Centro</b>,L-V,{GOOD}",
                f"S2,Centro Dos,L-V 8:00-17:00,{GOOD}",
            ),
        },
        quarantine={
            "residentes.csv": {
                2: "markup_in_text",
                3: "markup_in_text",
                4: "markup_in_text",
                6: "markup_in_text",
            },
            "servicios.csv": {2: "markup_in_text"},
        },
        accepted={"residentes.csv": 2, "servicios.csv": 1},
        check=_check_html,
    ),
    Case(
        "formulas_in_csv_cells",
        {
            "residentes.csv": rows(
                "id,direccion,barrio,lat,lon",
                f'F1,"=HYPERLINK(""http://evil.example"",""clic"")",Centro,{GOOD}',
                f"F2,CL 1,@SUM(A1:A2),{GOOD}",
                f"F3,+cmd|' /C calc'!A0,Sur,{GOOD}",
                f'F4,"\t=HYPERLINK(""http://x"")",Sur,{GOOD}',
                f"F5,-2+3(1),Sur,{GOOD}",
                f"F6,=5,Sur,{GOOD}",
                f"=1+1,CL 9,Sur,{GOOD}",
            ),
        },
        quarantine={
            "residentes.csv": {
                2: "formula_injection",
                3: "formula_injection",
                4: "formula_injection",
                5: "formula_injection",
                6: "formula_injection",
            }
        },
        accepted={"residentes.csv": 2},
        check=_check_formula_kept_text,
    ),
    Case(
        "formulas_in_xlsx_cells",
        {"residentes.xlsx": _xlsx_with_formulas},
        quarantine={"residentes.xlsx": {3: "formula_injection", 4: "bad_coordinates"}},
        accepted={"residentes.xlsx": 1},
        check=_check_xlsx_formulas,
    ),
    Case(
        "dotdot_path_in_drop_toml",
        {
            "residentes.csv": rows("id,lat,lon", f"A,{GOOD}"),
            "drop.toml": '[files."../../etc/passwd"]\nkind = "residences"\n',
        },
        drop_error="file '../../etc/passwd' must be a path inside the drop folder",
    ),
    Case(
        "absolute_path_in_drop_toml",
        {
            "residentes.csv": rows("id,lat,lon", f"A,{GOOD}"),
            "drop.toml": '[files."/etc/passwd"]\nkind = "residences"\n',
        },
        drop_error="file '/etc/passwd' must be a path inside the drop folder",
    ),
    Case(
        "nul_and_newline_in_drop_toml_names",
        {
            "residentes.csv": rows("id,lat,lon", f"A,{GOOD}"),
            "drop.toml": '[files."a\\u0000b.csv"]\nkind = "residences"\n',
        },
        drop_error="file name 'a\\x00b.csv' holds control characters",
    ),
    Case(
        "control_characters_in_file_names",
        {
            "residentes\nsegunda.csv": rows("id,lat,lon", f"A,{GOOD}"),
            "residentes_\x1b[31m.csv": rows("id,lat,lon", f"B,{GOOD}"),
            "residentes.csv": rows("id,lat,lon", f"C,{GOOD}"),
        },
        errors={
            "residentes\\nsegunda.csv": "the file name holds control characters",
            "residentes_\\x1b[31m.csv": "the file name holds control characters",
        },
        accepted={"residentes.csv": 1},
    ),
    Case(
        "path_like_and_shell_like_file_names",
        {
            "residentes_..\\..\\etc.csv": rows("id,lat,lon", f"A,{GOOD}"),
            "residentes;rm -rf ~.csv": rows("id,lat,lon", f"B,{GOOD}"),
            "residentes_$(touch PWNED).csv": rows("id,lat,lon", f"C,{GOOD}"),
            "residentes_<script>.csv": rows("id,lat,lon", f"D,{GOOD}"),
            "sub/../residentes_x.csv": rows("id,lat,lon", f"E,{GOOD}"),
        },
        accepted={
            "residentes_..\\..\\etc.csv": 1,
            "residentes;rm -rf ~.csv": 1,
            "residentes_$(touch PWNED).csv": 1,
            "residentes_<script>.csv": 1,
            "residentes_x.csv": 1,
        },
        check=_check_names,
    ),
    Case(
        "file_name_not_utf8",
        {
            b"residentes_\xff.csv": rows("id,lat,lon", f"A,{GOOD}"),
            "residentes.csv": rows("id,lat,lon", f"B,{GOOD}"),
        },
        errors={"residentes_\\xff.csv": "the file name is not valid UTF-8 text"},
        accepted={"residentes.csv": 1},
    ),
    Case(
        "enormous_fields",
        {
            "residentes.csv": rows(
                "id,direccion,notas,lat,lon",
                f"E1,{'y' * MB},,{GOOD}",
                f"E2,CL 1,{'z' * MB},{GOOD}",
                f"E3,CL 2,,{GOOD}",
            ),
            "residentes_exacto.csv": rows(
                "id,direccion,lat,lon",
                f'X1,"{"y" * MB}",{GOOD}',
                "X2," + "1," * 100_000,
                f"X3,CL 1,{GOOD}",
            ),
        },
        quarantine={
            "residentes.csv": {2: "field_too_long"},
            "residentes_exacto.csv": {2: "field_too_long", 3: "wrong_field_count"},
        },
        accepted={"residentes.csv": 2, "residentes_exacto.csv": 1},
        check=_check_enormous,
    ),
    Case(
        "nan_inf_and_empty_coordinates",
        {
            "residentes.csv": rows(
                "id,direccion,lat,lon",
                f"N1,CL 1,nan,{LON}",
                f"N2,CL 1,{LAT},inf",
                f"N3,CL 1,-Infinity,{LON}",
                f"N4,CL 1,1e999,{LON}",
                f"N5,CL 1,{LAT},NaN",
                "N6,,,",
                f"N7,,,{LON}",
                f"N8,CL 1,4.6N,{LON}",
                "N9,CL 9 # 9-9,,",
                f"N10,CL 1,{GOOD}",
            )
        },
        quarantine={
            "residentes.csv": {
                2: "non_finite_coordinates",
                3: "non_finite_coordinates",
                4: "non_finite_coordinates",
                5: "non_finite_coordinates",
                6: "non_finite_coordinates",
                7: "no_location",
                8: "partial_coordinates",
                9: "bad_coordinates",
            }
        },
        accepted={"residentes.csv": 2},
        warnings={},
    ),
    Case(
        "mixed_types_in_numeric_columns",
        {
            "residentes.csv": rows(
                "id;personas;lat;lon",
                f"M1;3;{LAT};{LON}",
                f"M2;tres;{LAT};{LON}",
                f"M3;2.5;{LAT};{LON}",
                f"M4;0;{LAT};{LON}",
                f"M5;-1;{LAT};{LON}",
                f"M6;1e1;{LAT};{LON}",
                f"M7;101;{LAT};{LON}",
                f"M8;;{LAT};{LON}",
                f"M9; 4 ;{LAT};{LON}",
                "M10;2;4,61;-74,08",
                f"M11;0x10;{LAT};{LON}",
            )
        },
        quarantine={
            "residentes.csv": {
                3: "bad_household_size",
                4: "bad_household_size",
                5: "bad_household_size",
                6: "bad_household_size",
                8: "bad_household_size",
                12: "bad_household_size",
            }
        },
        accepted={"residentes.csv": 5},
        check=_check_household,
    ),
    Case(
        "duplicate_ids_within_a_file",
        {
            "residentes.csv": rows(
                "id,lat,lon",
                f"A,{GOOD}",
                f"A,{GOOD}",
                f" A ,{GOOD}",
                f"a,{GOOD}",
                f"B,x,{LON}",
                f"B,{GOOD}",
                f",{GOOD}",
                f",{GOOD}",
            )
        },
        quarantine={"residentes.csv": {3: "duplicate_id", 4: "duplicate_id", 6: "bad_coordinates"}},
        accepted={"residentes.csv": 5},
        check=_check_duplicates,
    ),
    Case(
        "duplicate_ids_across_files",
        {
            "residentes_1.csv": rows("id,lat,lon", f"A,{GOOD}", f"B,{GOOD}"),
            "residentes_2.csv": rows("id,lat,lon", f"C,{GOOD}", f"B,{GOOD}", f"A,{GOOD}"),
            "servicios.csv": rows("id,nombre,lat,lon", f"A,Centro,{GOOD}", f"A,Otro,{GOOD}"),
        },
        quarantine={
            "residentes_2.csv": {3: "duplicate_id", 4: "duplicate_id"},
            "servicios.csv": {3: "duplicate_id"},
        },
        accepted={"residentes_1.csv": 2, "residentes_2.csv": 1, "servicios.csv": 1},
    ),
    Case(
        "ten_thousand_columns",
        {
            "residentes_ancho.csv": ",".join(f"c{i}" for i in range(10_000))
            + "\n"
            + ",".join(["1"] * 10_000)
            + "\n",
            "residentes.csv": rows("id,lat,lon", f"A,{GOOD}"),
        },
        errors={"residentes_ancho.csv": "10000 columns, more than the 1000 a drop file may have"},
        accepted={"residentes.csv": 1},
    ),
    Case(
        "truncated_xlsx",
        {"residentes.xlsx": _truncated_xlsx, "residentes.csv": rows("id,lat,lon", f"A,{GOOD}")},
        errors={"residentes.xlsx": "not a readable XLSX workbook (corrupt or truncated?)"},
        accepted={"residentes.csv": 1},
    ),
    Case(
        "truncated_and_invalid_geojson",
        {
            "residentes_cortado.geojson": (
                '{"type":"FeatureCollection","features":[{"type":"Feature","properties":'
                '{"id":"A"},"geometry":{"type":"Point","coordinates":[-74.08,4.6'
            ),
            "residentes_lista.geojson": "[1, 2, 3]",
            "residentes_texto.geojson": (
                '{"type":"FeatureCollection","features":[{"type":"Feature","properties":'
                '{"id":"T1"},"geometry":{"type":"Point","coordinates":["a","b"]}},'
                '{"type":"Feature","properties":{"id":"T2"},"geometry":{"type":"Point",'
                '"coordinates":[-74.08,4.61]}}]}'
            ),
        },
        errors={
            "residentes_cortado.geojson": "not a readable geojson file (corrupt or truncated?)",
            "residentes_lista.geojson": "not a readable geojson file (corrupt or truncated?)",
        },
        quarantine={"residentes_texto.geojson": {0: "no_location"}},
        accepted={"residentes_texto.geojson": 1},
    ),
    Case(
        "geopackage_with_non_point_layer",
        {"residentes.gpkg": _gpkg_polygons},
        quarantine={"residentes.gpkg": {0: "bad_geometry", 1: "bad_geometry"}},
        accepted={"residentes.gpkg": 1},
    ),
    Case(
        "binary_junk_named_csv",
        {
            "residentes_azar.csv": _random_bytes,
            "residentes_png.csv": b"\x89PNG\r\n\x1a\n" + bytes(200),
            "residentes_libro.csv": _xlsx_as_csv,
            "residentes.csv": rows("id,lat,lon", f"A,{GOOD}"),
        },
        errors={
            "residentes_azar.csv": "binary file (",
            "residentes_png.csv": "binary file (a PNG image), not CSV text",
            "residentes_libro.csv": "binary file (a ZIP archive, or an XLSX/DOCX document)",
        },
        accepted={"residentes.csv": 1},
    ),
    Case(
        "utf16_without_byte_order_mark",
        {
            "residentes_utf16.csv": rows("id,lat,lon", f"A,{GOOD}").encode("utf-16-le"),
            "residentes.csv": rows("id,lat,lon", f"A,{GOOD}"),
        },
        errors={"residentes_utf16.csv": "looks like UTF-16 text without a byte-order mark"},
        accepted={"residentes.csv": 1},
    ),
    Case(
        "empty_and_blank_files",
        {
            "residentes_vacio.csv": b"",
            "residentes_blanco.csv": "  \n\n \t\n",
            "residentes.csv": rows("id,lat,lon", f"A,{GOOD}"),
        },
        errors={
            "residentes_vacio.csv": "empty file",
            "residentes_blanco.csv": "no header line: the file holds no text",
        },
        accepted={"residentes.csv": 1},
    ),
    Case(
        "header_only",
        {
            "residentes.csv": "id,lat,lon\n",
            "residentes_vacias.csv": "id,lat,lon\n,,\n , , \n",
        },
        accepted={"residentes.csv": 0, "residentes_vacias.csv": 0},
        warnings={
            "residentes.csv": "no data rows under the header",
            "residentes_vacias.csv": "no data rows under the header (2 empty rows)",
        },
    ),
    Case(
        "bom_and_latin1_mixups",
        {
            "residentes_bom.csv": b"\xef\xbb\xbfid,direccion,lat,lon\n"
            + f"A,Dirección 1,{GOOD}\n".encode()
            + f"B,Dirección 2,{GOOD}\n".encode("latin-1"),
            "residentes_mezcla.csv": f"id,direccion,lat,lon\nC,Dirección 1,{GOOD}\n".encode()
            + f"D,Dirección 2,{GOOD}\n".encode("cp1252"),
            "residentes_latin1.csv": f"id,direccion,lat,lon\nE,Dirección 3,{GOOD}\n".encode(
                "cp1252"
            ),
            "residentes_profundo.csv": rows(
                "id,direccion,lat,lon", *[f"P{i},CL {i},{GOOD}" for i in range(5000)]
            ).encode()
            + f"Z1,Dirección 4,{GOOD}\nZ2,Dirección 5,{GOOD}\n".encode("cp1252"),
        },
        accepted={
            "residentes_bom.csv": 2,
            "residentes_mezcla.csv": 2,
            "residentes_latin1.csv": 1,
            "residentes_profundo.csv": 5002,
        },
        warnings={
            "residentes_bom.csv": "1 line(s) are not UTF-8 like the rest of the file (line 3)",
            "residentes_mezcla.csv": "1 line(s) are not UTF-8 like the rest of the file (line 3)",
            "residentes_profundo.csv": "2 line(s) are not UTF-8 like the rest of the file (line "
            "5002, 5003)",
        },
        check=_check_encodings,
    ),
    Case(
        "wrong_delimiter",
        {
            "residentes_mezclado.csv": rows("id;lat;lon", f"A,{GOOD}", f"B,{GOOD}"),
            "residentes_tubo.csv": rows("id,lat,lon", f"C,{GOOD}"),
            "residentes_coma_decimal.csv": rows("id;lat;lon", "D;4,61;-74,08"),
            "drop.toml": '[files."residentes_tubo.csv"]\ndelimiter = "|"\n',
        },
        errors={
            "residentes_mezclado.csv": "columns: ['id;lat;lon'] (fields split at ','",
            "residentes_tubo.csv": "columns: ['id,lat,lon'] (fields split at '|'",
        },
        accepted={"residentes_coma_decimal.csv": 1},
    ),
    Case(
        "unbalanced_quotes",
        {
            "residentes.csv": rows(
                "id,direccion,lat,lon", f'A,"CL 1,{GOOD}', f"B,CL 2,{GOOD}", f"C,CL 3,{GOOD}"
            )
        },
        quarantine={"residentes.csv": {2: "wrong_field_count"}},
        accepted={"residentes.csv": 0},
        check=_check_unbalanced,
    ),
    Case(
        "crlf_lf_and_cr_line_ends",
        {
            "residentes_crlf.csv": rows(
                "id,barrio,lat,lon", f"A,Centro,{GOOD}", f"B,Sur,{GOOD}", end="\r\n"
            ),
            "residentes_mixto.csv": f"id,barrio,lat,lon\r\nC,Centro,{GOOD}\nD,Sur,{GOOD}\r\n",
            "residentes_cr.csv": rows(
                "id,barrio,lat,lon", f"E,Centro,{GOOD}", f"F,Sur,{GOOD}", end="\r"
            ),
        },
        accepted={"residentes_crlf.csv": 2, "residentes_mixto.csv": 2, "residentes_cr.csv": 2},
        check=_check_line_endings,
    ),
    Case(
        "symbolic_links",
        {"residentes_enlace.csv": _symlinks, "residentes.csv": rows("id,lat,lon", f"A,{GOOD}")},
        errors={
            "residentes_enlace.csv": "a symbolic link; links are not followed",
            "enlace_carpeta": "a symbolic link; links are not followed",
        },
        accepted={"residentes.csv": 1},
        check=_check_links,
    ),
    Case(
        "folder_named_like_a_data_file",
        {"residentes.csv": _folder_named_like_a_file},
        errors={"residentes.csv": "a folder named like a data file, not a file"},
        accepted={"residentes.csv/residentes_dentro.csv": 1},
    ),
    Case(
        "named_pipe_is_never_opened",
        {"residentes_tubo.csv": _fifo, "residentes.csv": rows("id,lat,lon", f"A,{GOOD}")},
        errors={"residentes_tubo.csv": "not a regular file (a named pipe, socket or device)"},
        accepted={"residentes.csv": 1},
    ),
    Case(
        "unreadable_file",
        {"residentes_cerrado.csv": _unreadable, "residentes.csv": rows("id,lat,lon", f"A,{GOOD}")},
        errors={"residentes_cerrado.csv": "cannot be read (Permission denied)"},
        accepted={"residentes.csv": 1},
        root_skip="running as root: a chmod 000 file stays readable",
    ),
    Case(
        "control_characters_in_cells_and_headers",
        {
            "residentes.csv": "id,\x1b[31mrojo,direccion,lat,lon\n"
            + ("x" * 100)
            + f",1,CL\x001,{GOOD}\nB,1,CL 2,{GOOD}\n"
        },
        quarantine={"residentes.csv": {2: "control_characters"}},
        accepted={"residentes.csv": 1},
        check=_check_header_escape,
    ),
    Case(
        "very_long_header_line",
        {"residentes.csv": f"id,lat,lon,{'h' * 100_000}\nA,{GOOD},1\n"},
        accepted={"residentes.csv": 1},
        check=_check_long_header,
    ),
    Case(
        "only_drop_toml_and_hidden_files",
        {"drop.toml": "date = 2024-06-01\n", ".DS_Store": b"\x00\x01", ".oculto/x.csv": "a"},
        drop_error="no data files in",
    ),
    Case(
        "documents_and_ignored_files_only",
        {
            "LEEME.txt": "notas",
            "residentes.csv": rows("id,lat,lon", f"A,{GOOD}"),
            "drop.toml": '[files."residentes.csv"]\nkind = "ignore"\n',
        },
        drop_error="could be ingested: LEEME.txt: a document (not a data file): not ingested; "
        "residentes.csv: ignored, as drop.toml says",
    ),
    Case(
        "drop_toml_unknown_keys",
        {"residentes.csv": rows("id,lat,lon", f"A,{GOOD}"), "drop.toml": 'colour = "red"\n'},
        drop_error="unknown key(s) ['colour']",
    ),
    Case(
        "drop_toml_unknown_file_keys",
        {
            "residentes.csv": rows("id,lat,lon", f"A,{GOOD}"),
            "drop.toml": '[files."residentes.csv"]\nsheeet = 2\n',
        },
        drop_error="unknown key(s) ['sheeet']",
    ),
    Case(
        "drop_toml_header_row_as_text",
        {
            "residentes.csv": rows("id,lat,lon", f"A,{GOOD}"),
            "drop.toml": '[defaults]\nheader_row = "3"\n',
        },
        drop_error="header_row must be a row number >= 1, got '3'",
    ),
    Case(
        "drop_toml_wrong_types",
        {
            "residentes.csv": rows("id,lat,lon", f"A,{GOOD}"),
            "drop.toml": "[defaults]\nsheet = 1.5\n",
        },
        drop_error="sheet must be a sheet name or a number >= 1, got 1.5",
    ),
    Case(
        "drop_toml_encoding_not_a_name",
        {
            "residentes.csv": rows("id,lat,lon", f"A,{GOOD}"),
            "drop.toml": "[defaults]\nencoding = 5\n",
        },
        drop_error="unknown encoding 5",
    ),
    Case(
        "drop_toml_crs_true",
        {
            "residentes.csv": rows("id,lat,lon", f"A,{GOOD}"),
            "drop.toml": "[defaults]\ncrs = true\n",
        },
        drop_error="crs must be a CRS name or EPSG number, got True",
    ),
    Case(
        "drop_toml_nested_too_deeply",
        {
            "residentes.csv": rows("id,lat,lon", f"A,{GOOD}"),
            "drop.toml": "x = " + "[" * 50_000 + "]" * 50_000 + "\n",
        },
        drop_error="nested too deeply",
    ),
    Case(
        "drop_toml_is_a_link",
        {"residentes.csv": rows("id,lat,lon", f"A,{GOOD}"), "drop.toml": _toml_link},
        drop_error="drop.toml: a symbolic link; links are not followed",
    ),
]


# ------------------------------------------------------------------------------ the runner


def _write(folder: Path, name: str | bytes, content: Content) -> None:
    raw = name if isinstance(name, bytes) else os.fsencode(name)
    path = folder / os.fsdecode(raw)
    path.parent.mkdir(parents=True, exist_ok=True)
    if callable(content):
        content(path)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_bytes(content.encode("utf-8"))


def check_invariant(drop: Drop) -> None:
    """rows read == accepted + quarantined for every file, and the stored tables agree."""
    quarantine = drop.quarantine
    tables = {"residences": drop.residences, "services": drop.services}
    for entry in drop.report["files"]:
        assert entry["rows_read"] == entry["rows_accepted"] + entry["rows_quarantined"], entry
        assert sum(entry["quarantine_reasons"].values()) == entry["rows_quarantined"]
        assert (quarantine["source_file"] == entry["path"]).sum() == entry["rows_quarantined"]
        if entry["kind"] in tables:
            stored = (tables[entry["kind"]]["source_file"] == entry["path"]).sum()
            assert stored == entry["rows_accepted"], entry["path"]


def _outcome(case: Case, drop: Drop) -> None:
    entries = {e["path"]: e for e in drop.report["files"]}
    with_errors = {path: e["errors"] for path, e in entries.items() if e["errors"]}
    assert set(with_errors) == set(case.errors), with_errors
    for path, fragment in case.errors.items():
        (message,) = with_errors[path]
        assert message.startswith(f"{path}: ") and fragment in message, message
        assert "unexpected" not in message
    got: dict[str, dict[int, str]] = {}
    for row in drop.quarantine.itertuples():
        got.setdefault(row.source_file, {})[int(row.source_row)] = row.reason
    assert got == case.quarantine
    for path, count in case.accepted.items():
        assert entries[path]["rows_accepted"] == count, entries[path]
    for path, fragment in case.warnings.items():
        assert any(fragment in w for w in entries[path]["warnings"]), entries[path]["warnings"]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_drop(case: Case, tmp_path: Path) -> None:
    if case.root_skip and os.geteuid() == 0:
        pytest.skip(case.root_skip)
    folder, store = tmp_path / "drop", tmp_path / "store"
    folder.mkdir()
    for name, content in case.files.items():
        _write(folder, name, content)
    if case.drop_error is not None:
        with pytest.raises(DropError) as info:
            ingest_drop(folder, store=store)
        assert case.drop_error in str(info.value)
        assert list_drops(store).empty
        assert not store.exists() or not [p for p in store.iterdir() if p.name != ".salt"]
        return
    drop = ingest_drop(folder, store=store)
    check_invariant(drop)
    _outcome(case, drop)
    assert not list((drop.path).glob(".spool*"))
    if case.check is not None:
        case.check(drop, tmp_path)


def test_corpus_covers_every_kind_of_bad_input() -> None:
    assert len(CASES) >= 25
    assert len({c.name for c in CASES}) == len(CASES)


def test_missing_drop_folder(tmp_path: Path) -> None:
    with pytest.raises(DropError, match=r"drop folder not found: '.*nowhere'"):
        ingest_drop(tmp_path / "nowhere", store=tmp_path / "store")
    (tmp_path / "a.csv").write_text("x")
    with pytest.raises(DropError, match="not a folder"):
        ingest_drop(tmp_path / "a.csv", store=tmp_path / "store")


# ------------------------------------------------------------------------------ a huge file


class _Probe(logging.Handler):
    """Samples Arrow's allocated bytes each time ingest logs (after every chunk)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.arrow_peak = 0
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.arrow_peak = max(self.arrow_peak, pa.total_allocated_bytes())
        self.messages.append(record.getMessage())


def _big_csv(folder: Path, rows: int) -> int:
    """A residence CSV without ids (ids are the one thing kept per row: 8 bytes each);
    one row in 50 has a bad latitude."""
    folder.mkdir()
    number = np.arange(rows)
    lat = np.char.add("4.6", (number % 9000).astype(str))
    lat[number % 50 == 0] = "x"
    table = pa.table(
        {
            "direccion": np.char.add("CL ", (number % 200).astype(str)),
            "barrio": np.full(rows, "Barrio de prueba"),
            "lat": lat,
            "lon": np.full(rows, LON),
        }
    )
    import pyarrow.csv as pcsv

    pcsv.write_csv(table, folder / "residentes.csv")
    return (folder / "residentes.csv").stat().st_size


def _measured_ingest(folder: Path, store: Path) -> tuple[Drop, int, int, list[str]]:
    """Ingest with small chunks and spill budget; return the drop, the peak of Python and
    numpy memory (tracemalloc), the peak of Arrow memory seen after each chunk, and logs."""
    probe = _Probe()
    logger = logging.getLogger("geo_integration.ingest")
    level = logger.level
    logger.addHandler(probe)
    logger.setLevel(logging.DEBUG)
    base = pa.total_allocated_bytes()
    tracemalloc.start()
    try:
        drop = ingest_drop(folder, store=store, chunk_rows=500, spill_bytes=64 << 10)
        python_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        logger.removeHandler(probe)
        logger.setLevel(level)
    return drop, python_peak, probe.arrow_peak - base, probe.messages


def test_huge_csv_is_streamed_in_bounded_memory(tmp_path: Path) -> None:
    _big_csv(tmp_path / "warm", 10)
    ingest_drop(tmp_path / "warm", store=tmp_path / "w")  # imports done before measuring
    small_size = _big_csv(tmp_path / "small", 16_000)
    big_size = _big_csv(tmp_path / "big", 64_000)
    _small, small_py, small_arrow, _ = _measured_ingest(tmp_path / "small", tmp_path / "s1")
    big, big_py, big_arrow, logs = _measured_ingest(tmp_path / "big", tmp_path / "s2")
    assert big_size > 3.9 * small_size > 3_000_000
    # the reading spilled both tables to disk and holds far less than the file
    assert (
        "residentes.csv: rows spilled to disk while reading (accepted: True, quarantined: True)"
        in logs
    )
    assert big_py < 1.2 * small_py + (128 << 10), (small_py, big_py)
    assert big_arrow < 0.8 * big_size, (small_arrow, big_arrow, big_size)
    assert big_py < 0.8 * big_size
    # same rows as a run held in memory
    check_invariant(big)
    assert big.report["totals"]["residences"] == 64_000 - 1280
    assert big.report["totals"]["quarantine_reasons"] == {"bad_coordinates": 1280}
    (tmp_path / "s3").mkdir()
    (tmp_path / "s3" / ".salt").write_bytes((tmp_path / "s2" / ".salt").read_bytes())
    whole = ingest_drop(tmp_path / "big", store=tmp_path / "s3")  # default chunks, no spill
    columns = ["record_id", "source_row", "address", "barrio", "lon", "lat"]
    assert big.residences[columns].equals(whole.residences[columns])
    assert big.quarantine.equals(whole.quarantine)


def test_cli_prints_hostile_file_names_literally(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from geo_integration.cli import main

    folder = tmp_path / "drop"
    _write(folder, "[/residentes].csv", rows("id,lat,lon", f"A,{GOOD}"))  # folder "[": markup
    _write(folder, "residentes_[b].csv", rows("id,lat,lon", f"B,{GOOD}"))
    assert main(["ingest", str(folder), "--store", str(tmp_path / "store")]) == 0
    out = capsys.readouterr().out
    assert "[/residentes].csv" in out and "residentes_[b].csv" in out
