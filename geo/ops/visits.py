"""Visit logs (一站一码): import a visit file, log one visit from a station's QR page.

A visit names a station (its external id or its public code ``S<id>``, :mod:`geo.ops.codes`), a time
(Asia/Shanghai unless the cell carries an offset), the visitor's worker group (occupation words in
``data/visit_columns.toml``) and the service used (an amenity of ``data/amenities.toml`` or a service
of ``data/visit_columns.toml``). A phone number, when given, is kept only as a keyed hash
(HMAC-SHA256 with ``YIZHAN_VISITOR_HASH_KEY``) to count repeat visitors; the number itself is never
stored, logged or exported.

Imports are all-or-nothing: every row is validated first, and one bad row rejects the file with every
row error listed (the station import's rule). Importing the same file again adds nothing: each row
carries a digest of its content (``dedupe_key``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import os
import re
import tomllib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo import catalog
from geo.catalog import DATA_DIR
from geo.errors import ConflictError, ImportRejectedError, InputError, NotFoundError
from geo.ops.codes import parse_station_code
from geo.ops.tables import read_table
from geo.stations import RowError

logger = logging.getLogger(__name__)

TIMEZONE = ZoneInfo("Asia/Shanghai")
HASH_KEY_ENV = "YIZHAN_VISITOR_HASH_KEY"
MIN_KEY_CHARS = 16
#: a visit may be logged this long before "now" at the latest (clock skew of the logging phone)
FUTURE_TOLERANCE = dt.timedelta(minutes=10)
EARLIEST = dt.datetime(2000, 1, 1, tzinfo=TIMEZONE)
FIELDS = ("station", "visited_at", "worker_group", "service", "phone")


@dataclass(frozen=True)
class VisitImportReport:
    """Outcome of :func:`import_visits` (also carried by the :class:`ImportRejectedError`)."""

    imported: int = 0
    duplicates: int = 0
    rows_total: int = 0
    errors: tuple[RowError, ...] = ()
    columns: dict[str, str] = field(default_factory=dict)
    accepted: bool = True
    dry_run: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "imported": self.imported,
            "duplicates": self.duplicates,
            "rows_total": self.rows_total,
            "accepted": self.accepted,
            "dry_run": self.dry_run,
            "errors": [e.to_dict() for e in self.errors],
            "columns": dict(self.columns),
        }


# --------------------------------------------------------------------------------------------------
# vocabulary and phone hashing


@cache
def _config() -> dict[str, Any]:
    with (DATA_DIR / "visit_columns.toml").open("rb") as fh:
        return tomllib.load(fh)


def _norm(text: Any) -> str:
    return "".join(str(text).split()).lower().replace("\ufeff", "")


@cache
def _header_table() -> dict[str, str]:
    return {_norm(h): fld for fld, names in _config()["columns"].items() for h in (fld, *names)}


@cache
def _word_table(section: str) -> dict[str, str]:
    return {_norm(w): code for code, words in _config()[section].items() for w in (code, *words)}


def resolve_worker_group(text: str) -> str:
    """Map an occupation word (骑手, 快递员, 环卫工...) or a worker-group code/label to a group code."""
    code = _word_table("occupations").get(_norm(text))
    return code if code is not None else catalog.resolve_worker_group(text, field="worker_group")


def service_codes() -> tuple[str, ...]:
    """Every service a visit may name: the amenity codes, then the extra services."""
    return (*catalog.amenity_codes(), *_config()["services"])


def resolve_service(text: str) -> str:
    """Map a service word (an amenity or an extra service of ``data/visit_columns.toml``) to its code."""
    code = _word_table("services").get(_norm(text))
    if code is not None:
        return code
    try:
        return catalog.resolve_amenity(text, field="service")
    except InputError:
        raise InputError(
            f"unknown service {text!r}; known services: {', '.join(service_codes())}", field="service"
        ) from None


def hash_key_from_env() -> bytes | None:
    """The visitor hash key from ``YIZHAN_VISITOR_HASH_KEY`` (``None`` when unset)."""
    value = os.environ.get(HASH_KEY_ENV, "")
    return value.encode() if value.strip() else None


def normalize_phone(value: Any) -> str:
    """Digits of a mainland phone number without ``+86``/``0086``; raises InputError if not a number."""
    digits = re.sub(r"[\s\-()（）.]", "", str(value))
    if isinstance(value, float) and value.is_integer():
        digits = str(int(value))
    digits = re.sub(r"^(\+86|0086)", "", digits)
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    if not re.fullmatch(r"\d{7,12}", digits):
        raise InputError("phone is not a phone number (7–12 digits after +86)", field="phone")
    return digits


def hash_phone(phone: Any, *, key: bytes) -> str:
    """Keyed hash (HMAC-SHA256, hex) of a normalised phone number: counts repeat visitors, reveals no
    number (without the key it cannot be brute-forced over the ~10⁹ mobile numbers)."""
    if len(key) < MIN_KEY_CHARS:
        raise InputError(
            f"the visitor hash key must have at least {MIN_KEY_CHARS} characters", field=HASH_KEY_ENV
        )
    return hmac.new(key, normalize_phone(phone).encode(), hashlib.sha256).hexdigest()


# --------------------------------------------------------------------------------------------------
# reading


def map_visit_headers(headers: Sequence[Any]) -> dict[int, str]:
    """Column index -> visit field for the recognised headers (the first header of a field wins)."""
    table = _header_table()
    out: dict[int, str] = {}
    for i, header in enumerate(headers):
        fld = table.get(_norm(header)) if header is not None else None
        if fld is not None and fld not in out.values():
            out[i] = fld
    return out


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value) or str(value).strip() == ""


def parse_visit_time(value: Any, *, now: dt.datetime | None = None) -> dt.datetime:
    """A visit time as an aware datetime: naive values are Asia/Shanghai, offsets are kept.

    Raises
    ------
    InputError
        Not a time, before 2000, or later than now (+10 min).
    """
    if isinstance(value, dt.datetime):
        stamp = pd.Timestamp(value)
    else:
        raw = str(value).strip()
        cleaned = raw.replace("年", "-").replace("月", "-").replace("日", " ").replace("/", "-")
        try:
            stamp = pd.Timestamp(cleaned.strip())
        except (ValueError, TypeError):
            raise InputError(f"visited_at {raw!r} is not a date and time", field="visited_at") from None
        if stamp is pd.NaT:
            raise InputError(f"visited_at {raw!r} is not a date and time", field="visited_at")
    stamp = stamp.tz_localize(TIMEZONE) if stamp.tzinfo is None else stamp
    out = stamp.to_pydatetime()
    now = now or dt.datetime.now(dt.UTC)
    if out < EARLIEST or out > now + FUTURE_TOLERANCE:
        raise InputError(f"visited_at {out.isoformat()} is before 2000 or in the future", field="visited_at")
    return out


def _validate_row(
    raw: Mapping[str, Any], *, hash_key: bytes | None, now: dt.datetime
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    errors: list[tuple[str, str]] = []
    out: dict[str, Any] = {"station": None if _blank(raw.get("station")) else str(raw["station"]).strip()}
    if out["station"] is None:
        errors.append(("station", "missing station (external id or code S<id>)"))
    steps: tuple[tuple[str, Callable[[Any], Any], bool], ...] = (
        ("visited_at", lambda v: parse_visit_time(v, now=now), True),
        ("worker_group", resolve_worker_group, False),
        ("service", resolve_service, False),
    )
    for name, parse, required in steps:
        value = raw.get(name)
        if _blank(value):
            out[name] = None
            if required:
                errors.append((name, f"missing {name}"))
            continue
        try:
            out[name] = parse(value)
        except InputError as exc:
            errors.append((name, exc.message))
    out["visitor_hash"] = None
    if not _blank(raw.get("phone")):
        if hash_key is None:
            errors.append(
                (
                    "phone",
                    f"phone numbers are only kept hashed: set {HASH_KEY_ENV} (or drop the phone column)",
                )
            )
        else:
            try:
                out["visitor_hash"] = hash_phone(raw["phone"], key=hash_key)
            except InputError as exc:
                errors.append(("phone", exc.message))
    return out, errors


def read_visit_rows(
    path: str | Path, *, hash_key: bytes | None = None, now: dt.datetime | None = None
) -> tuple[list[dict[str, Any]], list[RowError], dict[str, str], int]:
    """Read and validate a visit file (CSV UTF-8/BOM/GBK or XLSX).

    Returns
    -------
    (list, list, dict, int)
        The valid rows (``row``, ``station`` reference, ``visited_at`` aware, ``worker_group``,
        ``service``, ``visitor_hash``), every :class:`RowError`, ``header -> field`` and the number
        of non-empty rows. Stations are not looked up here (:func:`import_visits` does).
    """
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"visit file {path} not found", field="file")
    header, body = read_table(path)
    index = map_visit_headers(header)
    columns = {str(header[i]): fld for i, fld in index.items()}
    for needed in ("station", "visited_at"):
        if needed not in index.values():
            raise InputError(
                f"the visit file has no {needed} column (e.g. 站点编号, 到访时间); "
                f"headers: {', '.join(map(str, header))}",
                field=needed,
            )
    now = now or dt.datetime.now(dt.UTC)
    rows: list[dict[str, Any]] = []
    errors: list[RowError] = []
    total = 0
    for n, values in enumerate(body, start=2):
        if all(_blank(v) for v in values):
            continue
        total += 1
        raw = {fld: values[i] if i < len(values) else None for i, fld in index.items()}
        rec, errs = _validate_row(raw, hash_key=hash_key, now=now)
        errors.extend(RowError(n, f, m) for f, m in errs)
        if not errs:
            rows.append({"row": n, **rec})
    return rows, errors, columns, total


# --------------------------------------------------------------------------------------------------
# storing


def resolve_stations(session: Session, refs: Iterable[str]) -> dict[str, int | str]:
    """Map station references (external ids or codes ``S<id>``) to registry ids; a reference that
    names no station or several maps to the error message instead."""
    refs = sorted(set(refs))
    by_ext: dict[str, list[int]] = {}
    for sid, ext in session.execute(
        text("SELECT id, external_id FROM stations WHERE external_id = ANY(:e)"), {"e": refs}
    ):
        by_ext.setdefault(ext, []).append(int(sid))
    coded = {r: parse_station_code(r) for r in refs}
    ids = [i for i in coded.values() if i is not None]
    known = set(session.execute(text("SELECT id FROM stations WHERE id = ANY(:i)"), {"i": ids}).scalars())
    out: dict[str, int | str] = {}
    for ref in refs:
        cands = set(by_ext.get(ref, ()))
        if coded[ref] in known:
            cands.add(int(coded[ref]))  # type: ignore[arg-type]
        if len(cands) == 1:
            out[ref] = cands.pop()
        elif not cands:
            out[ref] = f"no station has external id or code {ref!r}"
        else:
            out[ref] = (
                f"{ref!r} names several stations ({', '.join(map(str, sorted(cands)))}); "
                "use the station code S<id>"
            )
    return out


def _dedupe_keys(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Content digests; identical rows in one file get an occurrence number, so two anonymous
    visits in the same minute both count while a second import of the file adds nothing."""
    seen: Counter[str] = Counter()
    keys = []
    for r in rows:
        parts = ("station_id", "worker_group", "service", "visitor_hash")
        base = "|".join(str(r.get(k) or "") for k in parts)
        base += "|" + r["visited_at"].astimezone(dt.UTC).isoformat()
        keys.append(hashlib.sha256(f"{base}#{seen[base]}".encode()).hexdigest()[:40])
        seen[base] += 1
    return keys


