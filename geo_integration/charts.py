"""Static charts of the report: matplotlib PNG bytes (no pyplot state, no files).

Each function returns the PNG as bytes; the report embeds it as a ``data:`` URI. Labels are
passed in already translated and are drawn as plain text (matplotlib does not interpret
HTML; mathtext is disabled by escaping ``$``).
"""

from __future__ import annotations

import io
from collections.abc import Sequence

__all__ = ["bar_chart", "coverage_chart"]

_COVERAGE_COLORS = ("#d7191c", "#fdae61", "#ffffbf", "#a6d96a", "#1a9641")


def _plain(text: str) -> str:
    return str(text).replace("$", r"\$")


def _png(fig: object) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)  # type: ignore[arg-type]
    buffer = io.BytesIO()
    canvas.print_png(buffer, metadata={"Software": None})
    return buffer.getvalue()


def coverage_chart(
    names: Sequence[str],
    shares: Sequence[float | None],
    *,
    title: str,
    xlabel: str,
    missing_label: str,
) -> bytes:
    """Horizontal bars of coverage (0..1) per area, lowest first, coloured by class.

    Areas whose share is missing (suppressed or no data) are listed with ``missing_label``.
    """
    from matplotlib.figure import Figure

    pairs = sorted(
        zip(names, shares, strict=True),
        key=lambda p: (p[1] is None, -1.0 if p[1] is None else p[1]),
    )
    fig = Figure(figsize=(7.0, 0.28 * len(pairs) + 1.2), dpi=96)
    ax = fig.add_subplot()
    y = list(range(len(pairs)))[::-1]
    values = [0.0 if s is None else 100 * s for _, s in pairs]
    colors = ["#bdbdbd" if s is None else _COVERAGE_COLORS[min(int(s * 5), 4)] for _, s in pairs]
    ax.barh(y, values, color=colors, edgecolor="#555555", linewidth=0.4)
    for yi, (_, s) in zip(y, pairs, strict=True):
        text = _plain(missing_label) if s is None else f"{100 * s:.0f} %"
        ax.text(
            (0 if s is None else 100 * s) + 1, yi, text, va="center", fontsize=7, color="#333333"
        )
    ax.set_yticks(y, [_plain(n) for n, _ in pairs], fontsize=8)
    ax.set_xlim(0, 110)
    ax.set_xlabel(_plain(xlabel), fontsize=8)
    ax.set_title(_plain(title), fontsize=10)
    ax.tick_params(axis="x", labelsize=8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    return _png(fig)


def bar_chart(labels: Sequence[str], counts: Sequence[float], *, title: str) -> bytes:
    """Vertical bars of counts with the value on top (for quality summaries)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.0, 3.0), dpi=96)
    ax = fig.add_subplot()
    x = list(range(len(labels)))
    ax.bar(x, counts, color="#3182bd")
    for xi, c in zip(x, counts, strict=True):
        ax.text(xi, c, f"{c:,.0f}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x, [_plain(lab) for lab in labels], fontsize=8, rotation=20, ha="right")
    ax.set_title(_plain(title), fontsize=10)
    ax.tick_params(axis="y", labelsize=8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    return _png(fig)
