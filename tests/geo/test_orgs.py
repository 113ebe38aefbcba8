"""geo.orgs without the store: organisation files, key hashing and the caching verifier, the rules."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from shapely.geometry import box

from geo.errors import InputError
from geo.orgs.authz import OrgScope, StationFacts, key_admin_refusal, station_refusal
from geo.orgs.keys import (
    KeyVerifier,
    Principal,
    StoredKey,
    check_token,
    hash_token,
    new_token,
    token_key_id,
)
from geo.orgs.tree import read_org_file, resolve_level

CSV = """组织代码,名称,级别,上级代码
430104,岳麓区总工会,县,
430104001,岳麓街道工会,街道,430104
430104002,桃子湖街道工会,乡镇,430104
H001,湖南师大工会驿站主办单位,主办单位,430104002
"""


def test_read_org_csv_with_chinese_headers(tmp_path: Path) -> None:
    path = tmp_path / "orgs.csv"
    path.write_bytes(CSV.encode("gbk"))
    found = read_org_file(path)
    assert not found.errors
    assert [(r.code, r.level, r.parent_code) for r in found.rows] == [
        ("430104", "county", None),
        ("430104001", "township", "430104"),
        ("430104002", "township", "430104"),
        ("H001", "host", "430104002"),
    ]
    assert found.columns == {"组织代码": "code", "名称": "name", "级别": "level", "上级代码": "parent_code"}


def test_read_org_file_reports_every_bad_row(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        CSV + "430104001,重复,街道,430104\n9,无级别,太空,430104\n8,倒挂,县,430104001\n"
        "7,孤儿,社区,NOPE\n,无代码,社区,430104\n",
        encoding="utf-8",
    )
    found = read_org_file(path)
    got = sorted((e.row, e.field) for e in found.errors)
    assert got == [(6, "code"), (7, "level"), (8, "parent_code"), (9, "parent_code"), (10, "code")]
    assert len(found.rows) == 4  # the good rows are still parsed, the store rejects the whole file
    assert "first in row 3" in next(e.message for e in found.errors if e.row == 6)


def test_read_org_geojson_and_xlsx(tmp_path: Path) -> None:
    from openpyxl import Workbook

    feats = [
        {
            "type": "Feature",
            "properties": {"code": "430104", "name": "岳麓区总工会", "level": "county"},
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[112.9, 28.1], [113.0, 28.1], [113.0, 28.2], [112.9, 28.1]]],
            },
        },
        {
            "type": "Feature",
            "properties": {"code": "X", "name": "点", "level": "county"},
            "geometry": {"type": "Point", "coordinates": [112.9, 28.1]},
        },
    ]
    path = tmp_path / "orgs.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}), encoding="utf-8")
    found = read_org_file(path)
    assert [e.row for e in found.errors] == [3] and found.errors[0].field == "geometry"
    assert found.rows[0].area is not None and found.rows[0].area.geom_type == "MultiPolygon"

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["组织代码", "名称", "级别", "上级代码"])
    ws.append([430104, "岳麓区总工会", "区", None])
    ws.append([430104001, "岳麓街道工会", "街道", 430104])
    wb.save(tmp_path / "orgs.xlsx")
    rows = read_org_file(tmp_path / "orgs.xlsx").rows
    assert [(r.code, r.level, r.parent_code) for r in rows] == [
        ("430104", "county", None),
        ("430104001", "township", "430104"),
    ]


def test_missing_columns_and_levels(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("代码,名称\n1,a\n", encoding="utf-8")
    with pytest.raises(InputError, match="level"):
        read_org_file(path)
    assert resolve_level("街道") == "township" and resolve_level("County") == "county"
    assert resolve_level("planet") is None


def test_token_hash_round_trip() -> None:
    key_id, token = new_token()
    assert token_key_id(token) == key_id and len(key_id) == 12
    stored = hash_token(token)
    assert stored.startswith("scrypt$") and token not in stored and token[16:22] not in stored
    assert check_token(token, stored)
    assert not check_token(token[:-1] + ("A" if token[-1] != "A" else "B"), stored)
    assert hash_token(token) != stored  # salted
    assert token_key_id("yz_notahexid__x") is None and token_key_id("plain") is None


def test_verifier_caches_the_hash_check_and_rereads_rows_after_the_ttl() -> None:
    key_id, token = new_token()
    row = StoredKey("township-editor", key_id, "430104001", "editor", hash_token(token))
    rows = {key_id: row}
    reads: list[str] = []
    now = [0.0]

    def lookup(kid: str) -> StoredKey | None:
        reads.append(kid)
        return rows.get(kid)

    v = KeyVerifier(ttl_seconds=5, clock=lambda: now[0])
    p = v.verify(token, lookup)
    assert p == Principal("township-editor", "editor", "430104001")
    assert v.verify(token, lookup) == p and reads == [key_id]  # row cached
    rows[key_id] = StoredKey(
        row.name, key_id, row.org_code, row.role, row.secret_hash, revoked_at=datetime.now(UTC)
    )
    assert v.verify(token, lookup) == p  # within the ttl the old row stands
    now[0] = 5.1
    assert v.verify(token, lookup) is None and len(reads) == 2  # revoked, seen after the ttl
    rows[key_id] = StoredKey(
        row.name,
        key_id,
        row.org_code,
        row.role,
        row.secret_hash,
        expires_at=datetime.now(UTC) - timedelta(seconds=1),
    )
    now[0] = 11
    assert v.verify(token, lookup) is None  # expired
    assert v.verify(token.replace(token[-3:], "zzz"), lookup) is None


# -- rules -----------------------------------------------------------------------------------------

WEST, EAST = box(112.0, 28.0, 112.5, 28.5), box(112.5, 28.0, 113.0, 28.5)
COUNTY = OrgScope("C", "县", "county", frozenset({"C", "W", "E", "H"}), box(112.0, 28.0, 113.0, 28.5), "C")
W = OrgScope("W", "西街道", "township", frozenset({"W"}), WEST, "W")
HOST = OrgScope("H", "银行", "host", frozenset({"H"}), EAST, "E")


def _ed(org: str | None, role: str = "editor") -> Principal:
    return Principal(f"{org}-{role}", role, org)


def test_station_rules() -> None:
    in_w, in_e = StationFacts(1, 112.2, 28.2), StationFacts(2, 112.7, 28.2, owner="E")
    assert station_refusal(_ed("W"), W, current=in_w) is None
    assert "outside its area" in str(station_refusal(_ed("W"), W, current=in_e))
    assert "西街道 (W)" in str(station_refusal(_ed("W"), W, current=in_e))
    assert station_refusal(_ed("W"), W, current=in_w, new_point=(112.7, 28.2)) is not None  # moving out
    assert station_refusal(_ed("W"), W, new_point=(112.3, 28.3)) is None
    assert station_refusal(_ed("C"), COUNTY, current=in_e) is None
    assert station_refusal(_ed("C"), COUNTY, current=StationFacts(3, 120.0, 30.0, owner="E")) is None  # owned
    assert "read-only" in str(station_refusal(_ed("W", "viewer"), W, current=in_w))
    assert station_refusal(_ed(None, "admin"), None, new_point=(120.0, 30.0)) is None
    # a host: only its own stations, new ones inside its union's area
    assert "not one of its stations" in str(station_refusal(_ed("H"), HOST, current=in_e))
    assert station_refusal(_ed("H"), HOST, current=StationFacts(4, 112.7, 28.2, owner="H")) is None
    assert station_refusal(_ed("H"), HOST, new_point=(112.7, 28.2)) is None
    assert "the area of E" in str(station_refusal(_ed("H"), HOST, new_point=(112.2, 28.2)))


def test_key_admin_rules() -> None:
    assert key_admin_refusal(_ed("C", "admin"), COUNTY, "W") is None
    assert key_admin_refusal(_ed("W", "admin"), W, "C") is not None
    assert key_admin_refusal(_ed("C", "editor"), COUNTY, "W") is not None
    assert key_admin_refusal(_ed(None, "admin"), None, "anything") is None


def test_coverage_by_org_matches_area_codes() -> None:
    from geo.orgs.rollup import area_code_of, coverage_by_org

    orgs = [{"code": "T1", "name": "甲", "area_source": "areas:440305001"},
            {"code": "440305002", "name": "乙", "area_source": "orgs.geojson"},
            {"code": "T3", "name": "丙", "area_source": None}]  # fmt: skip
    assert [area_code_of(o) for o in orgs] == ["440305001", "440305002", "T3"]
    rows = [{"area_code": "440305001", "demand_total": 10.0, "demand_covered": 4.0, "covered_share": 0.4},
            {"area_code": "440305002", "demand_total": 5.0, "demand_covered": 5.0,
             "covered_share": 1.0}]  # fmt: skip
    got = coverage_by_org(orgs, rows)
    assert [g["covered_share"] for g in got] == [0.4, 1.0, None]
    assert got[0]["demand_covered"] == 4.0 and got[2]["demand_total"] is None
