"""``/scenarios`` over HTTP: the CLI's operations with the same figures, writes behind the API key, errors
naming the field, and what-if served incrementally yet equal to a fresh evaluation.

The city part serves Shanghai (Jing'an OSM) and Changsha (Yuelu OSM) walk networks built from the shared
raw data into tmp_path, stations drawn near their nodes (seeded) in the registry, a demand file: after
every action (add in GCJ-02, close, relocate, hours, amenities, add) the served coverage is reached
incrementally and equals, exactly, the same request answered by a fresh full pass and ``yizhan scenario
eval --json``; ``/scenarios/{a}/compare/{b}`` equals ``yizhan scenario compare --json``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from shapely.geometry import box
from sqlalchemy import Engine
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app as cli
from api.services import clear_scenarios
from api.settings import Settings
from geo.config import data_dir
from geo.crs import convert, wgs84_to_gcj02
from geo.network import read_network_npz
from tests.api._support import SHENZHEN_UNIVERSITY, TECH_PARK, WRITE

runner = CliRunner()
CITIES: dict[str, tuple[str, str | None]] = {
    "shanghai": ("shanghai_le_degn/shanghai_jingan_huangpu_drive.osm", None),
    "changsha": (
        "changsha_osm_planner/changsha_yuelu_taozihu_map.osm",
        "112.94196,28.18252,112.94899,28.18780",
    ),
}


def _invoke(*args: Any) -> Any:
    return runner.invoke(cli, [str(a) for a in args])


def _same(a: Any, b: Any) -> bool:
    """Equal JSON values, NaN (the CLI prints it) equal to null (the API answers it)."""
    if isinstance(a, float) and math.isnan(a):
        a = None
    if isinstance(b, float) and math.isnan(b):
        b = None
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


# ------------------------------------------------------------------------------- the sample app
@pytest.fixture()
def api(client: TestClient) -> Iterator[TestClient]:
    clear_scenarios(client.app.state)  # type: ignore[attr-defined]
    yield client


def test_create_list_show_delete(api: TestClient, add_station: Any) -> None:
    station = add_station("深大工会驿站", *SHENZHEN_UNIVERSITY)
    r = api.post("/scenarios", json={"name": "扩面", "description": "三个新站"}, headers=WRITE)
    assert r.status_code == 201, r.text
    assert r.json() == {
        "name": "扩面",
        "base": "db",
        "description": "三个新站",
        "crs": "wgs84",
        "total_cost": 0.0,
        "actions": [],
        "phases": [],
    }
    r = api.post("/scenarios", json={"name": "扩面"}, headers=WRITE)
    assert r.status_code == 409
    assert r.json() == {"detail": "a scenario named '扩面' exists already", "field": "name"}
    listed = api.get("/scenarios").json()["scenarios"]
    assert [(s["name"], s["actions"], s["cost"]) for s in listed] == [("扩面", 0, 0.0)]
    r = api.post(
        "/scenarios/扩面/actions",
        json={
            "kind": "add",
            "lon": TECH_PARK[0],
            "lat": TECH_PARK[1],
            "cost": 80000,
            "phase": 1,
            "year": 2027,
        },
        headers=WRITE,
    )
    assert r.status_code == 201, r.text
    r = api.post(
        "/scenarios/扩面/actions",
        json={
            "kind": "hours",
            "station_id": str(station["id"]),
            "opening_hours": "Mo-Su 08:00-22:00",
            "cost": 500,
            "phase": 2,
        },
        headers=WRITE,
    )
    assert r.status_code == 201, r.text
    shown = api.get("/scenarios/扩面").json()
    assert [a["kind"] for a in shown["actions"]] == ["add", "hours"] and shown["total_cost"] == 80500.0
    assert shown["phases"] == [
        {"phase": 1, "year": 2027, "cost": 80000.0, "actions": 1},
        {"phase": 2, "year": None, "cost": 500.0, "actions": 1},
    ]
    assert api.delete("/scenarios/扩面").status_code == 401  # writes need the key
    assert api.delete("/scenarios/扩面", headers=WRITE).status_code == 204
    assert api.get("/scenarios/扩面").status_code == 404


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
def test_points_are_converted_on_input(api: TestClient, crs: str) -> None:
    """A point given in GCJ-02 or BD-09 is stored in WGS-84 (geo.crs.convert, as /stations does) and
    answered in the crs asked for, which the answer states; WGS-84 by default."""
    api.post("/scenarios", json={"name": "crs"}, headers=WRITE)
    lon, lat = (float(v) for v in convert(*TECH_PARK, src="wgs84", dst=crs))
    r = api.post(
        f"/scenarios/crs/actions?crs={crs}", json={"kind": "add", "lon": lon, "lat": lat}, headers=WRITE
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["source_crs"] == crs and body["crs"] == crs and body["seq"] == 1
    assert (body["lon"], body["lat"]) == pytest.approx((lon, lat), abs=1e-6)  # as given
    shown = api.get("/scenarios/crs", params={"crs": crs}).json()
    assert shown["crs"] == crs and shown["actions"][0] == body
    stored = api.get("/scenarios/crs").json()  # the stored WGS-84 point
    back = convert(lon, lat, src=crs, dst="wgs84")
    assert stored["crs"] == "wgs84" and stored["actions"][0]["crs"] == "wgs84"
    assert stored["actions"][0]["source_crs"] == crs
    point = stored["actions"][0]["lon"], stored["actions"][0]["lat"]
    assert point == pytest.approx((float(back[0]), float(back[1])), abs=1e-9)
    assert point == pytest.approx(TECH_PARK, abs=2e-6)  # the round trip


@pytest.mark.parametrize(
    ("action", "field", "status"),
    [
        ({"kind": "close"}, "close.station_id", 422),
        ({"kind": "close", "station_id": "no-such-station"}, "station_id", 404),  # not in the base
        ({"kind": "add", "lon": 113.95}, "add.lat", 422),
        ({"kind": "add", "lon": 113.95, "lat": 22.54, "cost": -1}, "add.cost", 422),
        ({"kind": "hours", "station_id": "1", "opening_hours": "whenever"}, "opening_hours", 422),
        ({"kind": "teleport", "station_id": "1"}, "kind", 422),  # the union's tag
        ({"type": "close", "station_id": "1"}, "kind", 422),  # no tag at all
        ({"kind": None, "station_id": "1"}, "kind", 422),
    ],
)
def test_bad_actions_name_the_field(
    api: TestClient, add_station: Any, action: dict[str, Any], field: str | None, status: int
) -> None:
    add_station("深大工会驿站", *SHENZHEN_UNIVERSITY)
    api.post("/scenarios", json={"name": "bad"}, headers=WRITE)
    r = api.post("/scenarios/bad/actions", json=action, headers=WRITE)
    assert r.status_code == status, r.text
    assert r.json()["field"] is not None and r.json()["field"].startswith(field), r.json()
    assert (
        api.post(
            "/scenarios/nope/actions", json={"kind": "add", "lon": 113.95, "lat": 22.54}, headers=WRITE
        ).status_code
        == 404
    )
    assert api.get("/scenarios/nope/coverage").status_code == 404
    assert api.get("/scenarios/bad").json()["actions"] == []  # nothing stored


@pytest.mark.parametrize(
    ("action", "got"),
    [
        ({"type": "relocate", "station_id": "1", "lon": 113.95, "lat": 22.54}, "nothing"),
        ({"station_id": "1"}, "nothing"),
        ({"kind": "teleport", "station_id": "1"}, "'teleport'"),
        ({"kind": 5}, "'5'"),
    ],
)
def test_action_kind_named_with_its_values(api: TestClient, action: dict[str, Any], got: str) -> None:
    """A missing or unknown ``kind`` (the actions' discriminator) is 422 naming the field ``kind`` and
    listing its values, in the wording of every other choice (geo.checks.choice_message)."""
    api.post("/scenarios", json={"name": "kind"}, headers=WRITE)
    r = api.post("/scenarios/kind/actions", json=action, headers=WRITE)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["field"] == "kind"
    assert body["detail"] == f"kind must be one of add, close, relocate, hours, amenities, got {got}"
    assert [(e["loc"], e["msg"]) for e in body["errors"]] == [(["body", "kind"], body["detail"])]
    assert "Unable to extract tag" not in r.text and "expected tags" not in r.text


def test_remove_action(api: TestClient, add_station: Any) -> None:
    """``DELETE /scenarios/{name}/actions/{seq}`` removes one action; the others keep their numbers."""
    station = add_station("深大工会驿站", *SHENZHEN_UNIVERSITY)
    api.post("/scenarios", json={"name": "撤销"}, headers=WRITE)
    for action in (
        {"kind": "add", "lon": TECH_PARK[0], "lat": TECH_PARK[1], "cost": 80000},
        {"kind": "close", "station_id": str(station["id"]), "cost": 500},
        {"kind": "hours", "station_id": str(station["id"]), "opening_hours": "Mo-Su 08:00-22:00"},
    ):
        assert api.post("/scenarios/撤销/actions", json=action, headers=WRITE).status_code == 201
    assert api.delete("/scenarios/撤销/actions/2").status_code == 401  # writes need the key
    assert api.delete("/scenarios/撤销/actions/2", headers=WRITE).status_code == 204
    shown = api.get("/scenarios/撤销").json()
    assert [(a["seq"], a["kind"]) for a in shown["actions"]] == [(1, "add"), (3, "hours")]
    assert shown["total_cost"] == 80000.0
    for path, status, field in (
        ("/scenarios/撤销/actions/2", 404, "seq"),
        ("/scenarios/撤销/actions/0", 422, "seq"),
        ("/scenarios/撤销/actions/x", 422, "seq"),
        ("/scenarios/nope/actions/1", 404, "name"),
    ):
        r = api.delete(path, headers=WRITE)
        assert (r.status_code, r.json()["field"]) == (status, field), (path, r.text)
    r = api.delete("/scenarios/撤销/actions/2", headers=WRITE)
    assert r.json()["detail"] == "scenario '撤销' has no action 2"


def test_sample_coverage_is_incremental(api: TestClient, add_station: Any) -> None:
    s1 = add_station("深大工会驿站", *SHENZHEN_UNIVERSITY)
    api.post("/scenarios", json={"name": "what-if"}, headers=WRITE)
    first = api.get("/scenarios/what-if/coverage", params={"minutes": 10}).json()
    assert first["evaluation"]["incremental"] is False and first["summary"]["stations"] == 1
    api.post(
        "/scenarios/what-if/actions",
        json={"kind": "add", "lon": TECH_PARK[0], "lat": TECH_PARK[1]},
        headers=WRITE,
    )
    second = api.get("/scenarios/what-if/coverage", params={"minutes": 10}).json()
    assert second["evaluation"] == {**second["evaluation"], "incremental": True, "actions_applied": 1}
    assert second["summary"]["stations"] == 2
    assert second["summary"]["covered_share"] > first["summary"]["covered_share"]
    assert second["demand_source"] == api.get("/coverage", params={"minutes": 10}).json()["demand_source"]
    api.post("/scenarios/what-if/actions", json={"kind": "close", "station_id": str(s1["id"])}, headers=WRITE)
    third = api.get("/scenarios/what-if/coverage", params={"minutes": 10}).json()
    assert third["evaluation"]["incremental"] is True and third["summary"]["stations"] == 1
    clear_scenarios(api.app.state)  # type: ignore[attr-defined]
    fresh = api.get("/scenarios/what-if/coverage", params={"minutes": 10}).json()
    assert fresh["evaluation"]["incremental"] is False
    assert {k: v for k, v in fresh.items() if k != "evaluation"} == {
        k: v for k, v in third.items() if k != "evaluation"
    }


# ------------------------------------------------------------------------------- two shared cities
@pytest.fixture(scope="module", params=sorted(CITIES))
def city(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A walk .npz, a stations CSV (8 points near nodes) and a demand CSV (400 weighted points)."""
    osm, clip = CITIES[request.param]
    tmp = tmp_path_factory.mktemp(f"scenhttp-{request.param}")
    npz = tmp / "walk.npz"
    r = _invoke(
        "network", "build", "--osm", data_dir() / osm, "--out", npz, *(["--clip", clip] if clip else [])
    )
    assert r.exit_code == 0, r.output
    net = read_network_npz(npz)
    rng = np.random.default_rng(14)
    big = np.flatnonzero(net.component == np.argmax(net.component_sizes))
    pick = rng.choice(big, size=8, replace=False)
    stations = tmp / "stations.csv"
    pd.DataFrame(
        {
            "external_id": [f"{request.param}-{i}" for i in range(8)],
            "名称": [f"{request.param}驿站{i}" for i in range(8)],
            "经度": net.lon[pick] + 2e-4,
            "纬度": net.lat[pick] - 1e-4,
            "状态": "open",
        }
    ).to_csv(stations, index=False, encoding="utf-8-sig")
    near = rng.choice(big, size=400)
    demand = tmp / "workers.csv"
    pd.DataFrame(
        {
            "lon": net.lon[near] + rng.normal(0, 4e-4, 400),
            "lat": net.lat[near] + rng.normal(0, 4e-4, 400),
            "weight": rng.integers(1, 6, 400),
            "group": rng.choice(["delivery_rider", "courier", "sanitation_worker"], 400),
        }
    ).to_csv(demand, index=False)
    spots = [(float(net.lon[i]), float(net.lat[i])) for i in rng.choice(big, size=3, replace=False)]
    # two 街道 halves west and east of the middle of the network (the per-area rows)
    x0, y0, x1, y1 = net.lon.min(), net.lat.min(), net.lon.max(), net.lat.max()
    xm = (x0 + x1) / 2
    areas = tmp / "streets.geojson"
    gpd.GeoDataFrame(
        {"code": ["310101001", "310101002"], "name": ["西街道", "东街道"]},
        geometry=[box(x0, y0, xm, y1), box(xm, y0, x1, y1)],
        crs="EPSG:4326",
    ).to_file(areas, driver="GeoJSON")
    return {
        "name": request.param,
        "npz": npz,
        "stations": stations,
        "demand": demand,
        "spots": spots,
        "areas": areas,
    }


@pytest.fixture()
def served(city: dict[str, Any], database_url: str, clean_store: Engine) -> Iterator[TestClient]:
    r = _invoke("stations", "import", city["stations"], "--crs", "wgs84")
    assert r.exit_code == 0, r.output
    settings = Settings(
        database_url=database_url,
        networks={"walk": city["npz"]},
        demand=(str(city["demand"]),),
        areas=city["areas"],
        api_keys=(WRITE["X-API-Key"],),
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def _stripped(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "evaluation"}


def test_each_action_served_incrementally_equals_a_fresh_pass(
    city: dict[str, Any], served: TestClient
) -> None:
    name = f"{city['name']}扩面"
    assert served.post("/scenarios", json={"name": name}, headers=WRITE).status_code == 201
    ids = [str(f["id"]) for f in served.get("/stations", params={"limit": 100}).json()["features"]]
    params = {"minutes": 3}
    first = served.get(f"/scenarios/{name}/coverage", params=params).json()
    assert "evaluation" in first, first
    assert first["evaluation"]["incremental"] is False and first["demand_source"] == "file:workers.csv"
    assert _same(_stripped(first)["summary"], served.get("/coverage", params=params).json()["summary"])
    (lon0, lat0), (lon1, lat1), (lon2, lat2) = city["spots"]
    glon, glat = wgs84_to_gcj02(lon0, lat0)
    steps: list[tuple[dict[str, Any], str]] = [
        ({"kind": "add", "lon": float(glon), "lat": float(glat), "cost": 80000}, "gcj02"),
        ({"kind": "close", "station_id": ids[0], "cost": 1000}, "wgs84"),
        (
            {"kind": "relocate", "station_id": ids[1], "lon": lon1, "lat": lat1, "cost": 30000, "phase": 2},
            "wgs84",
        ),
        ({"kind": "hours", "station_id": ids[2], "opening_hours": "Mo-Su 08:00-22:00"}, "wgs84"),
        ({"kind": "amenities", "station_id": ids[3], "amenities": ["toilet", "charging"]}, "wgs84"),
        ({"kind": "add", "lon": lon2, "lat": lat2, "cost": 60000, "phase": 2}, "wgs84"),
        ({"kind": "close", "station_id": ids[4]}, "wgs84"),
    ]
    shares = []
    for action, crs in steps:
        r = served.post(f"/scenarios/{name}/actions", params={"crs": crs}, json=action, headers=WRITE)
        assert r.status_code == 201, r.text
        body = served.get(f"/scenarios/{name}/coverage", params=params).json()
        assert body["evaluation"]["incremental"] is True and body["evaluation"]["actions_applied"] == 1, body
        if action["kind"] in ("hours", "amenities"):
            assert body["evaluation"]["labels_processed"] == 0
        clear_scenarios(served.app.state)  # type: ignore[attr-defined]
        fresh = served.get(f"/scenarios/{name}/coverage", params=params).json()
        assert fresh["evaluation"]["incremental"] is False
        assert _stripped(body) == _stripped(fresh), action  # exactly, every figure of every row
        shares.append(body["summary"]["covered_share"])
    assert len(set(shares)) > 2  # the actions changed the coverage
    cli_run = _invoke(
        "scenario",
        "eval",
        name,
        "--network",
        city["npz"],
        "--demand",
        city["demand"],
        "--areas",
        city["areas"],
        "--minutes",
        3,
        "--json",
    )
    assert cli_run.exit_code == 0, cli_run.output
    ref = json.loads(cli_run.stdout)
    assert ref["cost"] == body["cost"] == 171000.0
    assert _same({k: ref[k] for k in body["summary"]}, body["summary"])
    assert _same(ref["by_group"], body["by_group"]) and _same(ref["by_area"], body["by_area"])
    assert [a["area_name"] for a in body["by_area"]] == ["西街道", "东街道", "(outside areas)"]
    assert sum(a["demand_total"] for a in body["by_area"]) == pytest.approx(body["summary"]["demand_total"])


def test_unknown_station_refused_and_action_removed(city: dict[str, Any], served: TestClient) -> None:
    """A relocate (GCJ-02) naming a station outside the registry is 404 naming ``station_id``, the
    station and the scenario, nothing stored; removing an action serves a full pass equal to a fresh one."""
    name = f"{city['name']}迁址"
    assert served.post("/scenarios", json={"name": name}, headers=WRITE).status_code == 201
    ids = [str(f["id"]) for f in served.get("/stations", params={"limit": 100}).json()["features"]]
    (lon0, lat0), (lon1, lat1), _ = city["spots"]
    glon, glat = (float(v) for v in wgs84_to_gcj02(lon0, lat0))
    relocate = {"kind": "relocate", "station_id": "999", "lon": glon, "lat": glat, "cost": 20000}
    r = served.post(f"/scenarios/{name}/actions", params={"crs": "gcj02"}, json=relocate, headers=WRITE)
    assert r.status_code == 404, r.text
    assert r.json() == {
        "detail": f"station '999' is not in the base of scenario '{name}'",
        "field": "station_id",
    }
    assert served.get(f"/scenarios/{name}").json()["actions"] == []
    for action, crs in (
        ({**relocate, "station_id": ids[1]}, "gcj02"),
        ({"kind": "close", "station_id": ids[0]}, "wgs84"),
        ({"kind": "add", "lon": lon1, "lat": lat1, "cost": 60000}, "wgs84"),
    ):
        r = served.post(f"/scenarios/{name}/actions", params={"crs": crs}, json=action, headers=WRITE)
        assert r.status_code == 201, r.text
    params = {"minutes": 3}
    assert served.get(f"/scenarios/{name}/coverage", params=params).status_code == 200
    assert served.delete(f"/scenarios/{name}/actions/2", headers=WRITE).status_code == 204
    body = served.get(f"/scenarios/{name}/coverage", params=params).json()
    assert body["evaluation"]["incremental"] is False and body["summary"]["stations"] == 9
    clear_scenarios(served.app.state)  # type: ignore[attr-defined]
    fresh = served.get(f"/scenarios/{name}/coverage", params=params).json()
    assert _stripped(body) == _stripped(fresh) and body["cost"] == 80000.0


def test_points_answered_in_the_crs_asked_for(city: dict[str, Any], served: TestClient) -> None:
    """GCJ-02 in, GCJ-02 out (equal to the input to 1e-6°) on the action's answer, ``GET
    /scenarios/{name}?crs=gcj02`` and ``yizhan scenario show --crs gcj02``; WGS-84 (the stored point)
    by default, with the CRS stated."""
    name = f"{city['name']}坐标"
    assert served.post("/scenarios", json={"name": name}, headers=WRITE).status_code == 201
    ids = [str(f["id"]) for f in served.get("/stations", params={"limit": 100}).json()["features"]]
    (lon0, lat0), (lon1, lat1), _ = city["spots"]
    given = [tuple(float(v) for v in wgs84_to_gcj02(x, y)) for x, y in ((lon0, lat0), (lon1, lat1))]
    for action in (
        {"kind": "add", "lon": given[0][0], "lat": given[0][1]},
        {"kind": "relocate", "station_id": ids[2], "lon": given[1][0], "lat": given[1][1]},
    ):
        r = served.post(f"/scenarios/{name}/actions", params={"crs": "gcj02"}, json=action, headers=WRITE)
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["crs"] == body["source_crs"] == "gcj02"
        assert abs(body["lon"] - action["lon"]) < 1e-6 and abs(body["lat"] - action["lat"]) < 1e-6
    shown = served.get(f"/scenarios/{name}", params={"crs": "gcj02"}).json()
    assert shown["crs"] == "gcj02"
    got = [(a["lon"], a["lat"]) for a in shown["actions"]]
    assert np.allclose(got, given, rtol=0, atol=1e-6)
    default = served.get(f"/scenarios/{name}").json()
    assert default["crs"] == "wgs84" and [a["crs"] for a in default["actions"]] == ["wgs84", "wgs84"]
    assert np.allclose([(a["lon"], a["lat"]) for a in default["actions"]], [(lon0, lat0), (lon1, lat1)],
                       rtol=0, atol=1e-6)
    cli_json = json.loads(_invoke("scenario", "show", name, "--crs", "gcj02", "--json").stdout)
    assert cli_json["crs"] == "gcj02"
    assert np.allclose([(a["lon"], a["lat"]) for a in cli_json["actions"]], given, rtol=0, atol=1e-6)
    assert [a["source_crs"] for a in cli_json["actions"]] == ["gcj02", "gcj02"]
    text = _invoke("scenario", "show", name, "--crs", "amap").stdout  # an alias of gcj02
    assert f"at {given[0][0]:.6f},{given[0][1]:.6f} (gcj02)" in text
    text = _invoke("scenario", "show", name).stdout
    assert f"at {default['actions'][0]['lon']:.6f},{default['actions'][0]['lat']:.6f} (wgs84)" in text
    r = _invoke("scenario", "show", name, "--crs", "utm50")
    assert r.exit_code == 2 and r.output.startswith("error: unknown coordinate system 'utm50'"), r.output
    assert served.get(f"/scenarios/{name}", params={"crs": "utm50"}).json()["field"] == "crs"


def test_compare_equals_the_cli(city: dict[str, Any], served: TestClient, tmp_path: Path) -> None:
    ids = [str(f["id"]) for f in served.get("/stations", params={"limit": 100}).json()["features"]]
    for name in ("甲", "乙"):
        served.post("/scenarios", json={"name": name}, headers=WRITE)
    (lon0, lat0), (lon1, lat1), _ = city["spots"]
    for name, action in (
        ("甲", {"kind": "add", "lon": lon0, "lat": lat0, "cost": 50000}),
        ("甲", {"kind": "close", "station_id": ids[4]}),
        ("乙", {"kind": "relocate", "station_id": ids[5], "lon": lon1, "lat": lat1, "cost": 20000}),
    ):
        assert served.post(f"/scenarios/{name}/actions", json=action, headers=WRITE).status_code == 201
    for a, b in (("甲", "乙"), ("base", "甲")):
        body = served.get(f"/scenarios/{a}/compare/{b}", params={"minutes": 3}).json()
        r = _invoke(
            "scenario",
            "compare",
            a,
            b,
            "--network",
            city["npz"],
            "--demand",
            city["demand"],
            "--areas",
            city["areas"],
            "--minutes",
            3,
            "--json",
            "--map",
            tmp_path / f"{a}-{b}.html",
        )
        assert r.exit_code == 0, r.output
        ref = json.loads(r.stdout)
        assert _same(ref, {k: v for k, v in body.items() if k not in ("query", "demand_source")}), (a, b)
        assert body["demand_source"] == "file:workers.csv"
        groups = {g["group"] for g in body["by_group"]}
        assert groups == {"delivery_rider", "courier", "sanitation_worker"}
        gained = sum(g["gained"] for g in body["by_group"])
        assert gained == pytest.approx(body["gained"]) and body["lost"] >= 0
        assert [r["area_name"] for r in body["by_area"]] == ["西街道", "东街道", None]  # None: outside
        assert sum(r["gained"] - r["lost"] for r in body["by_area"]) == pytest.approx(body["net_gain"])
    page = served.get("/maps/scenarios/甲", params={"minutes": 3, "tiles": "none"})
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "Content-Security-Policy" in page.headers and "方案：甲" in page.text
    # the CLI's map file: self-contained, the same layers as the served page
    written = (tmp_path / "base-甲.html").read_text(encoding="utf-8")
    assert "/static/" not in written and "方案：甲" in written
    for key, count in (("kept", 7), ("added", 1), ("closed", 1), ("relocated", 0)):
        assert f'data-k="{key}">{count}<' in written and f'data-k="{key}">{count}<' in page.text, key
    # both maps start centred on the data (Shanghai, Changsha), not on Shenzhen (22.545, 113.945)
    net = read_network_npz(city["npz"])
    for html in (written, page.text):
        assert "22.545" not in html and "113.945" not in html
        found = re.findall(r"center: \[([-0-9.]+), ([-0-9.]+)\]", html)
        assert len(found) == 1, found
        lat, lon = (float(v) for v in found[0])
        assert net.lon.min() - 0.01 < lon < net.lon.max() + 0.01, (lon, city["name"])
        assert net.lat.min() - 0.01 < lat < net.lat.max() + 0.01, (lat, city["name"])
    assert not list(tmp_path.glob(".*.tmp*"))  # written through a temporary file renamed
