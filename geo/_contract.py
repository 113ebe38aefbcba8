"""Private: the multi-source coverage search on a *junction graph* (degree-2 chains contracted).

Networks are built with ``simplify=False``, so most nodes are degree-2 "shape" nodes on chains
between junctions. :class:`ContractedSearch` replaces every maximal chain of such nodes by one arc
junction → junction (both directions for two-way chains, one for one-way chains), runs the one
``scipy.sparse.csgraph.dijkstra(min_only=True)`` pass on the much smaller junction graph, and then
rebuilds every chain node's exact value with numpy::

    d(v) = min( d(A) + dist(A → v), d(B) + dist(B → v), same-chain stations )

where ``A``/``B`` are the chain's end junctions. Stations snapped to chain nodes enter the junction
search at the chain ends they can reach (offset + distance along the chain); stations on the same
chain as ``v`` are handled directly by a segmented prefix/suffix minimum. The result is the same as
:meth:`geo._graph.OffsetSearch.run` on the full graph (up to floating-point summation order).

All arrays are in the *search graph* (the reversed graph for worker → station questions); lengths
are metres.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from geo import _graph

# scipy.sparse.csgraph is imported inside the functions that use it (~80 ms of every CLI start)

if TYPE_CHECKING:
    from geo.network import Network

__all__ = [
    "MIN_NODES",
    "STATE_FORMAT",
    "ContractedSearch",
    "adopt_state",
    "contracted_search",
    "coverage_search",
    "search_state",
    "share_search",
]

#: networks with fewer nodes keep the full-graph search: there a pass takes a fraction of a millisecond
#: and the per-call chain reconstruction costs more than the smaller search saves (bench/coverage.py)
MIN_NODES = 20_000

#: a pass that settles fewer than 1/SMALL_PASS_FRACTION of the nodes runs on the full graph: the
#: junction pass costs several numpy sweeps over every junction and touched chain, which only pays
#: when the search reaches much of the network (bench/coverage.py: 10 stations on 5 M arcs)
SMALL_PASS_FRACTION = 16


def _chain_dist(
    g: sp.csr_matrix, starts: NDArray[np.int64], *, unweighted: bool = False
) -> NDArray[np.float64]:
    from scipy.sparse.csgraph import dijkstra

    if starts.size == 0:
        return np.full(g.shape[0], np.inf)
    return np.asarray(
        dijkstra(g, directed=not unweighted, indices=starts, min_only=True, unweighted=unweighted),
        dtype=np.float64,
    )


def _segmented_min_scan(
    values: NDArray[np.float64], args: NDArray[np.int64], segment: NDArray[np.integer[Any]]
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Inclusive prefix minimum of ``values`` within runs of equal ``segment`` (sorted), with the
    ``args`` entry attaining it (the earliest on ties). Hillis–Steele doubling: log2(n) vector steps."""
    v = values.copy()
    a = args.copy()
    k = 1
    n = v.size
    while k < n:
        prev_v = v[:-k]
        take = (segment[k:] == segment[:-k]) & (prev_v <= v[k:])
        nv = v.copy()
        na = a.copy()
        nv[k:][take] = prev_v[take]
        na[k:][take] = a[:-k][take]
        v, a = nv, na
        k *= 2
    return v, a


def _locality_order(
    n: int, nodes: NDArray[np.int64], tails: NDArray[np.int64], heads: NDArray[np.int64]
) -> NDArray[np.int64]:
    """An order of ``nodes`` (positions into it) in which neighbours (arcs ``tails → heads``, node ids
    of the full graph) sit close together: reverse Cuthill–McKee of their undirected adjacency. The
    search then walks memory nearly in order instead of jumping across a multi-million-node array,
    which on large networks costs it more than the heap does."""
    from scipy.sparse.csgraph import reverse_cuthill_mckee

    pos = np.full(n, -1, dtype=np.int64)
    pos[nodes] = np.arange(nodes.size)
    r, c = pos[tails], pos[heads]
    ok = (r >= 0) & (c >= 0)
    adj = sp.csr_matrix(
        (
            np.ones(2 * int(ok.sum()), dtype=np.int8),
            (np.concatenate([r[ok], c[ok]]), np.concatenate([c[ok], r[ok]])),
        ),
        shape=(nodes.size, nodes.size),
    )
    return np.asarray(reverse_cuthill_mckee(adj, symmetric_mode=True), dtype=np.int64)


