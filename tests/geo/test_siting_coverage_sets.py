"""Sparse coverage sets against networkx Dijkstra on seeded random directed graphs."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp

from geo.siting.coverage_sets import merge_columns, reach_matrix, reversed_if_directed


def _random_graph(seed: int, n: int = 60, m: int = 200) -> tuple[sp.csr_matrix, nx.DiGraph]:
    rng = np.random.default_rng(seed)
    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    for _ in range(m):
        u, v = rng.integers(0, n, 2)
        if u != v:
            length = float(rng.uniform(10, 300))
            if g.has_edge(u, v):
                length = min(length, g[u][v]["length"])
            g.add_edge(int(u), int(v), length=length)
    csr = sp.csr_matrix(nx.to_scipy_sparse_array(g, nodelist=range(n), weight="length"))
    return csr, g


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("chunk", [1, 3, None])
def test_reach_matrix_matches_networkx(seed: int, chunk: int | None) -> None:
    csr, g = _random_graph(seed)
    rng = np.random.default_rng(100 + seed)
    n = csr.shape[0]
    n_src, n_tgt = 15, 80
    s_node = rng.integers(0, n, n_src)
    s_node[0] = s_node[1]  # two sources at one node
    s_node[2] = -1  # unsnappable source
    s_off = rng.uniform(0, 100, n_src)
    t_node = rng.integers(0, n, n_tgt)
    t_node[5] = -1  # unsnappable target
    t_off = rng.uniform(0, 100, n_tgt)
    limit_m = 400.0
    budget = limit_m - s_off
    got = reach_matrix(reversed_if_directed(csr), s_node, budget, t_node, t_off, chunk_size=chunk).toarray()
    # reference: time(P -> S) = off(P) + path(node(P) -> node(S)) + off(S) on the directed graph
    want = np.zeros((n_src, n_tgt), dtype=bool)
    for j in range(n_src):
        if s_node[j] < 0:
            continue
        to_s = nx.single_source_dijkstra_path_length(g.reverse(copy=True), int(s_node[j]), weight="length")
        for i in range(n_tgt):
            if t_node[i] < 0 or int(t_node[i]) not in to_s:
                continue
            want[j, i] = t_off[i] + to_s[int(t_node[i])] + s_off[j] <= limit_m + 1e-9
    assert want.sum() > 10  # the instance is not trivial
    np.testing.assert_array_equal(got, want)


def test_directed_graph_is_searched_reversed() -> None:
    # one-way street 0 -> 1 of 100 m: a demand point at node 0 reaches a station at node 1, not the reverse
    csr = sp.csr_matrix(([100.0], ([0], [1])), shape=(2, 2))
    rev = reversed_if_directed(csr)
    station_at_1 = reach_matrix(rev, np.array([1]), np.array([150.0]), np.array([0]), np.array([0.0]))
    station_at_0 = reach_matrix(rev, np.array([0]), np.array([150.0]), np.array([1]), np.array([0.0]))
    assert station_at_1.toarray().tolist() == [[True]]
    assert station_at_0.toarray().tolist() == [[False]]
    sym = csr + csr.T
    assert reversed_if_directed(sym) is not None
    assert (reversed_if_directed(sym) != sym).nnz == 0


def test_merge_columns_sums_identical_candidate_sets() -> None:
    dense = np.array(
        [
            [1, 1, 0, 1, 0, 1],
            [0, 0, 1, 0, 0, 0],
            [1, 1, 0, 1, 0, 0],
        ],
        dtype=bool,
    )
    w = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    keep = np.array([True, True, True, False, True, True])
    merged, mw, col = merge_columns(sp.csr_matrix(dense), w, keep)
    # columns 0 and 1 share {0, 2}; column 3 is dropped (covered before); column 4 has no candidate
    assert col.tolist() == [0, 0, 1, -1, -1, 2]
    assert mw.tolist() == [3.0, 3.0, 6.0]
    assert merged.toarray().astype(int).tolist() == [[1, 0, 1], [0, 1, 0], [1, 0, 0]]
