"""Maps in a real browser: Debian's headless Chromium, driven by Playwright, network blocked.

Needs ``/usr/bin/chromium`` (``apt-get install -y chromium``; Playwright's own browser
download is not used). Without it these tests fail when ``CI=true`` and skip otherwise.
Screenshots go to ``$GEO_INTEGRATION_TEST_ARTIFACTS`` when set, else to the test's tmp dir.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from maptables import XSS, make_inputs, require_assets

from geo_integration import maps
from geo_integration.render_inputs import ReportInputs

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--headless=new",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if not Path(CHROMIUM).is_file() and not shutil.which("chromium"):
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("CI=true but /usr/bin/chromium is missing: apt-get install -y chromium")
        pytest.skip("Chromium not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=CHROMIUM,
            headless=True,
            args=ARGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield ctx
        finally:
            ctx.close()


@pytest.fixture(scope="module")
def map_files(minicity_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    bundle = require_assets()
    inputs: ReportInputs = make_inputs(minicity_dir)
    out = tmp_path_factory.mktemp("maps")
    pages = {
        "health": maps.render_coverage_map(inputs, service_type="health", assets=bundle),
        "overview_en": maps.render_overview_map(inputs, lang="en", assets=bundle),
        "online": maps.render_overview_map(inputs, assets=bundle, online_basemap=True),
    }
    files = {}
    for name, page in pages.items():
        files[name] = out / f"{name}.html"
        files[name].write_text(page, encoding="utf-8")
    return files


@dataclass
class Visit:
    """A page opened with the network blocked, and what it did."""

    page: Any
    requests: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


def open_offline(context: Any, path: Path) -> Visit:
    page = context.new_page()
    visit = Visit(page)

    def route(route: Any) -> None:
        url = route.request.url
        if url.startswith(("file:", "data:")):
            route.continue_()
        else:
            visit.blocked.append(url)
            route.abort()

    page.route("**/*", route)
    page.on("request", lambda r: visit.requests.append(r.url))
    page.on("requestfailed", lambda r: visit.failed.append(r.url))
    page.on("console", lambda m: m.type == "error" and visit.console_errors.append(m.text))
    page.on("pageerror", lambda e: visit.page_errors.append(str(e)))

    def on_dialog(dialog: Any) -> None:
        visit.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.goto(path.as_uri(), wait_until="load")
    page.wait_for_function("() => window.GI_MAP !== undefined", timeout=15000)
    page.wait_for_timeout(300)
    return visit


def artifact(tmp_path: Path, name: str) -> Path:
    root = os.environ.get("GEO_INTEGRATION_TEST_ARTIFACTS")
    folder = Path(root) if root else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def layer_names(page: Any) -> list[str]:
    return page.eval_on_selector_all(
        ".leaflet-control-layers label", "els => els.map(e => e.textContent.trim())"
    )


def click_marker(page: Any, text: str) -> None:
    """Click (with the mouse) the marker whose popup title contains ``text``."""
    point = page.evaluate(
        """(text) => {
            let found = null;
            GI_MAP.eachLayer(l => {
                if (!found && l._giRow && String(l._giRow[3]).includes(text)) { found = l; }
            });
            if (!found) { return null; }
            const p = GI_MAP.latLngToContainerPoint(found.getLatLng());
            const box = GI_MAP.getContainer().getBoundingClientRect();
            return [box.left + p.x, box.top + p.y];
        }""",
        text,
    )
    assert point is not None, f"no marker titled {text!r} on the map"
    page.mouse.click(point[0], point[1])
    page.wait_for_selector(".leaflet-popup-content", timeout=5000)


def test_coverage_map_offline(context: Any, map_files: dict[str, Path], tmp_path: Path) -> None:
    visit = open_offline(context, map_files["health"])
    page = visit.page
    assert page.evaluate("() => typeof L === 'object' && L.version") == "1.9.4"
    assert page.locator(".leaflet-map-pane").count() == 1
    assert page.locator(".leaflet-overlay-pane canvas").count() >= 1
    assert page.locator(".gi-sym").count() == 4  # 2 health services + 2 proposed sites
    names = layer_names(page)
    for expected in (
        "Fondo liso (sin conexión)",
        "Cobertura por localidad (≤ 15 min)",
        "Localidades (límites)",
        "Migrantes por hexágono",
        "Demanda no atendida (a más de 15 min)",
        "Puntos calientes de brecha (Gi*)",
        "Área de servicio a 30 min a pie",
        "Servicios: Salud",
        "Sitios propuestos",
    ):
        assert expected in names
    assert page.locator(".gi-legend").inner_text().count("Cobertura por localidad") == 1
    assert page.locator(".leaflet-control-scale").count() == 1
    assert page.locator(".leaflet-control-zoom-fullscreen").count() == 1

    click_marker(page, "alert(1)")
    popup = page.locator(".leaflet-popup-content")
    text = popup.inner_text()
    assert XSS in text
    assert "<img src=x onerror=alert(2)>" in text
    assert popup.locator("script, img").count() == 0
    page.wait_for_timeout(200)
    page.screenshot(path=str(artifact(tmp_path, "coverage_health_offline.png")))

    assert visit.dialogs == []
    assert visit.page_errors == []
    assert visit.console_errors == []
    assert visit.failed == []
    assert visit.blocked == []
    assert visit.requests == [map_files["health"].as_uri()]
    page.close()


def test_legend_follows_layers_and_search_finds_localities(
    context: Any, map_files: dict[str, Path]
) -> None:
    visit = open_offline(context, map_files["health"])
    page = visit.page
    legend = page.locator(".gi-legend")
    assert "Migrantes por hexágono" not in legend.inner_text()
    page.locator(".leaflet-control-layers label", has_text="Migrantes por hexágono").click()
    assert "Migrantes por hexágono" in legend.inner_text()
    assert "Celdas con menos de 10 migrantes suprimidas" in legend.inner_text()

    before = page.evaluate("() => GI_MAP.getZoom()")
    page.fill(".gi-search input", "ciudad bolivar")
    page.press(".gi-search input", "Enter")
    page.wait_for_timeout(600)
    centre = page.evaluate("() => { const c = GI_MAP.getCenter(); return [c.lat, c.lng]; }")
    bounds = page.evaluate(
        """() => { let b = null; GI_MAP.eachLayer(l => {
            if (l.feature && l.feature.properties.n === 'Ciudad Bolívar') { b = l.getBounds(); }
        }); return [b.getSouth(), b.getWest(), b.getNorth(), b.getEast()]; }"""
    )
    assert bounds[0] <= centre[0] <= bounds[2] and bounds[1] <= centre[1] <= bounds[3]
    assert page.evaluate("() => GI_MAP.getZoom()") >= before
    page.fill(".gi-search input", "Atlántida")
    page.press(".gi-search input", "Enter")
    assert page.locator(".gi-search-msg").inner_text() == "Localidad no encontrada"
    assert visit.page_errors == [] and visit.failed == []
    page.close()


def test_english_overview_offline(context: Any, map_files: dict[str, Path], tmp_path: Path) -> None:
    visit = open_offline(context, map_files["overview_en"])
    page = visit.page
    names = layer_names(page)
    assert "Migrants per hexagon" in names and "Services: Educación" in names
    assert page.locator(".gi-sym").count() >= 4
    click_marker(page, "Colegio Distrital")
    assert "Capacity" in page.locator(".leaflet-popup-content").inner_text()
    page.screenshot(path=str(artifact(tmp_path, "overview_en_offline.png")))
    assert visit.page_errors == [] and visit.console_errors == [] and visit.failed == []
    page.close()


def test_online_basemap_falls_back_offline(context: Any, map_files: dict[str, Path]) -> None:
    visit = open_offline(context, map_files["online"])
    page = visit.page
    page.wait_for_selector(".gi-offline-note", timeout=5000)
    assert page.evaluate(
        "() => document.querySelector('.leaflet-tile-pane img') === null "
        "|| document.querySelectorAll('.leaflet-tile-pane .leaflet-layer').length === 0"
    )
    assert all("tile.openstreetmap.org" in url for url in visit.blocked) and visit.blocked
    assert visit.page_errors == []
    checked = page.eval_on_selector_all(
        ".leaflet-control-layers-base input", "els => els.map(e => e.checked)"
    )
    assert checked == [True, False]  # back on the plain background
    page.close()
