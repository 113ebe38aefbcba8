"""Property-based tests over the OpenAPI schema (schemathesis): a bounded run that fails on any failure.

Every operation is called in-process (ASGI) on an app started like the others (real Shenzhen
networks, the PostGIS test database) whose requests use the test's rolled-back session, holding a
few real stations; writes carry a valid API key so they reach the repository.

The run is bounded and repeatable: a fixed seed, deterministic generation, a few examples per
operation, the examples, coverage and fuzzing phases, positive and negative data. ALL of
schemathesis' checks run, including ``positive_data_acceptance`` (a schema-valid request must not
get a 4xx other than 401/403/404/409/429) and ``negative_data_rejection`` (a schema-violating
request must be refused): the schema lists the real constraints (amenity, kind and status words from
``data/``, the mainland China box for input points, exactly one siting objective, a non-empty PATCH)
and the server answers accordingly.

Some answers depend on server state or on rules a JSON schema cannot state; each is allowed only in
its exact form (status, field and message), never by switching a check off:

- 412 Precondition Failed: an ``If-Match`` that names another version (RFC 9110), like a 409;
- 422 for a point in the box farther than the snap limit from every loaded street (``/nearest``);
- 422 for an uploaded station file whose *content* is not a station table (the schema can say
  "a file", not "a CSV with lon/lat columns"), and for opening hours outside their grammar;
- 422 for ``/nearest`` given both ``open_now`` and ``at`` (OpenAPI cannot make two query
  parameters exclude each other);
- 422 from ``/siting`` for a scenario the data cannot meet (``InfeasibleError``: not enough
  candidates, a share out of reach) or that needs areas the store lacks (a domain error: no
  pydantic ``errors`` list).

Every 4xx must carry the one error body, ``detail`` (non-empty text) and ``field``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance
from sqlalchemy.orm import Session

from api.app import create_app
from api.services import clear_results
from api.settings import Settings
from geo.db import repository
from tests.api._support import SHENZHEN_UNIVERSITY, TECH_PARK, WRITE, sessions_of

SEED = 20261205
EXAMPLES = 12

# built at import (nothing starts); the fixture below gives it the test settings and runs its lifespan
APP = create_app(Settings(load_networks=False))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
schema.config.seed = SEED
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=EXAMPLES, deterministic=True
)
schema.config.checks.positive_data_acceptance.expected_statuses = [
    *schema.config.checks.positive_data_acceptance.expected_statuses, "412"
]


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


def state_dependent_rejection(case: Any, response: Any) -> bool:
    """The exact 422s a schema cannot rule out (see the module docstring)."""
    if response.status_code != 422:
        return False
    body = response.json()
    detail = str(body.get("detail", ""))
    field = body.get("field")
    if "snap limit" in detail and field in ("lon", "lat", "point"):
        return True
    if case.path == "/nearest" and field == "at" and detail == "give open_now or at, not both":
        return True
    if field == "opening_hours" and detail.startswith("bad opening hours"):
        return True
    fair = ("min_share_per_area", "max_p95_per_area_minutes", "min_share_per_group")  # #21: areas, reach
    if case.path == "/siting" and field in ("add", "target_share", "budget", "min_per_area", *fair):
        return "errors" not in body  # a domain answer, not a validation error
    if case.path == "/siting" and field is None and "errors" not in body:
        return True
    if case.path == "/feedback" and field in ("lon", "lat") and "outside mainland China" in detail:
        return True  # a BD-09/GCJ-02 point near the box edge converts to just outside it
    if case.path == "/stations/{station_id}/usage" and field in ("from", "to") and (
            "period" in detail or "is after" in detail):
        return True  # the span of from..to (relative to today) is no property of one parameter
    return case.path == "/stations/import" and (field == "file" or bool(body.get("row_errors")))


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_schema_and_server_agree(case: Any, seeded: FastAPI) -> None:
    headers = dict(WRITE) if case.method.upper() in ("POST", "PUT", "PATCH", "DELETE") else {}
    response = case.call(headers=headers)
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path}: {response.status_code} {response.text}"
    )
    if response.status_code >= 400:
        body = response.json()
        assert isinstance(body.get("detail"), str) and body["detail"], body
        assert "field" in body, body
    excluded = [positive_data_acceptance] if state_dependent_rejection(case, response) else []
    case.validate_response(response, excluded_checks=excluded, headers=headers)
