#!/usr/bin/env python3
"""Process a new data drop unattended: run it, compare it with the previous drop, log it all.

Usage::

    python scripts/process_drop.py DROP_DIR --out-root DIR [--config TOML] [--store DIR]
        [--data-dir DIR] [--log FILE] [--service-type TYPE ...] [--site TYPE --p N]
        [--min-change POINTS] [--show N]

The drop is run (:func:`geo_integration.pipeline.run_drop`) into
``OUT_ROOT/<YYYY-MM-DD>_<drop_id>/`` (the drop's date). Running the same drop again reuses that
folder and every cached stage. The script then finds the previous drop's run folder in
``OUT_ROOT`` (the latest one with an earlier drop date and a clean finished run), compares
per locality and service type the share of migrants within the main walking-time threshold
(15 minutes unless the settings say otherwise), prints the changes of at least one percentage
point (the 25 largest; all of them in the CSV) and writes them to
``changes_vs_<previous drop id>.csv`` in the new folder.

It never prompts. Everything goes to a log file (default ``OUT_ROOT/process_drop.log``,
appended, timestamped). Exit codes: 0 done (with or without a previous drop), 1 bad input,
failed run, failed privacy check or another run holding the lock on ``OUT_ROOT``, 2 usage
error.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
LOCK_NAME = ".process_drop.lock"
LOG_NAME = "process_drop.log"
RUN_FOLDER = re.compile(r"^(\d{4}-\d{2}-\d{2})_(\d{8}-[0-9a-f]{12})$")
SECRETARIAT_PREFIX = "sec_"
CHANGE_COLUMNS = [
    "loc_code",
    "loc_name",
    "service_type",
    "migrants_previous",
    "migrants_current",
    "share_previous_pct",
    "share_current_pct",
    "change_pt",
    "direction",
]

log = logging.getLogger("process_drop")


class LockHeldError(RuntimeError):
    """Another live process_drop run holds the lock of the output root."""


# ------------------------------------------------------------------------ comparison kernel


def _by_locality(table: pd.DataFrame) -> pd.DataFrame:
    if "loc_code" in table.columns:
        table = table.set_index("loc_code")
    table = table.copy()
    table.index = table.index.astype(str)
    return table


def _known_shares(table: pd.DataFrame, threshold_label: str) -> dict[str, pd.Series]:
    """Service type -> share within the threshold, NaN where suppressed or missing."""
    prefix = f"share_within_{threshold_label}_"
    hidden = (
        table["suppressed"].fillna(False).astype(bool)
        if "suppressed" in table.columns
        else pd.Series(False, index=table.index)
    )
    shares = {}
    for column in table.columns:
        key = str(column)[len(prefix) :]
        if str(column).startswith(prefix) and not key.startswith(SECRETARIAT_PREFIX):
            values = pd.to_numeric(table[column], errors="coerce")
            shares[key] = values.where(~hidden)
    return shares


def coverage_changes(
    previous: pd.DataFrame,
    current: pd.DataFrame,
    *,
    threshold_min: float = 15.0,
    min_change_pt: float = 1.0,
) -> pd.DataFrame:
    """Where the share of migrants within ``threshold_min`` minutes changed between two drops.

    Parameters
    ----------
    previous, current
        Locality tables as published (``access/access_localities.parquet``): ``loc_code``
        (column or index), ``loc_name``, ``migrants``, ``suppressed`` and
        ``share_within_<T>_<type>`` (0-1) per service type. Secretariat columns
        (``..._sec_<name>``) are left out.
    threshold_min
        The walking-time threshold compared (minutes).
    min_change_pt
        Keep changes of at least this many percentage points (after rounding to 0.1).

    Returns
    -------
    DataFrame
        One row per locality and service type whose share is known in both drops and changed
        by at least ``min_change_pt``: ``loc_code``, ``loc_name``, ``service_type``,
        ``migrants_previous``, ``migrants_current``, ``share_previous_pct``,
        ``share_current_pct`` (0-100, one decimal), ``change_pt`` (current - previous) and
        ``direction`` (``▲`` up, ``▼`` down, ``=`` when kept with a zero change), sorted by
        the size of the change. A share that is suppressed or missing in either drop stays
        unknown: the pair is not compared.
    """
    label = str(int(threshold_min)) if float(threshold_min).is_integer() else f"{threshold_min:g}"
    before, after = _by_locality(previous), _by_locality(current)
    old, new = _known_shares(before, label), _known_shares(after, label)
    migrants_before = before.get("migrants", pd.Series(dtype=float))
    migrants_after = after.get("migrants", pd.Series(dtype=float))
    rows = []
    for service_type in sorted(set(old) & set(new)):
        pair = pd.DataFrame({"a": old[service_type], "b": new[service_type]}).dropna()
        for loc_code, (a, b) in pair.iterrows():
            change = round((b - a) * 100, 1)
            if abs(change) < min_change_pt:
                continue
            name = after["loc_name"].get(loc_code) if "loc_name" in after.columns else None
            rows.append(
                {
                    "loc_code": loc_code,
                    "loc_name": name if isinstance(name, str) else loc_code,
                    "service_type": service_type,
                    "migrants_previous": migrants_before.get(loc_code),
                    "migrants_current": migrants_after.get(loc_code),
                    "share_previous_pct": round(a * 100, 1),
                    "share_current_pct": round(b * 100, 1),
                    "change_pt": change,
                    "direction": "▲" if change > 0 else "▼" if change < 0 else "=",
                }
            )
    table = pd.DataFrame(rows, columns=CHANGE_COLUMNS)
    if table.empty:
        return table
    order = table.assign(size=table["change_pt"].abs())
    order = order.sort_values(["size", "loc_code", "service_type"], ascending=[False, True, True])
    return order.drop(columns="size").reset_index(drop=True)


def format_changes(changes: pd.DataFrame, *, title: str, limit: int = 0) -> str:
    """The change table as short aligned text for the console and the log (the ``limit``
    largest changes when ``limit`` > 0)."""
    if changes.empty:
        return f"{title}\nno change of coverage at or above the minimum"
    more = len(changes) - limit if 0 < limit < len(changes) else 0
    if more:
        changes = changes.head(limit)
    header = ("locality", "service type", "before", "after", "change")
    lines = [
        (
            str(row["loc_name"]),
            str(row["service_type"]),
            f"{row['share_previous_pct']:.1f} %",
            f"{row['share_current_pct']:.1f} %",
            f"{row['direction']} {abs(row['change_pt']):5.1f} pt",
        )
        for row in changes.to_dict("records")
    ]
    widths = [max(len(r[i]) for r in [header, *lines]) for i in range(len(header))]
    text = [title]
    for cells in [header, *lines]:
        left = [c.ljust(w) for c, w in zip(cells[:2], widths[:2], strict=True)]
        right = [c.rjust(w) for c, w in zip(cells[2:4], widths[2:4], strict=True)]
        text.append("  ".join([*left, *right, cells[4]]).rstrip())
    if more:
        text.append(f"... and {more} smaller change(s)")
    return "\n".join(text)


# ------------------------------------------------------------------------ run folders, lock


def run_folder_name(drop: Any) -> str:
    """``<YYYY-MM-DD>_<drop_id>`` of a drop of the store."""
    return f"{drop.date.isoformat()}_{drop.drop_id}"


def find_previous_run(out_root: Path, *, before: str) -> Path | None:
    """The run folder in ``out_root`` with the latest drop date earlier than ``before``
    (ISO date) whose ``run_manifest.json`` records a clean privacy check; of two drops of
    that date, the one whose run finished last."""
    found = []
    for path in out_root.iterdir() if out_root.is_dir() else []:
        match = RUN_FOLDER.match(path.name)
        manifest = path / "run_manifest.json"
        if match and match.group(1) < before and manifest.is_file() and _clean(manifest):
            found.append((match.group(1), manifest.stat().st_mtime_ns, path.name, path))
    return max(found)[3] if found else None


def _clean(manifest: Path) -> bool:
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("privacy", {}).get("clean") is True


def _pid_alive(pid: int) -> bool:
    if pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def run_lock(out_root: Path) -> Iterator[Path]:
    """Hold ``OUT_ROOT/.process_drop.lock`` (our PID) for the block.

    A lock left by a process that no longer runs is removed. Raises :class:`LockHeldError` when a
    live process holds it.
    """
    path = out_root / LOCK_NAME
    for _attempt in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                text = path.read_text(encoding="utf-8", errors="replace").strip()
            except FileNotFoundError:  # released meanwhile
                continue
            pid = int(text) if text.isdigit() else -1
            if _pid_alive(pid):
                msg = (
                    f"another process_drop run (PID {pid}) is working on {str(out_root)!r}; "
                    f"if it is not running, delete {str(path)!r}"
                )
                raise LockHeldError(msg) from None
            log.warning("removing a stale lock %s (PID %r is not running)", path, text)
            path.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(f"{os.getpid()}\n")
        break
    else:
        msg = f"could not take the lock {str(path)!r}"
        raise LockHeldError(msg)
    try:
        yield path
    finally:
        with contextlib.suppress(OSError):
            if path.read_text(encoding="utf-8").strip() == str(os.getpid()):
                path.unlink()


# ------------------------------------------------------------------------------- the script


def build_parser() -> argparse.ArgumentParser:
    """The command-line options."""
    parser = argparse.ArgumentParser(
        prog="process_drop.py",
        description="Run a data drop into OUT_ROOT/<date>_<drop id>/, compare its coverage "
        "with the previous drop and log everything. Never prompts. Exit codes: 0 done, "
        "1 bad input / failed run / privacy check failed / locked, 2 usage error.",
    )
    parser.add_argument("drop_dir", metavar="DROP_DIR", type=Path, help="The new drop folder.")
    parser.add_argument("--out-root", required=True, type=Path, help="Folder of all runs.")
    parser.add_argument("--config", type=Path, help="Settings TOML (thresholds, privacy k...).")
    parser.add_argument("--store", type=Path, help="Drop store (default as the CLI).")
    parser.add_argument("--data-dir", type=Path, help="Reference data directory.")
    parser.add_argument("--log", type=Path, help="Log file (default OUT_ROOT/process_drop.log).")
    parser.add_argument(
        "--service-type",
        dest="service_types",
        action="append",
        metavar="TYPE",
        help="Measure only this service type (repeatable; default: every type of the drop).",
    )
    parser.add_argument("--site", metavar="TYPE", help="Also site new points of this type.")
    parser.add_argument("--p", type=int, metavar="N", help="New sites to propose (--site; 5).")
    parser.add_argument(
        "--show",
        type=int,
        default=25,
        metavar="N",
        help="Print the N largest changes (25; 0: all). The CSV always has them all.",
    )
    parser.add_argument(
        "--min-change",
        type=float,
        default=1.0,
        metavar="POINTS",
        help="Report coverage changes of at least this many percentage points (1).",
    )
    return parser


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse and check the options (argparse exits with 2 on a usage error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.p is not None and args.site is None:
        parser.error("--p needs --site")
    if args.p is not None and args.p < 1:
        parser.error(f"--p must be at least 1, got {args.p}")
    if args.show < 0:
        parser.error(f"--show must be 0 or more, got {args.show}")
    if args.min_change < 0:
        parser.error(f"--min-change must be 0 or more, got {args.min_change}")
    return args


@contextlib.contextmanager
def _logging_to(path: Path) -> Iterator[None]:
    """Send this script's and the package's log records (and warnings) to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S")
    )
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("once")
            yield
    finally:
        logging.captureWarnings(False)
        root.removeHandler(handler)
        root.setLevel(level)
        handler.close()


