"""Walking network: noding, parallel edges, components, snapping, OSM input, cache."""

from __future__ import annotations

import shutil
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
from minicity import ORIGIN, grid_xy, street_segments
from scipy.sparse.csgraph import dijkstra
from shapely.geometry import LineString

from geo_integration import network as gn
from geo_integration.errors import DataDirError, NetworkBuildError

X0, Y0 = 4_880_000.0, 2_070_000.0  # somewhere in Bogotá, EPSG:9377


def grid3(extra: list[tuple[LineString, str]] | None = None) -> gpd.GeoDataFrame:
    """3x3 nodes, 100 m blocks: 12 official segments (plus ``extra``)."""
    rows = []
    for i in range(3):
        for j in range(2):
            rows.append(
                (
                    LineString([(X0 + 100 * j, Y0 + 100 * i), (X0 + 100 * (j + 1), Y0 + 100 * i)]),
                    "mvi_2023",
                )
            )
            rows.append(
                (
                    LineString([(X0 + 100 * i, Y0 + 100 * j), (X0 + 100 * i, Y0 + 100 * (j + 1))]),
                    "mvi_2023",
                )
            )
    rows += extra or []
    return gpd.GeoDataFrame(
        {"source": [s for _g, s in rows]}, geometry=[g for g, _s in rows], crs="EPSG:9377"
    )


def node_at(net: gn.StreetNetwork, x: float, y: float) -> int:
    d = np.hypot(net.node_xy[:, 0] - x, net.node_xy[:, 1] - y)
    assert d.min() < 1e-6
    return int(np.argmin(d))


def test_grid_times_known_by_hand() -> None:
    net = gn.network_from_centrelines(grid3())
    assert (net.n_nodes, net.n_edges) == (9, 12)
    assert net.metres_per_minute == pytest.approx(75.0)
    a, b = node_at(net, X0, Y0), node_at(net, X0 + 200, Y0 + 200)
    d = dijkstra(net.minutes, indices=a)
    assert d[b] == pytest.approx(400 / 75)
    assert net.lengths.nnz == 24 and (net.lengths != net.lengths.T).nnz == 0
    assert net.report is not None and net.report.components_dropped == 0
    np.testing.assert_allclose(net.node_lonlat[:, 0], -74.0, atol=1.5)


def test_official_crossing_not_noded_but_derived_tjunction_is() -> None:
    # an official line crossing the middle of the grid's centre block at another level
    bridge = LineString([(X0 + 50, Y0 - 50), (X0 + 50, Y0 + 250)])
    net = gn.network_from_centrelines(grid3([(bridge, "mvi_2022")]))
    assert net.report is not None
    assert net.report.lines_split == 0
    # the bridge touches the grid nowhere: it is its own component, dropped
    assert net.report.components_dropped == 1 and net.report.length_dropped_m == 300.0
    # a derived line ending on the interior of an official line splits it (T-junction)
    spur = LineString([(X0 + 50, Y0 + 200), (X0 + 50, Y0 + 300)])
    net = gn.network_from_centrelines(grid3([(spur, "derived_from_blocks")]))
    assert net.report is not None and net.report.lines_split == 1
    assert (net.n_nodes, net.n_edges) == (11, 14)
    a, b = node_at(net, X0, Y0), node_at(net, X0 + 50, Y0 + 300)
    assert dijkstra(net.minutes, indices=a)[b] == pytest.approx((200 + 50 + 100) / 75)
    assert net.approximated_share == pytest.approx(100 / 1300)


def test_near_endpoints_merge_within_tolerance() -> None:
    gap = LineString([(X0 + 200.3, Y0 + 200), (X0 + 300, Y0 + 200)])
    net = gn.network_from_centrelines(grid3([(gap, "mvi_2023")]))
    assert net.report is not None and net.report.endpoints_merged == 1
    assert net.report.components_dropped == 0
    strict = gn.network_from_centrelines(grid3([(gap, "mvi_2023")]), node_tol_m=0.1)
    assert strict.report is not None and strict.report.components_dropped == 1


def test_parallel_edges_duplicates_dropped_distinct_ones_split() -> None:
    duplicate = LineString([(X0 + 100, Y0), (X0, Y0)])  # the same street, reversed
    detour = LineString([(X0, Y0), (X0 + 50, Y0 - 40), (X0 + 100, Y0)])  # another street
    loop = LineString([(X0, Y0), (X0 - 20, Y0 - 20), (X0 - 20, Y0), (X0, Y0)])
    tiny = LineString([(X0, Y0), (X0 - 0.5, Y0 - 0.5), (X0, Y0)])
    extra = [(g, "mvi_2023") for g in (duplicate, detour, loop, tiny)]
    net = gn.network_from_centrelines(grid3(extra))
    assert net.report is not None
    assert net.report.parallel_edges_reduced == 1 and net.report.self_loops_dropped == 1
    assert net.report.edges_split == 2  # the detour (1 new node) and the loop (2 new nodes)
    assert (net.n_nodes, net.n_edges) == (9 + 3, 12 + 2 + 3)
    a, b = node_at(net, X0, Y0), node_at(net, X0 + 100, Y0)
    assert net.lengths[a, b] == pytest.approx(100.0)
    # a point on the detour snaps onto it, not onto the straight street 40 m away
    snap = gn.snap_points(net, [[X0 + 50, Y0 - 40]])
    assert snap.snap_m[0] == pytest.approx(0.0, abs=1e-9)
    d = dijkstra(net.minutes, indices=a)
    assert d[[snap.u[0], snap.v[0]]].max() == pytest.approx(np.hypot(50, 40) / 75)


