"""``/coverage``, ``/coverage/areas``, ``/coverage/area.geojson`` and ``/gaps``.

Demand is the POI-based demand of the configured POI file (``YIZHAN_DEMAND_POIS``) plus the
street-length demand of the mode's network (geo.demand defaults); areas come from the store's
``areas`` table when it has any. Results are cached per registry version and question.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from api.deps import Mode, NetworkDep, SessionDep, SettingsDep
from api.routes._geojson import GEOJSON, features, json_value
from api.schemas import (  # hardening (#15): amenity names listed in the schema
    MAX_MINUTES,
    AmenityWord,
    AreaTable,
    CoverageResponse,
    ErrorBody,
    FeatureCollection,
    IsoTime,
)
from api.settings import Settings
from geo.catalog import resolve_amenity

router = APIRouter(tags=["coverage"])

ERRORS: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorBody, "description": "invalid parameter (the body names the field)"},
    503: {"model": ErrorBody, "description": "the PostGIS store is unavailable"},
}
MAX_RESULTS = 16
_CACHE_LOCK = threading.Lock()

Minutes = Annotated[float, Query(gt=0, le=MAX_MINUTES, description="travel-time threshold (minutes)")]
OpenAt = Annotated[
    IsoTime | None, Query(description="count only stations open at this time (naive = China time)")
]
Amenity = Annotated[
    list[AmenityWord] | None, Query(description="count only stations with this amenity", max_length=20)
]


class _Cache:
    """Demand per mode and coverage results per (version, question), shared by the app's requests."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.demand: dict[str, Any] = {}
        self.results: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self.areas: dict[tuple[Any, ...], Any] = {}


def clear_results(app_state: Any) -> None:
    """Forget cached coverage results (demand and candidates stay)."""
    cache = getattr(app_state, "caches", {}).get("coverage")
    if isinstance(cache, _Cache):
        with cache.lock:
            cache.results.clear()
            cache.areas.clear()


def _cache(request: Request) -> _Cache:
    caches: dict[str, Any] = request.app.state.caches
    with _CACHE_LOCK:
        cache = caches.setdefault("coverage", _Cache())
    assert isinstance(cache, _Cache)
    return cache


def _demand(cache: _Cache, settings: Settings, mode: str, network: Any) -> Any:
    from geo.demand import combine_demand, demand_from_network, demand_from_pois

    with cache.lock:
        found = cache.demand.get(mode)
    if found is not None:
        return found
    parts = []
    if settings.demand_pois is not None and settings.demand_pois.exists():
        parts.append(demand_from_pois(settings.demand_pois))
    parts.append(demand_from_network(network))
    demand = combine_demand(*parts)
    with cache.lock:
        cache.demand[mode] = demand
    return demand


def coverage_result(
    request: Request,
    session: Any,
    settings: Settings,
    network: Any,
    mode: str,
    *,
    minutes: float,
    open_at: dt.datetime | None,
    amenities: list[str],
) -> Any:
    """The cached :class:`geo.coverage.CoverageResult` of one question on the current registry."""
    from geo.coverage import compute_coverage
    from geo.db import repository

    cache = _cache(request)
    version = repository.registry_version(session)
    areas = repository.areas_frame(session)
    area_key = tuple(sorted(areas["area_code"].astype(str))) if len(areas) else ()
    key = (mode, version, float(minutes), open_at, tuple(sorted(amenities)), hash(area_key))
    with cache.lock:
        found = cache.results.get(key)
        if found is not None:
            cache.results.move_to_end(key)
            return found
    demand = _demand(cache, settings, mode, network)
    stations = repository.stations_frame(session)
    result = compute_coverage(
        network,
        stations,
        demand,
        minutes=minutes,
        horizon_minutes=max(float(minutes), settings.horizon_minutes),
        areas=areas if len(areas) else None,
        open_at=open_at,
        amenities=amenities,
        snap_meters=settings.snap_max_meters,
    )
    with cache.lock:
        cache.results[key] = result
        while len(cache.results) > MAX_RESULTS:
            cache.results.popitem(last=False)
    return result


def covered_area_cached(request: Request, result: Any) -> Any:
    """:func:`geo.coverage.covered_area` of a cached result (computed once per result)."""
    from geo.coverage import covered_area

    cache = _cache(request)
    with cache.lock:
        for key, value in cache.results.items():
            if value is result:
                found = cache.areas.get(key)
                if found is not None:
                    return found
                break
        else:
            key = None
    area = covered_area(result)
    if key is not None:
        with cache.lock:
            cache.areas[key] = area
            while len(cache.areas) > MAX_RESULTS:
                cache.areas.pop(next(iter(cache.areas)))
    return area


