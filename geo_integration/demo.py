"""Synthetic demo drop: migrant residences and service points that exercise the whole tool.

:func:`make_demo_drop` writes a folder shaped like the drops the secretariats receive:

- residences sampled from the official address points (``addresses/``), spread over the
  localities by the public figures on Venezuelan migrants (``migration/``: the five localities
  with a published share keep it, the others share the rest in proportion to their population)
  and, within a locality, over its UPZ by 2024 population;
- their addresses written the way people type them (:mod:`geo_integration.demo_addresses`), some
  rows with coordinates instead of or besides the address, a few malformed on purpose;
- service points from the real layers (schools, hospitals, SuperCADE, TransMilenio) with
  plausible capacities, plus clearly-labelled simulated centres for the secretariats whose
  points are not public (Integración Social, Mujer, Centros Intégrate).

Every file says it is synthetic. The same seed and reference data give byte-identical files.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import os
import re
import tomllib
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from geo_integration.errors import ConfigError, DataCheckError, DropError
from geo_integration.localities import locality_name
from geo_integration.text import fold, name_key

__all__ = [
    "DEFAULT_DATE",
    "DEFAULT_RESIDENTS",
    "DEFAULT_SEED",
    "DEMO_SOURCE",
    "ROW_MIX",
    "DemoDrop",
    "locality_allocation",
    "make_demo_drop",
]

log = logging.getLogger(__name__)

DEMO_SOURCE = "SINTETICO demo geo_integration"
DEFAULT_RESIDENTS = 20_000
DEFAULT_SEED = 2026
DEFAULT_DATE = "2026-11-30"
XLSX_MAX_ROWS = 20_000
SHARE_INDICATOR = "pct_migrantes_venezolanos_en_localidad"

#: Target share of each kind of residence row. Row counts are the largest-remainder rounding
#: of ``N * rate``; ``drop.toml`` records the exact counts written.
ROW_MIX: dict[str, float] = {
    "address_only": 0.74,
    "coords_only": 0.15,
    "address_and_coords": 0.10,
    "empty": 0.0025,  # no address and no coordinates
    "swapped_lat_lon": 0.002,  # latitude and longitude exchanged
    "text_household_size": 0.002,  # words instead of digits in `personas`
    "outside_bogota": 0.0015,  # coordinates in another city
    "duplicate_id": 0.002,  # the id of another row
}
MALFORMED = ("empty", "swapped_lat_lon", "text_household_size", "outside_bogota", "duplicate_id")
#: Household size 1..8 (assumed for the demo, not taken from a source; mean 3.36).
HOUSEHOLD_P = (0.17, 0.19, 0.21, 0.18, 0.12, 0.07, 0.04, 0.02)
_HOUSEHOLD_TEXT = ["tres", "dos personas", "varios", "NS/NR", "sin dato", "familia"]
_FAR_CITIES = [  # (lat, lon) of places far from Bogotá, for the `outside_bogota` rows
    (10.4806, -66.9036),  # Caracas
    (7.8939, -72.5078),  # Cúcuta
    (6.2442, -75.5812),  # Medellín
    (3.4516, -76.5320),  # Cali
    (10.9685, -74.7813),  # Barranquilla
]
_GPS_SHARE = 0.3  # share of coordinate-only rows that go to the EPSG:9377 field file
_SERVICE_STAND_INS = (  # (secretariat, type, label, per locality, capacity range, hours)
    ("Secretaría de Integración Social", "integracion_social", "Centro SDIS (SIMULADO)", 2,
     (80, 400), "L-V 7:00-16:30"),
    ("Secretaría de la Mujer", "mujer", "Casa de Igualdad de Oportunidades (SIMULADA)", 1,
     (40, 150), "L-V 8:00-17:00"),
    ("Secretaría de Gobierno", "atencion_migrantes", "Centro Intégrate (SIMULADO)", 1,
     (150, 600), "L-V 8:00-17:00; S 8:00-12:00"),
)  # fmt: skip
_HEALTH_WORDS = ("HOSP", "CLINIC", "SALUD", "FUNDACION", "INST", "EPS", "DISPENSARIO",
                 "UNIVERSITARIO", "CORPAS", "MEDERI", "CANCEROLOG")  # fmt: skip


@dataclass(frozen=True)
class DemoDrop:
    """What :func:`make_demo_drop` wrote.

    Attributes
    ----------
    path
        The drop folder.
    files
        File name -> number of data rows (features for GeoJSON).
    residences
        Residence rows written (the requested N).
    services
        Service points written.
    counts
        Residence rows by kind (keys of :data:`ROW_MIX`), as written.
    allocation
        Per locality: ``loc_code``, ``loc_name``, ``share``, ``method``, ``rows``.
    """

    path: Path
    files: dict[str, int]
    residences: int
    services: int
    counts: dict[str, int]
    allocation: pd.DataFrame = field(repr=False)


# --------------------------------------------------------------------------------------------
# allocation of residences to localities (kernel)


def locality_allocation(figures: pd.DataFrame, population: pd.DataFrame) -> pd.DataFrame:
    """Share of migrants per locality: public figures where they exist, population elsewhere.

    Localities with a published share (indicator ``pct_migrantes_venezolanos_en_localidad``,
    in per cent of the city's total) keep it; the remaining share is divided among the other
    localities in proportion to their population. This is an estimate: no official table
    covers all 20 localities.

    Parameters
    ----------
    figures
        As from :func:`geo_integration.loaders.load_migration_figures` (``indicador``,
        ``loc_code``, ``valor``, ``fuente_primaria``, ``fecha_corte``).
    population
        As from :func:`geo_integration.loaders.load_population` (``loc_code``,
        ``population``, ``year``).

    Returns
    -------
    DataFrame
        ``loc_code``, ``loc_name``, ``population``, ``share`` (0..1, summing to 1),
        ``method`` (``"public figure"`` or ``"population"``), ``source``; sorted by code.

    Examples
    --------
    >>> figs = pd.DataFrame({"indicador": [SHARE_INDICATOR], "loc_code": ["08"],
    ...     "valor": [40.0], "fuente_primaria": ["x"], "fecha_corte": ["2024"]})
    >>> pop = pd.DataFrame({"loc_code": ["08", "11", "19"], "population": [1, 1, 3],
    ...     "year": [2025] * 3})
    >>> locality_allocation(figs, pop)["share"].round(2).tolist()
    [0.4, 0.15, 0.45]
    """
    pop = population.groupby("loc_code", sort=True)["population"].sum().astype(float)
    shares = figures[(figures["indicador"] == SHARE_INDICATOR) & figures["loc_code"].notna()]
    dup = shares["loc_code"][shares["loc_code"].duplicated()]
    if len(dup):
        msg = f"migration figures give several shares for locality {dup.iloc[0]!r}"
        raise DataCheckError(msg)
    published = shares.set_index("loc_code")["valor"].astype(float) / 100.0
    if (published < 0).any() or published.sum() > 1.0 + 1e-9:
        msg = f"published locality shares must be >= 0 and sum to <= 100 %: {published.to_dict()!r}"
        raise DataCheckError(msg)
    codes = sorted(set(pop.index) | set(published.index))
    table = pd.DataFrame({"loc_code": codes})
    table["loc_name"] = table["loc_code"].map(locality_name)
    table["population"] = table["loc_code"].map(pop).fillna(0).astype(int)
    has_fig = table["loc_code"].isin(published.index)
    rest = table.loc[~has_fig, "population"].astype(float)
    remaining = max(0.0, 1.0 - float(published.sum()))
    table["share"] = 0.0
    table.loc[has_fig, "share"] = table.loc[has_fig, "loc_code"].map(published)
    if rest.sum() > 0:
        table.loc[~has_fig, "share"] = remaining * rest / rest.sum()
    total = table["share"].sum()
    if total <= 0:
        msg = "no locality has a published share or a population: nothing to allocate"
        raise DataCheckError(msg)
    table["share"] = table["share"] / total
    table["method"] = np.where(has_fig, "public figure", "population")
    fig_src = shares.set_index("loc_code")
    table["source"] = [
        f"{fig_src.loc[c, 'fuente_primaria']} ({fig_src.loc[c, 'fecha_corte']})"
        if f
        else f"DANE/SDP population {int(population['year'].max())} (estimate)"
        for c, f in zip(table["loc_code"], has_fig, strict=True)
    ]
    return table


# --------------------------------------------------------------------------------------------
# address points grouped by UPZ (computed once per process and data files)


@dataclass(frozen=True)
class _Pool:
    lon: npt.NDArray[np.float64]
    lat: npt.NDArray[np.float64]
    label: npt.NDArray[np.object_]
    ok: npt.NDArray[np.bool_]  # well-formed official label
    unit: npt.NDArray[np.int64]  # row of the UPZ/UPR frame containing the point, -1 if none


def _point_units(
    lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64], polygons: Any
) -> npt.NDArray[np.int64]:
    """Index of the first polygon containing each point (-1: none); bbox-filtered, prepared."""
    import shapely

    unit = np.full(len(lon), -1, dtype=np.int64)
    for i, geom in enumerate(polygons):
        if geom is None or geom.is_empty:
            continue
        minx, miny, maxx, maxy = geom.bounds
        cand = np.flatnonzero(
            (lon >= minx) & (lon <= maxx) & (lat >= miny) & (lat <= maxy) & (unit < 0)
        )
        if len(cand):
            shapely.prepare(geom)
            unit[cand[shapely.contains_xy(geom, lon[cand], lat[cand])]] = i
    return unit


def _address_pool(data_dir: Path) -> _Pool:
    from geo_integration.datadir import data_path

    keys = []
    for dataset in ("addresses", "upz", "localities"):
        path = data_path(data_dir, dataset)
        stat = path.stat()
        keys.append((str(path), stat.st_size, stat.st_mtime_ns))
    return _pool_cached(str(data_dir), tuple(keys))


@lru_cache(maxsize=2)
def _pool_cached(data_dir: str, keys: tuple[tuple[str, int, int], ...]) -> _Pool:
    import shapely

    from geo_integration.demo_addresses import official_label_ok
    from geo_integration.loaders import load_addresses, load_upz

    del keys  # part of the cache key only
    points = load_addresses(data_dir)
    upz = load_upz(data_dir)
    geoms = points.geometry.to_numpy()
    lon, lat = shapely.get_x(geoms), shapely.get_y(geoms)
    label = points["address"].astype(object).to_numpy()
    ok = official_label_ok(label)
    unit = _point_units(lon, lat, upz.geometry.to_numpy())
    log.info("address points: %d, in a UPZ/UPR: %d", len(lon), int((unit >= 0).sum()))
    return _Pool(lon=lon, lat=lat, label=label, ok=ok, unit=unit)


def _group_by(
    key: npt.NDArray[np.int64], mask: npt.NDArray[np.bool_], n_groups: int
) -> list[npt.NDArray[np.int64]]:
    """Indices where ``mask`` holds, split by ``key`` (0..n_groups-1), ascending in each."""
    idx = np.flatnonzero(mask)
    idx = idx[np.argsort(key[idx], kind="stable")]
    bounds = np.searchsorted(key[idx], np.arange(n_groups + 1))
    return [idx[bounds[g] : bounds[g + 1]] for g in range(n_groups)]


@dataclass(frozen=True)
class _Units:
    """Sampling units: UPZ (weighted by population) or a whole locality (uniform)."""

    loc_code: npt.NDArray[np.object_]
    weight: npt.NDArray[np.float64]
    barrio: npt.NDArray[np.object_]
    order: npt.NDArray[np.int64]  # pool indices grouped by unit
    start: npt.NDArray[np.int64]
    count: npt.NDArray[np.int64]


def _sampling_units(pool: _Pool, upz: pd.DataFrame, upz_pop: pd.DataFrame) -> _Units:
    """UPZ with population and well-labelled points; localities without any such UPZ (the
    rural Sumapaz) become one unit holding all their points, whatever their label."""
    pop = upz_pop.set_index("upz_code")["population"]
    unit_loc = upz["loc_code"].to_numpy(dtype=object)
    unit_pop = upz["upz_code"].map(pop).fillna(0).to_numpy(dtype=float)
    is_upz = (upz["upz_kind"] == "UPZ").to_numpy()
    inside = pool.unit >= 0
    by_unit_ok = _group_by(pool.unit, inside & pool.ok, len(upz))
    by_unit_all = _group_by(pool.unit, inside, len(upz))
    good = is_upz & (unit_pop > 0) & np.array([len(m) > 0 for m in by_unit_ok])
    locs = sorted({str(c) for c in unit_loc if isinstance(c, str)})
    groups: list[tuple[str, float, str, npt.NDArray[np.int64]]] = []
    for loc in locs:
        rows = np.flatnonzero(good & (unit_loc == loc))
        for r in rows:
            name = str(upz["upz_name"].iloc[r]).title()
            groups.append((loc, unit_pop[r], name, by_unit_ok[r]))
        if not len(rows):
            parts = [by_unit_all[r] for r in np.flatnonzero(unit_loc == loc)]
            members = np.sort(np.concatenate(parts)) if parts else np.zeros(0, np.int64)
            if len(members):
                groups.append((loc, 1.0, "", members))
    count = np.array([len(g[3]) for g in groups], dtype=np.int64)
    return _Units(
        loc_code=np.array([g[0] for g in groups], dtype=object),
        weight=np.array([g[1] for g in groups], dtype=float),
        barrio=np.array([g[2] for g in groups], dtype=object),
        order=np.concatenate([g[3] for g in groups]) if groups else np.zeros(0, np.int64),
        start=np.concatenate([[0], np.cumsum(count)[:-1]]).astype(np.int64),
        count=count,
    )


# --------------------------------------------------------------------------------------------
# residences


def _exact_counts(n: int, rates: Mapping[str, float]) -> dict[str, int]:
    """Largest-remainder rounding of ``n * rate`` (ties by order), summing to ``n``."""
    names = list(rates)
    raw = np.array([rates[k] for k in names], dtype=float)
    raw = raw / raw.sum() * n
    base = np.floor(raw).astype(int)
    order = np.argsort(-(raw - base), kind="stable")
    base[order[: n - int(base.sum())]] += 1
    return dict(zip(names, base.tolist(), strict=True))


def _sample_points(
    n: int, alloc: pd.DataFrame, units: _Units, rng: np.random.Generator
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Locality by share, unit by weight within it, point uniformly within the unit."""
    loc_codes = alloc["loc_code"].to_numpy(dtype=object)
    loc_idx = rng.choice(len(loc_codes), size=n, p=alloc["share"].to_numpy(dtype=float))
    u_unit, u_point = rng.random(n), rng.random(n)
    unit = np.full(n, -1, dtype=np.int64)
    for i, code in enumerate(loc_codes):
        rows = loc_idx == i
        cand = np.flatnonzero(units.loc_code == code)
        if not rows.any():
            continue
        w = units.weight[cand]
        cum = np.cumsum(w) / w.sum()
        unit[rows] = cand[
            np.minimum(np.searchsorted(cum, u_unit[rows], side="right"), len(cand) - 1)
        ]
    offset = np.minimum((u_point * units.count[unit]).astype(np.int64), units.count[unit] - 1)
    return unit, units.order[units.start[unit] + offset]


def _jitter(
    lat: npt.NDArray[np.float64],
    lon: npt.NDArray[np.float64],
    sd_m: float,
    rng: np.random.Generator,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    dy, dx = rng.normal(0.0, sd_m, len(lat)), rng.normal(0.0, sd_m, len(lat))
    return lat + dy / 111_320.0, lon + dx / (111_320.0 * np.cos(np.radians(lat)))


def _locality_spellings(codes: npt.NDArray[np.object_], u: npt.NDArray[np.float64]) -> Any:
    """The locality as people write it: accents or not, any case, a prefix, or blank."""
    out = np.empty(len(codes), dtype=object)
    forms = np.minimum((u * 8).astype(int), 7)
    for code in np.unique(codes.astype(str)):
        name = locality_name(code)
        plain = fold(name).title()
        spellings = np.array(
            [
                name,
                name.upper(),
                fold(name),
                plain,
                fold(name).lower(),
                f"{int(code)} - {name}",
                f"Localidad {name}",
                "",
            ],
            dtype=object,
        )
        rows = codes == code
        out[rows] = spellings[forms[rows]]
    return out


def _row_kinds(
    n: int, label_ok: npt.NDArray[np.bool_], rng: np.random.Generator
) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Kind of each row (exact counts, shuffled) and whether it carries an address and
    coordinates. Rows that need an address but sit on a point without a usable label (rural
    Sumapaz) carry coordinates instead."""
    counts = _exact_counts(n, ROW_MIX)
    kind = rng.permutation(np.repeat(np.array(list(counts), dtype=object), list(counts.values())))
    kind[np.isin(kind, ["address_only", "address_and_coords"]) & ~label_ok] = "coords_only"
    typed = np.isin(
        kind, ["address_only", "address_and_coords", "text_household_size", "duplicate_id"]
    )
    has_addr = typed & label_ok
    has_xy = np.isin(kind, ["coords_only", "address_and_coords"]) | (typed & ~label_ok)
    return kind, has_addr, has_xy


def _coordinates(
    kind: npt.NDArray[np.object_],
    has_xy: npt.NDArray[np.bool_],
    lat0: npt.NDArray[np.float64],
    lon0: npt.NDArray[np.float64],
    rng: np.random.Generator,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """GPS-like readings (8 m noise, 4 to 7 decimals); swapped and far-away rows as their
    kind says; NaN where a row has no coordinates."""
    n = len(kind)
    lat, lon = _jitter(lat0, lon0, 8.0, rng)
    lat, lon = np.where(has_xy, lat, np.nan), np.where(has_xy, lon, np.nan)
    swapped = kind == "swapped_lat_lon"
    lat[swapped], lon[swapped] = lon0[swapped], lat0[swapped]
    far = np.flatnonzero(kind == "outside_bogota")
    city = np.array(_FAR_CITIES)[rng.integers(0, len(_FAR_CITIES), len(far))]
    lat[far], lon[far] = _jitter(city[:, 0], city[:, 1], 2000.0, rng)
    decimals = rng.choice([4, 5, 6, 7], size=n, p=[0.1, 0.3, 0.5, 0.1])
    return _round_rows(lat, decimals), _round_rows(lon, decimals)


def _household_sizes(
    kind: npt.NDArray[np.object_], rng: np.random.Generator
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.object_]]:
    """Sizes 1..8 (``HOUSEHOLD_P``) and the ``personas`` text (words on malformed rows)."""
    size = rng.choice(np.arange(1, 9), size=len(kind), p=HOUSEHOLD_P)
    personas = size.astype(str).astype(object)
    text_rows = kind == "text_household_size"
    words = np.array(_HOUSEHOLD_TEXT, dtype=object)
    personas[text_rows] = words[rng.integers(0, len(words), int(text_rows.sum()))]
    return size, personas


def _ids(kind: npt.NDArray[np.object_], rng: np.random.Generator) -> npt.NDArray[np.object_]:
    """``DEMO-0000017``; ``duplicate_id`` rows repeat the id of a well-formed row."""
    ids: npt.NDArray[np.object_] = _numbered("DEMO-", np.arange(1, len(kind) + 1))
    dup = np.flatnonzero(kind == "duplicate_id")
    normal = np.flatnonzero(np.isin(kind, ["address_only", "coords_only", "address_and_coords"]))
    if len(dup) and len(normal):
        ids[dup] = ids[normal[rng.integers(0, len(normal), len(dup))]]
    return ids


def _build_residences(
    n: int,
    alloc: pd.DataFrame,
    units: _Units,
    pool: _Pool,
    avenues: Mapping[str, str],
    rng: np.random.Generator,
) -> pd.DataFrame:
    """One row per residence record, with internal columns ``_kind``, ``_loc``, ``_size``,
    ``_file`` (not written)."""
    from geo_integration.demo_addresses import messy_addresses

    unit, point = _sample_points(n, alloc, units, rng)
    kind, has_addr, has_xy = _row_kinds(n, pool.ok[point], rng)
    barrio = units.barrio[unit]
    address = messy_addresses(pool.label[point], rng, barrios=barrio, avenue_names=avenues)
    lat, lon = _coordinates(kind, has_xy, pool.lat[point], pool.lon[point], rng)
    size, personas = _household_sizes(kind, rng)
    ids = _ids(kind, rng)
    u = rng.random((n, 3))
    seq = np.arange(1, n + 1)
    frame = pd.DataFrame(
        {
            "id": ids,
            "nombre": _numbered("PERSONA SINTÉTICA ", seq),
            "documento": _numbered("DOC-DEMO-", seq),
            "telefono": _numbered("+57 000 ", seq),
            "correo": _numbered("persona", seq, "@ejemplo.invalid"),
            "direccion": np.where(has_addr, address, ""),
            "barrio": np.where(u[:, 0] < 0.3, barrio, ""),
            "localidad": _locality_spellings(units.loc_code[unit], u[:, 1]),
            "latitud": lat,
            "longitud": lon,
            "personas": personas,
            "fuente": DEMO_SOURCE,
            "_kind": kind,
            "_loc": units.loc_code[unit],
            "_size": size,
            "_u_file": u[:, 2],
        }
    )
    frame["_file"] = _file_of_rows(frame)
    return frame


def _numbered(prefix: str, seq: npt.NDArray[np.int64], suffix: str = "") -> Any:
    """``prefix`` + zero-padded 7-digit number + ``suffix``, vectorised (obviously fake values).

    Examples
    --------
    >>> _numbered("DEMO-", np.array([17])).tolist()
    ['DEMO-0000017']
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    digits = pc.utf8_lpad(pc.cast(pa.array(seq), pa.string()), width=7, padding="0")
    joined = pc.binary_join_element_wise(prefix, digits, suffix, "")
    return np.asarray(joined.to_numpy(zero_copy_only=False), dtype=object)


def _round_rows(values: npt.NDArray[np.float64], decimals: npt.NDArray[np.int64]) -> Any:
    out = values.copy()
    for d in np.unique(decimals):
        rows = decimals == d
        out[rows] = np.round(values[rows], int(d))
    return out


def _file_of_rows(frame: pd.DataFrame) -> npt.NDArray[np.object_]:
    """Suba rows go to the XLSX (at most ``XLSX_MAX_ROWS``), a share of the coordinate-only
    rows to the EPSG:9377 field file, the rest to the main CSV."""
    out = np.full(len(frame), "csv", dtype=object)
    suba = np.flatnonzero(frame["_loc"].to_numpy() == "11")[:XLSX_MAX_ROWS]
    out[suba] = "xlsx"
    gps = (out == "csv") & (frame["_kind"].to_numpy() == "coords_only")
    gps &= frame["_u_file"].to_numpy() < _GPS_SHARE
    out[gps] = "gps"
    return out


# --------------------------------------------------------------------------------------------
# services


def _service_frame(**cols: Any) -> pd.DataFrame:
    frame = pd.DataFrame(cols)
    order = [
        "nombre",
        "secretaria",
        "tipo",
        "capacidad",
        "horario",
        "direccion",
        "latitud",
        "longitud",
        "fuente",
    ]
    return frame[order]


def _inside(lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64], localities: Any) -> Any:
    ok = np.isfinite(lon) & np.isfinite(lat)
    unit = _point_units(np.nan_to_num(lon), np.nan_to_num(lat), localities.geometry.to_numpy())
    return ok & (unit >= 0)


def _xy(frame: Any) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    import shapely

    geoms = frame.geometry.to_numpy()
    return shapely.get_x(geoms).astype(float), shapely.get_y(geoms).astype(float)


def _capacity(rng: np.random.Generator, low: npt.ArrayLike, high: npt.ArrayLike) -> Any:
    lo, hi = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    return (np.round((lo + rng.random(len(lo)) * (hi - lo)) / 10.0) * 10).astype(int)


_SHIFT_HOURS = {"MAÑANA": "6:30-12:30", "TARDE": "12:30-18:30", "COMPLETA": "6:30-15:00",
                "ÚNICA": "7:00-14:00", "NOCTURNA": "18:00-22:00"}  # fmt: skip


def _school_hours(journal: object) -> str:
    parts = [p.strip().upper() for p in str(journal or "").split(",") if p.strip()]
    week = [_SHIFT_HOURS[p] for p in parts if p in _SHIFT_HOURS]
    text = f"L-V {', '.join(week)}" if week else ""
    if "FIN DE SEMANA" in parts:
        text = f"{text}; S 7:00-13:00" if text else "S 7:00-13:00"
    return text


def _schools(schools: Any, localities: Any, rng: np.random.Generator) -> tuple[pd.DataFrame, int]:
    lon, lat = _xy(schools)
    inside = _inside(lon, lat, localities)
    address_only = rng.random(len(schools)) < 0.10
    keep_xy = inside & ~address_only
    levels = schools["levels"].fillna("").astype(str).str.upper()
    n_levels = levels.str.split(",").map(lambda p: len({x.strip() for x in p if x.strip()}))
    preschool_only = levels.str.strip() == "PREESCOLAR"
    low = np.select([preschool_only, n_levels <= 2, n_levels == 3], [40, 150, 300], 500)
    high = np.select([preschool_only, n_levels <= 2, n_levels == 3], [200, 600, 1000], 1500)
    frame = _service_frame(
        nombre=schools["name"].astype(str).str.strip().to_numpy(),
        secretaria="Secretaría de Educación",
        tipo="colegio",
        capacidad=_capacity(rng, low, high),
        horario=schools["journal"].map(_school_hours).to_numpy(),
        direccion=schools["address"].fillna("").astype(str).str.strip().to_numpy(),
        latitud=np.where(keep_xy, lat.round(6), np.nan),
        longitud=np.where(keep_xy, lon.round(6), np.nan),
        fuente=f"{DEMO_SOURCE}; base real: services/colegios.geojson",
    )
    return frame, int((~inside).sum())


def _hospitals(
    hospitals: Any, localities: Any, rng: np.random.Generator
) -> tuple[pd.DataFrame, list[str]]:
    keys = hospitals["name"].map(name_key)
    health = keys.map(lambda k: any(w in k for w in _HEALTH_WORDS)).to_numpy(dtype=bool)
    dropped = hospitals.loc[~health, "name"].astype(str).str.strip().tolist()
    kept = hospitals[health]
    lon, lat = _xy(kept)
    spot = pd.Series(list(zip(lon.round(5), lat.round(5), strict=True)))
    placeholder = spot.map(spot.value_counts()).to_numpy() >= 3  # many at one geocoding spot
    keep_xy = _inside(lon, lat, localities) & ~placeholder
    is_hospital = kept["name"].map(name_key).str.contains("HOSP|CLINIC", regex=True).to_numpy()
    frame = _service_frame(
        nombre=kept["name"].astype(str).str.strip().to_numpy(),
        secretaria="Secretaría de Salud",
        tipo="salud",
        capacidad=_capacity(rng, np.where(is_hospital, 300, 100), np.where(is_hospital, 1500, 600)),
        horario=np.where(is_hospital, "24 horas", "L-V 7:00-17:00"),
        direccion=kept["address"].fillna("").astype(str).str.strip().to_numpy(),
        latitud=np.where(keep_xy, lat.round(6), np.nan),
        longitud=np.where(keep_xy, lon.round(6), np.nan),
        fuente=f"{DEMO_SOURCE}; base real: services/hospitales.geojson",
    )
    return frame, dropped


def _citizen_centres(cades: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    with_addr = cades[cades["direccion"].fillna("").str.strip() != ""]
    super_cade = with_addr["tipo"].str.upper().eq("SUPERCADE").to_numpy()
    return _service_frame(
        nombre=with_addr["nombre"].astype(str).to_numpy(),
        secretaria="Secretaría General",
        tipo="atencion_ciudadana",
        capacidad=_capacity(rng, np.where(super_cade, 1500, 300), np.where(super_cade, 4000, 900)),
        horario="L-V 7:00-16:00; S 8:00-12:00",
        direccion=with_addr["direccion"].astype(str).str.strip().to_numpy(),
        latitud=np.nan,
        longitud=np.nan,
        fuente=f"{DEMO_SOURCE}; base real: services/supercade_cade.csv",
    )


def _stations(stations: Any) -> pd.DataFrame:
    lon, lat = _xy(stations)
    return _service_frame(
        nombre=[
            f"{n} (TransMilenio)" if n.startswith("Estación") else f"Estación {n} (TransMilenio)"
            for n in stations["name"].astype(str)
        ],
        secretaria="Secretaría de Movilidad",
        tipo="transporte",
        capacidad=pd.array([None] * len(stations), dtype="Int64"),
        horario="L-S 4:30-23:00; D 5:30-22:00",
        direccion="",
        latitud=lat.round(6),
        longitud=lon.round(6),
        fuente=f"{DEMO_SOURCE}; base real: transit/estaciones_transmilenio.geojson",
    )


def _unit_members(units: _Units, loc_code: str) -> npt.NDArray[np.int64]:
    """Pool indices of every sampling unit of a locality."""
    parts = [
        units.order[s : s + c]
        for s, c, loc in zip(units.start, units.count, units.loc_code, strict=True)
        if loc == loc_code
    ]
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def _stand_ins(
    alloc: pd.DataFrame, units: _Units, pool: _Pool, rng: np.random.Generator
) -> pd.DataFrame:
    """Simulated centres at seeded official address points, a few per locality."""
    from geo_integration.demo_addresses import messy_addresses

    rows: list[dict[str, Any]] = []
    serial = {label: 0 for _s, _t, label, _n, _c, _h in _SERVICE_STAND_INS}
    for code in alloc["loc_code"]:
        members = _unit_members(units, code)
        if not len(members):
            continue
        for secretaria, tipo, label, per_loc, (lo, hi), hours in _SERVICE_STAND_INS:
            for point in members[rng.integers(0, len(members), per_loc)]:
                serial[label] += 1
                rows.append(
                    {
                        "nombre": f"{label} {serial[label]}",
                        "secretaria": secretaria,
                        "tipo": tipo,
                        "capacidad": int(_capacity(rng, [lo], [hi])[0]),
                        "horario": hours,
                        "_point": int(point),
                    }
                )
    frame = pd.DataFrame(rows)
    point = frame["_point"].to_numpy(dtype=np.int64)
    frame["direccion"] = messy_addresses(
        pool.label[point], rng, complement_rate=0.0, typo_rate=0.0, case_mix=False
    )
    frame["latitud"] = pool.lat[point].round(6)
    frame["longitud"] = pool.lon[point].round(6)
    frame["fuente"] = f"{DEMO_SOURCE}; SIMULADO (no existe en los datos públicos)"
    return _service_frame(**{c: frame[c].to_numpy() for c in frame.columns if c != "_point"})


# --------------------------------------------------------------------------------------------
# writers


def _text_column(values: Any) -> Any:
    """A column (Series, array or Arrow array) as an Arrow string array: missing values
    empty, floats in shortest round-trip form."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(values, pd.Series):
        is_text = pd.api.types.is_string_dtype(values.dtype) and values.dtype != object
        values = pa.array(values) if is_text else values.to_numpy()
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        out = values
    else:
        arr = np.asarray(values)
        if arr.dtype.kind in "fiu":
            out = pa.array(arr, from_pandas=True)
        else:
            out = pa.array(arr, type=pa.string(), from_pandas=True)
    if not pa.types.is_string(out.type):
        out = pc.cast(out, pa.string())
    return pc.fill_null(out, "")


def _csv_field(text: Any, needs: str) -> Any:
    """Quote the fields that hold the separator, a quote or a newline (RFC 4180 style)."""
    import pyarrow.compute as pc

    hit = pc.match_substring_regex(text, needs)
    if not pc.any(hit).as_py():
        return text
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(text, '"', '""'), '"', "")
    return pc.if_else(hit, quoted, text)


def _write_csv(
    path: Path, columns: Mapping[str, Any], *, sep: str, eol: str = "\n", bom: bool = False
) -> None:
    """Delimited UTF-8 text, written in chunks through an atomic temporary file."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from geo_integration.fileio import atomic_path

    needs = f'[{re.escape(sep)}"\\r\\n]'
    text = {name: _text_column(values) for name, values in columns.items()}
    n = len(next(iter(text.values()))) if text else 0
    header = sep.join(_quote_header(name, sep) for name in text) + eol
    with atomic_path(path) as tmp, tmp.open("wb") as fh:
        fh.write((b"\xef\xbb\xbf" if bom else b"") + header.encode("utf-8"))
        for lo in range(0, n, _CSV_CHUNK):
            cells = [_csv_field(col.slice(lo, _CSV_CHUNK), needs) for col in text.values()]
            lines = pc.binary_join_element_wise(*cells, pa.scalar(sep))
            fh.write((eol.join(lines.to_pylist()) + eol).encode("utf-8"))


_CSV_CHUNK = 200_000


def _quote_header(name: str, sep: str) -> str:
    return f'"{name}"' if sep in name or '"' in name else name


_PUBLIC_COLUMNS = ["id", "nombre", "documento", "telefono", "correo", "direccion", "barrio",
                   "localidad", "latitud", "longitud", "personas", "fuente"]  # fmt: skip
_XLSX_HEADERS = ["Id", "Nombre", "Documento", "Teléfono", "Correo", "Dirección", "Barrio",
                 "Localidad", "Latitud", "Longitud", "Personas", "Fuente"]  # fmt: skip


def _write_main_csv(path: Path, rows: pd.DataFrame) -> None:
    """Semicolon-delimited, UTF-8 with BOM, CRLF, decimal comma (as Excel in es-CO saves)."""
    import pyarrow.compute as pc

    columns: dict[str, Any] = {c: rows[c] for c in _PUBLIC_COLUMNS}
    for col in ("latitud", "longitud"):
        columns[col] = pc.replace_substring(_text_column(columns[col]), ".", ",")
    _write_csv(path, columns, sep=";", eol="\r\n", bom=True)


def _write_gps_csv(path: Path, rows: pd.DataFrame) -> None:
    """Field-survey file: coordinates in EPSG:9377 metres (columns ``x``, ``y``)."""
    from pyproj import Transformer

    from geo_integration.geo import METRIC_CRS, WGS84

    to_metric = Transformer.from_crs(WGS84, METRIC_CRS, always_xy=True)
    x, y = to_metric.transform(rows["longitud"].to_numpy(), rows["latitud"].to_numpy())
    columns: dict[str, Any] = {c: rows[c] for c in ("id", "nombre", "telefono")}
    columns |= {"x": np.round(x, 2), "y": np.round(y, 2)}
    columns |= {c: rows[c] for c in ("personas", "localidad", "fuente")}
    _write_csv(path, columns, sep=",")


_XLSX_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_CT = "application/vnd.openxmlformats-officedocument.spreadsheetml"


def _xlsx_parts(sheet_xml: str, *, sheet: str, title: str, date: str) -> dict[str, str]:
    """The parts of a one-sheet workbook around ``sheet_xml``."""
    head = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    return {
        "[Content_Types].xml": head
        + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/xl/workbook.xml" ContentType="{_CT}.sheet.main+xml"/>'
        f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{_CT}.worksheet+xml"/>'
        f'<Override PartName="/xl/styles.xml" ContentType="{_CT}.styles+xml"/>'
        '<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-'
        'package.core-properties+xml"/></Types>',
        "_rels/.rels": head + f'<Relationships xmlns="{_PKG_REL}">'
        f'<Relationship Id="rId1" Type="{_REL_NS}/officeDocument" Target="xl/workbook.xml"/>'
        '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/'
        'relationships/metadata/core-properties" Target="docProps/core.xml"/></Relationships>',
        "docProps/core.xml": head + '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats'
        '.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/"'
        ' xmlns:dcterms="http://purl.org/dc/terms/" xmlns:xsi="http://www.w3.org/2001/'
        f'XMLSchema-instance"><dc:title>{_xml(title)}</dc:title><dc:creator>geo_integration '
        'demo (DATOS SINTETICOS)</dc:creator><dcterms:created xsi:type="dcterms:W3CDTF">'
        f"{date}T00:00:00Z</dcterms:created></cp:coreProperties>",
        "xl/workbook.xml": head + f'<workbook xmlns="{_XLSX_NS}" xmlns:r="{_REL_NS}"><sheets>'
        f'<sheet name="{_xml(sheet)}" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": head + f'<Relationships xmlns="{_PKG_REL}">'
        f'<Relationship Id="rId1" Type="{_REL_NS}/worksheet" Target="worksheets/sheet1.xml"/>'
        f'<Relationship Id="rId2" Type="{_REL_NS}/styles" Target="styles.xml"/></Relationships>',
        "xl/styles.xml": head
        + f'<styleSheet xmlns="{_XLSX_NS}"><fonts count="1"><font><sz val="11"/>'
        '<name val="Calibri"/></font></fonts><fills count="2"><fill><patternFill '
        'patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>'
        '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border>'
        '</borders><cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" '
        'borderId="0"/></cellStyleXfs><cellXfs count="1"><xf numFmtId="0" fontId="0" '
        'fillId="0" borderId="0" xfId="0"/></cellXfs><cellStyles count="1"><cellStyle '
        'name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>',
        "xl/worksheets/sheet1.xml": sheet_xml,
    }


def _xml(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def _xlsx_cells(values: Any, *, numeric: bool) -> Any:
    """One ``<c>`` element per value (inline strings, or numbers); empty for missing."""
    import pyarrow.compute as pc

    text = _text_column(values)
    if numeric:
        cell = pc.binary_join_element_wise("<c><v>", text, "</v></c>", "")
    else:
        escaped = text
        for raw, ent in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")):
            escaped = pc.replace_substring(escaped, raw, ent)
        cell = pc.binary_join_element_wise('<c t="inlineStr"><is><t>', escaped, "</t></is></c>", "")
    return pc.if_else(pc.equal(text, ""), "<c/>", cell)


def _xlsx_bytes(
    preamble: list[str], header: list[str], cells: list[Any], *, sheet: str, title: str, date: str
) -> bytes:
    """A one-sheet XLSX: ``preamble`` lines (one cell each), the header row, then one row per
    element of the ``cells`` columns (from :func:`_xlsx_cells`)."""
    import pyarrow.compute as pc

    def text_row(values: list[str]) -> str:
        inner = "".join(
            f'<c t="inlineStr"><is><t>{_xml(v)}</t></is></c>' if v else "<c/>" for v in values
        )
        return f"<row>{inner}</row>"

    top = [text_row([line]) for line in preamble] + [text_row(header)]
    rows: list[str] = []
    if cells and len(cells[0]):
        rows = pc.binary_join_element_wise("<row>", *cells, "</row>", "").to_pylist()
    sheet_xml = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<worksheet xmlns="{_XLSX_NS}"><sheetData>'
        + "".join(top)
        + "".join(rows)
        + "</sheetData></worksheet>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, text in _xlsx_parts(sheet_xml, sheet=sheet, title=title, date=date).items():
            entry = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, text.encode("utf-8"))
    return out.getvalue()


def _write_xlsx(path: Path, rows: pd.DataFrame, *, date: str) -> None:
    """Suba's register: two title lines and a blank row above the header (header on row 4).
    Coordinates and household sizes are number cells; sizes typed as words are text."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from geo_integration.fileio import write_bytes

    cells = []
    for col in _PUBLIC_COLUMNS:
        values = rows[col].to_numpy()
        if col == "personas":
            text = np.asarray([str(v) for v in values], dtype=object)
            digits = np.array([t.isdigit() for t in text], dtype=bool)
            as_num = _xlsx_cells(np.where(digits, text, ""), numeric=True)
            as_text = _xlsx_cells(np.where(digits, "", text), numeric=False)
            cells.append(pc.if_else(pa.array(digits), as_num, as_text))
        else:
            cells.append(_xlsx_cells(values, numeric=col in ("latitud", "longitud")))
    title = (
        "REGISTRO DE PERSONAS MIGRANTES - LOCALIDAD DE SUBA - DATOS SINTÉTICOS "
        "(demo geo_integration; no son personas reales)"
    )
    preamble = [title, f"Fecha de corte: {date}", ""]
    data = _xlsx_bytes(
        preamble,
        _XLSX_HEADERS,
        cells,
        sheet="Migrantes",
        title="Migrantes Suba - DATOS SINTÉTICOS",
        date=date,
    )
    write_bytes(path, data)


def _write_services_csv(path: Path, services: pd.DataFrame) -> None:
    """Comma-delimited, UTF-8 without BOM, decimal point."""
    columns: dict[str, Any] = {c: services[c].to_numpy() for c in services.columns}
    columns["capacidad"] = np.array(
        ["" if pd.isna(v) else str(int(v)) for v in services["capacidad"]], dtype=object
    )
    for col in ("latitud", "longitud"):
        columns[col] = np.array(
            ["" if pd.isna(v) else f"{float(v):.6f}" for v in services[col]], dtype=object
        )
    _write_csv(path, columns, sep=",")


def _write_geojson(path: Path, services: pd.DataFrame) -> None:
    from geo_integration.fileio import write_text

    features = []
    for rec in services.to_dict(orient="records"):
        props = {
            k: rec[k]
            for k in ("nombre", "secretaria", "tipo", "capacidad", "horario", "direccion", "fuente")
        }
        props["capacidad"] = int(props["capacidad"])
        props["simulado"] = True
        geometry = {"type": "Point", "coordinates": [float(rec["longitud"]), float(rec["latitud"])]}
        features.append({"type": "Feature", "properties": props, "geometry": geometry})
    doc = {"type": "FeatureCollection", "name": "puntos_atencion_SIMULADOS", "features": features}
    write_text(path, json.dumps(doc, ensure_ascii=False, indent=1) + "\n")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return repr(round(float(value), 6))
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def _toml(data: Mapping[str, Any], prefix: str = "") -> str:
    lines = [
        f"{_toml_key(k)} = {_toml_value(v)}" for k, v in data.items() if not isinstance(v, Mapping)
    ]
    for key, value in data.items():
        if isinstance(value, Mapping):
            name = f"{prefix}.{_toml_key(key)}" if prefix else _toml_key(key)
            lines += ["", f"[{name}]", _toml(value, name)]
    return "\n".join(lines).strip("\n")


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key, ensure_ascii=False)


# --------------------------------------------------------------------------------------------
# the drop


@dataclass(frozen=True)
class _Files:
    main_csv: str
    xlsx: str = "migrantes_suba.xlsx"
    gps: str = "ubicaciones_gps_magna_sirgas.csv"
    services: str = "servicios.csv"
    stand_ins: str = "puntos_atencion.geojson"
    readme: str = "LEEME.txt"
    toml: str = "drop.toml"


def _check_options(residents: int, seed: int, date: str) -> None:
    if isinstance(residents, bool) or not isinstance(residents, int | np.integer) or residents < 1:
        msg = f"residents must be a positive integer, got {residents!r}"
        raise ConfigError(msg)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        msg = f"seed must be a non-negative integer, got {seed!r}"
        raise ConfigError(msg)
    try:
        dt.date.fromisoformat(date)
    except (TypeError, ValueError):
        msg = f"date must be YYYY-MM-DD, got {date!r}"
        raise ConfigError(msg) from None


def _prepare_out_dir(out: Path) -> None:
    """Refuse to write into a folder holding anything but a previous demo drop."""
    if out.exists() and not out.is_dir():
        msg = f"{out}: exists and is not a folder"
        raise DropError(msg)
    if not out.exists() or not any(out.iterdir()):
        return
    toml_path = out / "drop.toml"
    try:
        previous = tomllib.loads(toml_path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        previous = {}
    if previous.get("synthetic") is not True or "demo" not in previous:
        msg = f"{out}: folder is not empty and holds no previous demo drop; choose another"
        raise DropError(msg)
    for name in previous["demo"].get("files", {}):
        target = out / name
        if target.is_file() and target.parent == out:
            target.unlink()


def make_demo_drop(
    out_dir: str | os.PathLike[str],
    *,
    residents: int = DEFAULT_RESIDENTS,
    seed: int = DEFAULT_SEED,
    data_dir: str | os.PathLike[str] | None = None,
    date: str = DEFAULT_DATE,
    on_stage: Callable[[str], None] | None = None,
) -> DemoDrop:
    """Write a synthetic drop of ``residents`` residence rows and the service points.

    Parameters
    ----------
    out_dir
        Folder to create; it must be empty, absent or hold a previous demo drop (replaced).
    residents
        Number of residence rows (records), malformed rows included.
    seed
        Seed of every random choice: the same seed and reference data give identical files.
    data_dir
        Reference data directory (see :func:`geo_integration.config.resolve_data_dir`).
    date
        Cut-off date of the drop (``YYYY-MM-DD``), written to ``drop.toml`` and file names.
    on_stage
        Called with a short description as each stage starts (for progress display).

    Returns
    -------
    DemoDrop
        What was written (files and row counts, row kinds, allocation).
    """
    from geo_integration.config import resolve_data_dir

    _check_options(residents, seed, date)
    out = Path(out_dir)
    _prepare_out_dir(out)
    stage = on_stage or (lambda _text: None)
    stage("reading reference data")
    ref = _reference(resolve_data_dir(data_dir))
    res_seed, srv_seed = np.random.SeedSequence(int(seed)).spawn(2)
    stage("making residences")
    res = _build_residences(
        int(residents), ref.alloc, ref.units, ref.pool, ref.avenues, np.random.default_rng(res_seed)
    )
    stage("making service points")
    services, stand_ins, notes = _services(ref, np.random.default_rng(srv_seed))
    stage("writing files")
    files = _Files(main_csv=f"residentes_{date[:7]}.csv")
    written = _write_drop(out, files, res, services, stand_ins, date=date)
    counts = {k: int((res["_kind"] == k).sum()) for k in ROW_MIX}
    rows_by_loc = res["_loc"].value_counts().to_dict()
    alloc = ref.alloc.assign(rows=[int(rows_by_loc.get(c, 0)) for c in ref.alloc["loc_code"]])
    meta = _Meta(
        seed=int(seed),
        date=date,
        counts=counts,
        alloc=alloc,
        files=files,
        written=written,
        schools_fixed=notes["schools_fixed"],
        dropped=notes["hospitals_dropped"],
        people=int(res.loc[res["_kind"] != "text_household_size", "_size"].sum()),
        services=services,
        stand_ins=stand_ins,
    )
    _write_meta(out, meta, len(res))
    return DemoDrop(
        path=out,
        files=written,
        residences=len(res),
        services=len(services) + len(stand_ins),
        counts=counts,
        allocation=alloc,
    )


@dataclass(frozen=True)
class _Reference:
    root: Path
    alloc: pd.DataFrame
    pool: _Pool
    units: _Units
    avenues: dict[str, str]


def _reference(root: Path) -> _Reference:
    """Allocation, address pool, sampling units and avenue names from the data directory."""
    from geo_integration import loaders
    from geo_integration.demo_addresses import avenue_names

    alloc = locality_allocation(
        loaders.load_migration_figures(root), loaders.load_population(root, level="locality")
    )
    pool = _address_pool(root)
    units = _sampling_units(
        pool, loaders.load_upz(root), loaders.load_population(root, level="upz")
    )
    return _Reference(
        root=root,
        alloc=_restrict_to_points(alloc, units),
        pool=pool,
        units=units,
        avenues=avenue_names(loaders.load_streets(root)),
    )


def _services(
    ref: _Reference, rng: np.random.Generator
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Real service points (schools, health, citizen service, TransMilenio), the simulated
    stand-ins, and notes on what was dropped or fixed."""
    from geo_integration import loaders

    localities = loaders.load_localities(ref.root)
    schools, schools_fixed = _schools(loaders.load_schools(ref.root), localities, rng)
    health, dropped = _hospitals(loaders.load_hospitals(ref.root), localities, rng)
    cades = _citizen_centres(loaders.load_supercade(ref.root), rng)
    stations = _stations(loaders.load_transmilenio(ref.root))
    services = pd.concat([schools, health, cades, stations], ignore_index=True)
    stand_ins = _stand_ins(ref.alloc, ref.units, ref.pool, rng)
    return services, stand_ins, {"schools_fixed": schools_fixed, "hospitals_dropped": dropped}


def _restrict_to_points(alloc: pd.DataFrame, units: _Units) -> pd.DataFrame:
    has = alloc["loc_code"].isin(set(units.loc_code.tolist()))
    if not has.all():
        log.warning(
            "no address points in localities %s: left out of the demo",
            alloc.loc[~has, "loc_code"].tolist(),
        )
    kept = alloc[has].copy()
    kept["share"] = kept["share"] / kept["share"].sum()
    return kept.reset_index(drop=True)


def _write_drop(
    out: Path,
    files: _Files,
    res: pd.DataFrame,
    services: pd.DataFrame,
    stand_ins: pd.DataFrame,
    *,
    date: str,
) -> dict[str, int]:
    out.mkdir(parents=True, exist_ok=True)
    where = res["_file"].to_numpy()
    _write_main_csv(out / files.main_csv, res[where == "csv"])
    written = {files.main_csv: int((where == "csv").sum())}
    if (where == "xlsx").any():
        _write_xlsx(out / files.xlsx, res[where == "xlsx"], date=date)
        written[files.xlsx] = int((where == "xlsx").sum())
    if (where == "gps").any():
        _write_gps_csv(out / files.gps, res[where == "gps"])
        written[files.gps] = int((where == "gps").sum())
    _write_services_csv(out / files.services, services)
    written[files.services] = len(services)
    _write_geojson(out / files.stand_ins, stand_ins)
    written[files.stand_ins] = len(stand_ins)
    return written


@dataclass(frozen=True)
class _Meta:
    seed: int
    date: str
    counts: dict[str, int]
    alloc: pd.DataFrame
    files: _Files
    written: dict[str, int]
    schools_fixed: int
    dropped: list[str]
    people: int
    services: pd.DataFrame
    stand_ins: pd.DataFrame


def _file_notes(files: _Files) -> dict[str, dict[str, Any]]:
    common = {"kind": "residences", "crs": "EPSG:4326"}
    return {
        files.main_csv: common
        | {"delimiter": ";", "encoding": "utf-8-sig", "decimal": ",", "line_ending": "CRLF"},
        files.xlsx: common
        | {"sheet": "Migrantes", "header_row": 4, "note": "title rows above the header"},
        files.gps: {
            "kind": "residences",
            "crs": "EPSG:9377",
            "delimiter": ",",
            "encoding": "utf-8",
            "decimal": ".",
            "columns_xy": ["x", "y"],
        },
        files.services: {
            "kind": "services",
            "crs": "EPSG:4326",
            "delimiter": ",",
            "encoding": "utf-8",
            "decimal": ".",
        },
        files.stand_ins: {"kind": "services", "crs": "EPSG:4326", "simulated": True},
    }


def _write_meta(out: Path, meta: _Meta, n: int) -> None:
    from geo_integration import __version__
    from geo_integration.fileio import write_text

    notes = _file_notes(meta.files)
    file_table = {name: notes[name] | {"rows": rows} for name, rows in meta.written.items()}
    service_types = pd.concat([meta.services, meta.stand_ins])["tipo"].value_counts().sort_index()
    data = {
        "synthetic": True,
        "date": meta.date,
        "description": "DATOS SINTÉTICOS: demo de geo_integration. No son personas reales.",
        # the GPS file's name matches no residence pattern: map it, and declare its CRS
        "files": {
            meta.files.gps: {
                "kind": "residences",
                "crs": "EPSG:9377",
                "columns": {"lon": "x", "lat": "y"},
            }
        },
        "demo": {
            "generator": f"geo_integration.demo {__version__}",
            "seed": meta.seed,
            "residences": n,
            "people": meta.people,
            "services": len(meta.services) + len(meta.stand_ins),
            "source_marker": DEMO_SOURCE,
            "files": file_table,
            "row_kinds": {k: meta.counts[k] for k in ROW_MIX if k not in MALFORMED},
            "malformed": {k: meta.counts[k] for k in MALFORMED},
            "target_rates": dict(ROW_MIX),
            "household_size_p": list(HOUSEHOLD_P),
            "services_by_type": {str(k): int(v) for k, v in service_types.items()},
            "schools_coordinates_removed_outside_bogota": meta.schools_fixed,
            "hospitals_dropped_not_health": meta.dropped,
            "allocation": _allocation_meta(meta.alloc),
        },
    }
    text = "# DATOS SINTÉTICOS - demo de geo_integration (no son personas reales)\n"
    write_text(out / meta.files.toml, text + _toml(data) + "\n")
    write_text(out / meta.files.readme, _leeme(meta))


def _allocation_meta(alloc: pd.DataFrame) -> dict[str, Any]:
    return {
        "estimate": True,
        "method": "public figures for the localities that have one (ProBogotá/USAID 2024); "
        "the remaining share split among the other localities in proportion to population "
        "(DANE/SDP projection, latest year); within a locality by UPZ population (2024); "
        "within a UPZ uniformly over official address points",
        "sources": [
            "migration/venezuelan_migrants_public_figures.csv",
            "population/poblacion_localidad_dane_sdp_2018_2025_totals.csv",
            "population/poblacion_upz_dane_sdp_2018_2024.csv",
            "addresses/placas_domiciliarias.parquet",
        ],
        "share": {c: float(s) for c, s in zip(alloc["loc_code"], alloc["share"], strict=True)},
        "method_by_locality": dict(zip(alloc["loc_code"], alloc["method"], strict=True)),
        "rows": {c: int(r) for c, r in zip(alloc["loc_code"], alloc["rows"], strict=True)},
    }


def _leeme(meta: _Meta) -> str:
    f = meta.files
    fig = meta.alloc[meta.alloc["method"] == "public figure"]
    sources = sorted(set(fig["source"]))
    published = f"{', '.join(fig['loc_name'])}; {'; '.join(sources)}" if len(fig) else "ninguna"
    lines = [
        "DATOS SINTÉTICOS - SYNTHETIC DATA",
        "=================================",
        "",
        "Esta carpeta es una entrega de DEMOSTRACIÓN generada por geo_integration",
        f"(geo-integration demo make, semilla {meta.seed}, fecha de corte {meta.date}).",
        "Ninguna fila es una persona real: nombres, documentos, teléfonos y correos son",
        "inventados ('PERSONA SINTÉTICA 0000017', 'DOC-DEMO-0000017', dominio .invalid).",
        f"Cada archivo lo indica en la columna/propiedad 'fuente' = '{DEMO_SOURCE}'.",
        "",
        "This folder is a DEMO drop made by geo_integration: no row is a real person.",
        "",
        "Archivos / files",
        "----------------",
    ]
    notes = {
        f.main_csv: "residencias; separador ';', UTF-8 con BOM, coma decimal, WGS84",
        f.xlsx: "residencias de Suba; hoja 'Migrantes', encabezado en la fila 4 (título arriba)",
        f.gps: "residencias con coordenadas GPS en EPSG:9377 (metros, columnas x, y)",
        f.services: "puntos de servicio reales con capacidad y horario INVENTADOS; ',' y UTF-8",
        f.stand_ins: "centros SIMULADOS (SDIS, Casas de Igualdad, Centros Intégrate)",
        f.toml: "metadatos: synthetic = true, semilla, conteos exactos por tipo de fila",
    }
    for name, rows in meta.written.items():
        lines.append(f"- {name}: {rows} filas. {notes.get(name, '')}")
    lines.append(f"- {f.toml}: {notes[f.toml]}")
    lines += [
        "",
        "Cómo se distribuyeron las residencias (ESTIMACIÓN)",
        "--------------------------------------------------",
        "No existe una tabla oficial de migrantes venezolanos por localidad. Las localidades",
        f"con una cifra pública ({published}) conservan su porcentaje;",
        "el resto se reparte entre las demás localidades en proporción a su población",
        "(proyección DANE/SDP). Dentro de cada localidad, las filas se",
        "reparten por población de las UPZ (2024) y, dentro de la UPZ, sobre placas",
        "domiciliarias oficiales (Alcaldía Mayor de Bogotá, CC BY 4.0). Sumapaz (rural, sin",
        "UPZ) se muestrea sobre todas sus placas; las que no tienen dirección utilizable dan",
        "filas con coordenadas en lugar de dirección.",
        "",
        "  localidad                 % asignado   método          filas",
    ]
    alloc = meta.alloc
    for name, share, method, rows in zip(
        alloc["loc_name"], alloc["share"], alloc["method"], alloc["rows"], strict=True
    ):
        lines.append(f"  {name:<25} {100 * float(share):9.2f}   {method:<15} {int(rows)}")
    lines += [
        "",
        "Tipos de fila (conteos exactos en drop.toml)",
        "--------------------------------------------",
    ]
    for kind in ROW_MIX:
        lines.append(f"  {kind:<22} {meta.counts[kind]:>9}  (objetivo {100 * ROW_MIX[kind]:.2f} %)")
    lines += [
        "Las filas mal formadas son intencionales: sin dirección ni coordenadas, latitud y",
        "longitud intercambiadas, texto en 'personas', coordenadas en otra ciudad, id repetido.",
        "Las direcciones se escriben como las escribe la gente (Cll, Kra, No., #, Sur, apto...).",
        "",
        "Puntos de servicio",
        "------------------",
        "Colegios (Secretaría de Educación; públicos y privados mezclados, 2019), hospitales y",
        "clínicas (Secretaría de Salud), SuperCADE/CADE con dirección (Secretaría General; sin",
        "coordenadas: se deben geocodificar) y estaciones de TransMilenio (Movilidad): nombres,",
        "direcciones y coordenadas reales; CAPACIDADES Y HORARIOS INVENTADOS.",
        f"- Colegios con coordenadas fuera de Bogotá: {meta.schools_fixed}; se les quitaron",
        "  las coordenadas (quedan solo con dirección). Otro 10 % va solo con dirección.",
        "- Hospitales descartados por no ser de salud (filtro por palabras del nombre): "
        + (", ".join(meta.dropped) or "ninguno")
        + ".",
        "- Hospitales cuyas coordenadas comparten 3 o más registros (punto por defecto de una",
        "  geocodificación fallida) o caen fuera de Bogotá van sin coordenadas.",
        f"- {f.stand_ins}: centros SIMULADOS porque los datos públicos no los tienen",
        "  (Integración Social, Casas de Igualdad de la Secretaría de la Mujer, Centros",
        "  Intégrate de la Secretaría de Gobierno), en placas oficiales elegidas al azar.",
        "",
    ]
    return "\n".join(lines)
