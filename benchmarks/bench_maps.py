"""Map sizes and render times against the budgets (5 MB at 20,000 residences, 15 MB at 1 M).

Run from the repository root (needs the data mirror and the map assets)::

    GEO_INTEGRATION_DATA=/work/shared/data/bogota PYTHONPATH=. python benchmarks/bench_maps.py

Synthetic accessibility, gaps and siting tables shaped like the full city are laid over the
real locality and UPZ boundaries:

- ``20k``: 20,000 residences spread over localities 01-19 (urban and peri-urban), H3 res 9,
  suppressed below k = 10;
- ``1M``: 1,000,000 residences spread over the whole district, Sumapaz included (worst case
  for the number of cells);
- both: 2,500 service points of 8 types run by 5 secretariats, service areas of 3 thresholds
  x 8 types (jagged unions of star-shaped polygons, to stress the simplification), 40
  clusters, 10 proposed sites, gaps for every type.

Printed: cells, file size (MB) and render time of the overview and of one coverage map, their
ratio to the budget, and the baseline of the same run: an empty map (assets only) and the
migrants layer written the naive way (``folium.GeoJson`` of full-precision hexagons). Nothing
is written into the repository (files go to a temporary directory).
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import Polygon

from geo_integration.loaders import load_localities, load_upz
from geo_integration.maps import render_coverage_map, render_overview_map
from geo_integration.privacy import suppress_small_counts
from geo_integration.render_inputs import MapInputs

TYPES = (
    "school",
    "health",
    "citizen_service",
    "social_integration",
    "transit",
    "women",
    "employment",
    "childcare",
)
SECRETARIATS = ("Educación", "Salud", "Gobierno", "Integración Social", "Mujer")
THRESHOLDS = (10, 15, 30)
BUDGET_MB = {"20k": 5.0, "1M": 15.0}
RNG = np.random.default_rng(20240601)


def sample_points(area: gpd.GeoSeries, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Uniform points inside ``area`` (EPSG:4326), by rejection in the bounding box."""
    union = area.union_all()
    shapely.prepare(union)
    west, south, east, north = union.bounds
    lats, lons = [], []
    got = 0
    while got < n:
        lon = RNG.uniform(west, east, 2 * n)
        lat = RNG.uniform(south, north, 2 * n)
        inside = shapely.contains_xy(union, lon, lat)
        lons.append(lon[inside])
        lats.append(lat[inside])
        got += int(inside.sum())
    return np.concatenate(lats)[:n], np.concatenate(lons)[:n]


def cell_counts(lat: np.ndarray, lon: np.ndarray) -> pd.Series:
    cells = [h3.latlng_to_cell(a, b, 9) for a, b in zip(lat.tolist(), lon.tolist(), strict=True)]
    return pd.Series(cells).value_counts().rename("migrants")


def access_table(keys: pd.Index, migrants: np.ndarray, key: str, k: int) -> pd.DataFrame:
    table = pd.DataFrame({key: keys.astype(str), "migrants": migrants.astype(float)})
    table["residences"] = np.ceil(table["migrants"] / 2.3)
    for st in TYPES:
        base = RNG.uniform(0, 1, len(table))
        for t, add in zip(THRESHOLDS, (0.0, 0.15, 0.4), strict=True):
            share = np.clip(base + add, 0, 1)
            table[f"share_within_{t}_{st}"] = share.round(3)
            table[f"within_{t}_{st}"] = (share * table["migrants"]).round()
        table[f"median_time_{st}"] = RNG.gamma(4, 4, len(table)).round(1)
        table[f"e2sfca_{st}"] = RNG.uniform(0, 0.01, len(table))
        table[f"two_sfca_{st}"] = RNG.uniform(0, 0.01, len(table))
    return suppress_small_counts(table, k=k)


def jagged(x: float, y: float, radius: float) -> Polygon:
    angles = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    r = radius * RNG.uniform(0.6, 1.0, len(angles))
    return Polygon(np.column_stack([x + r * np.cos(angles), y + r * np.sin(angles)]))


