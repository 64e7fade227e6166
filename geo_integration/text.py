"""Text normalisation shared by every module that matches names.

Matching of place names (localities, UPZ, barrios, column headers) is accent-, case- and
spacing-insensitive everywhere: ``"Ciudad Bolivar"``, ``"CIUDAD BOLÍVAR"`` and
``"ciudad bolívar"`` all normalise to ``"CIUDAD BOLIVAR"``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

__all__ = ["fold", "name_key", "name_keys", "snake_key"]

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


def name_keys(values: Iterable[object]) -> list[str]:
    """:func:`name_key` of many values at once (vectorised with Arrow; ``None`` gives ``""``).

    Equal to ``[name_key(v) for v in values]`` for Latin-script text, several times faster on
    large columns. Letters whose upper case is longer than one letter (``ß``) become a space
    here, where :func:`name_key` expands them.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array([None if v is None else str(v) for v in values], type=pa.large_string())
    folded = pc.utf8_upper(
        pc.replace_substring_regex(
            pc.utf8_normalize(arr, form="NFKD"), pattern=_COMBINING.pattern, replacement=""
        )
    )
    spaced = pc.replace_substring_regex(folded, pattern=_NON_ALNUM.pattern, replacement=" ")
    keys = pc.fill_null(pc.utf8_trim(spaced, characters=" "), "")
    return [str(k) for k in keys.to_pylist()]


def snake_key(text: object) -> str:
    """Return a lower-case, underscore-separated key (for column headers).

    Examples
    --------
    >>> snake_key("Dirección de residencia")
    'direccion_de_residencia'
    """
    return name_key(text).lower().replace(" ", "_")
