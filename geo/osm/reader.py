"""Stream the highway ways of an OSM file into compact numpy arrays with pyosmium.

One pass over the file, whatever its size. libosmium (C++) stores every node's location in its
``flex_mem`` node location index (16 bytes per node, sparse; dense when that is smaller) and
hands Python only the ways with a ``highway`` key, their node locations attached. The walk and
e-bike rules of :mod:`geo.osm.rules` are evaluated once per distinct tag combination; ways no
mode may use are dropped; the others' node references and fixed-point locations go into flat
``int64``/``int32`` arrays (16 bytes per reference). Nothing in Python holds every node.

(A second, filtered node pass through libosmium's ``IdTracker``/``IdFilter`` was tried and
dropped: their dense id sets cost 0.7 ms per way and up to 1.5 GB at real OSM id ranges.)

Coordinates are returned in WGS-84 degrees exactly as OSM stores them (1e-7° grid), converted
as ``x / 1e7`` so they equal the decimal text of an OSM XML file.
"""

from __future__ import annotations

import hashlib
import logging
from array import array
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from geo.errors import InputError, NotFoundError, first_line
from geo.osm.rules import arc_allowed, one_way, tag_values

log = logging.getLogger(__name__)

#: per-segment flag bits of :class:`Streets`
WALK, EBIKE, ONEWAY, REVERSED, CONTRAFLOW = 1, 2, 4, 8, 16
MODE_FLAG = {"walk": WALK, "ebike": EBIKE}
#: the tags the rules read (a way's flags depend on these alone)
RULE_TAGS = (
    "highway",
    "motorroad",
    "access",
    "foot",
    "bicycle",
    "oneway",
    "junction",
    "oneway:bicycle",
)
#: file name endings pyosmium reads, with the format name it is given
OSM_FORMATS = {
    ".osm.pbf": "pbf",
    ".pbf": "pbf",
    ".osm": "osm",
    ".xml": "osm",
    ".osm.bz2": "osm.bz2",
    ".xml.bz2": "osm.bz2",
    ".osm.gz": "osm.gz",
    ".xml.gz": "osm.gz",
}
COORDINATE_PRECISION = 10_000_000.0
#: libosmium's fixed-point value of a location it does not know
UNDEFINED_COORDINATE = 2_147_483_647
#: libosmium's node location index: starts sparse (16 bytes per node), turns dense when denser
LOCATION_INDEX = "flex_mem"


@dataclass(frozen=True, eq=False)
class Streets:
    """The usable highway segments of an OSM file.

    Attributes
    ----------
    node_id : ndarray of int64
        Sorted OSM ids of the nodes the segments use.
    lon, lat : ndarray of float64
        Their WGS-84 (EPSG:4326) coordinates, on the OSM 1e-7° grid.
    tail, head : ndarray of int64
        Segment ends as positions into ``node_id``, one per pair of consecutive distinct nodes of
        a kept way, in the way's node order.
    flags : ndarray of uint8
        Per segment: ``WALK``/``EBIKE`` (mode may use it), ``ONEWAY`` and ``REVERSED`` (osmnx's
        reading of the one-way tags), ``CONTRAFLOW`` (``oneway:bicycle=no``).
    bounds : (minx, miny, maxx, maxy)
        The file header's bounding box, else the extent of the nodes (degrees).
    source, source_sha256 : str
        File path and content hash.
    """

    node_id: NDArray[np.int64]
    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    tail: NDArray[np.int64]
    head: NDArray[np.int64]
    flags: NDArray[np.uint8]
    bounds: tuple[float, float, float, float]
    source: str
    source_sha256: str

    @property
    def n_segments(self) -> int:
        return int(self.tail.size)


@dataclass(frozen=True, eq=False)
class _Scan:
    refs: NDArray[np.int64]
    x: NDArray[np.int32]
    y: NDArray[np.int32]
    way_ends: NDArray[np.int64]
    way_flags: NDArray[np.uint8]
    header_box: tuple[float, ...] | None


def osm_format(path: Path) -> str | None:
    """pyosmium's format name for an OSM file name (``None`` when it is not one)."""
    name = path.name.lower()
    for suffix in sorted(OSM_FORMATS, key=len, reverse=True):
        if name.endswith(suffix):
            return OSM_FORMATS[suffix]
    return None


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes (read in 1 MiB blocks)."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def way_flags(tags: Mapping[str, str | None]) -> int:
    """Flag bits of a way from its tags (0 when no mode may use it)."""
    flags = (WALK if arc_allowed(tags, "walk") else 0) | (EBIKE if arc_allowed(tags, "ebike") else 0)
    if not flags:
        return 0
    direction = one_way(tags)
    if direction:
        flags |= ONEWAY | (REVERSED if direction < 0 else 0)
    if "no" in tag_values(tags.get("oneway:bicycle")):
        flags |= CONTRAFLOW
    return flags


