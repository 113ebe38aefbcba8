"""Organisations (小三级), API keys per organisation, station targets, and the acting organisation
on every audit row.

``orgs`` is the union tree (national → province → prefecture → county → township → community, and
hosts: banks, fuel stations, 党群 centres) with an optional area polygon. ``api_keys`` stores a
public key id and a scrypt hash of each key, never the key. ``station_changes.org_code`` is filled
by its column default from the transaction setting ``yizhan.org`` (set next to ``yizhan.actor``),
so the audit trigger of 0001/0003 is left as it is.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import geoalchemy2
import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEVELS = ("national", "province", "prefecture", "county", "township", "community", "host")
ROLES = ("viewer", "editor", "admin")


def _in(values: Sequence[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def upgrade() -> None:
    op.create_table(
        "orgs",
        sa.Column("code", sa.Text(), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("level", sa.Text(), nullable=False),
        sa.Column("parent_code", sa.Text(), sa.ForeignKey("orgs.code", name="fk_orgs_parent"), nullable=True),
        sa.Column(
            "area", geoalchemy2.Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=True
        ),
        sa.Column("area_source", sa.Text()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint(f"level IN ({_in(LEVELS)})", name="ck_orgs_level"),
        sa.CheckConstraint("length(btrim(name)) > 0", name="ck_orgs_name"),
        sa.CheckConstraint("parent_code IS DISTINCT FROM code", name="ck_orgs_parent_not_self"),
    )
    op.create_index("ix_orgs_parent_code", "orgs", ["parent_code"])
    op.create_index("ix_orgs_area", "orgs", ["area"], postgresql_using="gist")

    op.create_table(
        "api_keys",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("key_id", sa.Text(), nullable=False),
        sa.Column("org_code", sa.Text(), sa.ForeignKey("orgs.code", name="fk_api_keys_org"), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("secret_hash", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("created_by", sa.Text()),
        sa.Column("expires_at", sa.DateTime(timezone=True)),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("name", name="uq_api_keys_name"),
        sa.UniqueConstraint("key_id", name="uq_api_keys_key_id"),
        sa.CheckConstraint(f"role IN ({_in(ROLES)})", name="ck_api_keys_role"),
    )
    op.create_index("ix_api_keys_org_code", "api_keys", ["org_code"])

    op.create_table(
        "targets",
        sa.Column("org_code", sa.Text(), sa.ForeignKey("orgs.code", name="fk_targets_org"), primary_key=True),
        sa.Column("year", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("stations_target", sa.Integer(), nullable=False),
        sa.CheckConstraint("stations_target >= 0", name="ck_targets_stations"),
        sa.CheckConstraint("year BETWEEN 2000 AND 2100", name="ck_targets_year"),
    )

    op.add_column(
        "station_changes",
        sa.Column(
            "org_code",
            sa.Text(),
            nullable=True,
            server_default=sa.text("nullif(current_setting('yizhan.org', true), '')"),
        ),
    )


def downgrade() -> None:
    op.drop_column("station_changes", "org_code")
    op.drop_table("targets")
    op.drop_index("ix_api_keys_org_code", table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_index("ix_orgs_area", table_name="orgs")
    op.drop_index("ix_orgs_parent_code", table_name="orgs")
    op.drop_table("orgs")
