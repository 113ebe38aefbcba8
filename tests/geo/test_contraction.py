"""The junction-graph search (degree-2 chains contracted) against the plain one-pass search on the
full graph: same node metres to 1e-9 and an attributed station that really attains them."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy.sparse.csgraph import dijkstra

from geo import _contract, _graph
from geo._contract import ContractedSearch, contracted_search
from geo.coverage import node_pass
from geo.network import Network
from geo.snapping import sources_of

Arrays = tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.float64]]


def _check(
    arrays: Arrays, nodes: NDArray[np.int64], offsets: NDArray[np.float64], limit: float
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Run both searches; assert equal metres and a valid (minimal) attributed source."""
    want_d, _ = _graph.OffsetSearch(*arrays).run(nodes, offsets, limit_m=limit)
    # the junction pass always (small_pass_fraction=0), and as node_pass runs it (small passes on
    # the full graph): both give the full-graph result
    default_d, _ = ContractedSearch(*arrays).run(nodes, offsets, limit_m=limit)
    np.testing.assert_allclose(default_d, want_d, rtol=0, atol=1e-9)
    got_d, got_o = ContractedSearch(*arrays, small_pass_fraction=0).run(nodes, offsets, limit_m=limit)
    fin = np.isfinite(want_d)
    assert np.array_equal(np.isfinite(got_d), fin)
    np.testing.assert_allclose(got_d[fin], want_d[fin], rtol=0, atol=1e-9)
    assert np.array_equal(got_o >= 0, fin)
    # the attributed source attains the minimum: offset + its own path to the node
    per_source = np.atleast_2d(dijkstra(_graph.csr_matrix(*arrays), directed=True, indices=nodes))
    v = np.flatnonzero(fin)
    attained = offsets[got_o[v]] + per_source[got_o[v], v]
    np.testing.assert_allclose(attained, got_d[v], rtol=0, atol=1e-9)
    return got_d, got_o


def _adversarial() -> Arrays:
    arcs: list[tuple[int, int, float]] = []

    def two(u: int, v: int, w: float) -> None:
        arcs.extend([(u, v, w), (v, u, w)])

    # junctions 0 and 11 (degree 3); a long two-way chain 0-1-...-10-11 with a zero-length arc
    for i in range(11):
        two(i, i + 1, 0.0 if i == 2 else 10.0 + i)
    # a one-way chain 11 → 12 → 13 → 14 → 0
    for u, v in ((11, 12), (12, 13), (13, 14), (14, 0)):
        arcs.append((u, v, 7.0 + u))
    # a one-node two-way chain 0-20-11
    two(0, 20, 40.0)
    two(20, 11, 45.0)
    # a loop chain from junction 0 back to itself
    for u, v in ((0, 30), (30, 31), (31, 32), (32, 0)):
        two(u, v, 5.0 + v % 7)
    # a two-way ring with no junction at all, and a one-way ring
    for u, v in ((40, 41), (41, 42), (42, 43), (43, 40)):
        two(u, v, 3.0 * (u - 39))
    for u, v in ((50, 51), (51, 52), (52, 50)):
        arcs.append((u, v, 4.0 + u - 50))
    # an isolated chain piece with degree-1 ends
    for u, v in ((60, 61), (61, 62), (62, 63)):
        two(u, v, 6.0)
    # a degree-2 node that is two-way on one side and one-way on the other (must stay a junction),
    # between two one-way pieces running into each other
    two(70, 71, 2.0)
    arcs.extend([(70, 72, 3.0), (73, 72, 1.0), (74, 73, 2.0), (71, 74, 9.0)])
    t, h, w = (np.array(x) for x in zip(*arcs, strict=True))
    return _graph.build_csr(80, t.astype(np.int64), h.astype(np.int64), w.astype(np.float64))


@pytest.mark.parametrize("limit", [np.inf, 60.0, 25.0])
def test_adversarial_graph(limit: float) -> None:
    arrays = _adversarial()
    cs = ContractedSearch(*arrays, small_pass_fraction=0)
    assert cs.n_junctions < 80  # chains were contracted
    # stations: mid long chain, on the one-way chain, on the loop chain, on both rings, on the
    # isolated piece, two on the same chain, and one on a junction
    nodes = np.array([5, 13, 31, 42, 51, 61, 8, 0, 72], dtype=np.int64)
    offsets = np.array([3.0, 0.0, 2.5, 7.0, 1.0, 0.0, 30.0, 12.0, 0.5])
    d, o = _check(arrays, nodes, offsets, limit)
    if np.isinf(limit):
        # same-chain direct case: node 6 is nearest to station 0 (node 5) along the chain
        assert o[6] == 0 and d[6] == pytest.approx(3.0 + 15.0)
        # the two-way ring reaches its station both ways; the one-way ring only forwards
        assert d[40] == pytest.approx(min(7.0 + 6.0 + 3.0, 7.0 + 9.0 + 12.0))
        assert d[50] == pytest.approx(1.0 + 5.0 + 6.0)
    # one station at a time, and every node as a station, exercise each case alone
    for i in range(nodes.size):
        _check(arrays, nodes[i : i + 1], offsets[i : i + 1], limit)
    every = np.arange(80, dtype=np.int64)
    _check(arrays, every, np.linspace(0.0, 20.0, 80), limit)