def read_streets(
    source: str | Path,
    *,
    source_sha256: str | None = None,
    progress: bool = False,
) -> Streets:
    """Read the usable highway segments of an OSM file (one streaming pass).

    Parameters
    ----------
    source : str or Path
        ``.osm.pbf``, ``.osm`` (XML), ``.osm.bz2`` or ``.osm.gz``; coordinates WGS-84.
    source_sha256 : str, optional
        The file's sha256 when the caller already has it.
    progress : bool
        Show a progress bar per pass (stderr).

    Returns
    -------
    Streets

    Raises
    ------
    NotFoundError
        If the file does not exist.
    InputError
        If it is not a readable OSM file (truncated, corrupt, unknown format) or has no usable
        highway way.
    """
    path = Path(source)
    if not path.exists():
        raise NotFoundError(f"OSM file {str(path)!r} does not exist", field="osm")
    fmt = osm_format(path)
    if fmt is None:
        raise InputError(
            f"{path.name} is not an OSM file: use .osm.pbf, .osm, .osm.bz2 or .osm.gz", field="osm"
        )
    digest = source_sha256 or file_sha256(path)
    try:
        scan = _scan(path, fmt, progress)
    except RuntimeError as exc:  # libosmium: truncated or corrupt data, format errors
        raise InputError(f"{path.name} is not a readable OSM file: {first_line(exc)}", field="osm") from None
    if scan.way_flags.size == 0:
        raise InputError(f"{path.name} has no highway a pedestrian or e-bike may use", field="osm")
    return _segments(path, digest, scan)


def _progress_bar(desc: str, enabled: bool) -> Callable[[int], object]:
    from tqdm import tqdm

    bar = tqdm(desc=desc, unit=" ways", unit_scale=True, disable=not enabled, leave=False)
    return bar.update


def _scan(path: Path, fmt: str, progress: bool) -> _Scan:
    """The one pass: node references, their locations and the flags of the usable highway ways."""
    import osmium

    refs, xs, ys = array("q"), array("i"), array("i")
    ends, flags = array("q"), array("B")
    memo: dict[tuple[str | None, ...], int] = {}
    tick = _progress_bar(f"{path.name}: highway ways", progress)
    processor = (
        osmium.FileProcessor(osmium.io.File(str(path), fmt), osmium.osm.NODE | osmium.osm.WAY)
        .with_locations(LOCATION_INDEX)
        .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
        .with_filter(osmium.filter.KeyFilter("highway"))
    )
    header_box = _header_box(processor.header)
    seen = 0
    for way in processor:
        assert isinstance(way, osmium.osm.Way)  # the entity filter lets only ways through
        get = way.tags.get
        key = (get("highway"), get("motorroad"), get("access"), get("foot"), get("bicycle"), get("oneway"),
               get("junction"), get("oneway:bicycle"))  # fmt: skip  # RULE_TAGS, unrolled
        f = memo.get(key)
        if f is None:
            f = memo[key] = way_flags(dict(zip(RULE_TAGS, key, strict=True)))
        seen += 1
        if seen % 10_000 == 0:
            tick(10_000)
        if f:
            for n in way.nodes:
                loc = n.location
                refs.append(n.ref)
                xs.append(loc.x)
                ys.append(loc.y)
            ends.append(len(refs))
            flags.append(f)
    log.info("%s: %d highway ways, %d usable, %d node references", path.name, seen, len(flags), len(refs))
    return _Scan(
        refs=np.frombuffer(refs, dtype=np.int64),
        x=np.frombuffer(xs, dtype=np.int32),
        y=np.frombuffer(ys, dtype=np.int32),
        way_ends=np.frombuffer(ends, dtype=np.int64),
        way_flags=np.frombuffer(flags, dtype=np.uint8),
        header_box=header_box,
    )


def _header_box(header: object) -> tuple[float, ...] | None:
    box = header.box()  # type: ignore[attr-defined]
    if not box.valid():
        return None
    return (box.bottom_left.lon, box.bottom_left.lat, box.top_right.lon, box.top_right.lat)


def _segments(path: Path, digest: str, scan: _Scan) -> Streets:
    """Consecutive distinct node pairs of each way, over the nodes that have a location."""
    refs = scan.refs
    located = scan.x != UNDEFINED_COORDINATE
    pair = refs[1:] != refs[:-1]
    joins = scan.way_ends[:-1]
    pair[joins[(joins > 0) & (joins < refs.size)] - 1] = False  # last node of a way, first of the next
    missing = pair & ~(located[1:] & located[:-1])
    if missing.any():
        log.warning(
            "%s: %d highway segments reference nodes missing from the file; dropped",
            path.name,
            int(missing.sum()),
        )
    pair &= ~missing
    no_location = np.iinfo(np.int64).min  # sorts first; OSM ids may be negative (editor files)
    ids, first, inverse = np.unique(
        np.where(located, refs, no_location), return_index=True, return_inverse=True
    )
    placeholder = bool(ids.size) and ids[0] == no_location
    lon = scan.x[first].astype(np.float64) / COORDINATE_PRECISION
    lat = scan.y[first].astype(np.float64) / COORDINATE_PRECISION
    at = np.flatnonzero(pair)
    t, h = inverse[at], inverse[at + 1]
    seg_flags = scan.way_flags[np.searchsorted(scan.way_ends, at, side="right")]
    if placeholder:  # position 0 is the "no location" placeholder: drop it
        ids, lon, lat, t, h = ids[1:], lon[1:], lat[1:], t - 1, h - 1
    if t.size == 0:
        raise InputError(f"{path.name} has no highway with node locations", field="osm")
    bounds = scan.header_box or (float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max()))
    return Streets(
        node_id=ids.astype(np.int64),
        lon=lon,
        lat=lat,
        tail=t.astype(np.int64),
        head=h.astype(np.int64),
        flags=seg_flags,
        bounds=(float(bounds[0]), float(bounds[1]), float(bounds[2]), float(bounds[3])),
        source=str(path),
        source_sha256=digest,
    )
