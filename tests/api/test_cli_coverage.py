"""``yizhan coverage`` and ``yizhan gaps`` run in-process on the real Shenzhen Nanshan sample.

Stations are the bank POIs of the shared POI file, written to a CSV in tmp_path at test time (banks host
"劳动者港湾" stations in several provinces); nothing derived is committed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from api.cli import app
from geo.config import data_dir
from geo.coverage import SUMMARY_KEYS

SZ = "shenzhen_roadnetworkcreator"
CORE = "113.92,22.535,113.97,22.56"
runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    raw = data_dir() / SZ
    pois_path = raw / "shenzhen_nanshan_osm_pois.geojson"
    pois = gpd.read_file(pois_path)
    banks = pois[pois["amenity"] == "bank"].reset_index(drop=True)
    tmp = tmp_path_factory.mktemp("coverage-cli")
    stations = tmp / "banks.csv"
    # half the banks are open around the clock with a microwave, the others 08:00-20:00
    around_the_clock = np.arange(len(banks)) % 2 == 0
    pd.DataFrame(
        {
            "编号": [f"B{i}" for i in range(len(banks))],
            "名称": [f"{n}劳动者港湾" if isinstance(n, str) else f"银行{i}劳动者港湾"
                     for i, n in enumerate(banks["name"])],
            "经度": banks.geometry.x.round(7),
            "纬度": banks.geometry.y.round(7),
            "类型": "outdoor_worker_station",
            "状态": "open",
            "开放时间": np.where(around_the_clock, "24/7", "Mo-Su 08:00-20:00"),
            "设施": np.where(around_the_clock, "饮水;微波炉;充电", "饮水"),
        }
    ).to_csv(stations, index=False, encoding="utf-8-sig")
    return {"network": raw / "shenzhen_nanshan_osm.osm", "pois": pois_path, "stations": stations,
            "tmp": tmp, "n_banks": len(banks), "n_24h": int(around_the_clock.sum())}


def _args(files: dict[str, Any], command: str = "coverage", *extra: str, stations: str | None = None,
          demand: tuple[str, ...] | None = None) -> list[str]:
    demand_args: list[str] = []
    for spec in (f"pois:{files['pois']}",) if demand is None else demand:
        demand_args += ["--demand", spec]
    return [command, "--network", str(files["network"]), "--clip", CORE,
            "--stations", stations or str(files["stations"]), *demand_args,
            "--mode", "walk", "--minutes", "10", *extra]


def _run_json(args: list[str]) -> dict[str, Any]:
    res = runner.invoke(app, [*args, "--json"])
    assert res.exit_code == 0, res.output
    out: dict[str, Any] = json.loads(res.stdout)
    return out


# ------------------------------------------------------------------------------------------ coverage
def test_coverage_json_keys_and_consistency(files: dict[str, Any]) -> None:
    got = _run_json(_args(files, demand=(f"pois:{files['pois']}", "network")))
    assert set(SUMMARY_KEYS) | {"by_area", "by_group"} <= set(got)
    assert got["mode"] == "walk" and got["minutes"] == 10.0
    assert got["stations"] == files["n_banks"]
    assert 0 < got["demand_covered"] < got["demand_total"]
    assert got["covered_share"] == pytest.approx(got["demand_covered"] / got["demand_total"])
    assert got["mean_minutes"] is not None and got["median_minutes"] <= got["p95_minutes"]
    groups = {g["group"]: g for g in got["by_group"]}
    assert set(groups) == {"delivery_rider", "courier", "sanitation_worker"}
    for key in ("demand_total", "demand_covered", "unreachable", "unsnappable"):
        total = got[key]["weight"] if isinstance(got[key], dict) else got[key]
        assert sum(g[key] for g in got["by_group"]) == pytest.approx(total)
    # provenance: POIs plus street length, and the JSON says so
    layers = [s["layer"] for s in got["demand"]["sources"]]
    assert layers == ["pois", "street_length"]
    assert sum(s["weight"] for s in got["demand"]["sources"]) == pytest.approx(got["demand_total"])
    assert any("street length" in n for n in got["demand"]["notes"])


def test_by_area_sums_equal_totals(files: dict[str, Any], tmp_path: Path) -> None:
    # the 街道 (admin_level 8) boundaries assembled from the same OSM extract
    got = _run_json(_args(files, "coverage", "--areas", str(files["network"]),
                          demand=(f"pois:{files['pois']}", "network")))
    areas = {a["area_code"]: a for a in got["by_area"]}
    assert "440305007" in areas and areas["440305007"]["area_name"] == "粤海街道"
    assert sum(a["demand_count"] for a in got["by_area"]) == sum(g["demand_count"] for g in got["by_group"])
    for key in ("demand_total", "demand_covered", "uncovered", "unreachable", "unsnappable"):
        want = got[key]["weight"] if isinstance(got.get(key), dict) else got.get(key)
        if want is None:  # "uncovered" is not a summary key: total - covered
            want = got["demand_total"] - got["demand_covered"]
        assert sum(a[key] for a in got["by_area"]) == pytest.approx(want), key
    assert sum(a["stations"] for a in got["by_area"]) == got["stations"]
    assert areas["440305007"]["demand_total"] > 0
    # a boundary file: two halves of the core as township polygons
    halves = gpd.GeoDataFrame(
        {"code": ["W", "E"], "name": ["西半", "东半"]},
        geometry=[box(113.92, 22.535, 113.945, 22.56), box(113.945, 22.535, 113.97, 22.56)], crs=4326,
    )
    path = tmp_path / "halves.geojson"
    halves.to_file(path, driver="GeoJSON")
    got2 = _run_json(_args(files, "coverage", "--areas", str(path)))
    rows = {a["area_code"]: a for a in got2["by_area"]}
    assert rows["W"]["area_name"] == "西半" and rows["E"]["demand_total"] > 0
    assert sum(a["demand_total"] for a in got2["by_area"]) == pytest.approx(got2["demand_total"])
    assert sum(a["demand_covered"] for a in got2["by_area"]) == pytest.approx(got2["demand_covered"])


def test_coverage_out_files_keep_input_properties(files: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "out"
    got = _run_json(_args(files, "coverage", "--out", str(out)))
    for name in ("demand.geojson", "covered_area.geojson", "gaps.geojson", "by_area.csv", "by_group.csv"):
        assert (out / name).is_file(), name
    doc = json.loads((out / "demand.geojson").read_text(encoding="utf-8"))
    feats = doc["features"]
    pois = gpd.read_file(files["pois"])
    props = feats[0]["properties"]
    # input properties of the POI file kept, plus the demand and coverage columns
    assert {"name", "amenity", "shop", "role_hint", "osm_id"} <= set(props)
    assert {"demand_id", "group", "weight", "layer", "rule", "nearest_station", "minutes",
            "covered"} <= set(props)
    for f in feats:
        p = f["properties"]
        name = pois.loc[p["poi_index"], "name"]
        assert p["name"] == (None if pd.isna(name) else name)
        if p["minutes"] is None:
            assert p["covered"] is False and p["nearest_station"] is None
        else:
            assert p["covered"] == (p["minutes"] <= 10.0)
    assert sum(f["properties"]["weight"] for f in feats) == pytest.approx(got["demand_total"])
    covered_w = sum(f["properties"]["weight"] for f in feats if f["properties"]["covered"])
    assert covered_w == pytest.approx(got["demand_covered"])
    unreachable = [f for f in feats if f["properties"]["minutes"] is None and f["properties"]["snapped"]]
    assert len(unreachable) == got["unreachable"]["count"]
    # gaps hold exactly the uncovered, snapped weight
    gaps = gpd.read_file(out / "gaps.geojson")
    assert gaps["uncovered_weight"].sum() == pytest.approx(
        got["demand_total"] - got["demand_covered"] - got["unsnappable"]["weight"]
    )
    assert gaps["rank"].tolist() == list(range(1, len(gaps) + 1))
    area = gpd.read_file(out / "covered_area.geojson")
    assert len(area) == 1 and area.geometry.iloc[0].area > 0
    # a covered point's street node lies in the covered area (30 m street buffer): the point is
    # within its snap distance of the area
    utm = area.estimate_utm_crs()
    area_m = area.to_crs(utm).geometry.iloc[0]
    dem = gpd.read_file(out / "demand.geojson").to_crs(utm)
    cov = dem[dem["covered"].astype(bool)]
    assert len(cov) > 10
    assert (cov.distance(area_m) <= cov["snap_meters"] + 1.0).all()
    by_group = pd.read_csv(out / "by_group.csv", encoding="utf-8-sig")
    assert by_group["demand_total"].sum() == pytest.approx(got["demand_total"])
    assert sorted(by_group["group"]) == sorted(g["group"] for g in got["by_group"])


def test_default_demand_is_street_length_and_says_so(files: dict[str, Any]) -> None:
    res = runner.invoke(app, _args(files, demand=()))
    assert res.exit_code == 0, res.output
    assert "note: no demand given: demand is street length" in res.stdout
    assert "sanitation_worker" in res.stdout
    got = _run_json(_args(files, demand=()))
    assert [g["group"] for g in got["by_group"]] == ["sanitation_worker"]
    assert got["demand"]["sources"][0]["layer"] == "street_length"
    # about 250 km of walkable street in the core, 1 weight per km
    assert 150 < got["demand_total"] < 350
    # an e-bike run measures the same street-length demand (the walk network's streets)
    args = _args(files, demand=())
    args[args.index("--mode") + 1] = "ebike"
    ebike = _run_json(args)
    assert ebike["mode"] == "ebike"
    assert ebike["demand_total"] == pytest.approx(got["demand_total"])
    assert ebike["demand"]["notes"][0].endswith("of the walk network")


def test_gcj02_points_demand_is_converted(files: dict[str, Any], tmp_path: Path) -> None:
    from geo.crs import wgs84_to_gcj02

    pois = gpd.read_file(files["pois"])
    food = pois[pois["role_hint"] == "demand_food"]
    lon, lat = wgs84_to_gcj02(food.geometry.x.to_numpy(), food.geometry.y.to_numpy())
    wgs = tmp_path / "food_wgs84.csv"
    gcj = tmp_path / "food_gcj02.csv"
    pd.DataFrame({"lon": food.geometry.x, "lat": food.geometry.y, "店名": food["name"]}).to_csv(
        wgs, index=False
    )
    pd.DataFrame({"经度": lon, "纬度": lat, "店名": food["name"]}).to_csv(gcj, index=False)
    extra = ("--demand-group", "外卖骑手")
    want = _run_json(_args(files, "coverage", *extra, demand=(str(wgs),)))
    got = _run_json(_args(files, "coverage", *extra, "--demand-crs", "gcj02", demand=(str(gcj),)))
    assert got["demand_total"] == want["demand_total"] == len(food)
    assert [g["group"] for g in got["by_group"]] == ["delivery_rider"]
    for key in ("demand_covered", "mean_minutes", "median_minutes", "p95_minutes"):
        assert got[key] == pytest.approx(want[key], abs=1e-6), key
    # read as WGS-84, the GCJ-02 numbers sit ≈ 500 m off and the travel times change
    wrong = _run_json(_args(files, "coverage", *extra, demand=(str(gcj),)))
    assert wrong["mean_minutes"] != pytest.approx(want["mean_minutes"], abs=0.1)


def test_open_at_and_amenity_filters(files: dict[str, Any]) -> None:
    n_banks = files["n_banks"]
    n_24h = files["n_24h"]
    base = _run_json(_args(files))
    night = _run_json(_args(files, "coverage", "--open-at", "2026-11-22 22:00"))
    day = _run_json(_args(files, "coverage", "--open-at", "2026-11-22 10:00"))
    microwave = _run_json(_args(files, "coverage", "--amenity", "microwave"))
    assert base["stations"] == day["stations"] == n_banks
    assert night["stations"] == microwave["stations"] == n_24h < n_banks
    assert night["demand_covered"] <= base["demand_covered"]
    assert night["demand_covered"] == pytest.approx(microwave["demand_covered"])


def test_stations_from_db_match_the_file(files: dict[str, Any], clean_store: Engine) -> None:
    from geo.db.repository import import_stations
    from geo.stations import read_station_file

    with Session(clean_store) as session:
        import_stations(session, read_station_file(files["stations"]), source="test", actor="pytest")
    from_db = _run_json(_args(files, stations="db"))
    from_file = _run_json(_args(files))
    for key in SUMMARY_KEYS:
        if key != "stations" and isinstance(from_file[key], float):
            assert from_db[key] == pytest.approx(from_file[key]), key
        else:
            assert from_db[key] == from_file[key], key


# ------------------------------------------------------------------------------------------ gaps
def test_gaps_command_ranked_hexagons(files: dict[str, Any], tmp_path: Path) -> None:
    target = tmp_path / "gaps.geojson"
    got = _run_json(_args(files, "gaps", "--top", "3", "--resolution", "9", "--out", str(target)))
    assert got["resolution"] == 9 and got["hexagons"] > 3
    assert [g["rank"] for g in got["top"]] == [1, 2, 3]
    weights = [g["uncovered_weight"] for g in got["top"]]
    assert weights == sorted(weights, reverse=True)
    assert {"h3", "uncovered_weight", "demand_count", "main_group", "nearest_station", "nearest_minutes",
            "lon", "lat"} <= set(got["top"][0])
    hexes = gpd.read_file(target)
    assert len(hexes) == got["hexagons"]
    assert hexes["uncovered_weight"].sum() == pytest.approx(got["uncovered_weight"])
    assert hexes["h3"].head(3).tolist() == [g["h3"] for g in got["top"]]
    s = got["summary"]
    assert got["uncovered_weight"] == pytest.approx(s["demand_total"] - s["demand_covered"]
                                                    - s["unsnappable"]["weight"])
    coarse = _run_json(_args(files, "gaps", "--resolution", "8"))
    assert coarse["hexagons"] < got["hexagons"]
    assert coarse["uncovered_weight"] == pytest.approx(got["uncovered_weight"])
    text = runner.invoke(app, _args(files, "gaps", "--top", "2"))
    assert text.exit_code == 0, text.output
    lines = text.stdout.strip().splitlines()
    assert "hexagon(s) at H3 resolution 9" in lines[0]
    assert lines[1].lstrip().startswith("1 ") and lines[2].lstrip().startswith("2 ") and len(lines) == 3


# ------------------------------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    ("change", "option"),
    [
        ({"--network": "/nonexistent/nanshan.osm"}, "--network"),
        ({"--stations": "/nonexistent/stations.csv"}, "--stations"),
        ({"--demand": "pois:/nonexistent/pois.geojson"}, "--demand"),
        ({"--demand": "/nonexistent/points.csv"}, "--demand"),
        ({"--mode": "helicopter"}, "--mode"),
        ({"--minutes": "0"}, "--minutes"),
        ({"--minutes": "-5"}, "--minutes"),
        ({"--clip": "1,2,3"}, "--clip"),
        ({"--open-at": "someday"}, "--open-at"),
        ({"--amenity": "jacuzzi"}, "--amenity"),
        ({"--horizon-minutes": "5"}, "--horizon-minutes"),
        ({"--areas": "/nonexistent/areas.geojson"}, "--areas"),
        ({"--stations-crs": "mars2000"}, "--stations"),
    ],
)
def test_errors_are_one_line_naming_the_option(files: dict[str, Any], change: dict[str, str],
                                               option: str) -> None:
    args = _args(files)
    for flag, value in change.items():
        if flag in args:
            args[args.index(flag) + 1] = value
        else:
            args += [flag, value]
    res = runner.invoke(app, args)
    assert res.exit_code != 0
    err = res.stderr.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    assert option in err, err
    assert res.stdout == ""


def test_gaps_errors(files: dict[str, Any]) -> None:
    res = runner.invoke(app, _args(files, "gaps", "--resolution", "16"))
    assert res.exit_code == 2 and "--resolution" in res.stderr and "\n" not in res.stderr.strip()
    res = runner.invoke(app, _args(files, "gaps", "--top", "0"))
    assert res.exit_code == 2 and "--top" in res.stderr
    bad = files["tmp"] / "bad_points.csv"
    bad.write_text("lon,lat,weight\n113.94,22.54,-1\n", encoding="utf-8")
    res = runner.invoke(app, _args(files, "gaps", demand=(str(bad),)))
    assert res.exit_code == 2 and res.stderr.startswith("error: --demand:") and "weight" in res.stderr
