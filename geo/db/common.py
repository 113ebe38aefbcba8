"""Helpers every table module of the store shares: the audit actor, driver-error translation, bbox
checks and the WGS-84 point expression."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from geo.errors import ConflictError, InputError, StoreUnavailableError

BBox = tuple[float, float, float, float]


def set_actor(session: Session, actor: str) -> None:
    """Name who makes the changes of the current transaction (read by the audit trigger)."""
    if not actor or not str(actor).strip():
        raise InputError("actor is required for changes to the registry", field="actor")
    session.execute(text("SELECT set_config('yizhan.actor', :a, true)"), {"a": str(actor)})


def point(lon: float, lat: float) -> Any:
    """SQL expression of a WGS-84 (EPSG:4326) point."""
    return func.ST_SetSRID(func.ST_MakePoint(lon, lat), 4326)


def wrap_db_errors(session: Session, exc: Exception) -> None:
    """Roll back and re-raise a driver error as a domain error (outage → StoreUnavailableError,
    constraint violation → ConflictError); other errors are left for the caller to re-raise."""
    session.rollback()
    if isinstance(exc, OperationalError):
        raise StoreUnavailableError(f"the PostGIS store failed: {exc.orig}") from exc
    if isinstance(exc, IntegrityError):
        raise ConflictError(f"the change conflicts with stored data: {exc.orig}") from exc


def check_bbox(bbox: Sequence[float]) -> BBox:
    """``(minlon, minlat, maxlon, maxlat)`` as floats, checked (InputError naming ``bbox``)."""
    try:
        minx, miny, maxx, maxy = (float(v) for v in bbox)
    except (TypeError, ValueError) as exc:
        raise InputError(f"bbox must be minlon,minlat,maxlon,maxlat, got {bbox!r}", field="bbox") from exc
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise InputError(f"bbox {bbox!r} is not minlon,minlat,maxlon,maxlat in degrees", field="bbox")
    return minx, miny, maxx, maxy
