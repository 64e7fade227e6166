"""The walking network: built from street centrelines or OpenStreetMap, cached, snapped to.

One graph form serves every analysis: a :class:`StreetNetwork` holding node coordinates
(EPSG:9377 metres and lon/lat), the undirected edges with their geometry, and a symmetric
sparse matrix (CSR) of edge lengths in metres. Walking is two-way on every street, so the
matrix is symmetric; where two edges join the same pair of nodes (parallel edges) the matrix
holds the shorter (a matrix built by summing them would give wrong distances). A duplicate
(the same street twice) is dropped; a longer street along another course, and a loop, are
split by new nodes so that homes along them still snap onto them. Times are
minutes: ``metres / (speed_kmh * 1000 / 60)``.

Builders
--------
- :func:`network_from_centrelines`: the city's street centrelines (``streets/malla_vial``).
- :func:`network_from_osmnx`: an osmnx ``MultiDiGraph`` (e.g. from ``ox.graph_from_xml``).
- :func:`network_from_osm_file`: an offline ``.osm`` / ``.xml`` file (through osmnx) or a
  ``.osm.pbf`` file (through GDAL's OSM driver, which ships with pyogrio).
- :func:`network_from_place`, :func:`network_from_polygon`: OpenStreetMap online, only when
  asked for.
- :func:`load_network`: the network of a data directory or file, cached on disk.

Every builder keeps the largest connected component and records what it dropped in a
:class:`BuildReport`.

How the centrelines are joined into a graph (noding)
----------------------------------------------------
The official lines (``mvi_2023``, ``mvi_2022``) are noded at shared endpoints only: their
719 interior crossings are bridges and underpasses (interchanges at different levels) and are
left unnoded on purpose, as the data README asks. Endpoints closer than ``node_tol_m``
(default 0.5 m) are merged into one node. The lines derived from city blocks in the centre
(``derived_from_blocks``, flagged ``approximated``) join the official ones at shared endpoints
too; in addition, where a derived line ends on the interior of another line (a T-junction, 27
cases in the 2023 data) that line is split there, and where two derived lines cross (1 case)
both are split at the crossing, since derived lines are drawn at street level.

Snapping
--------
:func:`snap_points` projects each point onto the nearest point ON the nearest edge (not the
nearest node): the point then enters the network at both ends of that edge, with the partial
lengths along it. This is exact for a house in the middle of a long block, where snapping to
the nearest node would add or remove up to half a block. The straight-line snap distance is
walked too (at walking speed) and points farther than ``snap_max_m`` are flagged
``far_from_network``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from geo_integration.errors import DataDirError, NetworkBuildError
from geo_integration.geo import METRIC_CRS, WGS84

if TYPE_CHECKING:
    import geopandas as gpd
    import networkx as nx
    import scipy.sparse as sp

__all__ = [
    "BuildReport",
    "Snap",
    "StreetNetwork",
    "load_network",
    "network_from_centrelines",
    "network_from_osm_file",
    "network_from_osmnx",
    "network_from_place",
    "network_from_polygon",
    "snap_points",
    "symmetric_min_csr",
]

log = logging.getLogger(__name__)

#: Bump when the build or the cache layout changes: old cache files are then ignored.
NETWORK_FORMAT_VERSION = "1"
DEFAULT_SPEED_KMH = 4.5
DEFAULT_NODE_TOL_M = 0.5
CACHE_ENV_VAR = "GEO_INTEGRATION_CACHE"
APPROXIMATED_SOURCE = "derived_from_blocks"

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


def metres_per_minute(speed_kmh: float) -> float:
    """Return the walking speed in metres per minute (4.5 km/h is 75 m/min)."""
    if not 0 < speed_kmh <= 50:
        msg = f"walking speed must be between 0 and 50 km/h, got {speed_kmh!r}"
        raise NetworkBuildError(msg)
    return speed_kmh * 1000.0 / 60.0


@dataclass(frozen=True)
class BuildReport:
    """What a network build kept and dropped.

    Attributes
    ----------
    source
        ``"centrelines"``, ``"osmnx"``, ``"osm_file"`` ...
    input_lines
        Lines (or graph edges) read.
    nodes_kept, edges_kept, length_kept_m
        The largest connected component, the one kept.
    nodes_dropped, edges_dropped, length_dropped_m
        The other components, dropped.
    components, components_dropped
        Connected components before filtering, and how many were dropped.
    endpoints_merged
        Line endpoints merged into a node shared with another endpoint within the tolerance
        (beyond exact coincidence).
    lines_split
        Lines split at a T-junction or crossing of derived (approximated) lines.
    self_loops_dropped, parallel_edges_reduced
        Degenerate loops (shorter than 3 m) and duplicate parallel edges (the same street
        twice, e.g. both directions of an OSM way) dropped.
    edges_split
        Loops and longer parallel streets (a street joining the same two nodes as a shorter
        one, along another course) split by new nodes, so that they are kept for snapping
        while the matrix holds one, shortest, entry per node pair.
    approximated_length_share
        Share of the kept length that is approximated (derived from blocks).
    """

    source: str
    input_lines: int
    nodes_kept: int
    edges_kept: int
    length_kept_m: float
    nodes_dropped: int
    edges_dropped: int
    length_dropped_m: float
    components: int
    components_dropped: int
    endpoints_merged: int = 0
    lines_split: int = 0
    self_loops_dropped: int = 0
    parallel_edges_reduced: int = 0
    edges_split: int = 0
    approximated_length_share: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Return the report as plain data (for JSON)."""
        return asdict(self)

    def summary(self) -> str:
        """One line for logs and the command line."""
        return (
            f"{self.source}: kept {self.nodes_kept:,} nodes, {self.edges_kept:,} edges, "
            f"{self.length_kept_m / 1000:,.1f} km; dropped {self.components_dropped} of "
            f"{self.components} components ({self.nodes_dropped:,} nodes, "
            f"{self.edges_dropped:,} edges, {self.length_dropped_m / 1000:,.1f} km); "
            f"{self.approximated_length_share:.1%} of the length approximated"
        )


