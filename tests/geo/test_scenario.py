"""Scenarios: actions validated and applied to a base without mutating it, and two plans compared per
area and per group, checked against an independent pandas computation, on Shanghai and Changsha."""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box
from sqlalchemy.orm import Session

from geo.coverage import compute_coverage, select_stations
from geo.crs import wgs84_to_gcj02
from geo.demand import demand_from_network
from geo.errors import InputError, NotFoundError
from geo.network import Network
from geo.scenario.compare import compare_results
from geo.scenario.plan import Scenario, apply_actions, make_action


def _base(net: Network, n: int = 4) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(2)
    nodes = rng.choice(np.flatnonzero(net.component == 0), size=n, replace=False)
    return gpd.GeoDataFrame({
        "station_id": [str(100 + i) for i in range(n)], "name": [f"站{i}" for i in range(n)],
        "kind": "union_station", "status": "open", "amenities": [["drinking_water", "toilet"]] * n,
        "opening_hours": "Mo-Su 08:00-20:00",
    }, geometry=gpd.points_from_xy(net.lon[nodes], net.lat[nodes]), crs="EPSG:4326")


def _areas(net: Network) -> gpd.GeoDataFrame:
    lon0, lat0, lon1, lat1 = net.lon.min(), net.lat.min(), net.lon.max(), net.lat.max()
    mid = (lat0 + lat1) / 2
    return gpd.GeoDataFrame({"area_code": ["S", "N"], "area_name": ["南片", "北片"], "level": "township"},
                            geometry=[box(lon0, lat0 - 1, lon1, mid), box(lon0, mid, lon1, lat1 + 1)],
                            crs="EPSG:4326")


