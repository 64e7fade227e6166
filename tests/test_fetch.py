from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from geo_integration.cli import main
from geo_integration.datadir import read_manifest
from geo_integration.fetch import check_data, fetch_data


def test_fetch_from_mirror_then_check(minicity_dir: Path, tmp_path: Path) -> None:
    manifest = read_manifest(minicity_dir / "sources.toml")
    target = tmp_path / "data"
    report = fetch_data(target, source=minicity_dir, manifest=manifest)
    assert report.ok
    assert len(report.installed) == len(manifest)
    again = fetch_data(target, source=minicity_dir, manifest=manifest)
    assert again.installed == [] and len(again.already_present) == len(manifest)
    check = check_data(target, manifest=manifest)
    # the mini city has 4 localities and 8 UPZ: the count checks must say so precisely
    assert ("boundaries/Loca.shp", "4 localities, expected 20") in check.problems
    assert all("SHA-256" not in problem for _, problem in check.problems)


def test_fetch_from_file_url(minicity_dir: Path, tmp_path: Path) -> None:
    manifest = read_manifest(minicity_dir / "sources.toml")
    report = fetch_data(tmp_path / "d", source=minicity_dir.as_uri(), manifest=manifest)
    assert report.ok, report.failed


def test_corrupt_mirror_file_is_rejected_and_not_installed(
    minicity_dir: Path, tmp_path: Path
) -> None:
    mirror = tmp_path / "mirror"
    shutil.copytree(minicity_dir, mirror)
    (mirror / "services" / "hospitales.geojson").write_text("{}", encoding="utf-8")
    manifest = read_manifest(mirror / "sources.toml")
    report = fetch_data(tmp_path / "d", source=mirror, manifest=manifest)
    assert "services/hospitales.geojson" in report.failed
    assert "SHA-256" in report.failed["services/hospitales.geojson"]
    assert not (tmp_path / "d" / "services" / "hospitales.geojson").exists()
    assert len(report.installed) == len(manifest) - 1


def test_online_fetch_without_url_says_to_use_a_mirror(minicity_dir: Path, tmp_path: Path) -> None:
    manifest = read_manifest(minicity_dir / "sources.toml")[:1]
    report = fetch_data(tmp_path / "d", manifest=manifest)
    assert "--from" in next(iter(report.failed.values()))


def test_check_reports_missing_and_damaged_files(minicity_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(minicity_dir, data)
    (data / "transit" / "sitp_paraderos_zonales.csv").unlink()
    with (data / "blocks" / "manzanas.parquet").open("ab") as fh:
        fh.write(b"junk")
    report = check_data(data, manifest=read_manifest(minicity_dir / "sources.toml"))
    problems = dict(report.problems)
    assert problems["transit/sitp_paraderos_zonales.csv"] == "missing"
    assert problems["blocks/manzanas.parquet"].startswith("size")


def test_repository_manifest_lists_every_mirror_file() -> None:
    paths = {entry.path for entry in read_manifest()}
    assert "addresses/placas_domiciliarias.parquet" in paths
    assert "boundaries/Loca.shp" in paths
    assert all(len(entry.sha256) == 64 for entry in read_manifest())


@pytest.mark.shared_data
def test_cli_data_check_passes_on_the_mirror(
    shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["data", "check", "--data-dir", str(shared_data)]) == 0
    assert "data check passed" in capsys.readouterr().out


def test_cli_data_check_fails_with_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["data", "check", "--data-dir", str(tmp_path / "none")]) == 1
    assert "does not exist" in capsys.readouterr().err
