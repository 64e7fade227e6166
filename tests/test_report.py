"""Report: HTML page and XLSX workbook, values known by hand, escaping, literal text cells."""

from __future__ import annotations

import base64
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
from maptables import FORMULA, make_inputs
from openpyxl import load_workbook

from geo_integration import report
from geo_integration.assets import external_references
from geo_integration.charts import bar_chart, coverage_chart
from geo_integration.errors import ConfigError, PrivacyError
from geo_integration.render_inputs import ReportInputs

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def inputs(minicity_dir: Path) -> ReportInputs:
    return make_inputs(minicity_dir)


@pytest.fixture(scope="module")
def written(inputs: ReportInputs, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return report.write_report(inputs, tmp_path_factory.mktemp("report"))


@pytest.fixture(scope="module")
def page(written: list[Path]) -> str:
    return written[0].read_text(encoding="utf-8")


def row_cells(page: str, first: str, section: str) -> list[str]:
    """Text of the cells of the first row starting with ``first`` in ``section``."""
    part = page[page.index(f'<section id="{section}">') :]
    part = part[: part.index("</section>")]
    for row in re.findall(r"<tr>(.*?)</tr>", part):
        cells = re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row)
        if cells and cells[0] == first:
            return cells
    raise AssertionError(f"no row {first!r} in {section}")


def test_files_and_sections(written: list[Path], page: str) -> None:
    assert [p.name for p in written] == ["report.html", "report.xlsx"]
    assert "<title>Acceso a servicios de migrantes: entrega del 2024-06-01</title>" in page
    for sid in ("summary", "localities", "upz", "changes", "sites", "clusters", "quality"):
        assert f'<section id="{sid}">' in page
    assert "Las cifras de áreas con menos de 10 migrantes están suprimidas" in page


def test_locality_numbers(page: str) -> None:
    assert row_cells(page, "08", "localities")[:11] == [
        "08",
        "Kennedy",
        "120",
        "60",
        "10,0 %",
        "25,0 %",
        "90,0 %",
        "22,5 min",
        "0,0300",
        "0,0200",
        "1",
    ]
    suba = row_cells(page, "11", "localities")
    assert suba[1] == "Suba" and set(suba[2:]) == {"suprimido (&lt; 10)"}
    assert "Cobertura ≤ 15 min</th>" in page  # per-type tables drop the type prefix


def test_changes_with_arrows(page: str) -> None:
    kennedy = row_cells(page, "08", "changes")
    # migrants 100 -> 120; health coverage at 15 min 35 % -> 25 %; schools 70 % -> 70 %
    assert kennedy[2:8] == ["100", "120", "▲ +20", "35,0 %", "25,0 %", "▼ -10,0 p. p."]
    assert kennedy[10] == "= 0,0 p. p."
    assert row_cells(page, "17", "changes")[2:8] == [
        "45",
        "40",
        "▼ -5",
        "80,0 %",
        "85,0 %",
        "▲ 5,0 p. p.",
    ]
    suba = row_cells(page, "11", "changes")
    assert suba[2:5] == ["suprimido (&lt; 10)", "suprimido (&lt; 10)", ""]
    assert 'class="n up"' in page and 'class="n down"' in page


def test_quality_and_sites(page: str) -> None:
    assert row_cells(page, "residencias.csv", "quality")[:4] == [
        "residencias.csv",
        "260",
        "250",
        "10",
    ]
    assert row_cells(page, "exacta (placa)", "quality") == ["exacta (placa)", "200", "80,0 %"]
    assert row_cells(page, "sin ubicar", "quality") == ["sin ubicar", "5", "2,0 %"]
    assert row_cells(page, "1", "sites")[:3] == ["1", "c1", "Sitio &lt;A&gt;"]
    assert "MCLP" in page and "62,0 %" in page


def test_page_is_self_contained_and_escaped(page: str) -> None:
    assert external_references(page) == []
    assert "http://" not in page and "https://" not in page
    assert "<A>" not in page and "<script" not in page
    charts = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(charts) == 3  # coverage of 2 service types + geocoding levels
    assert all(base64.b64decode(c).startswith(PNG_MAGIC) for c in charts)


