"""The ``run`` command: one data drop, from its files to maps and reports.

Stages, in order: ``ingest`` (with offline geocoding and area assignment), ``access``
(walking times, coverage, E2SFCA), ``gaps`` (clusters, hot spots, rankings), ``siting``
(optional), ``maps``, ``report`` and ``privacy`` (the privacy check of everything written).
A run writes, under ``OUT_DIR``::

    access/    aggregated accessibility tables (GeoParquet + CSV), service areas
    gaps/      clusters, hexagons with hot-spot classes, rankings, candidate areas
    siting/    chosen sites, coverage before/after, summary (when siting is asked)
    maps/      overview.html and coverage_<type>.html
    report/    report.html and report.xlsx
    run_manifest.json

Caching. Each stage has a key: a hash of what it depends on (the drop's content hash, the
settings it reads, the reference files, the code version and the keys of the stages before
it). Intermediate results (which hold residence-level rows) are cached inside the drop's
folder in the store, never in ``OUT_DIR``. A stage whose key is unchanged and whose outputs
are intact (same SHA-256 as recorded) is skipped, so an unchanged re-run recomputes nothing
and leaves every output byte-identical.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from geo_integration import __version__
from geo_integration.config import Settings, resolve_data_dir
from geo_integration.errors import AnalysisError, ConfigError, PrivacyError
from geo_integration.fileio import atomic_path, sha256_file, write_text

__all__ = [
    "OUTPUTS",
    "RunResult",
    "SitingOptions",
    "StageRecord",
    "measurable",
    "open_or_ingest",
    "privacy_check",
    "run_drop",
]

log = logging.getLogger(__name__)

STAGES = ("ingest", "access", "gaps", "siting", "maps", "report", "privacy")
#: What a run can write; the default writes all (siting only when asked).
OUTPUTS = ("access", "gaps", "siting", "maps", "report")
MANIFEST = "run_manifest.json"
STAGE_FILE = ".stage.json"

Progress = Callable[[str, str], None]  # (stage, message)


@dataclass(frozen=True)
class SitingOptions:
    """What the optional siting stage solves (see :func:`geo_integration.siting.site`)."""

    service_type: str
    model: str = "mclp"
    p: int = 5
    threshold_min: float = 15.0
    candidates: str | None = None
    capacity: bool = False
    replicates: int = 20


@dataclass
class StageRecord:
    """One stage of a run: its key, time, whether it was reused, counts and files."""

    name: str
    key: str
    seconds: float = 0.0
    cached: bool = False
    counts_in: dict[str, int] = field(default_factory=dict)
    counts_out: dict[str, int] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # relative path -> sha256


@dataclass
class RunResult:
    """Result of :func:`run_drop`."""

    drop_id: str
    out_dir: Path
    stages: list[StageRecord]
    manifest_path: Path

    @property
    def maps(self) -> list[Path]:
        """The HTML maps written (overview first)."""
        stage = next((s for s in self.stages if s.name == "maps"), None)
        if stage is None:
            return []
        paths = [self.out_dir / p for p in stage.files if p.endswith(".html")]
        return sorted(paths, key=lambda p: (p.name != "overview.html", p.name))


# ----------------------------------------------------------------------------- keys


def _code_version() -> str:
    digest = hashlib.sha256(__version__.encode())
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _key(*parts: Any) -> str:
    text = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _reference_fingerprint(data_dir: Path) -> str:
    from geo_integration.datadir import PATHS

    stats = []
    for rel in sorted(PATHS.values()):
        path = data_dir / rel
        if path.is_file():
            st = path.stat()
            stats.append((rel, st.st_size, st.st_mtime_ns))
    return _key(stats)


# ---------------------------------------------------------------------------- outputs


def _hash_files(out_dir: Path, files: list[Path]) -> dict[str, str]:
    return {p.relative_to(out_dir).as_posix(): sha256_file(p) for p in sorted(files)}


def _outputs_intact(out_dir: Path, stage_dir: Path, key: str) -> dict[str, str] | None:
    record = stage_dir / STAGE_FILE
    if not record.is_file():
        return None
    try:
        saved = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if saved.get("key") != key:
        return None
    files: dict[str, str] = saved.get("files", {})
    for rel, digest in files.items():
        path = out_dir / rel
        if not path.is_file() or sha256_file(path) != digest:
            return None
    return files


def _record_outputs(out_dir: Path, stage_dir: Path, key: str, files: list[Path]) -> dict[str, str]:
    hashed = _hash_files(out_dir, files)
    write_text(stage_dir / STAGE_FILE, json.dumps({"key": key, "files": hashed}, indent=1))
    return hashed


def _clear_stale(stage_dir: Path, keep: list[Path]) -> None:
    """Remove files of an earlier run that this run did not write (e.g. a dropped type)."""
    kept = {p.resolve() for p in keep}
    for path in stage_dir.glob("*"):
        if path.is_file() and path.name != STAGE_FILE and path.resolve() not in kept:
            path.unlink()


# ----------------------------------------------------------------------------- cache


def _cache_dir(drop_path: Path, stage: str, key: str) -> Path:
    return drop_path / "cache" / f"{stage}-{key}"


def _save_frames(directory: Path, frames: dict[str, pd.DataFrame], meta: dict[str, Any]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        with atomic_path(directory / f"{name}.parquet") as tmp:
            frame.to_parquet(tmp)
    write_text(directory / "meta.json", json.dumps(meta, default=str, ensure_ascii=False))


def _load_frames(directory: Path, names: list[str]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    import geopandas as gpd

    meta_path = directory / "meta.json"
    if not meta_path.is_file():
        return None
    frames: dict[str, Any] = {}
    for name in names:
        path = directory / f"{name}.parquet"
        if not path.is_file():
            return None
        try:
            frames[name] = gpd.read_parquet(path)
        except ValueError:
            frames[name] = pd.read_parquet(path)
    return frames, json.loads(meta_path.read_text(encoding="utf-8"))


def _save_pickle(directory: Path, value: Any) -> None:
    import pickle

    directory.mkdir(parents=True, exist_ok=True)
    with atomic_path(directory / "result.pickle") as tmp:
        tmp.write_bytes(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))


def _load_pickle(directory: Path) -> Any:
    """A cached result written by this package into the drop's own cache (trusted input)."""
    import pickle

    path = directory / "result.pickle"
    if not path.is_file():
        return None
    try:
        return pickle.loads(path.read_bytes())
    except (OSError, pickle.UnpicklingError, AttributeError, EOFError):
        return None


