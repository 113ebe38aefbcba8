"""The PostGIS store: migrations vs models, setup of a new database, queries and filters."""

from __future__ import annotations

import secrets
from datetime import datetime
from pathlib import Path

import geopandas as gpd
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from shapely.geometry import box
from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.orm import Session

from geo.config import sqlalchemy_url
from geo.db import migrate
from geo.db import repository as repo
from geo.db.engine import make_engine
from geo.db.models import Base
from geo.db.setup_db import setup_database
from geo.errors import InputError, StoreUnavailableError
from geo.stations import CANONICAL_COLUMNS, read_station_file

ROWS = """编号,名称,经度,纬度,类型,状态,开放时间,服务项目
K1,科技园工会驿站,113.9434,22.5420,工会驿站,开放,Mo-Fr 08:00-20:00,饮用水、充电、卫生间
K2,深大爱心驿站,113.9360,22.5440,爱心驿站,开放,24/7,饮用水、卫生间
K3,后海零工驿站,113.9400,22.5200,零工驿站,规划,,就业服务
K4,白石洲职工之家,113.9600,22.5400,职工之家,关闭,08:00-12:00,饮用水
K5,西丽户外劳动者驿站,113.9500,22.5800,户外劳动者服务站点,开放,06:00-22:00,充电
"""


@pytest.fixture()
def five(db_session: Session, tmp_path: Path) -> Session:
    path = tmp_path / "five.csv"
    path.write_text(ROWS, encoding="utf-8")
    repo.import_stations(db_session, read_station_file(path), source="five", actor="t")
    return db_session


def test_migrated_schema_matches_models(engine: Engine) -> None:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={
            "include_object": lambda obj, name, type_, reflected, compare_to: not (
                type_ == "table" and name == "spatial_ref_sys")})
        diff = compare_metadata(ctx, Base.metadata)
        assert diff == []
        assert ctx.get_current_revision() == migrate.head_revision()
    indexes = {ix["name"] for ix in inspect(engine).get_indexes("stations")}
    assert "ix_stations_geom" in indexes
    with engine.connect() as conn:
        method = conn.execute(text(
            "SELECT am.amname FROM pg_class c JOIN pg_am am ON am.oid = c.relam "
            "WHERE c.relname = 'ix_stations_geom'"
        )).scalar_one()
    assert method == "gist"


def test_setup_database_creates_enables_and_migrates(database_url: str) -> None:
    from sqlalchemy.engine import make_url

    name = f"yizhan_setup_{secrets.token_hex(4)}"
    url = make_url(sqlalchemy_url(database_url)).set(database=name, drivername="postgresql")
    plain = url.render_as_string(hide_password=False)
    admin = create_engine(make_url(sqlalchemy_url(database_url)).set(database="postgres"),
                          isolation_level="AUTOCOMMIT")
    try:
        assert setup_database(plain) == migrate.head_revision()
        assert setup_database(plain) == migrate.head_revision()  # idempotent
        assert migrate.current_revision(plain) == migrate.head_revision()
        migrate.downgrade(plain, revision="base")  # every migration can be undone ...
        assert migrate.current_revision(plain) is None
        assert migrate.upgrade(plain) == migrate.head_revision()  # ... and redone
        eng = make_engine(plain)
        with eng.connect() as conn:
            assert conn.execute(text("SELECT extname FROM pg_extension WHERE extname='postgis'")).scalar()
        eng.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_temporary_database_is_migrated_then_dropped(database_url: str) -> None:
    from sqlalchemy.engine import make_url

    from geo.db.setup_db import temporary_database

    with temporary_database(database_url, prefix="yizhan_tmptest") as url:
        name = make_url(url).database
        assert name is not None and name.startswith("yizhan_tmptest_")
        assert migrate.current_revision(url) == migrate.head_revision()
        eng = make_engine(url)
        held = eng.connect()  # an open connection does not stop the drop
        assert held.execute(text("SELECT postgis_lib_version()")).scalar()
    admin = make_engine(make_url(url).set(database="postgres").render_as_string(hide_password=False))
    with admin.connect() as conn:
        assert conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first() is None
    admin.dispose()
    held.invalidate()  # the server ended it with the drop
    eng.dispose()


