"""``/healthz``: is the database reachable, which networks are loaded."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from api.schemas import Health

router = APIRouter(tags=["health"])


def _ping(request: Request) -> tuple[bool, str | None]:
    try:
        with request.app.state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True, None
    except Exception as exc:  # any driver/pool failure means "not reachable"
        return False, type(exc).__name__


@router.get(
    "/healthz",
    response_model=Health,
    responses={503: {"model": Health, "description": "database unreachable or no network loaded"}},
    summary="Liveness and readiness",
)
async def healthz(request: Request) -> Any:
    """200 when the database answers and at least one network is loaded, else 503 (same body)."""
    db_ok, db_error = await run_in_threadpool(_ping, request)
    networks = {mode: {"nodes": len(net.lon)} for mode, net in sorted(request.app.state.networks.items())}
    ok = db_ok and bool(networks)
    body = Health(
        status="ok" if ok else "degraded", database=db_ok, database_error=db_error, networks=networks
    )
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)
