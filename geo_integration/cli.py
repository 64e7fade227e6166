"""Command-line interface: a thin shell over the Python API.

Exit codes: 0 success; 1 bad input or a failed check (a one-line message on stderr naming
the file, row and problem, no traceback); 2 usage error (unknown option, bad value).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from geo_integration import __version__
from geo_integration.errors import GeoIntegrationError

log = logging.getLogger("geo_integration")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


def _setup_logging(verbosity: int) -> None:
    from rich.logging import RichHandler

    level = logging.WARNING - 10 * verbosity
    handler = RichHandler(
        console=_stderr_console(), show_path=False, show_time=False, rich_tracebacks=False
    )
    logging.basicConfig(
        level=max(level, logging.DEBUG), handlers=[handler], format="%(message)s", force=True
    )


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Reference data directory (default: $GEO_INTEGRATION_DATA, else data/ in the repository).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="geo-integration")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors.")
def cli(verbose: int, quiet: bool) -> None:
    """Where in Bogotá do migrants live far from the services they need?

    Ingest data drops, geocode Bogotá addresses offline, measure walking access to
    services, find gaps, propose new service sites, and write maps and reports.
    """
    _setup_logging(-1 if quiet else verbose)


@cli.group()
def data() -> None:
    """Reference data: fetch it into the data directory, check it."""


@data.command("fetch")
@data_dir_option
@click.option(
    "--from",
    "source",
    default=None,
    metavar="DIR_OR_URL",
    help="Copy from a local mirror laid out like ../shared/data/bogota (or a mirror URL) "
    "instead of the official download addresses.",
)
@click.option("--force", is_flag=True, help="Re-install files already present and intact.")
def data_fetch(data_dir: Path | None, source: str | None, force: bool) -> None:
    """Fill the data directory with the reference files, verifying their checksums."""
    from geo_integration.config import resolve_data_dir
    from geo_integration.fetch import fetch_data

    target = resolve_data_dir(data_dir)
    report = fetch_data(target, source=source, force=force)
    click.echo(
        f"{target}: {len(report.installed)} installed, "
        f"{len(report.already_present)} already present, {len(report.failed)} failed"
    )
    for path, reason in report.failed.items():
        click.echo(f"{path}: {reason}", err=True)
    if not report.ok:
        raise click.exceptions.Exit(EXIT_FAILURE)


@data.command("check")
@data_dir_option
@click.option("--no-checksums", is_flag=True, help="Skip SHA-256 verification (faster).")
def data_check(data_dir: Path | None, no_checksums: bool) -> None:
    """Validate the data directory: files, readability, CRS, counts and codes."""
    from geo_integration.config import resolve_data_dir
    from geo_integration.fetch import check_data

    target = resolve_data_dir(data_dir)
    report = check_data(target, checksums=not no_checksums)
    for path, problem in report.problems:
        click.echo(f"{target / path}: {problem}", err=True)
    if not report.ok:
        click.echo(f"data check failed: {len(report.problems)} problem(s) in {target}", err=True)
        raise click.exceptions.Exit(EXIT_FAILURE)
    facts = ", ".join(f"{k}={v}" for k, v in report.facts.items())
    click.echo(f"data check passed: {target} ({facts})")


@cli.command("access")
@click.argument("drop", type=click.Path(path_type=Path))
@click.option(
    "--service-type",
    "service_type",
    default="all",
    show_default=True,
    help="Service type to measure (e.g. school), or 'all'. Secretariats are measured too.",
)
@click.option(
    "--thresholds",
    default="10,15,30",
    show_default=True,
    help="Walking-time thresholds in minutes, comma-separated.",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for the tables (GeoParquet and CSV).",
)
@data_dir_option
@click.option(
    "--network",
    "network_source",
    default="centrelines",
    show_default=True,
    help="Street network: 'centrelines' (data directory), 'osm' (an OSM file in the data "
    "directory) or the path of a .osm/.osm.pbf file.",
)
@click.option("--speed", type=click.FloatRange(0.5, 20), default=None, help="Walking km/h (4.5).")
@click.option(
    "--h3-resolution", type=click.IntRange(0, 15), default=None, help="H3 resolution (9)."
)
@click.option("--no-service-areas", is_flag=True, help="Skip the service-area polygons.")
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Settings TOML file.",
)
def access_command(
    drop: Path,
    service_type: str,
    thresholds: str,
    out_dir: Path,
    data_dir: Path | None,
    network_source: str,
    speed: float | None,
    h3_resolution: int | None,
    no_service_areas: bool,
    config_file: Path | None,
) -> None:
    """Walking times, coverage and supply per migrant for every service type.

    DROP is a normalised drop directory (residences.parquet, services.parquet). Writes
    aggregated tables per hexagon, UPZ and locality (small counts suppressed) and service
    areas; never a table of residences.
    """
    from geo_integration.accessibility import _read_normalised_drop, compute_access
    from geo_integration.config import load_settings
    from geo_integration.network import load_network

    try:
        minutes = tuple(float(t) for t in thresholds.split(",") if t.strip())
    except ValueError:
        msg = f"thresholds must be minutes separated by commas, got {thresholds!r}"
        raise click.BadParameter(msg, param_hint="--thresholds") from None
    settings = load_settings(
        config_file,
        thresholds_min=minutes or None,
        walking_speed_kmh=speed,
        h3_resolution=h3_resolution,
    )
    residences, services = _read_normalised_drop(drop)
    network = load_network(data_dir, source=network_source, speed_kmh=settings.walking_speed_kmh)
    types = None if service_type.strip().lower() == "all" else [service_type]
    result = compute_access(
        residences,
        services,
        network,
        settings=settings,
        service_types=types,
        data_dir=data_dir,
        with_service_areas=not no_service_areas,
    )
    for path in result.write(out_dir):
        click.echo(str(path))
    report = result.report
    click.echo(
        f"{report['residences']:,} residences ({report['residences_not_located']:,} not "
        f"located, {report['residences_far_from_network']:,} far from the network); "
        f"measured: {', '.join(result.keys)}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code (see the module docstring)."""
    try:
        result = cli.main(
            args=list(argv) if argv is not None else None,
            prog_name="geo-integration",
            standalone_mode=False,
        )
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.UsageError as exc:
        exc.show()
        return EXIT_USAGE
    except click.ClickException as exc:
        exc.show()
        return EXIT_FAILURE
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return EXIT_FAILURE
    except GeoIntegrationError as exc:
        click.echo(f"error: {exc}", err=True)
        return EXIT_FAILURE
    except OSError as exc:
        click.echo(f"error: {exc}", err=True)
        return EXIT_FAILURE
    return result if isinstance(result, int) else EXIT_OK


def run() -> None:
    """Console-script entry point: exit with :func:`main`'s code."""
    sys.exit(main())
