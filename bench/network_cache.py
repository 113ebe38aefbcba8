"""Benchmark: building a network from its street file vs loading the compact npz cache.

For each real network: build time (``load_network(cache=False)``: pyosmium read (osmnx for
GraphML) + mode rules + CSR), load time of the cached ``.npz`` (``load_network`` cache hit), the
ratio, and the file sizes. Caches go to a temporary directory, so the numbers never depend on an
earlier run.

Second table (``--tiles N``, default 18): the stored search and snapping structures on the
Shenzhen Nanshan walk network (core clip) tiled N×N (18×18: 5.1 M arcs), each row a fresh process:
reading the file, the search structures (reverse CSR + contracted junction graph) and the first
snap of 200 station points (which builds or reads the edge index and its KD-trees), for a file
with nothing stored, a file with the search structures only (the snapping index dropped after
reading: the state before it was stored), and a file with everything stored
(``save_network(derived=True)``), with the ratio of each total to the last. Third table: the whole
``yizhan coverage`` command (fresh process, start-up and imports included) on the plain and the
stored file.

Run: ``.venv/bin/python bench/network_cache.py [--tiles 18]``
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import SHENZHEN_CORE, print_table, shenzhen_osm, tile_network, timed

from geo.config import data_dir
from geo.network import cache_path, load_network, save_network
from geo.region.synthetic import station_points

ROOT = Path(__file__).resolve().parents[1]
YIZHAN = str(Path(sys.executable).with_name("yizhan"))
FRESH = """
import sys, time
import numpy as np
from geo import _contract
from geo.network import read_network_npz
lon, lat = np.loadtxt(sys.argv[2], delimiter=",", unpack=True)
t0 = time.perf_counter()
net = read_network_npz(sys.argv[1])
if sys.argv[3] == "drop-snap":
    vars(net).pop("_stored_edge_index", None)
t1 = time.perf_counter()
net.reverse_arrays
_contract.coverage_search(net)
t2 = time.perf_counter()
snap = net.snap(lon, lat)
t3 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2, int(snap.snapped.sum()))
"""


def search_structures(tiles: int) -> None:
    """Fresh-process cost of the search and snapping structures: built vs loaded from the file."""
    with tempfile.TemporaryDirectory() as tmp:
        base = load_network(shenzhen_osm(), mode="walk", clip=SHENZHEN_CORE, cache_dir=Path(tmp))
        net = tile_network(base, tiles, tiles)
        plain = save_network(net, Path(tmp) / "plain.npz")
        t0 = time.perf_counter()
        stored = save_network(net, Path(tmp) / "stored.npz", derived=True)
        save_s = time.perf_counter() - t0
        lon, lat = station_points(net, 200, seed=1)
        points = Path(tmp) / "stations.txt"
        np.savetxt(points, np.column_stack([lon, lat]), delimiter=",", fmt="%.7f")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        rows = []
        cases = (("nothing stored", plain, "keep"), ("search stored, snapping built", stored, "drop-snap"),
                 ("search and snapping stored", stored, "keep"))  # fmt: skip
        for name, path, how in cases:
            out = subprocess.run([sys.executable, "-c", FRESH, str(path), str(points), how],
                                 capture_output=True, text=True, check=True, env=env)  # fmt: skip
            read_s, search_s, snap_s, _ = (float(x) for x in out.stdout.split())
            rows.append([name, f"{path.stat().st_size / 1e6:.0f} MB", read_s, search_s, snap_s,
                         read_s + search_s + snap_s])  # fmt: skip
        for row in rows:
            row.append(f"{row[-1] / rows[-1][-1]:.1f}x")
        print(f"\nsearch structures and snapping index, {tiles}x{tiles} Shenzhen walk tiles, "
              f"{net.n_arcs:,} arcs, fresh process each (stored file written in {save_s:.1f} s); "
              "seconds")  # fmt: skip
        print_table(["file", "npz", "read s", "search s", "first snap s", "total s", "vs stored"], rows)
        stations = Path(tmp) / "stations.csv"
        pd.DataFrame({"编号": [f"S{i}" for i in range(lon.size)], "名称": [f"站{i}" for i in range(lon.size)],
                      "经度": lon.round(7),
                      "纬度": lat.round(7), "类型": "outdoor_worker_station",
                      "状态": "open"}).to_csv(stations, index=False)  # fmt: skip
        demand = Path(tmp) / "demand.csv"
        dlon, dlat = station_points(net, 5000, seed=2)
        pd.DataFrame({"lon": dlon.round(7), "lat": dlat.round(7)}).to_csv(demand, index=False)
        walls = []
        for path in (plain, stored):
            cmd = [YIZHAN, "coverage", "--network", str(path), "--stations", str(stations), "--demand",
                   str(demand), "--mode", "walk", "--minutes", "15", "--json"]  # fmt: skip
            t0 = time.perf_counter()
            done = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env, cwd=ROOT)
            if done.returncode:
                raise SystemExit(f"yizhan coverage failed: {done.stderr.strip()[-800:]}")
            walls.append(time.perf_counter() - t0)
    print(f"\nyizhan coverage (200 stations, 5,000 demand points, fresh process): plain file "
          f"{walls[0]:.2f} s, stored file {walls[1]:.2f} s, ratio {walls[0] / walls[1]:.1f}x")  # fmt: skip


def main() -> None:
    d = data_dir()
    cases = [
        ("shenzhen walk", shenzhen_osm(), "walk", SHENZHEN_CORE),
        ("shenzhen ebike", shenzhen_osm(), "ebike", SHENZHEN_CORE),
        ("shanghai walk", d / "shanghai_le_degn" / "shanghai_jingan_huangpu_drive.osm", "walk", None),
        (
            "changsha walk",
            d / "changsha_osm_planner" / "changsha_yuelu_taozihu_map.osm",
            "walk",
            (112.94196, 28.18252, 112.94899, 28.18780),
        ),
        ("xian ebike", d / "xian_gotrackit" / "xian_gotrackit_drive.graphml", "ebike", None),
    ]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cdir = Path(tmp)
        for name, src, mode, clip in cases:
            t_build, built = timed(partial(load_network, src, mode=mode, clip=clip, cache=False), repeat=2)
            load_network(src, mode=mode, clip=clip, cache_dir=cdir)  # writes the cache
            npz = cache_path(src, mode=mode, clip=clip, cache_dir=cdir)
            t_load, cached = timed(partial(load_network, src, mode=mode, clip=clip, cache_dir=cdir), repeat=5)
            assert np.array_equal(built.indices, cached.indices) and np.array_equal(
                built.length_m, cached.length_m
            )
            rows.append(
                [
                    name,
                    f"{built.n_nodes:,}",
                    f"{built.n_arcs:,}",
                    f"{src.stat().st_size / 1e6:.2f} MB",
                    f"{npz.stat().st_size / 1e6:.2f} MB",
                    t_build,
                    t_load,
                    t_build / t_load,
                ]
            )
    print(
        "network build (pyosmium/osmnx read + rules + CSR) vs cache load (sha256 of the source + npz read); "
        "seconds"
    )
    print_table(["network", "nodes", "arcs", "source", "npz", "build s", "load s", "build/load"], rows)
    print("(load time includes hashing the source file to find the cache key)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--tiles", type=int, default=18)
    a = ap.parse_args()
    main()
    search_structures(a.tiles)
