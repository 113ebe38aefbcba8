"""ORM models of the PostGIS store (EPSG:4326 geometries).

The schema is created and changed ONLY by the Alembic migrations in ``geo/db/migrations``; these
classes describe it for queries. ``tests/geo/db/test_store.py`` checks that the two agree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

STATUSES = ("planned", "open", "suspended", "closed")
SOURCE_CRSES = ("wgs84", "gcj02", "bd09")
AREA_LEVELS = ("county", "township", "community")
OPERATIONS = ("insert", "update", "close", "delete")


# ------------------------------------------------------------------------- column types the tables share
#: a bigint identity primary key
BigId = Annotated[int, mapped_column(BigInteger, Identity(), primary_key=True)]
#: the station a history row is about; no foreign key on purpose: history outlives a hard-deleted station
StationRef = Annotated[int, mapped_column(BigInteger, nullable=False)]
#: a time the server stamps when the row is written (``now()``, with time zone)
WrittenAt = Annotated[
    datetime, mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
]


class Base(DeclarativeBase):
    """Declarative base of the yizhan store."""


class Station(Base):
    """One station of the registry (``stations``)."""

    __tablename__ = "stations"

    id: Mapped[BigId]
    source: Mapped[str] = mapped_column(Text, nullable=False)
    external_id: Mapped[str] = mapped_column(Text, nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default=text("'open'"))
    address: Mapped[str | None] = mapped_column(Text)
    county_name: Mapped[str | None] = mapped_column(Text)
    county_code: Mapped[str | None] = mapped_column(Text)
    township_name: Mapped[str | None] = mapped_column(Text)
    township_code: Mapped[str | None] = mapped_column(Text)
    community_name: Mapped[str | None] = mapped_column(Text)
    community_code: Mapped[str | None] = mapped_column(Text)
    amenities: Mapped[list[str]] = mapped_column(
        ARRAY(Text), nullable=False, server_default=text("'{}'::text[]")
    )
    opening_hours: Mapped[str | None] = mapped_column(Text)
    host_org: Mapped[str | None] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(Text)
    seats: Mapped[int | None] = mapped_column(Integer)
    floor_area_m2: Mapped[float | None] = mapped_column(Float)
    geom: Mapped[Any] = mapped_column(
        Geometry("POINT", srid=4326, spatial_index=False), nullable=False
    )
    source_crs: Mapped[str] = mapped_column(Text, nullable=False, server_default=text("'wgs84'"))
    created_at: Mapped[WrittenAt]
    updated_at: Mapped[WrittenAt]
    #: raised by a trigger with every real change (migration 0004); HTTP ETag / If-Match
    version: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default=text("1"))

    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_stations_source_external_id"),
        CheckConstraint("status IN ('planned', 'open', 'suspended', 'closed')", name="ck_stations_status"),
        CheckConstraint("source_crs IN ('wgs84', 'gcj02', 'bd09')", name="ck_stations_source_crs"),
        CheckConstraint("seats IS NULL OR seats >= 0", name="ck_stations_seats"),
        CheckConstraint("floor_area_m2 IS NULL OR floor_area_m2 >= 0", name="ck_stations_floor_area"),
        Index("ix_stations_geom", "geom", postgresql_using="gist"),
        Index("ix_stations_kind", "kind"),
        Index("ix_stations_township_code", "township_code"),
        Index("ix_stations_amenities", "amenities", postgresql_using="gin"),
    )


class StationChange(Base):
    """Audit row written by a trigger for every insert, update, close and delete of a station."""

    __tablename__ = "station_changes"

    id: Mapped[BigId]
    # no foreign key on purpose: the history of a hard-deleted station must survive it
    station_id: Mapped[StationRef]
    changed_at: Mapped[WrittenAt]
    actor: Mapped[str] = mapped_column(Text, nullable=False)
    operation: Mapped[str] = mapped_column(Text, nullable=False)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    #: the acting organisation (orgs): column default from the transaction setting ``yizhan.org``
    org_code: Mapped[str | None] = mapped_column(
        Text, server_default=text("nullif(current_setting('yizhan.org', true), '')")
    )

    __table_args__ = (
        CheckConstraint(
            "operation IN ('insert', 'update', 'close', 'delete')", name="ck_station_changes_operation"
        ),
        Index("ix_station_changes_station_id", "station_id"),
    )


class RegistryState(Base):
    """One row: ``version`` is raised by the audit trigger with every committed station change."""

    __tablename__ = "registry_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default=text("0"))

    __table_args__ = (CheckConstraint("id = 1", name="ck_registry_state_single_row"),)


class Area(Base):
    """An administrative polygon (county, township = 乡镇/街道, community = 社区/村)."""

    __tablename__ = "areas"

    id: Mapped[BigId]
    level: Mapped[str] = mapped_column(Text, nullable=False)
    code: Mapped[str] = mapped_column(Text, nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    parent_code: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(Text)
    geom: Mapped[Any] = mapped_column(
        Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False
    )
    updated_at: Mapped[WrittenAt]

    __table_args__ = (
        UniqueConstraint("level", "code", name="uq_areas_level_code"),
        CheckConstraint("level IN ('county', 'township', 'community')", name="ck_areas_level"),
        Index("ix_areas_geom", "geom", postgresql_using="gist"),
    )


class DemandPoint(Base):
    """A weighted demand point of one worker group (``demand_points``)."""

    __tablename__ = "demand_points"

    id: Mapped[BigId]
    layer: Mapped[str] = mapped_column(Text, nullable=False)
    worker_group: Mapped[str] = mapped_column(Text, nullable=False)
    weight: Mapped[float] = mapped_column(Float, nullable=False, server_default=text("1"))
    external_id: Mapped[str | None] = mapped_column(Text)
    properties: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    geom: Mapped[Any] = mapped_column(
        Geometry("POINT", srid=4326, spatial_index=False), nullable=False
    )
    created_at: Mapped[WrittenAt]

    __table_args__ = (
        CheckConstraint("weight >= 0", name="ck_demand_points_weight"),
        Index("ix_demand_points_geom", "geom", postgresql_using="gist"),
        Index("ix_demand_points_layer", "layer"),
    )


# -- organisations and access (orgs, migration 0005) ------------------------------------------------

class Org(Base):
    """A trade-union organisation (小三级 tree) or a host, with an optional area polygon."""

    __tablename__ = "orgs"

    code: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    level: Mapped[str] = mapped_column(Text, nullable=False)
    parent_code: Mapped[str | None] = mapped_column(Text, ForeignKey("orgs.code", name="fk_orgs_parent"))
    area: Mapped[Any] = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=True)
    area_source: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[WrittenAt]

    __table_args__ = (
        CheckConstraint(
            "level IN ('national', 'province', 'prefecture', 'county', 'township', 'community', 'host')",
            name="ck_orgs_level",
        ),
        CheckConstraint("length(btrim(name)) > 0", name="ck_orgs_name"),
        CheckConstraint("parent_code IS DISTINCT FROM code", name="ck_orgs_parent_not_self"),
        Index("ix_orgs_parent_code", "parent_code"),
        Index("ix_orgs_area", "area", postgresql_using="gist"),
    )


class ApiKey(Base):
    """An API key of an organisation: public ``key_id`` and a scrypt hash, never the secret."""

    __tablename__ = "api_keys"

    id: Mapped[BigId]
    name: Mapped[str] = mapped_column(Text, nullable=False)
    key_id: Mapped[str] = mapped_column(Text, nullable=False)
    org_code: Mapped[str] = mapped_column(
        Text, ForeignKey("orgs.code", name="fk_api_keys_org"), nullable=False
    )
    role: Mapped[str] = mapped_column(Text, nullable=False)
    secret_hash: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[WrittenAt]
    created_by: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint("name", name="uq_api_keys_name"),
        UniqueConstraint("key_id", name="uq_api_keys_key_id"),
        CheckConstraint("role IN ('viewer', 'editor', 'admin')", name="ck_api_keys_role"),
        Index("ix_api_keys_org_code", "org_code"),
    )


class Target(Base):
    """Stations an organisation plans to have by the end of a year."""

    __tablename__ = "targets"

    org_code: Mapped[str] = mapped_column(
        Text, ForeignKey("orgs.code", name="fk_targets_org"), primary_key=True
    )
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    stations_target: Mapped[int] = mapped_column(Integer, nullable=False)

    __table_args__ = (
        CheckConstraint("stations_target >= 0", name="ck_targets_stations"),
        CheckConstraint("year BETWEEN 2000 AND 2100", name="ck_targets_year"),
    )

# station operations (visits, stars, feedback, 上图): their tables on the same metadata (migration 0006)
from geo.db import ops_models as _ops_models  # noqa: E402,F401

# scenarios (named plans and their actions): their tables on the same metadata (migration 0007)
from geo.db import scenario_models as _scenario_models  # noqa: E402,F401
