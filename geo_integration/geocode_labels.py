"""Official address labels and street labels read into address space (kernels, no I/O).

An official label ``"KR 14Q, 74 43 S"`` names a street (``KR 14Q``), a cross street
(``74 S``) and a house number (``43``: metres from the corner). :func:`parse_official` reads
many at once (vectorised with Arrow); :func:`parse_street_labels` reads centreline labels
(``"CL 63BIS S"``); :func:`code_value` places a street number in address space, where the
numbers grow along the city grid (Sur and Este numbers count the other way from 1).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from geo_integration.address import CALLE_LIKE, CARRERA_LIKE, family_type

__all__ = ["code_value", "cross_values", "parse_official", "parse_street_labels"]

FloatArray = npt.NDArray[np.float64]

_STREET = r"(CL|KR|AC|AK|DG|TV) (\d{1,3})([A-Z]{0,2}?)(?:(BIS)([A-Z]?))?(?: ([SE]))?"
_CODE = re.compile(r"^(\d{1,3})([A-Z]{0,2}?)(?:(BIS)([A-Z]?))?(?: ([SE]))?$")


def _rank_table() -> dict[str, float]:
    letters = [chr(c) for c in range(65, 91)]
    table = {"": 0.0}
    for a in letters:
        table[a] = float(ord(a) - 64)
        for b in letters:
            table[a + b] = ord(a) - 64 + (ord(b) - 64) / 27
    return table


_RANKS = _rank_table()


def code_value(
    number: int | str, letters: str, bis: bool | str, bis_letter: str, card: str
) -> float:
    """Position of a street number in address space (monotone along the city grid).

    ``45`` -> 45, ``45A`` -> 45.04, ``45ABIS`` -> 45.05; Sur and Este numbers count the other
    way from 1 (``1 Sur`` -> 0, ``2 Sur`` -> -1).
    """
    frac = _RANKS.get(letters, 0.0) + (0.5 if bis else 0.0) + _RANKS.get(bis_letter, 0.0) / 27
    value = int(number) + frac / 28.0
    return 1.0 - value if card in ("S", "E") else value


_value = code_value


def _code_text(number: str, letters: str, bis: str, bis_letter: str) -> str:
    return f"{int(number)}{letters}{'BIS' if bis else ''}{bis_letter}"


_STREET_ONLY = re.compile(rf"^{_STREET}$")
_NAMED_LABEL_RE = (
    r"^(?P<t>CL|KR|AC|AK|DG|TV) (?P<n>\d{1,3})(?P<l>[A-Z]{0,2}?)(?:(?P<b>BIS)(?P<bl>[A-Z]?))?"
    r"(?: (?P<sc>[SE]))?, (?P<cn>\d{1,3})(?P<cl>[A-Z]{0,2}?)(?: ?(?P<cb>BIS) ?(?P<cbl>[A-Z]?))?"
    r"[ -](?P<h>\d{1,3}) ?(?P<tc>[SE])?$"
)


def _arrow_value(p: Any, prefix: str, card: Any) -> FloatArray:
    """Vectorised :func:`code_value` on the extracted groups ``{prefix}n``, ``l``, ``b``, ``bl``."""
    import pyarrow.compute as pc

    names = list(_RANKS)
    ranks = np.array([_RANKS[k] for k in names])

    def rank(col: Any) -> FloatArray:
        idx = pc.index_in(col, value_set=_arrow_strings(names)).to_numpy(zero_copy_only=False)
        idx = np.nan_to_num(idx.astype(float), nan=0.0).astype(int)
        return np.asarray(ranks[idx], dtype=np.float64)

    number = pc.cast(p.field(f"{prefix}n"), "int32").to_numpy().astype(float)
    bis = pc.not_equal(p.field(f"{prefix}b"), "").to_numpy(zero_copy_only=False)
    frac = rank(p.field(f"{prefix}l")) + 0.5 * bis + rank(p.field(f"{prefix}bl")) / 27
    value = number + frac / 28.0
    sur_este = np.asarray(card != "", dtype=bool)
    return np.where(sur_este, 1.0 - value, value)


def _arrow_strings(values: list[str]) -> Any:
    import pyarrow as pa

    return pa.array(values, type=pa.string())


def parse_official(labels: pd.Series) -> pd.DataFrame:
    """Parse official labels (``"KR 14Q, 74 43 S"``) into canonical components (vectorised).

    Returns a frame aligned to ``labels`` with ``ok`` and, where ok: ``label`` (canonical,
    hyphen and cardinal placement normalised as by :func:`geo_integration.address.parse_address`),
    ``street`` (family key ``"CL 42 S"``), ``cross`` (``"15 E"``), ``house``, ``face``
    (``"CL 42 S|15 E"``), ``street_value``/``cross_value`` (address space) and ``calle``.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array(labels.astype(object).where(labels.notna(), ""), type=pa.string())
    extracted = pc.extract_regex(arr, _NAMED_LABEL_RE)
    ok = extracted.is_valid().to_numpy(zero_copy_only=False)
    p = extracted.filter(extracted.is_valid())
    t = p.field("t")
    calle_mask = pc.is_in(t, value_set=_arrow_strings(sorted(CALLE_LIKE)))
    cards = pc.binary_join_element_wise(p.field("sc"), p.field("tc"), "")
    has_s = pc.match_substring(cards, "S")
    has_e = pc.match_substring(cards, "E")
    not_calle = pc.invert(calle_mask)
    s_card = pc.if_else(
        pc.and_(calle_mask, has_s), "S", pc.if_else(pc.and_(not_calle, has_e), "E", "")
    )
    c_card = pc.if_else(
        pc.and_(calle_mask, has_e), "E", pc.if_else(pc.and_(not_calle, has_s), "S", "")
    )

    def code(prefix: str) -> Any:
        number = pc.cast(pc.cast(p.field(f"{prefix}n"), "int32"), "string")
        bis = pc.if_else(pc.not_equal(p.field(f"{prefix}b"), ""), "BIS", "")
        return pc.binary_join_element_wise(
            number, p.field(f"{prefix}l"), bis, p.field(f"{prefix}bl"), ""
        )

    def tail(card: Any) -> Any:
        return pc.if_else(pc.equal(card, ""), "", pc.binary_join_element_wise(" ", card, ""))

    s_code, c_code = code(""), code("c")
    s_tail, c_tail = tail(s_card), tail(c_card)
    house_num = pc.cast(p.field("h"), "int32")
    house = pc.utf8_lpad(pc.cast(house_num, "string"), 2, "0")
    fam = pc.if_else(pc.equal(t, "AC"), "CL", pc.if_else(pc.equal(t, "AK"), "KR", t))
    join = pc.binary_join_element_wise
    street = join(fam, " ", s_code, s_tail, "")
    cross = join(c_code, c_tail, "")

    def text(values: Any) -> Any:
        return pd.array(values, dtype="str")  # Arrow-backed, no copy through Python objects

    table = pd.DataFrame(
        {
            "label": text(join(t, " ", s_code, s_tail, ", ", c_code, " ", house, c_tail, "")),
            "street": text(street),
            "cross": text(cross),
            "house": house_num.to_numpy(),
            "face": text(join(street, "|", cross, "")),
            "street_value": _arrow_value(p, "", s_card.to_numpy(zero_copy_only=False)),
            "cross_value": _arrow_value(p, "c", c_card.to_numpy(zero_copy_only=False)),
            "calle": calle_mask.to_numpy(zero_copy_only=False),
        },
        index=labels.index[ok],
    )
    out = table.reindex(labels.index)
    out.insert(0, "ok", ok)
    return out


