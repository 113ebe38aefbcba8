"""/healthz, /docs, /openapi.json and the database-outage behaviour (503, then recovery)."""

from __future__ import annotations

import socket
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.app import create_app
from api.settings import Settings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_healthz_ok(client: TestClient) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ok"
    assert body["database"] is True
    assert set(body["networks"]) == {"walk", "ebike"}
    assert body["networks"]["walk"]["nodes"] > 1000


def test_docs_and_openapi(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    for path in (
        "/stations",
        "/nearest",
        "/coverage",
        "/gaps",
        "/siting",
        "/ogc/collections/{collectionId}/items",
    ):
        assert path in spec["paths"], path


def test_database_down_gives_503_not_500(data_dir: Path) -> None:
    """An app pointed at a port where nothing listens starts, reports 503 on /healthz and on reads."""
    port = _free_port()
    settings = Settings(
        database_url=f"postgresql://postgres@127.0.0.1:{port}/nowhere", data_dir=data_dir, api_keys=("k",)
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        r = client.get("/healthz")
        assert r.status_code == 503
        assert r.json()["database"] is False
        r = client.get("/stations")
        assert r.status_code == 503, r.text
        assert "unavailable" in r.json()["detail"]
        r = client.get("/nearest", params={"lon": 113.9445, "lat": 22.5405, "crs": "wgs84"})
        assert r.status_code == 503, r.text
        r = client.get("/ogc/collections/stations/items")
        assert r.status_code == 503, r.text


def test_recovers_after_backends_are_terminated(api_settings: Settings, engine: Engine) -> None:
    """Killing every connection of the app's pool: the next request still succeeds (pool_pre_ping)."""
    with TestClient(create_app(api_settings), raise_server_exceptions=False) as client:
        assert client.get("/stations?limit=1").status_code == 200
        app_engine = client.app.state.engine  # type: ignore[attr-defined]
        with app_engine.connect() as conn:
            pids = {conn.execute(text("SELECT pg_backend_pid()")).scalar_one()}
        with engine.connect() as admin:
            for pid in pids:
                admin.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        r = client.get("/stations?limit=1")
        assert r.status_code == 200, r.text
        assert client.get("/healthz").status_code == 200
