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


# --- geocode ------------------------------------------------------------------------------


@cli.command("geocode")
@click.argument("input_file", metavar="INPUT", type=click.Path(path_type=Path))
@click.option("--address-col", required=True, help="Column holding the addresses.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Output file (default: INPUT_geocoded.csv next to INPUT). CSV unless the extension "
    "is .parquet, .geojson or .xlsx.",
)
@click.option("--barrio-col", default=None, help="Barrio column (area level fallback).")
@click.option("--upz-col", default=None, help="UPZ column (area level fallback).")
@click.option("--localidad-col", default=None, help="Locality column (area level fallback).")
@click.option(
    "--cache",
    "cache_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="SQLite result cache (default: geocode_cache.sqlite in the cache directory, "
    "$GEO_INTEGRATION_CACHE or ~/.cache/geo_integration).",
)
@click.option("--no-cache", is_flag=True, help="Do not read or write the result cache.")
@click.option(
    "--online",
    is_flag=True,
    help="Also ask Nominatim (OpenStreetMap) for addresses no offline level placed. This "
    "SENDS THOSE ADDRESSES OUT of the machine: only with permission. Off by default.",
)
@data_dir_option
def geocode_command(
    input_file: Path,
    address_col: str,
    out: Path | None,
    barrio_col: str | None,
    upz_col: str | None,
    localidad_col: str | None,
    cache_path: Path | None,
    no_cache: bool,
    online: bool,
    data_dir: Path | None,
) -> None:
    """Geocode the Bogotá addresses of INPUT offline (CSV, XLSX, GeoJSON or Parquet).

    Writes the input columns plus lat, lon, match_level (exact, interpolated,
    intersection, grid, area, none), confidence, matched_address and match_reason.

    WARNING: the output holds addresses and coordinates of individual records. It is an
    input-side working file, as sensitive as the data drop: keep it with the drop, never
    publish or share it. The result cache holds addresses too.
    """
    from rich.progress import Progress

    from geo_integration.errors import MissingColumnError
    from geo_integration.geocode_index import default_cache_dir, load_index
    from geo_integration.geocode_io import read_table, write_table
    from geo_integration.geocoder import geocode_addresses

    table = read_table(input_file)
    for column in (address_col, barrio_col, upz_col, localidad_col):
        if column is not None and column not in table.columns:
            msg = f"no column {column!r}; columns: {[str(c) for c in table.columns]!r}"
            raise MissingColumnError(msg, path=input_file, column=column)
    target = out or input_file.with_name(f"{input_file.stem}_geocoded.csv")
    cache = None if no_cache else (cache_path or default_cache_dir() / "geocode_cache.sqlite")
    engine = None
    if online:
        from geo_integration.geocode_online import OnlineGeocoder

        engine = OnlineGeocoder()
    index = load_index(data_dir)
    with Progress(console=_stderr_console(), transient=True) as bar:
        task = bar.add_task("parsing addresses", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        result = geocode_addresses(
            table,
            address_col=address_col,
            barrio_col=barrio_col,
            upz_col=upz_col,
            localidad_col=localidad_col,
            index=index,
            cache=cache,
            online=engine,
            progress=progress,
        )
    write_table(result, target)
    counts = result["match_level"].value_counts()
    summary = ", ".join(f"{level} {int(n)}" for level, n in counts.items())
    click.echo(f"{target}: {len(result)} rows geocoded ({summary})")


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
