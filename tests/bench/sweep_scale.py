"""Benchmark: does the scheduler's sweep get slower as the task table grows?

The scheduler Lambda runs :func:`handlers.sweep.sweep` every minute whatever the size of the
database, so its cost must follow what is due, not how many tasks exist. Times the whole sweep
(reminders through the partial index ``ix_tasks_remind_at``, digests, sending, outbox retries and
pruning: outbox rows, delivery claims, messages past retention, the rate limit's old minutes;
the platform's sender stubbed, so the network is not what is measured) on two
PostgreSQL databases side by side in one run: 1,000,000 tasks (10,000 users) and 1,000 tasks
(100 users), exactly 100 reminders due in each. Target: big ÷ small <= 1.5, and the same number
of SQL statements per sweep at both sizes (212 with 100 reminders due: the pruning is one
DELETE per table when there is nothing of it to prune). Prints the plan of the reminder read on
the big database. Run: ``python -m tests.bench.sweep_scale`` (``--quick``: 20,000 tasks).
"""

from __future__ import annotations

import re
import statistics
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from psycopg.sql import Literal
from sqlalchemy import Engine, event, text

from bot_core.outbox import OutboxItem, SendOutcome, Sent
from bot_core.settings import Settings
from handlers.composition import Root
from handlers.sweep import sweep
from models.migrate import upgrade
from tests.bench.table import Row, ms, ratio_row, render
from tests.pg_databases import temporary_database

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DUE = 100
"""Reminders due in each database: one sweep's whole batch (``bot_core.reminders.BATCH``)."""
BIG, SMALL, QUICK_BIG = (1_000_000, 10_000), (1_000, 100), (20_000, 1_000)  # (tasks, users)
REPEATS, QUICK_REPEATS = 15, 5
WARMUPS = 3
LIMIT = 1.5
PLAN_LINES = 6

_USERS_SQL = """
INSERT INTO users (id, display_name, last_task_number, timezone, digest_time, digest_next_at,
                   digest_platform, digest_workspace, digest_target, created_at)
SELECT 'bench-' || u, 'Bench user ' || u, :per_user,
       CASE WHEN u % 2 = 0 THEN 'Europe/Berlin' END,
       CASE WHEN u % 10 < 3 THEN :digest_time END,
       CASE WHEN u % 10 < 3 THEN CAST(:now AS timestamptz) + (1 + u % 1200) * interval '1 minute'
       END,
       CASE WHEN u % 10 < 3 THEN 'telegram' END,
       CASE WHEN u % 10 < 3 THEN '' END,
       CASE WHEN u % 10 < 3 THEN '{"chat_id":' || u || ',"owner":' || u || '}' END,
       CAST(:now AS timestamptz) - interval '90 days'
FROM generate_series(1, :users) AS u
"""
# Task g is number n = (g - 1) % per_user + 1 of user u = (g - 1) / per_user + 1 (loaded user by
# user: the unique index on (user_id, number) is filled in order, which is quicker). One task
# of every (users / 100)-th user is due (a minute or more ago); of the rest, numbers ending in
# 1-3 remind within the next year, 8-9 are completed, the others have no reminder.
_TASKS_SQL = """
INSERT INTO tasks (user_id, number, title, completed, created_at, updated_at, due_date,
                   due_has_time, remind_at, priority, origin_platform, origin_workspace,
                   origin_target)
SELECT 'bench-' || u, n, 'Bench task ' || n || ' of user ' || u,
       NOT due AND n % 10 >= 8,
       created, created,
       CASE WHEN due THEN CAST(:now AS timestamptz) + interval '2 hours'
            WHEN n % 10 BETWEEN 1 AND 3 THEN
                CAST(:now AS timestamptz) + (60 + g % 525600) * interval '1 minute' END,
       due OR n % 10 BETWEEN 1 AND 3,
       CASE WHEN due THEN CAST(:now AS timestamptz) - (1 + u / :step) * interval '1 minute'
            WHEN n % 10 BETWEEN 1 AND 3 THEN
                CAST(:now AS timestamptz) + (g % 525600) * interval '1 minute' END,
       'medium', 'telegram', '', '{"chat_id":' || u || ',"owner":' || u || '}'
FROM (SELECT g, u, n, CAST(:now AS timestamptz) - interval '30 days' AS created,
             u % :step = 0 AND n = 1 + (u / :step) % :per_user AS due
      FROM (SELECT g, (g - 1) / :per_user + 1 AS u, (g - 1) % :per_user + 1 AS n
            FROM generate_series(1, :tasks) AS g) AS numbered) AS shaped
"""