def _gather_ranges(ptr: NDArray[np.int64], rows: NDArray[np.int64]) -> NDArray[np.int64]:
    """Concatenated ``arange(ptr[r], ptr[r + 1])`` of every ``r`` in ``rows`` (vectorised)."""
    starts = ptr[rows]
    lens = ptr[rows + 1] - starts
    total = int(lens.sum())
    return np.repeat(starts - np.cumsum(lens) + lens, lens) + np.arange(total, dtype=np.int64)


@dataclass(frozen=True)
class _Arcs:
    """The search graph's arcs without self-loops (tails, heads, lengths), and the nodes that carry
    a self-loop (``forced``: they stay junctions)."""

    tails: NDArray[np.int64]
    heads: NDArray[np.int64]
    w: NDArray[np.float64]
    forced: NDArray[np.bool_]


@dataclass(frozen=True)
class _Slots:
    """Per node, its two neighbour slots when it may lie inside a chain (``interior``): neighbour
    ``nb``, lengths node → neighbour ``w_to`` and neighbour → node ``w_from`` (slot 0 is the
    in-neighbour of one-way nodes), and whether both directions exist (``is_two``)."""

    interior: NDArray[np.bool_]
    nb: NDArray[np.int64]
    w_to: NDArray[np.float64]
    w_from: NDArray[np.float64]
    is_two: NDArray[np.bool_]


@dataclass(frozen=True)
class _Chains:
    """Interior nodes grouped by chain (chain c's nodes contiguous), the chain of every node (-1
    at junctions) and whether each chain is two-way."""

    inodes: NDArray[np.int64]
    chain_of_i: NDArray[np.int64]
    chain: NDArray[np.int64]
    chain_two: NDArray[np.bool_]
    n_chains: int


@dataclass(frozen=True)
class _Ends:
    """Per chain its first node ``c1`` (slot ``s1``) next to end junction ``a_end`` and its last
    node ``ck`` (slot ``sk``) next to end junction ``b_end``."""

    c1: NDArray[np.int64]
    s1: NDArray[np.int64]
    ck: NDArray[np.int64]
    sk: NDArray[np.int64]
    a_end: NDArray[np.int64]
    b_end: NDArray[np.int64]


@dataclass(frozen=True)
class _Along:
    """Per interior node: its position along its chain and the metres from end A (``a_in``), to
    end A (``a_out``), from end B (``b_in``) and to end B (``b_out``); inf where not allowed."""

    pos: NDArray[np.int64]
    a_in: NDArray[np.float64]
    a_out: NDArray[np.float64]
    b_in: NDArray[np.float64]
    b_out: NDArray[np.float64]


@dataclass(frozen=True)
class _Junctions:
    """The junction graph: junction nodes in search order, the junction id of every node (-1 on
    chains), the position of every interior node, and the graph's CSR arrays."""

    jnodes: NDArray[np.int64]
    jid: NDArray[np.int64]
    loc: NDArray[np.int64]
    csr: tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.float64]]


def _plain_arcs(
    indptr: NDArray[np.int32], indices: NDArray[np.int32], length_m: NDArray[np.float64]
) -> _Arcs:
    n = int(indptr.size - 1)
    tails = np.repeat(np.arange(n, dtype=np.int64), np.diff(indptr))
    heads = indices.astype(np.int64)
    w = np.asarray(length_m, dtype=np.float64)
    loop = tails == heads
    forced = np.zeros(n, dtype=bool)
    forced[tails[loop]] = True
    return _Arcs(tails[~loop], heads[~loop], w[~loop], forced)


