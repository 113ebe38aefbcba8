"""Export round trip: stations exported to every format and CRS, then imported again, are unchanged."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from geo.db import repository as repo
from geo.errors import InputError
from geo.stations import export_stations, read_station_file

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

STATIONS = """编号,名称,地址,经度,纬度,类型,状态,开放时间,服务项目,联系电话,座位数,面积,街道,街道代码
N1,南头街道工会驿站,深圳市南山区南头街道,113.9230,22.5490,工会驿站,开放,08:00-20:00,饮用水、微波炉、充电,0755-26600001,12,30.5,南头街道,440305002
N2,粤海爱心驿站,深圳市南山区科技园,113.9434,22.5420,爱心驿站,规划,24/7,卫生间,,,,,
N3,桃源户外劳动者服务站,,113.9590,22.5640,户外劳动者服务站点,关闭,,,,4,,,
"""


@pytest.fixture()
def stored(db_session: Session, tmp_path: Path) -> Session:
    path = tmp_path / "district.csv"
    path.write_text(STATIONS, encoding="utf-8")
    repo.import_stations(db_session, read_station_file(path), source="district", actor="t")
    repo.import_stations(db_session, read_station_file(FIXTURES / "stations_bd09.csv", crs="bd09"),
                         source="baidu", actor="t")
    return db_session


@pytest.mark.parametrize("fmt", ["geojson", "csv", "xlsx", "gpkg"])
@pytest.mark.parametrize("crs", ["wgs84", "gcj02", "bd09"])
def test_export_then_import_is_unchanged(stored: Session, tmp_path: Path, fmt: str, crs: str) -> None:
    frame = repo.stations_frame(stored)
    assert len(frame) == 6
    out = export_stations(frame, tmp_path / f"stations.{fmt}", format=fmt, crs=crs)
    report = read_station_file(out, source="ignored")
    assert report.errors == ()
    assert report.crs == crs
    summary = repo.import_stations(stored, report, source="ignored", actor="t")
    assert (summary.imported, summary.updated, summary.unchanged) == (0, 0, 6)
    again = repo.stations_frame(stored)
    assert list(again["source_crs"]) == list(frame["source_crs"])
    for a, b in zip(frame.geometry, again.geometry, strict=True):
        assert math.isclose(a.x, b.x, abs_tol=1e-9) and math.isclose(a.y, b.y, abs_tol=1e-9)


def test_geojson_says_which_crs(stored: Session, tmp_path: Path) -> None:
    frame = repo.stations_frame(stored)
    out = export_stations(frame, tmp_path / "s.geojson", crs="gcj02")
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["coordinates_crs"] == "gcj02"
    first = doc["features"][0]
    assert first["properties"]["coordinates_crs"] == "gcj02"
    assert first["properties"]["amenities"] == ["drinking_water", "microwave", "charging"]
    # GCJ-02 coordinates are hundreds of metres off the WGS-84 point in Shenzhen
    x, _y = first["geometry"]["coordinates"]
    assert abs(x - frame.geometry.iloc[0].x) > 0.003


def test_unknown_export_format(stored: Session, tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        export_stations(repo.stations_frame(stored), tmp_path / "s.kml", format="kml")
    assert caught.value.field == "format"
