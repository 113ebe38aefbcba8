"""Sparse coverage sets: which demand points each candidate site reaches within ``minutes``.

The travel time follows the project definition (docs/TRAVEL_TIME.md): points join their nearest
usable edge (:mod:`geo.snapping`), a demand point leaves by either end of its edge and a site is
reached from either end of its own, each with its partial edge + straight line as offset (or they
meet directly along a shared edge), so the search runs *from the station* on the reversed graph
(for a directed network), with the metre budget ``minutes * speed - offset(S)`` as the Dijkstra
``limit``; a demand point ``P`` at a reached node is covered when ``dist + offset(P) <= budget``.
Searches run in chunks of candidates and each chunk's dense Dijkstra rows are turned into sparse
(candidate, demand) pairs at once, so memory grows with the covered pairs, never with candidates ×
nodes at once. All coordinates are WGS-84 (EPSG:4326).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy.sparse.csgraph import dijkstra

from geo.checks import check_positive
from geo.errors import InputError
from geo.snapping import Snap, same_edge_meters, same_edge_pairs

log = logging.getLogger(__name__)

#: upper bound on floats held by one chunk of Dijkstra rows (about 64 MB)
_CHUNK_FLOATS = 8_000_000


def reversed_if_directed(graph: sp.csr_matrix | sp.csr_array) -> sp.csr_matrix:
    """Return the graph to search *from stations*: the transpose for a directed graph, else itself."""
    g = sp.csr_matrix(graph)
    diff = g - g.T
    if diff.nnz == 0 or np.all(diff.data == 0):
        return g
    return sp.csr_matrix(g.T)


def _fan_out(
    key: NDArray[np.int64], size: NDArray[np.int64], first: NDArray[np.int64], members: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Pair every item with every member of its group: item ``t`` belongs to group ``key[t]``, whose
    members are ``members[first[g] : first[g] + size[g]]``. Returns (item of each pair, member of it)."""
    k = size[key]
    rep = np.repeat(np.arange(key.size), k)
    within = np.arange(rep.size) - np.repeat(np.cumsum(k) - k, k)
    return rep, members[first[key[rep]] + within]


@dataclass(frozen=True)
class _Targets:
    """Targets grouped by graph node (``order[start[v] : start[v] + counts[v]]`` sit at node ``v``), their
    offsets in metres and the least offset."""

    order: NDArray[np.int64]
    counts: NDArray[np.int64]
    start: NDArray[np.int64]
    offset: NDArray[np.float64]
    min_offset: float


