"""Turn official Bogotá address labels into the messy forms people type (a kernel: no I/O).

The official address points carry labels such as ``"CL 45, 23 10"`` (Calle 45 # 23-10),
``"KR 7BIS A, 32 16 S"`` or ``"CL 31A S, 0 45 E"``: street type and number with letters,
``BIS`` and a cardinal (``S`` Sur, ``E`` Este), a comma, the cross-street number with letters,
a space (or hyphen) and the house number, then an optional cardinal. People write the same
address as ``"Cll 45 # 23-10"``, ``"CARRERA 7 BIS A 32 16 SUR"`` or
``"Kr 78A No. 76-25 apto 301"``. :func:`messy_addresses` produces such forms, seeded and
vectorised (pyarrow compute), keeping the meaning of every address: the street family
(calle, carrera, diagonal, transversal), the numbers in order, the letters, ``BIS`` and the
cardinals; complements (apartment, interior, barrio, city) are only appended.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from geo_integration.errors import AnalysisError

__all__ = [
    "OFFICIAL_LABEL_PATTERN",
    "avenue_names",
    "messy_addresses",
    "official_label_ok",
    "parse_official_labels",
]

#: RE2/Python pattern of a well-formed official label. Groups: ``street`` (the part before the
#: comma), ``t`` type, ``n`` number, ``l`` letter, ``bis``, ``bl``/``bl2`` letter after BIS,
#: ``c`` street cardinal, ``x`` cross number, ``xl`` letter, ``xbis``, ``xbl``, ``h`` house
#: number, ``hc`` house cardinal. Labels starting with ``?``, interior/manzana labels
#: (``"KR 9, IN 4"``) and labels without a cross street (``"CL 68 S, -41"``) do not match.
OFFICIAL_LABEL_PATTERN = (
    r"^(?P<street>(?P<t>CL|KR|AC|AK|DG|TV) (?P<n>\d{1,3})(?P<l>[A-Z]?)"
    r"(?:(?P<bis> ?BIS)(?:(?P<bl>[A-Z])| (?P<bl2>[A-DF-RT-Z]))?)?"
    r"(?: (?P<c>S|E|ESTE))?), "
    r"(?P<x>\d{1,3})(?P<xl>[A-Z]?)(?:(?P<xbis> ?BIS)(?: ?(?P<xbl>[A-Z]))?)?"
    r"[ -](?P<h>\d{1,3}) ?(?P<hc>S|E)?$"
)
_FIELDS = ("street", "t", "n", "l", "bis", "bl", "bl2", "c", "x", "xl", "xbis", "xbl", "h", "hc")

# Ways of writing each street type, with relative weights.
_TYPE_WORDS: dict[str, list[tuple[str, float]]] = {
    "CL": [
        ("Calle", 20), ("CALLE", 8), ("Cll", 14), ("Cl.", 6), ("CL", 12), ("Clle", 4),
        ("Cl", 8), ("CLL", 6), ("calle", 4),
    ],
    "KR": [
        ("Carrera", 18), ("CARRERA", 8), ("Cra", 14), ("Cra.", 6), ("Cr", 5), ("Kra", 5),
        ("KR", 10), ("Kr", 8), ("K", 2), ("KRA", 3), ("carrera", 4),
    ],
    "AC": [
        ("Avenida Calle", 14), ("Av. Calle", 12), ("AC", 10), ("Av Calle", 6),
        ("Avda. Calle", 2), ("AV CALLE", 4), ("Calle", 6), ("Cll", 3),
    ],
    "AK": [
        ("Avenida Carrera", 14), ("Av. Carrera", 10), ("AK", 10), ("Av Cra", 6), ("Av. Kr", 3),
        ("AV CARRERA", 4), ("Carrera", 6), ("Cra", 3),
    ],
    "DG": [
        ("Diagonal", 16), ("DIAGONAL", 5), ("Dg", 10), ("DG", 10), ("Diag.", 5), ("Dg.", 4),
        ("Diag", 3),
    ],
    "TV": [
        ("Transversal", 16), ("TRANSVERSAL", 5), ("Tv", 10), ("TV", 10), ("Trans.", 4),
        ("Tr", 3), ("Transv.", 4), ("Tranv", 2),
    ],
}  # fmt: skip
# Misspellings of the type word (letters doubled, dropped or swapped; never the numbers).
_TYPE_TYPOS: dict[str, list[str]] = {
    "CL": ["Callle", "Cale", "Clale", "Calel"],
    "KR": ["Carerra", "Carrrera", "Crarera", "Carreara"],
    "AC": ["Avenida Calel", "Av. Cale"],
    "AK": ["Avenida Carerra", "Av. Carrrera"],
    "DG": ["Diagnal", "Diagonl"],
    "TV": ["Tranversal", "Transversl"],
}
_SUR = [("Sur", 10), ("SUR", 6), ("S", 4), ("sur", 2), ("Sur.", 1)]
_ESTE = [("Este", 10), ("ESTE", 6), ("E", 3), ("Est.", 1), ("este", 2)]
_NUMBER_SEP = [
    (" # ", 30), (" #", 6), ("#", 4), (" No. ", 14), (" No ", 8), (" Nº ", 5), (" N° ", 5),
    (" N ", 2), (" - ", 4), (" ", 10), (" no. ", 3), ("# ", 3),
]  # fmt: skip
_HOUSE_SEP = [("-", 70), (" - ", 10), (" ", 16), (" – ", 2), ("- ", 2)]
_LETTER_SEP = [("", 70), (" ", 30)]
_BIS_WORD = [("BIS", 5), (" BIS", 5), (" Bis", 6), ("Bis", 2), (" bis", 3)]
_BIS_LETTER_SEP = [("", 3), (" ", 6), ("-", 1)]
_COMPLEMENT_SEP = [(" ", 6), (", ", 3), (" - ", 1)]
_CITY = [
    ("Bogotá", 5), ("BOGOTA D.C.", 4), ("Bogotá D.C.", 3), ("Bogota DC", 2),
    ("Bogotá, Colombia", 1), ("BOGOTÁ", 1),
]  # fmt: skip
_ACCENTS = {"á": "a", "é": "e", "í": "i", "ó": "o", "ú": "u", "Á": "A", "É": "E", "Í": "I"}
_ACCENTS |= {"Ó": "O", "Ú": "U", "ñ": "n", "Ñ": "N", "º": "o", "°": "o"}


def official_label_ok(labels: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """Return True where a label is a well-formed official address (see the pattern).

    Examples
    --------
    >>> official_label_ok(["CL 45, 23 10", "KR 7BIS A, 32 16 S", "?, LA PALMA", "KR 9, IN 4"])
    array([ True,  True, False, False])
    """
    import pyarrow.compute as pc

    arr = _as_arrow(labels)
    ok = pc.fill_null(pc.match_substring_regex(arr, OFFICIAL_LABEL_PATTERN), False)
    return np.asarray(ok.to_numpy(zero_copy_only=False), dtype=bool)


def parse_official_labels(labels: npt.ArrayLike) -> pd.DataFrame:
    """Split official labels into their parts.

    Returns
    -------
    DataFrame
        One row per label (default index), a column per group of
        :data:`OFFICIAL_LABEL_PATTERN` (empty string where a part is absent) and ``ok``;
        all parts are empty where ``ok`` is False.

    Examples
    --------
    >>> parse_official_labels(["KR 7BIS A, 32 16 S"]).loc[0, ["t", "n", "bis", "bl2", "x", "h", "hc"]].tolist()
    ['KR', '7', 'BIS', 'A', '32', '16', 'S']
    """  # noqa: E501
    parts = _parse(_as_arrow(labels))
    out = pd.DataFrame({k: np.asarray(v.to_numpy(zero_copy_only=False)) for k, v in parts.items()})
    out["ok"] = out["t"] != ""
    return out


def _as_arrow(labels: npt.ArrayLike) -> Any:
    import pyarrow as pa

    values = np.asarray(labels, dtype=object)
    if values.ndim != 1:
        msg = f"labels must be one-dimensional, got shape {values.shape!r}"
        raise AnalysisError(msg)
    try:
        return pa.array(values, type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # non-text values count as missing
        cleaned = [v if isinstance(v, str) else None for v in values.tolist()]
        return pa.array(cleaned, type=pa.string())


def _parse(arr: Any) -> dict[str, Any]:
    import pyarrow.compute as pc

    matched = pc.extract_regex(arr, OFFICIAL_LABEL_PATTERN)
    parts = {}
    for name in _FIELDS:
        parts[name] = pc.fill_null(pc.struct_field(matched, name), "")
    parts["bis"] = pc.utf8_trim_whitespace(parts["bis"])
    parts["xbis"] = pc.utf8_trim_whitespace(parts["xbis"])
    return parts


def avenue_names(
    streets: pd.DataFrame, *, min_share: float = 0.9, min_length_m: float = 10_000.0
) -> dict[str, str]:
    """Return the avenue name of each avenue label that the street layer names unambiguously.

    A label (``"AK 72"``, ``"AC 26 S"``) of type AC or AK gets the ``nombre`` that covers at
    least ``min_share`` of its total centreline length, provided that length is at least
    ``min_length_m`` (well-known avenues only); if several names qualify (``min_share`` at
    most 0.5) the longest wins, ties by name. Other labels get no name.

    Parameters
    ----------
    streets
        Columns ``etiqueta``, ``nombre`` and ``length_m`` (as from
        :func:`geo_integration.loaders.load_streets`).

    Returns
    -------
    dict
        Label -> name as spelled in the layer (e.g. ``{"AK 72": "AVENIDA BOYACA"}``).
    """
    missing = [c for c in ("etiqueta", "nombre", "length_m") if c not in streets.columns]
    if missing:
        msg = f"streets lack column(s) {missing!r}"
        raise AnalysisError(msg)
    table = pd.DataFrame(
        {
            "label": streets["etiqueta"].astype("string").str.strip(),
            "name": streets["nombre"].astype("string").str.strip(),
            "length": pd.to_numeric(streets["length_m"], errors="coerce").fillna(0.0),
        }
    )
    table = table[table["label"].str.match(r"^A[CK] \d", na=False)]
    total = table.groupby("label")["length"].sum()
    named = table[table["name"].fillna("") != ""]
    by_name = named.groupby(["label", "name"])["length"].sum().reset_index()
    by_name = by_name.join(total.rename("total"), on="label")
    by_name["share"] = by_name["length"].to_numpy(float) / by_name["total"].to_numpy(float)
    keep = by_name[(by_name["share"] >= min_share) & (by_name["length"] >= min_length_m)]
    keep = keep.sort_values(["label", "length", "name"], ascending=[True, False, True])
    keep = keep.drop_duplicates("label")
    return {str(k): str(v) for k, v in zip(keep["label"], keep["name"], strict=True)}


def _choose(u: npt.NDArray[np.float64], options: Sequence[tuple[str, float]]) -> Any:
    """Pick one option per row by weighted inverse-CDF on the uniforms ``u``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    weights = np.array([w for _s, w in options], dtype=float)
    cum = np.cumsum(weights) / weights.sum()
    idx = np.minimum(np.searchsorted(cum, u, side="right"), len(options) - 1)
    return pc.take(pa.array([s for s, _w in options], type=pa.string()), pa.array(idx))


