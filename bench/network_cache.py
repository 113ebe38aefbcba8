"""Benchmark: building a network from its street file vs loading the compact npz cache.

For each real network: build time (``load_network(cache=False)``: pyosmium read (osmnx for
GraphML) + mode rules + CSR), load time of the cached ``.npz`` (``load_network`` cache hit), the
ratio, and the file sizes. Caches go to a temporary directory, so the numbers never depend on an
earlier run.

Second table (``--tiles N``, default 12): the stored search structures on a synthetic e-bike
network of N×N Shenzhen tiles: building the contracted junction graph and reverse CSR in a fresh
process vs loading them from a ``save_network(derived=True)`` file in a fresh process (imports
excluded; the read includes the checksum).

Run: ``.venv/bin/python bench/network_cache.py [--tiles 12]``
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import SHENZHEN_CORE, print_table, shenzhen_osm, timed

from geo.config import data_dir
from geo.network import cache_path, load_network, save_network
from geo.osm.build import network_from_osm
from geo.osm.synthetic import tile_province

FRESH = """
import sys, time
from geo import _contract
from geo.network import read_network_npz
t0 = time.perf_counter()
net = read_network_npz(sys.argv[1])
t1 = time.perf_counter()
net.reverse_arrays
_contract.contracted_search(net)
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


def search_structures(tiles: int) -> None:
    """Fresh-process cost of the coverage search structures: built vs loaded from the file."""
    with tempfile.TemporaryDirectory() as tmp:
        prov = tile_province(shenzhen_osm(), Path(tmp), cols=tiles, rows=tiles)
        net = network_from_osm(prov.pbf, mode="ebike")
        plain = save_network(net, Path(tmp) / "plain.npz")
        stored = save_network(net, Path(tmp) / "stored.npz", derived=True)
        rows = []
        for name, path in (("built in the process", plain), ("loaded from the file", stored)):
            out = subprocess.run([sys.executable, "-c", FRESH, str(path)], capture_output=True, text=True,
                                 check=True, env={"PYTHONPATH": str(Path(__file__).resolve().parent.parent)})
            read_s, search_s = (float(x) for x in out.stdout.split())
            rows.append([name, f"{net.n_arcs:,}", f"{path.stat().st_size / 1e6:.1f} MB", read_s, search_s,
                         read_s + search_s])  # fmt: skip
    print(f"\nsearch structures (reverse CSR + contracted junction graph), {tiles}×{tiles} Shenzhen tiles, "
          "ebike, fresh process each; seconds")  # fmt: skip
    print_table(["search structures", "arcs", "npz", "read s", "search s", "total s"], rows)


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
    ap.add_argument("--tiles", type=int, default=12)
    a = ap.parse_args()
    main()
    search_structures(a.tiles)
