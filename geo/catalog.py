"""Checklists and defaults the project keeps in ``data/`` (station kinds, amenities, worker groups,
travel modes, import header aliases), loaded once and cached.

Codes are English and stored; Chinese labels are what people see.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from geo.config import PROJECT_ROOT, in_checkout
from geo.errors import InputError


def _data_dir() -> Path:
    """``data/`` of the checkout, or the copy a wheel ships as ``geo/_data`` (built by ``setup.py``)."""
    if in_checkout():
        return PROJECT_ROOT / "data"
    return Path(str(resources.files("geo").joinpath("_data")))


#: where the checklists live: the one place every module reads ``data/*.toml`` from
DATA_DIR = _data_dir()


@dataclass(frozen=True)
class Entry:
    """One checklist entry: a stored ``code`` with its labels and accepted aliases."""

    code: str
    label_zh: str
    label_en: str
    aliases: tuple[str, ...] = ()
    extra: tuple[tuple[str, Any], ...] = ()

    def get(self, key: str, default: Any = None) -> Any:
        return dict(self.extra).get(key, default)


def _norm(text: str) -> str:
    return "".join(str(text).split()).lower()


@cache
def _load_toml(name: str) -> dict[str, Any]:
    path: Path = DATA_DIR / name
    with path.open("rb") as fh:
        return tomllib.load(fh)


@cache
def _entries(name: str) -> tuple[Entry, ...]:
    out = []
    for code, spec in _load_toml(name).items():
        known = {"label_zh", "label_en", "aliases"}
        out.append(
            Entry(
                code=code,
                label_zh=spec.get("label_zh", code),
                label_en=spec.get("label_en", code),
                aliases=tuple(spec.get("aliases", ())),
                extra=tuple((k, v) for k, v in spec.items() if k not in known),
            )
        )
    return tuple(out)


@cache
def _lookup(name: str) -> dict[str, str]:
    table: dict[str, str] = {}
    for e in _entries(name):
        for word in (e.code, e.label_zh, e.label_en, *e.aliases):
            table.setdefault(_norm(word), e.code)
    return table


def station_kinds() -> tuple[Entry, ...]:
    """Return the station kinds (``data/station_kinds.toml``)."""
    return _entries("station_kinds.toml")


def amenities() -> tuple[Entry, ...]:
    """Return the amenity checklist (``data/amenities.toml``)."""
    return _entries("amenities.toml")


def worker_groups() -> tuple[Entry, ...]:
    """Return the worker groups (``data/worker_groups.toml``)."""
    return _entries("worker_groups.toml")


def station_kind_codes() -> tuple[str, ...]:
    return tuple(e.code for e in station_kinds())


def amenity_codes() -> tuple[str, ...]:
    return tuple(e.code for e in amenities())


def worker_group_codes() -> tuple[str, ...]:
    return tuple(e.code for e in worker_groups())


STATION_STATUSES: tuple[str, ...] = ("planned", "open", "suspended", "closed")
STATUS_ALIASES: dict[str, str] = {
    "planned": "planned", "规划": "planned", "筹建": "planned", "在建": "planned", "建设中": "planned",
    "规划中": "planned", "待建": "planned", "筹建中": "planned",
    "open": "open", "开放": "open", "运营": "open", "正常": "open", "已建成": "open", "营业": "open",
    "closed": "closed", "关闭": "closed", "撤销": "closed", "已关闭": "closed", "已撤销": "closed",
    # suspended: paused for now (and what an accepted "closed" worker report sets until a person checks)
    "suspended": "suspended", "暂停": "suspended", "停用": "suspended", "暂停服务": "suspended",
    "待核实": "suspended",
}


def resolve_kind(text: str, *, field: str = "kind") -> str:
    """Map a code, Chinese label or alias to a station kind code.

    Raises
    ------
    InputError
        If the text names no known kind; the message lists the known kinds.
    """
    code = _lookup("station_kinds.toml").get(_norm(text))
    if code is None:
        known = "、".join(f"{e.label_zh}({e.code})" for e in station_kinds())
        raise InputError(f"unknown station kind {text!r}; known kinds: {known}", field=field)
    return code


def resolve_amenity(text: str, *, field: str = "amenities") -> str:
    """Map a code, Chinese label or alias to an amenity code (raises :class:`InputError`)."""
    code = _lookup("amenities.toml").get(_norm(text))
    if code is None:
        known = ", ".join(amenity_codes())
        raise InputError(f"unknown amenity {text!r}; known amenities: {known}", field=field)
    return code


def resolve_worker_group(text: str, *, field: str = "group") -> str:
    """Map a code or label to a worker group code (raises :class:`InputError`)."""
    code = _lookup("worker_groups.toml").get(_norm(text))
    if code is None:
        known = ", ".join(worker_group_codes())
        raise InputError(f"unknown worker group {text!r}; known groups: {known}", field=field)
    return code


def resolve_status(text: str, *, field: str = "status") -> str:
    """Map a status word (English or Chinese) to ``planned``, ``open``, ``suspended`` or ``closed``."""
    code = STATUS_ALIASES.get(_norm(text))
    if code is None:
        raise InputError(f"unknown status {text!r}; use one of {', '.join(STATION_STATUSES)}", field=field)
    return code


@dataclass(frozen=True)
class TravelMode:
    """One travel mode of ``data/modes.toml``: speed in km/h, the OSM access rule, one-way default,
    the Amap navigation word and the map colour."""

    code: str
    label_zh: str
    label_en: str
    speed_kph: float
    access: str
    respect_oneway: bool
    amap_mode: str
    color: str


@cache
def travel_modes() -> dict[str, TravelMode]:
    """Return every travel mode by code, in file order (``data/modes.toml``)."""
    return {
        code: TravelMode(
            code=code, label_zh=spec.get("label_zh", code), label_en=spec.get("label_en", code),
            speed_kph=float(spec["speed_kph"]), access=spec.get("access", "foot"),
            respect_oneway=bool(spec.get("respect_oneway", False)), amap_mode=spec.get("amap_mode", "walk"),
            color=spec.get("color", "#555555"),
        )
        for code, spec in _load_toml("modes.toml").items()
    }


def mode_codes() -> tuple[str, ...]:
    """Return the travel mode codes (``walk``, ``ebike``, …) in file order."""
    return tuple(travel_modes())


def mode_speeds_kph() -> dict[str, float]:
    """Return the default speed of every travel mode in km/h (``data/modes.toml``)."""
    return {code: mode.speed_kph for code, mode in travel_modes().items()}


def resolve_mode(mode: str, *, field: str = "mode") -> str:
    """Check a travel mode code (``walk`` or ``ebike``) and return it."""
    speeds = mode_speeds_kph()
    if mode not in speeds:
        raise InputError(f"unknown mode {mode!r}; use one of {', '.join(speeds)}", field=field)
    return mode


def column_aliases() -> dict[str, tuple[str, ...]]:
    """Return the station-file header aliases, field -> accepted header names."""
    return {k: tuple(v) for k, v in _load_toml("column_aliases.toml").items()}


def message_templates(lang: str) -> dict[str, str]:
    """English message templates and their wording in ``lang`` (``data/messages.toml``; empty for en).

    Keys and values use the same ``{placeholder}`` names; see :mod:`api.cli.lang`.
    """
    table = _load_toml("messages.toml").get(lang, {})
    return {str(k): str(v) for k, v in table.items()}


#: the coded columns of people's tables and what their codes are: travel modes, worker groups, host types
LABELLED_COLUMNS: dict[str, str] = {"mode": "mode", "group": "group", "main_group": "group",
                                    "host_type": "host_type"}


def code_label_zh(column: str, code: object) -> object:
    """The Chinese label people read for a coded cell of ``column`` (:data:`LABELLED_COLUMNS`): a travel
    mode (``data/modes.toml``), a worker group (``data/worker_groups.toml``) or a host type
    (``data/host_rules.toml``); an unknown code or column: ``code`` as it is."""
    kind = LABELLED_COLUMNS.get(column)
    if kind is None or not isinstance(code, str):
        return code
    return _labels_zh(kind).get(code, code)


@cache
def _labels_zh(kind: str) -> dict[str, str]:
    if kind == "mode":
        return {code: mode.label_zh for code, mode in travel_modes().items()}
    if kind == "group":
        return {e.code: e.label_zh for e in worker_groups()}
    from geo.siting.candidates import host_labels_zh

    return host_labels_zh()