# ----------------------------------------------------------------------------- run


@dataclass
class _Run:
    out_dir: Path
    settings: Settings
    data_dir: Path
    store: Path | None
    code: str
    reference: str
    progress: Progress | None
    drop_dir: Path | None = None
    outputs: frozenset[str] = frozenset(OUTPUTS)
    service_types: tuple[str, ...] | None = None
    stages: list[StageRecord] = field(default_factory=list)

    def say(self, stage: str, message: str) -> None:
        log.info("%s: %s", stage, message)
        if self.progress is not None:
            self.progress(stage, message)

    def timed(self, record: StageRecord) -> _Timer:
        self.stages.append(record)
        return _Timer(record)


class _Timer:
    def __init__(self, record: StageRecord) -> None:
        self.record = record

    def __enter__(self) -> StageRecord:
        self._t0 = time.perf_counter()
        return self.record

    def __exit__(self, *exc: object) -> None:
        self.record.seconds = round(time.perf_counter() - self._t0, 3)


def run_drop(
    drop_dir: str | os.PathLike[str],
    *,
    out_dir: str | os.PathLike[str],
    settings: Settings | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    store: str | os.PathLike[str] | None = None,
    siting: SitingOptions | None = None,
    online_basemap: bool = False,
    geocode: bool = True,
    progress: Progress | None = None,
    outputs: Collection[str] = OUTPUTS,
    service_types: Sequence[str] | None = None,
) -> RunResult:
    """Run every stage on one drop and write maps, reports and tables to ``out_dir``.

    Parameters
    ----------
    drop_dir
        A raw drop folder (ingested into the store, idempotently) or a store reference.
    out_dir
        Where outputs go. Nothing in it reveals an individual residence: the run ends with
        the privacy check and fails if it finds anything.
    settings
        Thresholds, speed, H3 resolution, privacy k, language (default :class:`Settings`).
    data_dir, store
        Reference data directory and drop store (defaults as documented in ``config``).
    siting
        Solve a location-allocation problem too (None: no siting stage).
    online_basemap
        Make the OpenStreetMap basemap the default layer of the maps (needs internet).
    geocode
        Geocode rows with an address and no coordinates during ingest (offline).
    progress
        Called with (stage, message) as the run advances.
    outputs
        Which results to write (subset of :data:`OUTPUTS`). Stages needed by them still run
        (from the cache when possible); the privacy check always runs on what is written.
    service_types
        Measure only these service types (default: every type of the drop).

    Raises
    ------
    PrivacyError
        If the privacy check finds residence data in the outputs (they are left in place
        for inspection, and the manifest records the failure).
    """
    cfg = settings or Settings()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = resolve_data_dir(data_dir)
    unknown = sorted(set(outputs) - set(OUTPUTS))
    if unknown:
        msg = f"unknown output(s) {unknown!r}; expected some of {list(OUTPUTS)!r}"
        raise ConfigError(msg)
    run = _Run(
        out,
        cfg,
        data,
        None if store is None else Path(store),
        _code_version(),
        _reference_fingerprint(data),
        progress,
    )
    started = time.time()
    raw_dir = Path(drop_dir)
    if raw_dir.is_dir() and not (raw_dir / "manifest.json").is_file():
        run.drop_dir = raw_dir
    run.outputs = frozenset(outputs)
    run.service_types = None if service_types is None else tuple(service_types)
    drop = _stage_ingest(run, drop_dir, geocode=geocode)
    _require_located(drop)
    access = _stage_access(run, drop)
    wanted = run.outputs & {"gaps", "maps", "report"} or siting is not None
    gaps = _stage_gaps(run, drop, access) if wanted else None
    sites = _stage_siting(run, drop, access, gaps, siting)
    if "maps" in run.outputs:
        _stage_maps(run, drop, access, gaps, sites, online_basemap=online_basemap)
    if "report" in run.outputs:
        _stage_report(run, drop, access, gaps, sites)
    leaks = _stage_privacy(run, drop, sites)
    manifest = _write_manifest(run, drop, started, siting, leaks)
    if leaks:
        msg = f"privacy check failed: {len(leaks)} finding(s) in {str(out)!r}; see {manifest}"
        raise PrivacyError(msg)
    return RunResult(drop.drop_id, out, run.stages, manifest)