def test_unreachable_store_is_store_unavailable() -> None:
    with pytest.raises(StoreUnavailableError, match="cannot connect"):
        make_engine("postgresql://postgres@127.0.0.1:1/nowhere")
    with pytest.raises(StoreUnavailableError):
        migrate.upgrade("postgresql://postgres@127.0.0.1:1/nowhere")


def test_list_filters_and_paging(five: Session) -> None:
    frame, total = repo.list_stations(five)
    assert total == 5 and list(frame.columns[: len(CANONICAL_COLUMNS)]) == list(CANONICAL_COLUMNS)
    assert frame.crs.to_epsg() == 4326 and all(isinstance(i, int) for i in frame["station_id"])
    page, total = repo.list_stations(five, limit=2, offset=2)
    assert total == 5 and list(page["external_id"]) == ["K3", "K4"]
    _, n = repo.list_stations(five, kinds=["工会驿站", "love"])
    assert n == 2
    _, n = repo.list_stations(five, statuses=["open"])
    assert n == 3
    got, n = repo.list_stations(five, amenities=["饮用水", "toilet"])
    assert n == 2 and set(got["external_id"]) == {"K1", "K2"}
    got, n = repo.list_stations(five, bbox=(113.93, 22.53, 113.945, 22.55))
    assert set(got["external_id"]) == {"K1", "K2"}
    with pytest.raises(InputError):
        repo.list_stations(five, bbox=(114.0, 22.0, 113.0, 23.0))


def test_open_at_filter(five: Session) -> None:
    # Saturday 2026-11-28 07:00 China time: K2 (24/7) and K5 (06:00-22:00) are open
    sat_morning = datetime(2026, 11, 28, 7, 0)
    got, n = repo.list_stations(five, open_at=sat_morning)
    assert n == 2 and set(got["external_id"]) == {"K2", "K5"}
    # Monday 09:00: K1, K2, K4 (closed status but hours say open), K5
    frame = repo.stations_frame(five, open_at=datetime(2026, 11, 30, 9, 0))
    assert set(frame["external_id"]) == {"K1", "K2", "K4", "K5"}
    frame = repo.stations_frame(five, open_at=datetime(2026, 11, 30, 9, 0), statuses=["open"])
    assert set(frame["external_id"]) == {"K1", "K2", "K5"}


def test_area_code_filter_and_township_fill(five: Session) -> None:
    areas = gpd.GeoDataFrame(
        {"area_code": ["T1", "T2"], "area_name": ["南区", "北区"]},
        geometry=[box(113.90, 22.50, 114.00, 22.55), box(113.90, 22.55, 114.00, 22.60)], crs="EPSG:4326",
    )
    assert repo.upsert_areas(five, areas, level="township") == {"inserted": 2, "updated": 0}
    assert repo.upsert_areas(five, areas, level="township") == {"inserted": 0, "updated": 2}
    got, n = repo.list_stations(five, area_code="T2")
    assert n == 1 and list(got["external_id"]) == ["K5"]
    created = repo.create_station(five, {"name": "新驿站", "lon": 113.97, "lat": 22.57}, actor="t")
    assert (created["township_code"], created["township_name"]) == ("T2", "北区")
    summary = repo.registry_summary(five)
    assert summary["total"] == 6 and summary["by_township"]["北区"] == 1
    assert summary["by_status"] == {"open": 4, "closed": 1, "planned": 1}
    assert summary["by_source"] == {"five": 5, "manual": 1}
    minx, miny, maxx, maxy = summary["bbox"]
    assert (minx, miny, maxx, maxy) == pytest.approx((113.936, 22.52, 113.97, 22.58))
    assert summary["version"] == repo.registry_version(five)
    page, total = repo.list_areas(five, level="township", bbox=(113.9, 22.56, 114.0, 22.6), limit=10)
    assert total == 1 and list(page["area_name"]) == ["北区"]
    frame = repo.areas_frame(five)
    assert list(frame["area_code"]) == ["T1", "T2"] and set(frame.geom_type) == {"MultiPolygon"}