def _local(when: dt.datetime | None) -> dt.datetime | None:
    """Naive China time (aware times converted), as geo.hours expects."""
    from zoneinfo import ZoneInfo

    if when is None or when.tzinfo is None:
        return when
    return when.astimezone(ZoneInfo("Asia/Shanghai")).replace(tzinfo=None)


def _amenities(values: list[str] | None) -> list[str]:
    return [resolve_amenity(a, field="amenity") for a in values or []]


def _records(frame: Any) -> list[dict[str, Any]]:
    if frame is None or len(frame) == 0:
        return []
    cols = [c for c in frame.columns if c != "geometry"]
    out: list[dict[str, Any]] = json_value(frame[cols].to_dict(orient="records"))
    return out


def _query(mode: str, minutes: float, open_at: dt.datetime | None, amenities: list[str]) -> dict[str, Any]:
    return {
        "mode": mode,
        "minutes": minutes,
        "open_at": open_at.isoformat() if open_at else None,
        "amenity": amenities,
    }


@dataclass(frozen=True, eq=False)
class CoverageRun:
    """One coverage question (mode, minutes, open_at, amenities) and its cached result."""

    result: Any
    query: dict[str, Any]
    minutes: float


def coverage_run(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    network: NetworkDep,
    mode: Annotated[Mode, Query(description="travel mode")] = Mode.walk,
    minutes: Minutes = 15.0,
    open_at: OpenAt = None,
    amenity: Amenity = None,
) -> CoverageRun:
    """The query parameters every coverage endpoint shares, resolved to a cached result."""
    codes = _amenities(amenity)
    when = _local(open_at)
    result = coverage_result(
        request, session, settings, network, mode.value, minutes=minutes, open_at=when, amenities=codes
    )
    return CoverageRun(result=result, query=_query(mode.value, minutes, when, codes), minutes=minutes)


CoverageDep = Annotated[CoverageRun, Depends(coverage_run)]


@router.get(
    "/coverage",
    response_model=CoverageResponse,
    responses=ERRORS,
    summary="Coverage summary, per area and per worker group",
)
def coverage(run: CoverageDep) -> Any:
    """Share of demand within ``minutes`` of an open station (the project's travel-time definition)."""
    return {
        "query": run.query,
        "summary": json_value(run.result.summary.as_dict()),
        "by_area": _records(run.result.by_area),
        "by_group": _records(run.result.by_group),
    }


@router.get("/coverage/areas", response_model=AreaTable, responses=ERRORS, summary="Coverage per area")
def coverage_areas(run: CoverageDep) -> Any:
    return {"query": run.query, "areas": _records(run.result.by_area)}


@router.get(
    "/coverage/area.geojson",
    response_model=FeatureCollection,
    responses={200: {"content": {GEOJSON: {}}}, **ERRORS},
    summary="The covered area (union of service areas) as GeoJSON",
)
def covered_area_geojson(request: Request, run: CoverageDep) -> Any:
    area = covered_area_cached(request, run.result)
    feats = features(area)
    body = {
        "type": "FeatureCollection",
        "features": feats,
        "numberMatched": len(feats),
        "numberReturned": len(feats),
    }
    return JSONResponse(body, media_type=GEOJSON)


@router.get(
    "/gaps",
    response_model=FeatureCollection,
    responses={200: {"content": {GEOJSON: {}}}, **ERRORS},
    summary="Uncovered demand as ranked H3 hexagons (GeoJSON)",
)
def gaps(
    run: CoverageDep,
    resolution: Annotated[int, Query(ge=6, le=11, description="H3 resolution (9 ≈ 0.1 km² cells)")] = 9,
    limit: Annotated[int, Query(ge=1, le=10_000, description="largest gaps first")] = 1000,
) -> Any:
    from geo.gaps import find_gaps

    hexes = find_gaps(run.result, resolution=resolution, stations=run.result.stations)
    total = len(hexes)
    feats = features(hexes.iloc[:limit], id_column="h3" if "h3" in hexes.columns else None)
    body = {
        "type": "FeatureCollection",
        "features": feats,
        "numberMatched": total,
        "numberReturned": len(feats),
    }
    return JSONResponse(body, media_type=GEOJSON)
