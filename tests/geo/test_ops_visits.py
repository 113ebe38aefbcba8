"""Visit logs (一站一码): import validation, phone hashing, and the usage report checked against an
independent pandas computation from the imported file itself (real PostGIS, rolled back)."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.db import repository as repo
from geo.errors import ConflictError, ImportRejectedError
from geo.ops.codes import parse_station_code, station_code
from geo.ops.usage import default_period, usage_report
from geo.ops.visits import hash_phone, import_visits, record_visit

KEY = b"test-visitor-hash-key-0123456789"
START, END = dt.date(2026, 10, 5), dt.date(2026, 10, 25)
GROUP_WORDS = {"骑手": "delivery_rider", "快递员": "courier", "环卫工": "sanitation_worker", "司机": "driver"}
SERVICE_WORDS = {"饮水": "drinking_water", "充电": "charging", "热饭": "microwave", "如厕": "toilet"}


def _station(session: Session, ext: str, name: str, lon: float, lat: float, county: str, **extra: Any) -> int:
    props = {
        "external_id": ext,
        "name": name,
        "kind": "union_station",
        "lon": lon,
        "lat": lat,
        "county_code": county,
        **extra,
    }
    return int(repo.create_station(session, props, actor="test")["station_id"])


@pytest.fixture()
def stations(db_session: Session) -> dict[str, int]:
    """Six stations: four in county 440305, two in 440304 (fewer than three: compared with all)."""
    spots = [
        ("V1", 113.930, 22.530, "440305"),
        ("V2", 113.940, 22.531, "440305"),
        ("V3", 113.950, 22.532, "440305"),
        ("V4", 113.960, 22.533, "440305"),
        ("V5", 114.050, 22.540, "440304"),
        ("V6", 114.060, 22.541, "440304"),
    ]
    return {
        ext: _station(db_session, ext, f"测试驿站{ext}", lon, lat, county) for ext, lon, lat, county in spots
    }


def _visit_file(path: Path, ids: dict[str, int], *, seed: int = 7) -> pd.DataFrame:
    """A visit log with Chinese headers: V1..V4 busy to quiet, V5 busy, V6 never visited; some rows
    named by code S<id>, some with a UTC offset, some before/after the period, phones repeating."""
    rng = random.Random(seed)
    weights = {"V1": 40, "V2": 30, "V3": 25, "V4": 3, "V5": 20}
    phones = [f"1380013{n:04d}" for n in range(25)]
    rows = []
    for ext, n in weights.items():
        for _ in range(n * 3):
            day = START + dt.timedelta(days=rng.randint(-3, (END - START).days + 3))
            when = dt.datetime.combine(day, dt.time(rng.randint(0, 23), rng.randint(0, 59)))
            if rng.random() < 0.2:  # written in UTC with an offset: the Shanghai date may differ
                cell = (when - dt.timedelta(hours=8)).strftime("%Y-%m-%dT%H:%M:00+00:00")
            else:
                cell = when.strftime("%Y/%m/%d %H:%M")
            ref = station_code(ids[ext]) if rng.random() < 0.3 else ext
            phone = rng.choice(phones) if rng.random() < 0.6 else ""
            rows.append(
                {
                    "站点编号": ref,
                    "到访时间": cell,
                    "职业": rng.choice(list(GROUP_WORDS)),
                    "服务项目": rng.choice([*SERVICE_WORDS, ""]),
                    "手机号": phone,
                }
            )
    frame = pd.DataFrame(rows)
    frame.to_csv(path, index=False, encoding="utf-8-sig")
    return frame


def _pandas_usage(path: Path, ids: dict[str, int]) -> dict[int, dict[str, Any]]:
    """The reference: straight from the file with pandas, no code of geo.ops."""
    f = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    f["sid"] = [int(r[1:]) if r.startswith("S") else ids[r] for r in f["站点编号"]]
    stamps = [pd.Timestamp(v.replace("/", "-")) for v in f["到访时间"]]
    f["day"] = [
        (s.tz_localize("Asia/Shanghai") if s.tzinfo is None else s.tz_convert("Asia/Shanghai")).date()
        for s in stamps
    ]
    f = f[(f["day"] >= START) & (f["day"] <= END)]
    days = pd.date_range(START, END).date
    out: dict[int, dict[str, Any]] = {}
    for sid in ids.values():
        g = f[f["sid"] == sid]
        per_day = g.groupby("day").size().reindex(days, fill_value=0)
        phones = g.loc[g["手机号"] != "", "手机号"].value_counts()
        out[sid] = {
            "visits": len(g),
            "per_day": [int(v) for v in per_day.to_numpy()],
            "visits_per_day": len(g) / len(days),
            "groups": {GROUP_WORDS[k]: int(v) for k, v in g["职业"].value_counts().items()},
            "services": {
                SERVICE_WORDS.get(k, "unknown"): int(v) for k, v in g["服务项目"].value_counts().items()
            },
            "repeat_share": (phones >= 2).sum() / len(phones) if len(phones) else None,
        }
    return out


def test_import_then_report_equals_pandas(
    db_session: Session, stations: dict[str, int], tmp_path: Path
) -> None:
    path = tmp_path / "visits.csv"
    frame = _visit_file(path, stations)
    report = import_visits(db_session, path, hash_key=KEY)
    assert (report.imported, report.duplicates, report.rows_total) == (len(frame), 0, len(frame))
    assert report.columns == {
        "站点编号": "station",
        "到访时间": "visited_at",
        "职业": "worker_group",
        "服务项目": "service",
        "手机号": "phone",
    }
    expected = _pandas_usage(path, stations)
    got = {s.station_id: s for s in usage_report(db_session, start=START, end=END).stations}
    assert set(got) == set(stations.values())
    for sid, exp in expected.items():
        s = got[sid]
        assert s.visits == exp["visits"]
        assert [n for _, n in s.per_day] == exp["per_day"]
        assert s.visits_per_day == pytest.approx(exp["visits_per_day"])
        assert s.by_worker_group == exp["groups"]
        assert s.by_service == exp["services"]
        assert (s.repeat_share is None) == (exp["repeat_share"] is None)
        if s.repeat_share is not None:
            assert s.repeat_share == pytest.approx(exp["repeat_share"])
        assert sum(n for _, _, n in s.per_week) == exp["visits"]
        assert sum(k for _, k, _ in s.per_week) == (END - START).days + 1
    # low use: county 440305 (V1..V4) against its own median, 440304 (two stations) against all
    rates = {sid: e["visits_per_day"] for sid, e in expected.items()}
    county = pd.Series({stations[k]: rates[stations[k]] for k in ("V1", "V2", "V3", "V4")})
    overall = pd.Series(rates)
    for ext, sid in stations.items():
        median = county.median() if ext in ("V1", "V2", "V3", "V4") else overall.median()
        assert got[sid].area_median_per_day == pytest.approx(median)
        assert got[sid].low_use == (rates[sid] < 0.25 * median if median else None)
    assert (
        got[stations["V4"]].low_use and got[stations["V6"]].low_use and got[stations["V1"]].low_use is False
    )


def test_reimport_adds_nothing_and_phones_are_only_hashed(
    db_session: Session, stations: dict[str, int], tmp_path: Path
) -> None:
    path = tmp_path / "visits.csv"
    frame = _visit_file(path, stations, seed=3)
    import_visits(db_session, path, hash_key=KEY)
    again = import_visits(db_session, path, hash_key=KEY)
    assert (again.imported, again.duplicates) == (0, len(frame))
    stored = (
        db_session.execute(text("SELECT visitor_hash FROM visits WHERE visitor_hash IS NOT NULL"))
        .scalars()
        .all()
    )
    phones = {p for p in frame["手机号"] if p}
    assert stored and not phones & set(stored)
    assert set(stored) <= {hash_phone(p, key=KEY) for p in phones}
    assert hash_phone("+86 138-0013-0001", key=KEY) == hash_phone("13800130001", key=KEY)
    assert hash_phone("13800130001", key=KEY) != hash_phone("13800130001", key=b"another-key-0123456789")
    dump = db_session.execute(text("SELECT row_to_json(v)::text FROM visits v")).scalars().all()
    assert not any(p in row for row in dump for p in phones)


BAD = """站点编号,到访时间,职业,服务项目,手机号
V1,2026-10-06 08:00,骑手,饮水,
NOPE,2026-10-06 09:00,骑手,饮水,
V2,yesterday-ish,骑手,饮水,
V3,2026-10-06 10:00,宇航员,饮水,
V4,2026-10-06 11:00,快递员,跳舞,
V5,2999-01-01 00:00,快递员,充电,
V6,2026-10-06 12:00,快递员,充电,12
"""


def test_bad_rows_reject_the_whole_file(
    db_session: Session, stations: dict[str, int], tmp_path: Path
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(BAD, encoding="utf-8")
    before = db_session.execute(text("SELECT count(*) FROM visits")).scalar_one()
    with pytest.raises(ImportRejectedError) as info:
        import_visits(db_session, path, hash_key=KEY)
    errors = [(e.row, e.field) for e in info.value.report.errors]
    assert errors == [
        (3, "station"),
        (4, "visited_at"),
        (5, "worker_group"),
        (6, "service"),
        (7, "visited_at"),
        (8, "phone"),
    ]
    assert db_session.execute(text("SELECT count(*) FROM visits")).scalar_one() == before


def test_phone_column_without_key_is_refused(
    db_session: Session, stations: dict[str, int], tmp_path: Path
) -> None:
    path = tmp_path / "phones.csv"
    path.write_text("站点编号,到访时间,手机号\nV1,2026-10-06 08:00,13800138000\n", encoding="utf-8")
    with pytest.raises(ImportRejectedError) as info:
        import_visits(db_session, path, hash_key=None)
    assert info.value.report.errors[0].field == "phone"


def test_xlsx_gbk_headers_and_ambiguous_external_id(
    db_session: Session, stations: dict[str, int], tmp_path: Path
) -> None:
    other = int(
        repo.create_station(
            db_session,
            {
                "source": "other",
                "external_id": "V1",
                "name": "别处驿站",
                "kind": "union_station",
                "lon": 113.99,
                "lat": 22.6,
            },
            actor="test",
        )["station_id"]
    )
    path = tmp_path / "visits.xlsx"
    pd.DataFrame(
        {
            "驿站编号": ["V2", station_code(other), "V1"],
            "来访时间": [dt.datetime(2026, 10, 6, h) for h in (8, 9, 9)],
            "工种": ["外卖员", "零工", "司机"],
        }
    ).to_excel(path, index=False)
    with pytest.raises(ImportRejectedError) as info:
        import_visits(db_session, path)
    (err,) = info.value.report.errors
    assert (err.row, err.field) == (4, "station") and "several stations" in err.message
    pd.read_excel(path).iloc[:2].to_excel(path, index=False)
    assert import_visits(db_session, path).imported == 2
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes("站点编号,到访时间\nV3,2026-10-07 08:00\n".encode("gbk"))
    assert import_visits(db_session, gbk).imported == 1


def test_record_visit_only_at_open_stations(db_session: Session, stations: dict[str, int]) -> None:
    out = record_visit(db_session, stations["V1"], worker_group="courier", service="充电")
    assert out["service"] == "charging" and out["worker_group"] == "courier"
    repo.close_station(db_session, stations["V2"], actor="test")
    with pytest.raises(ConflictError):
        record_visit(db_session, stations["V2"])


def test_codes_and_default_period() -> None:
    assert station_code(42) == "S42" and parse_station_code(" s42 ") == 42
    assert parse_station_code("V1") is None
    assert default_period(dt.date(2026, 3, 1)) == (dt.date(2026, 2, 1), dt.date(2026, 2, 28))


def test_use_and_stars_reach_the_planner_popup(
    db_session: Session, stations: dict[str, int], tmp_path: Path
) -> None:
    from geo.ops.usage import with_use
    from maps.coverage import station_popup

    path = tmp_path / "visits.csv"
    _visit_file(path, stations)
    import_visits(db_session, path, hash_key=KEY)
    frame = with_use(db_session, repo.stations_frame(db_session), start=START, end=END)
    report = {s.station_id: s for s in usage_report(db_session, start=START, end=END).stations}
    for _, row in frame.iterrows():
        assert row["visits_per_day"] == pytest.approx(report[int(row["station_id"])].visits_per_day)
        assert row["low_use"] == report[int(row["station_id"])].low_use
    low = frame[frame["station_id"] == stations["V4"]].iloc[0].to_dict()
    html = station_popup({**low, "stars": 3})
    assert "★★★☆☆" in html and "（低使用）" in html
    busy = frame[frame["station_id"] == stations["V1"]].iloc[0].to_dict()
    assert "低使用" not in station_popup(busy) and "日均到访" in station_popup(busy)