def _neighbour_groups(
    n: int, arcs: _Arcs
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64], NDArray[np.int64], NDArray[np.int64]]:
    """Node-centric records (node, neighbour, out-length, in-length), one per (node, neighbour)
    pair with the shortest lengths: ``(neighbour, out, in, first record of every node, degree)``."""
    tails, heads, w = arcs.tails, arcs.heads, arcs.w
    rn = np.concatenate([tails, heads])
    rb = np.concatenate([heads, tails])
    r_out = np.concatenate([w, np.full(w.size, np.inf)])
    r_in = np.concatenate([np.full(w.size, np.inf), w])
    order = np.lexsort((rb, rn))
    rn, rb, r_out, r_in = rn[order], rb[order], r_out[order], r_in[order]
    if rn.size:
        first = np.ones(rn.size, dtype=bool)
        first[1:] = (rn[1:] != rn[:-1]) | (rb[1:] != rb[:-1])
        starts = np.flatnonzero(first)
        gn, gb = rn[starts], rb[starts]
        g_out = np.minimum.reduceat(r_out, starts)
        g_in = np.minimum.reduceat(r_in, starts)
    else:
        gn = gb = np.zeros(0, dtype=np.int64)
        g_out = g_in = np.zeros(0)
    udeg = np.bincount(gn, minlength=n)
    gptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(udeg, out=gptr[1:])
    return gb, g_out, g_in, gptr, udeg


def _interior_candidates(n: int, arcs: _Arcs) -> _Slots:
    """Nodes with exactly two neighbours, passed through both ways or one way (in from one, out to
    the other), and no self-loop: the candidates for chain interiors, with their two slots."""
    gb, g_out, g_in, gptr, udeg = _neighbour_groups(n, arcs)
    cand = np.flatnonzero((udeg == 2) & ~arcs.forced)
    g0, g1 = gptr[cand], gptr[cand] + 1
    o0, i0, o1, i1 = (np.isfinite(x) for x in (g_out[g0], g_in[g0], g_out[g1], g_in[g1]))
    two = o0 & i0 & o1 & i1
    one_01 = i0 & ~o0 & o1 & ~i1  # in from slot 0, out to slot 1
    one_10 = i1 & ~o1 & o0 & ~i0
    ok = two | one_01 | one_10
    cand, g0, g1, two, one_10 = cand[ok], g0[ok], g1[ok], two[ok], one_10[ok]
    # orient one-way nodes so that slot 0 is the in-neighbour
    s0 = np.where(one_10, g1, g0)
    s1 = np.where(one_10, g0, g1)
    interior = np.zeros(n, dtype=bool)
    interior[cand] = True
    nb = np.full((n, 2), -1, dtype=np.int64)
    nb[cand, 0], nb[cand, 1] = gb[s0], gb[s1]
    w_to = np.full((n, 2), np.inf)  # length node → neighbour
    w_from = np.full((n, 2), np.inf)  # length neighbour → node
    w_to[cand, 0], w_to[cand, 1] = g_out[s0], g_out[s1]
    w_from[cand, 0], w_from[cand, 1] = g_in[s0], g_in[s1]
    is_two = np.zeros(n, dtype=bool)
    is_two[cand] = two
    return _Slots(interior, nb, w_to, w_from, is_two)


def _chain_pieces(n: int, arcs: _Arcs, slots: _Slots) -> tuple[NDArray[np.bool_], NDArray[np.int32]]:
    """Chains = connected pieces of interior nodes; pure cycles get one node promoted to junction.
    Returns the final interior mask and every node's piece label."""
    from scipy.sparse.csgraph import connected_components

    tails, heads, nb = arcs.tails, arcs.heads, slots.nb
    interior = slots.interior.copy()
    while True:
        ia = interior[tails] & interior[heads]
        und = sp.csr_matrix((np.ones(int(ia.sum()), dtype=np.int8), (tails[ia], heads[ia])), shape=(n, n))
        _, label = connected_components(und, directed=False)
        ends = np.zeros(n, dtype=np.int64)
        for s in (0, 1):
            e = interior & ~interior[np.maximum(nb[:, s], 0)]
            np.add.at(ends, label[e], 1)
        il = label[interior]
        cyc = ends[il] == 0
        if not cyc.any():
            return interior, label
        inodes = np.flatnonzero(interior)[cyc]
        lab = il[cyc]
        o = np.lexsort((inodes, lab))
        firsts = np.ones(o.size, dtype=bool)
        firsts[1:] = lab[o][1:] != lab[o][:-1]
        interior[inodes[o][firsts]] = False


