"""FastAPI dependencies (``Annotated`` aliases): settings, database session, API key, network per mode."""

from __future__ import annotations

import datetime as dt
from collections import abc
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from types import UnionType
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, Union, get_args, get_origin

from fastapi import Depends, Header, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.auth import api_key_header, reader, station_writer
from api.schemas import MAX_MINUTES, AmenityWord, IsoTime
from api.schemas import Mode as Mode  # re-exported: routes take their enums from deps
from api.schemas import OutCRS as OutCRS
from api.settings import Settings
from geo.catalog import resolve_amenity
from geo.errors import InputError
from geo.orgs.keys import Principal

if TYPE_CHECKING:
    from api.nearest_index import NearestIndex
    from api.services import ServedCoverage


#: the default travel mode of every endpoint (a member of :data:`Mode`, which data/modes.toml fills)
DEFAULT_MODE = Mode("walk")
#: the default coordinate system, on input and on output (docs/ARCHITECTURE.md, "CRS policy")
DEFAULT_CRS = OutCRS("wgs84")


async def get_settings(request: Request) -> Settings:
    """The app's :class:`Settings` (built once by :func:`api.app.create_app`)."""
    settings: Settings = request.app.state.settings
    return settings


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One SQLAlchemy session per request, closed at the end (rolled back if still in a transaction).

    Creating a session does no I/O, so it happens on the event loop; closing one that still holds a
    connection runs in the thread pool. (Dependencies that are plain functions would each cost a
    thread hop per request.) Routes that write go through the repository, which commits. Tests
    override this dependency with a session bound to a rolled-back transaction.
    """
    session: Session = request.app.state.sessionmaker()
    try:
        yield session
    finally:
        if session.in_transaction():
            await run_in_threadpool(session.close)
        else:
            session.close()


#: opens a session whose ``with`` block closes it (and hands its connection back to the pool)
SessionScope = Callable[[], AbstractContextManager[Session]]


async def get_session_scope(request: Request) -> SessionScope:
    """Sessions on demand, for a route that answers from memory and reads the store only now and
    then (``/nearest`` reads the registry version once per ``registry_check_seconds``).

    :func:`get_session` opens and closes a session around every request, which FastAPI runs as an
    async generator in an exit stack; this plain dependency costs a fraction of that. Tests
    override it, like :func:`get_session`, to hand out their rolled-back session.
    """
    maker: Callable[[], Session] = request.app.state.sessionmaker
    return maker


async def require_api_key(
    request: Request,
    session: Annotated[Session, Depends(get_session)],
    x_api_key: Annotated[str | None, Security(api_key_header)] = None,
) -> str:
    """Authenticate a write (401 without or with a wrong key, 429 after repeated wrong keys) and
    authorise it for the station of the path and the point of the body (403 naming the
    organisation; :mod:`geo.orgs.authz`). Returns the key's name, recorded as the audit ``actor``."""
    principal = await station_writer(request, session, x_api_key)
    return principal.key_name


async def require_key(
    request: Request,
    session: Annotated[Session, Depends(get_session)],
    x_api_key: Annotated[str | None, Security(api_key_header)] = None,
) -> Principal:
    """Any valid key (viewer, editor or admin), for reads that are not public."""
    return await reader(request, session, x_api_key)


# --- hardening (#15): ETag / If-Match (RFC 9110 §8.8.3, §13.1.1)


def etag_of(version: int) -> str:
    """The strong entity tag of a station version."""
    return f'"{int(version)}"'


def if_match_versions(
    if_match: Annotated[
        str | None,
        Header(
            alias="If-Match",
            description='apply only if the station is still at this ETag (e.g. "3"), else 412 (RFC 9110)',
        ),
    ] = None,
) -> tuple[int, ...] | None:
    """The versions an ``If-Match`` header accepts: ``None`` without the header or with ``*``
    (any current version). Entity tags are compared strongly, so weak (``W/``) and foreign tags
    match no version: the request then gets 412 (an empty tuple)."""
    if if_match is None or if_match.strip() == "*":
        return None
    versions = []
    for tag in if_match.split(","):
        tag = tag.strip()
        if tag.startswith('"') and tag.endswith('"') and tag[1:-1].isdigit() and len(tag) < 21:
            versions.append(int(tag[1:-1]))
    return tuple(versions)


IfMatchDep = Annotated[tuple[int, ...] | None, Depends(if_match_versions)]


def network_for(networks: dict[str, Any], mode: Mode) -> Any:
    """The loaded :class:`geo.network.Network` of ``mode`` (422 naming ``mode`` if not loaded)."""
    net = networks.get(mode.value)
    if net is None:
        loaded = ", ".join(sorted(networks)) or "none"
        raise InputError(f"no network is loaded for mode {mode.value!r} (loaded: {loaded})", field="mode")
    return net


async def get_network(
    request: Request,
    mode: Annotated[Mode, Query(description="travel mode")] = DEFAULT_MODE,
) -> Any:
    """The loaded :class:`geo.network.Network` of ``mode`` (:func:`network_for`)."""
    return network_for(request.app.state.networks, mode)


async def get_nearest_index(request: Request) -> NearestIndex:
    index: NearestIndex = request.app.state.nearest
    return index


M = TypeVar("M", bound=BaseModel)


