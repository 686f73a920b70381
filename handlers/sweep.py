"""One sweep of the scheduler: send the outbox rows whose retry is due, give up on replies too
old to make sense, and prune what has served its purpose (sent rows, old delivery claims,
messages past ``MESSAGE_RETENTION_DAYS``, the rate limit's past minutes, Slack OAuth states
that expired unused — every view of the install page makes one; never tasks).

First the reminders and morning digests that fell due are written to the outbox
(:mod:`bot_core.reminders`) and sent. Each step reads through an index with a limit, so a
sweep's cost does not grow with the number of tasks or messages. Two sweeps at once are
harmless: a reminder is written by whichever takes its task, a row sent by whoever leases
it. Run by the scheduler Lambda every minute, by ``todobot scheduler run``, and in the
background of ``todobot serve``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from handlers.composition import Root

log = logging.getLogger(__name__)

BATCH = 100
"""Rows one step reads at most: due reminders, due digests, outbox retries."""
DEADLINE_RESERVE_SECONDS = 20.0
"""Time a sweep keeps for the outbox retries and pruning after its last reminder batch."""
MAX_BATCHES = 10
"""Reminder batches one sweep writes at most (1,000 a minute on Lambda); the rest wait for the
next sweep."""
PRUNE_BATCH = 5000
"""Messages one pruning batch deletes at most (one DELETE through ``messages.created_at``)."""
MAX_PRUNE_BATCHES = 3
"""Pruning batches one sweep runs at most (15,000 messages a minute): a backlog drains over a
few sweeps instead of holding one long."""


@dataclass(frozen=True)
class SweepReport:
    """What one sweep did (counts only: never what was said)."""

    reminded: int = 0
    digests: int = 0
    retried: int = 0
    still_unsent: int = 0
    dropped_stale: int = 0
    pruned_rows: int = 0
    pruned_claims: int = 0
    pruned_messages: int = 0
    pruned_rate_windows: int = 0
    pruned_oauth_states: int = 0


def sweep(root: Root, *, seconds_left: Callable[[], float] | None = None) -> SweepReport:
    """One pass over what is due. ``seconds_left`` (the Lambda's remaining time) stops it
    taking more batches before the function's deadline: what is left waits for the next."""
    outbox = root.outbox
    reminders: list[int] = []
    digests: list[int] = []
    unsent = 0
    for _ in range(MAX_BATCHES):  # a busy minute (09:00) may have more than one batch due
        written = root.reminders.write_due(BATCH)
        more_digests = root.reminders.write_digests(BATCH)
        for row_id in [*written, *more_digests]:
            if root.deliverer.deliver([row_id]) is not None:
                unsent += 1
        reminders += written
        digests += more_digests
        if len(written) < BATCH and len(more_digests) < BATCH:
            break
        if seconds_left is not None and seconds_left() < DEADLINE_RESERVE_SECONDS:
            log.warning("scheduler sweep stops before its deadline; the rest waits a minute")
            break
    due = outbox.due(BATCH)
    for row_id in due:
        if root.deliverer.deliver([row_id]) is not None:
            unsent += 1
    stale = outbox.drop_stale()
    rows, claims = outbox.prune()
    messages, windows = _prune_history(root)
    states = root.slack_states.prune() if root.settings.slack_oauth else 0
    report = SweepReport(reminded=len(reminders), digests=len(digests), retried=len(due),
                         still_unsent=unsent, dropped_stale=stale, pruned_rows=rows,
                         pruned_claims=claims, pruned_messages=messages,
                         pruned_rate_windows=windows, pruned_oauth_states=states)
    if (reminders or digests or due or stale or rows or claims or messages or windows
            or states):
        log.info("scheduler sweep: %s", report)
    return report


def _prune_history(root: Root) -> tuple[int, int]:
    """Messages past their retention (a few bounded batches), the rate limit's counts of
    minutes gone and link codes and guesses a day old; (messages, windows)."""
    from sqlmodel import Session

    from bot_core.accounts import prune_link_rows
    from bot_core.limits import prune_windows
    from bot_core.retention import prune_messages

    now = root.clock()
    messages = prune_messages(root.engine, now, root.settings.message_retention_days,
                              PRUNE_BATCH, batches=MAX_PRUNE_BATCHES)
    with Session(root.engine) as session:
        windows = prune_windows(session, now) + prune_link_rows(session, now)
        session.commit()
    return messages, windows
