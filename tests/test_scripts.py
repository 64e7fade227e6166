"""scripts/process_drop.py: the comparison by hand, the lock, and two drops run unattended."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from geo_integration.demo import make_demo_drop
from geo_integration.errors import PrivacyError
from geo_integration.pipeline import privacy_check

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "process_drop.py"
STAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} (INFO|WARNING|ERROR|DEBUG) \S+: ")


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("process_drop", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["process_drop"] = module
    spec.loader.exec_module(module)
    return module


pd_script = _load()


# ------------------------------------------------------------------------ comparison kernel


def _table(rows: list[dict[str, object]]) -> pd.DataFrame:
    return pd.DataFrame(rows).set_index("loc_code")


PREVIOUS = _table(
    [
        {
            "loc_code": "01",
            "loc_name": "Usaquén",
            "migrants": 100.0,
            "share_within_15_health": 0.50,
            "share_within_15_school": 0.90,
            "share_within_10_health": 0.10,
            "share_within_15_sec_salud": 0.10,
            "suppressed": False,
        },
        {
            "loc_code": "02",
            "loc_name": "Chapinero",
            "migrants": 50.0,
            "share_within_15_health": 0.20,
            "share_within_15_school": np.nan,
            "share_within_10_health": 0.10,
            "share_within_15_sec_salud": 0.10,
            "suppressed": False,
        },
        {
            "loc_code": "03",
            "loc_name": "Santa Fe",
            "migrants": np.nan,
            "share_within_15_health": np.nan,
            "share_within_15_school": np.nan,
            "share_within_10_health": np.nan,
            "share_within_15_sec_salud": np.nan,
            "suppressed": True,
        },
    ]
)
CURRENT = _table(
    [
        {
            "loc_code": "01",
            "loc_name": "Usaquén",
            "migrants": 120.0,
            "share_within_15_health": 0.755,  # +25.5 points
            "share_within_15_school": 0.895,  # -0.5: below the 1-point minimum
            "share_within_10_health": 0.90,  # another threshold: not compared
            "share_within_15_sec_salud": 0.90,  # a secretariat: not compared
            "share_within_15_women": 0.40,  # a type the previous drop did not have
            "suppressed": False,
        },
        {
            "loc_code": "02",
            "loc_name": "Chapinero",
            "migrants": 40.0,
            "share_within_15_health": 0.10,  # -10 points
            "share_within_15_school": 0.50,  # unknown before: not compared
            "share_within_10_health": 0.10,
            "share_within_15_sec_salud": 0.10,
            "share_within_15_women": 0.40,
            "suppressed": False,
        },
        {
            "loc_code": "03",
            "loc_name": "Santa Fe",
            "migrants": 30.0,
            "share_within_15_health": 0.90,  # suppressed before: stays unknown
            "share_within_15_school": 0.90,
            "share_within_10_health": 0.90,
            "share_within_15_sec_salud": 0.90,
            "share_within_15_women": 0.40,
            "suppressed": False,
        },
    ]
)


def test_changes_known_by_hand() -> None:
    changes = pd_script.coverage_changes(PREVIOUS, CURRENT, threshold_min=15)
    assert list(changes.columns) == pd_script.CHANGE_COLUMNS
    assert changes[["loc_code", "service_type"]].values.tolist() == [
        ["01", "health"],
        ["02", "health"],
    ]
    assert changes["share_previous_pct"].tolist() == [50.0, 20.0]
    assert changes["share_current_pct"].tolist() == [75.5, 10.0]
    assert changes["change_pt"].tolist() == [25.5, -10.0]
    assert changes["direction"].tolist() == ["▲", "▼"]
    assert changes["loc_name"].tolist() == ["Usaquén", "Chapinero"]
    assert changes["migrants_previous"].tolist() == [100.0, 50.0]
    assert changes["migrants_current"].tolist() == [120.0, 40.0]


def test_small_changes_kept_with_a_lower_minimum_and_loc_code_as_column() -> None:
    changes = pd_script.coverage_changes(
        PREVIOUS.reset_index(), CURRENT.reset_index(), threshold_min=15.0, min_change_pt=0.0
    )
    assert changes["change_pt"].tolist() == [25.5, -10.0, -0.5]
    assert changes.iloc[2][["loc_code", "service_type", "direction"]].tolist() == [
        "01",
        "school",
        "▼",
    ]


def test_other_threshold_and_no_change() -> None:
    ten = pd_script.coverage_changes(PREVIOUS, CURRENT, threshold_min=10)
    assert ten[["loc_code", "change_pt"]].values.tolist() == [["01", 80.0]]
    same = pd_script.coverage_changes(PREVIOUS, PREVIOUS, threshold_min=15)
    assert same.empty and list(same.columns) == pd_script.CHANGE_COLUMNS
    assert "no change" in pd_script.format_changes(same, title="t")


def test_format_changes_is_an_aligned_table() -> None:
    changes = pd_script.coverage_changes(PREVIOUS, CURRENT, threshold_min=15)
    text = pd_script.format_changes(changes, title="Coverage within 15 min")
    lines = text.splitlines()
    assert lines[0] == "Coverage within 15 min"
    assert lines[2].split() == ["Usaquén", "health", "50.0", "%", "75.5", "%", "▲", "25.5", "pt"]
    assert lines[3].split() == ["Chapinero", "health", "20.0", "%", "10.0", "%", "▼", "10.0", "pt"]
    assert lines[2].index("▲") == lines[3].index("▼")
    short = pd_script.format_changes(changes, title="t", limit=1).splitlines()
    assert short[2].split()[0] == "Usaquén" and short[3] == "... and 1 smaller change(s)"


# ------------------------------------------------------------------------ folders and lock


def _run_folder(root: Path, name: str, *, manifest: bool = True, clean: bool = True) -> Path:
    folder = root / name
    folder.mkdir()
    if manifest:
        text = json.dumps({"drop_id": name[11:], "privacy": {"clean": clean}})
        (folder / "run_manifest.json").write_text(text, encoding="utf-8")
    return folder


def test_previous_run_is_the_latest_earlier_clean_run(tmp_path: Path) -> None:
    _run_folder(tmp_path, "2026-09-30_20260930-aaaaaaaaaaaa")
    oct_ = _run_folder(tmp_path, "2026-10-31_20261031-bbbbbbbbbbbb")
    _run_folder(tmp_path, "2026-11-15_20261115-cccccccccccc", manifest=False)  # unfinished
    _run_folder(tmp_path, "2026-11-20_20261120-eeeeeeeeeeee", clean=False)  # privacy failed
    broken = _run_folder(tmp_path, "2026-11-25_20261125-ffffffffffff")
    (broken / "run_manifest.json").write_text("{not json", encoding="utf-8")
    _run_folder(tmp_path, "2026-11-30_20261130-dddddddddddd")  # the drop itself
    _run_folder(tmp_path, "store")
    assert pd_script.find_previous_run(tmp_path, before="2026-11-30") == oct_
    assert pd_script.find_previous_run(tmp_path, before="2026-09-30") is None
    assert pd_script.find_previous_run(tmp_path / "absent", before="2026-11-30") is None


def test_lock_held_by_a_live_process_and_a_stale_one(tmp_path: Path) -> None:
    lock = tmp_path / pd_script.LOCK_NAME
    lock.write_text(f"{os.getppid()}\n", encoding="utf-8")
    with (
        pytest.raises(pd_script.LockHeldError, match=f"PID {os.getppid()}"),
        pd_script.run_lock(tmp_path),
    ):
        pass
    assert lock.read_text(encoding="utf-8").strip() == str(os.getppid())  # left alone
    lock.write_text(f"{_dead_pid()}\n", encoding="utf-8")
    with pd_script.run_lock(tmp_path) as held:
        assert held.read_text(encoding="utf-8").strip() == str(os.getpid())
    assert not lock.exists()


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


# ------------------------------------------------------------------------ two drops, end to end


@contextlib.contextmanager
def _offline() -> Iterator[None]:
    """The conftest socket guard, for work done in module-scoped fixtures."""
    real = socket.socket.connect

    def guarded(self: socket.socket, address: object) -> object:
        host = address[0] if isinstance(address, tuple) else address
        local = ("127.0.0.1", "localhost", "::1")
        if isinstance(host, str) and host not in local and not host.startswith("/"):
            msg = f"network access attempted in a test: {address!r}"
            raise RuntimeError(msg)
        return real(self, address)  # type: ignore[arg-type]

    mp = pytest.MonkeyPatch()
    mp.setattr(socket.socket, "connect", guarded)
    try:
        yield
    finally:
        mp.undo()


class Env:
    def __init__(self, root: Path, data: Path) -> None:
        self.root = root
        self.data = data
        self.out = root / "runs"
        self.store = root / "store"
        self.config = root / "settings.toml"
        self.drops = {"oct": root / "drop_oct", "nov": root / "drop_nov"}
        self.results: dict[str, tuple[int, str, str]] = {}

    def args(self, drop: Path, *extra: str) -> list[str]:
        return [
            str(drop),
            "--out-root",
            str(self.out),
            "--store",
            str(self.store),
            "--data-dir",
            str(self.data),
            "--config",
            str(self.config),
            "--service-type",
            "school",
            "--service-type",
            "women",
            *extra,
        ]

    @property
    def log(self) -> str:
        return (self.out / "process_drop.log").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def env(minicity_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    root = tmp_path_factory.mktemp("scripts")
    e = Env(root, minicity_dir)
    # on the 1 km² mini city everybody is within 15 minutes: measure 3, 5 and 10 (main: 5)
    e.config.write_text("thresholds_min = [3, 5, 10]\nprivacy_k = 3\n", encoding="utf-8")
    make_demo_drop(e.drops["oct"], residents=400, seed=3, data_dir=minicity_dir, date="2026-10-31")
    make_demo_drop(e.drops["nov"], residents=400, seed=4, data_dir=minicity_dir, date="2026-11-30")
    mp = pytest.MonkeyPatch()
    mp.setenv("GEO_INTEGRATION_CACHE", str(root / "cache"))
    try:
        with _offline():
            for name in ("oct", "nov"):
                e.results[name] = _captured(partial(pd_script.main, e.args(e.drops[name])))
        yield e
    finally:
        mp.undo()


def _captured(call: Callable[[], int]) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of ``call``."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = call()
    return code, out.getvalue(), err.getvalue()


def _folder(env: Env, date: str) -> Path:
    found = sorted(env.out.glob(f"{date}_{date.replace('-', '')}-*"))
    assert len(found) == 1, found
    return found[0]


def test_two_drops_run_into_dated_folders(env: Env) -> None:
    assert env.results["oct"][0] == 0, env.results["oct"]
    assert env.results["nov"][0] == 0, env.results["nov"]
    for date in ("2026-10-31", "2026-11-30"):
        folder = _folder(env, date)
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}_\d{8}-[0-9a-f]{12}", folder.name)
        assert (folder / "run_manifest.json").is_file()
        assert (folder / "access" / "access_localities.parquet").is_file()
        assert (folder / "maps" / "overview.html").is_file()
    assert "no earlier drop" in env.results["oct"][1]
    assert not list(_folder(env, "2026-10-31").glob("changes_vs_*"))


def test_second_drop_writes_and_prints_the_change_table(env: Env) -> None:
    oct_, nov = _folder(env, "2026-10-31"), _folder(env, "2026-11-30")
    csv = nov / f"changes_vs_{oct_.name[11:]}.csv"
    assert csv.is_file()
    changes = pd.read_csv(csv, dtype={"loc_code": str})
    assert list(changes.columns) == pd_script.CHANGE_COLUMNS
    assert len(changes) >= 1
    assert set(changes["direction"]) <= {"▲", "▼"}
    assert (changes["change_pt"].abs() >= 1.0).all()
    assert (np.sign(changes["change_pt"]) == changes["direction"].map({"▲": 1, "▼": -1})).all()
    assert changes["change_pt"].abs().is_monotonic_decreasing
    assert set(changes["service_type"]) <= {"school", "women"}
    assert set(changes["loc_code"]) <= {"08", "11", "17", "19"}
    # the figures are those of the two published locality tables
    old = pd.read_parquet(oct_ / "access" / "access_localities.parquet")
    new = pd.read_parquet(nov / "access" / "access_localities.parquet")
    first = changes.iloc[0]
    column = f"share_within_5_{first['service_type']}"
    assert first["share_previous_pct"] == round(old.loc[first["loc_code"], column] * 100, 1)
    assert first["share_current_pct"] == round(new.loc[first["loc_code"], column] * 100, 1)
    printed = env.results["nov"][1]
    assert "Coverage within 5 min" in printed and first["direction"] in printed
    assert f"{len(changes)} change(s)" in printed


def test_the_log_has_timestamped_lines_of_both_runs_and_no_residence_data(env: Env) -> None:
    lines = env.log.splitlines()
    assert all(STAMP.match(line) for line in lines), [ln for ln in lines if not STAMP.match(ln)]
    text = env.log
    assert text.count("process_drop: start: process_drop.py") >= 2
    assert text.count("process_drop: end: exit code 0") >= 2
    assert "stage access:" in text and "Coverage within 5 min" in text
    assert "PerformanceWarning" not in text or text.count("PerformanceWarning") <= 5
    scan = env.root / "log_scan"
    scan.mkdir(exist_ok=True)
    (scan / "process_drop.log").write_text(text, encoding="utf-8")
    for name in ("oct", "nov"):
        found = privacy_check(scan, drop=env.drops[name], store=env.store, data_dir=env.data)
        assert found == [], found


def test_a_rerun_reuses_the_folder_and_removes_a_stale_lock(env: Env) -> None:
    before = sorted(p.name for p in env.out.iterdir())
    (env.out / pd_script.LOCK_NAME).write_text(f"{_dead_pid()}\n", encoding="utf-8")
    code, out, _err = _captured(lambda: pd_script.main(env.args(env.drops["oct"])))
    assert code == 0
    assert "6/6 stages reused" in out
    assert sorted(p.name for p in env.out.iterdir()) == before  # lock released, no new folder
    assert "removing a stale lock" in env.log


def test_a_missing_drop_folder_fails_with_a_message_in_the_log(env: Env) -> None:
    missing = env.root / "no_such_drop"
    code, _out, err = _captured(lambda: pd_script.main(env.args(missing)))
    assert code == 1
    assert "drop folder not found" in err
    assert f"ERROR process_drop: error: drop folder not found: {str(missing)!r}" in env.log


def test_a_lock_held_by_a_live_process_fails(env: Env) -> None:
    lock = env.out / pd_script.LOCK_NAME
    lock.write_text(f"{os.getppid()}\n", encoding="utf-8")
    try:
        code, _out, err = _captured(lambda: pd_script.main(env.args(env.drops["nov"])))
    finally:
        lock.unlink()
    assert code == 1
    assert f"another process_drop run (PID {os.getppid()})" in err
    assert "another process_drop run" in env.log


def test_a_failed_privacy_check_and_a_bad_config_exit_1(
    env: Env, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import geo_integration.pipeline as pipeline

    def leaking(*_a: object, **_k: object) -> None:
        raise PrivacyError("privacy check failed: 1 finding(s) in 'x'")

    monkeypatch.setattr(pipeline, "run_drop", leaking)
    code, _out, err = _captured(lambda: pd_script.main(env.args(env.drops["nov"])))
    assert code == 1 and "privacy check failed" in err
    monkeypatch.undo()
    bad = tmp_path / "bad.toml"
    bad.write_text("walking_speed_kmh = 99\n", encoding="utf-8")
    args = [*env.args(env.drops["nov"]), "--config", str(bad)]
    code, _out, err = _captured(lambda: pd_script.main(args))
    assert code == 1 and "walking_speed_kmh" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["drop", "--out-root", "x", "--frobnicate"],
        ["drop"],  # --out-root missing
        ["drop", "--out-root", "x", "--p", "2"],  # --p without --site
        ["drop", "--out-root", "x", "--min-change", "-1"],
        ["drop", "--out-root", "x", "--show", "many"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], tmp_path: Path) -> None:
    code, _out, err = _captured(lambda: pd_script.main(argv))
    assert code == 2
    assert "usage: process_drop.py" in err
    assert not (tmp_path / "x").exists() and not Path("x").exists()


def test_the_script_runs_as_a_program(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    bad = subprocess.run(
        [sys.executable, str(SCRIPT), "drop", "--frobnicate"], capture_output=True, env=env
    )
    assert bad.returncode == 2 and b"usage:" in bad.stderr
    missing = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path / "none"), "--out-root", str(tmp_path / "o")],
        capture_output=True,
        env=env,
    )
    assert missing.returncode == 1 and b"drop folder not found" in missing.stderr
    assert (tmp_path / "o" / "process_drop.log").is_file()
    assert os.access(SCRIPT, os.X_OK)


def test_the_cron_example_is_valid_shell() -> None:
    example = REPO / "scripts" / "cron_example.sh"
    assert subprocess.run(["sh", "-n", str(example)], capture_output=True).returncode == 0
    assert "process_drop.py" in example.read_text(encoding="utf-8")


def test_siting_on_the_same_drop_reuses_its_folder(env: Env) -> None:
    nov = _folder(env, "2026-11-30")
    before = {p.name: p.read_bytes() for p in nov.glob("changes_vs_*.csv")}
    code, out, err = _captured(
        lambda: pd_script.main(
            [*env.args(env.drops["nov"]), "--site", "school", "--p", "2", "--show", "1"]
        )
    )
    assert code == 0, err
    sites = pd.read_csv(nov / "siting" / "sites.csv")
    assert sites["rank"].tolist() == [1, 2]
    assert {p.name: p.read_bytes() for p in nov.glob("changes_vs_*.csv")} == before
    (changes,) = before.values()
    n = len(pd.read_csv(io.BytesIO(changes)))
    assert n >= 2 and f"... and {n - 1} smaller change(s)" in out
    assert out.count(" pt\n") == 1
