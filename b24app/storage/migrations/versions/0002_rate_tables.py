"""The shared pacer's state: a leaky bucket per portal, a budget per portal and method.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create b24_rate_buckets and b24_method_budgets."""
    op.create_table(
        "b24_rate_buckets",
        sa.Column("portal", sa.String(255), primary_key=True),
        sa.Column("burst", sa.Integer, nullable=False),
        sa.Column("drain", sa.Float, nullable=False),
        sa.Column("level", sa.Float, nullable=False),
        sa.Column("level_at", sa.Float, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_table(
        "b24_method_budgets",
        sa.Column("portal", sa.String(255), primary_key=True),
        sa.Column("method", sa.String(128), primary_key=True),
        sa.Column("operating", sa.Float, nullable=False),
        sa.Column("reset_at", sa.Float, nullable=False),
        sa.Column("observed_at", sa.Float, nullable=False),
        sa.Column("cost", sa.Float, nullable=False),
        sa.Column("reserved", sa.Float, nullable=False),
        sa.Column("reserved_at", sa.Float, nullable=False),
        sa.Column("blocked_until", sa.Float, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    """Drop the pacer's tables."""
    op.drop_table("b24_method_budgets")
    op.drop_table("b24_rate_buckets")
