"""Tests of the residence clusters: planted concentrations, people counting, stability,
cluster descriptions and polygons that reveal no home."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from minicity import to_wgs
from pandas.testing import assert_series_equal

from geo_integration.clusters import (
    cluster_table,
    find_clusters,
    metric_xy,
    weighted_median_by,
)
from geo_integration.errors import AnalysisError, MissingColumnError

A, B = (800.0, 800.0), (2200.0, 2000.0)  # blob centres, grid metres


def _disc(rng: np.random.Generator, centre: tuple[float, float], radius: float, n: int):
    r = radius * np.sqrt(rng.random(n))
    a = rng.uniform(0, 2 * np.pi, n)
    return centre[0] + r * np.cos(a), centre[1] + r * np.sin(a)


def _frame(x: np.ndarray, y: np.ndarray, size: np.ndarray, blob: np.ndarray) -> pd.DataFrame:
    lon, lat = to_wgs(x, y)
    return pd.DataFrame(
        {
            "lon": lon,
            "lat": lat,
            "household_size": size.astype(int),
            "loc_code": np.where(x < 1500, "08", "11"),
            "upz_code": np.where(y < 1500, "UPZ1", "UPZ2"),
            "time_health": np.hypot(x, y) / 75.0,
            "blob": blob,
        },
        index=pd.Index(np.arange(5000, 5000 + len(x)), name="residence"),
    )


@pytest.fixture(scope="module")
def layout() -> pd.DataFrame:
    """300 scattered residences over 3 x 3 km, 150 within 80 m of A, 100 within 60 m of B."""
    rng = np.random.default_rng(42)
    bx, by = rng.uniform(0, 3000, 300), rng.uniform(0, 3000, 300)
    ax, ay = _disc(rng, A, 80, 150)
    cx, cy = _disc(rng, B, 60, 100)
    x = np.concatenate([bx, ax, cx])
    y = np.concatenate([by, ay, cy])
    size = np.concatenate([np.ones(300), rng.integers(1, 4, 250)])
    blob = np.array(["none"] * 300 + ["A"] * 150 + ["B"] * 100)
    return _frame(x, y, size, blob)


def _check_blobs(layout: pd.DataFrame, labels: pd.Series, *, noise: float = 0.9) -> None:
    assert labels.index.equals(layout.index)
    for name, expected in (("A", 0), ("B", 1)):  # A holds more people: numbered first
        lab = labels[layout["blob"] == name]
        assert (lab == expected).mean() >= 0.95
    assert (labels[layout["blob"] == "none"] == -1).mean() >= noise
    assert set(labels.unique()) <= {-1, 0, 1, 2}


def test_dbscan_finds_planted_blobs_with_relative_default(layout: pd.DataFrame) -> None:
    _check_blobs(layout, find_clusters(layout))


def test_dbscan_explicit_parameters(layout: pd.DataFrame) -> None:
    labels = find_clusters(layout, eps_m=150, min_samples=40, min_cluster_people=60)
    _check_blobs(layout, labels)
    assert labels.max() == 1


def test_hdbscan_finds_planted_blobs(layout: pd.DataFrame) -> None:
    labels = find_clusters(layout, method="hdbscan", min_samples=40, min_cluster_people=60)
    # HDBSCAN lets clusters absorb their sparser fringe: a third of the scatter here
    _check_blobs(layout, labels, noise=0.6)


@pytest.mark.parametrize("method", ["dbscan", "hdbscan"])
def test_labels_stable_under_row_reordering(layout: pd.DataFrame, method: str) -> None:
    kw = {"method": method, "min_samples": 40, "min_cluster_people": 60}
    base = find_clusters(layout, **kw)  # type: ignore[arg-type]
    for seed in (1, 2, 3):
        shuffled = layout.sample(frac=1.0, random_state=seed)
        again = find_clusters(shuffled, **kw)  # type: ignore[arg-type]
        assert again.index.equals(shuffled.index)
        pd.testing.assert_series_equal(again.sort_index(), base.sort_index())


def test_people_not_residences_are_counted() -> None:
    """5 homes of 10 people make a cluster at 50 people; 45 homes of 1 do not."""
    rng = np.random.default_rng(0)
    px, py = _disc(rng, (0.0, 0.0), 10, 5)
    qx, qy = _disc(rng, (2000.0, 0.0), 10, 45)
    frame = _frame(
        np.concatenate([px, qx]),
        np.concatenate([py, qy]),
        np.array([10] * 5 + [1] * 45),
        np.array(["P"] * 5 + ["Q"] * 45),
    )
    labels = find_clusters(frame, eps_m=100, min_samples=50, min_cluster_people=50)
    assert (labels[frame["blob"] == "P"] == 0).all()
    assert (labels[frame["blob"] == "Q"] == -1).all()


def _chain() -> pd.DataFrame:
    """Two dense discs of 200 homes joined by a 1-person-per-25 m line of homes: a bridge
    dense enough for DBSCAN at 8 people per 100 m, not at 16."""
    rng = np.random.default_rng(5)
    cx, cy = _disc(rng, (500.0, 512.5), 60, 200)
    dx, dy = _disc(rng, (1500.0, 512.5), 60, 200)
    bx = np.arange(587.5, 1415.0, 25.0)
    x = np.concatenate([cx, dx, bx])
    y = np.concatenate([cy, dy, np.full(len(bx), 512.5)])
    blob = np.array(["C"] * 200 + ["D"] * 200 + ["bridge"] * len(bx))
    return _frame(x, y, np.ones(len(x)), blob)


def test_a_chained_cluster_is_divided() -> None:
    chain = _chain()
    whole = find_clusters(chain, eps_m=100, min_samples=8, max_cluster_share=None)
    assert (whole == 0).all()
    labels = find_clusters(chain, eps_m=100, min_samples=8)  # default share 0.1
    c, d = labels[chain["blob"] == "C"], labels[chain["blob"] == "D"]
    assert c.nunique() == 1 and d.nunique() == 1
    assert {c.iloc[0], d.iloc[0]} == {0, 1}
    middle = chain[(chain["blob"] == "bridge")].iloc[8:-8].index
    assert (labels[middle] == -1).all()


def test_an_even_area_is_not_dissolved_into_its_densest_spots() -> None:
    """1,156 homes on a 30 m lattice over 1 km^2 with two dense spots of 60: at a doubled
    density only the spots remain, far less than half the people, so the area stays one
    cluster."""
    rng = np.random.default_rng(9)
    ux, uy = (g.ravel() for g in np.meshgrid(np.arange(34) * 30.0, np.arange(34) * 30.0))
    ax, ay = _disc(rng, (250.0, 250.0), 10, 60)
    bx, by = _disc(rng, (750.0, 750.0), 10, 60)
    x, y = np.concatenate([ux, ax, bx]), np.concatenate([uy, ay, by])
    frame = _frame(x, y, np.ones(len(x)), np.array(["even"] * len(ux) + ["spot"] * 120))
    labels = find_clusters(frame, eps_m=100, min_samples=25)
    assert (labels[frame["blob"] == "spot"] == 0).all()
    assert (labels == 0).mean() > 0.9


def test_a_dense_cluster_no_doubling_divides_stays_whole(layout: pd.DataFrame) -> None:
    """Blob A holds over a third of the people; every doubling keeps it one cluster."""
    kept = find_clusters(layout, min_samples=40)
    assert (kept[layout["blob"] == "A"] == 0).mean() >= 0.95
    assert_series_equal(kept, find_clusters(layout, min_samples=40, max_cluster_share=None))


def test_min_cluster_people_drops_small_clusters(layout: pd.DataFrame) -> None:
    people_b = layout.loc[layout["blob"] == "B", "household_size"].sum()
    labels = find_clusters(layout, min_samples=40, min_cluster_people=int(people_b) + 50)
    assert (labels[layout["blob"] == "B"] == -1).all()
    assert (labels[layout["blob"] == "A"] == 0).mean() >= 0.95


def test_rows_without_coordinates_are_noise(layout: pd.DataFrame) -> None:
    frame = layout.copy()
    first_a = frame.index[frame["blob"] == "A"][0]
    frame.loc[first_a, ["lon", "lat"]] = np.nan
    labels = find_clusters(frame, min_samples=40)
    assert labels[first_a] == -1
    assert (labels[frame["blob"] == "A"].drop(first_a) == 0).mean() >= 0.95


def test_bad_inputs(layout: pd.DataFrame) -> None:
    with pytest.raises(MissingColumnError):
        find_clusters(layout.drop(columns="household_size"))
    with pytest.raises(AnalysisError, match="method"):
        find_clusters(layout, method="kmeans")  # type: ignore[arg-type]
    bad = layout.copy()
    bad.loc[bad.index[3], "household_size"] = 0
    with pytest.raises(AnalysisError, match="household_size"):
        find_clusters(bad)
    with pytest.raises(AnalysisError, match="eps_m"):
        find_clusters(layout, eps_m=-5)
    with pytest.raises(AnalysisError, match="grid_m"):
        find_clusters(layout, eps_m=20, grid_m=25)
    with pytest.raises(AnalysisError, match="max_cluster_share"):
        find_clusters(layout, max_cluster_share=0)


def test_weighted_median_by_hand() -> None:
    groups = ["a", "a", "a", "a", "b", "b", "b"]
    values = [5.0, 20.0, np.inf, 12.0, 1.0, np.nan, 3.0]
    weights = [1, 2, 1, 1, 1, 5, 1]
    med = weighted_median_by(groups, values, weights)
    # a: sorted 5(1) 12(1) 20(2) inf(1), half of 5 = 2.5 reached at 20; b: NaN ignored -> 1
    assert med.to_dict() == {"a": 20.0, "b": 1.0}
    many_far = weighted_median_by(["c"] * 3, [np.inf, np.inf, 2.0], [1, 1, 1])
    assert many_far["c"] == np.inf


def test_cluster_table_numbers_by_hand() -> None:
    x = np.array([0.0, 20.0, 40.0, 10.0, 3000.0])
    y = np.array([0.0, 0.0, 10.0, 30.0, 3000.0])
    frame = _frame(x, y, np.array([1, 2, 1, 1, 4]), np.array(["c"] * 4 + ["far"]))
    frame["time_health"] = [5.0, 20.0, np.inf, 12.0, 1.0]
    frame["loc_code"] = ["08", "11", "11", "08", "19"]
    frame["upz_code"] = ["UPZ1", "UPZ1", "UPZ2", "UPZ1", "UPZ9"]
    labels = pd.Series([0, 0, 0, 0, -1], index=frame.index)
    table = cluster_table(frame, labels, thresholds_min=(10, 15, 30))
    assert len(table) == 1
    row = table.iloc[0]
    assert (row["cluster_id"], row["migrants"], row["residences"]) == (0, 5, 4)
    assert (row["loc_code"], row["loc_name"], row["loc_share"]) == ("11", "Suba", 0.6)
    assert (row["upz_code"], row["upz_share"]) == ("UPZ1", 0.8)
    assert row["median_time_health"] == 20.0
    assert row["share_beyond_10_health"] == pytest.approx(0.8)
    assert row["share_beyond_15_health"] == pytest.approx(0.6)
    assert row["share_beyond_30_health"] == pytest.approx(0.2)
    assert table.crs == "EPSG:4326"
    # a 40 m blob buffered by 150 m, simplified by 50 m: holds the 100 m buffer, within 200 m
    assert math.pi * 0.1**2 < row["area_km2"] < math.pi * 0.2**2


def test_polygons_reveal_no_residence(layout: pd.DataFrame) -> None:
    labels = find_clusters(layout, min_samples=40, min_cluster_people=60)
    table = cluster_table(layout, labels, buffer_m=150, simplify_m=50, snap_m=25)
    assert len(table) == 2
    x, y = metric_xy(layout)
    homes = shapely.points(np.column_stack([x, y]))
    lonlat = {(round(a, 9), round(b, 9)) for a, b in zip(layout["lon"], layout["lat"], strict=True)}
    metric = gpd.GeoSeries(table.geometry, crs=table.crs).to_crs("EPSG:9377")
    for cid, poly, poly_ll in zip(table["cluster_id"], metric, table.geometry, strict=True):
        members = homes[(labels == cid).to_numpy()]
        assert shapely.contains(poly, members).all()
        vertices = shapely.points(shapely.get_coordinates(poly))
        nearest = np.array([shapely.distance(v, members).min() for v in vertices])
        # every vertex lies on the buffer boundary: >= 150 - 25 / sqrt(2) m from any member
        assert nearest.min() >= 150 - 25 / math.sqrt(2) - 0.5
        # and no vertex coincides with any residence of the drop, in either CRS
        everyone = np.array([shapely.distance(v, homes).min() for v in vertices])
        assert everyone.min() > 1.0
        coords_ll = {(round(a, 9), round(b, 9)) for a, b in shapely.get_coordinates(poly_ll)}
        assert not coords_ll & lonlat


def test_polygon_parameters_have_privacy_floors(layout: pd.DataFrame) -> None:
    labels = find_clusters(layout, min_samples=40)
    with pytest.raises(AnalysisError, match="buffer_m"):
        cluster_table(layout, labels, buffer_m=20)
    with pytest.raises(AnalysisError, match="buffer_m"):
        cluster_table(layout, labels, simplify_m=10)
