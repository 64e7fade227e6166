from __future__ import annotations

import io
from pathlib import Path

import pytest

from geo_integration.csvtext import MIXED, LineDecoder, decode_head, detect_encoding
from geo_integration.errors import InputFileError


def _detect(tmp_path: Path, data: bytes) -> str:
    path = tmp_path / "x.csv"
    path.write_bytes(data)
    return detect_encoding(path, data[:65536])


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        ("id,dirección\n1,Bogotá\n".encode(), "utf-8"),
        (b"\xef\xbb\xbfid,x\n1,2\n", "utf-8-sig"),
        ("id,x\n1,ñ\n".encode("utf-16"), "utf-16"),
        ("id,dirección\n1,Bogotá\n".encode("cp1252"), "cp1252"),
        (b"id,x\n1,\x81\xe9\n", "latin-1"),  # 0x81 is not cp1252
        ("id,x\n1,ñ\n".encode() + "2,ñ\n".encode("cp1252"), MIXED),
        (b"\xef\xbb\xbfid,x\n" + "2,ñ\n".encode("cp1252"), MIXED),
        (b"id,x\n1,a\x00b\n", "utf-8"),  # one NUL in a cell is not a binary file
        (b"id,x\n" + b"1,a\n" * 20_000 + "2,ñ\n".encode("cp1252"), "utf-8"),  # checked later
    ],
)
def test_detect_encoding(tmp_path: Path, data: bytes, encoding: str) -> None:
    assert _detect(tmp_path, data) == encoding


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"PK\x03\x04" + bytes(100), r"binary file \(a ZIP archive"),
        (b"%PDF-1.4\n" + bytes(100), r"binary file \(a PDF document\)"),
        (b"SQLite format 3\x00" + bytes(100), r"an SQLite database or a GeoPackage"),
        ("id,x\n1,2\n".encode("utf-16-le"), "UTF-16 text without a byte-order mark"),
        (bytes(range(1, 32)) * 10, r"binary file \(\d+ control bytes in the first 310\)"),
    ],
)
def test_binary_files_are_named(tmp_path: Path, data: bytes, match: str) -> None:
    with pytest.raises(InputFileError, match=match):
        _detect(tmp_path, data)


def test_mixed_lines_decoded_one_by_one_and_counted() -> None:
    data = b"\xef\xbb\xbfa,b\r\n" + "1,ñ\r\n".encode() + "2,ñ\r".encode("cp1252") + b"3,x\n"
    decoder = LineDecoder(io.BytesIO(data), max_chars=100)
    assert list(decoder) == ["a,b\r\n", "1,ñ\r\n", "2,ñ\r", "3,x\n"]
    assert decoder.not_utf8 == [3] and decoder.not_utf8_count == 1
    assert decoder.warning() == (
        "1 line(s) are not UTF-8 like the rest of the file (line 3) and were read as "
        "Latin-1 (cp1252); check their accents"
    )
    long = LineDecoder(io.BytesIO(b"a,b\n" + b"x" * 50 + b"\n"), max_chars=10)
    assert list(long) == ["a,b\n"] and long.too_long_at == 2
    assert decode_head("ñ\n".encode() + "é\n".encode("cp1252"), MIXED) == "ñ\né\n"
