"""The outputs of ``yizhan report`` and ``yizhan coverage`` agree with each other and speak one language,
on two cities other than Shenzhen (Shanghai Jing'an, Changsha Yuelu; networks built at test time).

The station list holds four open stations, one planned and one suspended; the demand points carry
worker groups; two boundary polygons are drawn from the demand's extent (seeded).
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

from geo.network import read_network_npz
from tests.api.test_cli_report import CITIES, city_networks
from tests.api.test_cli_report import invoke as _invoke

STATUSES = ["open", "open", "open", "open", "planned", "suspended"]
GROUPS = ["courier", "delivery_rider", "sanitation_worker"]


@pytest.fixture(scope="module", params=sorted(CITIES))
def trial(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Networks (walk, ebike), stations of every status, grouped demand and two areas of one city."""
    name = request.param
    spec = CITIES[name]
    tmp = tmp_path_factory.mktemp(f"outputs-{name}")
    nets = city_networks(name, tmp)
    net = read_network_npz(nets["walk"])
    rng = np.random.default_rng(31)
    big = np.flatnonzero(net.component == np.argmax(net.component_sizes))
    pick = rng.choice(big, size=len(STATUSES), replace=False)
    stations = tmp / "stations.csv"
    pd.DataFrame({"名称": [f"{spec['title']}驿站{i}" for i in range(len(STATUSES))], "经度": net.lon[pick],
                  "纬度": net.lat[pick], "类型": "union_station", "状态": STATUSES}).to_csv(
        stations, index=False, encoding="utf-8-sig")
    near = rng.choice(big, size=200)
    jitter = rng.normal(0, 3e-4, (2, 200))
    demand = tmp / "demand.csv"
    pd.DataFrame({"lon": net.lon[near] + jitter[0], "lat": net.lat[near] + jitter[1],
                  "weight": rng.integers(1, 4, 200), "group": rng.choice(GROUPS, 200)}).to_csv(
        demand, index=False)
    x0, y0, x1, y1 = shapely.MultiPoint(np.column_stack([net.lon[near], net.lat[near]])).buffer(0.003).bounds
    mid = (x0 + x1) / 2
    areas = tmp / "areas.geojson"
    gpd.GeoDataFrame({"code": ["A01", "A02"], "名称": ["西片街道", "东片街道"]},
                     geometry=[shapely.box(x0, y0, mid, y1), shapely.box(mid, y0, x1, y1)],
                     crs=4326).to_file(areas, driver="GeoJSON")
    return {"name": name, "title": spec["title"], "nets": nets, "stations": stations, "demand": demand,
            "areas": areas, "tmp": tmp}


def _report(trial: dict[str, Any], out: Path, *extra: Any) -> Any:
    r = _invoke("report", "--network", f"walk={trial['nets']['walk']}", "--network",
                f"ebike={trial['nets']['ebike']}", "--stations", trial["stations"], "--demand",
                trial["demand"], "--method", "greedy", "--out", out, *extra)
    assert r.exit_code == 0, r.output
    return r


def test_json_counts_open_stations_like_every_other_output(trial: dict[str, Any]) -> None:
    out = trial["tmp"] / "count"
    head = json.loads(_report(trial, out, "--json").stdout)
    ref = _invoke("coverage", "--network", trial["nets"]["walk"], "--stations", trial["stations"],
                  "--demand", trial["demand"], "--json")
    assert ref.exit_code == 0, ref.output
    assert head["stations"] == json.loads(ref.stdout)["stations"] == 4
    assert "**现有站点**：4 个" in (out / "report.md").read_text(encoding="utf-8")
    assert head["stations_listed"] == 6
    assert head["stations_by_status"] == {"open": 4, "planned": 1, "suspended": 1}


def _md_table(md: str, heading: str) -> pd.DataFrame:
    """The first Markdown table after the line starting with ``heading``."""
    lines = md[md.index(heading):].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip("|").split("|")])
    return pd.DataFrame(rows[2:], columns=rows[0])


