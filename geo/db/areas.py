"""Administrative areas (``areas``): upsert, queries, and filling stations' township/community from
the polygons that cover them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import pandas as pd
from shapely.geometry import MultiPolygon
from sqlalchemy import Select, func, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from geo.areas import as_multipolygon
from geo.checks import check_bbox
from geo.db.common import BBox, set_actor, wrap_db_errors
from geo.db.models import AREA_LEVELS, Area
from geo.errors import InputError, NotFoundError
from geo.text import check_text


def fill_townships(session: Session, records: Sequence[dict[str, Any]]) -> None:
    """Fill empty township (and community) name/code from stored area polygons covering the point."""
    todo = [r for r in records if not r.get("township_code") and not r.get("township_name")]
    if not todo:
        return
    has_areas = session.execute(select(func.count()).select_from(Area)).scalar_one()
    if not has_areas:
        return
    for level in ("township", "community"):
        pts = [r for r in todo if not r.get(f"{level}_code")]
        if not pts:
            continue
        stmt = text(
            """
            SELECT p.i, a.code, a.name
            FROM unnest(CAST(:i AS int[]), CAST(:x AS float8[]), CAST(:y AS float8[])) AS p(i, x, y)
            JOIN LATERAL (
              SELECT code, name FROM areas
              WHERE level = :level AND ST_Covers(geom, ST_SetSRID(ST_MakePoint(p.x, p.y), 4326))
              ORDER BY ST_Area(geom) LIMIT 1
            ) a ON true
            """
        )
        found = session.execute(stmt, {
            "i": list(range(len(pts))), "x": [r["lon"] for r in pts], "y": [r["lat"] for r in pts],
            "level": level,
        }).all()
        for i, code, name in found:
            pts[i][f"{level}_code"], pts[i][f"{level}_name"] = code, name


def assign_areas(session: Session, *, actor: str, overwrite: bool = False) -> int:
    """Fill the township and community name/code of stored stations from the area polygons that
    cover them (only empty ones unless ``overwrite``); commits. Each changed station gets an audit row.

    Returns
    -------
    int
        Number of stations changed.
    """
    changed = 0
    try:
        set_actor(session, actor)
        for level in ("township", "community"):
            cond = "" if overwrite else f"AND s.{level}_code IS NULL AND s.{level}_name IS NULL"
            sql = f"""
                UPDATE stations s SET {level}_code = a.code, {level}_name = a.name
                FROM (
                  SELECT DISTINCT ON (st.id) st.id, ar.code, ar.name
                  FROM stations st JOIN areas ar ON ar.level = :level AND ST_Covers(ar.geom, st.geom)
                  ORDER BY st.id, ST_Area(ar.geom)
                ) a
                WHERE s.id = a.id {cond}
                  AND (s.{level}_code IS DISTINCT FROM a.code OR s.{level}_name IS DISTINCT FROM a.name)
                RETURNING s.id
            """
            result = session.execute(text(sql), {"level": level})
            changed += len(result.all())
        session.commit()
    except (IntegrityError, OperationalError) as exc:
        wrap_db_errors(session, exc)
        raise
    return changed


def _multipolygon(geom: Any) -> MultiPolygon:
    if geom is None or geom.is_empty:
        raise InputError("area geometry is empty", field="geometry")
    out = as_multipolygon(geom)
    if out is None:
        raise InputError(f"area geometry is a {geom.geom_type}, not a polygon", field="geometry")
    return out


def upsert_areas(session: Session, areas_gdf: gpd.GeoDataFrame, *, level: str,
                 source: str | None = None) -> dict[str, int]:
    """Insert or update administrative polygons on ``(level, code)``; commits.

    ``areas_gdf`` is a canonical areas frame (``area_code``, ``area_name``, optional ``parent_code``,
    (Multi)Polygon geometry, EPSG:4326 or convertible).

    Returns
    -------
    dict
        ``{"inserted": n, "updated": m}``.
    """
    if level not in AREA_LEVELS:
        raise InputError(f"unknown area level {level!r}; use one of {', '.join(AREA_LEVELS)}", field="level")
    for col in ("area_code", "area_name"):
        if col not in areas_gdf.columns:
            raise InputError(f"areas frame has no {col!r} column", field=col)
    gdf = areas_gdf.to_crs("EPSG:4326") if areas_gdf.crs is not None else areas_gdf
    rows = []
    for _, rec in gdf.iterrows():
        code = str(rec["area_code"]).strip()
        name = str(rec["area_name"]).strip()
        if not code or code == "nan":
            raise InputError(f"area {name!r} has no code", field="area_code")
        check_text(code, field="area_code")
        check_text(name, field="area_name")
        parent = rec.get("parent_code")
        rows.append({"level": level, "code": code, "name": name,
                     "parent_code": None if parent is None or pd.isna(parent) else str(parent),
                     "source": source, "wkt": _multipolygon(rec.geometry).wkt})
    if not rows:
        return {"inserted": 0, "updated": 0}
    stmt = text(
        """
        INSERT INTO areas (level, code, name, parent_code, source, geom)
        VALUES (:level, :code, :name, :parent_code, :source, ST_Multi(ST_GeomFromText(:wkt, 4326)))
        ON CONFLICT (level, code) DO UPDATE SET name = EXCLUDED.name, parent_code = EXCLUDED.parent_code,
          source = EXCLUDED.source, geom = EXCLUDED.geom, updated_at = now()
        RETURNING (xmax = 0) AS inserted
        """
    )
    inserted = 0
    try:
        for row in rows:
            inserted += int(bool(session.execute(stmt, row).scalar_one()))
        session.commit()
    except (IntegrityError, OperationalError) as exc:
        wrap_db_errors(session, exc)
        raise
    return {"inserted": inserted, "updated": len(rows) - inserted}


def _areas_query(level: str | None, bbox: BBox | None) -> Select[Any]:
    stmt = select(Area.code.label("area_code"), Area.name.label("area_name"), Area.level, Area.parent_code,
                  Area.source, func.ST_AsBinary(Area.geom).label("wkb"))
    if level is not None:
        if level not in AREA_LEVELS:
            raise InputError(f"unknown area level {level!r}; use one of {', '.join(AREA_LEVELS)}",
                             field="level")
        stmt = stmt.where(Area.level == level)
    if bbox is not None:
        minx, miny, maxx, maxy = check_bbox(bbox, strict=False)
        stmt = stmt.where(Area.geom.intersects(func.ST_MakeEnvelope(minx, miny, maxx, maxy, 4326)))
    return stmt.order_by(Area.level, Area.code)


def _areas_gdf(rows: Sequence[Any]) -> gpd.GeoDataFrame:
    from shapely import wkb

    cols = ["area_code", "area_name", "level", "parent_code", "source"]
    data = {c: [r._mapping[c] for r in rows] for c in cols}
    geoms = [wkb.loads(bytes(r._mapping["wkb"])) for r in rows]
    return gpd.GeoDataFrame(data, geometry=geoms, crs="EPSG:4326")


def areas_frame(session: Session, *, level: str | None = None, bbox: BBox | None = None) -> gpd.GeoDataFrame:
    """Stored areas as a canonical areas frame (``area_code``, ``area_name``, ``level``,
    ``parent_code``, MultiPolygon geometry, EPSG:4326)."""
    return _areas_gdf(session.execute(_areas_query(level, bbox)).all())


def list_areas(
    session: Session, *, level: str | None = None, bbox: BBox | None = None, limit: int = 100, offset: int = 0
) -> tuple[gpd.GeoDataFrame, int]:
    """One page of areas (see :func:`areas_frame`) and the total matched (OGC API paging)."""
    if limit < 0 or offset < 0:
        raise InputError("limit and offset must be ≥ 0", field="limit" if limit < 0 else "offset")
    query = _areas_query(level, bbox)
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = session.execute(query.limit(limit).offset(offset)).all()
    return _areas_gdf(rows), int(total)


def get_area(session: Session, code: str, *, level: str | None = None) -> dict[str, Any]:
    """One area as a dict with a shapely ``geometry`` (NotFoundError if missing)."""
    gdf = areas_frame(session, level=level)
    hit = gdf[gdf["area_code"] == str(code)]
    if hit.empty:
        raise NotFoundError(f"area {code!r} not found", field="area_code")
    rec = hit.iloc[0]
    return {**{c: rec[c] for c in ("area_code", "area_name", "level", "parent_code", "source")},
            "geometry": rec.geometry}
