"""Benchmark: ingest a 1,000,000-row residence CSV with coordinates (and, with ``--big``,
a CSV of about 2 GB).

Run from the repository root::

    PYTHONPATH=. python benchmarks/bench_ingest.py [--rows N] [--data-dir DIR]
    PYTHONPATH=. python benchmarks/bench_ingest.py --big [--big-gb 2]   # or GEO_BENCH_BIG=1

It writes a synthetic drop (ids, addresses, coordinates inside Bogotá's urban area, locality
names, household sizes, and two personal columns that ingest must drop) into a temporary
folder, then ingests it in a child process, twice: with area assignment (locality and UPZ from
the data directory, when it holds the boundaries) and without. For each it prints wall time,
rows/s, CPU time and the child's own peak memory (``ru_maxrss``), and the ratio to a baseline
measured in the same run: reading the same CSV as text with ``pyarrow.csv.read_csv``. Targets:
>= 200,000 rows/s and < 2 GB peak.

``--big`` generates a CSV of about ``--big-gb`` GB (written in pieces, 0.5 % of its rows with
a bad coordinate so that the quarantine grows too), ingests it without area assignment and
reports peak memory and rows/s: ingest streams the file, so its peak memory stays far below
the file size. The baseline is then pyarrow's streaming reader (``open_csv``), since reading
2 GB at once would need several GB. The temporary folder is deleted at the end; nothing is
written into the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_ROWS_PER_S = 200_000
TARGET_PEAK_BYTES = 2 * 1024**3
_PIECE_ROWS = 1_000_000


def _piece(start: int, rows: int, seed: int, bad_share: float) -> object:
    """``rows`` synthetic residence rows (a pyarrow table), ids from ``start``."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    rng = np.random.default_rng(seed + start)
    names = pa.array(["Kennedy", "Suba", "Bosa", "Ciudad Bolívar", "Engativá", "Usme"])
    numbers = pc.cast(pa.array(np.arange(start, start + rows)), pa.string())
    streets = pc.cast(pa.array(rng.integers(1, 200, rows)), pa.string())
    lat = pc.cast(pa.array(np.round(rng.uniform(4.50, 4.76, rows), 6)), pa.string())
    if bad_share:
        bad = pa.array(rng.random(rows) < bad_share)
        lat = pc.if_else(bad, pa.scalar("4,6,1"), lat)
    return pa.table(
        {
            "id": pc.binary_join_element_wise("R", numbers, ""),
            "direccion": pc.binary_join_element_wise("CL ", streets, " # 12-34", ""),
            "latitud": lat,
            "longitud": np.round(rng.uniform(-74.20, -74.03, rows), 6),
            "localidad": names.take(pa.array(rng.integers(0, len(names), rows))),
            "barrio": pa.repeat(pa.scalar("Barrio de prueba"), rows),
            "personas": rng.integers(1, 7, rows),
            "nombre": pa.repeat(pa.scalar("Nombre Apellido"), rows),
            "telefono": pa.repeat(pa.scalar("3001234567"), rows),
        }
    )


def make_drop(
    folder: Path, rows: int, *, seed: int = 1, bad_share: float = 0.0, max_bytes: int = 0
) -> tuple[Path, int]:
    """Write ``folder/residentes.csv`` (``rows`` rows, or pieces until ``max_bytes``);
    return the folder and the number of rows written."""
    import pyarrow.csv as pcsv

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "residentes.csv"
    written = 0
    with pcsv.CSVWriter(path, _piece(0, 1, seed, 0.0).schema) as writer:
        while (written < rows) if not max_bytes else (path.stat().st_size < max_bytes):
            count = min(_PIECE_ROWS, rows - written) if not max_bytes else _PIECE_ROWS
            writer.write_table(_piece(written, count, seed, bad_share))
            written += count
    return folder, written


def child(drop: str, store: str, data_dir: str) -> None:
    """Ingest in this process and print timing and this process's peak memory as JSON.
    ``cpu`` is the process's CPU time during the ingest (user + system, all threads): less
    sensitive than wall time to other processes competing for the cores."""
    import logging

    from geo_integration.ingest import ingest_drop

    logging.basicConfig(level=logging.WARNING)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu0 = usage.ru_utime + usage.ru_stime
    start = time.perf_counter()
    result = ingest_drop(drop, store=store, data_dir=data_dir or None)
    seconds = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime - cpu0
    totals = result.report["totals"]
    print(
        json.dumps(
            {
                "seconds": seconds,
                "cpu": cpu,
                "rows": totals["rows_read"],
                "peak_bytes": usage.ru_maxrss * 1024,
                **totals,
            }
        )
    )


