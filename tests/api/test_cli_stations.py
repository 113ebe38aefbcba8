"""``yizhan db|stations|areas`` run in-process against the throw-away database: exit codes and --json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from api.cli import app
from geo.db.models import Area, Station

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
OSM = "shenzhen_roadnetworkcreator/shenzhen_nanshan_osm.osm"

runner = CliRunner()

BAD = """编号,名称,经度,纬度,类型
G1,好驿站,113.9434,22.5420,工会驿站
G2,反了的驿站,22.5480,113.9500,工会驿站
G3,坏类型驿站,113.9480,22.5450,太空站
"""


def _count(engine: Engine, model: type) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(model)).scalar_one())


def test_db_upgrade(clean_store: Engine) -> None:
    result = runner.invoke(app, ["db", "upgrade", "--json"])
    assert result.exit_code == 0, result.output
    from geo.db.migrate import head_revision

    assert json.loads(result.stdout)["revision"] == head_revision()


def test_import_json_then_reimport_unchanged(clean_store: Engine) -> None:
    args = ["stations", "import", str(FIXTURES / "stations_bd09.csv"), "--crs", "bd09", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert (out["imported"], out["updated"], out["unchanged"], out["rejected"]) == (3, 0, 0, 0)
    assert out["errors"] == [] and out["columns"]["bd_lng"] == "lon"
    again = json.loads(runner.invoke(app, args).stdout)
    assert (again["imported"], again["unchanged"]) == (0, 3)
    assert _count(clean_store, Station) == 3


def test_rejected_file_exits_2_and_imports_nothing(clean_store: Engine, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(BAD, encoding="utf-8")
    result = runner.invoke(app, ["stations", "import", str(path), "--json"])
    assert result.exit_code == 2
    out = json.loads(result.stdout)
    assert out["imported"] == 0 and out["rejected"] == 2
    assert [(e["row"], e["field"]) for e in out["errors"]] == [(3, "lon"), (4, "kind")]
    assert out["errors"][0]["message"].startswith("latitude and longitude look swapped")
    assert _count(clean_store, Station) == 0
    # readable table without --json
    table = runner.invoke(app, ["stations", "import", str(path)])
    assert table.exit_code == 2 and "REJECTED" in table.stdout and "unknown station kind" in table.stdout
    # --fix-swapped --skip-invalid: two rows in, one rejected, exit 0
    ok = runner.invoke(app, ["stations", "import", str(path), "--fix-swapped", "--skip-invalid", "--json"])
    assert ok.exit_code == 0, ok.output
    assert (json.loads(ok.stdout)["imported"], json.loads(ok.stdout)["rejected"]) == (2, 1)
    assert _count(clean_store, Station) == 2


def test_dry_run_writes_nothing(clean_store: Engine) -> None:
    result = runner.invoke(app, ["stations", "import", str(FIXTURES / "stations_bd09.csv"), "--crs", "bd09",
                                 "--dry-run", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["imported"] == 3
    assert _count(clean_store, Station) == 0


@pytest.mark.parametrize("fmt", ["geojson", "csv", "xlsx", "gpkg"])
def test_export_then_import_unchanged(clean_store: Engine, tmp_path: Path, fmt: str) -> None:
    runner.invoke(app, ["stations", "import", str(FIXTURES / "stations_bd09.csv"), "--crs", "bd09"])
    out = tmp_path / f"all.{fmt}"
    result = runner.invoke(app, ["stations", "export", "--format", fmt, "--out", str(out), "--crs", "gcj02"])
    assert result.exit_code == 0, result.output
    back = runner.invoke(app, ["stations", "import", str(out), "--source", "stations_bd09", "--json"])
    assert back.exit_code == 0, back.output
    got = json.loads(back.stdout)
    assert (got["imported"], got["updated"], got["unchanged"]) == (0, 0, 3)


def test_summary_and_areas_from_osm(clean_store: Engine, data_dir: Path) -> None:
    # stations first: importing the areas afterwards assigns their 街道
    runner.invoke(app, ["stations", "import", str(FIXTURES / "stations_bd09.csv"), "--crs", "bd09"])
    result = runner.invoke(app, ["areas", "import", str(data_dir / OSM), "--level", "township", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["inserted"] == 5 and {a["name"] for a in out["areas"]} >= {"粤海街道", "南头街道"}
    assert out["stations_assigned"] == 3
    assert _count(clean_store, Area) == 5
    summary = runner.invoke(app, ["stations", "summary", "--json"])
    assert summary.exit_code == 0
    got = json.loads(summary.stdout)
    assert got["total"] == 3 and got["by_township"] == {"粤海街道": 3}
    assert got["by_kind"] == {"love_station": 1, "outdoor_worker_station": 1, "union_station": 1}


def test_missing_file_and_bad_option(clean_store: Engine, tmp_path: Path) -> None:
    result = runner.invoke(app, ["stations", "import", str(tmp_path / "nope.csv")])
    assert result.exit_code == 2 and "does not exist" in result.output
    result = runner.invoke(app, ["stations", "import", str(FIXTURES / "stations_bd09.csv"), "--crs", "utm"])
    assert result.exit_code == 2


def test_store_unavailable_exits_4(monkeypatch: pytest.MonkeyPatch) -> None:
    from geo.db.engine import _cached_engine

    monkeypatch.setenv("YIZHAN_DATABASE_URL", "postgresql://postgres@127.0.0.1:1/nowhere")
    _cached_engine.cache_clear()
    result = runner.invoke(app, ["stations", "summary"])
    assert result.exit_code == 4 and "cannot connect" in result.output


def test_export_bbox_is_read_in_the_crs_of_the_command(clean_store: Engine, tmp_path: Path) -> None:
    """CRS policy: the --bbox of an export is in --crs, like the API's bbox in ``crs``; aliases such as
    ``amap`` name the same system as on every other command."""
    import geopandas as gpd

    from geo.crs import wgs84_to_gcj02

    runner.invoke(app, ["stations", "import", str(FIXTURES / "stations_bd09.csv"), "--crs", "bd09"])
    out = tmp_path / "all.geojson"
    assert runner.invoke(app, ["stations", "export", "--out", str(out)]).exit_code == 0
    first = gpd.read_file(out).sort_values("name").iloc[0]
    lon, lat = wgs84_to_gcj02(first.geometry.x, first.geometry.y)
    box = f"{lon - 0.0008:.6f},{lat - 0.0008:.6f},{lon + 0.0008:.6f},{lat + 0.0008:.6f}"
    names = {}
    for crs in ("gcj02", "amap", "wgs84"):
        part = tmp_path / f"{crs}.geojson"
        res = runner.invoke(app, ["stations", "export", "--out", str(part), "--crs", crs, "--bbox", box])
        assert res.exit_code == 0, res.output
        frame = gpd.read_file(part)
        names[crs] = list(frame["name"]) if "name" in frame.columns else []
    assert names["gcj02"] == names["amap"] == [first["name"]]
    assert first["name"] not in names["wgs84"]  # the same numbers read as WGS-84 are ~500 m off
    bad = runner.invoke(app, ["stations", "export", "--out", str(out), "--crs", "utm"])
    assert bad.exit_code == 2 and len(bad.stderr.strip().splitlines()) == 1 and "--crs" in bad.stderr
