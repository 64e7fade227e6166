"""Maps: rendered HTML checked for layers, values known by hand, escaping, offline assets."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import h3
import numpy as np
import pytest
from maptables import XSS, make_inputs, require_assets

from geo_integration import maps
from geo_integration.assets import AssetBundle, external_references
from geo_integration.errors import ConfigError, PrivacyError, RenderError
from geo_integration.render_inputs import MapInputs, ReportInputs

# URLs that may appear in a map without being loaded: XML namespaces, clickable attribution
# links, comments inside the inlined third-party code, and the optional basemap template.
ALLOWED_URLS = (
    "http://www.w3.org/2000/svg",
    "https://leafletjs.com",
    "http://www.sitepoint.com/html5-full-screen-api/",
    "https://bugs.chromium.org/p/chromium/issues/detail?id=600120",
    "https://bugzilla.mozilla.org/show_bug.cgi?id=888319",
    "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
    "https://www.openstreetmap.org/copyright",
)


@pytest.fixture(scope="module")
def bundle() -> AssetBundle:
    return require_assets()


@pytest.fixture(scope="module")
def inputs(minicity_dir: Path) -> ReportInputs:
    return make_inputs(minicity_dir)


@pytest.fixture(scope="module")
def health_es(inputs: ReportInputs, bundle: AssetBundle) -> str:
    return maps.render_coverage_map(inputs, service_type="health", assets=bundle)


def layer_vars(page: str) -> dict[str, str]:
    """Layer-control name (unescaped) -> JavaScript variable."""
    block = page[page.index("_layers = {") : page.index("L.control.layers(")]
    pairs = re.findall(r'^\s*("(?:[^"\\]|\\.)*") : (\w+),$', block, re.M)
    return {html.unescape(json.loads(name)): var for name, var in pairs}


def payloads(page: str, fn: str) -> dict[str, Any]:
    """Parent variable -> payload of each ``GI.<fn>(parent, payload)`` call."""
    found = re.findall(rf"^\s*GI\.{fn}\((\w+), (.*)\);$", page, re.M)
    return {var: json.loads(data) for var, data in found}


def layer_payload(page: str, fn: str, name: str) -> Any:
    return payloads(page, fn)[layer_vars(page)[name]]


def test_spanish_layer_names_and_order(health_es: str) -> None:
    assert list(layer_vars(health_es)) == [
        "Fondo liso (sin conexión)",
        "OpenStreetMap (requiere internet)",
        "Cobertura por localidad (≤ 15 min)",
        "Localidades (límites)",
        "UPZ",
        "Migrantes por hexágono",
        "Demanda no atendida (a más de 15 min)",
        "Índice de brecha",
        "Puntos calientes de brecha (Gi*)",
        "Agrupamientos locales (LISA)",
        "Concentraciones de migrantes",
        "Área de servicio a 10 min a pie",
        "Área de servicio a 15 min a pie",
        "Área de servicio a 30 min a pie",
        "Servicios: Salud",
        "Sitios propuestos",
    ]
    assert "<title>Acceso a pie a servicios de salud</title>" in health_es
    assert "Entrega de datos del 2024-06-01" in health_es
    assert "Celdas con menos de 10 migrantes suprimidas" in health_es
    assert "Buscar localidad" in health_es and "Pantalla completa" in health_es


def test_english_labels(inputs: ReportInputs, bundle: AssetBundle) -> None:
    page = maps.render_coverage_map(inputs, service_type="health", lang="en", assets=bundle)
    names = list(layer_vars(page))
    assert "Coverage by locality (≤ 15 min)" in names
    assert "Unmet demand (more than 15 min away)" in names
    assert "Services: Salud" in names and "Proposed sites" in names
    assert "<title>Walking access to health services</title>" in page
    assert "Cells with fewer than 10 migrants suppressed" in page
    assert "Migrantes" not in page and "Cobertura" not in page
    tips = layer_payload(page, "polygons", "Coverage by locality (≤ 15 min)")
    assert tips["f"][:2] == ["Migrants", "Coverage ≤ 10 min"]


def test_locality_choropleth_classes_and_tooltips(health_es: str) -> None:
    spec = layer_payload(health_es, "polygons", "Cobertura por localidad (≤ 15 min)")
    assert spec["f"] == [
        "Migrantes",
        "Cobertura ≤ 10 min",
        "Cobertura ≤ 15 min",
        "Cobertura ≤ 30 min",
        "Tiempo mediano a pie",
        "Puesto por brecha (1 = mayor)",
    ]
    by_name = {f["properties"]["n"]: f["properties"] for f in spec["fc"]["features"]}
    fill = {name: spec["s"][p["s"]]["fillColor"] for name, p in by_name.items()}
    # 25 % -> 20-40 % class; 85 % -> 80-100 %; 55 % -> 40-60 %; Suba suppressed -> grey
    assert fill == {
        "Kennedy": "#fdae61",
        "Suba": maps.SUPPRESSED_COLOR,
        "La Candelaria": "#1a9641",
        "Ciudad Bolívar": "#ffffbf",
    }
    assert by_name["Kennedy"]["t"] == ["120", "10,0 %", "25,0 %", "90,0 %", "22,5 min", "1"]
    assert by_name["Suba"]["t"][:2] == ["suprimido (&lt; 10)", "suprimido (&lt; 10)"]


def test_coverage_rank_used_when_no_gap_ranking(inputs: ReportInputs, bundle: AssetBundle) -> None:
    no_ranks = ReportInputs(**{**inputs.__dict__, "rank_localities": None})
    page = maps.render_coverage_map(no_ranks, service_type="health", assets=bundle)
    spec = layer_payload(page, "polygons", "Cobertura por localidad (≤ 15 min)")
    assert spec["f"][-1] == "Puesto por cobertura (1 = menor)"
    ranks = {f["properties"]["n"]: f["properties"]["t"][-1] for f in spec["fc"]["features"]}
    assert ranks == {
        "Kennedy": "1",
        "Ciudad Bolívar": "2",
        "La Candelaria": "3",
        "Suba": "suprimido (&lt; 10)",
    }


def test_hexagons_are_aggregated_and_suppressed(health_es: str, inputs: ReportInputs) -> None:
    spec = layer_payload(health_es, "hexes", "Migrantes por hexágono")
    assert inputs.hex_access is not None
    assert len(spec["i"]) == 8  # every cell with migrants, the suppressed one included
    counts = spec["v"][0]
    assert sorted(c for c in counts if c is not None) == [12, 18, 22, 25, 30, 40, 50]
    suppressed = [n for n, c in enumerate(spec["c"]) if c == spec["sc"]]
    assert len(suppressed) == 1 and counts[suppressed[0]] is None
    assert spec["p"][spec["sc"]] == maps.SUPPRESSED_COLOR
    assert spec["st"] == "suprimido (&lt; 10)"


def test_unmet_demand_is_migrants_beyond_threshold(health_es: str) -> None:
    spec = layer_payload(health_es, "hexes", "Demanda no atendida (a más de 15 min)")
    unmet, migrants = spec["v"][0], spec["v"][1]
    # within_15 = round(0.5 * migrants): 50 -> 25 beyond, 25 -> 12 (12.5 rounds to 12)
    assert dict(zip(migrants, unmet, strict=True)) == {
        50: 25,
        30: 15,
        25: 13,
        12: 6,
        40: 20,
        18: 9,
        22: 11,
    }


def test_hexagon_geometry_decodes_to_h3_boundaries(health_es: str, inputs: ReportInputs) -> None:
    encoded = json.loads(re.search(r"GI\.setHexes\((.*)\);$", health_es, re.M).group(1))
    spec = layer_payload(health_es, "hexes", "Migrantes por hexágono")
    assert inputs.hex_access is not None
    cells = list(inputs.hex_access["h3_cell"])
    migrants = list(inputs.hex_access["migrants"])
    for idx, value in zip(spec["i"], spec["v"][0], strict=True):
        ring = np.cumsum(np.asarray(encoded[idx]).reshape(-1, 2), axis=0) / 1e5
        matches = [
            c for c in cells if np.allclose(ring, np.asarray(h3.cell_to_boundary(c)), atol=1.1e-5)
        ]
        assert len(matches) == 1
        expected = migrants[cells.index(matches[0])]
        assert (value is None and np.isnan(expected)) or value == expected


def test_gap_layers(health_es: str) -> None:
    hot = layer_payload(health_es, "hexes", "Puntos calientes de brecha (Gi*)")
    labels = hot["f"][0][2]
    shown = sorted(labels[c] for c in hot["c"])
    # not_significant and the unknown class 'x' are not drawn
    assert shown == sorted(
        [
            "Punto caliente (99 %)",
            "Punto caliente (95 %)",
            "Punto frío (90 %)",
            "Punto caliente (90 %)",
            "Punto frío (99 %)",
            "Punto caliente (99 %)",
        ]
    )
    lisa = layer_payload(health_es, "hexes", "Agrupamientos locales (LISA)")
    assert len(lisa["i"]) == 6  # the two 'ns' cells are left out
    gap = layer_payload(health_es, "hexes", "Índice de brecha")
    assert gap["v"][0][0] == -1.0 and gap["v"][0][-1] == 2.0


def test_services_escaped_and_grouped(health_es: str) -> None:
    assert XSS not in health_es
    assert "<img src=x" not in health_es
    assert "<b>Kennedy</b>" not in health_es
    spec = layer_payload(health_es, "points", "Servicios: Salud")
    titles = sorted(row[3] for row in spec["r"])
    assert titles == [
        "&lt;script&gt;alert(1)&lt;/script&gt;",
        "Hospital &lt;b&gt;Kennedy&lt;/b&gt;",
    ]
    assert spec["f"] == ["Tipo de servicio", "Secretaría", "Capacidad", "Horario", "Dirección"]
    xss_row = next(r for r in spec["r"] if "script" in r[3])
    assert xss_row[4:] == [
        "servicios de salud",
        "Salud",
        "desconocida",
        "&lt;img src=x onerror=alert(2)&gt;",
        "CL 5, 3 20",
    ]
    # the raw text never reaches the page, not even as JSON escapes of '<'
    assert "\\u003cscript" not in health_es


def test_secretariats_have_distinct_symbols(inputs: ReportInputs, bundle: AssetBundle) -> None:
    page = maps.render_overview_map(inputs, assets=bundle)
    symbols = {
        name: tuple(spec["s"][0])
        for name, var in layer_vars(page).items()
        for v, spec in payloads(page, "points").items()
        if v == var and name.startswith("Servicios")
    }
    assert set(symbols) == {"Servicios: Educación", "Servicios: Gobierno", "Servicios: Salud"}
    assert len(set(symbols.values())) == 3
    assert len({s[0] for s in symbols.values()}) == 3  # shapes differ, not only colours


def test_sites_popup_numbers(health_es: str) -> None:
    spec = layer_payload(health_es, "points", "Sitios propuestos")
    assert spec["f"] == ["Puesto", "Ganancia marginal", "Frecuencia de selección"]
    assert [r[3:] for r in spec["r"]] == [
        ["Sitio &lt;A&gt;", "1", "45,00", "90 %"],
        ["=HYPERLINK(&quot;#x&quot;,&quot;clic&quot;)", "2", "12,50", "55 %"],
    ]
    assert "MCLP" in health_es


def test_absent_analyses_leave_layers_out(inputs: ReportInputs, bundle: AssetBundle) -> None:
    bare = MapInputs(
        localities=inputs.localities,
        locality_access=inputs.locality_access,
        services=inputs.services,
    )
    page = maps.render_coverage_map(bare, service_type="health", assets=bundle)
    assert list(layer_vars(page)) == [
        "Fondo liso (sin conexión)",
        "OpenStreetMap (requiere internet)",
        "Cobertura por localidad (≤ 15 min)",
        "Localidades (límites)",
        "Servicios: Salud",
    ]
    assert "GI.hexes(" not in page


def test_page_loads_nothing_from_the_network(
    health_es: str, inputs: ReportInputs, bundle: AssetBundle
) -> None:
    overview = maps.render_overview_map(inputs, assets=bundle, online_basemap=True)
    for page in (health_es, overview):
        assert external_references(page) == []
        urls = set(re.findall(r"https?://[^\s\"'<>)\\]+", page))
        assert urls <= set(ALLOWED_URLS), urls - set(ALLOWED_URLS)
        assert "cdn.jsdelivr" not in page and "cdnjs" not in page
        assert "jquery" not in page.lower() and "bootstrap" not in page.lower()


def test_online_basemap_only_added_when_asked(
    health_es: str, inputs: ReportInputs, bundle: AssetBundle
) -> None:
    def added(page: str) -> bool:
        var = layer_vars(page)["OpenStreetMap (requiere internet)"]
        return f"{var}.addTo(" in page

    assert not added(health_es)
    online = maps.render_coverage_map(
        inputs, service_type="health", assets=bundle, online_basemap=True
    )
    assert added(online)


def test_rendering_is_deterministic(
    inputs: ReportInputs, bundle: AssetBundle, health_es: str
) -> None:
    again = maps.render_coverage_map(inputs, service_type="health", assets=bundle)
    assert again == health_es


def test_unsuppressed_small_counts_are_refused(inputs: ReportInputs, bundle: AssetBundle) -> None:
    assert inputs.hex_access is not None
    leaky = inputs.hex_access.assign(
        migrants=inputs.hex_access["migrants"].fillna(5.0), suppressed=False
    )
    bad = ReportInputs(**{**inputs.__dict__, "hex_access": leaky})
    with pytest.raises(PrivacyError, match="fewer than 10 migrants are not suppressed"):
        maps.render_overview_map(bad, assets=bundle)


def test_bad_options(inputs: ReportInputs, bundle: AssetBundle) -> None:
    with pytest.raises(ConfigError, match="no results for service type 'dentist'"):
        maps.render_coverage_map(inputs, service_type="dentist", assets=bundle)
    with pytest.raises(ConfigError, match="lang must be one of"):
        maps.render_overview_map(inputs, lang="fr", assets=bundle)
    with pytest.raises(ConfigError, match="threshold 20 min not in the results"):
        maps.render_overview_map(inputs, threshold=20, assets=bundle)


def test_missing_assets_say_how_to_fetch(
    inputs: ReportInputs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEO_INTEGRATION_ASSETS", str(tmp_path / "none"))
    with pytest.raises(RenderError, match="run `geo-integration assets fetch`"):
        maps.render_overview_map(inputs)


def test_write_maps_writes_one_file_per_type(
    inputs: ReportInputs, bundle: AssetBundle, tmp_path: Path
) -> None:
    written = maps.write_maps(
        inputs, tmp_path / "maps", lang="en", assets=bundle, service_types=["school"]
    )
    assert [p.name for p in written] == ["overview.html", "coverage_school.html"]
    assert sorted(p.name for p in (tmp_path / "maps").iterdir()) == [
        "coverage_school.html",
        "overview.html",
    ]
    assert "Walking access to schools" in written[1].read_text(encoding="utf-8")


def test_suppressed_flag_from_producer_is_respected(
    inputs: ReportInputs, bundle: AssetBundle
) -> None:
    assert inputs.locality_access is not None
    table = inputs.locality_access.copy()
    table.loc[table["loc_code"] == "17", ["migrants"]] = np.nan
    table.loc[table["loc_code"] == "17", "suppressed"] = True
    changed = ReportInputs(**{**inputs.__dict__, "locality_access": table})
    page = maps.render_coverage_map(changed, service_type="health", assets=bundle)
    spec = layer_payload(page, "polygons", "Cobertura por localidad (≤ 15 min)")
    props = {f["properties"]["n"]: f["properties"] for f in spec["fc"]["features"]}
    assert spec["s"][props["La Candelaria"]["s"]]["fillColor"] == maps.SUPPRESSED_COLOR
    assert props["La Candelaria"]["t"][0] == "suprimido (&lt; 10)"


def test_cli_map(
    inputs: ReportInputs,
    bundle: AssetBundle,
    minicity_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from maptables import write_analysis_dir

    from geo_integration.cli import main

    folder = write_analysis_dir(inputs, tmp_path / "analysis")
    out = tmp_path / "maps"
    args = ["map", str(folder), "--out", str(out), "--data-dir", str(minicity_dir)]
    assert main([*args, "--lang", "en", "--service-type", "health"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["coverage_health.html", "overview.html"]
    assert "coverage_health.html (0." in capsys.readouterr().out
    assert main([*args, "--service-type", "dentist"]) == 1
    assert "no results for service type(s) ['dentist']" in capsys.readouterr().err
    assert main([*args, "--lang", "fr"]) == 2


def test_layer_names_from_data_are_escaped(inputs: ReportInputs, bundle: AssetBundle) -> None:
    assert inputs.services is not None
    services = inputs.services.assign(secretariat="Salud <img src=x onerror=alert(3)>")
    changed = ReportInputs(**{**inputs.__dict__, "services": services})
    page = maps.render_coverage_map(changed, service_type="health", assets=bundle)
    assert "<img src=x onerror=alert(3)>" not in page
    block = page[page.index("_layers = {") : page.index("L.control.layers(")]
    assert '"Servicios: Salud \\u0026lt;img src=x onerror=alert(3)\\u0026gt;"' in block


def test_invalid_h3_cell_is_named(inputs: ReportInputs, bundle: AssetBundle) -> None:
    assert inputs.hex_access is not None
    bad_cells = inputs.hex_access.assign(h3_cell=["not-a-cell", *inputs.hex_access["h3_cell"][1:]])
    bad = ReportInputs(**{**inputs.__dict__, "hex_access": bad_cells})
    with pytest.raises(RenderError, match="invalid H3 cell 'not-a-cell'"):
        maps.render_overview_map(bad, assets=bundle)


@pytest.mark.shared_data
def test_real_boundaries_are_simplified_and_searchable(
    shared_data: Path, bundle: AssetBundle
) -> None:
    from geo_integration.loaders import load_localities, load_upz

    inputs = MapInputs(localities=load_localities(shared_data), upz=load_upz(shared_data))
    page = maps.render_overview_map(inputs, assets=bundle)
    assert len(page.encode()) < 600_000  # assets ~0.2 MB + 20 localities + 116 UPZ
    search = json.loads(re.search(r"GI\.search\(\w+, (.*)\);$", page, re.M).group(1))
    names = [item[0] for item in search["items"]]
    assert len(names) == 20 and "Ciudad Bolívar" in names and "La Candelaria" in names
    upz = layer_payload(page, "polygons", "UPZ")
    assert len(upz["fc"]["features"]) == len(inputs.upz)
    coords = re.findall(r"-?\d+\.\d+", json.dumps(upz["fc"]["features"][0]["geometry"]))
    assert all(len(c.split(".")[1]) <= 5 for c in coords)
