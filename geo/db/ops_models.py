"""ORM models of the station-operations tables (migration ``0006``): visits, star ratings, worker
feedback and 上图 (map presence) checks. Geometries are EPSG:4326.

They share :class:`geo.db.models.Base` (``geo/db/models.py`` imports this module at its end) so the
migrations-vs-models check covers them. No foreign keys to ``stations``: like ``station_changes``,
this history outlives a hard-deleted station.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    Text,
    UniqueConstraint,
)
from sqlalchemy import (
    text as sql_text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from geo.db.models import Base, BigId, StationRef, WrittenAt

FEEDBACK_KINDS = ("closed", "broken", "full", "moved", "other")
FEEDBACK_STATES = ("pending", "accepted", "rejected", "resolved")
PRESENCE_STATUSES = ("listed", "misplaced", "renamed", "missing")
VISIT_CHANNELS = ("import", "qr")


class Visit(Base):
    """One logged visit (一站一码 scan or an imported visit log row)."""

    __tablename__ = "visits"

    id: Mapped[BigId]
    station_id: Mapped[StationRef]
    visited_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    worker_group: Mapped[str | None] = mapped_column(Text)
    service: Mapped[str | None] = mapped_column(Text)
    #: HMAC-SHA256 of the normalised phone number (never the number itself)
    visitor_hash: Mapped[str | None] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(Text, nullable=False)
    #: imports: a digest of the row, so importing a file twice does not count its visits twice
    dedupe_key: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[WrittenAt]

    __table_args__ = (
        UniqueConstraint("dedupe_key", name="uq_visits_dedupe_key"),
        Index("ix_visits_station_time", "station_id", "visited_at"),
        Index("ix_visits_time", "visited_at"),
    )


class StarRating(Base):
    """A star rating (1–5) with the inputs it was computed from and the day it was made."""

    __tablename__ = "star_ratings"

    id: Mapped[BigId]
    station_id: Mapped[StationRef]
    stars: Mapped[int] = mapped_column(Integer, nullable=False)
    rule: Mapped[str] = mapped_column(Text, nullable=False)
    inputs: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    rated_on: Mapped[date] = mapped_column(Date, nullable=False)
    actor: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[WrittenAt]

    __table_args__ = (
        CheckConstraint("stars BETWEEN 1 AND 5", name="ck_star_ratings_stars"),
        Index("ix_star_ratings_station", "station_id", "rated_on"),
    )


class Feedback(Base):
    """A worker's report about a station, moderated before it has any effect."""

    __tablename__ = "feedback"

    id: Mapped[BigId]
    station_id: Mapped[StationRef]
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False, server_default=sql_text("''"))
    geom: Mapped[Any | None] = mapped_column(Geometry("POINT", srid=4326, spatial_index=False), nullable=True)
    state: Mapped[str] = mapped_column(Text, nullable=False, server_default=sql_text("'pending'"))
    client_hash: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[WrittenAt]
    moderated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    moderator: Mapped[str | None] = mapped_column(Text)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_feedback_state", "state", "created_at"),
        Index("ix_feedback_station", "station_id"),
    )


class MapPresence(Base):
    """One 上图 check of a station against a map provider's POIs (from ``yizhan audit maps``)."""

    __tablename__ = "map_presence"

    id: Mapped[BigId]
    station_id: Mapped[StationRef]
    provider: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False)
    distance_m: Mapped[float | None] = mapped_column(Float)
    poi_name: Mapped[str | None] = mapped_column(Text)
    checked_on: Mapped[date] = mapped_column(Date, nullable=False)
    created_at: Mapped[WrittenAt]

    __table_args__ = (Index("ix_map_presence_station", "station_id", "checked_on"),)
