"""THE one table mapping :mod:`geo.errors` classes to HTTP status codes, and the exception handlers.

Every error body is ``{"detail": <message>, "field": <offending input or null>}``; request validation
errors add ``"errors"`` (pydantic's list; a discriminated body's missing or unknown tag in our
wording, naming the tag's field and its values) and rejected imports add ``"row_errors"``. Database outages
are 503 (the engine pings its pool, so the API recovers by itself when the database is back).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, is_dataclass
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from geo.errors import (
    ConflictError,
    ForbiddenError,
    ImportRejectedError,
    InfeasibleError,
    InputError,
    NotFoundError,
    OutsideChinaError,
    PreconditionFailedError,
    StoreUnavailableError,
    UnsnappableError,
    YizhanError,
)
from geo.text import control_char_message

logger = logging.getLogger(__name__)

#: domain error class -> HTTP status; the first matching row (most specific first) wins
ERROR_STATUS: tuple[tuple[type[YizhanError], int], ...] = (
    (ForbiddenError, 403),  # organisations and access (orgs): before ImportRejectedError
    (ImportRejectedError, 422),
    (OutsideChinaError, 422),
    (UnsnappableError, 422),
    (InputError, 422),
    (NotFoundError, 404),
    (PreconditionFailedError, 412),  # hardening (#15): stale If-Match
    (ConflictError, 409),
    (InfeasibleError, 422),
    (StoreUnavailableError, 503),
)

STORE_DOWN_MESSAGE = "the station store (PostGIS) is unavailable; try again shortly"


def status_for(exc: YizhanError) -> int:
    """Return the HTTP status of a domain error (400 for a YizhanError subclass not in the table)."""
    for cls, status in ERROR_STATUS:
        if isinstance(exc, cls):
            return status
    return 400


def error_body(detail: str, field: str | None = None, **extra: Any) -> dict[str, Any]:
    """Build the one error body shape."""
    body: dict[str, Any] = {"detail": detail, "field": field}
    body.update(extra)
    return body


def _row_errors(report: Any) -> list[Any]:
    """Extract the row errors of an ``ImportReport`` (whatever its exact shape) as JSON-able data."""
    if report is None:
        return []
    errors = getattr(report, "errors", report)
    if isinstance(errors, dict):
        errors = list(errors.values())
    if not isinstance(errors, Sequence) or isinstance(errors, str | bytes):
        return [str(errors)]
    out: list[Any] = []
    for err in errors:
        if hasattr(err, "to_dict"):  # geo.stations.RowError: plain values already
            out.append(err.to_dict())
        elif is_dataclass(err) and not isinstance(err, type):
            out.append(jsonable_encoder(asdict(err)))
        elif hasattr(err, "as_dict"):
            out.append(jsonable_encoder(err.as_dict()))
        else:
            out.append(jsonable_encoder(err, custom_encoder={object: str}))
    return out


def _field_of(loc: Sequence[Any]) -> str | None:
    parts = [str(p) for p in loc if p not in ("query", "body", "path", "header", "cookie")]
    return ".".join(parts) if parts else None


#: pydantic's errors about the tag of a discriminated union (``kind`` of a scenario action): missing,
#: or not one of the tags. Their own text names no field ("Unable to extract tag using
#: discriminator 'kind'"); the body names the tag's field and lists its values instead.
UNION_TAG_ERRORS = frozenset({"union_tag_not_found", "union_tag_invalid"})


def _union_tags(annotation: Any, name: str) -> list[str]:
    """The values of field ``name`` the members of a (possibly ``Annotated``) union of models accept
    (their ``Literal`` values), in order."""
    from typing import Annotated, get_args, get_origin

    if get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    tags: list[str] = []
    for member in get_args(annotation) or (annotation,):
        field = getattr(member, "model_fields", {}).get(name)
        if field is not None:
            tags.extend(str(v) for v in get_args(field.annotation) if str(v) not in tags)
    return tags


def _union_tag_problem(request: Request, err: Mapping[str, Any]) -> tuple[str, str]:
    """``(field, detail)`` of a missing or unknown union tag, in :func:`geo.checks.choice_message`'s
    wording: the tags from pydantic's context, else from the route's body model."""
    from geo.checks import choice_message

    ctx = err.get("ctx") or {}
    name = str(ctx.get("discriminator", "")).strip("'\"") or "kind"
    prefix = _field_of(err.get("loc", ()))
    field = f"{prefix}.{name}" if prefix else name
    tags = [t.strip().strip("'") for t in str(ctx.get("expected_tags", "")).split(",") if t.strip()]
    if not tags:
        body = getattr(request.scope.get("route"), "body_field", None)
        tags = _union_tags(getattr(getattr(body, "field_info", None), "annotation", None), name)
    got = "nothing" if err.get("type") == "union_tag_not_found" else repr(str(ctx.get("tag", "")))
    return field, choice_message(field, tags, got)


async def yizhan_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, YizhanError)
    status = status_for(exc)
    if status >= 500:
        logger.warning("%s %s: %s", request.method, request.url.path, exc.message)
    if isinstance(exc, ImportRejectedError):
        # a rejected file may list 100,000 row errors: build that body in the thread pool, not on
        # the event loop that answers /nearest
        from starlette.concurrency import run_in_threadpool

        def body() -> JSONResponse:
            extra = {"row_errors": _row_errors(exc.report)}
            return JSONResponse(error_body(exc.message, exc.field, **extra), status_code=status)

        return await run_in_threadpool(body)
    return JSONResponse(error_body(exc.message, exc.field), status_code=status)


#: an echoed input is cut to this many characters, lists and objects to this many items
ECHO_CHARS = 200
ECHO_ITEMS = 20


def echo_safe(value: Any, depth: int = 0) -> Any:
    """A JSON-safe, bounded copy of an input value echoed in an error: NaN and ±Infinity (which JSON
    cannot carry) become the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``; long text, long
    lists and deep nesting are cut."""
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value).replace("inf", "Infinity").replace("nan", "NaN")
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        return value if len(value) <= ECHO_CHARS else value[:ECHO_CHARS] + "…"
    if depth >= 4:
        return "…"
    if isinstance(value, Mapping):
        items = list(value.items())[:ECHO_ITEMS]
        return {str(k)[:ECHO_CHARS]: echo_safe(v, depth + 1) for k, v in items}
    if isinstance(value, list | tuple | set | frozenset):
        return [echo_safe(v, depth + 1) for v in list(value)[:ECHO_ITEMS]]
    return echo_safe(str(value), depth)


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """422 naming the first invalid field; pydantic's error list is echoed made JSON-safe
    (:func:`echo_safe`: a NaN or Infinity input used to make this handler itself fail)."""
    assert isinstance(exc, RequestValidationError)
    errors = [_own_words(request, err) for err in exc.errors()]
    if errors:
        first = errors[0]
        field = _field_of(first.get("loc", ()))
        msg = str(first.get("msg", "invalid value"))
        detail = msg if first.get("type") in UNION_TAG_ERRORS or not field else f"{field}: {msg}"
    else:
        field, detail = None, "invalid request"
    safe = []
    for err in errors[:ECHO_ITEMS]:
        out = {k: echo_safe(v) for k, v in dict(err).items() if k not in ("ctx", "url")}
        if "ctx" in err:  # pydantic's ctx may hold exception objects: make them strings
            out["ctx"] = {k: echo_safe(str(v)) for k, v in dict(err["ctx"]).items()}
        safe.append(out)
    return JSONResponse(error_body(detail, field, errors=safe), status_code=422)


def _own_words(request: Request, err: Mapping[str, Any]) -> dict[str, Any]:
    """A union-tag error (:data:`UNION_TAG_ERRORS`) with the tag's field in its ``loc``, our wording in
    its ``msg`` and no ``ctx`` (pydantic's, which the message says again); any other error as given."""
    if err.get("type") not in UNION_TAG_ERRORS:
        return dict(err)
    field, message = _union_tag_problem(request, err)
    loc = (*tuple(err.get("loc", ())), field.rsplit(".", 1)[-1])
    return {**{k: v for k, v in err.items() if k != "ctx"}, "loc": loc, "msg": message}


async def http_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    field = None
    detail: Any = exc.detail
    if isinstance(detail, dict):
        field = detail.get("field")
        detail = detail.get("detail", str(detail))
    headers = dict(getattr(exc, "headers", None) or {})
    if exc.status_code == 405:
        allowed = _allowed_methods(request)
        headers["Allow"] = ", ".join(allowed)
        detail = f"method {request.method} is not allowed here; use {', '.join(allowed)}"
    return JSONResponse(error_body(str(detail), field), status_code=exc.status_code, headers=headers or None)


def _allowed_methods(request: Request) -> list[str]:
    """Every method any route of the app serves at this path (Starlette only names the first route's)."""
    from starlette.routing import Match

    methods: set[str] = set()
    scope = {**request.scope, "method": "GET"}
    for route in request.app.router.routes:
        route_methods = getattr(route, "methods", None)
        if not route_methods:
            continue
        match, _ = route.matches(scope)
        if match != Match.NONE:
            methods |= set(route_methods)
    return sorted(methods)


async def store_error_handler(request: Request, exc: Exception) -> JSONResponse:
    logger.warning("%s %s: database error: %s", request.method, request.url.path, exc)
    return JSONResponse(error_body(STORE_DOWN_MESSAGE), status_code=503, headers={"Retry-After": "5"})


async def dbapi_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Driver errors the repository did not translate: constraint violations are conflicts (409),
    bad values 422, anything else (e.g. a store not migrated) means the store is unusable (503)."""
    assert isinstance(exc, DBAPIError)
    if isinstance(exc, IntegrityError) and not exc.connection_invalidated:
        logger.warning("%s %s: integrity error: %s", request.method, request.url.path, exc.orig)
        return JSONResponse(error_body("the change conflicts with stored data"), status_code=409)
    if isinstance(exc, DataError) and not exc.connection_invalidated:
        logger.warning("%s %s: data error: %s", request.method, request.url.path, exc.orig)
        return JSONResponse(error_body("a value was rejected by the store"), status_code=422)
    return await store_error_handler(request, exc)


async def unexpected_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Last resort: log the traceback. Tests (schemathesis) show it is never reached."""
    logger.exception("%s %s: unexpected error", request.method, request.url.path, exc_info=exc)
    return JSONResponse(error_body("internal error"), status_code=500)


class QueryTextGuard:
    """ASGI middleware: a query string whose names or values (percent-decoded) hold NUL or another
    C0 control character except tab and newline is answered 422 naming the parameter, before any
    route sees it (no route, driver or log line has to cope with them). Query strings without a
    ``%0``/``%1`` escape or a raw control byte pass after one byte scan."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            query: bytes = scope.get("query_string", b"")
            if query and (b"%0" in query or b"%1" in query or min(query) < 0x20):
                problem = query_text_problem(query)
                if problem is not None:
                    field, message = problem
                    response = JSONResponse(error_body(f"query parameter {field!r} {message}", field),
                                            status_code=422)
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)


def query_text_problem(query: bytes) -> tuple[str, str] | None:
    """``(parameter, message)`` for the first control character in a raw query string, else None."""
    text = query.decode("latin-1")
    for name, value in parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="replace"):
        for part in (name, value):
            message = control_char_message(part)
            if message is not None:
                shown = name if control_char_message(name) is None else repr(name)[1:-1][:60]
                return shown, message
    return None


def install_error_handlers(app: FastAPI) -> None:
    """Register every handler on ``app``, and :class:`QueryTextGuard`."""
    app.add_middleware(QueryTextGuard)
    app.add_exception_handler(YizhanError, yizhan_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    app.add_exception_handler(OperationalError, store_error_handler)
    app.add_exception_handler(PoolTimeoutError, store_error_handler)
    app.add_exception_handler(DBAPIError, dbapi_error_handler)
    app.add_exception_handler(Exception, unexpected_error_handler)
