"""geo.coverage on the real networks, against networkx Dijkstra references built from osmnx."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from scipy.sparse.csgraph import dijkstra

from geo.config import data_dir
from geo.coverage import (
    OUTSIDE_AREAS,
    SUMMARY_KEYS,
    compute_coverage,
    covered_area,
    select_stations,
    service_areas,
    weighted_quantile,
)
from geo.errors import InputError
from geo.network import Network
from tests.geo._split import split_graph, to_nearest_station

SHENZHEN_CORE = (113.92, 22.535, 113.97, 22.56)
CHANGSHA_BOUNDS = (112.94196, 28.18252, 112.94899, 28.18780)


def _reference(
    ref: nx.DiGraph, net: Network, stations: gpd.GeoDataFrame, demand: gpd.GeoDataFrame, limit: float
) -> dict[Any, float]:
    """Worker → nearest station metres by networkx on the graph with every snapped station and
    demand point really splitting its edge: OSM ids for nodes, ``("d", i)`` for demand points."""
    sx, sy = stations.geometry.x.to_numpy(), stations.geometry.y.to_numpy()
    dx, dy = demand.geometry.x.to_numpy(), demand.geometry.y.to_numpy()
    g = split_graph(ref, net, [("s", sx, sy, net.snap(sx, sy)), ("d", dx, dy, net.snap(dx, dy))])
    return to_nearest_station(g, len(stations), limit)


def _station_frame(points: gpd.GeoSeries, prefix: str) -> gpd.GeoDataFrame:
    n = len(points)
    return gpd.GeoDataFrame(
        {
            "station_id": [f"{prefix}-{i}" for i in range(n)],
            "name": [f"{prefix} {i}" for i in range(n)],
            "status": "open",
            "amenities": [["drinking_water"] for _ in range(n)],
            "opening_hours": "24/7",
        },
        geometry=list(points.values),
        crs="EPSG:4326",
    )


def _demand_frame(points: list[shapely.Point], groups: list[str], weights: list[float]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "demand_id": [f"d{i}" for i in range(len(points))],
            "group": groups,
            "weight": weights,
            "layer": "test",
        },
        geometry=points,
        crs="EPSG:4326",
    )


def _case(
    place: str, net: Network, shenzhen_banks: gpd.GeoDataFrame, shenzhen_demand: gpd.GeoDataFrame
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Real station-like points and demand (POIs, every node, random and far-off points) per place."""
    rng = np.random.default_rng(11)
    minx, miny, maxx, maxy = (
        float(net.lon.min()),
        float(net.lat.min()),
        float(net.lon.max()),
        float(net.lat.max()),
    )
    pts: list[shapely.Point] = []
    groups: list[str] = []
    if place == "shenzhen":
        stations = shenzhen_banks
        pts += list(shenzhen_demand.geometry.values)
        groups += list(shenzhen_demand["group"])
    elif place == "shanghai":
        pois = gpd.read_file(data_dir() / "shanghai_maptalks_tilezen" / "shanghai_bund_pois.geojson")
        pois = pois.cx[minx:maxx, miny:maxy]
        stations = _station_frame(pois[pois["kind"] == "bank"].geometry, "bank")
        food = pois[pois["kind"].isin(["restaurant", "cafe", "fast_food", "convenience", "hotel"])]
        pts += list(food.geometry.values)
        groups += ["delivery_rider"] * len(food)
    else:  # changsha: no POIs in the file; nodes of the main piece, moved ~10 m, as stations
        pick = rng.choice(np.flatnonzero(net.component == 0), size=4, replace=False)
        stations = _station_frame(
            gpd.GeoSeries(gpd.points_from_xy(net.lon[pick] + 1e-4, net.lat[pick] + 5e-5)), "site"
        )
    node_pts = list(gpd.points_from_xy(net.lon, net.lat))
    pts += node_pts
    groups += ["sanitation_worker"] * len(node_pts)
    rnd = list(gpd.points_from_xy(rng.uniform(minx, maxx, 300), rng.uniform(miny, maxy, 300)))
    pts += rnd
    groups += ["courier"] * len(rnd)
    far = [shapely.Point(minx - 0.01, miny - 0.01), shapely.Point(maxx + 0.02, maxy)]
    pts += far
    groups += ["gig_worker"] * 2
    weights = list(rng.integers(1, 5, len(pts)).astype(float))
    return stations, _demand_frame(pts, groups, weights)