def _cat(*parts: Any) -> Any:
    import pyarrow.compute as pc

    return pc.binary_join_element_wise(*parts, "")


def _when(mask: Any, value: Any, other: Any = "") -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.if_else(pa.array(np.asarray(mask, dtype=bool)), value, other)


def _nonempty(arr: Any) -> npt.NDArray[np.bool_]:
    import pyarrow.compute as pc

    return np.asarray(pc.not_equal(arr, "").to_numpy(zero_copy_only=False), dtype=bool)


def _ints(values: npt.NDArray[np.int64]) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.cast(pa.array(values), pa.string())


def _type_words(t: Any, u: npt.NDArray[np.float64], typo: npt.NDArray[np.bool_]) -> Any:
    """The type word of each row ("Cll", "Carrera", ...); ``typo`` rows get a misspelling."""
    import pyarrow as pa
    import pyarrow.compute as pc

    codes = list(_TYPE_WORDS)
    words: list[str] = []
    offsets: dict[str, int] = {}
    for code in codes:
        offsets[code] = len(words)
        words += [w for w, _ in _TYPE_WORDS[code]] + _TYPE_TYPOS[code]
    words.append("")  # rows that did not parse
    code_idx = pc.fill_null(pc.index_in(t, value_set=pa.array(codes)), len(codes))
    code_np = np.asarray(code_idx.to_numpy(zero_copy_only=False), dtype=np.int64)
    idx = np.full(len(code_np), len(words) - 1, dtype=np.int64)
    for i, code in enumerate(codes):
        rows = code_np == i
        options = _TYPE_WORDS[code]
        weights = np.array([w for _, w in options], dtype=float)
        cum = np.cumsum(weights) / weights.sum()
        pick = np.minimum(np.searchsorted(cum, u[rows], side="right"), len(options) - 1)
        n_typos = len(_TYPE_TYPOS[code])
        # typo rows reuse their uniform to pick the misspelling
        typo_pick = len(options) + np.minimum((u[rows] * n_typos).astype(np.int64), n_typos - 1)
        idx[rows] = offsets[code] + np.where(typo[rows], typo_pick, pick)
    return pc.take(pa.array(words, type=pa.string()), pa.array(idx))


