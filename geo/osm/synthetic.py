"""A synthetic multi-county "province" tiled from a small OSM extract (tests and benchmarks).

The extract is repeated on a ``cols × rows`` grid: tile ``k`` gets node and way ids offset by
``k × id_stride`` and coordinates shifted by whole tile widths on the OSM 1e-7° grid. Each pair
of neighbouring tiles is joined by a short ``highway=residential`` way from the east-most (north-
most) usable street node of one tile to the west-most (south-most) one of the next, so the
province is one street network. Each tile is one county: its rectangle in WGS-84 with an integer
``adcode`` (``990000 + k + 1``) and a ``name``, written as GeoJSON. Nothing is downloaded; the
PBF is written with pyosmium at test or benchmark time.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from geo.errors import InputError
from geo.osm.reader import COORDINATE_PRECISION, EBIKE, WALK, osm_format, way_flags

log = logging.getLogger(__name__)

#: first id of the connecting ways (above every tiled id)
LINK_WAY_BASE = 9_000_000_000_000


@dataclass(frozen=True)
class SyntheticProvince:
    """Files and facts of a tiled province."""

    pbf: Path
    areas: Path
    codes: tuple[str, ...]
    id_stride: int
    tile_degrees: tuple[float, float]
    nodes: int
    ways: int


@dataclass(frozen=True, eq=False)
class _Extract:
    node_ids: list[int]
    node_xy: list[tuple[int, int]]
    node_tags: list[dict[str, str]]
    way_ids: list[int]
    way_refs: list[list[int]]
    way_tags: list[dict[str, str]]


def _read_extract(source: Path) -> _Extract:
    import osmium

    fmt = osm_format(source)
    if fmt is None:
        raise InputError(f"{source.name} is not an OSM file", field="source")
    ex = _Extract([], [], [], [], [], [])
    for obj in osmium.FileProcessor(osmium.io.File(str(source), fmt), osmium.osm.NODE | osmium.osm.WAY):
        if isinstance(obj, osmium.osm.Node) and obj.location.valid():
            ex.node_ids.append(obj.id)
            ex.node_xy.append((obj.location.x, obj.location.y))
            ex.node_tags.append(dict(obj.tags))
        elif isinstance(obj, osmium.osm.Way):
            ex.way_ids.append(obj.id)
            ex.way_refs.append([n.ref for n in obj.nodes])
            ex.way_tags.append(dict(obj.tags))
    return ex


def _street_nodes(ex: _Extract) -> np.ndarray:
    """Positions (into ``node_ids``) of the nodes of ways both modes may use."""
    index = {nid: i for i, nid in enumerate(ex.node_ids)}
    keep = {
        index[r]
        for refs, tags in zip(ex.way_refs, ex.way_tags, strict=True)
        if way_flags(tags) & (WALK | EBIKE) == (WALK | EBIKE)
        for r in refs
        if r in index
    }
    return np.asarray(sorted(keep), dtype=np.int64)


def tile_province(
    source: str | Path,
    out_dir: str | Path,
    *,
    cols: int = 2,
    rows: int = 2,
    county_tiles: tuple[int, int] = (1, 1),
    name: str = "province",
) -> SyntheticProvince:
    """Tile an OSM extract into a ``cols × rows`` province written as ``<name>.osm.pbf`` and
    ``<name>-counties.geojson`` (WGS-84, fields ``adcode`` (int) and ``name``) in ``out_dir``.

    Parameters
    ----------
    source : str or Path
        A small OSM extract (any format pyosmium reads).
    out_dir : str or Path
        Where the two files are written (replaced if present).
    cols, rows : int
        Grid size in tiles.
    county_tiles : (int, int)
        Tiles per county (columns, rows); counties at the grid's edge may be smaller.
    """
    import osmium

    if cols < 1 or rows < 1 or min(county_tiles) < 1:
        raise InputError(f"cols, rows and county_tiles must be ≥ 1, got {cols}×{rows}", field="cols")
    ex = _read_extract(Path(source))
    xy = np.asarray(ex.node_xy, dtype=np.int64)
    streets = _street_nodes(ex)
    if streets.size == 0:
        raise InputError(f"{Path(source).name} has no street to tile", field="source")
    sx, sy = xy[streets, 0], xy[streets, 1]
    x0, y0 = int(sx.min()) - 1000, int(sy.min()) - 1000  # 1000 × 1e-7° ≈ 11 m margin
    width, height = int(sx.max()) + 1000 - x0, int(sy.max()) + 1000 - y0
    stride = 10 ** len(str(max(max(ex.node_ids), max(ex.way_ids, default=0))))
    ends = tuple(streets[i] for i in (np.argmax(sx), np.argmin(sx), np.argmax(sy), np.argmin(sy)))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tiles = [(c, r) for r in range(rows) for c in range(cols)]
    links = _links(tiles, ends, ex.node_ids, stride)
    opl = out / f".{name}.opl"
    with opl.open("w", encoding="utf-8") as fh:
        _write_opl(fh, ex, tiles, (width, height), stride, links)
    pbf = out / f"{name}.osm.pbf"
    pbf.unlink(missing_ok=True)
    writer = osmium.WriteHandler(str(pbf))
    try:
        osmium.apply(osmium.io.Reader(str(opl)), writer)  # OPL → PBF inside libosmium
    finally:
        writer.close()
        opl.unlink()
    areas = out / f"{name}-counties.geojson"
    codes = _write_counties(areas, (cols, rows), county_tiles, (x0, y0, width, height))
    log.info("synthetic province %s: %d tiles, %s bytes", pbf, len(tiles), pbf.stat().st_size)
    return SyntheticProvince(
        pbf=pbf,
        areas=areas,
        codes=codes,
        id_stride=stride,
        tile_degrees=(width / COORDINATE_PRECISION, height / COORDINATE_PRECISION),
        nodes=len(ex.node_ids) * len(tiles),
        ways=len(ex.way_ids) * len(tiles) + len(links),
    )


def _opl_text(text: str) -> str:
    """OPL escaping: space, comma, equals, at, percent and control characters as %hex%."""
    return "".join(f"%{ord(ch):x}%" if ch in " ,=@%" or ord(ch) < 0x21 else ch for ch in text)


def _opl_tags(tags: dict[str, str]) -> str:
    if not tags:
        return ""
    return " T" + ",".join(f"{_opl_text(k)}={_opl_text(v)}" for k, v in tags.items())


def _degrees(fixed: int) -> str:
    sign = "-" if fixed < 0 else ""
    whole, frac = divmod(abs(fixed), 10_000_000)
    return f"{sign}{whole}.{frac:07d}"


def _write_opl(
    fh: Any,
    ex: _Extract,
    tiles: list[tuple[int, int]],
    size: tuple[int, int],
    stride: int,
    links: list[tuple[int, int]],
) -> None:
    """All nodes (tile by tile), then all ways, then the links: the order PBF readers expect."""
    node_tags = [_opl_tags(t) for t in ex.node_tags]
    way_tags = [_opl_tags(t) for t in ex.way_tags]
    for k, (c, r) in enumerate(tiles):
        dx, dy, off = c * size[0], r * size[1], k * stride
        fh.writelines(
            f"n{nid + off} v1 x{_degrees(x + dx)} y{_degrees(y + dy)}{tags}\n"
            for nid, (x, y), tags in zip(ex.node_ids, ex.node_xy, node_tags, strict=True)
        )
    for k in range(len(tiles)):
        off = k * stride
        fh.writelines(
            f"w{wid + off} v1{tags} N" + ",".join(f"n{n + off}" for n in refs) + "\n"
            for wid, refs, tags in zip(ex.way_ids, ex.way_refs, way_tags, strict=True)
        )
    for i, (a, b) in enumerate(links):
        fh.write(f"w{LINK_WAY_BASE + i} v1 Thighway=residential,name=synthetic%20%link%20%{i} Nn{a},n{b}\n")


def _links(
    tiles: list[tuple[int, int]], ends: tuple[Any, ...], node_ids: list[int], stride: int
) -> list[tuple[int, int]]:
    """Node id pairs joining each tile to its east and north neighbours."""
    east, west, north, south = (node_ids[int(i)] for i in ends)
    index = {t: k for k, t in enumerate(tiles)}
    links = []
    for k, (c, r) in enumerate(tiles):
        if (c + 1, r) in index:
            links.append((east + k * stride, west + index[(c + 1, r)] * stride))
        if (c, r + 1) in index:
            links.append((north + k * stride, south + index[(c, r + 1)] * stride))
    return links


def _write_counties(
    path: Path, grid: tuple[int, int], county_tiles: tuple[int, int], frame: tuple[int, int, int, int]
) -> tuple[str, ...]:
    """One rectangle per block of ``county_tiles`` tiles, adcodes 990001… row by row."""
    x0, y0, width, height = frame
    (cols, rows), (cc, cr) = grid, county_tiles
    features: list[dict[str, Any]] = []
    codes: list[str] = []
    for r0 in range(0, rows, cr):
        for c0 in range(0, cols, cc):
            lon0, lat0 = (x0 + c0 * width) / COORDINATE_PRECISION, (y0 + r0 * height) / COORDINATE_PRECISION
            lon1 = (x0 + min(c0 + cc, cols) * width) / COORDINATE_PRECISION
            lat1 = (y0 + min(r0 + cr, rows) * height) / COORDINATE_PRECISION
            code = 990000 + len(codes) + 1
            codes.append(str(code))
            ring = [[lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1], [lon0, lat0]]
            features.append(
                {
                    "type": "Feature",
                    "properties": {"adcode": code, "name": f"合成县 {len(codes)}"},
                    "geometry": {"type": "Polygon", "coordinates": [ring]},
                }
            )
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False))
    tmp.replace(path)
    return tuple(codes)


def write_osm(source: str | Path, target: str | Path) -> Path:
    """Copy an OSM file into another format (by ``target``'s ending, e.g. XML → ``.osm.pbf``)."""
    import osmium

    src, dst = Path(source), Path(target)
    fmt_in, fmt_out = osm_format(src), osm_format(dst)
    if fmt_in is None or fmt_out is None:
        raise InputError(f"cannot convert {src.name} to {dst.name}: not OSM file names", field="source")
    dst.unlink(missing_ok=True)
    with osmium.SimpleWriter(osmium.io.File(str(dst), fmt_out)) as writer:
        for obj in osmium.FileProcessor(osmium.io.File(str(src), fmt_in)):
            writer.add(obj)
    return dst