def test_report_md_proposals_are_in_the_crs_of_the_csv_and_pdf(trial: dict[str, Any]) -> None:
    from pypdf import PdfReader

    out = trial["tmp"] / "crs"
    _report(trial, out, "--add", 3, "--crs", "gcj02", "--pdf")
    md = (out / "report.md").read_text(encoding="utf-8")
    table = _md_table(md, "## 新增")
    csv = pd.read_csv(out / "proposals.csv")
    assert len(table) == len(csv) >= 1 and "坐标系：GCJ-02" in md
    assert list(table["经度"]) == [f"{v:.6f}" for v in csv["经度"]]
    assert list(table["纬度"]) == [f"{v:.6f}" for v in csv["纬度"]]
    flat = "".join("".join(page.extract_text() for page in PdfReader(out / "report.pdf").pages).split())
    assert all(lon in flat and lat in flat for lon, lat in zip(table["经度"], table["纬度"], strict=True))
    wgs = trial["tmp"] / "crs-wgs"
    _report(trial, wgs, "--add", 3)
    md = (wgs / "report.md").read_text(encoding="utf-8")
    props = gpd.read_file(wgs / "proposals.geojson")
    assert "坐标系：WGS-84" in md
    assert list(_md_table(md, "## 新增")["经度"]) == [f"{x:.6f}" for x in props.geometry.x]


def test_report_files_have_the_permissions_of_any_new_file(trial: dict[str, Any]) -> None:
    """CSV, XLSX and PDF (written through a temporary file) like HTML and GeoJSON: 0666 less the umask."""
    import os

    out = trial["tmp"] / "modes"
    previous = os.umask(0o022)
    try:
        _report(trial, out, "--add", 2, "--pdf")
    finally:
        os.umask(previous)
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in out.iterdir()}
    assert {"report.pdf", "proposals.csv", "coverage_by_area.xlsx", "coverage_map.html"} <= set(modes)
    assert set(modes.values()) == {"0o644"}, modes


ASCII_LETTER = re.compile("[A-Za-z]")


def _ascii_headers(path: Path) -> list[str]:
    """The headers of a CSV or XLSX table holding an ASCII letter (``GCJ-02`` aside)."""
    if path.suffix == ".xlsx":
        head = pd.read_excel(path, nrows=0).columns
    else:
        head = pd.read_csv(path, encoding="utf-8-sig", nrows=0).columns
    return [str(h) for h in head if ASCII_LETTER.search(str(h).replace("GCJ-02", ""))]


def test_zh_report_is_chinese_throughout(trial: dict[str, Any]) -> None:
    """Headers, worker groups, modes and host types in Chinese; ``--json`` keeps the codes."""
    out = trial["tmp"] / "zh"
    r = _report(trial, out, "--areas", trial["areas"], "--areas-name-field", "名称", "--add", 2, "--pdf")
    tables = sorted(out.glob("*.csv")) + sorted(out.glob("*.xlsx"))
    assert len(tables) == 5 and {p.name: _ascii_headers(p) for p in tables} == {p.name: [] for p in tables}
    groups = pd.read_csv(out / "coverage_by_group.csv", encoding="utf-8-sig")
    assert set(groups["劳动者群体"]) == {"快递员", "外卖骑手", "环卫工人"}
    assert set(groups["出行方式"]) == set(pd.read_csv(out / "coverage_by_area.csv")["出行方式"]) == {
        "步行", "电动自行车"}
    assert set(pd.read_csv(out / "proposals.csv")["场所类型"]) == {"路网节点"}
    assert "步行：15 分钟覆盖率" in r.stdout and "电动自行车：15 分钟覆盖率" in r.stdout
    assert not re.search(r"walk|ebike", r.stdout)
    md = (out / "report.md").read_text(encoding="utf-8")
    assert set(_md_table(md, "## 新增")["类型"]) == {"路网节点"} and "street_node" not in md
    from pypdf import PdfReader

    flat = "".join("".join(page.extract_text() for page in PdfReader(out / "report.pdf").pages).split())
    assert "路网节点" in flat and "street_node" not in flat and "快递员" in flat
    head = json.loads(_report(trial, trial["tmp"] / "zh-json", "--json").stdout)
    assert {"walk", "ebike"} <= set(head)


def test_en_report_keeps_codes_and_column_names(trial: dict[str, Any]) -> None:
    out = trial["tmp"] / "en"
    r = _report(trial, out, "--lang", "en", "--add", 2)
    groups = pd.read_csv(out / "coverage_by_group.csv")
    assert list(groups.columns[:2]) == ["group", "demand_count"] and set(groups["group"]) == set(GROUPS)
    assert set(groups["mode"]) == {"walk", "ebike"}
    assert set(pd.read_csv(out / "proposals.csv")["host_type"]) == {"street_node"}
    assert "  walk: " in r.stdout


