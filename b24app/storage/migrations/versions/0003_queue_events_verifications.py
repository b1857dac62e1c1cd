"""The task queue's storage, deduplicated events, kept frame verifications, and two columns.

- b24_queue_tasks, b24_queue_schedule, b24_queue_kv, b24_queue_counters: huey's storage in the
  app's database (no REDIS_URL);
- b24_event_deliveries: one row per event acted on, so a repeated delivery is skipped in every
  process;
- b24_verified_tokens: app.info confirmations kept for the token's lifetime;
- b24_merge_items.called_at: when the call of a group was sent (exactly-once checks);
- b24_portals.state_changed_at: when the portal's state last changed (need_reinstall timing).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the new tables and add the new columns (existing rows keep NULL there)."""
    op.create_table(
        "b24_queue_tasks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("queue", sa.String(64), nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("priority", sa.Float, nullable=False, server_default="0"),
        sa.Index("ix_b24_queue_tasks_order", "queue", "priority", "id"),
    )
    op.create_table(
        "b24_queue_schedule",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("queue", sa.String(64), nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("run_at", sa.Float, nullable=False),
        sa.Index("ix_b24_queue_schedule_due", "queue", "run_at"),
    )
    op.create_table(
        "b24_queue_kv",
        sa.Column("queue", sa.String(64), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("value", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "b24_queue_counters",
        sa.Column("queue", sa.String(64), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("value", sa.Integer, nullable=False),
    )
    op.create_table(
        "b24_event_deliveries",
        sa.Column("member_id", sa.String(64), primary_key=True),
        sa.Column("event", sa.String(64), primary_key=True),
        sa.Column("entity_id", sa.String(64), primary_key=True),
        sa.Column("ts", sa.String(32), primary_key=True),
        sa.Column("received_at", sa.Float, nullable=False),
        sa.Index("ix_b24_event_deliveries_received", "received_at"),
    )
    op.create_table(
        "b24_verified_tokens",
        sa.Column("token_digest", sa.String(128), primary_key=True),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("member_id", sa.String(64), nullable=False),
        sa.Column("domain", sa.String(255), nullable=False),
        sa.Column("client_endpoint", sa.String(512), nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Index("ix_b24_verified_tokens_expiry", "expires_at"),
        sa.Index("ix_b24_verified_tokens_member", "member_id"),
    )
    with op.batch_alter_table("b24_merge_items") as table:
        table.add_column(sa.Column("called_at", sa.Float, nullable=True))
    with op.batch_alter_table("b24_portals") as table:
        table.add_column(sa.Column("state_changed_at", sa.Float, nullable=True))


def downgrade() -> None:
    """Drop what upgrade added."""
    with op.batch_alter_table("b24_portals") as table:
        table.drop_column("state_changed_at")
    with op.batch_alter_table("b24_merge_items") as table:
        table.drop_column("called_at")
    for name in (
        "b24_verified_tokens",
        "b24_event_deliveries",
        "b24_queue_counters",
        "b24_queue_kv",
        "b24_queue_schedule",
        "b24_queue_tasks",
    ):
        op.drop_table(name)
