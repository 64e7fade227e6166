from __future__ import annotations

import numpy as np
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


# SipHash-2-4 reference vectors (the reference implementation's vectors.h): key 00..0f,
# message 00..(n-1) for n = 0..15.
SIPHASH_VECTORS = [
    0x726FDB47DD0E0E31, 0x74F839C593DC67FD, 0x0D6C8009D9A94F5A, 0x85676696D7FB7E2D,
    0xCF2794E0277187B7, 0x18765564CD99A68D, 0xCBC9466E58FEE3CE, 0xAB0200F58B01D137,
    0x93F5F5799A932462, 0x9E0082DF0BA9E4B0, 0x7A5DBBC594DDB9F3, 0xF4B32F46226BADA7,
    0x751E8FBC860EE5FB, 0x14EA5627C0843D90, 0xF723CA908E7AF2EE, 0xA129CA6149BE45E5,
]  # fmt: skip


def _siphash_scalar(message: bytes, key: bytes) -> int:
    """Plain SipHash-2-4, one message, straight from the paper's description."""
    mask = (1 << 64) - 1

    def rotl(x: int, b: int) -> int:
        return ((x << b) | (x >> (64 - b))) & mask

    def rounds(v: list[int], n: int) -> None:
        for _ in range(n):
            v[0] = (v[0] + v[1]) & mask
            v[1] = rotl(v[1], 13) ^ v[0]
            v[0] = rotl(v[0], 32)
            v[2] = (v[2] + v[3]) & mask
            v[3] = rotl(v[3], 16) ^ v[2]
            v[0] = (v[0] + v[3]) & mask
            v[3] = rotl(v[3], 21) ^ v[0]
            v[2] = (v[2] + v[1]) & mask
            v[1] = rotl(v[1], 17) ^ v[2]
            v[2] = rotl(v[2], 32)

    k0, k1 = int.from_bytes(key[:8], "little"), int.from_bytes(key[8:], "little")
    v = [k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D]
    v += [k0 ^ 0x6C7967656E657261, k1 ^ 0x7465646279746573]
    tail = len(message) % 8
    padded = message[: len(message) - tail] + message[len(message) - tail :].ljust(7, b"\0")
    padded += bytes([len(message) & 0xFF])
    for i in range(0, len(padded), 8):
        m = int.from_bytes(padded[i : i + 8], "little")
        v[3] ^= m
        rounds(v, 2)
        v[0] ^= m
    v[2] ^= 0xFF
    rounds(v, 4)
    return v[0] ^ v[1] ^ v[2] ^ v[3]


def test_keyed_hash_is_siphash24() -> None:
    import pyarrow as pa

    from geo_integration.privacy import keyed_hash64

    key = bytes(range(16))
    messages = [bytes(range(n)).decode("ascii") for n in range(16)]
    assert keyed_hash64(pa.array(messages), key).tolist() == SIPHASH_VECTORS
    assert [_siphash_scalar(m.encode(), key) for m in messages] == SIPHASH_VECTORS
    rng = np.random.default_rng(4)
    alphabet = list("abcXYZ019 -#ñÑáé€😀")
    texts = ["".join(rng.choice(alphabet, rng.integers(0, 80))) for _ in range(300)]
    other = bytes(range(100, 116))
    expected = [_siphash_scalar(t.encode("utf-8"), other) for t in texts]
    array = pa.array(texts)
    assert keyed_hash64(array, other).tolist() == expected
    assert keyed_hash64(array.slice(7, 50), other).tolist() == expected[7:57]
    assert keyed_hash64(array.cast(pa.large_string()), other).tolist() == expected
    chunked = pa.chunked_array([array.slice(0, 100), array.slice(100)])
    assert keyed_hash64(chunked, other).tolist() == expected


def test_salted_ids_are_keyed_hashes_of_the_ids() -> None:
    import hashlib

    import pyarrow as pa

    from geo_integration.errors import AnalysisError
    from geo_integration.privacy import (
        keyed_hash64,
        new_salt,
        record_key,
        salted_id_array,
        salted_ids,
    )

    salt = b"s" * 32
    key = hashlib.blake2b(salt, digest_size=16, person=b"gi-record-id").digest()
    assert record_key(salt) == key
    ids = salted_ids(["A-1", "Ñandú 7", "A-1"], salt)
    assert ids[0] == f"{_siphash_scalar(b'A-1', key):016x}"
    assert ids[1] == f"{_siphash_scalar('Ñandú 7'.encode(), key):016x}"
    assert ids[0] == ids[2] and ids[0] != ids[1]
    assert salted_ids(["A-1"], b"t" * 32)[0] != ids[0]
    assert salted_id_array(pa.array(["A-1"]), salt).to_pylist() == ids[:1]
    assert len(new_salt()) == 32 and new_salt() != new_salt()
    with pytest.raises(AnalysisError, match="non-empty salt"):
        salted_ids(["A-1"], b"")
    with pytest.raises(AnalysisError, match="missing values"):
        keyed_hash64(pa.array(["A", None]), key)
    with pytest.raises(AnalysisError, match="16-byte key"):
        keyed_hash64(pa.array(["A"]), b"short")
    with pytest.raises(AnalysisError, match="hashes strings"):
        keyed_hash64(pa.array([1, 2]), key)
