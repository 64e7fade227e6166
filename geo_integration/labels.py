"""User-facing labels of the maps and reports, Spanish (default) and English, in one table.

Every layer name, legend entry, tooltip field, title and report heading comes from
:data:`LABELS` through :func:`label`; numbers are formatted by :func:`fmt_number` and friends
(``12.345`` and ``45,2 %`` in Spanish, ``12,345`` and ``45.2 %`` in English). No function here
escapes HTML: callers escape what they put in a page.
"""

from __future__ import annotations

import math
import re
from typing import Any

from geo_integration.errors import ConfigError

__all__ = [
    "LABELS",
    "LANGS",
    "check_lang",
    "fmt_int",
    "fmt_minutes",
    "fmt_number",
    "fmt_pct",
    "label",
    "service_type_label",
]

LANGS = ("es", "en")

#: key -> {"es": ..., "en": ...}; ``{name}`` placeholders are filled by :func:`label`.
LABELS: dict[str, dict[str, str]] = {
    # titles
    "title_coverage": {
        "es": "Acceso a pie a {service}",
        "en": "Walking access to {service}",
    },
    "title_overview": {
        "es": "Migrantes y servicios: panorama",
        "en": "Migrants and services: overview",
    },
    "drop_of": {"es": "Entrega de datos del {date}", "en": "Data drop of {date}"},
    "sources": {"es": "Fuentes", "en": "Sources"},
    "default_source_boundaries": {
        "es": "Límites de localidades y UPZ: SDP / IDECA (Datos Abiertos Bogotá)",
        "en": "Locality and UPZ boundaries: SDP / IDECA (Bogotá Open Data)",
    },
    "default_source_drop": {
        "es": "Residencias de migrantes y puntos de servicio: entrega de las secretarías",
        "en": "Migrant residences and service points: the secretariats' data drop",
    },
    "default_source_h3": {
        "es": "Hexágonos H3 (resolución {res})",
        "en": "H3 hexagons (resolution {res})",
    },
    # base layers
    "basemap_plain": {"es": "Fondo liso (sin conexión)", "en": "Plain background (offline)"},
    "basemap_osm": {
        "es": "OpenStreetMap (requiere internet)",
        "en": "OpenStreetMap (needs internet)",
    },
    "basemap_offline": {
        "es": "Sin conexión: el mapa base no está disponible; se muestra el fondo liso.",
        "en": "Offline: the basemap is not available; showing the plain background.",
    },
    # overlays
    "layer_localities": {"es": "Localidades (límites)", "en": "Localities (boundaries)"},
    "layer_upz": {"es": "UPZ", "en": "UPZ"},
    "layer_coverage": {
        "es": "Cobertura por localidad (≤ {t} min)",
        "en": "Coverage by locality (≤ {t} min)",
    },
    "layer_coverage_of": {
        "es": "Cobertura de {service} (≤ {t} min)",
        "en": "Coverage of {service} (≤ {t} min)",
    },
    "layer_migrants": {"es": "Migrantes por hexágono", "en": "Migrants per hexagon"},
    "layer_unmet": {
        "es": "Demanda no atendida (a más de {t} min)",
        "en": "Unmet demand (more than {t} min away)",
    },
    "layer_gap": {"es": "Índice de brecha", "en": "Gap index"},
    "layer_hotspots": {"es": "Puntos calientes de brecha (Gi*)", "en": "Gap hot spots (Gi*)"},
    "layer_lisa": {"es": "Agrupamientos locales (LISA)", "en": "Local clusters (LISA)"},
    "layer_clusters": {"es": "Concentraciones de migrantes", "en": "Migrant clusters"},
    "layer_services": {"es": "Servicios: {secretariat}", "en": "Services: {secretariat}"},
    "layer_service_area": {
        "es": "Área de servicio a {t} min a pie",
        "en": "{t}-minute walking service area",
    },
    "layer_sites": {"es": "Sitios propuestos", "en": "Proposed sites"},
    # fields
    "locality": {"es": "Localidad", "en": "Locality"},
    "upz": {"es": "UPZ", "en": "UPZ"},
    "migrants": {"es": "Migrantes", "en": "Migrants"},
    "residences": {"es": "Residencias", "en": "Residences"},
    "coverage_t": {"es": "Cobertura ≤ {t} min", "en": "Coverage ≤ {t} min"},
    "within_t": {"es": "Migrantes a ≤ {t} min", "en": "Migrants ≤ {t} min away"},
    "beyond_t": {"es": "Migrantes a más de {t} min", "en": "Migrants more than {t} min away"},
    "share_beyond_t": {"es": "A más de {t} min", "en": "More than {t} min away"},
    "median_time": {"es": "Tiempo mediano a pie", "en": "Median walking time"},
    "rank_gap": {"es": "Puesto por brecha (1 = mayor)", "en": "Gap rank (1 = largest)"},
    "rank_coverage": {
        "es": "Puesto por cobertura (1 = menor)",
        "en": "Coverage rank (1 = lowest)",
    },
    "e2sfca": {"es": "Accesibilidad E2SFCA", "en": "E2SFCA accessibility"},
    "two_sfca": {"es": "Accesibilidad 2SFCA", "en": "2SFCA accessibility"},
    "gap": {"es": "Brecha", "en": "Gap"},
    "gi_class": {"es": "Clase Gi*", "en": "Gi* class"},
    "lisa_class": {"es": "Clase LISA", "en": "LISA class"},
    "cluster": {"es": "Concentración", "en": "Cluster"},
    "name": {"es": "Nombre", "en": "Name"},
    "service_type": {"es": "Tipo de servicio", "en": "Service type"},
    "secretariat": {"es": "Secretaría", "en": "Secretariat"},
    "capacity": {"es": "Capacidad", "en": "Capacity"},
    "hours": {"es": "Horario", "en": "Opening hours"},
    "address": {"es": "Dirección", "en": "Address"},
    "unknown": {"es": "desconocida", "en": "unknown"},
    "no_data": {"es": "sin datos", "en": "no data"},
    "suppressed": {"es": "suprimido (< {k})", "en": "suppressed (< {k})"},
    "site": {"es": "Sitio propuesto", "en": "Proposed site"},
    "rank": {"es": "Puesto", "en": "Rank"},
    "marginal_gain": {"es": "Ganancia marginal", "en": "Marginal gain"},
    "selection_frequency": {"es": "Frecuencia de selección", "en": "Selection frequency"},
    "model": {"es": "Modelo", "en": "Model"},
    "p_sites": {"es": "Sitios (p)", "en": "Sites (p)"},
    "threshold": {"es": "Umbral", "en": "Threshold"},
    "objective": {"es": "Objetivo", "en": "Objective"},
    "coverage_before": {"es": "Cobertura antes", "en": "Coverage before"},
    "coverage_after": {"es": "Cobertura después", "en": "Coverage after"},
    # legend and controls
    "legend": {"es": "Leyenda", "en": "Legend"},
    "privacy_note": {
        "es": "Celdas con menos de {k} migrantes suprimidas; "
        "nunca se muestran residencias individuales.",
        "en": "Cells with fewer than {k} migrants suppressed; "
        "no individual residence is ever shown.",
    },
    "suppressed_class": {
        "es": "Suprimido (< {k} migrantes)",
        "en": "Suppressed (< {k} migrants)",
    },
    "no_data_class": {"es": "Sin datos", "en": "No data"},
    "search_placeholder": {"es": "Buscar localidad…", "en": "Search locality…"},
    "search_go": {"es": "Ir", "en": "Go"},
    "search_not_found": {"es": "Localidad no encontrada", "en": "Locality not found"},
    "fullscreen": {"es": "Pantalla completa", "en": "Full screen"},
    "fullscreen_exit": {"es": "Salir de pantalla completa", "en": "Exit full screen"},
    "hot_99": {"es": "Punto caliente (99 %)", "en": "Hot spot (99 %)"},
    "hot_95": {"es": "Punto caliente (95 %)", "en": "Hot spot (95 %)"},
    "hot_90": {"es": "Punto caliente (90 %)", "en": "Hot spot (90 %)"},
    "cold_99": {"es": "Punto frío (99 %)", "en": "Cold spot (99 %)"},
    "cold_95": {"es": "Punto frío (95 %)", "en": "Cold spot (95 %)"},
    "cold_90": {"es": "Punto frío (90 %)", "en": "Cold spot (90 %)"},
    "not_significant": {"es": "No significativo", "en": "Not significant"},
    "lisa_hh": {
        "es": "Alto-Alto (brecha alta rodeada de brecha alta)",
        "en": "High-High (high gap among high gaps)",
    },
    "lisa_ll": {
        "es": "Bajo-Bajo (brecha baja rodeada de brecha baja)",
        "en": "Low-Low (low gap among low gaps)",
    },
    "lisa_hl": {
        "es": "Alto-Bajo (brecha alta aislada)",
        "en": "High-Low (isolated high gap)",
    },
    "lisa_lh": {
        "es": "Bajo-Alto (brecha baja aislada)",
        "en": "Low-High (isolated low gap)",
    },
    "service_area_note": {
        "es": "Zona alcanzable a pie desde algún punto de servicio.",
        "en": "Area within walking reach of a service point.",
    },
    "sites_note": {
        "es": "Número = puesto en el orden de selección.",
        "en": "Number = rank in the selection order.",
    },
    "clusters_note": {
        "es": "Zonas con muchos migrantes juntos.",
        "en": "Areas where many migrants live close together.",
    },
    "unmet_note": {
        "es": "Migrantes que viven a más de {t} min a pie del servicio más cercano.",
        "en": "Migrants living more than {t} min on foot from the nearest service.",
    },
    # report
    "report_title": {
        "es": "Acceso a servicios de migrantes: entrega del {date}",
        "en": "Migrants' access to services: data drop of {date}",
    },
    "report_intro": {
        "es": "Cuántos migrantes viven a una distancia a pie aceptable de cada tipo de "
        "servicio, por localidad y UPZ. Las cifras de áreas con menos de {k} migrantes están "
        "suprimidas para proteger a las personas.",
        "en": "How many migrants live within an acceptable walk of each kind of service, by "
        "locality and UPZ. Figures of areas with fewer than {k} migrants are suppressed to "
        "protect people.",
    },
    "contents": {"es": "Contenido", "en": "Contents"},
    "sec_summary": {"es": "Resumen", "en": "Summary"},
    "sec_localities": {"es": "Cobertura por localidad", "en": "Coverage by locality"},
    "sec_upz": {"es": "Cobertura por UPZ", "en": "Coverage by UPZ"},
    "sec_changes": {
        "es": "Cambios desde la entrega del {date}",
        "en": "Changes since the data drop of {date}",
    },
    "sec_sites": {"es": "Sitios propuestos", "en": "Proposed sites"},
    "sec_clusters": {"es": "Concentraciones de migrantes", "en": "Migrant clusters"},
    "sec_quality": {"es": "Calidad de los datos", "en": "Data quality"},
    "ingest": {"es": "Ingesta de archivos", "en": "File ingest"},
    "file": {"es": "Archivo", "en": "File"},
    "rows_read": {"es": "Filas leídas", "en": "Rows read"},
    "accepted": {"es": "Aceptadas", "en": "Accepted"},
    "quarantined": {"es": "En cuarentena", "en": "Quarantined"},
    "reasons": {"es": "Motivos de cuarentena", "en": "Quarantine reasons"},
    "geocoding": {"es": "Geocodificación", "en": "Geocoding"},
    "match_level": {"es": "Nivel de coincidencia", "en": "Match level"},
    "records": {"es": "Registros", "en": "Records"},
    "share": {"es": "Porcentaje", "en": "Share"},
    "level_exact": {"es": "exacta (placa)", "en": "exact (address point)"},
    "level_interpolated": {"es": "interpolada en la cuadra", "en": "interpolated on the block"},
    "level_intersection": {"es": "intersección", "en": "intersection"},
    "level_grid": {"es": "malla de calles", "en": "street grid"},
    "level_area": {"es": "área (centroide)", "en": "area (centroid)"},
    "level_none": {"es": "sin ubicar", "en": "not located"},
    "item": {"es": "Concepto", "en": "Item"},
    "value": {"es": "Valor", "en": "Value"},
    "drop_id": {"es": "Identificador de la entrega", "en": "Drop identifier"},
    "drop_date": {"es": "Fecha de la entrega", "en": "Drop date"},
    "migrants_published": {
        "es": "Migrantes (suma de localidades publicadas)",
        "en": "Migrants (sum of published localities)",
    },
    "localities_suppressed": {
        "es": "Localidades suprimidas (< {k} migrantes)",
        "en": "Localities suppressed (< {k} migrants)",
    },
    "service_points": {"es": "Puntos de servicio", "en": "Service points"},
    "thresholds": {"es": "Umbrales de caminata", "en": "Walking thresholds"},
    "privacy_k": {"es": "Umbral de privacidad (k)", "en": "Privacy threshold (k)"},
    "chart_coverage": {
        "es": "Cobertura ≤ {t} min por localidad: {service}",
        "en": "Coverage ≤ {t} min by locality: {service}",
    },
    "chart_coverage_x": {
        "es": "% de migrantes a ≤ {t} min a pie",
        "en": "% of migrants within {t} min on foot",
    },
    "chart_geocoding": {
        "es": "Registros por nivel de geocodificación",
        "en": "Records by geocoding level",
    },
    "before": {"es": "Antes", "en": "Before"},
    "now": {"es": "Ahora", "en": "Now"},
    "change": {"es": "Cambio", "en": "Change"},
    "points": {"es": "p. p.", "en": "pp"},
    "changes_note": {
        "es": "▲ sube, ▼ baja, = sin cambio. La cobertura cambia en puntos porcentuales (p. p.).",
        "en": "▲ up, ▼ down, = no change. Coverage changes are in percentage points (pp).",
    },
    "no_previous": {
        "es": "No hay una entrega anterior con la que comparar.",
        "en": "There is no previous data drop to compare with.",
    },
    "code": {"es": "Código", "en": "Code"},
    "generated_by": {
        "es": "Generado por geo_integration {version}.",
        "en": "Generated by geo_integration {version}.",
    },
    "sheet_summary": {"es": "Resumen", "en": "Summary"},
    "sheet_localities": {"es": "Localidades", "en": "Localities"},
    "sheet_upz": {"es": "UPZ", "en": "UPZ"},
    "sheet_changes": {"es": "Cambios", "en": "Changes"},
    "sheet_ingest": {"es": "Ingesta", "en": "Ingest"},
    "sheet_geocoding": {"es": "Geocodificación", "en": "Geocoding"},
    "sheet_sites": {"es": "Sitios", "en": "Sites"},
    "sheet_clusters": {"es": "Concentraciones", "en": "Clusters"},
}

