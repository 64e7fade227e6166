"""Exception tree of geo_integration.

Every error the package raises on purpose derives from :class:`GeoIntegrationError`, so a
caller (and the CLI) can catch them all in one place. Each one also derives from the builtin
exception that fits it, so ``except ValueError`` keeps working for code that does not know
this package::

    GeoIntegrationError
    ├── ConfigError (ValueError)             bad setting, bad TOML, bad option value
    ├── DataDirError (FileNotFoundError)     the data directory or one of its files is missing
    ├── DataCheckError (ValueError)          reference data present but wrong (CRS, counts, codes)
    ├── ChecksumError (ValueError)           a fetched file does not match its expected hash
    ├── FetchError (OSError)                 downloading or copying reference data failed
    ├── InputFileError (ValueError)          a user file cannot be read at all (empty, binary, ...)
    │   └── MissingColumnError               a required column is absent
    ├── DropError (ValueError)               a data drop folder is unusable as a whole
    ├── StoreError (OSError)                 the drop store is missing or inconsistent
    ├── GeocodeError (RuntimeError)          the geocoder cannot run (index missing, ...)
    ├── NetworkBuildError (RuntimeError)     the street network cannot be built
    ├── AnalysisError (ValueError)           an analysis got inputs it cannot use
    ├── SolverError (RuntimeError)           the optimisation solver failed
    ├── RenderError (RuntimeError)           a map or report cannot be rendered
    └── PrivacyError (RuntimeError)          an output would reveal individual residences

Errors that concern a user file carry ``path``, ``row`` and ``column`` attributes (any may be
``None``) and show them in their message.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "AnalysisError",
    "ChecksumError",
    "ConfigError",
    "DataCheckError",
    "DataDirError",
    "DropError",
    "FetchError",
    "GeoIntegrationError",
    "GeocodeError",
    "InputFileError",
    "MissingColumnError",
    "NetworkBuildError",
    "PrivacyError",
    "RenderError",
    "SolverError",
    "StoreError",
]


class GeoIntegrationError(Exception):
    """Base of every error raised on purpose by geo_integration."""


class ConfigError(ValueError, GeoIntegrationError):
    """A setting, option value or configuration file is invalid."""


class DataDirError(FileNotFoundError, GeoIntegrationError):
    """The data directory, or a file expected in it, is missing."""


class DataCheckError(ValueError, GeoIntegrationError):
    """Reference data is present but wrong (unreadable, wrong CRS, counts or codes)."""


class ChecksumError(ValueError, GeoIntegrationError):
    """A fetched file does not match its expected SHA-256."""


class FetchError(OSError, GeoIntegrationError):
    """Reference data could not be downloaded or copied."""


class InputFileError(ValueError, GeoIntegrationError):
    """A user-supplied file cannot be used.

    Parameters
    ----------
    message
        What is wrong.
    path, row, column
        Where, when known. ``row`` is the 1-based line (CSV) or sheet row (XLSX) or the
        0-based feature number (GeoJSON, GeoPackage, Parquet), as reported by the reader.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.path = None if path is None else str(path)
        self.row = row
        self.column = column
        self.detail = message
        where = []
        if self.path is not None:
            where.append(self.path)
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


class MissingColumnError(InputFileError):
    """A required column is absent from a table."""


class DropError(ValueError, GeoIntegrationError):
    """A data drop folder is unusable as a whole (missing, empty, bad drop.toml)."""


class StoreError(OSError, GeoIntegrationError):
    """The drop store is missing, or a drop in it is inconsistent."""


class GeocodeError(RuntimeError, GeoIntegrationError):
    """The geocoder cannot run (no address index, unreadable cache, ...)."""


class NetworkBuildError(RuntimeError, GeoIntegrationError):
    """The street network cannot be built from the given inputs."""


class AnalysisError(ValueError, GeoIntegrationError):
    """An analysis kernel received inputs it cannot use."""


class SolverError(RuntimeError, GeoIntegrationError):
    """The optimisation solver failed or returned no usable solution."""


class RenderError(RuntimeError, GeoIntegrationError):
    """A map or report cannot be rendered."""


class PrivacyError(RuntimeError, GeoIntegrationError):
    """An output would reveal, or reveals, individual residences."""
