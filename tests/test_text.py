"""Tests of the shared text normalisation (name keys)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from geo_integration.text import fold, name_key, name_keys

# Latin script as typed in Bogotá (letters with accents, ordinals, symbols); no letter whose
# upper case has two letters (ß), which name_keys documents as a space.
ALPHABET = "abcxyzABCXYZ0123456789 #-.,/;:()'\"\t\n@_áéíóúÁÉÍÓÚñÑüÜçÇàèìòùâêîôûãõäëïöÿªº°²½"


def test_name_key_by_hand() -> None:
    assert name_key("  Ciudad  Bolívar ") == "CIUDAD BOLIVAR"
    assert name_key(None) == ""
    assert fold("Ñandú") == "NANDU"


def test_name_keys_by_hand() -> None:
    values = ["  Ciudad  Bolívar ", None, "Cra 7ª N° 32-16 Sur", "", "e-mail: ana@x.co"]
    assert name_keys(values) == ["CIUDAD BOLIVAR", "", "CRA 7A N 32 16 SUR", "", "E MAIL ANA X CO"]
    assert name_keys([]) == []


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=ALPHABET, max_size=40) | st.none(), max_size=20))
def test_name_keys_equal_name_key(values: list[str | None]) -> None:
    assert name_keys(values) == [name_key(v) for v in values]