def parse_street_labels(labels: pd.Series) -> pd.DataFrame:
    """Parse centreline labels (``"CL 63BIS S"``) into family key, cross key and value."""
    positions, uniques = pd.factorize(np.asarray(labels, dtype=object))
    rows: list[tuple[Any, ...]] = []
    for text in uniques:
        m = _STREET_ONLY.match(text) if isinstance(text, str) else None
        if m is None:
            rows.append((False, None, None, None, None, np.nan, False, False))
            continue
        t, n, lt, b, bl, c = (g or "" for g in m.groups())
        code = _code_text(n, lt, b, bl)
        tail = f" {c}" if c else ""
        rows.append(
            (
                True,
                t,
                f"{family_type(t)} {code}{tail}",
                f"{t} {code}{tail}",
                f"{code}{tail}",
                _value(n, lt, b, bl, c),
                t in CALLE_LIKE,
                t in CARRERA_LIKE,
            )
        )
    rows.append((False, None, None, None, None, np.nan, False, False))  # missing values
    columns = ["ok", "type", "street", "label", "cross", "value", "calle", "carrera"]
    table = pd.DataFrame.from_records(rows, columns=columns)
    out = table.iloc[positions].reset_index(drop=True)
    out.index = labels.index
    return out


def cross_values(codes: pd.Series) -> FloatArray:
    """Address-space value of cross keys such as ``"15 E"`` or ``"74"`` (NaN if unreadable)."""
    positions, uniques = pd.factorize(np.asarray(codes, dtype=object))
    values = np.full(len(uniques) + 1, np.nan)  # the last one for missing values (-1)
    for i, text in enumerate(uniques):
        m = _CODE.match(text) if isinstance(text, str) else None
        if m is not None:
            values[i] = _value(*(g or "" for g in m.groups()))
    return values[positions]
