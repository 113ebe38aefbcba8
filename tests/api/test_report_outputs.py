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

from geo.config import data_dir
from geo.network import read_network_npz
from tests.api.test_cli_report import CITIES, _invoke

STATUSES = ["open", "open", "open", "open", "planned", "suspended"]
GROUPS = ["courier", "delivery_rider", "sanitation_worker"]


@pytest.fixture(scope="module", params=sorted(CITIES))
def trial(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Networks (walk, ebike), stations of every status, grouped demand and two areas of one city."""
    name = request.param
    spec = CITIES[name]
    tmp = tmp_path_factory.mktemp(f"outputs-{name}")
    nets = {}
    for mode in ("walk", "ebike"):
        npz = tmp / f"{name}-{mode}.npz"
        r = _invoke("network", "build", "--osm", data_dir() / spec["osm"], "--out", npz, "--mode", mode,
                    *(["--clip", spec["clip"]] if spec["clip"] else []))
        assert r.exit_code == 0, r.output
        nets[mode] = npz
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
    assert len(table) == len(csv) >= 1 and "坐标为 GCJ-02" in md
    assert list(table["经度"]) == [f"{v:.6f}" for v in csv["经度"]]
    assert list(table["纬度"]) == [f"{v:.6f}" for v in csv["纬度"]]
    flat = "".join("".join(page.extract_text() for page in PdfReader(out / "report.pdf").pages).split())
    assert all(lon in flat and lat in flat for lon, lat in zip(table["经度"], table["纬度"], strict=True))
    wgs = trial["tmp"] / "crs-wgs"
    _report(trial, wgs, "--add", 3)
    md = (wgs / "report.md").read_text(encoding="utf-8")
    props = gpd.read_file(wgs / "proposals.geojson")
    assert "坐标为 WGS-84" in md
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
