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
