"""API test fixtures: one app per test session (real Shenzhen networks loaded once, real PostGIS test
database from ``tests/conftest.py``); each test's requests run in the rolled-back ``db_session``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.app import create_app
from api.services import clear_results
from api.settings import Settings
from tests.api._support import API_KEY, WRITE, sessions_of, station_feature


@pytest.fixture(scope="session")
def api_settings(database_url: str, data_dir: Path) -> Settings:
    return Settings(database_url=database_url, data_dir=data_dir, api_keys=(API_KEY, "second-key"))


@pytest.fixture(scope="session")
def api_app(api_settings: Settings) -> Iterator[tuple[FastAPI, TestClient]]:
    """The app with its lifespan run once (networks loaded, engine built)."""
    app = create_app(api_settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield app, client


@pytest.fixture()
def client(api_app: tuple[FastAPI, TestClient], db_session: Session) -> Iterator[TestClient]:
    """A client whose requests use the test's rolled-back session.

    The registry version is a counter in the store; rolling a test back rolls it back too, so the
    next test could see the same version with other stations: the app's caches keyed on it are
    cleared per test (in production the counter only rises).
    """
    app, test_client = api_app
    app.state.nearest.clear()
    clear_results(app.state)

    with sessions_of(app, db_session):
        yield test_client


@pytest.fixture()
def add_station(client: TestClient) -> Callable[..., dict[str, Any]]:
    """POST a station (WGS-84 unless crs=...) and return the created Feature."""

    def add(name: str, lon: float, lat: float, *, crs: str = "wgs84", **props: Any) -> dict[str, Any]:
        r = client.post(f"/stations?crs={crs}", json=station_feature(name, lon, lat, **props), headers=WRITE)
        assert r.status_code == 201, r.text
        out: dict[str, Any] = r.json()
        return out

    return add
