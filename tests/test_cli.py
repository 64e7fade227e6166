from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from geo_integration.cli import main


def test_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "data" in out


def test_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["no-such-command"]) == 2
    assert "No such command" in capsys.readouterr().err


def test_python_dash_m_works() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "geo_integration", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0
    assert "geo-integration" in proc.stdout


def test_import_has_no_heavy_side_effects() -> None:
    code = "import sys, geo_integration; print('geopandas' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "False"


def test_every_public_name_resolves() -> None:
    import geo_integration as gi

    for name in gi.__all__:
        assert getattr(gi, name) is not None, name


def test_cli_siting_models_are_the_solvers_models() -> None:
    from geo_integration.cli import SITING_MODELS
    from geo_integration.siting_models import MODELS

    assert SITING_MODELS == MODELS


@pytest.mark.parametrize("command", ["gaps", "site", "map", "report"])
def test_drop_may_be_a_store_reference(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """DROP is also a drop id or 'latest': it reaches the store (exit 1, a clear message)
    instead of being refused as a missing folder (exit 2)."""
    extra = ["--service-type", "health"] if command == "site" else []
    args = [command, "latest", "--store", str(tmp_path), "--out", str(tmp_path / "o"), *extra]
    assert main(args) == 1
    assert "no drops in the store" in capsys.readouterr().err
