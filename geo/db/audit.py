"""The audit trail (``station_changes``) and the registry version (``registry_state``), both kept
by database triggers on ``stations``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from geo.db.models import RegistryState, Station, StationChange
from geo.db.stations import get_station


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
