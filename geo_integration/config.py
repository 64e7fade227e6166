"""Settings: where the data lives and the analysis options.

The data directory is named by one setting, resolved in this order:

1. the ``data_dir`` argument (``--data-dir`` on the command line);
2. the ``GEO_INTEGRATION_DATA`` environment variable;
3. ``data/`` in the repository (next to this package).

Analysis options (thresholds, walking speed, H3 resolution, privacy threshold, language, ...)
live in :class:`Settings`, which can be read from a TOML file with :func:`load_settings`.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from geo_integration.errors import ConfigError

__all__ = [
    "DATA_ENV_VAR",
    "Settings",
    "load_settings",
    "repo_root",
    "resolve_data_dir",
    "resolve_store_dir",
]

DATA_ENV_VAR = "GEO_INTEGRATION_DATA"
STORE_ENV_VAR = "GEO_INTEGRATION_STORE"


def repo_root() -> Path:
    """Return the repository root (the parent of the ``geo_integration`` package)."""
    return Path(__file__).resolve().parent.parent


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Return the data directory, following the documented order of precedence.

    Parameters
    ----------
    data_dir
        Explicit directory; wins over the environment and the default.

    Returns
    -------
    Path
        The resolved directory. It may not exist yet (``data fetch`` creates it).
    """
    if data_dir is not None and str(data_dir) != "":
        return Path(data_dir).expanduser().resolve()
    env = os.environ.get(DATA_ENV_VAR, "")
    if env:
        return Path(env).expanduser().resolve()
    return repo_root() / "data"


def resolve_store_dir(store: str | os.PathLike[str] | None = None) -> Path:
    """Return the drop store directory: ``store``, else ``$GEO_INTEGRATION_STORE``, else
    ``store/`` in the current directory."""
    if store is not None and str(store) != "":
        return Path(store).expanduser().resolve()
    env = os.environ.get(STORE_ENV_VAR, "")
    if env:
        return Path(env).expanduser().resolve()
    return Path.cwd() / "store"


DEFAULT_SECRETARIATS: dict[str, list[str]] = {
    "Educación": ["school"],
    "Salud": ["health"],
    "Gobierno": ["citizen_service", "migrant_services"],
    "Integración Social": ["social_integration"],
    "Mujer": ["women"],
    "Movilidad": ["transit"],
}


@dataclass(frozen=True)
class Settings:
    """Options of an analysis run. Every field has a documented default.

    Attributes
    ----------
    thresholds_min
        Walking-time thresholds in minutes for coverage (the land-use plan sets 10 to 15
        minutes for care services; 30 is a long walk).
    walking_speed_kmh
        Walking speed used to turn street length into minutes.
    snap_max_m
        Points farther than this from the street network are flagged.
    h3_resolution
        Resolution of the hexagon grid (9: cells of about 0.1 km²).
    privacy_k
        Published cells or areas with fewer migrants than this are suppressed.
    lang
        Language of user-facing labels: ``"es"`` (default) or ``"en"``.
    seed
        Seed for every random step (permutation tests, sampling), for reproducibility.
    catchment_min
        Catchment of the supply-per-demand measures (2SFCA, E2SFCA), in walking minutes.
    decay
        Distance decay of E2SFCA: ``"step"`` (zones weighted 1 / 0.68 / 0.22) or
        ``"gaussian"``.
    secretariats
        Service types run by each secretariat.
    """

    thresholds_min: tuple[float, ...] = (10.0, 15.0, 30.0)
    walking_speed_kmh: float = 4.5
    snap_max_m: float = 300.0
    h3_resolution: int = 9
    privacy_k: int = 10
    lang: str = "es"
    seed: int = 20240601
    catchment_min: float = 30.0
    decay: str = "step"
    secretariats: dict[str, list[str]] = field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_SECRETARIATS.items()}
    )

    def __post_init__(self) -> None:
        _validate(self)

    def with_options(self, **changes: Any) -> Settings:
        """Return a copy with ``changes`` applied (``None`` values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        """Return the settings as plain data (for manifests and cache keys)."""
        data = asdict(self)
        data["thresholds_min"] = list(self.thresholds_min)
        return data


def _validate(settings: Settings) -> None:
    if not settings.thresholds_min or any(t <= 0 for t in settings.thresholds_min):
        msg = f"thresholds_min must be positive minutes, got {settings.thresholds_min!r}"
        raise ConfigError(msg)
    if not 0.5 <= settings.walking_speed_kmh <= 20:
        msg = f"walking_speed_kmh must be between 0.5 and 20, got {settings.walking_speed_kmh!r}"
        raise ConfigError(msg)
    if not 0 <= settings.h3_resolution <= 15:
        msg = f"h3_resolution must be 0..15, got {settings.h3_resolution!r}"
        raise ConfigError(msg)
    if settings.privacy_k < 1:
        msg = f"privacy_k must be at least 1, got {settings.privacy_k!r}"
        raise ConfigError(msg)
    if settings.lang not in ("es", "en"):
        msg = f"lang must be 'es' or 'en', got {settings.lang!r}"
        raise ConfigError(msg)
    if settings.catchment_min <= 0:
        msg = f"catchment_min must be positive minutes, got {settings.catchment_min!r}"
        raise ConfigError(msg)
    if settings.decay not in ("step", "gaussian"):
        msg = f"decay must be 'step' or 'gaussian', got {settings.decay!r}"
        raise ConfigError(msg)
    if settings.snap_max_m <= 0:
        msg = f"snap_max_m must be positive, got {settings.snap_max_m!r}"
        raise ConfigError(msg)


def load_settings(path: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
    """Read settings from a TOML file, then apply ``overrides``.

    The file holds a flat table whose keys are the fields of :class:`Settings`
    (``thresholds_min = [10, 15, 30]``, ``lang = "en"``, ...), optionally under
    ``[settings]``; a ``[secretariats]`` table maps secretariat names to service types.

    Raises
    ------
    ConfigError
        If the file is missing, is not valid TOML, or holds an unknown key or a bad value.
    """
    data: dict[str, Any] = {}
    if path is not None:
        file = Path(path)
        try:
            with file.open("rb") as fh:
                raw = tomllib.load(fh)
        except FileNotFoundError:
            msg = f"configuration file not found: {str(file)!r}"
            raise ConfigError(msg) from None
        except tomllib.TOMLDecodeError as exc:
            msg = f"{file}: not valid TOML: {exc}"
            raise ConfigError(msg) from None
        data = dict(raw.get("settings", {})) | {k: v for k, v in raw.items() if k != "settings"}
        known = {f.name for f in fields(Settings)}
        unknown = sorted(set(data) - known)
        if unknown:
            msg = f"{file}: unknown setting(s) {unknown!r}; known: {sorted(known)!r}"
            raise ConfigError(msg)
    data |= {k: v for k, v in overrides.items() if v is not None}
    if "thresholds_min" in data:
        data["thresholds_min"] = tuple(float(t) for t in data["thresholds_min"])
    try:
        return Settings(**data)
    except TypeError as exc:
        msg = f"bad settings: {exc}"
        raise ConfigError(msg) from None
