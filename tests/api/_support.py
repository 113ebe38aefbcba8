"""Constants and helpers shared by the API tests (fixtures live in ``conftest.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from fastapi import FastAPI
from sqlalchemy.orm import Session

from api.deps import SessionScope, get_session, get_session_scope

API_KEY = "test-key-7f3a9c"
WRITE = {"X-API-Key": API_KEY}

#: points in the Nanshan core (WGS-84), near streets of the walk network
SHENZHEN_UNIVERSITY = (113.9365, 22.5405)
TECH_PARK = (113.9530, 22.5440)


def station_feature(name: str, lon: float, lat: float, **props: Any) -> dict[str, Any]:
    """A GeoJSON Feature for POST /stations."""
    properties: dict[str, Any] = {"name": name, "kind": "union_station", "status": "open"}
    properties.update(props)
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": properties,
    }


@contextmanager
def sessions_of(app: FastAPI, session: Session) -> Iterator[None]:
    """Every request of ``app`` uses ``session`` (the test's rolled-back one): both session
    dependencies overridden, and restored afterwards."""

    def one() -> Iterator[Session]:
        yield session

    async def scope() -> SessionScope:
        return lambda: nullcontext(session)

    app.dependency_overrides[get_session] = one
    app.dependency_overrides[get_session_scope] = scope
    try:
        yield
    finally:
        app.dependency_overrides.pop(get_session, None)
        app.dependency_overrides.pop(get_session_scope, None)
