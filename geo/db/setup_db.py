"""Create the configured database if missing, enable PostGIS and migrate it to the newest revision.

Run as ``python -m geo.db.setup_db`` (``scripts/setup.sh`` does). Connects to the ``postgres``
maintenance database on the same server to create the database.
"""

from __future__ import annotations

import logging
import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from geo.config import database_url, sqlalchemy_url
from geo.db import migrate
from geo.errors import StoreUnavailableError

logger = logging.getLogger(__name__)


def ensure_database(url: str | None = None) -> bool:
    """Create the database named in ``url`` if it does not exist.

    Returns
    -------
    bool
        ``True`` if it was created now, ``False`` if it existed.
    """
    sa_url = make_url(sqlalchemy_url(url or database_url()))
    name = sa_url.database
    if not name:
        raise StoreUnavailableError("the database URL names no database")
    admin = create_engine(sa_url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
            if exists:
                return False
            quoted = conn.dialect.identifier_preparer.quote(name)
            conn.execute(text(f"CREATE DATABASE {quoted}"))
            logger.info("created database %s", name)
            return True
    except OperationalError as exc:
        raise StoreUnavailableError(f"cannot reach PostgreSQL to create {name!r}: {exc.orig}") from exc
    finally:
        admin.dispose()


def ensure_postgis(url: str | None = None) -> str:
    """Enable PostGIS in the database (``CREATE EXTENSION IF NOT EXISTS postgis``); return its version."""
    engine = create_engine(sqlalchemy_url(url or database_url()), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
            return str(conn.execute(text("SELECT postgis_lib_version()")).scalar_one())
    except OperationalError as exc:
        raise StoreUnavailableError(f"cannot enable PostGIS: {exc.orig}") from exc
    finally:
        engine.dispose()


def setup_database(url: str | None = None) -> str | None:
    """Create the database if needed, enable PostGIS and run the migrations; return the revision."""
    created = ensure_database(url)
    version = ensure_postgis(url)
    revision = migrate.upgrade(url)
    logger.info("database ready (created=%s, PostGIS %s, revision %s)", created, version, revision)
    return revision


@contextmanager
def temporary_database(server_url: str, *, prefix: str = "yizhan_tmp") -> Iterator[str]:
    """A new database ``<prefix>_<random hex>`` on the server of ``server_url``, with PostGIS and
    the migrations at head; dropped (``WITH (FORCE)``, open connections closed) on exit.

    For tests, benchmarks and throw-away studies. Yields its plain ``postgresql://`` URL.
    """
    name = f"{prefix}_{secrets.token_hex(6)}"
    server = make_url(sqlalchemy_url(server_url))
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = server.set(database=name, drivername="postgresql").render_as_string(hide_password=False)
        try:
            ensure_postgis(url)
            migrate.upgrade(url)
            yield url
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="[setup_db] %(message)s")
    try:
        setup_database()
    except StoreUnavailableError as exc:
        logging.getLogger(__name__).error("%s", exc)
        return 4
    return 0


if __name__ == "__main__":
    sys.exit(main())
