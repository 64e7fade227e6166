"""End-to-end benchmark of ``geo-integration run`` on the demo drop (issue 8).

Usage::

    GEO_INTEGRATION_DATA=../shared/data/bogota python benchmarks/bench_run.py [--residents N ...]

For each size (default 20,000 and 1,000,000 residences) it makes the demo drop in a temporary
folder, then, each in a fresh child process so peak memory is that run's own:

1. ``cold``: a fresh drop store and output folder, the reference caches (street network,
   geocoder index) already built, as on any machine after its first run;
2. ``rerun``: the same command again, nothing changed;
3. with ``--cold-caches``: also a run with empty reference caches (first run on a machine).

It prints wall time per stage, total, peak memory (RSS) and the re-run/cold ratio. Targets:
20,000 residences <= 60 s cold and <= 10 s re-run; 1,000,000 <= 10 min cold, < 8 GB peak.
Nothing is written into the repository.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _child(drop: str, out: str, store: str, cache: str | None, queue: mp.Queue) -> None:
    if cache is not None:
        os.environ["GEO_INTEGRATION_CACHE"] = cache
    from geo_integration.pipeline import SitingOptions, run_drop

    t0 = time.perf_counter()
    result = run_drop(
        drop,
        out_dir=out,
        store=store,
        siting=SitingOptions("health", p=5, replicates=20),
    )
    total = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    stages = {s.name: (s.seconds, s.cached) for s in result.stages}
    queue.put({"total": total, "peak_mb": peak_mb, "stages": stages})


def _run(drop: Path, out: Path, store: Path, cache: Path | None) -> dict[str, object]:
    ctx = mp.get_context("spawn")
    queue: mp.Queue = ctx.Queue()
    proc = ctx.Process(
        target=_child,
        args=(str(drop), str(out), str(store), None if cache is None else str(cache), queue),
    )
    proc.start()
    result = queue.get()
    proc.join()
    return result


def _make_drop(where: Path, residents: int) -> float:
    from geo_integration.demo import make_demo_drop

    t0 = time.perf_counter()
    make_demo_drop(where, residents=residents, seed=1)
    return time.perf_counter() - t0


def _print(label: str, res: dict[str, object]) -> None:
    stages = res["stages"]
    assert isinstance(stages, dict)
    parts = ", ".join(
        f"{name} {secs:.1f}s{' (reused)' if cached else ''}"
        for name, (secs, cached) in stages.items()
    )
    print(f"  {label:<12} total {res['total']:7.1f} s   peak {res['peak_mb']:7.0f} MB   [{parts}]")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--residents", type=int, nargs="+", default=[20_000, 1_000_000])
    parser.add_argument(
        "--cold-caches",
        action="store_true",
        help="also time a run with empty network / geocoder caches",
    )
    args = parser.parse_args()
    if not os.environ.get("GEO_INTEGRATION_DATA"):
        print("set GEO_INTEGRATION_DATA to the reference data directory", file=sys.stderr)
        return 2
    summary = {}
    with tempfile.TemporaryDirectory(prefix="bench_run_") as tmp:
        root = Path(tmp)
        for n in args.residents:
            drop = root / f"drop_{n}"
            made = _make_drop(drop, n)
            print(f"{n:,} residences (demo drop made in {made:.1f} s)")
            if args.cold_caches:
                res = _run(drop, root / f"out_cc_{n}", root / f"store_cc_{n}", root / f"cache_{n}")
                _print("cold caches", res)
            cold = _run(drop, root / f"out_{n}", root / f"store_{n}", None)
            _print("cold", cold)
            rerun = _run(drop, root / f"out_{n}", root / f"store_{n}", None)
            _print("rerun", rerun)
            ratio = float(rerun["total"]) / float(cold["total"])  # type: ignore[arg-type]
            print(f"  rerun / cold = {ratio:.3f}")
            summary[n] = {"cold": cold, "rerun": rerun}
            shutil.rmtree(drop, ignore_errors=True)
    print(
        json.dumps(
            {
                str(k): {m: {"total": v[m]["total"], "peak_mb": v[m]["peak_mb"]} for m in v}
                for k, v in summary.items()
            },
            indent=1,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
