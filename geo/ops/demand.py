"""Visits as demand: weight each station's catchment by its observed use (``--demand visits``).

Every demand point belongs to the catchment of its nearest station with a use figure (geodesic
nearest, i.e. the stations' Voronoi cells, up to ``max_meters``). Its weight is multiplied by the use
index of that station: the station's visits/day ÷ the mean visits/day of the reported stations.
Demand near busy stations counts more, near unused ones less, so a coverage or siting run is
calibrated against where workers actually go. Points farther than ``max_meters`` from any reported
station keep their weight (nothing is known about them). Coordinates are WGS-84 (EPSG:4326).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
from pyproj import Geod
from scipy.spatial import cKDTree
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import InputError
from geo.ops.usage import usage_report

DEFAULT_MAX_METERS = 2000.0


@dataclass(frozen=True)
class StationUse:
    """Where a station is (WGS-84) and how much it is used."""

    lon: float
    lat: float
    visits_per_day: float


@dataclass(frozen=True)
class UseWeighting:
    """What :func:`weight_demand_by_use` did."""

    stations: int
    mean_visits_per_day: float
    points_reweighted: int
    points_kept: int

    def note(self) -> str:
        return (
            f"demand weighted by observed use (visits/day ÷ the mean {self.mean_visits_per_day:.2f} of "
            f"{self.stations} stations) in each station's catchment: {self.points_reweighted} point(s); "
            f"{self.points_kept} beyond every catchment kept as they were"
        )


def station_use(
    session: Session, *, start: dt.date | None = None, end: dt.date | None = None
) -> dict[int, StationUse]:
    """Use of every reported station over the period (default the 28 days up to yesterday)."""
    report = usage_report(session, start=start, end=end)
    ids = [s.station_id for s in report.stations]
    rows = session.execute(
        text("SELECT id, ST_X(geom), ST_Y(geom) FROM stations WHERE id = ANY(:i)"), {"i": ids}
    ).all()
    where = {int(i): (float(x), float(y)) for i, x, y in rows}
    return {s.station_id: StationUse(*where[s.station_id], s.visits_per_day) for s in report.stations}


def _nearest(lon: np.ndarray, lat: np.ndarray, stations: list[StationUse]) -> tuple[np.ndarray, np.ndarray]:
    """Geodesic distance (WGS-84 ellipsoid) to, and index of, each point's nearest station: a KD-tree
    on local metres proposes the 8 nearest, the ellipsoid decides."""
    lat0 = float(np.mean([u.lat for u in stations]))
    k = math.cos(math.radians(lat0))
    sx = np.array([[u.lon * 111_320.0 * k, u.lat * 110_574.0] for u in stations])
    px = np.column_stack([lon * 111_320.0 * k, lat * 110_574.0])
    m = min(8, len(stations))
    _, cand = cKDTree(sx).query(px, k=m)
    cand = np.asarray(cand).reshape(len(px), m)
    s_lon = np.array([u.lon for u in stations])[cand]
    s_lat = np.array([u.lat for u in stations])[cand]
    meters = Geod(ellps="WGS84").inv(
        np.repeat(lon[:, None], m, 1), np.repeat(lat[:, None], m, 1), s_lon, s_lat
    )[2]
    best = np.argmin(meters, axis=1)
    rows = np.arange(len(px))
    return np.asarray(meters)[rows, best], cand[rows, best]


def weight_demand_by_use(
    demand: gpd.GeoDataFrame, use: Mapping[int, StationUse], *, max_meters: float = DEFAULT_MAX_METERS
) -> tuple[gpd.GeoDataFrame, UseWeighting]:
    """A copy of a canonical demand frame (EPSG:4326) with each point's weight multiplied by the use
    index of its catchment's station (see the module docstring); the factor is kept in ``use_factor``.

    Raises
    ------
    InputError
        No station has use figures, or none was visited (nothing to calibrate with).
    """
    if not use:
        raise InputError(
            "no stations with use figures: import visit logs first (yizhan visits import)", field="demand"
        )
    rates = np.array([u.visits_per_day for u in use.values()], dtype=float)
    mean = float(rates.mean())
    if mean <= 0:
        raise InputError("no visits in the period: nothing to weight the demand with", field="demand")
    out = demand.copy()
    if len(out) == 0:
        return out, UseWeighting(len(use), mean, 0, 0)
    dist, idx = _nearest(out.geometry.x.to_numpy(), out.geometry.y.to_numpy(), list(use.values()))
    inside = dist <= max_meters
    factor = np.where(inside, rates[idx] / mean, 1.0)
    out["use_factor"] = factor
    out["weight"] = out["weight"].to_numpy(dtype=float) * factor
    return out, UseWeighting(len(use), mean, int(inside.sum()), int((~inside).sum()))
