"""What the maps and reports draw: one in-memory bundle, and a loader for an analysis folder.

The pipeline fills a :class:`MapInputs` (maps) or :class:`ReportInputs` (maps + report) with
the tables the analyses produced; every field but the locality boundaries is optional, and a
layer or report section whose input is absent is simply left out. Renderers compute nothing
beyond display classes and formatting.

Until the pipeline and the drop store are merged, the ``map`` and ``report`` commands read an
**analysis folder** with :func:`load_analysis_dir`. Its files (every one optional, GeoParquet
in EPSG:4326 unless said otherwise):

==============================  ===========================================================
``localities.parquet``          accessibility per locality: ``loc_code``, ``migrants``,
                                ``residences``, ``suppressed`` and per service type ``<type>``
                                and threshold ``T``: ``median_time_<type>``,
                                ``within_<T>_<type>``, ``share_within_<T>_<type>``,
                                ``e2sfca_<type>``, ``two_sfca_<type>``
``upz.parquet``                 the same per UPZ, keyed by ``upz_code``
``hexagons.parquet``            the same per H3 cell, keyed by ``h3_cell``
``service_areas.parquet``       ``service_type``, ``threshold_min``, polygon geometry
``services.parquet``            ``service_id``, ``name``, ``secretariat``, ``service_type``,
                                ``capacity``, ``hours``, ``address``, point geometry
``gaps_hexagons.parquet``       ``h3_cell``, ``gap_<type>``, ``gi_class_<type>``,
                                ``lisa_class_<type>``
``gaps_clusters.parquet``       ``cluster_id``, ``migrants``, ``residences``, ``loc_name``,
                                ``median_time_<type>``, ``share_beyond_<T>_<type>``, polygon
``gaps_rank_localities.parquet``  ``loc_code``, ``rank`` or ``rank_<type>`` (optionally
                                ``service_type``), ``gap`` ...
``gaps_rank_upz.parquet``       the same keyed by ``upz_code``
``sites.geojson``               ``candidate_id``, ``name``, ``rank``, ``marginal_gain``,
                                ``selection_frequency`` (optionally ``service_type``), points
``summary.json``                ``drop_id``, ``drop_date`` (ISO), ``privacy_k``,
                                ``h3_resolution``, ``sources`` (list of text), ``siting``
                                (model, p, threshold, objective, coverage_before,
                                coverage_after), ``ingest`` and ``geocoding`` (see below)
``report.json``                 the ingest report of the drop (``files`` -> ``rows_read``,
                                ``accepted``, ``quarantined``, ``quarantine_reasons``)
``geocoding.json``              geocoding summary: ``{"match_level": {"exact": n, ...}}``
==============================  ===========================================================

Boundaries come from the reference data directory (:func:`geo_integration.loaders`).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from geo_integration.errors import DropError, InputFileError

__all__ = ["ANALYSIS_FILES", "MapInputs", "ReportInputs", "load_analysis_dir"]

Table = pd.DataFrame  # a DataFrame or GeoDataFrame

_SHARE_COL = re.compile(r"^share_within_(\d+)_(.+)$")

#: analysis-folder file -> MapInputs/ReportInputs field
ANALYSIS_FILES: dict[str, str] = {
    "localities.parquet": "locality_access",
    "upz.parquet": "upz_access",
    "hexagons.parquet": "hex_access",
    "service_areas.parquet": "service_areas",
    "services.parquet": "services",
    "gaps_hexagons.parquet": "gap_hexagons",
    "gaps_clusters.parquet": "clusters",
    "gaps_rank_localities.parquet": "rank_localities",
    "gaps_rank_upz.parquet": "rank_upz",
    "sites.geojson": "sites",
}


#: run-folder file (``geo-integration run --out``) -> MapInputs/ReportInputs field
RUN_FILES: dict[str, str] = {
    "access/access_localities.parquet": "locality_access",
    "access/access_upz.parquet": "upz_access",
    "access/access_hexagons.parquet": "hex_access",
    "access/access_service_areas.parquet": "service_areas",
    "access/services.parquet": "services",
    "gaps/gap_hexagons.parquet": "gap_hexagons",
    "gaps/clusters.parquet": "clusters",
    "gaps/rank_localities.parquet": "rank_localities",
    "gaps/rank_upz.parquet": "rank_upz",
    "siting/sites.geojson": "sites",
}


@dataclass
class MapInputs:
    """Everything a map may draw. Only ``localities`` (the boundaries) is required.

    Attributes
    ----------
    localities, upz
        Boundaries as from :func:`geo_integration.loaders.load_localities` /
        :func:`~geo_integration.loaders.load_upz`.
    locality_access, upz_access, hex_access
        Accessibility tables per locality (``loc_code``), UPZ (``upz_code``) and H3 cell
        (``h3_cell``), already suppressed (``suppressed`` flag, blanked values NaN).
    service_areas
        ``service_type``, ``threshold_min``, polygons.
    services
        Service points (``service_id``, ``name``, ``secretariat``, ``service_type``,
        ``capacity``, ``hours``, ``address``).
    gap_hexagons, clusters, rank_localities, rank_upz
        Results of the gaps analysis.
    sites, siting_summary
        Chosen sites and the siting summary (model, p, threshold, objective, coverage).
    drop_id, drop_date
        Identity of the drop, shown in titles (``drop_date`` as ``YYYY-MM-DD``).
    sources
        Data sources named under the title (default: boundaries, drop, H3).
    privacy_k
        The suppression threshold the producer applied (stated on maps and reports).
    h3_resolution
        Resolution of the hexagons.
    thresholds
        Thresholds in minutes; ``None``: found from the ``share_within_<T>_<type>`` columns.
    """

    localities: gpd.GeoDataFrame
    upz: gpd.GeoDataFrame | None = None
    locality_access: Table | None = None
    upz_access: Table | None = None
    hex_access: Table | None = None
    service_areas: gpd.GeoDataFrame | None = None
    services: gpd.GeoDataFrame | None = None
    gap_hexagons: Table | None = None
    clusters: gpd.GeoDataFrame | None = None
    rank_localities: Table | None = None
    rank_upz: Table | None = None
    sites: gpd.GeoDataFrame | None = None
    siting_summary: dict[str, Any] | None = None
    drop_id: str = ""
    drop_date: str = ""
    sources: tuple[str, ...] = ()
    privacy_k: int = 10
    h3_resolution: int = 9
    thresholds: tuple[int, ...] | None = None

    def _share_columns(self) -> list[tuple[int, str]]:
        found: list[tuple[int, str]] = []
        for table in (self.locality_access, self.upz_access, self.hex_access):
            if table is None:
                continue
            for col in table.columns:
                match = _SHARE_COL.match(str(col))
                if match:
                    found.append((int(match.group(1)), match.group(2)))
        return found

    def service_types(self) -> list[str]:
        """Service types with accessibility results (else those of the service points)."""
        types = sorted({t for _, t in self._share_columns()})
        if not types and self.services is not None and "service_type" in self.services:
            types = sorted(self.services["service_type"].dropna().astype(str).unique())
        return types

    def threshold_list(self) -> list[int]:
        """Thresholds in minutes, ascending."""
        if self.thresholds:
            return sorted(int(t) for t in self.thresholds)
        return sorted({t for t, _ in self._share_columns()})

    def default_threshold(self) -> int | None:
        """15 minutes when available, else the middle threshold; None without any."""
        found = self.threshold_list()
        if not found:
            return None
        return 15 if 15 in found else found[len(found) // 2]


@dataclass
class ReportInputs(MapInputs):
    """A :class:`MapInputs` plus what only the report shows.

    Attributes
    ----------
    ingest_report
        The drop's ingest report: ``{"files": {name: {"rows_read", "accepted",
        "quarantined", "quarantine_reasons": {reason: n}}}}``.
    geocoding
        Geocoding summary: ``{"match_level": {"exact": n, "interpolated": n, ...}}`` (a flat
        ``{level: n}`` dict is accepted too).
    previous_localities
        The previous drop's locality accessibility table, for "what changed".
    previous_drop_date
        Its date (``YYYY-MM-DD``).
    """

    ingest_report: dict[str, Any] | None = None
    geocoding: dict[str, Any] | None = None
    previous_localities: Table | None = None
    previous_drop_date: str = ""


def _read_table(path: Path) -> Table:
    try:
        if path.suffix == ".geojson":
            return gpd.read_file(path)
        try:
            return gpd.read_parquet(path)
        except ValueError:
            return pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        msg = f"cannot read: {exc}"
        raise InputFileError(msg, path=path) from None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        msg = f"not valid JSON: {exc}"
        raise InputFileError(msg, path=path) from None
    if not isinstance(data, dict):
        msg = f"expected a JSON object, got {type(data).__name__}"
        raise InputFileError(msg, path=path)
    return data


def _summary_fields(summary: dict[str, Any], where: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("drop_id", "drop_date"):
        if key in summary:
            out[key] = str(summary[key])
    if "privacy_k" in summary:
        out["privacy_k"] = int(summary["privacy_k"])
    if "h3_resolution" in summary:
        out["h3_resolution"] = int(summary["h3_resolution"])
    if "thresholds_min" in summary:
        out["thresholds"] = tuple(int(t) for t in summary["thresholds_min"])
    if "sources" in summary:
        if not isinstance(summary["sources"], list):
            msg = f"'sources' must be a list of text, got {summary['sources']!r}"
            raise InputFileError(msg, path=where, column="sources")
        out["sources"] = tuple(str(s) for s in summary["sources"])
    for key, target in (("siting", "siting_summary"), ("ingest", "ingest_report")):
        if key in summary:
            out[target] = summary[key]
    if "geocoding" in summary:
        out["geocoding"] = summary["geocoding"]
    return out


def load_analysis_dir(
    path: str | os.PathLike[str],
    *,
    data_dir: str | os.PathLike[str] | None = None,
    previous: str | os.PathLike[str] | None = None,
) -> ReportInputs:
    """Read an analysis folder (see the module docstring) into a :class:`ReportInputs`.

    Parameters
    ----------
    path
        The folder the accessibility, gaps and siting steps wrote.
    data_dir
        Reference data directory for the boundaries (default: the configured one).
    previous
        Analysis folder of the previous drop, for the report's "what changed".

    Raises
    ------
    DropError
        If the folder is missing or holds none of the expected files.
    InputFileError
        If a file cannot be read (the message names it).
    """
    from geo_integration.loaders import load_localities, load_upz

    folder = Path(path)
    if not folder.is_dir():
        msg = f"analysis folder not found: {str(folder)!r}"
        raise DropError(msg)
    if (folder / "run_manifest.json").is_file():
        return _load_run_dir(folder, data_dir=data_dir)
    known = [*ANALYSIS_FILES, "summary.json"]
    if not any((folder / name).is_file() for name in known):
        msg = f"{folder}: none of the expected analysis files ({', '.join(known)})"
        raise DropError(msg)
    values: dict[str, Any] = {
        target: _read_table(folder / name)
        for name, target in ANALYSIS_FILES.items()
        if (folder / name).is_file()
    }
    if (folder / "summary.json").is_file():
        values |= _summary_fields(_read_json(folder / "summary.json"), folder / "summary.json")
    if (folder / "report.json").is_file():
        values["ingest_report"] = _read_json(folder / "report.json")
    if (folder / "geocoding.json").is_file():
        values["geocoding"] = _read_json(folder / "geocoding.json")
    values.setdefault("drop_id", folder.name)
    if previous is not None:
        prev = Path(previous)
        if not (prev / "localities.parquet").is_file():
            msg = f"previous analysis folder has no localities.parquet: {str(prev)!r}"
            raise DropError(msg)
        values["previous_localities"] = _read_table(prev / "localities.parquet")
        if (prev / "summary.json").is_file():
            values["previous_drop_date"] = str(
                _read_json(prev / "summary.json").get("drop_date", prev.name)
            )
        else:
            values["previous_drop_date"] = prev.name
    return ReportInputs(localities=load_localities(data_dir), upz=load_upz(data_dir), **values)


def _published(table: Table, key: str) -> Table:
    """Key as a column; hexagons with suppressed counts left out (they are not drawn)."""
    if key not in table.columns and table.index.name == key:
        table = table.reset_index()
    if key == "h3_cell" and "suppressed" in table.columns:
        table = table[~table["suppressed"].astype(bool)]
    return table


def _load_run_dir(folder: Path, *, data_dir: str | os.PathLike[str] | None) -> ReportInputs:
    """Read the output folder of ``geo-integration run`` (its ``run_manifest.json``)."""
    from geo_integration.loaders import load_localities, load_upz

    manifest = _read_json(folder / "run_manifest.json")
    values: dict[str, Any] = {
        target: _read_table(folder / name)
        for name, target in RUN_FILES.items()
        if (folder / name).is_file()
    }
    keys = {
        "locality_access": "loc_code",
        "upz_access": "upz_code",
        "hex_access": "h3_cell",
        "gap_hexagons": "h3_cell",
        "rank_localities": "loc_code",
        "rank_upz": "upz_code",
    }
    for target, key in keys.items():
        if target in values:
            values[target] = _published(values[target], key)
    areas = values.get("service_areas")
    if areas is not None and "key" in areas.columns:
        areas = areas[areas["group"] == "service_type"].rename(columns={"key": "service_type"})
        values["service_areas"] = areas
    settings = manifest.get("settings", {})
    drop_id = str(manifest.get("drop_id", folder.name))
    values |= {
        "drop_id": drop_id,
        "drop_date": f"{drop_id[:4]}-{drop_id[4:6]}-{drop_id[6:8]}" if len(drop_id) >= 8 else "",
        "privacy_k": int(settings.get("privacy_k", 10)),
        "h3_resolution": int(settings.get("h3_resolution", 9)),
        "thresholds": tuple(int(t) for t in settings.get("thresholds_min", (10, 15, 30))),
    }
    for name, target in (("ingest_report.json", "ingest_report"), ("geocoding.json", "geocoding")):
        if (folder / "report" / name).is_file():
            values[target] = _read_json(folder / "report" / name)
    return ReportInputs(localities=load_localities(data_dir), upz=load_upz(data_dir), **values)
