"""``GET /nearest``: the k nearest matching stations by travel time, for a worker's phone."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import numpy as np
import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import SQLAlchemyError
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from api.deps import Mode, OutCRS, SessionScope, SessionScopeDep, network_for, query_model
from api.nearest_index import Hit, NearestIndex, StationSnapshot
from api.routes.stations import to_wgs84_point
from api.schemas import AmenityWord, ErrorBody, IsoTime, LatIn, LonIn, NearestResponse
from api.settings import Settings
from geo.amap import amap_url
from geo.catalog import resolve_amenity
from geo.crs import convert
from geo.errors import InputError, StoreUnavailableError, first_line

logger = logging.getLogger(__name__)
router = APIRouter(tags=["nearest"])

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _checked_snapshot(index: NearestIndex, sessions: SessionScope) -> StationSnapshot:
    """The snapshot after reading the registry version (thread pool) in a session of its own, closed
    (its connection handed back) before the routing work: under load a request must not hold a
    pooled connection while it computes."""
    with sessions() as session:
        return index.snapshot(session)


def _periodic_check(index: NearestIndex, sessions: SessionScope) -> None:
    """The claimed periodic registry check, run after a response was sent (thread pool). A failure
    (the store unreachable) is logged; the next claim, ``registry_check_seconds`` later, retries."""
    try:
        with sessions() as session:
            index.snapshot(session, force_check=True)
    except (SQLAlchemyError, StoreUnavailableError) as exc:  # after the response: nobody to answer
        logger.warning("periodic registry check failed: %s", first_line(exc))


def local_time(when: dt.datetime) -> dt.datetime:
    """Naive times are China time; aware times are converted to it."""
    if when.tzinfo is None:
        return when.replace(tzinfo=SHANGHAI)
    return when.astimezone(SHANGHAI)


class NearestParams(BaseModel):
    """Query parameters of ``GET /nearest`` (validated in one pass)."""

    model_config = ConfigDict(extra="forbid")

    lon: LonIn = Field(description="longitude in `crs`")  # the China box documented
    lat: LatIn = Field(description="latitude in `crs`")
    crs: OutCRS = Field(
        OutCRS.wgs84, description="coordinate system of lon/lat in and of the answer (Amap phones: gcj02)"
    )
    mode: Mode = Field(Mode.walk, description="travel mode")
    k: int = Field(3, ge=1, le=20, description="number of stations")
    amenity: list[AmenityWord] = Field(
        default_factory=list, max_length=20, description="required amenity (repeatable)"
    )
    open_now: bool = Field(False, description="only stations open now (China time)")
    at: IsoTime | None = Field(None, description="only stations open at this time (naive = China time)")


nearest_params, NEAREST_QUERY_DOCS = query_model(NearestParams)


@dataclass(frozen=True)
class _Asked:
    """A request's question in WGS-84 and catalog codes."""

    lon: float
    lat: float
    amenities: list[str]
    when: dt.datetime | None


def _asked(params: NearestParams, settings: Settings) -> _Asked:
    """Check the parameters together and put the point in WGS-84 (422 naming the field)."""
    if params.k > settings.max_k:
        raise InputError(f"k must be at most {settings.max_k}", field="k")
    if params.open_now and params.at is not None:
        raise InputError("give open_now or at, not both", field="at")
    wlon, wlat = to_wgs84_point(params.lon, params.lat, params.crs.value)
    codes = [resolve_amenity(a, field="amenity") for a in params.amenity]
    if params.at is not None:
        when: dt.datetime | None = local_time(params.at)
    else:
        when = dt.datetime.now(SHANGHAI) if params.open_now else None
    return _Asked(wlon, wlat, codes, when)


async def _lookup(
    index: NearestIndex, sessions: SessionScope, params: NearestParams, asked: _Asked, settings: Settings
) -> tuple[StationSnapshot, list[Hit], float, BackgroundTask | None]:
    """The hits from the index: on the event loop when the stations are checked and the table is
    cached (a snap, a row lookup, one short path); a table build or derivation in the thread pool.

    After a write through this API (or with ``registry_check_seconds`` 0) the request waits for the
    stations to be refreshed (thread pool): it must see the write. The periodic check for other
    writers is claimed by one request per period and made after its answer is sent (the returned
    background task), so no request waits for it.
    """
    check = None
    if index.must_refresh() or index.check_seconds <= 0:
        current = await run_in_threadpool(_checked_snapshot, index, sessions)
    else:
        current = index.current()
        if index.claim_check():
            check = BackgroundTask(_periodic_check, index, sessions)
    mode = params.mode.value
    query = partial(index.query, current, mode, asked.lon, asked.lat, k=params.k,
                    amenities=asked.amenities, at=asked.when, snap_max_meters=settings.snap_max_meters)
    if index.is_warm(current, mode, amenities=asked.amenities, at=asked.when):
        return (*query(), check)
    return (*await run_in_threadpool(query), check)


