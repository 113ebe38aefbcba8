"""Administrative boundaries from an OSM file (PBF or XML) with libosmium's area assembly.

``boundary=administrative`` relations of one ``admin_level`` are assembled into (multi)polygons
by pyosmium (outer and inner rings from the member ways, two passes inside libosmium). A relation
whose rings do not close (member ways missing, as in extracts cut by a bounding box, or broken
data) is not guessed: it is listed in :attr:`Boundaries.unclosed` by id and name. The frame has
the canonical columns of :mod:`geo.areas` (``area_code``, ``area_name``, ``level``,
``parent_code``, MultiPolygon geometry in EPSG:4326) plus ``osm_relation_id``, ``code_source``
and ``complete``, like :func:`geo.areas.areas_from_osm` for XML.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import shapely

from geo.areas import AREA_COLUMNS, AREA_LEVELS, OSM_CODE_TAGS, as_multipolygon
from geo.errors import InputError, NotFoundError, first_line
from geo.osm.reader import osm_format

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Boundaries:
    """Assembled boundary polygons and the relations that did not close."""

    frame: gpd.GeoDataFrame
    unclosed: tuple[tuple[int, str], ...]


def boundaries_from_osm(path: str | Path, *, admin_level: int = 6, level: str = "county") -> Boundaries:
    """Assemble the ``admin_level`` boundary relations of an OSM file.

    Parameters
    ----------
    path : str or Path
        ``.osm.pbf``, ``.osm``, ``.osm.bz2`` or ``.osm.gz`` (WGS-84).
    admin_level : int
        OSM ``admin_level`` (China: 6 county/district, 8 township/街道, 10 community).
    level : {"county", "township", "community"}
        Level stored with the areas.

    Returns
    -------
    Boundaries
        ``frame`` sorted by ``area_code``; ``unclosed`` as ``(relation id, name)`` pairs.

    Raises
    ------
    NotFoundError, InputError
        Missing file, not an OSM file, unreadable (truncated/corrupt) data, unknown level.
    """
    path = Path(path)
    if level not in AREA_LEVELS:
        raise InputError(f"level must be one of {', '.join(AREA_LEVELS)}, got {level!r}", field="level")
    if not path.exists():
        raise NotFoundError(f"OSM file {str(path)!r} does not exist", field="osm")
    fmt = osm_format(path)
    if fmt is None:
        raise InputError(
            f"{path.name} is not an OSM file: use .osm.pbf, .osm, .osm.bz2 or .osm.gz", field="osm"
        )
    try:
        relations, polygons = _assemble(path, fmt, str(admin_level))
    except RuntimeError as exc:
        raise InputError(f"{path.name} is not a readable OSM file: {first_line(exc)}", field="osm") from None
    unclosed = tuple(
        sorted((rid, _name(tags, rid)) for rid, tags in relations.items() if rid not in polygons)
    )
    for rid, name in unclosed:
        log.warning("%s: boundary relation %d (%s) does not close; skipped", path.name, rid, name)
    rows = [_row(rid, relations[rid], geom, level) for rid, geom in polygons.items() if rid in relations]
    if rows:
        frame = gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")
        frame = frame.sort_values("area_code", kind="stable").reset_index(drop=True)
    else:
        frame = gpd.GeoDataFrame(
            {c: [] for c in (*AREA_COLUMNS, "osm_relation_id", "code_source", "complete")},
            geometry=[],
            crs="EPSG:4326",
        )
    return Boundaries(frame=frame, unclosed=unclosed)


def _assemble(path: Path, fmt: str, admin_level: str) -> tuple[dict[int, dict[str, str]], dict[int, Any]]:
    """The wanted relations' tags and the multipolygons libosmium could build, by relation id."""
    import osmium

    wanted = osmium.filter.TagFilter(("boundary", "administrative"))
    at_level = osmium.filter.TagFilter(("admin_level", admin_level))
    processor = (
        osmium.FileProcessor(osmium.io.File(str(path), fmt))
        .with_areas(wanted, at_level)
        .with_filter(osmium.filter.EntityFilter(osmium.osm.RELATION | osmium.osm.AREA))
        .with_filter(wanted)
        .with_filter(at_level)
    )
    wkb = osmium.geom.WKBFactory()
    relations: dict[int, dict[str, str]] = {}
    polygons: dict[int, Any] = {}
    for obj in processor:
        if isinstance(obj, osmium.osm.Relation):
            relations[obj.id] = dict(obj.tags)
        elif isinstance(obj, osmium.osm.Area) and not obj.from_way():
            try:
                geom = as_multipolygon(shapely.from_wkb(wkb.create_multipolygon(obj)))
            except RuntimeError:  # no valid ring: libosmium could not close it
                continue
            if geom is not None:
                polygons[obj.orig_id()] = geom
    return relations, polygons


def _name(tags: dict[str, str], rid: int) -> str:
    return tags.get("name:zh") or tags.get("name") or f"relation {rid}"


def _row(rid: int, tags: dict[str, str], geom: Any, level: str) -> dict[str, Any]:
    code_tag = next((t for t in OSM_CODE_TAGS if tags.get(t)), None)
    return {
        "area_code": tags[code_tag] if code_tag else f"osm:relation/{rid}",
        "area_name": _name(tags, rid),
        "level": level,
        "parent_code": None,
        "osm_relation_id": rid,
        "code_source": code_tag or "osm_relation",
        "complete": True,
        "geometry": geom,
    }
