"""Organisations, keys and targets in the PostGIS store. Every function takes a Session first;
functions that write commit (all or nothing) and roll back on failure. Geometries are WGS-84.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from shapely import wkb
from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from geo.db.models import ApiKey, Org, Target
from geo.errors import ConflictError, ImportRejectedError, InputError, NotFoundError
from geo.orgs.authz import OrgScope, StationFacts
from geo.orgs.keys import StoredKey, check_name, check_role, hash_token, new_token
from geo.orgs.tree import OrgFile, topological

logger = logging.getLogger(__name__)

_SUBTREE = text(
    """
    WITH RECURSIVE t(code) AS (
      SELECT code FROM orgs WHERE code = :code
      UNION SELECT o.code FROM orgs o JOIN t ON o.parent_code = t.code
    ) SELECT code FROM t
    """
)
_ANCESTRY = text(
    """
    WITH RECURSIVE a(code, parent_code, has_area, depth) AS (
      SELECT code, parent_code, area IS NOT NULL, 0 FROM orgs WHERE code = :code
      UNION ALL SELECT o.code, o.parent_code, o.area IS NOT NULL, a.depth + 1
      FROM orgs o JOIN a ON o.code = a.parent_code WHERE a.depth < 16
    ) SELECT code FROM a WHERE has_area ORDER BY depth LIMIT 1
    """
)


def set_audit_org(session: Session, org_code: str | None) -> None:
    """The acting organisation of the audit rows this transaction writes (``None``: national)."""
    session.execute(text("SELECT set_config('yizhan.org', :o, true)"), {"o": org_code or ""})


def known_levels(session: Session) -> dict[str, str]:
    """Every stored organisation: ``code -> level``."""
    return {c: lv for c, lv in session.execute(select(Org.code, Org.level))}


def import_orgs(session: Session, org_file: OrgFile, *, source: str) -> dict[str, int]:
    """Insert or update the organisations of ``org_file`` (all or nothing; commits).

    An organisation without a polygon in the file gets the stored area (``yizhan areas import``)
    whose code is its ``area_code`` or its own code, if there is one.

    Raises
    ------
    ImportRejectedError
        When any row has an error (``report`` is ``org_file``); nothing is written.
    """
    if org_file.errors:
        rows = sorted({e.row for e in org_file.errors})
        raise ImportRejectedError(
            f"organisation file rejected: {len(org_file.errors)} problem(s) in {len(rows)} row(s); "
            "nothing was imported",
            report=org_file,
        )
    upsert = text(
        """
        INSERT INTO orgs (code, name, level, parent_code, area, area_source)
        VALUES (:code, :name, :level, :parent, ST_Multi(ST_GeomFromText(:wkt, 4326)), :src)
        ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, level = EXCLUDED.level,
          parent_code = EXCLUDED.parent_code, area = coalesce(EXCLUDED.area, orgs.area),
          area_source = coalesce(EXCLUDED.area_source, orgs.area_source), updated_at = now()
        RETURNING (xmax = 0)
        """
    )
    from_areas = text(
        """
        UPDATE orgs o SET area = a.geom, area_source = 'areas:' || a.code
        FROM (SELECT DISTINCT ON (code) code, geom FROM areas ORDER BY code, ST_Area(geom)) a
        WHERE o.code = :code AND a.code = coalesce(:area_code, :code) AND o.area IS NULL
        """
    )
    inserted = with_area = 0
    try:
        for r in topological(org_file.rows):
            wkt = r.area.wkt if r.area is not None else None
            inserted += int(
                bool(
                    session.execute(
                        upsert,
                        {
                            "code": r.code,
                            "name": r.name,
                            "level": r.level,
                            "parent": r.parent_code,
                            "wkt": wkt,
                            "src": source if wkt else None,
                        },
                    ).scalar_one()
                )
            )
            session.execute(from_areas, {"code": r.code, "area_code": r.area_code})
        codes = [r.code for r in org_file.rows]
        with_area = int(
            session.execute(
                text("SELECT count(*) FROM orgs WHERE code = ANY(:c) AND area IS NOT NULL"), {"c": codes}
            ).scalar_one()
        )
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise ConflictError(f"the organisations conflict with stored data: {exc.orig}") from exc
    except Exception:
        session.rollback()
        raise
    logger.info("imported %d organisations from %s (%d new)", len(org_file.rows), source, inserted)
    return {"inserted": inserted, "updated": len(org_file.rows) - inserted, "with_area": with_area}


def _org_dict(row: Any) -> dict[str, Any]:
    return {
        "code": row.code,
        "name": row.name,
        "level": row.level,
        "parent_code": row.parent_code,
        "has_area": bool(row.has_area),
        "area_source": row.area_source,
        "children": int(row.children),
    }


def list_orgs(
    session: Session, *, parent: str | None = None, level: str | None = None, under: str | None = None
) -> list[dict[str, Any]]:
    """Organisations (no polygons), ordered by level and code; optionally only the children of
    ``parent``, one ``level``, or the subtree of ``under``."""
    sql = """
        SELECT o.code, o.name, o.level, o.parent_code, o.area IS NOT NULL AS has_area, o.area_source,
               (SELECT count(*) FROM orgs c WHERE c.parent_code = o.code) AS children
        FROM orgs o WHERE (CAST(:parent AS text) IS NULL OR o.parent_code = :parent)
          AND (CAST(:level AS text) IS NULL OR o.level = :level)
          AND (CAST(:codes AS text[]) IS NULL OR o.code = ANY(CAST(:codes AS text[])))
        ORDER BY array_position(
          ARRAY['national','province','prefecture','county','township','community','host'], o.level), o.code
    """
    codes = sorted(subtree(session, under)) if under is not None else None
    rows = session.execute(text(sql), {"parent": parent, "level": level, "codes": codes}).all()
    return [_org_dict(r) for r in rows]


def get_org(session: Session, code: str) -> dict[str, Any]:
    """One organisation with its parent chain, children, key count and area (GeoJSON, or ``None``)."""
    import json

    row = session.execute(
        text(
            """
        SELECT o.code, o.name, o.level, o.parent_code, o.area IS NOT NULL AS has_area, o.area_source,
               (SELECT count(*) FROM orgs c WHERE c.parent_code = o.code) AS children,
               ST_AsGeoJSON(o.area, 6) AS area_json,
               (SELECT count(*) FROM api_keys k WHERE k.org_code = o.code AND k.revoked_at IS NULL) AS keys
        FROM orgs o WHERE o.code = :code
        """
        ),
        {"code": str(code)},
    ).first()
    if row is None:
        raise NotFoundError(f"organisation {code!r} not found", field="code")
    out = _org_dict(row)
    out["active_keys"] = int(row.keys)
    out["area"] = json.loads(row.area_json) if row.area_json else None
    out["ancestors"] = _ancestors(session, str(code))
    out["child_orgs"] = list_orgs(session, parent=str(code))
    return out


def _ancestors(session: Session, code: str) -> list[dict[str, str]]:
    rows = session.execute(
        text(
            """
        WITH RECURSIVE a(code, name, level, parent_code, depth) AS (
          SELECT code, name, level, parent_code, 0 FROM orgs WHERE code = :code
          UNION ALL SELECT o.code, o.name, o.level, o.parent_code, a.depth + 1
          FROM orgs o JOIN a ON o.code = a.parent_code WHERE a.depth < 16
        ) SELECT code, name, level FROM a WHERE depth > 0 ORDER BY depth DESC
        """
        ),
        {"code": code},
    ).all()
    return [{"code": c, "name": n, "level": lv} for c, n, lv in rows]


def subtree(session: Session, code: str) -> frozenset[str]:
    """``code`` and the codes of every organisation below it."""
    return frozenset(session.execute(_SUBTREE, {"code": str(code)}).scalars())


def org_scope(session: Session, code: str) -> OrgScope | None:
    """What the authorisation rules need of organisation ``code`` (``None`` when it does not exist)."""
    row = session.execute(select(Org.code, Org.name, Org.level).where(Org.code == str(code))).first()
    if row is None:
        return None
    # a host places stations in the area of the nearest organisation above it with a polygon;
    # every other organisation only in its own
    area_of = session.execute(_ANCESTRY, {"code": str(code)}).scalar()
    if row.level != "host" and area_of != row.code:
        area_of = None
    area = None
    if area_of is not None:
        blob = session.execute(select(Org.area.ST_AsBinary()).where(Org.code == area_of)).scalar_one()
        area = wkb.loads(bytes(blob))
    return OrgScope(row.code, row.name, row.level, subtree(session, row.code), area, area_of)


# -- stations as the rules see them ----------------------------------------------------------------

_FACTS = """
    SELECT s.id, ST_X(s.geom), ST_Y(s.geom),
           (SELECT c.org_code FROM station_changes c WHERE c.station_id = s.id AND c.operation = 'insert'
            ORDER BY c.id LIMIT 1)
    FROM stations s
