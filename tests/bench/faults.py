"""The fault table (issue 9): on the AWS path — the Telegram webhook enqueuing to SQS FIFO on
moto's server, the event source mapping fake running ``handlers.worker.handler``, PostgreSQL,
the fake Bot API — each fault is injected into a burst of ``/add`` updates from several people,
the queue drained (and the scheduler run where the fault leaves work to it), and the replies
counted at the fake: lost = stored turns whose reply never arrived; twice = replies that arrived
more than once. Counts, not timings.

Run: ``python -m tests.bench.faults`` (also part of ``make bench``).
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from tests.bench.table import Row, render

PEOPLE = 5
PER_PERSON = 4


@dataclass(frozen=True)
class Outcome:
    fault: str
    turns: int
    lost: int
    twice: int
    note: str
    failed_sends: int
    dead_letters: int


@contextmanager
def _environment() -> Iterator[dict[str, Any]]:
    """A database, the fake Bot API, moto's SQS with a fresh FIFO queue pair, the env."""
    import boto3

    from models.migrate import upgrade
    from tests.fakes.moto_sqs import create_fifo_queue, queue_arn, start_moto_server
    from tests.fakes.telegram_api import DEFAULT_TOKEN, FakeTelegram
    from tests.pg_databases import temporary_database

    server, url = start_moto_server()
    saved = dict(os.environ)
    try:
        with temporary_database("todobot_bench_faults") as db, FakeTelegram() as telegram:
            upgrade(db)
            sqs = boto3.client("sqs", endpoint_url=url, region_name="us-east-1",
                               aws_access_key_id="bench", aws_secret_access_key="bench")
            os.environ.update({
                "DATABASE_URL": db, "TELEGRAM_BOT_TOKEN": DEFAULT_TOKEN,
                "TELEGRAM_WEBHOOK_SECRET": "bench-secret", "TELEGRAM_API_BASE_URL": telegram.url,
                "AWS_ENDPOINT_URL_SQS": url, "AWS_ACCESS_KEY_ID": "bench",
                "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1",
                "TODOBOT_QUEUE_MAX_RECEIVES": "20",
            })
            for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "TODOBOT_SSM_PATH"):
                os.environ.pop(name, None)
            yield {"db": db, "telegram": telegram, "sqs": sqs, "create": create_fifo_queue,
                   "arn": queue_arn}
    finally:
        os.environ.clear()
        os.environ.update(saved)
        server.stop()


def _scenario(env: dict[str, Any], fault: str, inject: Callable[[dict[str, Any]], Any],
              *, sweep_after: bool = False, wrap: Callable[[Any], Any] | None = None,
              poison: bool = False, note: str = "") -> Outcome:
    import uuid

    from sqlalchemy import create_engine, text

    from handlers import composition
    from tests.bench.events import telegram_event, telegram_update
    from tests.fakes.sqs_esm import EventSourceMapping

    telegram = env["telegram"]
    telegram.reset()
    queue_url, dlq_url = env["create"](env["sqs"], f"faults-{uuid.uuid4().hex[:10]}",
                                       max_receive_count=20, visibility_timeout=30)
    os.environ["TODOBOT_QUEUE_URL"] = queue_url
    os.environ["TODOBOT_DEAD_LETTER_QUEUE_URL"] = dlq_url
    composition.reset()
    from handlers.telegram import handler as webhook
    from handlers.worker import handler as worker

    engine = create_engine(env["db"].replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE delivery_claims, outbox, messages, conversations, tasks, "
                          "chat_identities, users RESTART IDENTITY CASCADE"))
    undo = inject(env)
    titles: list[str] = []
    base = 80_000_000 + int(uuid.uuid4().int % 10_000_000) * 10
    for n in range(PER_PERSON):
        for person in range(PEOPLE):
            title = f"{fault[:12]} p{person} n{n}"
            if poison and person == 0 and n == 0:
                title = "poison"
            titles.append(title)
            update = telegram_update(f"/add {title}", user_id=6_000_000 + person,
                                     update_id=base + len(titles))
            assert webhook(telegram_event(update, secret="bench-secret"), None)[
                "statusCode"] == 200
    handler = wrap(worker) if wrap is not None else worker
    restore = getattr(handler, "undo", None)
    esm = EventSourceMapping(env["sqs"], queue_url, handler, function_timeout_s=120,
                             queue_arn=env["arn"](env["sqs"], queue_url))
    try:
        esm.run_concurrently(3, timeout_s=120)
    finally:
        if undo is not None:
            undo()
        if restore is not None:
            restore()
    if sweep_after:
        from handlers.sweep import sweep

        root = composition.root()
        for _ in range(30):
            if not sweep(root).still_unsent and not _unsent(engine):
                break
            root.clock = _later(root.clock)
    with engine.connect() as conn:
        stored = [r[0] for r in conn.execute(text("SELECT title FROM tasks"))]
    engine.dispose()
    delivered = Counter(json.dumps(c["text"]) for c in telegram.succeeded("sendMessage"))
    answers = {t: sum(n for k, n in delivered.items() if json.loads(k).endswith(f": {t}"))
               for t in stored}
    lost = sum(1 for n in answers.values() if n == 0)
    twice = sum(n - 1 for n in answers.values() if n > 1)
    failed = sum(1 for c in telegram.calls_to("sendMessage") if telegram.status_of(c) != 200)
    if getattr(handler, "state", None) is not None:
        assert handler.state["died"], "the worker never died: the scenario did not happen"
    from tests.fakes.moto_sqs import receive_all

    dead = len(receive_all(env["sqs"], dlq_url))
    composition.reset()
    return Outcome(fault, len(stored), lost, twice, note, failed, dead)


