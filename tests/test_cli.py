from __future__ import annotations

import subprocess
import sys

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
