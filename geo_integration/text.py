"""Text normalisation shared by every module that matches names.

Matching of place names (localities, UPZ, barrios, column headers) is accent-, case- and
spacing-insensitive everywhere: ``"Ciudad Bolivar"``, ``"CIUDAD BOLÍVAR"`` and
``"ciudad bolívar"`` all normalise to ``"CIUDAD BOLIVAR"``.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["fold", "name_key", "snake_key"]

_SPACES = re.compile(r"\s+")
_NON_ALNUM = re.compile(r"[^0-9A-Z]+")
# combining marks (accents) left by NFKD decomposition
_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]+")


def fold(text: str) -> str:
    """Strip accents (Ñ becomes N) and upper-case ``text``, keeping other characters."""
    if text.isascii():
        return text.upper()
    return _COMBINING.sub("", unicodedata.normalize("NFKD", text)).upper()


def name_key(text: object) -> str:
    """Return the matching key of a place name.

    Accents and case are dropped, punctuation becomes a space, runs of spaces collapse.

    Examples
    --------
    >>> name_key("  Ciudad  Bolívar ")
    'CIUDAD BOLIVAR'
    >>> name_key("Los Mártires")
    'LOS MARTIRES'
    """
    if text is None:
        return ""
    folded = fold(str(text))
    return _SPACES.sub(" ", _NON_ALNUM.sub(" ", folded)).strip()


def snake_key(text: object) -> str:
    """Return a lower-case, underscore-separated key (for column headers).

    Examples
    --------
    >>> snake_key("Dirección de residencia")
    'direccion_de_residencia'
    """
    return name_key(text).lower().replace(" ", "_")
