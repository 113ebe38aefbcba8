"""Station file import: encodings, header mapping, every validation rule, GCJ-02 conversion and the
store's all-or-nothing upsert (real PostGIS)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from geo import crs as gcrs
from geo.db import repository as repo
from geo.db.models import Station, StationChange
from geo.errors import ImportRejectedError, InputError
from geo.stations import read_station_file, validate_station

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
POIS = "shenzhen_roadnetworkcreator/shenzhen_nanshan_osm_pois.geojson"


def _meters(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    k = math.cos(math.radians(lat1))
    return math.hypot((lon1 - lon2) * 111_320 * k, (lat1 - lat2) * 110_574)


def _count(session: Session) -> int:
    return int(session.execute(select(func.count()).select_from(Station)).scalar_one())


def _host_pois(data_dir: Path) -> list[dict[str, Any]]:
    """Real bank and post-office POIs (OSM, WGS-84) that could host a station."""
    doc = json.loads((data_dir / POIS).read_text(encoding="utf-8"))
    out = []
    for feat in doc["features"]:
        p = feat["properties"]
        if p.get("amenity") in ("bank", "post_office") and p.get("name"):
            lon, lat = feat["geometry"]["coordinates"]
            out.append({"name": p["name"], "osm_id": p.get("osm_id"), "lon": lon, "lat": lat,
                        "amenity": p["amenity"]})
    return out


def _amap_csv(pois: list[dict[str, Any]], path: Path) -> Path:
    """Write the POIs as an Amap-style export: Chinese headers, GCJ-02 coordinates, GBK encoded."""
    lines = ["名称,地址,经度,纬度,类型,开放时间,服务项目,联系电话"]
    for i, p in enumerate(pois):
        glon, glat = gcrs.wgs84_to_gcj02(p["lon"], p["lat"])
        kind = "工会驿站" if p["amenity"] == "bank" else "爱心驿站"
        hours = "周一至周五 9:00-17:00" if i % 2 else "08:00-20:00"
        lines.append(
            f"劳动者港湾·{p['name']}{i},深圳市南山区粤海街道,{glon:.6f},{glat:.6f},{kind},{hours},"
            f"饮用水、微波炉/热饭、充电 卫生间,0755-8888{i:04d}"
        )
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("gbk"))
    return path


@pytest.fixture()
def amap_csv(data_dir: Path, tmp_path: Path) -> tuple[Path, list[dict[str, Any]]]:
    pois = _host_pois(data_dir)
    assert len(pois) >= 10
    return _amap_csv(pois, tmp_path / "amap_export.csv"), pois


def test_gbk_csv_with_gcj02_coordinates_is_converted_to_wgs84(amap_csv: tuple[Path, list]) -> None:
    path, pois = amap_csv
    report = read_station_file(path, crs="gcj02", source="amap")
    assert report.encoding == "gb18030"
    assert report.errors == ()
    assert report.rows_total == len(pois) == len(report.frame)
    assert report.columns == {"名称": "name", "地址": "address", "经度": "lon", "纬度": "lat", "类型": "kind",
                              "开放时间": "opening_hours", "服务项目": "amenities", "联系电话": "phone"}
    frame = report.frame
    assert frame.crs.to_epsg() == 4326
    assert set(frame["source_crs"]) == {"gcj02"}
    for (_, row), poi in zip(frame.iterrows(), pois, strict=True):
        # back on the OSM position (6-decimal GCJ-02 in the file ≈ 0.1 m)
        assert _meters(row.geometry.x, row.geometry.y, poi["lon"], poi["lat"]) < 0.2
        # and the GCJ-02 offset was really there (hundreds of metres in Shenzhen)
        glon, glat = gcrs.wgs84_to_gcj02(poi["lon"], poi["lat"])
        assert _meters(glon, glat, poi["lon"], poi["lat"]) > 200
    assert frame.iloc[0]["amenities"] == ["drinking_water", "microwave", "charging", "toilet"]
    assert frame.iloc[0]["kind"] == "union_station"
    assert frame.iloc[0]["opening_hours"] == "08:00-20:00"
    assert frame.iloc[1]["opening_hours"] == "Mo-Fr 09:00-17:00"


def test_import_then_reimport_is_unchanged(db_session: Session, amap_csv: tuple[Path, list]) -> None:
    path, pois = amap_csv
    report = read_station_file(path, crs="gcj02", source="amap")
    first = repo.import_stations(db_session, report, source="amap", actor="tester")
    assert (first.imported, first.updated, first.unchanged, first.rejected) == (len(pois), 0, 0, 0)
    assert _count(db_session) == len(pois)
    again = repo.import_stations(db_session, read_station_file(path, crs="gcj02", source="amap"),
                                 source="amap", actor="tester")
    assert (again.imported, again.updated, again.unchanged, again.rejected) == (0, 0, len(pois), 0)
    assert _count(db_session) == len(pois)
    # one audit row per station, none for the unchanged re-import
    changes = db_session.execute(select(func.count()).select_from(StationChange)).scalar_one()
    assert changes == len(pois)


def test_changed_row_is_updated(db_session: Session, amap_csv: tuple[Path, list], tmp_path: Path) -> None:
    path, pois = amap_csv
    repo.import_stations(db_session, read_station_file(path, crs="gcj02"), source="amap", actor="t")
    text = path.read_bytes().decode("gbk").replace("0755-88880000", "0755-99990000")
    changed = tmp_path / "amap_export_v2.csv"
    changed.write_bytes(text.encode("gbk"))
    summary = repo.import_stations(db_session, read_station_file(changed, crs="gcj02"),
                                   source="amap", actor="t")
    assert (summary.imported, summary.updated, summary.unchanged) == (0, 1, len(pois) - 1)


BAD_ROWS = """编号,名称,经度,纬度,类型,开放时间,服务项目
S1,科技园工会驿站,113.9434,22.5420,工会驿站,08:00-20:00,饮用水、充电
S2,缺经度驿站,,22.5420,工会驿站,,
S3,非数字驿站,113.95,北纬22度,工会驿站,,
S4,境外驿站,2.3522,48.8566,工会驿站,,
S5,颠倒驿站,22.5480,113.9500,工会驿站,,
S6,未知类型驿站,113.9460,22.5430,太空站,,
S7,错误时间驿站,113.9470,22.5440,爱心驿站,随便几点,
S8,未知设施驿站,113.9480,22.5450,爱心驿站,,饮用水、按摩椅
S1,重号驿站,113.9600,22.5500,工会驿站,,
S10,科技园工会驿站,113.94345,22.54205,工会驿站,,
S11,粤海零工驿站,113.9520,22.5380,零工驿站,24/7,求职登记;技能培训
"""


@pytest.fixture()
def bad_csv(tmp_path: Path) -> Path:
    path = tmp_path / "bad.csv"
    path.write_text(BAD_ROWS, encoding="utf-8")
    return path


def _messages(report: Any) -> dict[int, list[tuple[str, str]]]:
    out: dict[int, list[tuple[str, str]]] = {}
    for e in report.errors:
        out.setdefault(e.row, []).append((e.field, e.message))
    return out


def test_every_validation_rule_reports_row_field_and_message(bad_csv: Path) -> None:
    report = read_station_file(bad_csv)
    msgs = _messages(report)
    assert report.rows_total == 11
    assert sorted(msgs) == [3, 4, 5, 6, 7, 8, 9, 10, 11]
    assert msgs[3] == [("lon", "missing longitude")]
    assert msgs[4] == [("lat", "latitude '北纬22度' is not a number")]
    assert msgs[5] == [("lon", "coordinate (2.3522, 48.8566) is outside mainland China")]
    assert msgs[6][0][0] == "lon" and msgs[6][0][1].startswith("latitude and longitude look swapped")
    assert msgs[7][0][0] == "kind" and msgs[7][0][1].startswith("unknown station kind '太空站'")
    assert msgs[8][0][0] == "opening_hours" and msgs[8][0][1].startswith("bad opening hours '随便几点'")
    assert msgs[9][0][0] == "amenities" and msgs[9][0][1].startswith("unknown amenity '按摩椅'")
    assert msgs[10] == [("external_id", "duplicate of row 2: same id 'S1'")]
    assert msgs[11][0][0] == "name" and msgs[11][0][1].startswith("duplicate of row 2:")
    assert list(report.frame["external_id"]) == ["S1", "S11"]
    assert report.frame.iloc[1]["amenities"] == ["job_services"]


def test_fix_swapped_swaps_instead_of_rejecting(bad_csv: Path) -> None:
    report = read_station_file(bad_csv, fix_swapped=True)
    assert 6 not in _messages(report)
    row = report.frame[report.frame["external_id"] == "S5"].iloc[0]
    assert (row.geometry.x, row.geometry.y) == (113.95, 22.548)


def test_bad_row_rejects_the_whole_file_and_leaves_the_table_untouched(
    db_session: Session, bad_csv: Path, amap_csv: tuple[Path, list]
) -> None:
    path, pois = amap_csv
    repo.import_stations(db_session, read_station_file(path, crs="gcj02"), source="amap", actor="t")
    version = repo.registry_version(db_session)
    with pytest.raises(ImportRejectedError) as caught:
        repo.import_stations(db_session, read_station_file(bad_csv), source="bad", actor="t")
    summary = caught.value.report
    assert summary.accepted is False and summary.imported == 0 and summary.rejected == 9
    assert _count(db_session) == len(pois)
    assert repo.registry_version(db_session) == version


def test_skip_invalid_imports_the_valid_rows(db_session: Session, bad_csv: Path) -> None:
    summary = repo.import_stations(db_session, read_station_file(bad_csv), source="bad", actor="t",
                                   skip_invalid=True)
    assert (summary.imported, summary.rejected) == (2, 9)
    assert _count(db_session) == 2


def test_dry_run_counts_but_writes_nothing(db_session: Session, bad_csv: Path) -> None:
    summary = repo.import_stations(db_session, read_station_file(bad_csv), source="bad", actor="t",
                                   skip_invalid=True, dry_run=True)
    assert (summary.imported, summary.dry_run) == (2, True)
    assert _count(db_session) == 0


def test_duplicate_of_a_stored_station_under_another_id(db_session: Session, tmp_path: Path) -> None:
    first = tmp_path / "a.csv"
    first.write_text("编号,名称,经度,纬度\nA1,南头街道职工服务站,113.9230,22.5490\n", encoding="utf-8")
    repo.import_stations(db_session, read_station_file(first), source="district", actor="t")
    second = tmp_path / "b.csv"
    # 11 m away, the same station under another list's id; the far one is a different station
    second.write_text("编号,名称,经度,纬度\nX9,南头街道职工服务站（新）,113.9231,22.5490\n"
                      "X10,南头街道职工服务站,113.9300,22.5490\n", encoding="utf-8")
    with pytest.raises(ImportRejectedError) as caught:
        repo.import_stations(db_session, read_station_file(second), source="city", actor="t")
    errors = caught.value.report.errors
    assert [(e.row, e.field) for e in errors] == [(2, "name")]
    assert errors[0].message.startswith("duplicate of existing station")
    # same source + id is an upsert, not a duplicate
    same = tmp_path / "c.csv"
    same.write_text("编号,名称,经度,纬度\nA1,南头街道职工服务站,113.92301,22.5490\n", encoding="utf-8")
    summary = repo.import_stations(db_session, read_station_file(same), source="district", actor="t")
    assert (summary.updated, summary.rejected) == (1, 0)


def test_utf8_bom_csv_and_english_headers(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_text("id,name,longitude,latitude,type,status,hours,facilities,seats,area_m2\n"
                    "7,Nanshan rest stop,113.93,22.54,love,规划,24/7,water;toilets,8,25.5\n",
                    encoding="utf-8-sig")
    report = read_station_file(path)
    assert report.encoding == "utf-8-sig" and report.errors == ()
    assert report.columns["id"] == "external_id" and report.columns["type"] == "kind"
    row = report.frame.iloc[0]
    assert (row["kind"], row["status"], row["opening_hours"]) == ("love_station", "planned", "24/7")
    assert (row["amenities"], row["seats"], row["floor_area_m2"]) == (["drinking_water", "toilet"], 8, 25.5)


def test_xlsx_with_numeric_cells(tmp_path: Path) -> None:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["站点编号", "驿站名称", "经度", "纬度", "街道", "联系电话", "面积（平方米）"])
    ws.append([1001, "桃源街道户外劳动者驿站", 113.9590, 22.5640, "桃源街道", 13800138000, "30㎡"])
    ws.append([None, None, None, None, None, None, None])
    ws.append([1002, "西丽零工驿站", 113.9500, 22.5800, "西丽街道", None, None])
    path = tmp_path / "list.xlsx"
    wb.save(path)
    report = read_station_file(path, crs="wgs84")
    assert report.errors == () and report.rows_total == 2
    first = report.frame.iloc[0]
    assert (first["external_id"], first["phone"], first["floor_area_m2"]) == ("1001", "13800138000", 30.0)
    assert list(report.frame["row"]) == [2, 4]


def test_hand_made_fixture_bd09(tmp_path: Path) -> None:
    report = read_station_file(FIXTURES / "stations_bd09.csv", crs="bd09")
    assert report.errors == () and len(report.frame) == 3
    assert set(report.frame["source_crs"]) == {"bd09"}
    lon, lat = 113.9434, 22.5420  # WGS-84 of the first row, converted to BD-09 in the fixture
    row = report.frame.iloc[0]
    assert _meters(row.geometry.x, row.geometry.y, lon, lat) < 0.5


def test_missing_coordinate_columns_is_a_file_error(tmp_path: Path) -> None:
    path = tmp_path / "nocoords.csv"
    path.write_text("名称,地址\n驿站,某路\n", encoding="utf-8")
    with pytest.raises(InputError, match="no longitude/latitude columns"):
        read_station_file(path)


def test_validate_station_raises_on_first_bad_field() -> None:
    with pytest.raises(InputError) as caught:
        validate_station({"name": "x", "lon": 113.9, "lat": 22.5, "kind": "太空站"})
    assert caught.value.field == "kind"
    clean = validate_station({"名称": "驿站", "geometry": {"type": "Point", "coordinates": [113.9, 22.5]}})
    assert (clean["name"], clean["lon"], clean["lat"], clean["kind"]) == ("驿站", 113.9, 22.5, "other")


def test_location_column_and_english_amenity_labels(tmp_path: Path) -> None:
    path = tmp_path / "amap_api.csv"
    path.write_text('name,location,services\n'
                    '桃源驿站,"113.9590,22.5640","Drinking water; First-aid kit | Wi-Fi"\n'
                    '坏坐标驿站,113.9590,toilet\n', encoding="utf-8")
    report = read_station_file(path, crs="gcj02")
    assert report.columns["location"] == "location"
    row = report.frame.iloc[0]
    assert row["amenities"] == ["drinking_water", "first_aid", "wifi"]
    lon, lat = gcrs.gcj02_to_wgs84(113.9590, 22.5640)
    assert _meters(row.geometry.x, row.geometry.y, lon, lat) < 0.01
    assert [(e.row, e.field) for e in report.errors] == [(3, "location")]
