"""Scenarios: a named plan (its base) and its ordered actions with cost, phase and year.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("""
    CREATE TABLE scenarios (
      id serial PRIMARY KEY,
      name text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
      base text NOT NULL DEFAULT 'db',
      description text NOT NULL DEFAULT '',
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE scenario_actions (
      id serial PRIMARY KEY,
      scenario_id integer NOT NULL REFERENCES scenarios(id) ON DELETE CASCADE,
      seq integer NOT NULL CHECK (seq >= 1),
      kind text NOT NULL CHECK (kind IN ('add', 'close', 'relocate', 'hours', 'amenities')),
      station_id text,
      geom geometry(Point, 4326),
      source_crs text NOT NULL DEFAULT 'wgs84' CHECK (source_crs IN ('wgs84', 'gcj02', 'bd09')),
      name text,
      station_kind text,
      amenities text[],
      opening_hours text,
      cost double precision NOT NULL DEFAULT 0 CHECK (cost >= 0),
      phase integer NOT NULL DEFAULT 1 CHECK (phase >= 1),
      year integer,
      created_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (scenario_id, seq)
    );
    """)


def downgrade() -> None:
    op.execute("DROP TABLE scenario_actions; DROP TABLE scenarios;")
