"""notebooks/walkthrough.md: converted with jupytext and executed on the mini city.

The kernel is this interpreter (a kernel spec written to a temporary folder names
``sys.executable``, so no installed kernel spec is needed or used). It runs offline: a
``sitecustomize`` on its ``PYTHONPATH`` refuses connections to any non-local host, and the map
assets come from the assets cache (``geo-integration assets fetch``).
"""

from __future__ import annotations

import html
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from geo_integration.assets import external_references
from geo_integration.pipeline import privacy_check

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK = REPO / "notebooks" / "walkthrough.md"
KERNEL = "geo-integration-test"

GUARD = '''"""Test kernel: no connection to a non-local host (written by tests/test_notebook.py)."""
import socket

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _check(address):
    host = address[0] if isinstance(address, tuple) else address
    local = ("127.0.0.1", "localhost", "::1")
    if isinstance(host, str) and host not in local and not host.startswith("/"):
        raise RuntimeError(f"network access attempted in the notebook: {address!r}")


def _connect(self, address):
    _check(address)
    return _real_connect(self, address)


def _connect_ex(self, address):
    _check(address)
    return _real_connect_ex(self, address)


socket.socket.connect = _connect
socket.socket.connect_ex = _connect_ex
'''

PROBE = """import socket
try:
    socket.socket().connect(("192.0.2.1", 9))
    blocked = False
except RuntimeError:
    blocked = True
print("network blocked:", blocked)"""


def _kernel_spec(root: Path, env: dict[str, str]) -> Path:
    """A kernel spec running this interpreter with ``env`` and the socket guard."""
    guard = root / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(GUARD, encoding="utf-8")
    spec = root / "kernels" / KERNEL
    spec.mkdir(parents=True)
    env = {**env, "PYTHONPATH": f"{guard}:{REPO}", "IPYTHONDIR": str(root / "ipython")}
    kernel = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "geo_integration test kernel",
        "language": "python",
        "env": env,
    }
    (spec / "kernel.json").write_text(json.dumps(kernel), encoding="utf-8")
    return root / "kernels"


def _texts(cell: Any) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(out["text"])
        for mime in ("text/plain", "text/html"):
            if mime in out.get("data", {}):
                parts.append(out["data"][mime])
    return "\n".join(parts)


@pytest.fixture(scope="module")
def executed(minicity_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    import jupytext
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from maptables import require_assets
    from nbclient import NotebookClient
    from nbformat import v4

    require_assets()  # fails (never skips) with the command to run when the assets are missing
    root = tmp_path_factory.mktemp("notebook")
    work = root / "work"
    config = root / "settings.toml"
    # on the 1 km² mini city everybody is within 15 minutes: measure 3, 5 and 10 (main: 5)
    config.write_text("thresholds_min = [3, 5, 10]\nprivacy_k = 3\n", encoding="utf-8")
    env = {
        "GEO_INTEGRATION_DATA": str(minicity_dir),
        "GEO_INTEGRATION_CACHE": str(root / "cache"),
        "WALKTHROUGH_RESIDENTS": "300",
        "WALKTHROUGH_DIR": str(work),
        "WALKTHROUGH_CONFIG": str(config),
    }
    kernels = _kernel_spec(root, env)
    nb = jupytext.read(NOTEBOOK)
    nb.cells.insert(0, v4.new_code_cell(PROBE))
    manager = AsyncKernelManager(
        kernel_name=KERNEL, kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)])
    )
    mp = pytest.MonkeyPatch()
    mp.setenv("JUPYTER_RUNTIME_DIR", str(root / "runtime"))
    try:
        client = NotebookClient(
            nb,
            km=manager,
            timeout=300,
            startup_timeout=120,
            resources={"metadata": {"path": str(root)}},
        )
        client.execute()
    finally:
        mp.undo()
    return {"nb": nb, "root": root, "work": work, "data": minicity_dir}


def _cell(executed: dict[str, Any], needle: str) -> Any:
    """The first code cell whose source contains ``needle``."""
    return next(c for c in executed["nb"].cells if c.cell_type == "code" and needle in c.source)


