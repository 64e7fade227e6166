"""Parser of Bogotá street addresses (a kernel: no I/O).

A Bogotá address names a street and the nearest cross street: ``"Calle 45 # 23-10"`` is on
Calle 45, 10 m from the corner with Carrera 23. :func:`parse_address` turns any text into a
:class:`ParsedAddress` with one canonical label in the official form of the city's address
points::

    >>> parse_address("Cll 9 # 2-39 Este, apto 301, Bogotá").label
    'CL 9, 2 39 E'
    >>> parse_address("Carrera 14 Q No. 74-43 sur").label
    'KR 14Q, 74 43 S'

The canonical grammar (checked against the 1.43 million official labels) is::

    TYPE NUMBER[LETTERS][BIS[LETTER]][ S| E], CROSS[LETTERS][BIS[LETTER]] HOUSE[ S| E]

with ``TYPE`` one of ``CL KR AC AK DG TV`` (``AV``/``AU`` when an avenue could not be
resolved), the house number written with at least two digits, and the cardinal placed on
the component whose numbering it qualifies: ``S`` (Sur) on the calle-like one
(``CL AC DG``), ``E`` (Este) on the carrera-like one (``KR AK TV``). So ``"KR 14Q, 74 43 S"``
(the cross street, Calle 74, is Sur) and ``"CL 42 S, 15 32 E"``.

Intersections (``"Carrera 109 con Calle 23"``) are labelled ``"KR 109 - CL 23"``; an address
without a house number (``"Calle 45 # 23"``) is labelled ``"CL 45, 23"``.

Named avenues (``"Avenida Boyacá"``, ``"NQS"``, ``"Autopista Norte"``) are resolved with an
avenue table (name -> numbered streets) built from the city's data by
:func:`geo_integration.geocode_index.build_avenue_table`; without a table only the
colloquial aliases in :data:`AVENUE_ALIASES` are known.

The parser never raises: unparseable text gives ``ok=False`` with a reason code from
:data:`REASONS`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import pandas as pd

__all__ = [
    "AVENUE_ALIASES",
    "CALLE_LIKE",
    "CARRERA_LIKE",
    "REASONS",
    "AvenueTable",
    "ParsedAddress",
    "StreetRef",
    "avenue_key",
    "family_type",
    "parse_address",
    "parse_addresses",
]

#: Street types whose numbering is that of the calles (S = Sur applies to them).
CALLE_LIKE = frozenset({"CL", "AC", "DG"})
#: Street types whose numbering is that of the carreras (E = Este applies to them).
CARRERA_LIKE = frozenset({"KR", "AK", "TV"})

#: Reason codes of a failed parse, with their meaning.
REASONS: dict[str, str] = {
    "empty": "no text",
    "no_street_type": "no street type (Calle, Carrera, Diagonal, ...) or known avenue name",
    "no_street_number": "the street type is not followed by a number",
    "unknown_avenue": "an avenue name that is not in the avenue table",
    "unnamed_street": "the street is unnamed ('?')",
    "no_cross_number": "no cross-street number after the street",
    "unparseable": "the text could not be read as an address",
}

#: name key -> list of street labels, the most likely first (e.g. ``"BOYACA": ["AK 72"]``).
#: Numbered avenues use their number as key (``"68": ["AK 68", "AC 68"]``).
AvenueTable = Mapping[str, Sequence[str]]

#: Colloquial names of avenues that the official data does not spell this way. Each is
#: checked against the data-built table in the tests on the data mirror (the official name
#: it stands for is the second element).
AVENUE_ALIASES: dict[str, tuple[str, str]] = {
    "NQS": ("AK 30", "CIUDAD QUITO"),
    "NORTE QUITO SUR": ("AK 30", "CIUDAD QUITO"),
    "SEPTIMA": ("AK 7", "ALBERTO LLERAS CAMARGO"),
    "AUTOPISTA NORTE": ("AK 45", "PASEO LIBERTADORES"),
    "AUTO NORTE": ("AK 45", "PASEO LIBERTADORES"),
    "NORTE": ("AK 45", "PASEO LIBERTADORES"),
    "EL DORADO": ("AC 26", "JORGE ELIECER GAITAN"),
    "ELDORADO": ("AC 26", "JORGE ELIECER GAITAN"),
    "DORADO": ("AC 26", "JORGE ELIECER GAITAN"),
    "VILLAVICENCIO": ("AC 43 S", "CIUDAD VILLAVICENCIO"),
    "V CIO": ("AC 43 S", "CIUDAD VILLAVICENCIO"),
    "VCIO": ("AC 43 S", "CIUDAD VILLAVICENCIO"),
    "1 MAYO": ("AC 26 S", "PRIMERO MAYO"),
    "SUBA": ("AC 145", "TRANSVERSAL SUBA"),
}

# ---------------------------------------------------------------------------------------------
# vocabulary

_TYPE_WORDS: dict[str, str] = {
    **dict.fromkeys(("CALLE", "CL", "CLL", "CLLE", "CALL", "CLE", "CAL", "CALE"), "CL"),
    **dict.fromkeys(
        ("CARRERA", "KR", "KRA", "CRA", "CR", "CARR", "CRR", "KRR", "CARRER", "CARERA", "CARERRA"),
        "KR",
    ),
    **dict.fromkeys(("AC", "AVC"), "AC"),
    **dict.fromkeys(("AK", "AKR", "AVK", "AKRA"), "AK"),
    **dict.fromkeys(("DG", "DIAGONAL", "DIAG", "DIG", "DGN", "DIAGNL"), "DG"),
    **dict.fromkeys(
        ("TV", "TRANSVERSAL", "TRANSV", "TRANS", "TRV", "TR", "TRANSVERAL", "TRASVERSAL", "TRANV"),
        "TV",
    ),
    **dict.fromkeys(("AV", "AVENIDA", "AVDA", "AVE", "AVD", "AVEN", "AVNDA"), "AV"),
    **dict.fromkeys(("AU", "AUTOPISTA", "AUTOP", "AUT", "AUTO", "AUTOPISTAS"), "AU"),
}
_ORDINALS: dict[str, int] = {
    "PRIMERA": 1,
    "PRIMERO": 1,
    "SEGUNDA": 2,
    "TERCERA": 3,
    "CUARTA": 4,
    "QUINTA": 5,
    "SEXTA": 6,
    "SEPTIMA": 7,
    "OCTAVA": 8,
    "NOVENA": 9,
    "DECIMA": 10,
}
_CARDINALS: dict[str, str] = {
    "SUR": "S",
    "S": "S",
    "ESTE": "E",
    "EST": "E",
    "E": "E",
    "NORTE": "",
    "OESTE": "",
    "OCCIDENTE": "",
}
_CONNECTORS = frozenset({"CON", "Y", "X", "&", "ESQUINA", "ESQ", "CRUCE", "CRUZ", "ENTRE"})
#: Words (and their abbreviations) that start a complement: never read as letter suffixes.
_COMPLEMENT_WORDS = frozenset(
    {
        "AP", "APT", "APTO", "APARTAMENTO", "APTOS", "IN", "INT", "INTERIOR", "TO", "TORRE",
        "TR", "BL", "BQ", "BLQ", "BLOQUE", "CA", "CS", "CASA", "LC", "LOC", "LOCAL", "PI",
        "PISO", "OF", "OFC", "OFI", "OFICINA", "MZ", "MZA", "MJ", "MANZANA", "LT", "LOTE",
        "BARRIO", "BRR", "BR", "BARR", "BOGOTA", "DC", "CO", "COLOMBIA", "CUNDINAMARCA",
        "CONJUNTO", "CONJ", "CJ", "ED", "EDIF", "EDIFICIO", "ETAPA", "ET", "SECTOR", "SEC",
        "URB", "URBANIZACION", "KM", "KILOMETRO", "VIA", "VEREDA", "VDA", "FINCA", "BG",
        "BODEGA", "GJ", "GARAJE", "PH", "PENTHOUSE", "SOTANO", "ST", "PARQUEADERO", "PQ",
        "CONSULTORIO", "CON", "ADMINISTRACION", "ENTRADA", "PLAZA", "CENTRO", "COMERCIAL",
        "CC", "SEDE", "DE", "LA", "EL", "LOS", "LAS", "DEL",
    }
)  # fmt: skip
_AVENUE_STOPWORDS = frozenset(
    {"AVENIDA", "AV", "AVDA", "AVE", "AU", "AUTOPISTA", "AUTO", "DE", "LA", "LAS", "LOS",
     "DEL", "EL", "AL", "VIA"}
)  # fmt: skip

_TOKEN = re.compile(r"\d+|[A-Z]+|[#,&/-]")
_SEPARATOR_WORDS = re.compile(r"\bN\s*[°º.:]|(?<![A-Z])(?:NUMERO|NUM|NRO|NO)(?![A-Z])\s*[.:]?")
_SLASHED_WORD = re.compile(r"(?<=[A-Z])/(?=[A-Z])")
_LETTER_RUN = re.compile(r"^([A-Z]{0,2}?)(?:(BIS)([A-Z]?))?(SUR|ESTE|S|E)?$")
_ACCENTS = str.maketrans("ÁÉÍÓÚÜÑáéíóúüñºª", "AEIOUUNaeiouunoa")


def fold_text(text: str) -> str:
    """Upper-case ``text`` and strip its accents (fast path for the common letters)."""
    text = text.translate(_ACCENTS)
    if not text.isascii():
        decomposed = unicodedata.normalize("NFKD", text)
        text = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return text.upper()


def avenue_key(name: str) -> str:
    """Return the matching key of an avenue name: accents, case, 'Avenida' and articles go.

    Examples
    --------
    >>> avenue_key("Avenida de las Américas")
    'AMERICAS'
    >>> avenue_key("AV. C. de Cali")
    'C CALI'
    """
    words = re.findall(r"[A-Z0-9]+", fold_text(name))
    return " ".join(w for w in words if w not in _AVENUE_STOPWORDS)


def family_type(kind: str) -> str:
    """Return the street family of a type: ``AC`` is a ``CL``, ``AK`` is a ``KR``."""
    return {"AC": "CL", "AK": "KR"}.get(kind, kind)


# ---------------------------------------------------------------------------------------------
# results


class StreetRef(NamedTuple):
    """A street or cross-street number: ``7BISA`` with its type and cardinal.

    Attributes
    ----------
    kind
        ``CL KR AC AK DG TV AV AU``, or ``""`` for a cross number typed without a type.
    number, letters, bis, bis_letter
        ``45``, ``"A"``, ``True``, ``"B"`` for 45A BIS B.
    cardinal
        ``"S"`` (Sur), ``"E"`` (Este) or ``""``.
    """

    kind: str
    number: int
    letters: str = ""
    bis: bool = False
    bis_letter: str = ""
    cardinal: str = ""

    @property
    def code(self) -> str:
        """The number with its suffixes, as in labels: ``"7BISA"``."""
        bis = "BIS" if self.bis else ""
        return f"{self.number}{self.letters}{bis}{self.bis_letter}"

    @property
    def street_label(self) -> str:
        """Type, number and cardinal: ``"CL 42 S"``."""
        card = f" {self.cardinal}" if self.cardinal else ""
        return f"{self.kind} {self.code}{card}"


class ParsedAddress(NamedTuple):
    """The structured form of one address.

    Attributes
    ----------
    label
        The canonical label (``None`` when the parse failed).
    reason
        A code of :data:`REASONS` when the parse failed, else ``None``.
    street, cross
        The street and the cross street (``cross.kind`` is empty unless typed).
    house
        House number (metres from the corner), ``None`` for an intersection.
    intersection
        True for ``"Carrera 109 con Calle 23"``.
    avenue
        Avenue table key when the street was given by name (``"BOYACA"``), else ``None``.
    complement
        Everything that is not street, cross or house (apartment, barrio, city ...).
    """

    label: str | None
    reason: str | None = None
    street: StreetRef | None = None
    cross: StreetRef | None = None
    house: int | None = None
    intersection: bool = False
    avenue: str | None = None
    complement: str = ""

    @property
    def ok(self) -> bool:
        """True when the address was parsed into a label."""
        return self.label is not None


def _fail(reason: str, complement: str = "") -> ParsedAddress:
    return ParsedAddress(label=None, reason=reason, complement=complement)


# ---------------------------------------------------------------------------------------------
# tokenising


def _tokens(text: str) -> list[str]:
    folded = fold_text(text)
    if "/" in folded:
        folded = _SLASHED_WORD.sub("", folded)  # "V/CIO" -> "VCIO"
    if "N" in folded:
        folded = _SEPARATOR_WORDS.sub(" # ", folded)
    return _TOKEN.findall(folded)


def _is_type(tokens: list[str], i: int) -> bool:
    return i < len(tokens) and tokens[i] in _TYPE_WORDS


def _starts_number(tokens: list[str], i: int) -> bool:
    return i < len(tokens) and (tokens[i].isdigit() or tokens[i] in _ORDINALS)


# ---------------------------------------------------------------------------------------------
# avenue names


@dataclass(frozen=True)
class _AvenueIndex:
    names: tuple[tuple[tuple[str, ...], str], ...]  # (token tuple, key), longest first
    table: dict[str, tuple[str, ...]]


_INDEX_CACHE: dict[int, tuple[object, _AvenueIndex]] = {}


def _avenue_index(avenues: AvenueTable | None) -> _AvenueIndex:
    key = id(avenues)
    cached = _INDEX_CACHE.get(key)
    if cached is not None and cached[0] is avenues:
        return cached[1]
    table: dict[str, tuple[str, ...]] = {k: (v[0],) for k, v in AVENUE_ALIASES.items()}
    if avenues is not None:
        table.update({k: tuple(v) for k, v in avenues.items() if len(v)})
    names = sorted(
        ((tuple(k.split()), k) for k in table if not k.isdigit()),
        key=lambda item: (-len(item[0]), item[1]),
    )
    built = _AvenueIndex(names=tuple(names), table=table)
    if len(_INDEX_CACHE) > 8:
        _INDEX_CACHE.clear()
    _INDEX_CACHE[key] = (avenues, built)
    return built


def _name_words(tokens: list[str], i: int) -> tuple[list[str], list[int]]:
    """Words of a possible avenue name from ``i`` (stopwords dropped) and where each ends."""
    words: list[str] = []
    ends: list[int] = []
    j = i
    while j < len(tokens) and len(words) < 6:
        tok = tokens[j]
        if not tok.isalnum() or (tok in _TYPE_WORDS and tok not in _AVENUE_STOPWORDS):
            break
        if tok.isdigit() and (words or tok != "1"):
            break
        j += 1
        if tok in _AVENUE_STOPWORDS:
            continue
        words.append(tok)
        ends.append(j)
    return words, ends


def _match_avenue(tokens: list[str], i: int, index: _AvenueIndex) -> tuple[str, int] | None:
    """Find the avenue name that starts at token ``i``: (table key, next token index).

    A typed word matches an official one when equal or an abbreviation of it (a prefix, or
    ``1`` for ``PRIMERO``); at least one word must match in full. Two or more typed words
    may stand for the first words of a longer official name (``Agoberto Mejía`` for
    ``AGOBERTO MEJIA CIFUENTES``); complete names win.
    """
    words, ends = _name_words(tokens, i)
    if not words:
        return None
    best: tuple[int, int, str, int] | None = None  # (-matched, shortfall + abbreviations, ...)
    for name, key in index.names:
        m = min(len(name), len(words))
        if m < len(name) and m < 2:
            continue
        if best is not None and -m > best[0]:
            continue
        abbreviated = 0
        for typed, official in zip(words[:m], name, strict=False):
            if typed == official:
                continue
            if official.startswith(typed) or (typed == "1" and official == "PRIMERO"):
                abbreviated += 1
                continue
            break
        else:
            if abbreviated == m:
                continue
            cand = (-m, abbreviated + 10 * (len(name) - m), key, ends[m - 1])
            if best is None or cand[:2] < best[:2]:
                best = cand
    if best is None:
        return None
    return best[2], best[3]


def _split_label(label: str) -> StreetRef | None:
    """``"AK 72"`` / ``"CL 63BIS S"`` -> StreetRef (for avenue table entries)."""
    m = re.match(r"^([A-Z]{2}) (\d+)([A-Z]{0,2}?)(?:(BIS)([A-Z]?))?(?: ([SE]))?$", label)
    if m is None:
        return None
    kind, num, letters, bis, bl, card = m.groups()
    return StreetRef(kind, int(num), letters, bool(bis), bl or "", card or "")


# ---------------------------------------------------------------------------------------------
# numbers


@dataclass(slots=True)
class _Num:
    number: int
    letters: str = ""
    bis: bool = False
    bis_letter: str = ""
    cardinals: list[str] = field(default_factory=list)


def _read_number(tokens: list[str], i: int) -> tuple[_Num | None, int]:
    """Read ``45 A BIS B SUR`` from token ``i``; return the number and the next index."""
    tok = tokens[i]
    if tok.isdigit():
        if len(tok) > 4:
            return None, i
        num = _Num(int(tok))
    elif tok in _ORDINALS:
        num = _Num(_ORDINALS[tok])
    else:
        return None, i
    i += 1
    while i < len(tokens):
        tok = tokens[i]
        if tok.isdigit() or tok in _COMPLEMENT_WORDS or tok in _TYPE_WORDS:
            break
        if tok in ("X", "Y") and _is_type(tokens, i + 1):
            break
        if tok in _CARDINALS:
            if _CARDINALS[tok]:
                num.cardinals.append(_CARDINALS[tok])
            i += 1
            continue
        m = _LETTER_RUN.match(tok)
        if m is None or not _absorb(num, m):
            break
        i += 1
    return num, i


def _absorb(num: _Num, m: re.Match[str]) -> bool:
    letters, bis, bis_letter, card = m.groups()
    if letters:
        if num.bis:
            if num.bis_letter or len(letters) > 1:
                return False
            num.bis_letter = letters
        elif len(num.letters) + len(letters) > 2:
            return False
        else:
            num.letters += letters
    if bis:
        if num.bis:
            return False
        num.bis = True
        num.bis_letter = bis_letter or ""
    if card:
        num.cardinals.append(_CARDINALS[card])
    return True


# ---------------------------------------------------------------------------------------------
# streets


@dataclass(slots=True)
class _Street:
    kind: str
    num: _Num
    avenue: str | None = None


def _read_street(
    tokens: list[str], i: int, index: _AvenueIndex
) -> tuple[_Street | None, int, str | None]:
    """Read a street (type + number, or an avenue name) from token ``i``.

    Returns the street (or ``None``), the next token index and a failure reason.
    """
    kind = _TYPE_WORDS.get(tokens[i]) if i < len(tokens) else None
    start = i
    if kind is not None:
        i += 1
        if kind == "AV" and i < len(tokens) and tokens[i] in _TYPE_WORDS:
            inner = _TYPE_WORDS[tokens[i]]
            kind = {"CL": "AC", "KR": "AK", "AC": "AC", "AK": "AK"}.get(inner, inner)
            i += 1
    if kind in (None, "AV", "AU"):
        is_may = i + 2 < len(tokens) and tokens[i + 1] == "DE" and tokens[i + 2] == "MAYO"
        if kind is None or not _starts_number(tokens, i) or is_may:
            named = _match_avenue(tokens, i, index)
            if named is not None:
                key, nxt = named
                ref = _split_label(index.table[key][0])
                if ref is not None:
                    num = _Num(ref.number, ref.letters, ref.bis, ref.bis_letter)
                    if ref.cardinal:
                        num.cardinals.append(ref.cardinal)
                    return _Street(ref.kind, num, avenue=key), nxt, None
            if kind is None:
                return None, start, "no_street_type"
            if not _starts_number(tokens, i):
                return None, i, "unknown_avenue"
    if not _starts_number(tokens, i):
        return None, i, "no_street_number"
    read, i = _read_number(tokens, i)
    if read is None:
        return None, i, "no_street_number"
    num = read
    assert kind is not None
    avenue = None
    if kind in ("AV", "AU"):
        entries = index.table.get(str(num.number))
        if entries:
            ref = _split_label(entries[0])
            if ref is not None:
                kind, avenue = ref.kind, str(num.number)
    return _Street(kind, num, avenue=avenue), i, None


def _find_start(tokens: list[str], index: _AvenueIndex) -> int | None:
    """Index of the first token that starts a street (type + number, or an avenue name)."""
    for i, tok in enumerate(tokens):
        kind = _TYPE_WORDS.get(tok)
        if kind is None:
            if i == 0 and _match_avenue(tokens, 0, index) is not None:
                return 0
            continue
        nxt = i + 1
        if _starts_number(tokens, nxt) or _is_type(tokens, nxt):
            return i
        if kind in ("AV", "AU") and _match_avenue(tokens, nxt, index) is not None:
            return i
    return None


# ---------------------------------------------------------------------------------------------
# assembling


def _place_cardinals(
    street_kind: str, street: _Num, cross: _Num | None, trailing: list[str]
) -> tuple[str, str]:
    """Put S on the calle-like component and E on the carrera-like one."""
    street_cards = street.cardinals
    cross_cards = trailing if cross is None else cross.cardinals + trailing
    if not street_cards and not cross_cards:
        return "", ""
    if street_kind in CALLE_LIKE:
        every = street_cards + cross_cards
        return ("S" if "S" in every else ""), ("E" if "E" in every else "")
    if street_kind in CARRERA_LIKE:
        every = street_cards + cross_cards
        return ("E" if "E" in every else ""), ("S" if "S" in every else "")
    # unresolved avenue: keep the cardinals where they were typed
    s_card = "S" if "S" in street_cards else ("E" if "E" in street_cards else "")
    c_card = "S" if "S" in cross_cards else ("E" if "E" in cross_cards else "")
    return s_card, c_card


def _ref(kind: str, num: _Num, cardinal: str) -> StreetRef:
    return StreetRef(kind, num.number, num.letters, num.bis, num.bis_letter, cardinal)


_DASH_HASH = frozenset({"-", "#"})


def _skip(tokens: list[str], i: int, words: frozenset[str] | set[str]) -> int:
    while i < len(tokens) and tokens[i] in words:
        i += 1
    return i


def _parse_tokens(tokens: list[str], index: _AvenueIndex) -> ParsedAddress:
    if not tokens:
        return _fail("empty")
    start = _find_start(tokens, index)
    if start is None:
        named = any(_TYPE_WORDS.get(t) in ("AV", "AU") for t in tokens)
        return _fail("unknown_avenue" if named else "no_street_type", _join(tokens))
    prefix = tokens[:start]
    street, i, reason = _read_street(tokens, start, index)
    if street is None:
        return _fail(reason or "no_street_number", _join(tokens))
    after = i
    i = _skip(tokens, i, {",", "#", "-"})
    if "-" in tokens[after:i] and tokens[after] in (",", "#"):
        return _fail("no_cross_number", _join(tokens))  # "CL 67 S, -20": house only
    if i < len(tokens) and (tokens[i] in _CONNECTORS or tokens[i] in _TYPE_WORDS):
        j = _skip(tokens, i, _CONNECTORS | {"-", "#", ","})
        if j < len(tokens) and tokens[j] in _TYPE_WORDS:
            return _intersection(tokens, j, street, prefix, index)
        if j > i and _match_avenue(tokens, j, index) is not None:
            return _intersection(tokens, j, street, prefix, index)
        if j > i and j < len(tokens) and tokens[j].isdigit():
            return _untyped_intersection(tokens, j, street, prefix)
    if i >= len(tokens) or not tokens[i].isdigit():
        return _fail("no_cross_number", _join(tokens))
    cross, i = _read_number(tokens, i)
    if cross is None:
        return _fail("no_cross_number", _join(tokens))
    return _with_house(tokens, i, street, cross, "", prefix)


def _join(tokens: list[str]) -> str:
    return " ".join(t for t in tokens if t not in (",", "#", "&", "-"))


def _opposite(kind: str) -> str:
    if kind in CALLE_LIKE:
        return "KR"
    if kind in CARRERA_LIKE:
        return "CL"
    return ""


def _untyped_intersection(
    tokens: list[str], j: int, street: _Street, prefix: list[str]
) -> ParsedAddress:
    """``"Avenida Boyacá con 80"``: the cross type is the opposite of the street's."""
    other, k = _read_number(tokens, j)
    kind = _opposite(street.kind)
    if other is None or not kind:
        return _fail("no_cross_number", _join(tokens))
    return _intersection_result(street, _Street(kind, other), prefix, tokens[k:])