class RecordingSender:
    """Sends nothing, counts what it was given and says it was sent."""

    def __init__(self) -> None:
        self.sent = 0

    def send(self, item: OutboxItem) -> SendOutcome:
        self.sent += 1
        return Sent()

    @contextmanager
    def thinking(self, target: Mapping[str, Any]) -> Iterator[None]:
        yield


@dataclass
class SweepDb:
    """One database, its composition root and what is needed to make the 100 tasks due again."""

    tasks: int
    users: int
    url: str
    load_s: float
    root: Root
    sender: RecordingSender
    due: list[tuple[int, datetime, datetime]]  # (task id, remind_at, due_date)
    samples: list[float] = field(default_factory=list)
    step_samples: list[float] = field(default_factory=list)

    @property
    def engine(self) -> Engine:
        return self.root.engine


def load(url: str, tasks: int, users: int) -> float:
    """Migrate and fill the database with SQL (no ORM); seconds the filling took."""
    upgrade(url)
    root = Root(Settings(database_url=url))
    started = time.perf_counter()
    with root.engine.begin() as conn:
        conn.execute(text("SET LOCAL statement_timeout = 0"))  # the product's is 10 s
        params = {"now": NOW, "digest_time": "08:00", "users": users, "tasks": tasks,
                  "per_user": tasks // users, "step": users // DUE}
        conn.execute(text(_USERS_SQL), params)
        conn.execute(text(_TASKS_SQL), params)
    with root.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE users"))
        conn.execute(text("VACUUM ANALYZE tasks"))
    root.engine.dispose()
    return time.perf_counter() - started


def open_db(url: str, tasks: int, users: int) -> SweepDb:
    load_s = load(url, tasks, users)
    sender = RecordingSender()
    root = Root(Settings(database_url=url), clock=lambda: NOW)
    root.part("senders", lambda: {"telegram": sender})
    with root.engine.connect() as conn:
        due = [(int(r[0]), r[1], r[2]) for r in conn.execute(text(
            "SELECT id, remind_at, due_date FROM tasks WHERE remind_at <= :now"),
            {"now": NOW}).all()]
        (future,) = conn.execute(text("SELECT count(*) FROM tasks WHERE remind_at > :now"),
                                 {"now": NOW}).one()
    if len(due) != DUE or not future:
        raise RuntimeError(f"{tasks:,} tasks: {len(due)} due, {future} later (want {DUE})")
    return SweepDb(tasks, users, url, load_s, root, sender, due)


def reset(db: SweepDb) -> None:
    """Make the same 100 tasks due again and empty the outbox (not timed)."""
    with db.engine.begin() as conn:
        conn.execute(text(
            "UPDATE tasks SET remind_at = d.remind_at, due_date = d.due_date, "
            "due_has_time = true FROM unnest(CAST(:ids AS integer[]), "
            "CAST(:reminds AS timestamptz[]), CAST(:dues AS timestamptz[])) "
            "AS d(id, remind_at, due_date) WHERE tasks.id = d.id"),
            {"ids": [d[0] for d in db.due], "reminds": [d[1] for d in db.due],
             "dues": [d[2] for d in db.due]})
        conn.execute(text("DELETE FROM outbox"))


def timed_sweep(db: SweepDb) -> float:
    """Reset, then one whole sweep; its milliseconds (checked: 100 reminders written and sent)."""
    reset(db)
    before = db.sender.sent
    started = time.perf_counter()
    report = sweep(db.root)
    elapsed = (time.perf_counter() - started) * 1000
    if report.reminded != DUE or db.sender.sent - before != DUE or report.still_unsent:
        raise RuntimeError(f"{db.tasks:,} tasks: sweep did {report}, sent "
                           f"{db.sender.sent - before}")
    return elapsed


def timed_reminder_step(db: SweepDb) -> float:
    """Reset, then the reminder step alone (the one read of ``tasks``); its milliseconds."""
    reset(db)
    started = time.perf_counter()
    written = db.root.reminders.write_due()
    elapsed = (time.perf_counter() - started) * 1000
    if len(written) != DUE:
        raise RuntimeError(f"{db.tasks:,} tasks: the reminder step wrote {len(written)}")
    return elapsed


@dataclass(frozen=True)
class Statements:
    """The statements of one sweep (``executemany`` counts once: the reminder step's UPDATE of
    the 100 tasks is one statement, sent by psycopg as a pipeline of 100)."""

    executed: list[tuple[str, Any, bool]]  # (statement, parameters, executemany)

    @property
    def count(self) -> int:
        return len(self.executed)

    @property
    def executemany(self) -> int:
        return sum(1 for _, _, many in self.executed if many)

    def kinds(self) -> dict[str, int]:
        """How many of each statement (its first words up to the first parenthesis or WHERE)."""
        kinds: dict[str, int] = {}
        for statement, _, many in self.executed:
            head = re.split(r"\(|\bWHERE\b|\bSET\b", " ".join(statement.split()))[0].strip()
            head = head[:60] + (" [executemany]" if many else "")
            kinds[head] = kinds.get(head, 0) + 1
        return kinds

    def first(self, *fragments: str) -> tuple[str, Any]:
        for statement, parameters, _ in self.executed:
            if all(f in statement for f in fragments):
                return statement, parameters
        raise LookupError(f"no statement with {fragments}")


def statements_of_sweep(db: SweepDb) -> Statements:
    reset(db)
    seen: list[tuple[str, Any, bool]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
               executemany: bool) -> None:
        seen.append((statement, parameters, executemany))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        sweep(db.root)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    return Statements([s for s in seen if not s[0].lstrip().upper().startswith("BEGIN")])


def plans(engine: Engine, statement: str, parameters: dict[str, Any]) -> tuple[list[str],
                                                                              list[str]]:
    """EXPLAIN of a captured statement: its custom plan (these values), and the generic plan
    PostgreSQL may switch to once psycopg prepares the statement (after 5 runs on a
    connection)."""
    with engine.connect() as conn:
        custom = conn.exec_driver_sql("EXPLAIN " + statement, parameters).scalars().all()
        names: list[str] = []

        def placeholder(match: re.Match[str]) -> str:
            if match.group(1) not in names:
                names.append(match.group(1))
            return f"${names.index(match.group(1)) + 1}"

        prepared = re.sub(r"%\((\w+)\)s", placeholder, statement)
        raw = conn.connection.dbapi_connection
        assert raw is not None
        values = ", ".join(Literal(parameters[n]).as_string(raw) for n in names)
        conn.exec_driver_sql("PREPARE bench_sweep_plan AS " + prepared)
        conn.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
        generic = conn.exec_driver_sql(
            f"EXPLAIN EXECUTE bench_sweep_plan({values})").scalars().all()
        conn.exec_driver_sql("DEALLOCATE bench_sweep_plan")
        conn.exec_driver_sql("RESET plan_cache_mode")
        conn.rollback()
    return list(custom), list(generic)


@dataclass(frozen=True)
class SweepRun:
    small: SweepDb
    big: SweepDb
    repeats: int
    statements: dict[int, Statements]
    reminder_plan: tuple[list[str], list[str]]
    digest_plan: tuple[list[str], list[str]]

    @property
    def medians(self) -> dict[int, float]:
        return {db.tasks: statistics.median(db.samples) for db in (self.small, self.big)}

    @property
    def ratio(self) -> float:
        return self.medians[self.big.tasks] / self.medians[self.small.tasks]

    @property
    def step_medians(self) -> dict[int, float]:
        return {db.tasks: statistics.median(db.step_samples) for db in (self.small, self.big)}

    @property
    def step_ratio(self) -> float:
        return self.step_medians[self.big.tasks] / self.step_medians[self.small.tasks]


def run(big: tuple[int, int] = BIG, small: tuple[int, int] = SMALL,
        repeats: int = REPEATS) -> SweepRun:
    with ExitStack() as stack:
        dbs = [open_db(stack.enter_context(temporary_database("todobot_bench")), *size)
               for size in (small, big)]
        try:
            for _ in range(WARMUPS):
                for db in dbs:
                    timed_sweep(db)
            for _ in range(repeats):  # interleaved: drift on a shared machine hits both
                for db in dbs:
                    db.samples.append(timed_sweep(db))
            for _ in range(repeats):
                for db in dbs:
                    db.step_samples.append(timed_reminder_step(db))
            statements = {db.tasks: statements_of_sweep(db) for db in dbs}
            counted = statements[dbs[1].tasks]
            reset(dbs[1])  # explained as the sweep saw it: 100 due
            reminder_plan = plans(dbs[1].engine, *counted.first("FROM tasks", "FOR UPDATE"))
            digest_plan = plans(dbs[1].engine, *counted.first("FROM users", "FOR UPDATE"))
            return SweepRun(dbs[0], dbs[1], repeats, statements, reminder_plan, digest_plan)
        finally:
            for db in dbs:
                db.root.engine.dispose()


def _uses(plan: list[str], index: str) -> bool:
    return any(index in line for line in plan)


def measure(quick: bool = False) -> list[Row]:
    result = run(QUICK_BIG if quick else BIG, SMALL, QUICK_REPEATS if quick else REPEATS)
    small, big = result.small, result.big
    medians, steps = result.medians, result.step_medians
    custom, generic = result.reminder_plan
    index = ("through `ix_tasks_remind_at`" if _uses(custom, "ix_tasks_remind_at")
             and _uses(generic, "ix_tasks_remind_at") else "**not** through ix_tasks_remind_at")
    counts = {tasks: s.count for tasks, s in result.statements.items()}
    return [
        ratio_row(8, f"one scheduler sweep with {big.tasks:,} vs {small.tasks:,} tasks, "
                  f"{DUE} reminders due in each (PostgreSQL; the whole `handlers.sweep.sweep`, "
                  "sender stubbed)",
                  f"{ms(medians[big.tasks])} @{big.tasks:,} vs {ms(medians[small.tasks])} "
                  f"@{small.tasks:,} (median of {result.repeats}, interleaved; the reminder "
                  f"read {index}; {big.tasks:,} tasks loaded in {big.load_s:.0f} s)",
                  result.ratio, LIMIT),
        Row(8, "for scale: the reminder step alone (`Reminders.write_due`: the sweep's one read "
            f"of tasks, 100 outbox rows written), {big.tasks:,} vs {small.tasks:,} tasks",
            f"{ms(steps[big.tasks])} vs {ms(steps[small.tasks])} (median of {result.repeats}, "
            "interleaved); the rest of the sweep is sending the 100 rows",
            f"{result.step_ratio:.2f}", "reported", None),
        Row(8, "SQL statements per sweep (100 reminders written and sent; BEGIN excluded, "
            "`executemany` counts once), at both task counts",
            f"{counts[small.tasks]} @{small.tasks:,}, {counts[big.tasks]} @{big.tasks:,}",
            f"{counts[small.tasks]} / {counts[big.tasks]}", "constant",
            len(set(counts.values())) == 1),
    ]


def main() -> None:
    quick = "--quick" in sys.argv
    if "--table" in sys.argv:
        print(render(measure(quick)))
        return
    big_size = QUICK_BIG if quick else BIG
    repeats = QUICK_REPEATS if quick else REPEATS
    result = run(big_size, SMALL, repeats)
    print(f"median of {repeats} sweeps each, interleaved, {DUE} reminders due in each")
    for db in (result.small, result.big):
        counted = result.statements[db.tasks]
        print(f"{db.tasks:>9,} tasks, {db.users:>6,} users: load {db.load_s:6.1f} s, "
              f"sweep {statistics.median(db.samples):7.2f} ms "
              f"(min {min(db.samples):.2f}, max {max(db.samples):.2f}), reminder step "
              f"{statistics.median(db.step_samples):6.2f} ms, {counted.count} statements "
              f"({counted.executemany} executemany)")
    print(f"ratio big / small: sweep {result.ratio:.2f} (target <= {LIMIT}), reminder step "
          f"{result.step_ratio:.2f}")
    print(f"statements of one sweep, {result.big.tasks:,} tasks:")
    for head, count in result.statements[result.big.tasks].kinds().items():
        print(f"    {count:4} x {head}")
    for label, (custom, generic) in (("reminder read", result.reminder_plan),
                                     ("digest read", result.digest_plan)):
        print(f"{label}, {result.big.tasks:,} tasks, plan with the sweep's values:")
        print("\n".join("    " + line for line in custom))
        print(f"{label}, generic plan (once psycopg prepares it):")
        print("\n".join("    " + line for line in generic[:PLAN_LINES]))


if __name__ == "__main__":
    main()
