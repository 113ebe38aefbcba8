"""Two-step floating catchment area (2SFCA) accessibility of station capacity, per demand point and area.

Luo & Wang (2003), with a distance decay inside the catchment (the Gaussian form of Dai 2010)::

    step 1  R_j = S_j / Σ_{k : t_kj ≤ T} w_k f(t_kj)          (capacity per unit of demand in reach)
    step 2  A_i = Σ_{j : t_ij ≤ T} R_j f(t_ij)                 (capacity within reach of point i)

``S_j`` is station ``j``'s capacity in visits per day (:func:`geo.capacity.supply.station_capacity`),
``w_k`` a demand point's ``weight``, ``t`` the worker → station travel time in minutes by the project's
definition (:mod:`geo.capacity.travel`, the same edge-snapped times as coverage) and ``T`` the catchment
(``minutes``, default 15: the 15-minute life circle). Decay ``f`` on ``0 ≤ t ≤ T``:

* ``none``: ``f = 1`` (the original 2SFCA: every station within T counts fully);
* ``gaussian``: ``f(t) = (exp(-½ (t/T)²) − exp(-½)) / (1 − exp(-½))``, 1 at the station and 0 at T.

``A_i`` is in visits per day per unit of demand weight (per worker when weights count workers).
A station with no demand in its catchment has ``R_j = 0`` (its capacity reaches nobody); otherwise
``Σ_i w_i A_i = Σ_j S_j`` over stations with demand, which the tests check. Unsnappable points
(beyond the snap limit) reach no station: ``A = 0``, flagged ``snapped = False``, kept in every total.
Per area: the weight-weighted mean of ``A_i`` over the area's points (and the weighted median).
All frames are WGS-84 (EPSG:4326).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from geo.areas import area_index
from geo.capacity.supply import station_capacity
from geo.capacity.travel import TravelPairs, travel_pairs
from geo.checks import check_capacities, check_choice, check_minutes
from geo.coverage import OUTSIDE_AREAS, demand_weights, weighted_quantile
from geo.errors import InputError
from geo.network import Network

log = logging.getLogger(__name__)

DECAYS: tuple[str, ...] = ("gaussian", "none")
_E = math.exp(-0.5)
AREA_COLUMNS: tuple[str, ...] = (
    "area_code", "area_name", "demand_count", "demand_total", "access_mean", "access_median",
    "access_min", "zero_access_weight", "zero_access_share", "stations", "capacity_per_day",
)  # fmt: skip

__all__ = ["AREA_COLUMNS", "DECAYS", "AccessResult", "decay_weights", "fca_scores", "two_step_fca"]


def decay_weights(minutes: NDArray[np.float64], cutoff_minutes: float, decay: str) -> NDArray[np.float64]:
    """``f(t)`` of the module doc for travel times ``minutes`` (0 beyond the cutoff)."""
    decay = check_choice(decay, field="decay", choices=DECAYS)
    t = np.asarray(minutes, dtype=np.float64)
    inside = t <= cutoff_minutes
    if decay == "none":
        return inside.astype(np.float64)
    g = (np.exp(-0.5 * (t / cutoff_minutes) ** 2) - _E) / (1.0 - _E)
    return np.where(inside, np.clip(g, 0.0, 1.0), 0.0)


def fca_scores(
    pairs: TravelPairs, weight: NDArray[np.float64], supply: NDArray[np.float64], *, decay: str
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Both steps on the pairs: ``(A per point, R per station, Σ_k w_k f(t_kj) per station)``."""
    w = np.asarray(weight, dtype=np.float64)
    s = np.asarray(supply, dtype=np.float64)
    f = decay_weights(pairs.minutes, pairs.cutoff_minutes, decay)
    in_reach = np.bincount(pairs.station, weights=w[pairs.point] * f, minlength=s.size)
    demand_in_reach = in_reach.astype(np.float64)
    ratio = np.divide(s, demand_in_reach, out=np.zeros(s.size), where=demand_in_reach > 0)
    access = np.bincount(pairs.point, weights=ratio[pairs.station] * f, minlength=w.size).astype(np.float64)
    return access, ratio, demand_in_reach


