"""Helpers every table module of the store shares: the audit actor, driver-error translation, bbox
checks and the WGS-84 point expression."""

from __future__ import annotations

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