def _output_points(
    snap: StationSnapshot, hits: list[Hit], crs: str
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """The station points then every route vertex, in ``crs`` (x, y) and in GCJ-02 (for Amap), in
    one vectorised conversion."""
    pos = [hit.position for hit in hits]
    if not pos:
        empty = np.empty(0)
        return empty, empty, empty, empty
    xy = np.concatenate([np.column_stack([snap.lon[pos], snap.lat[pos]]), *(hit.route for hit in hits)])
    gx, gy = convert(xy[:, 0], xy[:, 1], src="wgs84", dst="gcj02")
    if crs == "gcj02":
        return gx, gy, gx, gy
    if crs == "bd09":
        bx, by = convert(gx, gy, src="gcj02", dst="bd09")
        return np.asarray(bx), np.asarray(by), gx, gy
    return xy[:, 0], xy[:, 1], gx, gy


def _results(
    snap: StationSnapshot, hits: list[Hit], crs: str, mode: str, today: dt.date
) -> list[dict[str, Any]]:
    """One result per hit: the station Feature in ``crs``, minutes, metres, the route, today's
    opening hours and the Amap link."""
    from geo.hours import hours_on

    ox, oy, gx, gy = _output_points(snap, hits, crs)
    n_st = len(hits)
    route_coords = np.round(np.column_stack([ox[n_st:], oy[n_st:]]), 7).tolist()
    results: list[dict[str, Any]] = []
    start = 0
    for i, hit in enumerate(hits):
        base = snap.features[hit.position]
        props = dict(base["properties"])
        hours = snap.opening_hours[hit.position]
        props["hours_today"] = hours_on(hours, today) if hours else None
        point = {"type": "Point", "coordinates": [round(float(ox[i]), 7), round(float(oy[i]), 7)]}
        end = start + len(hit.route)
        results.append({
            "station": {"type": "Feature", "id": base["id"], "geometry": point, "properties": props},
            "minutes": round(hit.minutes, 3),
            "meters": round(hit.meters, 1),
            "route": {"type": "LineString", "coordinates": route_coords[start:end]},
            "amap_url": amap_url(float(gx[i]), float(gy[i]), str(props.get("name") or ""), mode),
            "hours_today": props["hours_today"],
        })  # fmt: skip
        start = end
    return results


@router.get(
    "/nearest",
    response_model=NearestResponse,
    responses={422: {"model": ErrorBody, "description": "invalid or unsnappable point, bad parameter"}},
    summary="Nearest stations by travel time (for a worker's phone)",
    openapi_extra=NEAREST_QUERY_DOCS,
)
async def nearest(
    request: Request, sessions: SessionScopeDep, params: Annotated[NearestParams, Depends(nearest_params)]
) -> Any:
    """The ``k`` nearest open stations (with the amenities asked for) by travel time along the streets.

    Each result has the station as a GeoJSON Feature (coordinates in `crs`), the travel minutes and
    metres, the route (GeoJSON LineString in `crs`), today's opening hours and an Amap navigation link.

    Served on the event loop from the precomputed tables (a snap, a row lookup and one short path);
    reading the registry version (and the stations that changed), and building or updating a table,
    run in the thread pool (see ``_lookup``).
    """
    state = request.app.state
    settings: Settings = state.settings
    network_for(state.networks, params.mode)
    asked = _asked(params, settings)
    snap, hits, snap_m, check = await _lookup(state.nearest, sessions, params, asked, settings)
    today = (asked.when or dt.datetime.now(SHANGHAI)).date()
    body = {
        "query": {
            "lon": params.lon,
            "lat": params.lat,
            "crs": params.crs.value,
            "lon_wgs84": round(asked.lon, 7),
            "lat_wgs84": round(asked.lat, 7),
            "mode": params.mode.value,
            "k": params.k,
            "amenity": asked.amenities,
            "at": asked.when.isoformat() if asked.when else None,
            "snap_meters": round(snap_m, 1),
        },
        "results": _results(snap, hits, params.crs.value, params.mode.value, today),
    }
    # the dict already has the documented shape: no response-model validation, and orjson writes it
    # in a tenth of the time json.dumps takes
    return Response(orjson.dumps(body), media_type="application/json", background=check)
