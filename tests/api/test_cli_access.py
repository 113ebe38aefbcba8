"""``yizhan access`` and ``yizhan site --capacity-per-site`` in-process on real Shanghai and Changsha
streets. Stations, demand, areas and a visit log are written to tmp_path at test time: Shanghai's bank
POIs as stations (some with 座位数) and its food/transport POIs as demand; in Changsha, street nodes
moved ~10 m. Outputs are checked against pandas and a plain loop over the written files."""

from __future__ import annotations

import datetime as dt
import json
import math
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
from geo.network import load_network

runner = CliRunner()
SH_OSM = data_dir() / "shanghai_le_degn" / "shanghai_jingan_huangpu_drive.osm"
CS_OSM = data_dir() / "changsha_osm_planner" / "changsha_yuelu_taozihu_map.osm"


def _write(tmp: Path, place: str) -> dict[str, Any]:
    rng = np.random.default_rng(4)
    net = load_network(SH_OSM if place == "shanghai" else CS_OSM, mode="walk", cache_dir=tmp)
    if place == "shanghai":
        pois = gpd.read_file(data_dir() / "shanghai_maptalks_tilezen" / "shanghai_bund_pois.geojson")
        banks = pois[pois["kind"] == "bank"]
        sx, sy = banks.geometry.x.to_numpy(), banks.geometry.y.to_numpy()
        food = pois[pois["kind"].isin(["restaurant", "cafe", "fast_food", "hotel", "bus_stop", "attraction"])]
        dx, dy = food.geometry.x.to_numpy(), food.geometry.y.to_numpy()
    else:
        pick = rng.choice(np.flatnonzero(net.component == 0), size=6, replace=False)
        sx, sy = net.lon[pick] + 1e-4, net.lat[pick] + 5e-5
        nodes = rng.choice(net.n_nodes, size=120, replace=False)
        dx, dy = net.lon[nodes] - 6e-5, net.lat[nodes]
    n = sx.size
    seats = [10, None, 4] + [None] * (n - 3)
    pd.DataFrame({"编号": [f"{place[:2].upper()}{i}" for i in range(n)],
                  "名称": [f"驿站{i}" for i in range(n)], "经度": sx.round(7), "纬度": sy.round(7),
                  "类型": "工会驿站", "状态": "open", "座位数": seats}).to_csv(
        tmp / "stations.csv", index=False, encoding="utf-8-sig")
    gpd.GeoDataFrame({"weight": rng.integers(1, 6, dx.size).astype(float)},
                     geometry=gpd.points_from_xy(dx, dy), crs="EPSG:4326").to_file(
        tmp / "demand.geojson", driver="GeoJSON")
    mid = float(np.median(net.lon))
    x0, y0, x1, y1 = net.lon.min(), net.lat.min(), net.lon.max(), net.lat.max()
    gpd.GeoDataFrame({"code": ["A1", "A2"], "name": ["西片", "东片"]},
                     geometry=[shapely.box(x0, y0, mid, y1), shapely.box(mid, y0, x1, y1)],
                     crs="EPSG:4326").to_file(tmp / "areas.geojson", driver="GeoJSON")
    # a visit log for the last station: 5 days, 9/3/0/7/1 visits → 90th-percentile day 8.2
    start = dt.datetime(2026, 11, 2, 9, 0)
    rows = [{"站点编号": f"{place[:2].upper()}{n - 1}",
             "到访时间": (start + dt.timedelta(days=d)).strftime("%Y-%m-%d %H:%M")}
            for d, k in enumerate([9, 3, 0, 7, 1]) for _ in range(k)]
    pd.DataFrame(rows).to_csv(tmp / "visits.csv", index=False, encoding="utf-8-sig")
    return {"osm": SH_OSM if place == "shanghai" else CS_OSM, "tmp": tmp, "n": n}


