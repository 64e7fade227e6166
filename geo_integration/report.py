"""Per-drop report: one self-contained HTML page and one XLSX workbook.

:func:`write_report` writes ``report.html`` (tables, matplotlib charts embedded as ``data:``
PNGs, no external reference) and ``report.xlsx`` (openpyxl) with:

- a summary (drop, date, thresholds, privacy threshold, published migrants, service points);
- per locality and per UPZ: migrants, residences, and per service type the coverage at each
  threshold, the median walking time, E2SFCA, 2SFCA and the gap rank (or the coverage rank
  when the gaps analysis was not run); suppressed areas show "suprimido (< k)";
- what changed since the previous drop, per locality (migrants and coverage at the default
  threshold, with arrows and numbers), when a previous drop is given;
- proposed sites and migrant clusters when present;
- the ingest and geocoding quality summary.

All user-provided text is HTML-escaped in the page; in the workbook every text cell is
written as a literal string (a name such as ``=HYPERLINK(...)`` stays text, never a formula).
"""

from __future__ import annotations

import base64
import logging
import math
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from geo_integration import __version__
from geo_integration.assets import external_references
from geo_integration.errors import RenderError
from geo_integration.fileio import atomic_path, write_text
from geo_integration.labels import (
    check_lang,
    fmt_int,
    fmt_minutes,
    fmt_number,
    fmt_pct,
    label,
    service_type_label,
)
from geo_integration.map_elements import esc
from geo_integration.maps import check_published_counts, display_ranks
from geo_integration.render_inputs import ReportInputs

__all__ = ["render_report_html", "write_report", "write_report_xlsx"]

log = logging.getLogger(__name__)

MATCH_LEVELS = ("exact", "interpolated", "intersection", "grid", "area", "none")
_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")

_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif;
  margin: 0 auto; max-width: 1100px; padding: 16px 24px; color: #222; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 18px; margin-top: 32px;
  border-bottom: 2px solid #ddd; } h3 { font-size: 15px; margin-top: 20px; }
