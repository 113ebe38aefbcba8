"""Queries and changes of the PostGIS store. Every function takes a SQLAlchemy :class:`Session` first.

Write functions validate with the same code as the file import (:mod:`geo.stations`), run in the
session's transaction and ``commit`` it when they succeed (``rollback`` when they fail), so one call
is all-or-nothing. Every insert, update, close and delete of a station writes an audit row
(``station_changes``) through a database trigger; the actor is passed with
``set_config('yizhan.actor', ...)`` for the transaction.

All geometries are WGS-84 (EPSG:4326).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import geopandas as gpd
import pandas as pd
from shapely.geometry import MultiPolygon
from sqlalchemy import Select, and_, delete, func, insert, or_, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from geo import catalog
from geo.areas import as_multipolygon
from geo.db.models import AREA_LEVELS, Area, RegistryState, Station, StationChange
from geo.db.snapshot import STATION_COLUMNS, station_records
from geo.errors import ConflictError, ImportRejectedError, InputError, NotFoundError, StoreUnavailableError
from geo.hours import is_open_at
from geo.stations import (
    DUPLICATE_METERS,
    STATION_FIELDS,
    ImportReport,
    RowError,
    records_to_frame,
    report_from_frame,
    similar_names,
    validate_station,
)

logger = logging.getLogger(__name__)

BBox = tuple[float, float, float, float]
#: a move smaller than this is "unchanged" (coordinate round trips through GCJ-02 are ~1e-9°)
UNCHANGED_METERS = 0.05


@dataclass(frozen=True)
class ImportSummary:
    """Outcome of :func:`import_stations`."""

    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    errors: tuple[RowError, ...] = ()
    columns: dict[str, str] = field(default_factory=dict)
    rows_total: int = 0
    dry_run: bool = False
    accepted: bool = True
    station_ids: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "imported": self.imported,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "accepted": self.accepted,
            "dry_run": self.dry_run,
            "rows_total": self.rows_total,
            "errors": [e.to_dict() for e in self.errors],
            "columns": dict(self.columns),
        }


# --------------------------------------------------------------------------------------------------
# helpers

_STATION_COLS = (
    *(getattr(Station, name) for name in STATION_COLUMNS),
    func.ST_X(Station.geom).label("lon"), func.ST_Y(Station.geom).label("lat"),
)


def _set_actor(session: Session, actor: str) -> None:
    if not actor or not str(actor).strip():
        raise InputError("actor is required for changes to the registry", field="actor")
    session.execute(text("SELECT set_config('yizhan.actor', :a, true)"), {"a": str(actor)})


def _point(lon: float, lat: float) -> Any:
    return func.ST_SetSRID(func.ST_MakePoint(lon, lat), 4326)


def _row_dict(row: Any) -> dict[str, Any]:
    """One row of ``select(*_STATION_COLS)`` as a station dict (the snapshot reader's conversion)."""
    return station_records([tuple(row)])[0]


def _meters_between(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    k = math.cos(math.radians((lat1 + lat2) / 2))
    return math.hypot((lon1 - lon2) * 111_320.0 * k, (lat1 - lat2) * 110_574.0)


def _same(stored: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    for key in STATION_FIELDS:
        a, b = stored.get(key), new.get(key)
        if key == "amenities":
            if sorted(a or []) != sorted(b or []):
                return False
        elif key == "floor_area_m2":
            if (a is None) != (b is None):
                return False
            if a is not None and b is not None and abs(float(a) - float(b)) > 1e-9:
                return False
        elif a != b:
            return False
    return _meters_between(stored["lon"], stored["lat"], new["lon"], new["lat"]) < UNCHANGED_METERS


def _values(rec: Mapping[str, Any]) -> dict[str, Any]:
    vals = {k: rec.get(k) for k in STATION_FIELDS}
    vals["amenities"] = list(rec.get("amenities") or [])
    vals["geom"] = _point(float(rec["lon"]), float(rec["lat"]))
    return vals


def _wrap_db_errors(session: Session, exc: Exception) -> None:
    session.rollback()
    if isinstance(exc, OperationalError):
        raise StoreUnavailableError(f"the PostGIS store failed: {exc.orig}") from exc
    if isinstance(exc, IntegrityError):
        raise ConflictError(f"the change conflicts with stored data: {exc.orig}") from exc


def _fill_townships(session: Session, records: Sequence[dict[str, Any]]) -> None:
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


def _near_duplicates(
    session: Session, records: Sequence[dict[str, Any]], *, exclude_ids: Sequence[int | None] = ()
) -> dict[int, dict[str, Any]]:
    """For each record index, an existing station within 20 m with a similar name under another id."""
    if not records:
        return {}
    stmt = text(
        """
        SELECT p.i, s.id, s.name, s.source, s.external_id
        FROM unnest(CAST(:i AS int[]), CAST(:x AS float8[]), CAST(:y AS float8[])) AS p(i, x, y)
        JOIN stations s
          ON s.geom && ST_Expand(ST_SetSRID(ST_MakePoint(p.x, p.y), 4326), 0.0005)
         AND ST_DWithin(s.geom::geography, ST_SetSRID(ST_MakePoint(p.x, p.y), 4326)::geography, :m)
        ORDER BY p.i, s.id
        """
    )
    rows = session.execute(stmt, {
        "i": list(range(len(records))), "x": [float(r["lon"]) for r in records],
        "y": [float(r["lat"]) for r in records], "m": DUPLICATE_METERS,
    }).all()
    out: dict[int, dict[str, Any]] = {}
    excl = list(exclude_ids) + [None] * (len(records) - len(exclude_ids))
    for i, sid, name, source, ext in rows:
        rec = records[i]
        if i in out or sid == excl[i]:
            continue
        if (source, ext) == (rec.get("source"), rec.get("external_id")):
            continue
        if similar_names(name, rec.get("name")):
            out[i] = {"station_id": sid, "name": name, "source": source, "external_id": ext}
    return out


# --------------------------------------------------------------------------------------------------
# import

_BULK_TYPES = {
    "source": "text", "external_id": "text", "name": "text", "kind": "text", "status": "text",
    "address": "text", "county_name": "text", "county_code": "text", "township_name": "text",
    "township_code": "text", "community_name": "text", "community_code": "text", "amenities": "text[]",
    "opening_hours": "text", "host_org": "text", "phone": "text", "seats": "int",
    "floor_area_m2": "float8", "source_crs": "text",
}
_BULK_CHUNK = 1000


def _bulk_json(recs: Sequence[dict[str, Any]], keys: Sequence[str]) -> str:
    import json

    return json.dumps([{k: r.get(k) for k in keys} for r in recs], ensure_ascii=False)


def _bulk_insert(session: Session, recs: Sequence[dict[str, Any]]) -> list[int]:
    """Insert validated records in one statement per 1,000 (the audit trigger still fires per row)."""
    cols = list(_BULK_TYPES)
    typed = ", ".join(f"{c} {t}" for c, t in _BULK_TYPES.items())
    sql = text(
        f"INSERT INTO stations ({', '.join(cols)}, geom) "
        f"SELECT {', '.join('r.' + c for c in cols)}, ST_SetSRID(ST_MakePoint(r.lon, r.lat), 4326) "
        f"FROM jsonb_to_recordset(CAST(:rows AS jsonb)) "
        f"AS r({typed}, lon float8, lat float8, ord bigint) ORDER BY r.ord RETURNING id"
    )
    ids: list[int] = []
    for i in range(0, len(recs), _BULK_CHUNK):
        chunk = [{**r, "ord": n} for n, r in enumerate(recs[i:i + _BULK_CHUNK])]
        rows = _bulk_json(chunk, [*cols, "lon", "lat", "ord"])
        ids.extend(int(x) for x in session.execute(sql, {"rows": rows}).scalars())
    return ids


def _bulk_update(session: Session, recs: Sequence[dict[str, Any]]) -> None:
    """Overwrite the stored fields and point of stations ``rec["id"]`` (one statement per 1,000)."""
    cols = [c for c in _BULK_TYPES if c not in ("source", "external_id")]
    typed = ", ".join(f"{c} {_BULK_TYPES[c]}" for c in cols)
    sql = text(
        f"UPDATE stations s SET {', '.join(f'{c} = r.{c}' for c in cols)}, "
        f"geom = ST_SetSRID(ST_MakePoint(r.lon, r.lat), 4326) "
        f"FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(id bigint, {typed}, lon float8, lat float8) "
        f"WHERE s.id = r.id"
    )
    for i in range(0, len(recs), _BULK_CHUNK):
        session.execute(sql, {"rows": _bulk_json(recs[i:i + _BULK_CHUNK], ["id", *cols, "lon", "lat"])})



def import_stations(
    session: Session,
    frame_or_report: ImportReport | pd.DataFrame,
    *,
    source: str,
    actor: str,
    skip_invalid: bool = False,
    dry_run: bool = False,
    crs: str = "wgs84",
) -> ImportSummary:
    """Upsert stations on ``(source, external_id)`` in one transaction.

    Parameters
    ----------
    frame_or_report
        An :class:`~geo.stations.ImportReport` from :func:`geo.stations.read_station_file`, or a
        (Geo)DataFrame of stations (validated here like a file, coordinates in ``crs``).
    source
        Source name for rows that carry none.
    actor
        Who makes the change (written to the audit trail).
    skip_invalid
        Import the valid rows and count the others as rejected; otherwise any row error rejects
        the whole file and the table is left untouched.
    dry_run
        Validate against the store and count, but write nothing.

    Returns
    -------
    ImportSummary
        Counts of imported (new), updated, unchanged and rejected rows, with every row error.

    Raises
    ------
    ImportRejectedError
        When a row is invalid and ``skip_invalid`` is false; ``report`` is the :class:`ImportSummary`.
    """
    if not source or not str(source).strip():
        raise InputError("source is required", field="source")
    if isinstance(frame_or_report, ImportReport):
        report = frame_or_report
    elif isinstance(frame_or_report, pd.DataFrame):
        report = report_from_frame(frame_or_report, crs=crs, source=source)
    else:
        raise InputError("import_stations needs an ImportReport or a (Geo)DataFrame", field="file")

    errors = list(report.errors)
    records: list[dict[str, Any]] = []
    frame = report.frame
    geom_name = frame.geometry.name
    xs = frame.geometry.x.to_numpy(dtype=float) if len(frame) else []
    ys = frame.geometry.y.to_numpy(dtype=float) if len(frame) else []
    plain = pd.DataFrame(frame.drop(columns=[geom_name])).to_dict("records")
    for pos, rec in enumerate(plain):
        rec["lon"], rec["lat"] = float(xs[pos]), float(ys[pos])
        rec["source"] = rec.get("source") or source
        rec["row"] = int(rec["row"]) if "row" in rec and not pd.isna(rec["row"]) else pos + 2
        rec["amenities"] = list(rec.get("amenities") or [])
        for key in STATION_FIELDS:
            v = rec.get(key)
            if key != "amenities" and v is not None and not isinstance(v, list) and pd.isna(v):
                rec[key] = None
        rec["seats"] = None if rec.get("seats") is None else int(rec["seats"])
        rec["floor_area_m2"] = None if rec.get("floor_area_m2") is None else float(rec["floor_area_m2"])
        records.append(rec)

    try:
        _fill_townships(session, records)
        keys = [(r["source"], str(r["external_id"])) for r in records]
        existing: dict[tuple[str, str], dict[str, Any]] = {}
        found_ids = session.execute(
            text("SELECT s.id FROM stations s JOIN unnest(CAST(:src AS text[]), CAST(:ext AS text[])) "
                 "AS k(source, external_id) ON s.source = k.source AND s.external_id = k.external_id"),
            {"src": [k[0] for k in keys], "ext": [k[1] for k in keys]},
        ).scalars().all()
        for i in range(0, len(found_ids), 5000):
            for row in session.execute(select(*_STATION_COLS).where(Station.id.in_(found_ids[i:i + 5000]))):
                d = _row_dict(row)
                existing[(d["source"], d["external_id"])] = d
        new_recs = [r for r, k in zip(records, keys, strict=True) if k not in existing]
        dups = _near_duplicates(session, new_recs)
        dup_rows = set()
        for i, other in dups.items():
            rec = new_recs[i]
            dup_rows.add(rec["row"])
            errors.append(RowError(
                rec["row"], "name",
                f"duplicate of existing station {other['station_id']} ({other['name']!r}, "
                f"{other['source']}/{other['external_id']}) within {DUPLICATE_METERS:.0f} m",
            ))
        errors.sort(key=lambda e: (e.row, e.field))
        rejected_rows = {e.row for e in errors}
        summary_base: dict[str, Any] = {
            "columns": dict(report.columns), "rows_total": report.rows_total, "dry_run": dry_run,
        }
        if errors and not skip_invalid:
            summary = ImportSummary(rejected=len(rejected_rows), errors=tuple(errors), accepted=False,
                                    **summary_base)
            session.rollback()
            raise ImportRejectedError(
                f"station file rejected: {len(errors)} problem(s) in {len(rejected_rows)} row(s); "
                "nothing was imported (use skip_invalid to import the valid rows)",
                report=summary,
            )
        imported = updated = unchanged = 0
        ids: list[int] = []
        if not dry_run:
            _set_actor(session, actor)
        to_insert: list[dict[str, Any]] = []
        to_update: list[dict[str, Any]] = []
        for rec, rkey in zip(records, keys, strict=True):
            if rec["row"] in dup_rows:
                continue
            old = existing.get(rkey)
            if old is None:
                imported += 1
                to_insert.append({**rec, "source": rkey[0], "external_id": rkey[1]})
            elif _same(old, rec):
                unchanged += 1
                ids.append(int(old["station_id"]))
            else:
                updated += 1
                ids.append(int(old["station_id"]))
                to_update.append({**rec, "id": int(old["station_id"])})
        if not dry_run:
            ids.extend(_bulk_insert(session, to_insert))
            _bulk_update(session, to_update)
        if dry_run:
            session.rollback()
        else:
            session.commit()
    except (IntegrityError, OperationalError) as exc:
        _wrap_db_errors(session, exc)
        raise
    summary = ImportSummary(
        imported=imported, updated=updated, unchanged=unchanged, rejected=len(rejected_rows),
        errors=tuple(errors), accepted=True, station_ids=tuple(ids), **summary_base,
    )
    logger.info("import %s: %s", source, summary.to_dict() | {"errors": len(errors)})
    return summary


# --------------------------------------------------------------------------------------------------
# queries


def _filtered(
    stmt: Select[Any],
    *,
    bbox: BBox | None = None,
    kinds: Iterable[str] = (),
    statuses: Iterable[str] = (),
    amenities: Iterable[str] = (),
    area_code: str | None = None,
    sources: Iterable[str] = (),
) -> Select[Any]:
    if bbox is not None:
        minx, miny, maxx, maxy = _check_bbox(bbox)
        stmt = stmt.where(Station.geom.intersects(func.ST_MakeEnvelope(minx, miny, maxx, maxy, 4326)))
    kinds = [catalog.resolve_kind(k, field="kinds") for k in kinds]
    if kinds:
        stmt = stmt.where(Station.kind.in_(kinds))
    statuses = [catalog.resolve_status(s, field="statuses") for s in statuses]
    if statuses:
        stmt = stmt.where(Station.status.in_(statuses))
    codes = [catalog.resolve_amenity(a, field="amenities") for a in amenities]
    if codes:
        stmt = stmt.where(Station.amenities.contains(codes))
    sources = list(sources)
    if sources:
        stmt = stmt.where(Station.source.in_(sources))
    if area_code is not None:
        area = select(Area.geom).where(Area.code == str(area_code)).limit(1).scalar_subquery()
        stmt = stmt.where(
            or_(Station.township_code == str(area_code), Station.community_code == str(area_code),
                Station.county_code == str(area_code), func.ST_Covers(area, Station.geom))
        )
    return stmt


def _check_bbox(bbox: Sequence[float]) -> BBox:
    try:
        minx, miny, maxx, maxy = (float(v) for v in bbox)
    except (TypeError, ValueError) as exc:
        raise InputError(f"bbox must be minlon,minlat,maxlon,maxlat, got {bbox!r}", field="bbox") from exc
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise InputError(f"bbox {bbox!r} is not minlon,minlat,maxlon,maxlat in degrees", field="bbox")
    return minx, miny, maxx, maxy


def _open_filter(records: list[dict[str, Any]], open_at: datetime) -> list[dict[str, Any]]:
    out = []
    for r in records:
        oh = r.get("opening_hours")
        if oh and is_open_at(oh, open_at):
            out.append(r)
    return out


def list_stations(
    session: Session,
    *,
    bbox: BBox | None = None,
    kinds: Iterable[str] = (),
    statuses: Iterable[str] = (),
    amenities: Iterable[str] = (),
    area_code: str | None = None,
    open_at: datetime | None = None,
    sources: Iterable[str] = (),
    limit: int = 100,
    offset: int = 0,
) -> tuple[gpd.GeoDataFrame, int]:
    """Return one page of stations (canonical frame, EPSG:4326, ordered by id) and the total matched.

    ``amenities``: stations having ALL of them. ``area_code``: stations whose township, community or
    county code is it, or inside the stored area polygon with that code. ``open_at``: stations open
    at that moment by their opening hours (naive = China time); stations without hours are left out.
    """
    if limit < 0 or offset < 0:
        raise InputError("limit and offset must be ≥ 0", field="limit" if limit < 0 else "offset")
    filters: dict[str, Any] = {"bbox": bbox, "kinds": kinds, "statuses": statuses, "amenities": amenities,
               "area_code": area_code, "sources": sources}
    base = _filtered(select(*_STATION_COLS), **filters).order_by(Station.id)
    if open_at is not None:
        records = _open_filter([_row_dict(r) for r in session.execute(base)], open_at)
        return records_to_frame(records[offset:offset + limit], id_field="station_id"), len(records)
    total = session.execute(
        _filtered(select(func.count()).select_from(Station), **filters)
    ).scalar_one()
    records = [_row_dict(r) for r in session.execute(base.limit(limit).offset(offset))]
    return records_to_frame(records, id_field="station_id"), int(total)


def stations_frame(
    session: Session,
    *,
    bbox: BBox | None = None,
    kinds: Iterable[str] = (),
    statuses: Iterable[str] = (),
    amenities: Iterable[str] = (),
    area_code: str | None = None,
    open_at: datetime | None = None,
    sources: Iterable[str] = (),
) -> gpd.GeoDataFrame:
    """All matching stations as a canonical stations frame (EPSG:4326), ordered by id."""
    base = _filtered(select(*_STATION_COLS), bbox=bbox, kinds=kinds, statuses=statuses,
                     amenities=amenities, area_code=area_code, sources=sources).order_by(Station.id)
    records = [_row_dict(r) for r in session.execute(base)]
    if open_at is not None:
        records = _open_filter(records, open_at)
    return records_to_frame(records, id_field="station_id")


def get_station(session: Session, station_id: int) -> dict[str, Any]:
    """Return one station as a dict (canonical fields, ``lon``/``lat`` WGS-84, timestamps).

    Raises
    ------
    NotFoundError
        If no station has this id.
    """
    try:
        sid = int(station_id)
    except (TypeError, ValueError) as exc:
        raise InputError(f"station id {station_id!r} is not an integer", field="station_id") from exc
    row = session.execute(select(*_STATION_COLS).where(Station.id == sid)).first()
    if row is None:
        raise NotFoundError(f"station {sid} not found", field="station_id")
    return _row_dict(row)


def _check_duplicate(session: Session, rec: dict[str, Any], *, station_id: int | None = None) -> None:
    dups = _near_duplicates(session, [rec], exclude_ids=[station_id])
    if dups:
        other = dups[0]
        raise ConflictError(
            f"duplicate of existing station {other['station_id']} ({other['name']!r}) within "
            f"{DUPLICATE_METERS:.0f} m", field="name",
        )


def create_station(
    session: Session, props: Mapping[str, Any], *, actor: str, crs: str = "wgs84"
) -> dict[str, Any]:
    """Validate and insert one station; return it as :func:`get_station` does.

    ``props`` uses field names (or import header aliases) with ``lon``/``lat`` in ``crs`` or a
    GeoJSON ``geometry``. ``source`` defaults to ``manual`` and ``external_id`` to a new id.

    Raises
    ------
    InputError
        Invalid props (``field`` names the first bad one).
    ConflictError
        Same ``(source, external_id)`` exists, or a similar-named station lies within 20 m.
    """
    rec = validate_station(props, crs=crs)
    source = rec.get("source") or "manual"
    try:
        _set_actor(session, actor)
        _fill_townships(session, [rec])
        if rec.get("external_id"):
            clash = session.execute(select(Station.id).where(
                and_(Station.source == source, Station.external_id == rec["external_id"]))).scalar()
            if clash is not None:
                raise ConflictError(
                    f"station {source}/{rec['external_id']} exists already (id {clash})", field="external_id")
        _check_duplicate(session, rec)
        next_id = text("SELECT nextval(pg_get_serial_sequence('stations', 'id'))")
        sid = int(session.execute(next_id).scalar_one())
        session.execute(
            insert(Station).values(
                id=sid, source=source, external_id=rec.get("external_id") or f"{source}-{sid}", **_values(rec)
            )
        )
        session.commit()
    except (IntegrityError, OperationalError) as exc:
        _wrap_db_errors(session, exc)
        raise
    except Exception:
        session.rollback()
        raise
    return get_station(session, int(sid))


_UPDATABLE = (*STATION_FIELDS, "lon", "lat")


def update_station(
    session: Session,
    station_id: int,
    props: Mapping[str, Any],
    *,
    actor: str,
    partial: bool,
    crs: str = "wgs84",
) -> dict[str, Any]:
    """Change a station. ``partial=True`` (PATCH) keeps fields not in ``props``; ``partial=False``
    (PUT) replaces them all (absent optional fields become empty). Coordinates, when given, are in
    ``crs``. Returns the station as :func:`get_station` does.

    Raises
    ------
    NotFoundError, InputError, ConflictError
    """
    from geo import crs as gcrs
    from geo.stations import props_to_fields

    old = get_station(session, station_id)
    given = props_to_fields(props)
    key = (given.get("source", old["source"]), str(given.get("external_id", old["external_id"])))
    if key != (old["source"], old["external_id"]):
        raise InputError("source and external_id of a station cannot be changed", field="external_id")
    if partial:
        merged: dict[str, Any] = {k: old.get(k) for k in STATION_FIELDS}
        if "source_crs" not in given and ("lon" in given or "lat" in given):
            merged["source_crs"] = None
        lon, lat = old["lon"], old["lat"]
        if crs != "wgs84":
            lon, lat = gcrs.convert(lon, lat, src="wgs84", dst=gcrs.resolve_crs(crs))
        merged["lon"], merged["lat"] = lon, lat
        merged.update({k: v for k, v in given.items() if k in _UPDATABLE})
    else:
        merged = {k: v for k, v in given.items() if k in _UPDATABLE}
    rec = validate_station(merged, crs=crs)
    if not given.get("township_code") and not given.get("township_name") and not partial:
        _fill_townships(session, [rec])
    if _same(old, rec):
        session.rollback()
        return old
    try:
        _set_actor(session, actor)
        if _meters_between(old["lon"], old["lat"], rec["lon"], rec["lat"]) >= UNCHANGED_METERS or (
            not similar_names(old["name"], rec["name"])
        ):
            _check_duplicate(session, rec, station_id=old["station_id"])
        session.execute(
            update(Station).where(Station.id == old["station_id"]).values(**_values(rec))
        )
        session.commit()
    except (IntegrityError, OperationalError) as exc:
        _wrap_db_errors(session, exc)
        raise
    except Exception:
        session.rollback()
        raise
    return get_station(session, old["station_id"])


def close_station(session: Session, station_id: int, *, actor: str) -> dict[str, Any]:
    """Soft-delete: set the status to ``closed`` (audit operation ``close``). Closing a closed
    station changes nothing. Returns the station."""
    old = get_station(session, station_id)
    if old["status"] == "closed":
        return old
    try:
        _set_actor(session, actor)
        session.execute(
            update(Station).where(Station.id == old["station_id"]).values(status="closed")
        )
        session.commit()
    except OperationalError as exc:
        _wrap_db_errors(session, exc)
        raise
    return get_station(session, old["station_id"])


def delete_station(session: Session, station_id: int, *, actor: str) -> None:
    """Hard-delete a station (audit operation ``delete``; its history stays)."""
    old = get_station(session, station_id)
    try:
        _set_actor(session, actor)
        session.execute(delete(Station).where(Station.id == old["station_id"]))
        session.commit()
    except OperationalError as exc:
        _wrap_db_errors(session, exc)
        raise


def station_changes(session: Session, station_id: int) -> list[dict[str, Any]]:
    """The audit trail of one station, oldest first: ``change_id``, ``station_id``, ``changed_at``,
    ``actor``, ``operation`` (insert/update/close/delete), ``before``, ``after`` (JSON, geometry as
    GeoJSON).

    Raises
    ------
    NotFoundError
        If the station never existed.
    """
    rows = session.execute(
        select(StationChange).where(StationChange.station_id == int(station_id)).order_by(StationChange.id)
    ).scalars().all()
    if not rows:
        get_station(session, station_id)  # raises NotFoundError
    return [
        {"change_id": r.id, "station_id": r.station_id, "changed_at": r.changed_at, "actor": r.actor,
         "org_code": r.org_code, "operation": r.operation, "before": r.before, "after": r.after}
        for r in rows
    ]


def registry_version(session: Session) -> int:
    """A number that rises with every committed statement changing stations (insert, update, close,
    delete); a statement that changed nothing may raise it too.

    Kept in ``registry_state`` by the audit trigger; the row lock orders concurrent writers, so
    unlike ``max(audit id)`` it cannot stay put when an older transaction commits last.
    """
    return int(session.execute(select(RegistryState.version).where(RegistryState.id == 1)).scalar_one())


def registry_summary(session: Session) -> dict[str, Any]:
    """Counts of stations by kind, status, source and township, the bbox and the registry version."""
    def counts(col: Any) -> dict[str, int]:
        rows = session.execute(select(col, func.count()).group_by(col).order_by(func.count().desc(), col))
        return {str(k) if k is not None else "": int(n) for k, n in rows}

    township = func.coalesce(Station.township_name, Station.township_code)
    total = session.execute(select(func.count()).select_from(Station)).scalar_one()
    ext = session.execute(select(func.ST_XMin(func.ST_Extent(Station.geom)),
                                 func.ST_YMin(func.ST_Extent(Station.geom)),
                                 func.ST_XMax(func.ST_Extent(Station.geom)),
                                 func.ST_YMax(func.ST_Extent(Station.geom)))).one()
    return {
        "total": int(total),
        "by_kind": counts(Station.kind),
        "by_status": counts(Station.status),
        "by_source": counts(Station.source),
        "by_township": counts(township),
        "bbox": None if ext[0] is None else [float(v) for v in ext],
        "version": registry_version(session),
    }


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
        _set_actor(session, actor)
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
        _wrap_db_errors(session, exc)
        raise
    return changed


# --------------------------------------------------------------------------------------------------
# areas


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
        _wrap_db_errors(session, exc)
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
        minx, miny, maxx, maxy = _check_bbox(bbox)
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


__all__ = [
    "ImportSummary", "areas_frame", "assign_areas", "close_station", "create_station", "delete_station",
    "get_area",
    "get_station", "import_stations", "list_areas", "list_stations", "registry_summary",
    "registry_version", "station_changes", "stations_frame", "update_station",
    "upsert_areas",
]
