"""The ORM-free registry read used by the command line (``--stations db``) against the repository."""

from __future__ import annotations

from pathlib import Path

import pytest
from pandas.testing import assert_frame_equal
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from geo.db import repository as repo
from geo.db.models import Station
from geo.db.snapshot import STATION_COLUMNS, read_stations, stations_frame_dbapi
from geo.errors import StoreUnavailableError
from geo.stations import read_station_file

ROWS = """编号,名称,经度,纬度,类型,状态,开放时间,服务项目,座位,面积
K1,科技园工会驿站,113.9434,22.5420,工会驿站,开放,Mo-Fr 08:00-20:00,饮用水、充电、卫生间,6,25.5
K2,深大爱心驿站,113.9360,22.5440,爱心驿站,开放,24/7,饮用水、卫生间,,
K3,后海零工驿站,113.9400,22.5200,零工驿站,规划,,就业服务,2,
"""


def test_columns_are_the_stations_table_without_its_geometry() -> None:
    table = [c.name for c in Station.__table__.columns if c.name != "geom"]
    assert sorted(STATION_COLUMNS) == sorted(table)


def test_same_frame_as_the_repository(db_session: Session, tmp_path: Path) -> None:
    path = tmp_path / "three.csv"
    path.write_text(ROWS, encoding="utf-8")
    repo.import_stations(db_session, read_station_file(path), source="snap", actor="t")
    dbapi = db_session.connection().connection.dbapi_connection  # the test's open transaction
    ours = stations_frame_dbapi(dbapi)
    ref = repo.stations_frame(db_session)
    assert len(ours) == 3
    assert ours["seats"].tolist()[0] == 6 and ours["floor_area_m2"].tolist()[0] == pytest.approx(25.5)
    assert_frame_equal(ours, ref)  # values, dtypes, column order, CRS-bearing geometry column
    assert ours.crs == ref.crs


def test_read_stations_on_its_own_connection(clean_store: Engine, database_url: str, tmp_path: Path) -> None:
    """The command line's path: a fresh read-only psycopg2 connection to the configured URL."""
    path = tmp_path / "three.csv"
    path.write_text(ROWS, encoding="utf-8")
    with Session(clean_store) as session:
        repo.import_stations(session, read_station_file(path), source="snap", actor="t")
        ref = repo.stations_frame(session)
    ours = read_stations(database_url)
    assert len(ours) == 3
    assert_frame_equal(ours, ref)
    assert str(ours["created_at"].iloc[0].tzinfo) == str(ref["created_at"].iloc[0].tzinfo)


def test_empty_registry_gives_the_empty_frame(db_session: Session) -> None:
    dbapi = db_session.connection().connection.dbapi_connection
    ours = stations_frame_dbapi(dbapi)
    assert ours.empty
    assert list(ours.columns) == list(repo.stations_frame(db_session).columns)


def test_unreachable_server_is_store_unavailable() -> None:
    with pytest.raises(StoreUnavailableError, match="cannot connect to the PostGIS store at "
                       r"postgresql://u:\*\*\*@127.0.0.1:1/x"):
        read_stations("postgresql://u:secret@127.0.0.1:1/x")


def test_unmigrated_database_says_to_upgrade(database_url: str) -> None:
    admin = make_url(database_url).set(database="postgres").render_as_string(hide_password=False)
    with pytest.raises(StoreUnavailableError, match="no stations table: run `yizhan db upgrade`"):
        read_stations(admin)
