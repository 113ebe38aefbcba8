"""The language of the command line's messages: ``--lang zh|en`` or ``YIZHAN_LANG``, English by default.

Messages are written in English where they are raised (``geo/checks.py`` holds the wording of every
argument rule); ``data/messages.toml`` gives each wording's Chinese form as a template with the same
``{placeholders}``. :func:`translate` matches a finished English message against the templates and
fills the Chinese one with the parts it captured; a message with no entry stays English, so a new
message is never lost, only untranslated (``tests/api/test_cli_lang.py`` lists which ones must have
an entry). Reports and table headers have their own default (Chinese), see :func:`default_lang`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import cache

import typer

from geo.catalog import message_templates
from geo.checks import LANGS, check_lang

_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_chosen: list[str] = []  # the --lang given to this process, if any


@dataclass(frozen=True)
class _Template:
    pattern: re.Pattern[str]
    target: str
    literal: int  # characters outside placeholders: longer literal text matches first


def default_lang(fallback: str = "zh") -> str:
    """The language chosen with ``--lang``, else ``YIZHAN_LANG`` (zh or en), else ``fallback``
    (``zh`` for reports and table headers, ``en`` for messages)."""
    if _chosen:
        return _chosen[-1]
    value = os.environ.get("YIZHAN_LANG", "").strip().lower()
    return value if value in LANGS else fallback


def use_lang(lang: str | None) -> str:
    """Make ``lang`` the language of this run's messages (``None``/empty: back to ``YIZHAN_LANG``);
    returns the language now in effect."""
    _chosen.clear()
    if lang:
        _chosen.append(check_lang(lang, field="--lang"))
    return default_lang("en")


def command_lang(lang: str, *, fallback: str) -> str:
    """A command's own ``--lang`` (table headers and messages): when given it also becomes the
    messages' language; else :func:`default_lang` with the command's ``fallback``."""
    if lang:
        return use_lang(lang)
    return default_lang(fallback)


@cache
def _templates(lang: str) -> tuple[_Template, ...]:
    out = []
    for english, target in message_templates(lang).items():
        parts = _PLACEHOLDER.split(english)  # literal, name, literal, name, ...
        regex = "".join(
            re.escape(part) if i % 2 == 0 else f"(?P<{part}>.+?)" for i, part in enumerate(parts)
        )
        out.append(_Template(re.compile(f"^{regex}$", re.DOTALL), target, len(_PLACEHOLDER.sub("", english))))
    return tuple(sorted(out, key=lambda t: -t.literal))


def translate(message: str, *, lang: str | None = None) -> str:
    """``message`` in ``lang`` (default: the messages' language, English unless chosen): the first
    template it matches, filled in."""
    lang = lang or default_lang("en")
    if lang == "en":
        return message
    for template in _templates(lang):
        found = template.pattern.match(message)
        if found is not None:
            return template.target.format(**found.groupdict())
    return message


def with_field(message: str, field: str) -> str:
    """``message (field)``, with full-width brackets in Chinese."""
    return f"{message}（{field}）" if default_lang("en") == "zh" else f"{message} ({field})"


def say(message: str, *, err: bool = False) -> None:
    """Print one line of a command's summary in the chosen language."""
    typer.echo(translate(message), err=err)
