"""Station capacity in visits per day: what a station can serve, for 2SFCA and capacitated siting.

Each station takes the first of these that it has (``capacity_source`` says which):

1. ``column``: an explicit ``capacity`` column (visits per day), when the frame has one and the row
   is filled;
2. ``seats``: the ``seats`` field (station files' 座位数, the registry's ``seats``) ×
   ``visits_per_seat_per_day`` of ``data/capacity.toml`` (a stated planning assumption: 12 staffed
   hours ÷ a 30-minute rest = 24);
3. ``visits``: the visit log's busy day: the ``quantile`` (default 0.9, the 90th-percentile day) of the
   station's visits per day over the log's period — whole Asia/Shanghai days from the first to the
   last visit in the log (or the ``start``/``end`` given), days without visits counted as 0. A station
   whose busy day is 0 visits (it had visits on fewer than one day in ten) has no usable figure here;
4. ``default``: ``[default.per_kind]`` for its ``kind``, else ``[default] per_day`` = 12.8, the national
   average of > 2.3 M visits a day at > 180,000 stations (DOMAIN.md, Nov 2024).

The order can be changed (``order=``), e.g. ``("visits", "default")`` to use observed use only.
"""

from __future__ import annotations

import datetime as dt
import logging
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.catalog import DATA_DIR
from geo.checks import check_capacities, check_share
from geo.errors import InputError

log = logging.getLogger(__name__)

SOURCES: tuple[str, ...] = ("column", "seats", "visits", "default")
TIMEZONE = "Asia/Shanghai"

__all__ = [
    "SOURCES",
    "CapacityRule",
    "capacity_rule",
    "daily_visit_statistic",
    "station_capacity",
    "visits_from_db",
    "visits_from_file",
]


@dataclass(frozen=True)
class CapacityRule:
    """The numbers of ``data/capacity.toml`` (see the module doc for their sources)."""

    quantile: float
    visits_per_seat_per_day: float
    default_per_day: float
    per_kind: dict[str, float] = field(default_factory=dict)

    def default_for(self, kind: Any) -> float:
        """Default visits per day of a station kind (code), the national average when none is set."""
        return float(self.per_kind.get(str(kind), self.default_per_day))


@cache
def capacity_rule() -> CapacityRule:
    """``data/capacity.toml`` as a :class:`CapacityRule` (read once)."""
    with (DATA_DIR / "capacity.toml").open("rb") as fh:
        raw = tomllib.load(fh)
    default = raw.get("default", {})
    return CapacityRule(
        quantile=float(raw.get("visits", {}).get("quantile", 0.9)),
        visits_per_seat_per_day=float(raw.get("seats", {}).get("visits_per_seat_per_day", 24.0)),
        default_per_day=float(default.get("per_day", 12.8)),
        per_kind={str(k): float(v) for k, v in default.get("per_kind", {}).items()},
    )


# ------------------------------------------------------------------------------------------ visit logs
def visits_from_file(path: str | Path) -> pd.DataFrame:
    """A visit file (CSV/XLSX, the columns :func:`geo.ops.visits.read_visit_rows` reads) as a frame of
    ``station_id`` and ``visited_at`` (aware). A station written as its code ``S<id>`` becomes the int
    registry id; any other reference stays text (a file station's ``station_id``). Every row must be
    valid (the visit import's rule): the first row error is raised."""
    from geo.ops.codes import parse_station_code
    from geo.ops.visits import read_visit_rows

    rows, errors, _, _ = read_visit_rows(path)
    if errors:
        first = errors[0]
        raise InputError(
            f"visit file {Path(path).name}: {len(errors)} row error(s); row {first.row} {first.field}: "
            f"{first.message}",
            field="visits",
        )
    ids = [parse_station_code(r["station"]) or str(r["station"]).strip() for r in rows]
    return pd.DataFrame({"station_id": pd.Series(ids, dtype=object),
                         "visited_at": pd.Series([r["visited_at"] for r in rows], dtype=object)})


def visits_from_db(session: Any, station_ids: Sequence[int] | None = None) -> pd.DataFrame:
    """The registry's visit log (table ``visits``) as ``station_id`` (int) and ``visited_at``, for the
    given stations or all."""
    from sqlalchemy import text

    sql = "SELECT station_id, visited_at FROM visits"
    params: dict[str, Any] = {}
    if station_ids is not None:
        sql += " WHERE station_id = ANY(:ids)"
        params["ids"] = [int(i) for i in station_ids]
    rows = session.execute(text(sql), params).all()
    return pd.DataFrame({"station_id": pd.Series([int(r[0]) for r in rows], dtype=object),
                         "visited_at": pd.Series([r[1] for r in rows], dtype=object)})


def _local_days(visited_at: pd.Series) -> pd.Series:
    """Asia/Shanghai calendar day of every visit (naive times are China time, aware ones converted)."""
    days = []
    for i, value in enumerate(visited_at.tolist()):
        try:
            stamp = pd.Timestamp(value)
        except (TypeError, ValueError):
            stamp = pd.NaT
        if stamp is pd.NaT:
            raise InputError(f"visited_at must be a time in every row; row {i} has {value!r}", field="visits")
        stamp = stamp.tz_localize(TIMEZONE) if stamp.tzinfo is None else stamp.tz_convert(TIMEZONE)
        days.append(stamp.date())
    return pd.Series(days, dtype=object)


