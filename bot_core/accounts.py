"""One person across apps: ``/link`` codes, the confirmed link (two lists merged), ``/unlink``.

A code is 8 characters from an alphabet without look-alikes (about 39 bits), shown as
``ABCD-EFGH``. ``link_codes`` keeps only its SHA-256, and the conversation stores it masked
(the reply that carries it is an outbox row like any other, pruned after a week). It belongs
to the account that asked for it, works for :data:`CODE_MINUTES`, once, and never in the
account that made it. An account that types :data:`MAX_WRONG_PER_HOUR` wrong codes within one
clock hour is refused until that hour is over; a right code typed where others can read it (a
group) is cancelled instead of used. When a code is used, the account that made it is told,
in its own chat, with what to do if it wasn't them. Typing a right code
only claims it: the link is made when the same account presses "Link" under the question.

The side that typed the code joins the side that made it: its tasks keep their order and are
numbered after the other side's highest number; its conversations, accounts, unsent replies and
model usage move with it; the other side's settings win where both have one.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlmodel import Session, col

from bot_core.inbound import Inbound
from bot_core.reply import Action, Reply
from models.db import add_to_counters
from models.tables import (
    ChatIdentity,
    Conversation,
    LinkAttempt,
    LinkCode,
    LlmNotice,
    LlmUsage,
    Message,
    OutboxMessage,
    RateCount,
    Task,
    User,
)

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"
CODE_LENGTH = 8
CODE_MINUTES = 10
MAX_WRONG_PER_HOUR = 5
DIGEST_FIELDS = ("digest_time", "digest_next_at", "digest_platform", "digest_workspace",
                 "digest_target")
PLATFORM_NAMES = {"telegram": "Telegram", "slack": "Slack", "cli": "the terminal"}

MASKED = "····-····"
FORGET_MINUTES = 10
"""How long the "Delete everything" button under a /forget question works."""
PRIVATE_ONLY = ("For your privacy I only do that in a private chat with me: send it to me "
                "there (in Slack, /todo {what} works anywhere).")
WRONG_CODE = ("That code didn't work: it may be mistyped, used or expired (they last "
              f"{CODE_MINUTES} minutes). Ask for a new one with /link in your other app.")
LOCKED = "Too many wrong codes. Try again after {until} (UTC)."


@dataclass(frozen=True)
class Identity:
    """One chat account."""

    platform: str
    workspace: str
    external_id: str

    @property
    def label(self) -> str:
        return PLATFORM_NAMES.get(self.platform, self.platform)


@dataclass(frozen=True)
class Outcome:
    """What an account command did: the answer, and whose turn it is now (the person it was
    merged into, or the fresh one an unlinked account starts)."""

    reply: Reply
    user_id: str | None
    """None: the person was forgotten (nothing of the turn is kept)."""
    stored_said: str | None = None
    stored_reply: str | None = None
    """What the conversation keeps of the turn, when it must not be the text itself (a code)."""


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def shown(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


def normalized(text: str) -> str:
    return "".join(ch for ch in text.upper() if ch.isalnum())


def code_hash(code: str) -> str:
    return hashlib.sha256(normalized(code).encode()).hexdigest()


class Accounts:
    """The account commands of one turn, inside its transaction."""

    def __init__(self, session: Session, identity: Identity, user_id: str, now: datetime,
                 *, private: bool, chat_target: str | None = None) -> None:
        self._session = session
        self._identity = identity
        self._user_id = user_id
        self._now = now
        self._private = private
        self._chat_target = chat_target

    # -- /link --------------------------------------------------------------------------------

    def link(self, args: str) -> Outcome:
        """``/link``: a new code and what is linked; ``/link CODE``: claim it, ask to confirm."""
        if args.strip():
            return self._claim(args)
        if not self._private:
            return self._say(PRIVATE_ONLY.format(what="link"))
        session = self._session
        session.execute(update(LinkCode).where(
            col(LinkCode.platform) == self._identity.platform,
            col(LinkCode.workspace) == self._identity.workspace,
            col(LinkCode.external_user_id) == self._identity.external_id,
            col(LinkCode.used_at).is_(None)).values(used_at=self._now))  # one code at a time
        code = new_code()
        session.add(LinkCode(code_hash=code_hash(code), user_id=self._user_id,
                             platform=self._identity.platform,
                             workspace=self._identity.workspace,
                             external_user_id=self._identity.external_id, created_at=self._now,
                             expires_at=self._now + timedelta(minutes=CODE_MINUTES),
                             notify_target=self._chat_target))
        session.flush()
        others = [i for i in self.identities() if i != self._identity]
        linked = ("Linked with: " + ", ".join(i.label for i in others) + "." if others
                  else "Nothing is linked yet.")
        text = ("Your link code: {code}\nIn your other app, send me /link {code} within "
                f"{CODE_MINUTES} minutes (it works once). Both apps then share one task "
                f"list.\n{linked}")
        return Outcome(Reply(text=text.format(code=shown(code))), self._user_id,
                       stored_reply=text.format(code=MASKED))

    def _claim(self, args: str) -> Outcome:
        outcome = self._claimed(args)
        return Outcome(outcome.reply, outcome.user_id, stored_said=f"/link {MASKED}")

    def _claimed(self, args: str) -> Outcome:
        typed = normalized(args)
        until = self._locked_until()
        if until is not None:
            return self._say(LOCKED.format(until=f"{until:%H:%M}"))
        row = self._active_code(typed)
        if row is None or len(typed) != CODE_LENGTH:
            self._count_wrong()
            return self._say(WRONG_CODE)
        if not self._private:
            row.used_at = self._now  # seen by others: nobody may use it now
            return self._say("Others can read this chat, so I cancelled that code. Ask for a "
                             "new one with /link and send it to me in a private chat.")
        claimer = (row.claimed_platform, row.claimed_workspace, row.claimed_external_id)
        if claimer[0] is not None and claimer != (self._identity.platform,
                                                  self._identity.workspace,
                                                  self._identity.external_id):
            self._count_wrong()  # typed first by another account: it is theirs to confirm
            return self._say(WRONG_CODE)
        maker = Identity(row.platform, row.workspace, row.external_user_id)
        if maker == self._identity:
            return self._say("That code is for your other app: send it to me from there.")
        if row.user_id == self._user_id:
            return self._say(f"This account is already linked with your {maker.label} one.")
        row.claimed_platform = self._identity.platform
        row.claimed_workspace = self._identity.workspace
        row.claimed_external_id = self._identity.external_id
        here = int(self._session.execute(select(func.count()).select_from(Task).where(
            col(Task.user_id) == self._user_id)).scalar_one())
        other = self._session.get(User, row.user_id)
        start = (other.last_task_number if other is not None else 0) + 1
        numbers = (f" as #{start}–#{start + here - 1}" if here > 1
                   else f" as #{start}" if here == 1 else "")
        tasks = f"Your {here} task{'s' if here != 1 else ''} here will join it{numbers}"
        return Outcome(Reply(
            text=f"Link this {self._identity.label} account with your {maker.label} account? "
                 f"You'll have one list in both apps. {tasks}.",
            actions=(Action(kind="link", number=int(row.id or 0), view="open"),
                     Action(kind="cancel", number=1))), self._user_id)

    def confirm(self, code_id: int) -> Outcome:
        """"Link" pressed: merge this account's person into the code maker's."""
        row = self._session.get(LinkCode, code_id, with_for_update=True)
        if (row is None or row.used_at is not None or row.expires_at <= self._now
                or (row.claimed_platform, row.claimed_workspace, row.claimed_external_id)
                != (self._identity.platform, self._identity.workspace,
                    self._identity.external_id)):
            return self._say(WRONG_CODE)
        row.used_at = self._now
        if row.user_id == self._user_id:
            return self._say("These accounts are already linked.")
        keep = row.user_id
        maker_now = self._session.execute(select(col(ChatIdentity.user_id)).where(
            col(ChatIdentity.platform) == row.platform,
            col(ChatIdentity.workspace) == row.workspace,
            col(ChatIdentity.external_user_id) == row.external_user_id)).scalar()
        if maker_now != keep:  # the maker's account was unlinked or forgotten meanwhile
            return self._say(WRONG_CODE)
        renumbered = merge_people(self._session, keep=keep, drop=self._user_id)
        self._tell_the_maker(row, keep)
        maker = PLATFORM_NAMES.get(row.platform, row.platform)
        if renumbered:
            moves = ", ".join(f"#{old} → #{new}" for old, new in renumbered)
            text = (f"Linked with your {maker} account: one list in both apps now. Your tasks "
                    f"from here are {moves}.")
        else:
            text = f"Linked with your {maker} account: one list in both apps now."
        return Outcome(Reply(text=text), keep)

    def _tell_the_maker(self, row: LinkCode, keep: str) -> None:
        """A notice in the chat where the code was made: someone with it just joined the list."""
        if not row.notify_target:
            return
        from bot_core.outbox import add_to_outbox

        add_to_outbox(self._session, platform=row.platform, workspace=row.workspace,
                      delivery_key=f"linked:{row.id}", target=row.notify_target,
                      reply=Reply(text=f"🔗 Your link code was just used: a "
                                       f"{self._identity.label} account now shares this list. "
                                       "If that wasn't you, send /unlink from that account, or "
                                       "/forget to delete everything."),
                      now=self._now, user_id=keep)

    # -- /unlink and the list ---------------------------------------------------------------------

    def unlink(self) -> Outcome:
        """Detach this account: the tasks stay with the person, this account starts afresh."""
        others = [i for i in self.identities() if i != self._identity]
        if not others:
            return self._say("Nothing to unlink: this account isn't linked with another app.")
        fresh = uuid.uuid4().hex
        self._session.add(User(id=fresh, created_at=self._now))
        self._session.flush()
        self._session.execute(update(ChatIdentity).where(
            col(ChatIdentity.platform) == self._identity.platform,
            col(ChatIdentity.workspace) == self._identity.workspace,
            col(ChatIdentity.external_user_id) == self._identity.external_id,
        ).values(user_id=fresh))
        # Reminders of the person's tasks made here would come to an account that is no longer
        # theirs: they stop coming here (the due dates stay).
        self._session.execute(update(Task).where(
            col(Task.user_id) == self._user_id,
            col(Task.origin_platform) == self._identity.platform,
            col(Task.origin_workspace) == self._identity.workspace,
        ).values(origin_platform=None, origin_workspace=None, origin_target=None))
        self._session.execute(update(User).where(  # nor the digest
            col(User.id) == self._user_id,
            col(User.digest_platform) == self._identity.platform,
            col(User.digest_workspace) == self._identity.workspace,
        ).values(**dict.fromkeys(DIGEST_FIELDS)))
        self._session.execute(update(LinkCode).where(  # its codes would join the person
            col(LinkCode.platform) == self._identity.platform,
            col(LinkCode.workspace) == self._identity.workspace,
            col(LinkCode.external_user_id) == self._identity.external_id,
            col(LinkCode.used_at).is_(None)).values(used_at=self._now))
        names = ", ".join(i.label for i in others)
        return Outcome(Reply(text=f"Unlinked this {self._identity.label} account. Your tasks "
                                  f"stay with your {names} account; the list here starts empty."),
                       fresh)

    def identities(self) -> list[Identity]:
        rows = self._session.execute(select(
            col(ChatIdentity.platform), col(ChatIdentity.workspace),
            col(ChatIdentity.external_user_id)).where(
            col(ChatIdentity.user_id) == self._user_id).order_by(col(ChatIdentity.id))).all()
        return [Identity(*row) for row in rows]

    # -- guesses ----------------------------------------------------------------------------------

    def _window(self) -> datetime:
        return self._now.replace(minute=0, second=0, microsecond=0)

    def _keys(self) -> dict[str, object]:
        return {"platform": self._identity.platform, "workspace": self._identity.workspace,
                "external_id": self._identity.external_id, "window_start": self._window()}

    def _locked_until(self) -> datetime | None:
        wrong = self._session.execute(select(col(LinkAttempt.count)).where(
            *(getattr(LinkAttempt, k) == v for k, v in self._keys().items()))).scalar()
        if wrong is not None and wrong >= MAX_WRONG_PER_HOUR:
            return self._window() + timedelta(hours=1)
        return None

    def _count_wrong(self) -> None:
        add_to_counters(self._session, LinkAttempt, self._keys(), {"count": 1})

    def _active_code(self, typed: str) -> LinkCode | None:
        return self._session.execute(select(LinkCode).where(
            col(LinkCode.code_hash) == code_hash(typed), col(LinkCode.used_at).is_(None),
            col(LinkCode.expires_at) > self._now).limit(1)).scalars().first()

    def _say(self, text: str) -> Outcome:
        return Outcome(Reply(text=text), self._user_id)


def merge_people(session: Session, *, keep: str, drop: str) -> list[tuple[int, int]]:
    """Move everything of ``drop`` to ``keep`` and delete ``drop``; the task numbers that
    changed, ``(old, new)`` in the order of the old numbers."""
    kept = session.get(User, keep, with_for_update=True)
    dropped = session.get(User, drop, with_for_update=True)
    assert kept is not None and dropped is not None
    tasks = session.execute(select(col(Task.id), col(Task.number)).where(
        col(Task.user_id) == drop).order_by(col(Task.number))).all()
    renumbered: list[tuple[int, int]] = []
    for offset, (task_id, number) in enumerate(tasks, start=1):
        new = kept.last_task_number + offset
        session.execute(update(Task).where(col(Task.id) == task_id)
                        .values(user_id=keep, number=new))
        renumbered.append((int(number), new))
    kept.last_task_number += len(tasks)
    moved: tuple[Any, ...] = (Conversation, Message, ChatIdentity, OutboxMessage)
    for model in moved:
        session.execute(update(model).where(col(model.user_id) == drop).values(user_id=keep))
    for usage in session.execute(select(LlmUsage).where(col(LlmUsage.user_id) == drop)
                                 ).scalars().all():
        add_to_counters(session, LlmUsage, {"user_id": keep, "day": usage.day,
                                            "model": usage.model},
                        {"calls": usage.calls, "prompt_tokens": usage.prompt_tokens,
                         "completion_tokens": usage.completion_tokens})
    dropped_rows: tuple[Any, ...] = (LlmUsage, LlmNotice, RateCount, LinkCode)
    for model in dropped_rows:
        session.execute(delete(model).where(col(model.user_id) == drop))
    for field in ("timezone", "day_reminder_time"):
        if getattr(kept, field) is None:
            setattr(kept, field, getattr(dropped, field))
    if kept.digest_time is None and dropped.digest_time is not None:  # the digest as a whole
        for field in DIGEST_FIELDS:
            setattr(kept, field, getattr(dropped, field))
    session.flush()
    session.execute(delete(User).where(col(User.id) == drop))
    return renumbered



ACCOUNT_COMMANDS = frozenset({"link", "unlink", "forget", "export"})


def account_turn(session: Session, inbound: Inbound, user_id: str, now: datetime,
                 chat_target: str | None = None) -> Outcome | None:
    """The turn's outcome when it is an account command or button, else None.
    ``chat_target``: this chat, where a notice about this account's link code would go."""
    from bot_core.commands import parse_command
    from bot_core.forgetting import forget_person, forget_question, forgotten_reply

    identity = Identity(inbound.platform, inbound.workspace, inbound.external_user_id)
    accounts = Accounts(session, identity, user_id, now, private=inbound.private,
                        chat_target=chat_target)
    action = inbound.action
    if action is not None:
        if action.kind == "link":
            return accounts.confirm(action.number)
        if action.kind == "forget":
            asked = datetime.fromtimestamp(action.number * 60, tz=now.tzinfo)
            if not inbound.private or not timedelta(0) <= now - asked <= timedelta(
                    minutes=FORGET_MINUTES + 1):
                return Outcome(Reply(text="That question has expired, so nothing was deleted. "
                                          "Send /forget again (in a private chat)."), user_id)
            return Outcome(forgotten_reply(forget_person(session, user_id)), None)
        if action.kind == "cancel":
            return Outcome(Reply(text="Cancelled: nothing changed."), user_id)
        return None
    command = parse_command(inbound.text or "")
    if command is None or command.name not in ACCOUNT_COMMANDS:
        return None
    if command.name == "link":
        return accounts.link(command.args)
    if not inbound.private:
        return Outcome(Reply(text=PRIVATE_ONLY.format(what=command.name)), user_id)
    if command.name == "unlink":
        return accounts.unlink()
    if command.name == "export":
        from bot_core.export import export_reply

        history = command.args.strip().lower() in ("all", "history", "everything")
        return Outcome(export_reply(session, user_id, now, history=history), user_id)
    return Outcome(forget_question(session, user_id, now), user_id)


def prune_link_rows(session: Session, now: datetime) -> int:
    """Codes a day past their expiry and guess counts of hours a day gone (the sweep)."""
    old = now - timedelta(days=1)
    codes = session.execute(delete(LinkCode).where(col(LinkCode.expires_at) < old))
    attempts = session.execute(delete(LinkAttempt).where(col(LinkAttempt.window_start) < old))
    return int(getattr(codes, "rowcount", 0) or 0) + int(getattr(attempts, "rowcount", 0) or 0)