def _cardinal(code: Any, u: npt.NDArray[np.float64]) -> Any:
    import pyarrow.compute as pc

    sur = _choose(u, _SUR)
    este = _choose(u, _ESTE)
    is_s = pc.equal(code, "S")
    is_e = pc.or_(pc.equal(code, "E"), pc.equal(code, "ESTE"))
    return pc.if_else(is_s, sur, pc.if_else(is_e, este, ""))


def _number_part(
    num: Any, letter: Any, bis: Any, bis_letter: Any, u: npt.NDArray[np.float64]
) -> Any:
    """``45A``/``45 A``, then ``BIS`` variants and the letter after BIS."""
    letter_sep = _choose(u[:, 0], _LETTER_SEP)
    has_letter = _nonempty(letter)
    out = _cat(num, _when(has_letter, _cat(letter_sep, letter)))
    bis_word = _choose(u[:, 1], _BIS_WORD)
    bis_sep = _choose(u[:, 2], _BIS_LETTER_SEP)
    # a letter glued after BIS reads as part of it ("BISA"); a letter glued after a letter
    # without BIS does not arise
    tail = _cat(bis_word, _when(_nonempty(bis_letter), _cat(bis_sep, bis_letter)))
    return _cat(out, _when(_nonempty(bis), tail))


