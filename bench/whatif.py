"""What-if re-evaluation (geo.scenario.IncrementalLabels) against a full pass, in one run.

For each network: 1,000 stations (100 on the district), the full pass (the compiled multi-source search
from scratch over every station: what a re-run costs), then one action at a time — add a station,
close one, relocate one — each timed and checked bit-identical to a fresh full pass afterwards.

Targets (issue "Scenarios and what-if"): one action on the tiled 5 M-arc network with 1,000 stations
≤ 1/20 of a full pass; one action on a district network ≤ 100 ms.

    python bench/whatif.py [--horizon 60] [--actions 20] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from _common import print_table, real_networks, tile_network, timed

from geo._contract import coverage_search
from geo.network import Network
from geo.scenario import IncrementalLabels, StationSources


def _sources(net: Network, rng: np.random.Generator) -> StationSources:
    nodes = rng.choice(np.flatnonzero(net.component == 0), size=2, replace=False).astype(np.int64)
    return StationSources(nodes, rng.uniform(5, 60, size=2))


def _fresh(net: Network, engine: IncrementalLabels) -> tuple[np.ndarray, np.ndarray]:
    numbers = sorted(engine.stations)
    nodes = np.concatenate([engine.stations[k].nodes for k in numbers])
    offsets = np.concatenate([engine.stations[k].offsets_m for k in numbers])
    owner_of = np.concatenate([np.full(engine.stations[k].nodes.size, k) for k in numbers])
    dist, src = net.offset_search.run(nodes, offsets, limit_m=engine.limit_m)
    return dist, np.where(src >= 0, owner_of[np.maximum(src, 0)], -1)


def run(name: str, net: Network, *, stations: int, horizon: float, actions: int) -> list[object]:
    rng = np.random.default_rng(5)
    engine = IncrementalLabels(net.offset_search, net.indptr, net.indices,
                               limit_m=horizon * net.meters_per_minute)
    initial = {k: _sources(net, rng) for k in range(stations)}
    engine.evaluate(initial)  # warm-up
    full_s, _ = timed(lambda: engine.evaluate(initial), repeat=3)
    search = coverage_search(net)  # what `yizhan coverage` runs (the contracted graph on big networks)
    numbers = sorted(initial)
    nodes = np.concatenate([initial[k].nodes for k in numbers])
    offsets = np.concatenate([initial[k].offsets_m for k in numbers])
    search.run(nodes, offsets, limit_m=engine.limit_m)
    pass_s, _ = timed(lambda: search.run(nodes, offsets, limit_m=engine.limit_m), repeat=3)
    times: dict[str, list[float]] = {"add": [], "close": [], "relocate": []}
    cpu: dict[str, list[float]] = {"add": [], "close": [], "relocate": []}
    for step in range(actions):
        kind = ("add", "close", "relocate")[step % 3]
        c0 = time.process_time()
        t0 = time.perf_counter()
        if kind == "add":
            engine.add(10_000 + step, _sources(net, rng))
        elif kind == "close":
            engine.close(int(rng.choice(sorted(engine.stations))))
        else:
            engine.relocate(int(rng.choice(sorted(engine.stations))), _sources(net, rng))
        times[kind].append(time.perf_counter() - t0)
        cpu[kind].append(time.process_time() - c0)
    dist, owner = _fresh(net, engine)
    identical = bool(np.array_equal(dist, engine.dist) and np.array_equal(owner, engine.owner))
    worst = max(statistics.median(v) for v in times.values())
    worst_cpu = max(statistics.median(v) for v in cpu.values())
    kinds = ("add", "close", "relocate")
    return [name, f"{net.n_arcs:,}", stations, f"{full_s * 1e3:.1f}", f"{pass_s * 1e3:.1f}",
            *(f"{statistics.median(times[k]) * 1e3:.2f} ({statistics.median(cpu[k]) * 1e3:.2f})"
              for k in kinds),
            f"{min(full_s, pass_s) / worst:.0f}x ({min(full_s, pass_s) / max(worst_cpu, 1e-6):.0f}x)",
            "yes" if identical else "NO"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--horizon", type=float, default=60.0, help="search limit in minutes (default 60)")
    ap.add_argument("--actions", type=int, default=21, help="actions timed per network (default 21)")
    ap.add_argument("--quick", action="store_true", help="skip the 5M-arc network")
    args = ap.parse_args()
    nets = real_networks()
    rows = [run("shenzhen walk (district)", nets["shenzhen walk"], stations=100, horizon=args.horizon,
                actions=args.actions),
            run("xian ebike (district)", nets["xian ebike"], stations=100, horizon=args.horizon,
                actions=args.actions)]
    if not args.quick:
        big = tile_network(nets["shenzhen walk"], 18, 18)
        rows.append(run("tiled 18x18", big, stations=1000, horizon=args.horizon, actions=args.actions))
    print_table(["network", "arcs", "stations", "full search ms", "coverage pass ms", "add ms (cpu)",
                 "close ms (cpu)", "relocate ms (cpu)", "fastest full / slowest action (cpu)", "identical"],
                rows)
    print("medians over the actions; wall time, with the process CPU time in brackets (on a shared machine")
    print("the wall time of a few-millisecond action includes waits for the core)")
    print("targets: one action <= 1/20 of a full pass on the 5M-arc network; <= 100 ms on a district")


if __name__ == "__main__":
    main()