_SERVICE_TYPES: dict[str, dict[str, str]] = {
    "school": {"es": "colegios", "en": "schools"},
    "health": {"es": "servicios de salud", "en": "health services"},
    "citizen_service": {"es": "atención a la ciudadanía", "en": "citizen service points"},
    "social_integration": {"es": "integración social", "en": "social integration"},
    "transit": {"es": "transporte público", "en": "public transport"},
    "women": {"es": "servicios para la mujer", "en": "women's services"},
    "migrant_services": {"es": "atención a migrantes", "en": "migrant services"},
    "employment": {"es": "empleo", "en": "employment services"},
    "housing": {"es": "vivienda (hábitat)", "en": "housing (habitat)"},
    "childcare": {"es": "cuidado infantil", "en": "childcare"},
    "legal_aid": {"es": "orientación jurídica", "en": "legal aid"},
}


def check_lang(lang: str) -> str:
    """Return ``lang`` if it is a supported language, else raise :class:`ConfigError`."""
    if lang not in LANGS:
        msg = f"lang must be one of {list(LANGS)!r}, got {lang!r}"
        raise ConfigError(msg)
    return lang


def label(key: str, lang: str = "es", **values: Any) -> str:
    """Return the label ``key`` in ``lang`` with ``{placeholders}`` filled from ``values``.

    Examples
    --------
    >>> label("coverage_t", "es", t=15)
    'Cobertura ≤ 15 min'
    >>> label("coverage_t", "en", t=15)
    'Coverage ≤ 15 min'
    """
    check_lang(lang)
    try:
        text = LABELS[key][lang]
    except KeyError:
        msg = f"no label {key!r}"
        raise KeyError(msg) from None
    return text.format(**values) if values else text


