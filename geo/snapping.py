"""Snapping points onto the nearest usable edge of a travel network.

A point joins the network where its perpendicular projection meets the nearest *edge* (a straight
street piece between two consecutive OSM nodes), not at the nearest node: the straight line from
the point to the projection and the partial edge lengths from the projection to the edge's two end
nodes are both counted. For one-way arcs (e-bike networks) the partial length toward an end node
is only available where the arc allows travel in that direction.

Piece rule: when the nearest edge lies on a *tiny island* — a weakly connected piece with fewer
than 50 nodes or under 1 % of all nodes (the largest piece never counts as tiny) — the point
joins instead the nearest edge of a larger piece if that one is no farther than
``max(25 m, 1.5 × the nearest distance)``. Every piece stays in the network; only the choice of
edge avoids islands.

Coordinates are WGS-84 (EPSG:4326); the spatial index works in a local equirectangular projection
about the network's mean point (metres), and the reported straight-line distances are great-circle
metres (haversine) from the point to its projection.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from scipy.spatial import cKDTree

from geo import _graph
from geo.errors import InputError

if TYPE_CHECKING:
    from geo.network import Network

__all__ = [
    "EdgeIndex", "Snap", "point_meters", "same_edge_meters", "same_edge_pairs", "snap_points", "sources_of",
]

#: pieces with fewer nodes (or under ISLAND_SHARE of all nodes) are tiny islands
ISLAND_NODES = 50
ISLAND_SHARE = 0.01
#: spacing of the sample points along edges (metres) and samples examined per point
SAMPLE_M = 10.0
SAMPLE_K = 8
#: trees over more edges try these many samples before the STRtree over their segments
STRTREE_MAX_EDGES = 200_000
SAMPLE_K_MORE = (64, 512)
#: an island gives way to a larger piece no farther than max(ISLAND_SLACK_M, ISLAND_RATIO × nearest)
ISLAND_SLACK_M = 25.0
ISLAND_RATIO = 1.5
#: points per KD-tree leaf
SAMPLE_LEAF = 64
#: bump when the stored form of the index (:meth:`EdgeIndex.state`) changes
STATE_FORMAT = 1


@dataclass(frozen=True)
class Snap:
    """Where points join a network: one edge position per point (vectorised).

    An edge runs from ``tail`` to ``head`` along an arc of the network; ``reverse_length_m`` is the
    length of the arc ``head → tail`` (inf when the edge is one-way). Unsnappable points (farther
    than the snap limit, or invalid coordinates) have ``edge == -1``, ``tail == head == -1`` and
    infinite partial lengths.

    Attributes
    ----------
    edge : ndarray of int64
        Edge index in :class:`EdgeIndex` of the network (-1: unsnappable).
    fraction : ndarray of float64
        Position of the projection along tail → head, 0..1.
    meters : ndarray of float64
        Straight great-circle metres from the point to its projection (to the nearest edge's
        projection also when unsnappable; NaN for invalid coordinates).
    piece : ndarray of int32
        Weakly connected piece of the edge (0 = largest; -1: unsnappable).
    tail, head : ndarray of int64
        End nodes of the edge.
    length_m, reverse_length_m : ndarray of float64
        Lengths of the arcs tail → head and head → tail (inf when absent).
    """

    edge: NDArray[np.int64]
    fraction: NDArray[np.float64]
    meters: NDArray[np.float64]
    piece: NDArray[np.int32]
    tail: NDArray[np.int64]
    head: NDArray[np.int64]
    length_m: NDArray[np.float64]
    reverse_length_m: NDArray[np.float64]

    def __len__(self) -> int:
        return int(self.edge.size)

    @property
    def snapped(self) -> NDArray[np.bool_]:
        """Boolean mask of the points that snapped."""
        return np.asarray(self.edge >= 0)

    def exits(self) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Nodes a traveller starting at each point can reach along its edge, and the metres to
        them including the straight line: two columns (tail, head); node -1 / inf where the
        direction is not allowed or the point is unsnappable."""
        t = self.fraction
        return self._ends(_times(t, self.reverse_length_m), _times(1.0 - t, self.length_m))

    def entries(self) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Nodes from which each point can be reached along its edge, and the metres from them
        including the straight line: two columns (tail, head), as :meth:`exits`."""
        t = self.fraction
        return self._ends(_times(t, self.length_m), _times(1.0 - t, self.reverse_length_m))

    def _ends(
        self, to_tail: NDArray[np.float64], to_head: NDArray[np.float64]
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        nodes = np.column_stack([self.tail, self.head])
        meters = np.column_stack([to_tail, to_head]) + self.meters[:, None]
        bad = ~np.isfinite(meters) | (nodes < 0)
        return np.where(bad, -1, nodes), np.where(bad, np.inf, meters)

    def nearer_end(self, *, entry: bool = False) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """One end node per point and the metres to it (straight line + partial edge): the nearer
        of :meth:`exits` (or of :meth:`entries` with ``entry=True``); -1 / inf when unsnappable.
        For callers that take one node per point; the exact time takes both ends."""
        nodes, meters = self.entries() if entry else self.exits()
        pick = np.argmin(meters, axis=1) if len(self) else np.zeros(0, dtype=np.int64)
        rows = np.arange(len(self))
        return nodes[rows, pick], meters[rows, pick]

    @property
    def node(self) -> NDArray[np.int64]:
        """The nearer reachable end node of each point's edge (-1: unsnappable)."""
        return self.nearer_end()[0]

    @property
    def node_meters(self) -> NDArray[np.float64]:
        """Metres from each point to :attr:`node` (straight line + partial edge)."""
        return self.nearer_end()[1]

    def take(self, index: ArrayLike) -> Snap:
        """The snaps of the points at ``index`` (positions or a boolean mask)."""
        i = np.asarray(index)
        return Snap(*(np.asarray(getattr(self, f))[i] for f in _FIELDS))

    def lonlat(self, network: Network) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """WGS-84 coordinates of the projections (NaN when unsnappable)."""
        ok = self.edge >= 0
        u, v = np.maximum(self.tail, 0), np.maximum(self.head, 0)
        t = self.fraction
        lon = network.lon[u] + t * (network.lon[v] - network.lon[u])
        lat = network.lat[u] + t * (network.lat[v] - network.lat[u])
        return np.where(ok, lon, np.nan), np.where(ok, lat, np.nan)


