"""Audit trail: every insert, update, close and delete of a station writes a row with before/after."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from geo.db import repository as repo
from geo.errors import ConflictError, InputError, NotFoundError

PROPS = {"name": "西丽街道工会驿站", "lon": 113.9500, "lat": 22.5800, "kind": "工会驿站",
         "amenities": "饮用水、充电", "opening_hours": "08:00-20:00"}


def test_insert_update_close_delete_are_audited(db_session: Session) -> None:
    v0 = repo.registry_version(db_session)
    st = repo.create_station(db_session, PROPS, actor="alice")
    sid = st["station_id"]
    assert st["external_id"] == f"manual-{sid}" and st["source"] == "manual"
    assert st["amenities"] == ["drinking_water", "charging"]
    v1 = repo.registry_version(db_session)
    assert v1 > v0

    upd = repo.update_station(db_session, sid, {"phone": "0755-1", "seats": 6}, actor="bob", partial=True)
    assert (upd["phone"], upd["seats"], upd["name"]) == ("0755-1", 6, PROPS["name"])
    assert upd["updated_at"] >= st["updated_at"]
    v2 = repo.registry_version(db_session)
    assert v2 > v1

    # a PATCH that changes nothing writes no audit row and keeps the version
    repo.update_station(db_session, sid, {"phone": "0755-1"}, actor="bob", partial=True)
    assert repo.registry_version(db_session) == v2

    closed = repo.close_station(db_session, sid, actor="carol")
    assert closed["status"] == "closed"
    repo.close_station(db_session, sid, actor="carol")  # closing twice changes nothing

    repo.delete_station(db_session, sid, actor="dave")
    with pytest.raises(NotFoundError):
        repo.get_station(db_session, sid)

    changes = repo.station_changes(db_session, sid)
    assert [(c["operation"], c["actor"]) for c in changes] == [
        ("insert", "alice"), ("update", "bob"), ("close", "carol"), ("delete", "dave")]
    ins, upd_row, close_row, del_row = changes
    assert ins["before"] is None and ins["after"]["name"] == PROPS["name"]
    assert ins["after"]["geom"] == {"type": "Point", "coordinates": [113.95, 22.58]}
    assert upd_row["before"]["phone"] is None and upd_row["after"]["phone"] == "0755-1"
    assert upd_row["before"]["seats"] is None and upd_row["after"]["seats"] == 6
    assert close_row["before"]["status"] == "open" and close_row["after"]["status"] == "closed"
    assert del_row["before"]["status"] == "closed" and del_row["after"] is None
    assert repo.registry_version(db_session) == v2 + 2  # close and delete


def test_full_update_replaces_and_validates(db_session: Session) -> None:
    st = repo.create_station(db_session, {**PROPS, "phone": "123"}, actor="a")
    out = repo.update_station(db_session, st["station_id"],
                              {"name": "西丽街道工会驿站", "lon": 113.9500, "lat": 22.5800, "kind": "love"},
                              actor="a", partial=False)
    got = (out["kind"], out["phone"], out["amenities"], out["opening_hours"])
    assert got == ("love_station", None, [], None)
    with pytest.raises(InputError) as caught:
        repo.update_station(db_session, st["station_id"], {"opening_hours": "whenever"}, actor="a",
                            partial=True)
    assert caught.value.field == "opening_hours"
    with pytest.raises(InputError) as caught:
        repo.update_station(db_session, st["station_id"], {"name": "x"}, actor="a", partial=False)
    assert caught.value.field == "lon"
    with pytest.raises(InputError) as caught:
        repo.create_station(db_session, {**PROPS, "lon": 2.35, "lat": 48.85}, actor="a")
    assert caught.value.field == "lon" and "outside mainland China" in caught.value.message


def test_create_rejects_duplicates(db_session: Session) -> None:
    repo.create_station(db_session, {**PROPS, "source": "city", "external_id": "42"}, actor="a")
    with pytest.raises(ConflictError):
        repo.create_station(db_session, {**PROPS, "source": "city", "external_id": "42", "lon": 113.99},
                            actor="a")
    with pytest.raises(ConflictError, match="duplicate of existing station"):
        repo.create_station(db_session, {**PROPS, "name": "西丽街道工会驿站（二）", "lon": 113.95005},
                            actor="a")
    # far enough away it is another station
    repo.create_station(db_session, {**PROPS, "lon": 113.9510}, actor="a")


def test_gcj02_input_is_stored_as_wgs84(db_session: Session) -> None:
    from geo.crs import wgs84_to_gcj02

    glon, glat = wgs84_to_gcj02(113.95, 22.58)
    st = repo.create_station(db_session, {**PROPS, "lon": glon, "lat": glat}, actor="a", crs="gcj02")
    assert st["source_crs"] == "gcj02"
    assert abs(st["lon"] - 113.95) < 1e-8 and abs(st["lat"] - 22.58) < 1e-8


def test_changes_of_unknown_station(db_session: Session) -> None:
    with pytest.raises(NotFoundError):
        repo.station_changes(db_session, 987654321)
    with pytest.raises(InputError):
        repo.create_station(db_session, PROPS, actor=" ")


def test_version_orders_concurrent_writers(clean_store: Engine) -> None:
    """A second writer waits for the first (registry_state row lock), so versions follow commit order."""
    insert = text("INSERT INTO stations (source, external_id, name, kind, geom) "
                  "VALUES ('t', :e, :n, 'other', ST_SetSRID(ST_MakePoint(:x, 22.54), 4326))")
    with clean_store.connect() as a, clean_store.connect() as b:
        start = a.execute(text("SELECT version FROM registry_state")).scalar_one()
        a.execute(insert, {"e": "A", "n": "甲驿站", "x": 113.93})
        b.execute(text("SET lock_timeout = '300ms'"))
        with pytest.raises(OperationalError, match="lock timeout"):
            b.execute(insert, {"e": "B", "n": "乙驿站", "x": 113.95})
        b.rollback()
        a.commit()
        b.execute(insert, {"e": "B", "n": "乙驿站", "x": 113.95})
        b.commit()
        assert b.execute(text("SELECT version FROM registry_state")).scalar_one() == start + 2
