"""Tests of the hot-spot kernels: Gi* / local Moran on H3 cells with FDR control."""

from __future__ import annotations

import h3
import numpy as np
import pandas as pd
import pytest
from gaps_synth import centre_cell, hex_patch

from geo_integration.errors import AnalysisError
from geo_integration.gaps import gap_index
from geo_integration.hotspots import (
    NOT_SIGNIFICANT,
    bh_adjust,
    getis_ord,
    hex_neighbours,
    local_moran,
    two_sided_pseudo_p,
)

PATCH = hex_patch(8)  # 217 cells
CELLS = pd.Series(PATCH, index=pd.RangeIndex(100, 100 + len(PATCH)))
CENTRE_ROW = 100 + PATCH.index(centre_cell())


def _planted(values_out: float, values_in: float, *, seed: int = 0) -> tuple[pd.Series, set[str]]:
    """Gamma noise everywhere, shifted by ``values_in - values_out`` in a 37-cell zone."""
    zone = set(h3.grid_disk(centre_cell(), 3))
    rng = np.random.default_rng(seed)
    y = rng.gamma(2.0, 0.5, len(PATCH)) + values_out
    inside = np.array([c in zone for c in PATCH])
    y[inside] += values_in - values_out
    return pd.Series(y, index=CELLS.index), zone


def test_bh_adjust_by_hand() -> None:
    # sorted p: .01 .03 .04 .2 (m = 4) -> p*m/rank: .04 .06 .0533 .2 -> running min from the top
    q = bh_adjust([0.01, 0.04, 0.03, 0.2, np.nan])
    np.testing.assert_allclose(q[:4], [0.04, 0.16 / 3, 0.16 / 3, 0.2])
    assert np.isnan(q[4])


def test_bh_adjust_agrees_with_esda_fdr_cutoff() -> None:
    from esda import fdr

    p = np.random.default_rng(3).uniform(0, 0.2, 60) ** 2
    for alpha in (0.01, 0.05, 0.1):
        cutoff = fdr(p, alpha)
        assert ((bh_adjust(p) <= alpha) == (p <= cutoff)).all()


def test_two_sided_pseudo_p_by_hand() -> None:
    sims = np.arange(1.0, 10.0)  # R = 9
    p = two_sided_pseudo_p([5.0, 10.0, 0.0, 9.0], np.tile(sims, (4, 1)))
    # 5: 5 draws >= and 5 <= -> 1; 10: up (0+1)/10, p = .2; 0: down (0+1)/10; 9: up 2/10
    np.testing.assert_allclose(p, [1.0, 0.2, 0.2, 0.4])


def test_hex_neighbours_ring_counts_and_island() -> None:
    patch = hex_patch(1)
    far = h3.grid_ring(centre_cell(), 5)[0]
    nb = hex_neighbours([*patch, far])
    centre = patch.index(centre_cell())
    assert len(nb[centre]) == 6
    assert sorted(len(nb[i]) for i in range(7) if i != centre) == [3] * 6
    assert nb[7] == []
    with pytest.raises(AnalysisError, match="unique"):
        hex_neighbours([patch[0], patch[0]])


def test_planted_hot_spot_found_at_95() -> None:
    values, zone = _planted(0.0, 4.0)
    out = getis_ord(values, CELLS, seed=7)
    assert out.index.equals(values.index)
    centre = CENTRE_ROW
    assert out.loc[centre, "gi_class"] in ("hot_95", "hot_99")
    hot = out["gi_class"].str.startswith("hot")
    assert CELLS[hot].isin(zone | {n for c in zone for n in h3.grid_disk(c, 1)}).all()
    # cold spots may appear elsewhere (the zone lifts the city mean), never in the zone
    assert not CELLS[out["gi_class"].str.startswith("cold")].isin(zone).any()


def test_planted_cold_spot_found() -> None:
    values, _zone = _planted(4.0, 0.0)
    out = getis_ord(values, CELLS, seed=7)
    centre = CENTRE_ROW
    assert out.loc[centre, "gi_class"] in ("cold_95", "cold_99")
    assert out.loc[centre, "gi_z"] < 0


