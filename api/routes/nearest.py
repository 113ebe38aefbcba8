"""``GET /nearest``: the k nearest matching stations by travel time, for a worker's phone."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query

from api.deps import Mode, NearestIndexDep, NetworkDep, OutCRS, SessionDep, SettingsDep
from api.routes._geojson import features
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
    snap, hits, snap_m = index.query(
        session,
        mode.value,
        wlon,
        wlat,
        k=k,
        amenities=codes,
        at=when,
        snap_max_meters=settings.snap_max_meters,
    )
    today = (when or dt.datetime.now(SHANGHAI)).date()
    results: list[dict[str, Any]] = []
    for hit in hits:
        row = snap.frame.iloc[[hit.position]]
        feat = features(row, id_column="station_id", crs=crs.value)[0]
        hours = snap.opening_hours[hit.position]
        feat["properties"]["hours_today"] = hours_on(hours, today) if hours else None
        glon, glat = convert(
            float(snap.lon[hit.position]), float(snap.lat[hit.position]), src="wgs84", dst="gcj02"
        )
        route = hit.route
        if crs.value != "wgs84":
            xs, ys = convert([p[0] for p in route], [p[1] for p in route], src="wgs84", dst=crs.value)
            route = [[float(x), float(y)] for x, y in zip(xs, ys, strict=True)]
        results.append(
            {
                "station": feat,
                "minutes": round(hit.minutes, 3),
                "meters": round(hit.meters, 1),
                "route": {
                    "type": "LineString",
                    "coordinates": [[round(x, 7), round(y, 7)] for x, y in route],
                },
                "amap_url": amap_url(glon, glat, str(feat["properties"].get("name") or ""), mode.value),
                "hours_today": feat["properties"]["hours_today"],
            }
        )
    return {
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