def test_zh_coverage_lines_and_tables(trial: dict[str, Any]) -> None:
    out = trial["tmp"] / "cov-zh"
    r = _invoke("--lang", "zh", "coverage", "--network", trial["nets"]["walk"], "--stations",
                trial["stations"], "--demand", trial["demand"], "--areas", trial["areas"],
                "--areas-name-field", "名称", "--minutes", "5,15", "--nth", 2, "--out", out)
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    rows = lines[lines.index("按劳动者群体："):]
    assert any(line.strip().startswith("快递员") for line in rows)
    words = [line for line in lines if not line.startswith("已写出 ")]  # the paths aside
    assert not [line for line in words if re.search(r"covered|median| min|walk|courier|station", line)], lines
    assert any("（不在任何街道/乡镇内）" in line for line in rows)
    for name in ("by_area.csv", "by_group.csv"):
        assert _ascii_headers(out / name) == []
    assert set(pd.read_csv(out / "by_group.csv")["劳动者群体"]) == {"快递员", "外卖骑手", "环卫工人"}
    en = _invoke("coverage", "--network", trial["nets"]["walk"], "--stations", trial["stations"], "--demand",
                 trial["demand"])
    assert en.exit_code == 0 and "  courier " in en.stdout and "covered" in en.stdout


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_coverage_table_lines_up_by_display_width(trial: dict[str, Any], lang: str) -> None:
    """Rows with Chinese names (areas, and in zh the groups) start their figures in the same column."""
    from geo.text import display_width

    r = _invoke("--lang", lang, "coverage", "--network", trial["nets"]["walk"], "--stations",
                trial["stations"], "--demand", trial["demand"], "--areas", trial["areas"],
                "--areas-name-field", "名称")
    assert r.exit_code == 0, r.output
    word = "已覆盖" if lang == "zh" else "covered"
    rows = [line for line in r.stdout.splitlines() if line.startswith("  ") and word in line]
    assert len(rows) >= 5 and any("西片街道" in line for line in rows)
    assert len({display_width(line[:line.index(word)]) for line in rows}) == 1, rows


def test_report_without_title_or_areas_is_headed_neutrally(trial: dict[str, Any]) -> None:
    """Not by the network file's name (``shanghai-walk``): 本区域; with --areas their names."""
    out = trial["tmp"] / "untitled"
    r = _report(trial, out)
    md = (out / "report.md").read_text(encoding="utf-8")
    stem = Path(trial["nets"]["walk"]).stem
    assert md.startswith("# 本区域十五分钟工会服务圈评估报告") and "**范围**：本区域" in md
    assert r.stdout.startswith("本区域：现有站点 4 个")
    assert stem not in md and stem not in r.stdout
    assert stem not in (out / "coverage_by_area.csv").read_text(encoding="utf-8-sig")
    named = trial["tmp"] / "named"
    r = _report(trial, named, "--areas", trial["areas"], "--areas-name-field", "名称")
    assert r.stdout.startswith("西片街道、东片街道：现有站点 4 个")


def test_pdf_shows_the_unreachable_demand(trial: dict[str, Any]) -> None:
    """The 不可达 of report.md (per mode) and of coverage_by_area.csv (per area) are in the PDF too."""
    import subprocess

    out = trial["tmp"] / "unreachable"
    _report(trial, out, "--areas", trial["areas"], "--areas-name-field", "名称", "--pdf")
    text = subprocess.run(["pdftotext", "-enc", "UTF-8", str(out / "report.pdf"), "-"], check=True,
                          capture_output=True, text=True).stdout
    flat = "".join(text.split())
    assert flat.count("不可达") >= 2
    summary = _md_table((out / "report.md").read_text(encoding="utf-8"), "## 覆盖情况")
    for row in summary.itertuples(index=False):  # 95% time, then 不可达, then the gaps
        assert re.search(re.escape(row[5]) + re.escape(row[6]) + r"\d+", flat), row
    by_area = pd.read_csv(out / "coverage_by_area.csv")
    walk = by_area[by_area["出行方式"] == "步行"]
    for r in walk.itertuples(index=False):
        cells = [r[1], f"{r[3]:.0f}", f"{100 * r[5]:.1f}%", f"{r[6]:.0f}", f"{r[7]:.0f}"]
        assert "".join(cells) in flat, cells
