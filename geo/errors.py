"""Domain errors raised by :mod:`geo`.

The outward layers map these to HTTP status codes (one table in :mod:`api.errors`) and to CLI
exit codes. Every error carries a plain message and, where the problem is one input, the name
of the offending ``field``.
"""

from __future__ import annotations

from typing import Any


class YizhanError(Exception):
    """Base class of every yizhan domain error."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return self.message


class InputError(YizhanError):
    """An input value is invalid (bad coordinates, unknown mode, malformed file, ...)."""


class OutsideChinaError(InputError):
    """A coordinate lies outside mainland China where it must lie inside."""


class UnsnappableError(InputError):
    """A point is farther than the snap limit from any usable network node."""


class NotFoundError(YizhanError):
    """A requested object (station, area, network, file) does not exist."""


class ConflictError(YizhanError):
    """The request conflicts with stored data (duplicate station, stale version, ...)."""


class NameTakenError(ConflictError):
    """A new object's name is taken already (a scenario of that name exists): 409 over HTTP, and bad
    input (exit 2) in the CLI, where the name was typed."""


# --- hardening (#15): optimistic concurrency
class PreconditionFailedError(ConflictError):
    """The stored version is not the one the client had read (``If-Match``); nothing was changed."""


class InfeasibleError(YizhanError):
    """A siting request cannot be met; the message says what is reachable."""


class StoreUnavailableError(YizhanError):
    """The PostGIS store cannot be reached."""


class ImportRejectedError(YizhanError):
    """A station file was rejected as a whole; ``report`` holds every row error."""

    def __init__(self, message: str, *, report: Any = None) -> None:
        super().__init__(message)
        self.report = report


# -- organisations and access (orgs) ---------------------------------------------------------------
class ForbiddenError(YizhanError):
    """The caller's key or organisation may not make this change (the message names the organisation)."""


class ImportForbiddenError(ForbiddenError, ImportRejectedError):
    """A station file holds rows the caller may not write; ``report`` lists them (nothing imported)."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's text (drivers' messages run over several), for messages;
    its class name when it has no text."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