def run_child(drop: Path, store: Path, data_dir: str) -> dict[str, float]:
    env = dict(os.environ)
    if not data_dir:
        env["GEO_INTEGRATION_DATA"] = str(store / "no-data")
    proc = subprocess.run(
        [sys.executable, __file__, "--child", str(drop), str(store), data_dir],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def baseline(csv_path: Path, *, stream: bool = False) -> tuple[float, float]:
    """Wall and CPU seconds of reading the CSV as text with pyarrow (all threads); streamed
    batch by batch with ``stream``."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu0 = usage.ru_utime + usage.ru_stime
    start = time.perf_counter()
    with csv_path.open("rb") as fh:
        header = fh.readline().decode().strip().split(",")
    options = pcsv.ConvertOptions(column_types=dict.fromkeys(header, pa.string()))
    if stream:
        for _batch in pcsv.open_csv(csv_path, convert_options=options):
            pass
    else:
        pcsv.read_csv(csv_path, convert_options=options)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return time.perf_counter() - start, usage.ru_utime + usage.ru_stime - cpu0


def _verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def _line(label: str, result: dict[str, float], base: float) -> str:
    rate = result["rows"] / result["seconds"]
    peak = result["peak_bytes"]
    return (
        f"ingest {label}: {result['seconds']:.2f} s, {rate:,.0f} rows/s "
        f"(target {TARGET_ROWS_PER_S:,}: {_verdict(rate >= TARGET_ROWS_PER_S)}), "
        f"peak {peak / 1024**2:,.0f} MB "
        f"(target < 2 GB: {_verdict(peak < TARGET_PEAK_BYTES)}), "
        f"{result['seconds'] / base:.1f}x baseline; CPU {result['cpu']:.2f} s, "
        f"{result['rows'] / result['cpu']:,.0f} rows per CPU second; "
        f"accepted {result['residences']:,}, quarantined {result['quarantined']:,}"
    )


def standard(root: Path, rows: int, data_dir: Path, has_areas: bool) -> None:
    start = time.perf_counter()
    drop, _ = make_drop(root / "drop", rows)
    size = (drop / "residentes.csv").stat().st_size
    made = time.perf_counter() - start
    print(f"drop: {rows:,} rows, {size / 1e6:.1f} MB CSV (made in {made:.1f} s)")
    base, base_cpu = baseline(drop / "residentes.csv")
    print(
        f"baseline pyarrow.csv.read_csv (text): {base:.2f} s, {rows / base:,.0f} rows/s"
        f" (CPU {base_cpu:.2f} s)"
    )
    runs = [("without areas", "")]
    if has_areas:
        runs.insert(0, ("with areas", str(data_dir)))
    else:
        print(f"(no boundaries in {data_dir}: area assignment not measured)")
    for label, data in runs:
        print(_line(label, run_child(drop, root / f"store-{len(label)}", data), base))


def big(root: Path, gigabytes: float) -> None:
    start = time.perf_counter()
    drop, rows = make_drop(root / "big", 0, bad_share=0.005, max_bytes=int(gigabytes * 1e9))
    size = (drop / "residentes.csv").stat().st_size
    made = time.perf_counter() - start
    print(f"big drop: {rows:,} rows, {size / 1e9:.2f} GB CSV (made in {made:.0f} s)")
    base, base_cpu = baseline(drop / "residentes.csv", stream=True)
    print(
        f"baseline pyarrow.csv.open_csv (text, streamed): {base:.1f} s, "
        f"{rows / base:,.0f} rows/s (CPU {base_cpu:.1f} s)"
    )
    result = run_child(drop, root / "store-big", "")
    print(_line(f"{size / 1e9:.2f} GB file, without areas", result, base))
    print(f"peak memory / file size: {result['peak_bytes'] / size:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--data-dir", default=None, help="reference data (default: resolved)")
    parser.add_argument(
        "--big",
        action="store_true",
        default=os.environ.get("GEO_BENCH_BIG", "") not in ("", "0"),
        help="only the large-file case (about --big-gb GB; also GEO_BENCH_BIG=1)",
    )
    parser.add_argument("--big-gb", type=float, default=2.0)
    parser.add_argument(
        "--child", nargs=3, metavar=("DROP", "STORE", "DATA"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    from geo_integration.config import resolve_data_dir
    from geo_integration.datadir import PATHS

    root = Path(tempfile.mkdtemp(prefix="bench_ingest_"))
    try:
        if args.big:
            big(root, args.big_gb)
        else:
            data_dir = resolve_data_dir(args.data_dir)
            has_areas = (data_dir / PATHS["localities"]).is_file()
            standard(root, args.rows, data_dir, has_areas)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
