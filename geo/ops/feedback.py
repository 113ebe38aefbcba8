"""Worker feedback: reports about a station (closed, broken, full, moved, other), moderated before
they have any effect.

A report starts ``pending``. A moderator accepts or rejects it; an accepted ``closed`` report
suspends the station (status ``suspended``: it leaves the finder and ``/nearest``), audited in
``station_changes`` with the actor ``"<moderator> · feedback <id>"``. Accepted reports show in the
finder until someone resolves them (optionally reopening a suspended station).

The text is stored as plain text (Unicode NFC, control characters removed, at most
:data:`MAX_TEXT` characters) and is escaped wherever it is shown (HTML pages through Jinja
autoescape, the finder through ``textContent``); it is never interpreted as markup.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable
from typing import Any

from sqlalchemy import text as sql_text
from sqlalchemy.orm import Session

from geo.crs import in_mainland_china
from geo.db.ops_models import FEEDBACK_KINDS, FEEDBACK_STATES
from geo.errors import ConflictError, InputError, NotFoundError

MAX_TEXT = 500
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")

_COLUMNS = """id, station_id, kind, text, state, created_at, moderated_at, moderator, resolved_at,
              ST_X(geom) AS lon, ST_Y(geom) AS lat"""


def clean_text(value: str | None) -> str:
    """Feedback text as stored: NFC, no control or bidi-override characters, trimmed, ≤ 500 chars."""
    if value is None:
        return ""
    out = _CONTROL.sub("", unicodedata.normalize("NFC", str(value))).strip()
    if len(out) > MAX_TEXT:
        raise InputError(f"text is longer than {MAX_TEXT} characters", field="text")
    return out


def _row(session: Session, feedback_id: int, *, lock: bool = False) -> dict[str, Any]:
    sql = f"SELECT {_COLUMNS} FROM feedback WHERE id = :i" + (" FOR UPDATE" if lock else "")
    row = session.execute(sql_text(sql), {"i": int(feedback_id)}).first()
    if row is None:
        raise NotFoundError(f"feedback {feedback_id} not found", field="feedback_id")
    return dict(row._mapping)


def submit_feedback(
    session: Session,
    station_id: int,
    *,
    kind: str,
    text: str | None = None,
    lon: float | None = None,
    lat: float | None = None,
    client_hash: str | None = None,
) -> dict[str, Any]:
    """Store a pending report about a station; commits. ``lon``/``lat`` (optional) are WGS-84.

    Raises
    ------
    NotFoundError
        No such station.
    InputError
        Unknown kind, text too long, or a location outside mainland China / only half given.
    """
    if kind not in FEEDBACK_KINDS:
        raise InputError(f"unknown kind {kind!r}; use one of {', '.join(FEEDBACK_KINDS)}", field="kind")
    body = clean_text(text)
    if (lon is None) != (lat is None):
        raise InputError("give both lon and lat, or neither", field="lon" if lon is None else "lat")
    if lon is not None and lat is not None and not bool(in_mainland_china(lon, lat)):
        raise InputError(f"location ({lon}, {lat}) is outside mainland China", field="lon")
    exists = session.execute(sql_text("SELECT 1 FROM stations WHERE id = :i"), {"i": int(station_id)}).first()
    if exists is None:
        raise NotFoundError(f"station {station_id} not found", field="station_id")
    sql = sql_text("""
        INSERT INTO feedback (station_id, kind, text, geom, client_hash)
        VALUES (:s, :k, :t, CASE WHEN CAST(:x AS float8) IS NULL THEN NULL
                                 ELSE ST_SetSRID(ST_MakePoint(:x, :y), 4326) END, :c)
        RETURNING id
    """)
    try:
        fid = session.execute(
            sql, {"s": int(station_id), "k": kind, "t": body, "x": lon, "y": lat, "c": client_hash}
        ).scalar_one()
        session.commit()
    except Exception:
        session.rollback()
        raise
    return _row(session, int(fid))


def list_feedback(
    session: Session,
    *,
    states: Iterable[str] = ("pending",),
    station_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Reports in the given states, oldest first (the moderation queue by default)."""
    states = list(states) or list(FEEDBACK_STATES)
    for s in states:
        if s not in FEEDBACK_STATES:
            raise InputError(f"unknown state {s!r}; use {', '.join(FEEDBACK_STATES)}", field="state")
    sql = f"""SELECT {_COLUMNS} FROM feedback WHERE state = ANY(:st)
              AND (CAST(:sid AS bigint) IS NULL OR station_id = :sid)
              ORDER BY created_at, id LIMIT :lim OFFSET :off"""
    rows = session.execute(sql_text(sql), {"st": states, "sid": station_id, "lim": limit, "off": offset})
    return [dict(r._mapping) for r in rows]


