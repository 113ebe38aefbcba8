"""geo.network on the real extracts, checked against networkx graphs built straight from osmnx."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
import shapely

from geo.errors import InputError, NotFoundError
from geo.network import Network, arc_allowed, load_network, nearest_k, read_network_npz, save_network
from tests.geo._split import split_graph

SHENZHEN_CORE = (113.92, 22.535, 113.97, 22.56)
CHANGSHA_BOUNDS = (112.94196, 28.18252, 112.94899, 28.18780)


def _arc_set(net: Network) -> dict[tuple[int, int], float]:
    u = net.node_id[net.tails]
    v = net.node_id[net.indices]
    return dict(zip(zip(u.tolist(), v.tolist(), strict=True), net.length_m.tolist(), strict=True))


def _ref_arcs(g: nx.DiGraph) -> dict[tuple[int, int], float]:
    return {(u, v): d["length"] for u, v, d in g.edges(data=True)}


# ------------------------------------------------------------------------------------------ mode rules
@pytest.mark.parametrize(
    ("tags", "walk", "ebike"),
    [
        ({"highway": "footway"}, True, False),
        ({"highway": "footway", "bicycle": "yes"}, True, True),
        ({"highway": "steps", "bicycle": "yes"}, True, False),
        ({"highway": "pedestrian"}, True, False),
        ({"highway": "cycleway"}, True, True),
        ({"highway": "cycleway", "foot": "no"}, False, True),
        ({"highway": "path"}, True, True),
        ({"highway": "path", "bicycle": "no"}, True, False),
        ({"highway": "motorway"}, False, False),
        ({"highway": "motorway_link"}, False, False),
        ({"highway": "primary", "motorroad": "yes"}, False, False),
        ({"highway": "residential", "access": "private"}, False, False),
        ({"highway": "service", "access": "private", "foot": "yes"}, True, False),
        ({"highway": "construction"}, False, False),
        ({"highway": "proposed"}, False, False),
        ({"highway": "trunk"}, True, True),
        ({"highway": "secondary", "foot": "use_sidepath"}, False, True),
        ({"building": "yes"}, False, False),
    ],
)
def test_mode_rules(tags: dict[str, str], walk: bool, ebike: bool) -> None:
    assert arc_allowed(tags, "walk") is walk
    assert arc_allowed(tags, "ebike") is ebike


# ------------------------------------------------------------------------------------------ building
@pytest.mark.parametrize(("place", "fixture", "mode", "bbox"), [
    ("shenzhen", "shenzhen_walk", "walk", SHENZHEN_CORE),
    ("shenzhen", "shenzhen_ebike", "ebike", SHENZHEN_CORE),
    ("shanghai", "shanghai_walk", "walk", None),
    ("shanghai", "shanghai_ebike", "ebike", None),
    ("changsha", "changsha_walk", "walk", CHANGSHA_BOUNDS),
])  # fmt: skip
def test_arcs_equal_independent_build(
    request: pytest.FixtureRequest,
    raw_graphs: dict[str, nx.MultiDiGraph],
    reference_graph: Callable[..., nx.DiGraph],
    place: str,
    fixture: str,
    mode: str,
    bbox: tuple[float, float, float, float] | None,
) -> None:
    net: Network = request.getfixturevalue(fixture)
    ref = reference_graph(raw_graphs[place], mode=mode, bbox=bbox)
    ours = _arc_set(net)
    theirs = _ref_arcs(ref)
    assert ours.keys() == theirs.keys()
    assert all(abs(ours[k] - theirs[k]) < 1e-9 for k in ours)
    assert net.node_id.dtype == np.int64 and net.lon.dtype == np.float64
    assert set(net.node_id.tolist()) == set(ref.nodes)
    for i in np.linspace(0, net.n_nodes - 1, 25).astype(int):
        assert net.lon[i] == ref.nodes[int(net.node_id[i])]["x"]
        assert net.lat[i] == ref.nodes[int(net.node_id[i])]["y"]
    if bbox is not None:
        assert net.lon.min() >= bbox[0] and net.lon.max() <= bbox[2]
        assert net.lat.min() >= bbox[1] and net.lat.max() <= bbox[3]
    assert net.symmetric is (mode == "walk")


def test_walk_has_footways_ebike_does_not(
    shenzhen_walk: Network, shenzhen_ebike: Network, raw_graphs: dict[str, nx.MultiDiGraph]
) -> None:
    raw = raw_graphs["shenzhen"]
    kinds: dict[tuple[int, int], set[str]] = {}
    for u, v, d in raw.edges(data=True):
        kinds.setdefault((u, v), set()).add(str(d.get("highway")))
        kinds.setdefault((v, u), set()).add(str(d.get("highway")))
    walk_kinds = set().union(*(kinds[k] for k in _arc_set(shenzhen_walk)))
    ebike_only = [kinds[k] for k in _arc_set(shenzhen_ebike)]
    assert {"footway", "steps", "pedestrian", "cycleway"} <= walk_kinds
    closed = {"motorway", "motorway_link", "construction", "None"}
    assert all(kinds[k] - closed for k in _arc_set(shenzhen_walk))  # never an arc from closed ways only
    # every ebike arc is usable by some non-pedestrian way between its nodes
    assert not any(k <= {"steps"} for k in ebike_only)
    assert shenzhen_ebike.n_arcs < shenzhen_walk.n_arcs


def test_ebike_respects_one_way(shenzhen_ebike: Network, network_cache_dir: Path) -> None:
    arcs = _arc_set(shenzhen_ebike)
    one_way = [k for k in arcs if (k[1], k[0]) not in arcs]
    assert len(one_way) > 100  # Shenzhen's dual carriageways
    both = load_network(
        shenzhen_ebike.source, mode="ebike", clip=SHENZHEN_CORE, oneway=False, cache_dir=network_cache_dir
    )
    assert both.symmetric and not shenzhen_ebike.symmetric
    arcs_both = _arc_set(both)
    assert all((v, u) in arcs_both for u, v in one_way)


def test_components_match_networkx(shenzhen_walk: Network, shenzhen_ebike: Network) -> None:
    for net in (shenzhen_walk, shenzhen_ebike):
        comps = sorted(nx.weakly_connected_components(net.to_networkx()), key=len, reverse=True)
        assert net.component_sizes.tolist() == [len(c) for c in comps]
        assert int(net.component_sizes.sum()) == net.n_nodes
        largest = np.flatnonzero(net.component == 0)
        assert set(largest.tolist()) == comps[0]


def test_drive_only_inputs_still_give_walk_and_ebike(shanghai_walk: Network, xian_ebike: Network) -> None:
    assert shanghai_walk.symmetric and shanghai_walk.component_sizes[0] == 2221
    # Xi'an GraphML: 10,292 directed Amap links, no highway tags, kept as streets
    assert xian_ebike.n_nodes == 8469 and xian_ebike.n_arcs == 10292 and not xian_ebike.symmetric


# ------------------------------------------------------------------------------------------ snapping
def test_snap_reports_unsnappable(shenzhen_walk: Network) -> None:
    snap = shenzhen_walk.snap([113.95, 113.90, np.nan], [22.55, 22.50, 22.5], max_meters=300.0)
    assert snap.node[0] >= 0 and snap.node[1] == -1 and snap.node[2] == -1
    assert snap.meters[1] > 300 and np.isnan(snap.meters[2])
    with pytest.raises(InputError):
        shenzhen_walk.snap([1.0], [1.0, 2.0])


# ------------------------------------------------------------------------------------------ routes
@pytest.mark.parametrize("fixture", ["shenzhen_walk", "shenzhen_ebike"])
def test_route_matches_networkx(request: pytest.FixtureRequest, fixture: str) -> None:
    net: Network = request.getfixturevalue(fixture)
    g = net.to_networkx()
    rng = np.random.default_rng(3)
    main = np.flatnonzero(net.component == 0)
    arcs = _arc_set(net)
    for s, t in rng.choice(main, size=(15, 2)):
        try:
            ref = nx.dijkstra_path_length(g, int(s), int(t), weight="length")
        except nx.NetworkXNoPath:
            with pytest.raises(NotFoundError):
                net.route(int(s), int(t))
            continue
        nodes, meters = net.route(int(s), int(t))
        assert nodes[0] == s and nodes[-1] == t
        assert abs(meters - ref) < 1e-6
        walked = sum(arcs[(int(net.node_id[a]), int(net.node_id[b]))] for a, b in itertools.pairwise(nodes))
        assert abs(walked - meters) < 1e-6


# ------------------------------------------------------------------------------------------ cache
def test_cache_and_npz_round_trip(shenzhen_walk: Network, tmp_path: Path) -> None:
    src = Path(shenzhen_walk.source)
    built = load_network(src, clip=SHENZHEN_CORE, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.npz"))) == 1
    cached = load_network(src, clip=SHENZHEN_CORE, cache_dir=tmp_path, speed_kph=5.0)
    assert cached.speed_kph == 5.0 and built.speed_kph == 4.5
    for name in ("node_id", "lon", "lat", "indptr", "indices", "length_m", "component", "component_sizes"):
        assert np.array_equal(getattr(built, name), getattr(cached, name)), name
    # a different clip or mode is a different cache entry
    poly = shapely.box(113.93, 22.54, 113.96, 22.555)
    clipped = load_network(src, clip=poly, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.npz"))) == 2 and clipped.n_nodes < built.n_nodes
    out = save_network(built, tmp_path / "sz.npz")
    again = load_network(out)
    assert again.mode == "walk" and np.array_equal(again.indices, built.indices)
    assert read_network_npz(out).source_hash == built.source_hash
    with pytest.raises(InputError):
        load_network(out, mode="ebike")
    with pytest.raises(InputError):
        load_network(out, oneway=True)
    # clipping a built network equals building with the clip
    reclipped = load_network(out, clip=poly)
    for name in ("node_id", "indptr", "indices", "length_m", "component", "component_sizes"):
        assert np.array_equal(getattr(reclipped, name), getattr(clipped, name)), name
    with pytest.raises(NotFoundError):
        load_network(tmp_path / "missing.osm")


def test_load_rejects_bad_options(tmp_path: Path) -> None:
    bad = tmp_path / "roads.txt"
    bad.write_text("x")
    with pytest.raises(InputError):
        load_network(bad, cache=False)
    osm = bad.with_suffix(".osm")
    osm.write_text("<osm/>")
    with pytest.raises(InputError):
        load_network(osm, mode="bus")
    with pytest.raises(InputError):
        load_network(osm, speed_kph=-3.0)
    with pytest.raises(InputError):
        load_network(osm, clip=(114.0, 22.0, 113.0, 23.0))


# ------------------------------------------------------------------------------------------ nearest_k
@pytest.mark.parametrize("fixture", ["shenzhen_walk", "shenzhen_ebike"])
def test_nearest_k_matches_per_station_networkx(
    request: pytest.FixtureRequest, fixture: str, shenzhen_banks: object
) -> None:
    import geopandas as gpd

    net: Network = request.getfixturevalue(fixture)
    banks = shenzhen_banks
    assert isinstance(banks, gpd.GeoDataFrame)
    sx, sy = banks.geometry.x.to_numpy(), banks.geometry.y.to_numpy()
    idx, minutes = nearest_k(net, sx, sy, k=3, horizon_minutes=20.0, chunk=4)
    snap = net.snap(sx, sy)
    # networkx on the graph where each station really splits the edge it snapped to
    g = split_graph(net.to_networkx(), net, [("s", sx, sy, snap)], node_key=int).reverse(copy=True)
    limit = 20.0 * net.meters_per_minute
    per_station = np.full((len(banks), net.n_nodes), np.inf)
    for j in np.flatnonzero(snap.snapped):
        for v, d in nx.single_source_dijkstra_path_length(g, ("s", j), cutoff=limit, weight="length").items():
            if isinstance(v, int):
                per_station[j, v] = d
    ref = np.sort(per_station, axis=0)[:3].T / net.meters_per_minute
    np.testing.assert_allclose(
        np.where(np.isfinite(ref), ref, np.nan), minutes, rtol=0, atol=1e-6, equal_nan=True
    )
    rows = np.arange(net.n_nodes)
    for c in range(3):
        ok = idx[:, c] >= 0
        got = per_station[idx[ok, c], rows[ok]] / net.meters_per_minute
        np.testing.assert_allclose(got, minutes[ok, c], rtol=0, atol=1e-6)
    assert np.array_equal(idx < 0, np.isnan(minutes))


def test_bz2_osm_and_edges_frame(changsha_walk: Network, tmp_path: Path) -> None:
    import bz2

    src = Path(changsha_walk.source)
    packed = tmp_path / "changsha.osm.bz2"
    packed.write_bytes(bz2.compress(src.read_bytes()))
    net = load_network(packed, clip=CHANGSHA_BOUNDS, cache=False)
    assert _arc_set(net) == _arc_set(changsha_walk)
    edges = changsha_walk.edges_frame()
    assert len(edges) == changsha_walk.n_arcs and edges.crs.to_epsg() == 4326
    assert not edges["oneway"].any()
    undirected = changsha_walk.edges_frame(undirected=True)
    assert len(undirected) * 2 == changsha_walk.n_arcs
    # great-circle (sphere) vs UTM (ellipsoid) lengths differ by up to ~0.5 % (north–south at 28° N)
    metric = undirected.to_crs(undirected.estimate_utm_crs())
    np.testing.assert_allclose(
        metric.length.to_numpy(), undirected["length_m"].to_numpy(), rtol=6e-3, atol=0.05
    )
    nodes = changsha_walk.nodes_frame()
    assert nodes["node_id"].tolist() == changsha_walk.node_id.tolist()
