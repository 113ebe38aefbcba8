"""Serving another city's own network, stations and demand (Shanghai Jing'an OSM, Changsha Yuelu OSM).

Networks are built with ``yizhan network build`` into tmp_path, stations and demand points are drawn
at test time near the network's nodes (seeded), nothing derived is committed. The served figures are
compared with ``yizhan coverage`` on the same .npz, the same registry (``--stations db``) and the same
demand file; ``demand_source`` names the demand; nothing of the Shenzhen sample leaks in.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app as cli
from api.settings import NANSHAN_CORE, Settings
from geo.config import data_dir
from geo.network import read_network_npz

runner = CliRunner()

CITIES: dict[str, dict[str, Any]] = {
    "shanghai": {"osm": "shanghai_le_degn/shanghai_jingan_huangpu_drive.osm", "clip": None},
    # relation ways reach far outside the Changsha extract: clip to its <bounds> (SOURCES.md)
    "changsha": {"osm": "changsha_osm_planner/changsha_yuelu_taozihu_map.osm",
                 "clip": "112.94196,28.18252,112.94899,28.18780"},
}


def _invoke(*args: str) -> Any:
    return runner.invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module", params=sorted(CITIES))
def city(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A walk .npz of the city, a stations CSV (8 points) and a demand CSV (300 weighted points)."""
    name = request.param
    spec = CITIES[name]
    tmp = tmp_path_factory.mktemp(f"anyarea-{name}")
    npz = tmp / f"{name}-walk.npz"
    args = ["network", "build", "--osm", data_dir() / spec["osm"], "--out", npz, "--mode", "walk"]
    if spec["clip"]:
        args += ["--clip", spec["clip"]]
    r = _invoke(*args)
    assert r.exit_code == 0, r.output
    net = read_network_npz(npz)
    rng = np.random.default_rng(14)
    big = np.flatnonzero(net.component == np.argmax(net.component_sizes))
    pick = rng.choice(big, size=8, replace=False)
    stations = tmp / "stations.csv"
    pd.DataFrame({
        "编号": [f"{name}-{i}" for i in range(8)], "名称": [f"{name}驿站{i}" for i in range(8)],
        "经度": net.lon[pick] + 0.0002, "纬度": net.lat[pick] - 0.0001, "类型": "union_station",
        "状态": "open",
    }).to_csv(stations, index=False, encoding="utf-8-sig")
    near = rng.choice(big, size=300)
    demand = tmp / "workers.csv"
    pd.DataFrame({
        "lon": net.lon[near] + rng.normal(0, 0.0004, 300), "lat": net.lat[near] + rng.normal(0, 0.0004, 300),
        "weight": rng.integers(1, 6, 300), "group": "delivery_rider",
    }).to_csv(demand, index=False)
    return {"name": name, "npz": npz, "stations": stations, "demand": demand, "tmp": tmp}


@pytest.fixture()
def served(city: dict[str, Any], database_url: str, clean_store: Engine) -> Iterator[TestClient]:
    """The city's stations in the registry (committed) and an app serving the city's network."""
    r = _invoke("stations", "import", city["stations"], "--crs", "wgs84")
    assert r.exit_code == 0, r.output
    settings = Settings(database_url=database_url, networks={"walk": city["npz"]},
                        demand=(str(city["demand"]),))
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def test_own_network_is_served_unclipped(city: dict[str, Any], database_url: str) -> None:
    settings = Settings(database_url=database_url, networks={"walk": city["npz"]})
    assert settings.network_clip is None and settings.demand_pois is None and not settings.sample
    sample = Settings(database_url=database_url)
    assert sample.sample and sample.network_clip == NANSHAN_CORE  # the bundled sample keeps its core
    assert Settings(database_url=database_url, networks={"walk": city["npz"]},
                    network_clip="1,2,3,4").network_clip == (1.0, 2.0, 3.0, 4.0)


def test_served_coverage_equals_cli(city: dict[str, Any], served: TestClient) -> None:
    r = _invoke("coverage", "--network", city["npz"], "--stations", "db", "--demand", city["demand"],
                "--minutes", "10", "--json")
    assert r.exit_code == 0, r.output
    cli_body = json.loads(r.stdout)
    body = served.get("/coverage", params={"minutes": 10}).json()
    assert body["demand_source"] == "file:workers.csv" == cli_body["demand"]["demand_source"]
    keys = ("stations", "demand_total", "demand_covered", "covered_share", "median_minutes", "p95_minutes")
    for key in keys:
        assert body["summary"][key] == pytest.approx(cli_body[key]), key
    assert body["summary"]["stations"] == 8
    assert 0 < body["summary"]["covered_share"] < 1
    assert {g["group"] for g in body["by_group"]} == {"delivery_rider"}

    areas = served.get("/coverage/areas", params={"minutes": 10}).json()
    assert areas["demand_source"] == "file:workers.csv"
    gaps = served.get("/gaps", params={"minutes": 10}).json()
    assert gaps["demand_source"] == "file:workers.csv"
    assert gaps["numberMatched"] > 0
    page = served.get("/maps/coverage", params={"minutes": 10})
    assert page.status_code == 200
    assert "深圳" not in page.text and "南山" not in page.text


