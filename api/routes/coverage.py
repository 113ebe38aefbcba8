"""``/coverage``, ``/coverage/areas``, ``/coverage/area.geojson`` and ``/gaps``.

Demand, areas and the cached results come from :mod:`api.services` (the demand given at serve, else
street length of the served network; every response names it in ``demand_source``). Coordinates
out are WGS-84 unless ``crs=gcj02|bd09``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from api.deps import CoverageDep, OutCRS
from api.routes._geojson import GEOJSON, features, json_value
from api.schemas import AreaTable, CoverageResponse, ErrorBody, FeatureCollection
from api.services import covered_area_cached

router = APIRouter(tags=["coverage"])

ERRORS: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorBody, "description": "invalid parameter (the body names the field)"},
    503: {"model": ErrorBody, "description": "the PostGIS store is unavailable"},
}

CRSOut = Annotated[OutCRS, Query(description="coordinates out: wgs84 (default), gcj02 or bd09")]


def _records(frame: Any) -> list[dict[str, Any]]:
    if frame is None or len(frame) == 0:
        return []
    cols = [c for c in frame.columns if c != "geometry"]
    out: list[dict[str, Any]] = json_value(frame[cols].to_dict(orient="records"))
    return out


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
