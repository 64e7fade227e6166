"""Fill and validate the data directory.

:func:`fetch_data` installs every file of the manifest (``data/localities/sources.toml``)
into the data directory, from a local mirror directory, from a mirror URL, or from each
file's own download URL, and verifies its SHA-256. :func:`check_data` validates what is
there: files present and intact, readable, CRS, counts and codes.
"""

from __future__ import annotations

import functools
import logging
import shutil
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from geo_integration.datadir import SourceFile, read_manifest
from geo_integration.errors import ChecksumError, FetchError, GeoIntegrationError
from geo_integration.fileio import atomic_path, sha256_file

__all__ = ["CheckReport", "FetchReport", "check_data", "fetch_data"]

log = logging.getLogger(__name__)

Opener = Callable[[str], object]


@dataclass
class FetchReport:
    """What :func:`fetch_data` did for each file of the manifest."""

    installed: list[str] = field(default_factory=list)
    already_present: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when no required file failed."""
        return not self.failed


def _is_url(source: str) -> bool:
    return source.split(":", 1)[0].lower() in ("http", "https", "file", "ftp")


def _download(url: str, dest: Path, *, timeout: float) -> None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, dest.open("wb") as out:
            shutil.copyfileobj(resp, out, length=1 << 20)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        msg = f"cannot download {url!r}: {exc}"
        raise FetchError(msg) from None


def _obtain(entry: SourceFile, source: str | None, dest: Path, *, timeout: float) -> None:
    with atomic_path(dest) as tmp:
        if source is None:
            if not entry.url:
                msg = (
                    f"{entry.path}: no direct download is known for this file; "
                    "fetch it from a mirror with `data fetch --from DIR_OR_URL`"
                )
                raise FetchError(msg)
            _download(entry.url, tmp, timeout=timeout)
        elif _is_url(source):
            _download(f"{source.rstrip('/')}/{entry.path}", tmp, timeout=timeout)
        else:
            origin = Path(source) / entry.path
            if not origin.is_file():
                msg = f"{entry.path}: not found in mirror {source!r} (looked for {str(origin)!r})"
                raise FetchError(msg)
            shutil.copyfile(origin, tmp)
        digest = sha256_file(tmp)
        if digest != entry.sha256:
            msg = f"{entry.path}: SHA-256 {digest} does not match the expected {entry.sha256}"
            raise ChecksumError(msg)


def _intact(path: Path, entry: SourceFile) -> bool:
    return (
        path.is_file() and path.stat().st_size == entry.size and sha256_file(path) == entry.sha256
    )


def fetch_data(
    data_dir: Path,
    *,
    source: str | Path | None = None,
    force: bool = False,
    timeout: float = 60.0,
    manifest: list[SourceFile] | None = None,
) -> FetchReport:
    """Install the reference files of the manifest into ``data_dir``.

    Parameters
    ----------
    data_dir
        Target directory (created if needed).
    source
        A mirror directory laid out like ``../shared/data/bogota``, or the base URL of such
        a mirror; ``None`` downloads each file from its own URL in the manifest.
    force
        Re-install files that are already present and intact.
    timeout
        Seconds allowed per download.
    manifest
        The list of files; defaults to the repository's manifest.

    Returns
    -------
    FetchReport
        Installed, already-present and failed files (with the reason). Every file is
        attempted even when an earlier one fails; a failed file leaves no partial copy.
    """
    entries = read_manifest() if manifest is None else manifest
    src = None if source is None else str(source)
    report = FetchReport()
    for entry in entries:
        dest = data_dir / entry.path
        if not force and _intact(dest, entry):
            report.already_present.append(entry.path)
            continue
        try:
            _obtain(entry, src, dest, timeout=timeout)
        except GeoIntegrationError as exc:
            log.warning("%s", exc)
            if entry.required or not dest.exists():
                report.failed[entry.path] = str(exc)
            continue
        log.info("installed %s", entry.path)
        report.installed.append(entry.path)
    return report


@dataclass
class CheckReport:
    """Problems found by :func:`check_data`, as (file, problem) pairs, and facts seen."""

    problems: list[tuple[str, str]] = field(default_factory=list)
    facts: dict[str, object] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when nothing is missing or wrong."""
        return not self.problems

    def add(self, path: str, problem: str) -> None:
        """Record one problem about ``path``."""
        self.problems.append((path, problem))


def _check_files(
    data_dir: Path, entries: list[SourceFile], report: CheckReport, *, checksums: bool
) -> None:
    for entry in entries:
        path = data_dir / entry.path
        if not path.is_file():
            if entry.required:
                report.add(entry.path, "missing")
            continue
        size = path.stat().st_size
        if size != entry.size:
            report.add(entry.path, f"size {size} bytes, expected {entry.size}")
        elif checksums and sha256_file(path) != entry.sha256:
            report.add(entry.path, f"SHA-256 differs from the expected {entry.sha256}")


def _check(report: CheckReport, path: str, condition: bool, problem: str) -> None:
    if not condition:
        report.add(path, problem)


_BOUNDARY_FILES = {
    "boundaries/Loca.shp",
    "boundaries/Loca.dbf",
    "boundaries/Loca.shx",
    "boundaries/Loca.prj",
    "boundaries/UPla.shp",
    "boundaries/UPla.dbf",
    "boundaries/UPla.shx",
    "boundaries/UPla.prj",
    "population/poblacion_localidad_dane_sdp_2018_2025_totals.csv",
    "population/poblacion_upz_dane_sdp_2018_2024.csv",
}


