"""``yizhan coverage --minutes 5,10,15 --nth 2`` in-process on Shanghai and Changsha (issue #21).

Every threshold's figures must equal a separate ``--minutes T`` run of the command; the fallback
column ``minutes_2nd`` must equal :func:`geo.coverage.nth_nearest` (itself checked against networkx
in ``tests/geo/test_coverage_cutoffs.py``). Stations and areas are written to tmp_path at test time.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from typer.testing import CliRunner

from api.cli import app
from geo.config import data_dir
from geo.coverage import nth_nearest
from geo.network import load_network

runner = CliRunner()
CHANGSHA_CLIP = "112.94196,28.18252,112.94899,28.18780"


def _write_case(place: str, tmp: Path) -> dict[str, Any]:
    if place == "shanghai":
        network = data_dir() / "shanghai_le_degn" / "shanghai_jingan_huangpu_drive.osm"
        clip = None
        pois = gpd.read_file(data_dir() / "shanghai_maptalks_tilezen" / "shanghai_bund_pois.geojson")
        pts = pois[pois["kind"].isin(["bank", "toilets"])].geometry
        lon, lat = pts.x.to_numpy(), pts.y.to_numpy()
    else:
        network = data_dir() / "changsha_osm_planner" / "changsha_yuelu_taozihu_map.osm"
        clip = CHANGSHA_CLIP
        net = load_network(network, mode="walk", clip=tuple(float(v) for v in CHANGSHA_CLIP.split(",")))
        pick = np.random.default_rng(5).choice(np.flatnonzero(net.component == 0), size=5, replace=False)
        lon, lat = net.lon[pick] + 1e-4, net.lat[pick] + 5e-5
    stations = tmp / f"{place}_stations.csv"
    pd.DataFrame({"编号": [f"S{i}" for i in range(len(lon))], "名称": [f"驿站{i}" for i in range(len(lon))],
                  "经度": lon, "纬度": lat, "状态": "open", "类型": "union_station"}).to_csv(
        stations, index=False, encoding="utf-8-sig")
    box = CHANGSHA_CLIP.split(",") if clip else (121.45, 31.20, 121.52, 31.25)
    x0, y0, x1, y1 = (float(v) for v in box)
    mid = (x0 + x1) / 2
    areas = tmp / f"{place}_areas.geojson"
    gpd.GeoDataFrame({"code": ["A1", "A2"], "name": ["西片", "东片"]},
                     geometry=[shapely.box(x0, y0, mid, y1), shapely.box(mid, y0, x1, y1)],
                     crs="EPSG:4326").to_file(areas, driver="GeoJSON")
    return {"network": network, "clip": clip, "stations": stations, "areas": areas}


@pytest.fixture(scope="module", params=["shanghai", "changsha"])
def case(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return _write_case(request.param, tmp_path_factory.mktemp(f"cutoffs-{request.param}"))


def _args(case: dict[str, Any], minutes: str, *extra: str) -> list[str]:
    clip = ["--clip", case["clip"]] if case["clip"] else []
    return ["coverage", "--network", str(case["network"]), *clip, "--stations", str(case["stations"]),
            "--areas", str(case["areas"]), "--minutes", minutes, *extra]


def _json(args: list[str]) -> dict[str, Any]:
    res = runner.invoke(app, [*args, "--json"])
    assert res.exit_code == 0, res.output
    out: dict[str, Any] = json.loads(res.stdout)
    return out


def test_each_threshold_equals_a_separate_command(case: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "out"
    many = _json(_args(case, "15,5,10", "--nth", "2", "--out", str(out), "--lang", "zh"))
    assert many["minutes"] == 15.0 and many["nth"] == 2
    assert [c["minutes"] for c in many["cutoffs"]] == [5.0, 10.0, 15.0]
    shares = []
    for cut in many["cutoffs"]:
        t = cut["minutes"]
        alone = _json(_args(case, f"{t:g}"))
        assert "cutoffs" not in alone and "nth" not in alone  # one threshold: the shape of before
        assert cut["demand_covered"] == alone["demand_covered"]
        assert cut["covered_share"] == alone["covered_share"]
        assert cut["demand_total"] == alone["demand_total"]
        for table, key in (("by_area", "area_code"), ("by_group", "group")):
            mine = {r[key]: r for r in many[table]}
            for ref in alone[table]:
                assert mine[ref[key]][f"demand_covered_{t:g}min"] == ref["demand_covered"], (table, t)
                assert mine[ref[key]][f"covered_share_{t:g}min"] == ref["covered_share"], (table, t)
        assert 0 <= cut["demand_covered_nth"] <= cut["demand_covered"]
        shares.append(cut["covered_share"])
    assert shares == sorted(shares) and shares[0] < shares[-1]
    assert any(c["demand_covered_nth"] < c["demand_covered"] for c in many["cutoffs"])

    # files: one column per threshold (zh headers), minutes_2nd per point equal to nth_nearest
    by_area = pd.read_csv(out / "by_area.csv", encoding="utf-8-sig")
    assert {"覆盖率(5分钟)", "覆盖率(10分钟)", "覆盖率(15分钟)", "2站覆盖率(5分钟)"} <= set(by_area.columns)
    assert {"A1", "A2"} <= set(by_area["区域代码"].astype(str))
    demand = gpd.read_file(out / "demand.geojson")
    assert {"minutes", "minutes_2nd", "station_2nd"} <= set(demand.columns)
    net = load_network(case["network"], mode="walk",
                       clip=tuple(float(v) for v in case["clip"].split(",")) if case["clip"] else None)
    from api.cli.inputs import load_stations

    stations = load_stations(str(case["stations"]), crs=None)
    want, _ = nth_nearest(net, stations, demand, nth=2, horizon_minutes=60)
    np.testing.assert_allclose(demand["minutes_2nd"].to_numpy(float), want, rtol=0, atol=1e-6, equal_nan=True)
    second = np.nan_to_num(want, nan=np.inf)
    weight = demand["weight"].to_numpy(float)
    for cut in many["cutoffs"]:
        assert cut["demand_covered_nth"] == pytest.approx(float(weight[second <= cut["minutes"]].sum()))


def test_text_summary_and_english_headers(case: dict[str, Any], tmp_path: Path) -> None:
    res = runner.invoke(app, _args(case, "5,10", "--nth", "3", "--out", str(tmp_path), "--lang", "en"))
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[0].startswith("walk, 10 min:")
    assert lines[2].startswith("within 5 min: covered") and "3rd station within 5 min" in lines[2]
    assert lines[3].startswith("within 10 min: covered")
    head = pd.read_csv(tmp_path / "by_group.csv", encoding="utf-8-sig").columns
    assert {"covered_share_5min", "covered_share_10min", "covered_share_3rd_10min"} <= set(head)


@pytest.mark.parametrize(
    ("value", "option"),
    [(["--minutes", "5,,10"], "--minutes"), (["--minutes", "0,5"], "--minutes"),
     (["--minutes", "5,abc"], "--minutes"), (["--minutes", "5,200"], "--minutes"),
     (["--minutes", "5,10", "--nth", "1"], "--nth"), (["--minutes", "5", "--nth", "11"], "--nth"),
     (["--minutes", "5,90"], "--horizon-minutes")],
)
def test_bad_thresholds_are_one_line(case: dict[str, Any], value: list[str], option: str) -> None:
    args = _args(case, "15")
    i = args.index("--minutes")
    args = args[:i] + args[i + 2:] + value
    res = runner.invoke(app, args)
    assert res.exit_code == 2, res.output
    err = res.stderr.strip()
    assert err.startswith("error: ") and "\n" not in err and option in err, err
    assert res.stdout == ""
