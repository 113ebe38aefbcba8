"""Shared helpers for the benchmark scripts: timing, tables, real and tiled networks, station picks.

Benchmarks read the real extracts through ``geo.config.data_dir()`` and never download anything.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from geo import _graph
from geo.config import data_dir
from geo.network import Network, load_network

SHENZHEN_CORE = (113.92, 22.535, 113.97, 22.56)


def db_server() -> str:
    """The PostgreSQL server for throw-away benchmark databases (as the tests: YIZHAN_TEST_DATABASE_URL)."""
    return os.environ.get("YIZHAN_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def shenzhen_osm() -> Path:
    return data_dir() / "shenzhen_roadnetworkcreator" / "shenzhen_nanshan_osm.osm"


def real_networks(cache_dir: Path | None = None) -> dict[str, Network]:
    """The real networks the benchmarks use (built once into the cache)."""
    d = data_dir()
    return {
        "shenzhen walk": load_network(shenzhen_osm(), mode="walk", clip=SHENZHEN_CORE, cache_dir=cache_dir),
        "shenzhen ebike": load_network(shenzhen_osm(), mode="ebike", clip=SHENZHEN_CORE, cache_dir=cache_dir),
        "shanghai walk": load_network(
            d / "shanghai_le_degn" / "shanghai_jingan_huangpu_drive.osm", mode="walk", cache_dir=cache_dir
        ),
        "xian ebike": load_network(d / "xian_gotrackit" / "xian_gotrackit_drive.graphml", mode="ebike",
                                   cache_dir=cache_dir),
    }  # fmt: skip


def timed(fn: Callable[[], Any], *, repeat: int = 1) -> tuple[float, Any]:
    """Best wall time in seconds over ``repeat`` runs, and the last result."""
    best = np.inf
    out = None
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return float(best), out


def timed_interleaved(
    fns: Sequence[Callable[[], Any]], *, repeat: int = 3, warm: bool = True
) -> tuple[list[float], list[Any]]:
    """Best wall time of each function, running them in turn ``repeat`` times (so that load from other
    processes on a shared machine hits all of them alike), and each one's last result.

    With ``warm`` (the default) each timed run follows an untimed run of the same function, so every
    method is timed with its own data in the CPU caches, as networkx is when timed on its own.
    Without it a millisecond pass is timed right after ``gc.collect()`` has walked every object of the
    process (the networkx graph's millions of them included) and measures cache misses, not the
    search."""
    best = [np.inf] * len(fns)
    outs: list[Any] = [None] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            gc.collect()
            if warm:
                fn()
            t0 = time.perf_counter()
            outs[i] = fn()
            best[i] = min(best[i], time.perf_counter() - t0)
    return [float(b) for b in best], outs


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Plain fixed-width table on stdout."""
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for k, r in enumerate(cells):
        print("  ".join(c.rjust(w) if k else c.ljust(w) for c, w in zip(r, widths, strict=True)))
        if k == 0:
            print("  ".join("-" * w for w in widths))


def _fmt(c: Any) -> str:
    if isinstance(c, float):
        if not np.isfinite(c):
            return "-"
        if abs(c) >= 100:
            return f"{c:,.0f}"
        if abs(c) >= 1:
            return f"{c:.2f}"
        return f"{c:.4f}"
    return str(c)


def tile_network(base: Network, rows: int, cols: int, *, stitches: int = 4, seed: int = 0) -> Network:
    """A large synthetic-but-real-shaped network: ``rows × cols`` copies of ``base`` laid side by side
    (each copy shifted by the base bounding box), neighbouring copies stitched by ``stitches`` two-way
    arcs between border nodes of their largest pieces (length = great-circle distance)."""
    rng = np.random.default_rng(seed)
    n = base.n_nodes
    w = float(base.lon.max() - base.lon.min()) + 1e-4
    h = float(base.lat.max() - base.lat.min()) + 1e-4
    k = rows * cols
    lon = np.concatenate([base.lon + (t % cols) * w for t in range(k)])
    lat = np.concatenate([base.lat + (t // cols) * h for t in range(k)])
    tails = [base.tails.astype(np.int64) + t * n for t in range(k)]
    heads = [base.indices.astype(np.int64) + t * n for t in range(k)]
    lengths = [base.length_m for _ in range(k)]
    main = np.flatnonzero(base.component == 0)
    east = main[np.argsort(base.lon[main])[-50:]]
    west = main[np.argsort(base.lon[main])[:50]]
    north = main[np.argsort(base.lat[main])[-50:]]
    south = main[np.argsort(base.lat[main])[:50]]
    extra_t: list[int] = []
    extra_h: list[int] = []
    for t in range(k):
        r, c = divmod(t, cols)
        for dr, dc, a_side, b_side in ((0, 1, east, west), (1, 0, north, south)):
            if r + dr >= rows or c + dc >= cols:
                continue
            u = t * n + rng.choice(a_side, stitches, replace=False)
            v = ((r + dr) * cols + c + dc) * n + rng.choice(b_side, stitches, replace=False)
            extra_t += [*u.tolist(), *v.tolist()]
            extra_h += [*v.tolist(), *u.tolist()]
    et = np.asarray(extra_t, dtype=np.int64)
    eh = np.asarray(extra_h, dtype=np.int64)
    tails.append(et)
    heads.append(eh)
    lengths.append(_graph.haversine_m(lon[et], lat[et], lon[eh], lat[eh]))
    indptr, indices, length_m = _graph.build_csr(
        n * k, np.concatenate(tails), np.concatenate(heads), np.concatenate(lengths)
    )
    comp, sizes = _graph.weak_components(indptr, indices, length_m)
    return Network(
        mode=base.mode, speed_kph=base.speed_kph, node_id=np.arange(n * k, dtype=np.int64), lon=lon, lat=lat,
        indptr=indptr, indices=indices, length_m=length_m, component=comp, component_sizes=sizes,
        source=f"tiled {rows}x{cols} of {Path(base.source).name}", source_hash=base.source_hash,
        options={"tiled": [rows, cols], "stitches": stitches},
    )  # fmt: skip


def pick_stations(
    net: Network, count: int, *, seed: int = 1
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``count`` station-like points: nodes of the largest piece moved 5–40 m off the street."""
    rng = np.random.default_rng(seed)
    nodes = rng.choice(np.flatnonzero(net.component == 0), size=count, replace=False)
    ang = rng.uniform(0, 2 * np.pi, count)
    dist = rng.uniform(5, 40, count)
    dlat = dist * np.sin(ang) / 111_195.0
    dlon = dist * np.cos(ang) / (111_195.0 * np.cos(np.radians(net.lat[nodes])))
    return net.lon[nodes] + dlon, net.lat[nodes] + dlat
