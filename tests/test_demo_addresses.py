"""The messy-address kernel: official labels in, typed forms out, meaning kept."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from geo_integration.demo_addresses import (
    avenue_names,
    messy_addresses,
    official_label_ok,
    parse_official_labels,
)
from geo_integration.errors import AnalysisError
from geo_integration.text import fold

# Official labels in the forms the address points use (see the data README).
LABELS = [
    "CL 45, 23 10",
    "KR 7BIS A, 32 16 S",
    "AK 68, 22A 75",
    "DG 72BIS S, 77G 86",
    "CL 31A S, 0 45 E",
    "KR 78A, 76 25",
    "KR 4DBIS, 55A 51 S",
    "TV 70, 9A 71",
    "CL 16H, 112-84",
    "AC 26, 23 12",
    "KR 151BISA, 138 24",
    "KR 21 BIS, 93 75",
    "CL 49, 68D 61S",
    "CL 136G S, 24 05 E",
]
FAMILY = {"CL": "calle", "AC": "calle", "KR": "carrera", "AK": "carrera"}
FAMILY |= {"DG": "diagonal", "TV": "transversal"}


def _family(typed: str) -> str:
    """Street family from the first words of a typed address (the forms the kernel writes)."""
    words = fold(typed).lower().replace(".", " ").split()
    first = words[0] if words[0] not in ("av", "avenida", "avda") else words[1]
    if first == "ac" or first.startswith(("cl", "cal")):
        return "calle"
    if first == "ak" or first.startswith(("k", "cr", "car")):
        return "carrera"
    if first.startswith("d"):
        return "diagonal"
    if first.startswith("t"):
        return "transversal"
    return "?"


def test_parse_official_labels_by_hand() -> None:
    parts = parse_official_labels(["KR 7BIS A, 32 16 S", "CL 31A S, 0 45 E", "CL 16H, 112-84"])
    assert parts.loc[0, ["t", "n", "bis", "bl2", "x", "h", "hc"]].tolist() == [
        "KR", "7", "BIS", "A", "32", "16", "S",
    ]  # fmt: skip
    assert parts.loc[1, ["t", "n", "l", "c", "x", "h", "hc"]].tolist() == [
        "CL", "31", "A", "S", "0", "45", "E",
    ]  # fmt: skip
    assert parts.loc[2, ["t", "n", "l", "x", "h"]].tolist() == ["CL", "16", "H", "112", "84"]
    assert parts["ok"].all()


def test_official_label_ok_rejects_unusable_labels() -> None:
    good = official_label_ok(LABELS)
    assert good.all()
    bad = official_label_ok(["?, LA PALMA IV", "KR 9, IN 4", "CL 68 S, -41", "", None])
    assert not bad.any()


def test_meaning_kept_numbers_family_and_cardinals() -> None:
    labels = np.array(LABELS * 150, dtype=object)
    out = messy_addresses(labels, np.random.default_rng(11), typo_rate=0.0)
    parts = parse_official_labels(labels)
    for label, typed, (_, p) in zip(labels, out, parts.iterrows(), strict=True):
        official = [int(d) for d in re.findall(r"\d+", label)]
        typed_numbers = [int(d) for d in re.findall(r"\d+", typed)]
        # complements only append numbers: the official numbers come first, in order
        assert typed_numbers[: len(official)] == official, (label, typed)
        assert _family(typed) == FAMILY[p["t"]], (label, typed)
        words = re.findall(r"[A-Z]+", fold(typed).upper())
        if "S" in (p["c"], p["hc"]):
            assert "SUR" in words or "S" in words, (label, typed)
        if "E" in (p["c"], p["hc"]):
            assert {"ESTE", "EST", "E"} & set(words), (label, typed)
        if p["bis"]:
            assert "BIS" in fold(typed).upper(), (label, typed)


def test_typos_touch_letters_only() -> None:
    labels = np.array(LABELS * 100, dtype=object)
    out = messy_addresses(labels, np.random.default_rng(2), typo_rate=1.0, complement_rate=0.0)
    for label, typed in zip(labels, out, strict=True):
        numbers = [int(d) for d in re.findall(r"\d+", typed)]
        assert numbers == [int(d) for d in re.findall(r"\d+", label)], (label, typed)
    typos = [t for t in out if re.search(r"Callle|Cale\b|Carerra|Carrrera|Diagnal|Tranversal", t)]
    assert typos
    assert any(t.endswith(".") for t in out)
    assert any("  " in t for t in out)


def test_the_messy_forms_people_type_appear() -> None:
    labels = np.array(LABELS * 300, dtype=object)
    out = pd.Series(
        messy_addresses(
            labels,
            np.random.default_rng(5),
            barrios=np.full(len(labels), "Verbenal", dtype=object),
            avenue_names={"AK 68": "AVENIDA DEL CONGRESO EUCARISTICO"},
        )
    )
    patterns = {
        "Cll 45 # 23-10": r"^Cll 45 # 23-10",
        "No. separator": r"\bNo\. \d",
        "Nº or N°": r"N[º°] \d",
        "Carrera spelled out": r"^(CARRERA|Carrera|carrera) \d",
        "Cra/Kra/Kr": r"^(Cra|Kra|Kr|KR)\.? \d",
        "glued letter 78A": r"\b78A\b",
        "spaced letter 78 A": r"\b78 A\b",
        "Bis spaced": r"7 (BIS|Bis|bis) A",
        "Sur spelled out": r"\b(Sur|SUR|sur)\b",
        "Este spelled out": r"\b(Este|ESTE|este)\b",
        "apartment": r"(apto|Apto\.|APTO) \d{3,4}$",
        "interior": r"(int|Int\.|INT|Interior) \d$",
        "torre + apto": r"(?i)(torre|T) \d (apto|apt|ap|apartamento)\.? \d+",
        "barrio": r"(?i)(barrio|B/|brr) Verbenal",
        "city": r"(?i)bogot[aá]",
        "named avenue": r"(?i)(avenida|av\.?) del congreso eucaristico",
        "upper case only": r"^[^a-z]+$",
        "lower case only": r"^[^A-Z]+$",
        "no accents": r"(?i)\bbogota\b",
    }
    for name, pattern in patterns.items():
        assert any(re.search(pattern, text) for text in out), name


def test_reproducible_with_the_seed() -> None:
    a = messy_addresses(LABELS, np.random.default_rng(3))
    b = messy_addresses(LABELS, np.random.default_rng(3))
    c = messy_addresses(LABELS, np.random.default_rng(4))
    assert a.tolist() == b.tolist()
    assert a.tolist() != c.tolist()


def test_unusable_labels_give_empty_strings_aligned() -> None:
    out = messy_addresses(["?, LA PALMA", "CL 45, 23 10", "KR 9, IN 4"], np.random.default_rng(1))
    assert out[0] == "" and out[2] == ""
    assert re.findall(r"\d+", out[1])[:3] == ["45", "23", "10"]


def test_rates_are_checked() -> None:
    with pytest.raises(AnalysisError, match="complement_rate"):
        messy_addresses(LABELS, np.random.default_rng(1), complement_rate=1.5)
    with pytest.raises(AnalysisError, match="barrios"):
        messy_addresses(LABELS, np.random.default_rng(1), barrios=["x"])


def test_avenue_names_only_unambiguous_long_avenues() -> None:
    streets = pd.DataFrame(
        {
            "etiqueta": ["AK 72", "AK 72", "AK 72", "AC 26", "AC 26", "KR 14", "AK 9", "AK 9"],
            "nombre": ["AVENIDA BOYACA", "AVENIDA BOYACA", None, "AVENIDA X", "AVENIDA Y",
                       "AVENIDA CARACAS", "AVENIDA CORTA", None],
            "length_m": [6000.0, 5500.0, 500.0, 6000.0, 6000.0, 50000.0, 900.0, 0.0],
        }
    )  # fmt: skip
    # AK 72: 11.5 km of 12 km named BOYACA (96 %); AC 26: split 50/50; KR 14 is not an
    # avenue label; AK 9 is too short
    assert avenue_names(streets) == {"AK 72": "AVENIDA BOYACA"}
    # with a low threshold the longer name wins; a tie goes to the first name alphabetically
    relaxed = avenue_names(streets, min_share=0.5, min_length_m=5000)
    assert relaxed == {"AK 72": "AVENIDA BOYACA", "AC 26": "AVENIDA X"}