def test_symmetric_min_csr_versus_networkx_sum_trap() -> None:
    g = nx.MultiDiGraph()
    g.add_edge(0, 1, length=100.0)
    g.add_edge(0, 1, length=250.0)  # parallel, longer
    g.add_edge(1, 0, length=100.0)
    summed = nx.to_scipy_sparse_array(g, weight="length")
    assert summed[0, 1] == 350.0  # what the trap gives
    mat = gn.symmetric_min_csr([0, 0, 1], [1, 1, 0], [100.0, 250.0, 100.0], 2)
    assert mat[0, 1] == 100.0 and mat[1, 0] == 100.0 and mat.nnz == 2


def osm_graph() -> nx.MultiDiGraph:
    """A tiny osmnx-like graph in EPSG:4326 with a parallel longer edge and an island."""
    g = nx.MultiDiGraph(crs="EPSG:4326")
    lon0, lat0 = -74.1, 4.6
    for i, (dx, dy) in enumerate([(0, 0), (0.001, 0), (0.002, 0), (0.5, 0.5), (0.501, 0.5)]):
        g.add_node(i, x=lon0 + dx, y=lat0 + dy)
    g.add_edge(0, 1, length=111.0)
    g.add_edge(1, 0, length=111.0)
    g.add_edge(1, 2, length=111.0)
    g.add_edge(1, 2, length=500.0)  # parallel detour
    g.add_edge(3, 4, length=111.0)  # island
    return g


def test_network_from_osmnx_reduces_and_filters() -> None:
    net = gn.network_from_osmnx(osm_graph())
    assert net.report is not None
    assert (net.n_nodes, net.n_edges) == (3, 2)
    assert net.report.parallel_edges_reduced == 2  # reverse duplicate and the detour
    assert net.report.components_dropped == 1 and net.report.length_dropped_m == 111.0
    d = dijkstra(net.minutes, indices=0)
    assert d.max() == pytest.approx(222 / 75)


OSM_XML = """<?xml version='1.0' encoding='UTF-8'?>
<osm version="0.6" generator="test">
  <node id="1" lat="4.6000" lon="-74.1000" version="1"/>
  <node id="2" lat="4.6000" lon="-74.0990" version="1"/>
  <node id="3" lat="4.6010" lon="-74.0990" version="1"/>
  <node id="4" lat="4.6010" lon="-74.1000" version="1"/>
  <way id="10" version="1"><nd ref="1"/><nd ref="2"/><nd ref="3"/>
    <tag k="highway" v="residential"/><tag k="oneway" v="yes"/></way>
  <way id="11" version="1"><nd ref="3"/><nd ref="4"/><nd ref="1"/>
    <tag k="highway" v="footway"/></way>
</osm>
"""


def test_network_from_osm_xml_file_offline(tmp_path: Path) -> None:
    path = tmp_path / "tiny.osm"
    path.write_text(OSM_XML, encoding="utf-8")
    net = gn.network_from_osm_file(path)
    assert net.report is not None and net.report.source == "osm_file"
    total = net.edge_length_m.sum()
    assert total == pytest.approx(2 * 111.0 + 2 * 110.6, rel=0.01)  # a ~110 m square
    assert net.report.edges_split == 1  # the loop's two halves join the same two nodes
    d = dijkstra(net.minutes, indices=0)
    assert np.isfinite(d).all()  # one-way for cars, two-way on foot
    with pytest.raises(NetworkBuildError):
        gn.network_from_osm_file(tmp_path / "tiny.osm", speed_kmh=-1)
    with pytest.raises(DataDirError):
        gn.network_from_osm_file(tmp_path / "missing.osm")


def test_network_from_place_only_calls_osmnx_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    import osmnx as ox

    calls = []

    def fake(query: str, **kw: object) -> nx.MultiDiGraph:
        calls.append((query, kw["network_type"]))
        return osm_graph()

    monkeypatch.setattr(ox, "graph_from_place", fake)
    net = gn.network_from_place("Bogotá, Colombia")
    assert calls == [("Bogotá, Colombia", "walk")]
    assert net.report is not None and net.report.source == "osm_place"


