"""``yizhan orgs`` and ``yizhan keys`` in-process against the throw-away database (they commit for
real): imports all or nothing, secrets printed once and never listed, ``--key``/``--as-org`` on
station imports."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from api.cli import app
from tests.api.test_orgs import COUNTY, EAST, WEST, yuelu_bounds

runner = CliRunner()


@pytest.fixture()
def org_store(clean_store: Engine) -> Iterator[Engine]:
    def wipe() -> None:
        with clean_store.begin() as conn:
            conn.execute(text("TRUNCATE orgs, api_keys, targets, stations, station_changes RESTART IDENTITY"))

    wipe()
    yield clean_store
    wipe()


def _orgs_file(tmp_path: Path, data_dir: Path) -> Path:
    minx, miny, maxx, maxy = yuelu_bounds(data_dir)
    mid = (minx + maxx) / 2

    def poly(x0: float, x1: float) -> dict[str, object]:
        return {
            "type": "Polygon",
            "coordinates": [[[x0, miny], [x1, miny], [x1, maxy], [x0, maxy], [x0, miny]]],
        }

    feats = [
        {
            "type": "Feature",
            "geometry": poly(minx, maxx),
            "properties": {"组织代码": COUNTY, "名称": "岳麓区总工会", "级别": "县", "上级代码": None},
        },
        {
            "type": "Feature",
            "geometry": poly(minx, mid),
            "properties": {"组织代码": WEST, "名称": "岳麓街道工会", "级别": "街道", "上级代码": COUNTY},
        },
        {
            "type": "Feature",
            "geometry": poly(mid, maxx),
            "properties": {"组织代码": EAST, "名称": "桃子湖街道工会", "级别": "街道", "上级代码": COUNTY},
        },
    ]
    path = tmp_path / "orgs.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}, ensure_ascii=False), "utf-8")
    return path


def test_orgs_import_list_show_and_a_rejected_file(org_store: Engine, tmp_path: Path, data_dir: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("组织代码,名称,级别,上级代码\n1,好,省,\n2,坏,星系,1\n3,孤,市,99\n", encoding="utf-8")
    r = runner.invoke(app, ["orgs", "import", str(bad)])
    assert r.exit_code == 2 and "REJECTED" in r.stdout and "星系" in r.stdout
    assert "row(s)" in r.stderr
    with org_store.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM orgs")).scalar_one() == 0  # the good row too
    r = runner.invoke(app, ["orgs", "import", str(_orgs_file(tmp_path, data_dir)), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["inserted"] == 3 and json.loads(r.stdout)["with_area"] == 3
    listed = json.loads(runner.invoke(app, ["orgs", "list", "--json", "--parent", COUNTY]).stdout)
    assert [o["code"] for o in listed] == [WEST, EAST]
    shown = runner.invoke(app, ["orgs", "show", WEST])
    assert shown.exit_code == 0 and "岳麓街道工会" in shown.stdout and "岳麓区总工会" in shown.stdout
    assert runner.invoke(app, ["orgs", "show", "nope"]).exit_code == 3


def test_keys_and_cli_identity_on_station_imports(org_store: Engine, tmp_path: Path, data_dir: Path) -> None:
    assert runner.invoke(app, ["orgs", "import", str(_orgs_file(tmp_path, data_dir))]).exit_code == 0
    r = runner.invoke(
        app, ["keys", "create", "--org", WEST, "--role", "editor", "--name", "west-cli", "--json"]
    )
    assert r.exit_code == 0, r.output
    made = json.loads(r.stdout)
    assert made["name"] == "west-cli" and made["org"] == WEST and made["secret"].startswith("yz_")
    secret = made["secret"]
    again = runner.invoke(app, ["keys", "create", "--org", WEST, "--role", "viewer", "--name", "west-cli"])
    assert again.exit_code == 2, again.output  # a name in use: bad input where it was typed
    assert again.stderr.strip() == "error: a key named 'west-cli' exists already (name)", again.stderr
    listed = runner.invoke(app, ["keys", "list"])
    assert "west-cli" in listed.stdout and secret[16:] not in listed.stdout and "yz_" not in listed.stdout
    r = runner.invoke(
        app, ["keys", "create", "--org", COUNTY, "--role", "admin", "--name", "x", "--key", secret]
    )
    assert r.exit_code != 0 and "not an admin key" in r.stderr

    minx, miny, maxx, maxy = yuelu_bounds(data_dir)
    mid, lat = (minx + maxx) / 2, (miny + maxy) / 2
    csv = tmp_path / "st.csv"
    csv.write_text(
        f"编号,名称,经度,纬度,类型\nA,西驿站,{minx + 0.001},{lat},工会驿站\n"
        f"B,东驿站,{mid + 0.001},{lat},工会驿站\n",
        encoding="utf-8",
    )
    r = runner.invoke(app, ["stations", "import", str(csv), "--key", secret])
    assert r.exit_code == 2 and "REJECTED" in r.stdout and "岳麓街道工会 (430104001)" in r.stdout
    assert "    3  geometry" in r.stdout and "    2  geometry" not in r.stdout
    r = runner.invoke(app, ["stations", "import", str(csv), "--as-org", COUNTY, "--actor", "张三"])
    assert r.exit_code == 0, r.output
    with org_store.connect() as conn:
        rows = conn.execute(text("SELECT DISTINCT actor, org_code FROM station_changes")).all()
    assert [tuple(x) for x in rows] == [("张三", COUNTY)]

    assert runner.invoke(app, ["orgs", "target", WEST, "--year", "2026", "--stations", "2"]).exit_code == 0
    rep = json.loads(runner.invoke(app, ["orgs", "report", COUNTY, "--json"]).stdout)
    assert rep["stations"] == 2
    assert [(c["code"], c["stations"], c["targets"]) for c in rep["children"]] == [
        (WEST, 1, [{"year": 2026, "target": 2, "actual": 1, "share": 0.5}]),
        (EAST, 1, []),
    ]

    assert runner.invoke(app, ["keys", "revoke", "west-cli"]).exit_code == 0
    r = runner.invoke(app, ["stations", "import", str(csv), "--key", secret])
    assert r.exit_code != 0 and "not valid" in r.stderr
    assert "revoked" in runner.invoke(app, ["keys", "list", "--org", WEST]).stdout


def test_report_with_a_coverage_table(org_store: Engine, tmp_path: Path, data_dir: Path) -> None:
    assert runner.invoke(app, ["orgs", "import", str(_orgs_file(tmp_path, data_dir))]).exit_code == 0
    table = tmp_path / "by_area.csv"
    table.write_text(
        "area_code,area_name,demand_total,demand_covered,covered_share\n"
        f"{WEST},西,20,5,0.25\n{EAST},东,10,10,1.0\n",
        encoding="utf-8",
    )
    r = runner.invoke(app, ["orgs", "report", COUNTY, "--coverage", str(table), "--json"])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    assert rep["covered_share"] is None
    assert [(c["code"], c["covered_share"]) for c in rep["children"]] == [(WEST, 0.25), (EAST, 1.0)]
    text_out = runner.invoke(app, ["orgs", "report", COUNTY, "--coverage", str(table)]).stdout
    assert "25.0% of demand covered" in text_out
    (tmp_path / "bad.csv").write_text("area_code,x\n1,2\n", encoding="utf-8")
    r = runner.invoke(app, ["orgs", "report", COUNTY, "--coverage", str(tmp_path / "bad.csv")])
    assert r.exit_code == 2 and "covered_share" in r.stderr
