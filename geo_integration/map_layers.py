"""Layers of the maps: each ``add_*`` function draws one kind of layer on a map being built.

Kept apart from :mod:`geo_integration.maps` (the public API) for readability. A
:class:`MapContext` carries the map, the inputs, the language and the chosen service type and
threshold; every ``add_*`` function adds its layer(s) and a legend section, or nothing when its
input is absent. Text from the data is HTML-escaped here; numbers are formatted here (Python)
or by the runtime (hexagon tooltips).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
from folium.plugins import Fullscreen, MarkerCluster

from geo_integration.errors import MissingColumnError, PrivacyError, RenderError
from geo_integration.geo import METRIC_CRS, WGS84
from geo_integration.labels import (
    fmt_int,
    fmt_minutes,
    fmt_number,
    fmt_pct,
    label,
    service_type_label,
)
from geo_integration.map_elements import GIScript, esc, strip_cdn, symbol_svg
from geo_integration.render_inputs import MapInputs

__all__ = [
    "MapContext",
    "add_basemaps",
    "add_boundaries",
    "add_clusters",
    "add_controls",
    "add_gap_layers",
    "add_locality_coverage",
    "add_migrant_hexes",
    "add_service_areas",
    "add_services",
    "add_sites",
    "add_unmet",
    "add_upz",
    "check_published_counts",
    "display_ranks",
    "hex_geometry_element",
]

COVERAGE_BREAKS = (0.2, 0.4, 0.6, 0.8)
COVERAGE_COLORS = ("#d7191c", "#fdae61", "#ffffbf", "#a6d96a", "#1a9641")
MIGRANT_COLORS = ("#efedf5", "#cbc9e2", "#9e9ac8", "#756bb1", "#54278f")
UNMET_COLORS = ("#fef0d9", "#fdcc8a", "#fc8d59", "#e34a33", "#b30000")
GAP_COLORS = ("#ffffd4", "#fed98e", "#fe9929", "#d95f0e", "#993404")
SUPPRESSED_COLOR = "#9e9e9e"
NO_DATA_COLOR = "#f7f7f7"
GI_COLORS = {
    "hot_99": "#b2182b",
    "hot_95": "#ef8a62",
    "hot_90": "#fddbc7",
    "cold_90": "#d1e5f0",
    "cold_95": "#67a9cf",
    "cold_99": "#2166ac",
}
LISA_COLORS = {
    "lisa_hh": "#d7191c",
    "lisa_hl": "#fdae61",
    "lisa_lh": "#abd9e9",
    "lisa_ll": "#2c7bb6",
}
AREA_COLORS = ("#08519c", "#3182bd", "#6baed6", "#9ecae1")
CLUSTER_COLOR = "#7a0177"
SITE_COLOR = "#111111"
SECRETARIAT_COLORS = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#9467bd",
    "#ff7f0e",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#7f7f7f",
    "#bcbd22",
)
SECRETARIAT_SHAPES = ("circle", "square", "triangle", "diamond", "pentagon", "hexagon", "star")
OSM_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
OSM_ATTRIBUTION = (
    '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
)
TOLERANCE_M = {"localities": 20.0, "upz": 15.0, "clusters": 10.0, "service_areas": 20.0}
HEX_OPACITY = 0.7
_DISPLAY_CACHE: dict[tuple[str, float], Any] = {}


# --------------------------------------------------------------------------- context


@dataclass
class MapContext:
    """State of one map being built."""

    fmap: folium.Map
    inputs: MapInputs
    lang: str
    threshold: int | None
    service_type: str | None
    hex_index: dict[str, int] = field(default_factory=dict)
    hex_encoded: list[list[int]] = field(default_factory=list)
    legend: list[tuple[folium.map.Layer | None, str]] = field(default_factory=list)

    def t(self, key: str, **values: Any) -> str:
        return label(key, self.lang, **values)

    @property
    def k(self) -> int:
        return self.inputs.privacy_k

    @property
    def supp_text(self) -> str:
        return self.t("suppressed", k=self.k)

    def layer(self, name: str, *, show: bool) -> folium.FeatureGroup:
        group = folium.FeatureGroup(name=esc(name), show=show)
        group.add_to(self.fmap)
        return group

    def hex_ids(self, cells: Sequence[str]) -> list[int]:
        import h3

        out = []
        for cell in cells:
            idx = self.hex_index.get(cell)
            if idx is None:
                idx = len(self.hex_encoded)
                self.hex_index[cell] = idx
                try:
                    boundary = h3.cell_to_boundary(cell)
                except (ValueError, TypeError) as exc:  # h3's errors derive from ValueError
                    msg = f"hexagon tables: invalid H3 cell {cell!r} ({exc})"
                    raise RenderError(msg) from None
                ring = np.round(np.asarray(boundary) * 1e5).astype(np.int64)
                deltas = np.diff(ring, axis=0).ravel().tolist()
                self.hex_encoded.append([int(ring[0, 0]), int(ring[0, 1]), *deltas])
            out.append(idx)
        return out


# --------------------------------------------------------------------------- helpers


def _require(table: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        msg = f"{what}: missing column(s) {missing!r}; columns: {list(table.columns)!r}"
        raise MissingColumnError(msg, column=missing[0])


def _keyed(table: pd.DataFrame, key: str, what: str) -> pd.DataFrame:
    if key not in table.columns and table.index.name == key:
        table = table.reset_index()
    _require(table, [key], what)
    plain = pd.DataFrame(table.drop(columns="geometry", errors="ignore"))
    plain[key] = plain[key].astype(str)
    return plain.drop_duplicates(key).set_index(key)


def check_published_counts(table: pd.DataFrame | None, k: int, what: str) -> None:
    """Raise :class:`PrivacyError` if ``table`` shows a count below ``k`` not suppressed."""
    if table is None or "migrants" not in table.columns:
        return
    counts = pd.to_numeric(table["migrants"], errors="coerce")
    flagged = (
        table["suppressed"].fillna(False).astype(bool)
        if "suppressed" in table.columns
        else pd.Series(False, index=table.index)
    )
    leaking = (counts > 0) & (counts < k) & ~flagged
    if leaking.any():
        msg = (
            f"{what}: {int(leaking.sum())} unit(s) with fewer than {k} migrants are not "
            f"suppressed (e.g. row {table.index[leaking.to_numpy()][0]!r}); apply "
            "geo_integration.privacy.suppress_small_counts before rendering"
        )
        raise PrivacyError(msg)


def _is_suppressed(row: pd.Series) -> bool:
    return bool(row.get("suppressed", False) is True or row.get("suppressed", False) == 1)


def _float(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def _rounded(values: pd.Series, decimals: int) -> list[float | int | None]:
    nums = pd.to_numeric(values, errors="coerce").astype("float64").round(decimals)
    if decimals == 0:
        return [None if np.isnan(v) else int(v) for v in nums.to_numpy()]
    return [None if np.isnan(v) else float(v) for v in nums.to_numpy()]


def _display_geoms(geoms: gpd.GeoSeries, tolerance_m: float) -> gpd.GeoSeries:
    """Simplify in metres, back to degrees, round to 5 decimals; drop nothing.

    Results are memoised by content (the boundaries are drawn on every map of a drop).
    """
    import shapely

    if geoms.crs is None:
        geoms = geoms.set_crs(WGS84)
    digest = hashlib.sha1(usedforsecurity=False)
    digest.update(str(geoms.crs).encode())
    for wkb in shapely.to_wkb(geoms.to_numpy()):
        digest.update(b"" if wkb is None else wkb)
    key = (digest.hexdigest(), tolerance_m)
    if key not in _DISPLAY_CACHE:
        metric = geoms.to_crs(METRIC_CRS).simplify(tolerance_m, preserve_topology=True)
        back = metric.to_crs(WGS84)
        if len(_DISPLAY_CACHE) >= 16:
            _DISPLAY_CACHE.pop(next(iter(_DISPLAY_CACHE)))
        _DISPLAY_CACHE[key] = shapely.transform(back.to_numpy(), lambda xy: np.round(xy, 5))
    return gpd.GeoSeries(_DISPLAY_CACHE[key], index=geoms.index, crs=WGS84)


def _geojson(geoms: gpd.GeoSeries, props: list[dict[str, Any]]) -> dict[str, Any]:
    from shapely.geometry import mapping

    features = [
        {"type": "Feature", "geometry": mapping(g), "properties": p}
        for g, p in zip(geoms, props, strict=True)
        if g is not None and not g.is_empty
    ]
    return {"type": "FeatureCollection", "features": features}


def _nice(value: float) -> float:
    if value <= 0:
        return 0.0
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def _count_classes(
    values: np.ndarray, lang: str, *, low: float
) -> tuple[np.ndarray, list[str], int]:
    """Classes of counts (quantile breaks rounded to nice numbers): (class, labels, n)."""
    finite = values[np.isfinite(values)]
    qs = np.quantile(finite, [0.2, 0.4, 0.6, 0.8]) if len(finite) else []
    breaks = sorted({_nice(float(q)) for q in qs if _nice(float(q)) > low})
    classes = np.digitize(np.nan_to_num(values, nan=low), breaks) if len(values) else values
    bounds = [low, *breaks]
    labels = []
    for i, lo in enumerate(bounds):
        if i + 1 < len(bounds):
            hi = bounds[i + 1] - 1
            text = f"{fmt_int(lo, lang)}–{fmt_int(hi, lang)}" if hi > lo else fmt_int(lo, lang)
        else:
            text = f"≥ {fmt_int(lo, lang)}"
        labels.append(text)
    return np.asarray(classes, dtype=int), labels, len(bounds)


def _quantile_classes(values: np.ndarray, lang: str) -> tuple[np.ndarray, list[str], int]:
    finite = values[np.isfinite(values)]
    breaks = sorted(set(np.round(np.quantile(finite, [0.2, 0.4, 0.6, 0.8]), 3).tolist()))
    classes = np.digitize(values, breaks)
    bounds = [float(finite.min()), *breaks, float(finite.max())]
    labels = [
        f"{fmt_number(bounds[i], lang, decimals=2)} – {fmt_number(bounds[i + 1], lang, decimals=2)}"
        for i in range(len(bounds) - 1)
    ]
    return np.asarray(classes, dtype=int), labels, len(labels)


def _palette(colors: Sequence[str], n: int) -> list[str]:
    if n <= 1:
        return [colors[-1]]
    picks = np.linspace(0, len(colors) - 1, n).round().astype(int)
    return [colors[i] for i in picks]


def _swatches(title: str, rows: Sequence[tuple[str, str]], *, note: str = "") -> str:
    parts = [f"<h4>{esc(title)}</h4>"]
    parts += [
        f'<div class="gi-row"><span class="gi-sw" style="background:{esc(color)}"></span>'
        f"{esc(text)}</div>"
        for color, text in rows
    ]
    if note:
        parts.append(f"<p>{esc(note)}</p>")
    return "".join(parts)


def _coverage_class(share: float | None) -> int | None:
    if share is None:
        return None
    return int(np.digitize([share], COVERAGE_BREAKS)[0])


def _coverage_legend(ctx: MapContext, title: str) -> str:
    edges = [0, *COVERAGE_BREAKS, 1]
    rows = [
        (
            COVERAGE_COLORS[i],
            fmt_pct(edges[i], ctx.lang, decimals=0)
            + " – "
            + fmt_pct(edges[i + 1], ctx.lang, decimals=0),
        )
        for i in range(len(COVERAGE_COLORS))
    ]
    rows += [
        (SUPPRESSED_COLOR, ctx.t("suppressed_class", k=ctx.k)),
        (NO_DATA_COLOR, ctx.t("no_data_class")),
    ]
    return _swatches(title, rows)


def _gap_ranks(table: pd.DataFrame | None, key: str, service_type: str | None) -> pd.Series | None:
    """Gap rank per unit from a rankings table (``rank_<type>``, or ``rank`` per type)."""
    if table is None:
        return None
    frame = table.reset_index() if key not in table.columns else table
    if key not in frame.columns:
        return None
    if service_type and f"rank_{service_type}" in frame.columns:
        col = f"rank_{service_type}"
    elif "rank" in frame.columns:
        col = "rank"
        if service_type and "service_type" in frame.columns:
            frame = frame[frame["service_type"].astype(str) == service_type]
    else:
        return None
    return pd.Series(frame[col].to_numpy(), index=frame[key].astype(str).to_numpy())


def display_ranks(
    rankings: pd.DataFrame | None,
    access: pd.DataFrame,
    *,
    key: str,
    service_type: str | None,
    threshold: int | None,
) -> tuple[pd.Series | None, str]:
    """Rank of each unit to show, and the label key saying which rank it is.

    The gap rank of the gaps analysis when present (``"rank_gap"``); else the rank by
    coverage at ``threshold``, lowest first (``"rank_coverage"``); else ``(None, "")``.
    ``access`` is indexed by ``key``.
    """
    ranks = _gap_ranks(rankings, key, service_type)
    if ranks is not None:
        return ranks, "rank_gap"
    share = f"share_within_{threshold}_{service_type}"
    if service_type and threshold is not None and share in access.columns:
        return pd.to_numeric(access[share], errors="coerce").rank(method="min"), "rank_coverage"
    return None, ""


def _col(ctx: MapContext, stem: str, t: int | None = None) -> str:
    st = ctx.service_type
    return f"{stem}_{t}_{st}" if t is not None else f"{stem}_{st}"


# --------------------------------------------------------------------------- layers


def add_basemaps(ctx: MapContext, *, online: bool) -> None:
    plain = folium.FeatureGroup(name=esc(ctx.t("basemap_plain")), overlay=False, show=not online)
    plain.add_to(ctx.fmap)
    osm = folium.TileLayer(
        tiles=OSM_TILES,
        attr=OSM_ATTRIBUTION,
        name=esc(ctx.t("basemap_osm")),
        overlay=False,
        show=online,
        max_zoom=19,
    )
    osm.add_to(ctx.fmap)
    ctx.fmap.add_child(
        GIScript("basemap", {"msg": ctx.t("basemap_offline")}, refs={"osm": osm, "plain": plain})
    )


def add_boundaries(ctx: MapContext) -> list[list[Any]]:
    loc = ctx.inputs.localities
    _require(loc, ["loc_code", "loc_name", "geometry"], "localities")
    group = ctx.layer(ctx.t("layer_localities"), show=True)
    geoms = _display_geoms(loc.geometry, TOLERANCE_M["localities"])
    style = {"color": "#333333", "weight": 1.6, "fill": False, "opacity": 0.9}
    spec = {"fc": _geojson(geoms, [{"s": 0} for _ in range(len(loc))]), "s": [style], "f": []}
    group.add_child(GIScript("polygons", spec))
    points = loc.to_crs(METRIC_CRS).representative_point().to_crs(WGS84)
    rows = [
        [round(p.y, 5), round(p.x, 5), esc(name)]
        for p, name in zip(points, loc["loc_name"], strict=True)
    ]
    group.add_child(GIScript("labels", rows))
    legend = (
        f'<h4>{esc(ctx.t("layer_localities"))}</h4><div class="gi-row">'
        f'<span class="gi-line" style="border-top:2px solid #333"></span>'
        f"{esc(ctx.t('locality'))}</div>"
    )
    ctx.legend.append((group, legend))
    items = []
    for name, geom in zip(loc["loc_name"], loc.geometry, strict=True):
        west, south, east, north = geom.bounds
        items.append(
            [str(name), [[round(south, 5), round(west, 5)], [round(north, 5), round(east, 5)]]]
        )
    return items


def _coverage_rows(ctx: MapContext, row: pd.Series | None, rank: Any, rank_label: str) -> list[str]:
    """Tooltip values: migrants, coverage per threshold, median time, rank."""
    supp = row is not None and _is_suppressed(row)
    missing = ctx.supp_text if supp else ctx.t("no_data")
    get = (lambda c: None) if row is None else (lambda c: _float(row.get(c)))
    values = [fmt_int(get("migrants"), ctx.lang, missing=missing)]
    if ctx.service_type:
        values += [
            fmt_pct(get(_col(ctx, "share_within", t)), ctx.lang, missing=missing)
            for t in ctx.inputs.threshold_list()
        ]
        values.append(fmt_minutes(get(_col(ctx, "median_time")), ctx.lang, missing=missing))
        if rank_label:  # a suppressed unit's rank is not shown either
            shown = None if supp else _float(rank)
            values.append(fmt_int(shown, ctx.lang, missing=missing))
    return [esc(v) for v in values]


def _coverage_fields(ctx: MapContext, rank_label: str) -> list[str]:
    fields = [ctx.t("migrants")]
    if ctx.service_type:
        fields += [ctx.t("coverage_t", t=t) for t in ctx.inputs.threshold_list()]
        fields.append(ctx.t("median_time"))
        if rank_label:
            fields.append(rank_label)
    return [esc(f) for f in fields]


def _unit_style(ctx: MapContext, row: pd.Series | None, weight: float) -> dict[str, Any]:
    base = {"color": "#555555", "weight": weight, "opacity": 0.8, "fillOpacity": 0.65}
    if row is None:
        return base | {"fillColor": NO_DATA_COLOR}
    if _is_suppressed(row):
        return base | {"fillColor": SUPPRESSED_COLOR}
    if ctx.service_type and ctx.threshold is not None:
        cls = _coverage_class(_float(row.get(_col(ctx, "share_within", ctx.threshold))))
        return base | {"fillColor": NO_DATA_COLOR if cls is None else COVERAGE_COLORS[cls]}
    return base | {"fillColor": NO_DATA_COLOR, "fillOpacity": 0.15}


def _choropleth_spec(
    ctx: MapContext,
    units: gpd.GeoDataFrame,
    key: str,
    access: pd.DataFrame,
    titles: list[str],
    weight: float,
    tolerance: float,
    rankings: pd.DataFrame | None,
) -> dict[str, Any]:
    ranks, rank_key = display_ranks(
        rankings, access, key=key, service_type=ctx.service_type, threshold=ctx.threshold
    )
    rank_label = ctx.t(rank_key) if rank_key else ""
    styles: list[dict[str, Any]] = []
    style_ids: dict[str, int] = {}
    props = []
    for code, title in zip(units[key].astype(str), titles, strict=True):
        row = access.loc[code] if code in access.index else None
        style = _unit_style(ctx, row, weight)
        sid = style_ids.setdefault(repr(sorted(style.items())), len(styles))
        if sid == len(styles):
            styles.append(style)
        rank = ranks.get(code) if ranks is not None else None
        props.append({"s": sid, "n": esc(title), "t": _coverage_rows(ctx, row, rank, rank_label)})
    fields = _coverage_fields(ctx, rank_label)
    geoms = _display_geoms(units.geometry, tolerance)
    return {"fc": _geojson(geoms, props), "s": styles, "f": fields}


def add_locality_coverage(ctx: MapContext, *, name: str, show: bool) -> None:
    access = ctx.inputs.locality_access
    if access is None or ctx.threshold is None:
        return
    table = _keyed(access, "loc_code", "locality accessibility table")
    share = _col(ctx, "share_within", ctx.threshold)
    if share not in table.columns:
        return
    loc = ctx.inputs.localities
    spec = _choropleth_spec(
        ctx,
        loc,
        "loc_code",
        table,
        list(loc["loc_name"]),
        1.0,
        TOLERANCE_M["localities"],
        ctx.inputs.rank_localities,
    )
    group = ctx.layer(name, show=show)
    group.add_child(GIScript("polygons", spec))
    ctx.legend.append((group, _coverage_legend(ctx, name)))


def add_upz(ctx: MapContext) -> None:
    upz = ctx.inputs.upz
    if upz is None or upz.empty:
        return
    _require(upz, ["upz_code", "upz_name", "geometry"], "UPZ")
    access = (
        _keyed(ctx.inputs.upz_access, "upz_code", "UPZ accessibility table")
        if ctx.inputs.upz_access is not None
        else pd.DataFrame(index=pd.Index([], name="upz_code"))
    )
    titles = [f"{n} ({c})" for n, c in zip(upz["upz_name"], upz["upz_code"], strict=True)]
    spec = _choropleth_spec(
        ctx, upz, "upz_code", access, titles, 0.6, TOLERANCE_M["upz"], ctx.inputs.rank_upz
    )
    name = ctx.t("layer_upz")
    group = ctx.layer(name, show=False)
    group.add_child(GIScript("polygons", spec))
    has_cov = ctx.service_type and _col(ctx, "share_within", ctx.threshold) in access.columns
    title = f"{name}: {ctx.t('coverage_t', t=ctx.threshold)}" if has_cov else name
    ctx.legend.append((group, _coverage_legend(ctx, title) if has_cov else _swatches(name, [])))


def _hex_table(ctx: MapContext) -> pd.DataFrame | None:
    table = ctx.inputs.hex_access
    if table is None:
        return None
    return _keyed(table, "h3_cell", "hexagon accessibility table")


def _add_hex_layer(
    ctx: MapContext,
    *,
    name: str,
    cells: Sequence[str],
    classes: np.ndarray,
    colors: list[str],
    fields: list[tuple[str, str]] | list[list[Any]],
    values: list[list[Any]],
    show: bool,
    legend_html: str,
    suppressed_class: int = -1,
) -> None:
    if not len(cells):
        return
    group = ctx.layer(name, show=show)
    spec = {
        "i": ctx.hex_ids(cells),
        "c": [int(c) for c in classes],
        "p": colors,
        "f": [[esc(f[0]), *f[1:]] for f in fields],
        "v": values,
        "sc": suppressed_class,
        "st": esc(ctx.supp_text),
        "t": "",
        "o": HEX_OPACITY,
    }
    group.add_child(GIScript("hexes", spec))
    ctx.legend.append((group, legend_html))


def _hex_measure_fields(ctx: MapContext, table: pd.DataFrame) -> list[tuple[list[Any], list[Any]]]:
    """(field, values) of the per-type measures shown in hexagon tooltips."""
    out: list[tuple[list[Any], list[Any]]] = []
    if ctx.service_type is None or ctx.threshold is None:
        return out
    share = _col(ctx, "share_within", ctx.threshold)
    if share in table.columns:
        out.append(([ctx.t("coverage_t", t=ctx.threshold), "pct"], _rounded(table[share], 3)))
    median = _col(ctx, "median_time")
    if median in table.columns:
        out.append(([ctx.t("median_time"), "min"], _rounded(table[median], 1)))
    return out


def add_migrant_hexes(ctx: MapContext, *, show: bool) -> None:
    table = _hex_table(ctx)
    if table is None or "migrants" not in table.columns:
        return
    supp = (
        table["suppressed"].fillna(False).astype(bool)
        if "suppressed" in table
        else pd.Series(False, index=table.index)
    )
    counts = pd.to_numeric(table["migrants"], errors="coerce")
    table = table[supp | (counts > 0)]
    supp, counts = supp.loc[table.index], counts.loc[table.index]
    values = counts.to_numpy(dtype=float)
    classes, labels, n = _count_classes(values[~supp.to_numpy()], ctx.lang, low=ctx.k)
    colors = [*_palette(MIGRANT_COLORS, n), SUPPRESSED_COLOR]
    all_classes = np.full(len(table), n, dtype=int)
    all_classes[~supp.to_numpy()] = classes
    fields: list[list[Any]] = [[ctx.t("migrants"), "int"]]
    cols: list[list[Any]] = [_rounded(counts, 0)]
    if "residences" in table.columns:
        fields.append([ctx.t("residences"), "int"])
        cols.append(_rounded(table["residences"], 0))
    for fld, vals in _hex_measure_fields(ctx, table):
        fields.append(fld)
        cols.append(vals)
    name = ctx.t("layer_migrants")
    legend = _swatches(
        name,
        [
            *zip(colors[:-1], labels, strict=True),
            (SUPPRESSED_COLOR, ctx.t("suppressed_class", k=ctx.k)),
        ],
        note=ctx.t("privacy_note", k=ctx.k),
    )
    _add_hex_layer(
        ctx,
        name=name,
        cells=list(table.index),
        classes=all_classes,
        colors=colors,
        fields=fields,
        values=cols,
        show=show,
        legend_html=legend,
        suppressed_class=n,
    )


def add_unmet(ctx: MapContext, *, show: bool) -> None:
    table = _hex_table(ctx)
    t = ctx.threshold
    if table is None or t is None or "migrants" not in table.columns:
        return
    within, share = _col(ctx, "within", t), _col(ctx, "share_within", t)
    migrants = pd.to_numeric(table["migrants"], errors="coerce")
    if within in table.columns:
        covered = pd.to_numeric(table[within], errors="coerce")
    elif share in table.columns:
        covered = migrants * pd.to_numeric(table[share], errors="coerce")
    else:
        return
    unmet = (migrants - covered).round()
    keep = unmet.fillna(0) > 0
    if "suppressed" in table.columns:
        keep &= ~table["suppressed"].fillna(False).astype(bool)
    table, unmet = table[keep], unmet[keep]
    values = unmet.to_numpy(dtype=float)
    classes, labels, n = _count_classes(values, ctx.lang, low=1)
    colors = _palette(UNMET_COLORS, n)
    fields: list[list[Any]] = [[ctx.t("beyond_t", t=t), "int"], [ctx.t("migrants"), "int"]]
    cols: list[list[Any]] = [_rounded(unmet, 0), _rounded(table["migrants"], 0)]
    for fld, vals in _hex_measure_fields(ctx, table):
        fields.append(fld)
        cols.append(vals)
    name = ctx.t("layer_unmet", t=t)
    legend = _swatches(name, list(zip(colors, labels, strict=True)), note=ctx.t("unmet_note", t=t))
    _add_hex_layer(
        ctx,
        name=name,
        cells=list(table.index),
        classes=classes,
        colors=colors,
        fields=fields,
        values=cols,
        show=show,
        legend_html=legend,
    )


def _lisa_key(value: Any) -> str | None:
    text = re.sub(r"[^a-z]", "", str(value).lower())
    mapping = {
        "hh": "lisa_hh",
        "highhigh": "lisa_hh",
        "ll": "lisa_ll",
        "lowlow": "lisa_ll",
        "hl": "lisa_hl",
        "highlow": "lisa_hl",
        "lh": "lisa_lh",
        "lowhigh": "lisa_lh",
    }
    return mapping.get(text)


def _add_class_layer(
    ctx: MapContext,
    table: pd.DataFrame,
    col: str,
    keys: dict[str, str],
    *,
    name: str,
    field_label: str,
) -> None:
    """Hexagons of a categorical column; ``keys`` maps each drawn class to its colour."""
    if col not in table.columns:
        return
    mapped = table[col].map(lambda v: v if v in keys else _lisa_key(v))
    mapped = mapped[mapped.isin(list(keys))]
    order = [k for k in keys if k in set(mapped)]
    if not order:
        return
    classes = mapped.map({k: i for i, k in enumerate(order)}).to_numpy()
    labels = [ctx.t(k) for k in order]
    legend = _swatches(name, [(keys[k], ctx.t(k)) for k in order])
    _add_hex_layer(
        ctx,
        name=name,
        cells=list(mapped.index),
        classes=classes,
        colors=[keys[k] for k in order],
        fields=[[field_label, "cls", [esc(x) for x in labels]]],
        values=[[int(c) for c in classes]],
        show=False,
        legend_html=legend,
    )


def add_gap_layers(ctx: MapContext) -> None:
    if ctx.inputs.gap_hexagons is None or ctx.service_type is None:
        return
    table = _keyed(ctx.inputs.gap_hexagons, "h3_cell", "gaps hexagon table")
    gap_col = _col(ctx, "gap")
    if gap_col in table.columns:
        gap = pd.to_numeric(table[gap_col], errors="coerce").dropna()
        if len(gap):
            classes, labels, n = _quantile_classes(gap.to_numpy(dtype=float), ctx.lang)
            colors = _palette(GAP_COLORS, n)
            name = ctx.t("layer_gap")
            _add_hex_layer(
                ctx,
                name=name,
                cells=list(gap.index),
                classes=classes,
                colors=colors,
                fields=[[ctx.t("gap"), "num"]],
                values=[_rounded(gap, 3)],
                show=False,
                legend_html=_swatches(name, list(zip(colors, labels, strict=True))),
            )
    _add_class_layer(
        ctx,
        table,
        _col(ctx, "gi_class"),
        GI_COLORS,
        name=ctx.t("layer_hotspots"),
        field_label=ctx.t("gi_class"),
    )
    _add_class_layer(
        ctx,
        table,
        _col(ctx, "lisa_class"),
        LISA_COLORS,
        name=ctx.t("layer_lisa"),
        field_label=ctx.t("lisa_class"),
    )


def add_clusters(ctx: MapContext) -> None:
    clusters = ctx.inputs.clusters
    if clusters is None or clusters.empty:
        return
    _require(clusters, ["cluster_id", "geometry"], "clusters")
    fields = [ctx.t("locality"), ctx.t("migrants"), ctx.t("residences")]
    if ctx.service_type:
        fields.append(ctx.t("median_time"))
        if ctx.threshold is not None:
            fields.append(ctx.t("share_beyond_t", t=ctx.threshold))
    props = []
    for _, row in clusters.iterrows():
        supp = _is_suppressed(row)
        missing = ctx.supp_text if supp else ctx.t("no_data")
        values = [
            str(row.get("loc_name", "") or ""),
            fmt_int(_float(row.get("migrants")), ctx.lang, missing=missing),
            fmt_int(_float(row.get("residences")), ctx.lang, missing=missing),
        ]
        if ctx.service_type:
            values.append(
                fmt_minutes(_float(row.get(_col(ctx, "median_time"))), ctx.lang, missing=missing)
            )
            if ctx.threshold is not None:
                share = _float(row.get(_col(ctx, "share_beyond", ctx.threshold)))
                values.append(fmt_pct(share, ctx.lang, missing=missing))
        title = f"{ctx.t('cluster')} {row['cluster_id']}"
        props.append({"s": 0, "n": esc(title), "t": [esc(v) for v in values]})
    style = {
        "color": CLUSTER_COLOR,
        "weight": 2.2,
        "dashArray": "6 4",
        "fillOpacity": 0.08,
        "fillColor": CLUSTER_COLOR,
    }
    geoms = _display_geoms(clusters.geometry, TOLERANCE_M["clusters"])
    spec = {"fc": _geojson(geoms, props), "s": [style], "f": [esc(f) for f in fields]}
    name = ctx.t("layer_clusters")
    group = ctx.layer(name, show=False)
    group.add_child(GIScript("polygons", spec))
    legend = (
        f'<h4>{esc(name)}</h4><div class="gi-row"><span class="gi-line" '
        f'style="border-color:{CLUSTER_COLOR}"></span>{esc(ctx.t("cluster"))}</div>'
        f"<p>{esc(ctx.t('clusters_note'))}</p>"
    )
    ctx.legend.append((group, legend))


def add_service_areas(ctx: MapContext) -> None:
    areas = ctx.inputs.service_areas
    if areas is None or areas.empty or ctx.service_type is None:
        return
    _require(areas, ["service_type", "threshold_min", "geometry"], "service areas")
    mine = areas[areas["service_type"].astype(str) == ctx.service_type]
    thresholds = sorted({int(t) for t in mine["threshold_min"]})
    for i, t in enumerate(thresholds):
        part = mine[mine["threshold_min"].astype(int) == t]
        merged = gpd.GeoSeries([part.geometry.union_all()], crs=part.crs or WGS84)
        geoms = _display_geoms(merged, TOLERANCE_M["service_areas"])
        color = AREA_COLORS[min(i, len(AREA_COLORS) - 1)]
        style = {
            "color": color,
            "weight": 1,
            "opacity": 0.6,
            "fillColor": color,
            "fillOpacity": 0.18,
        }
        name = ctx.t("layer_service_area", t=t)
        spec = {"fc": _geojson(geoms, [{"s": 0}]), "s": [style], "f": []}
        group = ctx.layer(name, show=False)
        group.add_child(GIScript("polygons", spec))
        legend = _swatches(
            name, [(color, ctx.t("threshold") + f": {t} min")], note=ctx.t("service_area_note")
        )
        ctx.legend.append((group, legend))


def _secretariat_styles(services: pd.DataFrame, lang: str) -> dict[str, tuple[str, str]]:
    """Colour and shape of each secretariat, fixed by its order in the whole table."""
    names = sorted(_secretariat_names(services, lang).unique())
    return {
        name: (
            SECRETARIAT_SHAPES[i % len(SECRETARIAT_SHAPES)],
            SECRETARIAT_COLORS[i % len(SECRETARIAT_COLORS)],
        )
        for i, name in enumerate(names)
    }


def _secretariat_names(services: pd.DataFrame, lang: str) -> pd.Series:
    unknown = label("unknown", lang)
    if "secretariat" not in services.columns:
        return pd.Series(unknown, index=services.index)
    return services["secretariat"].fillna(unknown).astype(str).str.strip().replace("", unknown)


def _text(value: Any, missing: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return missing
    text = str(value).strip()
    return text if text else missing


def _capacity(value: Any, lang: str) -> str:
    number = _float(value)
    if number is None:
        return label("unknown", lang)
    return fmt_number(number, lang, decimals=0 if number == int(number) else 1)


def add_services(ctx: MapContext) -> None:
    services = ctx.inputs.services
    if services is None or services.empty:
        return
    _require(services, ["service_type", "geometry"], "services")
    styles = _secretariat_styles(services, ctx.lang)
    chosen = services
    if ctx.service_type:
        chosen = services[services["service_type"].astype(str) == ctx.service_type]
    chosen = chosen[chosen.geometry.notna() & ~chosen.geometry.is_empty]
    if chosen.crs is not None:
        chosen = chosen.to_crs(WGS84)
    secretariats = _secretariat_names(chosen, ctx.lang)
    fields = [ctx.t(k) for k in ("service_type", "secretariat", "capacity", "hours", "address")]
    unknown = ctx.t("unknown")
    for secretariat in sorted(secretariats.unique()):
        part = chosen[secretariats == secretariat]
        shape, color = styles[secretariat]
        rows = []
        for geom, (_, row) in zip(part.geometry, part.iterrows(), strict=True):
            title = _text(row.get("name"), _text(row.get("service_id"), unknown))
            values = [
                service_type_label(str(row["service_type"]), ctx.lang),
                secretariat,
                _capacity(row.get("capacity"), ctx.lang),
                _text(row.get("hours"), unknown),
                _text(row.get("address"), unknown),
            ]
            rows.append(
                [round(geom.y, 5), round(geom.x, 5), 0, esc(title), *(esc(v) for v in values)]
            )
        name = ctx.t("layer_services", secretariat=secretariat)
        cluster = MarkerCluster(
            name=esc(name),
            show=True,
            icon_create_function=f"GI.clusterIcon({color!r})",
            options={
                "showCoverageOnHover": False,
                "maxClusterRadius": 45,
                "disableClusteringAtZoom": 16,
                "chunkedLoading": True,
            },
        )
        strip_cdn(cluster)
        cluster.add_to(ctx.fmap)
        spec = {"s": [[shape, color]], "f": [esc(f) for f in fields], "r": rows, "z": 18}
        cluster.add_child(GIScript("points", spec))
        legend = (
            f'<h4>{esc(name)}</h4><div class="gi-row">{symbol_svg(shape, color)}'
            f"{esc(secretariat)} ({fmt_int(len(rows), ctx.lang)})</div>"
        )
        ctx.legend.append((cluster, legend))


def _summary_html(ctx: MapContext, summary: dict[str, Any] | None) -> str:
    if not summary:
        return ""
    rows = []
    for key, lab in (
        ("model", "model"),
        ("p", "p_sites"),
        ("threshold", "threshold"),
        ("objective", "objective"),
    ):
        if key in summary and summary[key] is not None:
            value = summary[key]
            text = f"{value} min" if key == "threshold" else str(value)
            rows.append((ctx.t(lab), text))
    for key in ("coverage_before", "coverage_after"):
        value = _float(summary.get(key))
        if value is not None:
            rows.append(
                (
                    ctx.t(key),
                    fmt_pct(value, ctx.lang) if value <= 1 else fmt_number(value, ctx.lang),
                )
            )
    body = "".join(f"<tr><th>{esc(a)}</th><td>{esc(b)}</td></tr>" for a, b in rows)
    return f'<table class="gi-table">{body}</table>' if body else ""


def add_sites(ctx: MapContext) -> None:
    sites = ctx.inputs.sites
    if sites is None or sites.empty:
        return
    _require(sites, ["rank", "geometry"], "proposed sites")
    if ctx.service_type and "service_type" in sites.columns:
        sites = sites[sites["service_type"].astype(str) == ctx.service_type]
    if sites.empty:
        return
    if sites.crs is not None:
        sites = sites.to_crs(WGS84)
    sites = sites.sort_values("rank")
    fields = [ctx.t("rank"), ctx.t("marginal_gain"), ctx.t("selection_frequency")]
    rows = []
    for geom, (_, row) in zip(sites.geometry, sites.iterrows(), strict=True):
        title = _text(row.get("name"), _text(row.get("candidate_id"), ctx.t("site")))
        freq = _float(row.get("selection_frequency"))
        gain = _float(row.get("marginal_gain"))
        values = [
            fmt_int(_float(row["rank"]), ctx.lang),
            fmt_number(
                gain,
                ctx.lang,
                decimals=0 if gain is None or abs(gain) >= 100 else 2,
                missing=ctx.t("no_data"),
            ),
            fmt_pct(freq, ctx.lang, decimals=0, missing=ctx.t("no_data"))
            if freq is None or freq <= 1
            else fmt_number(freq, ctx.lang),
        ]
        rows.append([round(geom.y, 5), round(geom.x, 5), 0, esc(title), *(esc(v) for v in values)])
    name = ctx.t("layer_sites")
    group = ctx.layer(name, show=True)
    spec = {
        "s": [["circle", SITE_COLOR]],
        "f": [esc(f) for f in fields],
        "r": rows,
        "z": 24,
        "n": 4,
    }
    group.add_child(GIScript("points", spec))
    legend = (
        f'<h4>{esc(name)}</h4><div class="gi-row">{symbol_svg("circle", SITE_COLOR, text="1")}'
        f"{esc(ctx.t('sites_note'))}</div>{_summary_html(ctx, ctx.inputs.siting_summary)}"
    )
    ctx.legend.append((group, legend))


def add_controls(ctx: MapContext, *, title: str, search_items: list[list[Any]]) -> None:
    inputs = ctx.inputs
    sources = list(inputs.sources) or [
        ctx.t("default_source_drop"),
        ctx.t("default_source_boundaries"),
        ctx.t("default_source_h3", res=inputs.h3_resolution),
    ]
    sub = (
        [ctx.t("drop_of", date=inputs.drop_date or inputs.drop_id)]
        if (inputs.drop_date or inputs.drop_id)
        else []
    )
    sub.append(f"{ctx.t('sources')}: " + "; ".join(sources))
    folium.LayerControl(collapsed=False, position="topright").add_to(ctx.fmap)
    strip_cdn(
        Fullscreen(
            position="topleft", title=ctx.t("fullscreen"), title_cancel=ctx.t("fullscreen_exit")
        )
    ).add_to(ctx.fmap)
    ctx.fmap.add_child(
        GIScript(
            "search",
            {
                "items": search_items,
                "ph": ctx.t("search_placeholder"),
                "go": ctx.t("search_go"),
                "nf": ctx.t("search_not_found"),
            },
        )
    )
    ctx.fmap.add_child(GIScript("title", {"h": esc(title), "s": " · ".join(esc(s) for s in sub)}))
    sections = list(ctx.legend)
    sections.append((None, f"<p>{esc(ctx.t('privacy_note', k=ctx.k))}</p>"))

    def legend_payload() -> dict[str, Any]:
        return {
            "t": esc(ctx.t("legend")),
            "s": [
                {"l": lay.get_name() if lay is not None else None, "h": h} for lay, h in sections
            ],
        }

    ctx.fmap.add_child(GIScript("legend", legend_payload))


def hex_geometry_element(ctx: MapContext) -> GIScript:
    """The element that hands the hexagon rings to the runtime (filled while layers are added)."""
    return GIScript("setHexes", lambda: ctx.hex_encoded, with_parent=False)