def make_services(urban: gpd.GeoSeries, n: int = 2500) -> gpd.GeoDataFrame:
    lat, lon = sample_points(urban, n)
    types = RNG.choice(TYPES, n)
    sec = [SECRETARIATS[TYPES.index(t) % len(SECRETARIATS)] for t in types]
    return gpd.GeoDataFrame(
        {
            "service_id": [f"S{i:05d}" for i in range(n)],
            "name": [f"Punto de atención {t} número {i}" for i, t in enumerate(types)],
            "secretariat": sec,
            "service_type": types,
            "capacity": np.where(RNG.uniform(size=n) < 0.3, np.nan, RNG.integers(20, 900, n)),
            "hours": "L-V 7:00-17:00",
            "address": [
                f"KR {RNG.integers(1, 120)} # {RNG.integers(1, 200)}-{i % 99}" for i in range(n)
            ],
        },
        geometry=gpd.points_from_xy(lon, lat),
        crs="EPSG:4326",
    )


def make_service_areas(services: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    metric = services.to_crs("EPSG:9377")
    rows = []
    for st in TYPES:
        pts = metric[metric["service_type"] == st].geometry
        for t in THRESHOLDS:
            radius = t * 75.0 * 0.7  # 4.5 km/h, network detour
            union = shapely.union_all([jagged(p.x, p.y, radius) for p in pts])
            rows.append((st, t, union))
    frame = gpd.GeoDataFrame(
        {"service_type": [r[0] for r in rows], "threshold_min": [r[1] for r in rows]},
        geometry=[r[2] for r in rows],
        crs="EPSG:9377",
    )
    return frame.to_crs("EPSG:4326")


def make_gaps(cells: pd.Index) -> pd.DataFrame:
    gi = np.array(["hot_99", "hot_95", "hot_90", "not_significant", "cold_90", "cold_95"])
    lisa = np.array(["HH", "LL", "HL", "LH", "ns", "ns"])
    table = pd.DataFrame({"h3_cell": cells})
    for st in TYPES:
        table[f"gap_{st}"] = RNG.normal(0, 1, len(cells)).round(3)
        table[f"gi_class_{st}"] = RNG.choice(gi, len(cells), p=[0.05, 0.05, 0.05, 0.7, 0.1, 0.05])
        table[f"lisa_class_{st}"] = RNG.choice(lisa, len(cells))
    return table


def make_clusters(urban: gpd.GeoSeries, n: int = 40) -> gpd.GeoDataFrame:
    lat, lon = sample_points(urban, n)
    centres = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs="EPSG:4326").to_crs("EPSG:9377")
    polys = [jagged(p.x, p.y, 600) for p in centres]
    table = pd.DataFrame({"cluster_id": range(1, n + 1), "migrants": RNG.integers(50, 3000, n)})
    table["residences"] = table["migrants"] // 2
    table["loc_name"] = "Kennedy"
    for st in TYPES:
        table[f"median_time_{st}"] = RNG.gamma(4, 5, n).round(1)
        table[f"share_beyond_15_{st}"] = RNG.uniform(0, 1, n).round(3)
    return gpd.GeoDataFrame(table, geometry=polys, crs="EPSG:9377").to_crs("EPSG:4326")


