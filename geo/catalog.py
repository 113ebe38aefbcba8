"""Checklists and defaults the project keeps in ``data/`` (station kinds, amenities, worker groups,
travel modes, import header aliases), loaded once and cached.

Codes are English and stored; Chinese labels are what people see.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from geo.config import PROJECT_ROOT
from geo.errors import InputError

DATA_DIR = PROJECT_ROOT / "data"


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


STATION_STATUSES: tuple[str, ...] = ("planned", "open", "closed")
STATUS_ALIASES: dict[str, str] = {
    "planned": "planned", "规划": "planned", "筹建": "planned", "在建": "planned", "建设中": "planned",
    "规划中": "planned", "待建": "planned", "筹建中": "planned",
    "open": "open", "开放": "open", "运营": "open", "正常": "open", "已建成": "open", "营业": "open",
    "closed": "closed", "关闭": "closed", "停用": "closed", "暂停": "closed", "撤销": "closed",
    "已关闭": "closed", "已撤销": "closed",
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
    """Map a status word (English or Chinese) to ``planned``, ``open`` or ``closed``."""
    code = STATUS_ALIASES.get(_norm(text))
    if code is None:
        raise InputError(f"unknown status {text!r}; use one of planned, open, closed", field=field)
    return code


def mode_speeds_kph() -> dict[str, float]:
    """Return the default speed of every travel mode in km/h (``data/modes.toml``)."""
    return {code: float(spec["speed_kph"]) for code, spec in _load_toml("modes.toml").items()}


def resolve_mode(mode: str, *, field: str = "mode") -> str:
    """Check a travel mode code (``walk`` or ``ebike``) and return it."""
    speeds = mode_speeds_kph()
    if mode not in speeds:
        raise InputError(f"unknown mode {mode!r}; use one of {', '.join(speeds)}", field=field)
    return mode


def column_aliases() -> dict[str, tuple[str, ...]]:
    """Return the station-file header aliases, field -> accepted header names."""
    return {k: tuple(v) for k, v in _load_toml("column_aliases.toml").items()}