def _inline_refs(node: Any, defs: dict[str, Any]) -> Any:
    """A JSON schema with every ``#/$defs/...`` reference replaced by its definition."""
    if isinstance(node, list):
        return [_inline_refs(v, defs) for v in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        rest = {k: v for k, v in node.items() if k != "$ref"}
        return {**_inline_refs(defs[ref.removeprefix("#/$defs/")], defs), **_inline_refs(rest, defs)}
    return {k: _inline_refs(v, defs) for k, v in node.items()}


_SEQUENCES: tuple[Any, ...] = (list, tuple, set, frozenset, abc.Sequence, abc.MutableSequence, abc.Set)


def _repeatable(annotation: Any) -> bool:
    """Whether a query parameter of this type takes every repeated value (lists, tuples, sets...)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _repeatable(get_args(annotation)[0])
    if origin is Union or origin is UnionType:
        return any(_repeatable(a) for a in get_args(annotation) if a is not type(None))
    return (origin or annotation) in _SEQUENCES


def query_model(model: type[M]) -> tuple[Callable[[Request], Awaitable[M]], dict[str, Any]]:
    """A dependency that validates the query string into ``model`` in one pydantic call, and the
    ``openapi_extra`` that documents its fields as query parameters.

    It does what ``Annotated[model, Query()]`` does (list fields repeat, unknown parameters are
    rejected when the model forbids extras, errors are 422 with ``loc = ("query", field)``), for
    about a tenth of FastAPI's per-field parameter handling: on ``/nearest`` that handling was
    ~40 % of a request's CPU.
    """
    lists = frozenset(
        f.alias or name for name, f in model.model_fields.items() if _repeatable(f.annotation)
    )
    schema = model.model_json_schema()
    defs = schema.get("$defs", {})
    required = set(schema.get("required", ()))
    parameters = []
    for name, prop in schema.get("properties", {}).items():
        param: dict[str, Any] = {
            "name": name, "in": "query", "required": name in required,
            "schema": _inline_refs(prop, defs),
        }
        if "description" in prop:
            param["description"] = prop["description"]
        parameters.append(param)

    async def dependency(request: Request) -> M:
        query = request.query_params
        data = {key: query.getlist(key) if key in lists else query[key] for key in query}
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            errors = [{**e, "loc": ("query", *e["loc"])} for e in exc.errors(include_url=False)]
            raise RequestValidationError(errors) from None

    dependency.__name__ = f"{model.__name__.lower()}_from_query"
    return dependency, {"parameters": parameters}


# ------------------------------------------------------------------------------------------ coverage
# the query every coverage endpoint shares (/coverage, /coverage/areas, /gaps, /maps/coverage), resolved
# to a cached result by api.services: one home, so that no route imports another

Minutes = Annotated[float, Query(gt=0, le=MAX_MINUTES, description="travel-time threshold (minutes)")]
OpenAt = Annotated[
    IsoTime | None, Query(description="count only stations open at this time (naive = China time)")
]
Amenity = Annotated[
    list[AmenityWord] | None, Query(description="count only stations with this amenity", max_length=20)
]


def local_naive(when: dt.datetime | None) -> dt.datetime | None:
    """Naive China time (aware times converted), as geo.hours expects."""
    from zoneinfo import ZoneInfo

    if when is None or when.tzinfo is None:
        return when
    return when.astimezone(ZoneInfo("Asia/Shanghai")).replace(tzinfo=None)


def amenity_codes(values: list[str] | None) -> list[str]:
    return [resolve_amenity(a, field="amenity") for a in values or []]


def coverage_query(
    mode: str, minutes: float, open_at: dt.datetime | None, amenities: list[str]
) -> dict[str, Any]:
    return {
        "mode": mode,
        "minutes": minutes,
        "open_at": open_at.isoformat() if open_at else None,
        "amenity": amenities,
    }


@dataclass(frozen=True, eq=False)
class CoverageRun:
    """One coverage question (mode, minutes, open_at, amenities) and its cached result."""

    served: ServedCoverage  # api.services
    query: dict[str, Any]
    minutes: float

    @property
    def result(self) -> Any:
        """The :class:`geo.coverage.CoverageResult`."""
        return self.served.result

    @property
    def demand_source(self) -> str:
        return self.served.demand_source


def coverage_run(
    request: Request,
    session: Annotated[Session, Depends(get_session)],
    network: Annotated[Any, Depends(get_network)],
    mode: Annotated[Mode, Query(description="travel mode")] = DEFAULT_MODE,
    minutes: Minutes = 15.0,
    open_at: OpenAt = None,
    amenity: Amenity = None,
) -> CoverageRun:
    """The query parameters every coverage endpoint shares, resolved to a cached result."""
    codes = amenity_codes(amenity)
    when = local_naive(open_at)
    from api.services import coverage_result

    served = coverage_result(
        request.app.state, session, mode.value, minutes=minutes, open_at=when, amenities=codes
    )
    return CoverageRun(served=served, query=coverage_query(mode.value, minutes, when, codes), minutes=minutes)


CoverageDep = Annotated[CoverageRun, Depends(coverage_run)]


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
SessionScopeDep = Annotated[SessionScope, Depends(get_session_scope)]
ActorDep = Annotated[str, Depends(require_api_key)]
KeyDep = Annotated[Principal, Depends(require_key)]
NetworkDep = Annotated[Any, Depends(get_network)]
NearestIndexDep = Annotated["NearestIndex", Depends(get_nearest_index)]
