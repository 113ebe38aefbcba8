"""``yizhan report`` on two cities other than Shenzhen (Shanghai Jing'an OSM, Changsha Yuelu OSM).

Networks are built into tmp_path with ``yizhan network build``; stations, demand points and two
boundary polygons are drawn at test time from the network's own nodes (seeded). The report's figures
are checked against ``yizhan coverage`` on the same files, and no file of the report may mention
the bundled Shenzhen sample.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from api.cli import app as cli
from geo.config import data_dir
from geo.crs import wgs84_to_gcj02
from geo.network import read_network_npz

runner = CliRunner()
SHENZHEN = re.compile(r"深圳|南山|粤海|Shenzhen|Nanshan|440305", re.IGNORECASE)
CITIES: dict[str, dict[str, Any]] = {
    "shanghai": {"osm": "shanghai_le_degn/shanghai_jingan_huangpu_drive.osm", "clip": None,
                 "title": "上海市静安区"},
    "changsha": {"osm": "changsha_osm_planner/changsha_yuelu_taozihu_map.osm",
                 "clip": "112.94196,28.18252,112.94899,28.18780", "title": "长沙市岳麓区"},
}


def invoke(*args: Any) -> Any:
    """``yizhan ARGS`` through the CLI runner (paths and numbers as strings)."""
    return runner.invoke(cli, [str(a) for a in args])


_invoke = invoke


def city_networks(name: str, tmp: Path) -> dict[str, Path]:
    """The walk and e-bike networks of ``CITIES[name]`` built by ``yizhan network build`` into ``tmp``."""
    spec = CITIES[name]
    nets = {}
    for mode in ("walk", "ebike"):
        npz = tmp / f"{name}-{mode}.npz"
        args = ["network", "build", "--osm", data_dir() / spec["osm"], "--out", npz, "--mode", mode]
        r = invoke(*args, *(["--clip", spec["clip"]] if spec["clip"] else []))
        assert r.exit_code == 0, r.output
        nets[mode] = npz
    return nets


@pytest.fixture(scope="module", params=sorted(CITIES))
def city(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    name = request.param
    spec = CITIES[name]
    tmp = tmp_path_factory.mktemp(f"report-{name}")
    nets = city_networks(name, tmp)
    net = read_network_npz(nets["walk"])
    rng = np.random.default_rng(23)
    big = np.flatnonzero(net.component == np.argmax(net.component_sizes))
    pick = rng.choice(big, size=6, replace=False)
    stations = tmp / "驿站清单.csv"
    pd.DataFrame({
        "名称": [f"{spec['title']}驿站{i}" for i in range(6)], "经度": net.lon[pick], "纬度": net.lat[pick],
        "类型": "union_station", "状态": "open",
    }).to_csv(stations, index=False, encoding="utf-8-sig")
    near = rng.choice(big, size=200)
    demand = tmp / "demand.csv"
    jitter = rng.normal(0, 3e-4, (2, 200))
    pd.DataFrame({"lon": net.lon[near] + jitter[0], "lat": net.lat[near] + jitter[1],
                  "weight": rng.integers(1, 4, 200)}).to_csv(demand, index=False)
    # two boundary polygons: the west and east halves of the demand's extent (named like a county's)
    x0, y0, x1, y1 = shapely.MultiPoint(np.column_stack([net.lon[near], net.lat[near]])).buffer(0.003).bounds
    mid = (x0 + x1) / 2
    areas = tmp / "areas.geojson"
    gpd.GeoDataFrame({"code": ["A01", "A02"], "名称": ["西片街道", "东片街道"]},
                     geometry=[shapely.box(x0, y0, mid, y1), shapely.box(mid, y0, x1, y1)],
                     crs=4326).to_file(areas, driver="GeoJSON")
    return {"name": name, "title": spec["title"], "nets": nets, "stations": stations, "demand": demand,
            "areas": areas, "tmp": tmp}


def _texts(out: Path) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8-sig") for p in out.iterdir()
            if p.suffix in (".md", ".html", ".csv", ".geojson")}


def test_report_of_another_city(city: dict[str, Any], clean_store: Engine) -> None:
    out = city["tmp"] / "out"
    r = _invoke("report", "--network", f"walk={city['nets']['walk']}", "--network",
                f"ebike={city['nets']['ebike']}", "--stations", city["stations"], "--demand", city["demand"],
                "--title", city["title"], "--add", "2", "--crs", "gcj02", "--method", "greedy",
                "--out", out, "--json")
    assert r.exit_code == 0, r.output
    head = json.loads(r.stdout)
    for name in ("report.md", "coverage_map.html", "finder.html", "coverage_by_area.csv",
                 "coverage_by_area.xlsx", "coverage_by_group.csv", "coverage_by_group.xlsx",
                 "gaps_walk.geojson", "gaps_ebike.geojson", "proposals.geojson", "proposals.csv"):
        assert (out / name).stat().st_size > 0, name
    texts = _texts(out)
    assert texts["report.md"].startswith(f"# {city['title']}")
    leaks = {name: SHENZHEN.findall(body)[:3] for name, body in texts.items() if SHENZHEN.search(body)}
    assert leaks == {}
    # without --areas: one whole-area row per mode, holding all the demand
    by_area = pd.read_csv(out / "coverage_by_area.csv")
    assert list(by_area["区域代码"]) == ["all", "all"] and set(by_area["区域名称"]) == {city["title"]}
    ref = _invoke("coverage", "--network", city["nets"]["walk"], "--stations", city["stations"],
                  "--demand", city["demand"], "--json")
    assert ref.exit_code == 0, ref.output
    expected = json.loads(ref.stdout)
    walk = by_area[by_area["出行方式"] == "步行"].iloc[0]  # modes by their Chinese names
    assert walk["需求总量"] == pytest.approx(expected["demand_total"])
    assert walk["已覆盖需求"] == pytest.approx(expected["demand_covered"])
    assert head["walk"]["covered_share"] == pytest.approx(expected["covered_share"])
    assert head["demand_source"] == "file:demand.csv"
    # proposals: GCJ-02 in the CSV (as asked), WGS-84 in the GeoJSON, an Amap link on each
    props = gpd.read_file(out / "proposals.geojson")
    table = pd.read_csv(out / "proposals.csv")
    # at most the 2 asked for: siting stops early when nothing more can be covered
    assert 1 <= len(props) == len(table) <= 2 and set(table["坐标系"]) == {"gcj02"}
    glon, glat = wgs84_to_gcj02(props.geometry.x.to_numpy(), props.geometry.y.to_numpy())
    np.testing.assert_allclose(table["经度"], glon, atol=1e-7)
    np.testing.assert_allclose(table["纬度"], glat, atol=1e-7)
    assert all(f"to={x:.6f},{y:.6f}" in u for x, y, u in zip(glon, glat, table["高德导航"], strict=True))
    with clean_store.connect() as conn:  # a report writes nothing to the registry
        assert conn.execute(text("SELECT count(*) FROM stations")).scalar() == 0


def test_report_with_areas_is_headed_by_their_names(city: dict[str, Any]) -> None:
    out = city["tmp"] / "out-areas"
    r = _invoke("report", "--network", f"walk={city['nets']['walk']}", "--stations", city["stations"],
                "--demand", city["demand"], "--areas", city["areas"], "--areas-code-field", "code",
                "--areas-name-field", "名称", "--lang", "en", "--out", out, "--json")
    assert r.exit_code == 0, r.output
    md = (out / "report.md").read_text(encoding="utf-8")
    assert md.startswith("# 西片街道、东片街道")
    by_area = pd.read_csv(out / "coverage_by_area.csv")  # --lang en: the column names
    assert {"A01", "A02"} <= set(by_area["area_code"])
    assert by_area["demand_total"].sum() == pytest.approx(json.loads(r.stdout)["walk"]["demand_total"])
    assert not (out / "proposals.csv").exists()


def test_report_stations_outside_the_network_are_named(city: dict[str, Any]) -> None:
    far = city["tmp"] / "far.csv"
    pd.DataFrame({"名称": ["远方驿站甲", "远方驿站乙"], "经度": [100.0, 100.01], "纬度": [30.0, 30.01],
                  "类型": "union_station"}).to_csv(far, index=False, encoding="utf-8-sig")
    r = _invoke("report", "--network", f"walk={city['nets']['walk']}", "--stations", far,
                "--out", city["tmp"] / "far-out")
    assert r.exit_code == 2
    assert "远方驿站甲" in r.stderr and "远方驿站乙" in r.stderr and "yizhan network build" in r.stderr
    assert r.stderr.strip().count("\n") == 0


def test_report_without_a_network_says_what_to_do(city: dict[str, Any], tmp_path: Path) -> None:
    r = _invoke("report", "--stations", city["stations"], "--out", tmp_path / "o")
    assert r.exit_code == 2 and "yizhan network build" in r.stderr
    pbf = tmp_path / "jiangsu-latest.osm.pbf"
    pbf.write_bytes(b"\x00\x00\x00\x0dOSMHeader")
    r = _invoke("report", "--network", f"walk={pbf}", "--stations", city["stations"], "--out", tmp_path / "o")
    assert r.exit_code == 2 and "jiangsu-latest.osm.pbf" in r.stderr  # a corrupt PBF, named in one line
    assert r.stderr.strip().count("\n") == 0


def test_lang_for_messages_and_headers(city: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    args = ["report", "--network", f"walk={city['nets']['walk']}", "--stations", city["stations"],
            "--demand", city["demand"], "--title", city["title"]]
    zh = _invoke(*args, "--out", city["tmp"] / "zh")
    assert zh.exit_code == 0, zh.output
    assert f"{city['title']}：现有站点 6 个" in zh.stdout and "已写出 8 个文件" in zh.stdout
    monkeypatch.setenv("YIZHAN_LANG", "en")
    en = _invoke(*args, "--out", city["tmp"] / "en")
    assert en.exit_code == 0, en.output
    assert f"{city['title']}: 6 station(s)" in en.stdout and "wrote 8 files" in en.stdout
    assert "demand_total" in pd.read_csv(city["tmp"] / "en" / "coverage_by_area.csv").columns
    cov = _invoke("coverage", "--network", city["nets"]["walk"], "--stations", city["stations"],
                  "--demand", city["demand"], "--out", city["tmp"] / "cov", "--lang", "zh")
    assert cov.exit_code == 0, cov.output
    assert "需求总量" in pd.read_csv(city["tmp"] / "cov" / "by_group.csv").columns
    bad = _invoke(*args, "--out", city["tmp"] / "x", "--lang", "fr")
    assert bad.exit_code == 2 and "--lang" in bad.stderr


def test_coverage_of_stations_outside_the_network_names_them(city: dict[str, Any]) -> None:
    far = city["tmp"] / "far2.csv"
    pd.DataFrame({"名称": ["远方驿站丙"], "经度": [100.0], "纬度": [30.0], "类型": "union_station"}).to_csv(
        far, index=False, encoding="utf-8-sig")
    r = _invoke("coverage", "--network", city["nets"]["walk"], "--stations", far)
    assert r.exit_code == 2 and "远方驿站丙" in r.stderr and r.stderr.startswith("error: --stations:")


def test_report_pdf_reads_back(city: dict[str, Any], tmp_path: Path) -> None:
    """``--pdf``: the A4 PDF carries the title, every area row and every proposal (read back with pypdf),
    and its pages render (pdftoppm)."""
    import subprocess

    from pypdf import PdfReader

    out = tmp_path / "pdf"
    r = _invoke("report", "--network", f"walk={city['nets']['walk']}", "--stations", city["stations"],
                "--demand", city["demand"], "--areas", city["areas"], "--areas-name-field", "名称",
                "--title", city["title"], "--add", 2, "--crs", "gcj02", "--pdf", "--out", out)
    assert r.exit_code == 0, r.output
    reader = PdfReader(out / "report.pdf")
    flat = "".join("".join(page.extract_text() for page in reader.pages).split())
    assert f"{city['title']}十五分钟工会服务圈评估报告" in flat
    assert "西片街道" in flat and "东片街道" in flat
    proposals = pd.read_csv(out / "proposals.csv")
    assert len(proposals) >= 1
    lon_col = next(c for c in proposals.columns if "经度" in c or c.startswith("lon"))
    for lon in proposals[lon_col]:
        assert f"{float(lon):.6f}" in flat
    assert not SHENZHEN.search(flat)
    pages = ["pdftoppm", "-r", "30", "-png", str(out / "report.pdf"), str(tmp_path / "pg")]
    subprocess.run(pages, check=True)
    assert len(list(tmp_path.glob("pg*.png"))) == len(reader.pages) >= 2
