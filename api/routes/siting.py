"""``POST /siting``: where the next stations should go (MCLP / set covering / budget, HiGHS or greedy)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from api.deps import SessionDep, SettingsDep
from api.routes._geojson import json_value
from api.routes.coverage import _cache, _demand
from api.schemas import ErrorBody, SitingRequest
from geo.errors import InputError

router = APIRouter(tags=["siting"])


def _candidates(request: Request, settings: Any, source: str) -> Any:
    from geo.siting.candidates import candidates_from_pois

    cache = _cache(request)
    key = f"candidates:{source}"
    with cache.lock:
        found = cache.demand.get(key)
    if found is not None:
        return found
    path = settings.demand_pois
    if path is None or not path.exists():
        raise InputError(
            f"no POI file configured for candidates (YIZHAN_DEMAND_POIS: {path})", field="candidates"
        )
    cands = candidates_from_pois(path)
    with cache.lock:
        cache.demand[key] = cands
    return cands


@router.post(
    "/siting",
    responses={
        400: {"model": ErrorBody, "description": "the body cannot be parsed"},
        422: {"model": ErrorBody, "description": "invalid scenario or infeasible request"},
        503: {"model": ErrorBody, "description": "the PostGIS store is unavailable"},
    },
    summary="Propose new station sites for a scenario",
)
def siting(request: Request, session: SessionDep, settings: SettingsDep, scenario: SitingRequest) -> Any:
    """Existing open stations are fixed; candidates are host POIs (banks, fuel stations, community centres…).

    Give exactly one of ``add`` (maximal covering), ``target_share`` (fewest sites reaching that share of
    demand) or ``budget`` (maximal covering within the candidates' total cost). Read-only: nothing is stored.
    """
    from geo.db import repository
    from geo.siting import plan_sites

    networks: dict[str, Any] = request.app.state.networks
    network = networks.get(scenario.mode)
    if network is None:
        raise InputError(f"no network is loaded for mode {scenario.mode!r}", field="mode")
    demand = _demand(_cache(request), settings, scenario.mode, network)
    candidates = _candidates(request, settings, scenario.candidates)
    areas = repository.areas_frame(session)
    if scenario.min_per_area and len(areas) == 0:
        raise InputError(
            "min_per_area needs areas; the store has none (yizhan areas import)", field="min_per_area"
        )
    result = plan_sites(
        network,
        repository.stations_frame(session),
        demand,
        candidates,
        minutes=scenario.minutes,
        add=scenario.add,
        target_share=scenario.target_share,
        budget=scenario.budget,
        min_per_area=scenario.min_per_area or 0,
        areas=areas if len(areas) else None,
        method=scenario.method,
        time_limit_seconds=min(scenario.time_limit_seconds, settings.siting_time_limit_seconds),
        snap_meters=settings.snap_max_meters,
    )
    return json_value(result.as_dict())
