"""Lost updates (issue #15): PATCH sets only the fields given, in one statement; every station has
a version, sent as its ``ETag``; PATCH/PUT/DELETE with a stale ``If-Match`` get 412 and change
nothing (RFC 9110 §13.1.1).

The concurrency tests run real threads against real PostGIS: an app without session overrides,
whose requests each take their own pooled connection and commit for real in the throw-away test
database (``clean_store`` empties it before and after).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from threading import Barrier
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.app import create_app
from api.settings import Settings
from tests.api._support import API_KEY, SHENZHEN_UNIVERSITY, TECH_PARK, WRITE, station_feature

LON, LAT = SHENZHEN_UNIVERSITY

#: one PATCH per field: 16 properties and the point (each value differs from the station's)
CHANGES: dict[str, Any] = {
    "name": "改名后的驿站",
    "kind": "outdoor_worker_station",
    "status": "planned",
    "amenities": ["charging", "toilet"],  # (catalog order)
    "opening_hours": "Mo-Su 08:00-20:00",
    "address": "南山区科苑路 1 号",
    "host_org": "南山区总工会",
    "phone": "0755-12345678",
    "county_code": "440305",
    "county_name": "南山区",
    "township_code": "440305001",
    "township_name": "南头街道",
    "community_code": "440305001001",
    "community_name": "南头社区",
    "seats": 12,
    "floor_area_m2": 35.5,
}


def _patch_body(field: str, value: Any) -> dict[str, Any]:
    if field == "geometry":
        return {"type": "Feature", "geometry": {"type": "Point", "coordinates": list(value)}}
    return {"type": "Feature", "properties": {field: value}}


# ------------------------------------------------------------------------------ ETag and If-Match


def test_etag_on_every_station_response(client: TestClient) -> None:
    r = client.post("/stations", json=station_feature("版本驿站", LON, LAT), headers=WRITE)
    assert r.status_code == 201 and r.headers["ETag"] == '"1"'
    sid = r.json()["id"]
    assert client.get(f"/stations/{sid}").headers["ETag"] == '"1"'
    r = client.patch(f"/stations/{sid}", json=_patch_body("seats", 3), headers=WRITE)
    assert r.headers["ETag"] == '"2"' and r.json()["properties"]["version"] == 2
    same = client.patch(f"/stations/{sid}", json=_patch_body("seats", 3), headers=WRITE)
    assert same.headers["ETag"] == '"2"'  # no change, no new version


@pytest.mark.parametrize("method", ["PATCH", "PUT", "DELETE"])
def test_stale_if_match_is_412_and_changes_nothing(client: TestClient, method: str) -> None:
    sid = client.post("/stations", json=station_feature("并发驿站", LON, LAT), headers=WRITE).json()["id"]
    assert client.patch(f"/stations/{sid}", json=_patch_body("seats", 5), headers=WRITE).status_code == 200
    before = client.get(f"/stations/{sid}").json()
    body = {
        "PATCH": _patch_body("name", "不该写入"),
        "PUT": station_feature("不该写入", LON, LAT),
        "DELETE": None,
    }[method]
    for stale in ('"1"', 'W/"2"', '"abc"', '"1", "7"'):
        r = client.request(method, f"/stations/{sid}", json=body, headers={**WRITE, "If-Match": stale})
        assert r.status_code == 412, (stale, r.text)
        assert r.json()["field"] == "If-Match"
    assert client.get(f"/stations/{sid}").json() == before
    current = client.get(f"/stations/{sid}").headers["ETag"]
    r = client.request(
        method, f"/stations/{sid}", json=body, headers={**WRITE, "If-Match": f'"9", {current}'}
    )
    assert r.status_code == 200, r.text
    r = client.request(method, f"/stations/{sid}", json=body, headers={**WRITE, "If-Match": "*"})
    assert r.status_code == 200, r.text


def test_if_match_on_a_missing_station_is_404(client: TestClient) -> None:
    r = client.patch("/stations/987654", json=_patch_body("seats", 1), headers={**WRITE, "If-Match": '"1"'})
    assert r.status_code == 404


# ------------------------------------------------------------------------ real concurrent writers


@pytest.fixture()
def live_client(clean_store: Engine, database_url: str, data_dir: Path) -> Iterator[TestClient]:
    """An app on the real store (no session override, no networks): every request commits."""
    settings = Settings(
        database_url=database_url, data_dir=data_dir, api_keys=(API_KEY,), load_networks=False
    )
    with TestClient(create_app(settings)) as c:
        yield c


def _concurrently(
    client: TestClient, calls: list[tuple[str, str, dict[str, Any], dict[str, str]]]
) -> list[Any]:
    """Run the requests at once (a barrier releases every thread together)."""
    barrier = Barrier(len(calls))

    def run(call: tuple[str, str, dict[str, Any], dict[str, str]]) -> Any:
        method, url, body, headers = call
        barrier.wait()
        return client.request(method, url, json=body, headers=headers)

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def test_concurrent_patches_of_distinct_fields_all_apply(
    live_client: TestClient, clean_store: Engine
) -> None:
    """17 PATCHes of distinct fields (16 properties and the point) and 3 with a stale If-Match, all at
    once on one station: every acknowledged change is there afterwards, the stale ones changed nothing."""
    created = live_client.post("/stations", json=station_feature("并发测试驿站", LON, LAT), headers=WRITE)
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    url = f"/stations/{sid}"
    bumped = live_client.patch(url, json=_patch_body("seats", 1), headers=WRITE)
    assert bumped.headers["ETag"] == '"2"'  # so If-Match "1" below is stale for certain
    calls = [("PATCH", url, _patch_body(f, v), WRITE) for f, v in CHANGES.items()]
    calls.append(("PATCH", url, _patch_body("geometry", TECH_PARK), WRITE))
    stale = {**WRITE, "If-Match": '"1"'}
    calls += [("PATCH", url, _patch_body("phone", f"stale-{i}"), stale) for i in range(3)]
    assert len(calls) == 20
    responses = _concurrently(live_client, calls)
    statuses = [r.status_code for r in responses]
    assert statuses[:17] == [200] * 17, [r.text for r in responses if r.status_code != 200]
    assert statuses[17:] == [412] * 3
    final = live_client.get(url).json()
    props = final["properties"]
    for field, value in CHANGES.items():
        assert props[field] == value, (field, props[field])
    assert final["geometry"]["coordinates"] == pytest.approx(list(TECH_PARK), abs=1e-7)
    assert props["version"] == 2 + 17
    with clean_store.connect() as conn:
        updates = conn.execute(
            text(
                "SELECT count(*) FROM station_changes "
                "WHERE station_id = :s AND operation IN ('update', 'close')"
            ),
            {"s": sid},
        ).scalar_one()
    assert updates == 1 + 17


def test_concurrent_writers_with_the_same_if_match_one_wins(live_client: TestClient) -> None:
    created = live_client.post("/stations", json=station_feature("抢先驿站", LON, LAT), headers=WRITE)
    sid, tag = created.json()["id"], created.headers["ETag"]
    headers = {**WRITE, "If-Match": tag}
    calls = [("PATCH", f"/stations/{sid}", _patch_body("phone", f"phone-{i}"), headers) for i in range(20)]
    responses = _concurrently(live_client, calls)
    winners = [r for r in responses if r.status_code == 200]
    assert len(winners) == 1 and sorted({r.status_code for r in responses}) == [200, 412]
    final = live_client.get(f"/stations/{sid}").json()["properties"]
    assert final["phone"] == winners[0].json()["properties"]["phone"] and final["version"] == 2


# ------------------------------------------------------------------------ /nearest under writes


def test_a_patch_that_moves_no_station_keeps_the_nearest_tables(client: TestClient, api_app: Any) -> None:
    """A PATCH of a phone number changes the registry version but no station point: /nearest shows
    the new phone at once, without rebuilding its table (the stall under one PATCH a second)."""
    created = client.post("/stations", json=station_feature("表格驿站", *TECH_PARK), headers=WRITE).json()
    query = {"lon": TECH_PARK[0], "lat": TECH_PARK[1], "crs": "wgs84", "k": 1}
    assert client.get("/nearest", params=query).status_code == 200
    index = api_app[0].state.nearest
    builds = index.builds
    r = client.patch(f"/stations/{created['id']}", json=_patch_body("phone", "0755-87654321"), headers=WRITE)
    assert r.status_code == 200
    hit = client.get("/nearest", params=query).json()["results"][0]["station"]
    assert hit["id"] == created["id"] and hit["properties"]["phone"] == "0755-87654321"
    assert index.builds == builds
    moved = client.patch(
        f"/stations/{created['id']}", json=_patch_body("geometry", (TECH_PARK[0] + 0.001, TECH_PARK[1])),
        headers=WRITE,
    )  # fmt: skip
    assert moved.status_code == 200
    client.get("/nearest", params=query)
    assert index.builds == builds + 1  # a moved station is a new table
