"""limits: strangers answered once, groups an allowed user added, per-minute counts, model usage
per user and day, the month's total, budget notices; each assistant message's usage

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def _user() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("user_id", sa.String(length=64),
                     sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "strangers",
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("workspace", sa.String(length=64), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("answered_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("platform", "workspace", "external_id"),
    )
    op.create_table(
        "allowed_chats",
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("workspace", sa.String(length=64), nullable=False),
        sa.Column("chat_id", sa.String(length=100), nullable=False),
        sa.Column("added_by", sa.String(length=64), nullable=False),
        sa.Column("added_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("platform", "workspace", "chat_id"),
    )
    op.create_table(
        "rate_counts",
        _user(),
        sa.Column("window_start", TZ, nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "window_start"),
    )
    op.create_index("ix_rate_counts_window_start", "rate_counts", ["window_start"])
    op.create_table(
        "llm_usage",
        _user(),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("model", sa.String(length=100), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "day", "model"),
    )
    op.create_index("ix_llm_usage_day", "llm_usage", ["day"])
    op.create_table(
        "llm_months",
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("tokens", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("month"),
    )
    op.create_table(
        "llm_notices",
        _user(),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "day", "kind"),
    )
    with op.batch_alter_table("messages") as messages:
        messages.add_column(sa.Column("usage", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages") as messages:
        messages.drop_column("usage")
    op.drop_table("llm_notices")
    op.drop_table("llm_months")
    op.drop_index("ix_llm_usage_day", table_name="llm_usage")
    op.drop_table("llm_usage")
    op.drop_index("ix_rate_counts_window_start", table_name="rate_counts")
    op.drop_table("rate_counts")
    op.drop_table("allowed_chats")
    op.drop_table("strangers")
