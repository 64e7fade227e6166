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
#: The siting models (:data:`geo_integration.siting_models.MODELS`, kept here so that the
#: CLI starts without importing the solvers; a test checks they agree).
SITING_MODELS = ("mclp", "pmedian", "lscp", "pcenter", "minmax_beyond")


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


# --- demo: synthetic demo drop ---------------------------------------------------------------


@cli.group()
def demo() -> None:
    """Synthetic demo data: a drop that exercises the whole tool (clearly marked synthetic)."""


@demo.command("make")
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--residents",
    type=click.IntRange(min=1),
    default=20_000,
    show_default=True,
    help="Number of residence records (rows), malformed rows included.",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=2026,
    show_default=True,
    help="Seed: same seed and data, same files.",
)
@click.option(
    "--date",
    default="2026-11-30",
    show_default=True,
    metavar="YYYY-MM-DD",
    help="Cut-off date of the drop (drop.toml and the residences file name).",
)
@data_dir_option
@click.option("--progress", is_flag=True, help="Show the stage being worked on.")
def demo_make(
    out_dir: Path, residents: int, seed: int, date: str, data_dir: Path | None, progress: bool
) -> None:
    """Write a synthetic drop to OUT_DIR: residences sampled from the official address points,
    spread by locality from the public figures on Venezuelan migrants, with addresses typed the
    way people type them, and service points from the real layers plus simulated centres.

    OUT_DIR must be absent, empty, or hold a previous demo drop (which is replaced).
    """
    from geo_integration.demo import make_demo_drop

    if progress:
        with _stderr_console().status("demo") as status:
            drop = make_demo_drop(
                out_dir,
                residents=residents,
                seed=seed,
                data_dir=data_dir,
                date=date,
                on_stage=lambda text: status.update(text),
            )
    else:
        drop = make_demo_drop(out_dir, residents=residents, seed=seed, data_dir=data_dir, date=date)
    click.echo(
        f"{drop.path}: SYNTHETIC demo drop, {drop.residences} residences, "
        f"{drop.services} service points"
    )
    for name, rows in drop.files.items():
        click.echo(f"  {name}: {rows} rows")


# --------------------------------------------------------------------------- maps and reports


@cli.group("assets")
def assets_group() -> None:
    """Map assets (Leaflet and plugins, from the npm registry): fetch them once."""


@assets_group.command("fetch")
@click.option(
    "--dir",
    "cache_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Assets cache (default: $GEO_INTEGRATION_ASSETS, else ~/.cache/geo_integration/assets).",
)
@click.option(
    "--from",
    "source",
    default=None,
    metavar="DIR_OR_URL",
    help="A folder (or base URL) holding the package tarballs, for machines without access "
    "to the npm registry.",
)
@click.option("--force", is_flag=True, help="Download again even when present and intact.")
def assets_fetch(cache_dir: Path | None, source: str | None, force: bool) -> None:
    """Download the pinned map assets and verify their integrity (sha512)."""
    from geo_integration.assets import fetch_assets

    report = fetch_assets(cache_dir, source=source, force=force)
    click.echo(
        f"{report.directory}: {len(report.installed)} installed, "
        f"{len(report.already_present)} already present, {len(report.failed)} failed"
    )
    for name, reason in report.failed.items():
        click.echo(f"{name}: {reason}", err=True)
    if not report.ok:
        raise click.exceptions.Exit(EXIT_FAILURE)


drop_argument = click.argument("drop", type=click.Path(path_type=Path))
store_option = click.option(
    "--store",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Drop store directory (default: $GEO_INTEGRATION_STORE, else ./store).",
)


lang_option = click.option(
    "--lang",
    type=click.Choice(["es", "en"]),
    default="es",
    show_default=True,
    help="Language of the labels.",
)


def _is_analysis_folder(path: Path) -> bool:
    """A run's output folder, or an analysis folder (see geo_integration.render_inputs)."""
    from geo_integration.render_inputs import ANALYSIS_FILES

    if not path.is_dir() or (path / "manifest.json").is_file():
        return False
    names = ["run_manifest.json", "summary.json", *ANALYSIS_FILES]
    return any((path / name).is_file() for name in names)