CASES = [
    ("shenzhen", "shenzhen_walk", "walk", SHENZHEN_CORE),
    ("shenzhen", "shenzhen_ebike", "ebike", SHENZHEN_CORE),
    ("shanghai", "shanghai_walk", "walk", None),
    ("shanghai", "shanghai_ebike", "ebike", None),
    ("changsha", "changsha_walk", "walk", CHANGSHA_BOUNDS),
]


@pytest.mark.parametrize(("place", "fixture", "mode", "bbox"), CASES)
def test_minutes_equal_networkx_reference(
    request: pytest.FixtureRequest,
    raw_graphs: dict[str, nx.MultiDiGraph],
    reference_graph: Callable[..., nx.DiGraph],
    shenzhen_banks: gpd.GeoDataFrame,
    shenzhen_demand: gpd.GeoDataFrame,
    place: str,
    fixture: str,
    mode: str,
    bbox: tuple[float, float, float, float] | None,
) -> None:
    net: Network = request.getfixturevalue(fixture)
    stations, demand = _case(place, net, shenzhen_banks, shenzhen_demand)
    minutes, horizon = (15.0, 30.0) if mode == "walk" else (5.0, 10.0)
    res = compute_coverage(net, stations, demand, minutes=minutes, horizon_minutes=horizon)
    mpm = net.meters_per_minute
    ref = reference_graph(raw_graphs[place], mode=mode, bbox=bbox)
    dist = _reference(ref, net, stations, demand, horizon * mpm)

    # every node
    expected = np.array([dist.get(int(i), np.nan) for i in net.node_id]) / mpm
    assert np.isfinite(expected).sum() > 0.2 * net.n_nodes
    assert np.isnan(expected).sum() > 0 or place == "changsha"
    np.testing.assert_allclose(res.node_minutes, expected, rtol=0, atol=1e-6, equal_nan=True)
    assert np.array_equal(res.node_station >= 0, np.isfinite(expected))

    # every demand point: its own node of the split graph, NaN past the horizon or unsnappable
    want = np.array([dist.get(("d", i), np.nan) for i in range(len(demand))]) / mpm
    got = res.demand["minutes"].to_numpy(dtype=float)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6, equal_nan=True)
    assert np.array_equal(res.demand["covered"].to_numpy(), np.nan_to_num(want, nan=np.inf) <= minutes)
    assert len(res.demand) == len(demand)
    assert list(res.demand.columns[: len(demand.columns)]) == list(demand.columns)
    # far-off points are reported, not dropped
    assert res.summary.unsnappable_count >= 2
    assert not res.demand["snapped"].iloc[-2:].any() and res.demand["nearest_station"].iloc[-2:].isna().all()
    s = res.summary
    assert s.demand_total == pytest.approx(float(demand["weight"].sum()))
    assert s.unsnappable == pytest.approx(float(demand["weight"][~res.demand["snapped"]].sum()))
    reach = np.isfinite(got)
    unreached = res.demand["snapped"].to_numpy() & ~reach
    assert s.unreachable_count == int(unreached.sum())
    assert s.demand_covered == pytest.approx(float(demand["weight"][res.demand["covered"]].sum()))
    w = demand["weight"].to_numpy()[reach]
    assert s.mean_minutes == pytest.approx(float(np.average(got[reach], weights=w)))
    assert s.median_minutes == weighted_quantile(got[reach], w, 0.5)


@pytest.mark.parametrize("fixture", ["shenzhen_walk", "shenzhen_ebike"])
def test_nearest_station_attribution_and_neighbours(
    request: pytest.FixtureRequest,
    fixture: str,
    shenzhen_banks: gpd.GeoDataFrame,
    shenzhen_demand: gpd.GeoDataFrame,
) -> None:
    net: Network = request.getfixturevalue(fixture)
    res = compute_coverage(net, shenzhen_banks, shenzhen_demand, minutes=10.0, horizon_minutes=40.0)
    mpm = net.meters_per_minute
    st = res.stations
    sx, sy = st.geometry.x.to_numpy(), st.geometry.y.to_numpy()
    dx, dy = shenzhen_demand.geometry.x.to_numpy(), shenzhen_demand.geometry.y.to_numpy()
    groups = [("s", sx, sy, net.snap(sx, sy)), ("d", dx, dy, net.snap(dx, dy))]
    g = split_graph(net.to_networkx(), net, groups, node_key=int).reverse(copy=True)
    per: dict[str, dict[Any, float]] = {
        sid: nx.single_source_dijkstra_path_length(g, ("s", j), weight="length")
        for j, sid in enumerate(st["station_id"])
    }
    # the named station is at the reported time (and no other station is nearer)
    for i, row in enumerate(res.demand.itertuples()):
        if row.nearest_station is None:
            continue
        assert abs(per[row.nearest_station][("d", i)] / mpm - row.minutes) < 1e-6
        best = min(p.get(("d", i), np.inf) for p in per.values())
        assert abs(best / mpm - row.minutes) < 1e-6
    # nearest other station, brute force over all pairs in the split graph
    for i, sid in enumerate(st["station_id"]):
        cands = [per[other].get(("s", i), np.inf) for j, other in enumerate(st["station_id"]) if j != i]
        best = min(cands) / mpm
        got = float(st["minutes_to_nearest_neighbour"].iloc[i])
        if not np.isfinite(best) or best > 40.0:
            assert np.isnan(got), sid
        else:
            assert abs(got - best) < 1e-6, sid


