"""A Chinese union office's own station list: 所属乡镇/所属社区 headers, 规划中/建设中/关闭/撤销 statuses,
every unmapped column listed (``ignored_columns``), and stations without amenity data reported as
unknown under ``--amenity`` (Changsha Yuelu OSM extract)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine
from typer.testing import CliRunner

from api.cli import app
from geo.config import data_dir

runner = CliRunner()
CHANGSHA = "changsha_osm_planner/changsha_yuelu_taozihu_map.osm"
CLIP = "112.94196,28.18252,112.94899,28.18780"
POINTS = [(112.9445, 28.1850), (112.9460, 28.1840), (112.9475, 28.1860), (112.9430, 28.1835)]


def _list(path: Path) -> Path:
    pd.DataFrame({
        "名称": ["桃子湖驿站", "师大驿站", "湖大驿站", "麓山驿站"],
        "经度": [p[0] for p in POINTS], "纬度": [p[1] for p in POINTS],
        "类型": "工会驿站", "状态": ["开放", "规划中", "建设中", "撤销"],
        "所属乡镇": "岳麓街道", "所属社区": ["桃子湖社区", "师大社区", "湖大社区", "麓山社区"],
        "设施": ["饮水;充电", "", "饮水", ""], "备注": "x", "负责人": "张三",
    }).to_csv(path, index=False, encoding="utf-8-sig")
    return path


def test_aliases_and_ignored_columns(tmp_path: Path, clean_store: Engine) -> None:
    r = runner.invoke(app, ["stations", "import", str(_list(tmp_path / "站点.csv")), "--crs", "wgs84",
                            "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["columns"]["所属乡镇"] == "township_name" and out["columns"]["所属社区"] == "community_name"
    assert out["ignored_columns"] == ["备注", "负责人"]
    assert out["imported"] == 4 and out["errors"] == []
    listed = runner.invoke(app, ["stations", "list", "--json", "--status", "planned"])
    assert listed.exit_code == 0, listed.output
    assert {s["name"] for s in json.loads(listed.stdout)["stations"]} == {"师大驿站", "湖大驿站"}
    text = runner.invoke(app, ["stations", "import", str(tmp_path / "站点.csv"), "--dry-run"])
    assert "ignored columns (mapped to nothing): 备注, 负责人" in text.stdout


def test_amenity_filter_reports_unknown_stations(tmp_path: Path) -> None:
    stations = _list(tmp_path / "s.csv")
    args = ["coverage", "--network", str(data_dir() / CHANGSHA), "--clip", CLIP, "--stations", str(stations),
            "--all-statuses", "--amenity", "饮水", "--json"]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["amenity_unknown"] == {"count": 2, "stations": ["师大驿站", "麓山驿站"]}
    assert out["stations"] == 2  # the two with 饮水
    plain = runner.invoke(app, [*args[:-3], "--json"])
    assert "amenity_unknown" not in json.loads(plain.stdout)
    text = runner.invoke(app, args[:-1])
    assert "2 station(s) have no amenity data" in text.stdout and "师大驿站" in text.stdout


def test_close_and_update_from_the_cli(tmp_path: Path, clean_store: Engine) -> None:
    from sqlalchemy import text

    r = runner.invoke(app, ["stations", "import", str(_list(tmp_path / "站点.csv")), "--crs", "wgs84"])
    assert r.exit_code == 0, r.output
    stations = json.loads(runner.invoke(app, ["stations", "list", "--json"]).stdout)["stations"]
    sid = next(s["station_id"] for s in stations if s["name"] == "桃子湖驿站")
    up = runner.invoke(app, ["stations", "update", str(sid), "--set", "开放时间=Mo-Su 08:00-20:00",
                             "--set", "设施=饮水;充电;微波炉", "--json"])
    assert up.exit_code == 0, up.output
    rec = json.loads(up.stdout)
    assert rec["opening_hours"] == "Mo-Su 08:00-20:00" and "microwave" in rec["amenities"]
    assert rec["name"] == "桃子湖驿站" and rec["status"] == "open"  # the rest kept
    bad = runner.invoke(app, ["stations", "update", str(sid), "--set", "颜色=红"])
    assert bad.exit_code == 2 and "颜色" in bad.stderr
    closed = runner.invoke(app, ["stations", "close", str(sid), "--reason", "场地到期", "--json"])
    assert closed.exit_code == 0, closed.output
    assert json.loads(closed.stdout)["status"] == "closed"
    with clean_store.connect() as conn:
        actor = conn.execute(text("SELECT actor FROM station_changes WHERE station_id = :i AND operation = "
                                  "'close'"), {"i": sid}).scalar()
    assert actor == "cli: 场地到期"
    missing = runner.invoke(app, ["stations", "close", "999999", "--reason", "x"])
    assert missing.exit_code == 3 and missing.stderr.count("\n") == 1