def test_snap_onto_edge_interior_and_far_flag() -> None:
    net = gn.network_from_centrelines(grid3())
    pts = np.array([[X0 + 30, Y0 - 20], [X0 + 100, Y0 + 100], [X0 - 400, Y0], [np.nan, 0]])
    snap = gn.snap_points(net, pts, snap_max_m=300)
    assert snap.snap_m[0] == pytest.approx(20) and snap.snap_m[1] == pytest.approx(0)
    a = node_at(net, X0, Y0)
    assert {snap.u[0], snap.v[0]} >= {a}
    to_a = snap.along_u_m[0] if snap.u[0] == a else snap.along_v_m[0]
    assert to_a == pytest.approx(30) and snap.along_u_m[0] + snap.along_v_m[0] == pytest.approx(100)
    assert snap.far_from_network.tolist() == [False, False, True, False]
    assert snap.edge[3] == -1 and np.isnan(snap.snap_m[3])
    cu, cv = snap.cost_minutes(75.0)
    assert min(cu[0], cv[0]) == pytest.approx(50 / 75)


def test_snap_matches_shapely_nearest_on_random_points() -> None:
    import shapely

    net = gn.network_from_centrelines(street_segments())
    rng = np.random.default_rng(3)
    pts = np.column_stack(
        [ORIGIN[0] + rng.uniform(-1100, 0, 400), ORIGIN[1] + rng.uniform(0, 1100, 400)]
    )
    pts = np.vstack([pts, pts[::3], [[ORIGIN[0] + 3000, ORIGIN[1] - 2500]]])  # repeats, far
    snap = gn.snap_points(net, pts)
    _idx, dist = shapely.STRtree(net.edge_geometry).query_nearest(
        shapely.points(pts), return_distance=True, all_matches=False
    )
    np.testing.assert_allclose(snap.snap_m, dist, atol=1e-6)
    # a repeated point gets exactly the snap of its first occurrence
    np.testing.assert_array_equal(snap.edge[400:-1], snap.edge[:400:3])
    np.testing.assert_array_equal(snap.along_u_m[400:-1], snap.along_u_m[:400:3])
    # with one sample looked at first, most points need the second look and the ball search
    few = gn.SegmentIndex(net, k=1).nearest(pts)
    np.testing.assert_allclose(few[1], snap.snap_m, atol=1e-9)
    # the input order does not matter
    perm = rng.permutation(len(pts))
    again = gn.snap_points(net, pts[perm])
    np.testing.assert_array_equal(again.edge, snap.edge[perm])
    np.testing.assert_array_equal(again.snap_m, snap.snap_m[perm])


def test_minicity_network() -> None:
    net = gn.network_from_centrelines(street_segments())
    assert (net.n_nodes, net.n_edges) == (100, 180)
    assert net.edge_length_m.sum() == pytest.approx(18_000, rel=1e-6)
    a = node_at(net, ORIGIN[0] + grid_xy(1, 1)[0], ORIGIN[1] + grid_xy(1, 1)[1])
    b = node_at(net, ORIGIN[0] + grid_xy(10, 10)[0], ORIGIN[1] + grid_xy(10, 10)[1])
    assert dijkstra(net.minutes, indices=a)[b] == pytest.approx(1800 / 75, rel=1e-6)


def test_cache_round_trip_and_invalidation(minicity_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = gn.load_network(minicity_dir, cache_dir=cache)
    files = list(cache.glob("network-*.npz"))
    assert len(files) == 1
    again = gn.load_network(minicity_dir, cache_dir=cache, speed_kmh=5.0)
    assert again.cache_key == first.cache_key and again.speed_kmh == 5.0
    assert (again.lengths != first.lengths).nnz == 0
    np.testing.assert_array_equal(again.node_xy, first.node_xy)
    assert again.report == first.report
    # a changed input file is rebuilt under another key
    copy = tmp_path / "data"
    shutil.copytree(minicity_dir, copy)
    streets = gpd.read_parquet(copy / "streets" / "malla_vial.parquet").iloc[:-1]
    streets.to_parquet(copy / "streets" / "malla_vial.parquet")
    changed = gn.load_network(copy, cache_dir=cache)
    assert changed.cache_key != first.cache_key and changed.n_edges == first.n_edges - 1
    assert len(list(cache.glob("network-*.npz"))) == 2


def test_load_network_errors(tmp_path: Path) -> None:
    with pytest.raises(DataDirError):
        gn.load_network(tmp_path, source="osm", cache_dir=tmp_path)
    with pytest.raises(DataDirError):
        gn.load_network(tmp_path, source=tmp_path / "nope.pbf", cache_dir=tmp_path)
    with pytest.raises(NetworkBuildError):
        gn.network_from_centrelines(gpd.GeoDataFrame(geometry=[LineString([(0, 0), (1, 1)])]))