@dataclass(frozen=True, eq=False)
class AccessResult:
    """One 2SFCA run.

    Attributes
    ----------
    points : GeoDataFrame
        The demand frame + ``access`` (A_i, visits/day per unit weight), ``stations_within`` (stations
        with ``t ≤ T``), ``nearest_minutes`` (NaN when none), ``snapped`` and, with areas,
        ``area_code``/``area_name``; EPSG:4326.
    stations : GeoDataFrame
        The stations + ``capacity_per_day``, ``capacity_source``, ``demand_in_reach``
        (Σ w f(t)), ``ratio`` (R_j) and ``snapped``.
    by_area : DataFrame
        :data:`AREA_COLUMNS` per area, the row ``(outside areas)`` last (empty without areas).
    summary : dict
        ``minutes``, ``decay``, ``mode``, ``stations``, ``capacity_total``, ``capacity_reaching_demand``,
        ``demand_total``, ``access_mean`` (weighted), ``access_median``, ``zero_access_weight``,
        ``zero_access_share``, ``pairs``, ``unsnappable`` (points), ``stations_unsnappable``.
    """

    points: gpd.GeoDataFrame
    stations: gpd.GeoDataFrame
    by_area: pd.DataFrame
    summary: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the summary keys + ``by_area`` rows (NaN → None)."""
        def clean(v: Any) -> Any:
            if isinstance(v, np.generic):
                v = v.item()
            return None if isinstance(v, float) and not math.isfinite(v) else v

        rows = [{k: clean(v) for k, v in r.items()} for r in self.by_area.to_dict(orient="records")]
        return {**{k: clean(v) for k, v in self.summary.items()}, "by_area": rows}


def _points_xy(frame: gpd.GeoDataFrame, *, field: str) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    if not isinstance(frame, gpd.GeoDataFrame):
        raise InputError(f"{field} must be a GeoDataFrame, got {type(frame).__name__}", field=field)
    if len(frame) and (frame.crs is None or frame.crs.to_epsg() != 4326):
        raise InputError(f"{field} must be in EPSG:4326", field=field)
    if len(frame) and not (frame.geometry.geom_type == "Point").all():
        raise InputError(f"{field} geometry must be points", field=field)
    return frame.geometry.x.to_numpy(dtype=np.float64), frame.geometry.y.to_numpy(dtype=np.float64)


def _with_capacity(
    stations: gpd.GeoDataFrame, capacity: Any, visits: pd.DataFrame | None
) -> gpd.GeoDataFrame:
    """The stations with ``capacity_per_day`` and ``capacity_source`` (computed, a column, or given)."""
    if capacity is None and "capacity_per_day" not in stations.columns:
        return station_capacity(stations, visits=visits)
    out = stations.copy()
    if capacity is None:  # capacities computed before (station_capacity) or given in the frame
        out["capacity_per_day"] = check_capacities(stations["capacity_per_day"], field="capacity_per_day")
        if "capacity_source" not in out.columns:
            out["capacity_source"] = "column"
        return out
    if isinstance(capacity, str):
        if capacity not in stations.columns:
            raise InputError(f"stations have no column {capacity!r} to take capacity from", field="capacity")
        out["capacity_per_day"] = check_capacities(stations[capacity], field="capacity")
        out["capacity_source"] = "column"
        return out
    values = check_capacities(np.atleast_1d(np.asarray(capacity, dtype=object)), field="capacity")
    if values.size != len(stations):
        raise InputError(f"capacity has {values.size} values for {len(stations)} stations", field="capacity")
    out["capacity_per_day"] = values
    out["capacity_source"] = "given"
    return out


def two_step_fca(
    network: Network,
    stations: gpd.GeoDataFrame,
    demand: gpd.GeoDataFrame,
    *,
    minutes: float = 15.0,
    decay: str = "gaussian",
    capacity: Any = None,
    visits: pd.DataFrame | None = None,
    areas: gpd.GeoDataFrame | None = None,
    snap_meters: float = 300.0,
) -> AccessResult:
    """2SFCA accessibility of station capacity (see the module doc for the mathematics).

    Parameters
    ----------
    network : Network
        Travel network of the mode (its speed turns metres into minutes).
    stations : GeoDataFrame
        Stations that serve (EPSG:4326); filter first (e.g. :func:`geo.coverage.select_stations`).
    demand : GeoDataFrame
        Demand points (EPSG:4326) with ``weight`` (1 each when absent).
    minutes : float
        Catchment ``T`` in minutes.
    decay : {"gaussian", "none"}
        Distance decay within the catchment.
    capacity : None, str or array-like
        ``None``: :func:`geo.capacity.supply.station_capacity` (with ``visits``), or the frame's own
        ``capacity_per_day`` when present; a column name; or one value per station (visits/day).
    visits : DataFrame, optional
        Visit log for the capacity (``station_id``, ``visited_at``).
    areas : GeoDataFrame, optional
        Canonical areas frame for :attr:`AccessResult.by_area`.
    snap_meters : float
        Snap limit for points and stations.

    Returns
    -------
    AccessResult
    """
    minutes = check_minutes(minutes)
    decay = check_choice(decay, field="decay", choices=DECAYS)
    dx, dy = _points_xy(demand, field="demand")
    sx, sy = _points_xy(stations, field="stations")
    st = _with_capacity(stations, capacity, visits)
    w = demand_weights(demand)
    supply = st["capacity_per_day"].to_numpy(dtype=np.float64)
    pairs = travel_pairs(network, dx, dy, sx, sy, minutes=minutes, snap_meters=snap_meters)
    access, ratio, in_reach = fca_scores(pairs, w, supply, decay=decay)
    pts = demand.copy()
    pts["access"] = access
    pts["stations_within"] = np.bincount(pairs.point, minlength=len(demand))
    nearest = np.full(len(demand), np.inf)
    np.minimum.at(nearest, pairs.point, pairs.minutes)
    pts["nearest_minutes"] = np.where(np.isfinite(nearest), nearest, np.nan)
    pts["snapped"] = pairs.point_snapped
    st["demand_in_reach"] = in_reach
    st["ratio"] = ratio
    st["snapped"] = pairs.station_snapped
    by_area = _by_area(pts, areas, dx, dy, sx, sy, w, supply)
    summary = _summary(network, pairs, w, access, supply, in_reach, decay)
    log.info("2SFCA %s T=%g: mean access %.4g over %d points, %d stations",
             decay, minutes, summary["access_mean"] or 0.0, len(demand), len(stations))
    return AccessResult(points=pts, stations=st, by_area=by_area, summary=summary)


def _summary(
    network: Network, pairs: TravelPairs, w: NDArray[np.float64], access: NDArray[np.float64],
    supply: NDArray[np.float64], in_reach: NDArray[np.float64], decay: str,
) -> dict[str, Any]:
    total = float(w.sum())
    zero = float(w[access <= 0].sum())
    return {
        "mode": network.mode,
        "minutes": pairs.cutoff_minutes,
        "decay": decay,
        "stations": int(supply.size),
        "capacity_total": float(supply.sum()),
        "capacity_reaching_demand": float(supply[in_reach > 0].sum()),
        "demand_count": int(w.size),
        "demand_total": total,
        "access_mean": float(np.sum(w * access) / total) if total > 0 else float("nan"),
        "access_median": weighted_quantile(access, w, 0.5),
        "zero_access_weight": zero,
        "zero_access_share": zero / total if total > 0 else float("nan"),
        "pairs": len(pairs),
        "unsnappable": int(np.sum(~pairs.point_snapped)),
        "stations_unsnappable": int(np.sum(~pairs.station_snapped)),
    }


def _by_area(
    pts: gpd.GeoDataFrame, areas: gpd.GeoDataFrame | None, dx: NDArray[np.float64], dy: NDArray[np.float64],
    sx: NDArray[np.float64], sy: NDArray[np.float64], w: NDArray[np.float64], supply: NDArray[np.float64],
) -> pd.DataFrame:
    """Per-area table; also writes ``area_code``/``area_name`` into ``pts`` (a new frame)."""
    if areas is None:
        return pd.DataFrame(columns=list(AREA_COLUMNS))
    missing = sorted({"area_code", "area_name"} - set(areas.columns))
    if missing:
        raise InputError(f"areas frame lacks column(s) {', '.join(missing)}", field="areas")
    codes = areas["area_code"].astype(str).to_numpy()
    names = areas["area_name"].to_numpy()
    pa, sa = area_index(dx, dy, areas), area_index(sx, sy, areas)
    pts["area_code"] = np.where(pa >= 0, codes[np.maximum(pa, 0)], None)
    pts["area_name"] = np.where(pa >= 0, names[np.maximum(pa, 0)], None)
    access = pts["access"].to_numpy(dtype=np.float64)
    rows = []
    for k, (code, name) in enumerate([*zip(codes, names, strict=True), (OUTSIDE_AREAS, OUTSIDE_AREAS)]):
        key = k if k < len(codes) else -1
        m, ms = pa == key, sa == key
        wk, ak = w[m], access[m]
        tot, zero = float(wk.sum()), float(wk[ak <= 0].sum())
        rows.append({
            "area_code": code, "area_name": name, "demand_count": int(m.sum()), "demand_total": tot,
            "access_mean": float(np.sum(wk * ak) / tot) if tot > 0 else float("nan"),
            "access_median": weighted_quantile(ak, wk, 0.5),
            "access_min": float(ak.min()) if ak.size else float("nan"),
            "zero_access_weight": zero, "zero_access_share": zero / tot if tot > 0 else float("nan"),
            "stations": int(ms.sum()), "capacity_per_day": float(supply[ms].sum()),
        })
    return pd.DataFrame(rows, columns=list(AREA_COLUMNS))