def _intersection(
    tokens: list[str], j: int, street: _Street, prefix: list[str], index: _AvenueIndex
) -> ParsedAddress:
    other, k, _reason = _read_street(tokens, j, index)
    if other is None:
        return _fail("no_cross_number", _join(tokens))
    k2 = _skip(tokens, k, {"-", "#", ","})
    if k2 < len(tokens) and tokens[k2].isdigit() and len(tokens[k2]) <= 3:
        return _with_house(tokens, k2, street, other.num, other.kind, prefix)
    return _intersection_result(street, other, prefix, tokens[k:])


def _intersection_result(
    street: _Street, other: _Street, prefix: list[str], rest: list[str]
) -> ParsedAddress:
    cards = street.num.cardinals + other.num.cardinals
    s_card, c_card = _place_cardinals(street.kind, street.num, other.num, [])
    s_card = _own_cardinal(street.kind, cards, s_card)
    c_card = _own_cardinal(other.kind, cards, c_card)
    s_ref = _ref(street.kind, street.num, s_card)
    c_ref = _ref(other.kind, other.num, c_card)
    return ParsedAddress(
        label=f"{s_ref.street_label} - {c_ref.street_label}",
        street=s_ref,
        cross=c_ref,
        intersection=True,
        avenue=street.avenue or other.avenue,
        complement=_join(prefix + rest),
    )


