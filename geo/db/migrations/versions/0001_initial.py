"""Initial schema: stations (+ audit trigger), station_changes, areas, demand_points.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Codes frozen at this revision (data/station_kinds.toml, data/amenities.toml, data/worker_groups.toml).
# Adding a code to a checklist needs a migration that widens these checks.
KINDS = ("outdoor_worker_station", "union_station", "love_station", "gig_station",
         "worker_service_center", "worker_home", "mother_baby_room", "other")
AMENITIES = ("drinking_water", "microwave", "charging", "toilet", "first_aid", "seating",
             "air_conditioning", "fridge", "wifi", "books", "umbrella", "aed", "legal_counselling",
             "psych_counselling", "parking", "repair_kit", "job_services")
GROUPS = ("delivery_rider", "courier", "sanitation_worker", "driver", "gig_worker", "other")


def _in(values: Sequence[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


AUDIT_FUNCTION = """
CREATE OR REPLACE FUNCTION yizhan_station_json(s stations) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
  SELECT (to_jsonb(s) - 'geom') || jsonb_build_object('geom', ST_AsGeoJSON(s.geom, 7)::jsonb)
$$;

CREATE OR REPLACE FUNCTION yizhan_station_touch() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF (to_jsonb(NEW) - 'updated_at') IS DISTINCT FROM (to_jsonb(OLD) - 'updated_at') THEN
    NEW.updated_at := now();
  END IF;
  RETURN NEW;
END
$$;

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

CREATE TRIGGER stations_touch BEFORE UPDATE ON stations
  FOR EACH ROW EXECUTE FUNCTION yizhan_station_touch();
CREATE TRIGGER stations_audit AFTER INSERT OR UPDATE OR DELETE ON stations
  FOR EACH ROW EXECUTE FUNCTION yizhan_station_audit();
"""


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table(
        "stations",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("external_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False, server_default=sa.text("'open'")),
        sa.Column("address", sa.Text()),
        sa.Column("county_name", sa.Text()),
        sa.Column("county_code", sa.Text()),
        sa.Column("township_name", sa.Text()),
        sa.Column("township_code", sa.Text()),
        sa.Column("community_name", sa.Text()),
        sa.Column("community_code", sa.Text()),
        sa.Column("amenities", postgresql.ARRAY(sa.Text()), nullable=False,
                  server_default=sa.text("'{}'::text[]")),
        sa.Column("opening_hours", sa.Text()),
        sa.Column("host_org", sa.Text()),
        sa.Column("phone", sa.Text()),
        sa.Column("seats", sa.Integer()),
        sa.Column("floor_area_m2", sa.Float()),
        sa.Column("geom", geoalchemy2.Geometry("POINT", srid=4326, spatial_index=False), nullable=False),
        sa.Column("source_crs", sa.Text(), nullable=False, server_default=sa.text("'wgs84'")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint("source", "external_id", name="uq_stations_source_external_id"),
        sa.CheckConstraint("status IN ('planned', 'open', 'closed')", name="ck_stations_status"),
        sa.CheckConstraint("source_crs IN ('wgs84', 'gcj02', 'bd09')", name="ck_stations_source_crs"),
        sa.CheckConstraint("seats IS NULL OR seats >= 0", name="ck_stations_seats"),
        sa.CheckConstraint("floor_area_m2 IS NULL OR floor_area_m2 >= 0", name="ck_stations_floor_area"),
        sa.CheckConstraint(f"kind IN ({_in(KINDS)})", name="ck_stations_kind"),
        sa.CheckConstraint(f"amenities <@ ARRAY[{_in(AMENITIES)}]::text[]", name="ck_stations_amenities"),
        sa.CheckConstraint("length(btrim(name)) > 0", name="ck_stations_name"),
    )
    op.create_index("ix_stations_geom", "stations", ["geom"], postgresql_using="gist")
    op.create_index("ix_stations_kind", "stations", ["kind"])
    op.create_index("ix_stations_township_code", "stations", ["township_code"])
    op.create_index("ix_stations_amenities", "stations", ["amenities"], postgresql_using="gin")

    op.create_table(
        "station_changes",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("station_id", sa.BigInteger(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("operation", sa.Text(), nullable=False),
        sa.Column("before", postgresql.JSONB()),
        sa.Column("after", postgresql.JSONB()),
        sa.CheckConstraint("operation IN ('insert', 'update', 'close', 'delete')",
                           name="ck_station_changes_operation"),
    )
    op.create_index("ix_station_changes_station_id", "station_changes", ["station_id"])

    op.create_table(
        "areas",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("level", sa.Text(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("parent_code", sa.Text()),
        sa.Column("source", sa.Text()),
        sa.Column("geom", geoalchemy2.Geometry("MULTIPOLYGON", srid=4326, spatial_index=False),
                  nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint("level", "code", name="uq_areas_level_code"),
        sa.CheckConstraint("level IN ('county', 'township', 'community')", name="ck_areas_level"),
    )
    op.create_index("ix_areas_geom", "areas", ["geom"], postgresql_using="gist")

    op.create_table(
        "demand_points",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("layer", sa.Text(), nullable=False),
        sa.Column("worker_group", sa.Text(), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False, server_default=sa.text("1")),
        sa.Column("external_id", sa.Text()),
        sa.Column("properties", postgresql.JSONB()),
        sa.Column("geom", geoalchemy2.Geometry("POINT", srid=4326, spatial_index=False), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("weight >= 0", name="ck_demand_points_weight"),
        sa.CheckConstraint(f"worker_group IN ({_in(GROUPS)})", name="ck_demand_points_group"),
    )
    op.create_index("ix_demand_points_geom", "demand_points", ["geom"], postgresql_using="gist")
    op.create_index("ix_demand_points_layer", "demand_points", ["layer"])

    op.execute(AUDIT_FUNCTION)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS stations_audit ON stations")
    op.execute("DROP TRIGGER IF EXISTS stations_touch ON stations")
    op.execute("DROP FUNCTION IF EXISTS yizhan_station_audit()")
    op.execute("DROP FUNCTION IF EXISTS yizhan_station_touch()")
    op.execute("DROP FUNCTION IF EXISTS yizhan_station_json(stations)")
    op.drop_table("demand_points")
    op.drop_table("areas")
    op.drop_table("station_changes")
    op.drop_table("stations")