@pytest.mark.parametrize("seed", range(12))
def test_random_subdivided_graphs(seed: int) -> None:
    """Random junction graphs whose edges are split into chains of random length and direction."""
    rng = np.random.default_rng(seed)
    n_j = int(rng.integers(3, 15))
    tails: list[int] = []
    heads: list[int] = []
    lens: list[float] = []
    nxt = n_j
    for _ in range(int(rng.integers(n_j, 3 * n_j))):
        u, v = (int(x) for x in rng.integers(0, n_j, 2))
        k = int(rng.integers(0, 6))
        path = [u, *range(nxt, nxt + k), v]
        nxt += k
        kind = int(rng.integers(0, 3))  # two-way, forward, backward
        for a, b in itertools.pairwise(path):
            w = float(rng.choice([0.0, rng.uniform(1.0, 50.0)], p=[0.1, 0.9]))
            if kind in (0, 1):
                tails.append(a)
                heads.append(b)
                lens.append(w)
            if kind in (0, 2):
                tails.append(b)
                heads.append(a)
                lens.append(w)
    arrays = _graph.build_csr(
        nxt, np.array(tails, dtype=np.int64), np.array(heads, dtype=np.int64), np.array(lens)
    )
    m = int(rng.integers(1, max(2, nxt // 3)))
    nodes = rng.choice(nxt, size=m, replace=True).astype(np.int64)
    offsets = rng.uniform(0.0, 30.0, m)
    for limit in (np.inf, float(rng.uniform(20.0, 120.0))):
        _check(arrays, nodes, offsets, limit)


@pytest.mark.parametrize(
    "fixture", ["shenzhen_walk", "shenzhen_ebike", "shanghai_walk", "changsha_walk", "xian_ebike"]
)
def test_real_networks(request: pytest.FixtureRequest, fixture: str, monkeypatch: pytest.MonkeyPatch) -> None:
    net: Network = request.getfixturevalue(fixture)
    cs = contracted_search(net)
    assert contracted_search(net) is cs  # built once per network
    assert cs.n_junctions < 0.6 * net.n_nodes
    rng = np.random.default_rng(7)
    for count in (1, 25):
        nodes = np.unique(rng.choice(net.n_nodes, size=count, replace=False)).astype(np.int64)
        offsets = rng.uniform(0.0, 200.0, nodes.size)
        for minutes in (5.0, 60.0):
            _check(net.reverse_arrays, nodes, offsets, minutes * net.meters_per_minute)
    # through the public pass (small networks normally keep the full graph: force the contraction)
    monkeypatch.setattr(_contract, "MIN_NODES", 0)
    assert _contract.coverage_search(net) is cs
    pick = rng.choice(net.n_nodes, size=20, replace=False)
    lon, lat = net.lon[pick] + 2e-4, net.lat[pick] - 1e-4
    d, st, snap = node_pass(net, lon, lat, horizon_minutes=20.0)
    src_node, src_off, src_station = sources_of(snap)  # each station enters at its edge's ends
    want, owner = net.offset_search.run(src_node, src_off, limit_m=20.0 * net.meters_per_minute)
    fin = np.isfinite(want)
    assert np.array_equal(np.isfinite(d), fin)
    np.testing.assert_allclose(d[fin], want[fin], rtol=0, atol=1e-9)
    assert np.array_equal(st >= 0, fin)
    per = np.atleast_2d(dijkstra(net.reverse_csr(), directed=True, indices=src_node)) + src_off[:, None]
    v = np.flatnonzero(fin)
    by_station = np.full((len(snap), net.n_nodes), np.inf)
    np.minimum.at(by_station, src_station, per)
    np.testing.assert_allclose(by_station[st[v], v], d[v], rtol=0, atol=1e-9)
    assert np.all(owner[v] >= 0)


def test_small_pass_shortcut_is_taken_and_exact(shenzhen_walk: Network) -> None:
    """Few stations and a short limit settle a small part of the graph: the full-graph search answers
    (its settled count is recorded); many stations go through the junction graph. Same metres."""
    net = shenzhen_walk
    arrays = net.reverse_arrays
    cs = ContractedSearch(*arrays)
    full = _graph.OffsetSearch(*arrays)
    nodes = np.array([10, 2000], dtype=np.int64)
    offsets = np.array([5.0, 0.0])
    d, _ = cs.run(nodes, offsets, limit_m=300.0)
    assert 0 < cs._full.settled <= net.n_nodes // cs.small_pass_fraction
    want, _ = full.run(nodes, offsets, limit_m=300.0)
    np.testing.assert_array_equal(d, want)
    # the budget really stops a large pass
    assert full.run_within(nodes, offsets, limit_m=np.inf, max_settled=100) is None
    assert full.run_within(nodes, offsets, limit_m=np.inf, max_settled=net.n_nodes) is not None
