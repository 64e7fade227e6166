"""Small synthetic inputs for the map and report tests, laid over the mini city.

The tables have the shapes of the accessibility, gaps and siting outputs (see
``geo_integration.render_inputs``), with values chosen by hand:

- localities 08 (Kennedy) 120 migrants, health coverage 10/25/90 % at 10/15/30 min (red
  class at 15 min: 25 % is in 20-40 %, the second class); 11 (Suba) suppressed; 17 (La
  Candelaria) 40 migrants, 85 % at 15 min; 19 (Ciudad Bolívar) 60 migrants, 55 % at 15 min;
- the eight H3 cells of the mini city, one suppressed (5 migrants -> blank);
- four service points, one named ``<script>alert(1)</script>``;
- health service areas, gaps, one cluster, two proposed sites.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
from minicity import to_wgs
from shapely.geometry import Point

from geo_integration.assets import AssetBundle, load_bundle
from geo_integration.errors import RenderError
from geo_integration.loaders import load_localities, load_upz
from geo_integration.render_inputs import ReportInputs

XSS = "<script>alert(1)</script>"
FORMULA = '=HYPERLINK("#x","clic")'
TYPES = ("health", "school")
THRESHOLDS = (10, 15, 30)


def require_assets() -> AssetBundle:
    """The real map assets; FAIL (never skip) with the command to run when they are missing."""
    import pytest

    try:
        return load_bundle()
    except RenderError as exc:
        pytest.fail(
            f"{exc}. The map tests need the inlined JavaScript/CSS: run "
            "`geo-integration assets fetch` once (make test does it).",
            pytrace=False,
        )


def wgs_point(x: float, y: float) -> Point:
    """Point at grid metres (x west-negative, y north) of the mini city."""
    lon, lat = to_wgs(x, y)
    return Point(float(lon), float(lat))


def locality_table() -> pd.DataFrame:
    rows = {
        "08": (120, {"health": (0.10, 0.25, 0.90, 22.5), "school": (0.5, 0.7, 1.0, 9.0)}),
        "11": (None, None),
        "17": (40, {"health": (0.60, 0.85, 1.0, 8.0), "school": (0.2, 0.4, 0.8, 17.0)}),
        "19": (60, {"health": (0.30, 0.55, 0.95, 14.0), "school": (0.1, 0.3, 0.6, 25.0)}),
    }
    records = []
    for code, (migrants, measures) in rows.items():
        rec: dict[str, object] = {
            "loc_code": code,
            "migrants": np.nan if migrants is None else float(migrants),
            "residences": np.nan if migrants is None else float(migrants) / 2,
            "suppressed": migrants is None,
        }
        for st in TYPES:
            shares = measures[st] if measures else (np.nan,) * 4
            for t, share in zip(THRESHOLDS, shares[:3], strict=True):
                rec[f"share_within_{t}_{st}"] = share
                rec[f"within_{t}_{st}"] = share * migrants if migrants else np.nan
            rec[f"median_time_{st}"] = shares[3]
            rec[f"e2sfca_{st}"] = np.nan if migrants is None else 0.01 * (1 + len(code))
            rec[f"two_sfca_{st}"] = np.nan if migrants is None else 0.02
        records.append(rec)
    return pd.DataFrame(records)


def upz_table() -> pd.DataFrame:
    table = pd.DataFrame({"upz_code": [f"UPZ{i}" for i in range(1, 9)]})
    table["migrants"] = [60.0, 60.0, np.nan, np.nan, 30.0, 30.0, 20.0, 20.0]
    table["residences"] = table["migrants"] / 2
    table["suppressed"] = table["migrants"].isna()
    for st in TYPES:
        for t, share in zip(THRESHOLDS, (0.2, 0.5, 0.9), strict=True):
            table[f"share_within_{t}_{st}"] = np.where(table["suppressed"], np.nan, share)
            table[f"within_{t}_{st}"] = table["migrants"] * share
        table[f"median_time_{st}"] = np.where(table["suppressed"], np.nan, 14.0)
    return table


def hex_cells(localities: gpd.GeoDataFrame) -> list[str]:
    return sorted(h3.geo_to_cells(localities.union_all().__geo_interface__, 9))


def hex_table(cells: list[str]) -> pd.DataFrame:
    migrants = [50.0, 30.0, 25.0, 5.0, 12.0, 40.0, 18.0, 22.0][: len(cells)]
    table = pd.DataFrame({"h3_cell": cells, "migrants": migrants})
    table["residences"] = (table["migrants"] / 2).round()
    for st in TYPES:
        for t, share in zip(THRESHOLDS, (0.2, 0.5, 1.0), strict=True):
            table[f"share_within_{t}_{st}"] = share
            table[f"within_{t}_{st}"] = (table["migrants"] * share).round()
        table[f"median_time_{st}"] = 12.5
    table["suppressed"] = table["migrants"] < 10
    numeric = [c for c in table.columns if c not in ("h3_cell", "suppressed")]
    table.loc[table["suppressed"], numeric] = np.nan
    return table


def services() -> gpd.GeoDataFrame:
    rows = [
        ("s1", "Hospital <b>Kennedy</b>", "Salud", "health", 100.0, "24 h", (-900, 200)),
        ("s2", XSS, "Salud", "health", np.nan, "<img src=x onerror=alert(2)>", (-300, 900)),
        ("s3", "Colegio Distrital", "Educación", "school", 800.0, "6-14", (-500, 500)),
        (
            "s4",
            'SuperCADE =HYPERLINK("x")',
            "Gobierno",
            "citizen_service",
            3.0,
            "8-17",
            (-150, 150),
        ),
    ]
    return gpd.GeoDataFrame(
        {
            "service_id": [r[0] for r in rows],
            "name": [r[1] for r in rows],
            "secretariat": [r[2] for r in rows],
            "service_type": [r[3] for r in rows],
            "capacity": [r[4] for r in rows],
            "hours": [r[5] for r in rows],
            "address": ["CL 5, 3 20"] * len(rows),
        },
        geometry=[wgs_point(*r[6]) for r in rows],
        crs="EPSG:4326",
    )


def service_areas(points: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    metric = points.to_crs("EPSG:9377")
    rows = []
    for st in TYPES:
        mine = metric[metric["service_type"] == st]
        for t, radius in zip(THRESHOLDS, (120.0, 200.0, 400.0), strict=True):
            rows.append((st, t, mine.buffer(radius).union_all()))
    frame = gpd.GeoDataFrame(
        {"service_type": [r[0] for r in rows], "threshold_min": [r[1] for r in rows]},
        geometry=[r[2] for r in rows],
        crs="EPSG:9377",
    )
    return frame.to_crs("EPSG:4326")


def gaps(cells: list[str]) -> pd.DataFrame:
    gi = ["hot_99", "hot_95", "not_significant", "cold_90", "hot_90", "cold_99", "hot_99", "x"]
    lisa = ["HH", "LL", "ns", "HL", "LH", "HH", "ns", "LL"]
    return pd.DataFrame(
        {
            "h3_cell": cells,
            "gap_health": np.linspace(-1.0, 2.0, len(cells)),
            "gi_class_health": gi[: len(cells)],
            "lisa_class_health": lisa[: len(cells)],
        }
    )


def clusters() -> gpd.GeoDataFrame:
    centre = gpd.GeoSeries([wgs_point(-800, 300)], crs="EPSG:4326").to_crs("EPSG:9377")
    return gpd.GeoDataFrame(
        {
            "cluster_id": [1],
            "migrants": [95.0],
            "residences": [40.0],
            "loc_name": ["Kennedy"],
            "median_time_health": [21.0],
            "share_beyond_15_health": [0.7],
        },
        geometry=centre.buffer(150).to_crs("EPSG:4326").to_numpy(),
        crs="EPSG:4326",
    )


def sites() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "candidate_id": ["c1", "c2"],
            "name": ["Sitio <A>", FORMULA],
            "rank": [1, 2],
            "marginal_gain": [45.0, 12.5],
            "selection_frequency": [0.9, 0.55],
            "service_type": ["health", "health"],
        },
        geometry=[wgs_point(-850, 250), wgs_point(-200, 800)],
        crs="EPSG:4326",
    )


def make_inputs(data_dir: Path) -> ReportInputs:
    """Every optional table filled (the mini city's boundaries)."""
    localities = load_localities(data_dir)
    cells = hex_cells(localities)
    points = services()
    return ReportInputs(
        localities=localities,
        upz=load_upz(data_dir),
        locality_access=locality_table(),
        upz_access=upz_table(),
        hex_access=hex_table(cells),
        service_areas=service_areas(points),
        services=points,
        gap_hexagons=gaps(cells),
        clusters=clusters(),
        rank_localities=pd.DataFrame(
            {
                "loc_code": ["08", "19", "17", "11"],
                "rank_health": [1, 2, 3, 4],
                "rank_school": [3, 1, 2, 4],
            }
        ),
        rank_upz=None,
        sites=sites(),
        siting_summary={
            "model": "MCLP",
            "p": 2,
            "threshold": 15,
            "objective": "max coverage",
            "coverage_before": 0.45,
            "coverage_after": 0.62,
        },
        drop_id="20240601-abc",
        drop_date="2024-06-01",
        privacy_k=10,
        ingest_report={
            "files": {
                "residencias.csv": {
                    "rows_read": 260,
                    "accepted": 250,
                    "quarantined": 10,
                    "quarantine_reasons": {"no_address": 6, "=cmd|' /C calc'!A0": 4},
                },
                "servicios.xlsx": {
                    "rows_read": 4,
                    "accepted": 4,
                    "quarantined": 0,
                    "quarantine_reasons": {},
                },
            }
        },
        geocoding={"match_level": {"exact": 200, "interpolated": 30, "area": 15, "none": 5}},
        previous_localities=locality_table().assign(
            share_within_15_health=[0.35, np.nan, 0.80, 0.55],
            migrants=[100.0, np.nan, 45.0, 60.0],
        ),
        previous_drop_date="2024-03-01",
    )


def write_analysis_dir(inputs: ReportInputs, folder: Path) -> Path:
    """Write ``inputs`` as an analysis folder (the layout ``load_analysis_dir`` reads)."""
    import json

    from geo_integration.render_inputs import ANALYSIS_FILES

    folder.mkdir(parents=True, exist_ok=True)
    for name, attr in ANALYSIS_FILES.items():
        table = getattr(inputs, attr)
        if table is None:
            continue
        if name.endswith(".geojson"):
            table.to_file(folder / name, driver="GeoJSON")
        else:
            table.to_parquet(folder / name)
    summary = {
        "drop_id": inputs.drop_id,
        "drop_date": inputs.drop_date,
        "privacy_k": inputs.privacy_k,
        "h3_resolution": inputs.h3_resolution,
        "siting": inputs.siting_summary,
    }
    (folder / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    (folder / "report.json").write_text(json.dumps(inputs.ingest_report), encoding="utf-8")
    (folder / "geocoding.json").write_text(json.dumps(inputs.geocoding), encoding="utf-8")
    return folder