def _chains_of(n: int, interior: NDArray[np.bool_], label: NDArray[np.int32], slots: _Slots) -> _Chains:
    inodes = np.flatnonzero(interior)
    _, chain_of_i = np.unique(label[inodes], return_inverse=True)
    chain_of_i = chain_of_i.astype(np.int64)
    by_chain = np.argsort(chain_of_i, kind="stable")  # chain c's nodes are contiguous
    inodes, chain_of_i = inodes[by_chain], chain_of_i[by_chain]
    n_chains = int(chain_of_i.max()) + 1 if inodes.size else 0
    chain = np.full(n, -1, dtype=np.int64)
    chain[inodes] = chain_of_i
    chain_two = np.zeros(n_chains, dtype=bool)
    chain_two[chain_of_i] = slots.is_two[inodes]
    return _Chains(inodes, chain_of_i, chain, chain_two, n_chains)


def _chain_ends(interior: NDArray[np.bool_], slots: _Slots, chains: _Chains) -> _Ends:
    """End slots: (node, slot) whose neighbour is a junction; exactly two per chain, ordered so
    that a one-way chain runs from its first end to its last."""
    inodes, nb = chains.inodes, slots.nb
    e_node_l, e_slot_l = [], []
    for s in (0, 1):
        e = inodes[~interior[nb[inodes, s]]]
        e_node_l.append(e)
        e_slot_l.append(np.full(e.size, s, dtype=np.int64))
    e_node = np.concatenate(e_node_l)
    e_slot = np.concatenate(e_slot_l)
    e_chain = chains.chain[e_node]
    prio = np.where(chains.chain_two[e_chain], 2 * e_node + e_slot, e_slot)
    o = np.lexsort((prio, e_chain))
    e_node, e_slot, e_chain = e_node[o], e_slot[o], e_chain[o]
    paired = np.array_equal(e_chain, np.repeat(np.arange(chains.n_chains), 2))
    if e_node.size != 2 * chains.n_chains or not paired:
        raise RuntimeError("chain contraction found a chain without exactly two ends")
    c1, s1 = e_node[0::2], e_slot[0::2]
    ck, sk = e_node[1::2], e_slot[1::2]
    return _Ends(c1, s1, ck, sk, nb[c1, s1], nb[ck, sk])


def _along_chains(
    n: int, arcs: _Arcs, interior: NDArray[np.bool_], slots: _Slots, chains: _Chains, ends: _Ends
) -> _Along:
    """Distances along chains (within the interior subgraph) from and to both end junctions."""
    ia = interior[arcs.tails] & interior[arcs.heads]
    gi = _graph.csr_matrix(*_graph.build_csr(n, arcs.tails[ia], arcs.heads[ia], arcs.w[ia]))
    git = _graph.csr_matrix(*_graph.transpose_csr(gi.indptr, gi.indices, gi.data))
    inodes, ci = chains.inodes, chains.chain_of_i
    c1, s1, ck, sk = ends.c1, ends.s1, ends.ck, ends.sk
    pos = _chain_dist(gi, c1, unweighted=True)[inodes].astype(np.int64)
    a_in = slots.w_from[c1, s1][ci] + _chain_dist(gi, c1)[inodes]
    a_out = slots.w_to[c1, s1][ci] + _chain_dist(git, c1)[inodes]
    b_in = slots.w_from[ck, sk][ci] + _chain_dist(gi, ck)[inodes]
    b_out = slots.w_to[ck, sk][ci] + _chain_dist(git, ck)[inodes]
    one = ~chains.chain_two[ci]
    a_out[one] = np.inf
    b_in[one] = np.inf
    return _Along(pos, a_in, a_out, b_in, b_out)


