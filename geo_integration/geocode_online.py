"""Optional online geocoding with Nominatim (OpenStreetMap), through geopy (I/O).

Off by default: it sends addresses out of the machine, which planners' data may forbid. When
a user allows it, it is asked only for the labels no offline level placed, at most one request
per second (Nominatim's usage policy), and its answers are cached (source ``"online"``).
Answers outside Bogotá are discarded. geopy comes with the ``[online]`` extra.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from geo_integration.errors import GeocodeError
from geo_integration.geo import BOGOTA_BBOX

if TYPE_CHECKING:
    from geo_integration.geocode_cache import GeocodeCache

__all__ = ["OnlineGeocoder", "query_text"]

_TYPES = {
    "CL": "Calle",
    "KR": "Carrera",
    "AC": "Avenida Calle",
    "AK": "Avenida Carrera",
    "DG": "Diagonal",
    "TV": "Transversal",
    "AV": "Avenida",
    "AU": "Autopista",
}


def query_text(label: str) -> str:
    """Turn a canonical label into the text sent to Nominatim.

    Examples
    --------
    >>> query_text("KR 14Q, 74 43 S")
    'Carrera 14Q #74-43 Sur, Bogotá, Colombia'
    """
    head, _, tail = label.partition(", ")
    kind, _, number = head.partition(" ")
    street = f"{_TYPES.get(kind, kind)} {number}".replace(" S", " Sur").replace(" E", " Este")
    parts = tail.split()
    if len(parts) >= 2 and parts[1].isdigit():
        cross = f"#{parts[0]}-{parts[1]}"
        card = {"S": " Sur", "E": " Este"}.get(parts[2], "") if len(parts) > 2 else ""
        return f"{street} {cross}{card}, Bogotá, Colombia"
    return f"{label.replace(' - ', ' con ')}, Bogotá, Colombia"


class OnlineGeocoder:
    """Nominatim behind a rate limiter and the result cache.

    Parameters
    ----------
    user_agent
        Identifies the application to Nominatim (its policy requires one).
    min_delay_seconds
        Pause between requests (Nominatim allows 1 per second).
    lookup
        A callable ``text -> location or None`` used instead of Nominatim (tests); a location
        has ``latitude`` and ``longitude``.
    """

    def __init__(
        self,
        *,
        user_agent: str = "geo_integration (Bogotá migrant services planning)",
        min_delay_seconds: float = 1.0,
        timeout: float = 10.0,
        lookup: Callable[[str], Any] | None = None,
    ) -> None:
        self.user_agent = user_agent
        self.min_delay_seconds = min_delay_seconds
        self.timeout = timeout
        self._lookup = lookup

    def _engine(self) -> Callable[[str], Any]:
        if self._lookup is None:
            try:
                from geopy.extra.rate_limiter import RateLimiter
                from geopy.geocoders import Nominatim
            except ImportError as exc:  # pragma: no cover - depends on the install
                msg = "the online geocoder needs geopy: pip install 'geo_integration[online]'"
                raise GeocodeError(msg) from exc
            nominatim = Nominatim(user_agent=self.user_agent, timeout=self.timeout)
            self._lookup = RateLimiter(
                nominatim.geocode, min_delay_seconds=self.min_delay_seconds, max_retries=1
            )
        return self._lookup

    def geocode(self, labels: Sequence[str], *, cache: GeocodeCache | None = None) -> pd.DataFrame:
        """Return ``lat``/``lon`` (NaN when not found or outside Bogotá) indexed by label."""
        wanted = list(dict.fromkeys(labels))
        known = pd.DataFrame(columns=["lat", "lon"], dtype=float)
        if cache is not None and wanted:
            known = cache.get(wanted, source="online")[["lat", "lon"]]
        todo = [lbl for lbl in wanted if lbl not in known.index]
        rows = []
        lookup = self._engine() if todo else None
        for label in todo:
            assert lookup is not None
            lat, lon = _inside(lookup(query_text(label)))
            rows.append({"label": label, "lat": lat, "lon": lon})
        fresh = pd.DataFrame(rows, columns=["label", "lat", "lon"]).set_index("label")
        if cache is not None and len(fresh):
            store = fresh.copy()
            store["match_level"] = np.where(store["lat"].notna(), "online", "none")
            store["confidence"] = np.where(store["lat"].notna(), 0.5, 0.0)
            found = store["lat"].notna().to_numpy()
            pairs = zip(store.index, found, strict=True)
            store["matched_address"] = [lbl if f else None for lbl, f in pairs]
            store["match_reason"] = [None if f else "not_found_online" for f in found]
            cache.put(store, source="online")
        return pd.concat([known.astype(float), fresh.astype(float)])


def _inside(location: Any) -> tuple[float, float]:
    if location is None:
        return np.nan, np.nan
    lat, lon = float(location.latitude), float(location.longitude)
    min_lon, min_lat, max_lon, max_lat = BOGOTA_BBOX
    if not (min_lon <= lon <= max_lon and min_lat <= lat <= max_lat):
        return np.nan, np.nan
    return lat, lon
