"""The 20 localities (localidades) of Bogotá: codes, clean names and name matching.

The official boundary file spells names in upper case without accents (``CANDELARIA``,
``CIUDAD BOLIVAR``); this module restores the proper names and matches any spelling
accent- and case-insensitively.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from geo_integration.errors import AnalysisError
from geo_integration.text import name_key

__all__ = [
    "LOCALITIES",
    "Locality",
    "locality_code",
    "locality_codes",
    "locality_name",
]


@dataclass(frozen=True)
class Locality:
    """One locality: two-digit code, proper name, and whether it is rural."""

    code: str
    name: str
    rural: bool = False
    aliases: tuple[str, ...] = ()


LOCALITIES: tuple[Locality, ...] = (
    Locality("01", "Usaquén"),
    Locality("02", "Chapinero"),
    Locality("03", "Santa Fe"),
    Locality("04", "San Cristóbal"),
    Locality("05", "Usme"),
    Locality("06", "Tunjuelito"),
    Locality("07", "Bosa"),
    Locality("08", "Kennedy"),
    Locality("09", "Fontibón"),
    Locality("10", "Engativá"),
    Locality("11", "Suba"),
    Locality("12", "Barrios Unidos"),
    Locality("13", "Teusaquillo"),
    Locality("14", "Los Mártires", aliases=("Martires",)),
    Locality("15", "Antonio Nariño"),
    Locality("16", "Puente Aranda"),
    Locality("17", "La Candelaria", aliases=("Candelaria",)),
    Locality("18", "Rafael Uribe Uribe", aliases=("Rafael Uribe",)),
    Locality("19", "Ciudad Bolívar"),
    Locality("20", "Sumapaz", rural=True),
)

_BY_CODE = {loc.code: loc for loc in LOCALITIES}
_BY_KEY: dict[str, str] = {}
for _loc in LOCALITIES:
    for _spelling in (_loc.name, *_loc.aliases, _loc.code, str(int(_loc.code))):
        _BY_KEY[name_key(_spelling)] = _loc.code
    _BY_KEY[name_key(f"Localidad {_loc.name}")] = _loc.code
    _BY_KEY[name_key(f"{int(_loc.code)} {_loc.name}")] = _loc.code
    _BY_KEY[name_key(f"{_loc.code} {_loc.name}")] = _loc.code


def locality_code(name: object) -> str | None:
    """Return the two-digit code of a locality given by any spelling, or ``None``.

    Accepts names with or without accents, any case, extra spaces, the ``Localidad``
    prefix, the code itself (``"7"`` or ``"07"``) and ``"7 Bosa"``-style labels.

    Examples
    --------
    >>> locality_code("CIUDAD BOLÍVAR"), locality_code("ciudad bolivar"), locality_code("7")
    ('19', '19', '07')
    """
    if name is None or (isinstance(name, float) and pd.isna(name)):
        return None
    return _BY_KEY.get(name_key(name))


def locality_name(code: str) -> str:
    """Return the proper name of the locality with two-digit ``code``.

    Raises
    ------
    AnalysisError
        If ``code`` is not one of '01'..'20'.
    """
    try:
        return _BY_CODE[code].name
    except KeyError:
        msg = f"unknown locality code {code!r}: expected '01'..'20'"
        raise AnalysisError(msg) from None


def locality_codes(names: Iterable[object]) -> pd.Series:
    """Vectorised :func:`locality_code`: a string Series of codes (missing where unknown)."""
    values = list(names)
    return pd.Series([locality_code(v) for v in values], dtype="object")