def _check_boundaries(data_dir: Path, report: CheckReport) -> None:
    from geo_integration import loaders

    loc = loaders.load_localities(data_dir)
    report.facts["localities"] = len(loc)
    _check(report, "boundaries/Loca.shp", len(loc) == 20, f"{len(loc)} localities, expected 20")
    codes = sorted(loc["loc_code"])
    expected = [f"{i:02d}" for i in range(1, 21)]
    _check(report, "boundaries/Loca.shp", codes == expected, f"locality codes {codes!r}")
    _check(report, "boundaries/Loca.shp", bool(loc.geometry.is_valid.all()), "invalid geometries")
    upz = loaders.load_upz(data_dir)
    n_upz = int((upz["upz_kind"] == "UPZ").sum())
    report.facts["upz"] = n_upz
    _check(report, "boundaries/UPla.shp", n_upz == 112, f"{n_upz} UPZ, expected 112")
    orphans = upz.loc[upz["loc_code"].isna(), "upz_code"].tolist()
    _check(report, "boundaries/UPla.shp", not orphans, f"UPZ outside every locality: {orphans!r}")
    pop_upz = loaders.load_population(data_dir, level="upz")
    merged = pop_upz.merge(
        upz[["upz_code", "loc_code"]], on="upz_code", how="left", suffixes=("", "_geo")
    )
    unknown = merged.loc[merged["loc_code_geo"].isna(), "upz_code"].tolist()
    _check(
        report,
        "population/poblacion_upz_dane_sdp_2018_2024.csv",
        not unknown,
        f"UPZ codes not in the boundaries: {unknown!r}",
    )
    mismatch = merged.loc[
        merged["loc_code_geo"].notna() & (merged["loc_code"] != merged["loc_code_geo"]), "upz_code"
    ]
    _check(
        report,
        "population/poblacion_upz_dane_sdp_2018_2024.csv",
        mismatch.empty,
        f"UPZ whose locality differs from the boundaries: {mismatch.tolist()!r}",
    )
    pop_loc = loaders.load_population(data_dir, level="locality")
    _check(
        report,
        "population/poblacion_localidad_dane_sdp_2018_2025_totals.csv",
        sorted(pop_loc["loc_code"]) == expected,
        "locality population does not cover '01'..'20'",
    )


def _guarded(report: CheckReport, path: str, step: Callable[[], None]) -> None:
    """Run one check of ``path``; a reading error becomes a problem of that file."""
    try:
        step()
    except (GeoIntegrationError, OSError, ValueError, KeyError, pd.errors.ParserError) as exc:
        report.add(path, f"cannot be read: {exc}")


def _check_layer(
    data_dir: Path,
    report: CheckReport,
    path: str,
    loader: Callable[[Path], Any],
    least: int,
    geom: str,
) -> None:
    frame = loader(data_dir)
    report.facts[path] = len(frame)
    _check(report, path, len(frame) >= least, f"{len(frame)} rows, expected at least {least}")
    kinds = set(frame.geom_type.dropna().unique())
    _check(
        report,
        path,
        kinds <= {geom, f"Multi{geom}"},
        f"geometry types {sorted(kinds)!r}, expected {geom}",
    )


def _layer_checks(data_dir: Path, report: CheckReport) -> dict[str, Callable[[], None]]:
    from geo_integration import loaders

    minimum: dict[str, tuple[Callable[[Path], Any], int, str]] = {
        "addresses/placas_domiciliarias.parquet": (loaders.load_addresses, 1_000_000, "Point"),
        "blocks/manzanas.parquet": (loaders.load_blocks, 40_000, "Polygon"),
        "streets/malla_vial.parquet": (loaders.load_streets, 100_000, "LineString"),
        "transit/sitp_paraderos_zonales.csv": (loaders.load_sitp_stops, 7_000, "Point"),
        "transit/estaciones_transmilenio.geojson": (loaders.load_transmilenio, 100, "Point"),
        "services/colegios.geojson": (loaders.load_schools, 2_000, "Point"),
        "services/hospitales.geojson": (loaders.load_hospitals, 50, "Point"),
    }
    checks: dict[str, Callable[[], None]] = {
        path: functools.partial(_check_layer, data_dir, report, path, *spec)
        for path, spec in minimum.items()
    }

    def figures() -> None:
        table = loaders.load_migration_figures(data_dir)
        report.facts["migration_figures"] = len(table)
        _check(
            report, "migration/venezuelan_migrants_public_figures.csv", len(table) > 0, "no rows"
        )

    checks["migration/venezuelan_migrants_public_figures.csv"] = figures
    return checks


def check_data(
    data_dir: Path, *, checksums: bool = True, manifest: list[SourceFile] | None = None
) -> CheckReport:
    """Validate the reference data in ``data_dir``.

    Checks every manifest file is present with the right size (and SHA-256 when
    ``checksums``), then that the layers read, are in the expected CRS (converted to
    EPSG:4326 by the loaders), and have the expected counts and codes: 20 localities coded
    '01'..'20', 112 UPZ each within a locality, population tables matching the boundaries,
    1 M+ address points, blocks, centrelines, stops, stations, schools and hospitals.

    Returns
    -------
    CheckReport
        Empty ``problems`` when all is well. Reading errors are reported, not raised.
    """
    entries = read_manifest() if manifest is None else manifest
    report = CheckReport()
    if not data_dir.is_dir():
        report.add(str(data_dir), "data directory does not exist")
        return report
    _check_files(data_dir, entries, report, checksums=checksums)
    unusable = {p for p, _problem in report.problems}
    if not unusable & _BOUNDARY_FILES:
        _guarded(report, "boundaries", functools.partial(_check_boundaries, data_dir, report))
    for path, step in _layer_checks(data_dir, report).items():
        if path not in unusable:
            _guarded(report, path, step)
    return report