# ---------------------------------------------------------------------------- stages


def _require_located(drop: Any) -> None:
    """A drop must hold residences with a location to be analysed."""
    residences = measurable(drop.residences)
    located = residences.geometry.notna() & ~residences.geometry.is_empty
    if len(residences) == 0:
        msg = f"drop {drop.drop_id} has no residence records: nothing to analyse"
        raise AnalysisError(msg)
    if not located.any():
        msg = (
            f"none of the {len(residences):,} residences of drop {drop.drop_id} has a "
            "location: give coordinates, or addresses with the reference data for geocoding"
        )
        raise AnalysisError(msg)


def open_or_ingest(
    ref: str | os.PathLike[str],
    *,
    store: str | os.PathLike[str] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    geocode: bool = True,
) -> Any:
    """Return the drop ``ref`` names: a raw drop folder is ingested (idempotently, geocoding
    rows with an address and no coordinates offline); a drop id, a drop folder of the store
    or ``"latest"`` is opened."""
    from geo_integration.config import resolve_store_dir
    from geo_integration.geocoder import make_geocoder
    from geo_integration.ingest import ingest_drop
    from geo_integration.store import open_drop

    path = Path(ref)
    if path.is_dir() and not (path / "manifest.json").is_file():
        geocoder = None
        if geocode and _can_geocode(resolve_data_dir(data_dir)):
            cache = resolve_store_dir(store) / "geocode_cache.sqlite"
            geocoder = make_geocoder(data_dir=data_dir, cache=cache)
        return ingest_drop(path, store=store, data_dir=data_dir, geocoder=geocoder)
    return open_drop(ref, store=store)


