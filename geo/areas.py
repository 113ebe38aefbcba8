"""Administrative areas (county, township = 乡镇/街道, community = 社区/村) from boundary files and
OpenStreetMap extracts, as canonical areas frames (EPSG:4326).

Canonical columns: ``area_code`` (str), ``area_name``, ``level``, ``parent_code`` and a
MultiPolygon geometry; :func:`areas_from_osm` adds ``osm_relation_id``, ``code_source`` and
``complete``.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import ArrayLike, NDArray
from shapely.geometry import LineString, MultiPolygon, Polygon, box
from shapely.geometry.base import BaseGeometry
from shapely.ops import polygonize, unary_union
from shapely.validation import make_valid

from geo.checks import check_bbox
from geo.errors import InputError
from geo.vector import read_vector_file

logger = logging.getLogger(__name__)

AREA_LEVELS: tuple[str, ...] = ("county", "township", "community")
AREA_COLUMNS: tuple[str, ...] = ("area_code", "area_name", "level", "parent_code")
#: OSM admin_level usually used in mainland China for each level
OSM_ADMIN_LEVELS: dict[str, int] = {"county": 6, "township": 8, "community": 10}
CODE_FIELDS = ("area_code", "code", "adcode", "division_code", "行政区划代码", "区划代码", "代码",
               "township_code", "county_code", "community_code", "gb", "xzqdm")
NAME_FIELDS = ("area_name", "name", "名称", "name:zh", "街道", "乡镇", "社区", "township_name",
               "county_name", "community_name", "xzqmc")
PARENT_FIELDS = ("parent_code", "parent", "上级代码", "parent_adcode")
OSM_CODE_TAGS = ("division_code", "ref:GB", "gb:code", "ref")
_EPS = 1e-9


def _check_level(level: str) -> str:
    if level not in AREA_LEVELS:
        raise InputError(f"unknown area level {level!r}; use one of {', '.join(AREA_LEVELS)}", field="level")
    return level


def as_multipolygon(geom: BaseGeometry | None) -> MultiPolygon | None:
    """The polygonal part of ``geom`` as a valid MultiPolygon (``None`` when it has none)."""
    if geom is None or geom.is_empty:
        return None
    if not geom.is_valid:
        geom = make_valid(geom)
    if isinstance(geom, Polygon):
        return MultiPolygon([geom])
    if isinstance(geom, MultiPolygon):
        return geom
    parts: list[Polygon] = []
    for g in getattr(geom, "geoms", []):
        if isinstance(g, Polygon):
            parts.append(g)
        elif isinstance(g, MultiPolygon):
            parts.extend(g.geoms)
    return MultiPolygon(parts) if parts else None



def area_index(lon: ArrayLike, lat: ArrayLike, areas: gpd.GeoDataFrame) -> NDArray[np.int64]:
    """Row position in ``areas`` of the first area containing each point, -1 outside every area.

    Points on a shared border, or in overlapping areas, get the first area in ``areas`` order.
    Coordinates are degrees in the CRS of ``areas`` (EPSG:4326 for the canonical areas frame).
    """
    x = np.asarray(lon, dtype=np.float64).ravel()
    y = np.asarray(lat, dtype=np.float64).ravel()
    out = np.full(x.size, -1, dtype=np.int64)
    if x.size == 0 or len(areas) == 0:
        return out
    tree = shapely.STRtree(areas.geometry.values)
    p_idx, a_idx = tree.query(shapely.points(x, y), predicate="intersects")
    if p_idx.size:
        order = np.lexsort((a_idx, p_idx))
        p_idx, a_idx = p_idx[order], a_idx[order]
        first = np.ones(p_idx.size, dtype=bool)
        first[1:] = p_idx[1:] != p_idx[:-1]
        out[p_idx[first]] = a_idx[first]
    return out

def _pick(columns: Sequence[str], wanted: Iterable[str], given: str | None, what: str) -> str | None:
    if given is not None:
        if given not in columns:
            raise InputError(f"{what} field {given!r} is not in the file (fields: {', '.join(columns)})",
                             field=f"{what}_field")
        return given
    lower = {c.lower(): c for c in columns}
    for w in wanted:
        if w.lower() in lower:
            return lower[w.lower()]
    return None


def read_areas(
    path: str | Path,
    *,
    level: str,
    code_field: str | None = None,
    name_field: str | None = None,
    parent_field: str | None = None,
) -> gpd.GeoDataFrame:
    """Read administrative polygons from GeoJSON, GPKG or SHP (or an ``.osm`` extract, see
    :func:`areas_from_osm`).

    Parameters
    ----------
    path
        The boundary file. Without a CRS it is taken as WGS-84.
    level
        ``county``, ``township`` (乡镇/街道) or ``community`` (社区/村).
    code_field, name_field, parent_field
        Column names; by default the first of the usual ones (``code``, ``adcode``,
        ``行政区划代码``…; ``name``, ``名称``…) present.

    Returns
    -------
    geopandas.GeoDataFrame
        Canonical areas frame in EPSG:4326 (MultiPolygons).

    Raises
    ------
    InputError
        Missing file, unknown level, no code/name column, empty or non-polygon geometries,
        duplicate codes.
    """
    _check_level(level)
    path = Path(path)
    if not path.exists():
        raise InputError(f"area file {str(path)!r} does not exist", field="file")
    if path.suffix.lower() in (".osm", ".xml"):
        return areas_from_osm(path, admin_level=OSM_ADMIN_LEVELS[level], level=level)
    raw = read_vector_file(path, what="a boundary file", field="file")
    if raw.crs is None:
        raw = raw.set_crs("EPSG:4326")
    elif not raw.crs.equals("EPSG:4326"):
        raw = raw.to_crs("EPSG:4326")
    cols = [c for c in raw.columns if c != raw.geometry.name]
    code_col = _pick(cols, CODE_FIELDS, code_field, "code")
    name_col = _pick(cols, NAME_FIELDS, name_field, "name")
    parent_col = _pick(cols, PARENT_FIELDS, parent_field, "parent")
    if code_col is None or name_col is None:
        missing = "code" if code_col is None else "name"
        raise InputError(
            f"{path.name}: no {missing} column found (fields: {', '.join(cols)}); pass {missing}_field",
            field=f"{missing}_field",
        )
    rows = []
    for i, rec in raw.iterrows():
        geom = as_multipolygon(rec.geometry)
        if geom is None:
            raise InputError(f"{path.name}: feature {i} has no polygon geometry", field="geometry")
        code = rec[code_col]
        if code is None or pd.isna(code) or str(code).strip() == "":
            raise InputError(f"{path.name}: feature {i} has no code in {code_col!r}", field="code_field")
        code_s = str(int(code)) if isinstance(code, float) and code.is_integer() else str(code).strip()
        parent = rec[parent_col] if parent_col else None
        rows.append({
            "area_code": code_s, "area_name": str(rec[name_col]).strip(), "level": level,
            "parent_code": None if parent is None or pd.isna(parent) else str(parent),
            "geometry": geom,
        })
    frame = gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326") if rows else _empty()
    dup = frame["area_code"].duplicated()
    if dup.any():
        raise InputError(f"{path.name}: duplicate area codes {sorted(set(frame.loc[dup, 'area_code']))}",
                         field="code_field")
    return frame


def _empty() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({c: pd.Series(dtype=object) for c in AREA_COLUMNS}, geometry=[], crs="EPSG:4326")


# --------------------------------------------------------------------------------------------------
# OSM


@dataclass(frozen=True)
class _Relation:
    rid: int
    tags: dict[str, str]
    ways: tuple[tuple[int, str], ...]  # (way id, role)


def _parse_osm(path: Path, admin_level: int) -> tuple[dict[int, tuple[float, float]], dict[int, list[int]],
                                                       list[_Relation]]:
    nodes: dict[int, tuple[float, float]] = {}
    ways: dict[int, list[int]] = {}
    relations: list[_Relation] = []
    try:
        for _, elem in ET.iterparse(path, events=("end",)):
            tag = elem.tag
            if tag == "node":
                lon, lat = float(elem.get("lon", "nan")), float(elem.get("lat", "nan"))
                nodes[int(elem.get("id", "0"))] = (lon, lat)
                elem.clear()
            elif tag == "way":
                ways[int(elem.get("id", "0"))] = [int(nd.get("ref", "0")) for nd in elem.iter("nd")]
                elem.clear()
            elif tag == "relation":
                tags = {t.get("k", ""): t.get("v", "") for t in elem.iter("tag")}
                if tags.get("boundary") == "administrative" and tags.get("admin_level") == str(admin_level):
                    members = tuple(
                        (int(m.get("ref", "0")), m.get("role", ""))
                        for m in elem.iter("member")
                        if m.get("type") == "way" and m.get("role", "") in ("outer", "inner", "")
                    )
                    relations.append(_Relation(int(elem.get("id", "0")), tags, members))
                elem.clear()
    except ET.ParseError as exc:
        raise InputError(f"cannot parse {path.name} as OSM XML: {exc}", field="file") from exc
    return nodes, ways, relations


def _way_line(
    wid: int, nodes: dict[int, tuple[float, float]], ways: dict[int, list[int]]
) -> LineString | None:
    refs = ways.get(wid)
    if refs is None or any(r not in nodes for r in refs) or len(refs) < 2:
        return None
    return LineString([nodes[r] for r in refs])


def _complete_polygon(rel: _Relation, nodes: dict[int, tuple[float, float]],
                      ways: dict[int, list[int]]) -> MultiPolygon | None:
    outer: list[LineString] = []
    inner: list[LineString] = []
    for wid, role in rel.ways:
        line = _way_line(wid, nodes, ways)
        if line is None:
            return None
        (inner if role == "inner" else outer).append(line)
    outer_polys = list(polygonize(unary_union(outer)))
    if not outer_polys:
        return None
    geom = unary_union(outer_polys)
    if inner:
        holes = list(polygonize(unary_union(inner)))
        if holes:
            geom = geom.difference(unary_union(holes))
    return as_multipolygon(geom)


def _open_ring_names(relations: Sequence[_Relation], nodes: dict[int, tuple[float, float]],
                     ways: dict[int, list[int]]) -> dict[int, str]:
    """Relations whose member ways are all present but whose outer ways do not join into closed
    rings (a broken boundary), by id -> name. Such a boundary is reported, never closed by guess."""
    out: dict[int, str] = {}
    for rel in relations:
        lines = [_way_line(wid, nodes, ways) for wid, role in rel.ways if role != "inner"]
        if not lines or any(line is None for line in lines):
            continue
        merged = shapely.line_merge(unary_union(lines))
        parts = getattr(merged, "geoms", [merged])
        if not all(part.is_ring for part in parts):
            out[rel.rid] = rel.tags.get("name:zh") or rel.tags.get("name") or f"relation {rel.rid}"
    return out


def _faces(partial: list[_Relation], nodes: dict[int, tuple[float, float]], ways: dict[int, list[int]],
           clip: Polygon) -> dict[int, MultiPolygon]:
    """Assemble polygons of incomplete relations from their present boundary ways and the clip box.

    The ways and the box outline are noded and polygonized; a face belongs to the one relation that
    every boundary way on its outline is a member of.
    """
    owners: dict[int, set[int]] = {}
    lines: dict[int, LineString] = {}
    for rel in partial:
        for wid, _ in rel.ways:
            line = _way_line(wid, nodes, ways)
            if line is not None:
                lines[wid] = line
                owners.setdefault(wid, set()).add(rel.rid)
    if not lines:
        return {}
    noded = unary_union([*lines.values(), clip.exterior])
    pieces: dict[int, list[Polygon]] = {}
    for face in polygonize(noded):
        if not face.representative_point().within(clip):
            continue
        outline = face.exterior
        candidates: set[int] | None = None
        for wid, line in lines.items():
            if not outline.intersects(line):
                continue
            shared = outline.intersection(line)
            if shared.length <= _EPS:
                continue
            candidates = set(owners[wid]) if candidates is None else candidates & owners[wid]
        if candidates is not None and len(candidates) == 1:
            pieces.setdefault(candidates.pop(), []).append(face)
    out: dict[int, MultiPolygon] = {}
    for rid, faces in pieces.items():
        geom = as_multipolygon(unary_union(faces))
        if geom is not None:
            out[rid] = geom
    return out


def _default_frame(lines: Sequence[LineString]) -> Polygon:
    """The box spanned by the boundary ways, shrunk until every loose way end lies outside or on it.

    A loose end (used by one way only) inside the box would leave the faces on both sides of that
    way joined; moving the nearest side of the box onto the end separates them.
    """
    ends: dict[tuple[float, float], int] = {}
    for line in lines:
        for pt in (line.coords[0], line.coords[-1]):
            key = (round(pt[0], 9), round(pt[1], 9))
            ends[key] = ends.get(key, 0) + 1
    loose = [pt for pt, n in ends.items() if n == 1]
    minx, miny, maxx, maxy = unary_union(list(lines)).bounds
    for _ in range(4 * len(loose) + 1):
        inside = [(x, y) for x, y in loose if minx + _EPS < x < maxx - _EPS and miny + _EPS < y < maxy - _EPS]
        if not inside:
            break
        w, h = max(maxx - minx, _EPS), max(maxy - miny, _EPS)
        x, y = inside[0]
        side = min(((x - minx) / w, 0), ((maxx - x) / w, 1), ((y - miny) / h, 2), ((maxy - y) / h, 3))[1]
        if side == 0:
            minx = x
        elif side == 1:
            maxx = x
        elif side == 2:
            miny = y
        else:
            maxy = y
    return box(minx, miny, maxx, maxy)


def areas_from_osm(
    path: str | Path,
    *,
    admin_level: int = 8,
    level: str = "township",
    clip_bbox: tuple[float, float, float, float] | None = None,
) -> gpd.GeoDataFrame:
    """Build administrative polygons from the ``boundary=administrative`` relations of an OSM XML file.

    China's OSM uses ``admin_level`` 6 for counties/districts, 8 for townships and 街道, 10 for
    communities and villages.

    Relations whose member ways are all in the file are assembled exactly (outer minus inner
    rings). Extracts cut by a bounding box (e.g. Overpass downloads) often hold only the boundary
    ways that cross the box; those relations are assembled from the ways present plus the box
    outline (``clip_bbox``, default the extent of those ways): each face of the noded line work is
    given to the relation that all boundary ways around it belong to, and ``complete`` is False.

    The code is the ``division_code`` (or ``ref:GB``/``gb:code``/``ref``) tag, the official
    administrative division code; where a relation has none, ``osm:relation/<id>`` is used and
    ``code_source`` says ``osm_relation``.

    Parameters
    ----------
    path
        OSM XML (``.osm``), WGS-84.
    admin_level
        OSM ``admin_level`` to take (default 8 = 乡镇/街道).
    level
        Stored level of the areas (default ``township``).
    clip_bbox
        ``(minlon, minlat, maxlon, maxlat)``; when given every polygon is clipped to it.

    Returns
    -------
    geopandas.GeoDataFrame
        Canonical areas frame (EPSG:4326) plus ``osm_relation_id``, ``code_source``, ``complete``.

    Raises
    ------
    InputError
        Missing or unparsable file, unknown level, bad ``clip_bbox``.
    """
    _check_level(level)
    path = Path(path)
    if not path.is_file():
        raise InputError(f"OSM file {str(path)!r} does not exist", field="file")
    clip = box(*check_bbox(clip_bbox, field="clip_bbox")) if clip_bbox is not None else None
    nodes, ways, relations = _parse_osm(path, admin_level)
    unclosed = _open_ring_names(relations, nodes, ways)
    if unclosed:
        logger.warning("%s: boundary does not close, left out: %s", path.name, ", ".join(unclosed.values()))
    relations = [rel for rel in relations if rel.rid not in unclosed]
    complete, assembled = _relation_polygons(path, relations, nodes, ways, clip)
    rows = []
    for rel in relations:
        geom = complete.get(rel.rid) or assembled.get(rel.rid)
        if geom is not None and clip is not None:
            geom = as_multipolygon(geom.intersection(clip))
        if geom is not None:
            rows.append(_area_row(rel, geom, level=level, complete=rel.rid in complete))
    if not rows:
        logger.warning("%s: no admin_level=%d boundary polygons", path.name, admin_level)
    out = _empty() if not rows else gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")
    if rows:
        logger.info("%s: %d areas at admin_level %d (%d complete)", path.name, len(out), admin_level,
                    int(out["complete"].sum()))
        out = out.sort_values("area_code", kind="stable").reset_index(drop=True)
    #: names of boundaries left out because their rings do not close (reported by the commands)
    out.attrs["unclosed"] = list(unclosed.values())
    return out


def _relation_polygons(
    path: Path, relations: list[_Relation], nodes: dict[int, tuple[float, float]], ways: dict[int, list[int]],
    clip: Polygon | None,
) -> tuple[dict[int, MultiPolygon], dict[int, MultiPolygon]]:
    """The polygons of relations whose member ways are all present (``complete``), and of the cut ones
    assembled inside ``clip`` (default: the extent of their ways)."""
    complete: dict[int, MultiPolygon] = {}
    partial: list[_Relation] = []
    for rel in relations:
        geom = _complete_polygon(rel, nodes, ways)
        if geom is None:
            partial.append(rel)
        else:
            complete[rel.rid] = geom
    if not partial:
        return complete, {}
    frame_box = clip
    if frame_box is None:
        present = {wid: ln for rel in partial for wid, _ in rel.ways
                   if (ln := _way_line(wid, nodes, ways)) is not None}
        frame_box = _default_frame(list(present.values())) if present else None
        if frame_box is not None:
            logger.info("%s: boundary relations are cut; assembling inside %s", path.name,
                        tuple(round(v, 5) for v in frame_box.bounds))
    assembled = _faces(partial, nodes, ways, frame_box) if frame_box is not None else {}
    missing = [r.tags.get("name", str(r.rid)) for r in partial if r.rid not in assembled]
    if missing:
        logger.warning("%s: no polygon could be built for %s (member ways missing)", path.name,
                       ", ".join(missing))
    return complete, assembled


def _area_row(rel: _Relation, geom: MultiPolygon, *, level: str, complete: bool) -> dict[str, Any]:
    """One row of the areas frame: the division code (or ``osm:relation/<id>``), the name, the polygon."""
    code_tag = next((t for t in OSM_CODE_TAGS if rel.tags.get(t)), None)
    return {
        "area_code": rel.tags[code_tag] if code_tag else f"osm:relation/{rel.rid}",
        "area_name": rel.tags.get("name:zh") or rel.tags.get("name") or f"relation {rel.rid}",
        "level": level,
        "parent_code": None,
        "osm_relation_id": rel.rid,
        "code_source": code_tag or "osm_relation",
        "complete": complete,
        "geometry": geom,
    }
