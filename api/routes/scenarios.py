"""``/scenarios``: stored plans (a base plus ordered actions), evaluated on the served network and demand
and compared; ``/maps/scenarios/{name}``: the planner's map of a plan against its base.

The same operations as ``yizhan scenario`` (create, list, show, delete, add/close/relocate/hours/
amenities, remove an action, eval, compare), with the same figures: the evaluation is
:mod:`geo.scenario.evaluate`, through :func:`api.services.scenario_coverage`, which keeps each
scenario's last evaluation and applies only the actions appended since. Reads are public; writes
need an API key like station writes. Points in bodies are WGS-84 unless ``crs=gcj02|bd09``; stored
in WGS-84 (with the CRS they were given in, ``source_crs``) and answered in the ``crs`` asked for,
which the answer states (``crs``).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import HTMLResponse

from api.auth import KEY_RESPONSES
from api.deps import ActorDep, Minutes, Mode, OutCRS, SessionDep
from api.routes._geojson import json_value
from api.schemas import (
    ErrorBody,
    ScenarioAction,
    ScenarioActionIn,
    ScenarioComparison,
    ScenarioCoverage,
    ScenarioIn,
    ScenarioList,
    ScenarioOut,
)
from api.services import scenario_coverage
from geo.text import NO_CONTROL_PATTERN

router = APIRouter(prefix="/scenarios", tags=["scenarios"])
maps_router = APIRouter(prefix="/maps", tags=["maps"])

#: ``base`` in a comparison: the other plan's base without actions (as ``yizhan scenario compare``)
BASE = "base"
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "no such scenario (or a station an action names)"},
    422: {"model": ErrorBody, "description": "invalid input (the body names the field)"},
    503: {"model": ErrorBody, "description": "the PostGIS store is unavailable"},
}
WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    **KEY_RESPONSES,
    400: {"model": ErrorBody, "description": "the body cannot be parsed"},
    403: {"model": ErrorBody, "description": "a viewer key may not change scenarios"},
    409: {"model": ErrorBody, "description": "a scenario of that name exists already"},
}
HTML_OK: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/html": {"schema": {"type": "string"}}}, "description": "an HTML page"},
    **ERRORS,
}
Name = Annotated[
    str, Path(min_length=1, max_length=200, pattern=NO_CONTROL_PATTERN, description="the scenario's name")
]
ModeQ = Annotated[Mode, Query(description="travel mode")]
Tiles = Annotated[Literal["osm", "amap", "none"], Query(description="basemap (amap tiles are GCJ-02)")]


def _store() -> Any:
    from geo.scenario import store

    return store


CRSQ = Annotated[OutCRS, Query(description="CRS of lon/lat in the answer: wgs84, gcj02 or bd09")]


def _action_body(action: Any, crs: str) -> dict[str, Any]:
    """One action as answered: its point in ``crs`` (converted from the stored WGS-84), ``crs`` stated."""
    from geo.scenario.plan import actions_in_crs

    (shown,) = actions_in_crs([action], crs)
    body = {k: getattr(shown, k) for k in ScenarioAction.model_fields if k != "crs"}
    amenities = None if shown.amenities is None else list(shown.amenities)
    return {**body, "crs": crs, "amenities": amenities}


def _scenario_body(scn: Any, crs: str = "wgs84") -> dict[str, Any]:
    return {
        "name": scn.name,
        "base": scn.base,
        "description": scn.description,
        "crs": crs,
        "total_cost": scn.total_cost,
        "actions": json_value([_action_body(a, crs) for a in scn.actions]),
        "phases": [_phase(p) for p in json_value(scn.cost_by_phase().to_dict("records"))],
    }


def _phase(row: dict[str, Any]) -> dict[str, Any]:
    """A cost-per-phase row with whole numbers as such (pandas makes a year column with a gap float)."""
    year = row.get("year")
    return {
        **row,
        "phase": int(row["phase"]),
        "actions": int(row["actions"]),
        "year": None if year is None else int(year),
    }


@router.post(
    "",
    status_code=201,
    response_model=ScenarioOut,
    responses=WRITE_ERRORS,
    summary="Create an empty scenario on the registry",
)
def create_scenario(body: ScenarioIn, session: SessionDep, actor: ActorDep) -> Any:
    scn = _store().create_scenario(session, body.name, base=body.base, description=body.description)
    return _scenario_body(scn)


@router.get("", response_model=ScenarioList, responses=ERRORS, summary="Every scenario")
def list_scenarios(session: SessionDep) -> Any:
    """Name, base, description, action count, total cost (yuan) and last change of every scenario."""
    rows = _store().list_scenarios(session)
    return {"scenarios": json_value([{**r, "cost": float(r["cost"])} for r in rows])}


@router.get("/{name}", response_model=ScenarioOut, responses=ERRORS, summary="A scenario and its actions")
def show_scenario(name: Name, session: SessionDep, crs: CRSQ = OutCRS.wgs84) -> Any:
    """The actions in order (points in ``crs``), the total cost and the cost per phase."""
    return _scenario_body(_store().get_scenario(session, name), crs.value)


@router.delete("/{name}", status_code=204, responses=WRITE_ERRORS, summary="Delete a scenario")
def delete_scenario(name: Name, session: SessionDep, actor: ActorDep) -> Response:
    _store().delete_scenario(session, name)
    return Response(status_code=204)


@router.post(
    "/{name}/actions",
    status_code=201,
    response_model=ScenarioAction,
    responses=WRITE_ERRORS,
    summary="Append an action (add, close, relocate, hours, amenities)",
)
def append_action(
    name: Name,
    body: ScenarioActionIn,
    session: SessionDep,
    actor: ActorDep,
    crs: Annotated[
        OutCRS, Query(description="CRS of lon/lat in the body and in the answer: wgs84, gcj02 or bd09")
    ] = OutCRS.wgs84,
) -> Any:
    """Validate the action (a station it names must be in the scenario's base: else 404 naming
    ``station_id``), convert its point to WGS-84 and store it after the last one. The answer gives the
    point back in ``crs`` (stated in ``crs``; ``source_crs`` is the CRS it was given in)."""
    from api.services import scenario_base
    from geo.scenario.plan import check_station, make_action

    scn = _store().get_scenario(session, name)  # an unknown scenario is 404 before the body is judged
    fields = body.model_dump(exclude={"kind"})
    action = make_action(body.kind, crs=crs.value, **fields)
    check_station(scenario_base(session, scn.base), scn, action)
    stored = _store().add_action(session, name, action)
    return json_value(_action_body(stored, crs.value))


@router.delete(
    "/{name}/actions/{seq}",
    status_code=204,
    responses=WRITE_ERRORS,
    summary="Remove one action (the others keep their numbers)",
)
def remove_action(
    name: Name,
    seq: Annotated[int, Path(ge=1, le=2**31 - 1, description="the action's number")],
    session: SessionDep,
    actor: ActorDep,
) -> Response:
    """Remove action ``seq`` (404 naming ``seq`` when the scenario has none); the next evaluation is a
    full pass."""
    _store().remove_action(session, name, seq)
    return Response(status_code=204)


def _step(step: Any) -> dict[str, Any]:
    return {
        "incremental": step.incremental,
        "actions_applied": step.actions_applied,
        "labels_processed": step.labels_processed,
    }


@router.get(
    "/{name}/coverage",
    response_model=ScenarioCoverage,
    responses=ERRORS,
    summary="Coverage of a scenario on the served network and demand",
)
def scenario_coverage_route(
    request: Request, name: Name, session: SessionDep, mode: ModeQ = Mode.walk, minutes: Minutes = 15.0
) -> Any:
    """As ``/coverage`` for the scenario's stations: summary, per area and per worker group. After
    actions were appended, only those are re-evaluated (``evaluation.incremental``)."""
    scn = _store().get_scenario(session, name)
    served = scenario_coverage(request.app.state, session, scn, mode.value, minutes=minutes)
    result = served.result
    return {
        "scenario": scn.name,
        "query": {"mode": mode.value, "minutes": minutes},
        "demand_source": served.demand_source,
        "cost": scn.total_cost,
        "summary": json_value(result.summary.as_dict()),
        "by_area": json_value(result.by_area.to_dict("records")),
        "by_group": json_value(result.by_group.to_dict("records")),
        "evaluation": _step(served.step),
    }


def _plans(session: Any, first: str, second: str) -> tuple[Any, Any]:
    """The two plans; ``base`` is the other one's base without actions."""
    from geo.scenario.plan import Scenario

    def one(name: str, other: str) -> Any:
        scn = _store().get_scenario(session, other if name == BASE and other != BASE else name)
        return Scenario(name=BASE, base=scn.base) if name == BASE else scn

    return one(first, second), one(second, first)


