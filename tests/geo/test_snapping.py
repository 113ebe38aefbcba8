"""geo.snapping: points join the nearest usable edge (brute force over every segment on four real
networks), the piece rule keeps tiny islands from capturing points, and coverage on hand-made
networks equals networkx on the graph with the snapped edges really split."""

from __future__ import annotations

import math

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import shapely

from geo import snapping
from geo.coverage import compute_coverage
from geo.errors import InputError
from geo.network import Network, network_from_graph
from geo.snapping import same_edge_meters
from tests.geo._split import gc_meters, split_graph, to_nearest_station

LON0, LAT0 = 113.95, 22.54
M_LON = 1.0 / (111_195.0 * math.cos(math.radians(LAT0)))  # degrees per metre east (approx.)
M_LAT = 1.0 / 111_195.0  # degrees per metre north (approx.)


def _segment_distances(net: Network, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Brute force: local-metre distance from every point to every edge segment (points × edges)."""
    idx = net.edge_index
    k = math.pi / 180.0 * 6_371_009.0
    lon0, lat0 = idx.origin
    c = math.cos(math.radians(lat0))

    def xy(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (x - lon0) * k * c, (y - lat0) * k

    ax, ay = xy(net.lon[idx.tail], net.lat[idx.tail])
    bx, by = xy(net.lon[idx.head], net.lat[idx.head])
    px, py = xy(lon, lat)
    dx, dy = bx - ax, by - ay
    den = np.where(dx * dx + dy * dy > 0, dx * dx + dy * dy, 1.0)
    t = np.clip(((px[:, None] - ax) * dx + (py[:, None] - ay) * dy) / den, 0.0, 1.0)
    return np.asarray(np.hypot(px[:, None] - (ax + t * dx), py[:, None] - (ay + t * dy)))


@pytest.mark.parametrize("fixture", ["shenzhen_walk", "shanghai_walk", "changsha_walk", "xian_ebike"])
def test_snap_is_nearest_edge_or_piece_rule(request: pytest.FixtureRequest, fixture: str) -> None:
    net: Network = request.getfixturevalue(fixture)
    rng = np.random.default_rng(3)
    x0, x1 = np.quantile(net.lon, [0.05, 0.95])
    y0, y1 = np.quantile(net.lat, [0.05, 0.95])
    lon, lat = rng.uniform(x0, x1, 300), rng.uniform(y0, y1, 300)
    snap = net.snap(lon, lat, max_meters=300.0)
    d = _segment_distances(net, lon, lat)
    nearest = d.min(axis=1)
    chosen = d[np.arange(lon.size), np.maximum(snap.edge, 0)]
    ok = snap.snapped
    assert ok.sum() > 100
    assert ok[nearest < 290].all() and not ok[nearest > 310].any()
    big = net.edge_index.big
    moved = ok & (chosen > nearest + 0.01)
    assert big[snap.edge[moved]].all()  # only ever moved onto a larger piece, and only within the rule
    assert (chosen[moved] <= np.maximum(25.0, 1.5 * nearest[moved]) + 0.01).all()
    assert (np.abs(chosen - nearest)[ok & ~moved] < 0.01).all()
    # the reported straight line is the haversine to the projection, within the local projection's error
    px, py = snap.lonlat(net)
    for i in np.flatnonzero(ok)[:50]:
        assert snap.meters[i] == pytest.approx(gc_meters(lon[i], lat[i], px[i], py[i]), abs=1e-6)
        assert snap.meters[i] == pytest.approx(chosen[i], rel=2e-3, abs=0.05)
    # partial lengths: the two ends of a two-way edge add up to its length
    _, exit_m = snap.exits()
    both = ok & np.isfinite(exit_m).all(axis=1)
    np.testing.assert_allclose(
        exit_m[both].sum(axis=1) - 2 * snap.meters[both], snap.length_m[both], rtol=1e-9
    )


@pytest.mark.parametrize("fixture", ["shenzhen_walk", "xian_ebike"])
def test_more_samples_before_the_strtree_find_the_same_distances(
    request: pytest.FixtureRequest, fixture: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Large trees ask 64, then 512 samples before the STRtree: the same nearest distances as the
    STRtree path and as brute force, on points near streets, far from them and off the network."""
    net: Network = request.getfixturevalue(fixture)
    rng = np.random.default_rng(5)
    x0, x1 = net.lon.min() - 0.01, net.lon.max() + 0.01
    y0, y1 = net.lat.min() - 0.01, net.lat.max() + 0.01
    lon, lat = rng.uniform(x0, x1, 400), rng.uniform(y0, y1, 400)
    reference = net.with_speed(net.speed_kph).snap(lon, lat, max_meters=2000.0)
    monkeypatch.setattr(snapping, "STRTREE_MAX_EDGES", 0)
    monkeypatch.setattr(snapping._SampleTree, "_strtree", property(lambda self: pytest.fail("STRtree")))
    fresh = _fresh(net)
    got = fresh.snap(lon, lat, max_meters=2000.0)
    np.testing.assert_array_equal(got.meters, reference.meters)
    d = _segment_distances(net, lon, lat)
    chosen = d[np.arange(lon.size), got.edge]
    assert (np.abs(chosen - d[np.arange(lon.size), reference.edge]) < 1e-9).all()


def _fresh(net: Network) -> Network:
    """The same arrays without any cached structure (a fresh edge index)."""
    return Network(mode=net.mode, speed_kph=net.speed_kph, node_id=net.node_id, lon=net.lon, lat=net.lat,
                   indptr=net.indptr, indices=net.indices, length_m=net.length_m, component=net.component,
                   component_sizes=net.component_sizes)  # fmt: skip


def test_snap_reports_unsnappable_and_validates(shenzhen_walk: Network) -> None:
    snap = shenzhen_walk.snap([113.95, 113.90, np.nan], [22.55, 22.50, 22.5], max_meters=300.0)
    assert snap.snapped.tolist() == [True, False, False]
    assert snap.edge[1] == -1 and snap.tail[1] == -1 and snap.meters[1] > 300 and np.isnan(snap.meters[2])
    nodes, meters = snap.entries()
    assert (nodes[1:] == -1).all() and np.isinf(meters[1:]).all()
    with pytest.raises(InputError):
        shenzhen_walk.snap([1.0], [1.0, 2.0])
    with pytest.raises(InputError):
        shenzhen_walk.snap([1.0], [1.0], max_meters=-1.0)


def test_islands_never_capture_points_about_as_close_to_the_main_network(shenzhen_walk: Network) -> None:
    net = shenzhen_walk
    idx = net.edge_index
    island_edges = np.flatnonzero(~idx.big)
    assert island_edges.size > 0
    mids_lon = (net.lon[idx.tail] + net.lon[idx.head]) / 2
    mids_lat = (net.lat[idx.tail] + net.lat[idx.head]) / 2
    d = _segment_distances(net, mids_lon[island_edges], mids_lat[island_edges])
    to_big = np.where(idx.big[None, :], d, np.inf).min(axis=1)
    joined = 0
    for k, e in enumerate(island_edges.tolist()):
        if 6.0 < to_big[k] < 20.0:
            # a point on the island edge's middle, the main network 6-20 m away
            s = net.snap(mids_lon[e], mids_lat[e])
            assert idx.big[s.edge[0]], e  # the island edge is nearer (0 m) but the main one within 25 m
            joined += 1
    assert joined >= 1
    # an island clearly nearest (main network > 60 m away) still takes its points
    far = [e for k, e in enumerate(island_edges.tolist()) if to_big[k] > 60.0]
    assert far
    s = net.snap(mids_lon[far], mids_lat[far])
    assert (~idx.big[s.edge]).all() and (s.meters < 1.0).all()


# ------------------------------------------------------------------------------------------ hand-made
def _network(arcs: list[tuple[str, str]], nodes: dict[str, tuple[float, float]], mode: str) -> Network:
    """A network from named nodes at (east, north) metres about (LON0, LAT0) and directed arcs."""
    g = nx.MultiDiGraph(crs="EPSG:4326")
    for name, (e, n) in nodes.items():
        g.add_node(name, x=LON0 + e * M_LON, y=LAT0 + n * M_LAT)
    for u, v in arcs:
        length = gc_meters(g.nodes[u]["x"], g.nodes[u]["y"], g.nodes[v]["x"], g.nodes[v]["y"])
        g.add_edge(u, v, length=length)
    g = nx.convert_node_labels_to_integers(g, label_attribute="name")
    return network_from_graph(g, mode=mode, require_highway=False)


def _two_way(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [*pairs, *[(v, u) for u, v in pairs]]


def _points(en: list[tuple[float, float]]) -> gpd.GeoSeries:
    return gpd.GeoSeries([shapely.Point(LON0 + e * M_LON, LAT0 + n * M_LAT) for e, n in en], crs="EPSG:4326")


def _stations(en: list[tuple[float, float]]) -> gpd.GeoDataFrame:
    pts = _points(en)
    return gpd.GeoDataFrame(
        {"station_id": [f"s{i}" for i in range(len(pts))], "status": "open"},
        geometry=pts.values,
        crs="EPSG:4326",
    )


def _demand(en: list[tuple[float, float]]) -> gpd.GeoDataFrame:
    pts = _points(en)
    return gpd.GeoDataFrame(
        {"demand_id": [f"d{i}" for i in range(len(pts))], "group": "courier", "weight": 1.0},
        geometry=pts.values,
        crs="EPSG:4326",
    )


def _check_against_split_networkx(
    net: Network, stations: gpd.GeoDataFrame, demand: gpd.GeoDataFrame
) -> np.ndarray:
    """compute_coverage's metres for every demand point, asserted equal to networkx on the split graph."""
    res = compute_coverage(net, stations, demand, minutes=30.0, horizon_minutes=60.0)
    sx, sy = stations.geometry.x.to_numpy(), stations.geometry.y.to_numpy()
    dx, dy = demand.geometry.x.to_numpy(), demand.geometry.y.to_numpy()
    g = split_graph(
        net.to_networkx(),
        net,
        [("s", sx, sy, net.snap(sx, sy)), ("d", dx, dy, net.snap(dx, dy))],
        node_key=int,
    )
    dist = to_nearest_station(g, len(stations), 60.0 * net.meters_per_minute)
    want = np.array([dist.get(("d", i), np.nan) for i in range(len(demand))])
    got = res.demand["minutes"].to_numpy(dtype=float) * net.meters_per_minute
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6, equal_nan=True)
    return got


# a long street A—B (1,000 m east), a loop back B—C—A north of it, a side street, and a 3-node island
NODES = {
    "A": (0.0, 0.0), "B": (1000.0, 0.0), "C": (500.0, 300.0), "D": (0.0, -200.0),
    "I1": (300.0, 40.0), "I2": (360.0, 40.0), "I3": (420.0, 40.0),
}  # fmt: skip
STREETS = [("A", "B"), ("B", "C"), ("C", "A"), ("A", "D")]
ISLAND = [("I1", "I2"), ("I2", "I3")]


def test_long_edge_counts_the_partial_length_not_the_diagonal() -> None:
    net = _network(_two_way(STREETS + ISLAND), NODES, "walk")
    length = gc_meters(*(LON0, LAT0), LON0 + 1000 * M_LON, LAT0)
    # station exactly at B; a worker 8 m south of the street, 300 m from A (nearest node A)
    got = _check_against_split_networkx(net, _stations([(1000.0, 0.0)]), _demand([(300.0, -8.0)]))
    snap = net.snap(LON0 + 300 * M_LON, LAT0 - 8 * M_LAT)
    t = (
        float(snap.fraction[0])
        if net.node_id[snap.tail[0]] < net.node_id[snap.head[0]]
        else 1 - float(snap.fraction[0])
    )
    assert t == pytest.approx(0.3, abs=1e-3)
    edge_m = float(snap.meters[0]) + (1 - t) * length  # straight across, then the rest of the street to B
    assert got[0] == pytest.approx(edge_m, abs=1e-6)
    # node snapping joined at A (the nearest node) by the diagonal and walked the whole street back
    node_m = gc_meters(LON0 + 300 * M_LON, LAT0 - 8 * M_LAT, LON0, LAT0) + length
    assert node_m - got[0] == pytest.approx(
        gc_meters(LON0 + 300 * M_LON, LAT0 - 8 * M_LAT, LON0, LAT0) - float(snap.meters[0]) + t * length,
        abs=1e-6,
    )


def test_beside_an_island_joins_the_main_street() -> None:
    net = _network(_two_way(STREETS + ISLAND), NODES, "walk")
    assert net.component_sizes.tolist() == [4, 3]
    stations = _stations([(1000.0, 0.0)])
    # 22 m north of A—B and 18 m south of the island: the island is nearer but the street within 25 m
    # 36 m from the street and 4 m from the island: clearly the island's (no station there)
    demand = _demand([(360.0, 22.0), (360.0, 36.0)])
    got = _check_against_split_networkx(net, stations, demand)
    snap = net.snap(demand.geometry.x, demand.geometry.y)
    assert snap.piece.tolist() == [0, 1]
    assert np.isfinite(got[0]) and np.isnan(got[1])


def test_one_way_edge_respects_direction_and_same_edge() -> None:
    # e-bike: A→B one way along the long street; the loop B—C—A two-way
    arcs = [("A", "B"), *_two_way([("B", "C"), ("C", "A"), ("A", "D")])]
    net = _network(arcs, NODES, "ebike")
    assert not net.symmetric
    stations = _stations([(200.0, 5.0)])
    # behind the station on the one-way street: ride along it; ahead of it: ride on to B, round the loop
    demand = _demand([(100.0, -5.0), (600.0, -5.0), (0.0, -150.0)])
    got = _check_against_split_networkx(net, stations, demand)
    length = gc_meters(LON0, LAT0, LON0 + 1000 * M_LON, LAT0)
    loop = gc_meters(LON0 + 1000 * M_LON, LAT0, LON0 + 500 * M_LON, LAT0 + 300 * M_LAT) + gc_meters(
        LON0 + 500 * M_LON, LAT0 + 300 * M_LAT, LON0, LAT0
    )
    assert got[0] == pytest.approx(5.0 + 0.1 * length + 5.0, abs=0.05)
    assert got[1] == pytest.approx(5.0 + 0.4 * length + loop + 0.2 * length + 5.0, abs=0.05)
    # the same points on a two-way street: straight back along it
    walk = _network(_two_way(STREETS), NODES, "walk")
    got_walk = _check_against_split_networkx(walk, stations, demand)
    assert got_walk[1] == pytest.approx(5.0 + 0.4 * length + 5.0, abs=0.05)


def test_same_edge_meters_direction() -> None:
    arcs = [("A", "B"), *_two_way([("B", "C"), ("C", "A")])]
    net = _network(arcs, NODES, "ebike")
    pts = _points([(100.0, 0.0), (300.0, 0.0)])
    snap = net.snap(pts.x, pts.y)
    forward = snap.tail[0] == int(np.flatnonzero(net.node_id == 0)[0])  # node 0 is A
    along = same_edge_meters(snap, [0, 1], snap, [1, 0])
    if forward:
        assert np.isfinite(along[0]) and np.isinf(along[1])
    else:
        assert np.isinf(along[0]) and np.isfinite(along[1])


@pytest.mark.parametrize("fixture", ["xian_ebike", "shanghai_ebike", "changsha_walk"])
def test_coverage_equals_split_networkx_on_real_networks(
    request: pytest.FixtureRequest, fixture: str
) -> None:
    """Xi'an (Amap links, 9,392 one-way): e-bike direction on edges; Shanghai e-bike; Changsha walk."""
    net: Network = request.getfixturevalue(fixture)
    rng = np.random.default_rng(9)
    main = np.flatnonzero(net.component == 0)
    c_lon, c_lat = float(np.median(net.lon[main])), float(np.median(net.lat[main]))
    near = main[np.argsort(np.hypot(net.lon[main] - c_lon, net.lat[main] - c_lat))[:400]]
    pick = rng.choice(near, size=6, replace=False)
    stations = _stations_at(net.lon[pick] + 1.5e-4, net.lat[pick] - 1e-4)
    x0, x1 = np.quantile(net.lon[near], [0.0, 1.0])
    y0, y1 = np.quantile(net.lat[near], [0.0, 1.0])
    demand = _demand_at(rng.uniform(x0, x1, 250), rng.uniform(y0, y1, 250))
    res = compute_coverage(net, stations, demand, minutes=5.0, horizon_minutes=8.0)
    sx, sy = stations.geometry.x.to_numpy(), stations.geometry.y.to_numpy()
    dx, dy = demand.geometry.x.to_numpy(), demand.geometry.y.to_numpy()
    groups = [("s", sx, sy, net.snap(sx, sy)), ("d", dx, dy, net.snap(dx, dy))]
    g = split_graph(net.to_networkx(), net, groups, node_key=int)
    dist = to_nearest_station(g, len(stations), 8.0 * net.meters_per_minute)
    want = np.array([dist.get(("d", i), np.nan) for i in range(len(demand))]) / net.meters_per_minute
    got = res.demand["minutes"].to_numpy(dtype=float)
    assert np.isfinite(got).sum() > 30
    if fixture == "xian_ebike":  # most points sit on one-way edges: one end only
        one_way = np.isinf(groups[1][3].exits()[1]) & groups[1][3].snapped[:, None]
        assert one_way.any(axis=1).sum() > 100
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6, equal_nan=True)
    nodes = np.array([dist.get(i, np.nan) for i in range(net.n_nodes)]) / net.meters_per_minute
    np.testing.assert_allclose(res.node_minutes, nodes, rtol=0, atol=1e-6, equal_nan=True)


def _stations_at(lon: np.ndarray, lat: np.ndarray) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"station_id": [f"s{i}" for i in range(len(lon))], "status": "open"},
        geometry=gpd.points_from_xy(lon, lat),
        crs="EPSG:4326",
    )


def _demand_at(lon: np.ndarray, lat: np.ndarray) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"demand_id": [f"d{i}" for i in range(len(lon))], "group": "courier", "weight": 1.0},
        geometry=gpd.points_from_xy(lon, lat),
        crs="EPSG:4326",
    )