@pytest.fixture(scope="module", params=["shanghai", "changsha"])
def files(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return _write(tmp_path_factory.mktemp(f"access-{request.param}"), request.param)


def _args(f: dict[str, Any], *extra: str) -> list[str]:
    t = f["tmp"]
    return ["access", "--network", f"walk={f['osm']}", "--stations", str(t / "stations.csv"),
            "--demand", str(t / "demand.geojson"), "--areas", str(t / "areas.geojson"), *extra]


def test_access_writes_points_and_areas_equal_to_pandas(files: dict[str, Any]) -> None:
    out = files["tmp"] / "out"
    res = runner.invoke(app, [*_args(files, "--minutes", "10", "--out", str(out)), "--json"])
    assert res.exit_code == 0, res.output
    got = json.loads(res.stdout)
    assert got["decay"] == "gaussian" and got["minutes"] == 10.0 and got["stations"] == files["n"]
    assert got["capacity_sources"] == {"seats": 2, "default": files["n"] - 2}
    pts = gpd.read_file(out / "access_points.geojson")
    st = pd.read_csv(out / "access_stations.csv", encoding="utf-8-sig")
    assert st["capacity_per_day"].tolist()[:3] == [240.0, 12.8, 96.0]  # 10 and 4 seats x 24, the default
    # capacity is shared out, never created; the summary is the weighted mean of the points
    used = st.loc[st["demand_in_reach"] > 0, "capacity_per_day"].sum()
    assert float((pts["access"] * pts["weight"]).sum()) == pytest.approx(used)
    assert got["capacity_reaching_demand"] == pytest.approx(used)
    assert got["access_mean"] == pytest.approx((pts["access"] * pts["weight"]).sum() / pts["weight"].sum())
    areas = pd.read_csv(out / "access_by_area.csv", encoding="utf-8-sig", dtype={"area_code": str})
    for row in areas.itertuples():
        g = pts[pts["area_code"].fillna("(outside areas)") == row.area_code]
        assert row.demand_count == len(g)
        if len(g) and g["weight"].sum() > 0:
            assert row.access_mean == pytest.approx((g["access"] * g["weight"]).sum() / g["weight"].sum())
    assert [r["area_code"] for r in got["by_area"]] == areas["area_code"].tolist()
    assert pts["access"].gt(0).sum() > 10  # real reach on real streets


def test_access_decay_and_visit_log(files: dict[str, Any]) -> None:
    t = files["tmp"]
    none = json.loads(
        runner.invoke(app, [*_args(files, "--decay", "none", "--out", str(t / "n")), "--json"]).stdout
    )
    gauss = json.loads(runner.invoke(app, [*_args(files, "--out", str(t / "g")), "--json"]).stdout)
    assert none["decay"] == "none" and gauss["decay"] == "gaussian"
    a_none = gpd.read_file(t / "n" / "access_points.geojson")["access"].to_numpy()
    a_gauss = gpd.read_file(t / "g" / "access_points.geojson")["access"].to_numpy()
    assert np.abs(a_none - a_gauss).max() > 1e-3  # the decay moves capacity towards nearer points ...
    # ... but shares out the same capacity: the weighted mean is Σ S (stations with demand) / Σ w for both
    assert none["access_mean"] == pytest.approx(gauss["access_mean"])
    visits = files["tmp"] / "visits.csv"
    out = files["tmp"] / "out-visits"
    res = runner.invoke(app, [*_args(files, "--visits", str(visits), "--out", str(out)), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["capacity_sources"]["visits"] == 1
    st = pd.read_csv(out / "access_stations.csv", encoding="utf-8-sig")
    last = st.iloc[-1]
    assert last["capacity_source"] == "visits"
    assert last["capacity_per_day"] == pytest.approx(float(np.quantile([9, 3, 0, 7, 1], 0.9)))


@pytest.mark.parametrize(
    ("extra", "code", "needle"),
    [
        (("--decay", "linear"), 2, "--decay must be one of gaussian, none"),
        (("--minutes", "0"), 2, "--minutes must be a number of minutes in (0, 120]"),
        (("--visits", "/nonexistent/visits.csv"), 3, "--visits: file not found"),
        (("--areas", "/nonexistent/areas.geojson"), 2, "--areas: "),
        (("--snap-meters", "-5"), 2, "--snap-meters must be a number ≥ 0"),
    ],
)
def test_access_bad_input_one_line(
    files: dict[str, Any], extra: tuple[str, ...], code: int, needle: str
) -> None:
    res = runner.invoke(app, _args(files, *extra))
    lines = res.stderr.strip().splitlines()
    assert res.exit_code == code and len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    assert lines[0].startswith(f"error: {needle}")


def test_access_missing_network_and_no_stations(files: dict[str, Any]) -> None:
    args = _args(files)
    args[2] = "walk=/nonexistent/area.npz"
    res = runner.invoke(app, args)
    assert res.exit_code == 3 and res.stderr.strip().startswith("error: --network: file not found")
    args = _args(files)
    args[4] = "none"
    res = runner.invoke(app, args)
    assert res.exit_code == 2 and "2SFCA needs stations" in res.stderr


def test_site_capacity_per_site(files: dict[str, Any]) -> None:
    t = files["tmp"]
    base = ["site", "--network", str(files["osm"]), "--stations", str(t / "stations.csv"), "--demand",
            str(t / "demand.geojson"), "--candidates", "network:250", "--minutes", "8", "--add", "3"]
    res = runner.invoke(app, [*base, "--capacity-per-site", "15", "--out", str(t / "site"), "--json"])
    assert res.exit_code == 0, res.output
    got = json.loads(res.stdout)
    cap = got["capacity"]
    assert got["model"] == "capacitated_mclp" and got["status"] == "optimal"
    assert got["covered_after"] == pytest.approx(cap["served_after"])
    fac = pd.read_csv(t / "site" / "facilities.csv", encoding="utf-8-sig")
    assert np.all(fac["load"] <= fac["capacity"] + 1e-7)
    assert fac["load"].sum() == pytest.approx(cap["served_after"])
    sites = fac[fac["role"] == "site"]
    assert len(sites) == len(got["selected"]) <= 3 and set(sites["capacity"]) <= {15.0}
    gains = sum(s["gain"] for s in got["selected"])
    assert cap["served_before"] + gains == pytest.approx(cap["served_after"])
    assert math.isclose(cap["reached_after"] - cap["served_after"], cap["over_capacity"], abs_tol=1e-6)
    res = runner.invoke(app, [*base[:-2], "--target-share", "0.5", "--capacity-per-site", "15"])
    assert res.exit_code == 2 and "--capacity-per-site works with --add only" in res.stderr
    res = runner.invoke(app, [*base, "--capacity-per-site", "-1"])
    lines = res.stderr.strip().splitlines()
    assert res.exit_code == 2 and lines == ["error: --capacity-per-site must be a number ≥ 0, got -1.0"]


def test_access_from_the_store_equals_the_files(files: dict[str, Any], clean_store: Any) -> None:
    from sqlalchemy.orm import Session

    from geo.db.repository import import_stations
    from geo.ops.visits import import_visits
    from geo.stations import read_station_file

    t = files["tmp"]
    with Session(clean_store) as session:
        import_stations(session, read_station_file(t / "stations.csv"), source="test", actor="pytest")
        assert import_visits(session, t / "visits.csv").imported == 20
    args = _args(files)
    args[4] = "db"
    res = runner.invoke(app, [*args, "--visits", "db", "--json"])
    assert res.exit_code == 0, res.output
    from_db = json.loads(res.stdout)
    with_visits = _args(files, "--visits", str(t / "visits.csv"))
    from_file = json.loads(runner.invoke(app, [*with_visits, "--json"]).stdout)
    assert from_db["capacity_sources"] == from_file["capacity_sources"] == {
        "seats": 2, "visits": 1, "default": files["n"] - 3}
    for key in ("capacity_total", "capacity_reaching_demand", "access_mean", "zero_access_weight", "pairs"):
        assert from_db[key] == pytest.approx(from_file[key]), key
    assert [r["access_mean"] for r in from_db["by_area"]] == pytest.approx(
        [r["access_mean"] for r in from_file["by_area"]], nan_ok=True)
