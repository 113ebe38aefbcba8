"""Shared fixtures: a throw-away PostGIS database per test session, rolled-back sessions, the real
data directory.

The database ``yizhan_test_<random hex>`` is created on the server of ``YIZHAN_TEST_DATABASE_URL``
(default ``postgresql://postgres@127.0.0.1:5432/postgres``), PostGIS is enabled and the Alembic
migrations are run (so the migrations are tested), and it is dropped at the end of the session.
``YIZHAN_DATABASE_URL`` is pointed at it for code (and CLI runs) that read the configuration.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session

from geo.config import data_dir as configured_data_dir
from geo.config import sqlalchemy_url

DEFAULT_TEST_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """Plain ``postgresql://`` URL of a fresh, migrated, throw-away database."""
    from geo.db.engine import _cached_engine
    from geo.db.setup_db import temporary_database

    server = os.environ.get("YIZHAN_TEST_DATABASE_URL", DEFAULT_TEST_SERVER)
    with temporary_database(server, prefix="yizhan_test") as url:
        previous = os.environ.get("YIZHAN_DATABASE_URL")
        os.environ["YIZHAN_DATABASE_URL"] = url
        try:
            yield url
        finally:
            if previous is None:
                os.environ.pop("YIZHAN_DATABASE_URL", None)
            else:
                os.environ["YIZHAN_DATABASE_URL"] = previous
            _cached_engine.cache_clear()  # its pooled connections are closed by DROP ... WITH (FORCE)


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    """Engine on the throw-away test database (migrated to head)."""
    eng = create_engine(sqlalchemy_url(database_url))
    yield eng
    eng.dispose()


@pytest.fixture()
def db_session(engine: Engine) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test.

    ``join_transaction_mode="create_savepoint"``: code that commits only releases a savepoint, so
    nothing outlives the test.
    """
    connection = engine.connect()
    outer = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        yield session
    finally:
        session.close()
        if outer.is_active:
            outer.rollback()
        connection.close()


@pytest.fixture()
def clean_store(engine: Engine) -> Iterator[Engine]:
    """For tests that commit for real (CLI runs): empty tables before and after."""
    def wipe() -> None:  # every table the migrations made, so tests that commit leave nothing behind
        with engine.begin() as conn:
            tables = conn.execute(text(
                "SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = 'public' AND tablename "
                "NOT IN ('alembic_version', 'spatial_ref_sys', 'registry_state')")).scalars().all()
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))

    wipe()
    yield engine
    wipe()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real raw data directory (``YIZHAN_DATA_DIR``); fails, never skips, when missing."""
    path = configured_data_dir()
    if not path.is_dir():
        pytest.fail(f"real data directory {path} is missing; set YIZHAN_DATA_DIR")
    return path
