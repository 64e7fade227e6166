"""The data directory: its layout and the manifest of reference files.

The manifest (``data/localities/sources.toml`` in the repository) lists every reference
file with its path inside the data directory, SHA-256, size, source, licence and, when one
is known, a direct download URL. The layout is that of the mirror in
``../shared/data/bogota``::

    boundaries/Loca.shp ...   localities          addresses/placas_domiciliarias.parquet
    boundaries/UPla.shp ...   UPZ                 blocks/manzanas.parquet
    population/*.csv          population          streets/malla_vial.parquet
    migration/*.csv           migrant figures     transit/sitp_paraderos_zonales.csv
    services/*.geojson        schools, hospitals  transit/estaciones_transmilenio.geojson
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from geo_integration.config import repo_root
from geo_integration.errors import ConfigError, DataDirError

__all__ = [
    "PATHS",
    "SourceFile",
    "data_path",
    "manifest_path",
    "read_manifest",
]

#: Relative path of each reference dataset inside the data directory.
PATHS: dict[str, str] = {
    "localities": "boundaries/Loca.shp",
    "upz": "boundaries/UPla.shp",
    "population_locality": "population/poblacion_localidad_dane_sdp_2018_2025_totals.csv",
    "population_upz": "population/poblacion_upz_dane_sdp_2018_2024.csv",
    "migration_figures": "migration/venezuelan_migrants_public_figures.csv",
    "addresses": "addresses/placas_domiciliarias.parquet",
    "blocks": "blocks/manzanas.parquet",
    "streets": "streets/malla_vial.parquet",
    "streets_gap_area": "streets/gap_area.geojson",
    "sitp_stops": "transit/sitp_paraderos_zonales.csv",
    "transmilenio": "transit/estaciones_transmilenio.geojson",
    "schools": "services/colegios.geojson",
    "hospitals": "services/hospitales.geojson",
    "supercade": "services/supercade_cade.csv",
}


@dataclass(frozen=True)
class SourceFile:
    """One reference file of the manifest."""

    path: str
    sha256: str
    size: int
    required: bool
    source: str
    licence: str
    url: str | None = None


def manifest_path() -> Path:
    """Return the path of the manifest of reference files (``data/localities/sources.toml``)."""
    return repo_root() / "data" / "localities" / "sources.toml"


def read_manifest(path: Path | None = None) -> list[SourceFile]:
    """Read the manifest of reference files.

    Raises
    ------
    ConfigError
        If the manifest is missing or malformed.
    """
    file = manifest_path() if path is None else path
    try:
        with file.open("rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError:
        msg = f"manifest of reference data not found: {str(file)!r}"
        raise ConfigError(msg) from None
    except tomllib.TOMLDecodeError as exc:
        msg = f"{file}: not valid TOML: {exc}"
        raise ConfigError(msg) from None
    entries = []
    for i, item in enumerate(raw.get("file", [])):
        try:
            entries.append(
                SourceFile(
                    path=str(item["path"]),
                    sha256=str(item["sha256"]).lower(),
                    size=int(item["size"]),
                    required=bool(item.get("required", True)),
                    source=str(item["source"]),
                    licence=str(item["licence"]),
                    url=item.get("url"),
                )
            )
        except KeyError as exc:
            msg = f"{file}: entry {i} lacks key {exc.args[0]!r}"
            raise ConfigError(msg) from None
    return entries


def data_path(data_dir: Path, dataset: str) -> Path:
    """Return the path of ``dataset`` inside ``data_dir``, checking that it exists.

    Raises
    ------
    DataDirError
        If the file is missing, with a hint on how to fetch it.
    """
    try:
        rel = PATHS[dataset]
    except KeyError:
        msg = f"unknown dataset {dataset!r}; known: {sorted(PATHS)!r}"
        raise ConfigError(msg) from None
    path = data_dir / rel
    if not path.is_file():
        msg = (
            f"reference file missing: {str(path)!r} (dataset {dataset!r}). "
            "Run `geo-integration data fetch` (or `data fetch --from MIRROR_DIR`), or point "
            "--data-dir / GEO_INTEGRATION_DATA at a directory that holds it."
        )
        raise DataDirError(msg)
    return path
