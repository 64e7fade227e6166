"""A tiny synthetic Bogotá for tests: a regular street grid with answers known by hand.

Layout (metric, EPSG:9377, origin at ``ORIGIN``): Calle ``n`` runs east-west at
``y = n * BLOCK`` and Carrera ``m`` runs north-south at ``x = -m * BLOCK`` (carrera numbers grow
westwards, as in Bogotá), for ``n, m`` in ``1..N``. The address ``"CL 5, 3 20"`` lies on Calle 5,
20 m west of Carrera 3; ``"KR 3, 5 20"`` lies on Carrera 3, 20 m north of Calle 5.

Four localities split the square into quadrants; each holds two UPZ (west and east halves).
The reference files are written in the layout of the data mirror, so loaders, ``data check``
and every kernel can run on them; all files together stay well under 50 KB.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import Transformer
from shapely.geometry import LineString, Point, box

BLOCK = 100.0  # metres between consecutive streets
N = 10  # calles 1..N and carreras 1..N
ADDRESS_STEP = 20.0  # metres between address points along a block face
# Metric origin (EPSG:9377) near Kennedy, Bogotá.
_TO_METRIC = Transformer.from_crs("EPSG:4326", "EPSG:9377", always_xy=True)
_TO_WGS = Transformer.from_crs("EPSG:9377", "EPSG:4326", always_xy=True)
ORIGIN: tuple[float, float] = _TO_METRIC.transform(-74.10, 4.62)

# (code, name as spelled in the boundary file, quadrant (west?, south?))
LOCALITIES = [
    ("08", "KENNEDY", (True, True)),
    ("11", "SUBA", (True, False)),
    ("19", "CIUDAD BOLIVAR", (False, True)),
    ("17", "CANDELARIA", (False, False)),
]


def to_wgs(x: float | np.ndarray, y: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Grid metres (relative to ``ORIGIN``) to (lon, lat)."""
    lon, lat = _TO_WGS.transform(np.asarray(x) + ORIGIN[0], np.asarray(y) + ORIGIN[1])
    return np.asarray(lon), np.asarray(lat)


def grid_xy(calle: float, carrera: float) -> tuple[float, float]:
    """Grid metres of the corner of Calle ``calle`` and Carrera ``carrera``."""
    return -carrera * BLOCK, calle * BLOCK


def _wgs_geom(geom):  # type: ignore[no-untyped-def]
    import shapely

    return shapely.transform(geom, lambda xy: np.column_stack(to_wgs(xy[:, 0], xy[:, 1])))


def _extent() -> tuple[float, float, float, float]:
    lo, hi = 0.5 * BLOCK, (N + 0.5) * BLOCK
    return (-hi, lo, -lo, hi)  # minx, miny, maxx, maxy in grid metres


def localities_frame() -> gpd.GeoDataFrame:
    minx, miny, maxx, maxy = _extent()
    midx, midy = (minx + maxx) / 2, (miny + maxy) / 2
    rows = []
    for code, name, (west, south) in LOCALITIES:
        x0, x1 = (minx, midx) if west else (midx, maxx)
        y0, y1 = (miny, midy) if south else (midy, maxy)
        poly = _wgs_geom(box(x0, y0, x1, y1))
        rows.append(
            {
                "LocNombre": name,
                "LocAAdmini": "test",
                "LocArea": (x1 - x0) * (y1 - y0),
                "LocCodigo": code,
                "geometry": poly,
            }
        )
    return gpd.GeoDataFrame(rows, crs="EPSG:4686")


def upz_frame() -> gpd.GeoDataFrame:
    rows = []
    number = 1
    for _code, _name, _quad in LOCALITIES:
        loc = localities_frame().set_index("LocCodigo").loc[_code, "geometry"]
        minx, miny, maxx, maxy = loc.bounds
        midx = (minx + maxx) / 2
        for x0, x1 in ((minx, midx), (midx, maxx)):
            rows.append(
                {
                    "UPlCodigo": f"UPZ{number}",
                    "UPlTipo": 1,
                    "UPlNombre": f"UPZ DE PRUEBA {number}",
                    "UPlArea": 250_000.0,
                    "geometry": box(x0, miny, x1, maxy),
                }
            )
            number += 1
    return gpd.GeoDataFrame(rows, crs="EPSG:4686")