def _insert(
    session: Session, rows: Sequence[Mapping[str, Any]], *, channel: str, keys: Sequence[str | None]
) -> list[int]:
    sql = text(
        "INSERT INTO visits "
        "(station_id, visited_at, worker_group, service, visitor_hash, channel, dedupe_key) "
        "SELECT * FROM unnest(CAST(:s AS bigint[]), CAST(:t AS timestamptz[]), CAST(:g AS text[]), "
        "CAST(:v AS text[]), CAST(:h AS text[]), CAST(:c AS text[]), CAST(:k AS text[])) "
        "ON CONFLICT (dedupe_key) DO NOTHING RETURNING id"
    )
    return [
        int(i)
        for i in session.execute(
            sql,
            {
                "s": [r["station_id"] for r in rows],
                "t": [r["visited_at"] for r in rows],
                "g": [r.get("worker_group") for r in rows],
                "v": [r.get("service") for r in rows],
                "h": [r.get("visitor_hash") for r in rows],
                "c": [channel] * len(rows),
                "k": list(keys),
            },
        ).scalars()
    ]


def import_visits(
    session: Session,
    path: str | Path,
    *,
    hash_key: bytes | None = None,
    dry_run: bool = False,
    now: dt.datetime | None = None,
) -> VisitImportReport:
    """Validate a visit file against the registry and store its visits in one transaction (commits).

    Parameters
    ----------
    path
        CSV or XLSX with station (external id or code ``S<id>``), time, worker group and service
        columns, Chinese headers such as 站点编号/到访时间/职业/服务项目 (``data/visit_columns.toml``).
    hash_key
        Key of the phone hash; required when the file has phone numbers.
    dry_run
        Validate and count, store nothing.

    Raises
    ------
    ImportRejectedError
        When any row is invalid; nothing is stored and ``report`` lists every row error.
    """
    rows, errors, columns, total = read_visit_rows(path, hash_key=hash_key, now=now)
    resolved = resolve_stations(session, [r["station"] for r in rows])
    for r in rows:
        target = resolved[r["station"]]
        if isinstance(target, str):
            errors.append(RowError(r["row"], "station", target))
        else:
            r["station_id"] = target
    errors.sort(key=lambda e: (e.row, e.field))
    base: dict[str, Any] = {"rows_total": total, "columns": columns, "dry_run": dry_run}
    if errors:
        session.rollback()
        bad = len({e.row for e in errors})
        raise ImportRejectedError(
            f"visit file rejected: {len(errors)} problem(s) in {bad} row(s); nothing was imported",
            report=VisitImportReport(errors=tuple(errors), accepted=False, **base),
        )
    try:
        inserted = _insert(session, rows, channel="import", keys=_dedupe_keys(rows)) if rows else []
        if dry_run:
            session.rollback()
        else:
            session.commit()
    except Exception:
        session.rollback()
        raise
    report = VisitImportReport(imported=len(inserted), duplicates=len(rows) - len(inserted), **base)
    logger.info(
        "visit import %s: %d new, %d already stored", Path(path).name, report.imported, report.duplicates
    )
    return report


def record_visit(
    session: Session,
    station_id: int,
    *,
    worker_group: str | None = None,
    service: str | None = None,
    at: dt.datetime | None = None,
) -> dict[str, Any]:
    """Log one visit to an open station now (the "I am here" button of its QR page); commits.

    Raises
    ------
    NotFoundError
        No such station.
    ConflictError
        The station is not open (planned, suspended or closed).
    InputError
        Unknown worker group or service.
    """
    group = resolve_worker_group(worker_group) if worker_group else None
    svc = resolve_service(service) if service else None
    status = session.execute(
        text("SELECT status FROM stations WHERE id = :i"), {"i": int(station_id)}
    ).scalar()
    if status is None:
        raise NotFoundError(f"station {station_id} not found", field="station_id")
    if status != "open":
        raise ConflictError(f"station {station_id} is {status}, not open", field="station_id")
    when = at or dt.datetime.now(dt.UTC)
    row = {"station_id": int(station_id), "visited_at": when, "worker_group": group, "service": svc}
    try:
        (visit_id,) = _insert(session, [row], channel="qr", keys=[None])
        session.commit()
    except Exception:
        session.rollback()
        raise
    return {"visit_id": visit_id, **row, "visited_at": when.astimezone(TIMEZONE).isoformat()}
