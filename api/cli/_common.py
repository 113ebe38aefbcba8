"""Shared helpers for the ``yizhan`` command line: one-line errors and non-zero exit codes."""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import typer

from geo.errors import ConflictError, ImportRejectedError, InputError, NotFoundError, YizhanError

P = ParamSpec("P")
R = TypeVar("R")

#: exit codes: 2 bad input / rejected file / a name in use (the value typed conflicts with the store),
#: 3 not found, 4 store unavailable, 1 the request cannot be met (an infeasible siting target) and
#: any other domain error
EXIT_CODES: tuple[tuple[type[YizhanError], int], ...] = (
    (ImportRejectedError, 2),
    (InputError, 2),
    (ConflictError, 2),
    (NotFoundError, 3),
)


def exit_code_for(exc: YizhanError) -> int:
    from geo.errors import StoreUnavailableError

    if isinstance(exc, StoreUnavailableError):
        return 4
    for cls, code in EXIT_CODES:
        if isinstance(exc, cls):
            return code
    return 1


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``error: message`` on one line to stderr (in the chosen ``--lang``) and return the Exit."""
    from api.cli.lang import translate

    typer.echo(translate(f"error: {translate(message)}"), err=True)
    return typer.Exit(code)


#: top-level modules of the optional extras (pyproject.toml) → the extra that brings them
EXTRA_FOR_MODULE: dict[str, str] = {
    "fastapi": "api", "starlette": "api", "uvicorn": "api", "orjson": "api", "pydantic_settings": "api",
    "multipart": "api", "folium": "maps", "branca": "maps", "matplotlib": "maps",
}


def missing_extra(exc: ModuleNotFoundError) -> str | None:
    """The extra (``api``/``maps``) whose absence raised ``exc``, or None for any other missing module."""
    return EXTRA_FOR_MODULE.get((exc.name or "").split(".")[0])


def domain_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn :class:`geo.errors.YizhanError` into a one-line message and a non-zero exit code; likewise
    a command that needs an extra that is not installed (``pip install 'yizhan[maps]'``)."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except YizhanError as exc:
            from api.cli.lang import translate, with_field

            message = translate(exc.message)
            named = exc.field and exc.field.startswith("--") and exc.message.startswith(exc.field)
            if exc.field and not named:  # a flag's own check names it already
                message = with_field(message, exc.field)
            raise fail(message, exit_code_for(exc)) from None
        except ModuleNotFoundError as exc:
            extra = missing_extra(exc)
            if extra is None:
                raise
            raise fail(f"this command needs the {extra!r} extra: pip install 'yizhan[{extra}]'", 1) from None

    return wrapper


def print_json(obj: Any) -> None:
    """Print ``obj`` as UTF-8 JSON (Chinese kept readable) on stdout."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, indent=2, default=str) + "\n")


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )


def mode_help(text: str = "travel mode") -> str:
    """The ``--mode`` help naming every mode of ``data/modes.toml`` (the CLI's choices come from data)."""
    from geo.catalog import mode_codes

    return f"{text}: {' or '.join(mode_codes())}"
