from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from geo_integration.errors import AnalysisError
from geo_integration.localities import LOCALITIES, locality_code, locality_name
from geo_integration.text import name_key


@pytest.mark.parametrize(
    ("spelling", "code"),
    [
        ("Ciudad Bolivar", "19"),
        ("CIUDAD BOLÍVAR", "19"),
        ("ciudad bolívar", "19"),
        ("  Ciudad   Bolívar ", "19"),
        ("CANDELARIA", "17"),
        ("La Candelaria", "17"),
        ("ANTONIO NARIÑO", "15"),
        ("antonio narino", "15"),
        ("Localidad Usaquén", "01"),
        ("7", "07"),
        ("07", "07"),
        ("19 - Ciudad Bolívar", "19"),
        ("LOS MARTIRES", "14"),
        ("Mártires", "14"),
        ("Fontibon", "09"),
    ],
)
def test_locality_code_spellings(spelling: str, code: str) -> None:
    assert locality_code(spelling) == code


@pytest.mark.parametrize("bad", ["", "Soacha", None, float("nan"), "21"])
def test_unknown_locality_is_none(bad: object) -> None:
    assert locality_code(bad) is None


def test_every_locality_round_trips() -> None:
    assert len(LOCALITIES) == 20
    for loc in LOCALITIES:
        assert locality_code(loc.name.upper()) == loc.code
        assert locality_name(loc.code) == loc.name


def test_locality_name_rejects_unknown_code() -> None:
    with pytest.raises(AnalysisError, match="'21'"):
        locality_name("21")


@given(st.text())
def test_name_key_never_raises_and_is_idempotent(text: str) -> None:
    key = name_key(text)
    assert name_key(key) == key
