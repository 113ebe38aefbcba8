"""Benchmark: yizhan's one-pass coverage against the usual alternatives, timed in the same run.

For every network (real extracts, and tilings of the Shenzhen walk network to ~200k and ~5M arcs)
and 10 / 100 / 1,000 stations, with the same search limit (``--horizon`` minutes, default 60):

* ``yizhan``   : the search inside ``geo.coverage.node_pass``: the compiled multi-source search
                 (``geo._dijkstra``: a bucket queue, virtual sources carrying the exact straight-line
                 offsets, attribution to the lowest station index on exact ties). On networks of
                 ``geo._contract.MIN_NODES`` nodes or more it runs on the junction graph (degree-2
                 chains contracted, built once per network, build time printed separately; chain
                 nodes rebuilt exactly), unless the pass settles under 1/16 of the nodes (few
                 stations), which the full graph answers faster;
* ``full graph``: the same compiled search on the uncontracted graph (``Network.offset_search``),
                 checked equal to ``yizhan`` to 1e-9;
* ``csgraph``  : bare ``scipy.sparse.csgraph.dijkstra(indices=station_nodes, min_only=True, limit=...)``
                 on the same graph (no offsets, no attribution: the floor we compare against);
* ``nx multi`` : ``networkx.multi_source_dijkstra_path_length(cutoff=...)`` (graph build not timed);
* ``ego loop`` : the osmnx isochrone recipe, one ``networkx.ego_graph(radius=..., distance="length")``
                 per station; on large cases a sample of stations is timed and the total extrapolated
                 (marked ``*``).

Run: ``.venv/bin/python bench/coverage.py`` (``--quick`` skips the 5M-arc network).
"""

from __future__ import annotations

import argparse
import sys
import time
from functools import partial
from pathlib import Path

import networkx as nx
import numpy as np
from scipy.sparse.csgraph import dijkstra

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import pick_stations, print_table, real_networks, tile_network, timed, timed_interleaved

from geo._contract import ContractedSearch, coverage_search
from geo.coverage import node_pass
from geo.network import Network


