from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from geo_integration.spool import SpillBudget, Spool


def _table(start: int, rows: int) -> pa.Table:
    return pa.table({"n": pa.array(range(start, start + rows), type=pa.int64())})


def test_spool_keeps_chunks_in_memory_under_the_budget(tmp_path: Path) -> None:
    budget = SpillBudget(limit=10_000)
    spool = Spool(tmp_path / "a.parquet", budget)
    spool.append(_table(0, 10))
    spool.append(_table(10, 0))  # ignored
    spool.append(_table(10, 5))
    assert not spool.spilled and not (tmp_path / "a.parquet").exists()
    assert budget.held == 15 * 8 and spool.num_rows == 15
    got = [t["n"].to_pylist() for t in spool.tables(batch_rows=12)]
    assert got == [list(range(10)), list(range(10, 15))]  # chunks put together up to 12 rows
    spool.discard()
    assert budget.held == 0 and spool.num_rows == 0


def test_spool_spills_when_the_shared_budget_is_exceeded(tmp_path: Path) -> None:
    budget = SpillBudget(limit=200)  # bytes: 25 int64 values
    first, second = Spool(tmp_path / "1.parquet", budget), Spool(tmp_path / "2.parquet", budget)
    first.append(_table(0, 20))  # 160 bytes: kept
    second.append(_table(100, 10))  # 240 bytes in all: the second spool spills its rows
    assert not first.spilled and second.spilled and budget.held == 160
    second.append(_table(110, 10))  # spills again at once (the first spool holds 160)
    assert budget.held == 160
    second.append(pa.table({"n": pa.array([120], type=pa.int32())}))  # cast to the schema
    assert 160 < budget.held <= 200  # this one is held: under the limit
    rows = [v for t in second.tables(batch_rows=7) for v in t["n"].to_pylist()]
    assert rows == list(range(100, 121))
    assert max(t.num_rows for t in second.tables(batch_rows=7)) <= 7
    with pytest.raises(RuntimeError, match="closed"):
        second.append(_table(0, 1))
    second.discard()
    assert not (tmp_path / "2.parquet").exists()
    assert [t.num_rows for t in first.tables(batch_rows=100)] == [20]


def test_spilled_and_held_rows_come_back_in_order(tmp_path: Path) -> None:
    budget = SpillBudget(limit=100)
    spool = Spool(tmp_path / "s.parquet", budget)
    spool.append(_table(0, 20))  # 160 bytes: spilled
    budget.limit = 10_000
    spool.append(_table(20, 5))  # now held in memory, after the spilled rows
    values = [v for t in spool.tables(batch_rows=8) for v in t["n"].to_pylist()]
    assert values == list(range(25))
