"""time: due dates, reminders, recurrence and priority on tasks; timezone and digest on users;
the outbox pruned by age through an index

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("users") as users:
        users.add_column(sa.Column("timezone", sa.String(length=64), nullable=True))
        users.add_column(sa.Column("day_reminder_time", sa.String(length=5), nullable=True))
        users.add_column(sa.Column("digest_time", sa.String(length=5), nullable=True))
        users.add_column(sa.Column("digest_next_at", TZ, nullable=True))
        users.add_column(sa.Column("digest_platform", sa.String(length=32), nullable=True))
        users.add_column(sa.Column("digest_workspace", sa.String(length=64), nullable=True))
        users.add_column(sa.Column("digest_target", sa.Text(), nullable=True))
    op.create_index("ix_users_digest_next_at", "users", ["digest_next_at"],
                    sqlite_where=sa.text("digest_next_at IS NOT NULL"),
                    postgresql_where=sa.text("digest_next_at IS NOT NULL"))
    with op.batch_alter_table("tasks") as tasks:
        tasks.add_column(sa.Column("due_date", TZ, nullable=True))
        tasks.add_column(sa.Column("due_has_time", sa.Boolean(), nullable=False,
                                   server_default=sa.text("false")))
        tasks.add_column(sa.Column("remind_at", TZ, nullable=True))
        tasks.add_column(sa.Column("recurrence", sa.String(length=300), nullable=True))
        tasks.add_column(sa.Column("priority", sa.String(length=8), nullable=False,
                                   server_default="medium"))
        tasks.add_column(sa.Column("origin_platform", sa.String(length=32), nullable=True))
        tasks.add_column(sa.Column("origin_workspace", sa.String(length=64), nullable=True))
        tasks.add_column(sa.Column("origin_target", sa.Text(), nullable=True))
        tasks.create_check_constraint("ck_tasks_priority",
                                      "priority IN ('high', 'medium', 'low')")
    op.create_index("ix_tasks_remind_at", "tasks", ["remind_at"],
                    sqlite_where=sa.text("remind_at IS NOT NULL"),
                    postgresql_where=sa.text("remind_at IS NOT NULL"))
    # The scheduler prunes the outbox by age: without this it read the whole table.
    op.create_index("ix_outbox_created_at", "outbox", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_created_at", table_name="outbox")
    op.drop_index("ix_tasks_remind_at", table_name="tasks")
    with op.batch_alter_table("tasks") as tasks:
        tasks.drop_constraint("ck_tasks_priority", type_="check")
        for name in ("origin_target", "origin_workspace", "origin_platform", "priority",
                     "recurrence", "remind_at", "due_has_time", "due_date"):
            tasks.drop_column(name)
    op.drop_index("ix_users_digest_next_at", table_name="users")
    with op.batch_alter_table("users") as users:
        for name in ("digest_target", "digest_workspace", "digest_platform", "digest_next_at",
                     "digest_time", "day_reminder_time", "timezone"):
            users.drop_column(name)