def test_one_way_street_uses_reversed_search(shenzhen_ebike: Network) -> None:
    net = shenzhen_ebike
    arcs = {(int(u), int(v)): float(w) for u, v, w in zip(net.tails, net.indices, net.length_m, strict=True)}
    one_way = [
        (u, v, w) for (u, v), w in arcs.items() if (v, u) not in arcs and w > 40 and net.component[u] == 0
    ]
    assert one_way
    u, v, w = max(one_way, key=lambda a: a[2])
    g = net.to_networkx()
    at = gpd.GeoSeries(gpd.points_from_xy(net.lon[[v]], net.lat[[v]]))
    demand = _demand_frame([shapely.Point(net.lon[u], net.lat[u])], ["courier"], [1.0])
    res = compute_coverage(net, _station_frame(at, "s"), demand, minutes=5.0, horizon_minutes=30.0)
    # a rider at u may ride the one-way arc to the station at v
    assert res.node_minutes[u] == pytest.approx(
        nx.dijkstra_path_length(g, u, v, weight="length") / net.meters_per_minute
    )
    assert res.node_minutes[u] <= w / net.meters_per_minute + 1e-9
    # station at u: a rider at v may not ride against the one-way arc
    at_u = gpd.GeoSeries(gpd.points_from_xy(net.lon[[u]], net.lat[[u]]))
    res2 = compute_coverage(net, _station_frame(at_u, "s"), demand, minutes=5.0, horizon_minutes=60.0)
    try:
        back = nx.dijkstra_path_length(g, v, u, weight="length") / net.meters_per_minute
    except nx.NetworkXNoPath:
        back = np.nan
    np.testing.assert_allclose(
        res2.node_minutes[v], back if back <= 60 else np.nan, atol=1e-6, equal_nan=True
    )
    assert not res2.node_minutes[v] <= w / net.meters_per_minute + 1e-9
    # a forward search from the station would have been wrong for many nodes
    fwd = nx.single_source_dijkstra_path_length(g, v, cutoff=30 * net.meters_per_minute, weight="length")
    wrong = [
        n
        for n, d in fwd.items()
        if abs(d / net.meters_per_minute - np.nan_to_num(res.node_minutes[n], nan=1e9)) > 1e-6
    ]
    assert len(wrong) > 10


def _strip_areas() -> gpd.GeoDataFrame:
    """Three N–S strips over the west of the Shenzhen core; the east stays outside every area."""
    xs = [113.92, 113.935, 113.945, 113.955]
    return gpd.GeoDataFrame(
        {"area_code": ["A", "B", "C"], "area_name": ["西", "中", "东"], "level": "township"},
        geometry=[shapely.box(xs[i], 22.535, xs[i + 1], 22.56) for i in range(3)],
        crs="EPSG:4326",
    )


