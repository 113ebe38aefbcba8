"""Station opening hours in OpenStreetMap ``opening_hours`` syntax.

Stations store their hours as OSM ``opening_hours`` strings (``"24/7"``, ``"Mo-Fr 08:00-20:00"``,
``"Mo-Fr 08:00-18:00; Sa,Su,PH off"``). Union spreadsheets hold them in Chinese (``"24小时"``,
``"周一至周五 8:00-18:00"``, ``"８：００－２０：００"``); :func:`normalize_opening_hours` rewrites the common
forms to OSM syntax and validates the result with the maintained parser ``opening_hours``
(opening-hours-py). Evaluation uses China's calendar of public holidays (``PH``) and local China
time: naive datetimes are taken as Asia/Shanghai wall-clock time, aware ones are converted to it.

Hours are not geometry; no CRS applies to this module.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo

import opening_hours

from geo.errors import InputError

__all__ = [
    "CHINA_TZ",
    "hours_on",
    "is_open_at",
    "normalize_opening_hours",
    "parse_when",
    "validate_opening_hours",
]

logger = logging.getLogger(__name__)

#: The time zone every station's hours are read in.
CHINA_TZ: Final = ZoneInfo("Asia/Shanghai")
#: Country whose public holidays ``PH`` refers to.
_COUNTRY: Final = "CN"

# Human strings returned by hours_on.
ALL_DAY_TEXT: Final = "24小时"
CLOSED_TEXT: Final = "休息"
UNKNOWN_TEXT: Final = "未知"
_NEXT_DAY: Final = "次日"
_RANGE_DASH: Final = "–"  # en dash between times in human strings
_LIST_SEP: Final = "、"

_EXAMPLES: Final = '"Mo-Fr 08:00-20:00", "24/7", "周一至周五 8:00-18:00" or "24小时"'

# --------------------------------------------------------------------------------------------------
# Chinese forms -> OSM syntax

_DAY_CODES: Final = "Mo|Tu|We|Th|Fr|Sa|Su|PH"
_CN_DAY: Final[dict[str, str]] = {
    "一": "Mo",
    "二": "Tu",
    "三": "We",
    "四": "Th",
    "五": "Fr",
    "六": "Sa",
    "日": "Su",
    "天": "Su",
    "七": "Su",
}
_DAY_CHARS: Final = "一二三四五六日天七"
_PREFIX: Final = "(?:周|星期|礼拜)"
_RANGE_WORDS: Final = "至到~〜\\-—–―"
# 周一至周五, 周一到五, 周六日, 周一、三、五, 周六和周日
_WEEKDAYS_RE: Final = re.compile(
    rf"{_PREFIX}[{_DAY_CHARS}](?:\s*(?:[{_RANGE_WORDS}]|[、,和及与]?)\s*{_PREFIX}?[{_DAY_CHARS}])*"
)
# a whole text that only says "all day, every day"
_ALL_DAY_RE: Final = re.compile(r"(?:7\s*[x×*]\s*)?24\s*(?:小时|h|H)|全天候?")
_ALL_DAY_ONLY_RE: Final = re.compile(
    r"(?:全年无休|全年|每天|每日|天天|全周|(?:7\s*[x×*]\s*)?24\s*(?:小时|h|H)|全天候?|营业|开放|服务|开门|[\s,、;.。])+"
)
_LABEL_RE: Final = re.compile(r"(?:营业|开放|服务|办公|工作)时间\s*:?")
_CLOSED_RE: Final = re.compile(r"不营业|不开放|休息|闭馆|闭店|关闭|歇业|停业|不开|关门")
_HOLIDAY_RE: Final = re.compile(r"法定节假日|法定假日|节假日|节日|假日")
_FILLER_RE: Final = re.compile(r"营业|开放|服务|开门|均可|全天候")
_HALF_DAY_RE: Final = re.compile(
    r"(上午|早上|早晨|早|中午|下午|傍晚|晚上|晚间|晚|夜间|夜里|夜晚|凌晨)\s*(?=\d)"
)
# 8:00, 8：00 (after NFKC), 8点, 8点半, 8点30, 8时30分
_TIME_RE: Final = re.compile(r"(?<![\d:])(@?)(\d{1,2})\s*(?::\s*(\d{2})|[点时]\s*(半|\d{1,2})?\s*分?)")
_PM_WORDS: Final = frozenset({"下午", "傍晚", "晚上", "晚间", "晚", "夜间", "夜里", "夜晚"})


def _weekday_repl(match: re.Match[str]) -> str:
    """Turn a run of Chinese weekday names into an OSM weekday selector."""
    tokens = re.findall(rf"[{_DAY_CHARS}]|[{_RANGE_WORDS}]", re.sub(_PREFIX, "", match.group(0)))
    parts: list[str] = []
    pending_range = False
    for token in tokens:
        if token in _CN_DAY:
            code = _CN_DAY[token]
            if pending_range and parts:
                parts[-1] = f"{parts[-1]}-{code}"
            else:
                parts.append(code)
            pending_range = False
        else:
            pending_range = True
    return f" {','.join(parts)} "


def _time_repl(match: re.Match[str]) -> str:
    marker, hour_text, minute_colon, minute_cn = match.groups()
    hour = int(hour_text)
    if marker:  # "@" marks a 下午/晚上 time
        if hour < 12:
            hour += 12
        elif hour == 12:
            hour = 24
    if minute_colon is not None:
        minute = int(minute_colon)
    elif minute_cn == "半":
        minute = 30
    elif minute_cn:
        minute = int(minute_cn)
    else:
        minute = 0
    return f"{hour:02d}:{minute:02d}"


def _half_day_repl(match: re.Match[str]) -> str:
    return "@" if match.group(1) in _PM_WORDS else ""


def _chinese_to_osm(text: str) -> str:
    """Rewrite common Chinese (and full-width) opening-hours forms into OSM syntax.

    The result is not validated here; unknown words survive and make the parser fail.
    """
    s = unicodedata.normalize("NFKC", text)  # full-width digits, colons, dashes, commas, spaces
    s = re.sub(r"[\r\n]+", ";", s).strip()
    s = _LABEL_RE.sub(" ", s)
    if _ALL_DAY_ONLY_RE.fullmatch(s) and _ALL_DAY_RE.search(s):
        return "24/7"
    s = _ALL_DAY_RE.sub(" 00:00-24:00 ", s)
    s = _CLOSED_RE.sub(" off ", s)
    s = _HOLIDAY_RE.sub(" PH ", s)
    s = s.replace("工作日", " Mo-Fr ")
    s = re.sub(r"周末|双休日|双休", " Sa,Su ", s)
    s = re.sub(r"全年无休|每天|每日|天天|全周", " Mo-Su ", s)
    s = _WEEKDAYS_RE.sub(_weekday_repl, s)
    s = _FILLER_RE.sub(" ", s)
    s = _HALF_DAY_RE.sub(_half_day_repl, s)
    s = _TIME_RE.sub(_time_repl, s)
    s = s.replace("@", "")
    s = re.sub(rf"[{_RANGE_WORDS}]", "-", s)
    # a bare hour before a range end: "8-20:00" -> "08:00-20:00"
    s = re.sub(r"(?<![\d:])(\d{1,2})(?=\s*-\s*\d{2}:\d{2})", lambda m: f"{int(m.group(1)):02d}:00", s)
    s = re.sub(r"\s*-\s*", "-", s)
    s = s.replace("、", ",")
    # day lists joined by 和/及/与 or commas: "Sa,Su 及 PH" -> "Sa,Su,PH"
    s = re.sub(rf"(?<={_DAY_CODES})\s*[,和及与]\s*(?=(?:{_DAY_CODES})\b)", ",", s)
    # a new rule after a time: "08:00-18:00, Sa 09:00-12:00" -> "08:00-18:00; Sa 09:00-12:00"
    s = re.sub(rf"(?<=\d)\s*[,;]\s*(?=(?:{_DAY_CODES})\b)", "; ", s)
    # "Mo-Fr: 08:00" -> "Mo-Fr 08:00"
    s = re.sub(rf"(?<={_DAY_CODES})\s*:?\s*(?=\d)", " ", s)
    # time lists: "08:00-12:00 14:00-18:00" / "08:00-12:00, 14:00-18:00"
    s = re.sub(r"(?<=\d{2}:\d{2})\s*,?\s+(?=\d{2}:\d{2})", ",", s)
    s = re.sub(r"(?<=\d{2}:\d{2})\s*,\s*(?=\d{2}:\d{2})", ",", s)
    s = re.sub(r"\s*;\s*", "; ", s)
    s = re.sub(r"\s+", " ", s)
    return s.strip(" ;,:")


# --------------------------------------------------------------------------------------------------
# validation


def _invalid(text: str, field: str) -> InputError:
    message = (
        f'opening hours "{text}" are not understood: use OSM opening_hours syntax or a common '
        f"Chinese form, e.g. {_EXAMPLES}"
    )
    return InputError(message, field=field)


def _canonical(osm: str) -> str:
    parsed = opening_hours.OpeningHours(osm)
    if parsed.warnings:
        logger.debug("opening hours %r: %s", osm, "; ".join(parsed.warnings))
    result = str(parsed)
    # "Mo-Su 00:00-24:00" prints as "Mo-Su"; say it the usual way
    return "24/7" if result == "Mo-Su" else result


@lru_cache(maxsize=8192)
def _normalize_cached(text: str) -> str | None:
    stripped = text.strip()
    if opening_hours.validate(stripped):
        return _canonical(stripped)
    converted = _chinese_to_osm(stripped)
    if converted and opening_hours.validate(converted):
        logger.debug("opening hours %r -> %r", text, converted)
        return _canonical(converted)
    logger.debug("opening hours %r -> %r: rejected by the parser", text, converted)
    return None


def normalize_opening_hours(text: str, *, field: str = "opening_hours") -> str:
    """Return the OSM ``opening_hours`` form of station hours, accepting common Chinese forms.

    Valid OSM syntax is returned in the parser's canonical spelling (``"mo-fr 8:00-20:00"`` →
    ``"Mo-Fr 08:00-20:00"``, ``off`` → ``closed``). Otherwise these forms are rewritten:

    * ``"24小时"``, ``"全天"``, ``"全天24小时"``, ``"7x24小时"``, ``"24小时营业"`` → ``"24/7"``
    * times ``"8:00"``, ``"８：００"``, ``"8点"`` → ``"08:00"``; ``"8点半"`` → ``"08:30"``;
      ``"下午6点"`` → ``"18:00"``
    * range marks ``-``, ``－``, ``—``, ``–``, ``~``, ``～``, ``至``, ``到`` → ``-``
    * weekdays ``"周一至周五"``/``"星期一到星期五"`` → ``"Mo-Fr"``, ``"周六日"`` → ``"Sa,Su"``,
      ``"工作日"`` → ``"Mo-Fr"``, ``"周末"`` → ``"Sa,Su"``, ``"每天"`` → ``"Mo-Su"``,
      ``"节假日"`` → ``"PH"``, ``"休息"``/``"闭馆"`` → ``"off"``
    * several rules separated by ``；``, ``，`` or new lines → ``"; "``

    Parameters
    ----------
    text : str
        The hours as written.
    field : str, default "opening_hours"
        Field name reported in the error.

    Returns
    -------
    str
        A string accepted by the OSM ``opening_hours`` parser.

    Raises
    ------
    geo.errors.InputError
        If the text is empty or cannot be understood (``field`` is set; the message quotes the text).
    """
    if not isinstance(text, str) or not text.strip():
        message = f"opening hours are empty: give them as e.g. {_EXAMPLES}, or leave the field out"
        raise InputError(message, field=field)
    result = _normalize_cached(text)
    if result is None:
        raise _invalid(text, field)
    return result


def validate_opening_hours(text: str, *, field: str = "opening_hours") -> str:
    """Validate and normalise station hours; the architecture's name for :func:`normalize_opening_hours`.

    Parameters
    ----------
    text : str
        The hours as written (OSM syntax or a common Chinese form).
    field : str, default "opening_hours"
        Field name reported in the error.

    Returns
    -------
    str
        The OSM ``opening_hours`` string.

    Raises
    ------
    geo.errors.InputError
        If the text is empty or cannot be understood.
    """
    return normalize_opening_hours(text, field=field)


@lru_cache(maxsize=8192)
def _parsed(osm: str) -> opening_hours.OpeningHours:
    return opening_hours.OpeningHours(osm, country=_COUNTRY)


def _parse_hours(text: str) -> opening_hours.OpeningHours:
    return _parsed(normalize_opening_hours(text))


def _is_missing(text: object) -> bool:
    """None, NaN (as pandas uses for empty cells) or a blank string."""
    if text is None:
        return True
    if isinstance(text, float):
        return text != text  # NaN
    return isinstance(text, str) and not text.strip()


def _china_local(when: datetime, *, field: str) -> datetime:
    """Naive China wall-clock time for a naive (already local) or aware datetime."""
    if not isinstance(when, datetime):
        message = f"expected a date and time, got {type(when).__name__} {when!r}"
        raise InputError(message, field=field)
    if when.tzinfo is None or when.utcoffset() is None:
        return when
    return when.astimezone(CHINA_TZ).replace(tzinfo=None)


# --------------------------------------------------------------------------------------------------
# evaluation


def is_open_at(text: str | None, when: datetime) -> bool:
    """Whether a station with these hours is open at a moment.

    Parameters
    ----------
    text : str or None
        Hours in OSM syntax or a common Chinese form (see :func:`normalize_opening_hours`).
        ``None``, NaN or an empty string means the hours are unknown, and unknown counts as *not open*:
        a worker should not be sent to a station that may be locked. Rules marked ``unknown`` in
        the hours count the same way.
    when : datetime.datetime
        Naive datetimes are China local time (Asia/Shanghai); aware ones are converted to it.

    Returns
    -------
    bool
        True only when the hours say the station is open at ``when``. Public holidays (``PH``) follow
        China's calendar.

    Raises
    ------
    geo.errors.InputError
        ``field="opening_hours"`` for hours that cannot be understood, ``field="open_at"`` when
        ``when`` is not a datetime.
    """
    local = _china_local(when, field="open_at")
    if text is None or _is_missing(text):
        return False
    return bool(_parse_hours(text).is_open(local))


def _clock(moment: datetime, day_start: datetime) -> str:
    """``HH:MM`` relative to the day: ``24:00`` at the next midnight, ``次日HH:MM`` after it."""
    delta = moment - day_start
    if delta < timedelta(days=1):
        return moment.strftime("%H:%M")
    if delta == timedelta(days=1):
        return "24:00"
    if delta >= timedelta(days=2):
        return f"{_NEXT_DAY}24:00"
    return f"{_NEXT_DAY}{moment.strftime('%H:%M')}"


def hours_on(text: str | None, day: date) -> str:
    """A worker-facing summary of the hours on one day ("today's hours").

    Parameters
    ----------
    text : str or None
        Hours in OSM syntax or a common Chinese form. ``None``, NaN or empty gives ``"未知"`` (unknown).
    day : datetime.date
        The day, in China local time. A datetime is reduced to its China-local date.

    Returns
    -------
    str
        ``"24小时"`` when open all day; ``"休息"`` when closed all day; ``"未知"`` when the day's
        state is unknown; otherwise the open spans, e.g. ``"08:00–20:00"`` or
        ``"08:00–12:00、14:00–18:00"``. A span running past midnight ends with ``次日`` (next day),
        e.g. ``"00:00–06:00、20:00–次日06:00"``.

    Raises
    ------
    geo.errors.InputError
        ``field="opening_hours"`` for hours that cannot be understood, ``field="day"`` for a non-date.
    """
    if isinstance(day, datetime):
        day = _china_local(day, field="day").date()
    if not isinstance(day, date):
        message = f"expected a date, got {type(day).__name__} {day!r}"
        raise InputError(message, field="day")
    if text is None or _is_missing(text):
        return UNKNOWN_TEXT
    parsed = _parse_hours(text)
    start = datetime.combine(day, time())
    end = start + timedelta(days=1)
    spans: list[tuple[datetime, datetime]] = []
    unknown = False
    for span_start, span_end, state, _comment in parsed.intervals(start, end + timedelta(days=1)):
        if span_start >= end:
            break
        if state == opening_hours.State.OPEN:
            spans.append((span_start, span_end))
        elif state == opening_hours.State.UNKNOWN:
            unknown = True
    if not spans:
        return UNKNOWN_TEXT if unknown else CLOSED_TEXT
    if len(spans) == 1 and spans[0][0] <= start and spans[0][1] >= end:
        return ALL_DAY_TEXT
    parts = [f"{_clock(max(a, start), start)}{_RANGE_DASH}{_clock(b, start)}" for a, b in spans]
    return _LIST_SEP.join(parts)


# --------------------------------------------------------------------------------------------------
# CLI helper

_WHEN_FORMATS_HELP: Final = '"2026-11-22 22:00", "2026-11-22T22:00+08:00", "2026/11/22 22:00" or "22:00"'


def parse_when(text: str) -> datetime:
    """Parse a moment given on the command line or in a query string.

    Parameters
    ----------
    text : str
        ``"2026-11-22 22:00"``, ``"2026-11-22T22:00:00"``, ``"2026/11/22 8:00"``,
        ``"2026年11月22日 22:00"``, an ISO string with an offset (``"2026-11-22T14:00Z"``,
        ``"…+08:00"``), a bare time ``"22:00"`` (today in China), or ``"now"``.

    Returns
    -------
    datetime.datetime
        Naive China local time for strings without an offset (and for ``"now"`` and bare times);
        an aware datetime when the string has an offset.

    Raises
    ------
    geo.errors.InputError
        ``field="open_at"`` when the text is empty or not a date and time.
    """
    if not isinstance(text, str) or not text.strip():
        message = f"the time is empty: give it as {_WHEN_FORMATS_HELP}"
        raise InputError(message, field="open_at")
    s = unicodedata.normalize("NFKC", text).strip()
    if s.lower() == "now":
        return datetime.now(CHINA_TZ).replace(tzinfo=None, second=0, microsecond=0)
    s = re.sub(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]?\s*", r"\1-\2-\3 ", s)
    s = s.replace("/", "-").strip()
    s = re.sub(r"^(\d{4})-(\d{1,2})-(\d{1,2})", lambda m: f"{m[1]}-{int(m[2]):02d}-{int(m[3]):02d}", s)
    s = re.sub(r"(?<![\d:])(\d):(\d{2})", r"0\1:\2", s)
    s = re.sub(r"(?<=\d)\s+(?=\d{2}:)", " ", s)
    if re.fullmatch(r"\d{2}:\d{2}(?::\d{2})?", s):
        today = datetime.now(CHINA_TZ).date()
        s = f"{today.isoformat()} {s}"
    if not re.search(r"\d{2}:\d{2}", s):
        message = f'"{text}" is not a date and time: give it as {_WHEN_FORMATS_HELP}'
        raise InputError(message, field="open_at")
    try:
        return datetime.fromisoformat(s)
    except ValueError as exc:
        message = f'"{text}" is not a date and time: give it as {_WHEN_FORMATS_HELP}'
        raise InputError(message, field="open_at") from exc