def street_segments() -> gpd.GeoDataFrame:
    rows = []
    for n in range(1, N + 1):
        for m in range(1, N):
            a, b = grid_xy(n, m), grid_xy(n, m + 1)
            rows.append(
                {
                    "etiqueta": f"CL {n}",
                    "nombre": None,
                    "source": "mvi_2023",
                    "length_m": BLOCK,
                    "geometry": _wgs_geom(LineString([a, b])),
                }
            )
    for m in range(1, N + 1):
        for n in range(1, N):
            a, b = grid_xy(n, m), grid_xy(n + 1, m)
            rows.append(
                {
                    "etiqueta": f"KR {m}",
                    "nombre": "AVENIDA DE PRUEBA" if m == 5 else None,
                    "source": "mvi_2023",
                    "length_m": BLOCK,
                    "geometry": _wgs_geom(LineString([a, b])),
                }
            )
    return gpd.GeoDataFrame(rows, crs="EPSG:4326")


def address_points() -> gpd.GeoDataFrame:
    """Address points on both streets of every block face, every ``ADDRESS_STEP`` metres."""
    labels, xs, ys = [], [], []
    for n in range(1, N + 1):
        for m in range(1, N):
            for d in np.arange(ADDRESS_STEP, BLOCK, ADDRESS_STEP):
                x, y = grid_xy(n, m)
                labels.append(f"CL {n}, {m} {int(d):02d}")
                xs.append(x - d)
                ys.append(y)
    for m in range(1, N + 1):
        for n in range(1, N):
            for d in np.arange(ADDRESS_STEP, BLOCK, ADDRESS_STEP):
                x, y = grid_xy(n, m)
                labels.append(f"KR {m}, {n} {int(d):02d}")
                xs.append(x)
                ys.append(y + d)
    lon, lat = to_wgs(np.array(xs), np.array(ys))
    return gpd.GeoDataFrame(
        {"address": labels}, geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326"
    )


def blocks_frame() -> gpd.GeoDataFrame:
    polys = []
    for n in range(1, N):
        for m in range(1, N):
            x0, y0 = grid_xy(n, m + 1)
            x1, y1 = grid_xy(n + 1, m)
            polys.append(_wgs_geom(box(x0 + 8, y0 + 8, x1 - 8, y1 - 8)))
    return gpd.GeoDataFrame({"block_id": np.arange(len(polys))}, geometry=polys, crs="EPSG:4326")


def point_at(calle: float, carrera: float) -> Point:
    """WGS84 point of the corner of Calle ``calle`` and Carrera ``carrera``."""
    lon, lat = to_wgs(*grid_xy(calle, carrera))
    return Point(float(lon), float(lat))


def write_minicity(root: Path) -> Path:
    """Write the mini city's reference files under ``root`` and return ``root``.

    Also writes ``root/sources.toml``, a manifest of the written files with their checksums,
    for tests of ``fetch``/``check``.
    """
    (root / "boundaries").mkdir(parents=True, exist_ok=True)
    localities_frame().to_file(root / "boundaries" / "Loca.shp")
    upz_frame().to_file(root / "boundaries" / "UPla.shp")
    _write_tables(root)
    for sub in ("addresses", "blocks", "streets"):
        (root / sub).mkdir(exist_ok=True)
    address_points().to_parquet(root / "addresses" / "placas_domiciliarias.parquet")
    blocks_frame().to_parquet(root / "blocks" / "manzanas.parquet")
    street_segments().to_parquet(root / "streets" / "malla_vial.parquet")
    _write_services(root)
    _write_manifest(root)
    return root


def _write_tables(root: Path) -> None:
    (root / "population").mkdir(exist_ok=True)
    loc_rows = [
        {
            "codigo_localidad": c,
            "nombre_localidad": n.title(),
            "area": "Total",
            "ano": 2025,
            "poblacion_total": 10000 * (i + 1),
        }
        for i, (c, n, _q) in enumerate(LOCALITIES)
    ]
    pd.DataFrame(loc_rows).to_csv(
        root / "population" / "poblacion_localidad_dane_sdp_2018_2025_totals.csv", index=False
    )
    upz = upz_frame()
    codes = [c for c, _n, _q in LOCALITIES for _ in range(2)]
    upz_rows = [
        {
            "codigo_upz": f"{i + 1:03d}",
            "nombre_upz": row.UPlNombre,
            "codigo_localidad": codes[i],
            "ano": 2024,
            "poblacion_total": 5000.0 * (i + 1),
        }
        for i, row in enumerate(upz.itertuples())
    ]
    pd.DataFrame(upz_rows).to_csv(
        root / "population" / "poblacion_upz_dane_sdp_2018_2024.csv", index=False
    )
    (root / "migration").mkdir(exist_ok=True)
    pd.DataFrame(
        [
            {
                "indicador": "venezolanos_en_bogota_total",
                "localidad": "BOGOTA",
                "valor": 1000,
                "unidad": "personas",
                "fecha_corte": "2022",
                "fuente_primaria": "test",
                "fuente_secundaria_url": "http://example.invalid",
            },
            {
                "indicador": "pct_migrantes_venezolanos_en_localidad",
                "localidad": "KENNEDY",
                "valor": 40.0,
                "unidad": "% del total en Bogotá",
                "fecha_corte": "2024",
                "fuente_primaria": "test",
                "fuente_secundaria_url": "http://example.invalid",
            },
        ]
    ).to_csv(root / "migration" / "venezuelan_migrants_public_figures.csv", index=False)


