"""accounts: link codes (with the chat to tell when one is used) and wrong guesses (one person
across apps), the person of each outbox row (so that /forget deletes their replies too)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "link_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64),
                  sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("workspace", sa.String(length=64), nullable=False),
        sa.Column("external_user_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("claimed_platform", sa.String(length=32), nullable=True),
        sa.Column("claimed_workspace", sa.String(length=64), nullable=True),
        sa.Column("claimed_external_id", sa.String(length=64), nullable=True),
        sa.Column("used_at", TZ, nullable=True),
        sa.Column("notify_target", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_link_codes_code_hash", "link_codes", ["code_hash"])
    op.create_index("ix_link_codes_user_id", "link_codes", ["user_id"])
    op.create_table(
        "link_attempts",
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("workspace", sa.String(length=64), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("window_start", TZ, nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("platform", "workspace", "external_id", "window_start"),
    )
    op.create_index("ix_link_attempts_window_start", "link_attempts", ["window_start"])
    with op.batch_alter_table("outbox") as outbox:
        outbox.add_column(sa.Column("user_id", sa.String(length=64), nullable=True))
        outbox.create_index("ix_outbox_user_id", ["user_id"])
        outbox.create_foreign_key("fk_outbox_user_id", "users", ["user_id"], ["id"],
                                  ondelete="CASCADE")


def downgrade() -> None:
    with op.batch_alter_table("outbox") as outbox:
        outbox.drop_constraint("fk_outbox_user_id", type_="foreignkey")
        outbox.drop_index("ix_outbox_user_id")
        outbox.drop_column("user_id")
    op.drop_index("ix_link_attempts_window_start", table_name="link_attempts")
    op.drop_table("link_attempts")
    op.drop_index("ix_link_codes_user_id", table_name="link_codes")
    op.drop_index("ix_link_codes_code_hash", table_name="link_codes")
    op.drop_table("link_codes")
