"""Registry version counter bumped by the audit trigger.

``max(station_changes.id)`` is not monotonic in commit order when two writers overlap (the one
holding the smaller id may commit last). A one-row counter updated inside the same trigger is:
the row lock orders the writers, so every committed change raises the version.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AUDIT_WITH_VERSION = """
CREATE OR REPLACE FUNCTION yizhan_station_audit() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  who text := coalesce(nullif(current_setting('yizhan.actor', true), ''), session_user::text);
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO station_changes (station_id, actor, operation, before, after)
    VALUES (NEW.id, who, 'insert', NULL, yizhan_station_json(NEW));
  ELSIF TG_OP = 'UPDATE' THEN
    IF (to_jsonb(NEW) - 'updated_at') IS NOT DISTINCT FROM (to_jsonb(OLD) - 'updated_at') THEN
      RETURN NEW;
    END IF;
    INSERT INTO station_changes (station_id, actor, operation, before, after)
    VALUES (NEW.id, who,
            CASE WHEN NEW.status = 'closed' AND OLD.status <> 'closed' THEN 'close' ELSE 'update' END,
            yizhan_station_json(OLD), yizhan_station_json(NEW));
  ELSE
    INSERT INTO station_changes (station_id, actor, operation, before, after)
    VALUES (OLD.id, who, 'delete', yizhan_station_json(OLD), NULL);
  END IF;
  UPDATE registry_state SET version = version + 1 WHERE id = 1;
  IF TG_OP = 'DELETE' THEN
    RETURN OLD;
  END IF;
  RETURN NEW;
END
$$;
"""

AUDIT_0001 = """
CREATE OR REPLACE FUNCTION yizhan_station_audit() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  who text := coalesce(nullif(current_setting('yizhan.actor', true), ''), session_user::text);
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO station_changes (station_id, actor, operation, before, after)
    VALUES (NEW.id, who, 'insert', NULL, yizhan_station_json(NEW));
    RETURN NEW;
  ELSIF TG_OP = 'UPDATE' THEN
    IF (to_jsonb(NEW) - 'updated_at') IS DISTINCT FROM (to_jsonb(OLD) - 'updated_at') THEN
      INSERT INTO station_changes (station_id, actor, operation, before, after)
      VALUES (NEW.id, who,
              CASE WHEN NEW.status = 'closed' AND OLD.status <> 'closed' THEN 'close' ELSE 'update' END,
              yizhan_station_json(OLD), yizhan_station_json(NEW));
    END IF;
    RETURN NEW;
  ELSE
    INSERT INTO station_changes (station_id, actor, operation, before, after)
    VALUES (OLD.id, who, 'delete', yizhan_station_json(OLD), NULL);
    RETURN OLD;
  END IF;
END
$$;
"""


def upgrade() -> None:
    op.create_table(
        "registry_state",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("version", sa.BigInteger(), nullable=False, server_default=sa.text("0")),
        sa.CheckConstraint("id = 1", name="ck_registry_state_single_row"),
    )
    op.execute("INSERT INTO registry_state (id, version) SELECT 1, count(*) FROM station_changes")
    op.execute(AUDIT_WITH_VERSION)


def downgrade() -> None:
    op.execute(AUDIT_0001)
    op.drop_table("registry_state")
