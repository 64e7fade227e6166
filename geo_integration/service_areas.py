"""Service areas: the land within a walking time of the nearest service, as polygons for maps.

A street is inside the area for a threshold of ``T`` minutes where a walker starting at the
nearest service reaches it within ``T`` minutes, including the reachable part of a street
whose far end is beyond reach. The area is that set of street stretches widened by
``buffer_m`` metres on each side (default 40 m: the houses along the street).

Buffering and merging a hundred thousand street lines with vector geometry takes minutes
for the whole city, so the widening is done on a grid: points every ``cell_m / 2`` metres
along the streets mark ``cell_m`` cells (default 20 m, on a fixed lattice of multiples of
``cell_m``), the marked cells are grown by the buffer (a disc), and the outline is traced as
a smooth contour (marching squares, via contourpy, a dependency of matplotlib), then
simplified by ``cell_m / 2``. Outlines are thus accurate to about one cell. The thresholds of
one service share the grid, so a shorter walk's area always lies inside a longer one's. No
file or network I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from geo_integration.errors import AnalysisError

if TYPE_CHECKING:
    from geo_integration.network import StreetNetwork

__all__ = ["StreetSamples", "reachable_mask", "service_area", "service_areas"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class StreetSamples:
    """Points laid along every edge, with their edge and position (from the edge's ``u``)."""

    xy: FloatArray
    edge: IntArray
    along_m: FloatArray

    @classmethod
    def of(cls, net: StreetNetwork, *, spacing_m: float = 10.0) -> StreetSamples:
        """Sample ``net``'s edges every ``spacing_m`` metres at most (ends included)."""
        import shapely

        if spacing_m <= 0:
            msg = f"spacing_m must be positive, got {spacing_m!r}"
            raise AnalysisError(msg)
        dense = shapely.segmentize(net.edge_geometry, spacing_m)
        xy, edge = shapely.get_coordinates(dense, return_index=True)
        step = np.r_[0.0, np.hypot(*np.diff(xy, axis=0).T)]
        step[np.r_[True, edge[1:] != edge[:-1]]] = 0.0
        cum = np.cumsum(step)
        first = np.searchsorted(edge, edge)
        along = cum - cum[first]
        glen = shapely.length(net.edge_geometry)[edge]
        scale = np.where(glen > 0, net.edge_length_m[edge] / np.where(glen > 0, glen, 1), 0)
        return cls(xy=xy, edge=edge.astype(np.int64), along_m=along * scale)


def _levels(
    net: StreetNetwork,
    samples: StreetSamples,
    node_minutes: FloatArray,
    thresholds: Sequence[float],
    sources: tuple[IntArray, FloatArray, FloatArray] | None,
) -> npt.NDArray[np.uint8]:
    """Per sample, the position of the first of the (ascending) ``thresholds`` that reaches
    it; ``len(thresholds)`` where none does."""
    mpm = net.metres_per_minute
    length = net.edge_length_m[samples.edge]
    left_u = node_minutes[net.edge_u[samples.edge]] * mpm
    left_v = node_minutes[net.edge_v[samples.edge]] * mpm
    rest = length - samples.along_m
    on_street = np.zeros(0, dtype=np.int64)
    direct = np.zeros(0)
    if sources is not None and len(sources[0]):
        import pandas as pd

        src = pd.DataFrame({"edge": sources[0], "pos": sources[1], "snap": sources[2]})
        host = np.flatnonzero(np.isin(samples.edge, src["edge"].to_numpy()))
        pairs = pd.DataFrame({"i": host, "edge": samples.edge[host], "a": samples.along_m[host]})
        pairs = pairs.merge(src, on="edge")
        on_street = pairs["i"].to_numpy(np.int64)
        direct = ((pairs["a"] - pairs["pos"]).abs() + pairs["snap"]).to_numpy(float)
    level = np.full(samples.edge.shape[0], len(thresholds), dtype=np.uint8)
    for i in range(len(thresholds) - 1, -1, -1):
        budget = thresholds[i] * mpm
        mask = ((budget - left_u) >= samples.along_m) | ((budget - left_v) >= rest)
        mask[on_street[direct <= budget]] = True
        level[mask] = i
    return level


def reachable_mask(
    net: StreetNetwork,
    samples: StreetSamples,
    node_minutes: FloatArray,
    threshold_min: float,
    *,
    sources: tuple[IntArray, FloatArray, FloatArray] | None = None,
) -> npt.NDArray[np.bool_]:
    """Which sample points are within ``threshold_min`` of the nearest source.

    Parameters
    ----------
    node_minutes
        ``(n,)`` minutes from the nearest source to each node
        (:func:`geo_integration.access.node_times`).
    sources
        Optional ``(edge, along_m, snap_m)`` of the sources, so the street a service stands
        on counts from the service itself, not only from its corners.
    """
    return _levels(net, samples, node_minutes, [threshold_min], sources) == 0


def _disc_min(grid: npt.NDArray[np.uint8], radius: float, empty: int) -> npt.NDArray[np.uint8]:
    """Minimum of ``grid`` over a disc of ``radius`` cells around each cell (``empty``
    outside the grid): the binary dilation by that disc of every level set at once.

    The disc (offsets with ``dx² + dy² <= radius² + 0.25``) is cut into rows: a row of
    half-width ``h`` is a running minimum over ``2h + 1`` cells along x (built from the one
    of half-width ``h - 1``), shifted by its ``dy``.
    """
    k = int(np.ceil(radius))
    half = {
        dy: max(dx for dx in range(k + 1) if dx * dx + dy * dy <= radius * radius + 0.25)
        for dy in range(-k, k + 1)
        if dy * dy <= radius * radius + 0.25
    }
    ny, nx = grid.shape
    rows = [np.full((ny, nx + 2 * k), empty, dtype=grid.dtype)]
    rows[0][:, k : k + nx] = grid
    for h in range(1, max(half.values()) + 1):
        prev, cur = rows[-1], np.full_like(rows[0], empty)
        np.minimum(prev[:, :-2], prev[:, 2:], out=cur[:, 1:-1])
        if h == 1:
            np.minimum(cur[:, 1:-1], prev[:, 1:-1], out=cur[:, 1:-1])
        rows.append(cur)
    out = np.full_like(grid, empty)
    for dy, h in half.items():
        src = rows[h][max(0, dy) : ny + min(0, dy), k : k + nx]
        dst = out[max(0, -dy) : ny + min(0, -dy)]
        np.minimum(dst, src, out=dst)
    return out


def _polygon(gen: Any, cell_m: float) -> Any:
    """The region ``z >= 0.5`` of a contour generator as one (Multi)Polygon, or None."""
    import shapely

    points, rings, outers = gen.filled(0.5, 2.0)
    if not points or points[0] is None or len(points[0]) == 0:
        return None
    polys = len(outers[0]) - 1
    multi = shapely.from_ragged_array(
        shapely.GeometryType.MULTIPOLYGON,
        points[0],
        (rings[0], outers[0], np.array([0, polys])),
    )[0]
    area = shapely.simplify(multi, cell_m / 2, preserve_topology=False)
    return area if area.is_valid else shapely.make_valid(area)


def _rasters(
    xy: FloatArray, level: npt.NDArray[np.uint8], n_levels: int, buffer_m: float, cell_m: float
) -> list[Any]:
    """One polygon per level ``i``: the points of level ``<= i`` widened by ``buffer_m``."""
    import contourpy

    if buffer_m <= 0 or cell_m <= 0:
        msg = f"buffer_m and cell_m must be positive, got {buffer_m!r} and {cell_m!r}"
        raise AnalysisError(msg)
    inside = level < n_levels
    if not inside.any():
        return [None] * n_levels
    pts, lev = xy[inside], level[inside]
    pad = int(np.ceil(buffer_m / cell_m)) + 2
    # cells on a fixed lattice (multiples of cell_m): every level and every service on the
    # same cells, so nested thresholds give nested areas
    origin = (np.floor(pts.min(axis=0) / cell_m) - pad) * cell_m
    ij = ((pts - origin) // cell_m).astype(np.int64)
    shape = (int(ij[:, 1].max()) + pad + 1, int(ij[:, 0].max()) + pad + 1)
    grid = np.full(shape, n_levels, dtype=np.uint8)
    np.minimum.at(grid, (ij[:, 1], ij[:, 0]), lev)
    grid = _disc_min(grid, buffer_m / cell_m, n_levels)
    xs = origin[0] + (np.arange(shape[1]) + 0.5) * cell_m
    ys = origin[1] + (np.arange(shape[0]) + 0.5) * cell_m
    gx, gy = np.meshgrid(xs, ys)
    out = []
    for i in range(n_levels):
        gen = contourpy.contour_generator(
            x=gx,
            y=gy,
            z=(grid <= i).astype(np.float64),
            fill_type=contourpy.FillType.ChunkCombinedOffsetOffset,
        )
        out.append(_polygon(gen, cell_m))
    return out


def service_area(xy: FloatArray, *, buffer_m: float = 40.0, cell_m: float = 20.0) -> Any:
    """The polygon (EPSG:9377) covering points ``xy`` widened by ``buffer_m``; None if empty."""
    pts = np.asarray(xy, dtype=float).reshape(-1, 2)
    return _rasters(pts, np.zeros(pts.shape[0], dtype=np.uint8), 1, buffer_m, cell_m)[0]


def service_areas(
    net: StreetNetwork,
    node_minutes: FloatArray,
    thresholds: Sequence[float],
    *,
    samples: StreetSamples | None = None,
    sources: tuple[IntArray, FloatArray, FloatArray] | None = None,
    buffer_m: float = 40.0,
    cell_m: float = 20.0,
) -> list[Any]:
    """One polygon (EPSG:9377, or None when nothing is in reach) per threshold in minutes.

    All thresholds share one grid: each cell holds the first threshold that reaches it, the
    widening is one minimum filter over a disc, and each outline is traced from it.
    """
    samp = samples if samples is not None else StreetSamples.of(net, spacing_m=cell_m / 2)
    order = np.argsort(np.asarray(thresholds, dtype=float), kind="stable")
    ascending = [float(thresholds[i]) for i in order]
    level = _levels(net, samp, node_minutes, ascending, sources)
    polys = _rasters(samp.xy, level, len(ascending), buffer_m, cell_m)
    out: list[Any] = [None] * len(ascending)
    for pos, i in enumerate(order.tolist()):
        out[i] = polys[pos]
    return out
