"""Property-based tests over the OpenAPI schema (schemathesis): no 5xx, responses match the schema.

Every operation is called in-process (ASGI) on an app started like the others (real Shenzhen
networks, the PostGIS test database) whose requests use the test's rolled-back session, holding a
few real stations; writes carry a valid API key so they reach the repository.

All of schemathesis' checks run except ``positive_data_acceptance``: domain rules that a JSON schema
cannot state (a point must lie in mainland China and near the network, amenity names include Chinese
labels and aliases, exactly one siting objective, the contents of an uploaded file) are answered with
422. Instead every 4xx must carry the one error body, ``detail`` (non-empty text) and ``field``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance
from sqlalchemy.orm import Session

from api.app import create_app
from api.services import clear_results
from api.settings import Settings
from geo.db import repository
from tests.api._support import SHENZHEN_UNIVERSITY, TECH_PARK, WRITE, sessions_of

# built at import (nothing starts); the fixture below gives it the test settings and runs its lifespan
APP = create_app(Settings(load_networks=False))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(scope="session")
def started_app(api_settings: Settings) -> Iterator[FastAPI]:
    APP.state.settings = api_settings
    with TestClient(APP):
        yield APP


@pytest.fixture()
def seeded(started_app: FastAPI, db_session: Session) -> Iterator[FastAPI]:
    for name, (lon, lat), extra in (
        ("深大工会驿站", SHENZHEN_UNIVERSITY, {"amenities": ["toilet"], "opening_hours": "24/7"}),
        ("科技园爱心驿站", TECH_PARK, {"amenities": ["charging"], "opening_hours": "Mo-Fr 09:00-18:00"}),
    ):
        repository.create_station(db_session, {"name": name, "lon": lon, "lat": lat, **extra}, actor="test")

    started_app.state.nearest.clear()  # the version counter was rolled back with the last test
    clear_results(started_app.state)
    with sessions_of(started_app, db_session):
        yield started_app


@schema.parametrize()
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case: Any, seeded: FastAPI) -> None:
    headers = dict(WRITE) if case.method.upper() in ("POST", "PUT", "PATCH", "DELETE") else {}
    response = case.call(headers=headers)
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path}: {response.status_code} {response.text}"
    )
    if response.status_code >= 400:
        body = response.json()
        assert isinstance(body.get("detail"), str) and body["detail"], body
        assert "field" in body, body
    case.validate_response(response, excluded_checks=[positive_data_acceptance], headers=headers)
