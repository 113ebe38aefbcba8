"""Stations (``stations``): queries, and create, update, close and delete of one station.

Write functions validate with the same code as the file import (:mod:`geo.stations`), run in the
session's transaction and ``commit`` it when they succeed (``rollback`` when they fail), so one call
is all-or-nothing. Every insert, update, close and delete writes an audit row (``station_changes``)
through a database trigger; the actor is passed with ``set_config('yizhan.actor', ...)``.

All geometries are WGS-84 (EPSG:4326).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import geopandas as gpd
from sqlalchemy import Select, and_, delete, func, insert, or_, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from geo import catalog
from geo.checks import check_bbox
from geo.crs import bbox_outline_to_wgs84, resolve_crs
from geo.db.areas import fill_townships
from geo.db.common import BBox, point, set_actor, wrap_db_errors
from geo.db.models import Area, Station
from geo.db.snapshot import STATION_COLUMNS, station_records
from geo.errors import ConflictError, InputError, NotFoundError, PreconditionFailedError
from geo.hours import is_open_at
from geo.stations import (
    DUPLICATE_METERS,
    STATION_FIELDS,
    records_to_frame,
    similar_names,
    validate_station,
)

#: a move smaller than this is "unchanged" (coordinate round trips through GCJ-02 are ~1e-9°)
UNCHANGED_METERS = 0.05


STATION_SELECT = (
    *(getattr(Station, name) for name in STATION_COLUMNS),
    func.ST_X(Station.geom).label("lon"), func.ST_Y(Station.geom).label("lat"),
)


def row_dict(row: Any) -> dict[str, Any]:
    """One row of ``select(*STATION_SELECT)`` as a station dict (the snapshot reader's conversion)."""
    return station_records([tuple(row)])[0]


def meters_between(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    k = math.cos(math.radians((lat1 + lat2) / 2))
    return math.hypot((lon1 - lon2) * 111_320.0 * k, (lat1 - lat2) * 110_574.0)


def same_station(stored: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
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
    return meters_between(stored["lon"], stored["lat"], new["lon"], new["lat"]) < UNCHANGED_METERS


def station_values(rec: Mapping[str, Any]) -> dict[str, Any]:
    vals = {k: rec.get(k) for k in STATION_FIELDS}
    vals["amenities"] = list(rec.get("amenities") or [])
    vals["geom"] = point(float(rec["lon"]), float(rec["lat"]))
    return vals


def near_duplicates(
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


def _filtered(
    stmt: Select[Any],
    *,
    bbox: BBox | None = None,
    kinds: Iterable[str] = (),
    statuses: Iterable[str] = (),
    amenities: Iterable[str] = (),
    area_code: str | None = None,
    sources: Iterable[str] = (),
    bbox_crs: str = "wgs84",
) -> Select[Any]:
    if bbox is not None:
        stmt = stmt.where(Station.geom.intersects(_bbox_geometry(check_bbox(bbox, strict=False), bbox_crs)))
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


def _bbox_geometry(bbox: BBox, crs: str) -> Any:
    """The box as a PostGIS geometry (EPSG:4326): an envelope in WGS-84, else the exact image of a
    GCJ-02/BD-09 box (its densely sampled outline, :func:`geo.crs.bbox_outline_to_wgs84`)."""
    if resolve_crs(crs, field="bbox_crs") == "wgs84":
        return func.ST_MakeEnvelope(*bbox, 4326)
    lon, lat = bbox_outline_to_wgs84(bbox, src=crs)
    ring = ", ".join(f"{x:.9f} {y:.9f}" for x, y in zip(lon, lat, strict=True))
    return func.ST_GeomFromText(f"POLYGON(({ring}))", 4326)


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
    bbox_crs: str = "wgs84",
) -> tuple[gpd.GeoDataFrame, int]:
    """Return one page of stations (canonical frame, EPSG:4326, ordered by id) and the total matched.

    ``amenities``: stations having ALL of them. ``area_code``: stations whose township, community or
    county code is it, or inside the stored area polygon with that code. ``open_at``: stations open
    at that moment by their opening hours (naive = China time); stations without hours are left out.
    ``bbox`` is in ``bbox_crs`` (``wgs84``, ``gcj02`` or ``bd09``): a GCJ-02/BD-09 box selects the
    stations whose coordinates in that system lie in it.
    """
    if limit < 0 or offset < 0:
        raise InputError("limit and offset must be ≥ 0", field="limit" if limit < 0 else "offset")
    filters: dict[str, Any] = {"bbox": bbox, "kinds": kinds, "statuses": statuses, "amenities": amenities,
               "area_code": area_code, "sources": sources, "bbox_crs": bbox_crs}
    base = _filtered(select(*STATION_SELECT), **filters).order_by(Station.id)
    if open_at is not None:
        records = _open_filter([row_dict(r) for r in session.execute(base)], open_at)
        return records_to_frame(records[offset:offset + limit], id_field="station_id"), len(records)
    total = session.execute(
        _filtered(select(func.count()).select_from(Station), **filters)
    ).scalar_one()
    records = [row_dict(r) for r in session.execute(base.limit(limit).offset(offset))]
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
    base = _filtered(select(*STATION_SELECT), bbox=bbox, kinds=kinds, statuses=statuses,
                     amenities=amenities, area_code=area_code, sources=sources).order_by(Station.id)
    records = [row_dict(r) for r in session.execute(base)]
    if open_at is not None:
        records = _open_filter(records, open_at)
    return records_to_frame(records, id_field="station_id")


def station_versions(session: Session) -> list[tuple[int, int]]:
    """``(station id, version)`` of every station, ordered by id: what a reader holding stations needs
    to find the ones that changed (a station's version rises with every real change, migration 0004)."""
    rows = session.execute(select(Station.id, Station.version).order_by(Station.id))
    return [(int(sid), int(version)) for sid, version in rows]


def station_rows(session: Session, station_ids: Collection[int] | None = None) -> list[dict[str, Any]]:
    """The stations with these ids (every station when ``None``) as station dicts (canonical fields,
    ``lon``/``lat`` WGS-84, ``version``), ordered by id; ids that do not exist are left out."""
    stmt = select(*STATION_SELECT).order_by(Station.id)
    if station_ids is not None:
        stmt = stmt.where(Station.id.in_(sorted({int(i) for i in station_ids})))
    return [row_dict(r) for r in session.execute(stmt)]


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
    row = session.execute(select(*STATION_SELECT).where(Station.id == sid)).first()
    if row is None:
        raise NotFoundError(f"station {sid} not found", field="station_id")
    return row_dict(row)


def _check_duplicate(session: Session, rec: dict[str, Any], *, station_id: int | None = None) -> None:
    dups = near_duplicates(session, [rec], exclude_ids=[station_id])
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
        set_actor(session, actor)
        fill_townships(session, [rec])
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
                id=sid, source=source, external_id=rec.get("external_id") or f"{source}-{sid}",
                **station_values(rec),
            )
        )
        session.commit()
    except (IntegrityError, OperationalError) as exc:
        wrap_db_errors(session, exc)
        raise
    except Exception:
        session.rollback()
        raise
    return get_station(session, int(sid))


_UPDATABLE = (*STATION_FIELDS, "lon", "lat")
#: versions an ``If-Match`` accepts (``None``: no precondition)
Versions = Collection[int] | None


def check_version(station: Mapping[str, Any], if_versions: Versions) -> None:
    """Raise :class:`PreconditionFailedError` unless ``station['version']`` is one of ``if_versions``."""
    if if_versions is not None and int(station["version"]) not in set(if_versions):
        wanted = ", ".join(str(v) for v in sorted(set(if_versions))) or "none"
        raise PreconditionFailedError(
            f"station {station['station_id']} is at version {station['version']}, not {wanted}: it was "
            "changed since you read it; read it again (its ETag) and repeat the change",
            field="If-Match",
        )


def _write(session: Session, station_id: int, values: Mapping[str, Any], *, actor: str,
           if_versions: Versions) -> dict[str, Any]:
    """One ``UPDATE`` of the given columns of one station (only where its version is one of
    ``if_versions``, when given), committed; returns the row as written (RETURNING)."""
    stmt = update(Station).where(Station.id == int(station_id))
    if if_versions is not None:
        stmt = stmt.where(Station.version.in_(sorted(set(if_versions))))
    try:
        set_actor(session, actor)
        row = session.execute(stmt.values(**values).returning(*STATION_SELECT)).first()
        if row is None:  # gone, or changed since the caller's read (the version moved)
            session.rollback()
            check_version(get_station(session, station_id), if_versions)
            raise PreconditionFailedError("the station changed while this request ran", field="If-Match")
        session.commit()
    except (IntegrityError, OperationalError) as exc:
        wrap_db_errors(session, exc)
        raise
    except Exception:
        session.rollback()
        raise
    return row_dict(row)


def _merged_for_patch(old: Mapping[str, Any], given: Mapping[str, Any], crs: str) -> dict[str, Any]:
    """The stored station with the given fields over it, coordinates in ``crs`` (for validation)."""
    from geo import crs as gcrs

    merged: dict[str, Any] = {k: old.get(k) for k in STATION_FIELDS}
    if "source_crs" not in given and ("lon" in given or "lat" in given):
        merged["source_crs"] = None
    lon, lat = old["lon"], old["lat"]
    if crs != "wgs84":
        lon, lat = gcrs.convert(lon, lat, src="wgs84", dst=gcrs.resolve_crs(crs))
    merged["lon"], merged["lat"] = lon, lat
    merged.update({k: v for k, v in given.items() if k in _UPDATABLE})
    return merged


def _patch_values(given: Mapping[str, Any], rec: Mapping[str, Any]) -> dict[str, Any]:
    """The columns a PATCH sets: only the fields given (validated values), the point when moved."""
    values = {k: rec[k] for k in given if k in STATION_FIELDS}
    if "amenities" in values:
        values["amenities"] = list(values["amenities"] or [])
    if "lon" in given or "lat" in given:
        values["geom"] = point(float(rec["lon"]), float(rec["lat"]))
        values["source_crs"] = rec["source_crs"]
    return values


def update_station(
    session: Session,
    station_id: int,
    props: Mapping[str, Any],
    *,
    actor: str,
    partial: bool,
    crs: str = "wgs84",
    if_versions: Versions = None,
) -> dict[str, Any]:
    """Change a station. ``partial=True`` (PATCH) sets only the fields in ``props`` (in one
    ``UPDATE``, so concurrent changes of other fields are kept); ``partial=False`` (PUT) replaces
    them all (absent optional fields become empty). Coordinates, when given, are in ``crs``.
    ``if_versions``: apply only if the stored version is one of these (HTTP ``If-Match``). Returns
    the station as written, as :func:`get_station` does (with its new ``version``).

    Raises
    ------
    NotFoundError, InputError, ConflictError
    PreconditionFailedError
        The stored version is not one of ``if_versions``; nothing was changed.
    """
    from geo.stations import props_to_fields

    old = get_station(session, station_id)
    check_version(old, if_versions)
    given = props_to_fields(props)
    key = (given.get("source", old["source"]), str(given.get("external_id", old["external_id"])))
    if key != (old["source"], old["external_id"]):
        raise InputError("source and external_id of a station cannot be changed", field="external_id")
    merged = _merged_for_patch(old, given, crs) if partial else {
        k: v for k, v in given.items() if k in _UPDATABLE
    }
    rec = validate_station(merged, crs=crs)
    if not given.get("township_code") and not given.get("township_name") and not partial:
        fill_townships(session, [rec])
    if same_station(old, rec):
        session.rollback()
        return old
    if meters_between(old["lon"], old["lat"], rec["lon"], rec["lat"]) >= UNCHANGED_METERS or (
        not similar_names(old["name"], rec["name"])
    ):
        try:
            _check_duplicate(session, rec, station_id=old["station_id"])
        except Exception:
            session.rollback()
            raise
    values = _patch_values(given, rec) if partial else station_values(rec)
    return _write(session, old["station_id"], values, actor=actor, if_versions=if_versions)


def close_station(
    session: Session, station_id: int, *, actor: str, if_versions: Versions = None
) -> dict[str, Any]:
    """Soft-delete: set the status to ``closed`` (audit operation ``close``). Closing a closed
    station changes nothing. Returns the station.

    Raises
    ------
    NotFoundError
    PreconditionFailedError
        The stored version is not one of ``if_versions``; nothing was changed.
    """
    old = get_station(session, station_id)
    check_version(old, if_versions)
    if old["status"] == "closed":
        return old
    return _write(session, old["station_id"], {"status": "closed"}, actor=actor, if_versions=if_versions)


def delete_station(session: Session, station_id: int, *, actor: str, if_versions: Versions = None) -> None:
    """Hard-delete a station (audit operation ``delete``; its history stays)."""
    old = get_station(session, station_id)
    check_version(old, if_versions)
    stmt = delete(Station).where(Station.id == old["station_id"])
    if if_versions is not None:
        stmt = stmt.where(Station.version.in_(sorted(set(if_versions))))
    try:
        set_actor(session, actor)
        if session.execute(stmt.returning(Station.id)).first() is None:
            raise PreconditionFailedError("the station changed while this request ran", field="If-Match")
        session.commit()
    except OperationalError as exc:
        wrap_db_errors(session, exc)
        raise
    except Exception:
        session.rollback()
        raise
