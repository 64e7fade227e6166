"""Labels: one table, both languages, same placeholders; number formats."""

from __future__ import annotations

import string

import pytest

from geo_integration.errors import ConfigError
from geo_integration.labels import (
    LABELS,
    fmt_int,
    fmt_minutes,
    fmt_number,
    fmt_pct,
    label,
    service_type_label,
)


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_label_has_both_languages_with_the_same_placeholders() -> None:
    for key, texts in LABELS.items():
        assert set(texts) == {"es", "en"}, key
        assert texts["es"].strip() and texts["en"].strip(), key
        assert fields(texts["es"]) == fields(texts["en"]), key


def test_label_lookup() -> None:
    assert label("layer_unmet", "es", t=15) == "Demanda no atendida (a más de 15 min)"
    assert label("layer_unmet", "en", t=15) == "Unmet demand (more than 15 min away)"
    assert label("suppressed", k=10) == "suprimido (< 10)"
    with pytest.raises(ConfigError):
        label("legend", "fr")
    with pytest.raises(KeyError):
        label("no_such_label")


def test_service_types() -> None:
    assert service_type_label("health") == "servicios de salud"
    assert service_type_label("health", "en") == "health services"
    assert service_type_label("legal_clinic") == "legal clinic"


def test_number_formats() -> None:
    assert fmt_number(1234567.891, "es", decimals=2) == "1.234.567,89"
    assert fmt_number(1234567.891, "en", decimals=2) == "1,234,567.89"
    assert fmt_int(20000, "es") == "20.000"
    assert fmt_pct(0.255, "es") == "25,5 %" and fmt_pct(0.255, "en") == "25.5 %"
    assert fmt_minutes(12.25, "en") == "12.2 min"
    assert fmt_pct(float("nan"), "es", missing="sin datos") == "sin datos"
    assert fmt_int(None, "es", missing="-") == "-"


def test_secretariat_keys_read_as_names() -> None:
    from geo_integration.labels import service_type_label

    assert service_type_label("sec_secretaria_de_educacion") == "Secretaría de Educación"
    assert service_type_label("sec_secretaria_de_la_mujer", "en") == "Women's Secretariat"
    assert service_type_label("sec_secretaria_general") == "Secretaría General"
    assert service_type_label("sec_oficina_x") == "Secretaría oficina x"
