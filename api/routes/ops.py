"""Station operations: the public station page ``/s/{code}`` (一站一码), visits and use, worker
feedback and its moderation, standards and star ratings.

Keyless writes (``POST /stations/{id}/visits``, ``POST /feedback``) are rate limited per client
address and, for visits, per station: over the limit they answer 429 with ``Retry-After``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from api.auth import KEY_RESPONSES
from api.deps import DEFAULT_CRS, ActorDep, OutCRS, SessionDep
from api.errors import error_body
from api.ratelimit import RateLimiter, admit
from api.routes._geojson import json_value
from api.routes.stations import to_wgs84_point
from api.schemas import AmenityWord, ErrorBody, GroupWord, LatIn, LonIn, Text
from api.services import station_written
from api.settings import Settings
from geo.errors import NotFoundError

router = APIRouter(tags=["operations"])

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "the body cannot be parsed"},
    404: {"model": ErrorBody, "description": "no such station or report"},
    422: {"model": ErrorBody, "description": "invalid input (the body names the field)"},
    503: {"model": ErrorBody, "description": "the PostGIS store is unavailable"},
}
LIMITED: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    409: {"model": ErrorBody, "description": "the station is not open"},
    429: {
        "model": ErrorBody,
        "description": "too many posts from this client or for this station; see Retry-After",
    },
}
KEYED: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    **KEY_RESPONSES,
    403: {"model": ErrorBody, "description": "a viewer key, or a key of another organisation"},
    409: {"model": ErrorBody, "description": "the report is not in a state that allows this"},
}
HTML_PAGE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/html": {"schema": {"type": "string"}}}, "description": "an HTML page"},
    **ERRORS,
}
Code = Annotated[str, Field(min_length=1, max_length=60)]


class VisitIn(BaseModel):
    """One visit logged from the station's page ("I am here"); nothing identifies the worker."""

    model_config = ConfigDict(extra="forbid")
    worker_group: GroupWord | None = Field(default=None, description="e.g. delivery_rider, 骑手")
    service: AmenityWord | None = Field(default=None, description="e.g. drinking_water, 充电")


class FeedbackIn(BaseModel):
    """A worker's report about a station."""

    model_config = ConfigDict(extra="forbid")
    station_id: int = Field(ge=1, le=2**31 - 1)  # a serial id; exact in a JSON schema
    kind: Literal["closed", "broken", "full", "moved", "other"]
    text: Text = Field(default="", max_length=500)
    lon: LonIn | None = None
    lat: LatIn | None = None


# --------------------------------------------------------------------------------------------------
# rate limits


def _limiters(request: Request) -> dict[str, RateLimiter]:
    limiters: dict[str, RateLimiter] | None = getattr(request.app.state, "ops_limiters", None)
    if limiters is None:
        s: Settings = request.app.state.settings
        w = s.ops_rate_window_seconds
        limiters = {
            "visit_client": RateLimiter(s.visit_limit_per_client, w),
            "visit_station": RateLimiter(s.visit_limit_per_station, w),
            "feedback_client": RateLimiter(s.feedback_limit_per_client, w),
        }
        request.app.state.ops_limiters = limiters
    return limiters


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _too_many(seconds: int, what: str) -> JSONResponse:
    return JSONResponse(
        error_body(f"too many {what}; try again in {seconds} s"),
        status_code=429,
        headers={"Retry-After": str(seconds)},
    )


# --------------------------------------------------------------------------------------------------
# public page, visits, use


@router.get("/s/{code}", responses=HTML_PAGE, summary="Public station page (一站一码)")
def station_public_page(
    session: SessionDep,
    code: Annotated[str, PathParam(max_length=24)],
    lang: Annotated[Literal["zh", "en"], Query()] = "zh",
) -> Any:
    """The phone page a station's QR code opens: hours, amenities, stars, reports, "I am here" and
    "report a problem"."""
    from geo.db import repository
    from geo.ops.codes import parse_station_code, station_code
    from geo.ops.feedback import active_reports
    from geo.ops.standards import latest_stars
    from maps.station_page import station_page

    sid = parse_station_code(code)
    if sid is None:
        raise NotFoundError(f"{code!r} is not a station code (S<id>)", field="code")
    station = repository.get_station(session, sid)
    html = station_page(
        station,
        code=station_code(sid),
        stars=latest_stars(session, [sid]).get(sid),
        reports=active_reports(session, station_ids=[sid]),
        lang=lang,
    )
    return HTMLResponse(html)


@router.post(
    "/stations/{station_id:int}/visits",
    status_code=201,
    responses=LIMITED,
    summary="Log a visit (I am here); no key, rate limited",
)
def post_visit(request: Request, session: SessionDep, station_id: int, body: VisitIn | None = None) -> Any:
    from geo.ops.visits import record_visit

    lim = _limiters(request)
    wait = admit([(lim["visit_client"], _client(request)), (lim["visit_station"], station_id)])
    if wait:
        return _too_many(wait, "visits")
    body = body or VisitIn()
    out = record_visit(session, station_id, worker_group=body.worker_group, service=body.service)
    return JSONResponse(json_value(out), status_code=201)


