"""``/coverage``, ``/coverage/areas``, ``/coverage/area.geojson`` and ``/gaps``.

Demand, areas and the cached results come from :mod:`api.services` (the demand given at serve, else
street length of the served network; every response names it in ``demand_source``). Coordinates
out are WGS-84 unless ``crs=gcj02|bd09``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from api.deps import Mode, NetworkDep, OutCRS, SessionDep
from api.routes._geojson import GEOJSON, features, json_value
from api.schemas import MAX_MINUTES, AreaTable, CoverageResponse, ErrorBody, FeatureCollection, IsoTime, Word
from api.services import ServedCoverage, coverage_result, covered_area_cached
from geo.catalog import resolve_amenity

router = APIRouter(tags=["coverage"])

ERRORS: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorBody, "description": "invalid parameter (the body names the field)"},
    503: {"model": ErrorBody, "description": "the PostGIS store is unavailable"},
}

Minutes = Annotated[float, Query(gt=0, le=MAX_MINUTES, description="travel-time threshold (minutes)")]
OpenAt = Annotated[
    IsoTime | None, Query(description="count only stations open at this time (naive = China time)")
]
Amenity = Annotated[
    list[Word] | None, Query(description="count only stations with this amenity", max_length=20)
]
CRSOut = Annotated[OutCRS, Query(description="coordinates out: wgs84 (default), gcj02 or bd09")]


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

    served: ServedCoverage
    query: dict[str, Any]
    minutes: float

    @property
    def result(self) -> Any:
        """The :class:`geo.coverage.CoverageResult`."""
        return self.served.result

    @property
    def demand_source(self) -> str:
        return self.served.demand_source


def coverage_run(
    request: Request,
    session: SessionDep,
    network: NetworkDep,
    mode: Annotated[Mode, Query(description="travel mode")] = Mode.walk,
    minutes: Minutes = 15.0,
    open_at: OpenAt = None,
    amenity: Amenity = None,
) -> CoverageRun:
    """The query parameters every coverage endpoint shares, resolved to a cached result."""
    codes = _amenities(amenity)
    when = _local(open_at)
    served = coverage_result(
        request.app.state, session, mode.value, minutes=minutes, open_at=when, amenities=codes
    )
    return CoverageRun(served=served, query=_query(mode.value, minutes, when, codes), minutes=minutes)


CoverageDep = Annotated[CoverageRun, Depends(coverage_run)]


@router.get(
    "/coverage",
    response_model=CoverageResponse,
    responses=ERRORS,
    summary="Coverage summary, per area and per worker group",
)
def coverage(run: CoverageDep) -> Any:
    """Share of demand within ``minutes`` of an open station (the project's travel-time definition)."""
    unknown = run.served.amenity_unknown
    return {
        "query": run.query,
        "demand_source": run.demand_source,
        "summary": json_value(run.result.summary.as_dict()),
        "by_area": _records(run.result.by_area),
        "by_group": _records(run.result.by_group),
        "amenity_unknown": None if unknown is None else {"count": len(unknown), "stations": unknown[:100]},
    }


@router.get("/coverage/areas", response_model=AreaTable, responses=ERRORS, summary="Coverage per area")
def coverage_areas(run: CoverageDep) -> Any:
    return {"query": run.query, "demand_source": run.demand_source, "areas": _records(run.result.by_area)}


@router.get(
    "/coverage/area.geojson",
    response_model=FeatureCollection,
    responses={200: {"content": {GEOJSON: {}}}, **ERRORS},
    summary="The covered area (union of service areas) as GeoJSON",
)
def covered_area_geojson(request: Request, run: CoverageDep, crs: CRSOut = OutCRS.wgs84) -> Any:
    area = covered_area_cached(request.app.state, run.served)
    feats = features(area, crs=crs.value)
    body = {
        "type": "FeatureCollection",
        "demand_source": run.demand_source,
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
    crs: CRSOut = OutCRS.wgs84,
) -> Any:
    from geo.gaps import find_gaps

    hexes = find_gaps(run.result, resolution=resolution, stations=run.result.stations)
    total = len(hexes)
    id_column = "h3" if "h3" in hexes.columns else None
    feats = features(hexes.iloc[:limit], id_column=id_column, crs=crs.value)
    body = {
        "type": "FeatureCollection",
        "demand_source": run.demand_source,
        "features": feats,
        "numberMatched": total,
        "numberReturned": len(feats),
    }
    return JSONResponse(body, media_type=GEOJSON)
