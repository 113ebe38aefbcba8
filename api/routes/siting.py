"""``POST /siting``: where the next stations should go (MCLP / set covering / budget, HiGHS or greedy)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from api.deps import SessionDep, SettingsDep
from api.routes._geojson import json_value
from api.schemas import ErrorBody, FairSitingRequest
from api.services import served_areas, served_candidates, served_demand
from geo.errors import InputError

router = APIRouter(tags=["siting"])


@router.post(
    "/siting",
    responses={
        400: {"model": ErrorBody, "description": "the body cannot be parsed"},
        422: {"model": ErrorBody, "description": "invalid scenario or infeasible request"},
        503: {"model": ErrorBody, "description": "the PostGIS store is unavailable"},
    },
    summary="Propose new station sites for a scenario",
)
def siting(request: Request, session: SessionDep, settings: SettingsDep, scenario: FairSitingRequest) -> Any:
    """Existing open stations are fixed; candidates are host POIs (banks, fuel stations, community centres…).

    Give exactly one of ``add`` (maximal covering), ``target_share`` (fewest sites reaching that share of
    demand) or ``budget`` (maximal covering within the candidates' total cost). Read-only: nothing is stored.
    Fairness (exact add/budget): ``min_share_per_area``, ``max_p95_per_area_minutes`` (both need stored
    areas) and ``min_share_per_group``; the answer then holds the price of fairness and the binding areas.
    """
    from geo.db import repository
    from geo.siting import plan_sites

    state = request.app.state
    networks: dict[str, Any] = request.app.state.networks
    network = networks.get(scenario.mode)
    if network is None:
        raise InputError(f"no network is loaded for mode {scenario.mode!r}", field="mode")
    demand = served_demand(state, scenario.mode)
    candidates = served_candidates(state, scenario.candidates, scenario.mode)
    areas = served_areas(state, session)
    for name in ("min_per_area", "min_share_per_area", "max_p95_per_area_minutes"):
        if getattr(scenario, name) is not None and getattr(scenario, name) != 0 and areas is None:
            raise InputError(f"{name} needs areas; the store has none (yizhan areas import)", field=name)
    result = plan_sites(
        network,
        repository.stations_frame(session),
        demand.frame,
        candidates,
        minutes=scenario.minutes,
        add=scenario.add,
        target_share=scenario.target_share,
        budget=scenario.budget,
        min_per_area=scenario.min_per_area or 0,
        areas=areas,
        method=scenario.method,
        time_limit_seconds=min(scenario.time_limit_seconds, settings.siting_time_limit_seconds),
        snap_meters=settings.snap_max_meters,
        min_share_per_area=scenario.min_share_per_area,
        max_p95_per_area_minutes=scenario.max_p95_per_area_minutes,
        min_share_per_group=scenario.min_share_per_group,
    )
    body = result.as_dict()
    body["selected"] = _in_crs(body["selected"], scenario.crs, scenario.mode)
    return json_value({**body, "crs": scenario.crs, "demand_source": demand.source})


def _in_crs(rows: list[dict[str, Any]], crs: str, mode: str) -> list[dict[str, Any]]:
    """Proposed sites with lon/lat in ``crs`` and an Amap navigation link each."""
    from geo.amap import amap_url
    from geo.crs import convert

    out = []
    for row in rows:
        glon, glat = convert(row["lon"], row["lat"], src="wgs84", dst="gcj02")
        lon, lat = (row["lon"], row["lat"]) if crs == "wgs84" else convert(
            row["lon"], row["lat"], src="wgs84", dst=crs)
        out.append({**row, "lon": lon, "lat": lat, "amap_url": amap_url(glon, glat, row["name"], mode)})
    return out
