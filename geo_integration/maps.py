"""Interactive coverage maps (Folium), one HTML file each, that open offline.

One **coverage map** per service type and one **overview map** per drop. Every layer whose
input is present is drawn; layers of analyses not run are simply absent:

- context: locality boundaries with names (on), UPZ (off, on demand), a plain background and,
  as an option in the layer control, an OpenStreetMap basemap that needs internet
  (``online_basemap=True`` makes it the default; offline it falls back to the plain
  background with a note);
- a locality choropleth of coverage (share of migrants within the threshold) with a tooltip
  of the locality's numbers (migrants, coverage per threshold, median time, rank);
- migrants as H3 hexagons (counts; cells below the privacy threshold shown as suppressed),
  unmet demand (migrants beyond the threshold), gap index, Gi* hot spots, LISA classes,
  clusters; never individual residences;
- service points by secretariat (colour and symbol per secretariat, clustered when dense,
  popup with name, type, capacity, hours, address);
- service areas (one translucent layer per threshold) and proposed sites (rank, marginal
  gain, selection frequency);
- layer control, a legend for every layer (shown with its layer), scale bar, full screen,
  locality search, title with the drop date and sources; Spanish labels, English on request.

Every script and stylesheet is inline (:mod:`geo_integration.assets`); user-provided text is
HTML-escaped. Geometries are simplified for display (in metres) and coordinates rounded to
5 decimals (about 1 m).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd

from geo_integration.assets import AssetBundle, external_references
from geo_integration.errors import ConfigError, RenderError
from geo_integration.fileio import write_text
from geo_integration.geo import WGS84
from geo_integration.labels import check_lang, label, service_type_label
from geo_integration.map_elements import new_map, stabilise_ids
from geo_integration.map_layers import (
    SUPPRESSED_COLOR,
    MapContext,
    add_basemaps,
    add_boundaries,
    add_clusters,
    add_controls,
    add_gap_layers,
    add_locality_coverage,
    add_migrant_hexes,
    add_service_areas,
    add_services,
    add_sites,
    add_unmet,
    add_upz,
    check_published_counts,
    display_ranks,
    hex_geometry_element,
)
from geo_integration.render_inputs import MapInputs

__all__ = [
    "SUPPRESSED_COLOR",
    "build_coverage_map",
    "build_overview_map",
    "check_published_counts",
    "coverage_map_name",
    "display_ranks",
    "render_coverage_map",
    "render_overview_map",
    "write_maps",
]

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- public API


def _bounds(localities: gpd.GeoDataFrame) -> list[list[float]]:
    urban = localities
    if "rural" in localities.columns and (~localities["rural"].astype(bool)).any():
        urban = localities[~localities["rural"].astype(bool)]
    west, south, east, north = urban.to_crs(WGS84).total_bounds
    return [[float(south), float(west)], [float(north), float(east)]]


def _start(
    inputs: MapInputs,
    *,
    lang: str,
    title: str,
    service_type: str | None,
    threshold: int | None,
    online_basemap: bool,
    assets: AssetBundle | None,
) -> MapContext:
    for table, what in (
        (inputs.hex_access, "hexagon table"),
        (inputs.upz_access, "UPZ table"),
        (inputs.locality_access, "locality table"),
        (inputs.clusters, "clusters"),
        (inputs.gap_hexagons, "gaps hexagon table"),
    ):
        check_published_counts(table, inputs.privacy_k, what)
    setup = {
        "dec": "," if lang == "es" else ".",
        "thou": "." if lang == "es" else ",",
        "nodata": label("no_data", lang),
        "lang": lang,
    }
    fmap = new_map(bounds=_bounds(inputs.localities), title=title, setup=setup, bundle=assets)
    ctx = MapContext(
        fmap=fmap, inputs=inputs, lang=lang, threshold=threshold, service_type=service_type
    )
    add_basemaps(ctx, online=online_basemap)
    return ctx


def _resolve_threshold(inputs: MapInputs, threshold: int | None) -> int | None:
    found = inputs.threshold_list()
    if threshold is None:
        return inputs.default_threshold()
    if found and int(threshold) not in found:
        msg = f"threshold {threshold!r} min not in the results; available: {found!r}"
        raise ConfigError(msg)
    return int(threshold)


def build_coverage_map(
    inputs: MapInputs,
    *,
    service_type: str,
    lang: str = "es",
    threshold: int | None = None,
    online_basemap: bool = False,
    assets: AssetBundle | None = None,
) -> folium.Map:
    """Build the coverage map of one service type as a :class:`folium.Map`.

    Parameters
    ----------
    inputs
        What to draw (see :class:`~geo_integration.render_inputs.MapInputs`).
    service_type
        A service type key with results (``inputs.service_types()``).
    lang
        ``"es"`` (default) or ``"en"``.
    threshold
        Minutes of the choropleth and the unmet-demand layer (default: 15 when available).
    online_basemap
        Show the OpenStreetMap basemap at opening (it needs internet; offline the map falls
        back to the plain background). By default the plain background is shown and the
        basemap is one click away in the layer control.
    assets
        Inline assets (default: read from the assets cache).

    Raises
    ------
    ConfigError
        Unknown language, service type or threshold.
    PrivacyError
        An input table holds unsuppressed small counts.
    RenderError
        Assets missing (run ``geo-integration assets fetch``).
    """
    check_lang(lang)
    available = inputs.service_types()
    if service_type not in available:
        msg = f"no results for service type {service_type!r}; available: {available!r}"
        raise ConfigError(msg)
    t = _resolve_threshold(inputs, threshold)
    title = label("title_coverage", lang, service=service_type_label(service_type, lang))
    ctx = _start(
        inputs,
        lang=lang,
        title=title,
        service_type=service_type,
        threshold=t,
        online_basemap=online_basemap,
        assets=assets,
    )
    ctx.fmap.add_child(hex_geometry_element(ctx))
    if t is not None:
        add_locality_coverage(ctx, name=ctx.t("layer_coverage", t=t), show=True)
    search_items = add_boundaries(ctx)
    add_upz(ctx)
    add_migrant_hexes(ctx, show=False)
    add_unmet(ctx, show=True)
    add_gap_layers(ctx)
    add_clusters(ctx)
    add_service_areas(ctx)
    add_services(ctx)
    add_sites(ctx)
    add_controls(ctx, title=title, search_items=search_items)
    stabilise_ids(ctx.fmap.get_root())
    return ctx.fmap


def build_overview_map(
    inputs: MapInputs,
    *,
    lang: str = "es",
    threshold: int | None = None,
    online_basemap: bool = False,
    assets: AssetBundle | None = None,
) -> folium.Map:
    """Build the overview map: coverage of every service type, migrants, all services, sites.

    Parameters are those of :func:`build_coverage_map` (without ``service_type``). Service
    areas and per-type hexagon layers are only on the coverage maps.
    """
    check_lang(lang)
    t = _resolve_threshold(inputs, threshold)
    title = label("title_overview", lang)
    ctx = _start(
        inputs,
        lang=lang,
        title=title,
        service_type=None,
        threshold=t,
        online_basemap=online_basemap,
        assets=assets,
    )
    ctx.fmap.add_child(hex_geometry_element(ctx))
    if t is not None:
        for st in inputs.service_types():
            ctx.service_type = st
            name = ctx.t("layer_coverage_of", service=service_type_label(st, lang), t=t)
            add_locality_coverage(ctx, name=name, show=False)
        ctx.service_type = None
    search_items = add_boundaries(ctx)
    add_upz(ctx)
    add_migrant_hexes(ctx, show=True)
    add_clusters(ctx)
    add_services(ctx)
    add_sites(ctx)
    add_controls(ctx, title=title, search_items=search_items)
    stabilise_ids(ctx.fmap.get_root())
    return ctx.fmap


def _to_html(fmap: folium.Map) -> str:
    page = fmap.get_root().render()
    loads = external_references(page)
    if loads:
        msg = f"the map would load external resources: {loads[:5]!r}"
        raise RenderError(msg)
    return page


def render_coverage_map(inputs: MapInputs, *, service_type: str, **options: Any) -> str:
    """Return the coverage map of ``service_type`` as one self-contained HTML page.

    Options are those of :func:`build_coverage_map`.
    """
    return _to_html(build_coverage_map(inputs, service_type=service_type, **options))


def render_overview_map(inputs: MapInputs, **options: Any) -> str:
    """Return the overview map as one self-contained HTML page (see :func:`build_overview_map`)."""
    return _to_html(build_overview_map(inputs, **options))


def coverage_map_name(service_type: str) -> str:
    """File name of a coverage map (``coverage_health.html``)."""
    safe = re.sub(r"[^A-Za-z0-9_-]+", "_", service_type).strip("_") or "type"
    return f"coverage_{safe}.html"


def write_maps(
    inputs: MapInputs,
    out_dir: str | os.PathLike[str],
    *,
    lang: str = "es",
    service_types: Sequence[str] | None = None,
    threshold: int | None = None,
    online_basemap: bool = False,
    assets: AssetBundle | None = None,
) -> list[Path]:
    """Write ``overview.html`` and one ``coverage_<type>.html`` per service type (atomically).

    Parameters
    ----------
    service_types
        Only these types (default: every type with results); the overview is always written.

    Returns
    -------
    list of Path
        The files written, overview first.
    """
    check_lang(lang)
    out = Path(out_dir)
    available = inputs.service_types()
    types = list(service_types) if service_types else available
    unknown = [st for st in types if st not in available]
    if unknown:  # checked before writing anything
        msg = f"no results for service type(s) {unknown!r}; available: {available!r}"
        raise ConfigError(msg)
    options = {
        "lang": lang,
        "threshold": threshold,
        "online_basemap": online_basemap,
        "assets": assets,
    }
    written = [write_text(out / "overview.html", render_overview_map(inputs, **options))]
    for st in types:
        page = render_coverage_map(inputs, service_type=st, **options)
        written.append(write_text(out / coverage_map_name(st), page))
    for path in written:
        log.info("wrote %s (%.2f MB)", path, path.stat().st_size / 1e6)
    return written
