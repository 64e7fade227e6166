"""Tests of the gap analysis: EB smoothing, gap index, planted hot spot, rankings, candidate
areas and the privacy of written layers."""

from __future__ import annotations

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pytest
from gaps_synth import centre_cell, hex_patch, hex_table, residences_in_cells
from hypothesis import given, settings
from hypothesis import strategies as st

from geo_integration.config import Settings
from geo_integration.errors import AnalysisError, MissingColumnError, PrivacyError
from geo_integration.gaps import (
    FORBIDDEN,
    GapsResult,
    eb_smooth,
    find_gaps,
    gap_index,
    percentile_rank,
)
from geo_integration.hotspots import NOT_SIGNIFICANT

PATCH = hex_patch(8)  # 217 cells
PLANTED = sorted(h3.grid_ring(centre_cell(), 4))[0]  # centre of the under-served zone
ZONE = set(h3.grid_disk(PLANTED, 3))  # 37 cells
SMALL = sorted(h3.grid_ring(centre_cell(), 8))[5]  # a cell with 2 residents only
SETTINGS = Settings()


def _health(cell: str, rng: np.random.Generator, n: int) -> np.ndarray:
    if cell in ZONE:
        return rng.uniform(20, 40, n)
    far = rng.random(n) < 0.15
    return np.where(far, rng.uniform(16, 30, n), rng.uniform(3, 14, n))


def _school(cell: str, rng: np.random.Generator, n: int) -> np.ndarray:
    del cell
    return np.where(rng.random(n) < 0.2, rng.uniform(16, 45, n), rng.uniform(2, 14, n))


def _inputs() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    counts = dict.fromkeys(PATCH, 6)
    counts[PLANTED] = 60  # a dense concentration inside the under-served zone
    residences = residences_in_cells(counts, {"health": _health, "school": _school}, seed=5)
    small = residences.index[residences["h3_cell"] == SMALL]
    residences = residences.drop(small[2:])
    residences.loc[small[:2], "household_size"] = 1
    rank = {c: i for i, c in enumerate(PATCH)}
    hexes = hex_table(
        residences,
        {
            "health": lambda c: 0.05 if c in ZONE else 1.0 + (rank[c] % 7) / 7,
            "school": lambda c: 1.0 + (rank[c] % 5) / 5,
        },
    )
    return residences, hexes


@pytest.fixture(scope="module")
def inputs() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    return _inputs()


@pytest.fixture(scope="module")
def result(inputs: tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]) -> GapsResult:
    residences, hexes = inputs
    return find_gaps(residences, hexes, settings=SETTINGS, min_cluster_people=40)


# --- Empirical Bayes, percentile, gap index ----------------------------------------------


def test_eb_smooth_by_hand_three_cells() -> None:
    # r = .5 .5 0, m = 6/20 = .3, s2 = 1.2/20 - .3/(20/3) = .015,
    # w = .015/(.015+.15), .015/(.015+.03), .015/(.015+.0375)
    smoothed = eb_smooth([1, 5, 0], [2, 10, 8])
    w = np.array([0.015 / 0.165, 1 / 3, 0.015 / 0.0525])
    expected = w * np.array([0.5, 0.5, 0.0]) + (1 - w) * 0.3
    np.testing.assert_allclose(smoothed, expected)
    np.testing.assert_allclose(smoothed, [0.318181818, 0.366666667, 0.214285714], rtol=1e-8)


def test_eb_smooth_matches_esda_when_variance_positive() -> None:
    from esda.smoothing import Empirical_Bayes

    rng = np.random.default_rng(2)
    b = rng.integers(1, 200, 40).astype(float)
    e = np.floor(b * rng.beta(0.5, 0.8, 40))
    np.testing.assert_allclose(eb_smooth(e, b), Empirical_Bayes(e, b).r.ravel())