def _own_cardinal(kind: str, cards: list[str], default: str) -> str:
    if kind in CALLE_LIKE:
        return "S" if "S" in cards else ""
    if kind in CARRERA_LIKE:
        return "E" if "E" in cards else ""
    return default


def _with_house(
    tokens: list[str],
    i: int,
    street: _Street,
    cross: _Num,
    cross_kind: str,
    prefix: list[str],
) -> ParsedAddress:
    i = _skip(tokens, i, _DASH_HASH)
    house: int | None = None
    if i < len(tokens) and tokens[i].isdigit() and len(tokens[i]) <= 3:
        house = int(tokens[i])
        i += 1
    trailing: list[str] = []
    while i < len(tokens) and tokens[i] in _CARDINALS:
        if _CARDINALS[tokens[i]]:
            trailing.append(_CARDINALS[tokens[i]])
        i += 1
    s_card, c_card = _place_cardinals(street.kind, street.num, cross, trailing)
    s_ref = _ref(street.kind, street.num, s_card)
    c_ref = _ref(cross_kind, cross, c_card)
    tail = f" {c_card}" if c_card else ""
    if house is None:
        label = f"{s_ref.street_label}, {c_ref.code}{tail}"
    else:
        label = f"{s_ref.street_label}, {c_ref.code} {house:02d}{tail}"
    return ParsedAddress(
        label=label,
        street=s_ref,
        cross=c_ref,
        house=house,
        avenue=street.avenue,
        complement=_join(prefix + tokens[i:]) if prefix or i < len(tokens) else "",
    )