# core of a secretariat's key (``sec_secretaria_de_la_mujer`` -> ``mujer``) -> names
_SECRETARIATS: dict[str, dict[str, str]] = {
    "educacion": {"es": "Secretaría de Educación", "en": "Education Secretariat"},
    "salud": {"es": "Secretaría de Salud", "en": "Health Secretariat"},
    "integracion_social": {
        "es": "Secretaría de Integración Social",
        "en": "Social Integration Secretariat",
    },
    "mujer": {"es": "Secretaría de la Mujer", "en": "Women's Secretariat"},
    "gobierno": {"es": "Secretaría de Gobierno", "en": "Government Secretariat"},
    "general": {"es": "Secretaría General", "en": "General Secretariat"},
    "movilidad": {"es": "Secretaría de Movilidad", "en": "Mobility Secretariat"},
    "habitat": {"es": "Secretaría del Hábitat", "en": "Habitat Secretariat"},
    "desarrollo_economico": {
        "es": "Secretaría de Desarrollo Económico",
        "en": "Economic Development Secretariat",
    },
    "cultura_recreacion_y_deporte": {
        "es": "Secretaría de Cultura, Recreación y Deporte",
        "en": "Culture, Recreation and Sport Secretariat",
    },
    "cultura": {"es": "Secretaría de Cultura", "en": "Culture Secretariat"},
    "ambiente": {"es": "Secretaría de Ambiente", "en": "Environment Secretariat"},
    "seguridad_convivencia_y_justicia": {
        "es": "Secretaría de Seguridad, Convivencia y Justicia",
        "en": "Security, Coexistence and Justice Secretariat",
    },
    "seguridad": {"es": "Secretaría de Seguridad", "en": "Security Secretariat"},
    "planeacion": {"es": "Secretaría de Planeación", "en": "Planning Secretariat"},
    "hacienda": {"es": "Secretaría de Hacienda", "en": "Finance Secretariat"},
    "juridica": {"es": "Secretaría Jurídica", "en": "Legal Secretariat"},
}
_SEC_PREFIX = re.compile(r"^sec_(?:secretaria_)?(?:distrital_)?(?:de_|del_)?(?:la_|el_)?")