def _times(fraction: NDArray[np.float64], length_m: NDArray[np.float64]) -> NDArray[np.float64]:
    """``fraction × length`` with an absent arc (inf length) staying inf even at fraction 0."""
    return np.where(np.isfinite(length_m), fraction * np.where(np.isfinite(length_m), length_m, 0.0), np.inf)


_FIELDS = ("edge", "fraction", "meters", "piece", "tail", "head", "length_m", "reverse_length_m")


def same_edge_meters(origin: Snap, i: ArrayLike, target: Snap, j: ArrayLike) -> NDArray[np.float64]:
    """Metres from points ``origin[i]`` to points ``target[j]`` along their common edge (straight
    lines included; inf where the edges differ or the direction is not allowed)."""
    i = np.asarray(i, dtype=np.int64)
    j = np.asarray(j, dtype=np.int64)
    same = (origin.edge[i] == target.edge[j]) & (origin.edge[i] >= 0)
    step = target.fraction[j] - origin.fraction[i]
    along = np.where(step >= 0, _times(step, origin.length_m[i]), _times(-step, origin.reverse_length_m[i]))
    out = along + origin.meters[i] + target.meters[j]
    return np.where(same & np.isfinite(out), out, np.inf)


class EdgeIndex:
    """The edges of a network (one per street piece, both directions together) with a spatial
    index over their straight segments; built once per network (``Network.edge_index``), or read
    with the network's file (:meth:`state`, :meth:`from_state`).

    An edge is stored as its arc (tail < head, or a one-way arc) and the reverse arc (-1 when
    one-way), both int32; everything else (end nodes, lengths, piece, segment coordinates) is
    looked up in the network for the edges a query needs, so the index holds 8 bytes per edge
    besides its sample trees.
    """

    def __init__(self, network: Network) -> None:
        tails = network.tails
        heads = network.indices
        n = max(network.n_nodes, 1)
        keys = tails.astype(np.int64) * n + heads
        order = np.argsort(keys, kind="stable")
        rev_keys = heads.astype(np.int64) * n + tails
        if keys.size:
            sorted_keys = keys[order]
            del keys
            pos = np.minimum(np.searchsorted(sorted_keys, rev_keys), sorted_keys.size - 1)
            reverse = np.where(sorted_keys[pos] == rev_keys, order[pos], -1)
        else:
            reverse = np.zeros(0, dtype=np.int64)
        del order, rev_keys
        keep = (reverse < 0) | (tails < heads)
        self.arc = np.flatnonzero(keep).astype(np.int32)
        self.reverse_arc = reverse[keep].astype(np.int32)
        self.origin = (
            (float(np.mean(network.lon)), float(np.mean(network.lat))) if network.n_nodes else (0.0, 0.0)
        )
        self._network = network
        self._big_piece = _big_pieces(network)

    # ------------------------------------------------------------------ stored form
    def state(self) -> tuple[dict[str, NDArray[Any]], dict[str, Any]]:
        """Arrays and plain values that make up the built index and its sample trees (for storing
        beside the network; :meth:`from_state` reads them back without rebuilding)."""
        arrays: dict[str, NDArray[Any]] = {"arc": self.arc, "reverse_arc": self.reverse_arc}
        meta: dict[str, Any] = {"format": STATE_FORMAT, "scipy": _scipy_version(),
                                "origin": list(self.origin), "trees": {}}  # fmt: skip
        for name, tree in zip(("big", "small"), self._trees, strict=True):
            tree_arrays, tree_meta = tree.state()
            arrays.update({f"{name}__{k}": v for k, v in tree_arrays.items()})
            meta["trees"][name] = tree_meta
        return arrays, meta

    @classmethod
    def from_state(cls, network: Network, arrays: dict[str, NDArray[Any]], meta: dict[str, Any]) -> EdgeIndex:
        """The index of ``network`` from :meth:`state` (arrays may be read-only memory maps)."""
        index = cls.__new__(cls)
        index.arc = arrays["arc"]
        index.reverse_arc = arrays["reverse_arc"]
        index.origin = (float(meta["origin"][0]), float(meta["origin"][1]))
        index._network = network
        index._big_piece = _big_pieces(network)
        vars(index)["_trees"] = tuple(
            _SampleTree.from_state(index, {k.split("__", 1)[1]: v for k, v in arrays.items()
                                           if k.startswith(f"{name}__")}, meta["trees"][name])
            for name in ("big", "small")
        )  # fmt: skip
        return index

    @staticmethod
    def stored_usable(meta: dict[str, Any]) -> bool:
        """True when a stored index (``meta`` from :meth:`state`) can be read by this version."""
        return meta.get("format") == STATE_FORMAT and meta.get("scipy") == _scipy_version()

    # ------------------------------------------------------------------ facts per edge
    @property
    def size(self) -> int:
        return int(self.arc.size)

    def tail_of(self, edge: NDArray[np.int64]) -> NDArray[np.int64]:
        """Tail node of the given edges (any shape)."""
        arc = self.arc[edge]
        return np.searchsorted(self._network.indptr, arc, side="right").astype(np.int64) - 1

    def head_of(self, edge: NDArray[np.int64]) -> NDArray[np.int64]:
        """Head node of the given edges (any shape)."""
        return self._network.indices[self.arc[edge]].astype(np.int64)

    def length_of(self, edge: NDArray[np.int64]) -> NDArray[np.float64]:
        """Length in metres of the arc tail → head of the given edges."""
        return np.asarray(self._network.length_m[self.arc[edge]], dtype=np.float64)

    def reverse_length_of(self, edge: NDArray[np.int64]) -> NDArray[np.float64]:
        """Length in metres of the arc head → tail of the given edges (inf when one-way)."""
        rev = self.reverse_arc[edge]
        return np.where(rev >= 0, self._network.length_m[np.maximum(rev, 0)], np.inf)

    def piece_of(self, edge: NDArray[np.int64]) -> NDArray[np.int32]:
        """Weakly connected piece of the given edges."""
        return self._network.component[self.tail_of(edge)].astype(np.int32)

    def big_of(self, edge: NDArray[np.int64]) -> NDArray[np.bool_]:
        """True for edges of pieces that are not tiny islands (see the module doc)."""
        return np.asarray(self._big_piece[self.piece_of(edge)])

    # the same facts for every edge (built on first use; snapping itself never needs them)
    @cached_property
    def _every(self) -> NDArray[np.int64]:
        return np.arange(self.size, dtype=np.int64)

    @cached_property
    def tail(self) -> NDArray[np.int64]:
        return self.tail_of(self._every)

    @cached_property
    def head(self) -> NDArray[np.int64]:
        return self.head_of(self._every)

    @cached_property
    def length_m(self) -> NDArray[np.float64]:
        return self.length_of(self._every)

    @cached_property
    def reverse_length_m(self) -> NDArray[np.float64]:
        return self.reverse_length_of(self._every)

    @cached_property
    def piece(self) -> NDArray[np.int32]:
        return self.piece_of(self._every)

    @cached_property
    def big(self) -> NDArray[np.bool_]:
        return self.big_of(self._every)

    # ------------------------------------------------------------------ geometry
    def segments(self, edge: NDArray[np.int64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Local-metre coordinates of the two ends of the given edges: arrays of shape
        ``edge.shape + (2,)``."""
        net = self._network
        ends = []
        for node in (self.tail_of(edge), self.head_of(edge)):
            flat = node.ravel()
            ends.append(_graph.local_xy(net.lon[flat], net.lat[flat], *self.origin).reshape(*node.shape, 2))
        return ends[0], ends[1]

    @cached_property
    def _trees(self) -> tuple[_SampleTree, _SampleTree]:
        """Sample-point trees over the edges of larger pieces and over those of tiny islands."""
        every = np.arange(self.size, dtype=np.int64)
        big = self.big_of(every) if every.size else np.zeros(0, dtype=bool)
        return _SampleTree(self, every[big]), _SampleTree(self, every[~big])

    def nearest(self, xy: NDArray[np.float64]) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Nearest edge of every local-xy point after the piece rule, and the fraction along it.

        The nearest edge is the nearer of the nearest larger-piece edge and the nearest island
        edge; an island edge keeps the point only when no larger-piece edge lies within
        ``max(ISLAND_SLACK_M, ISLAND_RATIO × its distance)``."""
        larger, islands = self._trees
        chosen, d_big = larger.nearest(xy)
        if islands.edges.size:
            e_small, d_small = islands.nearest(xy)
            keep = (d_small < d_big) & ~(d_big <= np.maximum(ISLAND_SLACK_M, ISLAND_RATIO * d_small))
            chosen = np.where(keep, e_small, chosen)
        return chosen, self._fraction(chosen, xy)

    def distance(self, edge: NDArray[np.int64], xy: NDArray[np.float64]) -> NDArray[np.float64]:
        """Local-metre distance from each point to the given edge's segment (broadcasts)."""
        a, b = self.segments(edge)
        t = self._fraction(edge, xy, (a, b))
        proj = a + t[..., None] * (b - a)
        return np.asarray(np.hypot(*np.moveaxis(xy - proj, -1, 0)))

    def _fraction(
        self,
        edge: NDArray[np.int64],
        xy: NDArray[np.float64],
        ends: tuple[NDArray[np.float64], NDArray[np.float64]] | None = None,
    ) -> NDArray[np.float64]:
        a, b = ends if ends is not None else self.segments(edge)
        ab = b - a
        den = np.sum(ab * ab, axis=-1)
        num = np.sum((xy - a) * ab, axis=-1)
        return np.clip(np.divide(num, den, out=np.zeros_like(num), where=den > 0), 0.0, 1.0)


def _big_pieces(network: Network) -> NDArray[np.bool_]:
    """Per piece: True unless it is a tiny island (the largest piece never is)."""
    sizes = network.component_sizes
    big_piece = (sizes >= ISLAND_NODES) & (sizes >= ISLAND_SHARE * network.n_nodes)
    if big_piece.size:
        big_piece[0] = True
    return np.asarray(big_piece)


def _scipy_version() -> str:
    import scipy

    return str(scipy.__version__)


def _tree_from_state(
    nodes: NDArray[Any],
    data: NDArray[np.float64],
    sizes: tuple[int, int, int],
    maxes: NDArray[np.float64],
    mins: NDArray[np.float64],
    indices: NDArray[np.intp],
) -> cKDTree:
    """A cKDTree from the parts of its pickled form (``cKDTree.__getstate__``): the node buffer is
    copied, ``data`` and ``indices`` are used as they are (read-only memory maps are fine)."""
    tree = cKDTree.__new__(cKDTree)
    n, m, leafsize = sizes
    # the node buffer goes back as bytes ("S1"): scipy reads other dtypes wrongly
    tree.__setstate__((np.asarray(nodes).view("S1"), data, int(n), int(m), int(leafsize), np.array(maxes),
                       np.array(mins), indices, None, None))  # fmt: skip
    return tree


class _SampleTree:
    """Exact nearest edge among ``edges`` by a KD-tree over points sampled along them every
    ≤ SAMPLE_M metres: the K nearest samples name candidate edges, measured exactly; any edge
    without a sample among them lies at least ``r_K - SAMPLE_M / 2`` away (r_K: the K-th sample's
    distance), so the best candidate is exact when no farther than that. Points where it is not
    (rare: long straight-line gaps) ask more samples (large networks), then an STRtree over the
    segments.

    Samples are kept in the tree's own order, so a leaf's samples sit together in memory and a
    query on a memory-mapped stored tree touches few pages."""

    def __init__(self, index: EdgeIndex, edges: NDArray[np.int64]) -> None:
        self.index = index
        self.edges = edges
        self.sample_edge = np.zeros(0, dtype=np.int32)
        self.tree: cKDTree | None = None
        if not edges.size:
            return
        a, b = index.segments(edges)
        seg = np.hypot(*(b - a).T)
        steps = np.maximum(1, np.ceil(seg / SAMPLE_M)).astype(np.int64)
        owner = np.repeat(np.arange(edges.size), steps + 1)
        within = np.arange(owner.size) - np.repeat(np.cumsum(steps + 1) - (steps + 1), steps + 1)
        frac = within / steps[owner]
        del within
        points = a[owner] + frac[:, None] * (b[owner] - a[owner])
        del frac, a, b
        built = cKDTree(points, leafsize=SAMPLE_LEAF)
        nodes, _, n, m, leafsize, maxes, mins, order, _, _ = built.__getstate__()
        del built
        # the same tree over the samples stored in tree order: a leaf's samples are contiguous
        self.sample_edge = edges[owner[order]].astype(np.int32)
        self.tree = _tree_from_state(
            nodes, points[order], (n, m, leafsize), maxes, mins, np.arange(n, dtype=np.intp)
        )

    def state(self) -> tuple[dict[str, NDArray[Any]], dict[str, Any]]:
        """The tree's arrays (its pickled form, without pickles) and sizes."""
        arrays: dict[str, NDArray[Any]] = {
            "edges": np.asarray(self.edges, dtype=np.int32), "sample_edge": self.sample_edge
        }
        meta: dict[str, Any] = {"empty": self.tree is None}
        if self.tree is not None:
            (nodes, data, n, m, leafsize, maxes, mins, indices, boxsize, _) = self.tree.__getstate__()
            if boxsize is not None:
                raise ValueError("periodic KD-trees are not stored")
            arrays.update({"nodes": np.asarray(nodes).view(np.uint8), "data": data, "maxes": maxes,
                           "mins": mins, "indices": indices})  # fmt: skip
            meta.update({"n": int(n), "m": int(m), "leafsize": int(leafsize)})
        return arrays, meta

    @classmethod
    def from_state(
        cls, index: EdgeIndex, arrays: dict[str, NDArray[Any]], meta: dict[str, Any]
    ) -> _SampleTree:
        tree = cls.__new__(cls)
        tree.index = index
        tree.edges = arrays["edges"]
        tree.sample_edge = arrays["sample_edge"]
        tree.tree = None
        if not meta["empty"]:
            sizes = (meta["n"], meta["m"], meta["leafsize"])
            tree.tree = _tree_from_state(arrays["nodes"], arrays["data"], sizes, arrays["maxes"],
                                         arrays["mins"], arrays["indices"])  # fmt: skip
        return tree

    def nearest(self, xy: NDArray[np.float64]) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Nearest edge of each point and the local-metre distance to it."""
        if self.tree is None or xy.shape[0] == 0:
            return np.zeros(xy.shape[0], dtype=np.int64), np.full(xy.shape[0], np.inf)
        edge, dist, unsure = self._candidates(xy, SAMPLE_K)
        if self.edges.size > STRTREE_MAX_EDGES:
            # large networks: more samples before the STRtree, whose build would cost more time and
            # memory (hundreds of bytes per edge) than every query it answers
            for k in SAMPLE_K_MORE:
                if not unsure.size:
                    break
                e, d, still = self._candidates(xy[unsure], k)
                edge[unsure], dist[unsure] = e, d
                unsure = unsure[still]
        if unsure.size:
            (_, j), exact = self._strtree.query_nearest(
                shapely.points(xy[unsure]), return_distance=True, all_matches=False
            )
            edge[unsure], dist[unsure] = np.asarray(self.edges)[np.asarray(j, dtype=np.int64)], exact
        return edge, dist

    def _candidates(
        self, xy: NDArray[np.float64], k: int
    ) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.int64]]:
        """Best edge among the ``k`` nearest samples' edges, its distance, and the positions of the
        points where that is not proven exact."""
        k = int(min(k, self.sample_edge.size))
        assert self.tree is not None
        r, i = self.tree.query(xy, k=k)
        r, i = r.reshape(xy.shape[0], k), i.reshape(xy.shape[0], k)
        cand = self.sample_edge[i].astype(np.int64)
        d = self.index.distance(cand, np.broadcast_to(xy[:, None, :], (*cand.shape, 2)))
        dist = d.min(axis=1)
        # the lowest edge among equally near ones (a point at a node is as near to all its edges)
        edge = np.where(d == dist[:, None], cand, np.iinfo(np.int64).max).min(axis=1)
        edge = np.where(np.isfinite(dist), edge, cand[:, 0])
        unsure = np.flatnonzero(~(dist <= r[:, -1] - SAMPLE_M / 2))
        if k == self.sample_edge.size:  # every sample examined: exact already
            unsure = unsure[:0]
        return edge, dist, unsure

    @cached_property
    def _strtree(self) -> shapely.STRtree:
        a, b = self.index.segments(np.asarray(self.edges, dtype=np.int64))
        return shapely.STRtree(shapely.linestrings(np.stack([a, b], axis=1)))


def snap_points(network: Network, lon: ArrayLike, lat: ArrayLike, *, max_meters: float = 300.0) -> Snap:
    """Snap WGS-84 points to the nearest usable edge of ``network`` (see the module doc).

    Parameters
    ----------
    network : Network
    lon, lat : array-like of float
        WGS-84 (EPSG:4326) coordinates; scalars accepted.
    max_meters : float
        Snap limit: points whose straight line to the chosen edge is longer are unsnappable.

    Returns
    -------
    Snap
    """
    if not max_meters >= 0:  # NaN fails too; inf means no limit
        raise InputError(f"max_meters must be a non-negative number, got {max_meters!r}", field="max_meters")
    x = np.atleast_1d(np.asarray(lon, dtype=np.float64))
    y = np.atleast_1d(np.asarray(lat, dtype=np.float64))
    if x.shape != y.shape:
        raise InputError(f"lon and lat differ in shape: {x.shape} vs {y.shape}", field="lon")
    x, y = x.ravel(), y.ravel()
    index = network.edge_index
    edge = np.full(x.size, -1, dtype=np.int64)
    fraction = np.zeros(x.size)
    meters = np.full(x.size, np.nan)
    ok = np.isfinite(x) & np.isfinite(y)
    if index.size and ok.any():
        e, t = index.nearest(_graph.local_xy(x[ok], y[ok], *index.origin))
        u, v = index.tail_of(e), index.head_of(e)
        px = network.lon[u] + t * (network.lon[v] - network.lon[u])
        py = network.lat[u] + t * (network.lat[v] - network.lat[u])
        meters[ok] = _graph.haversine_m(x[ok], y[ok], px, py)
        edge[ok] = e
        fraction[ok] = t
    edge[~(meters <= max_meters)] = -1
    return _snap_of(index, edge, fraction, meters)


def _snap_of(
    index: EdgeIndex, edge: NDArray[np.int64], fraction: NDArray[np.float64], meters: NDArray[np.float64]
) -> Snap:
    ok = edge >= 0
    if index.size == 0:  # no edges: every point is unsnappable
        none = np.full(edge.size, -1, dtype=np.int64)
        inf = np.full(edge.size, np.inf)
        return Snap(edge, fraction, meters, none.astype(np.int32), none, none.copy(), inf, inf.copy())
    e = np.maximum(edge, 0)
    return Snap(
        edge=edge,
        fraction=np.where(ok, fraction, 0.0),
        meters=meters,
        piece=np.where(ok, index.piece_of(e), -1).astype(np.int32),
        tail=np.where(ok, index.tail_of(e), -1).astype(np.int64),
        head=np.where(ok, index.head_of(e), -1).astype(np.int64),
        length_m=np.where(ok, index.length_of(e), np.inf),
        reverse_length_m=np.where(ok, index.reverse_length_of(e), np.inf),
    )


# ------------------------------------------------------------------------------------------ travel
def sources_of(stations: Snap) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.int64]]:
    """Search sources for snapped stations: every node from which a station is reached along its
    edge, with the metres from it (partial edge + straight line) as the source's starting offset.

    Returns ``(nodes, offsets_m, station)``, station-major (station i's sources come before station
    i+1's), so the lowest source index attaining a minimum is also the lowest station index.
    """
    nodes, meters = stations.entries()
    station = np.repeat(np.arange(len(stations), dtype=np.int64), 2)
    nodes, meters = nodes.ravel(), meters.ravel()
    ok = nodes >= 0
    return nodes[ok], meters[ok], station[ok]


def same_edge_pairs(a: Snap, b: Snap) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """All index pairs ``(i, j)`` with ``a[i]`` and ``b[j]`` snapped to the same edge."""
    b_ok = np.flatnonzero(b.edge >= 0)
    order = b_ok[np.argsort(b.edge[b_ok], kind="stable")]
    keys = b.edge[order]
    lo = np.searchsorted(keys, a.edge, side="left")
    hi = np.searchsorted(keys, a.edge, side="right")
    count = np.where(a.edge >= 0, hi - lo, 0)
    i = np.repeat(np.arange(len(a), dtype=np.int64), count)
    within = np.arange(i.size) - np.repeat(np.cumsum(count) - count, count)
    return i, order[np.repeat(lo, count) + within].astype(np.int64)


def _best(
    meters: NDArray[np.float64], station: NDArray[np.int64]
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Row-wise minimum of ``meters`` (n, c) and its station, the lowest station on exact ties."""
    best = meters.min(axis=1) if meters.shape[1] else np.full(meters.shape[0], np.inf)
    tied = (meters == best[:, None]) & np.isfinite(meters) & (station >= 0)
    big = np.iinfo(np.int64).max
    who = np.where(tied, station, big).min(axis=1) if meters.shape[1] else np.full(meters.shape[0], big)
    return best, np.where(who == big, -1, who)


def point_meters(
    points: Snap, node_m: NDArray[np.float64], node_station: NDArray[np.int64], stations: Snap
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Metres from every point to its nearest station and that station (-1 none; inf metres).

    ``node_m``/``node_station`` are the multi-source labels of every node (metres to the nearest
    station including its partial edge and straight line, from :func:`sources_of`). A point leaves
    its edge at either reachable end (:meth:`Snap.exits`), or reaches a station on the same edge
    directly when the direction allows.
    """
    nodes, exit_m = points.exits()
    safe = np.maximum(nodes, 0)
    via = np.where(nodes >= 0, exit_m + node_m[safe], np.inf)
    who = np.where(np.isfinite(via), node_station[safe], -1)
    i, j = same_edge_pairs(points, stations)
    direct = np.full(len(points), np.inf)
    direct_who = np.full(len(points), -1, dtype=np.int64)
    if i.size:
        d = same_edge_meters(points, i, stations, j)
        order = np.lexsort((j, d, i))
        first = np.ones(order.size, dtype=bool)
        first[1:] = i[order][1:] != i[order][:-1]
        pick = order[first]
        direct[i[pick]] = d[pick]
        direct_who[i[pick]] = np.where(np.isfinite(d[pick]), j[pick], -1)
    return _best(np.column_stack([via, direct]), np.column_stack([who, direct_who]))
