"""SQLite cache of geocoding results, keyed by canonical label (I/O).

A new drop only geocodes the labels the cache does not know yet. Each row is stored under a
``source``: the fingerprint of the offline index it was matched with (results from an older
index are not reused), or ``"online"`` for the optional online geocoder.

Privacy: the cache holds canonical labels, which are addresses, with their positions; it is
as sensitive as the drop. It never holds the raw texts, names or ids. Keep it in the drop
store or a private cache directory, never next to published outputs.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

import pandas as pd

from geo_integration.errors import GeocodeError

__all__ = ["GeocodeCache"]

_COLUMNS = ("lat", "lon", "match_level", "confidence", "matched_address", "match_reason")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    label TEXT NOT NULL,
    source TEXT NOT NULL,
    lat REAL, lon REAL, match_level TEXT, confidence REAL,
    matched_address TEXT, match_reason TEXT,
    PRIMARY KEY (label, source)
) WITHOUT ROWID
"""


class GeocodeCache:
    """Results by canonical label, in one SQLite file.

    Parameters
    ----------
    path
        The SQLite file (created with its directory when missing).

    Raises
    ------
    GeocodeError
        If the file cannot be opened as a cache.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as con:
                con.execute(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            msg = f"cannot open the geocoding cache {str(self.path)!r}: {exc}"
            raise GeocodeError(msg) from exc

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection that commits on success, rolls back on error, and is closed."""
        con = sqlite3.connect(self.path)
        try:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            with con:
                yield con
        finally:
            con.close()

    def get(self, labels: Sequence[str], *, source: str) -> pd.DataFrame:
        """Return the cached results of ``labels`` under ``source`` (indexed by label)."""
        wanted = list(dict.fromkeys(labels))
        if not wanted:
            return pd.DataFrame(columns=list(_COLUMNS), index=pd.Index([], dtype=object))
        try:
            with self._connect() as con:
                con.execute("CREATE TEMP TABLE wanted (label TEXT PRIMARY KEY) WITHOUT ROWID")
                con.executemany("INSERT INTO wanted VALUES (?)", ((w,) for w in wanted))
                cols = ", ".join(f"r.{c}" for c in _COLUMNS)
                rows = con.execute(
                    f"SELECT r.label, {cols} FROM results r JOIN wanted w ON r.label = w.label "
                    "WHERE r.source = ?",
                    (source,),
                ).fetchall()
        except sqlite3.Error as exc:
            msg = f"cannot read the geocoding cache {str(self.path)!r}: {exc}"
            raise GeocodeError(msg) from exc
        frame = pd.DataFrame(rows, columns=["label", *_COLUMNS]).set_index("label")
        frame["lat"] = frame["lat"].astype(float)
        frame["lon"] = frame["lon"].astype(float)
        frame["confidence"] = frame["confidence"].astype(float)
        return frame

    def put(self, results: pd.DataFrame, *, source: str) -> int:
        """Store ``results`` (indexed by label, the result columns) under ``source``."""
        frame = results.reindex(columns=list(_COLUMNS))
        records = [
            (str(label), source, *(_plain(v) for v in row))
            for label, row in zip(frame.index, frame.itertuples(index=False), strict=True)
        ]
        try:
            with self._connect() as con:
                con.executemany(
                    "INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?)", records
                )
        except sqlite3.Error as exc:
            msg = f"cannot write the geocoding cache {str(self.path)!r}: {exc}"
            raise GeocodeError(msg) from exc
        return len(records)

    def prune(self, *, keep_sources: Sequence[str]) -> int:
        """Delete results of other sources (e.g. older indexes); return how many."""
        marks = ", ".join("?" for _ in keep_sources) or "''"
        with self._connect() as con:
            cur = con.execute(f"DELETE FROM results WHERE source NOT IN ({marks})", keep_sources)
            return int(cur.rowcount)

    def __len__(self) -> int:
        with self._connect() as con:
            return int(con.execute("SELECT COUNT(*) FROM results").fetchone()[0])


def _plain(value: object) -> object:
    if value is None:
        return None
    if isinstance(value, float) and value != value:
        return None
    if hasattr(value, "item"):
        return value.item()  # numpy scalar
    return value
