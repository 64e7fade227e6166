from __future__ import annotations

from pathlib import Path

import pytest

from geo_integration.config import Settings, load_settings, resolve_data_dir
from geo_integration.errors import ConfigError


def test_data_dir_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GEO_INTEGRATION_DATA", str(tmp_path / "env"))
    assert resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_data_dir() == tmp_path / "env"
    monkeypatch.delenv("GEO_INTEGRATION_DATA")
    assert resolve_data_dir().name == "data"


def test_settings_from_toml(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('thresholds_min = [5, 20]\nlang = "en"\n', encoding="utf-8")
    s = load_settings(cfg, privacy_k=5)
    assert s.thresholds_min == (5.0, 20.0)
    assert s.lang == "en" and s.privacy_k == 5
    assert s.walking_speed_kmh == Settings().walking_speed_kmh


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("lang = 'fr'", "lang"),
        ("nope = 1", "unknown setting"),
        ("thresholds_min = [0]", "thresholds_min"),
        ("this is not toml", "not valid TOML"),
    ],
)
def test_bad_settings_are_named(tmp_path: Path, text: str, match: str) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=match):
        load_settings(cfg)


def test_the_example_settings_file_holds_the_defaults() -> None:
    from geo_integration.config import repo_root

    example = load_settings(repo_root() / "config" / "settings.example.toml")
    assert example == Settings()