# ---------------------------------------------------------------------------------------------
# public API


def parse_address(text: object, *, avenues: AvenueTable | None = None) -> ParsedAddress:
    """Parse one address. Never raises.

    Parameters
    ----------
    text
        Anything; non-strings (``None``, NaN, numbers) are treated as text or as empty.
    avenues
        Avenue table (name key -> street labels, most likely first), as built by
        :func:`geo_integration.geocode_index.build_avenue_table`. ``None`` knows only the
        colloquial aliases of :data:`AVENUE_ALIASES`.

    Returns
    -------
    ParsedAddress
        ``label`` is the canonical label, or ``None`` with ``reason`` set.

    Examples
    --------
    >>> parse_address("Carrera 109 con Calle 23").label
    'KR 109 - CL 23'
    >>> parse_address("apto 301").reason
    'no_street_type'
    """
    if text is None or (isinstance(text, float) and text != text):
        return _fail("empty")
    try:
        raw = text if isinstance(text, str) else str(text)
        if raw.lstrip().startswith("?"):
            return _fail("unnamed_street", raw.strip())
        return _parse_tokens(_tokens(raw), _avenue_index(avenues))
    except Exception:  # the parser must never raise; a bug here is a failed parse
        return _fail("unparseable")


_COLUMNS = [
    "label",
    "reason",
    "street_type",
    "street",
    "street_cardinal",
    "cross_type",
    "cross",
    "cross_cardinal",
    "house",
    "intersection",
    "avenue",
    "complement",
]


