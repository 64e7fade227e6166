from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pyarrow as pa
import pytest
from shapely.geometry import Point, Polygon

from geo_integration.errors import InputFileError
from geo_integration.readers import RawChunk, RestartExact, TableReader, open_table
from geo_integration.schema import MAX_COLUMNS, FileConfig


def read_all(reader: TableReader) -> list[RawChunk]:
    try:
        return list(reader.chunks(chunk_rows=1000))
    except RestartExact:
        return list(reader.exact().chunks(chunk_rows=1000))


def values(path: Path, config: FileConfig | None = None) -> dict[str, list[str | None]]:
    chunks = read_all(open_table(path, config))
    return pa.concat_tables([c.table for c in chunks]).to_pydict()


TEXT = "id{d}localidad{d}latitud\n1{d}Ciudad Bolívar{d}4,61\n2{d}Antonio Nariño{d}4,58\n"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252", "latin-1", "utf-16"])
@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_csv_encodings_and_delimiters(tmp_path: Path, encoding: str, delimiter: str) -> None:
    text = TEXT.format(d=delimiter)
    if delimiter == ",":
        text = text.replace("4,61", '"4,61"').replace("4,58", '"4,58"')
    path = tmp_path / "residentes.csv"
    path.write_bytes(text.encode(encoding))
    reader = open_table(path)
    assert reader.info.delimiter == delimiter
    assert reader.info.columns == ["id", "localidad", "latitud"]
    got = values(path)
    assert got["localidad"] == ["Ciudad Bolívar", "Antonio Nariño"]
    assert got["latitud"] == ["4,61", "4,58"]


