"""Robustness of siting: bootstrap and jitter of residences, selection frequencies."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geo_integration.errors import AnalysisError, MissingColumnError
from geo_integration.siting import solve_siting
from geo_integration.siting_models import SitingProblem
from geo_integration.siting_robust import DEFAULT_JITTER_M, jitter_offsets, robustness

SPEED = 75.0  # metres per minute (4.5 km/h)
CANDIDATES = np.array([[500.0, 500.0], [4500.0, 4500.0], [2600.0, 2400.0], [4400.0, 600.0]])
CANDIDATE_IDS = ["dense", "second", "middle", "empty"]


def residences(seed: int = 0) -> pd.DataFrame:
    """A dense cluster near 'dense', a smaller one near 'second', some scatter."""
    rng = np.random.default_rng(seed)
    parts = [
        rng.normal(500, 150, (300, 2)),
        rng.normal(4500, 200, (120, 2)),
        rng.uniform(0, 5000, (60, 2)),
    ]
    xy = np.vstack(parts)
    levels = rng.choice(list(DEFAULT_JITTER_M), len(xy), p=[0.5, 0.2, 0.15, 0.1, 0.05])
    return pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "match_level": levels})


def euclidean_factory(table: pd.DataFrame) -> SitingProblem:
    """Aggregate residences to 500 m squares (weighted centroid), Euclidean walking minutes."""
    key = (
        (table["x"] // 500).astype(int).astype(str)
        + "_"
        + (table["y"] // 500).astype(int).astype(str)
    )
    units = table.groupby(key).agg(x=("x", "mean"), y=("y", "mean"), migrants=("x", "size"))
    xy = units[["x", "y"]].to_numpy()
    minutes = np.linalg.norm(xy[:, None] - CANDIDATES[None], axis=2) * 1.25 / SPEED
    minutes[minutes > 30] = np.inf
    return SitingProblem.from_cost_matrix(
        minutes,
        units["migrants"].to_numpy(),
        candidate_ids=CANDIDATE_IDS,
        demand_ids=units.index.to_numpy(),
        cutoff=30,
    )


def run(seed: int, **kw: object):  # type: ignore[no-untyped-def]
    return robustness(
        euclidean_factory,
        residences(),
        model="mclp",
        p=2,
        threshold=10.0,
        replicates=8,
        seed=seed,
        **kw,  # type: ignore[arg-type]
    )


def test_frequencies_are_shares_and_sum_to_p() -> None:
    result = run(1)
    freq = result.frequency["selection_frequency"]
    assert ((freq >= 0) & (freq <= 1)).all()
    assert result.frequency["times_selected"].sum() == 8 * 2
    assert freq["dense"] == 1.0  # the dense cluster is always served
    assert result.replicates == 8
    assert np.isfinite(result.objectives).all()
    assert result.summary()["replicates"] == 8


def test_same_seed_same_frequencies() -> None:
    first, second = run(3), run(3)
    pd.testing.assert_frame_equal(first.frequency, second.frequency)
    assert np.array_equal(first.objectives, second.objectives)


def test_threads_do_not_change_the_result() -> None:
    serial, threaded = run(4, workers=1), run(4, workers=3)
    pd.testing.assert_frame_equal(serial.frequency, threaded.frequency)
    assert np.array_equal(serial.objectives, threaded.objectives)
    assert serial.statuses == threaded.statuses


def test_jitter_only_and_greedy_method() -> None:
    result = run(2, bootstrap=False, method="greedy")
    assert result.statuses == ["greedy"] * 8
    assert result.frequency["times_selected"].sum() == 16


def test_jitter_offsets_have_the_level_error_as_rms() -> None:
    rng = np.random.default_rng(0)
    dx, dy = jitter_offsets(np.array(["area"] * 20000), rng=rng)
    rms = float(np.sqrt(np.mean(dx**2 + dy**2)))
    assert rms == pytest.approx(DEFAULT_JITTER_M["area"], rel=0.03)
    dx, dy = jitter_offsets(pd.Series(["exact", None]), rng=rng)
    assert dx[1] == 0 and dy[1] == 0  # missing level: not moved


def test_unknown_level_and_bad_inputs() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(AnalysisError, match="unknown match level"):
        jitter_offsets(np.array(["rooftop"]), rng=rng)
    with pytest.raises(MissingColumnError):
        robustness(euclidean_factory, pd.DataFrame({"x": [1.0]}), p=1)
    with pytest.raises(AnalysisError, match="bootstrap=True or jitter=True"):
        robustness(euclidean_factory, residences(), p=1, bootstrap=False, jitter=False)


def test_result_takes_selection_frequencies() -> None:
    robust = run(4)
    result = solve_siting(euclidean_factory(residences()), model="mclp", p=2, threshold=10.0)
    filled = result.with_robustness(robust)
    assert filled.sites["selection_frequency"].between(0, 1).all()
    dense = filled.sites.set_index("candidate_id").loc["dense", "selection_frequency"]
    assert dense == 1.0
    assert filled.summary["robustness"]["replicates"] == 8
    assert result.sites["selection_frequency"].isna().all()  # the original is unchanged