def _unsent(engine: Any) -> int:
    from sqlalchemy import text

    with engine.connect() as conn:
        return int(conn.execute(text(
            "SELECT count(*) FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL")
        ).scalar_one())


def _later(clock: Callable[[], Any]) -> Callable[[], Any]:
    from datetime import timedelta

    moved = clock() + timedelta(minutes=2)
    return lambda: moved


def _dying_worker(worker: Any) -> Any:
    """The first invocation dies after its turns committed, before any reply is sent (the
    first send of the scenario kills it; every invocation that dies is failed as Lambda fails
    a crashed one)."""
    import threading

    from handlers import composition
    from handlers.delivery import Deliverer

    lock = threading.Lock()
    state = {"died": False}
    real = Deliverer.deliver

    def deliver_or_die(self: Deliverer, row_ids: Any) -> Any:
        with lock:
            first, state["died"] = not state["died"], True
        if first:
            raise SystemExit("killed between commit and send")
        return real(self, row_ids)

    Deliverer.deliver = deliver_or_die  # type: ignore[method-assign]

    def run(event: dict[str, Any], context: Any) -> Any:
        try:
            return worker(event, context)
        except SystemExit as died:
            for record in event["Records"]:  # Lambda's retry, without the 18-minute wait
                sqs = composition.root().sqs_queue
                assert sqs is not None
                sqs.retry_later(record["receiptHandle"], 0)
            raise RuntimeError("the invocation died") from died
    run.undo = lambda: setattr(Deliverer, "deliver", real)  # type: ignore[attr-defined]
    run.state = state  # type: ignore[attr-defined]
    return run


def _short_deadline(worker: Any) -> Any:
    """Every invocation has time for one record only: the tails go back to the queue."""
    class Context:
        function_name = "todobot-bench-worker"

        def __init__(self) -> None:
            self.calls = 0

        def get_remaining_time_in_millis(self) -> int:
            self.calls += 1
            return 60_000 if self.calls == 1 else 1_000

    return lambda event, _context: worker(event, Context())


def _poison_turns() -> Callable[[], None]:
    from bot_core.service import TodoService

    real = TodoService.handle

    def handle(self: TodoService, inbound: Any, **kwargs: Any) -> Any:
        if inbound.text == "/add poison":
            raise RuntimeError("a bug this message triggers every time")
        return real(self, inbound, **kwargs)

    TodoService.handle = handle  # type: ignore[method-assign]

    def undo() -> None:
        TodoService.handle = real  # type: ignore[method-assign]
    return undo


def outcomes() -> list[Outcome]:
    import handlers.aws.sqs_batch as batch

    fast = batch.MAX_TURN_BACKOFF_SECONDS
    batch.MAX_TURN_BACKOFF_SECONDS = 0  # a poisoned record's backoff, not worth waiting for
    try:
        with _environment() as env:
            return [
                _scenario(env, "sendMessage 429, retry_after 1 s (first 10 sends)",
                          lambda e: e["telegram"].fail_next("sendMessage", 429, retry_after=1,
                                                            times=10),
                          note="retried by the queue after retry_after"),
                _scenario(env, "sendMessage 502 (first 10 sends)",
                          lambda e: e["telegram"].fail_next("sendMessage", 502, html=True,
                                                            times=10),
                          note="retried by the queue after the backoff"),
                _scenario(env, "sendMessage timeout, message not sent (first 3)",
                          lambda e: e["telegram"].stall_next("sendMessage", 12,
                                                             processed=False, times=3),
                          note="the client gives up after 10 s; retried"),
                _scenario(env, "sendMessage timeout, message sent (first 3)",
                          lambda e: e["telegram"].stall_next("sendMessage", 12,
                                                             processed=True, times=3),
                          note="crash window: Telegram sent it, its answer was lost"),
                _scenario(env, "worker killed between commit and send",
                          lambda e: None, wrap=_dying_worker,
                          note="the batch comes back; the turns are not run again"),
                _scenario(env, "poisoned record (a turn that always fails)",
                          lambda e: _poison_turns(), poison=True,
                          note="dead-lettered after 5 receives; its group goes on"),
                _scenario(env, "deadline: time for one record per invocation",
                          lambda e: None, wrap=_short_deadline,
                          note="tails go back to the queue at once"),
            ]
    finally:
        batch.MAX_TURN_BACKOFF_SECONDS = fast


def measure(quick: bool = False) -> list[Row]:
    rows = []
    for outcome in outcomes():
        rows.append(Row(
            7, f"fault on the AWS path: {outcome.fault}",
            f"{outcome.turns} turns stored, {outcome.failed_sends} sends failed at the fake, "
            f"{outcome.dead_letters} dead-lettered; {outcome.lost} replies lost, "
            f"{outcome.twice} sent twice ({outcome.note})",
            f"{outcome.lost} lost / {outcome.twice} twice", "0 lost", outcome.lost == 0))
    return rows


def main() -> None:
    print(render(measure("--quick" in sys.argv)))


if __name__ == "__main__":
    main()
