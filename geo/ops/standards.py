"""Station standards (六有, 大丰 八有) and the star rating, configured in ``data/standards.toml``.

Each standard item is checked against the registry record: a field filled, enough amenities, opening
hours, the latest 上图 check, or a manual check that has no field yet (``unknown``). The star rating
adds points (items met, hours, use, 上图, AED, size; the numbers are in ``[stars]``) and maps them to
1–5 stars by ``min_points``. Every rating is stored with its inputs, rule name and date
(``star_ratings``), so a yearly re-examination can be compared with last year's.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from functools import cache
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.catalog import DATA_DIR
from geo.errors import InputError
from geo.hours import is_open_at
from geo.ops.visits import TIMEZONE

ITEM_STATES = ("met", "missing", "unknown")
#: a Wednesday, for "hours open on a typical weekday"
TYPICAL_DAY = dt.date(2026, 1, 7)


@cache
def standards_config() -> dict[str, Any]:
    """``data/standards.toml`` as loaded."""
    with (DATA_DIR / "standards.toml").open("rb") as fh:
        return tomllib.load(fh)


def standard_items(name: str | None = None) -> tuple[str, list[dict[str, Any]]]:
    """The items of a standard (default ``[standard] default``) and its resolved name."""
    table = standards_config()["standard"]
    name = name or table["default"]
    items = table.get(name)
    if not isinstance(items, list):
        known = ", ".join(k for k, v in table.items() if isinstance(v, list))
        raise InputError(f"unknown standard {name!r}; known: {known}", field="standard")
    return name, items


@dataclass(frozen=True)
class ItemResult:
    id: str
    label_zh: str
    status: str
    evidence: str


@dataclass(frozen=True)
class StandardResult:
    """Each item of one standard for one station: met / missing / unknown, with the evidence."""

    station_id: int
    standard: str
    items: tuple[ItemResult, ...]

    def count(self, status: str) -> int:
        return sum(1 for i in self.items if i.status == status)

    def to_dict(self) -> dict[str, Any]:
        return {
            "station_id": self.station_id,
            "standard": self.standard,
            **{s: self.count(s) for s in ITEM_STATES},
            "items": [asdict(i) for i in self.items],
        }


def weekday_open_hours(opening_hours: str | None) -> float | None:
    """Hours open on a typical weekday (half-hour steps), ``None`` without hours."""
    if not opening_hours:
        return None
    start = dt.datetime.combine(TYPICAL_DAY, dt.time(), TIMEZONE)
    slots = sum(is_open_at(opening_hours, start + dt.timedelta(minutes=30 * i)) for i in range(48))
    return slots / 2


def _check(
    item: Mapping[str, Any], station: Mapping[str, Any], presence: Mapping[str, Any] | None
) -> tuple[str, str]:
    kind = item["check"]
    if kind == "field":
        value = station.get(item["field"])
        filled = value not in (None, "", []) and not (isinstance(value, int | float) and value <= 0)
        return ("met", f"{item['field']} = {value!r}") if filled else ("missing", f"{item['field']} is empty")
    if kind == "amenities":
        have = [a for a in item["any_of"] if a in (station.get("amenities") or [])]
        status = "met" if len(have) >= int(item["min"]) else "missing"
        return status, f"{len(have)} of the ≥ {item['min']} needed: {', '.join(have) or 'none'}"
    if kind == "hours":
        hours = station.get("opening_hours")
        return ("met", f"opening_hours = {hours!r}") if hours else ("missing", "no opening hours")
    if kind == "map":
        if presence is None:
            return "unknown", "no 上图 check yet (yizhan audit maps)"
        ok = presence["status"] == "listed"
        return ("met" if ok else "missing"), (
            f"{presence['status']} on {presence['provider']} ({presence['checked_on']})"
        )
    if kind == "manual":
        return "unknown", "manual check; nothing recorded in the registry"
    raise InputError(f"unknown check {kind!r} in data/standards.toml", field="check")


def evaluate_standard(
    station: Mapping[str, Any], *, standard: str | None = None, presence: Mapping[str, Any] | None = None
) -> StandardResult:
    """Check ``station`` (a registry record) against a standard; ``presence`` is its latest 上图 check."""
    name, items = standard_items(standard)
    results = []
    for item in items:
        status, evidence = _check(item, station, presence)
        results.append(
            ItemResult(
                id=item["id"], label_zh=item.get("label_zh", item["id"]), status=status, evidence=evidence
            )
        )
    return StandardResult(station_id=int(station["station_id"]), standard=name, items=tuple(results))


def star_inputs(
    station: Mapping[str, Any],
    result: StandardResult,
    *,
    low_use: bool | None,
    presence: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """Everything the star rule reads, as stored with the rating."""
    return {
        "standard": result.standard,
        "items_met": result.count("met"),
        "items_total": len(result.items),
        "weekday_open_hours": weekday_open_hours(station.get("opening_hours")),
        "low_use": low_use,
        "on_map": None if presence is None else presence["status"] == "listed",
        "aed": "aed" in (station.get("amenities") or []),
        "floor_area_m2": station.get("floor_area_m2"),
        "seats": station.get("seats"),
    }


def compute_stars(inputs: Mapping[str, Any], rule: Mapping[str, Any] | None = None) -> tuple[int, float]:
    """Stars (1–5) and points from :func:`star_inputs` under ``rule`` (default ``[stars]``).
    Unknown inputs (``None``) earn no points."""
    r = rule or standards_config()["stars"]
    hours = inputs.get("weekday_open_hours") or 0
    points = r["points_per_item_met"] * inputs["items_met"]
    points += r["points_hours_12h"] * (hours >= 12) + r["points_hours_24h"] * (hours >= 24)
    points += r["points_not_low_use"] * (inputs.get("low_use") is False)
    points += r["points_on_map"] * bool(inputs.get("on_map"))
    points += r["points_aed"] * bool(inputs.get("aed"))
    large = (inputs.get("floor_area_m2") or 0) >= 30 and (inputs.get("seats") or 0) >= 20
    points += r["points_large"] * large
    stars = max(i + 1 for i, need in enumerate(r["min_points"]) if points >= need)
    return int(stars), float(points)


def latest_presence(session: Session, station_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """The latest 上图 check of each station (from ``map_presence``)."""
    sql = text("""
        SELECT DISTINCT ON (station_id) station_id, provider, status, distance_m, poi_name, checked_on
        FROM map_presence WHERE station_id = ANY(:i) ORDER BY station_id, checked_on DESC, id DESC
    """)
    rows = session.execute(sql, {"i": [int(i) for i in station_ids]})
    return {int(r.station_id): {**r._mapping, "checked_on": r.checked_on.isoformat()} for r in rows}


def latest_stars(session: Session, station_ids: Iterable[int] | None = None) -> dict[int, int]:
    """The latest stored star rating of each station (stations never rated are absent)."""
    ids = None if station_ids is None else [int(i) for i in station_ids]
    sql = text("""SELECT DISTINCT ON (station_id) station_id, stars FROM star_ratings
                  WHERE CAST(:i AS bigint[]) IS NULL OR station_id = ANY(:i)
                  ORDER BY station_id, rated_on DESC, id DESC""")
    return {int(s): int(n) for s, n in session.execute(sql, {"i": ids})}


def star_history(session: Session, station_id: int) -> list[dict[str, Any]]:
    """Every stored rating of a station, oldest first (stars, rule, inputs, date, actor)."""
    sql = text("""SELECT id AS rating_id, stars, rule, inputs, rated_on, actor FROM star_ratings
                  WHERE station_id = :i ORDER BY rated_on, id""")
    return [
        {**r._mapping, "rated_on": r.rated_on.isoformat()}
        for r in session.execute(sql, {"i": int(station_id)})
    ]


def rate_stations(
    session: Session, station_ids: Iterable[int] | None = None, *, actor: str, on: dt.date | None = None
) -> list[dict[str, Any]]:
    """Compute and store the star rating of the given (default: every open) station; commits.

    Use over the 28 days up to yesterday feeds ``low_use``; the latest 上图 check feeds ``on_map``.
    """
    from geo.db import repository
    from geo.ops.usage import usage_report

    if not actor or not actor.strip():
        raise InputError("actor is required", field="actor")
    if station_ids is None:
        ids = list(
            session.execute(text("SELECT id FROM stations WHERE status = 'open' ORDER BY id")).scalars()
        )
    else:
        ids = [int(i) for i in station_ids]
    stations = [repository.get_station(session, i) for i in ids]
    usage = {u.station_id: u for u in usage_report(session, station_ids=ids).stations}
    presence = latest_presence(session, ids)
    rule = standards_config()["stars"]
    day = on or dt.datetime.now(TIMEZONE).date()
    out = []
    for st in stations:
        sid = int(st["station_id"])
        result = evaluate_standard(st, standard=rule["standard"], presence=presence.get(sid))
        low = usage[sid].low_use if sid in usage else None
        inputs = star_inputs(st, result, low_use=low, presence=presence.get(sid))
        stars, points = compute_stars(inputs, rule)
        inputs["points"] = points
        out.append(
            {
                "station_id": sid,
                "stars": stars,
                "rule": rule["rule"],
                "inputs": inputs,
                "rated_on": day.isoformat(),
                "actor": actor,
            }
        )
    _store(session, out)
    return out


def _store(session: Session, ratings: list[dict[str, Any]]) -> None:
    import json

    sql = text("""INSERT INTO star_ratings (station_id, stars, rule, inputs, rated_on, actor)
                  VALUES (:station_id, :stars, :rule, CAST(:inputs AS jsonb), :rated_on, :actor)""")
    try:
        for r in ratings:
            session.execute(
                sql,
                {
                    **r,
                    "inputs": json.dumps(r["inputs"], ensure_ascii=False),
                    "rated_on": dt.date.fromisoformat(r["rated_on"]),
                },
            )
        session.commit()
    except Exception:
        session.rollback()
        raise


def with_stars(session: Session, frame: Any) -> Any:
    """A copy of a stations frame with a ``stars`` column (latest stored rating; ``None`` if never rated)."""
    out = frame.copy()
    if len(out) == 0:
        out["stars"] = []
        return out
    stars = latest_stars(session, [int(i) for i in out["station_id"]])
    out["stars"] = [stars.get(int(i)) for i in out["station_id"]]
    out["stars"] = out["stars"].astype(object)
    return out