def _set_station_status(session: Session, station_id: int, status: str, *, actor: str) -> bool:
    """Change a station's status through the audited path; returns whether it changed."""
    session.execute(sql_text("SELECT set_config('yizhan.actor', :a, true)"), {"a": actor})
    done = session.execute(
        sql_text("UPDATE stations SET status = :st WHERE id = :i AND status <> :st RETURNING id"),
        {"st": status, "i": int(station_id)},
    ).first()
    return done is not None


def moderate_feedback(session: Session, feedback_id: int, *, accept: bool, actor: str) -> dict[str, Any]:
    """Accept or reject a pending report; commits. Accepting a ``closed`` report of an open station
    suspends it (audited with the report's id). Returns the report and ``station_status_changed``.

    Raises
    ------
    NotFoundError, ConflictError
        Unknown report, or one that is not pending.
    """
    if not actor or not actor.strip():
        raise InputError("actor is required", field="actor")
    try:
        row = _row(session, feedback_id, lock=True)
        if row["state"] != "pending":
            raise ConflictError(f"feedback {feedback_id} is {row['state']}, not pending", field="feedback_id")
        changed = False
        if accept and row["kind"] == "closed":
            status = session.execute(
                sql_text("SELECT status FROM stations WHERE id = :i"), {"i": row["station_id"]}
            ).scalar()
            if status == "open":
                changed = _set_station_status(
                    session, row["station_id"], "suspended", actor=f"{actor} · feedback {row['id']}"
                )
        session.execute(
            sql_text("UPDATE feedback SET state = :s, moderated_at = now(), moderator = :a WHERE id = :i"),
            {"s": "accepted" if accept else "rejected", "a": actor, "i": row["id"]},
        )
        session.commit()
    except Exception:
        session.rollback()
        raise
    return {**_row(session, feedback_id), "station_status_changed": changed}


def resolve_feedback(
    session: Session, feedback_id: int, *, actor: str, reopen: bool = False
) -> dict[str, Any]:
    """Mark an accepted report resolved (it leaves the finder); ``reopen`` sets a suspended station
    back to open (audited with the report's id). Commits."""
    try:
        row = _row(session, feedback_id, lock=True)
        if row["state"] != "accepted":
            raise ConflictError(
                f"feedback {feedback_id} is {row['state']}, not accepted", field="feedback_id"
            )
        changed = False
        if reopen:
            status = session.execute(
                sql_text("SELECT status FROM stations WHERE id = :i"), {"i": row["station_id"]}
            ).scalar()
            if status == "suspended":
                changed = _set_station_status(
                    session, row["station_id"], "open", actor=f"{actor} · feedback {row['id']} resolved"
                )
        session.execute(
            sql_text("UPDATE feedback SET state = 'resolved', resolved_at = now() WHERE id = :i"),
            {"i": row["id"]},
        )
        session.commit()
    except Exception:
        session.rollback()
        raise
    return {**_row(session, feedback_id), "station_status_changed": changed}


def active_reports(session: Session, *, station_ids: Iterable[int] | None = None) -> list[dict[str, Any]]:
    """Accepted, unresolved reports (what the finder and the station page show), newest first."""
    ids = None if station_ids is None else [int(i) for i in station_ids]
    sql = f"""SELECT {_COLUMNS} FROM feedback WHERE state = 'accepted'
              AND (CAST(:ids AS bigint[]) IS NULL OR station_id = ANY(:ids))
              ORDER BY coalesce(moderated_at, created_at) DESC, id DESC"""
    return [dict(r._mapping) for r in session.execute(sql_text(sql), {"ids": ids})]


def report_age(at: dt.datetime, *, now: dt.datetime | None = None, lang: str = "zh") -> str:
    """ "2 小时前" / "2 hours ago" for a report's time."""
    seconds = max(0.0, ((now or dt.datetime.now(dt.UTC)) - at).total_seconds())
    for unit, size, zh in (("day", 86400, "天"), ("hour", 3600, "小时"), ("minute", 60, "分钟")):
        if seconds >= size:
            n = int(seconds // size)
            return f"{n} {zh}前" if lang == "zh" else f"{n} {unit}{'s' if n > 1 else ''} ago"
    return "刚刚" if lang == "zh" else "just now"
