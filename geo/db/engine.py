"""Engine and session factory for the PostGIS store.

Connection failures are mapped to :class:`geo.errors.StoreUnavailableError` so the outward layers
can answer "store unavailable" instead of a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from geo.config import redact_url, sqlalchemy_url
from geo.errors import StoreUnavailableError, first_line

logger = logging.getLogger(__name__)


def make_engine(url: str | None = None, *, check: bool = True) -> Engine:
    """Create a SQLAlchemy engine for the configured (or given) PostgreSQL URL.

    Parameters
    ----------
    url
        Plain ``postgresql://`` URL; default :func:`geo.config.database_url`.
    check
        Open one connection now so an unreachable server fails here.

    Raises
    ------
    StoreUnavailableError
        If the server cannot be reached or the database does not exist.
    """
    sa_url = sqlalchemy_url(url)
    engine = create_engine(sa_url, pool_pre_ping=True, future=True)
    if check:
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except OperationalError as exc:
            engine.dispose()
            raise StoreUnavailableError(
                f"cannot connect to the PostGIS store at {redact_url(sa_url)}: "
                f"{first_line(exc.orig or exc)}"
            ) from exc
    return engine


@cache
def _cached_engine(url: str) -> Engine:
    return make_engine(url)


def get_engine(url: str | None = None) -> Engine:
    """Return a process-wide engine for ``url`` (created on first use)."""
    return _cached_engine(sqlalchemy_url(url))


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Return a session factory bound to ``engine`` (objects stay usable after commit)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """Yield a session on the configured store; roll back on error, always close.

    Repository write functions commit themselves; this scope only guarantees cleanup.
    """
    engine = get_engine(url)
    session = session_factory(engine)()
    try:
        yield session
    except OperationalError as exc:
        session.rollback()
        raise StoreUnavailableError(f"the PostGIS store failed: {exc.orig}") from exc
    except Exception:
        session.rollback()
        raise
    finally:
        session.close()