def _chunk_pairs(
    g: sp.csr_matrix,
    part: NDArray[np.int64],
    src: NDArray[np.int64],
    budget: NDArray[np.float64],
    targets: _Targets,
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """One Dijkstra call for the sources ``part`` (their unique nodes) and the (source, target) pairs
    within each source's budget."""
    n_nodes = g.shape[0]
    nodes, inverse = np.unique(src[part], return_inverse=True)
    dist = dijkstra(g, directed=True, indices=nodes, limit=float(budget[part].max()))
    flat = np.flatnonzero(dist.ravel() < np.inf)  # 1-D search: much faster than 2-D nonzero
    d = dist.ravel()[flat]
    r_u, v = np.divmod(flat, n_nodes)
    del dist
    # fan out each unique node's row to the sources at that node
    per_node = np.bincount(inverse, minlength=nodes.size)
    src_start = np.concatenate([[0], np.cumsum(per_node)])
    rep, s_local = _fan_out(r_u, per_node, src_start, np.argsort(inverse, kind="stable"))
    s_idx, v2, d2 = part[s_local], v[rep], d[rep]
    keep = d2 <= budget[s_idx] - targets.min_offset
    s_idx, v2, d2 = s_idx[keep], v2[keep], d2[keep]
    # fan out reached nodes to the targets at them
    rep2, t_idx = _fan_out(v2, targets.counts, targets.start, targets.order)
    s_full = s_idx[rep2]
    ok = d2[rep2] + targets.offset[t_idx] <= budget[s_full] + 1e-9
    return s_full[ok], t_idx[ok]


def reach_matrix(
    graph: sp.csr_matrix | sp.csr_array,
    source_node: NDArray[np.int64],
    source_budget_m: NDArray[np.float64],
    target_node: NDArray[np.int64],
    target_offset_m: NDArray[np.float64],
    *,
    chunk_size: int | None = None,
) -> sp.csr_matrix:
    """Sparse boolean matrix ``sources × targets``: target within the source's metre budget.

    Parameters
    ----------
    graph : scipy.sparse CSR matrix
        Arc lengths in metres, already oriented for searching from the sources (see
        :func:`reversed_if_directed`).
    source_node : numpy.ndarray
        Graph node of each source, −1 for an unsnappable source (covers nothing).
    source_budget_m : numpy.ndarray
        Metres available on the network and at the target end for each source (speed × time minus the
        source's own offset); negative budgets cover nothing.
    target_node, target_offset_m : numpy.ndarray
        Graph node of each target (−1 when unsnappable: never covered) and its straight-line offset in metres.
    chunk_size : int, optional
        Sources per Dijkstra call; default keeps one chunk under about 64 MB of distances.

    Returns
    -------
    scipy.sparse.csr_matrix
        Shape ``(len(source_node), len(target_node))``, ``dtype=bool``.
    """
    g = sp.csr_matrix(graph)
    n_nodes = g.shape[0]
    src = np.asarray(source_node, dtype=np.int64)
    budget = np.asarray(source_budget_m, dtype=np.float64)
    tgt = np.asarray(target_node, dtype=np.int64)
    toff = np.asarray(target_offset_m, dtype=np.float64)
    n_src, n_tgt = src.size, tgt.size
    if budget.shape != src.shape or toff.shape != tgt.shape:
        raise InputError("source/target arrays must have matching lengths", field="graph")
    # targets grouped by node: start[v]..start[v+1] in `order`
    ok_t = tgt >= 0
    order = np.flatnonzero(ok_t)[np.argsort(tgt[ok_t], kind="stable")]
    counts = np.bincount(tgt[ok_t], minlength=n_nodes)
    start = np.concatenate([[0], np.cumsum(counts)])
    min_off = float(toff[ok_t].min()) if ok_t.any() else 0.0
    active = np.flatnonzero((src >= 0) & (budget >= min_off))
    if chunk_size is None:
        chunk_size = max(1, min(512, _CHUNK_FLOATS // max(n_nodes, 1)))
    rows_out: list[NDArray[np.int64]] = []
    cols_out: list[NDArray[np.int64]] = []
    # sort by node so duplicate source nodes share a chunk's searches
    active = active[np.argsort(src[active], kind="stable")]
    targets = _Targets(order, counts, start, toff, min_off)
    for lo in range(0, active.size, chunk_size):
        r, c = _chunk_pairs(g, active[lo : lo + chunk_size], src, budget, targets)
        rows_out.append(r)
        cols_out.append(c)
    rows = np.concatenate(rows_out) if rows_out else np.zeros(0, dtype=np.int64)
    cols = np.concatenate(cols_out) if cols_out else np.zeros(0, dtype=np.int64)
    out = sp.csr_matrix((np.ones(rows.size, dtype=bool), (rows, cols)), shape=(n_src, n_tgt))
    out.sum_duplicates()
    return out


def merge_columns(
    matrix: sp.csr_matrix, weights: NDArray[np.float64], keep: NDArray[np.bool_]
) -> tuple[sp.csr_matrix, NDArray[np.float64], NDArray[np.int64]]:
    """Drop columns not in ``keep`` or with no candidate, and merge columns with identical candidate sets.

    Columns are grouped by a random-projection hash of their candidate sets and the grouping is then
    verified exactly (every column equals its group's first column); on a hash collision the exact
    dictionary grouping is used instead.

    Returns
    -------
    merged, merged_weights, column_of
        The merged matrix (candidates × merged columns), the summed weights, and for each original column
        its merged column (−1 when dropped).
    """
    csc = sp.csc_matrix(matrix, dtype=np.float64)
    csc.sort_indices()
    nnz = np.diff(csc.indptr)
    column_of = np.full(csc.shape[1], -1, dtype=np.int64)
    live = np.flatnonzero(np.asarray(keep, dtype=bool) & (nnz > 0))
    if live.size:
        rng = np.random.default_rng(20240601)
        proj = rng.random(csc.shape[0]) + 1.0
        sub = csc[:, live]
        key = np.asarray(sub.T @ proj).ravel()  # identical sets give identical sums
        _, first_pos, inverse = np.unique(key, return_index=True, return_inverse=True)
        inverse = np.asarray(inverse).ravel()
        # groups numbered by first appearance, so merged columns keep the input order
        rank = np.empty(first_pos.size, dtype=np.int64)
        rank[np.argsort(first_pos, kind="stable")] = np.arange(first_pos.size)
        group = rank[inverse]
        reps = live[np.sort(first_pos)]
        check = sub - csc[:, reps[group]]
        check.eliminate_zeros()
        if check.nnz == 0:
            column_of[live] = group
            firsts = reps
        else:  # a hash collision: group exactly
            log.debug("column hash collision; merging by exact candidate sets")
            seen: dict[bytes, int] = {}
            first_list: list[int] = []
            indptr, indices = csc.indptr, csc.indices
            for i in live.tolist():
                k = indices[indptr[i] : indptr[i + 1]].tobytes()
                col = seen.get(k)
                if col is None:
                    col = len(first_list)
                    seen[k] = col
                    first_list.append(i)
                column_of[i] = col
            firsts = np.asarray(first_list, dtype=np.int64)
        merged = sp.csr_matrix(csc[:, firsts] != 0)
    else:
        merged = sp.csr_matrix((csc.shape[0], 0), dtype=bool)
    w = np.zeros(merged.shape[1])
    used = column_of >= 0
    np.add.at(w, column_of[used], np.asarray(weights, dtype=np.float64)[used])
    return merged, w, column_of


@dataclass(frozen=True)
class CoverageSets:
    """Sparse coverage data for siting, with demand already covered by existing stations removed.

    Attributes
    ----------
    matrix : scipy.sparse.csr_matrix
        Candidates × merged demand columns (bool); the input of :mod:`geo.siting.models`.
    weights : numpy.ndarray
        Weight of each merged column (sum of its demand points' weights).
    column_of_demand : numpy.ndarray
        For each demand point its merged column, −1 when covered before, uncoverable or unsnappable.
    demand_weight : numpy.ndarray
        Weight of each demand point (input order).
    covered_before : numpy.ndarray
        Bool per demand point: covered by the fixed existing stations.
    coverable : numpy.ndarray
        Bool per demand point: not covered before and reached by at least one candidate.
    candidate_unsnappable, demand_unsnappable, station_unsnappable : numpy.ndarray
        Bool per row: farther than the snap limit from any usable node (reported, never dropped).
    minutes, speed_kph : float
        Time threshold and travel speed used.
    pairs : int
        Candidate × demand pairs within the threshold (before merging).
    seconds : float
        Wall time to build.
    """

    matrix: sp.csr_matrix
    weights: NDArray[np.float64]
    column_of_demand: NDArray[np.int64]
    demand_weight: NDArray[np.float64]
    covered_before: NDArray[np.bool_]
    coverable: NDArray[np.bool_]
    candidate_unsnappable: NDArray[np.bool_]
    demand_unsnappable: NDArray[np.bool_]
    station_unsnappable: NDArray[np.bool_]
    minutes: float
    speed_kph: float
    pairs: int
    seconds: float

    @property
    def total_weight(self) -> float:
        """All demand weight, unsnappable points included."""
        return float(self.demand_weight.sum())

    @property
    def covered_before_weight(self) -> float:
        return float(self.demand_weight[self.covered_before].sum())

    @property
    def coverable_weight(self) -> float:
        """Weight not covered before that at least one candidate can reach."""
        return float(self.weights.sum())

    def covered_after(self, selected: NDArray[np.int64] | list[int]) -> NDArray[np.bool_]:
        """Bool per demand point: covered by the existing stations or any of the ``selected`` rows."""
        sel = np.asarray(selected, dtype=np.int64)
        hit_cols = np.zeros(self.matrix.shape[1], dtype=bool)
        if sel.size:
            hit_cols[np.unique(self.matrix[sel].indices)] = True
        col = self.column_of_demand
        out = self.covered_before.copy()
        has = col >= 0
        out[has] |= hit_cols[col[has]]
        return out


def _snap(network: Any, frame: gpd.GeoDataFrame, max_meters: float) -> Snap:
    """Edge snapping (:mod:`geo.snapping`), the same as coverage and /nearest."""
    pts = frame.geometry
    snap: Snap = network.snap(pts.x.to_numpy(), pts.y.to_numpy(), max_meters=max_meters)
    return snap


def _edge_reach(
    graph: sp.csr_matrix, sites: Snap, demand: Snap, meters: float, chunk_size: int | None
) -> sp.csr_matrix:
    """Sites × demand within ``meters`` on edge-snapped points: a site is reached from either end
    of its edge, a demand point leaves by either end of its own (:func:`reach_matrix` on both pairs
    of ends, then OR), or they meet directly along a shared edge."""
    c, n = len(sites), len(demand)
    s_node, s_m = sites.entries()
    d_node, d_m = demand.exits()
    both = reach_matrix(
        graph, s_node.T.ravel(), meters - s_m.T.ravel(), d_node.T.ravel(), d_m.T.ravel(),
        chunk_size=chunk_size,
    ).astype(np.int8)  # fmt: skip
    rows = both[:c] + both[c:]
    out = rows[:, :n] + rows[:, n:]
    i, j = same_edge_pairs(demand, sites)
    near = same_edge_meters(demand, i, sites, j) <= meters + 1e-9
    out = out + sp.csr_matrix((np.ones(int(near.sum()), dtype=np.int8), (j[near], i[near])), shape=(c, n))
    return sp.csr_matrix(out > 0)


def _budget_meters(
    network: Any, demand: gpd.GeoDataFrame, *, minutes: float, speed_kph: float | None
) -> tuple[float, float]:
    """Check the arguments of :func:`build_coverage_sets`; return the speed (km/h) and the metre budget."""
    minutes = check_positive(minutes, field="minutes", unit="minutes")
    if "weight" not in demand.columns:
        raise InputError("demand needs a 'weight' column", field="demand")
    speed = check_positive(speed_kph if speed_kph is not None else network.speed_kph, field="speed_kph",
                           unit="km/h")  # fmt: skip
    return speed, minutes / 60.0 * speed * 1000.0


def build_coverage_sets(
    network: Any,
    candidates: gpd.GeoDataFrame,
    demand: gpd.GeoDataFrame,
    *,
    minutes: float = 15.0,
    stations: gpd.GeoDataFrame | None = None,
    snap_meters: float = 300.0,
    speed_kph: float | None = None,
    chunk_size: int | None = None,
) -> CoverageSets:
    """Build the sparse candidate × demand coverage sets on a street network.

    Parameters
    ----------
    network : geo.network.Network
        Street network (``csr()`` in metres with directed arcs, ``snap``, ``speed_kph``).
    candidates : geopandas.GeoDataFrame
        Candidate sites, Point geometries in EPSG:4326 (canonical candidates frame).
    demand : geopandas.GeoDataFrame
        Demand points (EPSG:4326) with a ``weight`` column.
    minutes : float, default 15
        Travel-time threshold.
    stations : geopandas.GeoDataFrame, optional
        Existing stations kept fixed: demand they cover drops out of the model.
    snap_meters : float, default 300
        Snap limit; farther points are unsnappable (reported in the result).
    speed_kph : float, optional
        Speed override; default the network's ``speed_kph``.
    chunk_size : int, optional
        Candidates per Dijkstra call.

    Returns
    -------
    CoverageSets
    """
    t0 = time.perf_counter()
    speed, meters = _budget_meters(network, demand, minutes=minutes, speed_kph=speed_kph)
    graph = network.reverse_csr()
    d_snap = _snap(network, demand, snap_meters)
    c_snap = _snap(network, candidates, snap_meters)
    w = demand["weight"].to_numpy(dtype=np.float64)
    covered_before = np.zeros(len(demand), dtype=bool)
    s_bad = np.zeros(0, dtype=bool)
    if stations is not None and len(stations):
        s_snap = _snap(network, stations, snap_meters)
        s_bad = ~s_snap.snapped
        reach_s = _edge_reach(graph, s_snap, d_snap, meters, chunk_size)
        covered_before[np.unique(reach_s.indices)] = True
    reach_c = _edge_reach(graph, c_snap, d_snap, meters, chunk_size)
    matrix, weights, column_of = merge_columns(reach_c, w, ~covered_before)
    coverable = column_of >= 0
    seconds = time.perf_counter() - t0
    log.info(
        "coverage sets: %d candidates x %d demand, %d pairs, %d merged columns, %.2fs",
        len(candidates),
        len(demand),
        reach_c.nnz,
        matrix.shape[1],
        seconds,
    )
    return CoverageSets(
        matrix=matrix,
        weights=weights,
        column_of_demand=column_of,
        demand_weight=w,
        covered_before=covered_before,
        coverable=coverable,
        candidate_unsnappable=~c_snap.snapped,
        demand_unsnappable=~d_snap.snapped,
        station_unsnappable=s_bad,
        minutes=float(minutes),
        speed_kph=speed,
        pairs=int(reach_c.nnz),
        seconds=seconds,
    )