def test_street_length_demand_without_demand(city: dict[str, Any], database_url: str,
                                             clean_store: Engine) -> None:
    r = _invoke("stations", "import", city["stations"], "--crs", "wgs84")
    assert r.exit_code == 0, r.output
    settings = Settings(database_url=database_url, networks={"walk": city["npz"]})
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        body = client.get("/coverage", params={"minutes": 10}).json()
    assert body["demand_source"] == "network:street_length"
    cli_run = _invoke("coverage", "--network", city["npz"], "--stations", "db", "--minutes", "10", "--json")
    assert cli_run.exit_code == 0, cli_run.output
    ref = json.loads(cli_run.stdout)
    assert ref["demand"]["demand_source"] == "network:street_length"
    for key in ("demand_total", "demand_covered", "covered_share"):
        assert body["summary"][key] == pytest.approx(ref[key]), key


def test_gaps_in_gcj02(city: dict[str, Any], served: TestClient) -> None:
    from geo.crs import wgs84_to_gcj02

    wgs = served.get("/gaps", params={"minutes": 10, "limit": 3}).json()
    gcj = served.get("/gaps", params={"minutes": 10, "limit": 3, "crs": "gcj02"}).json()
    a = np.asarray(wgs["features"][0]["geometry"]["coordinates"][0])
    b = np.asarray(gcj["features"][0]["geometry"]["coordinates"][0])
    gx, gy = wgs84_to_gcj02(a[:, 0], a[:, 1])
    np.testing.assert_allclose(b, np.column_stack([gx, gy]), atol=1e-7)


def test_serve_bad_network_file_is_one_line(database_url: str) -> None:
    r = _invoke("serve", "--network", "walk=/etc/passwd")
    assert r.exit_code != 0
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: --network:"), r.stderr
    assert "Traceback" not in r.output


def test_serve_missing_demand_file_is_one_line(city: dict[str, Any], database_url: str) -> None:
    r = _invoke("serve", "--network", f"walk={city['npz']}", "--demand", city["tmp"] / "nope.csv")
    assert r.exit_code == 2
    assert r.stderr.strip().count("\n") == 0 and "--demand" in r.stderr, r.stderr


def test_serve_unreachable_database_is_one_line(
    monkeypatch: pytest.MonkeyPatch, city: dict[str, Any]
) -> None:
    monkeypatch.setenv("YIZHAN_DATABASE_URL", "postgresql://postgres@127.0.0.1:1/nothing")
    r = _invoke("serve", "--network", f"walk={city['npz']}")
    assert r.exit_code == 4
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: database:"), r.stderr


def test_siting_answers_in_the_asked_crs(served: TestClient) -> None:
    """/siting proposals come in WGS-84 by default, in GCJ-02 on request, each with an Amap link;
    without a POI file the candidates are network points (asked for explicitly)."""
    from geo.crs import wgs84_to_gcj02

    r = served.post("/siting", json={"minutes": 10, "add": 2})
    assert r.status_code == 422 and r.json()["field"] == "candidates", r.text
    ask = {"minutes": 10, "add": 2, "candidates": "network", "method": "greedy"}
    wgs = served.post("/siting", json=ask)
    assert wgs.status_code == 200, wgs.text
    gcj = served.post("/siting", json={**ask, "crs": "gcj02"}).json()
    assert wgs.json()["demand_source"] == gcj["demand_source"] == "file:workers.csv"
    assert gcj["crs"] == "gcj02" and 1 <= len(gcj["selected"]) == len(wgs.json()["selected"]) <= 2
    for a, b in zip(wgs.json()["selected"], gcj["selected"], strict=True):
        glon, glat = wgs84_to_gcj02(a["lon"], a["lat"])
        assert (b["lon"], b["lat"]) == pytest.approx((glon, glat), abs=1e-9)
        assert b["amap_url"] == a["amap_url"] and f"to={glon:.6f},{glat:.6f}" in b["amap_url"]
