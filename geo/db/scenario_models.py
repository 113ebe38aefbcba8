"""ORM models of the scenario tables (migration ``0007``): a named plan and its ordered actions.

They share :class:`geo.db.models.Base` (``geo/db/models.py`` imports this module at its end) so the
migrations-vs-models check covers them. Points are EPSG:4326 with their source CRS kept.
"""

from __future__ import annotations

from geoalchemy2 import Geometry
from sqlalchemy import (
    CheckConstraint,
    Float,
    ForeignKey,
    Integer,
    Text,
    UniqueConstraint,
)
from sqlalchemy import text as sql_text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from geo.db.models import Base, WrittenAt


class ScenarioRow(Base):
    """A named plan: its base (``db`` or a station file) and a description."""

    __tablename__ = "scenarios"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    base: Mapped[str] = mapped_column(Text, nullable=False, server_default=sql_text("'db'"))
    description: Mapped[str] = mapped_column(Text, nullable=False, server_default=sql_text("''"))
    created_at: Mapped[WrittenAt]
    updated_at: Mapped[WrittenAt]

    __table_args__ = (
        UniqueConstraint("name", name="uq_scenarios_name"),
        CheckConstraint("length(name) BETWEEN 1 AND 200", name="ck_scenarios_name"),
    )


class ScenarioActionRow(Base):
    """One action of a scenario, numbered ``seq`` from 1 within it."""

    __tablename__ = "scenario_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scenario_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("scenarios.id", ondelete="CASCADE", name="fk_scenario_actions_scenario"),
        nullable=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    station_id: Mapped[str | None] = mapped_column(Text)
    geom = mapped_column(Geometry("POINT", srid=4326, spatial_index=False), nullable=True)
    source_crs: Mapped[str] = mapped_column(Text, nullable=False, server_default=sql_text("'wgs84'"))
    name: Mapped[str | None] = mapped_column(Text)
    station_kind: Mapped[str | None] = mapped_column(Text)
    amenities: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    opening_hours: Mapped[str | None] = mapped_column(Text)
    cost: Mapped[float] = mapped_column(Float, nullable=False, server_default=sql_text("0"))
    phase: Mapped[int] = mapped_column(Integer, nullable=False, server_default=sql_text("1"))
    year: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[WrittenAt]

    __table_args__ = (
        UniqueConstraint("scenario_id", "seq", name="uq_scenario_actions_seq"),
        CheckConstraint("seq >= 1", name="ck_scenario_actions_seq"),
        CheckConstraint("kind IN ('add', 'close', 'relocate', 'hours', 'amenities')",
                        name="ck_scenario_actions_kind"),
        CheckConstraint("source_crs IN ('wgs84', 'gcj02', 'bd09')", name="ck_scenario_actions_source_crs"),
        CheckConstraint("cost >= 0", name="ck_scenario_actions_cost"),
        CheckConstraint("phase >= 1", name="ck_scenario_actions_phase"),
    )