def _compare(
    request: Request, session: Any, first: str, second: str, mode: str, minutes: float
) -> tuple[Any, Any, Any]:
    from geo.scenario.compare import compare_results

    plan_a, plan_b = _plans(session, first, second)
    a = scenario_coverage(request.app.state, session, plan_a, mode, minutes=minutes)
    b = scenario_coverage(request.app.state, session, plan_b, mode, minutes=minutes)
    cmp = compare_results(a.result, b.result, cost_a=plan_a.total_cost, cost_b=plan_b.total_cost)
    return cmp, a, b


@router.get(
    "/{a}/compare/{b}",
    response_model=ScenarioComparison,
    responses=ERRORS,
    summary="Two plans side by side, per area and per worker group",
)
def compare_scenarios(
    request: Request, a: Name, b: Name, session: SessionDep, mode: ModeQ = Mode.walk, minutes: Minutes = 15.0
) -> Any:
    """Covered share, p95 minutes, workers gained and lost and cost, in total, per 街道/乡镇 and per
    worker group (``base`` names the other plan's base): the figures of ``yizhan scenario compare``."""
    cmp, served_a, _ = _compare(request, session, a, b, mode.value, minutes)
    return {
        "a": a,
        "b": b,
        "query": {"mode": mode.value, "minutes": minutes},
        "demand_source": served_a.demand_source,
        **json_value(cmp.summary),
        "by_area": json_value(cmp.by_area.to_dict("records")),
        "by_group": json_value(cmp.by_group.to_dict("records")),
    }


@maps_router.get(
    "/scenarios/{name}", responses=HTML_OK, summary="Planner's map of a scenario against its base"
)
def scenario_map_page(
    request: Request,
    name: Name,
    session: SessionDep,
    mode: ModeQ = Mode.walk,
    minutes: Minutes = 15.0,
    tiles: Tiles = "osm",
) -> Any:
    """The scenario's stations (kept, added, closed, relocated) and the demand points that gain or
    lose coverage against its base, with a legend and the headline figures."""
    from geo.scenario.diff import station_changes
    from maps.scenario import scenario_map

    cmp, served_base, served = _compare(request, session, BASE, name, mode.value, minutes)
    changes = station_changes(served_base.result.stations, served.result.stations)
    m = scenario_map(
        changes.kept,
        changes.added,
        changes.closed,
        changes.relocated,
        cmp.changed,
        name=name,
        summary=cmp.summary,
        minutes=minutes,
        tiles=tiles,
        assets="local",
        date=dt.date.today(),
    )
    return HTMLResponse(m.get_root().render())
