"""The whole run on the mini city: stages, caching, identical re-runs, privacy."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from geo_integration.cli import main
from geo_integration.config import Settings
from geo_integration.demo import make_demo_drop
from geo_integration.errors import ConfigError
from geo_integration.pipeline import SitingOptions, privacy_check, run_drop


@pytest.fixture(scope="module")
def env(minicity_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("pipeline")
    drop = root / "drop"
    make_demo_drop(drop, residents=600, seed=3, data_dir=minicity_dir)
    return {"data": minicity_dir, "drop": drop, "store": root / "store", "root": root}


@pytest.fixture(autouse=True)
def _own_cache(env: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEO_INTEGRATION_CACHE", str(env["root"] / "cache"))


def _files(out: Path) -> dict[str, bytes]:
    return {
        p.relative_to(out).as_posix(): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name != "run_manifest.json"
    }


@pytest.fixture(scope="module")
def first_run(env: dict[str, Path]) -> tuple[Path, object]:
    out = env["root"] / "out"
    mp = pytest.MonkeyPatch()
    mp.setenv("GEO_INTEGRATION_CACHE", str(env["root"] / "cache"))
    try:
        result = run_drop(
            env["drop"],
            out_dir=out,
            data_dir=env["data"],
            store=env["store"],
            settings=Settings(privacy_k=3),
        )
    finally:
        mp.undo()
    return out, result


def test_a_run_writes_every_output_and_a_manifest(first_run: tuple[Path, object]) -> None:
    out, _result = first_run
    names = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    for expected in (
        "access/access_localities.parquet",
        "access/access_hexagons.csv",
        "gaps/gap_hexagons.parquet",
        "gaps/rank_localities.csv",
        "maps/overview.html",
        "report/report.html",
        "report/report.xlsx",
        "run_manifest.json",
    ):
        assert expected in names
    assert any(n.startswith("maps/coverage_") for n in names)
    manifest = json.loads((out / "run_manifest.json").read_text(encoding="utf-8"))
    stages = [s["name"] for s in manifest["stages"]]
    assert stages == ["ingest", "access", "gaps", "maps", "report", "privacy"]
    assert manifest["privacy"]["clean"] is True
    ingest = manifest["stages"][0]
    assert ingest["counts_in"]["rows_read"] >= 600
    assert (
        ingest["counts_out"]["residences"] + ingest["counts_out"]["quarantined"]
        <= (ingest["counts_in"]["rows_read"])
    )
    access = manifest["stages"][1]
    assert access["counts_in"]["residences"] == ingest["counts_out"]["residences"]
    assert "residentes_2026-11.csv" in manifest["inputs"]
    assert manifest["settings"]["privacy_k"] == 3


def test_no_output_holds_residence_rows(first_run: tuple[Path, object]) -> None:
    out, _ = first_run
    for csv in out.rglob("*.csv"):
        columns = set(pd.read_csv(csv, nrows=0).columns)
        assert not columns & {"record_id", "address", "lat", "lon", "direccion", "id"}, csv


def test_unchanged_rerun_reuses_everything_and_writes_identical_files(
    env: dict[str, Path], first_run: tuple[Path, object]
) -> None:
    out, _ = first_run
    before = _files(out)
    again = run_drop(
        env["drop"],
        out_dir=out,
        data_dir=env["data"],
        store=env["store"],
        settings=Settings(privacy_k=3),
    )
    assert all(stage.cached for stage in again.stages)
    assert _files(out) == before


def test_a_changed_setting_recomputes_only_what_depends_on_it(
    env: dict[str, Path], first_run: tuple[Path, object], tmp_path: Path
) -> None:
    out = tmp_path / "en"
    run_drop(
        env["drop"],
        out_dir=out,
        data_dir=env["data"],
        store=env["store"],
        settings=Settings(privacy_k=3),
    )
    english = run_drop(
        env["drop"],
        out_dir=out,
        data_dir=env["data"],
        store=env["store"],
        settings=Settings(privacy_k=3, lang="en"),
    )
    cached = {s.name: s.cached for s in english.stages}
    assert not cached["maps"] and not cached["report"]
    assert cached["ingest"]
    assert "Walking access" in (out / "maps" / "overview.html").read_text(encoding="utf-8") or (
        "walk" in (out / "maps" / "overview.html").read_text(encoding="utf-8").lower()
    )


def test_a_killed_run_leaves_outputs_intact_and_the_next_run_completes(
    env: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import geo_integration.report as report

    out = tmp_path / "out"
    run_drop(
        env["drop"],
        out_dir=out,
        data_dir=env["data"],
        store=env["store"],
        settings=Settings(privacy_k=3),
    )
    before = _files(out)

    def killed(*_a: object, **_k: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(report, "render_report_html", killed)
    with pytest.raises(KeyboardInterrupt):
        run_drop(
            env["drop"],
            out_dir=out,
            data_dir=env["data"],
            store=env["store"],
            settings=Settings(privacy_k=3, lang="en"),
        )
    # maps of the English run were written atomically; the report is still the Spanish one
    assert (out / "report" / "report.html").read_bytes() == before["report/report.html"]
    assert not list(out.rglob("*.tmp"))
    monkeypatch.undo()
    done = run_drop(
        env["drop"],
        out_dir=out,
        data_dir=env["data"],
        store=env["store"],
        settings=Settings(privacy_k=3, lang="en"),
    )
    assert {s.name for s in done.stages if not s.cached} >= {"report"}


def test_siting_stage_and_sites_on_the_map(env: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "site"
    result = run_drop(
        env["drop"],
        out_dir=out,
        data_dir=env["data"],
        store=env["store"],
        settings=Settings(privacy_k=3),
        siting=SitingOptions("school", p=1, threshold_min=5, replicates=3),
        outputs=("siting", "maps"),
    )
    assert [s.name for s in result.stages] == [
        "ingest",
        "access",
        "gaps",
        "siting",
        "maps",
        "privacy",
    ]
    summary = json.loads((out / "siting" / "summary.json").read_text(encoding="utf-8"))
    assert summary["model"] == "mclp" and summary["n_sites"] == 1
    sites = pd.read_csv(out / "siting" / "sites.csv")
    assert sites["rank"].tolist() == [1]
    assert 0 <= sites["selection_frequency"].iloc[0] <= 1
    assert not (out / "access").exists()


def test_unknown_output_is_a_config_error(env: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'nope'"):
        run_drop(
            env["drop"],
            out_dir=tmp_path,
            data_dir=env["data"],
            store=env["store"],
            outputs=("nope",),
        )


def test_privacy_check_finds_a_planted_leak(
    env: dict[str, Path], first_run: tuple[Path, object], tmp_path: Path
) -> None:
    import shutil

    out, _ = first_run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    drop = pd.read_csv(
        env["drop"] / "residentes_2026-11.csv", sep=";", dtype=str, encoding="utf-8-sig"
    )
    row = drop.dropna(subset=["latitud", "longitud"]).iloc[0]
    lat = float(row["latitud"].replace(",", "."))
    lon = float(row["longitud"].replace(",", "."))
    (copy / "maps" / "extra.html").write_text(f"L.marker([{lat:.5f}, {lon:.5f}])", "utf-8")
    person = drop["nombre"].dropna().iloc[0]
    (copy / "notes.txt").write_text(f"visited {person}", "utf-8")
    leaks = privacy_check(copy, drop=env["drop"], store=env["store"], data_dir=env["data"])
    assert {(leak.path, leak.kind) for leak in leaks} == {
        ("maps/extra.html", "coordinates"),
        ("notes.txt", "personal_field"),
    }
    args = [
        "privacy-check",
        str(copy),
        "--drop",
        str(env["drop"]),
        "--store",
        str(env["store"]),
        "--data-dir",
        str(env["data"]),
    ]
    assert main(args) == 1
    assert main([*args[:1], str(out), *args[2:]]) == 0


def test_cli_run_exit_codes(
    env: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["--store", str(env["store"]), "--data-dir", str(env["data"])]
    assert main(["run", str(env["drop"]), "--out", str(tmp_path / "o"), *base]) == 0
    assert "overview.html" in capsys.readouterr().out
    assert main(["run", str(tmp_path / "missing"), "--out", str(tmp_path / "o"), *base]) == 1
    assert "missing" in capsys.readouterr().err
    assert main(["run", str(env["drop"]), *base]) == 2  # --out is required
