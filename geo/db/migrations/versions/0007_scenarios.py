"""Scenarios: a named plan (its base) and its ordered actions with cost, phase and year
(models: ``geo/db/scenario_models.py``).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects.postgresql import ARRAY

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "scenarios",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("base", sa.Text, nullable=False, server_default=sa.text("'db'")),
        sa.Column("description", sa.Text, nullable=False, server_default=sa.text("''")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint("name", name="uq_scenarios_name"),
        sa.CheckConstraint("length(name) BETWEEN 1 AND 200", name="ck_scenarios_name"),
    )
    op.create_table(
        "scenario_actions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("scenario_id", sa.Integer,
                  sa.ForeignKey("scenarios.id", ondelete="CASCADE", name="fk_scenario_actions_scenario"),
                  nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("station_id", sa.Text),
        sa.Column("geom", Geometry("POINT", srid=4326, spatial_index=False), nullable=True),
        sa.Column("source_crs", sa.Text, nullable=False, server_default=sa.text("'wgs84'")),
        sa.Column("name", sa.Text),
        sa.Column("station_kind", sa.Text),
        sa.Column("amenities", ARRAY(sa.Text)),
        sa.Column("opening_hours", sa.Text),
        sa.Column("cost", sa.Float, nullable=False, server_default=sa.text("0")),
        sa.Column("phase", sa.Integer, nullable=False, server_default=sa.text("1")),
        sa.Column("year", sa.Integer),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint("scenario_id", "seq", name="uq_scenario_actions_seq"),
        sa.CheckConstraint("seq >= 1", name="ck_scenario_actions_seq"),
        sa.CheckConstraint("kind IN ('add', 'close', 'relocate', 'hours', 'amenities')",
                           name="ck_scenario_actions_kind"),
        sa.CheckConstraint("source_crs IN ('wgs84', 'gcj02', 'bd09')", name="ck_scenario_actions_source_crs"),
        sa.CheckConstraint("cost >= 0", name="ck_scenario_actions_cost"),
        sa.CheckConstraint("phase >= 1", name="ck_scenario_actions_phase"),
    )


def downgrade() -> None:
    op.drop_table("scenario_actions")
    op.drop_table("scenarios")
