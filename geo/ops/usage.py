"""Station use from the visit log: visits per day and week, by worker group and service, repeat
visitors, and the low-use flag.

Periods are whole days in Asia/Shanghai, both ends included; the default is the 28 days up to
yesterday. ``visits_per_day`` = visits ÷ days in the period (days without visits count).

Low-use rule (``[usage]`` in ``data/standards.toml``): a station is *low use* when its visits per day
are below ``low_use_fraction`` (default 0.25) × the median visits per day of the reported stations
of its county (``county_code``, else ``county_name``). An area with fewer than
``min_area_stations`` (default 3) reported stations is compared with the median of all reported
stations instead. A median of 0 flags nobody. Reported stations: those open or suspended, plus any
other with visits in the period.

Repeat-visitor share: of the distinct visitors identified by a phone hash, the share who visited the
station at least twice in the period (``None`` when no visit carried a phone).
"""

from __future__ import annotations

import datetime as dt
import statistics
import tomllib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from functools import cache
from typing import Any

import pandas as pd
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.catalog import DATA_DIR
from geo.errors import InputError, NotFoundError
from geo.ops.codes import station_code
from geo.ops.visits import TIMEZONE

DEFAULT_DAYS = 28
MAX_DAYS = 3660


@cache
def usage_rule() -> dict[str, Any]:
    """The ``[usage]`` table of ``data/standards.toml`` (low-use rule)."""
    with (DATA_DIR / "standards.toml").open("rb") as fh:
        rule = dict(tomllib.load(fh).get("usage", {}))
    rule.setdefault("low_use_fraction", 0.25)
    rule.setdefault("min_area_stations", 3)
    return rule


@dataclass(frozen=True)
class StationUsage:
    """Use of one station over the report's period."""

    station_id: int
    code: str
    name: str
    status: str
    area: str
    visits: int
    visits_per_day: float
    per_day: tuple[tuple[str, int], ...]
    per_week: tuple[tuple[str, int, int], ...]
    by_worker_group: dict[str, int]
    by_service: dict[str, int]
    visitors: int
    repeat_visitors: int
    repeat_share: float | None
    area_median_per_day: float
    #: ``None`` when there is no basis (median 0, or the station is not a reported one)
    low_use: bool | None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["per_day"] = [{"date": d, "visits": n} for d, n in self.per_day]
        out["per_week"] = [{"week_start": w, "days": k, "visits": n} for w, k, n in self.per_week]
        return out


@dataclass(frozen=True)
class UsageReport:
    """Use of every reported station over ``start``..``end`` (inclusive, Asia/Shanghai days)."""

    start: dt.date
    end: dt.date
    days: int
    low_use_fraction: float
    stations: tuple[StationUsage, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "days": self.days,
            "timezone": str(TIMEZONE),
            "low_use_rule": low_use_rule_text(self.low_use_fraction),
            "visits": sum(s.visits for s in self.stations),
            "low_use_stations": [s.station_id for s in self.stations if s.low_use],
            "stations": [s.to_dict() for s in self.stations],
        }


def low_use_rule_text(fraction: float) -> str:
    return (
        f"visits/day below {fraction:g} × the median visits/day of the reported stations of the "
        f"same county (all reported stations when the county has fewer than "
        f"{usage_rule()['min_area_stations']})"
    )


def default_period(today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """The 28 days up to yesterday (Asia/Shanghai)."""
    today = today or dt.datetime.now(TIMEZONE).date()
    return today - dt.timedelta(days=DEFAULT_DAYS), today - dt.timedelta(days=1)


def check_period(start: dt.date | None, end: dt.date | None) -> tuple[dt.date, dt.date]:
    """Fill a missing end of the period from the default one and check ``start <= end``."""
    d_start, d_end = default_period()
    if start is None and end is not None:
        start = end - dt.timedelta(days=DEFAULT_DAYS - 1)
    start, end = start or d_start, end or d_end
    if start > end:
        raise InputError(f"from {start} is after to {end}", field="from")
    if (end - start).days + 1 > MAX_DAYS:
        raise InputError(f"the period is longer than {MAX_DAYS} days", field="from")
    return start, end


def _bounds(start: dt.date, end: dt.date) -> dict[str, Any]:
    t0 = dt.datetime.combine(start, dt.time(), TIMEZONE)
    t1 = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), TIMEZONE)
    return {"t0": t0, "t1": t1}


_WHERE = "visited_at >= :t0 AND visited_at < :t1"


def _counts(session: Session, column: str, bounds: dict[str, Any]) -> dict[int, dict[Any, int]]:
    sql = f"SELECT station_id, {column} AS k, count(*) FROM visits WHERE {_WHERE} GROUP BY 1, 2"
    out: dict[int, dict[Any, int]] = defaultdict(dict)
    for sid, key, n in session.execute(text(sql), bounds):
        out[int(sid)][key] = int(n)
    return out


def _repeats(session: Session, bounds: dict[str, Any]) -> dict[int, tuple[int, int]]:
    sql = f"""
        SELECT station_id, count(*), count(*) FILTER (WHERE n >= 2)
        FROM (SELECT station_id, visitor_hash, count(*) AS n FROM visits
              WHERE {_WHERE} AND visitor_hash IS NOT NULL GROUP BY 1, 2) v
        GROUP BY 1
    """
    return {int(s): (int(a), int(b)) for s, a, b in session.execute(text(sql), bounds)}


