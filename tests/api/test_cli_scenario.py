"""``yizhan scenario`` end to end on Shanghai and Changsha: create, add (GCJ-02), close, hours, show,
eval (per-point file) and compare against the base, the figures checked against ``yizhan coverage``
and a pandas computation on the written points."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from api.cli import app as cli
from geo.config import data_dir
from geo.crs import wgs84_to_gcj02
from geo.network import read_network_npz

runner = CliRunner()
CITIES = {
    "shanghai": ("shanghai_le_degn/shanghai_jingan_huangpu_drive.osm", None),
    "changsha": ("changsha_osm_planner/changsha_yuelu_taozihu_map.osm",
                 "112.94196,28.18252,112.94899,28.18780"),
}


def _invoke(*args: Any) -> Any:
    return runner.invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module", params=sorted(CITIES))
def city(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    osm, clip = CITIES[request.param]
    tmp = tmp_path_factory.mktemp(f"scenario-{request.param}")
    npz = tmp / "walk.npz"
    clip_args = ["--clip", clip] if clip else []
    r = _invoke("network", "build", "--osm", data_dir() / osm, "--out", npz, *clip_args)
    assert r.exit_code == 0, r.output
    net = read_network_npz(npz)
    rng = np.random.default_rng(4)
    big = np.flatnonzero(net.component == 0)
    pick = rng.choice(big, size=4, replace=False)
    stations = tmp / "stations.csv"
    pd.DataFrame({"external_id": ["a", "b", "c", "d"], "名称": [f"站{i}" for i in range(4)],
                  "经度": net.lon[pick], "纬度": net.lat[pick], "状态": "open",
                  "开放时间": "Mo-Su 08:00-18:00"}).to_csv(stations, index=False, encoding="utf-8-sig")
    far = int(np.argmax(np.hypot(net.lon[big] - net.lon[pick].mean(), net.lat[big] - net.lat[pick].mean())))
    return {"npz": npz, "stations": stations, "far": (float(net.lon[big][far]), float(net.lat[big][far]))}


def test_plan_eval_and_compare(city: dict[str, Any], clean_store: Engine, tmp_path: Path) -> None:
    name = "扩面方案"
    assert _invoke("scenario", "create", name, "--base", city["stations"]).exit_code == 0
    glon, glat = wgs84_to_gcj02(*city["far"])
    r = _invoke("scenario", "add", name, "--lon", glon, "--lat", glat, "--crs", "gcj02", "--cost", 80000,
                "--phase", 1, "--year", 2027)
    assert r.exit_code == 0, r.output
    assert _invoke("scenario", "close", name, "b", "--phase", 2).exit_code == 0
    assert _invoke("scenario", "hours", name, "c", "--hours", "Mo-Su 06:00-22:00").exit_code == 0
    shown = json.loads(_invoke("scenario", "show", name, "--json").stdout)
    assert [a["kind"] for a in shown["actions"]] == ["add", "close", "hours"] and shown["total_cost"] == 80000
    out = tmp_path / "eval"
    r = _invoke("scenario", "eval", name, "--network", city["npz"], "--minutes", 5, "--out", out, "--json")
    assert r.exit_code == 0, r.output
    ev = json.loads(r.stdout)
    points = gpd.read_file(out / "demand.geojson")
    covered = points["covered"].astype(bool)
    assert ev["demand_covered"] == pytest.approx(points.loc[covered, "weight"].sum())
    assert ev["stations"] == 4  # a, c, d and the new one (b is closed)
    base = json.loads(_invoke("coverage", "--network", city["npz"], "--stations", city["stations"],
                              "--minutes", 5, "--json").stdout)
    r = _invoke("scenario", "compare", "base", name, "--network", city["npz"], "--minutes", 5,
                "--out", tmp_path / "cmp", "--json")
    assert r.exit_code == 0, r.output
    cmp = json.loads(r.stdout)
    assert cmp["covered_share_a"] == pytest.approx(base["covered_share"])
    assert cmp["covered_share_b"] == pytest.approx(ev["covered_share"])
    changed = gpd.read_file(tmp_path / "cmp" / "changed.geojson")
    assert cmp["gained"] == pytest.approx(changed.loc[changed["change"] == "gained", "weight"].sum())
    assert cmp["gained"] > 0 and cmp["cost_b"] == 80000
    assert (tmp_path / "cmp" / "compare_by_group.xlsx").is_file()


def test_errors_are_one_line(clean_store: Engine, city: dict[str, Any]) -> None:
    r = _invoke("scenario", "show", "没有的方案")
    assert r.exit_code == 3 and r.output.strip() == "error: no scenario named '没有的方案' (name)"
    assert _invoke("scenario", "create", "x", "--base", city["stations"]).exit_code == 0
    r = _invoke("scenario", "create", "x")
    assert r.exit_code == 2 and r.output.strip() == "error: a scenario named 'x' exists already (name)"
    r = _invoke("scenario", "add", "x", "--lon", 2.35, "--lat", 48.85)
    assert r.exit_code == 2 and "outside China" in r.output
    lon, lat = city["far"]
    bad_input = [  # exit 1 and a driver's traceback before: the store cannot hold these
        (("create", "a\x00b"), "name contains the control character U+0000 at position 2"),
        (("create", "y", "--description", "d\x00"), "description contains the control character U+0000"),
        (("show", "a\x00"), "name contains the control character U+0000"),
        (("remove-action", "a\x00", 1), "name contains the control character U+0000"),
        (("delete", "a\x00"), "name contains the control character U+0000"),
        (("add", "x", "--lon", lon, "--lat", lat, "--name", "站\x00"), "name contains the control character"),
        (("add", "x", "--lon", lon, "--lat", lat, "--phase", 10**12),
         "phase must be at least 1, at most 100, got 1000000000000 (phase)"),
        (("add", "x", "--lon", lon, "--lat", lat, "--year", 10**12),
         "year must be at least 1900, at most 2200, got 1000000000000 (year)"),
        (("close", "x", "b\x00"), "station_id contains the control character U+0000"),
    ]
    for args, message in bad_input:
        r = _invoke("scenario", *args)
        assert r.exit_code == 2 and message in r.output and len(r.output.strip().splitlines()) == 1, (args, r)
    r = _invoke("scenario", "close", "x", "zz")  # checked against the base when it is added
    assert r.exit_code == 3
    assert r.output.strip() == "error: station 'zz' is not in the base of scenario 'x' (station_id)"


def test_actions_name_stations_of_the_base(clean_store: Engine, city: dict[str, Any]) -> None:
    """close, relocate and hours naming a station outside the base (a station file, or the registry)
    are refused when added (exit 3, one line naming the station and the scenario), nothing stored."""
    glon, glat = wgs84_to_gcj02(*city["far"])
    assert _invoke("scenario", "create", "迁址", "--base", city["stations"]).exit_code == 0
    assert _invoke("scenario", "add", "迁址", "--lon", glon, "--lat", glat, "--crs", "gcj02").exit_code == 0
    refused = [("relocate", "迁址", "999", "--lon", glon, "--lat", glat, "--crs", "gcj02"),
               ("close", "迁址", "999"), ("hours", "迁址", "999", "--hours", "Mo-Su 08:00-22:00"),
               ("close", "迁址", "迁址:1")]  # a station an add opened cannot be named (apply_actions)
    for args in refused:
        r = _invoke("scenario", *args)
        assert r.exit_code == 3, (args, r.output)
        expected = f"error: station '{args[2]}' is not in the base of scenario '迁址' (station_id)"
        assert r.output.strip() == expected
    assert _invoke("scenario", "relocate", "迁址", "b", "--lon", glon, "--lat", glat, "--crs", "gcj02"
                   ).exit_code == 0
    shown = json.loads(_invoke("scenario", "show", "迁址", "--json").stdout)
    assert [(a["seq"], a["kind"]) for a in shown["actions"]] == [(1, "add"), (2, "relocate")]
    assert shown["actions"][1]["station_id"] == "b"
    # --base db: the registry's station ids
    assert _invoke("stations", "import", city["stations"], "--crs", "wgs84").exit_code == 0
    from geo.db.snapshot import read_stations

    ids = read_stations()["station_id"].astype(str).tolist()
    assert _invoke("scenario", "create", "扩面", "--base", "db").exit_code == 0
    r = _invoke("scenario", "close", "扩面", "b")  # an id of the file, not of the registry
    assert r.exit_code == 3 and "station 'b' is not in the base of scenario '扩面'" in r.output
    assert _invoke("scenario", "close", "扩面", ids[1]).exit_code == 0


def test_remove_action(clean_store: Engine, city: dict[str, Any]) -> None:
    """``scenario remove-action NAME N`` removes action N (the others keep their numbers); the
    evaluation then reads the remaining ones."""
    name = "撤销"
    glon, glat = wgs84_to_gcj02(*city["far"])
    assert _invoke("scenario", "create", name, "--base", city["stations"]).exit_code == 0
    assert _invoke("scenario", "add", name, "--lon", glon, "--lat", glat, "--crs", "gcj02",
                   "--cost", 80000).exit_code == 0
    assert _invoke("scenario", "close", name, "b", "--cost", 500).exit_code == 0
    assert _invoke("scenario", "hours", name, "c", "--hours", "Mo-Su 06:00-22:00").exit_code == 0
    r = _invoke("scenario", "remove-action", name, 2)
    assert r.exit_code == 0 and r.output.strip() == f"{name}: action 2 (close) removed", r.output
    shown = json.loads(_invoke("scenario", "show", name, "--json").stdout)
    assert [(a["seq"], a["kind"]) for a in shown["actions"]] == [(1, "add"), (3, "hours")]
    assert shown["total_cost"] == 80000
    r = _invoke("scenario", "remove-action", name, 2)
    assert r.exit_code == 3 and r.output.strip() == f"error: scenario '{name}' has no action 2 (seq)"
    r = _invoke("scenario", "remove-action", "没有的方案", 1)
    assert r.exit_code == 3 and r.output.strip() == "error: no scenario named '没有的方案' (name)"
    assert _invoke("scenario", "remove-action", name, 0).exit_code == 2
    assert _invoke("scenario", "remove-action", name, 2**40).exit_code == 3
    r = _invoke("scenario", "eval", name, "--network", city["npz"], "--minutes", 5, "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["stations"] == 5  # a, b, c, d and the added one: b is open again
    r = _invoke("scenario", "add", name, "--lon", glon, "--lat", glat, "--crs", "gcj02")
    assert r.exit_code == 0 and "action 4 (add) added" in r.output  # numbered after the last one