def _junction_graph(
    n: int,
    arcs: _Arcs,
    interior: NDArray[np.bool_],
    chains: _Chains,
    ends: _Ends,
    along: _Along,
    slots: _Slots,
) -> _Junctions:
    """Direct junction arcs + one arc per chain direction, junctions in locality order."""
    tails, heads, w = arcs.tails, arcs.heads, arcs.w
    a_end, b_end, c1, s1, ck, sk = ends.a_end, ends.b_end, ends.c1, ends.s1, ends.ck, ends.sk
    junction = ~interior
    jnodes = np.flatnonzero(junction)
    jj = junction[tails] & junction[heads]
    jnodes = jnodes[
        _locality_order(n, jnodes, np.concatenate([tails[jj], a_end]), np.concatenate([heads[jj], b_end]))
    ]
    jid = np.full(n, -1, dtype=np.int64)
    jid[jnodes] = np.arange(jnodes.size)
    loc = np.full(n, -1, dtype=np.int64)
    loc[chains.inodes] = np.arange(chains.inodes.size)
    len_ab = along.a_in[loc[ck]] + slots.w_to[ck, sk]
    len_ba = along.b_in[loc[c1]] + slots.w_to[c1, s1]
    two_c = chains.chain_two
    ct = np.concatenate([jid[tails[jj]], jid[a_end], jid[b_end[two_c]]])
    ch = np.concatenate([jid[heads[jj]], jid[b_end], jid[a_end[two_c]]])
    cw = np.concatenate([w[jj], len_ab, len_ba[two_c]])
    return _Junctions(jnodes, jid, loc, _graph.build_csr(int(jnodes.size), ct, ch, cw))


