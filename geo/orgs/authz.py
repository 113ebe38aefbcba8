"""Who may change which station, and whose keys an admin may manage (pure rules, no I/O).

The rules (docs/ORGANISATIONS.md):

- a bootstrap key (``YIZHAN_API_KEYS``) is an admin of national scope: every write is allowed;
- a viewer writes nothing;
- an editor or admin of an organisation changes an existing station when the station lies inside
  the organisation's area polygon or is owned by (was created by) the organisation or one below it;
  a host (bank, fuel station, 党群 centre) changes only its own stations;
- a new station, or a station moved, must lie inside the organisation's area (for an organisation
  without a polygon of its own, the nearest ancestor's: a host places stations in its union's area);
- an admin manages the keys of its organisation and of every organisation below it.

Coordinates are WGS-84 (EPSG:4326) degrees.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry

from geo.orgs.keys import Principal

#: a point closer than this (degrees, ~1 cm) to its stored place has not moved
SAME_POINT_DEGREES = 1e-7


@dataclass(frozen=True)
class OrgScope:
    """What the rules need to know of one organisation.

    ``subtree``: its code and every code below it. ``area``: its own polygon; for a host, the
    polygon of the nearest organisation above it that has one (``area_of`` names whose); ``None``
    when there is none.
    """

    code: str
    name: str
    level: str
    subtree: frozenset[str]
    area: BaseGeometry | None = None
    area_of: str | None = None

    @property
    def label(self) -> str:
        return f"{self.name} ({self.code})"

    def covers(self, lon: float, lat: float) -> bool:
        if self.area is None:
            return False
        return bool(shapely.covers(self.area, shapely.Point(lon, lat)))


@dataclass(frozen=True)
class StationFacts:
    """A stored station as the rules see it: id, point and owning organisation (``None``: none)."""

    station_id: int
    lon: float
    lat: float
    owner: str | None = None


def write_refusal(principal: Principal, scope: OrgScope | None) -> str | None:
    """Why ``principal`` may write nothing at all (``None`` when it may write something)."""
    if not principal.can_write:
        where = f" of {scope.label}" if scope is not None else ""
        return f"the key {principal.key_name!r}{where} is read-only (role {principal.role})"
    if not principal.national and scope is None:
        return (
            f"the key {principal.key_name!r} belongs to organisation {principal.org_code!r}, "
            "which does not exist"
        )
    return None


def station_refusal(
    principal: Principal,
    scope: OrgScope | None,
    *,
    current: StationFacts | None = None,
    new_point: tuple[float, float] | None = None,
) -> str | None:
    """Why ``principal`` may not make this change, or ``None`` when it may.

    Parameters
    ----------
    current
        The stored station being changed (``None`` for a new station).
    new_point
        Where the station will be, WGS-84 (``None``: its point does not change).
    """
    refusal = write_refusal(principal, scope)
    if refusal is not None or principal.national:
        return refusal
    assert scope is not None
    if current is not None:
        owned = current.owner is not None and current.owner in scope.subtree
        inside = scope.level != "host" and scope.covers(current.lon, current.lat)
        if not (owned or inside):
            what = (
                "is not one of its stations"
                if scope.level == "host"
                else ("lies outside its area and is not owned by it or an organisation under it")
            )
            return f"{scope.label} may not change station {current.station_id}: it {what}"
        if new_point is not None and _same_point(current, new_point):
            new_point = None
    if new_point is not None and not scope.covers(*new_point):
        lon, lat = new_point
        if scope.area is None:
            return f"{scope.label} has no area polygon; it may not place stations"
        whose = "its area" if scope.area_of == scope.code else f"the area of {scope.area_of}"
        return f"{scope.label} may not place a station at ({lon:.6f}, {lat:.6f}): outside {whose}"
    return None


def _same_point(current: StationFacts, point: tuple[float, float]) -> bool:
    return (
        abs(current.lon - point[0]) < SAME_POINT_DEGREES and abs(current.lat - point[1]) < SAME_POINT_DEGREES
    )


def key_admin_refusal(principal: Principal, scope: OrgScope | None, target_org: str) -> str | None:
    """Why ``principal`` may not create, list or revoke keys of ``target_org`` (``None``: it may)."""
    if principal.national and principal.role == "admin":
        return None
    if principal.role != "admin":
        return f"the key {principal.key_name!r} is not an admin key (role {principal.role})"
    if scope is None or target_org not in scope.subtree:
        where = scope.label if scope is not None else repr(principal.org_code)
        return (
            f"admins of {where} manage only the keys of their own organisation and those under it, "
            f"not of {target_org!r}"
        )
    return None


def describe(scope: OrgScope | None) -> dict[str, Any]:
    """A short JSON-able description of a scope (for messages and ``whoami``)."""
    if scope is None:
        return {"org_code": None, "scope": "national"}
    return {
        "org_code": scope.code,
        "org_name": scope.name,
        "level": scope.level,
        "area_of": scope.area_of,
        "organisations": len(scope.subtree),
    }
