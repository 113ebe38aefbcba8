"""``yizhan visits import|report`` run in-process against the throw-away database (commits for real)."""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from api.cli import app

runner = CliRunner()
OPS_TABLES = "visits, feedback, star_ratings, map_presence"


@pytest.fixture()
def ops_store(clean_store: Engine) -> Iterator[Engine]:
    def wipe() -> None:
        with clean_store.begin() as conn:
            conn.execute(text(f"TRUNCATE {OPS_TABLES} RESTART IDENTITY"))

    wipe()
    yield clean_store
    wipe()


def _stations(tmp_path: Path) -> None:
    path = tmp_path / "stations.csv"
    path.write_text(
        "编号,名称,经度,纬度,类型,区县代码\nC1,一号驿站,113.9434,22.5420,工会驿站,440305\n"
        "C2,二号驿站,113.9500,22.5480,工会驿站,440305\nC3,三号驿站,113.9600,22.5500,工会驿站,440305\n",
        encoding="utf-8",
    )
    assert runner.invoke(app, ["stations", "import", str(path)]).exit_code == 0


def test_visits_import_and_report(ops_store: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YIZHAN_VISITOR_HASH_KEY", "cli-test-key-0123456789")
    _stations(tmp_path)
    yesterday = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date() - dt.timedelta(days=1)
    rows = [f"C1,{yesterday} 0{h}:10,骑手,饮水,1380013800{h % 2}" for h in range(8)]
    rows += [f"C2,{yesterday} 09:{m:02d},环卫工,如厕," for m in range(10, 16)]
    rows += [f"C3,{yesterday - dt.timedelta(days=3)} 12:00,快递员,充电,"]
    path = tmp_path / "visits.csv"
    path.write_text("站点编号,到访时间,职业,服务项目,手机号\n" + "\n".join(rows) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["visits", "import", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["imported"] == 15
    again = json.loads(runner.invoke(app, ["visits", "import", str(path), "--json"]).stdout)
    assert (again["imported"], again["duplicates"]) == (0, 15)
    result = runner.invoke(app, ["visits", "report", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["days"] == 28 and out["to"] == yesterday.isoformat() and out["visits"] == 15
    by = {s["name"]: s for s in out["stations"]}
    assert by["一号驿站"]["visits_per_day"] == pytest.approx(8 / 28) and by["一号驿站"]["repeat_share"] == 1.0
    assert by["三号驿站"]["low_use"] is True and by["二号驿站"]["low_use"] is False
    assert "13800138000" not in result.stdout
    text_out = runner.invoke(app, ["visits", "report", "--from", str(yesterday), "--to", str(yesterday)])
    assert text_out.exit_code == 0 and "LOW" in text_out.stdout and "(1 days" in text_out.stdout


def test_visits_cli_errors(ops_store: Engine, tmp_path: Path) -> None:
    _stations(tmp_path)
    path = tmp_path / "bad.csv"
    path.write_text("站点编号,到访时间\nC9,2026-10-01 08:00\n", encoding="utf-8")
    result = runner.invoke(app, ["visits", "import", str(path)])
    assert result.exit_code == 2 and "REJECTED" in result.stdout and "C9" in result.stdout
    bad = runner.invoke(app, ["visits", "report", "--from", "2026-13-01"])
    assert bad.exit_code == 2 and "from" in bad.stderr


def test_audit_stars_and_export_carry_stars(ops_store: Engine, tmp_path: Path) -> None:
    _stations(tmp_path)
    result = runner.invoke(app, ["audit", "stars", "--json"])
    assert result.exit_code == 0, result.output
    ratings = json.loads(result.stdout)
    assert len(ratings) == 3 and {r["stars"] for r in ratings} == {1}
    assert ratings[0]["inputs"]["items_total"] == 6 and ratings[0]["rule"] == "yizhan-stars-1"
    out = tmp_path / "export.csv"
    assert runner.invoke(app, ["stations", "export", "--out", str(out)]).exit_code == 0
    with out.open(encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["stars"] for r in rows] == ["1", "1", "1"]
    again = runner.invoke(app, ["stations", "import", str(out), "--json"])
    assert again.exit_code == 0 and json.loads(again.stdout)["unchanged"] == 3
