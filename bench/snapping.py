"""Edge snapping and the coverage pass with edge-snapped stations, on the small real networks.

Times in the same run, interleaved (best of 7):

* ``edge snap``: ``Network.snap`` (STRtree over edge segments, piece rule) for 20,000 random points;
* ``node snap``: the former nearest-node snapping (a KD-tree on the nodes plus the node island rule,
  reimplemented here as the reference) for the same points;
* ``pass``: the coverage search from edge-snapped stations (each enters at the ends of its edge,
  ``geo.snapping.sources_of``) — what ``geo.coverage.node_pass`` runs after snapping;
* ``csgraph``: bare ``scipy.sparse.csgraph.dijkstra(min_only=True, limit=...)`` from the stations'
  nearer end nodes (no offsets, no attribution): the floor the pass is held to (≤ 1.5×);
* ``coverage``: the whole ``compute_coverage`` with the 20,000 points as demand (snapping included).

Run: ``PYTHONPATH=$PWD .venv/bin/python bench/snapping.py``.
"""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

import geopandas as gpd
import numpy as np
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import pick_stations, print_table, real_networks, timed_interleaved

from geo import _graph
from geo._contract import coverage_search
from geo.coverage import compute_coverage
from geo.network import Network
from geo.snapping import sources_of


def node_snapper(net: Network) -> partial[np.ndarray]:
    """The former snapping: nearest node, a tiny island's node giving way to a larger piece's node
    within max(25 m, 1.5 × the nearest distance)."""
    origin = (float(np.mean(net.lon)), float(np.mean(net.lat)))
    xy = _graph.local_xy(net.lon, net.lat, *origin)
    sizes = net.component_sizes[net.component]
    big = ((sizes >= 50) & (sizes >= 0.01 * net.n_nodes)) | (net.component == 0)
    big_idx = np.flatnonzero(big)
    return partial(_node_snap, cKDTree(xy), cKDTree(xy[big_idx]), big_idx, big, origin, net)


def _node_snap(tree, tree_big, big_idx, big, origin, net, lon, lat):  # type: ignore[no-untyped-def]
    p = _graph.local_xy(lon, lat, *origin)
    d, i = tree.query(p)
    db, j = tree_big.query(p)
    chosen = np.where((~big[i]) & (db <= np.maximum(25.0, 1.5 * d)), big_idx[j], i)
    return _graph.haversine_m(lon, lat, net.lon[chosen], net.lat[chosen])


def main() -> None:
    rng = np.random.default_rng(0)
    rows = []
    for name, net in real_networks().items():
        lon = rng.uniform(*np.quantile(net.lon, [0.05, 0.95]), 20_000)
        lat = rng.uniform(*np.quantile(net.lat, [0.05, 0.95]), 20_000)
        demand = gpd.GeoDataFrame(
            {"weight": np.ones(lon.size)}, geometry=gpd.points_from_xy(lon, lat), crs=4326
        )
        old = node_snapper(net)
        net.snap(lon[:1], lat[:1])  # the spatial index is a per-network cost, like loading
        search = coverage_search(net)
        g = net.reverse_csr()
        limit = 60.0 * net.meters_per_minute
        (t_edge, t_node), _ = timed_interleaved(
            [partial(net.snap, lon, lat), partial(old, lon, lat)], repeat=7
        )
        for count in (10, 100, 1000):
            if count > net.n_nodes // 5:
                continue
            sx, sy = pick_stations(net, count)
            snap = net.snap(sx, sy)
            src, off, _ = sources_of(snap)
            nodes = np.unique(snap.node[snap.snapped])
            stations = gpd.GeoDataFrame(
                {"status": ["open"] * count}, geometry=gpd.points_from_xy(sx, sy), crs=4326
            )
            (t_pass, t_bare, t_cov), _ = timed_interleaved(
                [
                    partial(search.run, src, off, limit_m=limit),
                    partial(dijkstra, g, directed=True, indices=nodes, min_only=True, limit=limit),
                    partial(compute_coverage, net, stations, demand, minutes=15.0, horizon_minutes=60.0),
                ],
                repeat=7,
            )
            rows.append([name, f"{net.n_arcs:,}", count, t_edge, t_node, t_edge / t_node, t_pass, t_bare,
                         t_pass / t_bare, t_cov])  # fmt: skip
            print(
                f"  {name} {count}: pass {t_pass:.4f}s csgraph {t_bare:.4f}s coverage {t_cov:.3f}s",
                flush=True,
            )
    print()
    print("20,000 random points; seconds, best of 7, interleaved")
    print_table(
        ["network", "arcs", "stations", "edge snap s", "node snap s", "edge/node", "pass s", "csgraph s",
         "pass/csgraph", "coverage s"],
        rows,
    )  # fmt: skip


if __name__ == "__main__":
    main()