@cli.command("map")
@drop_argument
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("maps"),
    show_default=True,
    help="Folder for the HTML maps.",
)
@lang_option
@click.option(
    "--service-type",
    "service_types",
    multiple=True,
    metavar="TYPE",
    help="Only this service type (repeatable); default: every type with results.",
)
@click.option(
    "--threshold",
    type=click.IntRange(min=1),
    default=None,
    help="Minutes of the coverage choropleth and unmet demand (default: 15 when computed).",
)
@click.option(
    "--online-basemap",
    is_flag=True,
    help="Open on the OpenStreetMap basemap (needs internet; offline it falls back to the "
    "plain background). By default the plain background is shown.",
)
@store_option
@data_dir_option
def map_command(
    drop: Path,
    out: Path,
    lang: str,
    service_types: tuple[str, ...],
    threshold: int | None,
    online_basemap: bool,
    store: Path | None,
    data_dir: Path | None,
) -> None:
    """Write the overview map and one coverage map per service type (offline HTML).

    DROP is a drop (a raw drop folder, ingested first; a drop id of the store; or
    "latest"), whose analyses are computed or taken from the cache, or the output folder of
    a `run`.
    """
    from geo_integration.maps import write_maps
    from geo_integration.render_inputs import load_analysis_dir

    if _is_analysis_folder(Path(drop)):
        inputs = load_analysis_dir(drop, data_dir=data_dir)
        paths = write_maps(
            inputs,
            out,
            lang=lang,
            service_types=list(service_types) or None,
            threshold=threshold,
            online_basemap=online_basemap,
        )
    else:
        result = _analyse(
            drop,
            out,
            outputs=("maps",),
            store=store,
            data_dir=data_dir,
            lang=lang,
            service_types=service_types,
            online_basemap=online_basemap,
        )
        paths = result.maps
    for path in paths:
        click.echo(f"{path} ({path.stat().st_size / 1e6:.2f} MB)")


@cli.command("report")
@drop_argument
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("report"),
    show_default=True,
    help="Folder for report.html and report.xlsx.",
)
@lang_option
@click.option(
    "--previous",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Output folder of the previous drop's run, for what changed since it (default: the "
    "latest earlier drop of the store that has been analysed).",
)
@store_option
@data_dir_option
def report_command(
    drop: Path,
    out: Path,
    lang: str,
    previous: Path | None,
    store: Path | None,
    data_dir: Path | None,
) -> None:
    """Write the drop's report: report.html (tables, charts) and report.xlsx.

    DROP is a drop (raw folder, drop id or "latest") or the output folder of a `run`.
    """
    from geo_integration.render_inputs import load_analysis_dir
    from geo_integration.report import write_report

    if _is_analysis_folder(Path(drop)):
        inputs = load_analysis_dir(drop, data_dir=data_dir, previous=previous)
        for path in write_report(inputs, out, lang=lang):
            click.echo(str(path))
        return
    result = _analyse(drop, out, outputs=("report",), store=store, data_dir=data_dir, lang=lang)
    for stage in result.stages:
        for rel in stage.files if stage.name == "report" else ():
            click.echo(str(result.out_dir / rel))


# --------------------------------------------------------------------------- data drops


@cli.command("ingest")
@click.argument("drop_dir", type=click.Path(path_type=Path))
@store_option
@click.option(
    "--report",
    "report_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="FILE.json",
    help="Also write the JSON ingest report (counts only) to this file.",
)
@click.option(
    "--no-geocode",
    is_flag=True,
    help="Keep rows with an address and no coordinates ungeocoded (default: geocode them offline).",
)
@data_dir_option
def ingest_command(
    drop_dir: Path,
    store: Path | None,
    report_file: Path | None,
    no_geocode: bool,
    data_dir: Path | None,
) -> None:
    """Ingest a data drop (a folder of residence and service files) into the drop store.

    Re-ingesting the same files does nothing. Files that cannot be read are reported and the
    others are still ingested; the exit code is 1 only when no file could be ingested.
    """
    import json

    from geo_integration.fileio import write_text
    from geo_integration.pipeline import open_or_ingest

    drop = open_or_ingest(drop_dir, store=store, data_dir=data_dir, geocode=not no_geocode)
    if report_file is not None:
        write_text(report_file, json.dumps(drop.report, indent=2, ensure_ascii=False) + "\n")
    _print_ingest_summary(drop.report, created=drop.created, path=drop.path)