def service_type_label(service_type: str, lang: str = "es") -> str:
    """Return the human name of a service type key (``health`` -> ``servicios de salud``).

    Secretariat keys (``sec_secretaria_de_educacion``) give the secretariat's name. Unknown
    keys are shown with underscores as spaces.
    """
    check_lang(lang)
    known = _SERVICE_TYPES.get(service_type)
    if known:
        return known[lang]
    key = str(service_type)
    if key.startswith("sec_"):
        core = _SEC_PREFIX.sub("", key)
        sec = _SECRETARIATS.get(core)
        if sec:
            return sec[lang]
        return ("Secretaría " if lang == "es" else "Secretariat ") + core.replace("_", " ")
    return key.replace("_", " ")


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(math.isnan(float(value)))
    except (TypeError, ValueError):
        return False


def fmt_number(value: Any, lang: str = "es", *, decimals: int = 0, missing: str = "") -> str:
    """Format a number with the language's separators; ``missing`` for None/NaN.

    Examples
    --------
    >>> fmt_number(12345.678, "es", decimals=1)
    '12.345,7'
    >>> fmt_number(12345.678, "en", decimals=1)
    '12,345.7'
    """
    if _missing(value):
        return missing
    text = f"{float(value):,.{decimals}f}"
    if lang == "es":
        text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return text


def fmt_int(value: Any, lang: str = "es", *, missing: str = "") -> str:
    """Format a count (no decimals)."""
    return fmt_number(value, lang, decimals=0, missing=missing)


def fmt_pct(share: Any, lang: str = "es", *, decimals: int = 1, missing: str = "") -> str:
    """Format a share in 0..1 as a percentage (``0.452`` -> ``45,2 %``)."""
    if _missing(share):
        return missing
    return f"{fmt_number(100 * float(share), lang, decimals=decimals)} %"


def fmt_minutes(minutes: Any, lang: str = "es", *, missing: str = "") -> str:
    """Format minutes with one decimal (``12,5 min``)."""
    if _missing(minutes):
        return missing
    return f"{fmt_number(minutes, lang, decimals=1)} min"
