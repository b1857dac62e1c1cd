"""Baseline: the schema as create_all made it before migrations (commit 746a6b3).

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the tables of portals, tokens, jobs and their results."""
    op.create_table(
        "b24_portals",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("member_id", sa.String(64), nullable=False, unique=True),
        sa.Column("domain", sa.String(255), nullable=False),
        sa.Column("scheme", sa.String(8), nullable=False, server_default="https"),
        sa.Column("client_endpoint", sa.String(512), nullable=False),
        sa.Column("server_endpoint", sa.String(512), nullable=False),
        sa.Column("application_token", sa.String(128), nullable=True),
        sa.Column("language", sa.String(8), nullable=True),
        sa.Column("phone_region", sa.String(4), nullable=True),
        sa.Column("state", sa.String(20), nullable=False, server_default="new"),
        sa.Column("app_version", sa.String(32), nullable=True),
        sa.Column("setup_error", sa.Text, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("installed_at", sa.Float, nullable=True),
        sa.Column("credentials_rejected_at", sa.Float, nullable=True),
    )
    op.create_table(
        "b24_alarms",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("raised_at", sa.Float, nullable=False),
    )
    op.create_table(
        "b24_tokens",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("portal_id", sa.Integer, sa.ForeignKey("b24_portals.id"), nullable=False),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("access_token", sa.Text, nullable=False),
        sa.Column("refresh_token", sa.Text, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Column("scope", sa.String(512), nullable=True),
        sa.Column("is_installer", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("status", sa.String(24), nullable=False, server_default="active"),
        sa.Column("lock_owner", sa.String(64), nullable=True),
        sa.Column("lock_until", sa.Float, nullable=True),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.UniqueConstraint("portal_id", "user_id", name="uq_b24_tokens_portal_user"),
    )
    op.create_table(
        "b24_jobs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("portal_id", sa.Integer, sa.ForeignKey("b24_portals.id"), nullable=False),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("entity_type_id", sa.Integer, nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("progress_done", sa.Integer, nullable=False, server_default="0"),
        sa.Column("progress_total", sa.Integer, nullable=True),
        sa.Column("groups_total", sa.Integer, nullable=False, server_default="0"),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("error_message", sa.Text, nullable=True),
        sa.Column("stats", sa.JSON, nullable=True),
        sa.Column("cancel_requested", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("claimed_by", sa.String(64), nullable=True),
        sa.Column("heartbeat_at", sa.Float, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("started_at", sa.Float, nullable=True),
        sa.Column("finished_at", sa.Float, nullable=True),
    )
    op.create_index("ix_b24_jobs_status", "b24_jobs", ["status", "created_at"])
    op.create_index("ix_b24_jobs_portal", "b24_jobs", ["portal_id", "user_id", "created_at"])
    op.create_table(
        "b24_scan_groups",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("job_id", sa.String(32), sa.ForeignKey("b24_jobs.id"), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("entity_ids", sa.JSON, nullable=False),
        sa.Column("matched_on", sa.JSON, nullable=False),
        sa.Column("members", sa.JSON, nullable=False),
    )
    op.create_index("ix_b24_scan_groups_job", "b24_scan_groups", ["job_id", "kind", "position"])
    op.create_table(
        "b24_merge_items",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("job_id", sa.String(32), sa.ForeignKey("b24_jobs.id"), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("entity_ids", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("kept_id", sa.Integer, nullable=True),
        sa.Column("merged_ids", sa.JSON, nullable=True),
        sa.Column("manual_merge_url", sa.String(1024), nullable=True),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("error_message", sa.Text, nullable=True),
        sa.Column("finished_at", sa.Float, nullable=True),
    )
    op.create_index("ix_b24_merge_items_job", "b24_merge_items", ["job_id", "position"])
    op.create_table(
        "b24_merge_claims",
        sa.Column("portal_id", sa.Integer, primary_key=True),
        sa.Column("entity_type_id", sa.Integer, primary_key=True),
        sa.Column("entity_id", sa.Integer, primary_key=True),
        sa.Column("job_id", sa.String(32), sa.ForeignKey("b24_jobs.id"), nullable=False),
    )
    op.create_table(
        "b24_oauth_states",
        sa.Column("state_hash", sa.String(64), primary_key=True),
        sa.Column("portal_id", sa.Integer, sa.ForeignKey("b24_portals.id"), nullable=False),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Column("used_at", sa.Float, nullable=True),
    )
    op.create_table(
        "b24_not_duplicates",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("portal_id", sa.Integer, sa.ForeignKey("b24_portals.id"), nullable=False),
        sa.Column("entity_type_id", sa.Integer, nullable=False),
        sa.Column("ids_key", sa.String(1024), nullable=False),
        sa.Column("entity_ids", sa.JSON, nullable=False),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.UniqueConstraint("portal_id", "entity_type_id", "ids_key", name="uq_b24_not_duplicates"),
    )
    op.create_table(
        "b24_merge_history",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("portal_id", sa.Integer, sa.ForeignKey("b24_portals.id"), nullable=False),
        sa.Column("job_id", sa.String(32), nullable=False),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("user_name", sa.String(255), nullable=True),
        sa.Column("entity_type_id", sa.Integer, nullable=False),
        sa.Column("entity_ids", sa.JSON, nullable=False),
        sa.Column("kept_id", sa.Integer, nullable=True),
        sa.Column("merged_ids", sa.JSON, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("manual_merge_url", sa.String(1024), nullable=True),
        sa.Column("finished_at", sa.Float, nullable=False),
    )
    op.create_index(
        "ix_b24_merge_history_portal", "b24_merge_history", ["portal_id", "finished_at"]
    )


def downgrade() -> None:
    """Drop every table (children first)."""
    for table in (
        "b24_merge_history",
        "b24_not_duplicates",
        "b24_oauth_states",
        "b24_merge_claims",
        "b24_merge_items",
        "b24_scan_groups",
        "b24_jobs",
        "b24_tokens",
        "b24_alarms",
        "b24_portals",
    ):
        op.drop_table(table)