def _write_services(root: Path) -> None:
    (root / "transit").mkdir(exist_ok=True)
    (root / "services").mkdir(exist_ok=True)
    stops = []
    for i, (n, m) in enumerate([(2, 2), (2, 8), (8, 2), (8, 8), (5, 5)]):
        p = point_at(n, m)
        stops.append(
            {
                "X": p.x,
                "Y": p.y,
                "objectid": i + 1,
                "cenefa": f"T{i:03d}",
                "zona_sitp": "00",
                "nombre": f"Parada {i}",
                "via": f"CL {n}",
                "direccion_bandera": f"CL {n} - KR {m}",
                "localidad": "Kennedy",
                "longitud": p.x,
                "latitud": p.y,
            }
        )
    pd.DataFrame(stops).to_csv(root / "transit" / "sitp_paraderos_zonales.csv", index=False)
    tm = gpd.GeoDataFrame(
        {
            "fid": [1, 2],
            "nombre_estacion": ["Estación Norte", "Estación Sur"],
            "troncal_estacion": ["A", "B"],
        },
        geometry=[point_at(9, 5), point_at(1, 5)],
        crs="EPSG:4326",
    )
    tm.to_file(root / "transit" / "estaciones_transmilenio.geojson", driver="GeoJSON")
    schools = gpd.GeoDataFrame(
        {
            "name": ["COLEGIO UNO", "COLEGIO DOS", "JARDIN TRES"],
            "address": [
                "CALLE 3 2 40  BOGOTA CO",
                "CARRERA 7 6 20  BOGOTA CO",
                "CALLE 9 A 4 10  BOGOTA CO",
            ],
            "phone": ["1", "2", "3"],
            "levels": ["MEDIA", "MEDIA", "PREESCOLAR"],
            "journal": ["COMPLETA"] * 3,
        },
        geometry=[point_at(3, 2.4), point_at(6.2, 7), point_at(9, 4.1)],
        crs="EPSG:4326",
    )
    schools.to_file(root / "services" / "colegios.geojson", driver="GeoJSON")
    hospitals = gpd.GeoDataFrame(
        {"name": ["Hospital Uno"], "address": ["KR 5-4 50, BOGOTA"]},
        geometry=[point_at(4.5, 5)],
        crs="EPSG:4326",
    )
    hospitals.to_file(root / "services" / "hospitales.geojson", driver="GeoJSON")
    pd.DataFrame(
        [
            {
                "tipo": "SuperCADE",
                "nombre": "SuperCADE Prueba",
                "direccion": "Calle 5 No. 5-50",
                "fuente": "test",
            }
        ]
    ).to_csv(root / "services" / "supercade_cade.csv", index=False)


def _write_manifest(root: Path) -> None:
    lines = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name != "sources.toml"):
        rel = path.relative_to(root).as_posix()
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        lines += [
            "[[file]]",
            f'path = "{rel}"',
            f'sha256 = "{digest}"',
            f"size = {path.stat().st_size}",
            "required = true",
            'source = "tests"',
            'licence = "test data"',
            "",
        ]
    (root / "sources.toml").write_text("\n".join(lines), encoding="utf-8")


def reference_layers(root: Path) -> tuple[gpd.GeoDataFrame, ...]:
    """The layers the geocoding index is built from, read back from a written mini city:
    address points and streets (copies, safe to modify), localities, UPZ."""
    from geo_integration import loaders

    return (
        loaders.load_addresses(root).copy(),
        loaders.load_streets(root).copy(),
        loaders.load_localities(root),
        loaders.load_upz(root),
    )
