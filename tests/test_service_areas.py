"""Service areas: reachable streets widened into polygons (mini city, known distances)."""

from __future__ import annotations

import numpy as np
import pytest
from minicity import ORIGIN, grid_xy, street_segments
from shapely.geometry import Point

from geo_integration.access import node_times
from geo_integration.errors import AnalysisError
from geo_integration.network import network_from_centrelines
from geo_integration.service_areas import StreetSamples, reachable_mask, service_area, service_areas


def metric(calle: float, carrera: float) -> Point:
    x, y = grid_xy(calle, carrera)
    return Point(ORIGIN[0] + x, ORIGIN[1] + y)


def test_samples_positions_follow_edges() -> None:
    net = network_from_centrelines(street_segments())
    samp = StreetSamples.of(net, spacing_m=10)
    assert samp.along_m.min() == 0 and samp.along_m.max() == pytest.approx(100)
    per_edge = np.bincount(samp.edge)
    assert per_edge.min() >= 11 and per_edge.max() <= 12  # 100 m every 10 m, ends included
    with pytest.raises(AnalysisError):
        StreetSamples.of(net, spacing_m=0)


def test_area_of_a_corner_service_known_by_hand() -> None:
    net = network_from_centrelines(street_segments())
    here = metric(5, 5)
    node = int(np.argmin(np.hypot(*(net.node_xy - [here.x, here.y]).T)))
    t = node_times(net.minutes, [node])
    samp = StreetSamples.of(net, spacing_m=10)
    mask = reachable_mask(net, samp, t, 150 / 75)  # 150 m of walking
    d = np.hypot(*(samp.xy - [here.x, here.y]).T)
    # on a grid, the network distance from a corner is the Manhattan distance
    manhattan = np.abs(samp.xy - [here.x, here.y]).sum(axis=1)
    assert mask[manhattan <= 149.9].all() and not mask[manhattan > 150.1].any()
    assert (d[mask] <= 150.1).all()
    (area,) = service_areas(net, t, [150 / 75], samples=samp, buffer_m=30, cell_m=10)
    assert area.contains(metric(5, 6.4))  # 140 m along Calle 5
    assert area.contains(Point(here.x + 20, here.y + 20))  # within the 30 m widening
    assert not area.contains(metric(6, 6))  # 200 m by the streets
    assert not area.contains(metric(5, 7))


def test_service_on_mid_block_reaches_its_own_street() -> None:
    net = network_from_centrelines(street_segments())
    t = np.full(net.n_nodes, np.inf)  # no corner within reach: only the service's street
    samp = StreetSamples.of(net, spacing_m=10)
    edge = int(np.argmin([g.distance(metric(5, 5.5)) for g in net.edge_geometry]))
    mask = reachable_mask(
        net, samp, t, 20 / 75, sources=(np.array([edge]), np.array([50.0]), np.array([0.0]))
    )
    assert mask.sum() == 5  # samples at 30, 40, 50, 60, 70 m
    assert service_area(np.zeros((0, 2))) is None


@pytest.mark.parametrize("radius", [0.5, 1.0, 2.0, 2.5, 3.7])
def test_disc_minimum_is_the_dilation_of_every_level(radius: float) -> None:
    from scipy import ndimage

    from geo_integration.service_areas import _disc_min

    rng = np.random.default_rng(int(radius * 10))
    grid = rng.integers(0, 4, (37, 53)).astype(np.uint8)
    grid[rng.uniform(size=grid.shape) < 0.9] = 4  # mostly out of reach
    got = _disc_min(grid, radius, 4)
    k = int(np.ceil(radius))
    yy, xx = np.mgrid[-k : k + 1, -k : k + 1]
    disc = (xx * xx + yy * yy) <= radius * radius + 0.25
    for level in range(4):
        expected = ndimage.binary_dilation(grid <= level, structure=disc)
        np.testing.assert_array_equal(got <= level, expected)


def test_areas_of_several_thresholds_are_nested_and_in_input_order() -> None:
    net = network_from_centrelines(street_segments())
    here = metric(5, 5)
    node = int(np.argmin(np.hypot(*(net.node_xy - [here.x, here.y]).T)))
    t = node_times(net.minutes, [node])
    big, small, none = service_areas(net, t, [400 / 75, 150 / 75, 0.0], buffer_m=30, cell_m=10)
    assert none is None or none.area < small.area
    assert small.area < big.area
    assert small.difference(big).area < 0.01 * small.area  # simplification aside, nested
    assert big.contains(metric(5, 8.5)) and not small.contains(metric(5, 8.5))
