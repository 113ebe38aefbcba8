"""A scenario: a base station list plus an ordered list of actions, with phases, years and costs.

Actions (all coordinates WGS-84; a GCJ-02/BD-09 input is converted on the way in and its CRS kept;
:func:`actions_in_crs` gives them back in a CRS asked for):

- ``add``: a new station at a point (``lon``/``lat``), with ``kind``, ``amenities``, ``opening_hours``;
- ``close``: an existing station (``station_id``) is closed;
- ``relocate``: an existing station moves to ``lon``/``lat``;
- ``hours``: an existing station's ``opening_hours`` change;
- ``amenities``: an existing station's ``amenities`` change.

Every action may carry a ``cost`` (yuan, ≥ 0), a ``phase`` (1, 2, …) and a ``year``.
:func:`apply_actions` turns base + actions into the scenario's canonical stations frame (the base is
never mutated); added stations get the id ``"<scenario>:<seq>"``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import geopandas as gpd
import pandas as pd
from shapely.geometry import Point

from geo.catalog import resolve_amenity, resolve_kind
from geo.checks import check_count, check_non_negative
from geo.crs import convert, in_china, resolve_crs, to_wgs84_frame
from geo.errors import InputError, NotFoundError
from geo.hours import validate_opening_hours
from geo.text import check_text

ACTION_KINDS: tuple[str, ...] = ("add", "close", "relocate", "hours", "amenities")
#: actions that name an existing station
ON_STATION: frozenset[str] = frozenset({"close", "relocate", "hours", "amenities"})
#: actions that place a point
AT_POINT: frozenset[str] = frozenset({"add", "relocate"})
#: the range of an action's ``phase`` and ``year`` (the store's integers; the API's limits)
PHASE_RANGE: tuple[int, int] = (1, 100)
YEAR_RANGE: tuple[int, int] = (1900, 2200)


@dataclass(frozen=True)
class Action:
    """One step of a scenario (see the module docstring); ``lon``/``lat`` are WGS-84 degrees."""

    kind: str
    station_id: str | None = None
    lon: float | None = None
    lat: float | None = None
    source_crs: str = "wgs84"
    name: str | None = None
    station_kind: str | None = None
    amenities: tuple[str, ...] | None = None
    opening_hours: str | None = None
    cost: float = 0.0
    phase: int = 1
    year: int | None = None
    seq: int = 0


@dataclass(frozen=True)
class Scenario:
    """A named plan: the base it starts from and its actions in order."""

    name: str
    base: str = "db"
    description: str = ""
    actions: tuple[Action, ...] = field(default_factory=tuple)

    def with_action(self, action: Action) -> Scenario:
        """A new scenario with ``action`` appended (numbered after the last one)."""
        seq = max((a.seq for a in self.actions), default=0) + 1
        return replace(self, actions=(*self.actions, replace(action, seq=seq)))

    def cost_by_phase(self) -> pd.DataFrame:
        """Cost and action count per phase (and year), phases in order."""
        rows = [{"phase": a.phase, "year": a.year, "cost": a.cost, "actions": 1} for a in self.actions]
        if not rows:
            return pd.DataFrame(columns=["phase", "year", "cost", "actions"])
        frame = pd.DataFrame(rows)
        grouped = frame.groupby(["phase", "year"], dropna=False, as_index=False)
        return grouped.agg(cost=("cost", "sum"), actions=("actions", "sum")).sort_values(
            "phase", ignore_index=True)

    @property
    def total_cost(self) -> float:
        return float(sum(a.cost for a in self.actions))


def make_action(kind: str, *, station_id: Any = None, lon: Any = None, lat: Any = None, crs: str = "wgs84",
                name: str | None = None, station_kind: str | None = None,
                amenities: Sequence[str] | None = None, opening_hours: str | None = None,
                cost: Any = 0.0, phase: Any = 1, year: Any = None) -> Action:
    """Validate one action's arguments (one rule per field, field named) and convert its point to WGS-84."""
    if kind not in ACTION_KINDS:
        raise InputError(f"unknown action {kind!r}; use one of {', '.join(ACTION_KINDS)}", field="kind")
    if kind in ON_STATION and (station_id is None or str(station_id).strip() == ""):
        raise InputError(f"a {kind} action needs the station_id it applies to", field="station_id")
    for value, name_of in ((station_id, "station_id"), (name, "name"), (opening_hours, "opening_hours")):
        if value is not None:
            check_text(str(value), field=name_of)
    point = _point(lon, lat, crs) if kind in AT_POINT else None
    if kind in AT_POINT and point is None:
        raise InputError(f"a {kind} action needs lon and lat", field="lon")
    if kind == "hours" and not opening_hours:
        raise InputError("an hours action needs opening_hours", field="opening_hours")
    if kind == "amenities" and amenities is None:
        raise InputError("an amenities action needs amenities", field="amenities")
    return Action(
        kind=kind, station_id=None if station_id is None else str(station_id),
        lon=point[0] if point else None, lat=point[1] if point else None, source_crs=resolve_crs(crs),
        name=name, station_kind=resolve_kind(station_kind) if station_kind else None,
        amenities=None if amenities is None else tuple(resolve_amenity(a) for a in amenities),
        opening_hours=validate_opening_hours(opening_hours) if opening_hours else None,
        cost=check_non_negative(cost, field="cost", unit="yuan"), phase=_whole(phase, "phase", *PHASE_RANGE),
        year=None if year is None else _whole(year, "year", *YEAR_RANGE),
    )