def _can_geocode(data_dir: Path) -> bool:
    from geo_integration.datadir import PATHS

    missing = [PATHS[k] for k in ("addresses", "streets") if not (data_dir / PATHS[k]).is_file()]
    if missing:
        log.warning(
            "no geocoding: %s missing in %s (run `geo-integration data fetch`); rows with an "
            "address and no coordinates wait for geocoding",
            ", ".join(missing),
            data_dir,
        )
    return not missing


def _stage_ingest(run: _Run, drop_dir: str | os.PathLike[str], *, geocode: bool) -> Any:
    record = StageRecord("ingest", "")
    with run.timed(record):
        drop = open_or_ingest(drop_dir, store=run.store, data_dir=run.data_dir, geocode=geocode)
        record.key = drop.digest[:20]
        record.cached = not drop.created
        totals = drop.manifest.get("totals", {})
        record.counts_in = {"rows_read": int(totals.get("rows_read", 0))}
        record.counts_out = {
            "residences": int(totals.get("residences", 0)),
            "services": int(totals.get("services", 0)),
            "quarantined": int(totals.get("quarantined", 0)),
        }
    run.say("ingest", f"drop {drop.drop_id} ({'reused' if record.cached else 'ingested'})")
    return drop


@dataclass
class _Access:
    key: str
    residences: pd.DataFrame
    hexagons: Any
    upz: Any
    localities: Any
    service_areas: Any
    report: dict[str, Any]
    keys: dict[str, str]


_ACCESS_TABLES = ["residences", "hexagons", "upz", "localities", "service_areas"]


def _stage_access(run: _Run, drop: Any) -> _Access:
    from geo_integration.accessibility import AccessResult, compute_access
    from geo_integration.network import load_network

    cfg = run.settings
    key = _key("access", drop.digest, cfg.to_dict(), run.service_types, run.reference, run.code)
    record = StageRecord("access", key)
    stage_dir = run.out_dir / "access"
    with run.timed(record):
        cache = _cache_dir(drop.path, "access", key)
        loaded = _load_frames(cache, _ACCESS_TABLES)
        if loaded is None:
            residences = measurable(drop.residences)
            network = load_network(run.data_dir, speed_kmh=cfg.walking_speed_kmh)
            result = compute_access(
                residences,
                drop.services,
                network,
                settings=cfg,
                data_dir=run.data_dir,
                service_types=run.service_types,
                catchment_min=cfg.catchment_min,
                decay=cfg.decay,
            )
            per_res = result.residences
            frames = {
                "residences": per_res,
                "hexagons": result.hexagons,
                "upz": result.upz,
                "localities": result.localities,
                "service_areas": result.service_areas,
            }
            meta = {"report": result.report, "keys": result.keys}
            _save_frames(cache, frames, meta)
        else:
            frames, meta = loaded
            record.cached = True
        access = _Access(
            key,
            frames["residences"],
            frames["hexagons"],
            frames["upz"],
            frames["localities"],
            frames["service_areas"],
            meta["report"],
            meta["keys"],
        )
        files = _outputs_intact(run.out_dir, stage_dir, key) if "access" in run.outputs else {}
        if files is None:
            result = AccessResult(
                residences=access.residences,
                hexagons=access.hexagons,
                upz=access.upz,
                localities=access.localities,
                service_areas=access.service_areas,
                keys=meta["keys"],
                thresholds=cfg.thresholds_min,
                report=access.report,
                privacy_k=cfg.privacy_k,
            )
            written = [*result.write(stage_dir), _write_services(drop, stage_dir)]
            _clear_stale(stage_dir, written)
            files = _record_outputs(run.out_dir, stage_dir, key, written)
        record.files = files
        record.counts_in = {"residences": len(access.residences)}
        record.counts_out = {
            "hexagons": len(access.hexagons),
            "upz": len(access.upz),
            "localities": len(access.localities),
        }
    run.say("access", f"{len(access.hexagons):,} hexagons measured")
    return access


