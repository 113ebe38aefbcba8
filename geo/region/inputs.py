"""The inputs of a region run, checked and laid out once for coverage and siting alike.

``plan_region`` reads the manifest, the area polygons and the halo before any task starts;
``station_rows`` and ``demand_rows`` turn the frames into plain ``lon``/``lat`` tables a Dask task
receives; ``stations_near`` picks the stations of each area's task (its network's bbox grown by the
snap limit); ``area_of`` assigns each point to the first area polygon containing it.

All coordinates are WGS-84 (EPSG:4326).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from geo.areas import area_index
from geo.checks import check_non_negative, check_weights
from geo.coverage import select_stations
from geo.errors import InputError
from geo.region.manifest import AreaEntry, check_halo, network_meta, polygon_of, read_manifest, speed_of

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_HORIZON_MINUTES", "WGS84", "RegionPlan", "area_of", "demand_rows", "plan_region", "station_rows",
    "stations_near",
]

WGS84 = "EPSG:4326"
DEFAULT_HORIZON_MINUTES = 60.0


@dataclass(frozen=True)
class RegionPlan:
    """The manifest's entries of one mode, their polygons (EPSG:4326) and the search horizon."""

    entries: tuple[AreaEntry, ...]
    polygons: tuple[Any, ...]
    horizon_minutes: float


def plan_region(
    networks: str | Path,
    *,
    mode: str,
    horizon_minutes: float | None,
    snap_meters: float,
    areas: gpd.GeoDataFrame | None = None,
) -> RegionPlan:
    """Read and check the manifest, the polygons and the halo before any task starts.

    Polygons come from ``areas`` (``area_code`` polygons, EPSG:4326) or the network files; the
    horizon defaults to the largest the halo allows (``(halo − snap) / speed``), at most 60 minutes.
    """
    entries = read_manifest(networks).for_mode(mode)
    if not entries:
        raise InputError(f"the manifest of {networks} has no {mode} networks", field="mode")
    metas = [network_meta(e.path) for e in entries]
    speeds = [speed_of(e, m) for e, m in zip(entries, metas, strict=True)]
    if areas is not None:
        by_code = dict(zip(areas["area_code"].astype(str), areas.geometry.values, strict=True))
        polys = [by_code.get(e.code) for e in entries]
    else:
        polys = [polygon_of(m) for m in metas]
    missing = [e.code for e, p in zip(entries, polys, strict=True) if p is None or p.is_empty]
    if missing:
        raise InputError(
            f"no polygon for {len(missing)} area(s) (first: {missing[0]}): the network files record none; "
            "give the area boundaries (--areas)",
            field="areas",
        )
    if horizon_minutes is None:
        allowed = min(
            (e.halo_m - snap_meters) / (s * 1000.0 / 60.0) for e, s in zip(entries, speeds, strict=True)
        )
        horizon_minutes = min(DEFAULT_HORIZON_MINUTES, math.floor(allowed * 100) / 100)
        log.info("horizon %.2f min (the largest the networks' halo allows, at most 60)", horizon_minutes)
    check_halo(entries, speeds, horizon_minutes=horizon_minutes, snap_meters=snap_meters)
    return RegionPlan(entries=entries, polygons=tuple(polys), horizon_minutes=float(horizon_minutes))


def ids_of(frame: pd.DataFrame, columns: tuple[str, ...]) -> NDArray[np.object_]:
    """The first of ``columns`` the frame has, as text (missing ids stay None), else the index."""
    for c in columns:
        if c in frame.columns:
            return np.asarray([None if v is None or v is pd.NA else str(v) for v in frame[c]], dtype=object)
    return np.asarray([str(v) for v in frame.index], dtype=object)


def points_xy(frame: gpd.GeoDataFrame, *, what: str) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Longitudes and latitudes (WGS-84) of a frame of points (``what`` names it in the error)."""
    g = frame.to_crs(WGS84).geometry.values if frame.crs is not None else frame.geometry.values
    if len(g) and not bool(np.all(shapely.get_type_id(g) == 0)):
        raise InputError(f"{what} geometry must be points", field=what)
    return shapely.get_x(g).astype(np.float64), shapely.get_y(g).astype(np.float64)


def station_rows(stations: gpd.GeoDataFrame, *, open_only: bool) -> pd.DataFrame:
    """The stations a run counts (open ones unless ``open_only=False``): ``station_id``, ``lon``, ``lat``."""
    sel = select_stations(stations, open_only=open_only)
    sx, sy = points_xy(sel, what="stations")
    return pd.DataFrame({"station_id": ids_of(sel, ("station_id",)), "lon": sx, "lat": sy})


def demand_rows(demand: gpd.GeoDataFrame) -> pd.DataFrame:
    """Demand points as ``pos``, ``lon``, ``lat``, ``weight`` (1 without a ``weight`` column; every
    weight a finite number ≥ 0)."""
    dx, dy = points_xy(demand, what="demand")
    has_weight = "weight" in demand.columns
    weight = check_weights(demand["weight"], field="demand") if has_weight else np.ones(len(dx))
    return pd.DataFrame({"pos": np.arange(len(dx), dtype=np.int64), "lon": dx, "lat": dy, "weight": weight})


def area_of(plan: RegionPlan, lon: Any, lat: Any) -> NDArray[np.int64]:
    """The index of the first area polygon (manifest order) containing each point, −1 for none."""
    frame = gpd.GeoDataFrame(
        {"area_code": [e.code for e in plan.entries]}, geometry=list(plan.polygons), crs=WGS84
    )
    return np.asarray(area_index(lon, lat, frame), dtype=np.int64)


def stations_near(
    entries: tuple[AreaEntry, ...], stations: pd.DataFrame, *, snap_meters: float
) -> list[NDArray[np.bool_]]:
    """Stations of each area's task: inside the network's bbox grown by the snap limit."""
    check_non_negative(snap_meters, field="snap_meters")
    sx, sy = stations["lon"].to_numpy(), stations["lat"].to_numpy()
    out = []
    for e in entries:
        x0, y0, x1, y1 = e.bbox
        dy = snap_meters / 111_000.0 * 1.01
        dx = dy / max(0.01, math.cos(math.radians(max(abs(y0), abs(y1)))))
        out.append((sx >= x0 - dx) & (sx <= x1 + dx) & (sy >= y0 - dy) & (sy <= y1 + dy))
    return out
