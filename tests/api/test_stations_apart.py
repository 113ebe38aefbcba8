"""A station on a small island of the OSM network reaches no demand point at any travel time: the
commands say so by name (coverage on stderr, report in its notes and ``--json``), instead of
counting it silently among the stations (Shanghai and Changsha; the station is put on a real island)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from api.cli import app as cli
from geo.config import data_dir
from geo.network import read_network_npz

runner = CliRunner()
CITIES = {"shanghai": "shanghai_le_degn/shanghai_jingan_huangpu_drive.osm",
          "changsha": "changsha_osm_planner/changsha_yuelu_taozihu_map.osm"}  # fmt: skip


@pytest.fixture(scope="module", params=sorted(CITIES))
def city(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp(f"apart-{request.param}")
    npz = tmp / "walk.npz"
    osm = data_dir() / CITIES[request.param]
    r = runner.invoke(cli, ["network", "build", "--osm", str(osm), "--out", str(npz)])
    assert r.exit_code == 0, r.output
    net = read_network_npz(npz)
    rng = np.random.default_rng(11)
    big = np.flatnonzero(net.component == np.argmax(net.component_sizes))
    island = next(n for n in np.flatnonzero(net.component != np.argmax(net.component_sizes))
                  if net.snap(net.lon[[n]], net.lat[[n]]).piece[0] > 0)  # fmt: skip
    demand = tmp / "workers.csv"
    on_main = rng.choice(big, size=80)
    pd.DataFrame({"lon": net.lon[on_main], "lat": net.lat[on_main]}).to_csv(demand, index=False)
    stations = tmp / "stations.csv"
    pd.DataFrame({"名称": ["主网驿站", "孤岛驿站"], "经度": [net.lon[big[0]], net.lon[island]],
                  "纬度": [net.lat[big[0]], net.lat[island]], "类型": "工会驿站"}).to_csv(stations,
                                                                                       index=False)
    return {"npz": npz, "demand": demand, "stations": stations, "tmp": tmp}


def test_coverage_names_the_station_on_an_island(city: dict[str, Any]) -> None:
    r = runner.invoke(cli, ["coverage", "--network", str(city["npz"]), "--stations", str(city["stations"]),
                            "--demand", str(city["demand"])])  # fmt: skip
    assert r.exit_code == 0, r.output
    warned = [line for line in r.stderr.splitlines() if "cover nobody" in line]
    assert len(warned) == 1 and warned[0].endswith(": 孤岛驿站"), r.stderr
    assert "2 station(s)" in r.stdout  # still counted: the warning says why it adds nothing


def test_report_lists_it_in_notes_and_json(city: dict[str, Any]) -> None:
    out = city["tmp"] / "report"
    r = runner.invoke(cli, ["report", "--network", f"walk={city['npz']}", "--stations", str(city["stations"]),
                            "--demand", str(city["demand"]), "--out", str(out), "--json"])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["stations_apart_from_demand"] == {"walk": ["孤岛驿站"]}
    text = (out / "report.md").read_text(encoding="utf-8")
    assert "孤立片段上，覆盖不到任何需求点（请核对位置）：孤岛驿站" in text
