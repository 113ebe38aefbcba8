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
from typing import TYPE_CHECKING

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
#: an island gives way to a larger piece no farther than max(ISLAND_SLACK_M, ISLAND_RATIO × nearest)
ISLAND_SLACK_M = 25.0
ISLAND_RATIO = 1.5


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
    index over their straight segments; built once per network (``Network.edge_index``)."""

    def __init__(self, network: Network) -> None:
        tails = network.tails.astype(np.int64)
        heads = network.indices.astype(np.int64)
        n = max(network.n_nodes, 1)
        keys = tails * n + heads
        order = np.argsort(keys, kind="stable")
        rev_keys = heads * n + tails
        if keys.size:
            sorted_keys = keys[order]
            pos = np.minimum(np.searchsorted(sorted_keys, rev_keys), keys.size - 1)
            reverse = np.where(sorted_keys[pos] == rev_keys, order[pos], -1)
        else:
            reverse = np.zeros(0, dtype=np.int64)
        keep = (reverse < 0) | (tails < heads)
        self.arc = np.flatnonzero(keep).astype(np.int64)
        self.tail = tails[keep]
        self.head = heads[keep]
        self.length_m = network.length_m[keep]
        rev = reverse[keep]
        self.reverse_length_m = np.where(rev >= 0, network.length_m[np.maximum(rev, 0)], np.inf)
        self.piece = network.component[self.tail].astype(np.int32)
        sizes = network.component_sizes
        big_piece = (sizes >= ISLAND_NODES) & (sizes >= ISLAND_SHARE * network.n_nodes)
        if big_piece.size:
            big_piece[0] = True
        self.big = big_piece[self.piece]
        self.origin = (
            (float(np.mean(network.lon)), float(np.mean(network.lat))) if network.n_nodes else (0.0, 0.0)
        )
        self._network = network

    @property
    def size(self) -> int:
        return int(self.arc.size)

    @cached_property
    def _xy(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        xy = _graph.local_xy(self._network.lon, self._network.lat, *self.origin)
        return xy[self.tail], xy[self.head]

    @cached_property
    def _samples(self) -> tuple[_SampleTree, _SampleTree]:
        """Sample-point trees over all edges and over the edges of larger pieces."""
        every = np.arange(self.size, dtype=np.int64)
        return _SampleTree(self, every), _SampleTree(self, every[self.big])

    def nearest(self, xy: NDArray[np.float64]) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Nearest edge of every local-xy point after the piece rule, and the fraction along it."""
        every, larger = self._samples
        chosen, d_all = every.nearest(xy)
        if 0 < larger.edges.size < self.size:
            island = np.flatnonzero(~self.big[chosen])
            if island.size:
                e_big, d_big = larger.nearest(xy[island])
                near = d_big <= np.maximum(ISLAND_SLACK_M, ISLAND_RATIO * d_all[island])
                chosen[island[near]] = e_big[near]
        return chosen, self._fraction(chosen, xy)

    def distance(self, edge: NDArray[np.int64], xy: NDArray[np.float64]) -> NDArray[np.float64]:
        """Local-metre distance from each point to the given edge's segment (broadcasts)."""
        a, b = self._xy
        t = self._fraction(edge, xy)
        proj = a[edge] + t[..., None] * (b[edge] - a[edge])
        return np.asarray(np.hypot(*np.moveaxis(xy - proj, -1, 0)))

    def _fraction(self, edge: NDArray[np.int64], xy: NDArray[np.float64]) -> NDArray[np.float64]:
        a, b = self._xy
        ab = b[edge] - a[edge]
        den = np.sum(ab * ab, axis=-1)
        num = np.sum((xy - a[edge]) * ab, axis=-1)
        return np.clip(np.divide(num, den, out=np.zeros_like(num), where=den > 0), 0.0, 1.0)


class _SampleTree:
    """Exact nearest edge among ``edges`` by a KD-tree over points sampled along them every
    ≤ SAMPLE_M metres: the K nearest samples name candidate edges, measured exactly; any edge
    without a sample among them lies at least ``r_K - SAMPLE_M / 2`` away (r_K: the K-th sample's
    distance), so the best candidate is exact when no farther than that. Points where it is not
    (rare: long straight-line gaps) ask an STRtree over the segments."""

    def __init__(self, index: EdgeIndex, edges: NDArray[np.int64]) -> None:
        a, b = (xy[edges] for xy in index._xy)
        seg = np.hypot(*(b - a).T) if edges.size else np.zeros(0)
        steps = np.maximum(1, np.ceil(seg / SAMPLE_M)).astype(np.int64)
        owner = np.repeat(np.arange(edges.size), steps + 1)
        within = np.arange(owner.size) - np.repeat(np.cumsum(steps + 1) - (steps + 1), steps + 1)
        frac = within / steps[owner]
        self.index = index
        self.edges = edges
        self.sample_edge = edges[owner]
        self.tree = cKDTree(a[owner] + frac[:, None] * (b[owner] - a[owner])) if edges.size else None

    def nearest(self, xy: NDArray[np.float64]) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Nearest edge of each point and the local-metre distance to it."""
        if self.tree is None or xy.shape[0] == 0:
            return np.zeros(xy.shape[0], dtype=np.int64), np.full(xy.shape[0], np.inf)
        k = int(min(SAMPLE_K, self.sample_edge.size))
        r, i = self.tree.query(xy, k=k)
        r, i = r.reshape(xy.shape[0], k), i.reshape(xy.shape[0], k)
        cand = self.sample_edge[i]
        d = self.index.distance(cand, np.broadcast_to(xy[:, None, :], (*cand.shape, 2)))
        col = np.argmin(d, axis=1)
        rows = np.arange(xy.shape[0])
        edge, dist = cand[rows, col], d[rows, col]
        unsure = np.flatnonzero(~(dist <= r[:, -1] - SAMPLE_M / 2))
        if k == self.sample_edge.size:  # every sample examined: exact already
            unsure = unsure[:0]
        if unsure.size:
            (_, j), exact = self._strtree.query_nearest(
                shapely.points(xy[unsure]), return_distance=True, all_matches=False
            )
            edge[unsure], dist[unsure] = self.edges[np.asarray(j, dtype=np.int64)], exact
        return edge, dist

    @cached_property
    def _strtree(self) -> shapely.STRtree:
        a, b = (xy[self.edges] for xy in self.index._xy)
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
        u, v = index.tail[e], index.head[e]
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
        piece=np.where(ok, index.piece[e], -1).astype(np.int32),
        tail=np.where(ok, index.tail[e], -1),
        head=np.where(ok, index.head[e], -1),
        length_m=np.where(ok, index.length_m[e], np.inf),
        reverse_length_m=np.where(ok, index.reverse_length_m[e], np.inf),
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