def _print_ingest_summary(report: dict[str, Any], *, created: bool, path: Path) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"drop {report['drop_id']}", title_justify="left")
    for name, justify in (("file", "left"), ("kind", "left"), ("read", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for name in ("accepted", "quarantined", "errors"):
        table.add_column(name, justify="right" if name != "errors" else "left")
    for entry in report["files"]:
        table.add_row(
            escape(entry["path"]),  # file names are user input, never rich markup
            entry["kind"],
            f"{entry['rows_read']:,}",
            f"{entry['rows_accepted']:,}",
            f"{entry['rows_quarantined']:,}",
            "yes" if entry["errors"] else "",
        )
    Console(soft_wrap=True).print(table)
    for entry in report["files"]:
        for reason, count in entry["quarantine_reasons"].items():
            click.echo(f"{entry['path']}: {count:,} quarantined: {reason}")
        for error in entry["errors"]:
            click.echo(f"error: {error}", err=True)
    totals = report["totals"]
    state = "written to" if created else "already in the store:"
    click.echo(
        f"{totals['residences']:,} residences, {totals['services']:,} services, "
        f"{totals['quarantined']:,} quarantined rows; {state} {path}"
    )


@cli.group()
def drops() -> None:
    """Drops in the store: list them, compare two."""


@drops.command("list")
@store_option
def drops_list(store: Path | None) -> None:
    """List the drops of the store, oldest first."""
    from geo_integration.config import resolve_store_dir
    from geo_integration.store import list_drops

    table = list_drops(store)
    if table.empty:
        click.echo(f"no drops in {resolve_store_dir(store)}")
        return
    columns = ["drop_id", "date", "created", "files", "residences", "services", "quarantined"]
    click.echo(table[columns].to_string(index=False))


@drops.command("compare")
@click.argument("a")
@click.argument("b")
@store_option
def drops_compare(a: str, b: str, store: Path | None) -> None:
    """Compare drops A and B (ids, folders or 'latest'): counts per locality and service type.

    Areas with fewer migrants than the privacy threshold show '<k' instead of counts.
    """
    from geo_integration.config import Settings
    from geo_integration.store import compare_drops

    result = compare_drops(a, b, store=store)
    k = Settings().privacy_k
    base = result.by_locality
    table = base.astype(object)
    for side in ("a", "b"):
        people = base[f"people_{side}"]
        small = (people > 0) & (people < k)  # fewer than k migrants: suppressed
        for what in ("residences", "people"):
            table.loc[small, f"{what}_{side}"] = f"<{k}"
            table.loc[small, f"{what}_diff"] = ""
    click.echo(f"{result.a} -> {result.b}")
    click.echo(table.to_string())
    click.echo("")
    click.echo(result.services_by_type.to_string())
    rec = result.records
    click.echo(
        f"residence records: {rec['both']:,} in both, {rec['only_a']:,} only in {result.a}, "
        f"{rec['only_b']:,} only in {result.b}"
    )


@cli.command("access")
@click.argument("drop", type=click.Path(path_type=Path))
@store_option
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
    store: Path | None,
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

    DROP is a raw drop folder (ingested first, with offline geocoding), a drop id of the
    store or "latest". Writes aggregated tables per hexagon, UPZ and locality (small counts
    suppressed) and service areas; never a table of residences.
    """
    from geo_integration.accessibility import compute_access
    from geo_integration.config import load_settings
    from geo_integration.network import load_network
    from geo_integration.pipeline import measurable, open_or_ingest

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
    opened = open_or_ingest(drop, store=store, data_dir=data_dir)
    residences, services = measurable(opened.residences), opened.services
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


# --- whole runs ---------------------------------------------------------------------------


def _progress_printer() -> Any:
    console = _stderr_console()

    def show(stage: str, message: str) -> None:
        console.print(f"[bold]{stage}[/bold]: {message}", highlight=False)

    return show


def _analyse(
    drop: Path,
    out: Path,
    *,
    outputs: tuple[str, ...],
    store: Path | None,
    data_dir: Path | None,
    lang: str = "es",
    config_file: Path | None = None,
    service_types: tuple[str, ...] = (),
    online_basemap: bool = False,
    siting: Any = None,
    geocode: bool = True,
) -> Any:
    from geo_integration.config import load_settings
    from geo_integration.pipeline import run_drop

    settings = load_settings(config_file, lang=lang)
    return run_drop(
        drop,
        out_dir=out,
        settings=settings,
        data_dir=data_dir,
        store=store,
        siting=siting,
        online_basemap=online_basemap,
        geocode=geocode,
        progress=_progress_printer(),
        outputs=outputs,
        service_types=list(service_types) or None,
    )


config_option = click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Settings TOML file (thresholds, walking speed, H3 resolution, privacy k, ...).",
)


@cli.command("run")
@click.argument("drop_dir", type=click.Path(path_type=Path))
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder (tables, maps, report, run_manifest.json).",
)
@config_option
@lang_option
@click.option(
    "--site",
    "site_type",
    default=None,
    metavar="TYPE",
    help="Also propose new sites for this service type (see `site`).",
)
@click.option(
    "--model",
    type=click.Choice(SITING_MODELS),
    default="mclp",
    show_default=True,
    help="Siting model (with --site).",
)
@click.option(
    "--p",
    "p",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="New sites to choose (with --site).",
)
@click.option(
    "--threshold",
    type=click.FloatRange(min=1),
    default=15.0,
    show_default=True,
    help="Minutes that count as served (with --site).",
)
@click.option(
    "--candidates",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Candidate sites file (with --site).",
)
@click.option("--online-basemap", is_flag=True, help="Maps open on the online basemap.")
@click.option("--no-geocode", is_flag=True, help="Do not geocode addresses on ingest.")
@store_option
@data_dir_option
def run_command(
    drop_dir: Path,
    out_dir: Path,
    config_file: Path | None,
    lang: str,
    site_type: str | None,
    model: str,
    p: int,
    threshold: float,
    candidates: str | None,
    online_basemap: bool,
    no_geocode: bool,
    store: Path | None,
    data_dir: Path | None,
) -> None:
    """Run a data drop end to end: ingest, geocoding, areas, access, gaps, (siting), maps,
    report, and the privacy check of every output.

    Stages reuse cached results when their inputs are unchanged, so a re-run recomputes only
    what changed. Exit code 1 if the drop cannot be used or the privacy check fails.
    """
    from geo_integration.pipeline import OUTPUTS, SitingOptions

    siting = None
    if site_type is not None:
        siting = SitingOptions(
            site_type, model=model, p=p, threshold_min=threshold, candidates=candidates
        )
    result = _analyse(
        drop_dir,
        out_dir,
        outputs=OUTPUTS,
        store=store,
        data_dir=data_dir,
        lang=lang,
        config_file=config_file,
        online_basemap=online_basemap,
        siting=siting,
        geocode=not no_geocode,
    )
    total = sum(stage.seconds for stage in result.stages)
    reused = [stage.name for stage in result.stages if stage.cached]
    click.echo(
        f"drop {result.drop_id}: done in {total:.1f} s"
        + (f" (reused: {', '.join(reused)})" if reused else "")
    )
    for path in result.maps[:1]:
        click.echo(f"open the map: {path}")
    click.echo(f"manifest: {result.manifest_path}")


@cli.command("gaps")
@drop_argument
@click.option(
    "--service-type",
    "service_types",
    multiple=True,
    metavar="TYPE",
    help="Only this service type (repeatable); default: every type.",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the layers (GeoParquet and CSV).",
)
@config_option
@store_option
@data_dir_option
def gaps_command(
    drop: Path,
    service_types: tuple[str, ...],
    out_dir: Path,
    config_file: Path | None,
    store: Path | None,
    data_dir: Path | None,
) -> None:
    """Clusters of residence, hot spots of unmet demand (Gi*, local Moran), rankings of
    localities and UPZ, and candidate areas for new services.

    DROP is a raw drop folder, a drop id of the store or "latest".
    """
    result = _analyse(
        drop,
        out_dir,
        outputs=("gaps",),
        store=store,
        data_dir=data_dir,
        config_file=config_file,
        service_types=service_types,
    )
    stage = next(s for s in result.stages if s.name == "gaps")
    for rel in stage.files:
        click.echo(str(result.out_dir / rel))


@cli.command("site")
@drop_argument
@click.option(
    "--service-type",
    "service_type",
    required=True,
    metavar="TYPE",
    help="Service type to site (e.g. health).",
)
@click.option(
    "--model",
    type=click.Choice(SITING_MODELS),
    default="mclp",
    show_default=True,
    help="mclp: most migrants within the threshold; pmedian: least total walking; "
    "lscp: fewest sites to reach every migrant; pcenter / minmax_beyond: equity.",
)
@click.option(
    "--p",
    "p",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="New sites to choose (not used by lscp).",
)
@click.option(
    "--threshold",
    type=click.FloatRange(min=1),
    default=15.0,
    show_default=True,
    help="Walking minutes that count as served.",
)
@click.option(
    "--candidates",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Candidate sites (CSV with lat/lon, GeoJSON, GeoPackage, Parquet); default: "
    "the gaps analysis' candidate areas and street nodes in under-served hexagons.",
)
@click.option(
    "--capacity",
    is_flag=True,
    help="A new site serves at most the median capacity of existing ones (mclp).",
)
@click.option(
    "--replicates",
    type=click.IntRange(min=0),
    default=20,
    show_default=True,
    help="Robustness re-solves (bootstrap + geocoding jitter); 0 to skip.",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for sites.geojson/csv, coverage_by_locality.csv, summary.json.",
)
@config_option
@store_option
@data_dir_option
def site_command(
    drop: Path,
    service_type: str,
    model: str,
    p: int,
    threshold: float,
    candidates: str | None,
    capacity: bool,
    replicates: int,
    out_dir: Path,
    config_file: Path | None,
    store: Path | None,
    data_dir: Path | None,
) -> None:
    """Propose where new service points should go (location-allocation on the street
    network), ranked by what each adds, with how often each is chosen under resampled
    demand."""
    import json

    from geo_integration.pipeline import SitingOptions

    siting = SitingOptions(
        service_type,
        model=model,
        p=p,
        threshold_min=threshold,
        candidates=candidates,
        capacity=capacity,
        replicates=replicates,
    )
    result = _analyse(
        drop,
        out_dir,
        outputs=("siting",),
        store=store,
        data_dir=data_dir,
        config_file=config_file,
        siting=siting,
    )
    summary = json.loads((result.out_dir / "siting" / "summary.json").read_text("utf-8"))
    click.echo(
        f"{summary['model']}: {summary.get('n_sites')} site(s), status {summary['status']}, "
        f"objective {summary['objective']:,.1f} {summary.get('objective_unit', '')}"
    )
    for rel in next(s for s in result.stages if s.name == "siting").files:
        click.echo(str(result.out_dir / rel))


@cli.command("privacy-check")
@click.argument("out_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--drop",
    "drop",
    required=True,
    type=click.Path(path_type=Path),
    help="The drop the outputs came from: its raw folder (best: ids and personal "
    "fields as typed are checked too), or a drop id of the store.",
)
@store_option
@data_dir_option
def privacy_check_command(
    out_dir: Path, drop: Path, store: Path | None, data_dir: Path | None
) -> None:
    """Scan every output file for residence coordinates (to 4 decimals), addresses, ids and
    personal fields of the drop. Exit code 1 if anything is found."""
    from geo_integration.pipeline import privacy_check

    leaks = privacy_check(out_dir, drop=drop, store=store, data_dir=data_dir)
    for leak in leaks:
        click.echo(f"{out_dir / leak.path}: {leak.kind}: {leak.detail}", err=True)
    if leaks:
        click.echo(f"privacy check FAILED: {len(leaks)} finding(s)", err=True)
        raise click.exceptions.Exit(EXIT_FAILURE)
    click.echo(f"privacy check passed: {out_dir}")


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
