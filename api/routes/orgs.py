"""``/orgs``: the organisation tree (public reads) and the rollups of an organisation."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from api.auth import KEY_RESPONSES
from api.deps import KeyDep, SessionDep
from api.routes._geojson import json_value
from api.routes.coverage import CoverageDep
from api.schemas import ErrorBody
from geo.orgs.keys import Principal

router = APIRouter(prefix="/orgs", tags=["organisations"])

LEVEL_PATTERN = r"^(national|province|prefecture|county|township|community|host)$"
CODE_PATTERN = r"^[0-9A-Za-z][0-9A-Za-z_.\-]{0,63}$"
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "no such organisation"},
    422: {"model": ErrorBody, "description": "invalid input (the body names the field)"},
    503: {"model": ErrorBody, "description": "the PostGIS store is unavailable"},
}


@router.get("", responses=ERRORS, summary="List organisations (no polygons)")
def list_orgs_route(
    session: SessionDep,
    parent: Annotated[
        str | None, Query(description="only the children of this code", pattern=CODE_PATTERN)
    ] = None,
    level: Annotated[str | None, Query(description="only this level", pattern=LEVEL_PATTERN)] = None,
    under: Annotated[
        str | None, Query(description="only this organisation and those below it", pattern=CODE_PATTERN)
    ] = None,
) -> Any:
    from geo.orgs import store

    rows = store.list_orgs(session, parent=parent, level=level, under=under)
    return JSONResponse({"orgs": rows, "numberMatched": len(rows)})


@router.get("/{code}", responses=ERRORS, summary="One organisation: ancestors, children, area (GeoJSON)")
def get_org_route(session: SessionDep, code: Annotated[str, Path(pattern=CODE_PATTERN)]) -> Any:
    from geo.orgs import store

    return JSONResponse(json_value(store.get_org(session, code)))


@router.get("/{code}/summary", responses=ERRORS, summary="Stations by status and kind, targets vs actual")
def org_summary_route(session: SessionDep, code: Annotated[str, Path(pattern=CODE_PATTERN)]) -> Any:
    """The organisation and each child: stations inside its area polygon or owned by it (or an
    organisation below it), by status and kind; each station target with the stations open or
    planned that were created by the end of its year."""
    from geo.orgs.rollup import org_summary

    return JSONResponse(json_value(org_summary(session, code)))


# -- keys of an organisation (admins of it or of an organisation above it) --------------------------

KEY_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    400: {"model": ErrorBody, "description": "the body cannot be parsed"},
    **KEY_RESPONSES,
    403: {"model": ErrorBody, "description": "not an admin key of this organisation or one above it"},
    409: {"model": ErrorBody, "description": "a key of that name exists"},
}


class KeyIn(BaseModel):
    """A key to create; the answer carries its secret, once."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[0-9A-Za-z\u4e00-\u9fff][0-9A-Za-z_.\-\u4e00-\u9fff]{0,63}$")
    role: Literal["viewer", "editor", "admin"]
    expires_at: AwareDatetime | None = None


def _admin_of(request: Request, session: Any, principal: Principal, code: str) -> None:
    from api.auth import auth_state
    from geo.errors import ForbiddenError
    from geo.orgs.authz import key_admin_refusal

    refusal = key_admin_refusal(principal, auth_state(request.app).scope(session, principal), code)
    if refusal is not None:
        raise ForbiddenError(refusal, field="X-API-Key")


@router.get("/{code}/keys", responses=KEY_ERRORS, summary="Keys of an organisation and those below it")
def list_keys_route(
    request: Request, session: SessionDep, principal: KeyDep, code: Annotated[str, Path(pattern=CODE_PATTERN)]
) -> Any:
    """Names, roles and states (never secrets or hashes)."""
    from geo.orgs import store

    store.get_org(session, code)
    _admin_of(request, session, principal, code)
    return JSONResponse(json_value({"keys": store.list_keys(session, orgs=store.subtree(session, code))}))


@router.post("/{code}/keys", status_code=201, responses=KEY_ERRORS, summary="Create a key (secret once)")
def create_key_route(
    request: Request,
    session: SessionDep,
    principal: KeyDep,
    code: Annotated[str, Path(pattern=CODE_PATTERN)],
    body: KeyIn,
) -> Any:
    from geo.orgs import store

    store.get_org(session, code)
    _admin_of(request, session, principal, code)
    row = store.create_key(session, name=body.name, org_code=code, role=body.role, expires_at=body.expires_at,
                           created_by=principal.key_name)
    return JSONResponse(json_value(row), status_code=201, headers={"Cache-Control": "no-store"})


@router.delete("/{code}/keys/{name}", responses=KEY_ERRORS, summary="Revoke a key")
def revoke_key_route(
    request: Request,
    session: SessionDep,
    principal: KeyDep,
    code: Annotated[str, Path(pattern=CODE_PATTERN)],
    name: Annotated[str, Path(max_length=64)],
) -> Any:
    """The key is refused (401) by every server within ``YIZHAN_KEY_CACHE_SECONDS``."""
    from geo.errors import NotFoundError
    from geo.orgs import store

    _admin_of(request, session, principal, code)
    if store.describe_key(session, name)["org"] != code:
        raise NotFoundError(f"organisation {code!r} has no key named {name!r}", field="name")
    return JSONResponse(json_value(store.revoke_key(session, name)))


@router.get(
    "/{code}/coverage",
    responses=ERRORS,
    summary="Coverage share of an organisation and each child (same question as /coverage)",
)
def org_coverage_route(
    session: SessionDep, run: CoverageDep, code: Annotated[str, Path(pattern=CODE_PATTERN)]
) -> Any:
    """The coverage result of ``/coverage`` (same parameters, same cache) per organisation: an
    organisation is matched to the coverage areas by the stored area its polygon came from, else by
    its own code; ``null`` shares for one that matches no area."""
    from geo.orgs import store
    from geo.orgs.rollup import coverage_by_org

    org = store.get_org(session, code)
    rows = coverage_by_org([org, *org["child_orgs"]], run.result.by_area.to_dict("records"))
    return JSONResponse(json_value({"query": run.query, "org": rows[0], "children": rows[1:]}))
