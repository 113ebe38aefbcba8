"""``/orgs``: the organisation tree (public reads) and the rollups of an organisation."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse

from api.deps import SessionDep
from api.routes._geojson import json_value
from api.schemas import ErrorBody

router = APIRouter(prefix="/orgs", tags=["organisations"])

LEVEL_PATTERN = r"^(national|province|prefecture|county|township|community|host)$"
CODE_PATTERN = r"^[0-9A-Za-z][0-9A-Za-z_.\-]{0,63}$"
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "no such organisation"},
    422: {"model": ErrorBody, "description": "invalid input (the body names the field)"},
    503: {"model": ErrorBody, "description": "the PostGIS store is unavailable"},
}


@router.get("", responses=ERRORS, summary="List organisations (no polygons)")
def list_orgs_route(
    session: SessionDep,
    parent: Annotated[
        str | None, Query(description="only the children of this code", pattern=CODE_PATTERN)
    ] = None,
    level: Annotated[str | None, Query(description="only this level", pattern=LEVEL_PATTERN)] = None,
    under: Annotated[
        str | None, Query(description="only this organisation and those below it", pattern=CODE_PATTERN)
    ] = None,
) -> Any:
    from geo.orgs import store

    rows = store.list_orgs(session, parent=parent, level=level, under=under)
    return JSONResponse({"orgs": rows, "numberMatched": len(rows)})


@router.get("/{code}", responses=ERRORS, summary="One organisation: ancestors, children, area (GeoJSON)")
def get_org_route(session: SessionDep, code: Annotated[str, Path(pattern=CODE_PATTERN)]) -> Any:
    from geo.orgs import store

    return JSONResponse(json_value(store.get_org(session, code)))
