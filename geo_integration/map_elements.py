"""Folium building blocks of the maps: inline assets, compact data layers, stable ids.

Folium's own templates are kept (map, feature groups, layer control, marker clusters, full
screen), but none of its CDN links: :func:`new_map` empties ``default_js``/``default_css`` and
puts the verified third-party assets (:mod:`geo_integration.assets`) and our small runtime
(``resources/map_runtime.js`` and ``.css``) inline in the page head. Data layers are emitted as
compact JSON handed to the runtime (``GI.hexes``, ``GI.points`` ...), which keeps a city map
of thousands of hexagons and points within a few megabytes.
"""

from __future__ import annotations

import html
import itertools
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import folium
from branca.element import Element, MacroElement
from folium.template import Template

from geo_integration.assets import AssetBundle, load_bundle

__all__ = [
    "GIScript",
    "RawHtml",
    "esc",
    "js_json",
    "new_map",
    "stabilise_ids",
    "strip_cdn",
]

_RESOURCES = Path(__file__).resolve().parent / "resources"

#: Symbol shapes (SVG in a 20x20 box), shared by the markers (via GI.setup) and the legends.
SHAPES: dict[str, str] = {
    "circle": '<circle cx="10" cy="10" r="7"/>',
    "square": '<rect x="3.5" y="3.5" width="13" height="13"/>',
    "triangle": '<polygon points="10,2.5 17.5,16.5 2.5,16.5"/>',
    "diamond": '<polygon points="10,2 18,10 10,18 2,10"/>',
    "pentagon": '<polygon points="10,2.5 17.6,8 14.7,17 5.3,17 2.4,8"/>',
    "hexagon": '<polygon points="10,2 17,6 17,14 10,18 3,14 3,6"/>',
    "star": '<polygon points="10,1.5 12.5,7.5 18.5,7.8 13.8,11.8 15.4,18 10,14.6 4.6,18 '
    '6.2,11.8 1.5,7.8 7.5,7.5"/>',
    "cross": '<polygon points="7,2.5 13,2.5 13,7 17.5,7 17.5,13 13,13 13,17.5 7,17.5 7,13 '
    '2.5,13 2.5,7 7,7"/>',
}


def esc(value: Any) -> str:
    """HTML-escape any value's text (quotes included)."""
    return html.escape(str(value), quote=True)


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def js_json(value: Any) -> str:
    """Serialise ``value`` as compact JSON that is safe inside a ``<script>`` element.

    NaN and infinities become ``null``; ``<``, ``>``, ``&`` and the JavaScript line
    separators are written as ``\\u`` escapes, so no text can close the script.
    """
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError:  # NaN or infinity somewhere: clean (slower) and retry
        text = json.dumps(_clean(value), separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


class RawHtml(Element):
    """A piece of HTML inserted as is (not parsed as a Jinja template)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self._name = "RawHtml"
        self.text = text

    def render(self, **kwargs: Any) -> str:
        return self.text


class GIScript(MacroElement):
    """A call ``GI.<fn>(<parent>, <payload>)`` in the map script.

    ``payload`` is JSON-able data, or a callable returning it (evaluated at render time, so
    it may name layers whose ids are only final then); ``refs`` maps payload keys to folium
    elements whose JavaScript variable names replace them at render time.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        GI.{{ this.fn }}(
            {%- if this.with_parent %}{{ this._parent.get_name() }}, {% endif -%}
            {{ this.payload_js }});
        {% endmacro %}
        """
    )

    def __init__(
        self,
        fn: str,
        payload: Any,
        *,
        with_parent: bool = True,
        refs: dict[str, Element] | None = None,
    ) -> None:
        super().__init__()
        self._name = "GIScript"
        self.fn = fn
        self.payload = payload
        self.with_parent = with_parent
        self.refs = refs or {}
        self.payload_js = ""

    def render(self, **kwargs: Any) -> None:  # type: ignore[override]
        data = self.payload() if callable(self.payload) else self.payload
        if self.refs:
            data = dict(data) | {k: el.get_name() for k, el in self.refs.items()}
        self.payload_js = js_json(data)
        super().render(**kwargs)


def strip_cdn(element: Any) -> Any:
    """Remove an element's CDN links (they are inlined instead) and return it."""
    element.default_js = []
    element.default_css = []
    return element


def _runtime_head(bundle: AssetBundle, setup: dict[str, Any]) -> str:
    css = (_RESOURCES / "map_runtime.css").read_text(encoding="utf-8")
    js = (_RESOURCES / "map_runtime.js").read_text(encoding="utf-8")
    js = js.replace("</script", "<\\/script")
    return "\n".join(
        [
            bundle.head_html(),
            f"<style>\n{css}\n</style>",
            f"<script>\n{js}\nGI.setup({js_json(setup)});\n</script>",
        ]
    )


def new_map(
    *,
    bounds: Sequence[Sequence[float]],
    title: str,
    setup: dict[str, Any],
    bundle: AssetBundle | None = None,
) -> folium.Map:
    """Return an empty folium map with every asset inline and no tile layer.

    Parameters
    ----------
    bounds
        ``[[south, west], [north, east]]`` to fit.
    title
        Plain-text page title (escaped here).
    setup
        Options of the runtime (number separators, missing-value text, ...).
    bundle
        Third-party assets (default: :func:`geo_integration.assets.load_bundle`).
    """
    assets = bundle if bundle is not None else load_bundle()
    (south, west), (north, east) = bounds
    fmap = folium.Map(
        location=[(south + north) / 2, (west + east) / 2],
        zoom_start=11,
        tiles=None,
        control_scale=True,
        prefer_canvas=True,
        minZoom=9,
        maxZoom=19,
    )
    strip_cdn(fmap)
    root = fmap.get_root()
    root.title = esc(title)  # type: ignore[attr-defined]
    setup = setup | {"shapes": SHAPES}
    root.header.add_child(RawHtml(_runtime_head(assets, setup)), name="gi_assets")  # type: ignore[attr-defined]
    fmap.fit_bounds([[south, west], [north, east]])
    return fmap


def stabilise_ids(root: Element) -> None:
    """Give every element of the tree a deterministic id (same inputs, same HTML)."""
    counter = itertools.count(1)

    def walk(element: Element) -> None:
        element._id = f"{next(counter):06x}"
        for child in list(element._children.values()):
            walk(child)

    walk(root)


def symbol_svg(shape: str, color: str, *, size: int = 16, text: str = "") -> str:
    """Return the SVG of a legend symbol (the same shapes as the markers)."""
    label = (
        f'<text x="10" y="13.5" text-anchor="middle" font-size="9" font-weight="bold" '
        f'fill="#fff">{esc(text)}</text>'
        if text
        else ""
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
        f'viewBox="0 0 20 20"><g fill="{esc(color)}" stroke="#fff" stroke-width="1.3">'
        f"{SHAPES.get(shape, SHAPES['circle'])}</g>{label}</svg>"
    )