class ContractedSearch:
    """The junction-graph form of :class:`geo._graph.OffsetSearch` for one search graph.

    Parameters
    ----------
    indptr, indices, length_m
        CSR arrays of the search graph (metres).
    small_pass_fraction
        A pass that settles fewer than ``1/small_pass_fraction`` of the nodes is answered by the
        full-graph search instead (same result); 0 always uses the junction graph.
    full
        That full-graph search, if one exists already on the same arrays (built otherwise).
    """

    def __init__(
        self,
        indptr: NDArray[np.int32],
        indices: NDArray[np.int32],
        length_m: NDArray[np.float64],
        *,
        small_pass_fraction: int = SMALL_PASS_FRACTION,
        full: _graph.OffsetSearch | None = None,
    ) -> None:
        self.small_pass_fraction = int(small_pass_fraction)
        n = int(indptr.size - 1)
        self.n = n
        arcs = _plain_arcs(indptr, indices, length_m)
        slots = _interior_candidates(n, arcs)
        interior, label = _chain_pieces(n, arcs, slots)
        chains = _chains_of(n, interior, label, slots)
        ends = _chain_ends(interior, slots, chains)
        along = _along_chains(n, arcs, interior, slots, chains, ends)
        junctions = _junction_graph(n, arcs, interior, chains, ends, along, slots)
        self.junction_indptr, self.junction_indices, self.junction_length_m = junctions.csr
        # the full-graph search, for passes that reach only a small part of the network (few stations
        # on a large one): there it settles fewer labels than the junction pass spends in numpy
        self._full = full if full is not None else _graph.OffsetSearch(indptr, indices, length_m)
        self._search = _graph.OffsetSearch(
            self.junction_indptr, self.junction_indices, self.junction_length_m
        )
        self._keep(chains, ends, along, junctions)

    def _keep(self, chains: _Chains, ends: _Ends, along: _Along, junctions: _Junctions) -> None:
        """Store what :meth:`run` reads (the arrays :func:`search_state` stores): node and chain
        numbers as int32 (the CSR's own type), prefix sums as int64, metres as float64."""
        jid, ci, n_chains, chain_two = junctions.jid, chains.chain_of_i, chains.n_chains, chains.chain_two
        i32 = np.int32
        self.n_junctions = int(junctions.jnodes.size)
        self.n_chains = n_chains
        self._jnodes = junctions.jnodes.astype(i32)
        self._jid = jid.astype(i32)
        self._inodes = chains.inodes.astype(i32)
        self._loc = junctions.loc.astype(i32)
        self._chain_i = ci.astype(i32)
        self._pos = along.pos.astype(i32)
        self._maxpos = int(along.pos.max()) + 1 if along.pos.size else 1
        self._a_in, self._a_out, self._b_in, self._b_out = along.a_in, along.a_out, along.b_in, along.b_out
        self._chain_two = chain_two
        self._a_end_i = jid[ends.a_end][ci].astype(i32)
        self._b_end_i = jid[ends.b_end][ci].astype(i32)
        self._b_end, self._a_end = ends.b_end.astype(i32), ends.a_end.astype(i32)
        chain_a, chain_b = jid[ends.a_end], jid[ends.b_end]
        self._chain_a, self._chain_b = chain_a.astype(i32), chain_b.astype(i32)
        self._chain_ptr = np.zeros(n_chains + 1, dtype=np.int64)
        np.cumsum(np.bincount(ci, minlength=n_chains), out=self._chain_ptr[1:])
        # junction -> chains it reaches into (as end A, or as end B of a two-way chain), for passes
        # that reach only a small part of a large network
        reach = np.concatenate([chain_a, chain_b[chain_two]])
        chains_of = np.concatenate([np.arange(n_chains), np.flatnonzero(chain_two)])
        o = np.argsort(reach, kind="stable")
        self._jchain = chains_of[o].astype(i32)
        self._jchain_ptr = np.zeros(self.n_junctions + 1, dtype=np.int64)
        np.cumsum(np.bincount(reach, minlength=self.n_junctions), out=self._jchain_ptr[1:])

    def _chain_nodes(self, chains: NDArray[np.int64]) -> NDArray[np.int64]:
        """Positions (in the interior-node arrays) of all nodes of the given chains."""
        return _gather_ranges(self._chain_ptr, chains)

    def run(
        self, source_nodes: NDArray[np.int64], offsets_m: NDArray[np.float64], *, limit_m: float = np.inf
    ) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        """Same result as :meth:`geo._graph.OffsetSearch.run` on the full search graph: for every
        node ``min_i offsets_m[i] + d(source_nodes[i], v)`` (inf beyond ``limit_m``) and the index
        ``i`` attaining it (-1 when none)."""
        n = self.n
        sn = np.asarray(source_nodes, dtype=np.int64)
        off = np.asarray(offsets_m, dtype=np.float64)
        m = int(sn.size)
        if m == 0:
            return np.full(n, np.inf), np.full(n, -1, dtype=np.int64)
        if self.small_pass_fraction > 0:
            budget = self.n // self.small_pass_fraction
            small = self._full.run_within(sn, off, limit_m=limit_m, max_settled=budget)
            if small is not None:
                return small
        k_all = np.arange(m, dtype=np.int64)
        on_j = self._jid[sn] >= 0
        li = self._loc[sn[~on_j]]  # chain stations: their interior positions, indices, chains
        ki = k_all[~on_j]
        ci = self._chain_i[li]
        v_node, v_off, v_k = self._virtual_sources(sn, off, on_j, li, ki, ci)
        dj, oj = self._search.run(v_node, v_off, limit_m=limit_m)
        reached = np.flatnonzero(oj >= 0)
        d = np.full(n, np.inf)
        owner = np.full(n, -1, dtype=np.int64)
        d[self._jnodes[reached]] = dj[reached]
        owner[self._jnodes[reached]] = v_k[oj[reached]]

        # chain nodes, only on chains touched by the search or holding a station: through end A,
        # through end B (two-way), then same-chain stations
        idx = self._chain_nodes(self._touched_chains(oj, reached, ci))
        a_j, b_j = self._a_end_i[idx], self._b_end_i[idx]
        best = dj[a_j] + self._a_in[idx]
        own = oj[a_j]
        cand = dj[b_j] + self._b_in[idx]
        better = cand < best
        best[better] = cand[better]
        own[better] = oj[b_j][better]
        if ki.size:
            self._same_chain(idx, off, li, ki, ci, best, own, k_base=v_k.size)
        # owners are positions in [virtual sources, stations]: mapped to station indices here
        vk_ext = np.concatenate([v_k, k_all])
        far = ~(best <= limit_m)
        best[far] = np.inf
        own[far] = -1
        d[self._inodes[idx]] = best
        owner[self._inodes[idx]] = np.where(own >= 0, vk_ext[np.maximum(own, 0)], -1)
        return d, owner

    def _virtual_sources(
        self,
        sn: NDArray[np.int64],
        off: NDArray[np.float64],
        on_j: NDArray[np.bool_],
        li: NDArray[np.int32],
        ki: NDArray[np.int64],
        ci: NDArray[np.int32],
    ) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.int64]]:
        """Sources of the junction pass: junction stations, chain stations at end B (forward) and
        at end A (two-way chains); their junction ids, offsets and station indices."""
        k_all = np.arange(sn.size, dtype=np.int64)
        two = self._chain_two[ci]
        v_node = np.concatenate(
            [self._jid[sn[on_j]], self._jid[self._b_end[ci]], self._jid[self._a_end[ci[two]]]]
        )
        v_off = np.concatenate([off[on_j], off[ki] + self._b_out[li], off[ki[two]] + self._a_out[li[two]]])
        v_k = np.concatenate([k_all[on_j], ki, ki[two]])
        return v_node, v_off, v_k

    def _touched_chains(
        self, oj: NDArray[np.int64], reached: NDArray[np.int64], ci: NDArray[np.int32]
    ) -> NDArray[np.int64]:
        """Chains with a reached end junction (end B only for two-way chains) or a station."""
        if reached.size * 8 < self.n_junctions:
            # a small part of the network: find the chains from the junctions reached
            return np.unique(np.concatenate([self._jchain[_gather_ranges(self._jchain_ptr, reached)], ci]))
        fin = oj >= 0
        touched = fin[self._chain_a] | (self._chain_two & fin[self._chain_b])
        touched[ci] = True
        return np.flatnonzero(touched)

    def _same_chain(
        self,
        idx: NDArray[np.int64],
        off: NDArray[np.float64],
        li: NDArray[np.int32],
        ki: NDArray[np.int64],
        ci: NDArray[np.int32],
        best: NDArray[np.float64],
        own: NDArray[np.int64],
        *,
        k_base: int,
    ) -> None:
        """Improve ``best``/``own`` of the chain nodes ``idx`` in place by the stations on their own
        chain (owners ``k_base + station``): forward from stations at or before the node, backward
        on two-way chains from stations at or after it."""
        key_s = ci.astype(np.int64) * self._maxpos + self._pos[li]
        o = np.argsort(key_s, kind="stable")
        key_s, ci_s, li_s, k_s = key_s[o], ci[o], li[o], ki[o]
        has = np.zeros(self.n_chains, dtype=bool)
        has[ci_s] = True
        sub = np.flatnonzero(has[self._chain_i[idx]])
        sel = idx[sub]
        c_sel = self._chain_i[sel]
        key_n = c_sel.astype(np.int64) * self._maxpos + self._pos[sel]
        # forward: stations at or before the node on its chain
        fv, fk = _segmented_min_scan(off[k_s] - self._a_in[li_s], k_s, ci_s)
        j = np.searchsorted(key_s, key_n, side="right") - 1
        jf = np.maximum(j, 0)
        okf = (j >= 0) & (ci_s[jf] == c_sel)
        cand = np.where(okf, self._a_in[sel] + fv[jf], np.inf)
        better = cand < best[sub]
        best[sub[better]] = cand[better]
        own[sub[better]] = k_base + fk[jf][better]
        # backward (two-way chains): stations at or after the node
        bval = np.where(self._chain_two[ci_s], off[k_s] - self._b_in[li_s], np.inf)
        rv, rk = _segmented_min_scan(bval[::-1], k_s[::-1], ci_s[::-1])
        bv, bk = rv[::-1], rk[::-1]
        j = np.searchsorted(key_s, key_n, side="left")
        jb = np.minimum(j, key_s.size - 1)
        okb = (j < key_s.size) & (ci_s[jb] == c_sel) & self._chain_two[c_sel]
        cand = np.where(okb, self._b_in[sel] + bv[jb], np.inf)
        better = cand < best[sub]
        best[sub[better]] = cand[better]
        own[sub[better]] = k_base + bk[jb][better]


