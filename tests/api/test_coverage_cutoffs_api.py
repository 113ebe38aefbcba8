"""``/coverage`` and ``/coverage/areas`` with ``minutes=5,10,15`` and ``nth`` (issue #21), serving
Shanghai's and Changsha's own networks.

Each threshold's figures must equal a request at that threshold alone, the whole answer must equal
``yizhan coverage --minutes 5,10,15 --nth 2 --json`` on the same .npz, registry and demand file,
and one threshold without ``nth`` keeps the answer's old shape. Networks are built into tmp_path,
stations and demand drawn near the nodes at test time (seeded); nothing derived is committed.
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
from api.settings import Settings
from geo.config import data_dir
from geo.network import read_network_npz

runner = CliRunner()

CITIES: dict[str, dict[str, Any]] = {
    "shanghai": {"osm": "shanghai_le_degn/shanghai_jingan_huangpu_drive.osm", "clip": None},
    "changsha": {"osm": "changsha_osm_planner/changsha_yuelu_taozihu_map.osm",
                 "clip": "112.94196,28.18252,112.94899,28.18780"},
}
OLD_KEYS = {"query", "demand_source", "summary", "by_area", "by_group", "amenity_unknown"}


def _invoke(*args: Any) -> Any:
    return runner.invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module", params=sorted(CITIES))
def city(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    name = request.param
    spec = CITIES[name]
    tmp = tmp_path_factory.mktemp(f"cutoffs-api-{name}")
    npz = tmp / f"{name}-walk.npz"
    args = ["network", "build", "--osm", data_dir() / spec["osm"], "--out", npz, "--mode", "walk"]
    r = _invoke(*args, *(["--clip", spec["clip"]] if spec["clip"] else []))
    assert r.exit_code == 0, r.output
    net = read_network_npz(npz)
    rng = np.random.default_rng(21)
    big = np.flatnonzero(net.component == np.argmax(net.component_sizes))
    pick = rng.choice(big, size=6, replace=False)
    stations = tmp / "stations.csv"
    pd.DataFrame({
        "编号": [f"{name}-{i}" for i in range(6)], "名称": [f"{name}驿站{i}" for i in range(6)],
        "经度": net.lon[pick] + 0.0002, "纬度": net.lat[pick] - 0.0001, "类型": "union_station",
        "状态": "open",
    }).to_csv(stations, index=False, encoding="utf-8-sig")
    near = rng.choice(big, size=400)
    demand = tmp / "workers.csv"
    pd.DataFrame({
        "lon": net.lon[near] + rng.normal(0, 0.0006, 400), "lat": net.lat[near] + rng.normal(0, 0.0006, 400),
        "weight": rng.uniform(0.5, 4.0, 400).round(3),
        "group": np.where(np.arange(400) % 2 == 0, "delivery_rider", "courier"),
    }).to_csv(demand, index=False)
    return {"name": name, "npz": npz, "stations": stations, "demand": demand}


@pytest.fixture()
def served(city: dict[str, Any], database_url: str, clean_store: Engine) -> Iterator[TestClient]:
    r = _invoke("stations", "import", city["stations"], "--crs", "wgs84")
    assert r.exit_code == 0, r.output
    settings = Settings(database_url=database_url, networks={"walk": city["npz"]},
                        demand=(str(city["demand"]),))
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def _get(client: TestClient, url: str, **params: Any) -> dict[str, Any]:
    r = client.get(url, params=params)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def test_each_threshold_equals_its_own_request_and_the_cli(city: dict[str, Any], served: TestClient) -> None:
    many = _get(served, "/coverage", minutes="10,5,15", nth=2)
    assert set(many) == OLD_KEYS | {"cutoffs", "nth"} and many["nth"] == 2
    assert many["query"]["minutes"] == [5.0, 10.0, 15.0] and many["query"]["nth"] == 2
    assert many["summary"]["minutes"] == 15.0
    for cut in many["cutoffs"]:
        t = cut["minutes"]
        alone = _get(served, "/coverage", minutes=t)
        assert set(alone) == OLD_KEYS and alone["query"]["minutes"] == t  # the shape of before
        assert cut["demand_covered"] == alone["summary"]["demand_covered"]
        assert cut["covered_share"] == alone["summary"]["covered_share"]
        for table, key in (("by_area", "area_code"), ("by_group", "group")):
            mine = {r[key]: r for r in many[table]}
            for ref in alone[table]:
                assert mine[ref[key]][f"demand_covered_{t:g}min"] == ref["demand_covered"]
                assert mine[ref[key]][f"covered_share_{t:g}min"] == ref["covered_share"]
        assert cut["demand_covered_nth"] <= cut["demand_covered"]
    assert many["cutoffs"][0]["covered_share"] < many["cutoffs"][-1]["covered_share"]
    # repeated minutes= is the same question
    again = served.get("/coverage", params=[("minutes", "5"), ("minutes", "10,15"), ("nth", "2")])
    assert again.status_code == 200 and again.json()["cutoffs"] == many["cutoffs"]

    r = _invoke("coverage", "--network", city["npz"], "--stations", "db", "--demand", city["demand"],
                "--minutes", "5,10,15", "--nth", "2", "--json")
    assert r.exit_code == 0, r.output
    ref = json.loads(r.stdout)
    assert ref["cutoffs"] == many["cutoffs"] and ref["nth"] == 2
    assert ref["by_group"] == many["by_group"]

    areas = _get(served, "/coverage/areas", minutes="5,10,15", nth=2)
    assert areas["areas"] == many["by_area"] and areas["cutoffs"] == many["cutoffs"]
    plain = _get(served, "/coverage/areas", minutes=10)
    assert set(plain) == {"query", "demand_source", "areas"}


def test_nth_alone_and_bad_values(city: dict[str, Any], served: TestClient) -> None:
    body = _get(served, "/coverage", minutes=10, nth=3)
    assert [c["minutes"] for c in body["cutoffs"]] == [10.0] and body["nth"] == 3
    assert f"covered_share_3rd_{10:g}min" in body["by_group"][0]
    two = _get(served, "/coverage", minutes=10, nth=2)["cutoffs"][0]
    assert body["cutoffs"][0]["demand_covered_nth"] <= two["demand_covered_nth"] <= two["demand_covered"]
    for params, field in (
        ({"minutes": "0,5"}, "minutes"), ({"minutes": "5,,10"}, "minutes"), ({"minutes": "5,121"}, "minutes"),
        ({"minutes": "five"}, "minutes"), ({"minutes": ",".join(["5"] * 13)}, "minutes"),
        ({"minutes": "nan"}, "minutes"), ({"nth": 1}, "nth"), ({"nth": 11}, "nth"), ({"nth": "two"}, "nth"),
    ):
        for url in ("/coverage", "/coverage/areas"):
            r = served.get(url, params=params)
            assert r.status_code == 422, (url, params, r.text)
            assert r.json()["field"] == field, (url, params, r.json())


def test_openapi_documents_minutes_as_a_comma_separated_array() -> None:
    spec = create_app(Settings(load_networks=False)).openapi()
    for path in ("/coverage", "/coverage/areas"):
        params = {p["name"]: p for p in spec["paths"][path]["get"]["parameters"]}
        minutes = params["minutes"]
        assert (minutes["style"], minutes["explode"]) == ("form", False)
        assert minutes["schema"]["type"] == "array" and minutes["schema"]["items"]["maximum"] == 120
        nth = next(s for s in params["nth"]["schema"]["anyOf"] if s.get("type") == "integer")
        assert (nth["minimum"], nth["maximum"]) == (2, 10)
    gaps = {p["name"]: p for p in spec["paths"]["/gaps"]["get"]["parameters"]}
    assert "nth" not in gaps and gaps["minutes"]["schema"]["type"] == "number"  # one threshold there
