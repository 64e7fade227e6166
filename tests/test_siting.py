"""solve_siting on the mini city (answers known by hand), the result object and its files.

Mini city: streets every 100 m, so walking distance between corners is the Manhattan
distance; at 4.5 km/h (75 m/min) one block takes 4/3 minutes (8 minutes = 6 blocks, 4 minutes
= 3 blocks). Migrants live at corners (calle, carrera): (2, 2) 30, (2, 8) 20, (8, 2) 25,
(8, 8) 10 and (4, 5) 5; 90 in all. The existing service is at (1, 1): 2 blocks from (2, 2),
8 from (2, 8) and (8, 2), 14 from (8, 8), 7 from (4, 5). Candidates: K28, K82, K88 at those
corners and K55 at the centre (5, 5). Localities (quadrants): (2, 2) and (4, 5) in '19',
(2, 8) in '08', (8, 2) in '17', (8, 8) in '11'.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from minicity import BLOCK, point_at

from geo_integration.areas import assign_areas
from geo_integration.errors import AnalysisError
from geo_integration.loaders import load_localities
from geo_integration.siting import SitingResult, solve_siting
from geo_integration.siting_models import SitingProblem

SPEED = 75.0
HOMES = {(2, 2): 30.0, (2, 8): 20.0, (8, 2): 25.0, (8, 8): 10.0, (4, 5): 5.0}
CANDIDATES = {"K28": (2, 8), "K82": (8, 2), "K88": (8, 8), "K55": (5, 5)}


def walk(a: tuple[int, int], b: tuple[int, int]) -> float:
    return (abs(a[0] - b[0]) + abs(a[1] - b[1])) * BLOCK / SPEED


@pytest.fixture(scope="module")
def minicity_problem(minicity_dir: Path) -> SitingProblem:
    homes = list(HOMES)
    points = gpd.GeoSeries([point_at(*h) for h in homes], crs="EPSG:4326")
    groups = assign_areas(points, load_localities(minicity_dir))["loc_code"].tolist()
    cost = np.array([[walk(h, c) for c in CANDIDATES.values()] for h in homes])
    cand_points = [point_at(*c) for c in CANDIDATES.values()]
    return SitingProblem.from_cost_matrix(
        cost,
        list(HOMES.values()),
        existing_time=[walk(h, (1, 1)) for h in homes],
        candidate_ids=list(CANDIDATES),
        demand_ids=[f"n{h[0]}_{h[1]}" for h in homes],
        demand_groups=groups,
        candidate_lon=[p.x for p in cand_points],
        candidate_lat=[p.y for p in cand_points],
        candidate_names=[f"Esquina {c}" for c in CANDIDATES.values()],
        cutoff=30,
    )


def test_mclp_by_hand(minicity_problem: SitingProblem) -> None:
    # within 6 blocks the centre reaches (2, 8), (8, 2), (8, 8) and (4, 5): 60 new migrants;
    # K88 misses (4, 5) (7 blocks): 55
    wide = solve_siting(minicity_problem, model="mclp", p=1, threshold=8.0)
    assert wide.chosen_ids == ["K55"]
    assert wide.summary["covered_before"] == 30.0
    assert wide.summary["objective"] == 90.0
    assert wide.sites["marginal_gain"].tolist() == [60.0]
    # within 3 blocks each corner site reaches only its own corner; K82 has the most (25)
    narrow = solve_siting(minicity_problem, model="mclp", p=1, threshold=4.0)
    assert narrow.chosen_ids == ["K82"]
    assert narrow.summary["objective"] == 55.0
    assert narrow.explain() == ["site 1 (K82) adds 25 migrants within 4 minutes"]


def test_pmedian_by_hand(minicity_problem: SitingProblem) -> None:
    # in blocks: before 30*2 + 20*8 + 25*8 + 10*14 + 5*7 = 595; K82 saves 25*8 + 10*8 = 280
    # (K28 saves 250, K88 230, K55 200); one block = 4/3 minutes
    result = solve_siting(minicity_problem, model="pmedian", p=1, threshold=8.0)
    assert result.chosen_ids == ["K82"]
    assert result.summary["baseline_objective"] == pytest.approx(595 * 4 / 3)
    assert result.summary["objective"] == pytest.approx(315 * 4 / 3)
    assert result.sites["marginal_gain"].iloc[0] == pytest.approx(280 * 4 / 3)
    assert result.summary["gain_unit"] == "migrant_minutes"
    assert result.summary["mean_time_after"] == pytest.approx(315 * 4 / 3 / 90)


def test_result_fields(minicity_problem: SitingProblem) -> None:
    result = solve_siting(minicity_problem, model="mclp", p=2, threshold=8.0)
    assert isinstance(result, SitingResult)
    assert list(result.sites.columns) == [
        "candidate_id", "name", "rank", "marginal_gain", "newly_covered",
        "migrants_served", "selection_frequency", "lon", "lat",
    ]  # fmt: skip
    assert result.sites["rank"].tolist() == [1, 2]
    assert result.sites["name"].iloc[0] == "Esquina (5, 5)"
    for key in (
        "model", "p", "threshold_min", "status", "objective", "bound", "mip_gap",
        "solve_time_s", "greedy_objective", "greedy_shortfall", "covered_before",
        "covered_after", "share_before", "share_after", "time_limit_s", "solver",
    ):  # fmt: skip
        assert key in result.summary
    assert result.summary["status"] == "optimal"
    assert result.summary["mip_gap"] <= 1e-6
    assert result.summary["migrants_unreached_before"] == 0.0  # everything within 30 min
    cov = result.coverage.set_index("loc_code")
    assert cov["migrants"].to_dict() == {"08": 20, "11": 10, "17": 25, "19": 35, "all": 90}
    assert cov.loc["all", "covered_after"] == result.summary["objective"]
    assert cov.loc["19", "covered_before"] == 30.0
    assert len(result.demand) == 5


def test_lscp_and_equity_models_run(minicity_problem: SitingProblem) -> None:
    lscp = solve_siting(minicity_problem, model="lscp", p=None, threshold=8.0)
    assert lscp.chosen_ids == ["K55"]  # one site reaches everybody within 6 blocks
    assert lscp.summary["share_after"] == 1.0
    # within 1 minute a site reaches only its own corner; (2, 2) and (4, 5) stay out
    infeasible = solve_siting(minicity_problem, model="lscp", p=None, threshold=1.0)
    assert infeasible.summary["status"] == "target_infeasible"
    assert infeasible.summary["details"]["reachable_share"] == pytest.approx(55 / 90)
    assert sorted(infeasible.chosen_ids) == ["K28", "K82", "K88"]
    center = solve_siting(minicity_problem, model="pcenter", p=1, threshold=8.0)
    assert center.chosen_ids == ["K55"]
    assert center.summary["objective"] == pytest.approx(8.0)  # 6 blocks, K88 would leave 7
    # beyond 3 blocks before: '17' 25, '08' 20, '11' 10, '19' 5; K82 brings the worst to 20
    minmax = solve_siting(minicity_problem, model="minmax_beyond", p=1, threshold=4.0)
    assert minmax.chosen_ids == ["K82"]
    assert minmax.summary["objective"] == 20.0
    assert minmax.summary["details"]["worst_group"] == "08"


def test_written_files_respect_privacy(minicity_problem: SitingProblem, tmp_path: Path) -> None:
    result = solve_siting(minicity_problem, model="mclp", p=1, threshold=8.0)
    paths = result.write(tmp_path / "out", privacy_k=15)
    names = sorted(p.name for p in paths.values())
    assert names == [
        "coverage_by_locality.csv",
        "greedy_sites.csv",
        "sites.csv",
        "sites.geojson",
        "summary.json",
    ]
    coverage = pd.read_csv(paths["coverage_csv"], dtype={"loc_code": str})
    small = coverage[coverage["migrants"].isna()]
    assert small["suppressed"].all()
    assert len(small) == 1  # the locality with 10 migrants (< 15)
    assert coverage.loc[~coverage["suppressed"], "migrants"].min() >= 15
    for path in paths.values():
        text = path.read_text(encoding="utf-8")
        assert "n2_8" not in text and "demand_id" not in text  # no demand-unit rows
    geo = json.loads(paths["sites_geojson"].read_text())
    feature = geo["features"][0]
    assert feature["geometry"]["type"] == "Point"
    assert feature["properties"]["candidate_id"] == "K55"
    assert feature["properties"]["name"] == "Esquina (5, 5)"
    assert feature["geometry"]["coordinates"][0] == pytest.approx(point_at(5, 5).x)
    summary = json.loads(paths["summary_json"].read_text())
    assert summary["status"] == "optimal"
    assert summary["privacy_k"] == 15


def test_small_sites_are_suppressed(minicity_problem: SitingProblem, tmp_path: Path) -> None:
    # K82 becomes the nearest service of (8, 2) and (8, 8): 35 migrants
    result = solve_siting(minicity_problem, model="mclp", p=1, threshold=4.0)
    assert result.sites["migrants_served"].tolist() == [35.0]
    sites = pd.read_csv(result.write(tmp_path / "a", privacy_k=40)["sites_csv"])
    assert sites["suppressed"].tolist() == [True]
    assert sites[["marginal_gain", "newly_covered", "migrants_served"]].isna().all().all()
    assert sites["candidate_id"].tolist() == ["K82"]
    sites = pd.read_csv(result.write(tmp_path / "b", privacy_k=10)["sites_csv"])
    assert sites["suppressed"].tolist() == [False]
    assert sites["marginal_gain"].tolist() == [25.0]


def test_bad_options(minicity_problem: SitingProblem) -> None:
    with pytest.raises(AnalysisError, match="capacities apply to the mclp"):
        solve_siting(minicity_problem, model="pmedian", p=1, capacity=True)
    with pytest.raises(AnalysisError, match="unknown model"):
        solve_siting(minicity_problem, model="maxcover", p=1)


def test_unreached_migrants_are_counted() -> None:
    # unit 1 (6 migrants) is reached by nothing within the 15-minute cutoff
    cost = np.array([[3.0], [np.inf]])
    prob = SitingProblem.from_cost_matrix(cost, [4.0, 6.0], cutoff=15)
    result = solve_siting(prob, model="pmedian", p=1, threshold=15)
    assert result.summary["migrants_unreached_before"] == 10.0
    assert result.summary["migrants_unreached_after"] == 6.0
    assert result.summary["objective"] == pytest.approx(4 * 3.0 + 6 * 15.0)
    assert result.summary["covered_after"] == 4.0
