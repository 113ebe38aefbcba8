"""Organisations and authorisation against real PostGIS: a county (长沙岳麓区) and two townships whose
polygons are cut from the real Changsha Yuelu extract's bounds; keys per organisation; each
township's editor may change its own stations only, the county's both, a viewer none; a revoked key
gets 401; no secret nor any prefix of it reaches the database or the logs."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from shapely.geometry import box, mapping
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.app import create_app
from api.settings import Settings
from geo.db import repository as repo
from geo.orgs import store
from geo.orgs.tree import read_org_file
from tests.api._support import sessions_of, station_feature

YUELU_OSM = "changsha_osm_planner/changsha_yuelu_taozihu_map.osm"
BOOT = "boot:boot-secret-9f8e7d6c5b4a"
COUNTY, WEST, EAST, HOST = "430104", "430104001", "430104002", "H-430104002-01"


def yuelu_bounds(data_dir: Path) -> tuple[float, float, float, float]:
    """``<bounds>`` of the real Changsha Yuelu (桃子湖) OSM extract."""
    head = (data_dir / YUELU_OSM).read_text(encoding="utf-8")[:2000]
    found = {k: float(v) for k, v in re.findall(r'(min(?:lat|lon)|max(?:lat|lon))="([0-9.]+)"', head)}
    return found["minlon"], found["minlat"], found["maxlon"], found["maxlat"]


class LazyKeys(dict[str, str]):
    """``keys["430104001-editor"]``: that organisation's key of that role, created on first use
    (each creation costs a scrypt hash)."""

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session

    def __missing__(self, name: str) -> str:
        org, role = name.rsplit("-", 1)
        self[name] = secret = store.create_key(self.session, name=name, org_code=org, role=role)["secret"]
        return str(secret)


@pytest.fixture(scope="module")
def orgs_app(database_url: str, data_dir: Path) -> Iterator[tuple[FastAPI, TestClient]]:
    settings = Settings(
        database_url=database_url,
        data_dir=data_dir,
        load_networks=False,
        api_keys=(BOOT,),
        key_cache_seconds=0,
    )
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield app, c


@pytest.fixture()
def tree(
    orgs_app: tuple[FastAPI, TestClient], db_session: Session, data_dir: Path, tmp_path: Path
) -> Iterator[dict[str, Any]]:
    """The county (polygon from a GeoJSON org file), two townships (polygons from stored areas,
    linked by code from a CSV org file), a host under the east township, one key per role, and two
    stations per township created with the bootstrap key. Yields the client and all of it."""
    app, client = orgs_app
    app.state.auth = None  # fresh key caches and throttle for each test
    minx, miny, maxx, maxy = yuelu_bounds(data_dir)
    mid = (minx + maxx) / 2
    county = {
        "type": "Feature",
        "properties": {"组织代码": COUNTY, "名称": "岳麓区总工会", "级别": "区"},
        "geometry": mapping(box(minx, miny, maxx, maxy)),
    }
    (tmp_path / "county.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": [county]}))
    store.import_orgs(db_session, read_org_file(tmp_path / "county.geojson"), source="county.geojson")
    areas = gpd.GeoDataFrame(
        {"area_code": [WEST, EAST], "area_name": ["西街道", "东街道"]},
        geometry=[box(minx, miny, mid, maxy), box(mid, miny, maxx, maxy)],
        crs="EPSG:4326",
    )
    repo.upsert_areas(db_session, areas, level="township", source="test")
    (tmp_path / "towns.csv").write_text(
        "组织代码,名称,级别,上级代码\n"
        f"{WEST},岳麓街道工会,街道,{COUNTY}\n{EAST},桃子湖街道工会,街道,{COUNTY}\n"
        f"{HOST},湖南师大银行网点,主办单位,{EAST}\n",
        encoding="utf-8",
    )
    counts = store.import_orgs(
        db_session,
        read_org_file(tmp_path / "towns.csv", known=store.known_levels(db_session)),
        source="towns.csv",
    )
    assert counts == {"inserted": 3, "updated": 0, "with_area": 2}
    keys = LazyKeys(db_session)
    boot = {"X-API-Key": BOOT.split(":", 1)[1]}
    w = (minx + (mid - minx) * 0.3, miny + (maxy - miny) * 0.4)
    e = (mid + (maxx - mid) * 0.5, miny + (maxy - miny) * 0.6)
    ids = {}
    with sessions_of(app, db_session):
        for label, (lon, lat) in (
            ("w1", w),
            ("w2", (w[0], w[1] + 0.0008)),
            ("e1", e),
            ("e2", (e[0], e[1] + 0.0008)),
        ):
            r = client.post("/stations", json=station_feature(f"驿站{label}", lon, lat), headers=boot)
            assert r.status_code == 201, r.text
            ids[label] = r.json()["id"]
        yield {
            "client": client,
            "keys": keys,
            "ids": ids,
            "w": w,
            "e": e,
            "boot": boot,
            "session": db_session,
            "bounds": (minx, miny, maxx, maxy),
            "mid": mid,
        }


def _h(t: dict[str, Any], name: str) -> dict[str, str]:
    return {"X-API-Key": t["keys"][name]}


def _patch(t: dict[str, Any], key: str, label: str, seats: int = 3) -> Any:
    return t["client"].patch(
        f"/stations/{t['ids'][label]}", json={"properties": {"seats": seats}}, headers=_h(t, key)
    )


@pytest.fixture()
def t(tree: dict[str, Any]) -> dict[str, Any]:
    return tree


def test_townships_write_only_their_own(t: dict[str, Any]) -> None:
    assert _patch(t, f"{WEST}-editor", "w1").status_code == 200
    assert _patch(t, f"{EAST}-editor", "e1").status_code == 200
    r = _patch(t, f"{WEST}-editor", "e1")
    assert r.status_code == 403
    assert "岳麓街道工会 (430104001)" in r.json()["detail"] and "outside its area" in r.json()["detail"]
    r = _patch(t, f"{EAST}-editor", "w2")
    assert r.status_code == 403 and "桃子湖街道工会 (430104002)" in r.json()["detail"]
    client = t["client"]
    # moving one's own station into the other township is refused too
    r = client.patch(
        f"/stations/{t['ids']['w1']}",
        headers=_h(t, f"{WEST}-editor"),
        json={"geometry": {"type": "Point", "coordinates": list(t["e"])}},
    )
    assert r.status_code == 403 and "may not place a station" in r.json()["detail"]
    assert client.delete(f"/stations/{t['ids']['e2']}", headers=_h(t, f"{WEST}-editor")).status_code == 403
    assert client.delete(f"/stations/{t['ids']['w2']}", headers=_h(t, f"{WEST}-editor")).status_code == 200


def test_county_editor_writes_both(t: dict[str, Any]) -> None:
    for label in ("w1", "e1"):
        assert _patch(t, f"{COUNTY}-editor", label).status_code == 200
    minx, miny, _, _ = t["bounds"]
    r = t["client"].post(
        "/stations", json=station_feature("区外驿站", minx - 0.01, miny), headers=_h(t, f"{COUNTY}-editor")
    )
    assert r.status_code == 403 and "岳麓区总工会 (430104)" in r.json()["detail"]


def test_viewer_gets_403_on_every_write(t: dict[str, Any]) -> None:
    client, h, sid = t["client"], _h(t, f"{WEST}-viewer"), t["ids"]["w1"]
    feat = station_feature("看客驿站", *t["w"])
    answers = [
        client.post("/stations", json=feat, headers=h),
        client.put(f"/stations/{sid}", json=feat, headers=h),
        client.patch(f"/stations/{sid}", json={"properties": {"seats": 1}}, headers=h),
        client.delete(f"/stations/{sid}", headers=h),
        client.post(
            "/stations/import",
            files={"file": ("a.csv", "名称,经度,纬度,类型\n甲,112.9,28.1,工会驿站\n")},
            headers=h,
        ),
    ]
    assert [a.status_code for a in answers] == [403] * 5
    assert all("read-only" in a.json()["detail"] and "岳麓街道工会" in a.json()["detail"] for a in answers)
    assert client.get(f"/stations/{sid}/history", headers=h).status_code == 200  # viewers read the audit


def test_revoked_key_gets_401_and_new_keys_work_at_once(t: dict[str, Any]) -> None:
    name = f"{WEST}-editor"
    assert _patch(t, name, "w1").status_code == 200
    store.revoke_key(t["session"], name)
    r = _patch(t, name, "w1", seats=9)
    assert r.status_code == 401 and "not valid" in r.json()["detail"]
    fresh = store.create_key(t["session"], name="west-2", org_code=WEST, role="editor")["secret"]
    assert (
        t["client"]
        .patch(f"/stations/{t['ids']['w1']}", json={"properties": {"seats": 9}}, headers={"X-API-Key": fresh})
        .status_code
        == 200
    )


def test_audit_rows_carry_key_name_and_org(t: dict[str, Any]) -> None:
    r = t["client"].post(
        "/stations",
        json=station_feature("新西驿站", t["w"][0] + 0.0005, t["w"][1]),
        headers=_h(t, f"{WEST}-editor"),
    )
    assert r.status_code == 201, r.text
    assert _patch(t, f"{COUNTY}-editor", "e1").status_code == 200
    rows = (
        t["session"]
        .execute(
            text(
                "SELECT station_id, actor, org_code FROM station_changes "
                "WHERE station_id IN (:a, :b) ORDER BY id"
            ),
            {"a": r.json()["id"], "b": t["ids"]["e1"]},
        )
        .all()
    )
    assert [tuple(x) for x in rows] == [
        (t["ids"]["e1"], "boot", None),
        (r.json()["id"], f"{WEST}-editor", WEST),
        (t["ids"]["e1"], f"{COUNTY}-editor", COUNTY),
    ]
    history = t["client"].get(f"/stations/{r.json()['id']}/history", headers=_h(t, f"{EAST}-editor")).json()
    assert [(c["actor"], c["org_code"]) for c in history["changes"]] == [(f"{WEST}-editor", WEST)]


def test_host_changes_only_its_own(t: dict[str, Any]) -> None:
    client, h = t["client"], _h(t, f"{HOST}-editor")
    r = client.post("/stations", json=station_feature("银行驿站", t["e"][0] + 0.0004, t["e"][1]), headers=h)
    assert r.status_code == 201, r.text
    own = r.json()["id"]
    assert client.patch(f"/stations/{own}", json={"properties": {"seats": 2}}, headers=h).status_code == 200
    r = _patch(t, f"{HOST}-editor", "e1")
    assert r.status_code == 403 and "is not one of its stations" in r.json()["detail"]
    r = client.post("/stations", json=station_feature("西边银行驿站", *t["w"]), headers=h)
    assert r.status_code == 403 and "the area of 430104002" in r.json()["detail"]
    # the township above the host, and the county, still reach the host's station
    assert (
        client.patch(
            f"/stations/{own}", json={"properties": {"seats": 5}}, headers=_h(t, f"{EAST}-editor")
        ).status_code
        == 200
    )


def test_import_outside_the_area_is_refused_whole(t: dict[str, Any]) -> None:
    (wx, wy), (ex, ey) = t["w"], t["e"]
    csv_text = (
        "编号,名称,经度,纬度,类型\n"
        f"I1,西一驿站,{wx + 0.0003},{wy - 0.0004},工会驿站\n"
        f"I2,东一驿站,{ex + 0.0003},{ey - 0.0004},工会驿站\n"
        f"I3,西二驿站,{wx + 0.0006},{wy - 0.0006},工会驿站\n"
    )
    before = t["session"].execute(text("SELECT count(*) FROM stations")).scalar_one()
    r = t["client"].post(
        "/stations/import", files={"file": ("mix.csv", csv_text.encode())}, headers=_h(t, f"{WEST}-editor")
    )
    assert r.status_code == 403, r.text
    assert [e["row"] for e in r.json()["row_errors"]] == [3]
    assert "岳麓街道工会 (430104001)" in r.json()["detail"]
    assert t["session"].execute(text("SELECT count(*) FROM stations")).scalar_one() == before
    r = t["client"].post(
        "/stations/import", files={"file": ("mix.csv", csv_text.encode())}, headers=_h(t, f"{COUNTY}-editor")
    )
    assert r.status_code == 201, r.text
    assert r.json()["imported"] == 3


def test_orgs_endpoints_and_summary(t: dict[str, Any]) -> None:
    client = t["client"]
    listed = client.get("/orgs", params={"under": COUNTY}).json()["orgs"]
    assert [(o["code"], o["level"], o["has_area"]) for o in listed] == [
        (COUNTY, "county", True),
        (WEST, "township", True),
        (EAST, "township", True),
        (HOST, "host", False),
    ]
    one = client.get(f"/orgs/{WEST}").json()
    assert one["ancestors"] == [{"code": COUNTY, "name": "岳麓区总工会", "level": "county"}]
    for role in ("editor", "viewer", "admin"):
        t["keys"][f"{WEST}-{role}"]
    assert one["area"]["type"] == "MultiPolygon"
    assert client.get(f"/orgs/{WEST}").json()["active_keys"] == 3
    assert client.get("/orgs/nope").status_code == 404
    store.set_target(t["session"], WEST, year=2026, stations=4)
    assert _patch(t, f"{WEST}-editor", "w1").status_code == 200
    assert t["client"].delete(f"/stations/{t['ids']['w2']}", headers=t["boot"]).status_code == 200
    s = client.get(f"/orgs/{COUNTY}/summary").json()
    assert s["stations"] == 4 and s["by_status"] == {"closed": 1, "open": 3}
    kids = {c["code"]: c for c in s["children"]}
    assert kids[WEST]["by_status"] == {"closed": 1, "open": 1} and kids[EAST]["stations"] == 2
    assert kids[WEST]["targets"] == [{"year": 2026, "target": 4, "actual": 1, "share": 0.25}]
    assert set(kids) == {WEST, EAST}
    east = client.get(f"/orgs/{EAST}/summary").json()
    assert east["stations"] == 2 and [(c["code"], c["stations"]) for c in east["children"]] == [(HOST, 0)]


def test_admins_manage_keys_of_their_subtree(t: dict[str, Any]) -> None:
    client = t["client"]
    r = client.post(
        f"/orgs/{WEST}/keys", json={"name": "west-new", "role": "editor"}, headers=_h(t, f"{COUNTY}-admin")
    )
    assert r.status_code == 201, r.text
    assert r.json()["secret"].startswith("yz_") and r.headers["cache-control"] == "no-store"
    assert (
        client.patch(
            f"/stations/{t['ids']['w1']}",
            json={"properties": {"seats": 7}},
            headers={"X-API-Key": r.json()["secret"]},
        ).status_code
        == 200
    )
    r = client.post(
        f"/orgs/{COUNTY}/keys", json={"name": "up", "role": "admin"}, headers=_h(t, f"{WEST}-admin")
    )
    assert r.status_code == 403 and "not of '430104'" in r.json()["detail"]
    assert (
        client.post(
            f"/orgs/{WEST}/keys", json={"name": "x", "role": "editor"}, headers=_h(t, f"{WEST}-editor")
        ).status_code
        == 403
    )
    t["keys"][f"{WEST}-viewer"]
    listed = client.get(f"/orgs/{WEST}/keys", headers=_h(t, f"{WEST}-admin")).json()["keys"]
    assert {k["name"] for k in listed} == {f"{WEST}-editor", f"{WEST}-viewer", f"{WEST}-admin", "west-new"}
    assert not any("secret" in k or "secret_hash" in k for k in listed)
    assert (
        client.delete(f"/orgs/{WEST}/keys/west-new", headers=_h(t, f"{WEST}-admin")).json()["state"]
        == "revoked"
    )
    t["keys"][f"{EAST}-editor"]
    assert (
        client.delete(f"/orgs/{EAST}/keys/{EAST}-editor", headers=_h(t, f"{WEST}-admin")).status_code == 403
    )
    assert client.delete(f"/orgs/{WEST}/keys/nokey", headers=_h(t, f"{WEST}-admin")).status_code == 404


def _prefixes(secret: str) -> list[str]:
    return [secret[:n] for n in range(6, len(secret) + 1)]


def test_no_secret_or_prefix_in_database_or_logs(t: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    client, session = t["client"], t["session"]
    for org, role in ((COUNTY, "admin"), (WEST, "editor"), (WEST, "viewer"), (HOST, "editor")):
        t["keys"][f"{org}-{role}"]
    with caplog.at_level(logging.DEBUG):
        made = client.post(
            f"/orgs/{EAST}/keys", json={"name": "east-logged", "role": "editor"}, headers=t["boot"]
        ).json()["secret"]
        for key in (*t["keys"].values(), made):
            client.get(f"/stations/{t['ids']['e1']}/history", headers={"X-API-Key": key})
            client.patch(
                f"/stations/{t['ids']['e1']}", json={"properties": {"seats": 1}}, headers={"X-API-Key": key}
            )
        store.revoke_key(session, "east-logged")
        client.get(f"/stations/{t['ids']['e1']}/history", headers={"X-API-Key": made})
        client.get(f"/stations/{t['ids']['e1']}/history", headers={"X-API-Key": made[:-2] + "xx"})
    tables = (
        session.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars().all()
    )
    assert {"api_keys", "orgs", "station_changes", "stations"} <= set(tables)
    dump = "".join(
        session.execute(text(f"SELECT coalesce(string_agg(t::text, ''), '') FROM {name} t")).scalar_one()
        for name in tables
        if name != "spatial_ref_sys"
    )
    logs = "\n".join(r.getMessage() for r in caplog.records) + caplog.text
    assert "east-logged" in logs or "east-logged" in dump  # the name is there, the secret is not
    secrets_ = [*t["keys"].values(), made, BOOT.split(":", 1)[1]]
    for secret in secrets_:
        random_part = secret.split("_", 2)[2] if secret.startswith("yz_") else secret
        for prefix in {*_prefixes(secret), *_prefixes(random_part)}:
            assert prefix not in dump, f"a {len(prefix)}-character prefix of a key is stored"
            assert prefix not in logs, f"a {len(prefix)}-character prefix of a key is logged"


def test_coverage_per_child_org_equals_coverage_per_area(
    client: TestClient, db_session: Session, tmp_path: Path
) -> None:
    """Nanshan (real network): the township orgs take their polygons from stored areas, and their
    shares are the ones /coverage/areas gives for those areas."""
    from shapely.geometry import box as bbox

    from tests.api._support import SHENZHEN_UNIVERSITY, TECH_PARK, WRITE

    areas = gpd.GeoDataFrame(
        {"area_code": ["440305001", "440305002"], "area_name": ["西片", "东片"]},
        geometry=[bbox(113.92, 22.535, 113.945, 22.56), bbox(113.945, 22.535, 113.97, 22.56)],
        crs="EPSG:4326",
    )
    repo.upsert_areas(db_session, areas, level="township", source="test")
    (tmp_path / "o.csv").write_text(
        "组织代码,名称,级别,上级代码,区划代码\n440305,南山区总工会,区,,\n"
        "NS-W,西片工会,街道,440305,440305001\nNS-E,东片工会,街道,440305,440305002\n",
        encoding="utf-8",
    )
    store.import_orgs(db_session, read_org_file(tmp_path / "o.csv"), source="o.csv")
    for name, point in (("深大工会驿站", SHENZHEN_UNIVERSITY), ("科技园爱心驿站", TECH_PARK)):
        assert client.post("/stations", json=station_feature(name, *point), headers=WRITE).status_code == 201
    r = client.get("/orgs/440305/coverage", params={"mode": "walk", "minutes": 10})
    assert r.status_code == 200, r.text
    body = r.json()
    table = client.get("/coverage/areas", params={"mode": "walk", "minutes": 10}).json()["areas"]
    by_area = {a["area_code"]: a for a in table}
    kids = {c["code"]: c for c in body["children"]}
    for org, area in (("NS-W", "440305001"), ("NS-E", "440305002")):
        assert kids[org]["area_code"] == area
        assert kids[org]["covered_share"] == pytest.approx(by_area[area]["covered_share"])
        assert kids[org]["demand_total"] == pytest.approx(by_area[area]["demand_total"])
    assert 0 < kids["NS-W"]["covered_share"] < 1
    assert body["org"]["covered_share"] is None  # no stored area has the county's code
