"""Keys and audit (issue #15): named bootstrap keys, the key name (never key material) in the
audit trail, constant-time matching, the wrong-key throttle, /stations/{id}/history with a key."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.app import create_app
from api.settings import Settings
from geo.orgs.keys import EnvKey, match_env_key, parse_env_keys
from tests.api._support import API_KEY, TECH_PARK, WRITE, sessions_of, station_feature


def test_env_keys_named_and_plain(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        keys = parse_env_keys(["ops:s3cret-ops-key", "plainsecretvalue", "bad name:x:y"])
    assert [k.name for k in keys] == ["ops", "env-2", "env-3"]
    assert keys[0].secret == "s3cret-ops-key" and keys[2].secret == "bad name:x:y"
    assert "entry 2 has no name" in caplog.text and "env-2" in caplog.text
    assert "plainsecret" not in caplog.text and "s3cret" not in caplog.text
    assert "s3cret" not in repr(keys)
    with pytest.raises(Exception, match="twice"):
        parse_env_keys(["a:x", "a:y"])


def test_match_env_key_checks_every_key() -> None:
    keys = (EnvKey("a", "alpha-secret"), EnvKey("b", "beta-secret"))
    assert match_env_key("beta-secret", keys) == keys[1]
    assert match_env_key("alpha-secret", keys) == keys[0]
    assert match_env_key("beta-secre", keys) is None
    assert match_env_key("", keys) is None


def test_audit_stores_key_name_and_history_needs_a_key(client: TestClient, db_session: Session) -> None:
    r = client.post("/stations", json=station_feature("审计驿站", *TECH_PARK), headers=WRITE)
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    assert (
        client.patch(
            f"/stations/{sid}", json={"properties": {"seats": 4}}, headers={"X-API-Key": "second-key"}
        ).status_code
        == 200
    )
    actors = db_session.execute(
        text("SELECT actor, org_code FROM station_changes WHERE station_id = :s ORDER BY id"), {"s": sid}
    ).all()
    assert [tuple(a) for a in actors] == [("env-1", None), ("env-2", None)]
    dump = db_session.execute(text("SELECT string_agg(t::text, '') FROM station_changes t")).scalar_one()
    for secret in (API_KEY, "second-key"):
        assert secret[:6] not in dump
    assert client.get(f"/stations/{sid}/history").status_code == 401
    assert client.get(f"/stations/{sid}/history", headers={"X-API-Key": "nope"}).status_code == 401
    h = client.get(f"/stations/{sid}/history", headers=WRITE)
    assert h.status_code == 200, h.text
    changes = h.json()["changes"]
    assert [c["operation"] for c in changes] == ["insert", "update"]
    assert [c["actor"] for c in changes] == ["env-1", "env-2"]
    assert changes[1]["after"]["seats"] == 4 and changes[0]["before"] is None
    assert client.get("/stations/987654321/history", headers=WRITE).status_code == 404


@pytest.fixture()
def strict_client(database_url: str, data_dir: Path, db_session: Session) -> Iterator[TestClient]:
    settings = Settings(
        database_url=database_url,
        data_dir=data_dir,
        load_networks=False,
        api_keys=("ops:right-key-123456",),
        auth_max_failures=3,
        auth_window_seconds=30,
    )
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as c, sessions_of(app, db_session):
        yield c


def test_wrong_keys_are_throttled(strict_client: TestClient) -> None:
    body = station_feature("限流驿站", *TECH_PARK)
    for _ in range(3):
        r = strict_client.post("/stations", json=body, headers={"X-API-Key": "guess"})
        assert r.status_code == 401
    r = strict_client.post("/stations", json=body, headers={"X-API-Key": "guess"})
    assert r.status_code == 429
    assert 1 <= int(r.headers["retry-after"]) <= 30
    assert r.json()["field"] == "X-API-Key"
    # while throttled, even the right key waits: guessing is not rewarded
    assert (
        strict_client.post("/stations", json=body, headers={"X-API-Key": "right-key-123456"}).status_code
        == 429
    )


def test_throttle_window_slides() -> None:
    from api.auth import FailureThrottle

    now = [0.0]
    t = FailureThrottle(max_failures=2, window_seconds=10, clock=lambda: now[0])
    t.failed("a")
    now[0] = 4
    t.failed("a")
    assert t.retry_after("a") == 6 and t.retry_after("b") == 0
    now[0] = 10.5
    assert t.retry_after("a") == 0


def test_openapi_documents_the_security_scheme(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["ApiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": spec["components"]["securitySchemes"]["ApiKey"]["description"],
    }
    for path, method in (
        ("/stations", "post"),
        ("/stations/{station_id}", "put"),
        ("/stations/{station_id}", "patch"),
        ("/stations/{station_id}", "delete"),
        ("/stations/import", "post"),
        ("/stations/{station_id}/history", "get"),
    ):
        assert spec["paths"][path][method]["security"] == [{"ApiKey": []}], (path, method)
    assert "security" not in spec["paths"]["/stations"]["get"]


def test_app_refuses_two_keys_of_one_name(caplog: pytest.LogCaptureFixture) -> None:
    from geo.errors import InputError

    with pytest.raises(InputError, match="twice") as info:
        create_app(Settings(load_networks=False, api_keys=("ops:first-secret-1", "ops:second-secret-2")))
    assert "secret" not in info.value.message
    with caplog.at_level(logging.WARNING):
        create_app(Settings(load_networks=False, api_keys=("unnamed-secret-abc",)))
    assert "env-1" in caplog.text and "unnamed" not in caplog.text