def test_calibration_random_layout_over_fixed_seeds() -> None:
    """Spatially random gap values: after FDR, (almost) no seed shows a significant cell.

    Under the global null, BH at level q bounds the chance of any rejection by q, so at the
    90 % level we expect about 2 of 20 seeds with a significant cell (Binomial(20, 0.1)) and
    at 95 % about 1. We assert at most 4 and 2: a correct procedure exceeds these with
    probability below 5 % and 8 %, while skipping the FDR step (about 22 raw p < 0.10 per
    seed) puts a significant cell in every seed.
    """
    any_90 = any_95 = 0
    for seed in range(20):
        rng = np.random.default_rng(1000 + seed)
        migrants = rng.integers(1, 60, len(PATCH)).astype(float)
        beyond = rng.binomial(migrants.astype(int), 0.3).astype(float)
        gap = gap_index(beyond, migrants, rng.gamma(2.0, 1.0, len(PATCH)))
        out = getis_ord(pd.Series(gap, index=CELLS.index), CELLS, seed=seed)
        any_90 += bool((out["gi_class"] != NOT_SIGNIFICANT).any())
        any_95 += bool(out["gi_class"].isin(["hot_95", "hot_99", "cold_95", "cold_99"]).any())
    assert any_90 <= 4
    assert any_95 <= 2


def test_reproducible_and_global_random_state_untouched() -> None:
    values, _zone = _planted(0.0, 2.0, seed=4)
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    a = getis_ord(values, CELLS, seed=11, permutations=199)
    assert (np.random.get_state()[1] == before).all()
    b = getis_ord(values, CELLS, seed=11, permutations=199)
    pd.testing.assert_frame_equal(a, b)
    c = getis_ord(values, CELLS, seed=12, permutations=199)
    assert not np.array_equal(a["gi_p"].to_numpy(), c["gi_p"].to_numpy())


def test_island_is_not_tested() -> None:
    far = h3.grid_ring(centre_cell(), 12)[0]
    cells = pd.Series([*PATCH, far])
    values, _zone = _planted(0.0, 4.0)
    y = pd.Series([*values.to_numpy(), 50.0])
    out = getis_ord(y, cells, seed=1, permutations=199)
    assert np.isnan(out["gi_p"].iloc[-1])
    assert out["gi_class"].iloc[-1] == NOT_SIGNIFICANT
    assert out["gi_p"].iloc[:-1].notna().all()


def test_constant_values_give_no_significance() -> None:
    out = getis_ord(pd.Series(np.ones(len(PATCH))), pd.Series(PATCH), seed=1)
    assert (out["gi_class"] == NOT_SIGNIFICANT).all()
    lisa = local_moran(pd.Series(np.zeros(len(PATCH))), pd.Series(PATCH), seed=1)
    assert (lisa["lisa_class"] == NOT_SIGNIFICANT).all()


def test_bad_inputs() -> None:
    with pytest.raises(AnalysisError, match="non-negative"):
        getis_ord(pd.Series(-np.ones(len(PATCH))), pd.Series(PATCH))
    with pytest.raises(AnalysisError, match="finite"):
        getis_ord(pd.Series([np.nan] * len(PATCH)), pd.Series(PATCH))
    with pytest.raises(AnalysisError, match="index"):
        getis_ord(pd.Series(np.ones(3)), pd.Series(PATCH[:3], index=[5, 6, 7]))


def test_local_moran_quadrants() -> None:
    high, _zone = _planted(0.0, 4.0)
    out = local_moran(high, CELLS, seed=3)
    centre = CENTRE_ROW
    assert out.loc[centre, "lisa_class"] == "HH"
    low, _zone = _planted(4.0, 0.0)
    assert local_moran(low, CELLS, seed=3).loc[centre, "lisa_class"] == "LL"
    assert set(out["lisa_class"]) <= {"HH", "LL", "HL", "LH", NOT_SIGNIFICANT}
    sig = out["lisa_class"] != NOT_SIGNIFICANT
    assert (out.loc[sig, "lisa_q"] <= 0.05).all()
