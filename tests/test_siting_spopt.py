"""Equal objectives to PySAL spopt (a test-only dependency) on small shared instances.

spopt models existing services as predefined facilities that count towards ``p``; here they
are summarised per demand unit by ``existing_time``. spopt solves through pulp: with pulp's
in-process HiGHS when available, else CBC.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from geo_integration.siting_models import SitingProblem, solve_model

pulp = pytest.importorskip("pulp")
spopt_locate = pytest.importorskip("spopt.locate")


def pulp_solver():  # type: ignore[no-untyped-def]
    if "HiGHS" in pulp.listSolvers(onlyAvailable=True):
        return pulp.HiGHS(msg=False)
    return pulp.PULP_CBC_CMD(msg=False)


def shared(seed: int, n_d: int = 25, n_c: int = 10, n_e: int = 2) -> dict:
    rng = np.random.default_rng(seed)
    dem = rng.uniform(0, 10, (n_d, 2))
    fac = rng.uniform(0, 10, (n_c + n_e, 2))  # candidates first, then existing
    cost = np.linalg.norm(dem[:, None] - fac[None], axis=2)
    weights = rng.integers(1, 40, n_d).astype(float)
    predefined = np.r_[np.zeros(n_c), np.ones(n_e)].astype(int)
    ours = SitingProblem.from_cost_matrix(
        cost[:, :n_c],
        weights,
        existing_time=cost[:, n_c:].min(axis=1),
        cutoff=float(cost.max()) + 1,
    )
    return {"cost": cost, "weights": weights, "pre": predefined, "n_e": n_e, "ours": ours}


@pytest.fixture(autouse=True)
def _quiet() -> None:
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mclp_equals_spopt(seed: int) -> None:
    d = shared(seed)
    p, t = 3, 2.5
    model = spopt_locate.MCLP.from_cost_matrix(
        d["cost"], d["weights"], service_radius=t, p_facilities=p + d["n_e"],
        predefined_facilities_arr=d["pre"],
    )  # fmt: skip
    model.solve(pulp_solver())
    ours = solve_model(d["ours"], model="mclp", p=p, threshold=t)
    assert ours.objective == pytest.approx(model.problem.objective.value())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pmedian_equals_spopt(seed: int) -> None:
    d = shared(seed)
    p = 2
    model = spopt_locate.PMedian.from_cost_matrix(
        d["cost"], d["weights"], p_facilities=p + d["n_e"], predefined_facilities_arr=d["pre"]
    )
    model.solve(pulp_solver())
    ours = solve_model(d["ours"], model="pmedian", p=p, k_nearest=3)
    assert ours.objective == pytest.approx(model.problem.objective.value(), rel=1e-7)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lscp_equals_spopt(seed: int) -> None:
    d = shared(seed)
    t = max(2.5, float(d["cost"].min(axis=1).max()))  # every unit coverable
    model = spopt_locate.LSCP.from_cost_matrix(
        d["cost"], service_radius=t, predefined_facilities_arr=d["pre"]
    )
    model.solve(pulp_solver())
    ours = solve_model(d["ours"], model="lscp", threshold=t)
    assert ours.status == "optimal"
    assert ours.objective + d["n_e"] == pytest.approx(model.problem.objective.value())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pcenter_equals_spopt(seed: int) -> None:
    d = shared(seed, n_d=15, n_c=8)
    p = 2
    model = spopt_locate.PCenter.from_cost_matrix(
        d["cost"], p_facilities=p + d["n_e"], predefined_facilities_arr=d["pre"]
    )
    model.solve(pulp_solver())
    ours = solve_model(d["ours"], model="pcenter", p=p, threshold=None)
    assert ours.objective == pytest.approx(model.problem.objective.value())
