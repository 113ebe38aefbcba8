"""Tests for geo.hours: Chinese forms -> OSM opening_hours, evaluation in China time, day summaries.

Every normalised string is also re-checked with the independent maintained parser
(``opening_hours.validate``), and open/closed answers are cross-checked against the parser's own
interval listing.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import opening_hours
import pytest

from geo.errors import InputError
from geo.hours import (
    CHINA_TZ,
    hours_on,
    is_open_at,
    normalize_opening_hours,
    parse_when,
    validate_opening_hours,
)

MONDAY = date(2026, 11, 23)
SATURDAY = date(2026, 11, 28)
NATIONAL_DAY = date(2026, 10, 1)  # a Thursday and a public holiday (国庆节)


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm)


# -------------------------------------------------------------------------------------------------
# normalisation

CHINESE_FORMS = [
    ("24小时", "24/7"),
    ("全天", "24/7"),
    ("全天24小时", "24/7"),
    ("24小时营业", "24/7"),
    ("7×24小时", "24/7"),
    ("8:00-20:00", "08:00-20:00"),
    ("周一至周五 8:00-18:00", "Mo-Fr 08:00-18:00"),
    ("周一至周日 08:00-22:00", "Mo-Su 08:00-22:00"),
    ("８：００－２０：００", "08:00-20:00"),
    ("8:00—20:00", "08:00-20:00"),
    ("8:00–20:00", "08:00-20:00"),
    ("8:00~20:00", "08:00-20:00"),
    ("8:00～20:00", "08:00-20:00"),
    ("8:00至20:00", "08:00-20:00"),
    ("8:00 - 20:00", "08:00-20:00"),
    ("工作日 9:00-17:00", "Mo-Fr 09:00-17:00"),
    ("周末 10:00-16:00", "Sa,Su 10:00-16:00"),
    ("星期一到星期五 8:30-17:30", "Mo-Fr 08:30-17:30"),
    ("周一至五8:00-18:00", "Mo-Fr 08:00-18:00"),
    ("周六日 9:00-17:00", "Sa,Su 09:00-17:00"),
    ("周一、三、五 9:00-11:00", "Mo,We,Fr 09:00-11:00"),
    ("每天 8:30-21:00", "Mo-Su 08:30-21:00"),
    ("营业时间：8:00-20:00", "08:00-20:00"),
    ("周一至周五 8:00-12:00，14:00-18:00", "Mo-Fr 08:00-12:00,14:00-18:00"),
    ("周一至周五 8:00-18:00，周六 9:00-12:00", "Mo-Fr 08:00-18:00; Sa 09:00-12:00"),
    ("周一至周五 8:00-18:00；周末休息", "Mo-Fr 08:00-18:00; Sa,Su closed"),
    ("工作日8:00-18:00\n周末及节假日休息", "Mo-Fr 08:00-18:00; Sa,Su,PH closed"),
    ("星期一至星期六 上午8点半-晚上9点", "Mo-Sa 08:30-21:00"),
    ("早8点至晚8点", "08:00-20:00"),
    ("周一至周日全天", "24/7"),
    ("20:00-06:00", "20:00-06:00"),
]


@pytest.mark.parametrize(("text", "expected"), CHINESE_FORMS)
def test_chinese_forms_become_osm(text: str, expected: str) -> None:
    result = normalize_opening_hours(text)
    assert result == expected
    assert opening_hours.validate(result)
    # normalising is idempotent
    assert normalize_opening_hours(result) == result


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mo-Fr 08:00-20:00", "Mo-Fr 08:00-20:00"),
        ("24/7", "24/7"),
        ("mo-fr 8:00-20:00", "Mo-Fr 08:00-20:00"),
        ("Mo-Fr 08:00-18:00; Sa,Su,PH off", "Mo-Fr 08:00-18:00; Sa,Su,PH closed"),
        ('Mo-Fr 09:00-17:00 "预约开放"', 'Mo-Fr 09:00-17:00 "预约开放"'),
    ],
)
def test_valid_osm_passes_through_canonically(text: str, expected: str) -> None:
    assert normalize_opening_hours(text) == expected


@pytest.mark.parametrize("text", ["随时", "看情况", "abc", "25:00-26:00", "周八 8:00", "8:00-", "Mo-Fr 8"])
def test_invalid_hours_raise_input_error_quoting_the_text(text: str) -> None:
    with pytest.raises(InputError) as info:
        normalize_opening_hours(text)
    assert info.value.field == "opening_hours"
    assert f'"{text}"' in info.value.message
    with pytest.raises(InputError) as info:
        validate_opening_hours(text, field="开放时间")
    assert info.value.field == "开放时间"


@pytest.mark.parametrize("text", ["", "   ", "\n"])
def test_empty_hours_are_rejected_by_normalize(text: str) -> None:
    with pytest.raises(InputError) as info:
        normalize_opening_hours(text, field="hours")
    assert info.value.field == "hours"


# -------------------------------------------------------------------------------------------------
# is_open_at


def test_boundaries_of_a_daily_range() -> None:
    assert is_open_at("08:00-20:00", at(MONDAY, 7, 59)) is False
    assert is_open_at("08:00-20:00", at(MONDAY, 8, 0)) is True
    assert is_open_at("08:00-20:00", at(MONDAY, 19, 59)) is True
    assert is_open_at("08:00-20:00", at(MONDAY, 20, 0)) is False


def test_weekday_station_is_closed_on_saturday_night() -> None:
    hours = "周一至周五 8:00-22:00"
    assert is_open_at(hours, at(MONDAY + timedelta(days=4), 21, 59)) is True  # Friday
    assert is_open_at(hours, at(SATURDAY, 22, 0)) is False
    assert is_open_at(hours, at(SATURDAY, 12, 0)) is False
    assert is_open_at("Mo-Fr 08:00-20:00", at(SATURDAY, 22, 0)) is False


def test_24_7_is_always_open() -> None:
    start = at(MONDAY, 0, 0)
    for step in range(0, 7 * 24 * 4):
        assert is_open_at("24小时", start + timedelta(minutes=15 * step)) is True
    assert is_open_at("24/7", at(NATIONAL_DAY, 3, 0)) is True


def test_overnight_hours() -> None:
    hours = "20:00-06:00"
    assert is_open_at(hours, at(MONDAY, 19, 59)) is False
    assert is_open_at(hours, at(MONDAY, 20, 0)) is True
    assert is_open_at(hours, at(MONDAY, 23, 59)) is True
    assert is_open_at(hours, at(MONDAY + timedelta(days=1), 0, 0)) is True
    assert is_open_at(hours, at(MONDAY + timedelta(days=1), 5, 59)) is True
    assert is_open_at(hours, at(MONDAY + timedelta(days=1), 6, 0)) is False
    assert is_open_at(hours, at(MONDAY, 12, 0)) is False


def test_public_holidays_follow_china_calendar() -> None:
    hours = "Mo-Fr 08:00-18:00; PH off"
    assert is_open_at(hours, at(NATIONAL_DAY, 10)) is False
    assert is_open_at(hours, at(NATIONAL_DAY - timedelta(days=2), 10)) is True  # 29 Sep, a Tuesday


def test_aware_datetimes_are_converted_to_china_time() -> None:
    # 01:00 UTC = 09:00 Beijing (open); 12:30 UTC = 20:30 Beijing (closed)
    assert is_open_at("08:00-20:00", datetime(2026, 11, 23, 1, 0, tzinfo=UTC)) is True
    assert is_open_at("08:00-20:00", datetime(2026, 11, 23, 12, 30, tzinfo=UTC)) is False
    # 23:30 UTC on Sunday is 07:30 Monday in China: a Mo-Fr 07:00-20:00 station is open then,
    # though the same wall-clock time read naively (Sunday 23:30) is closed
    sunday_utc = datetime(2026, 11, 22, 23, 30, tzinfo=ZoneInfo("UTC"))
    assert is_open_at("Mo-Fr 07:00-20:00", sunday_utc) is True
    assert is_open_at("Mo-Fr 07:00-20:00", sunday_utc.replace(tzinfo=None)) is False
    # and 23:30 UTC on Friday is 07:30 Saturday in China: closed
    friday_utc = datetime(2026, 11, 27, 23, 30, tzinfo=ZoneInfo("UTC"))
    assert is_open_at("Mo-Fr 07:00-20:00", friday_utc) is False
    # a fixed-offset zone and an IANA zone give the same answer as the local time they denote
    ny = datetime(2026, 11, 23, 6, 0, tzinfo=ZoneInfo("America/New_York"))  # 19:00 in Beijing
    assert is_open_at("08:00-19:00", ny) is False
    assert is_open_at("08:00-19:01", ny) is True
    assert is_open_at("08:00-20:00", datetime(2026, 11, 23, 19, 59, tzinfo=CHINA_TZ)) is True


def test_unknown_and_missing_hours_count_as_not_open() -> None:
    assert is_open_at(None, at(MONDAY, 10)) is False
    assert is_open_at("", at(MONDAY, 10)) is False
    assert is_open_at(float("nan"), at(MONDAY, 10)) is False  # type: ignore[arg-type]
    assert hours_on(float("nan"), MONDAY) == "未知"  # type: ignore[arg-type]
    assert is_open_at("Mo-Fr 08:00-20:00 unknown", at(MONDAY, 10)) is False


def test_is_open_at_rejects_bad_input() -> None:
    with pytest.raises(InputError) as info:
        is_open_at("随时", at(MONDAY, 10))
    assert info.value.field == "opening_hours"
    with pytest.raises(InputError) as info:
        is_open_at("24/7", MONDAY)  # type: ignore[arg-type]
    assert info.value.field == "open_at"


@pytest.mark.parametrize(
    "hours",
    [
        "08:00-20:00",
        "Mo-Fr 08:00-12:00,14:00-18:00; Sa 09:00-12:00",
        "20:00-06:00",
        "Mo-Fr 08:00-18:00; PH off",
    ],
)
def test_is_open_at_agrees_with_parser_intervals(hours: str) -> None:
    # independent check: the parser's own interval listing, sampled every 10 minutes for a week
    parsed = opening_hours.OpeningHours(hours, country="CN")
    start = at(date(2026, 9, 28), 0)
    intervals = list(parsed.intervals(start, start + timedelta(days=7)))
    for step in range(7 * 24 * 6):
        moment = start + timedelta(minutes=10 * step)
        state = next(s for a, b, s, _ in intervals if a <= moment < b)
        assert is_open_at(hours, moment) is (state == opening_hours.State.OPEN), moment


# -------------------------------------------------------------------------------------------------
# hours_on


@pytest.mark.parametrize(
    ("hours", "day", "expected"),
    [
        ("08:00-20:00", MONDAY, "08:00–20:00"),
        ("周一至周五 8:00-20:00", MONDAY, "08:00–20:00"),
        ("周一至周五 8:00-20:00", SATURDAY, "休息"),
        ("24小时", MONDAY, "24小时"),
        ("24/7", SATURDAY, "24小时"),
        ("周一至周五 24小时", MONDAY, "24小时"),
        ("Mo-Fr 08:00-12:00,14:00-18:00", MONDAY, "08:00–12:00、14:00–18:00"),
        ("20:00-06:00", MONDAY, "00:00–06:00、20:00–次日06:00"),
        ("Mo-Su 08:00-24:00", MONDAY, "08:00–24:00"),
        ("Mo-Fr 08:00-18:00; Sa,Su,PH off", NATIONAL_DAY, "休息"),
        ("Mo-Fr 08:00-18:00 unknown", MONDAY, "未知"),
        (None, MONDAY, "未知"),
        ("", MONDAY, "未知"),
    ],
)
def test_hours_on(hours: str | None, day: date, expected: str) -> None:
    assert hours_on(hours, day) == expected


def test_hours_on_datetime_uses_china_date() -> None:
    # 17:00 UTC on Friday is 01:00 Saturday in China
    friday_evening_utc = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)
    assert hours_on("Mo-Fr 08:00-20:00", friday_evening_utc) == "休息"
    with pytest.raises(InputError) as info:
        hours_on("24/7", "2026-11-23")  # type: ignore[arg-type]
    assert info.value.field == "day"


# -------------------------------------------------------------------------------------------------
# parse_when


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-22 22:00", datetime(2026, 11, 22, 22, 0)),
        ("2026-11-22T22:00", datetime(2026, 11, 22, 22, 0)),
        ("2026-11-22 22:00:30", datetime(2026, 11, 22, 22, 0, 30)),
        ("2026/11/22 8:00", datetime(2026, 11, 22, 8, 0)),
        ("2026-1-5 7:05", datetime(2026, 1, 5, 7, 5)),
        ("2026年11月22日 22:00", datetime(2026, 11, 22, 22, 0)),
        ("２０２６－１１－２２　２２：００", datetime(2026, 11, 22, 22, 0)),
        ("2026-11-22T14:00Z", datetime(2026, 11, 22, 14, 0, tzinfo=UTC)),
        ("2026-11-22T22:00+08:00", datetime(2026, 11, 22, 22, 0, tzinfo=timezone(timedelta(hours=8)))),
    ],
)
def test_parse_when(text: str, expected: datetime) -> None:
    assert parse_when(text) == expected


def test_parse_when_bare_time_is_today_in_china() -> None:
    result = parse_when("22:00")
    assert (result.hour, result.minute) == (22, 0)
    assert result.tzinfo is None
    today = datetime.now(CHINA_TZ).date()
    assert result.date() in {today, today + timedelta(days=1)}  # tolerate a midnight crossing


@pytest.mark.parametrize("text", ["", "  ", "tomorrow", "2026-11-22", "2026-13-01 10:00", "22点"])
def test_parse_when_rejects_bad_text(text: str) -> None:
    with pytest.raises(InputError) as info:
        parse_when(text)
    assert info.value.field == "open_at"


def test_parse_when_result_drives_is_open_at() -> None:
    assert is_open_at("Mo-Fr 08:00-20:00", parse_when("2026-11-22 22:00")) is False  # Sunday
    assert is_open_at("Mo-Fr 08:00-20:00", parse_when("2026-11-23T02:00Z")) is True  # 10:00 Monday