_CACHE: weakref.WeakKeyDictionary[Network, ContractedSearch] = weakref.WeakKeyDictionary()
#: stored forms read with a network file, turned into a search on first use
_STORED: weakref.WeakKeyDictionary[Network, tuple[dict[str, NDArray], dict[str, int]]] = (
    weakref.WeakKeyDictionary()
)
_LOCK = threading.Lock()

#: bump when the meaning of ContractedSearch's arrays changes (stored with every network file)
STATE_FORMAT = 2


def search_state(search: ContractedSearch) -> tuple[dict[str, NDArray], dict[str, int]]:
    """The arrays and integers that make up a built search (its two inner searches excepted: they
    are rebuilt from arrays in microseconds), for storing beside the network."""
    arrays = {k: v for k, v in vars(search).items() if isinstance(v, np.ndarray)}
    scalars = {
        k: int(v)
        for k, v in vars(search).items()
        if isinstance(v, int | np.integer) and not isinstance(v, bool)
    }
    return arrays, scalars


def _from_state(
    arrays: dict[str, NDArray], scalars: dict[str, int], full: _graph.OffsetSearch
) -> ContractedSearch:
    search = ContractedSearch.__new__(ContractedSearch)
    vars(search).update(arrays)
    vars(search).update(scalars)
    search._full = full
    search._search = _graph.OffsetSearch(
        search.junction_indptr, search.junction_indices, search.junction_length_m
    )
    return search


