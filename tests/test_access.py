"""Accessibility kernels: times, catchments, coverage, 2SFCA / E2SFCA (by hand, PySAL, networkx)."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from geo_integration import access as ga
from geo_integration.errors import AnalysisError
from geo_integration.network import symmetric_min_csr


def grid_csr(k: int = 3, minutes: float = 1.0) -> sp.csr_array:
    """k x k grid, node id = row * k + col, every edge ``minutes`` long."""
    u, v = [], []
    for r in range(k):
        for c in range(k):
            if c + 1 < k:
                u.append(r * k + c)
                v.append(r * k + c + 1)
            if r + 1 < k:
                u.append(r * k + c)
                v.append((r + 1) * k + c)
    return symmetric_min_csr(u, v, np.full(len(u), minutes), k * k)


def test_node_and_nearest_times_by_hand() -> None:
    g = grid_csr()
    # sources at the two opposite corners 0 and 8: node 4 (centre) is 2 from each
    t = ga.node_times(g, [0, 8])
    assert t.tolist() == [0, 1, 2, 1, 2, 1, 2, 1, 0]
    # a source entering at edge (0, 1) 0.25 from node 0 and 0.75 from node 1, plus 0.5 snap
    t = ga.node_times(g, [[0, 1]], source_cost=[[0.75, 1.25]])
    assert t[0] == 0.75 and t[1] == 1.25 and t[8] == pytest.approx(4.25)
    # targets on edges, with their own entry costs
    got = ga.nearest_times(g, [0], [[4, 5], [8, 8]], target_cost=[[0.5, 0.1], [0.0, 0.0]])
    assert got.tolist() == [2.5, 4.0]
    assert ga.nearest_times(g, [0], [8], limit=3).tolist() == [np.inf]
    assert np.isinf(ga.node_times(g, np.zeros(0, dtype=int))).all()


def test_point_entry_validation() -> None:
    g = grid_csr()
    with pytest.raises(AnalysisError):
        ga.node_times(g, [99])
    with pytest.raises(AnalysisError):
        ga.node_times(g, [[0, 1]], source_cost=[[-1.0, 0.0]])


def test_same_edge_walk_is_direct() -> None:
    # target at 20 m along edge 7, service at 60 m on the same edge; snaps 5 m and 10 m
    got = ga.same_edge_times(
        [7, 3, -1], [20.0, 0, 0], [5.0, 0, 0], [7], [60.0], [10.0], metres_per_min=75
    )
    assert got[0] == pytest.approx((40 + 5 + 10) / 75)
    assert np.isinf(got[1:]).all()
    # every pair on a shared edge: two services on edge 7, one on edge 3, one off the network
    s, t, minutes = ga.same_edge_pairs(
        [7, 3, -1, 7],
        [20.0, 10.0, 0.0, 90.0],
        [5.0, 0.0, 0.0, 0.0],
        [3, 7, -1, 7],
        [40.0, 60.0, 0.0, 0.0],
        [1.0, 10.0, 0.0, 0.0],
        metres_per_min=75,
    )
    got_pairs = {(int(a), int(b)): float(m) * 75 for a, b, m in zip(s, t, minutes, strict=True)}
    assert got_pairs == pytest.approx(
        {(1, 0): 55.0, (3, 0): 25.0, (0, 1): 31.0, (1, 3): 40.0, (3, 3): 90.0}
    )


def test_nearest_times_equal_networkx_on_random_graphs() -> None:
    rng = np.random.default_rng(11)
    for _trial in range(5):
        g = nx.gnm_random_graph(60, 140, seed=int(rng.integers(1_000_000)))
        for a, b in g.edges:
            g[a][b]["w"] = float(rng.uniform(0.1, 5.0))
        u, v = zip(*g.edges, strict=True)
        w = [g[a][b]["w"] for a, b in g.edges]
        mat = symmetric_min_csr(u, v, w, 60)
        sources = rng.choice(60, 4, replace=False)
        ours = ga.node_times(mat, sources)
        ref = nx.multi_source_dijkstra_path_length(g, set(sources.tolist()), weight="w")
        expect = np.array([ref.get(i, np.inf) for i in range(60)])
        np.testing.assert_array_equal(ours, expect)
        # catchments: per facility, the networkx way with a cutoff
        costs = ga.catchment_costs(mat, sources, np.arange(60), limit=6.0, chunk=3)
        for row, s in enumerate(sources.tolist()):
            one = nx.single_source_dijkstra_path_length(g, s, cutoff=6.0, weight="w")
            got = dict(zip(costs[[row]].indices.tolist(), costs[[row]].data.tolist(), strict=True))
            assert got.keys() == one.keys()
            assert all(got[k] == pytest.approx(one[k], abs=1e-12) for k in one)


def test_catchment_costs_with_edge_entries_match_brute_force() -> None:
    rng = np.random.default_rng(5)
    g = grid_csr(6, minutes=2.0)
    fac = rng.integers(0, 36, (7, 2))
    fac_c = rng.uniform(0, 2, (7, 2))
    dem = rng.integers(0, 36, (40, 2))
    dem_c = rng.uniform(0, 2, (40, 2))
    costs = ga.catchment_costs(
        g, fac, dem, facility_cost=fac_c, demand_cost=dem_c, limit=7.0, chunk=2
    )
    full = np.full((7, 40), np.inf)
    for j in range(7):
        t = ga.node_times(g, fac[j : j + 1], source_cost=fac_c[j : j + 1])
        full[j] = np.min(t[dem] + dem_c, axis=1)
    dense = np.full((7, 40), np.inf)
    coo = costs.tocoo()
    dense[coo.row, coo.col] = coo.data
    full[full > 7.0] = np.inf
    np.testing.assert_allclose(dense, full)


def test_catchment_access_by_hand_with_a_direct_walk() -> None:
    # a street 0-1-2-3 of 5-minute blocks; the service at node 0 has 10 places
    line = symmetric_min_csr([0, 1, 2], [1, 2, 3], [5.0, 5.0, 5.0], 4)
    steps = ga.step_weights(((10, 1.0), (20, 0.5), (30, 0.1)))
    plain = ga.decay_weights("none", catchment=30)
    # 2 people at node 1 (5 min, weight 1), 4 at node 3 (15 min, weight 0.5): R = 10 / 4
    (acc, ratio), (acc2, _r) = ga.catchment_access(
        line, [0], [1, 3], [2.0, 4.0], [10.0], [steps, plain], limit=30
    )
    np.testing.assert_allclose(ratio, [2.5])
    np.testing.assert_allclose(acc, [2.5, 1.25])
    np.testing.assert_allclose(acc2, [10 / 6, 10 / 6])
    # a direct walk of 8 minutes to the second point (same street): now weight 1 too
    (acc, ratio), _ = ga.catchment_access(
        line, [0], [1, 3], [2.0, 4.0], [10.0], [steps, plain], limit=30, direct=([0], [1], [8.0])
    )
    np.testing.assert_allclose(acc, [10 / 6, 10 / 6])
    # a longer direct walk changes nothing; beyond the limit the point is out of reach
    (acc, _r), _ = ga.catchment_access(
        line, [0], [1, 3], [2.0, 4.0], [10.0], [steps, plain], limit=12, direct=([0], [1], [20.0])
    )
    np.testing.assert_allclose(acc, [5.0, 0.0])
    with pytest.raises(AnalysisError):
        ga.catchment_access(line, [0], [1, 3], [2.0], [10.0], [steps])
    with pytest.raises(AnalysisError):
        ga.catchment_access(line, [0], [1, 3], [2.0, 4.0], [10.0], [steps], chunk=0)
    with pytest.raises(AnalysisError, match="node_xy"):
        ga.catchment_access(
            line, [0], [1, 3], [2.0, 4.0], [10.0], [steps], node_xy=np.zeros((3, 2))
        )


@pytest.mark.parametrize(("chunk", "by_position"), [(1, False), (4, False), (4, True), (100, True)])
def test_catchment_access_equals_the_cost_matrix_way(chunk: int, by_position: bool) -> None:
    rng = np.random.default_rng(chunk)
    # node coordinates only group the facilities: any, even meaningless, give the same
    node_xy = rng.uniform(0, 1000, (68, 2)) if by_position else None
    g = grid_csr(8, minutes=1.5)
    g = sp.block_diag([g, grid_csr(2)], format="csr")  # a second, unreachable piece
    n_fac, n_dem = 25, 300
    fac = rng.integers(0, 64, (n_fac, 2))
    fac_c = rng.uniform(0, 2, (n_fac, 2))
    fac[5], fac_c[5] = fac[3], fac_c[3]  # two services at one place: searched once
    dem = rng.integers(0, 64, (n_dem, 2))
    dem[-10:] = rng.integers(64, 68, (10, 2))  # nobody can reach these
    dem_c = rng.uniform(0, 2, (n_dem, 2))
    demand = rng.integers(0, 5, n_dem).astype(float)
    supply = rng.uniform(1, 50, n_fac)
    direct = (rng.integers(0, n_fac, 80), rng.integers(0, n_dem - 10, 80), rng.uniform(0, 14, 80))
    fns = [
        ga.decay_weights("step", catchment=9.0),
        ga.decay_weights("gaussian", catchment=9.0, sigma=4.0),
        ga.decay_weights("none", catchment=9.0),
    ]
    got = ga.catchment_access(
        g,
        fac,
        dem,
        demand,
        supply,
        fns,
        facility_cost=fac_c,
        demand_cost=dem_c,
        limit=9.0,
        direct=direct,
        chunk=chunk,
        node_xy=node_xy,
    )
    costs = ga.catchment_costs(
        g, fac, dem, facility_cost=fac_c, demand_cost=dem_c, limit=9.0, chunk=chunk, node_xy=node_xy
    )
    costs = ga.with_direct_pairs(costs, *direct, limit=9.0)
    for fn, (acc, ratio) in zip(fns, got, strict=True):
        ref_acc, ref_ratio = ga.fca_ratio(costs, demand, supply, fn)
        np.testing.assert_allclose(acc, ref_acc, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(ratio, ref_ratio, rtol=1e-12, atol=1e-15)
    assert (got[0][0][:-10] > 0).any() and (got[0][0][-10:] == 0).all()


def test_coverage_counts_and_shares_by_hand() -> None:
    minutes = [5.0, 10.0, 12.0, 40.0, np.inf, 15.0]
    people = [1, 2, 3, 4, 5, 6]
    out = ga.coverage(minutes, people, (10, 15, 30), groups=["a", "a", "a", "b", "b", "b"])
    assert out.loc["a", "within_10"] == 3 and out.loc["a", "within_15"] == 6
    assert out.loc["b", "within_15"] == 6 and out.loc["b", "within_30"] == 6
    assert out.loc["b", "share_within_30"] == pytest.approx(6 / 15)
    total = ga.coverage(minutes, people, (7.5,))
    assert total["within_7.5"].iloc[0] == 1 and total["people"].iloc[0] == 21


def test_step_weights_zones_inclusive_at_top() -> None:
    fn = ga.step_weights()
    got = fn(np.array([0.0, 10.0, 10.01, 20.0, 29.9, 30.0, 30.01]))
    assert got.tolist() == [1.0, 1.0, 0.68, 0.68, 0.22, 0.22, 0.0]
    assert ga.decay_weights("step", catchment=15)(np.array([5.0, 6.0])).tolist() == [1.0, 0.68]
    with pytest.raises(AnalysisError):
        ga.decay_weights("cubic", catchment=30)


SMALL_COSTS = pd.DataFrame(
    {
        "origin": ["r1", "r1", "r2", "r2", "r3", "r3", "r4"],
        "dest": ["f1", "f2", "f1", "f2", "f1", "f2", "f2"],
        "cost": [5.0, 25.0, 12.0, 8.0, 29.0, 18.0, 31.0],
    }
)
DEMAND = pd.DataFrame({"geoid": ["r1", "r2", "r3", "r4"], "pop": [100.0, 50.0, 30.0, 20.0]})
SUPPLY = pd.DataFrame({"geoid": ["f1", "f2"], "cap": [10.0, 4.0]})


def small_matrix() -> sp.csr_array:
    r = SMALL_COSTS["origin"].map({"r1": 0, "r2": 1, "r3": 2, "r4": 3}).to_numpy()
    f = SMALL_COSTS["dest"].map({"f1": 0, "f2": 1}).to_numpy()
    keep = SMALL_COSTS["cost"].to_numpy() <= 30
    return sp.csr_array((SMALL_COSTS["cost"].to_numpy()[keep], (f[keep], r[keep])), shape=(2, 4))


def test_two_step_fca_by_hand() -> None:
    got = ga.two_step_fca(small_matrix(), DEMAND["pop"], SUPPLY["cap"], catchment=30)
    r1 = 10 / (100 + 50 + 30)  # f1 serves r1, r2, r3
    r2 = 4 / (100 + 50 + 30)  # f2 serves r1, r2, r3 (r4 is 31 minutes away)
    np.testing.assert_allclose(got, [r1 + r2, r1 + r2, r1 + r2, 0.0])
    got = ga.two_step_fca(small_matrix(), DEMAND["pop"], SUPPLY["cap"], catchment=10)
    np.testing.assert_allclose(got, [10 / 100, 4 / 50, 0, 0])


def _pysal(method: str, weight_fn: object, max_cost: float) -> pd.Series:
    from access import Access

    acc = Access(
        demand_df=DEMAND,
        demand_index="geoid",
        demand_value="pop",
        supply_df=SUPPLY,
        supply_index="geoid",
        supply_value="cap",
        cost_df=SMALL_COSTS,
        cost_origin="origin",
        cost_dest="dest",
        cost_name="cost",
    )
    fn = getattr(acc, method)
    out = fn(name="x", max_cost=max_cost, weight_fn=weight_fn)
    return out["x_cap"].reindex(DEMAND["geoid"]).fillna(0.0)


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")
@pytest.mark.filterwarnings("ignore:The inplace keyword")
def test_e2sfca_and_2sfca_agree_with_pysal_access() -> None:
    from access import weights

    demand, supply = DEMAND["pop"].to_numpy(), SUPPLY["cap"].to_numpy()
    steps = weights.step_fn({10: 1, 20: 0.68, 30: 0.22})
    ref = _pysal("enhanced_two_stage_fca", steps, 30)
    np.testing.assert_allclose(ga.e2sfca(small_matrix(), demand, supply), ref.to_numpy())
    ref = _pysal("enhanced_two_stage_fca", weights.gaussian(12), 30)
    got = ga.e2sfca(small_matrix(), demand, supply, decay="gaussian", sigma=12)
    np.testing.assert_allclose(got, ref.to_numpy())
    ref = _pysal("two_stage_fca", None, 30)
    np.testing.assert_allclose(ga.two_step_fca(small_matrix(), demand, supply), ref.to_numpy())


def test_fca_ratio_checks_shapes_and_zero_demand() -> None:
    costs = small_matrix()
    with pytest.raises(AnalysisError):
        ga.fca_ratio(costs, [1.0, 2.0], [1.0, 1.0], ga.step_weights())
    access, ratio = ga.fca_ratio(costs, np.zeros(4), [1.0, 1.0], ga.step_weights())
    assert ratio.tolist() == [0.0, 0.0] and access.tolist() == [0.0] * 4
