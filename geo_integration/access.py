"""Accessibility kernels on arrays: nearest-service times, coverage, 2SFCA and E2SFCA.

Everything here works on a sparse CSR matrix of edge walking times in minutes (symmetric:
walking is two-way; see :class:`geo_integration.network.StreetNetwork`) and on plain arrays.
No file or network I/O.

Points (residences, services) enter the network on an edge, at both its end nodes, with a
cost in minutes to each end (the snap distance plus the length along the edge, walked); see
:func:`geo_integration.network.snap_points`. So a point is given as ``nodes`` of shape
``(k, 2)`` and ``cost`` of shape ``(k, 2)``; a point exactly on a node can be given with
``nodes`` of shape ``(k,)`` and no cost.

- :func:`node_times`: minutes from the nearest of several sources to every node, in one
  multi-source Dijkstra run (scipy ``dijkstra(min_only=True)``; sources with an entry cost go
  through a virtual super-source).
- :func:`nearest_times`: the same, read at target points.
- :func:`same_edge_times`: the direct walk between a point and a service on the same edge
  (shorter than going round by the corners when both are on one block).
- :func:`catchment_costs`: the sparse ``facilities x demand`` matrix of minutes for every
  pair within a catchment, from one limited Dijkstra per facility. Facilities are grouped
  with their neighbours on the graph, and each group's searches run on the only part of
  the graph they can reach (found by one multi-source search): exact, and many times
  cheaper than searching the whole city from every facility.
- :func:`two_step_fca`, :func:`e2sfca`: supply per demand (capacity per migrant) with a
  plain catchment, step weights or Gaussian decay; they agree with PySAL ``access``.
- :func:`catchment_access`: the same straight from the network, group by group, without
  the matrix (a facility's ratio needs only its own catchment): for a million residences.
- :func:`coverage`: people within walking-time thresholds, counted and as a share.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd

from geo_integration.errors import AnalysisError

if TYPE_CHECKING:
    import scipy.sparse as sp

__all__ = [
    "DEFAULT_STEPS",
    "catchment_access",
    "catchment_costs",
    "coverage",
    "decay_weights",
    "e2sfca",
    "fca_ratio",
    "gaussian_weights",
    "nearest_times",
    "node_times",
    "same_edge_pairs",
    "same_edge_times",
    "step_weights",
    "times_at",
    "two_step_fca",
    "with_direct_pairs",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
WeightFn = Callable[[FloatArray], FloatArray]

#: E2SFCA zones (upper bound in minutes, weight) of Luo and Qi (2009): 0-10, 10-20, 20-30.
DEFAULT_STEPS: tuple[tuple[float, float], ...] = ((10.0, 1.0), (20.0, 0.68), (30.0, 0.22))


def _points(
    nodes: npt.ArrayLike, cost: npt.ArrayLike | None, n: int, what: str
) -> tuple[IntArray, FloatArray]:
    """Normalise point entries to ``(k, 2)`` nodes and costs; validate them."""
    nd = np.asarray(nodes, dtype=np.int64)
    if nd.ndim == 1:
        nd = np.column_stack([nd, nd])
    c = np.zeros(nd.shape) if cost is None else np.asarray(cost, dtype=float)
    if c.ndim == 1:
        c = np.column_stack([c, c])
    if nd.ndim != 2 or nd.shape[1] != 2 or c.shape != nd.shape:
        msg = f"{what}: nodes and costs must be (k,) or (k, 2) alike, got {nd.shape}, {c.shape}"
        raise AnalysisError(msg)
    if nd.size and (nd.min() < 0 or nd.max() >= n):
        msg = f"{what}: node index out of range 0..{n - 1}: {nd.min()}..{nd.max()}"
        raise AnalysisError(msg)
    if np.any(c < 0) or np.any(np.isnan(c)):
        msg = f"{what}: entry costs must be finite and non-negative"
        raise AnalysisError(msg)
    return nd, c


def _with_sources(csr: sp.csr_array, rows: list[tuple[IntArray, FloatArray]]) -> sp.csr_array:
    """Append one virtual node per ``(nodes, costs)`` row, with edges out of it only."""
    import scipy.sparse as sp

    n = csr.shape[0]
    total = n + len(rows)
    indptr = [csr.indptr]
    indices = [csr.indices.astype(np.int64)]
    data = [csr.data]
    end = int(csr.indptr[-1])
    for nodes, costs in rows:
        order = np.lexsort((costs, nodes))
        nodes, costs = nodes[order], costs[order]
        first = np.r_[True, nodes[1:] != nodes[:-1]]
        indices.append(nodes[first])
        data.append(costs[first])
        end += int(first.sum())
        indptr.append(np.array([end]))
    return sp.csr_array(
        (np.concatenate(data), np.concatenate(indices), np.concatenate(indptr)),
        shape=(total, total),
    )


def node_times(
    csr_minutes: sp.csr_array,
    source_nodes: npt.ArrayLike,
    *,
    source_cost: npt.ArrayLike | None = None,
    limit: float = np.inf,
) -> FloatArray:
    """Minutes from the nearest source to every node (inf where unreachable or > ``limit``).

    Parameters
    ----------
    csr_minutes
        ``(n, n)`` symmetric matrix of edge times (minutes).
    source_nodes
        ``(s,)`` nodes or ``(s, 2)`` edge ends where the sources enter the network.
    source_cost
        Minutes from each source to its entry node(s); ``None``: sources are on nodes.
    limit
        Stop the search beyond this many minutes.
    """
    from scipy.sparse.csgraph import dijkstra

    n = csr_minutes.shape[0]
    nodes, cost = _points(source_nodes, source_cost, n, "sources")
    if nodes.shape[0] == 0:
        return np.full(n, np.inf)
    if not cost.any():
        starts = np.unique(nodes)
        out = dijkstra(csr_minutes, directed=True, indices=starts, min_only=True, limit=limit)
        return np.asarray(out, dtype=float)
    aug = _with_sources(csr_minutes, [(nodes.ravel(), cost.ravel())])
    out = dijkstra(aug, directed=True, indices=n, limit=limit)
    return np.asarray(out[:n], dtype=float)


def nearest_times(
    csr_minutes: sp.csr_array,
    source_nodes: npt.ArrayLike,
    target_nodes: npt.ArrayLike,
    *,
    source_cost: npt.ArrayLike | None = None,
    target_cost: npt.ArrayLike | None = None,
    limit: float = np.inf,
) -> FloatArray:
    """Minutes from each target to its nearest source through the network.

    Sources and targets are nodes ``(k,)`` or edge ends ``(k, 2)`` with entry costs (see the
    module docstring). One multi-source Dijkstra, then a lookup per target: the time is
    ``min(cost_u + T[u], cost_v + T[v])``. inf where no source is reachable within ``limit``.
    Walks between a target and a source on the same edge are added by
    :func:`same_edge_times`.
    """
    n = csr_minutes.shape[0]
    times = node_times(csr_minutes, source_nodes, source_cost=source_cost, limit=limit)
    return times_at(times, *_points(target_nodes, target_cost, n, "targets"), limit=limit)


def times_at(
    node_minutes: FloatArray, nodes: IntArray, cost: FloatArray, *, limit: float = np.inf
) -> FloatArray:
    """Read node times at points entering at ``nodes`` ``(k, 2)`` with ``cost`` ``(k, 2)``."""
    out = np.minimum(node_minutes[nodes[:, 0]] + cost[:, 0], node_minutes[nodes[:, 1]] + cost[:, 1])
    out[out > limit] = np.inf
    return out


def same_edge_pairs(
    target_edge: npt.ArrayLike,
    target_pos_m: npt.ArrayLike,
    target_snap_m: npt.ArrayLike,
    source_edge: npt.ArrayLike,
    source_pos_m: npt.ArrayLike,
    source_snap_m: npt.ArrayLike,
    *,
    metres_per_min: float,
) -> tuple[IntArray, IntArray, FloatArray]:
    """Every (source, target) pair on the same edge and the minutes of the direct walk.

    ``*_pos_m`` is the position along the edge (metres from its first node), ``*_snap_m``
    the straight-line walk onto it; edge -1 means "not on the network" and never pairs.

    Returns
    -------
    (source, target, minutes)
        Row positions of the paired sources and targets, and the direct walking time.
    """
    te = np.asarray(target_edge, dtype=np.int64)
    se = np.asarray(source_edge, dtype=np.int64)
    src_rows = np.flatnonzero(se >= 0)
    src_rows = src_rows[np.argsort(se[src_rows], kind="stable")]
    size = int(max(te.max(initial=-1), se.max(initial=-1))) + 1
    per_edge = np.bincount(se[src_rows], minlength=size)
    start = np.cumsum(per_edge) - per_edge
    on = np.where(te >= 0, te, 0)
    count = np.where(te >= 0, per_edge[on], 0)
    lo = start[on]
    t = np.repeat(np.arange(te.shape[0]), count)
    s = src_rows[
        np.repeat(lo, count) + np.arange(t.shape[0]) - np.repeat(np.cumsum(count) - count, count)
    ]
    metres = (
        np.abs(np.asarray(source_pos_m, float)[s] - np.asarray(target_pos_m, float)[t])
        + np.asarray(source_snap_m, float)[s]
        + np.asarray(target_snap_m, float)[t]
    )
    return s, t, metres / metres_per_min


def same_edge_times(
    target_edge: npt.ArrayLike,
    target_pos_m: npt.ArrayLike,
    target_snap_m: npt.ArrayLike,
    source_edge: npt.ArrayLike,
    source_pos_m: npt.ArrayLike,
    source_snap_m: npt.ArrayLike,
    *,
    metres_per_min: float,
) -> FloatArray:
    """Minutes of the direct walk along a shared edge to the nearest source on it.

    See :func:`same_edge_pairs`; inf for targets whose edge holds no source.
    """
    out = np.full(np.asarray(target_edge).shape[0], np.inf)
    _s, t, minutes = same_edge_pairs(
        target_edge,
        target_pos_m,
        target_snap_m,
        source_edge,
        source_pos_m,
        source_snap_m,
        metres_per_min=metres_per_min,
    )
    np.minimum.at(out, t, minutes)
    return out


def _expand(indptr: IntArray, keys: IntArray) -> tuple[IntArray, IntArray]:
    """For CSR ``indptr`` and row ``keys``: (position of each key, flat index of each item)."""
    starts = indptr[keys]
    counts = indptr[keys + 1] - starts
    owner = np.repeat(np.arange(keys.shape[0]), counts)
    offsets = np.arange(owner.shape[0]) - np.repeat(np.cumsum(counts) - counts, counts)
    return owner, np.repeat(starts, counts) + offsets


def _node_index(nodes: IntArray, n: int) -> tuple[IntArray, IntArray]:
    """CSR-like index node -> points entering at that node: (indptr, point ids)."""
    order = np.argsort(nodes, kind="stable")
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(nodes, minlength=n), out=indptr[1:])
    return indptr, order.astype(np.int64)


def _facility_groups(
    csr: sp.csr_array, entry: IntArray, size: int, xy: FloatArray | None = None
) -> list[IntArray]:
    """Facilities in groups of at most ``size``, near each other.

    With coordinates ``xy`` (of the ``entry`` nodes), the facilities are halved across the
    wider side of their extent until each part is small enough. Without, seeds (one
    facility in ``size``, drawn with a fixed seed) split the graph into cells, each node
    going to its nearest seed (one multi-source Dijkstra); a facility joins the cell of its
    ``entry`` node, and larger cells are cut. The grouping only decides how much of the
    graph each search sees, never the results.
    """
    from scipy.sparse.csgraph import dijkstra

    n_fac = entry.shape[0]
    if n_fac <= size:
        return [np.arange(n_fac)]
    if xy is not None:
        todo, groups = [np.arange(n_fac)], []
        while todo:
            ids = todo.pop()
            if ids.shape[0] <= size:
                groups.append(ids)
                continue
            axis = int(np.argmax(np.ptp(xy[ids], axis=0)))
            order = ids[np.argsort(xy[ids, axis], kind="stable")]
            todo += [order[order.shape[0] // 2 :], order[: order.shape[0] // 2]]
        return groups
    pick = np.random.default_rng(0).permutation(n_fac)[: -(-n_fac // size)]
    seeds = np.unique(entry[pick])
    _d, _p, nearest = dijkstra(
        csr, directed=True, indices=seeds, min_only=True, return_predecessors=True
    )
    cell = np.asarray(nearest)[entry]
    order = np.argsort(cell, kind="stable")
    groups = []
    for members in np.split(order, np.flatnonzero(np.diff(cell[order])) + 1):
        groups += np.array_split(members, -(-members.shape[0] // size))
    return groups


def _induced(
    csr: sp.csr_array, keep: IntArray, local: IntArray, fn: IntArray, fc: FloatArray
) -> sp.csr_array:
    """The subgraph on nodes ``keep`` (``local`` maps a node to its row there, -1 if out),
    with one virtual source row per facility appended (edges out of it only)."""
    import scipy.sparse as sp_mod

    m, c = keep.shape[0], fn.shape[0]
    owner, flat = _expand(csr.indptr.astype(np.int64), keep)
    col = local[csr.indices[flat]]
    inside = col >= 0
    counts = np.bincount(owner[inside], minlength=m)
    snode = local[fn]
    same = snode[:, 0] == snode[:, 1]
    scost = fc.copy()
    scost[same, 0] = fc[same].min(axis=1)
    ok = snode >= 0
    ok[same, 1] = False
    indptr = np.zeros(m + c + 1, dtype=np.int32)
    np.cumsum(np.concatenate([counts, ok.sum(axis=1)]), out=indptr[1:])
    return sp_mod.csr_array(
        (
            np.concatenate([csr.data[flat[inside]], scost[ok]]),
            np.concatenate([col[inside], snode[ok]]).astype(np.int32),
            indptr,
        ),
        shape=(m + c, m + c),
    )


@dataclass(frozen=True)
class _Block:
    """The catchments of a group of facilities over the demand points near them.

    ``minutes[k, r]`` is the walk from facility ``ids[k]`` to demand point ``points[r]``
    (out of reach where above the limit); points not in ``points`` are out of reach of the
    whole group.
    ``probe_minutes`` holds the network minutes of the probed pairs at flat positions
    ``probe`` (their facility row in ``probe_row``).
    """

    ids: IntArray
    points: IntArray
    minutes: FloatArray
    probe: IntArray
    probe_row: IntArray
    probe_minutes: FloatArray


class _Catchments:
    """One limited Dijkstra per facility, each on the part of the graph its group can reach.

    Every node within ``limit`` of a facility is within ``limit`` of its group (a
    multi-source search, entry costs taken as 0: a lower bound), and so is every node on the
    shortest path to it; the per-facility searches therefore run exactly on that subgraph,
    which is small compared with the city (scipy's search costs grow with the graph's size
    for every source). The demand points entering the subgraph are then read as one dense
    block per group (facilities x points), cheap next to walking pair by pair.
    """

    #: Largest block (facilities x points) read at once; larger groups are cut by rows.
    max_cells = 4_000_000

    def __init__(
        self,
        csr: sp.csr_array,
        fn: IntArray,
        fc: FloatArray,
        dn: IntArray,
        dc: FloatArray,
        *,
        limit: float,
        size: int | None,
        node_xy: npt.ArrayLike | None = None,
    ) -> None:
        import scipy.sparse as sp_mod

        n = csr.shape[0]
        if size is None:
            size = 64 if dn.shape[0] <= n else 32
        if size < 1:
            msg = f"chunk must be at least 1, got {size!r}"
            raise AnalysisError(msg)
        self.xy: FloatArray | None = None
        if node_xy is not None:
            xy = np.asarray(node_xy, dtype=float)
            if xy.shape != (n, 2):
                msg = f"node_xy must be ({n}, 2), got {xy.shape}"
                raise AnalysisError(msg)
            self.xy = xy[fn[:, 0]]
        # int32 indices once: scipy's search converts them on every call otherwise
        self.csr = sp_mod.csr_array(
            (csr.data, csr.indices.astype(np.int32), csr.indptr.astype(np.int32)),
            shape=csr.shape,
        )
        self.fn, self.fc, self.dn, self.dc = fn, fc, dn, dc
        self.limit, self.size = limit, size
        self.u_ptr, self.u_pts = _node_index(dn[:, 0], n)
        self.v_ptr, self.v_pts = _node_index(dn[:, 1], n)
        self.mark = np.zeros(n, dtype=bool)

    def blocks(self, probe: tuple[IntArray, IntArray] | None = None) -> Iterator[_Block]:
        """Yield the catchments group by group.

        ``probe`` is ``(indptr, points)``: for facility ``j`` the demand points
        ``points[indptr[j]:indptr[j + 1]]`` whose network minutes are wanted whatever they
        are, near the group or not.
        """
        local = np.full(self.csr.shape[0], -1, dtype=np.int64)
        for ids in _facility_groups(self.csr, self.fn[:, 0], self.size, self.xy):
            keep, dist = self._search(ids, local)
            points = self._near(keep[(dist[:, :-1] <= self.limit).any(axis=0)])
            lu, lv = local[self.dn[points, 0]], local[self.dn[points, 1]]
            step = max(1, self.max_cells // max(points.shape[0], 1))
            for lo in range(0, ids.shape[0], step):
                rows = slice(lo, min(lo + step, ids.shape[0]))
                yield self._block(ids[rows], dist[rows], points, lu, lv, local, probe)
            local[keep] = -1

    def _search(self, ids: IntArray, local: IntArray) -> tuple[IntArray, FloatArray]:
        """The nodes the group ``ids`` can reach (``local`` set to their rows) and the
        ``(facilities, nodes + 1)`` minutes from each facility (the last column, for nodes
        out of reach, is inf). Facilities entering alike are searched once."""
        from scipy.sparse.csgraph import dijkstra

        fn, fc = self.fn[ids], self.fc[ids]
        bound = dijkstra(
            self.csr, directed=True, indices=np.unique(fn), min_only=True, limit=self.limit
        )
        keep = np.flatnonzero(np.asarray(bound) <= self.limit)
        local[keep] = np.arange(keep.shape[0])
        entry, alike = np.unique(np.column_stack([fn, fc]), axis=0, return_inverse=True)
        sub = _induced(self.csr, keep, local, entry[:, :2].astype(np.int64), entry[:, 2:])
        c, m = entry.shape[0], keep.shape[0]
        found = dijkstra(sub, directed=True, indices=m + np.arange(c), limit=self.limit)
        dist = np.full((c, m + 1), np.inf)
        dist[:, :m] = np.asarray(found)[:, :m]
        return keep, dist[alike.ravel()]

    def _near(self, nodes: IntArray) -> IntArray:
        """The demand points entering at one of ``nodes``, each once."""
        _o, flat = _expand(self.u_ptr, nodes)
        first = self.u_pts[flat]
        _o, flat = _expand(self.v_ptr, nodes)
        second = self.v_pts[flat]
        self.mark[nodes] = True
        second = second[~self.mark[self.dn[second, 0]]]
        self.mark[nodes] = False
        return np.concatenate([first, second])

    def _block(
        self,
        ids: IntArray,
        dist: FloatArray,
        points: IntArray,
        lu: IntArray,
        lv: IntArray,
        local: IntArray,
        probe: tuple[IntArray, IntArray] | None,
    ) -> _Block:
        dc = self.dc
        minutes = np.take(dist, lu, axis=1)
        minutes += dc[points, 0]
        other = np.take(dist, lv, axis=1)
        other += dc[points, 1]
        np.minimum(minutes, other, out=minutes)
        if probe is None:
            owner = flat = np.zeros(0, dtype=np.int64)
            t_p = np.zeros(0)
        else:
            owner, flat = _expand(probe[0], ids)
            q = probe[1][flat]
            t_p = np.minimum(
                dist[owner, local[self.dn[q, 0]]] + dc[q, 0],
                dist[owner, local[self.dn[q, 1]]] + dc[q, 1],
            )
            t_p[t_p > self.limit] = np.inf
        return _Block(ids, points, minutes, flat, owner, t_p)


def catchment_costs(
    csr_minutes: sp.csr_array,
    facility_nodes: npt.ArrayLike,
    demand_nodes: npt.ArrayLike,
    *,
    facility_cost: npt.ArrayLike | None = None,
    demand_cost: npt.ArrayLike | None = None,
    limit: float = 30.0,
    chunk: int | None = None,
    node_xy: npt.ArrayLike | None = None,
) -> sp.csr_array:
    """Sparse ``(facilities, demand points)`` matrix of minutes, for pairs within ``limit``.

    One Dijkstra per facility, stopped at ``limit``, run on the part of the graph the
    facility's group can reach (groups of ``chunk`` facilities near each other; see
    :class:`_Catchments`); only the pairs within the catchment are kept, so memory grows
    with the catchment, not with ``facilities x demand``. Pairs at exactly 0 minutes are
    stored as explicit entries (the matrix's structure, not its values, says which pairs
    are within reach). For 2SFCA / E2SFCA without the matrix, see :func:`catchment_access`.

    ``chunk`` is the group size (default: 64, or 32 when there are more demand points than
    nodes); ``node_xy``, the ``(n, 2)`` node coordinates, lets groups be cut by position
    (tighter than by the graph alone, so faster). Neither changes the result.
    """
    n = csr_minutes.shape[0]
    fn, fc = _points(facility_nodes, facility_cost, n, "facilities")
    dn, dc = _points(demand_nodes, demand_cost, n, "demand")
    rows, cols, vals = [np.zeros(0, np.int32)], [np.zeros(0, np.int32)], [np.zeros(0)]
    search = _Catchments(csr_minutes, fn, fc, dn, dc, limit=limit, size=chunk, node_xy=node_xy)
    for blk in search.blocks():
        k, r = np.nonzero(blk.minutes <= limit)
        rows.append(blk.ids[k].astype(np.int32))
        cols.append(blk.points[r].astype(np.int32))
        vals.append(blk.minutes[k, r])
    row = np.concatenate(rows)
    order = np.argsort(row, kind="stable")
    return _pairs_csr(
        [row[order]],
        [np.concatenate(cols)[order]],
        [np.concatenate(vals)[order]],
        (fn.shape[0], dn.shape[0]),
    )


def _pairs_csr(
    rows: list[npt.NDArray[np.int32]],
    cols: list[npt.NDArray[np.int32]],
    vals: list[FloatArray],
    shape: tuple[int, int],
) -> sp.csr_array:
    """CSR from unique pairs sorted by row (no sort, no summing of duplicates)."""
    import scipy.sparse as sp

    r = np.concatenate(rows) if rows else np.zeros(0, np.int32)
    c = np.concatenate(cols) if cols else np.zeros(0, np.int32)
    v = np.concatenate(vals) if vals else np.zeros(0)
    indptr = np.zeros(shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(r, minlength=shape[0]), out=indptr[1:])
    return sp.csr_array((v, c, indptr), shape=shape)


def _min_csr(
    rows: IntArray, cols: IntArray, vals: FloatArray, shape: tuple[int, int]
) -> sp.csr_array:
    """CSR with the minimum of duplicate entries kept (explicit zeros kept)."""
    import scipy.sparse as sp_mod

    order = np.lexsort((vals, cols, rows))
    rows, cols, vals = rows[order], cols[order], vals[order]
    first = (
        np.r_[True, (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])]
        if rows.size
        else rows.astype(bool)
    )
    rows, cols, vals = rows[first], cols[first], vals[first]
    indptr = np.zeros(shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=shape[0]), out=indptr[1:])
    return sp_mod.csr_array((vals, cols, indptr), shape=shape)


def with_direct_pairs(
    costs: sp.csr_array,
    rows: npt.ArrayLike,
    cols: npt.ArrayLike,
    minutes: npt.ArrayLike,
    *,
    limit: float,
) -> sp.csr_array:
    """Return ``costs`` with extra ``(row, col, minutes)`` pairs, keeping the minimum."""
    coo = costs.tocoo()
    r = np.asarray(rows, dtype=np.int64)
    c = np.asarray(cols, dtype=np.int64)
    m = np.asarray(minutes, dtype=float)
    ok = m <= limit
    return _min_csr(
        np.concatenate([coo.row.astype(np.int64), r[ok]]),
        np.concatenate([coo.col.astype(np.int64), c[ok]]),
        np.concatenate([coo.data, m[ok]]),
        (int(costs.shape[0]), int(costs.shape[1])),
    )


# --------------------------------------------------------------------------- weights


def step_weights(steps: Sequence[tuple[float, float]] = DEFAULT_STEPS) -> WeightFn:
    """Step decay: weight ``w_k`` for times in zone ``(bound_{k-1}, bound_k]``, 0 beyond.

    The zone bounds are inclusive at the top (10 minutes exactly is in the first zone), as
    in PySAL ``access.weights.step_fn``.
    """
    zones = sorted((float(b), float(w)) for b, w in steps)
    if not zones or any(w < 0 for _b, w in zones) or zones[0][0] <= 0:
        msg = f"steps must be (positive bound, non-negative weight) pairs, got {steps!r}"
        raise AnalysisError(msg)
    bounds = [b for b, _w in zones]
    weights = np.array([w for _b, w in zones] + [0.0])

    def fn(t: FloatArray) -> FloatArray:
        zone = np.zeros(np.shape(t), dtype=np.int8)
        for bound in bounds:
            zone += t > bound
        return weights[zone]

    return fn


def gaussian_weights(sigma: float, *, catchment: float) -> WeightFn:
    """Gaussian decay ``exp(-t² / (2 σ²))`` (1 at 0 minutes), 0 beyond ``catchment``.

    This is PySAL ``access.weights.gaussian(sigma)`` cut at ``max_cost = catchment``.
    """
    if sigma <= 0 or catchment <= 0:
        msg = f"sigma and catchment must be positive, got {sigma!r} and {catchment!r}"
        raise AnalysisError(msg)

    def fn(t: FloatArray) -> FloatArray:
        return np.where(t <= catchment, np.exp(-(t * t) / (2 * sigma * sigma)), 0.0)

    return fn


def decay_weights(
    decay: str,
    *,
    catchment: float,
    steps: Sequence[tuple[float, float]] | None = None,
    sigma: float | None = None,
) -> WeightFn:
    """Return the weight function named ``decay``: ``"step"``, ``"gaussian"`` or ``"none"``.

    ``"step"`` uses ``steps`` (default :data:`DEFAULT_STEPS` scaled to ``catchment``);
    ``"gaussian"`` uses ``sigma`` (default ``catchment / 2``); ``"none"`` is 1 within the
    catchment (the plain 2SFCA).
    """
    if decay == "step":
        if steps is None:
            scale = catchment / DEFAULT_STEPS[-1][0]
            steps = tuple((b * scale, w) for b, w in DEFAULT_STEPS)
        return step_weights(steps)
    if decay == "gaussian":
        return gaussian_weights(sigma if sigma is not None else catchment / 2, catchment=catchment)
    if decay == "none":
        return step_weights(((catchment, 1.0),))
    msg = f"decay must be 'step', 'gaussian' or 'none', got {decay!r}"
    raise AnalysisError(msg)


# --------------------------------------------------------------------------- FCA


def fca_ratio(
    costs: sp.csr_array,
    demand: npt.ArrayLike,
    supply: npt.ArrayLike,
    weight_fn: WeightFn,
) -> tuple[FloatArray, FloatArray]:
    """The two steps of a floating catchment: facility ratios, then access per demand point.

    Step 1: ``R_j = S_j / Σ_i W(t_ij) D_i`` (supply per weighted demand around facility
    ``j``; 0 when no demand is in reach). Step 2: ``A_i = Σ_j W(t_ij) R_j``.

    Parameters
    ----------
    costs
        ``(facilities, demand points)`` sparse minutes (:func:`catchment_costs`); pairs
        absent from the matrix are out of reach.
    demand
        ``(R,)`` demand of each point (migrants).
    supply
        ``(F,)`` capacity of each facility.
    weight_fn
        Maps minutes to weights (0 outside the catchment).

    Returns
    -------
    (access, ratio)
        ``(R,)`` access of each demand point and ``(F,)`` ratio of each facility.
    """
    import scipy.sparse as sp

    mat = costs if costs.format == "csr" else costs.tocsr()
    d = np.asarray(demand, dtype=float)
    s = np.asarray(supply, dtype=float)
    if mat.shape != (s.shape[0], d.shape[0]):
        msg = f"costs shape {mat.shape} does not match supply {s.shape} x demand {d.shape}"
        raise AnalysisError(msg)
    if np.any(~np.isfinite(d)) or np.any(d < 0) or np.any(~np.isfinite(s)) or np.any(s < 0):
        msg = "demand and supply must be finite and non-negative"
        raise AnalysisError(msg)
    weighted = sp.csr_array(
        (weight_fn(np.asarray(mat.data, dtype=float)), mat.indices, mat.indptr), shape=mat.shape
    )
    reached = weighted @ d
    ratio = np.divide(s, reached, out=np.zeros_like(s), where=reached > 0)
    access = weighted.T @ ratio
    return np.asarray(access, dtype=float), ratio


def _weigh(weight_fn: WeightFn, minutes: FloatArray, limit: float) -> FloatArray:
    """``weight_fn`` within ``limit``, 0 beyond (and at inf)."""
    inside = minutes <= limit
    return np.where(inside, weight_fn(np.where(inside, minutes, 0.0)), 0.0)


def _direct_index(
    direct: tuple[npt.ArrayLike, npt.ArrayLike, npt.ArrayLike] | None,
    n_fac: int,
    n_dem: int,
    limit: float,
) -> tuple[IntArray, IntArray, FloatArray] | None:
    """Direct pairs (one per facility and point, the shortest) as a CSR over facilities."""
    if direct is None:
        return None
    fac = np.asarray(direct[0], dtype=np.int64)
    if fac.size == 0:
        return None
    mat = _min_csr(
        fac,
        np.asarray(direct[1], dtype=np.int64),
        np.asarray(direct[2], dtype=float),
        (n_fac, n_dem),
    )
    minutes = np.asarray(mat.data, dtype=float)
    minutes[minutes > limit] = np.inf
    return mat.indptr.astype(np.int64), mat.indices.astype(np.int64), minutes


def catchment_access(
    csr_minutes: sp.csr_array,
    facility_nodes: npt.ArrayLike,
    demand_nodes: npt.ArrayLike,
    demand: npt.ArrayLike,
    supply: npt.ArrayLike,
    weight_fns: Sequence[WeightFn],
    *,
    facility_cost: npt.ArrayLike | None = None,
    demand_cost: npt.ArrayLike | None = None,
    limit: float = 30.0,
    direct: tuple[npt.ArrayLike, npt.ArrayLike, npt.ArrayLike] | None = None,
    chunk: int | None = None,
    node_xy: npt.ArrayLike | None = None,
) -> list[tuple[FloatArray, FloatArray]]:
    """2SFCA / E2SFCA straight from the network, for several weight functions at once.

    The same as :func:`fca_ratio` on :func:`catchment_costs` (with ``direct`` pairs added by
    :func:`with_direct_pairs`), without building the ``facilities x demand`` matrix: a
    facility's ratio needs only its own catchment, so both steps are done group by group of
    facilities as their searches finish. Memory stays that of one group.

    Parameters
    ----------
    csr_minutes, facility_nodes, demand_nodes, facility_cost, demand_cost, limit, chunk, node_xy
        As for :func:`catchment_costs`; ``limit`` is the catchment in minutes.
    demand, supply
        ``(R,)`` demand of each point and ``(F,)`` capacity of each facility.
    weight_fns
        Weight functions (:func:`decay_weights`); pairs beyond ``limit`` weigh 0.
    direct
        ``(facility, point, minutes)`` of walks that do not go through the network's nodes
        (:func:`same_edge_pairs`); the shorter of the two times counts.

    Returns
    -------
    list of (access, ratio)
        One per weight function: ``(R,)`` access of each demand point and ``(F,)`` ratio of
        each facility.
    """
    n = csr_minutes.shape[0]
    fn, fc = _points(facility_nodes, facility_cost, n, "facilities")
    dn, dc = _points(demand_nodes, demand_cost, n, "demand")
    d = np.asarray(demand, dtype=float)
    s = np.asarray(supply, dtype=float)
    if d.shape != (dn.shape[0],) or s.shape != (fn.shape[0],):
        msg = (
            f"demand {d.shape} and supply {s.shape} do not match {dn.shape[0]} points and "
            f"{fn.shape[0]} facilities"
        )
        raise AnalysisError(msg)
    if np.any(~np.isfinite(d)) or np.any(d < 0) or np.any(~np.isfinite(s)) or np.any(s < 0):
        msg = "demand and supply must be finite and non-negative"
        raise AnalysisError(msg)
    pairs = _direct_index(direct, fn.shape[0], dn.shape[0], limit)
    access = [np.zeros(dn.shape[0]) for _fn in weight_fns]
    ratios = [np.zeros(fn.shape[0]) for _fn in weight_fns]
    search = _Catchments(csr_minutes, fn, fc, dn, dc, limit=limit, size=chunk, node_xy=node_xy)
    for blk in search.blocks(None if pairs is None else pairs[:2]):
        c = blk.ids.shape[0]
        dem = d[blk.points]
        if pairs is not None:
            p_pt = pairs[1][blk.probe]
            p_best = np.minimum(blk.probe_minutes, pairs[2][blk.probe])
        for k, fn_k in enumerate(weight_fns):
            w = fn_k(blk.minutes)
            np.multiply(w, blk.minutes <= limit, out=w)
            reached = np.einsum("ij,j->i", w, dem)
            if pairs is not None:
                dw = _weigh(fn_k, p_best, limit) - _weigh(fn_k, blk.probe_minutes, limit)
                reached += np.bincount(blk.probe_row, dw * d[p_pt], minlength=c)
            r = np.divide(s[blk.ids], reached, out=np.zeros(c), where=reached > 0)
            ratios[k][blk.ids] = r
            access[k][blk.points] += np.einsum("i,ij->j", r, w)
            if pairs is not None:
                np.add.at(access[k], p_pt, dw * r[blk.probe_row])
    return list(zip(access, ratios, strict=True))


def two_step_fca(
    costs: sp.csr_array,
    demand: npt.ArrayLike,
    supply: npt.ArrayLike,
    *,
    catchment: float = 30.0,
) -> FloatArray:
    """Plain 2SFCA (Luo and Wang 2003): every pair within ``catchment`` minutes counts fully.

    Returns the access of each demand point: capacity per person within reach.
    """
    return fca_ratio(costs, demand, supply, decay_weights("none", catchment=catchment))[0]


def e2sfca(
    costs: sp.csr_array,
    demand: npt.ArrayLike,
    supply: npt.ArrayLike,
    *,
    catchment: float = 30.0,
    decay: str = "step",
    steps: Sequence[tuple[float, float]] | None = None,
    sigma: float | None = None,
) -> FloatArray:
    """Enhanced 2SFCA (Luo and Qi 2009): nearer supply and demand weigh more.

    ``decay="step"`` uses the zones ``steps`` (default 0-10, 10-20, 20-30 minutes with
    weights 1, 0.68, 0.22, scaled to ``catchment``); ``decay="gaussian"`` uses
    ``exp(-t²/(2σ²))`` cut at ``catchment`` (``sigma`` default ``catchment / 2``).
    """
    fn = decay_weights(decay, catchment=catchment, steps=steps, sigma=sigma)
    return fca_ratio(costs, demand, supply, fn)[0]


# --------------------------------------------------------------------------- coverage


def coverage(
    minutes: npt.ArrayLike,
    people: npt.ArrayLike,
    thresholds: Sequence[float],
    *,
    groups: npt.ArrayLike | None = None,
) -> pd.DataFrame:
    """People within each walking-time threshold, counted and as a share.

    Parameters
    ----------
    minutes
        ``(k,)`` walking time of each residence to the nearest service (inf: unreachable).
    people
        ``(k,)`` people in each residence (household size).
    thresholds
        Minutes, e.g. ``(10, 15, 30)``; a time equal to the threshold is within it.
    groups
        ``(k,)`` unit of each residence (hexagon, UPZ, locality); ``None``: one total row.

    Returns
    -------
    DataFrame
        One row per group: ``people``, ``within_<T>`` and ``share_within_<T>`` (``T`` as an
        integer when whole: ``within_15``), share NaN where a group has nobody.
    """
    t = np.asarray(minutes, dtype=float)
    w = np.asarray(people, dtype=float)
    if t.shape != w.shape:
        msg = f"minutes and people differ in shape: {t.shape} vs {w.shape}"
        raise AnalysisError(msg)
    frame = pd.DataFrame({"people": w})
    for thr in thresholds:
        frame[f"within_{threshold_label(thr)}"] = np.where(t <= thr, w, 0.0)
    keys = np.zeros(t.shape[0], dtype=np.int64) if groups is None else np.asarray(groups)
    out = frame.groupby(keys, dropna=True).sum()
    for thr in thresholds:
        lab = threshold_label(thr)
        out[f"share_within_{lab}"] = out[f"within_{lab}"] / out["people"].where(out["people"] > 0)
    return out


def threshold_label(minutes: float) -> str:
    """``15.0`` -> ``"15"``; ``7.5`` -> ``"7.5"`` (for column names)."""
    return str(int(minutes)) if float(minutes).is_integer() else f"{minutes:g}"