def check_station(base: gpd.GeoDataFrame, scenario: Scenario, action: Action) -> None:
    """Refuse, before it is stored, an action naming a station that is not in ``base``.

    Close, relocate, hours and amenities apply to the stations of the scenario's base only (the
    stations an ``add`` opens cannot be named: see :func:`apply_actions`).

    Parameters
    ----------
    base : GeoDataFrame
        The scenario's base stations (canonical, with ``station_id``).
    scenario : Scenario
        The scenario the action is for (its name is in the message).
    action : Action
        The action to check; an ``add`` always passes.

    Raises
    ------
    geo.errors.NotFoundError
        ``field="station_id"``, naming the station and the scenario.
    """
    if action.kind not in ON_STATION:
        return
    ids = set(base["station_id"].astype(str)) if "station_id" in base.columns else set()
    if str(action.station_id) not in ids:
        raise NotFoundError(f"station {action.station_id!r} is not in the base of scenario {scenario.name!r}",
                            field="station_id")


def _whole(value: Any, field_name: str, minimum: int, maximum: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InputError(f"{field_name} must be a whole number, got {value!r}", field=field_name) from None
    if number != float(value) or number < minimum:
        raise InputError(f"{field_name} must be a whole number ≥ {minimum}, got {value!r}", field=field_name)
    return check_count(number, field=field_name, minimum=minimum, maximum=maximum)


def _point(lon: Any, lat: Any, crs: str) -> tuple[float, float] | None:
    if lon is None or lat is None:
        return None
    try:
        x, y = float(lon), float(lat)
    except (TypeError, ValueError):
        raise InputError(f"lon/lat must be numbers, got {lon!r}, {lat!r}", field="lon") from None
    if not (math.isfinite(x) and math.isfinite(y)):
        raise InputError(f"lon/lat must be finite, got {lon!r}, {lat!r}", field="lon")
    frame = to_wgs84_frame(gpd.GeoDataFrame(geometry=[Point(x, y)], crs="EPSG:4326"), src=resolve_crs(crs))
    p = frame.geometry.iloc[0]
    if not bool(in_china(p.x, p.y)):
        raise InputError(f"point {x}, {y} ({crs}) is outside China", field="lon")
    return float(p.x), float(p.y)


def apply_actions(base: gpd.GeoDataFrame, scenario: Scenario) -> gpd.GeoDataFrame:
    """The scenario's stations: ``base`` (canonical, EPSG:4326; not mutated) with every action applied
    in order. Closed stations stay with ``status="closed"``; added ones are ``open``."""
    frame = base.copy()
    frame["station_id"] = frame["station_id"].astype(str)
    frame = frame.set_index("station_id", drop=False)
    added: list[dict[str, Any]] = []
    for action in scenario.actions:
        if action.kind == "add":
            added.append(_added_row(scenario.name, action))
            continue
        if action.station_id not in frame.index:
            raise NotFoundError(f"action {action.seq} ({action.kind}): station {action.station_id!r} "
                                f"is not in the base of scenario {scenario.name!r}", field="station_id")
        _apply_to_row(frame, action)
    if added:
        extra = gpd.GeoDataFrame(added, geometry="geometry", crs="EPSG:4326")
        extra = extra.set_index("station_id", drop=False)
        frame = pd.concat([frame, extra])
    return gpd.GeoDataFrame(frame.reset_index(drop=True), geometry="geometry", crs="EPSG:4326")


def _added_row(scenario: str, action: Action) -> dict[str, Any]:
    return {
        "station_id": f"{scenario}:{action.seq}", "name": action.name or f"{scenario} 新增站点 {action.seq}",
        "kind": action.station_kind or "union_station", "status": "open",
        "amenities": list(action.amenities or ()), "opening_hours": action.opening_hours,
        "source_crs": action.source_crs, "geometry": Point(action.lon, action.lat),
    }


def _apply_to_row(frame: gpd.GeoDataFrame, action: Action) -> None:
    sid = action.station_id
    if action.kind == "close":
        frame.at[sid, "status"] = "closed"
    elif action.kind == "relocate":
        frame.at[sid, "geometry"] = Point(action.lon, action.lat)
    elif action.kind == "hours":
        frame.at[sid, "opening_hours"] = action.opening_hours
    elif action.kind == "amenities":
        frame.at[sid, "amenities"] = list(action.amenities or ())


def actions_frame(actions: Iterable[Action]) -> pd.DataFrame:
    """The actions as a table (for ``scenario show`` and the report)."""
    return pd.DataFrame([{k: getattr(a, k) for k in Action.__dataclass_fields__} for a in actions])


def actions_in_crs(actions: Iterable[Action], crs: str) -> tuple[Action, ...]:
    """The actions with their points in ``crs`` (they are stored WGS-84), for answers in the CRS asked
    for; ``source_crs`` stays the CRS each point was given in.

    Parameters
    ----------
    actions : iterable of Action
        Actions as stored (WGS-84 points).
    crs : str
        ``wgs84``, ``gcj02`` or ``bd09`` (or an alias, :func:`geo.crs.resolve_crs`).

    Returns
    -------
    tuple of Action
        The same actions, unchanged for WGS-84.
    """
    code = resolve_crs(crs)
    out = []
    for a in actions:
        if code != "wgs84" and a.lon is not None and a.lat is not None:
            lon, lat = convert(a.lon, a.lat, src="wgs84", dst=code)
            a = replace(a, lon=float(lon), lat=float(lat))
        out.append(a)
    return tuple(out)


def actions_from_records(records: Iterable[Mapping[str, Any]]) -> tuple[Action, ...]:
    """Actions back from stored records (the store keeps the validated fields)."""
    out = []
    for r in records:
        amen = r.get("amenities")
        out.append(Action(
            kind=str(r["kind"]), station_id=r.get("station_id"), lon=r.get("lon"), lat=r.get("lat"),
            source_crs=str(r.get("source_crs") or "wgs84"), name=r.get("name"),
            station_kind=r.get("station_kind"), amenities=None if amen is None else tuple(amen),
            opening_hours=r.get("opening_hours"), cost=float(r.get("cost") or 0.0),
            phase=int(r.get("phase") or 1), year=r.get("year"), seq=int(r["seq"]),
        ))
    return tuple(sorted(out, key=lambda a: a.seq))
