"""geo_integration: where in Bogotá migrants live far from the services they need.

The public API is imported lazily (no heavy imports, no side effects at import time)::

    import geo_integration as gi
    localities = gi.load_localities()
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_API: dict[str, str] = {
    "run_drop": "geo_integration.pipeline",
    "SitingOptions": "geo_integration.pipeline",
    "privacy_check": "geo_integration.pipeline",
    "open_or_ingest": "geo_integration.pipeline",
    "site": "geo_integration.siting_network",
    "Settings": "geo_integration.config",
    "load_settings": "geo_integration.config",
    "resolve_data_dir": "geo_integration.config",
    "fetch_data": "geo_integration.fetch",
    "check_data": "geo_integration.fetch",
    "assign_areas": "geo_integration.areas",
    "h3_cells": "geo_integration.areas",
    "locality_code": "geo_integration.localities",
    "locality_name": "geo_integration.localities",
    "load_localities": "geo_integration.loaders",
    "load_upz": "geo_integration.loaders",
    "load_population": "geo_integration.loaders",
    "load_addresses": "geo_integration.loaders",
    "load_blocks": "geo_integration.loaders",
    "load_streets": "geo_integration.loaders",
    "load_sitp_stops": "geo_integration.loaders",
    "load_transmilenio": "geo_integration.loaders",
    "load_schools": "geo_integration.loaders",
    "load_hospitals": "geo_integration.loaders",
    "load_supercade": "geo_integration.loaders",
    "load_migration_figures": "geo_integration.loaders",
    "catchment_access": "geo_integration.access",
    "find_clusters": "geo_integration.clusters",
    "cluster_table": "geo_integration.clusters",
    "getis_ord": "geo_integration.hotspots",
    "local_moran": "geo_integration.hotspots",
    "find_gaps": "geo_integration.gaps",
    "GapsResult": "geo_integration.gaps",
    "DemoDrop": "geo_integration.demo",
    "make_demo_drop": "geo_integration.demo",
    "locality_allocation": "geo_integration.demo",
    "messy_addresses": "geo_integration.demo_addresses",
    "parse_official_labels": "geo_integration.demo_addresses",
    "MapInputs": "geo_integration.render_inputs",
    "ReportInputs": "geo_integration.render_inputs",
    "load_analysis_dir": "geo_integration.render_inputs",
    "build_coverage_map": "geo_integration.maps",
    "build_overview_map": "geo_integration.maps",
    "render_coverage_map": "geo_integration.maps",
    "render_overview_map": "geo_integration.maps",
    "write_maps": "geo_integration.maps",
    "render_report_html": "geo_integration.report",
    "write_report": "geo_integration.report",
    "write_report_xlsx": "geo_integration.report",
    "fetch_assets": "geo_integration.assets",
    "ingest_drop": "geo_integration.ingest",
    "resolve_drop": "geo_integration.ingest",
    "Drop": "geo_integration.store",
    "open_drop": "geo_integration.store",
    "list_drops": "geo_integration.store",
    "compare_drops": "geo_integration.store",
    "QUARANTINE_REASONS": "geo_integration.schema",
    "StreetNetwork": "geo_integration.network",
    "load_network": "geo_integration.network",
    "network_from_centrelines": "geo_integration.network",
    "network_from_osmnx": "geo_integration.network",
    "network_from_osm_file": "geo_integration.network",
    "snap_points": "geo_integration.network",
    "nearest_times": "geo_integration.access",
    "catchment_costs": "geo_integration.access",
    "two_step_fca": "geo_integration.access",
    "e2sfca": "geo_integration.access",
    "coverage": "geo_integration.access",
    "service_areas": "geo_integration.service_areas",
    "AccessResult": "geo_integration.accessibility",
    "compute_access": "geo_integration.accessibility",
    "parse_address": "geo_integration.address",
    "parse_addresses": "geo_integration.address",
    "geocode_addresses": "geo_integration.geocoder",
    "make_geocoder": "geo_integration.geocoder",
    "GeocodeCache": "geo_integration.geocode_cache",
    "OnlineGeocoder": "geo_integration.geocode_online",
    "SitingProblem": "geo_integration.siting_models",
    "SitingResult": "geo_integration.siting",
    "solve_siting": "geo_integration.siting",
    "robustness": "geo_integration.siting_robust",
    "read_candidates": "geo_integration.siting_candidates",
    "sample_candidates_in_hexagons": "geo_integration.siting_candidates",
    "coincides_with_existing": "geo_integration.siting_candidates",
}

__all__ = ["__version__", *sorted(_API)]


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        msg = f"module 'geo_integration' has no attribute {name!r}"
        raise AttributeError(msg)
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return __all__
