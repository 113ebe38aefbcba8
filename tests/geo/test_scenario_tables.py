"""The comparison's tables for people (``comparison.csv``, the PDF and report.md) on Shanghai and
Changsha: the stations that differ between two plans against a brute-force set computation, the long
table against the comparison's own frames (pandas), cost by phase against a sum over the actions, and
the action rows' GCJ-02 points and Amap links."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from geo.amap import amap_url
from geo.crs import wgs84_to_gcj02
from geo.demand import demand_from_network
from geo.network import Network
from geo.scenario.compare import (
    TABLE_COLUMNS,
    PlanComparison,
    actions_table,
    compare_plans,
    comparison_markdown,
    comparison_table,
    phase_rows,
    station_changes,
)
from geo.scenario.plan import Scenario, make_action


def _base(net: Network) -> gpd.GeoDataFrame:
    nodes = np.random.default_rng(5).choice(np.flatnonzero(net.component == 0), size=4, replace=False)
    return gpd.GeoDataFrame({"station_id": ["a", "b", "c", "d"], "name": ["甲站", "乙站", "丙站", "丁站"],
                             "kind": "union_station", "status": "open", "amenities": [["toilet"]] * 4,
                             "opening_hours": "Mo-Su 08:00-20:00"},
                            geometry=gpd.points_from_xy(net.lon[nodes], net.lat[nodes]), crs="EPSG:4326")


def _areas(net: Network) -> gpd.GeoDataFrame:
    lon0, lat0, lon1, lat1 = net.lon.min(), net.lat.min(), net.lon.max(), net.lat.max()
    mid = (lon0 + lon1) / 2
    shapes = [box(lon0 - 1, lat0 - 1, mid, lat1 + 1), box(mid, lat0 - 1, lon1 + 1, lat1 + 1)]
    return gpd.GeoDataFrame({"area_code": ["W", "E"], "area_name": ["西片街道", "东片街道"],
                             "level": "township"}, geometry=shapes, crs="EPSG:4326")


def _plans(net: Network) -> tuple[Scenario, Scenario]:
    big = np.flatnonzero(net.component == 0)
    p, q = big[len(big) // 5], big[len(big) // 2]
    a = Scenario("甲方案")
    a = a.with_action(make_action("add", lon=net.lon[p], lat=net.lat[p], name="新站一", cost=60000,
                                  year=2027))
    a = a.with_action(make_action("close", station_id="b", phase=2, year=2028))
    b = Scenario("乙方案")
    b = b.with_action(make_action("relocate", station_id="c", lon=net.lon[q], lat=net.lat[q], cost=20000,
                                  year=2027))
    b = b.with_action(make_action("hours", station_id="d", opening_hours="Mo-Su 06:00-22:00", cost=3000,
                                  year=2027))
    return a, b.with_action(make_action("add", lon=net.lon[q], lat=net.lat[q], cost=40000, phase=3))


@pytest.fixture(params=["shanghai_walk", "changsha_walk"])
def compared(request: pytest.FixtureRequest) -> tuple[PlanComparison, gpd.GeoDataFrame]:
    net: Network = request.getfixturevalue(request.param)
    base = _base(net)
    snapshot = base.copy()
    pc = compare_plans(_plans(net), (base, base), net, demand_from_network(net, meters_per_point=80),
                       minutes=5, areas=_areas(net))
    pd.testing.assert_frame_equal(base, snapshot)  # inputs never mutated
    return pc, base


def test_station_changes_equal_a_set_computation(compared: tuple[PlanComparison, gpd.GeoDataFrame]) -> None:
    pc, _ = compared

    def open_points(frame: gpd.GeoDataFrame) -> dict[str, tuple[float, float]]:
        rows = frame[frame["status"] == "open"]
        return {str(s): (g.x, g.y) for s, g in zip(rows["station_id"], rows.geometry, strict=True)}

    a, b = open_points(pc.stations[0]), open_points(pc.stations[1])
    expected = ({(s, "added") for s in b.keys() - a.keys()} | {(s, "closed") for s in a.keys() - b.keys()}
                | {(s, "relocated") for s in a.keys() & b.keys() if a[s] != b[s]})
    got = pc.changes
    assert set(zip(got["station_id"], got["change"], strict=True)) == expected
    # plan 甲 added 甲方案:1 and closed b; plan 乙 moved c and added 乙方案:3
    assert expected == {("甲方案:1", "closed"), ("b", "added"), ("c", "relocated"), ("乙方案:3", "added")}
    moved = got.set_index("station_id").loc["c"]
    assert (moved["lon_a"], moved["lat_a"]) == a["c"] and (moved["lon_b"], moved["lat_b"]) == b["c"]
    assert moved.geometry.x == b["c"][0]
    assert station_changes(pc.stations[0], pc.stations[0]).empty


def test_long_table_holds_the_comparison(compared: tuple[PlanComparison, gpd.GeoDataFrame]) -> None:
    pc, _ = compared
    cmp = pc.comparison
    table = comparison_table(cmp)
    assert tuple(table.columns) == TABLE_COLUMNS
    assert table["level"].tolist() == ["total"] + ["area"] * len(cmp.by_area) + ["group"] * len(cmp.by_group)
    figures = [c for c in TABLE_COLUMNS if c not in ("level", "code", "name")]
    total = table.iloc[0]
    for col in figures:
        assert total[col] == pytest.approx(cmp.summary[col], nan_ok=True)
    areas = table[table["level"] == "area"].reset_index(drop=True)
    pd.testing.assert_frame_equal(areas[figures], cmp.by_area[figures].reset_index(drop=True),
                                  check_dtype=False)
    assert areas["code"].tolist() == cmp.by_area["area_code"].astype(str).tolist()
    # independent: weights of the points whose coverage changed, per area, from the two coverage results
    da, db = (r.demand for r in pc.results)
    w = da["weight"].to_numpy()
    gained = pd.Series(w * (db["covered"].to_numpy() & ~da["covered"].to_numpy())).groupby(
        da["area_code"].to_numpy()).sum()
    for row in areas.itertuples(index=False):
        assert row.gained == pytest.approx(gained.get(row.code, 0.0))
    assert table.loc[table["level"] == "group", "demand"].sum() == pytest.approx(w.sum())


def test_cost_by_phase_and_action_rows(compared: tuple[PlanComparison, gpd.GeoDataFrame]) -> None:
    pc, base = compared
    rows = phase_rows(pc.plans)
    for i, plan in enumerate(pc.plans):
        listed = sum(float(r[2 + i].replace(",", "")) for r in rows if r[2 + i] != "—")
        assert listed == pytest.approx(sum(a.cost for a in plan.actions))
    assert [r[0] for r in rows] == ["第 1 期", "第 2 期", "第 3 期"]
    acts = actions_table(pc.plans[1], pc.stations[1])
    assert acts["action"].tolist() == ["迁址", "调整开放时间", "新增站点"]
    d = base.set_index("station_id").geometry["d"]
    hours = acts.iloc[1]
    glon, glat = wgs84_to_gcj02(d.x, d.y)  # an action on a station is located at the station
    assert (hours["lon_gcj"], hours["lat_gcj"]) == (glon, glat) and hours["station"] == "丁站（d）"
    assert hours["amap_url"] == amap_url(glon, glat, "丁站（d）")
    added = acts.iloc[2]
    assert added["station"] == "新增站点 3" and not math.isnan(added["lon_gcj"])
    text = comparison_markdown(pc)
    for name in ("甲方案", "乙方案", "西片街道", "东片街道", "丁站（d）", f"{glon:.6f}"):
        assert name in text