def _stations(session: Session, with_visits: Iterable[int], wanted: Iterable[int]) -> list[dict[str, Any]]:
    """The reported stations (``reported``: open, suspended or visited) and the ``wanted`` ones."""
    sql = text("""
        SELECT id, name, status, coalesce(county_code, county_name, '') AS area,
               (status IN ('open', 'suspended') OR id = ANY(:ids)) AS reported
        FROM stations WHERE status IN ('open', 'suspended') OR id = ANY(:ids) OR id = ANY(:wanted)
        ORDER BY id
    """)
    params = {"ids": list(with_visits), "wanted": list(wanted)}
    return [dict(r._mapping) for r in session.execute(sql, params)]


def _weeks(per_day: list[tuple[dt.date, int]]) -> tuple[tuple[str, int, int], ...]:
    weeks: dict[dt.date, list[int]] = {}
    for day, n in per_day:
        monday = day - dt.timedelta(days=day.weekday())
        weeks.setdefault(monday, []).append(n)
    return tuple((w.isoformat(), len(ns), sum(ns)) for w, ns in sorted(weeks.items()))


def _medians(rates: dict[int, float], areas: dict[int, str], min_area: int) -> dict[int, float]:
    by_area: dict[str, list[float]] = defaultdict(list)
    for sid, rate in rates.items():
        by_area[areas[sid]].append(rate)
    overall = statistics.median(rates.values()) if rates else 0.0
    return {
        sid: statistics.median(by_area[areas[sid]])
        if areas[sid] and len(by_area[areas[sid]]) >= min_area
        else overall
        for sid in rates
    }


def usage_report(
    session: Session,
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
    station_ids: Iterable[int] | None = None,
) -> UsageReport:
    """Use of the stations over ``start``..``end`` (inclusive; default the 28 days up to yesterday).

    ``station_ids`` limits the stations listed; the low-use medians are always over every reported
    station. Counting is done in the database (Asia/Shanghai days).

    Raises
    ------
    NotFoundError
        A requested station does not exist.
    """
    start, end = check_period(start, end)
    bounds = _bounds(start, end)
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    daily = _counts(session, f"(visited_at AT TIME ZONE '{TIMEZONE}')::date", bounds)
    groups = _counts(session, "coalesce(worker_group, 'unknown')", bounds)
    services = _counts(session, "coalesce(service, 'unknown')", bounds)
    repeats = _repeats(session, bounds)
    wanted = None if station_ids is None else {int(i) for i in station_ids}
    stations = _stations(session, daily, wanted or ())
    if wanted is not None and wanted - {s["id"] for s in stations}:
        raise NotFoundError(
            f"station {min(wanted - {s['id'] for s in stations})} not found", field="station_id"
        )
    rule = usage_rule()
    fraction = float(rule["low_use_fraction"])
    rates = {s["id"]: sum(daily.get(s["id"], {}).values()) / len(days) for s in stations}
    reported = {s["id"]: s["area"] for s in stations if s["reported"]}
    medians = _medians({k: rates[k] for k in reported}, reported, int(rule["min_area_stations"]))
    out = []
    for s in stations:
        sid = s["id"]
        if (wanted is not None and sid not in wanted) or (wanted is None and not s["reported"]):
            continue
        per_day = [(d, daily.get(sid, {}).get(d, 0)) for d in days]
        visitors, repeat = repeats.get(sid, (0, 0))
        out.append(
            StationUsage(
                station_id=sid,
                code=station_code(sid),
                name=s["name"],
                status=s["status"],
                area=s["area"],
                visits=sum(n for _, n in per_day),
                visits_per_day=rates[sid],
                per_day=tuple((d.isoformat(), n) for d, n in per_day),
                per_week=_weeks(per_day),
                by_worker_group=dict(sorted(groups.get(sid, {}).items())),
                by_service=dict(sorted(services.get(sid, {}).items())),
                visitors=visitors,
                repeat_visitors=repeat,
                repeat_share=repeat / visitors if visitors else None,
                area_median_per_day=medians.get(sid, 0.0),
                low_use=rates[sid] < fraction * medians[sid] if medians.get(sid) else None,
            )
        )
    return UsageReport(start=start, end=end, days=len(days), low_use_fraction=fraction, stations=tuple(out))


def with_use(
    session: Session, frame: Any, *, start: dt.date | None = None, end: dt.date | None = None
) -> Any:
    """A copy of a stations frame with ``visits_per_day`` and ``low_use`` over the period (default the
    28 days up to yesterday); stations not reported (planned, closed) get ``None``."""
    out = frame.copy()
    report = {u.station_id: u for u in usage_report(session, start=start, end=end).stations}
    ids = [int(i) for i in out["station_id"]] if len(out) else []
    out["visits_per_day"] = pd.Series(
        [report[i].visits_per_day if i in report else None for i in ids], index=out.index, dtype=object
    )
    out["low_use"] = pd.Series(
        [report[i].low_use if i in report else None for i in ids], index=out.index, dtype=object
    )
    return out