def _plan(net: Network, base: gpd.GeoDataFrame) -> Scenario:
    far = int(np.argmax(np.hypot(net.lon - base.geometry.x.mean(), net.lat - base.geometry.y.mean())))
    glon, glat = wgs84_to_gcj02(float(net.lon[far]), float(net.lat[far]))
    plan = Scenario("扩面方案")
    plan = plan.with_action(make_action("add", lon=glon, lat=glat, crs="gcj02", name="新站", cost=80000,
                                        phase=1, year=2027))
    plan = plan.with_action(make_action("close", station_id="101", cost=0, phase=1, year=2027))
    mid = int(np.flatnonzero(net.component == 0)[len(net.lon) // 3])
    plan = plan.with_action(make_action("relocate", station_id="102", lon=net.lon[mid], lat=net.lat[mid],
                                        cost=20000, phase=2, year=2028))
    plan = plan.with_action(make_action("hours", station_id="103", opening_hours="Mo-Su 00:00-24:00",
                                        phase=2, year=2028))
    return plan.with_action(make_action("amenities", station_id="100", amenities=["饮水"], phase=2))


@pytest.mark.parametrize("city", ["shanghai_walk", "changsha_walk"])
def test_actions_apply_in_order_without_touching_the_base(city: str, request: pytest.FixtureRequest) -> None:
    net: Network = request.getfixturevalue(city)
    base = _base(net)
    snapshot = base.copy()
    plan = _plan(net, base)
    out = apply_actions(base, plan)
    pd.testing.assert_frame_equal(base, snapshot)
    assert [a.seq for a in plan.actions] == [1, 2, 3, 4, 5]
    by_id = out.set_index("station_id")
    assert by_id.loc["101", "status"] == "closed"
    assert by_id.loc["103", "opening_hours"] == "24/7"  # normalised by geo.hours
    assert by_id.loc["100", "amenities"] == ["drinking_water"]  # 饮水, resolved by the catalog
    added = by_id.loc["扩面方案:1"]
    far = plan.actions[0]
    assert added["status"] == "open" and added["source_crs"] == "gcj02"
    assert abs(added.geometry.x - far.lon) < 1e-9  # stored WGS-84, converted from the GCJ-02 input
    assert plan.total_cost == 100000
    phases = plan.cost_by_phase()
    assert phases["cost"].tolist() == [80000, 20000, 0] and phases["actions"].tolist() == [2, 2, 1]
    night = select_stations(out, open_at=dt.datetime(2027, 1, 5, 23, 0))
    assert night["station_id"].tolist() == ["103"]


@pytest.mark.parametrize("city", ["shanghai_walk", "changsha_walk"])
def test_comparison_equals_pandas(city: str, request: pytest.FixtureRequest) -> None:
    net: Network = request.getfixturevalue(city)
    base = _base(net)
    plan = _plan(net, base)
    demand = demand_from_network(net, meters_per_point=60)
    areas = _areas(net)
    a = compute_coverage(net, base, demand, minutes=5, areas=areas)
    b = compute_coverage(net, apply_actions(base, plan), demand, minutes=5, areas=areas)
    cmp = compare_results(a, b, cost_a=0, cost_b=plan.total_cost)
    ref = pd.DataFrame({"w": a.demand["weight"], "ca": a.demand["covered"], "cb": b.demand["covered"],
                        "area": a.demand["area_code"], "group": a.demand["group"]})
    gained = ref.loc[ref.cb & ~ref.ca, "w"].sum()
    lost = ref.loc[ref.ca & ~ref.cb, "w"].sum()
    assert cmp.summary["gained"] == pytest.approx(gained) and cmp.summary["lost"] == pytest.approx(lost)
    assert cmp.summary["covered_share_a"] == pytest.approx(a.summary.covered_share)
    assert cmp.summary["covered_share_b"] == pytest.approx(b.summary.covered_share)
    assert gained > 0  # the far-away new station covers someone
    per_area = ref.groupby("area").apply(lambda g: g.loc[g.cb & ~g.ca, "w"].sum(), include_groups=False)
    got = cmp.by_area.set_index("area_code")["gained"]
    for code, value in per_area.items():
        assert got[code] == pytest.approx(value)
    shares = cmp.by_area.set_index("area_code")["covered_share_b"]
    ref_share = b.by_area.set_index("area_code")["covered_share"]
    for code in shares.index:
        assert shares[code] == pytest.approx(ref_share[code])
    assert cmp.by_group["demand"].sum() == pytest.approx(ref["w"].sum())
    assert set(cmp.changed["change"]) <= {"gained", "lost"}
    assert cmp.changed["weight"].sum() == pytest.approx(gained + lost)
    net_gain = gained - lost
    expected = pytest.approx(plan.total_cost / net_gain) if net_gain > 0 else None
    assert cmp.summary["cost_per_gained"] == expected


def test_bad_actions_name_the_field(changsha_walk: Network) -> None:
    with pytest.raises(InputError, match="unknown action 'demolish'") as err:
        make_action("demolish")
    assert err.value.field == "kind"
    with pytest.raises(InputError, match="needs the station_id") as err:
        make_action("close")
    with pytest.raises(InputError, match="needs lon and lat"):
        make_action("add")
    with pytest.raises(InputError, match="outside China"):
        make_action("add", lon=2.35, lat=48.85)
    with pytest.raises(InputError, match="cost must be a number ≥ 0"):
        make_action("add", lon=112.945, lat=28.185, cost=-5)
    with pytest.raises(InputError, match="phase must be a whole number"):
        make_action("add", lon=112.945, lat=28.185, phase=0)
    base = _base(changsha_walk)
    plan = Scenario("x").with_action(make_action("close", station_id="999"))
    with pytest.raises(NotFoundError, match="station '999' is not in the base"):
        apply_actions(base, plan)


def test_the_store_keeps_actions_in_order(db_session: Session) -> None:
    from geo.errors import ConflictError
    from geo.scenario import store

    session = db_session
    store.create_scenario(session, "方案甲", description="测试")
    with pytest.raises(ConflictError, match="exists already"):
        store.create_scenario(session, "方案甲")
    glon, glat = wgs84_to_gcj02(112.945, 28.185)
    add = make_action("add", lon=glon, lat=glat, crs="gcj02", cost=5000, phase=1)
    first = store.add_action(session, "方案甲", add)
    second = store.add_action(session, "方案甲", make_action("close", station_id="7", phase=2))
    assert (first.seq, second.seq) == (1, 2)
    back = store.get_scenario(session, "方案甲")
    assert [a.kind for a in back.actions] == ["add", "close"]
    assert back.actions[0].lon == pytest.approx(112.945, abs=1e-7) and back.actions[0].source_crs == "gcj02"
    assert back.total_cost == 5000
    listed = store.list_scenarios(session)
    assert [(r["name"], r["actions"], r["cost"]) for r in listed] == [("方案甲", 2, 5000)]
    store.delete_scenario(session, "方案甲")
    with pytest.raises(NotFoundError, match="no scenario named"):
        store.get_scenario(session, "方案甲")