def measurable(residences: Any) -> Any:
    """Residences as measured: those placed only at an area's centre (geocoding level
    ``area``) keep their locality/UPZ but are not located for walking times."""
    if "match_level" not in residences.columns:
        return residences
    area = (residences["match_level"] == "area").to_numpy()
    if area.any():
        residences = residences.copy()
        residences.loc[area, "geometry"] = None
        residences.loc[area, ["lon", "lat"]] = float("nan")
        log.info("%d residences placed only at an area centre: not measured", int(area.sum()))
    return residences


_GAPS_TABLES = [
    "clusters",
    "hexagons",
    "rank_localities",
    "rank_upz",
    "candidate_areas",
    "residence_cluster",
]


_PUBLIC_SERVICE_COLUMNS = [
    "service_id",
    "name",
    "secretariat",
    "service_type",
    "capacity",
    "hours",
    "address",
    "geometry",
]


def _write_services(drop: Any, stage_dir: Path) -> Path:
    """The drop's service points (public places), for maps drawn again from the run folder."""
    services = drop.services
    cols = [c for c in _PUBLIC_SERVICE_COLUMNS if c in services.columns]
    path = stage_dir / "services.parquet"
    with atomic_path(path) as tmp:
        services[cols].to_parquet(tmp)
    return path


def _stage_gaps(run: _Run, drop: Any, access: _Access) -> Any:
    from geo_integration.gaps import GapsResult, find_gaps

    cfg = run.settings
    key = _key("gaps", access.key, run.code)
    record = StageRecord("gaps", key)
    stage_dir = run.out_dir / "gaps"
    with run.timed(record):
        located = access.residences[access.residences["located"].astype(bool)]
        cache = _cache_dir(drop.path, "gaps", key)
        loaded = _load_frames(cache, _GAPS_TABLES)
        if loaded is None:
            types = [k for k, group in access.keys.items() if group == "service_type"]
            result = find_gaps(
                located, access.hexagons.reset_index(), settings=cfg, service_types=types
            )
            frames = {name: getattr(result, name) for name in _GAPS_TABLES}
            frames["residence_cluster"] = result.residence_cluster.to_frame("cluster")
            _save_frames(cache, frames, {"parameters": result.parameters})
        else:
            frames, meta = loaded
            record.cached = True
            result = GapsResult(
                clusters=frames["clusters"],
                hexagons=frames["hexagons"],
                rank_localities=frames["rank_localities"],
                rank_upz=frames["rank_upz"],
                candidate_areas=frames["candidate_areas"],
                residence_cluster=frames["residence_cluster"]["cluster"],
                parameters=meta["parameters"],
            )
        files = _outputs_intact(run.out_dir, stage_dir, key) if "gaps" in run.outputs else {}
        if files is None:
            written = list(result.write(stage_dir).values())
            _clear_stale(stage_dir, written)
            files = _record_outputs(run.out_dir, stage_dir, key, written)
        record.files = files
        record.counts_in = {"residences": len(located), "hexagons": len(access.hexagons)}
        record.counts_out = {
            "clusters": len(result.clusters),
            "candidate_areas": len(result.candidate_areas),
        }
    run.say("gaps", f"{len(result.clusters)} clusters, {len(result.candidate_areas)} candidates")
    return result


