"""Labels and corners that exist in more than one place, and the localities to choose.

Rural towns reuse the city's street labels (``CL 2A`` with ``KR 2A`` crosses in the city and
in a town of Sumapaz), and a few official points carry the same label kilometres apart. The
geocoding index keeps one place per label and per corner (the one that agrees with the rest
of the street); this module keeps the others (*alternates*) and a grid of the localities, so
that a record whose locality is given can be placed in that locality.

Kernels only: :func:`label_alternates` and :func:`corner_alternates` (used when the index is
built), :func:`build_locality_grid` and :func:`near_locality` (membership of points in a
locality, with a tolerance).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = [
    "ALTERNATE_MIN_M",
    "LOCALITY_CELL_M",
    "LOCALITY_TOLERANCE_M",
    "build_locality_grid",
    "corner_alternates",
    "label_alternates",
    "near_locality",
]

FloatArray = npt.NDArray[np.float64]

#: Another place of a label or corner counts when it lies this far from the chosen one.
ALTERNATE_MIN_M = 2000.0
#: Cell of the locality grid (metres).
LOCALITY_CELL_M = 250.0
#: A point this close to a locality counts as in it (boundary streets, imprecise points).
LOCALITY_TOLERANCE_M = 1000.0


def _distinct_places(keys: npt.NDArray[np.object_], xy: FloatArray) -> pd.DataFrame:
    """One row per key and 500 m cell."""
    frame = pd.DataFrame({"key": keys, "x": xy[:, 0], "y": xy[:, 1]})
    frame["cx"] = np.floor(frame["x"] / 500.0)
    frame["cy"] = np.floor(frame["y"] / 500.0)
    return frame.drop_duplicates(["key", "cx", "cy"])[["key", "x", "y"]].reset_index(drop=True)


def label_alternates(
    codes: npt.NDArray[np.intp], xy: FloatArray, chosen: pd.DataFrame
) -> pd.DataFrame:
    """Other places of labels whose points lie far apart.

    Parameters
    ----------
    codes, xy
        Every official point's label (its row in ``chosen``) and position (metres).
    chosen
        The position kept for each label (``x``, ``y``, indexed by label).

    Returns
    -------
    DataFrame
        ``key`` (the label), ``x``, ``y``: points at least :data:`ALTERNATE_MIN_M` from the
        chosen one, one per 500 m cell.
    """
    keep_xy = chosen[["x", "y"]].to_numpy(float)[codes]
    far = np.flatnonzero(np.hypot(*(xy - keep_xy).T) >= ALTERNATE_MIN_M)
    return _distinct_places(chosen.index.to_numpy(object)[codes[far]], xy[far])


def corner_alternates(junctions: pd.DataFrame, corners: pd.DataFrame) -> pd.DataFrame:
    """Other places where the two streets of a face meet.

    Parameters
    ----------
    junctions
        Every junction found (``face``, ``x``, ``y``), including those in rural towns.
    corners
        The corner kept per face (``x``, ``y``, indexed by face).

    Returns
    -------
    DataFrame
        ``key`` (the face), ``x``, ``y``: junctions at least :data:`ALTERNATE_MIN_M` from
        the kept corner (all of them when the face has none), one per 500 m cell.
    """
    kept = corners[["x", "y"]].reindex(junctions["face"]).to_numpy(float)
    xy = junctions[["x", "y"]].to_numpy(float)
    dist = np.hypot(*(xy - kept).T)
    far = ~(dist < ALTERNATE_MIN_M)  # NaN (no corner kept) counts as far
    return _distinct_places(junctions["face"].to_numpy(object)[far], xy[far])


def build_locality_grid(
    localities: Any, to_metric: Any
) -> tuple[npt.NDArray[np.uint32], FloatArray]:
    """A grid of :data:`LOCALITY_CELL_M` cells over the localities.

    Each cell holds a bit mask: bit ``k`` is set when locality ``k`` (its code as a number,
    1..20) lies within :data:`LOCALITY_TOLERANCE_M` of the cell.

    Returns
    -------
    grid, origin
        The masks (rows = y, columns = x) and ``[x0, y0, cell]``.
    """
    import shapely
    from scipy.ndimage import binary_dilation

    cell = LOCALITY_CELL_M
    geoms = shapely.transform(
        localities.geometry.to_numpy(), lambda xy: np.column_stack(to_metric(xy[:, 0], xy[:, 1]))
    )
    minx, miny, maxx, maxy = shapely.total_bounds(geoms)
    pad = LOCALITY_TOLERANCE_M + cell
    x0, y0 = np.floor((minx - pad) / cell) * cell, np.floor((miny - pad) / cell) * cell
    nx = int(np.ceil((maxx + pad - x0) / cell))
    ny = int(np.ceil((maxy + pad - y0) / cell))
    cx, cy = np.meshgrid(x0 + (np.arange(nx) + 0.5) * cell, y0 + (np.arange(ny) + 0.5) * cell)
    grid = np.zeros((ny, nx), dtype=np.uint32)
    reach = int(np.ceil(LOCALITY_TOLERANCE_M / cell))
    disk = np.hypot(*np.mgrid[-reach : reach + 1, -reach : reach + 1]) <= reach
    for code, geom in zip(localities["loc_code"], geoms, strict=True):
        inside = shapely.contains_xy(geom, cx, cy)
        near = binary_dilation(inside, structure=disk)
        grid[near] |= np.uint32(1 << int(code))
    return grid, np.array([x0, y0, cell], dtype=float)


def near_locality(
    grid: npt.NDArray[np.uint32],
    origin: FloatArray,
    x: FloatArray,
    y: FloatArray,
    code: npt.NDArray[np.int64],
) -> npt.NDArray[np.bool_]:
    """True where point ``(x, y)`` lies within the tolerance of locality ``code`` (1..20);
    also True where the grid cannot tell (no grid, code 0, point or value missing)."""
    out = np.ones(len(x), dtype=bool)
    if grid.size == 0:
        return out
    x0, y0, cell = origin
    with np.errstate(invalid="ignore"):
        col = np.floor((np.asarray(x, dtype=float) - x0) / cell)
        row = np.floor((np.asarray(y, dtype=float) - y0) / cell)
    ok = np.isfinite(col) & np.isfinite(row) & (code > 0)
    inside = ok & (col >= 0) & (col < grid.shape[1]) & (row >= 0) & (row < grid.shape[0])
    r, c = row[inside].astype(np.intp), col[inside].astype(np.intp)
    masks = grid[r, c]
    out[inside] = (masks >> code[inside].astype(np.uint32)) & 1 == 1
    out[ok & ~inside] = False  # outside the grid: far from every locality
    return out