"""


def station_facts(session: Session, station_id: int) -> StationFacts | None:
    """Point and owner (the organisation whose key created it) of one station, ``None`` if missing."""
    row = session.execute(text(_FACTS + " WHERE s.id = :i"), {"i": int(station_id)}).first()
    return None if row is None else StationFacts(int(row[0]), float(row[1]), float(row[2]), row[3])


def station_facts_by_key(
    session: Session, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], StationFacts]:
    """:func:`station_facts` of the stored stations among ``(source, external_id)`` keys."""
    if not keys:
        return {}
    rows = session.execute(
        text(
            _FACTS.replace("SELECT s.id", "SELECT s.source, s.external_id, s.id")
            + " JOIN unnest(CAST(:src AS text[]), CAST(:ext AS text[])) AS k(source, external_id)"
            " ON s.source = k.source AND s.external_id = k.external_id"
        ),
        {"src": [k[0] for k in keys], "ext": [k[1] for k in keys]},
    ).all()
    return {(r[0], r[1]): StationFacts(int(r[2]), float(r[3]), float(r[4]), r[5]) for r in rows}


# -- keys ------------------------------------------------------------------------------------------


def create_key(
    session: Session,
    *,
    name: str,
    org_code: str,
    role: str,
    expires_at: datetime | None = None,
    created_by: str | None = None,
) -> dict[str, Any]:
    """Create a key; return its description with ``secret`` (the only time it is available)."""
    name, role = check_name(name), check_role(role)
    if expires_at is not None and expires_at <= datetime.now(UTC):
        raise InputError("the expiry date is in the past", field="expires")
    if session.execute(select(Org.code).where(Org.code == org_code)).first() is None:
        raise NotFoundError(f"organisation {org_code!r} not found", field="org")
    if session.execute(select(ApiKey.id).where(ApiKey.name == name)).first() is not None:
        raise ConflictError(f"a key named {name!r} exists already", field="name")
    key_id, token = new_token()
    try:
        session.add(
            ApiKey(
                name=name,
                key_id=key_id,
                org_code=org_code,
                role=role,
                secret_hash=hash_token(token),
                expires_at=expires_at,
                created_by=created_by,
            )
        )
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise ConflictError(f"a key named {name!r} exists already", field="name") from exc
    logger.info("created key %r (%s) of organisation %s", name, role, org_code)
    return {**describe_key(session, name), "secret": token}


def _key_dict(k: ApiKey) -> dict[str, Any]:
    now = datetime.now(UTC)
    state = "revoked" if k.revoked_at else "expired" if k.expires_at and k.expires_at <= now else "active"
    return {
        "name": k.name,
        "key_id": k.key_id,
        "org": k.org_code,
        "role": k.role,
        "state": state,
        "created_at": k.created_at,
        "created_by": k.created_by,
        "expires_at": k.expires_at,
        "revoked_at": k.revoked_at,
    }


def describe_key(session: Session, name: str) -> dict[str, Any]:
    key = session.execute(select(ApiKey).where(ApiKey.name == name)).scalar()
    if key is None:
        raise NotFoundError(f"no key named {name!r}", field="name")
    return _key_dict(key)


def list_keys(session: Session, *, orgs: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Keys (never secrets or hashes), of the organisations ``orgs`` if given, by organisation and name."""
    stmt = select(ApiKey).order_by(ApiKey.org_code, ApiKey.name)
    if orgs is not None:
        stmt = stmt.where(ApiKey.org_code.in_(list(orgs)))
    return [_key_dict(k) for k in session.execute(stmt).scalars()]