def _named_heads(
    street: Any, names: Mapping[str, str], u: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.bool_], Any]:
    """Avenue-name forms ("Av. Boyaca") for rows whose street has a known name."""
    import pyarrow as pa
    import pyarrow.compute as pc

    keys = sorted(names)
    n = len(street)
    if not keys:
        return np.zeros(n, dtype=bool), pa.array([""] * n, type=pa.string())
    variants: list[str] = []
    for key in keys:
        full = names[key].strip()
        rest = full.removeprefix("AVENIDA ").strip()
        variants += [full, f"Avenida {rest.title()}", f"Av. {rest.title()}", f"AV {rest}"]
    pos = pc.index_in(street, value_set=pa.array(keys, type=pa.string()))
    known = np.asarray(pc.is_valid(pos).to_numpy(zero_copy_only=False), dtype=bool)
    key_idx = np.asarray(pc.fill_null(pos, 0).to_numpy(zero_copy_only=False), dtype=np.int64)
    which = np.minimum((u * 4).astype(np.int64), 3)
    text = pc.take(pa.array(variants, type=pa.string()), pa.array(key_idx * 4 + which))
    return known, text


def _complements(n: int, rng: np.random.Generator, barrios: Any, u: npt.NDArray[np.float64]) -> Any:
    """One complement per row: apartment, interior, tower, house, floor, block, barrio, city."""
    import pyarrow as pa
    import pyarrow.compute as pc

    apto = _ints(rng.integers(1, 21, n) * 100 + rng.integers(1, 5, n))
    small = _ints(rng.integers(1, 10, n))
    mid = _ints(rng.integers(1, 61, n))
    floor = _ints(rng.integers(2, 7, n))
    w = [_choose(u[:, i], opts) for i, opts in enumerate(_COMPLEMENT_WORDS)]
    kinds = [
        _cat(w[0], " ", apto),
        _cat(w[1], " ", small),
        _cat(w[2], " ", small, " ", w[0], " ", apto),
        _cat(w[3], " ", mid),
        _cat(w[4], " ", floor),
        _cat(w[5], " ", small, " ", w[0], " ", apto),
        _choose(u[:, 6], _CITY),
    ]
    weights = [30.0, 10, 8, 8, 6, 5, 16]
    has_barrio = _nonempty(barrios)
    kind_u = u[:, 7]
    choice = np.searchsorted(np.cumsum(weights) / sum(weights), kind_u, side="right")
    choice = np.minimum(choice, len(weights) - 1)
    text = pc.choose(pa.array(choice.astype(np.int64)), *kinds)
    # a barrio, when one is known, replaces the complement on a share of rows
    use_barrio = has_barrio & (u[:, 8] < 0.3)
    barrio_text = _cat(_choose(u[:, 9], _BARRIO_WORD), " ", barrios)
    return _cat(_choose(u[:, 10], _COMPLEMENT_SEP), _when(use_barrio, barrio_text, text))


