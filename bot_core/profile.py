"""A user's time settings: timezone, the hour date-only tasks remind at, the morning digest.

Read once per turn (with the user) and changed by ``/timezone``, ``/digest`` and the platform
(Slack tells each user's zone). The digest's next UTC instant is kept beside its local time so
the scheduler finds due digests through an index instead of computing zones for everyone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import bindparam, or_, select, update
from sqlmodel import Session, col

from bot_core.tasks import Origin
from bot_core.timing.local import (
    DEFAULT_DAY_REMINDER,
    Profile,
    local_due,
    parse_clock,
    reminder_for,
    wall,
    zone_of,
)
from models.tables import Task, User


@dataclass(frozen=True)
class Settings:
    """The user's stored time settings."""

    profile: Profile
    digest: time | None


def read_settings(session: Session, user_id: str) -> Settings:
    """The user's zone, day-reminder hour and digest time."""
    row = session.execute(
        select(col(User.timezone), col(User.day_reminder_time), col(User.digest_time))
        .where(col(User.id) == user_id)
    ).one()
    zone, day_time, digest = row
    profile = Profile(zone_name=zone, day_reminder=parse_clock(day_time) or DEFAULT_DAY_REMINDER)
    return Settings(profile=profile, digest=parse_clock(digest))


def next_digest(at: time, zone_name: str | None, now: datetime) -> datetime:
    """The next instant (after now) that is ``at`` local time in the zone."""
    zone = zone_of(zone_name)
    today = now.astimezone(zone).date()
    for offset in range(3):
        candidate = wall(today + timedelta(days=offset), at, zone)
        if candidate > now:
            return candidate
    raise AssertionError("a local time recurs within three days")


class SettingsStore:
    """Writes one user's settings inside the turn's unit of work."""

    def __init__(self, session: Session, user_id: str, now: datetime,
                 origin: Origin | None) -> None:
        self._session = session
        self.user_id = user_id
        self._now = now
        self.origin = origin

    @property
    def session(self) -> Session:
        """The turn's session, for the user's other reads in this turn (``/usage``)."""
        return self._session

    def read(self) -> Settings:
        return read_settings(self._session, self.user_id)

    def set_timezone(self, zone_name: str) -> None:
        """Keep the zone, and move a digest to the same local time in it (and the reminders
        of date-only tasks to their hour in it)."""
        settings = self.read()
        values: dict[str, object] = {"timezone": zone_name}
        if settings.digest is not None:
            values["digest_next_at"] = next_digest(settings.digest, zone_name, self._now)
        self._update(values)
        if settings.profile.zone_name != zone_name:
            self._move_day_reminders(settings.profile, zone_name)

    def set_digest(self, at: time | None) -> bool:
        """Turn the digest on at ``at`` (in this chat) or off; False if there is no chat to send
        it to."""
        if at is None:
            self._update({"digest_time": None, "digest_next_at": None})
            return True
        if self.origin is None:
            return False
        zone = self.read().profile.zone_name
        self._update({
            "digest_time": f"{at:%H:%M}", "digest_next_at": next_digest(at, zone, self._now),
            "digest_platform": self.origin.platform, "digest_workspace": self.origin.workspace,
            "digest_target": self.origin.target,
        })
        return True

    def keep_timezone(self, zone_name: str) -> None:
        """The zone the platform reports: written only when it changed (one guarded UPDATE)."""
        settings = self.read()
        values: dict[str, object] = {"timezone": zone_name}
        if settings.digest is not None:
            values["digest_next_at"] = next_digest(settings.digest, zone_name, self._now)
        self._session.execute(
            update(User).where(col(User.id) == self.user_id,
                               or_(col(User.timezone).is_(None), col(User.timezone) != zone_name))
            .values(**values))
        if settings.profile.zone_name != zone_name:
            self._move_day_reminders(settings.profile, zone_name)

    def _move_day_reminders(self, before: Profile, zone_name: str) -> None:
        """A date-only task reminds at the day-reminder hour of its date in the user's zone:
        after a change of zone, at that hour in the new one. A reminder the user set (another
        instant) stays where it is; so do timed tasks (an instant is an instant)."""
        after = Profile(zone_name=zone_name, day_reminder=before.day_reminder)
        rows = self._session.execute(
            select(col(Task.id), col(Task.due_date), col(Task.remind_at))
            .where(col(Task.user_id) == self.user_id, col(Task.completed).is_(False),
                   col(Task.due_has_time).is_(False), col(Task.due_date).is_not(None),
                   col(Task.remind_at).is_not(None))
        ).all()
        moves = []
        for task_id, stored, remind_at in rows:
            day = local_due(stored, False, before.zone)
            if remind_at == reminder_for(day, before):
                moves.append({"task_id": task_id, "moved": reminder_for(day, after)})
        if moves:
            self._session.execute(
                update(Task.__table__)  # type: ignore[attr-defined]
                .where(Task.__table__.c.id == bindparam("task_id"))  # type: ignore[attr-defined]
                .values(remind_at=bindparam("moved")), moves)

    def set_day_reminder(self, at: time) -> None:
        self._update({"day_reminder_time": f"{at:%H:%M}"})

    def _update(self, values: dict[str, object]) -> None:
        self._session.execute(update(User).where(col(User.id) == self.user_id).values(**values))