def test_area_and_group_tables_add_up(
    shenzhen_walk: Network, shenzhen_banks: gpd.GeoDataFrame, shenzhen_demand: gpd.GeoDataFrame
) -> None:
    _, demand = _case("shenzhen", shenzhen_walk, shenzhen_banks, shenzhen_demand)
    areas = _strip_areas()
    res = compute_coverage(shenzhen_walk, shenzhen_banks, demand, minutes=8.0, areas=areas)
    s = res.summary
    ba, bg = res.by_area, res.by_group
    assert ba["area_code"].tolist() == ["A", "B", "C", OUTSIDE_AREAS]
    for table in (ba, bg):
        assert table["demand_total"].sum() == pytest.approx(s.demand_total)
        assert table["demand_covered"].sum() == pytest.approx(s.demand_covered)
        assert table["uncovered"].sum() == pytest.approx(s.demand_total - s.demand_covered)
        assert table["unreachable"].sum() == pytest.approx(s.unreachable)
        assert table["unsnappable"].sum() == pytest.approx(s.unsnappable)
        assert table["demand_count"].sum() == len(demand)
    assert ba["stations"].sum() == len(shenzhen_banks)
    assert set(bg["group"]) == set(demand["group"])
    # each row is what the frame says about its own points
    for row in ba.itertuples():
        code = None if row.area_code == OUTSIDE_AREAS else row.area_code
        sel = res.demand["area_code"].isna() if code is None else res.demand["area_code"] == code
        part = res.demand[sel]
        assert row.demand_total == pytest.approx(part["weight"].sum())
        assert row.demand_covered == pytest.approx(part["weight"][part["covered"]].sum())
        reach = part["minutes"].notna()
        if reach.any():
            assert row.median_minutes == weighted_quantile(
                part["minutes"][reach].to_numpy(), part["weight"][reach].to_numpy(), 0.5
            )
    # points really lie in their areas
    inside = res.demand[res.demand["area_code"] == "B"]
    assert inside.within(areas.geometry.iloc[1].buffer(1e-9)).all()
    assert (res.demand["area_name"][res.demand["area_code"] == "A"] == "西").all()


def test_filters_equal_manually_filtered_frames(
    shenzhen_walk: Network, shenzhen_banks: gpd.GeoDataFrame, shenzhen_demand: gpd.GeoDataFrame
) -> None:
    st = shenzhen_banks.copy()
    n = len(st)
    st["status"] = ["open" if i % 5 else "planned" for i in range(n)]
    st["amenities"] = [
        ["microwave", "charging"] if i % 2 else ["drinking_water"] if i % 3 else ["微波炉", "充电", "toilet"]
        for i in range(n)
    ]
    st["opening_hours"] = [
        "24/7" if i % 3 == 0 else "Mo-Su 08:00-20:00" if i % 3 == 1 else None for i in range(n)
    ]
    at_night = datetime(2026, 11, 23, 22, 0)
    res = compute_coverage(
        shenzhen_walk, st, shenzhen_demand, open_at=at_night, amenities=("microwave", "charging")
    )
    manual = st[
        (st["status"] == "open")
        & st["amenities"].map(
            lambda a: (
                {"microwave", "charging"}
                <= {"microwave" if x == "微波炉" else "charging" if x == "充电" else x for x in a}
            )
        )
        & (st["opening_hours"] == "24/7")
    ]
    assert 0 < len(manual) < n
    plain = compute_coverage(shenzhen_walk, manual, shenzhen_demand, open_only=False)
    assert res.stations["station_id"].tolist() == manual["station_id"].tolist()
    assert res.summary.as_dict() == plain.summary.as_dict()
    pd.testing.assert_frame_equal(res.demand, plain.demand)
    np.testing.assert_array_equal(res.node_minutes, plain.node_minutes)
    # the filter really matters: all stations cover more
    everyone = compute_coverage(shenzhen_walk, st, shenzhen_demand, open_only=False)
    assert everyone.summary.demand_covered > res.summary.demand_covered
    assert len(select_stations(st, open_only=True)) == sum(i % 5 != 0 for i in range(n))
    with pytest.raises(InputError):
        select_stations(st, amenities=("teleporter",))


def test_summary_contract_and_validation(
    shenzhen_walk: Network, shenzhen_banks: gpd.GeoDataFrame, shenzhen_demand: gpd.GeoDataFrame
) -> None:
    res = compute_coverage(shenzhen_walk, shenzhen_banks, shenzhen_demand)
    d = res.summary.as_dict()
    assert set(d) == set(SUMMARY_KEYS)
    assert d["mode"] == "walk" and d["stations"] == len(shenzhen_banks)
    assert set(d["unreachable"]) == {"count", "weight"}
    assert 0 <= d["covered_share"] <= 1
    assert res.stations["snapped"].all() and (res.stations["snap_meters"] < 300).all()
    for kwargs in ({"minutes": -1.0}, {"minutes": 20.0, "horizon_minutes": 10.0}, {"snap_meters": -5.0}):
        with pytest.raises(InputError):
            compute_coverage(shenzhen_walk, shenzhen_banks, shenzhen_demand, **kwargs)  # type: ignore[arg-type]
    bad = shenzhen_demand.copy()
    bad.loc[0, "weight"] = -1.0
    with pytest.raises(InputError):
        compute_coverage(shenzhen_walk, shenzhen_banks, bad)
    # no open station: everyone unreachable, nothing dropped
    none = compute_coverage(shenzhen_walk, shenzhen_banks.iloc[:0], shenzhen_demand)
    assert none.summary.demand_covered == 0 and none.demand["minutes"].isna().all()
    assert none.summary.unreachable_count == len(shenzhen_demand)