_COMPLEMENT_WORDS: list[list[tuple[str, float]]] = [
    [("apto", 8), ("Apto.", 5), ("APTO", 4), ("apt", 2), ("Ap", 1), ("Apartamento", 2)],
    [("int", 5), ("Int.", 3), ("INT", 3), ("Interior", 2)],
    [("torre", 4), ("Torre", 4), ("T", 1), ("TORRE", 2)],
    [("casa", 5), ("Casa", 4), ("CS", 1), ("CASA", 2)],
    [("piso", 5), ("Piso", 3), ("PISO", 2)],
    [("bloque", 4), ("Bloque", 3), ("Bl", 1), ("BL", 2)],
]
_BARRIO_WORD = [("barrio", 5), ("Barrio", 4), ("B/", 1), ("BARRIO", 2), ("Brr", 1)]


def _strip_accents(arr: Any) -> Any:
    import pyarrow.compute as pc

    for accented, plain in _ACCENTS.items():
        arr = pc.replace_substring(arr, accented, plain)
    return arr


def messy_addresses(
    labels: npt.ArrayLike,
    rng: np.random.Generator,
    *,
    barrios: npt.ArrayLike | None = None,
    avenue_names: Mapping[str, str] | None = None,
    complement_rate: float = 0.35,
    named_rate: float = 0.25,
    typo_rate: float = 0.03,
    case_mix: bool = True,
) -> npt.NDArray[np.object_]:
    """Write each official label the way a person might type it.

    Parameters
    ----------
    labels
        Official labels (``"KR 78A, 76 25"``); labels that do not match
        :data:`OFFICIAL_LABEL_PATTERN` give an empty string.
    rng
        Seeded generator; the same generator state and inputs give the same output.
    barrios
        Optional barrio name per label, used in complements such as ``"barrio Verbenal"``.
    avenue_names
        Label of an avenue -> its name (see :func:`avenue_names`); those streets are written
        by name on a share ``named_rate`` of their rows ("Av. Boyaca # 23-10").
    complement_rate
        Share of rows with a complement appended (apartment, interior, barrio, city, ...).
    typo_rate
        Share of rows with a typo in the type word or stray punctuation or spacing.
    case_mix
        Upper-case or lower-case some rows and strip accents on some.

    Returns
    -------
    ndarray of str
        Aligned to ``labels``. The meaning is kept: street family, numbers in order,
        letters, BIS and cardinals (``Sur``/``Este`` may move to the end, as people write).

    Examples
    --------
    >>> import re
    >>> out = messy_addresses(["CL 45, 23 10"], np.random.default_rng(1), complement_rate=0)
    >>> re.findall(r"[0-9]+", out[0])
    ['45', '23', '10']
    """
    for name, rate in (("complement_rate", complement_rate), ("named_rate", named_rate)):
        if not 0.0 <= rate <= 1.0:
            msg = f"{name} must be within 0..1, got {rate!r}"
            raise AnalysisError(msg)
    if not 0.0 <= typo_rate <= 1.0:
        msg = f"typo_rate must be within 0..1, got {typo_rate!r}"
        raise AnalysisError(msg)
    arr = _as_arrow(labels)
    n = len(arr)
    if barrios is not None and len(np.asarray(barrios, dtype=object)) != n:
        msg = f"barrios has {len(np.asarray(barrios, dtype=object))} values, labels {n}"
        raise AnalysisError(msg)
    # every random draw has a fixed shape, whatever the labels, so output is reproducible
    u = rng.random((n, 32))
    return _assemble(
        arr, rng, u, barrios, avenue_names or {}, complement_rate, named_rate, typo_rate, case_mix
    )