@router.get("/stations/{station_id:int}/usage", responses=ERRORS, summary="Use of a station (visits)")
def get_usage(
    session: SessionDep,
    station_id: int,
    date_from: Annotated[
        dt.date | None, Query(alias="from", description="first day (default 28 days ago)")
    ] = None,
    date_to: Annotated[
        dt.date | None, Query(alias="to", description="last day, included (default yesterday)")
    ] = None,
) -> Any:
    """Visits per day and week, by worker group and service, repeat-visitor share and the low-use flag
    over ``from``..``to`` (Asia/Shanghai days, both included; visits/day counts empty days)."""
    from geo.ops.usage import usage_report

    report = usage_report(session, start=date_from, end=date_to, station_ids=[station_id]).to_dict()
    (station,) = report.pop("stations")
    report.pop("low_use_stations")
    return JSONResponse(json_value({**report, "station": station}))


# --------------------------------------------------------------------------------------------------
# feedback


@router.post(
    "/feedback", status_code=201, responses=LIMITED, summary="Report a problem; no key, rate limited"
)
def post_feedback(
    request: Request,
    session: SessionDep,
    body: FeedbackIn,
    crs: Annotated[OutCRS, Query(description="coordinate system of lon/lat")] = DEFAULT_CRS,
) -> Any:
    """Store a pending report (kind closed|broken|full|moved|other, text, optional location)."""
    from geo.ops.feedback import submit_feedback
    from geo.ops.visits import hash_key_from_env

    client = _client(request)
    wait = admit([(_limiters(request)["feedback_client"], client)])
    if wait:
        return _too_many(wait, "reports")
    lon, lat = body.lon, body.lat
    if lon is not None and lat is not None:
        lon, lat = to_wgs84_point(lon, lat, crs.value)
    # the client address only as a keyed hash (to spot floods in the queue), and only with a key
    key = hash_key_from_env()
    digest = hmac.new(key, client.encode(), hashlib.sha256).hexdigest()[:16] if key else None
    out = submit_feedback(
        session, body.station_id, kind=body.kind, text=body.text, lon=lon, lat=lat, client_hash=digest
    )
    return JSONResponse(json_value(out), status_code=201)


@router.get("/feedback", responses=KEYED, summary="Moderation queue (key)")
def get_feedback(
    session: SessionDep,
    actor: ActorDep,
    state: Annotated[
        list[Literal["pending", "accepted", "rejected", "resolved"]] | None, Query(max_length=4)
    ] = None,
    station_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Any:
    from geo.ops.feedback import list_feedback

    rows = list_feedback(
        session, states=state or ["pending"], station_id=station_id, limit=limit, offset=offset
    )
    return JSONResponse(json_value({"feedback": rows, "count": len(rows)}))


@router.post(
    "/feedback/{feedback_id:int}/{action}",
    responses=KEYED,
    summary="Accept, reject or resolve a report (key)",
)
def moderate(
    request: Request,
    session: SessionDep,
    actor: ActorDep,
    feedback_id: int,
    action: Literal["accept", "reject", "resolve"],
    reopen: Annotated[bool, Query(description="resolve: reopen a suspended station")] = False,
) -> Any:
    """``accept``: an accepted ``closed`` report suspends the station (audited with the report id);
    ``resolve``: the report leaves the finder (``reopen=true`` reopens a suspended station)."""
    from geo.ops.feedback import moderate_feedback, resolve_feedback

    if action == "resolve":
        out = resolve_feedback(session, feedback_id, actor=actor, reopen=reopen)
    else:
        out = moderate_feedback(session, feedback_id, accept=action == "accept", actor=actor)
    if out["station_status_changed"]:
        station_written(request, session)
    return JSONResponse(json_value(out))


# --------------------------------------------------------------------------------------------------
# standards and stars


@router.get("/stations/{station_id:int}/standard", responses=ERRORS, summary="Standard items met / missing")
def get_standard(
    session: SessionDep,
    station_id: int,
    standard: Annotated[
        Literal["liuyou", "bayou"] | None, Query(description="六有 (default) or 八有")
    ] = None,
) -> Any:
    """Each item of the standard met / missing / unknown with its evidence, and the latest stars."""
    from geo.db import repository
    from geo.ops.standards import evaluate_standard, latest_presence, latest_stars

    station = repository.get_station(session, station_id)
    result = evaluate_standard(
        station, standard=standard, presence=latest_presence(session, [station_id]).get(station_id)
    )
    return JSONResponse(
        json_value({**result.to_dict(), "stars": latest_stars(session, [station_id]).get(station_id)})
    )


@router.get("/stations/{station_id:int}/stars", responses=ERRORS, summary="Star ratings of a station")
def get_stars(session: SessionDep, station_id: int) -> Any:
    """Every stored rating, oldest first, with its inputs and date."""
    from geo.db import repository
    from geo.ops.standards import star_history

    repository.get_station(session, station_id)
    return JSONResponse(json_value({"station_id": station_id, "ratings": star_history(session, station_id)}))


@router.post(
    "/stations/{station_id:int}/stars", status_code=201, responses=KEYED, summary="Rate a station now (key)"
)
def post_stars(session: SessionDep, actor: ActorDep, station_id: int) -> Any:
    """Compute the star rating by the rule of ``data/standards.toml`` and store it with its inputs."""
    from geo.ops.standards import rate_stations

    (out,) = rate_stations(session, [station_id], actor=actor)
    return JSONResponse(json_value(out), status_code=201)
