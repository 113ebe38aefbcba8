"""``/maps/coverage`` (planner's map) and ``/maps/finder`` (workers' finder page); ``/static`` assets."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from api.deps import DEFAULT_MODE, CoverageDep, Mode, SessionDep
from api.schemas import ErrorBody
from api.services import covered_area_cached

router = APIRouter(prefix="/maps", tags=["maps"])

Tiles = Annotated[Literal["osm", "amap", "none"], Query(description="basemap (amap tiles are GCJ-02)")]
HTML_OK: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/html": {"schema": {"type": "string"}}}, "description": "an HTML page"},
    422: {"model": ErrorBody, "description": "invalid parameter"},
    503: {"model": ErrorBody, "description": "the PostGIS store is unavailable"},
}


@router.get("/finder", responses=HTML_OK, summary="Workers' finder map (爱心地图)")
def finder(
    session: SessionDep,
    lang: Annotated[Literal["zh", "en"], Query()] = "zh",
    tiles: Tiles = "osm",
    mode: Annotated[Mode, Query(description="initial travel mode")] = DEFAULT_MODE,
    k: Annotated[int, Query(ge=1, le=20)] = 3,
) -> Any:
    """A phone-first page asking ``/nearest`` for the nearest open stations, with Amap navigation links."""
    from geo.db import repository
    from maps.finder import finder_page

    stations = repository.stations_frame(session, statuses=["open"])
    reports = _accepted_reports(session, lang)
    html = finder_page(stations, api_base="", lang=lang, tiles=tiles, assets="local", mode=mode.value, k=k,
                       reports=reports)
    return HTMLResponse(html)


def _accepted_reports(session: Any, lang: str) -> dict[str, list[dict[str, str]]]:
    """Station operations: accepted, unresolved worker reports per station id, as display lines."""
    from geo.ops.feedback import active_reports
    from maps.station_page import report_lines

    by_station: dict[str, list[dict[str, Any]]] = {}
    for rep in active_reports(session):
        by_station.setdefault(str(rep["station_id"]), []).append(rep)
    return {sid: report_lines(reps, lang=lang) for sid, reps in by_station.items()}


@router.get("/coverage", responses=HTML_OK, summary="Planner's coverage map")
def coverage_page(
    request: Request,
    session: SessionDep,
    run: CoverageDep,
    tiles: Tiles = "osm",
) -> Any:
    """Stations, covered area, gaps and areas with the headline figures (folium, assets from /static)."""
    from geo.db import repository
    from geo.gaps import find_gaps
    from maps.coverage import coverage_map

    result = run.result
    from geo.ops.standards import with_stars
    from geo.ops.usage import with_use

    m = coverage_map(
        with_use(session, with_stars(session, repository.stations_frame(session))),
        covered=covered_area_cached(request.app.state, run.served),
        gaps=find_gaps(result, stations=result.stations),
        areas=run.served.areas,
        headline=result.summary.as_dict(),
        minutes=run.minutes,
        tiles=tiles,
        assets="local",
        date=dt.date.today(),
    )
    return HTMLResponse(m.get_root().render())


def install(app: FastAPI) -> None:
    """Add the map pages and mount the maps' static assets at ``/static``."""
    from maps.assets import STATIC_DIR, STATIC_URL

    app.include_router(router)
    app.mount(STATIC_URL, StaticFiles(directory=STATIC_DIR, check_dir=False), name="static")