def _say(text: str, *, error: bool = False) -> None:
    stream = sys.stderr if error else sys.stdout
    print(text, file=stream)
    for line in text.splitlines():
        (log.error if error else log.info)("%s", line)


def _siting(args: argparse.Namespace, settings: Any) -> Any:
    from geo_integration.gaps import main_threshold
    from geo_integration.pipeline import SitingOptions

    if args.site is None:
        return None
    threshold = main_threshold(settings.thresholds_min)
    return SitingOptions(args.site, p=args.p or 5, threshold_min=threshold)


def _compare(folder: Path, out_root: Path, drop: Any, args: argparse.Namespace) -> Any:
    """Compare with the previous run folder; print and write the change table."""
    from geo_integration.fileio import write_text
    from geo_integration.gaps import main_threshold

    previous = find_previous_run(out_root, before=drop.date.isoformat())
    if previous is None:
        _say(f"no earlier drop in {out_root}: nothing to compare")
        return None
    manifest = json.loads((previous / "run_manifest.json").read_text(encoding="utf-8"))
    prev_id = str(manifest.get("drop_id") or previous.name[11:])
    current = json.loads((folder / "run_manifest.json").read_text(encoding="utf-8"))
    threshold = main_threshold(current["settings"]["thresholds_min"])
    tables = [p / "access" / "access_localities.parquet" for p in (previous, folder)]
    if not tables[0].is_file():
        _say(f"{previous} has no access/access_localities.parquet: nothing to compare")
        return None
    old, new = (pd.read_parquet(t) for t in tables)
    everything = coverage_changes(old, new, threshold_min=threshold, min_change_pt=0.0)
    changes = coverage_changes(old, new, threshold_min=threshold, min_change_pt=args.min_change)
    path = write_text(folder / f"changes_vs_{prev_id}.csv", changes.to_csv(index=False))
    title = (
        f"Coverage within {threshold:g} min, {drop.date} ({drop.drop_id}) vs "
        f"{previous.name[:10]} ({prev_id}): changes of {args.min_change:g} point(s) or more"
    )
    _say(format_changes(changes, title=title, limit=args.show))
    _say(
        f"{len(changes)} change(s) of {len(everything)} locality/service pairs known in both "
        f"drops (suppressed or missing shares are not compared); table: {path}"
    )
    return changes