def _stage_siting(
    run: _Run, drop: Any, access: _Access, gaps: Any, options: SitingOptions | None
) -> Any:
    if options is None:
        return None

    cfg = run.settings
    candidates_hash = None
    if options.candidates is not None:
        candidates_hash = sha256_file(options.candidates)
    key = _key("siting", access.key, options.__dict__, candidates_hash, run.code)
    record = StageRecord("siting", key)
    stage_dir = run.out_dir / "siting"
    with run.timed(record):
        cached = _load_pickle(_cache_dir(drop.path, "siting", key))
        if cached is not None:
            result = cached
        else:
            result = _site(run, drop, access, gaps, options)
            _save_pickle(_cache_dir(drop.path, "siting", key), result)
        files = _outputs_intact(run.out_dir, stage_dir, key)
        if files is None:
            written = list(result.write(stage_dir, privacy_k=cfg.privacy_k).values())
            _clear_stale(stage_dir, written)
            files = _record_outputs(run.out_dir, stage_dir, key, written)
        record.cached = cached is not None
        record.files = files
        record.counts_out = {"sites": len(result.sites)}
    run.say("siting", f"{len(result.sites)} sites ({result.summary.get('status')})")
    return result


def _site(run: _Run, drop: Any, access: _Access, gaps: Any, options: SitingOptions) -> Any:
    from geo_integration.network import load_network
    from geo_integration.siting_network import site

    cfg = run.settings
    network = load_network(run.data_dir, speed_kmh=cfg.walking_speed_kmh)
    return site(
        measurable(drop.residences),
        drop.services,
        access.hexagons,
        network,
        service_type=options.service_type,
        model=options.model,
        p=options.p,
        threshold_min=options.threshold_min,
        candidates=options.candidates,
        candidate_areas=None if gaps is None else gaps.candidate_areas,
        capacity=options.capacity,
        replicates=options.replicates,
        settings=cfg,
    )


def _stage_maps(
    run: _Run, drop: Any, access: _Access, gaps: Any, sites: Any, *, online_basemap: bool
) -> None:
    from geo_integration.maps import write_maps

    cfg = run.settings
    key = _key(
        "maps",
        access.key,
        None if gaps is None else "gaps",
        None if sites is None else run.stages[-1].key,
        cfg.lang,
        online_basemap,
        run.code,
    )
    record = StageRecord("maps", key)
    stage_dir = run.out_dir / "maps"
    with run.timed(record):
        files = _outputs_intact(run.out_dir, stage_dir, key)
        if files is None:
            inputs = _map_inputs(run, drop, access, gaps, sites)
            written = write_maps(inputs, stage_dir, lang=cfg.lang, online_basemap=online_basemap)
            _clear_stale(stage_dir, written)
            files = _record_outputs(run.out_dir, stage_dir, key, written)
        else:
            record.cached = True
        record.files = files
        record.counts_out = {"maps": len(files)}
    run.say("maps", f"{len(files)} maps")


def _stage_report(run: _Run, drop: Any, access: _Access, gaps: Any, sites: Any) -> None:
    from geo_integration.report import write_report

    cfg = run.settings
    previous = _previous_drop(run, drop)
    key = _key(
        "report",
        access.key,
        cfg.lang,
        None if previous is None else previous[0],
        None if sites is None else "sites",
        run.code,
    )
    record = StageRecord("report", key)
    stage_dir = run.out_dir / "report"
    with run.timed(record):
        files = _outputs_intact(run.out_dir, stage_dir, key)
        if files is None:
            inputs = _report_inputs(run, drop, access, gaps, sites, previous)
            written = write_report(inputs, stage_dir, lang=cfg.lang)
            for name, data in (
                ("ingest_report.json", inputs.ingest_report),
                ("geocoding.json", inputs.geocoding),
            ):
                text = json.dumps(data, indent=1, ensure_ascii=False, default=str)
                written.append(write_text(stage_dir / name, text + "\n"))
            _clear_stale(stage_dir, written)
            files = _record_outputs(run.out_dir, stage_dir, key, written)
        else:
            record.cached = True
        record.files = files
    run.say("report", "report.html and report.xlsx")


