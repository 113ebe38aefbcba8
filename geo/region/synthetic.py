"""A synthetic multi-county region tiled from a real network, for tests and benchmarks.

:func:`tile_region` lays ``rows × cols`` copies of a real network side by side (coordinates shifted
by the network's extent), stitches neighbouring copies with two-way arcs between border nodes of
their largest pieces (length = great-circle distance), and gives every copy a rectangular
"county" with a 6-digit code (province, prefecture, county digits). :func:`write_region_networks`
cuts the merged network into per-county networks with the halo rule of
:func:`geo.region.clip.clip_to_area` and writes them as ``yizhan network build-areas`` does
(``DIR/<code>/<mode>.npz`` + ``DIR/manifest.json``). Nothing is downloaded; nothing is kept in the
repository.
"""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from numpy.typing import NDArray

from geo import _graph
from geo.network import Network, assemble_network, save_network
from geo.region.clip import clip_to_area
from geo.region.manifest import write_manifest

log = logging.getLogger(__name__)

__all__ = ["area_code_for", "station_points", "synthetic_inputs", "tile_region", "write_region_networks"]


def area_code_for(tile: int) -> str:
    """A 6-digit adcode for tile ``tile``: 16 tiles per province, 4 per prefecture (e.g. 110101)."""
    province = 11 + tile // 16
    prefecture = 1 + (tile % 16) // 4
    county = 1 + tile % 4
    return f"{province:02d}{prefecture:02d}{county:02d}"


