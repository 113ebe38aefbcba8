"""Private graph helpers for :mod:`geo.network` and :mod:`geo.coverage`.

Everything here works on plain numpy arrays in CSR form (``indptr``, ``indices``, ``length_m``)
with node coordinates in WGS-84 degrees (EPSG:4326) and lengths in metres.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

# scipy.sparse.csgraph is imported inside the functions that use it (~80 ms of every CLI start)

#: arcs whose lengths set the bucket width of :class:`OffsetSearch` (every k-th arc beyond this)
QUANTILE_SAMPLE = 1 << 20

#: mean Earth radius used for great-circle lengths (metres; the value osmnx uses)
EARTH_RADIUS_M = 6_371_009.0


def haversine_m(
    lon1: NDArray[np.float64] | float,
    lat1: NDArray[np.float64] | float,
    lon2: NDArray[np.float64] | float,
    lat2: NDArray[np.float64] | float,
) -> NDArray[np.float64]:
    """Great-circle distance in metres between WGS-84 points (vectorised)."""
    lo1, la1, lo2, la2 = (np.radians(np.asarray(a, dtype=np.float64)) for a in (lon1, lat1, lon2, lat2))
    h = np.sin((la2 - la1) / 2.0) ** 2 + np.cos(la1) * np.cos(la2) * np.sin((lo2 - lo1) / 2.0) ** 2
    return np.asarray(2.0 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0))), dtype=np.float64)


def local_xy(
    lon: NDArray[np.float64], lat: NDArray[np.float64], lon0: float, lat0: float
) -> NDArray[np.float64]:
    """Equirectangular metric projection about (lon0, lat0): an (n, 2) array in metres.

    Accurate to well under 0.1 % within a few tens of kilometres, which is all the KD-tree needs:
    exact distances are recomputed with :func:`haversine_m`.
    """
    k = np.pi / 180.0 * EARTH_RADIUS_M
    x = (np.asarray(lon, dtype=np.float64) - lon0) * k * np.cos(np.radians(lat0))
    y = (np.asarray(lat, dtype=np.float64) - lat0) * k
    return np.column_stack([x, y])


def build_csr(
    n_nodes: int, tail: NDArray[np.int64], head: NDArray[np.int64], length_m: NDArray[np.float64]
) -> tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.float64]]:
    """Build sorted CSR arrays from an arc list, dropping self-loops and keeping the shortest of
    parallel arcs. Returns ``(indptr, indices, length_m)``."""
    tail = np.asarray(tail, dtype=np.int64)
    head = np.asarray(head, dtype=np.int64)
    length_m = np.asarray(length_m, dtype=np.float64)
    keep = tail != head
    tail, head, length_m = tail[keep], head[keep], length_m[keep]
    order = np.lexsort((length_m, head, tail))
    tail, head, length_m = tail[order], head[order], length_m[order]
    if tail.size:
        first = np.ones(tail.size, dtype=bool)
        first[1:] = (tail[1:] != tail[:-1]) | (head[1:] != head[:-1])
        tail, head, length_m = tail[first], head[first], length_m[first]
    counts = np.bincount(tail, minlength=n_nodes)
    indptr = np.zeros(n_nodes + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    return indptr.astype(np.int32), head.astype(np.int32), length_m


def predecessor_path(pred: NDArray[np.integer], src: int, dst: int) -> list[int] | None:
    """Node path ``src → dst`` (both included) from a shortest-path predecessor array (negative =
    none, as scipy and :mod:`geo._dijkstra` write it); ``None`` when ``dst`` is not reached."""
    path = [int(dst)]
    while path[-1] != src:
        prev = int(pred[path[-1]])
        if prev < 0:
            return None
        path.append(prev)
    return path[::-1]


def csr_matrix(
    indptr: NDArray[np.int32], indices: NDArray[np.int32], length_m: NDArray[np.float64]
) -> sp.csr_matrix:
    """Wrap CSR arrays (no copy) in a ``scipy.sparse.csr_matrix``."""
    n = indptr.size - 1
    m = sp.csr_matrix((length_m, indices, indptr), shape=(n, n), copy=False)
    m.has_sorted_indices = True
    return m


def weak_components(
    indptr: NDArray[np.int32], indices: NDArray[np.int32], length_m: NDArray[np.float64]
) -> tuple[NDArray[np.int32], NDArray[np.int64]]:
    """Weakly connected component label per node (0 = largest) and the size of every component."""
    from scipy.sparse.csgraph import connected_components

    n = indptr.size - 1
    if n == 0:
        return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int64)
    _, labels = connected_components(csr_matrix(indptr, indices, length_m), directed=True, connection="weak")
    sizes = np.bincount(labels)
    # relabel so that component 0 is the largest, then by decreasing size (stable)
    order = np.argsort(-sizes, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return rank[labels].astype(np.int32), sizes[order].astype(np.int64)


def is_symmetric(
    indptr: NDArray[np.int32], indices: NDArray[np.int32], length_m: NDArray[np.float64]
) -> bool:
    """True when every arc u→v has a reverse arc v→u of the same length."""
    a = csr_matrix(indptr, indices, length_m)
    diff = a - a.T.tocsr()
    return bool(diff.nnz == 0 or np.all(diff.data == 0.0)) and a.nnz == a.T.tocsr().nnz


def transpose_csr(
    indptr: NDArray[np.int32], indices: NDArray[np.int32], length_m: NDArray[np.float64]
) -> tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.float64]]:
    """CSR arrays of the reversed graph (every arc u→v becomes v→u)."""
    t = csr_matrix(indptr, indices, length_m).T.tocsr()
    t.sort_indices()
    return t.indptr.astype(np.int32), t.indices.astype(np.int32), t.data.astype(np.float64)


def augmented_csr(
    indptr: NDArray[np.int32],
    indices: NDArray[np.int32],
    length_m: NDArray[np.float64],
    source_nodes: NDArray[np.int64],
    offsets_m: NDArray[np.float64],
) -> sp.csr_matrix:
    """Append one virtual node per source with a single arc ``virtual_i → source_nodes[i]`` of
    length ``offsets_m[i]`` (explicit zeros are real arcs for ``scipy.sparse.csgraph``)."""
    n = indptr.size - 1
    m = int(source_nodes.size)
    nnz = int(indptr[-1])
    ip = np.empty(n + m + 1, dtype=np.int32)
    ip[: n + 1] = indptr
    ip[n + 1 :] = nnz + np.arange(1, m + 1, dtype=np.int32)
    ix = np.concatenate([indices, source_nodes.astype(np.int32)])
    dt = np.concatenate([length_m, offsets_m.astype(np.float64)])
    g = sp.csr_matrix((dt, ix, ip), shape=(n + m, n + m), copy=False)
    return g


def multi_source_offsets(
    indptr: NDArray[np.int32],
    indices: NDArray[np.int32],
    length_m: NDArray[np.float64],
    source_nodes: NDArray[np.int64],
    offsets_m: NDArray[np.float64],
    *,
    limit_m: float = np.inf,
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """One Dijkstra pass giving, for every node v, ``min_i offsets_m[i] + d(source_nodes[i], v)``
    and the index ``i`` attaining it (``-1`` and ``inf`` beyond ``limit_m``).

    Exact: each source gets a virtual node joined to its network node by an arc of its own offset,
    and one ``dijkstra(min_only=True)`` runs from all virtual nodes, whose ``sources`` output names
    the winning virtual node, hence the source.
    """
    from scipy.sparse.csgraph import dijkstra

    n = indptr.size - 1
    m = int(source_nodes.size)
    if m == 0:
        return np.full(n, np.inf), np.full(n, -1, dtype=np.int64)
    g = augmented_csr(indptr, indices, length_m, source_nodes, offsets_m)
    dist, _pred, sources = dijkstra(
        g,
        directed=True,
        indices=np.arange(n, n + m),
        min_only=True,
        return_predecessors=True,
        limit=limit_m,
    )
    owner = np.asarray(sources[:n], dtype=np.int64) - n
    d = np.asarray(dist[:n], dtype=np.float64)
    owner[~np.isfinite(d)] = -1
    return d, owner


class OffsetSearch:
    """The multi-source search of :func:`multi_source_offsets`, run by the compiled
    :mod:`geo._dijkstra` on one graph.

    Same distances as :func:`multi_source_offsets` (which goes through scipy with one virtual node
    per source and stays as the reference); the attributed source is the *lowest index* among the
    sources at exactly the minimum distance, whatever the arc order. Unlike scipy, a pass neither
    copies nor validates the whole graph, and it settles only nodes within ``limit_m`` — on
    multi-million-arc graphs with few stations that is most of the saving. The GIL is released
    while it runs, so concurrent passes proceed in parallel.
    """

    def __init__(
        self, indptr: NDArray[np.int32], indices: NDArray[np.int32], length_m: NDArray[np.float64]
    ) -> None:
        self.n = int(indptr.size - 1)
        self.nnz = int(indptr[-1]) if indptr.size else 0
        self._indptr = np.ascontiguousarray(indptr, dtype=np.int32)
        self._indices = np.ascontiguousarray(indices, dtype=np.int32)
        self._length_m = np.ascontiguousarray(length_m, dtype=np.float64)
        if self._indices.size != self.nnz or self._length_m.size != self.nnz:
            raise ValueError("indptr, indices and length_m do not describe one CSR graph")
        if self._length_m.size and not bool(np.all(self._length_m >= 0)):
            raise ValueError("arc lengths must be non-negative")
        # the bucket queue's width: a short arc (corrections within a bucket stay rare) and never tiny;
        # it decides only how much work a pass costs, never its result, so on large graphs the
        # quantile of every k-th arc does (no copies of the whole length array)
        step = max(1, self._length_m.size // QUANTILE_SAMPLE)
        sample = self._length_m[::step]
        positive = sample[sample > 0]
        self._bucket_m = max(float(np.quantile(positive, 0.3)), 0.5) if positive.size else 1.0
        self._max_arc_m = float(self._length_m.max()) if self._length_m.size else 0.0
        self.settled = 0  # labels processed by the last pass (observability, benchmarks)

    def run(
        self, source_nodes: NDArray[np.int64], offsets_m: NDArray[np.float64], *, limit_m: float = np.inf
    ) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        """For every node ``min_i offsets_m[i] + d(source_nodes[i], v)`` in metres (inf beyond
        ``limit_m``) and the lowest ``i`` attaining it (-1 when none)."""
        found = self.run_within(source_nodes, offsets_m, limit_m=limit_m, max_settled=None)
        assert found is not None  # no budget: always complete
        return found

    def run_within(
        self,
        source_nodes: NDArray[np.int64],
        offsets_m: NDArray[np.float64],
        *,
        limit_m: float = np.inf,
        max_settled: int | None,
        pred: NDArray[np.int64] | None = None,
    ) -> tuple[NDArray[np.float64], NDArray[np.int64]] | None:
        """:meth:`run`, or ``None`` as soon as more than ``max_settled`` labels would be processed
        (the pass reaches a large part of the graph, where another search does better). ``pred``,
        an int64 array of one entry per node, receives each node's predecessor on its path (-1 at
        sources and unreached nodes)."""
        from geo import _dijkstra

        sources = np.ascontiguousarray(source_nodes, dtype=np.int64).reshape(-1)
        offsets = np.ascontiguousarray(offsets_m, dtype=np.float64).reshape(-1)
        if sources.size != offsets.size:
            raise ValueError(f"{sources.size} source nodes but {offsets.size} offsets")
        dist = np.empty(self.n, dtype=np.float64)
        owner = np.empty(self.n, dtype=np.int64)
        done = _dijkstra.multi_source(
            self._indptr,
            self._indices,
            self._length_m,
            sources,
            offsets,
            float(limit_m),
            self._bucket_m,
            self._max_arc_m,
            dist,
            owner,
            -1 if max_settled is None else int(max_settled),
            pred,
        )
        if done < 0:
            return None
        self.settled = done
        return dist, owner

    def improve(
        self,
        source_nodes: NDArray[np.int64],
        offsets_m: NDArray[np.float64],
        seed_owner: NDArray[np.int64],
        dist: NDArray[np.float64],
        owner: NDArray[np.int64],
        *,
        limit_m: float = np.inf,
    ) -> int:
        """Improve the labels ``dist``/``owner`` in place from seeds owned by ``seed_owner`` (the same
        search, started from the labels given instead of from scratch; see :func:`geo._dijkstra.improve`).
        Returns the labels processed."""
        from geo import _dijkstra

        sources = np.ascontiguousarray(source_nodes, dtype=np.int64).reshape(-1)
        offsets = np.ascontiguousarray(offsets_m, dtype=np.float64).reshape(-1)
        owners = np.ascontiguousarray(seed_owner, dtype=np.int64).reshape(-1)
        if not (sources.size == offsets.size == owners.size):
            raise ValueError(f"{sources.size} sources, {offsets.size} offsets, {owners.size} owners")
        if dist.dtype != np.float64 or owner.dtype != np.int64 or dist.size != self.n or owner.size != self.n:
            raise ValueError("dist (float64) and owner (int64) need one entry per node")
        done = _dijkstra.improve(self._indptr, self._indices, self._length_m, sources, offsets, owners,
                                 float(limit_m), self._bucket_m, self._max_arc_m, dist, owner)
        self.settled = done
        return done