def test_csv_excel_sep_line_and_row_numbers(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("sep=;\nid;lat\n1;4,6\n\n2;4,7\n", encoding="utf-8")
    reader = open_table(path)
    assert (reader.info.delimiter, reader.info.header_row) == (";", 2)
    chunks = read_all(reader)
    assert np.concatenate([c.rows for c in chunks]).tolist() == [3, 5]
    assert sum(c.blank_rows for c in chunks) == 1


def test_csv_irregular_lines_go_to_exact_reader(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text(
        'id,lat,lon\n1,4.6,-74.1\n2,4.7,-74.2,extra\n3,"4.8",-74.3,\n4,"a\nb",5\n5\n6,1,2\n',
        encoding="utf-8",
    )
    reader = open_table(path)
    with pytest.raises(RestartExact):
        list(reader.chunks())
    chunks = list(reader.exact().chunks())
    rows = np.concatenate([c.rows for c in chunks]).tolist()
    bad = [(m.row, m.fields) for c in chunks for m in c.malformed]
    assert rows == [2, 4, 5, 7]  # record numbers; the empty trailing field of row 4 is fine
    assert bad == [(3, ["2", "4.7", "-74.2", "extra"]), (6, ["5"])]
    table = pa.concat_tables([c.table for c in chunks]).to_pydict()
    assert table["lat"] == ["4.6", "4.8", "a\nb", "1"]


def test_csv_header_found_below_title_lines(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("Listado de residentes\n\nid,latitud,longitud\n1,4.6,-74.1\n", encoding="utf-8")
    reader = open_table(path)
    assert reader.info.header_row == 3
    assert np.concatenate([c.rows for c in read_all(reader)]).tolist() == [4]


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", "empty file"),
        (b"PK\x03\x04\x14\x00\x00\x00binary", "binary file"),
        (b"\n\n  \n", "no header"),
    ],
)
def test_csv_unreadable_files(tmp_path: Path, content: bytes, match: str) -> None:
    path = tmp_path / "residentes.csv"
    path.write_bytes(content)
    with pytest.raises(InputFileError, match=match) as info:
        open_table(path)
    assert info.value.path == str(path)


def test_too_many_columns_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    header = ",".join(f"c{i}" for i in range(MAX_COLUMNS + 1))
    path.write_text(header + "\n" + ",".join("1" * (MAX_COLUMNS + 1)) + "\n", encoding="utf-8")
    with pytest.raises(InputFileError, match=f"{MAX_COLUMNS + 1} columns"):
        open_table(path)


def test_refused_and_unknown_suffixes(tmp_path: Path) -> None:
    for name, match in (("r.xls", "xlsx"), ("r.pdf", "unknown file type")):
        (tmp_path / name).write_bytes(b"x")
        with pytest.raises(InputFileError, match=match):
            open_table(tmp_path / name)


def _workbook(path: Path) -> None:
    book = openpyxl.Workbook()
    first = book.active
    first.title = "Portada"
    first["A1"] = "Nada aquí"
    sheet = book.create_sheet("Datos")
    sheet["A1"] = "Listado junio"
    sheet.append([])
    sheet.append(["id", "latitud", "longitud", "direccion"])
    sheet.append([1, 4.6097, -74.0817, '=HYPERLINK("http://x","y")'])
    sheet.append([2.0, "4,61", "-74,08", None])
    book.save(path)


def test_xlsx_named_sheet_header_detection_and_formulas_as_text(tmp_path: Path) -> None:
    path = tmp_path / "r.xlsx"
    _workbook(path)
    reader = open_table(path, FileConfig(sheet="Datos"))
    assert (reader.info.sheet, reader.info.header_row) == ("Datos", 3)
    chunks = read_all(reader)
    assert np.concatenate([c.rows for c in chunks]).tolist() == [4, 5]
    got = pa.concat_tables([c.table for c in chunks]).to_pydict()
    assert got["id"] == ["1", "2"]
    assert got["latitud"] == ["4.6097", "4,61"]
    assert got["direccion"] == ['=HYPERLINK("http://x","y")', None]
    numbered = open_table(path, FileConfig(sheet=2))
    assert numbered.info.sheet == "Datos"


def test_xlsx_wrong_sheet_and_truncated_file(tmp_path: Path) -> None:
    path = tmp_path / "r.xlsx"
    _workbook(path)
    with pytest.raises(InputFileError, match=r"no sheet 'Hoja9'.*'Portada', 'Datos'"):
        open_table(path, FileConfig(sheet="Hoja9"))
    cut = tmp_path / "cut.xlsx"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(InputFileError, match="not a readable XLSX"):
        open_table(cut)


def _geo(tmp_path: Path, crs: str = "EPSG:4326") -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"id": [1, 2, 3], "nombre": ["a", None, "c"], "capacidad": [10.5, None, 3]},
        geometry=[
            Point(-74.1, 4.6),
            None,
            Polygon([(-74.1, 4.6), (-74.0, 4.6), (-74.0, 4.7)]),
        ],
        crs=crs,
    )


@pytest.mark.parametrize("suffix", ["geojson", "gpkg", "parquet"])
def test_geo_formats(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"servicios.{suffix}"
    frame = _geo(tmp_path)
    if suffix == "parquet":
        frame.to_parquet(path)
    else:
        frame.to_file(path)
    reader = open_table(path)
    assert reader.info.has_geometry and reader.info.crs == "EPSG:4326"
    assert reader.info.crs_trusted is (suffix != "geojson")
    (chunk,) = read_all(reader)
    assert chunk.rows.tolist() == [0, 1, 2]
    assert chunk.table.column("nombre").to_pylist() == ["a", None, "c"]
    assert chunk.table.column("id").to_pylist() == ["1", "2", "3"]
    assert chunk.x is not None and chunk.bad_geometry is not None
    assert chunk.x[0] == pytest.approx(-74.1) and np.isnan(chunk.x[1:]).all()
    assert chunk.bad_geometry.tolist() == [False, False, True]


def test_geoparquet_projected_crs_and_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "servicios.parquet"
    _geo(tmp_path).iloc[:1].to_crs("EPSG:3116").to_parquet(path)
    reader = open_table(path)
    assert reader.info.crs == "EPSG:3116"
    bad = tmp_path / "servicios2.gpkg"
    bad.write_bytes(b"SQLite format 3\x00" + b"\x00" * 50)
    with pytest.raises(InputFileError, match="not a readable gpkg"):
        open_table(bad)
