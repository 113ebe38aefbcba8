"""Station operations: visits (一站一码), star ratings, worker feedback, 上图 checks; status 'suspended'.

No foreign keys to ``stations`` on purpose (as ``station_changes``): the history of a hard-deleted
station survives it, and ``TRUNCATE stations`` keeps working.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GROUPS = ("delivery_rider", "courier", "sanitation_worker", "driver", "gig_worker", "other")
FEEDBACK_KINDS = ("closed", "broken", "full", "moved", "other")
FEEDBACK_STATES = ("pending", "accepted", "rejected", "resolved")
PRESENCE = ("listed", "misplaced", "renamed", "missing")


def _in(values: Sequence[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def upgrade() -> None:
    op.drop_constraint("ck_stations_status", "stations", type_="check")
    op.create_check_constraint(
        "ck_stations_status", "stations", "status IN ('planned', 'open', 'suspended', 'closed')"
    )
    op.create_table(
        "visits",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("station_id", sa.BigInteger(), nullable=False),
        sa.Column("visited_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("worker_group", sa.Text()),
        sa.Column("service", sa.Text()),
        sa.Column("visitor_hash", sa.Text()),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("dedupe_key", sa.Text()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint(f"worker_group IS NULL OR worker_group IN ({_in(GROUPS)})",
                           name="ck_visits_worker_group"),
        sa.CheckConstraint("channel IN ('import', 'qr')", name="ck_visits_channel"),
        sa.UniqueConstraint("dedupe_key", name="uq_visits_dedupe_key"),
    )
    op.create_index("ix_visits_station_time", "visits", ["station_id", "visited_at"])
    op.create_index("ix_visits_time", "visits", ["visited_at"])

    op.create_table(
        "star_ratings",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("station_id", sa.BigInteger(), nullable=False),
        sa.Column("stars", sa.Integer(), nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("inputs", postgresql.JSONB(), nullable=False),
        sa.Column("rated_on", sa.Date(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("stars BETWEEN 1 AND 5", name="ck_star_ratings_stars"),
    )
    op.create_index("ix_star_ratings_station", "star_ratings", ["station_id", "rated_on"])

    op.create_table(
        "feedback",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("station_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False, server_default=sa.text("''")),
        sa.Column("geom", geoalchemy2.Geometry("POINT", srid=4326, spatial_index=False)),
        sa.Column("state", sa.Text(), nullable=False, server_default=sa.text("'pending'")),
        sa.Column("client_hash", sa.Text()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("moderated_at", sa.DateTime(timezone=True)),
        sa.Column("moderator", sa.Text()),
        sa.Column("resolved_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint(f"kind IN ({_in(FEEDBACK_KINDS)})", name="ck_feedback_kind"),
        sa.CheckConstraint(f"state IN ({_in(FEEDBACK_STATES)})", name="ck_feedback_state"),
        sa.CheckConstraint("length(text) <= 2000", name="ck_feedback_text_length"),
    )
    op.create_index("ix_feedback_state", "feedback", ["state", "created_at"])
    op.create_index("ix_feedback_station", "feedback", ["station_id"])

    op.create_table(
        "map_presence",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("station_id", sa.BigInteger(), nullable=False),
        sa.Column("provider", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("distance_m", sa.Float()),
        sa.Column("poi_name", sa.Text()),
        sa.Column("checked_on", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint(f"status IN ({_in(PRESENCE)})", name="ck_map_presence_status"),
        sa.CheckConstraint("provider IN ('amap', 'baidu', 'other')", name="ck_map_presence_provider"),
    )
    op.create_index("ix_map_presence_station", "map_presence", ["station_id", "checked_on"])


def downgrade() -> None:
    op.drop_table("map_presence")
    op.drop_table("feedback")
    op.drop_table("star_ratings")
    op.drop_table("visits")
    op.execute("UPDATE stations SET status = 'closed' WHERE status = 'suspended'")
    op.drop_constraint("ck_stations_status", "stations", type_="check")
    op.create_check_constraint("ck_stations_status", "stations", "status IN ('planned', 'open', 'closed')")