def test_the_walkthrough_runs_offline_with_this_interpreter(executed: dict[str, Any]) -> None:
    probe = executed["nb"].cells[0]
    assert "network blocked: True" in _texts(probe)
    cells = [c for c in executed["nb"].cells if c.cell_type == "code"]
    assert len(cells) >= 10
    for cell in cells:
        assert cell.get("execution_count"), cell.source[:60]
        assert not [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]


def test_key_outputs_appear(executed: dict[str, Any]) -> None:
    settings = _texts(_cell(executed, "main_threshold(SETTINGS"))
    assert "main threshold: 5 minutes" in settings
    assert "300 residences" in settings
    levels = _texts(_cell(executed, 'fillna("coordinates given")'))
    assert "exact" in levels and "coordinates given" in levels
    access = _texts(_cell(executed, "TYPES = ["))
    assert "% of migrants within 5 minutes" in access
    assert all(name in access for name in ("Kennedy", "Suba", "Ciudad Bolívar"))
    gaps = _texts(_cell(executed, "gi_class_"))
    assert re.search(r"\d+ inhabited hexagons; hot cells", gaps)
    sites = _texts(_cell(executed, "SitingOptions(SITE_TYPE"))
    assert re.search(r"\b2 new sites proposed for \w+ \(MCLP, 5 min, status optimal\)", sites)
    assert "marginal_gain" in sites and "selection_frequency" in sites
    after = _texts(_cell(executed, "with the two new points"))
    match = re.search(r"([\d.]+) % of migrants within 5 minutes today, ([\d.]+) %", after)
    assert match is not None and float(match.group(2)) >= float(match.group(1))


def _map_page(executed: dict[str, Any]) -> tuple[str, str]:
    cell = _cell(executed, "build_coverage_map(")
    shown = [o for o in cell.outputs if "text/html" in o.get("data", {})]
    assert len(shown) == 1
    wrapper = shown[0]["data"]["text/html"]
    found = re.search(r'srcdoc="([^"]*)"', wrapper)
    assert found is not None, wrapper[:300]
    return wrapper, html.unescape(found.group(1))


def test_the_map_is_inline_and_self_contained(executed: dict[str, Any]) -> None:
    wrapper, page = _map_page(executed)
    assert external_references(re.sub(r'srcdoc="[^"]*"', 'srcdoc=""', wrapper)) == []
    assert external_references(page) == []
    assert "L.map(" in page and "leaflet" in page.lower()
    assert page.count("<script src=") == 0 and "https://unpkg" not in page
    sites = json.loads(
        (executed["work"] / "out" / "siting" / "summary.json").read_text(encoding="utf-8")
    )
    assert sites["n_sites"] == 2


def test_the_executed_notebook_reveals_no_residence(executed: dict[str, Any]) -> None:
    import nbformat

    scan = executed["root"] / "scan"
    scan.mkdir()
    nbformat.write(executed["nb"], scan / "walkthrough.ipynb")
    (scan / "map.html").write_text(_map_page(executed)[1], encoding="utf-8")
    work = executed["work"]
    found = privacy_check(scan, drop=work / "drop", store=work / "store", data_dir=executed["data"])
    assert found == [], found
    residence_columns = {"record_id", "address", "lat", "lon", "household_size", "source_row"}
    for cell in executed["nb"].cells:
        text = _texts(cell) if cell.cell_type == "code" else ""
        headers = {h.strip() for h in re.findall(r"<th[^>]*>([^<]*)</th>", text)}
        assert not headers & residence_columns, (cell.source[:60], headers)


def test_the_markdown_is_jupytext_canonical_and_converts_with_the_cli(tmp_path: Path) -> None:
    import subprocess

    import jupytext
    import nbformat

    text = NOTEBOOK.read_text(encoding="utf-8")
    again = jupytext.writes(jupytext.reads(text, fmt="md"), fmt="md")
    version = re.compile(r"^ *jupytext_version: .*\n", re.M)
    assert version.sub("", again) == version.sub("", text)  # opening and saving changes nothing
    target = tmp_path / "walkthrough.ipynb"
    done = subprocess.run(
        [sys.executable, "-m", "jupytext", "--to", "ipynb", "-o", str(target), str(NOTEBOOK)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    notebook = nbformat.read(target, as_version=4)
    nbformat.validate(notebook)
    assert notebook.metadata["kernelspec"]["name"] == "python3"
    assert sum(c.cell_type == "code" for c in notebook.cells) >= 10
