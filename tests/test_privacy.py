from __future__ import annotations

import pandas as pd
import pytest

from geo_integration.errors import MissingColumnError
from geo_integration.privacy import suppress_small_counts


def test_small_counts_blanked_zero_and_large_kept() -> None:
    table = pd.DataFrame(
        {"cell": ["a", "b", "c"], "migrants": [3, 0, 12], "share": [0.5, 0.0, 0.25]}
    )
    out = suppress_small_counts(table, k=10)
    assert out["suppressed"].tolist() == [True, False, False]
    assert pd.isna(out.loc[0, "migrants"]) and pd.isna(out.loc[0, "share"])
    assert out.loc[2, "migrants"] == 12 and out.loc[2, "share"] == 0.25
    assert out.loc[0, "cell"] == "a"
    assert table.loc[0, "migrants"] == 3  # input untouched


def test_missing_count_column_is_named() -> None:
    with pytest.raises(MissingColumnError, match="'people'"):
        suppress_small_counts(pd.DataFrame({"x": [1]}), count_col="people")


def test_personal_columns_recognised() -> None:
    from geo_integration.privacy import is_personal_column

    for name in (
        "nombre",
        "Primer Apellido",
        "Número de documento",
        "cedula",
        "PPT",
        "Pasaporte",
        "teléfono",
        "celular",
        "correo_electronico",
        "E-mail",
        "Fecha de nacimiento",
        "id_number",
        "Full Name",
    ):
        assert is_personal_column(name), name
    for name in ("personas", "localidad", "direccion", "latitud", "id", "barrio", "tipo"):
        assert not is_personal_column(name), name


def test_strip_personal_fields_keeps_recognised_fields() -> None:
    from geo_integration.privacy import strip_personal_fields

    table = pd.DataFrame(
        {"nombre_localidad": ["Bosa"], "nombre": ["Ana"], "telefono": ["300"], "x": [1]}
    )
    out, dropped = strip_personal_fields(table, keep=["nombre_localidad"])
    assert list(out.columns) == ["nombre_localidad", "x"]
    assert dropped == ["nombre", "telefono"]
    assert list(table.columns) == ["nombre_localidad", "nombre", "telefono", "x"]


def test_salted_ids_are_sha256_of_salt_and_id() -> None:
    import hashlib

    from geo_integration.errors import AnalysisError
    from geo_integration.privacy import new_salt, salted_ids

    salt = b"s" * 32
    ids = salted_ids(["A-1", "Ñandú 7", "A-1"], salt)
    assert ids[0] == hashlib.sha256(salt + b"A-1").hexdigest()[:16]
    assert ids[1] == hashlib.sha256(salt + "Ñandú 7".encode()).hexdigest()[:16]
    assert ids[0] == ids[2] and ids[0] != ids[1]
    assert salted_ids(["A-1"], b"t" * 32)[0] != ids[0]
    assert len(new_salt()) == 32 and new_salt() != new_salt()
    with pytest.raises(AnalysisError):
        salted_ids(["A-1"], b"")
