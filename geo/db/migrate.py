"""Run the Alembic migrations of the store, configured in code so it works from any directory.

``upgrade(url)`` is what ``python -m geo.db.setup_db``, ``yizhan db upgrade`` and the test fixtures call.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.exc import OperationalError

from geo.config import database_url, sqlalchemy_url
from geo.db.engine import make_engine
from geo.errors import StoreUnavailableError

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    """Return an Alembic :class:`~alembic.config.Config` for ``url`` (default: the configured store)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", sqlalchemy_url(url or database_url()).replace("%", "%%"))
    return cfg


def head_revision() -> str | None:
    """Return the newest migration revision id."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(url: str | None = None) -> str | None:
    """Return the revision the database at ``url`` is at (``None`` if never migrated)."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def upgrade(url: str | None = None, *, revision: str = "head") -> str | None:
    """Upgrade the database at ``url`` (default :func:`geo.config.database_url`) to ``revision``.

    Returns
    -------
    str or None
        The revision the database is at afterwards.

    Raises
    ------
    StoreUnavailableError
        If the server or database cannot be reached.
    """
    engine = make_engine(url)  # fails early and clearly when the store is down
    try:
        with engine.begin() as conn:
            cfg = alembic_config(url)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    except OperationalError as exc:
        raise StoreUnavailableError(f"migration failed, store unavailable: {exc.orig}") from exc
    finally:
        engine.dispose()
    now = current_revision(url)
    logger.info("database at revision %s", now)
    return now


def downgrade(url: str | None = None, *, revision: str = "base") -> None:
    """Downgrade the database at ``url`` to ``revision`` (default: empty schema)."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            cfg = alembic_config(url)
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, revision)
    finally:
        engine.dispose()