@dataclass(eq=False)
class StreetNetwork:
    """An undirected walking network.

    Attributes
    ----------
    node_xy
        ``(n, 2)`` node coordinates in EPSG:9377 (metres).
    node_lonlat
        ``(n, 2)`` the same in EPSG:4326 (lon, lat).
    edge_u, edge_v
        ``(m,)`` end nodes of each edge; the geometry runs from ``edge_u`` to ``edge_v``.
    edge_length_m
        ``(m,)`` length used for routing (metres).
    edge_approximated
        ``(m,)`` True on edges derived from blocks (approximate streets).
    edge_geometry
        ``(m,)`` shapely LineStrings in EPSG:9377.
    lengths
        ``(n, n)`` symmetric CSR matrix of edge lengths in metres (one entry per direction of
        each edge; parallel edges already reduced to the shortest).
    speed_kmh
        Walking speed used by :meth:`minutes`.
    report
        What the build kept and dropped.
    """

    node_xy: FloatArray
    node_lonlat: FloatArray
    edge_u: IntArray
    edge_v: IntArray
    edge_length_m: FloatArray
    edge_approximated: BoolArray
    edge_geometry: npt.NDArray[np.object_]
    lengths: sp.csr_array
    speed_kmh: float = DEFAULT_SPEED_KMH
    report: BuildReport | None = None
    cache_key: str | None = field(default=None, repr=False)

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return int(self.node_xy.shape[0])

    @property
    def n_edges(self) -> int:
        """Number of (undirected) edges."""
        return int(self.edge_u.shape[0])

    @property
    def metres_per_minute(self) -> float:
        """Walking speed in metres per minute."""
        return metres_per_minute(self.speed_kmh)

    @cached_property
    def minutes(self) -> sp.csr_array:
        """The symmetric CSR matrix of edge walking times in minutes."""
        out = self.lengths.copy()
        out.data = out.data / self.metres_per_minute
        return out

    @cached_property
    def approximated_share(self) -> float:
        """Share of the network length that is approximated (derived from blocks)."""
        total = float(self.edge_length_m.sum())
        return float(self.edge_length_m[self.edge_approximated].sum()) / total if total else 0.0

    @cached_property
    def segment_index(self) -> SegmentIndex:
        """The nearest-segment search index of the edges (built on first use)."""
        return SegmentIndex(self)

    def with_speed(self, speed_kmh: float) -> StreetNetwork:
        """Return the same network with another walking speed."""
        metres_per_minute(speed_kmh)
        return StreetNetwork(
            node_xy=self.node_xy,
            node_lonlat=self.node_lonlat,
            edge_u=self.edge_u,
            edge_v=self.edge_v,
            edge_length_m=self.edge_length_m,
            edge_approximated=self.edge_approximated,
            edge_geometry=self.edge_geometry,
            lengths=self.lengths,
            speed_kmh=speed_kmh,
            report=self.report,
            cache_key=self.cache_key,
        )

    def edges_frame(self) -> gpd.GeoDataFrame:
        """Return the edges as a GeoDataFrame (EPSG:9377) for maps and checks."""
        import geopandas as gpd

        return gpd.GeoDataFrame(
            {
                "u": self.edge_u,
                "v": self.edge_v,
                "length_m": self.edge_length_m,
                "approximated": self.edge_approximated,
            },
            geometry=self.edge_geometry,
            crs=METRIC_CRS,
        )


# --------------------------------------------------------------------------- matrices


