"""Importing a station file or frame into ``stations``: an upsert on ``(source, external_id)``,
all or nothing, with duplicates checked against the file and the store."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from geo.db.areas import fill_townships
from geo.db.common import set_actor, wrap_db_errors
from geo.db.models import Station
from geo.db.stations import STATION_SELECT, near_duplicates, row_dict, same_station
from geo.errors import ImportRejectedError, InputError
from geo.stations import DUPLICATE_METERS, STATION_FIELDS, ImportReport, RowError, report_from_frame
from geo.text import check_text

logger = logging.getLogger(__name__)


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


_BULK_TYPES = {
    "source": "text", "external_id": "text", "name": "text", "kind": "text", "status": "text",
    "address": "text", "county_name": "text", "county_code": "text", "township_name": "text",
    "township_code": "text", "community_name": "text", "community_code": "text", "amenities": "text[]",
    "opening_hours": "text", "host_org": "text", "phone": "text", "seats": "int",
    "floor_area_m2": "float8", "source_crs": "text",
}
_BULK_CHUNK = 1000


def _bulk_json(recs: Sequence[dict[str, Any]], keys: Sequence[str]) -> str:

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
    report = _report_of(frame_or_report, source=source, crs=crs)
    records = _records_of(report, source)
    errors = list(report.errors)
    summary_base: dict[str, Any] = {
        "columns": dict(report.columns), "rows_total": report.rows_total, "dry_run": dry_run,
    }
    try:
        fill_townships(session, records)
        keys = [(r["source"], str(r["external_id"])) for r in records]
        existing = _stored_by_key(session, keys)
        dup_rows = _store_duplicates(session, [r for r, k in zip(records, keys, strict=True)
                                               if k not in existing], errors)
        errors.sort(key=lambda e: (e.row, e.field))
        rejected_rows = {e.row for e in errors}
        if errors and not skip_invalid:
            session.rollback()
            raise ImportRejectedError(
                f"station file rejected: {len(errors)} problem(s) in {len(rejected_rows)} row(s); "
                "nothing was imported (to import the valid rows: --skip-invalid, or skip_invalid=true "
                "over HTTP)",
                report=ImportSummary(rejected=len(rejected_rows), errors=tuple(errors), accepted=False,
                                     **summary_base),
            )
        plan = _plan(records, keys, existing, skip_rows=dup_rows)
        ids = list(plan.kept_ids)
        if dry_run:
            session.rollback()
        else:
            set_actor(session, actor)
            ids.extend(_bulk_insert(session, plan.to_insert))
            _bulk_update(session, plan.to_update)
            session.commit()
    except (IntegrityError, OperationalError) as exc:
        wrap_db_errors(session, exc)
        raise
    summary = ImportSummary(
        imported=len(plan.to_insert), updated=len(plan.to_update), unchanged=plan.unchanged,
        rejected=len(rejected_rows), errors=tuple(errors), accepted=True, station_ids=tuple(ids),
        **summary_base,
    )
    logger.info("import %s: %s", source, summary.to_dict() | {"errors": len(errors)})
    return summary


def _report_of(frame_or_report: ImportReport | pd.DataFrame, *, source: str, crs: str) -> ImportReport:
    """The validated rows: a file's report as it is, a frame validated like a file."""
    if not source or not str(source).strip():
        raise InputError("source is required", field="source")
    check_text(str(source), field="source")
    if isinstance(frame_or_report, ImportReport):
        return frame_or_report
    if isinstance(frame_or_report, pd.DataFrame):
        return report_from_frame(frame_or_report, crs=crs, source=source)
    raise InputError("import_stations needs an ImportReport or a (Geo)DataFrame", field="file")


def _records_of(report: ImportReport, source: str) -> list[dict[str, Any]]:
    """The report's valid rows as store records (``lon``/``lat``, ``source``, ``row``, no NaN)."""
    frame = report.frame
    xs = frame.geometry.x.to_numpy(dtype=float) if len(frame) else []
    ys = frame.geometry.y.to_numpy(dtype=float) if len(frame) else []
    records = pd.DataFrame(frame.drop(columns=[frame.geometry.name])).to_dict("records")
    for pos, rec in enumerate(records):
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
    return records


def _stored_by_key(
    session: Session, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], dict[str, Any]]:
    """The stored stations with these ``(source, external_id)`` keys."""
    found_ids = session.execute(
        text("SELECT s.id FROM stations s JOIN unnest(CAST(:src AS text[]), CAST(:ext AS text[])) "
             "AS k(source, external_id) ON s.source = k.source AND s.external_id = k.external_id"),
        {"src": [k[0] for k in keys], "ext": [k[1] for k in keys]},
    ).scalars().all()
    existing: dict[tuple[str, str], dict[str, Any]] = {}
    for i in range(0, len(found_ids), 5000):
        for row in session.execute(select(*STATION_SELECT).where(Station.id.in_(found_ids[i:i + 5000]))):
            d = row_dict(row)
            existing[(d["source"], d["external_id"])] = d
    return existing


def _store_duplicates(
    session: Session, new_recs: Sequence[dict[str, Any]], errors: list[RowError]
) -> set[int]:
    """Rows of new stations that duplicate a stored one (similar name within 20 m): each gets a row
    error appended to ``errors``; returns their row numbers."""
    dup_rows = set()
    for i, other in near_duplicates(session, new_recs).items():
        rec = new_recs[i]
        dup_rows.add(rec["row"])
        errors.append(RowError(
            rec["row"], "name",
            f"duplicate of existing station {other['station_id']} ({other['name']!r}, "
            f"{other['source']}/{other['external_id']}) within {DUPLICATE_METERS:.0f} m",
        ))
    return dup_rows


@dataclass(frozen=True)
class _Plan:
    """What an import writes: new rows, changed stations, and the ids of the unchanged and changed."""

    to_insert: list[dict[str, Any]]
    to_update: list[dict[str, Any]]
    kept_ids: list[int]
    unchanged: int


def _plan(records: Sequence[dict[str, Any]], keys: Sequence[tuple[str, str]],
          existing: dict[tuple[str, str], dict[str, Any]], *, skip_rows: set[int]) -> _Plan:
    to_insert: list[dict[str, Any]] = []
    to_update: list[dict[str, Any]] = []
    kept_ids: list[int] = []
    unchanged = 0
    for rec, rkey in zip(records, keys, strict=True):
        if rec["row"] in skip_rows:
            continue
        old = existing.get(rkey)
        if old is None:
            to_insert.append({**rec, "source": rkey[0], "external_id": rkey[1]})
            continue
        kept_ids.append(int(old["station_id"]))
        if same_station(old, rec):
            unchanged += 1
        else:
            to_update.append({**rec, "id": int(old["station_id"])})
    return _Plan(to_insert, to_update, kept_ids, unchanged)
