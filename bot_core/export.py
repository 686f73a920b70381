"""``/export``: the person's data as files they can keep: JSON with every field of every task
(and, with ``/export all``, every conversation and message), and the tasks as CSV for a
spreadsheet. Times are UTC ISO 8601, as stored; the person's zone is in the JSON."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from bot_core.reply import Reply, ReplyFile
from models.tables import ChatIdentity, Conversation, Message, Task, User

FORMAT_VERSION = 1
TASK_FIELDS = ("number", "title", "description", "completed", "due_date", "due_has_time",
               "remind_at", "recurrence", "priority", "origin_platform", "created_at",
               "updated_at")
"""What a task is, for its owner (its global id and its chat's platform JSON are not)."""


def export_reply(session: Session, user_id: str, now: datetime, *, history: bool) -> Reply:
    data = export_data(session, user_id, now, history=history)
    tasks = data["tasks"]
    files = [ReplyFile(name="todobot-export.json", mime="application/json",
                       content=json.dumps(data, ensure_ascii=False, indent=2)),
             ReplyFile(name="todobot-tasks.csv", mime="text/csv", content=tasks_csv(tasks))]
    what = f"{len(tasks)} task(s)"
    if history:
        messages = sum(len(c["messages"]) for c in data["conversations"])
        what += f" and {messages} message(s) in {len(data['conversations'])} conversation(s)"
    else:
        what += " (/export all adds your conversations)"
    return Reply(text=f"Here is your data: {what}.", files=tuple(files))


def export_data(session: Session, user_id: str, now: datetime, *, history: bool
                ) -> dict[str, Any]:
    user = session.get(User, user_id)
    assert user is not None
    tasks = session.execute(select(Task).where(col(Task.user_id) == user_id)
                            .order_by(col(Task.number))).scalars().all()
    accounts = session.execute(select(ChatIdentity).where(col(ChatIdentity.user_id) == user_id)
                               .order_by(col(ChatIdentity.id))).scalars().all()
    data: dict[str, Any] = {
        "format": "todobot-export", "version": FORMAT_VERSION, "exported_at": _iso(now),
        "person": {"display_name": user.display_name, "timezone": user.timezone,
                   "day_reminder_time": user.day_reminder_time,
                   "digest_time": user.digest_time, "created_at": _iso(user.created_at)},
        "accounts": [{"platform": a.platform, "workspace": a.workspace,
                      "user_id": a.external_user_id, "since": _iso(a.created_at)}
                     for a in accounts],
        "tasks": [{field: _plain(getattr(task, field)) for field in TASK_FIELDS}
                  for task in tasks],
    }
    if history:
        data["conversations"] = _conversations(session, user_id)
    return data


def _conversations(session: Session, user_id: str) -> list[dict[str, Any]]:
    conversations = session.execute(select(Conversation).where(
        col(Conversation.user_id) == user_id).order_by(col(Conversation.id))).scalars().all()
    out: list[dict[str, Any]] = []
    for conversation in conversations:
        messages = session.execute(select(Message).where(
            col(Message.conversation_id) == conversation.id)
            .order_by(col(Message.created_at), col(Message.id))).scalars().all()
        out.append({"platform": conversation.platform, "chat": conversation.chat_key,
                    "started_at": _iso(conversation.created_at),
                    "messages": [{"role": m.role, "content": m.content,
                                  "tool_calls": json.loads(m.tool_calls) if m.tool_calls
                                  else None, "at": _iso(m.created_at)} for m in messages]})
    return out


def tasks_csv(tasks: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=TASK_FIELDS, lineterminator="\r\n")
    writer.writeheader()
    for task in tasks:
        writer.writerow({k: "" if v is None else v for k, v in task.items()})
    return buffer.getvalue()


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _plain(value: Any) -> Any:
    return _iso(value) if isinstance(value, datetime) else value