def process(args: argparse.Namespace) -> int:
    """Run the drop, compare it with the previous one; return the exit code."""
    from geo_integration.config import load_settings, resolve_store_dir
    from geo_integration.pipeline import open_or_ingest, run_drop

    out_root: Path = args.out_root
    if not args.drop_dir.is_dir():
        _say(f"error: drop folder not found: {str(args.drop_dir)!r}", error=True)
        return EXIT_FAILURE
    settings = load_settings(args.config)
    store = resolve_store_dir(args.store)
    log.info("drop %s, store %s, data %s", args.drop_dir, store, args.data_dir or "(default)")
    clock = time.perf_counter()
    drop = open_or_ingest(args.drop_dir, store=store, data_dir=args.data_dir)
    state = "ingested" if drop.created else "already in the store"
    log.info("ingest: %s in %.1f s", state, time.perf_counter() - clock)
    folder = out_root / run_folder_name(drop)
    again = (folder / "run_manifest.json").is_file()
    log.info("drop %s (%s) -> %s%s", drop.drop_id, drop.date, folder, " (again)" if again else "")
    result = run_drop(
        args.drop_dir,
        out_dir=folder,
        settings=settings,
        data_dir=args.data_dir,
        store=store,
        siting=_siting(args, settings),
        service_types=args.service_types,
    )
    for stage in result.stages:
        took = "reused" if stage.cached else f"{stage.seconds:.1f} s"
        log.info("stage %s: %s", stage.name, took)
    reused = sum(stage.cached for stage in result.stages)
    _say(f"drop {drop.drop_id}: run in {folder} ({reused}/{len(result.stages)} stages reused)")
    _compare(folder, out_root, drop, args)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run the script and return its exit code (0 ok, 1 failure, 2 usage error)."""
    from geo_integration.errors import GeoIntegrationError

    try:
        args = parse_args(argv)
    except SystemExit as exc:  # argparse: usage error (2) or --help (0)
        return EXIT_USAGE if exc.code not in (0, None) else EXIT_OK
    with contextlib.suppress(AttributeError, ValueError):
        sys.stdout.reconfigure(errors="replace")  # type: ignore[union-attr]
    try:
        args.out_root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"error: cannot create the output root: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    log_path = args.log or args.out_root / LOG_NAME
    started = time.perf_counter()
    with _logging_to(log_path):
        given = sys.argv[1:] if argv is None else list(argv)
        log.info("start: process_drop.py %s (PID %d)", " ".join(given), os.getpid())
        try:
            with run_lock(args.out_root):
                code = process(args)
        except (LockHeldError, GeoIntegrationError, OSError) as exc:
            _say(f"error: {exc}", error=True)
            code = EXIT_FAILURE
        except Exception as exc:
            log.exception("unexpected failure")
            _say(f"error: unexpected {type(exc).__name__}: {exc} (see {log_path})", error=True)
            code = EXIT_FAILURE
        log.info("end: exit code %d after %.1f s", code, time.perf_counter() - started)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