def symmetric_min_csr(
    u: npt.ArrayLike, v: npt.ArrayLike, weight: npt.ArrayLike, n: int
) -> sp.csr_array:
    """Return the symmetric ``n x n`` CSR matrix of ``weight``, minimum over parallel edges.

    Each edge ``(u, v)`` is entered in both directions; when several edges join the same
    pair of nodes (in either direction) the smallest weight wins. Self-loops are ignored.
    scipy's own constructors (and ``networkx.to_scipy_sparse_array`` on a multigraph) would
    SUM the parallel entries, which gives wrong shortest paths.
    """
    import scipy.sparse as sp

    ua = np.asarray(u, dtype=np.int64)
    va = np.asarray(v, dtype=np.int64)
    w = np.asarray(weight, dtype=np.float64)
    keep = ua != va
    rows = np.concatenate([ua[keep], va[keep]])
    cols = np.concatenate([va[keep], ua[keep]])
    vals = np.concatenate([w[keep], w[keep]])
    order = np.lexsort((vals, cols, rows))
    rows, cols, vals = rows[order], cols[order], vals[order]
    first = np.ones(rows.shape[0], dtype=bool)
    first[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
    mat = sp.csr_array((vals[first], (rows[first], cols[first])), shape=(n, n))
    mat.sort_indices()
    return mat


def _reduce_parallel(u: IntArray, v: IntArray, length: FloatArray) -> IntArray:
    """Return the indices of the edges to keep: no self-loops, shortest of each node pair."""
    lo, hi = np.minimum(u, v), np.maximum(u, v)
    cand = np.flatnonzero(u != v)
    order = cand[np.lexsort((length[cand], hi[cand], lo[cand]))]
    first = np.ones(order.shape[0], dtype=bool)
    first[1:] = (lo[order][1:] != lo[order][:-1]) | (hi[order][1:] != hi[order][:-1])
    return np.sort(order[first])


def _split_distinct(
    node_xy: FloatArray,
    u: IntArray,
    v: IntArray,
    length: FloatArray,
    approximated: BoolArray,
    geometry: npt.NDArray[np.object_],
    *,
    tol: float = 1.0,
) -> tuple[FloatArray, IntArray, IntArray, FloatArray, BoolArray, npt.NDArray[np.object_], int]:
    """Split loops and distinct longer parallel edges with new nodes (see BuildReport)."""
    import shapely
    from shapely.ops import substring

    cuts: dict[int, list[float]] = {}
    for i in np.flatnonzero((u == v) & (length > 3 * tol)).tolist():
        cuts[i] = [1 / 3, 2 / 3]
    lo, hi = np.minimum(u, v), np.maximum(u, v)
    cand = np.flatnonzero(u != v)
    order = cand[np.lexsort((length[cand], hi[cand], lo[cand]))]
    same = np.r_[False, (lo[order][1:] == lo[order][:-1]) & (hi[order][1:] == hi[order][:-1])]
    if same.any():
        head = order[np.maximum.accumulate(np.where(~same, np.arange(order.size), 0))]
        others, firsts = order[same], head[same]
        far = shapely.hausdorff_distance(geometry[others], geometry[firsts]) > tol
        for i in others[far].tolist():
            cuts[i] = [0.5]
    if not cuts:
        return node_xy, u, v, length, approximated, geometry, 0
    new_xy, nu, nv, nl, na, ng = [], [], [], [], [], []
    n = node_xy.shape[0]
    for i, fracs in cuts.items():
        line, total = geometry[i], float(geometry[i].length)
        stops = [0.0, *(f * total for f in fracs), total]
        ids = [int(u[i])]
        for f in fracs:
            pt = shapely.line_interpolate_point(line, f, normalized=True)
            new_xy.append([pt.x, pt.y])
            ids.append(n)
            n += 1
        ids.append(int(v[i]))
        for k, (a, b) in enumerate(itertools.pairwise(stops)):
            nu.append(ids[k])
            nv.append(ids[k + 1])
            nl.append(float(length[i]) * (b - a) / total if total else 0.0)
            na.append(bool(approximated[i]))
            ng.append(substring(line, a, b))
    keep = np.ones(u.shape[0], dtype=bool)
    keep[list(cuts)] = False
    return (
        np.vstack([node_xy, np.array(new_xy)]),
        np.concatenate([u[keep], np.array(nu, dtype=np.int64)]),
        np.concatenate([v[keep], np.array(nv, dtype=np.int64)]),
        np.concatenate([length[keep], np.array(nl)]),
        np.concatenate([approximated[keep], np.array(na, dtype=bool)]),
        np.concatenate([geometry[keep], np.array(ng, dtype=object)]),
        len(cuts),
    )


def _assemble(
    node_xy: FloatArray,
    u: IntArray,
    v: IntArray,
    length: FloatArray,
    approximated: BoolArray,
    geometry: npt.NDArray[np.object_],
    *,
    source: str,
    input_lines: int,
    speed_kmh: float,
    extra: dict[str, int] | None = None,
) -> StreetNetwork:
    """Drop self-loops and longer parallel edges, keep the largest component, build CSR."""
    from scipy.sparse.csgraph import connected_components

    node_xy, u, v, length, approximated, geometry, n_split = _split_distinct(
        node_xy, u, v, length, approximated, geometry
    )
    n = node_xy.shape[0]
    keep = _reduce_parallel(u, v, length)
    self_loops = int((u == v).sum())
    parallel = int(u.shape[0] - self_loops - keep.shape[0])
    u, v, length = u[keep], v[keep], length[keep]
    approximated, geometry = approximated[keep], geometry[keep]
    if u.shape[0] == 0:
        msg = f"{source}: no usable street edges in {input_lines} input lines"
        raise NetworkBuildError(msg)
    mat = symmetric_min_csr(u, v, length, n)
    n_comp, labels = connected_components(mat, directed=False)
    used = np.zeros(n, dtype=bool)
    used[u] = used[v] = True
    sizes = np.bincount(labels[used], minlength=n_comp)
    big = int(np.argmax(sizes))
    node_keep = labels == big
    edge_keep = node_keep[u]
    new_id = np.full(n, -1, dtype=np.int64)
    new_id[node_keep] = np.arange(int(node_keep.sum()))
    ku, kv = new_id[u[edge_keep]], new_id[v[edge_keep]]
    klen = length[edge_keep]
    kapprox = approximated[edge_keep]
    report = BuildReport(
        source=source,
        input_lines=input_lines,
        nodes_kept=int(node_keep.sum()),
        edges_kept=int(edge_keep.sum()),
        length_kept_m=round(float(klen.sum()), 1),
        nodes_dropped=int((used & ~node_keep).sum()),
        edges_dropped=int((~edge_keep).sum()),
        length_dropped_m=round(float(length[~edge_keep].sum()), 1),
        components=int((sizes > 0).sum()),
        components_dropped=int((sizes > 0).sum()) - 1,
        self_loops_dropped=self_loops,
        parallel_edges_reduced=parallel,
        edges_split=n_split,
        approximated_length_share=round(float(klen[kapprox].sum() / klen.sum()), 4),
        **(extra or {}),
    )
    log.info("network %s", report.summary())
    xy = node_xy[node_keep]
    return StreetNetwork(
        node_xy=xy,
        node_lonlat=_to_lonlat(xy),
        edge_u=ku,
        edge_v=kv,
        edge_length_m=klen,
        edge_approximated=kapprox,
        edge_geometry=geometry[edge_keep],
        lengths=symmetric_min_csr(ku, kv, klen, xy.shape[0]),
        speed_kmh=speed_kmh,
        report=report,
    )


def _to_lonlat(xy: FloatArray) -> FloatArray:
    from pyproj import Transformer

    tr = Transformer.from_crs(METRIC_CRS, WGS84, always_xy=True)
    lon, lat = tr.transform(xy[:, 0], xy[:, 1])
    return np.column_stack([lon, lat])


def _to_metric_xy(lon: npt.ArrayLike, lat: npt.ArrayLike, crs: Any = WGS84) -> FloatArray:
    from pyproj import Transformer

    tr = Transformer.from_crs(crs, METRIC_CRS, always_xy=True)
    x, y = tr.transform(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    return np.column_stack([x, y])


# --------------------------------------------------------------------------- centrelines


def _cluster_points(points: FloatArray, tol: float) -> tuple[IntArray, int]:
    """Label points closer than ``tol`` (transitively) with one id; return labels, merges."""
    from scipy.sparse import coo_array
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    exact, inverse = np.unique(points, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    if tol <= 0:
        return inverse.astype(np.int64), 0
    pairs = cKDTree(exact).query_pairs(tol, output_type="ndarray")
    n = exact.shape[0]
    adj = coo_array((np.ones(pairs.shape[0]), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    n_lab, lab = connected_components(adj, directed=False)
    return lab[inverse].astype(np.int64), int(n - n_lab)


def _split_positions(
    geoms: npt.NDArray[np.object_], derived: BoolArray, tol: float
) -> dict[int, list[float]]:
    """Where to split lines: T-junctions of derived line ends, crossings of derived lines."""
    import shapely

    tree = shapely.STRtree(geoms)
    cuts: dict[int, list[float]] = {}
    ends = np.concatenate([shapely.get_point(geoms, 0), shapely.get_point(geoms, -1)])
    owner = np.concatenate([np.arange(geoms.shape[0])] * 2)
    sel = np.concatenate([derived, derived])
    ends, owner = ends[sel], owner[sel]
    if ends.shape[0]:
        pi, li = tree.query(ends, predicate="dwithin", distance=tol)
        ok = owner[pi] != li
        pi, li = pi[ok], li[ok]
        pos = shapely.line_locate_point(geoms[li], ends[pi])
        lengths = shapely.length(geoms[li])
        interior = (pos > tol) & (pos < lengths - tol)
        for line, p in zip(li[interior].tolist(), pos[interior].tolist(), strict=True):
            cuts.setdefault(line, []).append(p)
    idx = np.flatnonzero(derived)
    if idx.shape[0]:
        a, b = tree.query(geoms[idx], predicate="crosses")
        a = idx[a]
        both = derived[b] & (a < b)
        for i, j in zip(a[both].tolist(), b[both].tolist(), strict=True):
            for pt in shapely.get_parts(shapely.intersection(geoms[i], geoms[j])):
                if pt.geom_type != "Point":
                    continue
                for line in (i, j):
                    p = float(shapely.line_locate_point(geoms[line], pt))
                    if tol < p < float(geoms[line].length) - tol:
                        cuts.setdefault(line, []).append(p)
    return cuts


def _apply_splits(
    geoms: npt.NDArray[np.object_], derived: BoolArray, cuts: dict[int, list[float]]
) -> tuple[npt.NDArray[np.object_], BoolArray]:
    from shapely.ops import substring

    if not cuts:
        return geoms, derived
    pieces: list[Any] = []
    flags: list[bool] = []
    keep = np.ones(geoms.shape[0], dtype=bool)
    for line, positions in cuts.items():
        keep[line] = False
        stops = [0.0, *sorted(set(positions)), float(geoms[line].length)]
        for a, b in itertools.pairwise(stops):
            pieces.append(substring(geoms[line], a, b))
            flags.append(bool(derived[line]))
    new_geoms = np.concatenate([geoms[keep], np.array(pieces, dtype=object)])
    new_flags = np.concatenate([derived[keep], np.array(flags, dtype=bool)])
    return new_geoms, new_flags


def network_from_centrelines(
    lines: gpd.GeoDataFrame,
    *,
    speed_kmh: float = DEFAULT_SPEED_KMH,
    node_tol_m: float = DEFAULT_NODE_TOL_M,
) -> StreetNetwork:
    """Build the walking network from street centrelines.

    Parameters
    ----------
    lines
        LineStrings (MultiLineStrings are split into parts) with a CRS; an ``approximated``
        boolean column, or a ``source`` column where ``"derived_from_blocks"`` marks
        approximated lines, is used when present.
    speed_kmh
        Walking speed for :attr:`StreetNetwork.minutes`.
    node_tol_m
        Line endpoints closer than this are one node. See the module docstring for how
        official and derived lines are joined.

    Raises
    ------
    NetworkBuildError
        If ``lines`` has no CRS or no usable line.
    """
    import shapely

    metres_per_minute(speed_kmh)
    if lines.crs is None:
        msg = "street lines have no CRS"
        raise NetworkBuildError(msg)
    frame = lines[lines.geometry.notna() & ~lines.geometry.is_empty].to_crs(METRIC_CRS)
    frame = frame[frame.geom_type.isin(["LineString", "MultiLineString"])]
    frame = frame.explode(index_parts=False)
    if "approximated" in frame.columns:
        derived = frame["approximated"].fillna(False).to_numpy(dtype=bool)
    elif "source" in frame.columns:
        derived = (frame["source"].astype(str) == APPROXIMATED_SOURCE).to_numpy()
    else:
        derived = np.zeros(len(frame), dtype=bool)
    geoms = frame.geometry.to_numpy()
    keep = shapely.length(geoms) > 0
    geoms, derived = geoms[keep], derived[keep]
    cuts = _split_positions(geoms, derived, node_tol_m)
    n_split = len(cuts)
    geoms, derived = _apply_splits(geoms, derived, cuts)
    start = shapely.get_coordinates(shapely.get_point(geoms, 0))
    end = shapely.get_coordinates(shapely.get_point(geoms, -1))
    m = geoms.shape[0]
    labels, merged = _cluster_points(np.vstack([start, end]), node_tol_m)
    u, v = labels[:m], labels[m:]
    n = int(labels.max()) + 1 if m else 0
    node_xy = np.zeros((n, 2))
    node_xy[labels[::-1]] = np.vstack([start, end])[::-1]  # first occurrence wins
    return _assemble(
        node_xy,
        u,
        v,
        shapely.length(geoms),
        derived,
        geoms,
        source="centrelines",
        input_lines=len(lines),
        speed_kmh=speed_kmh,
        extra={"endpoints_merged": merged, "lines_split": n_split},
    )


# --------------------------------------------------------------------------- OpenStreetMap


def network_from_osmnx(
    graph: nx.MultiDiGraph, *, speed_kmh: float = DEFAULT_SPEED_KMH
) -> StreetNetwork:
    """Build the walking network from an osmnx graph.

    Every edge is walkable both ways (one-way streets are one-way for cars only). Edge
    lengths come from the ``length`` attribute (metres, as osmnx sets it), or from the
    geometry when it is missing; parallel edges and the two directions of a street are
    reduced to the shortest. Works on graphs from ``ox.graph_from_xml``, which leaves
    ``street_count`` unset (it is not used here).

    Raises
    ------
    NetworkBuildError
        If the graph has no nodes, no coordinates or no CRS.
    """
    import shapely
    from pyproj import Transformer

    metres_per_minute(speed_kmh)
    if graph.number_of_nodes() == 0:
        msg = "the OSM graph has no nodes"
        raise NetworkBuildError(msg)
    crs = graph.graph.get("crs", WGS84)
    ids = list(graph.nodes)
    index = {node: i for i, node in enumerate(ids)}
    try:
        lon = np.array([graph.nodes[k]["x"] for k in ids], dtype=float)
        lat = np.array([graph.nodes[k]["y"] for k in ids], dtype=float)
    except KeyError as exc:
        msg = f"OSM graph node without coordinate {exc}"
        raise NetworkBuildError(msg) from None
    xy = _to_metric_xy(lon, lat, crs)
    tr = Transformer.from_crs(crs, METRIC_CRS, always_xy=True)
    rows = list(graph.edges(data=True))
    u = np.array([index[a] for a, _b, _d in rows], dtype=np.int64)
    v = np.array([index[b] for _a, b, _d in rows], dtype=np.int64)
    geoms = np.empty(len(rows), dtype=object)
    for i, (_a, _b, data) in enumerate(rows):
        geom = data.get("geometry")
        if geom is None:
            geoms[i] = shapely.LineString([xy[u[i]], xy[v[i]]])
        else:
            geoms[i] = shapely.transform(
                geom, lambda c: np.column_stack(tr.transform(c[:, 0], c[:, 1]))
            )
    geo_len = shapely.length(geoms)
    length = np.array([float(d.get("length", np.nan)) for _a, _b, d in rows], dtype=float)
    length = np.where(np.isfinite(length) & (length > 0), length, geo_len)
    return _assemble(
        xy,
        u,
        v,
        length,
        np.zeros(len(rows), dtype=bool),
        geoms,
        source="osmnx",
        input_lines=len(rows),
        speed_kmh=speed_kmh,
    )


#: OSM highway values walkers cannot use (motorways and their ramps, construction, ...).
_NOT_WALKABLE = frozenset(
    {
        "motorway",
        "motorway_link",
        "trunk_link",
        "construction",
        "proposed",
        "abandoned",
        "raceway",
        "bus_guideway",
        "busway",
        "platform",
        "razed",
        "no",
    }
)


def network_from_osm_file(
    path: str | os.PathLike[str], *, speed_kmh: float = DEFAULT_SPEED_KMH
) -> StreetNetwork:
    """Build the walking network from an OpenStreetMap file, offline.

    ``.osm`` / ``.xml`` files are read by ``osmnx.graph_from_xml`` (every way of the file
    becomes an edge: extract a walking network before, or use a file of streets).
    ``.pbf`` files are read by GDAL's OSM driver (part of pyogrio): the ways tagged
    ``highway`` (except motorways, their ramps and ways under construction) are split at
    every vertex they share with another way, which is how OSM marks junctions.

    Raises
    ------
    DataDirError
        If the file does not exist.
    NetworkBuildError
        If the file cannot be read or holds no street.
    """
    file = Path(path)
    if not file.is_file():
        msg = f"OSM file not found: {str(file)!r}"
        raise DataDirError(msg)
    name = file.name.lower()
    if name.endswith(".pbf"):
        return _network_from_pbf(file, speed_kmh=speed_kmh)
    if not name.endswith((".osm", ".xml")):
        msg = f"unsupported OSM file {str(file)!r}: expected .osm, .xml or .osm.pbf"
        raise NetworkBuildError(msg)
    import osmnx as ox

    try:
        graph = ox.graph_from_xml(file, simplify=True, retain_all=True)
    except Exception as exc:  # osmnx raises many kinds on bad files
        msg = f"{file}: cannot read the OSM file: {exc}"
        raise NetworkBuildError(msg) from exc
    net = network_from_osmnx(graph, speed_kmh=speed_kmh)
    return _relabel(net, "osm_file")


def _relabel(net: StreetNetwork, source: str) -> StreetNetwork:
    if net.report is not None:
        net.report = BuildReport(**(net.report.to_dict() | {"source": source}))
    return net


def _network_from_pbf(file: Path, *, speed_kmh: float) -> StreetNetwork:
    import pyogrio
    import shapely

    try:
        ways = pyogrio.read_dataframe(file, layer="lines", columns=["highway"])
    except Exception as exc:
        msg = f"{file}: cannot read the OSM file: {exc}"
        raise NetworkBuildError(msg) from exc
    ways = ways[ways["highway"].notna() & ~ways["highway"].isin(_NOT_WALKABLE)]
    if ways.empty:
        msg = f"{file}: no walkable way (tag highway) in the file"
        raise NetworkBuildError(msg)
    metric = ways.to_crs(METRIC_CRS).geometry.to_numpy()
    coords, line_of = shapely.get_coordinates(metric, return_index=True)
    _uniq, inv, counts = np.unique(coords, axis=0, return_inverse=True, return_counts=True)
    inv = inv.ravel()
    first = np.r_[True, line_of[1:] != line_of[:-1]]
    last = np.r_[line_of[1:] != line_of[:-1], True]
    cut = (counts[inv] > 1) | first | last
    pieces = []
    cut_at = np.flatnonzero(cut)
    for a, b in itertools.pairwise(cut_at):
        if line_of[a] == line_of[b]:
            pieces.append(shapely.linestrings(coords[a : b + 1]))
    import geopandas as gpd

    frame = gpd.GeoDataFrame(geometry=pieces, crs=METRIC_CRS)
    return _relabel(network_from_centrelines(frame, speed_kmh=speed_kmh, node_tol_m=0.0), "osm_pbf")


def network_from_place(
    query: str, *, speed_kmh: float = DEFAULT_SPEED_KMH, network_type: str = "walk"
) -> StreetNetwork:
    """Download the OSM walking network of a place (ONLINE: reaches OpenStreetMap)."""
    import osmnx as ox

    try:
        graph = ox.graph_from_place(query, network_type=network_type, retain_all=True)
    except Exception as exc:
        msg = f"cannot download the OSM network of {query!r}: {exc}"
        raise NetworkBuildError(msg) from exc
    return _relabel(network_from_osmnx(graph, speed_kmh=speed_kmh), "osm_place")


def network_from_polygon(
    polygon: Any, *, speed_kmh: float = DEFAULT_SPEED_KMH, network_type: str = "walk"
) -> StreetNetwork:
    """Download the OSM walking network inside a polygon (EPSG:4326; ONLINE)."""
    import osmnx as ox

    try:
        graph = ox.graph_from_polygon(polygon, network_type=network_type, retain_all=True)
    except Exception as exc:
        msg = f"cannot download the OSM network of the polygon: {exc}"
        raise NetworkBuildError(msg) from exc
    return _relabel(network_from_osmnx(graph, speed_kmh=speed_kmh), "osm_polygon")


# --------------------------------------------------------------------------- cache


def default_cache_dir() -> Path:
    """``$GEO_INTEGRATION_CACHE/networks``, else ``~/.cache/geo_integration/networks``."""
    env = os.environ.get(CACHE_ENV_VAR, "")
    base = Path(env).expanduser() if env else Path.home() / ".cache" / "geo_integration"
    return base / "networks"


def _cache_key(inputs: list[Path], params: dict[str, Any]) -> str:
    from geo_integration import __version__
    from geo_integration.fileio import sha256_file

    parts: dict[str, Any] = {
        "format": NETWORK_FORMAT_VERSION,
        "package": __version__,
        "params": params,
        "inputs": [[p.name, p.stat().st_size, sha256_file(p)] for p in inputs],
    }
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:20]


def save_network(net: StreetNetwork, path: str | os.PathLike[str]) -> Path:
    """Write ``net`` to an ``.npz`` file (atomically) and return its path."""
    import shapely

    from geo_integration.fileio import atomic_path

    gtype, coords, offsets = shapely.to_ragged_array(net.edge_geometry)
    del gtype
    report = json.dumps(net.report.to_dict() if net.report else None)
    with atomic_path(path) as tmp, tmp.open("wb") as fh:
        np.savez(
            fh,
            node_xy=net.node_xy,
            node_lonlat=net.node_lonlat,
            edge_u=net.edge_u,
            edge_v=net.edge_v,
            edge_length_m=net.edge_length_m,
            edge_approximated=net.edge_approximated,
            geom_coords=coords,
            geom_offsets=offsets[0],
            report=np.array(report),
            speed_kmh=np.array(net.speed_kmh),
        )
    return Path(path)


def read_network(path: str | os.PathLike[str]) -> StreetNetwork:
    """Read a network written by :func:`save_network`."""
    import shapely

    with np.load(Path(path), allow_pickle=False) as z:
        data = {k: z[k] for k in z.files}
    geoms = shapely.from_ragged_array(
        shapely.GeometryType.LINESTRING, data["geom_coords"], (data["geom_offsets"],)
    )
    raw_report = json.loads(str(data["report"]))
    u, v, length = data["edge_u"], data["edge_v"], data["edge_length_m"]
    return StreetNetwork(
        node_xy=data["node_xy"],
        node_lonlat=data["node_lonlat"],
        edge_u=u,
        edge_v=v,
        edge_length_m=length,
        edge_approximated=data["edge_approximated"],
        edge_geometry=geoms,
        lengths=symmetric_min_csr(u, v, length, data["node_xy"].shape[0]),
        speed_kmh=float(data["speed_kmh"]),
        report=BuildReport(**raw_report) if raw_report else None,
    )


def load_network(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    source: str | os.PathLike[str] = "centrelines",
    cache_dir: str | os.PathLike[str] | None = None,
    speed_kmh: float = DEFAULT_SPEED_KMH,
    node_tol_m: float = DEFAULT_NODE_TOL_M,
    use_cache: bool = True,
) -> StreetNetwork:
    """Return the walking network, built once and then read from the cache.

    Parameters
    ----------
    data_dir
        Reference data directory (see :func:`geo_integration.config.resolve_data_dir`).
    source
        ``"centrelines"`` (``streets/malla_vial.parquet`` of the data directory), ``"osm"``
        (the first ``*.osm.pbf`` / ``*.osm`` file in ``streets/`` or ``osm/`` of the data
        directory) or the path of an OSM file. Downloading from OpenStreetMap is never done
        here: call :func:`network_from_place` explicitly.
    cache_dir
        Where built networks are kept (default: :func:`default_cache_dir`, outside the
        repository). The cache key covers the input file (name, size, SHA-256), the build
        parameters and the code version, so a changed input is rebuilt.
    speed_kmh
        Walking speed; not part of the key (lengths are cached in metres).
    use_cache
        False builds afresh and writes nothing.
    """
    from geo_integration.config import resolve_data_dir

    file, kind = _network_input(resolve_data_dir(data_dir), source)
    params = {"kind": kind, "node_tol_m": node_tol_m}
    key = _cache_key([file], params)
    target = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    cached = target / f"network-{key}.npz"
    if use_cache and cached.is_file():
        try:
            net = read_network(cached).with_speed(speed_kmh)
        except (OSError, ValueError, KeyError) as exc:
            log.warning("ignoring unreadable network cache %s: %s", cached, exc)
        else:
            net.cache_key = key
            log.info("network read from cache %s", cached)
            return net
    net = _build(file, kind, speed_kmh=speed_kmh, node_tol_m=node_tol_m)
    net.cache_key = key
    if use_cache:
        save_network(net, cached)
        log.info("network cached in %s", cached)
    return net


def _network_input(data_dir: Path, source: str | os.PathLike[str]) -> tuple[Path, str]:
    from geo_integration.datadir import data_path

    if str(source) == "centrelines":
        return data_path(data_dir, "streets"), "centrelines"
    if str(source) == "osm":
        for sub in ("streets", "osm"):
            for pattern in ("*.osm.pbf", "*.pbf", "*.osm"):
                found = sorted((data_dir / sub).glob(pattern))
                if found:
                    return found[0], "osm_file"
        msg = f"no .osm.pbf or .osm file in {data_dir / 'streets'} or {data_dir / 'osm'}"
        raise DataDirError(msg)
    file = Path(source)
    if not file.is_file():
        msg = f"network source is neither 'centrelines', 'osm' nor a file: {str(source)!r}"
        raise DataDirError(msg)
    kind = "osm_file" if file.name.lower().endswith((".osm", ".xml", ".pbf")) else "centrelines"
    return file, kind


def _build(file: Path, kind: str, *, speed_kmh: float, node_tol_m: float) -> StreetNetwork:
    if kind == "osm_file":
        return network_from_osm_file(file, speed_kmh=speed_kmh)
    import geopandas as gpd

    try:
        lines = gpd.read_parquet(file) if file.suffix == ".parquet" else gpd.read_file(file)
    except Exception as exc:
        msg = f"{file}: cannot read street lines: {exc}"
        raise NetworkBuildError(msg) from exc
    return network_from_centrelines(lines, speed_kmh=speed_kmh, node_tol_m=node_tol_m)


# --------------------------------------------------------------------------- snapping


@dataclass(frozen=True)
class Snap:
    """Where points enter the network (arrays aligned to the input points).

    Attributes
    ----------
    edge
        Index of the nearest edge (-1 for points without coordinates).
    u, v
        Its end nodes.
    along_u_m, along_v_m
        Length along the edge from the projected point to ``u`` and to ``v``.
    snap_m
        Straight-line distance from the point to the edge (NaN without coordinates).
    far_from_network
        ``snap_m > snap_max_m``.
    """

    edge: IntArray
    u: IntArray
    v: IntArray
    along_u_m: FloatArray
    along_v_m: FloatArray
    snap_m: FloatArray
    far_from_network: BoolArray

    @property
    def located(self) -> BoolArray:
        """Points that have coordinates (and so a snap)."""
        return self.edge >= 0

    def cost_minutes(self, metres_per_min: float) -> tuple[FloatArray, FloatArray]:
        """Walking minutes from each point to ``u`` and to ``v`` (snap + along the edge)."""
        return (
            (self.snap_m + self.along_u_m) / metres_per_min,
            (self.snap_m + self.along_v_m) / metres_per_min,
        )

    def take(self, index: npt.ArrayLike) -> Snap:
        """Return the snaps of the points at positions ``index``."""
        idx = np.asarray(index)
        return Snap(*(getattr(self, f)[idx] for f in Snap.__dataclass_fields__))


def snap_points(net: StreetNetwork, xy: npt.ArrayLike, *, snap_max_m: float = 300.0) -> Snap:
    """Snap points (EPSG:9377 metres, ``(k, 2)``) to the nearest point of the nearest edge.

    Rows with a non-finite coordinate get ``edge = -1`` and NaN distances. The partial
    lengths along the edge are scaled to the edge's routing length, so they add up to it
    exactly. The search is exact (see :class:`SegmentIndex`).
    """
    pts = np.asarray(xy, dtype=float).reshape(-1, 2)
    k = pts.shape[0]
    ok = np.isfinite(pts).all(axis=1)
    edge = np.full(k, -1, dtype=np.int64)
    dist = np.full(k, np.nan)
    frac = np.full(k, np.nan)
    if ok.any():
        edge[ok], dist[ok], frac[ok] = net.segment_index.nearest(pts[ok])
    safe = np.where(edge >= 0, edge, 0)
    length = net.edge_length_m[safe]
    along_u = np.where(edge >= 0, frac * length, np.nan)
    return Snap(
        edge=edge,
        u=np.where(edge >= 0, net.edge_u[safe], -1),
        v=np.where(edge >= 0, net.edge_v[safe], -1),
        along_u_m=along_u,
        along_v_m=np.where(edge >= 0, length - along_u, np.nan),
        snap_m=dist,
        far_from_network=np.where(edge >= 0, dist > snap_max_m, False),
    )


class SegmentIndex:
    """Exact nearest-segment search over the straight segments of the network's edges.

    Sample points are laid along every segment at most ``spacing`` metres apart and put in
    a KD-tree. For a query point at distance ``d1`` from its nearest sample, every segment
    closer than ``d1`` has a sample within ``d1 + spacing / 2``; the ``k`` nearest samples
    are checked exactly; the few points whose ``k`` samples do not reach that radius are
    searched again with more samples, and the last ones with every sample in that radius.
    The queries are made in Morton (Z-curve) order, so that neighbouring queries walk the
    same part of the tree (about three times faster than in the input order on a million
    points), and a point given several times is searched once.
    """

    def __init__(self, net: StreetNetwork, *, spacing: float = 10.0, k: int = 6) -> None:
        import shapely
        from scipy.spatial import cKDTree

        coords, owner = shapely.get_coordinates(net.edge_geometry, return_index=True)
        same = owner[1:] == owner[:-1]
        self.a = coords[:-1][same]
        self.b = coords[1:][same]
        self.edge = owner[:-1][same].astype(np.int64)
        delta = self.b - self.a
        seg_len = np.hypot(*delta.T)
        den = (delta * delta).sum(axis=1)
        # per segment: start x, y, direction x, y, squared length (1 where 0): one row to read
        self.table = np.column_stack([self.a, delta, np.where(den > 0, den, 1.0)])
        self.seg_len = seg_len
        cum = np.concatenate([[0.0], np.cumsum(seg_len)])
        edge_first = np.searchsorted(self.edge, np.arange(net.n_edges))
        self.start = cum[:-1] - cum[edge_first[self.edge]]
        self.geom_len = np.bincount(self.edge, weights=seg_len, minlength=net.n_edges)
        self.spacing, self.k, self.net = spacing, k, net
        n_samp = np.ceil(seg_len / spacing).astype(np.int64) + 1
        seg_of = np.repeat(np.arange(seg_len.shape[0]), n_samp)
        first = np.repeat(np.cumsum(n_samp) - n_samp, n_samp)
        t = (np.arange(seg_of.shape[0]) - first) / np.maximum(n_samp[seg_of] - 1, 1)
        samples = self.a[seg_of] + t[:, None] * delta[seg_of]
        self.sample_seg = seg_of
        self.tree = cKDTree(samples)

    def _project(self, pts: FloatArray, seg: IntArray) -> tuple[FloatArray, FloatArray]:
        """Squared distance from points ``(p, 2)`` to segments ``seg`` ``(p, j)`` and the
        fraction along them."""
        row = self.table[seg]
        rx = pts[:, None, 0] - row[..., 0]
        ry = pts[:, None, 1] - row[..., 1]
        dx, dy = row[..., 2], row[..., 3]
        t = rx * dx
        t += ry * dy
        t /= row[..., 4]
        np.clip(t, 0.0, 1.0, out=t)
        rx -= t * dx
        ry -= t * dy
        rx *= rx
        ry *= ry
        rx += ry
        return rx, t

    def _distance(self, pts: FloatArray, seg: IntArray, t: FloatArray) -> FloatArray:
        """Distance from each point to the point at fraction ``t`` of its segment."""
        row = self.table[seg]
        return np.hypot(
            pts[:, 0] - row[:, 0] - t * row[:, 2], pts[:, 1] - row[:, 1] - t * row[:, 3]
        )

    def nearest(self, pts: FloatArray) -> tuple[IntArray, FloatArray, FloatArray]:
        """Return, for each point, the nearest edge, the distance and the fraction along it.

        Points given several times (homes at one address) are searched once.
        """
        order = np.argsort(_morton_codes(pts, cell=1.0))
        pts = pts[order]
        new = np.ones(pts.shape[0], dtype=bool)
        new[1:] = (pts[1:] != pts[:-1]).any(axis=1)
        pts = pts[new]
        seg, dist, t = self._search(pts, self.k)
        unsure = np.flatnonzero(np.isnan(dist))
        if unsure.size:
            seg[unsure], dist[unsure], t[unsure] = self._search(pts[unsure], 4 * self.k)
            still = unsure[np.isnan(dist[unsure])]
            if still.size:
                seg[still], dist[still], t[still] = self._fallback(pts[still])
        edge = self.edge[seg]
        along = self.start[seg] + t * self.seg_len[seg]
        glen = self.geom_len[edge]
        frac = np.clip(along / np.where(glen > 0, glen, 1), 0, 1)
        where = np.empty_like(order)
        where[order] = np.cumsum(new) - 1
        return edge[where], dist[where], frac[where]

    def _search(self, pts: FloatArray, k: int) -> tuple[IntArray, FloatArray, FloatArray]:
        """Best of the ``k`` nearest samples' segments; NaN distance where not proven.

        The samples are checked nearest first, and only while they are nearer than the
        best distance so far plus half the spacing (farther ones cannot hold a closer
        segment).
        """
        k = min(k, self.sample_seg.shape[0])
        dk, ik = self.tree.query(pts, k=k, workers=-1)
        dk, ik = dk.reshape(len(pts), k), ik.reshape(len(pts), k)
        seg = self.sample_seg[ik]
        best = seg[:, 0].copy()
        d2, t = self._project(pts, best[:, None])
        d2, t = d2[:, 0], t[:, 0]
        reach = np.sqrt(d2) + self.spacing / 2
        for j in range(1, k):
            idx = np.flatnonzero((dk[:, j] < reach) & (seg[:, j] != best))
            if idx.size == 0:
                continue
            d2_j, t_j = self._project(pts[idx], seg[idx, j : j + 1])
            better = d2_j[:, 0] < d2[idx]
            won = idx[better]
            best[won], d2[won], t[won] = seg[won, j], d2_j[better, 0], t_j[better, 0]
            reach[won] = np.sqrt(d2[won]) + self.spacing / 2
        dist = self._distance(pts, best, t)
        if k < self.sample_seg.shape[0]:
            dist[dk[:, -1] < dist + self.spacing / 2] = np.nan
        return best, dist, t

    def _fallback(self, pts: FloatArray) -> tuple[IntArray, FloatArray, FloatArray]:
        """Exact search for the few points far from every street: all samples within the
        nearest sample's distance plus half the spacing are checked."""
        d1, _i = self.tree.query(pts, k=1)
        found = self.tree.query_ball_point(pts, r=d1 + self.spacing / 2 + 1e-6)
        counts = np.array([len(f) for f in found], dtype=np.int64)
        owner = np.repeat(np.arange(len(pts)), counts)
        seg = self.sample_seg[np.concatenate([np.asarray(f, dtype=np.int64) for f in found])]
        d2, t = self._project(pts[owner], seg[:, None])
        order = np.lexsort((d2[:, 0], owner))
        first = order[np.r_[True, owner[order][1:] != owner[order][:-1]]]
        best, t_b = seg[first], t[first, 0]
        return best, self._distance(pts, best, t_b), t_b


def _morton_codes(pts: FloatArray, *, cell: float) -> npt.NDArray[np.uint64]:
    """Position of ``pts`` along a Z-curve over cells of ``cell`` metres (32 bits per axis):
    sorted by it, points near each other come near each other, and equal points together."""

    def spread(v: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
        for shift, mask in (
            (16, 0x0000FFFF0000FFFF),
            (8, 0x00FF00FF00FF00FF),
            (4, 0x0F0F0F0F0F0F0F0F),
            (2, 0x3333333333333333),
            (1, 0x5555555555555555),
        ):
            v = (v | (v << np.uint64(shift))) & np.uint64(mask)
        return v

    if pts.shape[0] == 0:
        return np.zeros(0, dtype=np.uint64)
    ij = np.clip((pts - pts.min(axis=0)) // cell, 0, 0xFFFFFFFF).astype(np.uint64)
    return spread(ij[:, 0]) | (spread(ij[:, 1]) << np.uint64(1))