def test_weighted_quantile_matches_repetition() -> None:
    rng = np.random.default_rng(5)
    v = rng.uniform(0, 30, 50)
    w = rng.integers(1, 6, 50).astype(float)
    rep = np.sort(np.repeat(v, w.astype(int)))
    for q in (0.5, 0.95):
        k = math.ceil(q * rep.size) - 1
        assert weighted_quantile(v, w, q) == rep[k]


def test_service_areas_follow_streets(
    shenzhen_walk: Network, shenzhen_banks: gpd.GeoDataFrame, shenzhen_demand: gpd.GeoDataFrame
) -> None:
    net = shenzhen_walk
    st = shenzhen_banks.iloc[:4]
    areas = service_areas(net, st, minutes=10.0, buffer_meters=25.0)
    assert list(areas["station_id"]) == list(st["station_id"]) and areas.crs.to_epsg() == 4326
    sx, sy = st.geometry.x.to_numpy(), st.geometry.y.to_numpy()
    snap = net.snap(sx, sy)
    g = split_graph(net.to_networkx(), net, [("s", sx, sy, snap)], node_key=int).reverse(copy=True)
    budget = 10.0 * net.meters_per_minute
    px, py = snap.lonlat(net)
    for i, poly in enumerate(areas.geometry):
        reach = nx.single_source_dijkstra_path_length(g, ("s", i), cutoff=budget, weight="length")
        assert shapely.contains_xy(poly, px[i], py[i])  # the station's own edge piece is in
        reach = {k: d for k, d in reach.items() if isinstance(k, int)}
        idx = np.fromiter(reach.keys(), dtype=np.int64)
        inside = shapely.contains_xy(poly, net.lon[idx], net.lat[idx])
        assert inside.all()
        # streets, not a hull: the hull is much larger, and far nodes inside the hull are left out
        assert poly.area < 0.7 * poly.convex_hull.area
        assert areas["area_km2"].iloc[i] > 0.05
    union = covered_area(net, st, minutes=10.0, buffer_meters=25.0).geometry.iloc[0]
    merged = shapely.union_all(areas.geometry.values)
    assert union.symmetric_difference(merged).area < 0.01 * merged.area
    res = compute_coverage(net, st, shenzhen_demand, minutes=10.0)
    from_result = covered_area(res, buffer_meters=25.0).geometry.iloc[0]
    assert from_result.symmetric_difference(merged).area < 0.01 * merged.area


@pytest.mark.parametrize("fixture", ["shenzhen_walk", "shenzhen_ebike"])
def test_reusable_search_equals_fresh_augmented_graph(request: pytest.FixtureRequest, fixture: str) -> None:
    from geo import _graph

    net: Network = request.getfixturevalue(fixture)
    rng = np.random.default_rng(2)
    for m in (1, 70, 300, 5):  # grows past the initial room for 64 virtual nodes, then shrinks
        nodes = rng.choice(net.n_nodes, size=m)
        offs = rng.uniform(0, 200, m)
        offs[0] = 0.0  # a station exactly on its node: the zero-length virtual arc must count
        got_d, got_o = net.offset_search.run(nodes, offs, limit_m=3000.0)
        ip, ix, ln = net.reverse_arrays
        want_d, want_o = _graph.multi_source_offsets(ip, ix, ln, nodes, offs, limit_m=3000.0)
        np.testing.assert_array_equal(got_d, want_d)
        # attribution: the named source really attains the distance (ties may name another source)
        ok = want_o >= 0
        assert np.array_equal(got_o >= 0, ok)
        d_all = np.atleast_2d(dijkstra(net.reverse_csr(), indices=nodes, limit=3000.0)) + offs[:, None]
        np.testing.assert_allclose(d_all.min(axis=0)[ok], got_d[ok], atol=1e-9)
        np.testing.assert_allclose(d_all[got_o[ok], np.flatnonzero(ok)], got_d[ok], atol=1e-9)


