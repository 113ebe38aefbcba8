"""A scenario's coverage (geo.scenario.evaluate) equals ``compute_coverage`` on the scenario's
stations, exactly, after every action kind, whether reached incrementally or by a fresh pass; on the
real Shanghai and Changsha walk networks with seeded stations and demand."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

from geo.coverage import CoverageResult, compute_coverage
from geo.network import Network
from geo.scenario.evaluate import ScenarioEvaluator
from geo.scenario.plan import Scenario, apply_actions, make_action


def _inputs(net: Network, seed: int) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    rng = np.random.default_rng(seed)
    big = np.flatnonzero(net.component == np.argmax(net.component_sizes))
    pick = rng.choice(big, 10, replace=False)
    base = gpd.GeoDataFrame(
        {
            "station_id": [str(100 + i) for i in range(10)],
            "name": [f"站{i}" for i in range(10)],
            "kind": "union_station",
            "status": ["open"] * 9 + ["planned"],
            "amenities": [[]] * 10,
            "opening_hours": None,
        },
        geometry=[Point(x + 2e-4, y - 1e-4) for x, y in zip(net.lon[pick], net.lat[pick], strict=True)],
        crs="EPSG:4326",
    )
    near = rng.choice(big, 400)
    demand = gpd.GeoDataFrame(
        {
            "demand_id": [f"d{i}" for i in range(400)],
            "group": rng.choice(["delivery_rider", "courier"], 400),
            "weight": rng.integers(1, 6, 400).astype(float),
        },
        geometry=[
            Point(x, y)
            for x, y in zip(
                net.lon[near] + rng.normal(0, 4e-4, 400),
                net.lat[near] + rng.normal(0, 4e-4, 400),
                strict=True,
            )
        ],
        crs="EPSG:4326",
    )
    x0, y0, x1, y1 = demand.total_bounds
    xm = (x0 + x1) / 2
    areas = gpd.GeoDataFrame(
        {"area_code": ["A", "B"], "area_name": ["西", "东"]},
        geometry=[box(x0, y0, xm, y1), box(xm, y0, x1, y1)],
        crs="EPSG:4326",
    )
    return base, demand, areas


def _assert_same(ours: CoverageResult, ref: CoverageResult) -> None:
    assert ours.summary.as_dict() == ref.summary.as_dict()
    pd.testing.assert_frame_equal(ours.by_area, ref.by_area)
    pd.testing.assert_frame_equal(ours.by_group, ref.by_group)
    for column in ("nearest_station", "minutes", "covered", "snapped", "area_code"):
        if column not in ref.demand:
            assert column not in ours.demand
            continue
        pd.testing.assert_series_equal(ours.demand[column], ref.demand[column])
    np.testing.assert_array_equal(ours.node_station, ref.node_station)
    np.testing.assert_array_equal(ours.node_minutes, ref.node_minutes)


@pytest.mark.parametrize("city", ["shanghai_walk", "changsha_walk"])
def test_every_action_kind_equals_compute_coverage(city: str, request: pytest.FixtureRequest) -> None:
    net: Network = request.getfixturevalue(city)
    base, demand, areas = _inputs(net, 5)
    rng = np.random.default_rng(9)
    big = np.flatnonzero(net.component == np.argmax(net.component_sizes))
    evaluator = ScenarioEvaluator(net, base, demand, minutes=10, areas=areas)
    scn = Scenario(name="扩面")
    result, step = evaluator.evaluate(scn)
    assert not step.incremental
    kinds = ["add", "close", "relocate", "hours", "amenities", "add", "close", "relocate", "close", "add"]
    for i, kind in enumerate(kinds):
        p = int(rng.choice(big))
        sid = str(100 + i % 10)
        if kind == "add":
            action = make_action("add", lon=net.lon[p], lat=net.lat[p])
        elif kind == "relocate":
            action = make_action("relocate", station_id=sid, lon=net.lon[p], lat=net.lat[p])
        elif kind == "hours":
            action = make_action("hours", station_id=sid, opening_hours="Mo-Su 08:00-22:00")
        elif kind == "amenities":
            action = make_action("amenities", station_id=sid, amenities=["toilet"])
        else:
            action = make_action("close", station_id=sid)
        scn = scn.with_action(action)
        result, step = evaluator.evaluate(scn)
        assert step.incremental and step.actions_applied == 1
        if kind in ("hours", "amenities"):
            assert step.labels_processed == 0  # the open set did not change: no search
        ref = compute_coverage(net, apply_actions(base, scn), demand, minutes=10, areas=areas)
        _assert_same(result, ref)
        fresh, fresh_step = ScenarioEvaluator(net, base, demand, minutes=10, areas=areas).evaluate(scn)
        assert not fresh_step.incremental
        _assert_same(result, fresh)


def test_a_changed_prefix_gets_a_full_pass(changsha_walk: Network) -> None:
    net = changsha_walk
    base, demand, _ = _inputs(net, 3)
    evaluator = ScenarioEvaluator(net, base, demand, minutes=5)
    one = Scenario(name="a").with_action(make_action("close", station_id="100"))
    evaluator.evaluate(one)
    other = Scenario(name="a").with_action(make_action("close", station_id="101"))
    result, step = evaluator.evaluate(other)
    assert not step.incremental
    _assert_same(result, compute_coverage(net, apply_actions(base, other), demand, minutes=5))


def test_a_refused_action_leaves_the_labels_intact(shanghai_walk: Network) -> None:
    """An action on a station the base lacks fails, and leaves no half-applied labels behind."""
    from geo.errors import NotFoundError

    net = shanghai_walk
    base, demand, _ = _inputs(net, 8)
    evaluator = ScenarioEvaluator(net, base, demand, minutes=5)
    scn = Scenario(name="a").with_action(make_action("close", station_id="100"))
    evaluator.evaluate(scn)
    with pytest.raises(NotFoundError):
        evaluator.evaluate(scn.with_action(make_action("close", station_id="nope")))
    good = scn.with_action(make_action("close", station_id="101"))
    result, step = evaluator.evaluate(good)
    assert step.incremental  # the failed one was refused before any label changed
    _assert_same(result, compute_coverage(net, apply_actions(base, good), demand, minutes=5))