def make_inputs(scenario: str, n: int) -> MapInputs:
    localities = load_localities()
    upz = load_upz()
    urban = localities[~localities["rural"]].geometry
    area = urban if scenario == "20k" else localities.geometry
    lat, lon = sample_points(area, n)
    counts = cell_counts(lat, lon)
    hexes = access_table(counts.index, counts.to_numpy(), "h3_cell", 10)
    loc_counts = RNG.integers(200, 5000, len(localities)) * (n // 20000)
    upz_counts = RNG.integers(0, 800, len(upz)) * (n // 20000)
    services = make_services(urban)
    sites = services.sample(10, random_state=1)[["geometry"]].copy()
    sites["candidate_id"] = [f"C{i}" for i in range(10)]
    sites["name"] = [f"Candidato {i}" for i in range(10)]
    sites["rank"] = range(1, 11)
    sites["marginal_gain"] = np.linspace(900, 80, 10)
    sites["selection_frequency"] = np.linspace(1, 0.4, 10)
    return MapInputs(
        localities=localities,
        upz=upz,
        locality_access=access_table(pd.Index(localities["loc_code"]), loc_counts, "loc_code", 10),
        upz_access=access_table(pd.Index(upz["upz_code"]), upz_counts, "upz_code", 10),
        hex_access=hexes,
        service_areas=make_service_areas(services),
        services=services,
        gap_hexagons=make_gaps(counts.index),
        clusters=make_clusters(urban),
        rank_localities=pd.DataFrame({"loc_code": localities["loc_code"], "rank": range(1, 21)}),
        sites=gpd.GeoDataFrame(sites, geometry="geometry", crs="EPSG:4326"),
        siting_summary={"model": "MCLP", "p": 10, "threshold": 15},
        drop_id=f"bench-{scenario}",
        drop_date="2024-06-01",
    )


def naive_hex_mb(inputs: MapInputs) -> float:
    """Baseline: the migrants layer as folium.GeoJson of full-precision hexagons."""
    import folium

    from geo_integration.areas import hex_polygons

    hexes = inputs.hex_access
    assert hexes is not None
    polys = hex_polygons(hexes["h3_cell"])
    frame = gpd.GeoDataFrame(
        {"migrants": hexes["migrants"].to_numpy()}, geometry=polys.to_numpy(), crs="EPSG:4326"
    )
    fmap = folium.Map(tiles=None)
    folium.GeoJson(frame, tooltip=folium.GeoJsonTooltip(["migrants"])).add_to(fmap)
    return len(fmap.get_root().render().encode()) / 1e6


def timed(path: Path, fn, *args, **kwargs) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Render, write to ``path``, return (MB, seconds of rendering)."""
    start = time.perf_counter()
    page = fn(*args, **kwargs)
    secs = time.perf_counter() - start
    path.write_text(page, encoding="utf-8")
    return len(page.encode()) / 1e6, secs


def browser_load_s(path: Path) -> float | None:
    """Seconds until the map is drawn in headless Chromium (network blocked); None if absent."""
    if not Path("/usr/bin/chromium").is_file():
        return None
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            tempfile.mkdtemp(prefix="bench_chromium_"),
            executable_path="/usr/bin/chromium",
            headless=True,
            args=["--no-sandbox", "--headless=new", "--disable-gpu", "--no-first-run"],
            viewport={"width": 1280, "height": 900},
        )
        page = ctx.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.route(
            "**/*",
            lambda r: r.continue_() if r.request.url.startswith(("file:", "data:")) else r.abort(),
        )
        start = time.perf_counter()
        page.goto(path.as_uri(), wait_until="load")
        page.wait_for_function("() => window.GI_MAP !== undefined", timeout=120000)
        secs = time.perf_counter() - start
        ctx.close()
    if errors:
        print(f"  page errors: {errors}")
    return secs


def main() -> int:
    out = Path(tempfile.mkdtemp(prefix="bench_maps_"))
    print(f"# bench_maps (files in {out}); measured on a shared machine, figures indicative")
    empty = MapInputs(localities=load_localities())
    mb, secs = timed(out / "boundaries_only.html", render_overview_map, empty)
    print(f"baseline: boundaries-only map (assets + localities): {mb:.2f} MB, {secs:.2f} s")
    for scenario, n in (("20k", 20_000), ("1M", 1_000_000)):
        start = time.perf_counter()
        inputs = make_inputs(scenario, n)
        prep = time.perf_counter() - start
        assert inputs.hex_access is not None
        cells = len(inputs.hex_access)
        suppressed = int(inputs.hex_access["suppressed"].sum())
        budget = BUDGET_MB[scenario]
        print(
            f"\n[{scenario}] {n:,} residences -> {cells:,} cells ({suppressed:,} suppressed), "
            f"2,500 services, 24 service areas; synthetic tables in {prep:.1f} s"
        )
        print(
            f"  baseline naive folium.GeoJson migrants layer alone: {naive_hex_mb(inputs):.2f} MB"
        )
        overview = out / f"overview_{scenario}.html"
        mb, secs = timed(overview, render_overview_map, inputs)
        share = f"{mb / budget:5.1%} of {budget:.0f} MB"
        print(f"  overview:                   {mb:6.2f} MB ({share}) in {secs:5.2f} s")
        worst = 0.0
        for st in TYPES[:3]:
            path = out / f"coverage_{st}_{scenario}.html"
            mb, secs = timed(path, render_coverage_map, inputs, service_type=st)
            worst = max(worst, mb)
            print(
                f"  coverage {st:<16} {mb:6.2f} MB ({mb / budget:5.1%} of {budget:.0f} MB) "
                f"in {secs:5.2f} s"
            )
        print(f"  largest map {worst:.2f} MB: {'within' if worst <= budget else 'OVER'} budget")
        load = browser_load_s(overview)
        if load is not None:
            print(f"  overview drawn in headless Chromium (offline) in {load:.2f} s")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS {peak:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