def test_eb_smooth_clips_negative_variance_to_the_mean() -> None:
    # equal raw rates: the prior variance estimate is negative -> everything at the mean
    np.testing.assert_allclose(eb_smooth([1, 2, 4], [10, 20, 40]), [0.1, 0.1, 0.1])
    np.testing.assert_allclose(eb_smooth([0, 0], [3, 5]), [0.0, 0.0])
    with pytest.raises(AnalysisError, match="population"):
        eb_smooth([0, 1], [0, 2])
    with pytest.raises(AnalysisError, match="events"):
        eb_smooth([3, 1], [2, 2])


def test_percentile_rank_by_hand() -> None:
    # average ranks 4, 1, 2.5, 2.5 of 4 -> (rank - .5) / 4; NaN ranks lowest
    np.testing.assert_allclose(percentile_rank([3, 1, 2, 2]), [0.875, 0.125, 0.5, 0.5])
    np.testing.assert_allclose(percentile_rank([np.nan, 0.0, 1.0]), [1 / 6, 0.5, 5 / 6])


@st.composite
def _tables(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    n = draw(st.integers(2, 25))
    migrants = np.array(draw(st.lists(st.integers(1, 5000), min_size=n, max_size=n)), float)
    frac = np.array(draw(st.lists(st.floats(0, 1), min_size=n, max_size=n)))
    beyond = np.floor(migrants * frac)
    e2 = np.array(draw(st.lists(st.floats(0, 10), min_size=n, max_size=n)))
    return migrants, beyond, e2, draw(st.integers(0, n - 1)), draw(st.integers(1, 3000))


@settings(max_examples=200, deadline=None)
@given(_tables())
def test_gap_index_is_monotone(table: tuple[np.ndarray, np.ndarray, np.ndarray, int, int]) -> None:
    migrants, beyond, e2, i, d = table
    base = gap_index(beyond, migrants, e2)[i]
    more_far = beyond.copy()
    more_far[i] = min(migrants[i], beyond[i] + d)
    assert gap_index(more_far, migrants, e2)[i] >= base - 1e-12
    more_people = migrants.copy()
    more_people[i] += d
    more_far = beyond.copy()
    more_far[i] += d  # d more people, all of them far away
    assert gap_index(more_far, more_people, e2)[i] >= base - 1e-12
    more_supply = e2.copy()
    more_supply[i] += d / 100
    assert gap_index(beyond, migrants, more_supply)[i] <= base + 1e-12
    assert (gap_index(np.zeros_like(beyond), migrants, e2) == 0).all()


# --- find_gaps on the planted layout ------------------------------------------------------


def test_planted_underserved_zone_is_hot_at_95(result: GapsResult) -> None:
    hexes = result.hexagons.set_index("h3_cell")
    assert hexes.loc[PLANTED, "gi_class_health"] in ("hot_95", "hot_99")
    assert hexes.loc[PLANTED, "gi_class_all"] in ("hot_95", "hot_99", "hot_90")
    assert hexes.loc[PLANTED, "lisa_class_health"] == "HH"
    hot = hexes.index[hexes["gi_class_health"].str.startswith("hot")]
    near = ZONE | {n for c in ZONE for n in h3.grid_disk(c, 1)}
    assert set(hot) <= near
    assert len(set(hot) & ZONE) >= 15
    # the school times were drawn without any spatial pattern
    assert not hexes["gi_class_school"].isin(["hot_95", "hot_99"]).any()


def test_result_aligned_to_inputs(
    inputs: tuple[gpd.GeoDataFrame, gpd.GeoDataFrame], result: GapsResult
) -> None:
    residences, hexes = inputs
    assert result.hexagons.index.equals(hexes.index)
    pd.testing.assert_frame_equal(
        pd.DataFrame(result.hexagons[hexes.columns.drop("geometry")]),
        pd.DataFrame(hexes.drop(columns="geometry")),
    )
    assert result.residence_cluster.index.equals(residences.index)
    assert result.hexagons.crs == "EPSG:4326"


def test_gap_columns_follow_the_formula(result: GapsResult) -> None:
    h = result.hexagons
    np.testing.assert_array_equal(h["beyond_15_health"], h["migrants"] - h["within_15_health"])
    np.testing.assert_array_equal(h["beyond_30_school"], h["migrants"] - h["within_30_school"])
    eb = eb_smooth(h["beyond_15_health"], h["migrants"])
    np.testing.assert_allclose(h["eb_share_beyond_15_health"], eb)
    expected = eb * np.log1p(h["migrants"]) * (1 - percentile_rank(h["e2sfca_health"]))
    np.testing.assert_allclose(h["gap_health"], expected)
    np.testing.assert_allclose(h["gap_all"], (h["gap_health"] + h["gap_school"]) / 2)
    assert set(h["gi_class_health"]) <= {
        "hot_99", "hot_95", "hot_90", "cold_99", "cold_95", "cold_90", NOT_SIGNIFICANT,
    }  # fmt: skip
    assert {"gi_z_all", "gi_p_all", "gi_q_all", "lisa_p_all", "lisa_q_all"} <= set(h.columns)


def test_locality_ranking_order_and_numbers(
    inputs: tuple[gpd.GeoDataFrame, gpd.GeoDataFrame], result: GapsResult
) -> None:
    residences, _hexes = inputs
    ranks = result.rank_localities
    assert list(ranks["rank"]) == list(range(1, len(ranks) + 1))
    assert ranks["gap_all"].is_monotonic_decreasing
    zone_loc = residences.loc[residences["h3_cell"] == PLANTED, "loc_code"].mode()[0]
    assert ranks["loc_code"].iloc[0] == zone_loc
    row = ranks.set_index("loc_code").loc[zone_loc]
    mine = residences[residences["loc_code"] == zone_loc]
    size = mine["household_size"]
    assert row["migrants"] == size.sum()
    assert row["residences"] == len(mine)
    assert row["beyond_15_health"] == size[mine["time_health"] > 15].sum()
    assert row["share_beyond_15_health"] == pytest.approx(row["beyond_15_health"] / size.sum())
    gap = mine["h3_cell"].map(result.hexagons.set_index("h3_cell")["gap_all"])
    assert row["gap_all"] == pytest.approx((gap * size).sum() / size.sum())
    assert row["hot_cells_health"] >= 1
    assert row["loc_name"] in ("Kennedy", "Suba")


def test_upz_ranking(result: GapsResult) -> None:
    ranks = result.rank_upz
    assert set(ranks["upz_code"]) == {"UPZ1", "UPZ2", "UPZ3", "UPZ4"}
    assert ranks["gap_all"].is_monotonic_decreasing
    assert ranks.loc[ranks["upz_code"] == "UPZ1", "loc_code"].item() == "08"
    assert (
        ranks["hot_cells_health"].sum()
        == result.hexagons["gi_class_health"].isin(["hot_95", "hot_99"]).sum()
    )


def test_clusters_and_candidate_areas(result: GapsResult) -> None:
    clusters = result.clusters
    assert len(clusters) >= 1
    top = clusters.iloc[0]
    members = result.residence_cluster == top["cluster_id"]
    assert members.sum() >= 50
    assert bool(top["underserved_health"])
    assert top["share_beyond_15_health"] == 1.0
    cands = result.candidate_areas
    assert set(cands["kind"]) == {"hotspot_cell", "cluster"}
    health = cands[cands["service_type"] == "health"]
    assert PLANTED in set(health["h3_cell"])
    assert health["gi_class"].dropna().isin(["hot_95", "hot_99"]).all()
    row = health[health["kind"] == "cluster"].iloc[0]
    assert row["cluster_id"] == top["cluster_id"]
    assert top.geometry.contains(row.geometry)
    hot_row = health[health["h3_cell"] == PLANTED].iloc[0]
    assert h3.latlng_to_cell(hot_row.geometry.y, hot_row.geometry.x, 9) == PLANTED
    assert (cands.geom_type == "Point").all()


def test_written_layers_are_suppressed_and_aggregate(
    inputs: tuple[gpd.GeoDataFrame, gpd.GeoDataFrame], result: GapsResult, tmp_path
) -> None:
    residences, _hexes = inputs
    written = result.write(tmp_path)
    names = {"clusters", "gap_hexagons", "rank_localities", "rank_upz", "candidate_areas"}
    assert set(written) == {f"{n}.{x}" for n in names for x in ("parquet", "csv")} | {
        "gaps_parameters.json"
    }
    hexes = gpd.read_parquet(tmp_path / "gap_hexagons.parquet")
    # the small hexagon is left out entirely (a blank row would still place a few migrants)
    assert SMALL in set(result.hexagons["h3_cell"])
    assert SMALL not in set(hexes["h3_cell"])
    assert not hexes["suppressed"].any()
    assert not hexes["migrants"].isna().any()
    assert (hexes["migrants"] >= SETTINGS.privacy_k).all()
    text = "".join(p.read_text() for p in tmp_path.glob("*.csv"))
    for lon, lat in zip(residences["lon"][:200], residences["lat"][:200], strict=True):
        assert repr(float(lon)) not in text and repr(float(lat)) not in text
    for name in names:
        cols = set(pd.read_csv(tmp_path / f"{name}.csv", nrows=1).columns)
        assert not cols & set(FORBIDDEN)
        assert len(pd.read_parquet(tmp_path / f"{name}.parquet")) < len(residences)


def test_small_clusters_are_not_published(result: GapsResult) -> None:
    clusters = result.clusters.copy()
    clusters.loc[clusters.index[0], "migrants"] = SETTINGS.privacy_k - 1
    cands = result.candidate_areas.copy()
    first = cands["cluster_id"] == clusters["cluster_id"].iloc[0]
    cands.loc[first, "migrants"] = SETTINGS.privacy_k - 1
    shrunk = GapsResult(
        clusters=clusters,
        hexagons=result.hexagons,
        rank_localities=result.rank_localities,
        rank_upz=result.rank_upz,
        candidate_areas=cands,
        residence_cluster=result.residence_cluster,
        parameters=result.parameters,
    )
    layers = shrunk.published()
    assert clusters["cluster_id"].iloc[0] not in set(layers["clusters"]["cluster_id"])
    assert not (layers["candidate_areas"]["cluster_id"] == clusters["cluster_id"].iloc[0]).any()
    leaky = GapsResult(**{**shrunk.__dict__, "rank_upz": result.rank_upz.assign(lon=1.0)})
    with pytest.raises(PrivacyError, match="lon"):
        leaky.published()


def test_reproducible_and_type_subset(
    inputs: tuple[gpd.GeoDataFrame, gpd.GeoDataFrame], result: GapsResult
) -> None:
    residences, hexes = inputs
    again = find_gaps(residences, hexes, settings=SETTINGS, min_cluster_people=40)
    pd.testing.assert_frame_equal(again.hexagons, result.hexagons)
    pd.testing.assert_frame_equal(again.rank_upz, result.rank_upz)
    pd.testing.assert_series_equal(again.residence_cluster, result.residence_cluster)
    school = find_gaps(
        residences, hexes, settings=SETTINGS, service_types=["school"], permutations=199
    )
    assert not any("health" in c for c in school.hexagons.columns.difference(hexes.columns))
    np.testing.assert_allclose(school.hexagons["gap_all"], school.hexagons["gap_school"])
    assert (school.hexagons["gi_class_all"] == school.hexagons["gi_class_school"]).all()


def test_bad_inputs(inputs: tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]) -> None:
    residences, hexes = inputs
    with pytest.raises(MissingColumnError, match="within_30_health"):
        find_gaps(residences, hexes.drop(columns="within_30_health"), settings=SETTINGS)
    with pytest.raises(MissingColumnError, match="h3_cell"):
        find_gaps(residences.drop(columns="h3_cell"), hexes, settings=SETTINGS)
    with pytest.raises(AnalysisError, match="main threshold"):
        find_gaps(residences, hexes, settings=SETTINGS, main_threshold_min=20)
    with pytest.raises(AnalysisError, match="no service type"):
        find_gaps(residences.drop(columns=["time_health", "time_school"]), hexes)
    dup = pd.concat([hexes, hexes.iloc[:1]])
    with pytest.raises(AnalysisError, match="duplicate"):
        find_gaps(residences, dup, settings=SETTINGS)
