"""Region siting: the exact per-county siting (``geo.siting.plan_sites``) as one Dask task per county.

Each county gets its own request (``add_per_area`` new sites, or a ``budget_per_area``) over the
candidates inside its polygon, for the demand inside its polygon, with the existing stations of the
county and its halo fixed (they cover what they cover before anything is added). The county network
holds every path of up to the horizon from the county's points (see :mod:`geo.region.coverage`), so
each county's model is the one a single machine would solve on the merged network for that county.
The proposals of all counties are merged into one frame with area codes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.checks import check_count, check_minutes, check_positive
from geo.errors import InputError
from geo.network import read_network_npz
from geo.region.coverage import dask_client
from geo.region.inputs import (
    WGS84,
    RegionPlan,
    area_of,
    demand_rows,
    plan_region,
    station_rows,
    stations_near,
)

log = logging.getLogger(__name__)

__all__ = ["RegionSiting", "region_sites", "site_area"]

PER_AREA_COLUMNS: tuple[str, ...] = (
    "area_code",
    "name",
    "weight",
    "covered_before",
    "covered_after",
    "share_before",
    "share_after",
    "stations_before",
    "stations_added",
    "candidates",
    "status",
)


@dataclass(frozen=True, eq=False)
class RegionSiting:
    """Proposals of every county.

    Attributes
    ----------
    proposals : GeoDataFrame
        One row per proposed site (EPSG:4326 points): ``area_code``, ``order`` (within the county),
        ``candidate_id``, ``name``, ``host_type``, ``cost``, ``lon``, ``lat``, ``gain``,
        ``cumulative_share`` (of the county's demand).
    per_area : DataFrame
        :data:`PER_AREA_COLUMNS` per county with demand.
    summary : dict
        JSON-ready totals: demand, covered before/after, shares, sites.
    """

    proposals: gpd.GeoDataFrame
    per_area: pd.DataFrame
    summary: dict[str, Any]


def site_area(
    path: str,
    code: str,
    polygon_wkt: str,
    stations: pd.DataFrame,
    demand: pd.DataFrame,
    candidates: pd.DataFrame | None,
    *,
    spacing_meters: float,
    minutes: float,
    add: int | None,
    budget: float | None,
    method: str,
    snap_meters: float,
    time_limit_seconds: float,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One county's siting (a Dask task). Candidates: the given rows (``candidate_id``, ``name``,
    ``host_type``, ``cost``, ``lon``, ``lat``), or street nodes of the county network every
    ``spacing_meters`` inside the county polygon when ``candidates`` is None."""
    from geo.siting import candidates_from_network, plan_sites

    net = read_network_npz(path)
    polygon = shapely.from_wkt(polygon_wkt)
    if candidates is None:
        cand = candidates_from_network(net, spacing_meters=spacing_meters)
        cand = cand[shapely.contains_xy(polygon, cand.geometry.x.to_numpy(), cand.geometry.y.to_numpy())]
        cand = cand.reset_index(drop=True)
    else:
        cand = gpd.GeoDataFrame(
            candidates.drop(columns=["lon", "lat"]),
            geometry=gpd.points_from_xy(candidates["lon"], candidates["lat"]),
            crs=WGS84,
        )
    st = gpd.GeoDataFrame(
        {"station_id": stations["station_id"].to_numpy(), "status": "open"},
        geometry=gpd.points_from_xy(stations["lon"], stations["lat"]),
        crs=WGS84,
    )
    dm = gpd.GeoDataFrame(
        {"weight": demand["weight"].to_numpy()},
        geometry=gpd.points_from_xy(demand["lon"], demand["lat"]),
        crs=WGS84,
    )
    n_add = None if add is None else min(add, len(cand))
    res = plan_sites(
        net,
        st,
        dm,
        cand,
        minutes=minutes,
        add=n_add,
        budget=budget,
        method=method,
        snap_meters=snap_meters,
        time_limit_seconds=time_limit_seconds,
    )
    sel = pd.DataFrame(res.selected.drop(columns="geometry"))
    sel.insert(0, "area_code", code)
    row = {
        "area_code": code,
        "weight": res.total_weight,
        "covered_before": res.covered_before,
        "covered_after": res.covered_after,
        "share_before": res.share_before,
        "share_after": res.share_after,
        "stations_before": len(stations),
        "stations_added": len(sel),
        "candidates": len(cand),
        "status": res.status,
    }
    return sel, row


def _candidate_rows(candidates: gpd.GeoDataFrame) -> pd.DataFrame:
    from geo.siting.candidates import validate_candidates

    validate_candidates(candidates)
    g = candidates.to_crs(WGS84).geometry
    return pd.DataFrame(
        {
            "candidate_id": candidates["candidate_id"].astype(str).to_numpy(),
            "name": candidates["name"].astype(str).to_numpy(),
            "host_type": candidates["host_type"].astype(str).to_numpy(),
            "cost": candidates["cost"].to_numpy(dtype=np.float64),
            "lon": g.x.to_numpy(),
            "lat": g.y.to_numpy(),
        }
    )


def region_sites(
    networks: str | Path,
    stations: gpd.GeoDataFrame,
    demand: gpd.GeoDataFrame,
    *,
    candidates: gpd.GeoDataFrame | None = None,
    spacing_meters: float = 300.0,
    mode: str = "walk",
    minutes: float = 15.0,
    add_per_area: int | None = None,
    budget_per_area: float | None = None,
    method: str = "exact",
    snap_meters: float = 300.0,
    time_limit_seconds: float = 60.0,
    open_only: bool = True,
    scheduler: Any = "local",
) -> RegionSiting:
    """Propose new stations county by county, each county a Dask task (see the module doc).

    Parameters
    ----------
    networks : str or Path
        A networks folder (``manifest.json``, issue #16 format) whose halo covers ``minutes``.
    stations, demand : GeoDataFrame
        Existing stations (EPSG:4326; open ones fixed unless ``open_only=False``) and demand points
        (``weight``).
    candidates : GeoDataFrame, optional
        Canonical candidates (:mod:`geo.siting.candidates`); default: street nodes every
        ``spacing_meters`` of each county network, inside the county.
    add_per_area, budget_per_area
        Exactly one: new sites per county (fewer where the county has fewer candidates), or a cost
        budget per county.
    method : {"exact", "greedy"}
        ``geo.siting.plan_sites`` method.

    Returns
    -------
    RegionSiting
    """
    _check_request(add_per_area=add_per_area, budget_per_area=budget_per_area, minutes=minutes)
    plan = plan_region(networks, mode=mode, horizon_minutes=minutes, snap_meters=snap_meters)
    st_all = station_rows(stations, open_only=open_only)
    dm_all = demand_rows(demand).drop(columns="pos")
    jobs = _area_jobs(plan, st_all, dm_all, candidates, snap_meters=snap_meters)
    params = {
        "spacing_meters": spacing_meters, "minutes": minutes, "add": add_per_area, "budget": budget_per_area,
        "method": method, "snap_meters": snap_meters, "time_limit_seconds": time_limit_seconds,
    }  # fmt: skip
    with dask_client(scheduler) as client:
        futures = [
            client.submit(site_area, str(e.path), e.code, wkt, st, dm, cd, key=f"region-site-{e.code}",
                          pure=False, retries=2, **params)
            for e, wkt, st, dm, cd in jobs
        ]
        results = client.gather(futures)
    return _merge_sites(plan.entries, results)


def _check_request(*, add_per_area: int | None, budget_per_area: float | None, minutes: float) -> None:
    """Exactly one of the per-county objectives, and a threshold (:mod:`geo.checks` wordings)."""
    if (add_per_area is None) == (budget_per_area is None):
        raise InputError("give exactly one of add_per_area or budget_per_area", field="add_per_area")
    if add_per_area is not None:
        check_count(add_per_area, field="add_per_area")
    if budget_per_area is not None:
        check_positive(budget_per_area, field="budget_per_area")
    check_minutes(minutes)


def _area_jobs(
    plan: RegionPlan,
    st_all: pd.DataFrame,
    dm_all: pd.DataFrame,
    candidates: gpd.GeoDataFrame | None,
    *,
    snap_meters: float,
) -> list[tuple[Any, str, pd.DataFrame, pd.DataFrame, pd.DataFrame | None]]:
    """One job per county with demand: its entry, polygon (WKT), stations near its network, its own
    demand points and its own candidates (None: the task takes street nodes)."""
    point_area = area_of(plan, dm_all["lon"], dm_all["lat"])
    cand_rows = _candidate_rows(candidates) if candidates is not None else None
    cand_area = area_of(plan, cand_rows["lon"], cand_rows["lat"]) if cand_rows is not None else None
    near = stations_near(plan.entries, st_all, snap_meters=snap_meters)
    jobs = []
    for i, e in enumerate(plan.entries):
        if not (point_area == i).any():
            continue
        cands = None
        if cand_rows is not None and cand_area is not None:
            cands = cand_rows[cand_area == i].reset_index(drop=True)
        wkt = shapely.to_wkt(plan.polygons[i], rounding_precision=-1)
        jobs.append((e, wkt, st_all[near[i]].reset_index(drop=True),
                     dm_all[point_area == i].reset_index(drop=True), cands))
    return jobs


def _merge_sites(entries: Any, results: list[tuple[pd.DataFrame, dict[str, Any]]]) -> RegionSiting:
    names = {e.code: e.name for e in entries}
    parts = [sel for sel, _row in results if len(sel)]
    table = (
        pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["area_code", "lon", "lat"])
    )
    proposals = gpd.GeoDataFrame(table, geometry=gpd.points_from_xy(table["lon"], table["lat"]), crs=WGS84)
    per_area = pd.DataFrame(
        [dict(r, name=names[r["area_code"]]) for _sel, r in results], columns=list(PER_AREA_COLUMNS)
    )
    total = float(per_area["weight"].sum())
    before = float(per_area["covered_before"].sum())
    after = float(per_area["covered_after"].sum())
    summary = {
        "areas": len(per_area),
        "sites": len(proposals),
        "demand": total,
        "covered_before": before,
        "covered_after": after,
        "share_before": before / total if total > 0 else None,
        "share_after": after / total if total > 0 else None,
    }
    return RegionSiting(proposals=proposals, per_area=per_area, summary=summary)