def _stitch_arcs(
    base: Network, rows: int, cols: int, stitches: int, seed: int
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    rng = np.random.default_rng(seed)
    n = base.n_nodes
    main = np.flatnonzero(base.component == 0)
    pick = min(50, main.size)
    east = main[np.argsort(base.lon[main])[-pick:]]
    west = main[np.argsort(base.lon[main])[:pick]]
    north = main[np.argsort(base.lat[main])[-pick:]]
    south = main[np.argsort(base.lat[main])[:pick]]
    k = min(stitches, pick)
    tails: list[int] = []
    heads: list[int] = []
    for t in range(rows * cols):
        r, c = divmod(t, cols)
        for dr, dc, a_side, b_side in ((0, 1, east, west), (1, 0, north, south)):
            if r + dr >= rows or c + dc >= cols:
                continue
            u = t * n + rng.choice(a_side, k, replace=False)
            v = ((r + dr) * cols + c + dc) * n + rng.choice(b_side, k, replace=False)
            tails += [*u.tolist(), *v.tolist()]
            heads += [*v.tolist(), *u.tolist()]
    return np.asarray(tails, dtype=np.int64), np.asarray(heads, dtype=np.int64)


def tile_region(
    base: Network,
    rows: int,
    cols: int,
    *,
    tiles_per_area: tuple[int, int] = (1, 1),
    stitches: int = 4,
    seed: int = 0,
) -> tuple[Network, gpd.GeoDataFrame]:
    """A merged network of ``rows × cols`` shifted copies of ``base`` and one county per block of
    ``tiles_per_area`` = (tile rows, tile columns) copies.

    Returns
    -------
    (network, areas)
        The merged network (node ids ``0..n-1``, WGS-84) and a GeoDataFrame (EPSG:4326) with
        ``area_code`` (6-digit string), ``area_name`` and the county rectangle; every node of a copy
        lies inside its county's rectangle and in no other.
    """
    ar, ac = tiles_per_area
    if rows < 1 or cols < 1 or ar < 1 or ac < 1 or rows % ar or cols % ac:
        raise ValueError("rows and cols must be ≥ 1 and multiples of tiles_per_area")
    n = base.n_nodes
    gap = 1e-4
    w = float(base.lon.max() - base.lon.min()) + gap
    h = float(base.lat.max() - base.lat.min()) + gap
    k = rows * cols
    lon = np.concatenate([base.lon + (t % cols) * w for t in range(k)])
    lat = np.concatenate([base.lat + (t // cols) * h for t in range(k)])
    st, sh = _stitch_arcs(base, rows, cols, stitches, seed)
    tails = np.concatenate([*(base.tails.astype(np.int64) + t * n for t in range(k)), st])
    heads = np.concatenate([*(base.indices.astype(np.int64) + t * n for t in range(k)), sh])
    lengths = np.concatenate(
        [*(base.length_m for _ in range(k)), _graph.haversine_m(lon[st], lat[st], lon[sh], lat[sh])]
    )
    merged = assemble_network(
        base.mode, base.speed_kph, np.arange(n * k, dtype=np.int64), lon, lat, tails, heads, lengths,
        source=f"tiled {rows}x{cols} of {Path(base.source).name}", source_hash=base.source_hash,
        options={"tiled": [rows, cols], "stitches": stitches, "seed": seed},
    )  # fmt: skip
    x0 = float(base.lon.min()) - gap / 2
    y0 = float(base.lat.min()) - gap / 2
    area_rows, area_cols = rows // ar, cols // ac
    boxes = [
        shapely.box(x0 + c * ac * w, y0 + r * ar * h, x0 + (c + 1) * ac * w, y0 + (r + 1) * ar * h)
        for r in range(area_rows)
        for c in range(area_cols)
    ]
    codes = [area_code_for(a) for a in range(len(boxes))]
    areas = gpd.GeoDataFrame(
        {"area_code": codes, "area_name": [f"县{c}" for c in codes]},
        geometry=boxes,
        crs="EPSG:4326",
    )
    return merged, areas


def station_points(
    network: Network, count: int, *, seed: int = 1, nodes: NDArray[np.int64] | None = None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``count`` station-like points: nodes of the largest piece (or of ``nodes``) moved 5–40 m off
    the street, WGS-84."""
    rng = np.random.default_rng(seed)
    pool = np.flatnonzero(network.component == 0) if nodes is None else np.asarray(nodes)
    chosen = rng.choice(pool, size=count, replace=False)
    ang = rng.uniform(0, 2 * np.pi, count)
    dist = rng.uniform(5, 40, count)
    dlat = dist * np.sin(ang) / 111_195.0
    dlon = dist * np.cos(ang) / (111_195.0 * np.cos(np.radians(network.lat[chosen])))
    return network.lon[chosen] + dlon, network.lat[chosen] + dlat


def write_region_networks(
    network: Network, areas: gpd.GeoDataFrame, directory: str | Path, *, halo_meters: float
) -> Path:
    """Cut ``network`` into one network per area (halo rule of :func:`clip_to_area`) and write
    ``DIR/<code>/<mode>.npz`` and ``DIR/manifest.json`` in the format of ``yizhan network build-areas``.

    ``areas`` needs ``area_code``, ``area_name`` and polygons (EPSG:4326). Returns ``DIR``.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    entries = []
    for code, name, poly in zip(
        areas["area_code"].astype(str), areas["area_name"].astype(str), areas.geometry.values, strict=True
    ):
        net = clip_to_area(network, poly, halo_meters=halo_meters, code=code)
        rel = f"{code}/{network.mode}.npz"
        save_network(net, directory / rel)
        entries.append(
            {
                "code": code,
                "name": name,
                "mode": network.mode,
                "nodes": net.n_nodes,
                "arcs": net.n_arcs,
                "halo_m": float(halo_meters),
                "bbox": [
                    float(net.lon.min()),
                    float(net.lat.min()),
                    float(net.lon.max()),
                    float(net.lat.max()),
                ],
                "file": rel,
                "source": network.source,
                "source_sha256": network.source_hash,
            }
        )
        log.info("area %s: %d nodes, %d arcs", code, net.n_nodes, net.n_arcs)
    write_manifest(directory, entries)
    return directory


def synthetic_inputs(
    network: Network,
    areas: gpd.GeoDataFrame,
    *,
    station_areas: list[int],
    stations_per_area: int,
    points: int,
    outside_points: int = 0,
    seed: int = 0,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Stations in the areas (row positions) ``station_areas`` only (so many points' nearest station
    lies in another county) and ``points`` demand points scattered ~20 m around random nodes, plus
    ``outside_points``
    points beyond every area. Returns ``(stations, demand)``, canonical-enough frames (EPSG:4326):
    stations ``station_id``, ``status`` ("open"); demand ``id``, ``weight``.
    """
    rng = np.random.default_rng(seed)
    main = network.component == 0
    sx_parts, sy_parts = [], []
    for i, a in enumerate(station_areas):
        inside = shapely.contains_xy(areas.geometry.iloc[a], network.lon, network.lat)
        nodes = np.flatnonzero(inside & main)
        x, y = station_points(network, stations_per_area, seed=seed + 100 + i, nodes=nodes)
        sx_parts.append(x)
        sy_parts.append(y)
    sx, sy = np.concatenate(sx_parts), np.concatenate(sy_parts)
    stations = gpd.GeoDataFrame(
        {"station_id": [f"S{i:05d}" for i in range(sx.size)], "status": "open"},
        geometry=gpd.points_from_xy(sx, sy),
        crs="EPSG:4326",
    )
    k = rng.choice(network.n_nodes, size=points, replace=points > network.n_nodes)
    x0, y0, x1, y1 = areas.total_bounds
    # kept inside the grid of counties (the union of the rectangles); the outside points come next
    dx = np.clip(network.lon[k] + rng.normal(0.0, 2e-4, k.size), x0 + 1e-6, x1 - 1e-6)
    dy = np.clip(network.lat[k] + rng.normal(0.0, 2e-4, k.size), y0 + 1e-6, y1 - 1e-6)
    ox = np.full(outside_points, x1 + 0.05) + rng.uniform(0, 0.01, outside_points)
    oy = np.full(outside_points, (y0 + y1) / 2) + rng.uniform(0, 0.01, outside_points)
    n = points + outside_points
    demand = gpd.GeoDataFrame(
        {"id": [f"P{i:06d}" for i in range(n)], "weight": rng.uniform(0.5, 3.0, n).round(2)},
        geometry=gpd.points_from_xy(np.concatenate([dx, ox]), np.concatenate([dy, oy])),
        crs="EPSG:4326",
    )
    return stations, demand
