from __future__ import annotations

import pyarrow as pa
import pytest

from geo_integration.textscan import Utf8Bytes


def test_scans_of_sliced_nullable_arrays() -> None:
    array = pa.array(["skip", "a<b", None, "", " x", "ñ=", "=1", "ok"]).slice(1)
    scan = Utf8Bytes(array)
    assert scan.lengths.tolist() == [3, 0, 0, 2, 3, 2, 2]
    assert scan.valid.tolist() == [True, False, True, True, True, True, True]
    assert scan.holds(b"<=").tolist() == [True, False, False, False, True, True, False]
    assert scan.first(b" =").tolist() == [False, False, False, True, False, True, False]
    assert scan.last(b"bx").tolist() == [True, False, False, True, False, False, False]
    large = Utf8Bytes(pa.chunked_array([["<", "b"], ["c<"]]).cast(pa.large_string()))
    assert large.holds(b"<").tolist() == [True, False, True]


def test_empty_and_all_null_arrays() -> None:
    for array in (pa.array([], type=pa.string()), pa.array([None, None], type=pa.string())):
        scan = Utf8Bytes(array)
        assert not scan.holds(b"a").any()
        assert not scan.first(b"a").any()
    with pytest.raises(TypeError, match="string array"):
        Utf8Bytes(pa.array([1, 2]))
