"""Scenarios in PostGIS (tables ``scenarios`` and ``scenario_actions``, migration 0007).

Functions take a SQLAlchemy session and commit themselves, like :mod:`geo.db.repository`; points are
stored WGS-84 (``geometry(Point, 4326)``) with their source CRS.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from geo.errors import InputError, NameTakenError, NotFoundError
from geo.scenario.plan import Action, Scenario, actions_from_records
from geo.text import check_text

#: the largest action number the store can hold (a PostgreSQL integer)
MAX_SEQ = 2**31 - 1


def _check_name(name: str) -> str:
    clean = check_text(str(name).strip(), field="name")
    if not 1 <= len(clean) <= 200:
        raise InputError(f"a scenario name must have 1 to 200 characters, got {name!r}", field="name")
    return clean


def create_scenario(session: Session, name: str, *, base: str = "db", description: str = "") -> Scenario:
    """Store a new, empty scenario; ``base`` is ``db`` (the registry) or a station file's path."""
    name = _check_name(name)
    check_text(str(description), field="description")
    try:
        session.execute(text("INSERT INTO scenarios (name, base, description) VALUES (:n, :b, :d)"),
                        {"n": name, "b": base, "d": description})
        session.commit()
    except IntegrityError:
        session.rollback()
        raise NameTakenError(f"a scenario named {name!r} exists already", field="name") from None
    return Scenario(name=name, base=base, description=description)


def _scenario_id(session: Session, name: str) -> int:
    check_text(str(name), field="name")  # the store cannot hold it, nor be asked for it
    found = session.execute(text("SELECT id FROM scenarios WHERE name = :n"), {"n": name}).scalar()
    if found is None:
        raise NotFoundError(f"no scenario named {name!r}", field="name")
    return int(found)


def add_action(session: Session, name: str, action: Action) -> Action:
    """Append ``action`` to scenario ``name`` (numbered after its last action); returns it numbered."""
    sid = _scenario_id(session, name)
    session.execute(text("SELECT id FROM scenarios WHERE id = :s FOR UPDATE"), {"s": sid})
    seq = int(session.execute(text("SELECT coalesce(max(seq), 0) + 1 FROM scenario_actions "
                                   "WHERE scenario_id = :s"), {"s": sid}).scalar_one())
    session.execute(text(
        "INSERT INTO scenario_actions (scenario_id, seq, kind, station_id, geom, source_crs, name, "
        "station_kind, amenities, opening_hours, cost, phase, year) VALUES (:s, :seq, :kind, :station_id, "
        "CASE WHEN :lon IS NULL THEN NULL ELSE ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) END, :crs, :name, "
        ":station_kind, :amenities, :opening_hours, :cost, :phase, :year)"),
        {"s": sid, "seq": seq, "kind": action.kind, "station_id": action.station_id, "lon": action.lon,
         "lat": action.lat, "crs": action.source_crs, "name": action.name,
         "station_kind": action.station_kind,
         "amenities": None if action.amenities is None else list(action.amenities),
         "opening_hours": action.opening_hours, "cost": action.cost, "phase": action.phase,
         "year": action.year})
    session.execute(text("UPDATE scenarios SET updated_at = now() WHERE id = :s"), {"s": sid})
    session.commit()
    return Action(**{**action.__dict__, "seq": seq})


def remove_action(session: Session, name: str, seq: int) -> Action:
    """Remove action ``seq`` of scenario ``name``; the others keep their numbers (a station an ``add``
    opened keeps its id ``"<scenario>:<seq>"``). Returns the removed action.

    Raises
    ------
    geo.errors.NotFoundError
        No scenario ``name`` (``field="name"``), or it has no action ``seq`` (``field="seq"``).
    """
    sid = _scenario_id(session, name)
    if not 1 <= int(seq) <= MAX_SEQ:
        raise NotFoundError(f"scenario {name!r} has no action {seq}", field="seq")
    session.execute(text("SELECT id FROM scenarios WHERE id = :s FOR UPDATE"), {"s": sid})
    row = session.execute(text(
        "DELETE FROM scenario_actions WHERE scenario_id = :s AND seq = :seq RETURNING seq, kind, "
        "station_id, ST_X(geom) AS lon, ST_Y(geom) AS lat, source_crs, name, station_kind, amenities, "
        "opening_hours, cost, phase, year"), {"s": sid, "seq": int(seq)}).mappings().first()
    if row is None:
        session.rollback()
        raise NotFoundError(f"scenario {name!r} has no action {seq}", field="seq")
    session.execute(text("UPDATE scenarios SET updated_at = now() WHERE id = :s"), {"s": sid})
    session.commit()
    return actions_from_records([dict(row)])[0]


def get_scenario(session: Session, name: str) -> Scenario:
    """The stored scenario ``name`` with its actions in order."""
    check_text(str(name), field="name")
    row = session.execute(text("SELECT id, name, base, description FROM scenarios WHERE name = :n"),
                          {"n": name}).mappings().first()
    if row is None:
        raise NotFoundError(f"no scenario named {name!r}", field="name")
    records = session.execute(text(
        "SELECT seq, kind, station_id, ST_X(geom) AS lon, ST_Y(geom) AS lat, source_crs, name, "
        "station_kind, amenities, opening_hours, cost, phase, year FROM scenario_actions "
        "WHERE scenario_id = :s ORDER BY seq"),
        {"s": row["id"]}).mappings().all()
    return Scenario(name=row["name"], base=row["base"], description=row["description"],
                    actions=actions_from_records(dict(r) for r in records))


def list_scenarios(session: Session) -> list[dict[str, Any]]:
    """Every scenario: name, base, description, action count, total cost, last change."""
    rows = session.execute(text(
        "SELECT s.name, s.base, s.description, count(a.id) AS actions, coalesce(sum(a.cost), 0) AS cost, "
        "s.updated_at FROM scenarios s LEFT JOIN scenario_actions a ON a.scenario_id = s.id "
        "GROUP BY s.id ORDER BY s.name")).mappings().all()
    return [dict(r) for r in rows]


def delete_scenario(session: Session, name: str) -> None:
    """Delete scenario ``name`` and its actions."""
    sid = _scenario_id(session, name)
    session.execute(text("DELETE FROM scenarios WHERE id = :s"), {"s": sid})
    session.commit()