def run_case(
    name: str,
    net: Network,
    counts: list[int],
    *,
    horizon: float,
    nx_ok: bool,
    ego_budget_s: float,
) -> list[list[object]]:
    rows: list[list[object]] = []
    limit = horizon * net.meters_per_minute
    search = net.reverse_csr()
    ip, ix, ln = net.reverse_arrays
    net.snap(net.lon[:1], net.lat[:1])  # build the KD-tree once (a per-network cost, like loading)
    t0 = time.perf_counter()
    contracted = coverage_search(net)  # per-network cost too, like the KD-tree
    if isinstance(contracted, ContractedSearch):
        print(
            f"  ({name}: junction graph {contracted.n_junctions:,} of {net.n_nodes:,} nodes, "
            f"built in {time.perf_counter() - t0:.2f}s, not timed below)",
            flush=True,
        )
    else:
        print(f"  ({name}: {net.n_nodes:,} nodes, below MIN_NODES: the full-graph search)", flush=True)
    g = None
    build_nx = float("nan")
    if nx_ok:
        t0 = time.perf_counter()
        ip, ix, ln = net.reverse_arrays
        g = nx.DiGraph()
        g.add_nodes_from(range(net.n_nodes))
        tails = np.repeat(np.arange(net.n_nodes), np.diff(ip))
        g.add_weighted_edges_from(zip(tails.tolist(), ix.tolist(), ln.tolist(), strict=True), weight="length")
        build_nx = time.perf_counter() - t0
    for count in counts:
        sx, sy = pick_stations(net, count)
        snap = net.snap(sx, sy)
        nodes = snap.node[snap.node >= 0]
        offs = snap.meters[snap.node >= 0]
        rep = 7 if net.n_arcs < 1_000_000 else 4
        (t_ours, t_bare, t_snap, t_full), ((dist, _owner), bare, _, (full, _o)) = timed_interleaved(
            [
                partial(contracted.run, nodes, offs, limit_m=limit),
                partial(dijkstra, search, directed=True, indices=nodes, min_only=True, limit=limit),
                partial(node_pass, net, sx, sy, horizon_minutes=horizon),
                partial(net.offset_search.run, nodes, offs, limit_m=limit),
            ],
            repeat=rep,
        )
        fin_full = np.isfinite(full)
        assert np.array_equal(np.isfinite(dist), fin_full)
        assert np.allclose(dist[fin_full], full[fin_full], rtol=0, atol=1e-9)
        # sanity: ours ≥ bare (offsets only add), equal where a station sits exactly on its node
        assert np.all(dist >= bare - 1e-9)
        reached = float(np.isfinite(dist).mean())
        t_nx = t_ego = float("nan")
        ego_note = ""
        if g is not None:
            t_nx, ref = timed(
                partial(
                    nx.multi_source_dijkstra_path_length,
                    g,
                    set(nodes.tolist()),
                    cutoff=limit,
                    weight="length",
                ),
                repeat=3 if net.n_arcs < 1_000_000 else 1,
            )
            got = np.array([ref.get(i, np.inf) for i in range(net.n_nodes)])
            fin = np.isfinite(bare)
            assert np.array_equal(np.isfinite(got), fin) and np.allclose(
                got[fin], bare[fin], rtol=0, atol=1e-6
            )
            # ego graphs: time a sample that fits the budget, extrapolate
            t0 = time.perf_counter()
            done = 0
            for s in nodes.tolist():
                nx.ego_graph(g, s, radius=limit, distance="length")
                done += 1
                if time.perf_counter() - t0 > ego_budget_s and done >= 3:
                    break
            t_ego = (time.perf_counter() - t0) * nodes.size / done
            ego_note = "" if done == nodes.size else f"* ({done} of {nodes.size})"
        rows.append([
            name, f"{net.n_arcs:,}", count, f"{reached:.0%}", t_snap, t_ours, t_full, t_bare, t_ours / t_bare,
            t_nx, t_nx / t_ours, t_ego, ego_note, t_ego / t_ours,
        ])  # fmt: skip
        print(
            f"  {name:<18} {count:>5} stations: yizhan {t_ours:.4f}s  full graph {t_full:.4f}s  "
            f"csgraph {t_bare:.4f}s  "
            f"nx {t_nx:.3f}s  ego {t_ego:.2f}s{ego_note}",
            flush=True,
        )
    if g is not None:
        print(f"  ({name}: networkx graph built in {build_nx:.1f}s, not timed above)", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--horizon", type=float, default=60.0, help="search limit in minutes (default 60)")
    ap.add_argument("--quick", action="store_true", help="skip the 5M-arc network")
    ap.add_argument(
        "--no-nx-large", action="store_true", help="skip networkx/ego graphs on the 5M-arc network"
    )
    args = ap.parse_args()
    start = time.perf_counter()
    counts = [10, 100, 1000]
    nets = real_networks()
    base = nets["shenzhen walk"]
    cases: list[tuple[str, Network, bool, float]] = [
        ("shenzhen walk", base, True, 3.0),
        ("shenzhen ebike", nets["shenzhen ebike"], True, 3.0),
        ("shanghai walk", nets["shanghai walk"], True, 3.0),
        ("xian ebike", nets["xian ebike"], True, 3.0),
    ]
    t0 = time.perf_counter()
    mid = tile_network(base, 3, 4)
    cases.append(("tiled 3x4 walk", mid, True, 6.0))
    print(
        f"tiled 3x4: {mid.n_nodes:,} nodes, {mid.n_arcs:,} arcs ({time.perf_counter() - t0:.1f}s)", flush=True
    )
    if not args.quick:
        t0 = time.perf_counter()
        big = tile_network(base, 18, 18)
        cases.append(("tiled 18x18 walk", big, not args.no_nx_large, 15.0))
        print(
            f"tiled 18x18: {big.n_nodes:,} nodes, {big.n_arcs:,} arcs ({time.perf_counter() - t0:.1f}s)",
            flush=True,
        )
    rows: list[list[object]] = []
    for name, net, nx_wanted, ego_budget in cases:
        # networkx on 5M arcs needs ~3 GB and a few minutes: only when the run is still within budget
        nx_ok = nx_wanted and (net.n_arcs < 1_000_000 or time.perf_counter() - start < 300)
        rows += run_case(
            name,
            net,
            [c for c in counts if c <= net.n_nodes // 5],
            horizon=args.horizon,
            nx_ok=nx_ok,
            ego_budget_s=ego_budget,
        )
        if not nx_ok:
            print(
                f"  ({name}: networkx and ego-graph skipped: a {net.n_arcs:,}-arc networkx graph needs "
                "several GB and minutes, and this run is past its time budget or --no-nx-large was given)",
                flush=True,
            )
    print()
    print(
        f"coverage pass, search limit {args.horizon:g} min (walk 4.5 km/h, ebike 15 km/h); "
        "seconds, best of 7 (4 on the 5M case), the four runs interleaved; networkx best of 3 (1 on 5M).\n"
        "'yizhan' = the pass from snapped stations (exact offsets + attribution), "
        "'+snap s' = the same including snapping the station points; 'full graph s' = the previous\n"
        "uncontracted pass; ratios = other / yizhan, "
        "except yizhan/csgraph"
    )
    print_table(
        ["network", "arcs", "stations", "reached", "+snap s", "yizhan s", "full graph s", "csgraph s",
         "yizhan/csgraph",
         "nx multi s", "nx/yizhan", "ego loop s", "", "ego/yizhan"],
        rows,
    )  # fmt: skip
    worst = max(float(r[8]) for r in rows)  # type: ignore[arg-type]
    nx_ratios = [float(r[10]) for r in rows if np.isfinite(float(r[10]))]  # type: ignore[arg-type]
    ego_1000 = [float(r[13]) for r in rows if r[2] == 1000 and np.isfinite(float(r[13]))]  # type: ignore[arg-type]
    print()
    print(
        f"targets: yizhan within 1.5x of bare csgraph -> worst {worst:.2f}x; "
        f">= 30x faster than networkx multi-source -> min {min(nx_ratios):.0f}x; "
        f">= 1000x faster than the ego-graph loop at 1,000 stations -> min "
        f"{min(ego_1000) if ego_1000 else float('nan'):.0f}x"
    )
    gain = [float(r[6]) / float(r[5]) for r in rows]  # type: ignore[arg-type]
    print(f"junction graph vs the previous full-graph pass: {min(gain):.2f}x to {max(gain):.2f}x faster")
    print(f"total benchmark time {time.perf_counter() - start:.0f}s")


if __name__ == "__main__":
    main()
