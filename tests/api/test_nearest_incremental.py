"""The /nearest index kept up to date incrementally (issue #15) equals one built from scratch.

Against real PostGIS and the real Shanghai and Changsha street networks: a random sequence of
station writes (create, attribute-only PATCH, move, amenities, opening hours, close, reopen, delete)
through :mod:`geo.db.repository`; after each, the incremental index (which reads only the changed
rows and derives its tables from the cached ones) answers random points with the same stations and
minutes as a :class:`~api.nearest_index.NearestIndex` built from scratch, for several filters.
Over the HTTP API: an acknowledged write is seen by the very next request (read-your-writes).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.nearest_index import NearestIndex, station_feature
from api.routes._geojson import features
from geo.config import data_dir
from geo.db import repository
from geo.network import Network, load_network
from geo.stations import records_to_frame
from tests.api._support import WRITE

CITIES: dict[str, dict[str, Any]] = {
    "shanghai": {"osm": "shanghai_le_degn/shanghai_jingan_huangpu_drive.osm", "clip": None},
    # relation ways reach far outside the Changsha extract: clip to its <bounds> (SOURCES.md)
    "changsha": {"osm": "changsha_osm_planner/changsha_yuelu_taozihu_map.osm",
                 "clip": (112.94196, 28.18252, 112.94899, 28.18780)},
}  # fmt: skip
MAX_K = 3  # small, so that a few removals use up a table's slack (SLACK = 4)
HORIZON_MINUTES = 30.0
AMENITIES = (["drinking_water"], ["charging"], ["drinking_water", "toilet"], [])
HOURS = ("24/7", "Mo-Fr 09:00-18:00", "Mo-Su 06:00-22:00", None)
FILTERS: tuple[tuple[tuple[str, ...], dt.datetime | None], ...] = (
    ((), None),
    (("drinking_water",), None),
    ((), dt.datetime(2026, 11, 23, 20, 0)),  # a Monday evening, China time
)


@pytest.fixture(scope="module", params=sorted(CITIES))
def city_net(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Network:
    spec = CITIES[request.param]
    cache = tmp_path_factory.mktemp(f"nearest-{request.param}")
    return load_network(data_dir() / spec["osm"], mode="walk", clip=spec["clip"], cache_dir=cache)


def _free_point(
    net: Network, rng: np.random.Generator, taken: list[tuple[float, float]]
) -> tuple[float, float]:
    """A random node of the largest component, 40 m or more from every station (no duplicate check)."""
    big = np.flatnonzero(net.component == np.argmax(net.component_sizes))
    for _ in range(1000):
        node = int(rng.choice(big))
        lon, lat = float(net.lon[node]) + 2e-5, float(net.lat[node]) - 1e-5  # beside the street
        if all(_meters(lon, lat, x, y) > 40.0 for x, y in taken):
            return lon, lat
    raise AssertionError("no free point")


def _meters(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    k = np.cos(np.radians((lat1 + lat2) / 2))
    return float(np.hypot((lon1 - lon2) * 111_320.0 * k, (lat1 - lat2) * 110_574.0))


def _answers(index: NearestIndex, session: Session, points: np.ndarray) -> list[list[tuple[int, float]]]:
    """(station id, minutes) of the MAX_K nearest, per point and filter."""
    out = []
    for amenities, at in FILTERS:
        for lon, lat in points:
            snap, hits, _ = index.query(session, "walk", float(lon), float(lat), k=MAX_K,
                                        amenities=amenities, at=at)  # fmt: skip
            out.append([(int(snap.ids[h.position]), h.minutes) for h in hits])
    return out


def _same(got: list[list[tuple[int, float]]], want: list[list[tuple[int, float]]]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert [m for _, m in g] == pytest.approx([m for _, m in w], abs=1e-9)
        # station ids equal, except between stations at the very same minutes (ties)
        assert [s for s, m in g if all(abs(m - o) > 1e-9 for _, o in w if _ != s)] == [
            s for s, m in w if all(abs(m - o) > 1e-9 for _, o in g if _ != s)
        ]


def _write(session: Session, rng: np.random.Generator, net: Network, alive: dict[int, tuple[float, float]],
           closed: set[int], step: int) -> str:
    """One random write; returns its kind."""

    def patch(station_id: int, props: dict[str, Any]) -> None:
        repository.update_station(session, station_id, props, actor="test", partial=True)

    kinds = ["create", "phone", "move", "amenities", "hours", "close", "reopen", "delete"]
    kind = str(rng.choice(kinds)) if len(alive) > 20 else "create"
    if kind == "reopen" and not closed:
        kind = "close"
    sid = int(rng.choice(sorted(set(alive) - closed))) if set(alive) - closed else None
    if kind in ("phone", "move", "amenities", "hours", "close", "delete") and sid is None:
        kind = "create"
    if kind == "create":
        lon, lat = _free_point(net, rng, list(alive.values()))
        rec = repository.create_station(session, {
            "name": f"增量驿站{step}", "lon": lon, "lat": lat, "kind": "union_station",
            "amenities": AMENITIES[step % 4], "opening_hours": HOURS[step % 4]}, actor="test")  # fmt: skip
        alive[int(rec["station_id"])] = (lon, lat)
    elif kind == "phone":
        patch(sid, {"phone": f"0731-{step:08d}"})
    elif kind == "move":
        lon, lat = _free_point(net, rng, [p for s, p in alive.items() if s != sid])
        patch(sid, {"lon": lon, "lat": lat})
        alive[sid] = (lon, lat)
    elif kind == "amenities":
        patch(sid, {"amenities": AMENITIES[int(rng.integers(4))]})
    elif kind == "hours":
        patch(sid, {"opening_hours": HOURS[int(rng.integers(3))]})
    elif kind == "close":
        repository.close_station(session, sid, actor="test")
        closed.add(sid)
    elif kind == "reopen":
        again = int(rng.choice(sorted(closed)))
        patch(again, {"status": "open"})
        closed.discard(again)
    else:
        repository.delete_station(session, sid, actor="test")
        del alive[sid]
    return kind


def test_incremental_index_equals_a_fresh_one(city_net: Network, db_session: Session) -> None:
    net, session = city_net, db_session
    rng = np.random.default_rng(15)
    alive: dict[int, tuple[float, float]] = {}
    closed: set[int] = set()
    for step in range(24):
        _write(session, rng, net, alive, closed, step)
    big = np.flatnonzero(net.component == np.argmax(net.component_sizes))
    nodes = rng.choice(big, size=12, replace=False)
    points = np.column_stack([net.lon[nodes] + 1e-5, net.lat[nodes] + 1e-5])
    index = NearestIndex({"walk": net}, horizon_minutes=HORIZON_MINUTES, max_k=MAX_K)
    _answers(index, session, points)  # initial load and one table per filter
    rows, builds = index.rows_read, index.builds
    assert 1 <= builds <= len(FILTERS) and rows == len(alive)
    kinds: list[str] = []
    for step in range(24, 64):
        kind = _write(session, rng, net, alive, closed, step)
        kinds.append(kind)
        index.mark_stale()
        tables = dict(index._tables)  # white box: which tables a write kept
        if kind == "phone":  # nothing a filter reads changed: every request stays on the event loop
            snap = index.snapshot(session)
            assert all(index.is_warm(snap, "walk", amenities=a, at=t) for a, t in FILTERS)
        got = _answers(index, session, points)
        fresh = NearestIndex({"walk": net}, horizon_minutes=HORIZON_MINUTES, max_k=MAX_K)
        _same(got, _answers(fresh, session, points))
        if kind == "phone":  # an attribute no filter reads: every table kept as it was
            assert all(index._tables.get(key) is table for key, table in tables.items())
        index.wait_background()  # (rebuilds ran beside this step's queries; none left for the next)
    index.wait_background()
    _same(_answers(index, session, points), _answers(NearestIndex(
        {"walk": net}, horizon_minutes=HORIZON_MINUTES, max_k=MAX_K), session, points))  # fmt: skip
    # only the written rows were read again (at most one per write: a delete, or a write that changed
    # nothing, reads none; a full re-read would read every station), and most tables were derived
    assert kinds.count("create") <= index.rows_read - rows <= sum(kind != "delete" for kind in kinds)
    assert index.derived >= 10, (index.derived, kinds)
    assert index.rebuilt >= 1  # the slack ran low: rebuilt in the background, swapped in
    assert index.builds - builds <= 3, (index.builds, index.derived, kinds)
    assert {"create", "phone", "move", "amenities", "close", "delete"} <= set(kinds), kinds


def test_record_features_equal_frame_features(add_station: Callable[..., dict[str, Any]],
                                              db_session: Session) -> None:
    """Features built per station dict (the incremental refresh) equal those of a stations frame."""
    add_station("甲驿站", 113.9365, 22.5405, seats=4, floor_area_m2=12.5, phone="0755-1",
                amenities=["toilet", "charging"], opening_hours="24/7")  # fmt: skip
    add_station("乙驿站", 113.9530, 22.5440)
    records = repository.station_rows(db_session)
    assert len(records) == 2
    want = features(records_to_frame(records, id_field="station_id"), id_column="station_id")
    assert [station_feature(r) for r in records] == want


def _ids(client: TestClient, **params: Any) -> list[int]:
    r = client.get("/nearest", params={"crs": "wgs84", "k": 5, **params})
    assert r.status_code == 200, r.text
    return [int(res["station"]["id"]) for res in r.json()["results"]]


def test_read_your_writes(client: TestClient, add_station: Callable[..., dict[str, Any]],
                          api_app: tuple[FastAPI, TestClient]) -> None:
    """Every acknowledged write shows in the very next /nearest answer."""
    index: NearestIndex = api_app[0].state.nearest
    point = {"lon": 113.9445, "lat": 22.5405}
    a = add_station("深大驿站", 113.9365, 22.5405, amenities=["drinking_water"], opening_hours="24/7")
    b = add_station("科技园驿站", 113.9530, 22.5440, amenities=["charging"], opening_hours="24/7")
    c = add_station("高新南驿站", 113.9480, 22.5370, amenities=["drinking_water"], opening_hours="24/7")
    assert sorted(_ids(client, **point)) == sorted([a["id"], b["id"], c["id"]])
    builds, derived = index.builds, index.derived

    r = client.patch(f"/stations/{b['id']}", json={"properties": {"phone": "0755-26530000"}}, headers=WRITE)
    assert r.status_code == 200, r.text
    got = client.get("/nearest", params={"crs": "wgs84", "k": 5, **point}).json()["results"]
    assert {res["station"]["properties"]["phone"] for res in got if res["station"]["id"] == b["id"]} == {
        "0755-26530000"
    }
    assert (index.builds, index.derived) == (builds, derived)  # the table was kept

    assert client.delete(f"/stations/{c['id']}", headers=WRITE).status_code == 200  # closes it
    assert c["id"] not in _ids(client, **point)
    r = client.patch(f"/stations/{a['id']}", json={"properties": {"amenities": ["charging"]}}, headers=WRITE)
    assert r.status_code == 200, r.text
    assert a["id"] not in _ids(client, amenity="drinking_water", **point)
    assert a["id"] in _ids(client, amenity="charging", **point)
    before = client.get("/nearest", params={"crs": "wgs84", "k": 1, **point}).json()["results"][0]
    r = client.patch(f"/stations/{b['id']}", json={"geometry": {"type": "Point", "coordinates":
                                                                [point["lon"] + 0.0003, point["lat"]]}},
                     headers=WRITE)  # fmt: skip
    assert r.status_code == 200, r.text
    after = client.get("/nearest", params={"crs": "wgs84", "k": 1, **point}).json()["results"][0]
    assert after["station"]["id"] == b["id"] and after["minutes"] < before["minutes"]
    assert index.builds == builds  # every changed table was derived, none rebuilt on a request
    assert index.derived > derived


def test_only_written_rows_are_read_again(client: TestClient, add_station: Callable[..., dict[str, Any]],
                                          api_app: tuple[FastAPI, TestClient]) -> None:
    index: NearestIndex = api_app[0].state.nearest
    made = [add_station(f"第{i}驿站", 113.9365 + 0.002 * i, 22.5405) for i in range(5)]
    _ids(client, lon=113.9445, lat=22.5405)
    rows = index.rows_read
    r = client.patch(f"/stations/{made[2]['id']}", json={"properties": {"phone": "1"}}, headers=WRITE)
    assert r.status_code == 200, r.text
    _ids(client, lon=113.9445, lat=22.5405)
    assert index.rows_read == rows + 1


def test_other_writers_seen_after_the_periodic_check(
    client: TestClient, add_station: Callable[..., dict[str, Any]], api_app: tuple[FastAPI, TestClient],
    db_session: Session,
) -> None:
    """A write by another process (no mark_stale here) is seen once the periodic check ran: one
    request claims it and is answered from the held stations, the check runs after that answer."""
    index: NearestIndex = api_app[0].state.nearest
    point = {"lon": 113.9445, "lat": 22.5405}
    a = add_station("深大驿站", 113.9365, 22.5405)
    assert _ids(client, **point) == [a["id"]]
    saved = index.check_seconds
    index.check_seconds = 0.05
    try:
        rec = repository.create_station(db_session, {"name": "后海驿站", "lon": 113.9410, "lat": 22.5470,
                                                     "kind": "union_station"}, actor="cli")  # fmt: skip
        time.sleep(0.06)
        assert not index.must_refresh()
        assert rec["station_id"] not in _ids(client, **point)  # claimed the check, did not wait for it
        assert rec["station_id"] in _ids(client, **point)
    finally:
        index.check_seconds = saved


def test_a_write_is_taken_in_before_it_is_answered(
    client: TestClient, add_station: Callable[..., dict[str, Any]], api_app: tuple[FastAPI, TestClient]
) -> None:
    """The writer's own thread reads its change and prepares the tables in use before the PATCH is
    answered, so the requests after it neither wait for a refresh nor derive a table (#15)."""
    index: NearestIndex = api_app[0].state.nearest
    point = {"lon": 113.9445, "lat": 22.5405}
    a = add_station("深大驿站", 113.9365, 22.5405)
    add_station("科技园驿站", 113.9530, 22.5440)
    assert a["id"] in _ids(client, **point)  # the filter in use: walk, any amenity
    assert index.is_warm(index.current(), "walk")
    derived = index.derived
    moved = {"geometry": {"type": "Point", "coordinates": [113.9440, 22.5405]}}
    r = client.patch(f"/stations/{a['id']}", json=moved, headers=WRITE)
    assert r.status_code == 200, r.text
    # answered: the new snapshot is held and its table derived, before any request came
    assert not index.must_refresh()
    assert index.is_warm(index.current(), "walk")
    assert index.derived == derived + 1
    got = client.get("/nearest", params={"crs": "wgs84", "k": 1, **point}).json()["results"][0]
    assert got["station"]["id"] == a["id"]
    assert got["route"]["coordinates"][-1] == pytest.approx([113.9440, 22.5405], abs=1e-6)
    assert index.derived == derived + 1  # the request found it ready