def revoke_key(session: Session, name: str) -> dict[str, Any]:
    """Revoke a key (running servers refuse it within their key cache delay); commits."""
    found = describe_key(session, name)
    if found["revoked_at"] is None:
        session.execute(update(ApiKey).where(ApiKey.name == name).values(revoked_at=datetime.now(UTC)))
        session.commit()
        logger.info("revoked key %r of organisation %s", name, found["org"])
    return describe_key(session, name)


def stored_key(session: Session, key_id: str) -> StoredKey | None:
    """The key row with this public id (for :class:`geo.orgs.keys.KeyVerifier`)."""
    k = session.execute(select(ApiKey).where(ApiKey.key_id == key_id)).scalar()
    if k is None:
        return None
    return StoredKey(k.name, k.key_id, k.org_code, k.role, k.secret_hash, k.expires_at, k.revoked_at)


# -- targets -----------------------------------------------------------------------------------------


def set_target(session: Session, org_code: str, *, year: int, stations: int) -> dict[str, Any]:
    """Set the station target of an organisation for a year (upsert; commits)."""
    if session.execute(select(Org.code).where(Org.code == org_code)).first() is None:
        raise NotFoundError(f"organisation {org_code!r} not found", field="org")
    if not 2000 <= int(year) <= 2100:
        raise InputError(f"year {year} is outside 2000-2100", field="year")
    if int(stations) < 0:
        raise InputError("a target cannot be negative", field="stations")
    session.execute(
        text(
            "INSERT INTO targets (org_code, year, stations_target) VALUES (:o, :y, :n) "
            "ON CONFLICT (org_code, year) DO UPDATE SET stations_target = EXCLUDED.stations_target"
        ),
        {"o": org_code, "y": int(year), "n": int(stations)},
    )
    session.commit()
    return {"org": org_code, "year": int(year), "stations_target": int(stations)}


