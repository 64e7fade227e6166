"""Benchmark: time to make a synthetic demo drop of 20,000 and 1,000,000 residences.

Run from the repository root (writes only to a temporary folder, removed afterwards)::

    GEO_INTEGRATION_DATA=../shared/data/bogota PYTHONPATH=. python benchmarks/bench_demo.py
    ... --sizes 20000 1000000 --seed 1

Baseline, measured in the same run: reading the 1.43 million official address points from
their GeoParquet file (the fixed cost every demo pays once per process). The first demo run
is "cold" (it loads the reference data and assigns each address point to its UPZ); later runs
reuse the in-process memo. Figures: wall and CPU seconds (CPU is the better guide on a busy
machine), ratio to the baseline, rows per second, size written, and the process's peak
resident memory so far (``ru_maxrss``: it only grows).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from geo_integration.config import resolve_data_dir
from geo_integration.datadir import data_path
from geo_integration.demo import make_demo_drop


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _timed(label: str, func, baseline: float | None = None) -> float:  # type: ignore[no-untyped-def]
    wall0, cpu0 = time.perf_counter(), time.process_time()
    extra = func()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    ratio = f"  x{wall / baseline:5.1f} baseline" if baseline else ""
    print(
        f"{label:<28} wall {wall:7.2f} s  cpu {cpu:7.2f} s{ratio}  peak {_peak_mb():7.0f} MB"
        f"{extra or ''}"
    )
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    root = resolve_data_dir(args.data_dir)
    print(f"data: {root}")

    def read_addresses() -> str:
        import geopandas as gpd

        frame = gpd.read_parquet(data_path(root, "addresses"))
        return f"  ({len(frame):,} address points)"

    baseline = _timed("baseline: read addresses", read_addresses)
    work = Path(tempfile.mkdtemp(prefix="bench_demo_"))
    try:
        for i, n in enumerate([args.sizes[0], *args.sizes]):
            out = work / f"drop_{i}"

            def run(out: Path = out, n: int = n) -> str:
                drop = make_demo_drop(out, residents=n, seed=args.seed, data_dir=root)
                size = sum(p.stat().st_size for p in out.iterdir()) / 1e6
                return f"  {size:8.1f} MB written, {drop.residences:,} rows"

            label = f"demo {n:>9,} ({'cold' if i == 0 else 'warm'})"
            wall = _timed(label, run, baseline)
            print(f"{'':<28} {n / wall:,.0f} rows/s")
            shutil.rmtree(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
