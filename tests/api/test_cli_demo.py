"""``yizhan demo`` end to end on the real Shenzhen Nanshan sample, against the throw-away PostGIS database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from api.cli import app
from geo.crs import wgs84_to_gcj02

runner = CliRunner()


@pytest.fixture(scope="module", autouse=True)
def _wipe_after(engine: Engine) -> Iterator[None]:
    """The demo commits for real: leave the shared test database empty for the other tests."""
    yield
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE stations, station_changes, areas, demand_points RESTART IDENTITY"))


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory, database_url: str, data_dir: Path) -> dict:
    out = tmp_path_factory.mktemp("demo")
    res = runner.invoke(app, ["demo", "--out", str(out), "--json", "--data-dir", str(data_dir)])
    assert res.exit_code == 0, res.output
    head = json.loads(res.stdout[res.stdout.index("{"):])
    return {"out": out, "head": head}


def test_demo_writes_every_output(demo_run: dict) -> None:
    out: Path = demo_run["out"]
    for name in ("coverage_map.html", "finder.html", "coverage_by_area.csv", "coverage_by_area.xlsx",
                 "coverage_by_group.csv", "coverage_by_group.xlsx", "gaps_walk.geojson", "gaps_ebike.geojson",
                 "proposals.geojson", "proposals.csv", "report.md"):
        assert (out / name).stat().st_size > 0, name
    html = (out / "coverage_map.html").read_text(encoding="utf-8")
    assert "unpkg.com" not in html and "cdn.jsdelivr.net" not in html  # assets inlined, no foreign CDN


def _stored(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM stations")).scalar()
        towns = conn.execute(text("SELECT count(*) FROM areas")).scalar()
    return int(n or 0), int(towns or 0)


def test_demo_numbers_agree_across_outputs(demo_run: dict, engine: Engine) -> None:
    head, out = demo_run["head"], demo_run["out"]
    # the 14 bank branches in the extract are the existing stations; the demo stores nothing
    assert head["stations"] == 14
    assert _stored(engine) == (0, 0)
    walk, ebike = head["walk"], head["ebike"]
    assert 0 < walk["covered_share"] < 1 and ebike["covered_share"] >= walk["covered_share"]  # faster mode
    by_area = pd.read_csv(out / "coverage_by_area.csv")  # Chinese headers (a report's default)
    w = by_area[by_area["出行方式"] == "步行"]  # modes by their Chinese names
    assert w["需求总量"].sum() == pytest.approx(walk["demand_total"], rel=1e-9)
    assert w["已覆盖需求"].sum() == pytest.approx(walk["demand_covered"], rel=1e-9)
    gaps = gpd.read_file(out / "gaps_walk.geojson")
    assert len(gaps) == walk["gaps"]
    assert gaps["uncovered_weight"].sum() == pytest.approx(walk["uncovered"], rel=1e-6)
    props = gpd.read_file(out / "proposals.geojson")
    siting = head["siting"]
    assert len(props) == siting["added"] == 5
    assert siting["share_after"] > siting["share_before"] == pytest.approx(walk["covered_share"])
    assert list(props["order"]) == [1, 2, 3, 4, 5]
    assert props["cumulative_share"].is_monotonic_increasing
    report = (out / "report.md").read_text(encoding="utf-8")
    assert f"{100 * walk['covered_share']:.1f}%" in report and "劳动者港湾" in report


def test_demo_second_run_changes_nothing_in_the_registry(demo_run: dict, data_dir: Path, tmp_path: Path,
                                                         engine: Engine) -> None:
    res = runner.invoke(app, ["demo", "--out", str(tmp_path), "--json", "--data-dir", str(data_dir),
                              "--lang", "en"])
    assert res.exit_code == 0, res.output
    head = json.loads(res.stdout[res.stdout.index("{"):])
    assert head["rejected_rows"] == 0 and _stored(engine) == (0, 0)
    assert head["walk"] == demo_run["head"]["walk"]
    by_area = pd.read_csv(tmp_path / "coverage_by_area.csv")  # --lang en: the column names
    assert by_area[by_area["mode"] == "walk"]["demand_total"].sum() == pytest.approx(
        head["walk"]["demand_total"], rel=1e-9)


def test_demo_with_own_station_file_in_gcj02(data_dir: Path, tmp_path: Path, engine: Engine) -> None:
    # a planner's own list as an Amap export gives it: GBK CSV, Chinese headers, GCJ-02 coordinates
    pois = gpd.read_file(data_dir / "shenzhen_roadnetworkcreator/shenzhen_nanshan_osm_pois.geojson")
    posts = pois[pois["amenity"].isin(["post_office", "community_centre", "townhall"])].head(6)
    lon, lat = wgs84_to_gcj02(posts.geometry.x.to_numpy(), posts.geometry.y.to_numpy())
    frame = pd.DataFrame({"名称": [f"驿站{i}" for i in range(len(posts))], "经度": lon, "纬度": lat,
                          "类型": "工会驿站", "开放时间": "08:00-20:00"})
    path = tmp_path / "我的站点.csv"
    frame.to_csv(path, index=False, encoding="gbk")
    res = runner.invoke(app, ["demo", "--out", str(tmp_path / "o"), "--json", "--data-dir", str(data_dir),
                              "--stations", str(path), "--stations-crs", "gcj02"])
    assert res.exit_code == 0, res.output
    head = json.loads(res.stdout[res.stdout.index("{"):])
    assert head["stations"] == len(posts)
    assert _stored(engine) == (0, 0)  # the planner's list is not added to the registry


def test_demo_missing_data_is_a_one_line_error(tmp_path: Path) -> None:
    res = runner.invoke(app, ["demo", "--out", str(tmp_path), "--data-dir", str(tmp_path / "nope")])
    assert res.exit_code != 0
    assert "real sample missing" in res.output and "YIZHAN_DATA_DIR" in res.output