def _assemble(
    arr: Any,
    rng: np.random.Generator,
    u: npt.NDArray[np.float64],
    barrios: npt.ArrayLike | None,
    names: Mapping[str, str],
    complement_rate: float,
    named_rate: float,
    typo_rate: float,
    case_mix: bool,
) -> npt.NDArray[np.object_]:
    import pyarrow.compute as pc

    n = len(arr)
    p = _parse(arr)
    ok = _nonempty(p["t"])
    typo = u[:, 0] < typo_rate
    typo_kind = np.minimum((u[:, 1] * 4).astype(int), 3)
    type_word = _type_words(p["t"], u[:, 2], typo & (typo_kind == 0))
    street_no = _number_part(p["n"], p["l"], p["bis"], _cat(p["bl"], p["bl2"]), u[:, 3:6])
    cross_no = _number_part(p["x"], p["xl"], p["xbis"], p["xbl"], u[:, 6:9])
    house = p["h"]
    strip_zero = (u[:, 9] < 0.15) & (pc.utf8_length(house).to_numpy() > 1)
    house = _when(strip_zero, pc.utf8_ltrim(house, "0"), house)
    house = pc.if_else(pc.equal(house, ""), "0", house)
    card_c = _cardinal(p["c"], u[:, 10])
    card_h = _cardinal(p["hc"], u[:, 11])
    has_c, has_h = _nonempty(p["c"]), _nonempty(p["hc"])
    known, name_text = _named_heads(p["street"], names, u[:, 12])
    named = known & (u[:, 13] < named_rate)
    moved = has_c & ((~has_h & (u[:, 14] < 0.4)) | named)
    head = _cat(type_word, " ", street_no, _when(has_c & ~moved, _cat(" ", card_c)))
    head = _when(named, name_text, head)
    text = _cat(
        head,
        _choose(u[:, 15], _NUMBER_SEP),
        cross_no,
        _choose(u[:, 16], _HOUSE_SEP),
        house,
        _when(moved, _cat(" ", card_c)),
        _when(has_h, _cat(" ", card_h)),
    )
    barrio_arr = _as_arrow(barrios if barrios is not None else np.full(n, "", dtype=object))
    barrio_arr = pc.fill_null(barrio_arr, "")
    comp = _complements(n, rng, barrio_arr, u[:, 17:28])
    text = _cat(text, _when(u[:, 28] < complement_rate, comp))
    text = _punctuation(text, typo & (typo_kind > 0), typo_kind)
    if case_mix:
        text = _when(u[:, 29] < 0.25, pc.utf8_upper(text), text)
        text = _when((u[:, 29] >= 0.25) & (u[:, 29] < 0.33), pc.utf8_lower(text), text)
        text = _when(u[:, 30] < 0.35, _strip_accents(text), text)
    text = _when(ok, text, "")
    return np.asarray(text.to_numpy(zero_copy_only=False), dtype=object)


def _punctuation(text: Any, rows: npt.NDArray[np.bool_], kind: npt.NDArray[np.int64]) -> Any:
    """Stray punctuation and spacing that leave the address's meaning intact."""
    import pyarrow.compute as pc

    text = _when(rows & (kind == 1), _cat(text, "."), text)
    text = _when(
        rows & (kind == 2), pc.replace_substring(text, " ", "  ", max_replacements=1), text
    )
    return _when(rows & (kind == 3), _cat(" ", text, " ,"), text)