def test_workbook_sheets_and_values(written: list[Path]) -> None:
    wb = load_workbook(written[1])
    assert wb.sheetnames == [
        "Resumen",
        "Localidades",
        "UPZ",
        "Cambios",
        "Sitios",
        "Concentraciones",
        "Ingesta",
        "Geocodificación",
    ]
    ws = wb["Localidades"]
    header = [c.value for c in ws[1]]
    col = header.index("servicios de salud: Cobertura ≤ 15 min") + 1
    kennedy = next(r for r in ws.iter_rows(min_row=2) if r[0].value == "08")
    assert kennedy[col - 1].value == 0.25 and kennedy[col - 1].number_format == "0.0%"
    suba = next(r for r in ws.iter_rows(min_row=2) if r[0].value == "11")
    assert suba[col - 1].value == "suprimido (< 10)"
    assert [c.value for c in wb["UPZ"][1]][:4] == ["Código", "Localidad", "UPZ", "Migrantes"]


def test_workbook_text_never_becomes_a_formula(written: list[Path]) -> None:
    wb = load_workbook(written[1])
    names = [r[2].value for r in wb["Sitios"].iter_rows(min_row=2)]
    assert FORMULA in names
    cell = next(r[2] for r in wb["Sitios"].iter_rows(min_row=2) if r[2].value == FORMULA)
    assert cell.data_type == "s"
    with zipfile.ZipFile(written[1]) as zf:
        sheets = [n for n in zf.namelist() if n.startswith("xl/worksheets/sheet")]
        assert sheets
        for name in sheets:
            assert "<f>" not in zf.read(name).decode("utf-8")


def test_english_report(inputs: ReportInputs, tmp_path: Path) -> None:
    html_path, xlsx_path = report.write_report(inputs, tmp_path, lang="en")
    text = html_path.read_text(encoding="utf-8")
    assert "Migrants&#x27; access to services: data drop of 2024-06-01" in text
    assert "Changes since the data drop of 2024-03-01" in text
    assert "suppressed (&lt; 10)" in text and "suprimido" not in text
    assert row_cells(text, "08", "localities")[4] == "10.0 %"
    assert load_workbook(xlsx_path).sheetnames[:3] == ["Summary", "Localities", "UPZ"]


def test_without_previous_or_optional_parts(inputs: ReportInputs, tmp_path: Path) -> None:
    bare = ReportInputs(localities=inputs.localities, locality_access=inputs.locality_access)
    text = report.render_report_html(bare)
    assert 'id="changes"' not in text and 'id="quality"' not in text
    assert "No hay una entrega anterior con la que comparar." in text
    report.write_report_xlsx(bare, tmp_path / "r.xlsx")
    assert load_workbook(tmp_path / "r.xlsx").sheetnames == ["Resumen", "Localidades"]


def test_privacy_and_options(inputs: ReportInputs) -> None:
    assert inputs.previous_localities is not None
    leaky = inputs.previous_localities.assign(migrants=[100.0, 3.0, 45.0, 60.0], suppressed=False)
    bad = ReportInputs(**{**inputs.__dict__, "previous_localities": leaky})
    with pytest.raises(PrivacyError, match="previous locality table"):
        report.render_report_html(bad)
    with pytest.raises(ConfigError, match="lang must be one of"):
        report.render_report_html(inputs, lang="pt")


def test_charts_are_png() -> None:
    png = coverage_chart(
        ["A", "B $x$"], [0.5, None], title="t", xlabel="x", missing_label="suprimido"
    )
    assert png.startswith(PNG_MAGIC)
    assert bar_chart(["a", "b"], [3.0, float(np.int64(4))], title="q").startswith(PNG_MAGIC)


def test_cli_report(
    inputs: ReportInputs, minicity_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from maptables import write_analysis_dir

    from geo_integration.cli import main

    folder = write_analysis_dir(inputs, tmp_path / "now")
    before = write_analysis_dir(inputs, tmp_path / "before")
    (before / "summary.json").write_text('{"drop_date": "2024-03-01"}', encoding="utf-8")
    out = tmp_path / "out"
    args = ["report", str(folder), "--out", str(out), "--data-dir", str(minicity_dir)]
    assert main([*args, "--previous", str(before)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "report.xlsx"]
    assert "Cambios desde la entrega del 2024-03-01" in (out / "report.html").read_text("utf-8")
    capsys.readouterr()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["report", str(empty), "--data-dir", str(minicity_dir)]) == 1
    assert "empty drop" in capsys.readouterr().err
