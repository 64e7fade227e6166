"""Byte-level scans of Arrow string arrays, vectorised with numpy (a kernel).

Checks that run on every text value of a drop (is there a control character, a ``<``, does
the value start with ``=``, is it longer than the limit, does it need trimming) are cheaper
on the UTF-8 bytes of the whole array at once than with regular expressions: a lookup table
marks the bytes of interest, and the (usually few) marked bytes are mapped back to the values
that hold them. The values a scan flags can then be checked exactly.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

__all__ = ["Utf8Bytes", "byte_table"]

BoolArray = npt.NDArray[np.bool_]


@lru_cache(maxsize=64)
def byte_table(chars: bytes) -> BoolArray:
    """A 256-entry lookup table, True for each byte of ``chars`` (cached: do not modify)."""
    table = np.zeros(256, dtype=bool)
    table[np.frombuffer(chars, dtype=np.uint8)] = True
    table.flags.writeable = False
    return table


@lru_cache(maxsize=64)
def _others(chars: bytes) -> bytes:
    """Every byte value not in ``chars``."""
    return bytes(b for b in range(256) if b not in chars)


class Utf8Bytes:
    """The UTF-8 bytes of a string array (no copy), to scan many times.

    Parameters
    ----------
    values
        A pyarrow string or large string array (or chunked array).
    """

    def __init__(self, values: Any) -> None:
        array = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
        if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
            msg = f"expected a string array, got {array.type}"
            raise TypeError(msg)
        self.array = array
        n = len(array)
        validity, off_buf, data_buf = array.buffers()
        kind = np.int32 if pa.types.is_string(array.type) else np.int64
        offsets = np.frombuffer(off_buf, dtype=kind)[array.offset : array.offset + n + 1]
        self.offsets = offsets.astype(np.int64)
        start, end = (int(self.offsets[0]), int(self.offsets[-1])) if n else (0, 0)
        self.start = start
        self.data = (
            np.frombuffer(data_buf, dtype=np.uint8)[start:end]
            if data_buf is not None and end > start
            else np.zeros(0, dtype=np.uint8)
        )
        if validity is None or array.null_count == 0:
            self.valid = np.ones(n, dtype=bool)
        else:
            bits = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")
            self.valid = bits[array.offset : array.offset + n].astype(bool)
        self.lengths = np.where(self.valid, np.diff(self.offsets), 0)
        self._filled = self.lengths > 0

    def holds(self, chars: bytes) -> BoolArray:
        """True where a (non-null) value holds at least one of the bytes ``chars``."""
        found = np.zeros(len(self.valid), dtype=bool)
        if not self.data.tobytes().translate(None, _others(chars)):
            return found  # none of them anywhere: the usual case, at C speed
        where = np.flatnonzero(byte_table(chars)[self.data]) + self.start
        rows = np.searchsorted(self.offsets, where, side="right") - 1
        found[rows] = True
        return found & self.valid

    def first(self, chars: bytes) -> BoolArray:
        """True where a non-empty value's first byte is one of ``chars``."""
        return self._edge(chars, self.offsets[:-1] - self.start)

    def last(self, chars: bytes) -> BoolArray:
        """True where a non-empty value's last byte is one of ``chars``."""
        return self._edge(chars, self.offsets[1:] - self.start - 1)

    def _edge(self, chars: bytes, at: npt.NDArray[np.int64]) -> BoolArray:
        if not len(self.data):
            return np.zeros(len(self.valid), dtype=bool)
        np.maximum(at, 0, out=at)
        np.minimum(at, len(self.data) - 1, out=at)
        return byte_table(chars)[self.data[at]] & self._filled
