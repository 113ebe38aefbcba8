"""``GET /nearest``: the k nearest matching stations by travel time, for a worker's phone."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import numpy as np
from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from api.deps import Mode, NearestIndexDep, NetworkDep, OutCRS, SessionDep, SettingsDep
from api.routes.stations import to_wgs84_point
from api.schemas import ErrorBody, IsoTime, NearestResponse, Word
from geo.catalog import resolve_amenity
from geo.crs import convert
from geo.errors import InputError

router = APIRouter(tags=["nearest"])

SHANGHAI = ZoneInfo("Asia/Shanghai")
AMAP_MODES = {"walk": "walk", "ebike": "ride"}


def amap_url(lon_gcj: float, lat_gcj: float, name: str, mode: str) -> str:
    """Amap (高德) navigation link to a GCJ-02 point (opens the app on a phone)."""
    to = f"{lon_gcj:.6f},{lat_gcj:.6f},{quote(name, safe='')}"
    return (
        f"https://uri.amap.com/navigation?to={to}&mode={AMAP_MODES.get(mode, 'walk')}"
        "&coordinate=gaode&callnative=1"
    )


def local_time(when: dt.datetime) -> dt.datetime:
    """Naive times are China time; aware times are converted to it."""
    if when.tzinfo is None:
        return when.replace(tzinfo=SHANGHAI)
    return when.astimezone(SHANGHAI)


@router.get(
    "/nearest",
    response_model=NearestResponse,
    responses={422: {"model": ErrorBody, "description": "invalid or unsnappable point, bad parameter"}},
    summary="Nearest stations by travel time (for a worker's phone)",
)
def nearest(
    session: SessionDep,
    settings: SettingsDep,
    index: NearestIndexDep,
    network: NetworkDep,
    lon: Annotated[float, Query(ge=-180, le=180, description="longitude in `crs`")],
    lat: Annotated[float, Query(ge=-90, le=90, description="latitude in `crs`")],
    crs: Annotated[OutCRS, Query(description="coordinate system of lon/lat (phones with Amap: gcj02)")] = (
        OutCRS.gcj02
    ),
    mode: Annotated[Mode, Query(description="travel mode")] = Mode.walk,
    k: Annotated[int, Query(ge=1, le=20, description="number of stations")] = 3,
    amenity: Annotated[
        list[Word] | None, Query(description="required amenity (repeatable)", max_length=20)
    ] = None,
    open_now: Annotated[bool, Query(description="only stations open now (China time)")] = False,
    at: Annotated[
        IsoTime | None, Query(description="only stations open at this time (naive = China time)")
    ] = None,
) -> Any:
    """The ``k`` nearest open stations (with the amenities asked for) by travel time along the streets.

    Each result has the station as a GeoJSON Feature (coordinates in `crs`), the travel minutes and
    metres, the route (GeoJSON LineString in `crs`), today's opening hours and an Amap navigation link.
    """
    from geo.hours import hours_on

    if k > settings.max_k:
        raise InputError(f"k must be at most {settings.max_k}", field="k")
    if open_now and at is not None:
        raise InputError("give open_now or at, not both", field="at")
    wlon, wlat = to_wgs84_point(lon, lat, crs.value)
    codes = [resolve_amenity(a, field="amenity") for a in (amenity or [])]
    when = local_time(at) if at is not None else (dt.datetime.now(SHANGHAI) if open_now else None)
    checking = index.needs_check()
    current = index.snapshot(session)
    if checking:
        # read-only from here on: hand the connection back before the routing work (under load a
        # request must not hold a pooled connection while it computes)
        session.rollback()
    snap, hits, snap_m = index.query(
        current,
        mode.value,
        wlon,
        wlat,
        k=k,
        amenities=codes,
        at=when,
        snap_max_meters=settings.snap_max_meters,
    )
    today = (when or dt.datetime.now(SHANGHAI)).date()
    # one vectorised conversion for every station point and route vertex of the answer
    pos = [hit.position for hit in hits]
    st_lon = np.asarray(snap.lon[pos], dtype=np.float64)
    st_lat = np.asarray(snap.lat[pos], dtype=np.float64)
    glon, glat = convert(st_lon, st_lat, src="wgs84", dst="gcj02") if pos else (st_lon, st_lat)
    route_xy = np.asarray([xy for hit in hits for xy in hit.route], dtype=np.float64).reshape(-1, 2)
    if crs.value == "gcj02":
        out_lon, out_lat = glon, glat
        rx, ry = convert(route_xy[:, 0], route_xy[:, 1], src="wgs84", dst="gcj02")
    elif crs.value == "bd09":
        out_lon, out_lat = convert(st_lon, st_lat, src="wgs84", dst="bd09")
        rx, ry = convert(route_xy[:, 0], route_xy[:, 1], src="wgs84", dst="bd09")
    else:
        out_lon, out_lat, rx, ry = st_lon, st_lat, route_xy[:, 0], route_xy[:, 1]
    route_coords = np.round(np.column_stack([rx, ry]), 7).tolist()
    results: list[dict[str, Any]] = []
    start = 0
    for i, hit in enumerate(hits):
        base = snap.features[hit.position]
        props = dict(base["properties"])
        hours = snap.opening_hours[hit.position]
        props["hours_today"] = hours_on(hours, today) if hours else None
        feat = {
            "type": "Feature",
            "id": base["id"],
            "geometry": {
                "type": "Point",
                "coordinates": [round(float(out_lon[i]), 7), round(float(out_lat[i]), 7)],
            },
            "properties": props,
        }
        end = start + len(hit.route)
        results.append(
            {
                "station": feat,
                "minutes": round(hit.minutes, 3),
                "meters": round(hit.meters, 1),
                "route": {"type": "LineString", "coordinates": route_coords[start:end]},
                "amap_url": amap_url(
                    float(glon[i]), float(glat[i]), str(props.get("name") or ""), mode.value
                ),
                "hours_today": props["hours_today"],
            }
        )
        start = end
    body = {
        "query": {
            "lon": lon,
            "lat": lat,
            "crs": crs.value,
            "lon_wgs84": round(wlon, 7),
            "lat_wgs84": round(wlat, 7),
            "mode": mode.value,
            "k": k,
            "amenity": codes,
            "at": when.isoformat() if when else None,
            "snap_meters": round(snap_m, 1),
        },
        "results": results,
    }
    # the dict already has the documented shape; skipping response-model validation saves ~4 ms
    return JSONResponse(body)