def _stage_privacy(run: _Run, drop: Any, sites: Any) -> list[Any]:
    from geo_integration.privacy_check import scan_outputs

    outputs = {rel: digest for s in run.stages for rel, digest in s.files.items()}
    key = _key("privacy", drop.digest, outputs, run.code)
    record = StageRecord("privacy", key)
    stage_dir = run.out_dir / ".privacy"
    with run.timed(record):
        done = stage_dir / f"{key}.ok"
        if done.is_file():
            record.cached = True
            leaks: list[Any] = []
        else:
            needles = _needles(run, drop, sites)
            leaks = scan_outputs(run.out_dir, needles, skip=(MANIFEST, ".privacy"))
            if not leaks:
                for old in stage_dir.glob("*.ok"):
                    old.unlink()
                write_text(done, "clean\n")
        record.counts_in = {"files": len(outputs)}
        record.counts_out = {"findings": len(leaks)}
    run.say("privacy", "clean" if not leaks else f"{len(leaks)} finding(s)")
    return leaks


def _needles(run: _Run, drop: Any, sites: Any) -> Any:
    from geo_integration import loaders
    from geo_integration.privacy_check import (
        drop_needles,
        raw_residence_values,
        reference_vertices,
    )

    raw = raw_residence_values(run.drop_dir) if run.drop_dir is not None else None
    services = drop.services
    allowed = list(zip(services["lat"], services["lon"], strict=True))
    if sites is not None:
        frame = sites.sites
        allowed += list(zip(frame["lat"], frame["lon"], strict=True))
    vertices = reference_vertices(
        loaders.load_localities(run.data_dir), loaders.load_upz(run.data_dir)
    )
    return drop_needles(
        drop.residences,
        raw=raw,
        allowed_points=allowed,
        allowed_vertices=[tuple(v) for v in vertices],
        public_addresses=services["address"].dropna().astype(str).tolist(),
    )


# ---------------------------------------------------------------------------- render inputs


def _published_hexagons(table: pd.DataFrame, k: int) -> pd.DataFrame:
    """Hexagons as published: cells with fewer than k migrants are left out entirely
    (a blank cell would still say that a few migrants live in 0.1 km²)."""
    migrants = pd.to_numeric(table["migrants"], errors="coerce").fillna(0)
    return table[migrants >= k]


def _map_inputs(run: _Run, drop: Any, access: _Access, gaps: Any, sites: Any) -> Any:
    from geo_integration import loaders
    from geo_integration.privacy import suppress_small_counts
    from geo_integration.render_inputs import MapInputs

    k = run.settings.privacy_k
    published = gaps.published() if gaps is not None else {}
    hexes = _published_hexagons(access.hexagons.reset_index(), k)
    areas = access.service_areas
    if "key" in areas.columns:
        areas = areas[areas["group"] == "service_type"].rename(columns={"key": "service_type"})
    return MapInputs(
        localities=loaders.load_localities(run.data_dir),
        upz=loaders.load_upz(run.data_dir),
        locality_access=suppress_small_counts(access.localities.reset_index(), k=k),
        upz_access=suppress_small_counts(access.upz.reset_index(), k=k),
        hex_access=suppress_small_counts(hexes, k=k),
        service_areas=areas,
        services=drop.services,
        gap_hexagons=_published_hexagons(published["gap_hexagons"], k) if published else None,
        clusters=published.get("clusters"),
        rank_localities=published.get("rank_localities"),
        rank_upz=published.get("rank_upz"),
        sites=None if sites is None else _sites_frame(sites, run.settings.privacy_k),
        siting_summary=None if sites is None else sites.summary,
        drop_id=drop.drop_id,
        drop_date=drop.date.isoformat(),
        privacy_k=k,
        h3_resolution=run.settings.h3_resolution,
        thresholds=tuple(int(t) for t in run.settings.thresholds_min),
    )


def _sites_frame(result: Any, k: int) -> Any:
    """The chosen sites as points for the maps (figures of small sites blanked)."""
    import geopandas as gpd

    from geo_integration.siting import _suppress_sites

    table = _suppress_sites(result.sites, k)
    table = table.assign(service_type=result.summary.get("service_type"))
    points = gpd.points_from_xy(table["lon"], table["lat"], crs="EPSG:4326")
    return gpd.GeoDataFrame(table, geometry=points, crs="EPSG:4326")


