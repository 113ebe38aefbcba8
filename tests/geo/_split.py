"""Test helper: an independent networkx reference in which every snapped point really splits its edge.

Each point gets a node ``(prefix, i)`` joined both ways to a projection node ``("p", prefix, i)`` by
its straight line (recomputed here with an independent haversine); the projection nodes are
inserted into their edge in order of fraction, and the edge's arcs are replaced by the chain of
partial arcs (the reverse chain only where the reverse arc exists). Which edge and what fraction
come from :meth:`geo.network.Network.snap` (checked on its own against brute force in
``tests/geo/test_snapping.py``); everything else — lengths, directions, path search — is networkx.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Hashable, Sequence
from typing import Any

import networkx as nx
import numpy as np

from geo.network import Network
from geo.snapping import Snap

SUPER = "super-source"


def gc_meters(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Independent haversine (metres, osmnx's Earth radius)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_009.0 * math.asin(math.sqrt(min(1.0, h)))


def split_graph(
    ref: nx.DiGraph,
    net: Network,
    groups: Sequence[tuple[str, Any, Any, Snap]],
    *,
    node_key: Any = None,
) -> nx.DiGraph:
    """A copy of ``ref`` (nodes keyed by ``node_key(index)``, default the OSM id) with the points of
    every ``(prefix, lon, lat, snap)`` group attached at their projections."""
    key_of = node_key or (lambda i: int(net.node_id[i]))
    g = ref.copy()
    on_edge: dict[tuple[Hashable, Hashable], list[tuple[float, Hashable]]] = defaultdict(list)
    for prefix, lon, lat, snap in groups:
        for i in np.flatnonzero(snap.snapped).tolist():
            a, b = int(snap.tail[i]), int(snap.head[i])
            u, v = key_of(a), key_of(b)
            t = float(snap.fraction[i])
            px = float(net.lon[a] + t * (net.lon[b] - net.lon[a]))
            py = float(net.lat[a] + t * (net.lat[b] - net.lat[a]))
            perp = gc_meters(float(lon[i]), float(lat[i]), px, py)
            point, proj = (prefix, i), ("p", prefix, i)
            g.add_edge(point, proj, length=perp)
            g.add_edge(proj, point, length=perp)
            on_edge[(u, v)].append((t, proj))
    for (u, v), items in on_edge.items():
        forward = ref[u][v]["length"]
        backward = ref[v][u]["length"] if ref.has_edge(v, u) else None
        g.remove_edge(u, v)
        if backward is not None:
            g.remove_edge(v, u)
        chain = [(0.0, u), *sorted(items, key=lambda it: it[0]), (1.0, v)]
        for (t0, a), (t1, b) in itertools.pairwise(chain):
            g.add_edge(a, b, length=(t1 - t0) * forward)
            if backward is not None:
                g.add_edge(b, a, length=(t1 - t0) * backward)
    return g


def to_nearest_station(g: nx.DiGraph, n_stations: int, limit_m: float) -> dict[Hashable, float]:
    """Metres from every node of ``g`` to the nearest station node ``("s", j)`` (worker → station):
    networkx Dijkstra on the reversed graph from a super source."""
    rev = g.reverse(copy=True)
    for j in range(n_stations):
        if ("s", j) in rev:
            rev.add_edge(SUPER, ("s", j), length=0.0)
    if SUPER not in rev:
        return {}
    dist = nx.single_source_dijkstra_path_length(rev, SUPER, cutoff=limit_m, weight="length")
    dist.pop(SUPER, None)
    return dist
