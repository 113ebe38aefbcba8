"""HTTP side of keys and authorisation: the ``X-API-Key`` security scheme, 401/429/403 answers, a
throttle for repeated wrong keys, and the per-app caches (verified keys, organisation scopes).

The rules themselves live in :mod:`geo.orgs` (``authz``, ``guard``); this module only finds the
key, the station and the new point of a request and hands them over.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import HTTPException, Request
from fastapi.security import APIKeyHeader
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.schemas import ErrorBody
from api.settings import Settings
from geo.orgs import guard, store
from geo.orgs.authz import OrgScope
from geo.orgs.keys import KeyVerifier, Principal, parse_env_keys

#: the one security scheme (documented per operation in the OpenAPI schema)
api_key_header = APIKeyHeader(
    name="X-API-Key",
    scheme_name="ApiKey",
    auto_error=False,
    description="An organisation's API key (`yizhan keys create`) or a bootstrap key (`YIZHAN_API_KEYS`).",
)
INVALID_KEY = "the API key is not valid (unknown, revoked or expired)"
#: what any keyed operation may answer because of its key; routes add their own 403/404/409/422 rows
KEY_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "no X-API-Key header, or a wrong, revoked or expired key"},
    429: {"model": ErrorBody, "description": "too many wrong keys from this client (see Retry-After)"},
}


class FailureThrottle:
    """At most ``max_failures`` wrong keys per client in ``window_seconds``; beyond that the client
    is refused (429) until its oldest failure leaves the window. Thread-safe, bounded in memory."""

    def __init__(
        self,
        *,
        max_failures: int = 10,
        window_seconds: float = 60.0,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = int(max_failures)
        self.window_seconds = float(window_seconds)
        self.max_clients = int(max_clients)
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> int:
        """Seconds the client must wait (0: it may try)."""
        now = self._clock()
        with self._lock:
            times = self._failures.get(client)
            if not times:
                return 0
            while times and now - times[0] >= self.window_seconds:
                times.popleft()
            if len(times) < self.max_failures:
                return 0
            return max(1, math.ceil(self.window_seconds - (now - times[0])))

    def failed(self, client: str) -> None:
        with self._lock:
            times = self._failures.setdefault(client, deque(maxlen=self.max_failures))
            times.append(self._clock())
            self._failures.move_to_end(client)
            while len(self._failures) > self.max_clients:
                self._failures.popitem(last=False)


@dataclass
class AuthState:
    """Per-app: the key verifier, the wrong-key throttle and a short cache of organisation scopes."""

    verifier: KeyVerifier
    throttle: FailureThrottle
    ttl_seconds: float
    scopes: dict[str, tuple[float, OrgScope | None]] = field(default_factory=dict)

    def scope(self, session: Session, principal: Principal) -> OrgScope | None:
        if principal.org_code is None:
            return None
        now = time.monotonic()
        cached = self.scopes.get(principal.org_code)
        if cached is not None and now - cached[0] < self.ttl_seconds:
            return cached[1]
        found = store.org_scope(session, principal.org_code)
        if len(self.scopes) > 1000:
            self.scopes.clear()
        self.scopes[principal.org_code] = (now, found)
        return found


_STATE_LOCK = threading.Lock()


def auth_state(app: Any) -> AuthState:
    """The app's :class:`AuthState`, built on first use from its settings."""
    state = getattr(app.state, "auth", None)
    if state is None:
        with _STATE_LOCK:
            state = getattr(app.state, "auth", None)
            if state is None:
                settings: Settings = app.state.settings
                state = AuthState(
                    KeyVerifier(
                        parse_env_keys(settings.api_keys, warn=False), ttl_seconds=settings.key_cache_seconds
                    ),
                    FailureThrottle(
                        max_failures=settings.auth_max_failures, window_seconds=settings.auth_window_seconds
                    ),
                    settings.key_cache_seconds,
                )
                app.state.auth = state
    return state


def _client(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def authenticate(request: Request, session: Session, token: str | None) -> Principal:
    """The principal of the request's key: 401 without one or with a wrong one, 429 after too
    many wrong ones from this client. Runs in a worker thread (a key's first check costs scrypt)."""
    if not token:
        raise HTTPException(
            status_code=401,
            headers={"WWW-Authenticate": "ApiKey"},
            detail={"detail": "this needs an API key in the X-API-Key header", "field": "X-API-Key"},
        )
    state = auth_state(request.app)
    client = _client(request)
    wait = state.throttle.retry_after(client)
    if wait:
        raise HTTPException(
            status_code=429,
            headers={"Retry-After": str(wait)},
            detail={
                "detail": f"too many wrong API keys from this client; retry in {wait} s",
                "field": "X-API-Key",
            },
        )
    principal = state.verifier.verify(token, lambda key_id: store.stored_key(session, key_id))
    if principal is None:
        state.throttle.failed(client)
        raise HTTPException(
            status_code=401,
            headers={"WWW-Authenticate": "ApiKey"},
            detail={"detail": INVALID_KEY, "field": "X-API-Key"},
        )
    request.state.principal = principal
    return principal


async def _body_point(request: Request) -> tuple[float, float] | None:
    """The WGS-84 point of a JSON Feature body (``None`` when there is none or it is malformed:
    the route's validation then answers 422)."""
    if "json" not in request.headers.get("content-type", ""):
        return None
    try:
        body = await request.json()
        lon, lat = (float(v) for v in body["geometry"]["coordinates"][:2])
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        return None
    if not (math.isfinite(lon) and math.isfinite(lat)):
        return None
    crs = request.query_params.get("crs", "wgs84")
    if crs in ("gcj02", "bd09"):
        from geo.crs import convert

        lon, lat = (float(v) for v in convert(lon, lat, src=crs, dst="wgs84"))
    return lon, lat


def _check_station_write(
    request: Request, session: Session, principal: Principal, point: tuple[float, float] | None
) -> None:
    scope = auth_state(request.app).scope(session, principal)
    guard.check_write(principal, scope)
    raw_id = request.path_params.get("station_id")
    station_id = int(raw_id) if raw_id is not None and str(raw_id).isdigit() else None
    if station_id is not None or point is not None:
        guard.check_station(session, principal, scope, station_id=station_id, new_point=point)
    store.set_audit_org(session, principal.org_code)


async def station_writer(request: Request, session: Session, token: str | None) -> Principal:
    """Authenticate a write and authorise it for the station of the path and the point of the
    body (403 naming the organisation); the audit rows of the transaction get its organisation."""
    principal = await run_in_threadpool(authenticate, request, session, token)
    point = await _body_point(request)
    await run_in_threadpool(_check_station_write, request, session, principal, point)
    return principal


async def reader(request: Request, session: Session, token: str | None) -> Principal:
    """Authenticate a read that needs a key (any role)."""
    return await run_in_threadpool(authenticate, request, session, token)


def check_station_import(request: Request, session: Session, report: Any, *, source: str) -> None:
    """Refuse a station file holding rows the request's key may not write (403, rows listed)."""
    principal: Principal = request.state.principal
    scope = auth_state(request.app).scope(session, principal)
    guard.check_import(session, principal, scope, report, source=source)
    store.set_audit_org(session, principal.org_code)