def _report_inputs(
    run: _Run,
    drop: Any,
    access: _Access,
    gaps: Any,
    sites: Any,
    previous: tuple[str, pd.DataFrame, str] | None,
) -> Any:
    from geo_integration.render_inputs import ReportInputs

    base = _map_inputs(run, drop, access, gaps, sites)
    fields = {name: getattr(base, name) for name in base.__dataclass_fields__}
    return ReportInputs(
        **fields,
        ingest_report=drop.report,
        geocoding=_geocoding_summary(drop),
        previous_localities=None if previous is None else previous[1],
        previous_drop_date=previous[2] if previous else "",
    )


def _geocoding_summary(drop: Any) -> dict[str, Any]:
    residences = drop.residences
    if "match_level" not in residences.columns:
        return {"match_level": {}}
    counts = residences["match_level"].fillna("input").value_counts()
    return {"match_level": {str(k): int(v) for k, v in counts.items()}}


def _previous_drop(run: _Run, drop: Any) -> tuple[str, pd.DataFrame, str] | None:
    """The locality table of the latest earlier drop in the store that has been run."""
    from geo_integration.store import list_drops, open_drop

    listing = list_drops(drop.path.parent)
    earlier = listing[listing["drop_id"] < drop.drop_id].sort_values("drop_id")
    for drop_id in reversed(earlier["drop_id"].tolist()):
        other = open_drop(drop_id, store=drop.path.parent)
        for cache in sorted((other.path / "cache").glob("access-*")):
            table = cache / "localities.parquet"
            if table.is_file():
                frame = pd.read_parquet(table).reset_index()
                return drop_id, frame, other.date.isoformat()
    return None


# ---------------------------------------------------------------------------- manifest


def _input_hashes(drop: Any) -> dict[str, Any]:
    files = drop.manifest.get("files", {})
    if isinstance(files, dict):
        return {name: info.get("sha256") for name, info in files.items()}
    return {}


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"geo_integration": __version__, "python": platform.python_version()}
    for name in (
        "numpy",
        "pandas",
        "geopandas",
        "shapely",
        "scipy",
        "folium",
        "esda",
        "highspy",
        "h3",
    ):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "absent"
    return out


def _write_manifest(
    run: _Run, drop: Any, started: float, siting: SitingOptions | None, leaks: list[Any]
) -> Path:
    manifest = {
        "drop_id": drop.drop_id,
        "drop_hash": drop.digest,
        "inputs": _input_hashes(drop),
        "settings": run.settings.to_dict(),
        "siting": None if siting is None else siting.__dict__,
        "versions": _versions(),
        "code": run.code,
        "reference_data": str(run.data_dir),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "seconds": round(time.time() - started, 3),
        "stages": [s.__dict__ for s in run.stages],
        "privacy": {"clean": not leaks, "findings": [leak.__dict__ for leak in leaks]},
    }
    path = run.out_dir / MANIFEST
    write_text(path, json.dumps(manifest, indent=2, ensure_ascii=False, default=str) + "\n")
    return path


def iter_stage_names() -> Iterator[str]:
    """The stages of a run, in order."""
    yield from STAGES


def privacy_check(
    out_dir: str | os.PathLike[str],
    *,
    drop: str | os.PathLike[str],
    store: str | os.PathLike[str] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
) -> list[Any]:
    """Scan every file under ``out_dir`` for residence coordinates, addresses, ids and personal
    fields of ``drop`` (a raw drop folder, read as given, or a drop of the store) and return
    the findings (empty when clean). See :mod:`geo_integration.privacy_check`."""
    from geo_integration.privacy_check import scan_outputs

    data = resolve_data_dir(data_dir)
    raw = Path(drop)
    run = _Run(
        Path(out_dir), Settings(), data, None if store is None else Path(store), "", "", None
    )
    if raw.is_dir() and not (raw / "manifest.json").is_file():
        run.drop_dir = raw
    opened = open_or_ingest(drop, store=store, data_dir=data)
    return scan_outputs(Path(out_dir), _needles(run, opened, None), skip=(".privacy",))