def targets_of(session: Session, codes: Iterable[str]) -> dict[str, dict[int, int]]:
    out: dict[str, dict[int, int]] = {}
    stmt = select(Target.org_code, Target.year, Target.stations_target).where(
        Target.org_code.in_(list(codes))
    )
    for code, year, n in session.execute(stmt):
        out.setdefault(code, {})[int(year)] = int(n)
    return out


def station_counts(session: Session, codes: Sequence[str]) -> list[tuple[str, str, str, int, int]]:
    """Stations of each organisation of ``codes`` (inside its own area polygon, or owned by it or an
    organisation below it; a host: only owned), as ``(org, status, kind, year created, count)``."""
    sql = text(
        """
        WITH RECURSIVE sub(root, code) AS (
          SELECT code, code FROM orgs WHERE code = ANY(:codes)
          UNION SELECT sub.root, o.code FROM orgs o JOIN sub ON o.parent_code = sub.code
        ), owner AS (
          SELECT DISTINCT ON (station_id) station_id, org_code FROM station_changes
          WHERE operation = 'insert' ORDER BY station_id, id
        ), hits AS (
          SELECT r.code AS root, s.id FROM orgs r JOIN stations s ON ST_Covers(r.area, s.geom)
          WHERE r.code = ANY(:codes) AND r.level <> 'host'
          UNION
          SELECT sub.root, ow.station_id FROM sub JOIN owner ow ON ow.org_code = sub.code
        )
        SELECT h.root, s.status, s.kind, extract(year FROM s.created_at)::int AS year, count(*)
        FROM hits h JOIN stations s ON s.id = h.id GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        """
    )
    rows = session.execute(sql, {"codes": list(codes)}).all()
    return [(str(r[0]), str(r[1]), str(r[2]), int(r[3]), int(r[4])) for r in rows]
