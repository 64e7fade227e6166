"""Bounded-memory buffers of Arrow tables that spill to Parquet files (I/O).

Ingest produces the accepted and quarantined rows of each file chunk by chunk. A
:class:`Spool` keeps a file's chunks in memory while every spool sharing a
:class:`SpillBudget` holds less than the budget, and writes them to a Parquet file of its
own (in the drop's staging folder) as soon as the budget is exceeded; reading the spool back
gives the chunks in the order they were added, from disk and then from memory. Memory is
thus bounded by the budget plus one chunk, whatever the size of the drop.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

__all__ = ["DEFAULT_SPILL_BYTES", "SpillBudget", "Spool"]

#: Bytes of Arrow data that the spools of one ingest hold in memory before spilling.
DEFAULT_SPILL_BYTES = 256 << 20


@dataclass
class SpillBudget:
    """Bytes the spools sharing this budget may hold in memory, and how many they hold."""

    limit: int = DEFAULT_SPILL_BYTES
    held: int = 0


class Spool:
    """Chunks of one table (same schema), in memory up to the budget, else on disk.

    Parameters
    ----------
    path
        Parquet file written if the spool spills (its folder must exist).
    budget
        Shared by the spools of one ingest.
    """

    def __init__(self, path: Path, budget: SpillBudget) -> None:
        self.path = path
        self.budget = budget
        self.schema: pa.Schema | None = None
        self.num_rows = 0
        self._held: list[pa.Table] = []
        self._held_bytes = 0
        self._writer: Any = None
        self._spilled = False
        self._closed = False

    @property
    def spilled(self) -> bool:
        """True when some of the rows are on disk."""
        return self._spilled

    def append(self, table: pa.Table) -> None:
        """Add a chunk (empty chunks are ignored); spill when the budget is exceeded."""
        if self._closed:
            msg = f"spool {self.path.name} is closed"
            raise RuntimeError(msg)
        if table.num_rows == 0:
            return
        if self.schema is None:
            self.schema = table.schema
        elif not table.schema.equals(self.schema):
            table = table.cast(self.schema)
        self.num_rows += table.num_rows
        self._held.append(table)
        self._held_bytes += table.nbytes
        self.budget.held += table.nbytes
        if self.budget.held > self.budget.limit:
            self._spill()

    def _spill(self) -> None:
        import pyarrow.parquet as pq

        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, self.schema, compression="lz4")
            self._spilled = True
        for table in self._held:
            self._writer.write_table(table)
        self._release()

    def _release(self) -> None:
        self.budget.held -= self._held_bytes
        self._held, self._held_bytes = [], 0

    def close(self) -> None:
        """Finish writing: no more chunks; the spool can be read."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self._closed = True

    def tables(self, *, batch_rows: int) -> Iterator[pa.Table]:
        """Yield the rows in order, in tables of at most ``batch_rows`` rows (chunks held
        in memory are put together up to that size)."""
        import pyarrow.parquet as pq

        self.close()
        if self._spilled:
            source = pq.ParquetFile(self.path, pre_buffer=False)  # else it reads it all
            try:
                for batch in source.iter_batches(batch_size=batch_rows):
                    yield pa.Table.from_batches([batch])
            finally:
                source.close()
        group: list[pa.Table] = []
        for table in self._held:
            if group and sum(t.num_rows for t in group) + table.num_rows > batch_rows:
                yield pa.concat_tables(group)
                group = []
            group.append(table)
        if group:
            yield pa.concat_tables(group)

    def discard(self) -> None:
        """Drop every row (memory and spill file)."""
        self.close()
        self._release()
        self.path.unlink(missing_ok=True)
        self._spilled = False
        self.num_rows = 0
