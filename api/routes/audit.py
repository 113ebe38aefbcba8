"""``/stations/{id}/history``: the audit trail of a station, readable with any key."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.auth import KEY_RESPONSES
from api.deps import KeyDep, SessionDep
from api.routes._geojson import json_value
from api.schemas import ErrorBody

router = APIRouter(prefix="/stations", tags=["stations"])


@router.get(
    "/{station_id:int}/history",
    responses={
        **KEY_RESPONSES,
        404: {"model": ErrorBody, "description": "no such station, ever"},
    },
    summary="The audit trail of a station (any key)",
)
def station_history_route(session: SessionDep, principal: KeyDep, station_id: int) -> Any:
    """Every insert, update, close and delete of the station, oldest first: when, which key
    (``actor``: its name, never key material), which organisation (``org_code``; ``null`` for a
    bootstrap key or the CLI without ``--as-org``), and the row before and after."""
    from geo.db import repository

    changes = repository.station_changes(session, station_id)
    return JSONResponse(json_value({"station_id": station_id, "changes": changes}))
