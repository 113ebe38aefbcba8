"""Every station has a version, raised by one with every real change (HTTP ETag / If-Match).

A BEFORE UPDATE trigger sets ``version = OLD.version + 1`` when the row really changes (an update
that changes nothing keeps it, as the audit trigger writes nothing then). It runs after
``stations_touch`` (triggers of one kind fire in name order), so ``updated_at`` and ``version`` move
together. Inserts start at 1.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UP = """
ALTER TABLE stations ADD COLUMN version bigint NOT NULL DEFAULT 1;

CREATE FUNCTION yizhan_station_row_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.version := OLD.version;
  IF NEW IS DISTINCT FROM OLD THEN
    NEW.version := OLD.version + 1;
  END IF;
  RETURN NEW;
END
$$;

CREATE TRIGGER stations_touch_version BEFORE UPDATE ON stations
  FOR EACH ROW EXECUTE FUNCTION yizhan_station_row_version();
"""

DOWN = """
DROP TRIGGER IF EXISTS stations_touch_version ON stations;
DROP FUNCTION IF EXISTS yizhan_station_row_version();
ALTER TABLE stations DROP COLUMN IF EXISTS version;
"""


def upgrade() -> None:
    op.execute(UP)


def downgrade() -> None:
    op.execute(DOWN)
