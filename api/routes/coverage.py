"""``/coverage``, ``/coverage/areas``, ``/coverage/area.geojson`` and ``/gaps``.

Demand, areas and the cached results come from :mod:`api.services` (the demand given at serve, else
street length of the served network; every response names it in ``demand_source``). Coordinates
out are WGS-84 unless ``crs=gcj02|bd09``.

``/coverage`` and ``/coverage/areas`` take several thresholds, ``minutes=5,10,15`` (OpenAPI: an
array, ``style=form, explode=false``; repeating ``minutes`` works too), measured from one search at
the largest (:func:`geo.coverage.cutoffs_of`), and ``nth=N`` (2–10: the share of demand with N
stations within each threshold). Then the answer adds ``cutoffs`` (one entry per threshold) and
``nth``, and the tables a column per threshold; with one threshold and no ``nth`` it is unchanged.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from api.deps import (
    Amenity,
    CoverageDep,
    CoverageRun,
    Mode,
    OpenAt,
    OutCRS,
    coverage_run,
    get_network,
    get_session,
)
from api.routes._geojson import GEOJSON, features, json_value
from api.schemas import (
    MAX_CUTOFFS,
    MAX_MINUTES,
    AreaCutoffsTable,
    CoverageCutoffsResponse,
    ErrorBody,
    FeatureCollection,
)
from api.services import covered_area_cached
from geo.checks import MAX_NTH, check_minutes_spec

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


#: the ``minutes`` query parameter of /coverage and /coverage/areas: one threshold or several
MINUTES_PARAMETER: dict[str, Any] = {
    "name": "minutes", "in": "query", "required": False, "style": "form", "explode": False,
    "description": "travel-time threshold(s) in minutes: 15, or several from one search: 5,10,15",
    "schema": {"type": "array", "minItems": 1, "maxItems": MAX_CUTOFFS, "default": [15.0],
               "items": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_MINUTES}},
}  # fmt: skip
CUTOFFS_DOCS: dict[str, Any] = {"parameters": [MINUTES_PARAMETER]}


@dataclass(frozen=True, eq=False)
class CutoffsRun:
    """One coverage question at one or several thresholds: the run at the largest and, with several
    thresholds or ``nth``, its :class:`geo.coverage.CutoffCoverage`."""

    run: CoverageRun
    minutes: tuple[float, ...]
    cutoffs: Any = None

    @property
    def query(self) -> dict[str, Any]:
        if self.cutoffs is None:
            return self.run.query
        return {**self.run.query, "minutes": list(self.minutes), "nth": self.cutoffs.nth}

    def tables(self) -> tuple[Any, Any]:
        source = self.run.result if self.cutoffs is None else self.cutoffs
        return source.by_area, source.by_group

    def extra(self) -> dict[str, Any]:
        """``cutoffs`` and ``nth`` when there is more than one threshold or an ``nth``, else nothing."""
        if self.cutoffs is None:
            return {}
        return {"cutoffs": self.cutoffs.cutoff_dicts(), "nth": self.cutoffs.nth}


_CACHE: OrderedDict[tuple[Any, ...], tuple[Any, Any]] = OrderedDict()
_CACHE_LOCK = threading.Lock()


def _cutoffs_cached(run: CoverageRun, minutes: tuple[float, ...], nth: int | None) -> Any:
    """:func:`geo.coverage.cutoffs_of` of a cached result (the ``nth`` search runs once per result)."""
    from geo.coverage import cutoffs_of

    key = (id(run.served), minutes, nth)
    with _CACHE_LOCK:
        found = _CACHE.get(key)
        if found is not None and found[0] is run.served:
            _CACHE.move_to_end(key)
            return found[1]
    cutoffs = cutoffs_of(run.result, minutes, nth=nth)
    with _CACHE_LOCK:
        _CACHE[key] = (run.served, cutoffs)
        while len(_CACHE) > 8:
            _CACHE.popitem(last=False)
    return cutoffs


def cutoffs_run(
    request: Request,
    session: Annotated[Session, Depends(get_session)],
    network: Annotated[Any, Depends(get_network)],
    mode: Annotated[Mode, Query(description="travel mode")] = Mode.walk,
    nth: Annotated[int | None, Query(ge=2, le=MAX_NTH, description="also the N-th nearest station")] = None,
    open_at: OpenAt = None,
    amenity: Amenity = None,
) -> CutoffsRun:
    """The coverage query with ``minutes`` as one or several thresholds (422 naming ``minutes``)."""
    given = request.query_params.getlist("minutes")
    minutes = check_minutes_spec(given or [15.0], field="minutes", max_count=MAX_CUTOFFS)
    run = coverage_run(request, session, network, mode, minutes[-1], open_at, amenity)
    if len(minutes) < 2 and nth is None:
        return CutoffsRun(run=run, minutes=minutes)
    return CutoffsRun(run=run, minutes=minutes, cutoffs=_cutoffs_cached(run, minutes, nth))


CutoffsDep = Annotated[CutoffsRun, Depends(cutoffs_run)]


@router.get(
    "/coverage",
    response_model=CoverageCutoffsResponse,
    response_model_exclude_unset=True,
    responses=ERRORS,
    summary="Coverage summary, per area and per worker group",
    openapi_extra=CUTOFFS_DOCS,
)
def coverage(q: CutoffsDep) -> Any:
    """Share of demand within ``minutes`` of an open station (the project's travel-time definition);
    several thresholds (``minutes=5,10,15``) and the N-th nearest station (``nth``) from one search."""
    run = q.run
    unknown = run.served.amenity_unknown
    by_area, by_group = q.tables()
    return {
        "query": q.query,
        "demand_source": run.demand_source,
        "summary": json_value(run.result.summary.as_dict()),
        "by_area": _records(by_area),
        "by_group": _records(by_group),
        "amenity_unknown": None if unknown is None else {"count": len(unknown), "stations": unknown[:100]},
        **json_value(q.extra()),
    }


@router.get(
    "/coverage/areas",
    response_model=AreaCutoffsTable,
    response_model_exclude_unset=True,
    responses=ERRORS,
    summary="Coverage per area",
    openapi_extra=CUTOFFS_DOCS,
)
def coverage_areas(q: CutoffsDep) -> Any:
    by_area, _ = q.tables()
    return {"query": q.query, "demand_source": q.run.demand_source, "areas": _records(by_area),
            **json_value(q.extra())}


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
