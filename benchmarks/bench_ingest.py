"""Benchmark: ingest a 1,000,000-row residence CSV with coordinates.

Run from the repository root::

    PYTHONPATH=. python benchmarks/bench_ingest.py [--rows N] [--data-dir DIR]

It writes a synthetic drop (ids, addresses, coordinates inside Bogotá's urban area, locality
names, household sizes, and two personal columns that ingest must drop) into a temporary
folder, then ingests it in a child process, twice: with area assignment (locality and UPZ from
the data directory, when it holds the boundaries) and without. For each it prints wall time,
rows/s and the child's peak memory (``ru_maxrss``), and the ratio to a baseline measured in
the same run: reading the same CSV as text with ``pyarrow.csv.read_csv``. Targets: >= 200,000
rows/s and < 2 GB peak. Nothing is written into the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_ROWS_PER_S = 200_000
TARGET_PEAK_BYTES = 2 * 1024**3


def make_drop(folder: Path, rows: int, *, seed: int = 1) -> Path:
    """Write ``folder/residentes.csv`` with ``rows`` rows and return the folder."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pcsv

    rng = np.random.default_rng(seed)
    names = np.array(["Kennedy", "Suba", "Bosa", "Ciudad Bolívar", "Engativá", "Usme"])
    ids = np.char.add("R", np.arange(rows).astype(str))
    street = rng.integers(1, 200, rows).astype(str)
    address = np.char.add(np.char.add("CL ", street), " # 12-34")
    table = pa.table(
        {
            "id": ids,
            "direccion": address,
            "latitud": np.round(rng.uniform(4.50, 4.76, rows), 6),
            "longitud": np.round(rng.uniform(-74.20, -74.03, rows), 6),
            "localidad": names[rng.integers(0, len(names), rows)],
            "barrio": np.full(rows, "Barrio de prueba"),
            "personas": rng.integers(1, 7, rows),
            "nombre": np.full(rows, "Nombre Apellido"),
            "telefono": np.full(rows, "3001234567"),
        }
    )
    folder.mkdir(parents=True, exist_ok=True)
    pcsv.write_csv(table, folder / "residentes.csv")
    return folder


def child(drop: str, store: str, data_dir: str) -> None:
    """Ingest in this process and print the timing as JSON (peak memory is read by the
    parent). ``cpu`` is the process's CPU time during the ingest (user + system, all threads):
    less sensitive than wall time to other processes competing for the cores."""
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
    print(json.dumps({"seconds": seconds, "cpu": cpu, "rows": totals["rows_read"], **totals}))


def run_child(drop: Path, store: Path, data_dir: str) -> dict[str, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
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
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    # ru_maxrss of children is the maximum over all children: report it only if it grew
    out["peak_bytes"] = max(peak_kb, before) * 1024
    return out


def baseline(csv_path: Path) -> tuple[float, float]:
    """Wall and CPU seconds of reading the CSV as text with pyarrow (all threads)."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu0 = usage.ru_utime + usage.ru_stime
    start = time.perf_counter()
    with csv_path.open("rb") as fh:
        header = fh.readline().decode().strip().split(",")
    pcsv.read_csv(
        csv_path,
        convert_options=pcsv.ConvertOptions(column_types=dict.fromkeys(header, pa.string())),
    )
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return time.perf_counter() - start, usage.ru_utime + usage.ru_stime - cpu0


def _verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--data-dir", default=None, help="reference data (default: resolved)")
    parser.add_argument(
        "--child", nargs=3, metavar=("DROP", "STORE", "DATA"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    from geo_integration.config import resolve_data_dir
    from geo_integration.datadir import PATHS

    data_dir = resolve_data_dir(args.data_dir)
    has_areas = (data_dir / PATHS["localities"]).is_file()
    with tempfile.TemporaryDirectory(prefix="bench_ingest_") as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        drop = make_drop(root / "drop", args.rows)
        size = (drop / "residentes.csv").stat().st_size
        made = time.perf_counter() - start
        print(f"drop: {args.rows:,} rows, {size / 1e6:.1f} MB CSV (made in {made:.1f} s)")
        base, base_cpu = baseline(drop / "residentes.csv")
        print(
            f"baseline pyarrow.csv.read_csv (text): {base:.2f} s, {args.rows / base:,.0f} rows/s"
            f" (CPU {base_cpu:.2f} s)"
        )
        runs = [("without areas", "")]
        if has_areas:
            runs.insert(0, ("with areas", str(data_dir)))
        else:
            print(f"(no boundaries in {data_dir}: area assignment not measured)")
        for label, data in runs:
            result = run_child(drop, root / f"store-{len(label)}", data)
            rate = result["rows"] / result["seconds"]
            peak = result["peak_bytes"]
            print(
                f"ingest {label}: {result['seconds']:.2f} s, {rate:,.0f} rows/s "
                f"(target {TARGET_ROWS_PER_S:,}: {_verdict(rate >= TARGET_ROWS_PER_S)}), "
                f"peak {peak / 1024**2:,.0f} MB "
                f"(target < 2 GB: {_verdict(peak < TARGET_PEAK_BYTES)}), "
                f"{result['seconds'] / base:.1f}x baseline; CPU {result['cpu']:.2f} s, "
                f"{result['rows'] / result['cpu']:,.0f} rows per CPU second; "
                f"accepted {result['residences']:,}, "
                f"quarantined {result['quarantined']:,}"
            )


if __name__ == "__main__":
    main()