def test_compiled_search_ties_and_errors() -> None:
    """The compiled search names the lowest source index at exactly tied distances, whatever the
    order (zero-length arcs included), and rejects bad input with a message."""
    from geo import _graph

    # 0 -> 1 -> 2 -> 3 and 4 -> 3, 5 -> 2 (zero length); sources at 0 (offset 2) and 4 (offset 4)
    t = np.array([0, 1, 2, 4, 5], dtype=np.int64)
    h = np.array([1, 2, 3, 3, 2], dtype=np.int64)
    w = np.array([1.0, 1.0, 1.0, 0.0, 0.0])
    search = _graph.OffsetSearch(*_graph.build_csr(6, t, h, w))
    d, o = search.run(np.array([4, 0, 5]), np.array([4.0, 2.0, 4.0]))
    # node 3: via 0 costs 2 + 3 = 5, via 4 costs 4 + 0 = 4; node 2: via 0 costs 4, via 5 costs 4 (tie)
    np.testing.assert_array_equal(d, [2.0, 3.0, 4.0, 4.0, 4.0, 4.0])
    assert o.tolist() == [1, 1, 1, 0, 0, 2]  # node 2: sources 1 and 2 tie at 4 -> the lower, 1
    d2, o2 = search.run(np.array([5, 0, 4]), np.array([4.0, 2.0, 4.0]))  # same sources, reordered
    np.testing.assert_array_equal(d2, d)
    assert o2.tolist() == [1, 1, 0, 2, 2, 0]  # node 2: now source 0 (node 5) is the lower
    with pytest.raises(ValueError, match="source 0 is node 9"):
        search.run(np.array([9]), np.array([0.0]))
    with pytest.raises(ValueError, match="2 source nodes but 1 offsets"):
        search.run(np.array([0, 1]), np.array([0.0]))
    with pytest.raises(ValueError, match="non-negative"):
        _graph.OffsetSearch(*_graph.build_csr(2, t[:1] * 0, h[:1], -w[:1] - 1))


@pytest.mark.parametrize("fixture", ["shanghai_walk", "changsha_walk"])
def test_neighbours_read_in_arc_slices_equal_one_slice(
    request: pytest.FixtureRequest, fixture: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The boundary-arc minimum reads the arcs in slices (memory per arc, #16): slices of 997 arcs
    (every slice boundary cuts a node's arcs) give the same neighbour minutes as one slice."""
    import geo.coverage as coverage

    net: Network = request.getfixturevalue(fixture)
    rng = np.random.default_rng(7)
    pick = rng.choice(net.n_nodes, size=40, replace=False)
    stations = gpd.GeoDataFrame(
        {"station_id": [f"s{i}" for i in range(pick.size)], "status": "open"},
        geometry=gpd.points_from_xy(net.lon[pick] + 2e-5, net.lat[pick]), crs="EPSG:4326",
    )
    demand = stations.assign(weight=1.0)[["weight", "geometry"]]
    monkeypatch.setattr(coverage, "BOUNDARY_ARCS", net.n_arcs + 1)
    whole = compute_coverage(net, stations, demand, minutes=10.0, horizon_minutes=40.0)
    monkeypatch.setattr(coverage, "BOUNDARY_ARCS", 997)
    sliced = compute_coverage(net, stations, demand, minutes=10.0, horizon_minutes=40.0)
    a = whole.stations["minutes_to_nearest_neighbour"].to_numpy(dtype=float)
    b = sliced.stations["minutes_to_nearest_neighbour"].to_numpy(dtype=float)
    assert np.isfinite(a).sum() >= 10
    np.testing.assert_array_equal(a, b)
    # and both equal networkx over the graph split at the stations' projections
    sx, sy = stations.geometry.x.to_numpy(), stations.geometry.y.to_numpy()
    g = split_graph(net.to_networkx(), net, [("s", sx, sy, net.snap(sx, sy))], node_key=int)
    limit_m = 40.0 * net.meters_per_minute
    for i in range(pick.size):
        reach = nx.single_source_dijkstra_path_length(g, ("s", i), cutoff=limit_m, weight="length")
        others = [d for key, d in reach.items() if isinstance(key, tuple) and key[0] == "s" and key[1] != i]
        best = min(others, default=np.inf) / net.meters_per_minute
        assert np.isnan(b[i]) if not np.isfinite(best) else abs(b[i] - best) < 1e-6, (i, b[i], best)