def _row(p: ParsedAddress) -> tuple[object, ...]:
    s, c = p.street, p.cross
    return (
        p.label,
        p.reason,
        None if s is None else s.kind,
        None if s is None else s.code,
        None if s is None else s.cardinal,
        None if c is None else c.kind,
        None if c is None else c.code,
        None if c is None else c.cardinal,
        p.house,
        p.intersection,
        p.avenue,
        p.complement,
    )


def parse_addresses(
    values: pd.Series | Iterable[object], *, avenues: AvenueTable | None = None
) -> pd.DataFrame:
    """Parse many addresses; each distinct text is parsed once.

    Returns
    -------
    DataFrame
        Aligned to ``values`` (its index when it is a Series): ``label``, ``reason``,
        ``street_type``, ``street``, ``street_cardinal``, ``cross_type``, ``cross``,
        ``cross_cardinal``, ``house`` (nullable int), ``intersection``, ``avenue``,
        ``complement``.
    """
    series = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    codes, uniques = pd.factorize(series.astype(object), use_na_sentinel=True)
    parsed = [_row(parse_address(u, avenues=avenues)) for u in uniques]
    parsed.append(_row(_fail("empty")))  # for missing values (code -1)
    table = pd.DataFrame(parsed, columns=_COLUMNS)
    out = table.iloc[codes].reset_index(drop=True)
    out.index = series.index
    out["house"] = out["house"].astype("Int64")
    out["intersection"] = out["intersection"].astype(bool)
    return out