.meta { color: #555; font-size: 12px; } .note { color: #555; font-size: 12px; }
table { border-collapse: collapse; margin: 8px 0; font-size: 12.5px; }
th, td { border: 1px solid #ddd; padding: 3px 7px; } th { background: #f3f3f3; text-align: left; }
td.n { text-align: right; white-space: nowrap; } td.s { color: #777; font-style: italic; }
.up { color: #1a7f37; } .down { color: #c62828; } .same { color: #777; }
img.chart { max-width: 100%; display: block; margin: 6px 0; }
nav ul { columns: 2; font-size: 13px; }
details summary { cursor: pointer; font-weight: 600; margin: 6px 0; }
"""


@dataclass(frozen=True)
class _Cell:
    """A table cell: display text, the raw value (for the workbook), its kind."""

    text: str
    value: Any = None
    kind: str = "text"  # text | int | num | pct | min | suppressed

    @property
    def css(self) -> str:
        if self.kind == "suppressed":
            return ' class="s"'
        return ' class="n"' if self.kind in ("int", "num", "pct", "min") else ""


class _Fmt:
    """Formatting of one report (language and privacy threshold)."""

    def __init__(self, lang: str, k: int) -> None:
        self.lang = lang
        self.k = k

    def t(self, key: str, **values: Any) -> str:
        return label(key, self.lang, **values)

    def measure(self, value: Any, kind: str, *, suppressed: bool) -> _Cell:
        number = _float(value)
        if number is None:
            if suppressed:
                return _Cell(self.t("suppressed", k=self.k), None, "suppressed")
            return _Cell(self.t("no_data"), None, "suppressed")
        text = {
            "int": lambda: fmt_int(number, self.lang),
            "pct": lambda: fmt_pct(number, self.lang),
            "min": lambda: fmt_minutes(number, self.lang),
            "num": lambda: fmt_number(number, self.lang, decimals=4),
        }[kind]()
        return _Cell(text, number, kind)


def _float(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def _suppressed(row: pd.Series) -> bool:
    flag = row.get("suppressed", False)
    return (
        bool(flag)
        if flag is not None and not (isinstance(flag, float) and math.isnan(flag))
        else False
    )


def _row(table: pd.DataFrame, code: str) -> pd.Series | None:
    if code not in table.index:
        return None
    row = table.loc[code]
    return row if isinstance(row, pd.Series) else row.iloc[0]


def _keyed(table: pd.DataFrame, key: str) -> pd.DataFrame:
    if key not in table.columns and table.index.name == key:
        table = table.reset_index()
    plain = pd.DataFrame(table.drop(columns="geometry", errors="ignore"))
    plain[key] = plain[key].astype(str)
    return plain.drop_duplicates(key).set_index(key)


# --------------------------------------------------------------------------- tables


@dataclass
class _Table:
    """A titled table: header and rows of cells."""

    title: str
    header: list[str]
    rows: list[list[_Cell]]
    sheet: str = ""


def _area_table(
    inputs: ReportInputs,
    fmt: _Fmt,
    *,
    units: pd.DataFrame,
    access: pd.DataFrame | None,
    key: str,
    names: list[str],
    extra: list[tuple[str, list[str]]],
    rankings: pd.DataFrame | None,
    service_types: Sequence[str],
) -> _Table:
    """Per-area table with the measures of every service type (the workbook's layout)."""
    table = _keyed(access, key) if access is not None else pd.DataFrame()
    thresholds = inputs.threshold_list()
    t_default = inputs.default_threshold()
    header = [
        fmt.t("code"),
        *[h for h, _ in extra],
        names[0],
        fmt.t("migrants"),
        fmt.t("residences"),
    ]
    plans: list[tuple[str, str, str]] = []  # (column, kind, header)
    ranks: dict[str, pd.Series | None] = {}
    for st in service_types:
        name = service_type_label(st, fmt.lang)
        for t in thresholds:
            plans.append((f"share_within_{t}_{st}", "pct", f"{name}: {fmt.t('coverage_t', t=t)}"))
        plans.append((f"median_time_{st}", "min", f"{name}: {fmt.t('median_time')}"))
        plans.append((f"e2sfca_{st}", "num", f"{name}: {fmt.t('e2sfca')}"))
        plans.append((f"two_sfca_{st}", "num", f"{name}: {fmt.t('two_sfca')}"))
        rank, rank_key = display_ranks(
            rankings, table, key=key, service_type=st, threshold=t_default
        )
        ranks[st] = rank
        if rank_key:
            plans.append((f"__rank_{st}", "int", f"{name}: {fmt.t(rank_key)}"))
    plans = [p for p in plans if p[0] in table.columns or p[0].startswith("__rank_")]
    header += [h for _, _, h in plans]
    rows = []
    for i, code in enumerate(units[key].astype(str)):
        row = _row(table, code)
        supp = row is not None and _suppressed(row)
        cells = [_Cell(code, code), *[_Cell(str(v[i]), v[i]) for _, v in extra]]
        cells.append(_Cell(str(units[names[1]].iloc[i]), units[names[1]].iloc[i]))
        get = (lambda c: None) if row is None else row.get
        cells.append(fmt.measure(get("migrants"), "int", suppressed=supp))
        cells.append(fmt.measure(get("residences"), "int", suppressed=supp))
        for col, kind, _ in plans:
            if col.startswith("__rank_"):
                rank = ranks[col.removeprefix("__rank_")]
                value = rank.get(code) if rank is not None and not supp else None
                cells.append(fmt.measure(value, kind, suppressed=supp))
            else:
                cells.append(fmt.measure(get(col), kind, suppressed=supp))
        rows.append(cells)
    return _Table(title="", header=header, rows=rows)


def _locality_table(inputs: ReportInputs, fmt: _Fmt, types: Sequence[str]) -> _Table:
    loc = inputs.localities.sort_values("loc_code")
    table = _area_table(
        inputs,
        fmt,
        units=loc,
        access=inputs.locality_access,
        key="loc_code",
        names=[fmt.t("locality"), "loc_name"],
        extra=[],
        rankings=inputs.rank_localities,
        service_types=types,
    )
    table.title, table.sheet = fmt.t("sec_localities"), fmt.t("sheet_localities")
    return table


def _upz_table(inputs: ReportInputs, fmt: _Fmt, types: Sequence[str]) -> _Table | None:
    if inputs.upz is None or inputs.upz_access is None:
        return None
    upz = inputs.upz.sort_values("upz_code", key=lambda s: s.str.extract(r"(\d+)")[0].astype(float))
    names = dict(zip(inputs.localities["loc_code"], inputs.localities["loc_name"], strict=True))
    loc_names = [names.get(c, "") for c in upz.get("loc_code", pd.Series("", index=upz.index))]
    table = _area_table(
        inputs,
        fmt,
        units=upz,
        access=inputs.upz_access,
        key="upz_code",
        names=[fmt.t("upz"), "upz_name"],
        extra=[(fmt.t("locality"), loc_names)],
        rankings=inputs.rank_upz,
        service_types=types,
    )
    table.title, table.sheet = fmt.t("sec_upz"), fmt.t("sheet_upz")
    return table


def _arrow(delta: float | None, *, tolerance: float) -> tuple[str, str]:
    if delta is None:
        return "", ""
    if delta > tolerance:
        return "▲", "up"
    if delta < -tolerance:
        return "▼", "down"
    return "=", "same"


def _changes_table(inputs: ReportInputs, fmt: _Fmt, types: Sequence[str]) -> _Table | None:
    if inputs.previous_localities is None or inputs.locality_access is None:
        return None
    now = _keyed(inputs.locality_access, "loc_code")
    before = _keyed(inputs.previous_localities, "loc_code")
    t = inputs.default_threshold()
    measures = [("migrants", fmt.t("migrants"), "int")]
    measures += [
        (
            f"share_within_{t}_{st}",
            f"{service_type_label(st, fmt.lang)}: {fmt.t('coverage_t', t=t)}",
            "pct",
        )
        for st in types
        if f"share_within_{t}_{st}" in now.columns and f"share_within_{t}_{st}" in before.columns
    ]
    header = [fmt.t("code"), fmt.t("locality")]
    for _, name, _ in measures:
        header += [
            f"{name}: {fmt.t('before')}",
            f"{name}: {fmt.t('now')}",
            f"{name}: {fmt.t('change')}",
        ]
    rows = []
    for code, name in zip(
        inputs.localities["loc_code"], inputs.localities["loc_name"], strict=True
    ):
        cells = [_Cell(str(code), str(code)), _Cell(str(name), str(name))]
        old, new = _row(before, code), _row(now, code)
        for col, _, kind in measures:
            a = fmt.measure(
                None if old is None else old.get(col),
                kind,
                suppressed=old is not None and _suppressed(old),
            )
            b = fmt.measure(
                None if new is None else new.get(col),
                kind,
                suppressed=new is not None and _suppressed(new),
            )
            cells += [a, b, _change_cell(fmt, a.value, b.value, kind)]
        rows.append(cells)
    return _Table(
        title=fmt.t("sec_changes", date=inputs.previous_drop_date),
        header=header,
        rows=rows,
        sheet=fmt.t("sheet_changes"),
    )


def _change_cell(fmt: _Fmt, before: float | None, now: float | None, kind: str) -> _Cell:
    if before is None or now is None:
        return _Cell("", None, "suppressed")
    if kind == "pct":
        delta = 100 * (now - before)
        arrow, css = _arrow(delta, tolerance=0.05)
        text = f"{arrow} {fmt_number(delta, fmt.lang, decimals=1)} {fmt.t('points')}"
        return _Cell(text, round(delta, 3), f"chg-{css}")
    delta = now - before
    arrow, css = _arrow(delta, tolerance=0.5)
    sign = "+" if delta > 0 else ""
    return _Cell(f"{arrow} {sign}{fmt_int(delta, fmt.lang)}", delta, f"chg-{css}")


def _sites_table(inputs: ReportInputs, fmt: _Fmt) -> _Table | None:
    sites = inputs.sites
    if sites is None or sites.empty:
        return None
    sites = sites.sort_values("rank") if "rank" in sites.columns else sites
    cols = [
        ("rank", fmt.t("rank"), "int"),
        ("candidate_id", "ID", "text"),
        ("name", fmt.t("name"), "text"),
        ("service_type", fmt.t("service_type"), "text"),
        ("marginal_gain", fmt.t("marginal_gain"), "num2"),
        ("selection_frequency", fmt.t("selection_frequency"), "pct"),
    ]
    cols = [c for c in cols if c[0] in sites.columns]
    rows = []
    for _, row in sites.iterrows():
        cells = []
        for col, _, kind in cols:
            value = row.get(col)
            if kind == "text":
                text = (
                    ""
                    if value is None or (isinstance(value, float) and math.isnan(value))
                    else str(value)
                )
                if col == "service_type" and text:
                    text = service_type_label(text, fmt.lang)
                cells.append(_Cell(text, text))
            elif kind == "num2":
                number = _float(value)
                cells.append(_Cell(fmt_number(number, fmt.lang, decimals=2), number, "num"))
            else:
                cells.append(fmt.measure(value, kind, suppressed=False))
        rows.append(cells)
    return _Table(fmt.t("sec_sites"), [c[1] for c in cols], rows, fmt.t("sheet_sites"))


def _clusters_table(inputs: ReportInputs, fmt: _Fmt, types: Sequence[str]) -> _Table | None:
    clusters = inputs.clusters
    if clusters is None or clusters.empty:
        return None
    header = [fmt.t("cluster"), fmt.t("locality"), fmt.t("migrants"), fmt.t("residences")]
    measures = [
        (f"median_time_{st}", f"{service_type_label(st, fmt.lang)}: {fmt.t('median_time')}", "min")
        for st in types
        if f"median_time_{st}" in clusters.columns
    ]
    header += [m[1] for m in measures]
    rows = []
    for _, row in clusters.iterrows():
        supp = _suppressed(row)
        cells = [
            _Cell(str(row["cluster_id"]), str(row["cluster_id"])),
            _Cell(str(row.get("loc_name", "") or ""), str(row.get("loc_name", "") or "")),
            fmt.measure(row.get("migrants"), "int", suppressed=supp),
            fmt.measure(row.get("residences"), "int", suppressed=supp),
        ]
        cells += [fmt.measure(row.get(col), kind, suppressed=supp) for col, _, kind in measures]
        rows.append(cells)
    return _Table(fmt.t("sec_clusters"), header, rows, fmt.t("sheet_clusters"))


def _ingest_table(inputs: ReportInputs, fmt: _Fmt) -> _Table | None:
    report = inputs.ingest_report
    if not report:
        return None
    files = report.get("files", report)
    if not isinstance(files, dict):
        return None
    rows = []
    for name, info in files.items():
        if not isinstance(info, dict):
            continue
        reasons = info.get("quarantine_reasons") or {}
        text = (
            "; ".join(f"{r}: {n}" for r, n in reasons.items())
            if isinstance(reasons, dict)
            else str(reasons)
        )
        rows.append(
            [
                _Cell(str(name), str(name)),
                fmt.measure(info.get("rows_read"), "int", suppressed=False),
                fmt.measure(info.get("accepted"), "int", suppressed=False),
                fmt.measure(info.get("quarantined"), "int", suppressed=False),
                _Cell(text, text),
            ]
        )
    header = [fmt.t(k) for k in ("file", "rows_read", "accepted", "quarantined", "reasons")]
    return _Table(fmt.t("ingest"), header, rows, fmt.t("sheet_ingest"))


def _geocoding_counts(inputs: ReportInputs) -> dict[str, float]:
    summary = inputs.geocoding or {}
    counts = summary.get("match_level", summary)
    if not isinstance(counts, dict):
        return {}
    out = {str(k): v for k, v in counts.items() if _float(v) is not None}
    ordered = [k for k in MATCH_LEVELS if k in out] + [k for k in out if k not in MATCH_LEVELS]
    return {k: float(out[k]) for k in ordered}


def _level_label(level: str, lang: str) -> str:
    key = f"level_{level}"
    return label(key, lang) if key in _LEVEL_KEYS else level


_LEVEL_KEYS = {f"level_{k}" for k in MATCH_LEVELS}


def _geocoding_table(inputs: ReportInputs, fmt: _Fmt) -> _Table | None:
    counts = _geocoding_counts(inputs)
    if not counts:
        return None
    total = sum(counts.values())
    rows = [
        [
            _Cell(_level_label(level, fmt.lang), _level_label(level, fmt.lang)),
            fmt.measure(n, "int", suppressed=False),
            fmt.measure(n / total if total else None, "pct", suppressed=False),
        ]
        for level, n in counts.items()
    ]
    header = [fmt.t("match_level"), fmt.t("records"), fmt.t("share")]
    return _Table(fmt.t("geocoding"), header, rows, fmt.t("sheet_geocoding"))


def _summary_rows(
    inputs: ReportInputs, fmt: _Fmt, types: Sequence[str]
) -> list[tuple[str, str, Any]]:
    rows: list[tuple[str, str, Any]] = [
        (fmt.t("drop_id"), inputs.drop_id, inputs.drop_id),
        (fmt.t("drop_date"), inputs.drop_date, inputs.drop_date),
    ]
    access = inputs.locality_access
    if access is not None and "migrants" in access.columns:
        supp = access["suppressed"].fillna(False).astype(bool) if "suppressed" in access else None
        total = pd.to_numeric(access["migrants"], errors="coerce").sum()
        rows.append((fmt.t("migrants_published"), fmt_int(total, fmt.lang), float(total)))
        if supp is not None:
            n = int(supp.sum())
            rows.append((fmt.t("localities_suppressed", k=fmt.k), fmt_int(n, fmt.lang), n))
    if inputs.services is not None:
        n = len(inputs.services)
        rows.append((fmt.t("service_points"), fmt_int(n, fmt.lang), n))
    if types:
        text = ", ".join(service_type_label(st, fmt.lang) for st in types)
        rows.append((fmt.t("service_type"), text, text))
    thresholds = inputs.threshold_list()
    if thresholds:
        text = ", ".join(f"{t} min" for t in thresholds)
        rows.append((fmt.t("thresholds"), text, text))
    rows.append((fmt.t("privacy_k"), str(inputs.privacy_k), inputs.privacy_k))
    return rows


# --------------------------------------------------------------------------- HTML


def _html_table(table: _Table, *, columns: Sequence[int] | None = None, strip: str = "") -> str:
    idx = list(columns) if columns is not None else list(range(len(table.header)))
    head = "".join(f"<th>{esc(table.header[i].removeprefix(strip))}</th>" for i in idx)
    body = []
    for row in table.rows:
        cells = []
        for i in idx:
            cell = row[i]
            css = cell.css
            if cell.kind.startswith("chg-"):
                css = f' class="n {cell.kind[4:]}"'
            cells.append(f"<td{css}>{esc(cell.text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _png_img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img class="chart" alt="{esc(alt)}" src="data:image/png;base64,{data}">'


def _columns_for(table: _Table, prefix: str, base: int) -> list[int]:
    """Leading ``base`` columns plus those whose header starts with ``prefix``."""
    return list(range(base)) + [i for i, h in enumerate(table.header) if h.startswith(prefix)]


def _coverage_section(
    inputs: ReportInputs, fmt: _Fmt, table: _Table, types: Sequence[str], *, base: int, charts: bool
) -> list[str]:
    from geo_integration.charts import coverage_chart

    parts = []
    t = inputs.default_threshold()
    access = (
        _keyed(inputs.locality_access, "loc_code") if inputs.locality_access is not None else None
    )
    for st in types:
        name = service_type_label(st, fmt.lang)
        parts.append(f"<h3>{esc(name[:1].upper() + name[1:])}</h3>")
        share = f"share_within_{t}_{st}"
        if charts and access is not None and t is not None and share in access.columns:
            loc = inputs.localities.sort_values("loc_code")
            values = [
                _float(access.loc[c, share]) if c in access.index else None for c in loc["loc_code"]
            ]
            title = fmt.t("chart_coverage", t=t, service=name)
            png = coverage_chart(
                list(loc["loc_name"]),
                values,
                title=title,
                xlabel=fmt.t("chart_coverage_x", t=t),
                missing_label=fmt.t("suppressed", k=fmt.k),
            )
            parts.append(_png_img(png, title))
        columns = _columns_for(table, f"{name}: ", base)
        parts.append(_html_table(table, columns=columns, strip=f"{name}: "))
    return parts


def render_report_html(inputs: ReportInputs, *, lang: str = "es") -> str:
    """Return the report as one self-contained HTML page (see the module docstring)."""
    check_lang(lang)
    _check_report_privacy(inputs)
    fmt = _Fmt(lang, inputs.privacy_k)
    types = inputs.service_types()
    date = inputs.drop_date or inputs.drop_id
    title = fmt.t("report_title", date=date)
    sections: list[tuple[str, str, list[str]]] = []

    summary = _summary_rows(inputs, fmt, types)
    body = "".join(f"<tr><th>{esc(a)}</th><td>{esc(b)}</td></tr>" for a, b, _ in summary)
    sections.append(("summary", fmt.t("sec_summary"), [f"<table>{body}</table>"]))

    if inputs.locality_access is not None:
        loc = _locality_table(inputs, fmt, types)
        sections.append(
            (
                "localities",
                loc.title,
                _coverage_section(inputs, fmt, loc, types, base=4, charts=True),
            )
        )
    upz = _upz_table(inputs, fmt, types)
    if upz is not None:
        parts = _coverage_section(inputs, fmt, upz, types, base=5, charts=False)
        sections.append(
            (
                "upz",
                upz.title,
                [f"<details><summary>{esc(upz.title)}</summary>{''.join(parts)}</details>"],
            )
        )
    changes = _changes_table(inputs, fmt, types)
    if changes is not None:
        sections.append(
            (
                "changes",
                changes.title,
                [f'<p class="note">{esc(fmt.t("changes_note"))}</p>', _html_table(changes)],
            )
        )
    sites = _sites_table(inputs, fmt)
    if sites is not None:
        sections.append(
            ("sites", sites.title, [_siting_summary_html(inputs, fmt), _html_table(sites)])
        )
    clusters = _clusters_table(inputs, fmt, types)
    if clusters is not None:
        sections.append(("clusters", clusters.title, [_html_table(clusters)]))
    quality = _quality_parts(inputs, fmt)
    if quality:
        sections.append(("quality", fmt.t("sec_quality"), quality))

    toc = "".join(f'<li><a href="#{sid}">{esc(name)}</a></li>' for sid, name, _ in sections)
    page = [
        "<!DOCTYPE html>",
        f'<html lang="{lang}"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        f'<p class="meta">{esc(fmt.t("report_intro", k=fmt.k))}</p>',
        f"<nav><strong>{esc(fmt.t('contents'))}</strong><ul>{toc}</ul></nav>",
    ]
    if changes is None:
        page.append(f'<p class="note">{esc(fmt.t("no_previous"))}</p>')
    for sid, name, parts in sections:
        page.append(f'<section id="{sid}"><h2>{esc(name)}</h2>{"".join(parts)}</section>')
    page.append(f'<p class="meta">{esc(fmt.t("generated_by", version=__version__))}</p>')
    page.append("</body></html>")
    html_text = "\n".join(page)
    loads = external_references(html_text)
    if loads:
        msg = f"the report would load external resources: {loads[:5]!r}"
        raise RenderError(msg)
    return html_text


def _siting_summary_html(inputs: ReportInputs, fmt: _Fmt) -> str:
    summary = inputs.siting_summary or {}
    rows = []
    for key, lab in (
        ("model", "model"),
        ("p", "p_sites"),
        ("threshold", "threshold"),
        ("objective", "objective"),
    ):
        if summary.get(key) is not None:
            rows.append(
                (fmt.t(lab), f"{summary[key]} min" if key == "threshold" else str(summary[key]))
            )
    for key in ("coverage_before", "coverage_after"):
        value = _float(summary.get(key))
        if value is not None:
            rows.append(
                (
                    fmt.t(key),
                    fmt_pct(value, fmt.lang) if value <= 1 else fmt_number(value, fmt.lang),
                )
            )
    body = "".join(f"<tr><th>{esc(a)}</th><td>{esc(b)}</td></tr>" for a, b in rows)
    return f"<table>{body}</table>" if body else ""


def _quality_parts(inputs: ReportInputs, fmt: _Fmt) -> list[str]:
    from geo_integration.charts import bar_chart

    parts = []
    ingest = _ingest_table(inputs, fmt)
    if ingest is not None:
        parts += [f"<h3>{esc(ingest.title)}</h3>", _html_table(ingest)]
    geocoding = _geocoding_table(inputs, fmt)
    if geocoding is not None:
        counts = _geocoding_counts(inputs)
        title = fmt.t("chart_geocoding")
        png = bar_chart(
            [_level_label(k, fmt.lang) for k in counts], list(counts.values()), title=title
        )
        parts += [f"<h3>{esc(geocoding.title)}</h3>", _png_img(png, title), _html_table(geocoding)]
    return parts


def _check_report_privacy(inputs: ReportInputs) -> None:
    for table, what in (
        (inputs.locality_access, "locality table"),
        (inputs.upz_access, "UPZ table"),
        (inputs.clusters, "clusters"),
        (inputs.previous_localities, "previous locality table"),
    ):
        check_published_counts(table, inputs.privacy_k, what)


# --------------------------------------------------------------------------- XLSX


def _write_cell(ws: Any, row: int, col: int, value: Any, number_format: str | None = None) -> None:
    cell = ws.cell(row=row, column=col)
    if isinstance(value, str):
        cell.value = _ILLEGAL_XML.sub("", value)
        cell.data_type = "s"  # literal text: never a formula, whatever it starts with
    else:
        cell.value = value
        if number_format:
            cell.number_format = number_format


_NUMBER_FORMATS = {"int": "#,##0", "pct": "0.0%", "min": "0.0", "num": "0.0000"}


def _sheet(wb: Any, title: str, header: Sequence[str], rows: Iterable[Sequence[_Cell]]) -> None:
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    ws = wb.create_sheet(re.sub(r"[\[\]:*?/\\]", " ", title)[:31])
    for j, name in enumerate(header, start=1):
        _write_cell(ws, 1, j, name)
        ws.cell(row=1, column=j).font = Font(bold=True)
    for i, row in enumerate(rows, start=2):
        for j, cell in enumerate(row, start=1):
            if cell.value is None or cell.kind in ("suppressed",):
                _write_cell(ws, i, j, cell.text)
            elif cell.kind.startswith("chg-"):
                _write_cell(ws, i, j, cell.value, "0.0" if isinstance(cell.value, float) else "0")
            else:
                _write_cell(ws, i, j, cell.value, _NUMBER_FORMATS.get(cell.kind))
    ws.freeze_panes = "A2"
    for j, name in enumerate(header, start=1):
        ws.column_dimensions[get_column_letter(j)].width = min(max(10, len(str(name)) + 2), 40)


def write_report_xlsx(
    inputs: ReportInputs, path: str | os.PathLike[str], *, lang: str = "es"
) -> Path:
    """Write the workbook (summary, localities, UPZ, changes, sites, clusters, quality)."""
    from openpyxl import Workbook

    check_lang(lang)
    _check_report_privacy(inputs)
    fmt = _Fmt(lang, inputs.privacy_k)
    types = inputs.service_types()
    wb = Workbook()
    wb.remove(wb.active)
    summary = _summary_rows(inputs, fmt, types)
    _sheet(
        wb,
        fmt.t("sheet_summary"),
        [fmt.t("item"), fmt.t("value")],
        [
            [
                _Cell(a, a),
                _Cell(
                    b,
                    v if isinstance(v, int | float) else b,
                    "int" if isinstance(v, int | float) else "text",
                ),
            ]
            for a, b, v in summary
        ],
    )
    tables = [
        _locality_table(inputs, fmt, types) if inputs.locality_access is not None else None,
        _upz_table(inputs, fmt, types),
        _changes_table(inputs, fmt, types),
        _sites_table(inputs, fmt),
        _clusters_table(inputs, fmt, types),
        _ingest_table(inputs, fmt),
        _geocoding_table(inputs, fmt),
    ]
    for table in tables:
        if table is not None:
            _sheet(wb, table.sheet, table.header, table.rows)
    target = Path(path)
    with atomic_path(target) as tmp:
        wb.save(tmp)
    return target


def write_report(
    inputs: ReportInputs, out_dir: str | os.PathLike[str], *, lang: str = "es"
) -> list[Path]:
    """Write ``report.html`` and ``report.xlsx`` into ``out_dir`` (atomically).

    Returns
    -------
    list of Path
        The two files written.
    """
    out = Path(out_dir)
    html_path = write_text(out / "report.html", render_report_html(inputs, lang=lang))
    xlsx_path = write_report_xlsx(inputs, out / "report.xlsx", lang=lang)
    log.info("wrote %s and %s", html_path, xlsx_path)
    return [html_path, xlsx_path]