def daily_visit_statistic(
    visits: pd.DataFrame,
    *,
    quantile: float | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> pd.Series:
    """The ``quantile`` of every logged station's visits per day (index ``station_id`` as text).

    The period is whole Asia/Shanghai days from ``start`` (default the log's first visit day) to ``end``
    (default its last), both included; days without visits count as 0; visits outside it are left out.
    numpy's default (linear) quantile of the daily counts.
    """
    q = check_share(capacity_rule().quantile if quantile is None else quantile, field="quantile")
    missing = {"station_id", "visited_at"} - set(visits.columns)
    if missing:
        raise InputError(f"visits lack column(s) {', '.join(sorted(missing))}", field="visits")
    if len(visits) == 0:
        return pd.Series(dtype=np.float64)
    days = _local_days(visits["visited_at"].reset_index(drop=True))
    first, last = start or min(days), end or max(days)
    if first > last:
        raise InputError(f"the period starts {first} after it ends {last}", field="visits")
    keep = ((days >= first) & (days <= last)).to_numpy()
    ids = visits["station_id"].astype(str).str.strip().reset_index(drop=True)[keep]
    counts = pd.crosstab(ids.to_numpy(), days[keep].to_numpy())
    n_days = (last - first).days + 1
    out = {}
    for sid, row in counts.iterrows():
        per_day = np.zeros(n_days)
        per_day[: row.size] = row.to_numpy(dtype=np.float64)  # days absent from the log are 0
        out[sid] = float(np.quantile(per_day, q))
    return pd.Series(out, dtype=np.float64)


# ------------------------------------------------------------------------------------------ capacity
def _explicit(frame: pd.DataFrame, column: str, scale: float) -> np.ndarray:
    """Filled values of ``column`` × ``scale`` (NaN where blank; checked ≥ 0 where filled)."""
    if column not in frame.columns:
        return np.full(len(frame), np.nan)
    raw = frame[column].reset_index(drop=True)
    filled = raw.notna() & (raw.astype(str).str.strip() != "")
    values = np.full(len(frame), np.nan)
    if filled.any():
        values[filled.to_numpy()] = check_capacities(raw[filled], field=column) * scale
    return values


def station_capacity(
    stations: gpd.GeoDataFrame,
    *,
    visits: pd.DataFrame | None = None,
    quantile: float | None = None,
    order: Sequence[str] = SOURCES,
    column: str = "capacity",
    rule: CapacityRule | None = None,
) -> gpd.GeoDataFrame:
    """Every station's capacity in visits per day, and where the figure comes from.

    Parameters
    ----------
    stations : GeoDataFrame
        Canonical stations frame (EPSG:4326); ``capacity`` (visits/day), ``seats`` and ``kind`` are
        read when present.
    visits : DataFrame, optional
        The visit log: ``station_id`` (matched to the stations' ``station_id`` as text) and
        ``visited_at`` (naive times are China time), e.g. :func:`visits_from_db` or
        :func:`visits_from_file`.
    quantile : float, optional
        The visit log's statistic (default ``data/capacity.toml``: 0.9, the 90th-percentile day).
    order : sequence of {"column", "seats", "visits", "default"}
        Sources tried in turn; a station takes the first it has ("default" always has one).
    column : str
        Name of the explicit visits-per-day column.
    rule : CapacityRule, optional
        Numbers to use instead of ``data/capacity.toml``.

    Returns
    -------
    GeoDataFrame
        A new frame: the stations + ``capacity_per_day`` (float ≥ 0) and ``capacity_source``.
    """
    rule = rule or capacity_rule()
    bad = [s for s in order if s not in SOURCES]
    if bad or not order:
        raise InputError(f"order must list sources among {', '.join(SOURCES)}, got {list(order)!r}",
                         field="order")
    n = len(stations)
    found = {
        "column": _explicit(stations, column, 1.0),
        "seats": _explicit(stations, "seats", rule.visits_per_seat_per_day),
        "visits": np.full(n, np.nan),
        "default": np.array([rule.default_for(k) for k in
                             (stations["kind"] if "kind" in stations.columns else [None] * n)], dtype=float),
    }
    if visits is not None and "visits" in order:
        busy = daily_visit_statistic(visits, quantile=quantile if quantile is not None else rule.quantile)
        ids = _ids(stations)
        found["visits"] = np.array([busy.get(i, np.nan) for i in ids], dtype=float)
        found["visits"][found["visits"] <= 0] = np.nan  # a busy day of 0: no usable figure
    cap = np.full(n, np.nan)
    source = np.full(n, None, dtype=object)
    for name in order:
        take = np.isnan(cap) & np.isfinite(found[name])
        cap[take] = found[name][take]
        source[take] = name
    out = stations.copy()
    out["capacity_per_day"] = cap
    out["capacity_source"] = source
    counts = pd.Series(source).value_counts().to_dict()
    log.info("station capacity sources: %s", counts)
    if len(counts) > 1:
        log.warning("station capacities mix sources %s (see capacity_source)", counts)
    return out


def _ids(stations: pd.DataFrame) -> list[str]:
    ids = stations["station_id"] if "station_id" in stations.columns else pd.Series(stations.index)
    return [str(i).strip() for i in ids]
