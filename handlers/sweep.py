"""One sweep of the scheduler: send the outbox rows whose retry is due, give up on replies too
old to make sense, and prune what has served its purpose (sent rows, old delivery claims).

First the reminders and morning digests that fell due are written to the outbox
(:mod:`bot_core.reminders`) and sent. Each step reads through an index with a limit, so a
sweep's cost does not grow with the number of tasks or messages. Two sweeps at once are
harmless: a reminder is written by whichever takes its task, a row sent by whoever leases
it. Run by the scheduler Lambda every minute, by ``todobot scheduler run``, and in the
background of ``todobot serve``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from handlers.composition import Root

log = logging.getLogger(__name__)

BATCH = 100
"""Outbox rows one sweep sends at most (the rest are due in the next sweep)."""


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


def sweep(root: Root) -> SweepReport:
    """One pass over what is due."""
    outbox = root.outbox
    reminders = root.reminders.write_due()
    digests = root.reminders.write_digests()
    unsent = 0
    for row_id in [*reminders, *digests]:
        if root.deliverer.deliver([row_id]) is not None:
            unsent += 1
    due = outbox.due(BATCH)
    for row_id in due:
        if root.deliverer.deliver([row_id]) is not None:
            unsent += 1
    stale = outbox.drop_stale()
    rows, claims = outbox.prune()
    report = SweepReport(reminded=len(reminders), digests=len(digests), retried=len(due),
                         still_unsent=unsent, dropped_stale=stale, pruned_rows=rows,
                         pruned_claims=claims)
    if reminders or digests or due or stale or rows or claims:
        log.info("scheduler sweep: %s", report)
    return report
