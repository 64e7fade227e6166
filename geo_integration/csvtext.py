"""CSV bytes to text: encoding detection and line decoding (I/O).

Drop CSV files arrive as UTF-8 (with or without a byte-order mark), UTF-16 with a mark, or
Latin-1/cp1252 (Excel on Windows), and sometimes as a mixture: a UTF-8 file into which lines
typed on another machine were pasted. :func:`detect_encoding` tells them apart, and refuses
files that are not text at all (a spreadsheet, archive, image or database renamed ``.csv``),
naming what the file looks like.

A mixture gets the pseudo-encoding :data:`MIXED`: :func:`decoded_lines` then decodes each
line as UTF-8 when it is valid UTF-8 and as cp1252 otherwise, and counts the lines read the
second way, so the report can name them. Nothing is ever decoded with replacement
characters.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from geo_integration.errors import InputFileError

__all__ = ["MIXED", "LineDecoder", "decode_head", "detect_encoding"]

#: Pseudo-encoding of a file mixing UTF-8 lines and cp1252 lines.
MIXED = "utf-8+cp1252"
_SCAN_BYTES = 1 << 20
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a ZIP archive, or an XLSX/DOCX document"),
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"SQLite format 3\x00", "an SQLite database or a GeoPackage"),
    (b"PAR1", "a Parquet file"),
    (b"\xd0\xcf\x11\xe0", "an old Office document (.xls, .doc)"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"),
)
# control bytes that never occur in text (tab, line feed, form feed, carriage return do)
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_UTF8_SEQUENCE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)
#: Share of control bytes in the first bytes above which a file is binary.
BINARY_SHARE = 0.01


def _binary(path: Path, head: bytes) -> None:
    for signature, what in _SIGNATURES:
        if head.startswith(signature):
            msg = f"binary file ({what}), not CSV text; send the data as CSV or in its own format"
            raise InputFileError(msg, path=path)
    sample = head[:8192]
    nul = sample.count(0)
    if nul and nul >= len(sample) // 4 and (sample[1::2].count(0) > len(sample) // 4):
        msg = (
            "looks like UTF-16 text without a byte-order mark; set encoding = 'utf-16-le' "
            "for this file in drop.toml, or save it as UTF-8"
        )
        raise InputFileError(msg, path=path)
    control = len(_CONTROL.findall(sample))
    if control > max(8, BINARY_SHARE * len(sample)):
        msg = (
            f"binary file ({control} control bytes in the first {len(sample):,}), not CSV "
            "text (is it a spreadsheet or an archive renamed .csv?)"
        )
        raise InputFileError(msg, path=path)


def _valid(path: Path, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    with path.open("rb") as fh:
        while block := fh.read(_SCAN_BYTES):
            try:
                decoder.decode(block)
            except UnicodeDecodeError:
                return False
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _has_utf8(path: Path) -> bool:
    with path.open("rb") as fh:
        while block := fh.read(_SCAN_BYTES):
            if _UTF8_SEQUENCE.search(block):
                return True
    return False


def _utf8_head(body: bytes, *, complete: bool) -> bool:
    """True when ``body`` is UTF-8 (a character cut at its end allowed unless ``complete``)."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(body, final=complete)
    except UnicodeDecodeError:
        return False
    return True


def detect_encoding(path: Path, head: bytes) -> str:
    """The encoding of a CSV file: ``utf-8``, ``utf-8-sig``, ``utf-16``, :data:`MIXED`,
    ``cp1252`` or ``latin-1``.

    A file whose first bytes are UTF-8 is taken as UTF-8 without reading the rest: the
    readers check every line as they go, and read the lines that are not UTF-8 as cp1252
    (the file becomes :data:`MIXED`). Otherwise the whole file is scanned: UTF-8 sequences
    anywhere make it :data:`MIXED`, else it is cp1252 (or Latin-1 when not valid cp1252).

    Raises
    ------
    InputFileError
        If the file is binary (it names what it looks like) or UTF-16 without a mark.
    """
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    _binary(path, head)
    bom = head.startswith(codecs.BOM_UTF8)
    body = head[3:] if bom else head
    if _utf8_head(body, complete=path.stat().st_size <= len(head)):
        return "utf-8-sig" if bom else "utf-8"
    if bom or _has_utf8(path):
        return MIXED
    return "cp1252" if _valid(path, "cp1252") else "latin-1"


def _line_text(line: bytes) -> tuple[str, bool]:
    """A line decoded as UTF-8, else cp1252, else Latin-1; True when not UTF-8."""
    try:
        return line.decode("utf-8"), False
    except UnicodeDecodeError:
        pass
    try:
        return line.decode("cp1252"), True
    except UnicodeDecodeError:
        return line.decode("latin-1"), True


def decode_head(head: bytes, encoding: str) -> str:
    """The first bytes of a file as text (the last, possibly cut, character replaced)."""
    if encoding != MIXED:
        return head.decode(encoding, errors="replace").lstrip("\ufeff")
    text = "".join(_line_text(line)[0] for line in head.splitlines(keepends=True))
    return text.lstrip("\ufeff")


_LONE_CR = re.compile(rb"(?<=\r)(?!\n)")


class LineDecoder:
    """Lines of a :data:`MIXED` file as text, each decoded on its own.

    Attributes
    ----------
    not_utf8
        Physical line numbers (1-based) read as cp1252 (the first 20) and their count.
    """

    def __init__(self, fh: BinaryIO, *, max_chars: int) -> None:
        self.fh = fh
        self.max_chars = max_chars
        self.not_utf8: list[int] = []
        self.not_utf8_count = 0
        self.too_long_at: int | None = None

    def __iter__(self) -> Iterator[str]:
        number = 0
        while raw := self.fh.readline(self.max_chars + 1):
            if number == 0 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[3:]
            for part in _LONE_CR.split(raw):  # old Mac line ends
                if not part:
                    continue
                number += 1
                if len(part) > self.max_chars:
                    self.too_long_at = number
                    return
                text, other = _line_text(part)
                if other:
                    self.not_utf8_count += 1
                    if len(self.not_utf8) < 20:
                        self.not_utf8.append(number)
                yield text

    def warning(self) -> str | None:
        """What the report says about the lines that were not UTF-8."""
        if not self.not_utf8_count:
            return None
        lines = ", ".join(str(n) for n in self.not_utf8[:5])
        more = "" if self.not_utf8_count <= 5 else ", ..."
        return (
            f"{self.not_utf8_count} line(s) are not UTF-8 like the rest of the file (line "
            f"{lines}{more}) and were read as Latin-1 (cp1252); check their accents"
        )
