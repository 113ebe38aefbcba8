"""Benchmark: building a network from its street file vs loading the compact npz cache.

For each real network: build time (``load_network(cache=False)``: osmnx parse + mode rules + CSR),
load time of the cached ``.npz`` (``load_network`` cache hit), the ratio, and the file sizes.
Caches go to a temporary directory, so the numbers never depend on an earlier run.

Run: ``.venv/bin/python bench/network_cache.py``
"""

from __future__ import annotations

import sys
import tempfile
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import SHENZHEN_CORE, print_table, shenzhen_osm, timed

from geo.config import data_dir
from geo.network import cache_path, load_network


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
        "network build (osmnx parse + rules + CSR) vs cache load (sha256 of the source + npz read); seconds"
    )
    print_table(["network", "nodes", "arcs", "source", "npz", "build s", "load s", "build/load"], rows)
    print("(load time includes hashing the source file to find the cache key)")


if __name__ == "__main__":
    main()