def adopt_state(network: Network, arrays: dict[str, NDArray], scalars: dict[str, int]) -> None:
    """Use a stored search (from :func:`search_state`, read with ``network``'s file after its
    checksum matched) instead of building one on first use."""
    with _LOCK:
        _STORED[network] = (arrays, scalars)


def share_search(network: Network, other: Network) -> None:
    """Let ``other`` (the same arrays, e.g. :meth:`Network.with_speed`) use ``network``'s search,
    built or stored."""
    with _LOCK:
        if network in _CACHE:
            _CACHE[other] = _CACHE[network]
        elif network in _STORED:
            _STORED[other] = _STORED[network]


def contracted_search(network: Network) -> ContractedSearch:
    """The network's :class:`ContractedSearch` on its reversed graph, built once and cached (weakly,
    keyed by the network object) — the search behind :func:`geo.coverage.node_pass`."""
    with _LOCK:
        found = _CACHE.get(network)
    if found is not None:
        return found
    with _LOCK:
        stored = _STORED.pop(network, None)
    if stored is not None:
        built = _from_state(*stored, full=network.offset_search)
    else:
        built = ContractedSearch(*network.reverse_arrays, full=network.offset_search)
    with _LOCK:
        return _CACHE.setdefault(network, built)


def coverage_search(network: Network) -> ContractedSearch | _graph.OffsetSearch:
    """The search :func:`geo.coverage.node_pass` uses: :func:`contracted_search` for networks of at
    least :data:`MIN_NODES` nodes, the full-graph ``network.offset_search`` below (same results)."""
    if network.n_nodes >= MIN_NODES:
        return contracted_search(network)
    return network.offset_search
