"""Station operations over HTTP (real PostGIS, rolled back per test): the public page /s/{code},
keyless visits with rate limits, usage, feedback moderation and its effect on the station, standards."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.app import create_app
from api.ratelimit import RateLimiter, admit
from api.settings import Settings
from geo.ops.usage import usage_report
from geo.ops.visits import import_visits
from tests.api._support import API_KEY, WRITE, sessions_of, station_feature

NASTY = '<script>alert("x")</script>'


@pytest.fixture(scope="module")
def ops_app(database_url: str, data_dir: Path) -> Iterator[FastAPI]:
    """An app without travel networks (these endpoints need none) and small rate limits."""
    settings = Settings(
        database_url=database_url,
        data_dir=data_dir,
        api_keys=(API_KEY,),
        load_networks=False,
        visit_limit_per_client=3,
        visit_limit_per_station=5,
        feedback_limit_per_client=4,
    )
    app = create_app(settings)
    with TestClient(app):
        yield app


@pytest.fixture()
def client(ops_app: FastAPI, db_session: Session) -> Iterator[TestClient]:
    ops_app.state.ops_limiters = None  # fresh limits per test
    with sessions_of(ops_app, db_session):
        yield TestClient(ops_app, raise_server_exceptions=False)


def _station(client: TestClient, name: str, lon: float = 113.9365, lat: float = 22.5405, **props: Any) -> int:
    r = client.post("/stations", json=station_feature(name, lon, lat, **props), headers=WRITE)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def test_public_page_escapes_and_offers_both_buttons(client: TestClient) -> None:
    sid = _station(
        client,
        f"驿站{NASTY}",
        opening_hours="Mo-Su 08:00-20:00",
        amenities=["drinking_water", "toilet"],
        address="深圳 <i>南山</i>",
    )
    r = client.get(f"/s/S{sid}")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert NASTY not in r.text and "&lt;script&gt;" in r.text and "<i>南山</i>" not in r.text
    for needle in (
        "我在这里",
        "报告问题",
        "饮用水",
        "卫生间",
        "08:00-20:00",
        '"/stations/" + cfg.station_id + "/visits"',
        'post("/feedback"',
    ):
        assert needle in r.text
    assert f'"station_id": {sid}' in r.text
    assert client.get("/s/S999999999").status_code == 404
    assert client.get("/s/nonsense").status_code == 404


def test_keyless_visits_are_limited_per_client_and_per_station(ops_app: FastAPI, client: TestClient) -> None:
    a, b = _station(client, "甲驿站"), _station(client, "乙驿站", 113.9530, 22.5440)
    for _ in range(3):
        assert (
            client.post(f"/stations/{a}/visits", json={"worker_group": "骑手", "service": "充电"}).status_code
            == 201
        )
    r = client.post(f"/stations/{b}/visits")
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    others = [TestClient(ops_app, client=(f"10.0.0.{i}", 5000)) for i in range(4)]
    assert [c.post(f"/stations/{a}/visits").status_code for c in others[:2]] == [201, 201]
    r = others[2].post(f"/stations/{a}/visits")  # station a has had 5 visits in the window
    assert r.status_code == 429 and "Retry-After" in r.headers
    assert others[3].post(f"/stations/{b}/visits").status_code == 201
    assert client.post(f"/stations/{a}/visits", json={"worker_group": "宇航员"}).status_code in (422, 429)


def test_rate_limiter_window_and_retry_after() -> None:
    now = [0.0]
    lim = RateLimiter(2, 60, clock=lambda: now[0])
    assert admit([(lim, "x")]) == 0 and admit([(lim, "x")]) == 0
    now[0] = 20.5
    assert admit([(lim, "x")]) == 40  # the first hit leaves the window at 60
    assert admit([(lim, "y")]) == 0
    now[0] = 60.01
    assert admit([(lim, "x")]) == 0


def test_visit_to_unknown_or_closed_station(client: TestClient) -> None:
    sid = _station(client, "关了的驿站", status="closed")
    assert client.post(f"/stations/{sid}/visits").status_code == 409
    assert client.post("/stations/987654321/visits").status_code == 404
    assert client.post(f"/stations/{sid}/visits", json={"phone": "13800138000"}).status_code == 422


def test_usage_endpoint_equals_report(client: TestClient, db_session: Session, tmp_path: Path) -> None:
    a = _station(client, "用量驿站")
    b = _station(client, "冷清驿站", 113.9530, 22.5440)
    path = tmp_path / "v.csv"
    rows = [f"S{a},2026-10-0{d} 0{h}:00,骑手,饮水" for d in range(1, 8) for h in range(d % 3 + 1)]
    path.write_text(
        "站点编号,到访时间,职业,服务项目\n" + "\n".join([*rows, f"S{b},2026-10-03 10:00,快递员,充电"]),
        encoding="utf-8",
    )
    import_visits(db_session, path)
    r = client.get(f"/stations/{a}/usage", params={"from": "2026-10-01", "to": "2026-10-10"})
    assert r.status_code == 200, r.text
    body = r.json()
    expected = (
        usage_report(db_session, start=dt.date(2026, 10, 1), end=dt.date(2026, 10, 10), station_ids=[a])
        .stations[0]
        .to_dict()
    )
    assert body["station"] == expected and body["days"] == 10
    assert body["station"]["visits"] == len(rows) and body["station"]["visits_per_day"] == len(rows) / 10
    assert body["station"]["by_worker_group"] == {"delivery_rider": len(rows)}
    default = client.get(f"/stations/{a}/usage").json()
    assert dt.date.fromisoformat(default["to"]) - dt.date.fromisoformat(default["from"]) == dt.timedelta(
        days=27
    )
    bad = client.get(f"/stations/{a}/usage", params={"from": "2026-10-10", "to": "2026-10-01"})
    assert bad.status_code == 422 and bad.json()["field"] == "from"
    assert client.get("/stations/987654321/usage").status_code == 404
    assert client.get(f"/stations/{a}/usage", params={"from": "yesterday"}).status_code == 422


def test_feedback_moderation_suspends_and_audits(client: TestClient, db_session: Session) -> None:
    sid = _station(client, "被报告的驿站")
    r = client.post(
        "/feedback",
        json={"station_id": sid, "kind": "closed", "text": f"门锁了{NASTY}", "lon": 113.9366, "lat": 22.5406},
    )
    assert r.status_code == 201, r.text
    fid = r.json()["id"]
    assert r.json()["state"] == "pending" and r.json()["text"] == f"门锁了{NASTY}"
    assert client.get("/feedback").status_code == 401
    queue = client.get("/feedback", headers=WRITE).json()["feedback"]
    assert [f["id"] for f in queue] == [fid]
    page = client.get(f"/s/S{sid}").text
    assert "报告已关闭" not in page  # pending reports are not shown
    r = client.post(f"/feedback/{fid}/accept", headers=WRITE)
    assert r.status_code == 200 and r.json()["state"] == "accepted" and r.json()["station_status_changed"]
    assert client.get(f"/stations/{sid}").json()["properties"]["status"] == "suspended"
    last = db_session.execute(
        text(
            "SELECT actor, operation, after->>'status' FROM station_changes "
            "WHERE station_id = :i ORDER BY id DESC LIMIT 1"
        ),
        {"i": sid},
    ).one()
    assert last[1:] == ("update", "suspended") and f"feedback {fid}" in last[0]
    page = client.get(f"/s/S{sid}").text
    assert "报告已关闭 · " in page and NASTY not in page and "门锁了&lt;script&gt;" in page
    assert client.post(f"/feedback/{fid}/accept", headers=WRITE).status_code == 409
    assert client.post(f"/stations/{sid}/visits").status_code == 409  # suspended: not open
    r = client.post(f"/feedback/{fid}/resolve?reopen=true", headers=WRITE)
    assert r.status_code == 200 and r.json()["state"] == "resolved"
    assert client.get(f"/stations/{sid}").json()["properties"]["status"] == "open"
    assert "报告已关闭" not in client.get(f"/s/S{sid}").text


def test_feedback_validation_reject_and_limit(client: TestClient) -> None:
    sid = _station(client, "又一个驿站")
    assert client.post("/feedback", json={"station_id": sid, "kind": "exploded"}).json()["field"] == "kind"
    assert (
        client.post(
            "/feedback", json={"station_id": sid, "kind": "full", "lon": 2.35, "lat": 48.85}
        ).status_code
        == 422
    )
    assert client.post("/feedback", json={"station_id": 987654321, "kind": "full"}).status_code == 404
    r = client.post("/feedback", json={"station_id": sid, "kind": "full", "text": "人太多"})
    fid = r.json()["id"]
    rej = client.post(f"/feedback/{fid}/reject", headers=WRITE)
    assert rej.json()["state"] == "rejected" and not rej.json()["station_status_changed"]
    assert client.get(f"/stations/{sid}").json()["properties"]["status"] == "open"
    codes = [
        client.post("/feedback", json={"station_id": sid, "kind": "other"}).status_code for _ in range(4)
    ]
    assert codes[-1] == 429


def test_standard_and_stars(client: TestClient) -> None:
    full = _station(
        client,
        "五星驿站",
        opening_hours="24/7",
        host_org="某银行",
        address="南山大道1号",
        amenities=[
            "drinking_water",
            "microwave",
            "charging",
            "toilet",
            "first_aid",
            "seating",
            "air_conditioning",
            "aed",
        ],
        seats=24,
        floor_area_m2=40,
    )
    bare = _station(client, "简陋驿站", 113.9530, 22.5440)
    r = client.get(f"/stations/{full}/standard")
    assert r.status_code == 200
    items = {i["id"]: i["status"] for i in r.json()["items"]}
    assert items == {
        "unified_sign": "unknown",
        "fixed_place": "met",
        "facilities": "met",
        "rules": "met",
        "staffing": "met",
        "on_map": "unknown",
    }
    bare_items = {i["id"]: i["status"] for i in client.get(f"/stations/{bare}/standard").json()["items"]}
    assert bare_items["facilities"] == "missing" and bare_items["fixed_place"] == "missing"
    assert client.get(f"/stations/{full}/standard?standard=bayou").json()["standard"] == "bayou"
    assert client.post(f"/stations/{full}/stars").status_code == 401
    s_full = client.post(f"/stations/{full}/stars", headers=WRITE).json()
    s_bare = client.post(f"/stations/{bare}/stars", headers=WRITE).json()
    # full: 4 items + 12 h + 24 h + AED + large = 8 points -> 4 stars (no visits: use unknown, no point)
    assert (s_full["stars"], s_full["inputs"]["points"]) == (4, 8.0)
    assert (s_bare["stars"], s_bare["inputs"]["points"]) == (1, 0.0)
    history = client.get(f"/stations/{full}/stars").json()["ratings"]
    assert [h["stars"] for h in history] == [4] and history[0]["inputs"]["weekday_open_hours"] == 24
    assert "★★★★☆" in client.get(f"/s/S{full}").text
    assert client.get(f"/stations/{full}").json()["properties"]["stars"] == 4
    listed = {f["id"]: f["properties"]["stars"] for f in client.get("/stations").json()["features"]}
    assert listed[full] == 4 and listed[bare] == 1


def _finder_config(client: TestClient) -> dict[str, Any]:
    import json
    import re

    page = client.get("/maps/finder").text
    match = re.search(r'<script id="yz-config" type="application/json">(.*?)</script>', page, re.S)
    assert match is not None
    cfg: dict[str, Any] = json.loads(match.group(1))
    return cfg


def test_accepted_feedback_changes_the_finder(client: TestClient) -> None:
    shut = _station(client, "要关的驿站")
    worn = _station(client, "坏了的驿站", 113.9530, 22.5440)
    before = _finder_config(client)
    assert {s["id"] for s in before["stations"]} >= {str(shut), str(worn)} and before["reports"] == {}
    ids = [
        client.post("/feedback", json={"station_id": sid, "kind": kind, "text": f"{kind}{NASTY}"}).json()[
            "id"
        ]
        for sid, kind in ((shut, "closed"), (worn, "broken"))
    ]
    assert _finder_config(client)["reports"] == {}  # pending: nothing shown yet
    for fid in ids:
        assert client.post(f"/feedback/{fid}/accept", headers=WRITE).status_code == 200
    cfg = _finder_config(client)
    assert str(shut) not in {s["id"] for s in cfg["stations"]}  # suspended: out of the finder
    (line,) = cfg["reports"][str(worn)]
    assert line["label"].startswith("报告设施损坏 · ") and line["text"] == f"broken{NASTY}"
    assert NASTY not in client.get("/maps/finder").text  # "<" is escaped inside the page's JSON
    client.post(f"/feedback/{ids[1]}/resolve", headers=WRITE)
    assert str(worn) not in _finder_config(client)["reports"]


def test_feedback_keeps_the_client_only_as_a_keyed_hash(
    client: TestClient, db_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hashlib
    import hmac

    sid = _station(client, "哈希驿站")
    monkeypatch.delenv("YIZHAN_VISITOR_HASH_KEY", raising=False)
    first = client.post("/feedback", json={"station_id": sid, "kind": "full"}).json()["id"]
    monkeypatch.setenv("YIZHAN_VISITOR_HASH_KEY", "feedback-test-key-0123456789")
    second = client.post("/feedback", json={"station_id": sid, "kind": "full"}).json()["id"]
    stored = dict(db_session.execute(text("SELECT id, client_hash FROM feedback")).all())
    assert stored[first] is None
    expected = hmac.new(b"feedback-test-key-0123456789", b"testclient", hashlib.sha256).hexdigest()[:16]
    assert stored[second] == expected
