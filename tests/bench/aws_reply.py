"""Benchmark 6b: receipt-to-reply on the AWS path, Telegram.

``handlers.telegram.handler`` with ``TODOBOT_QUEUE_URL`` set (an SQS FIFO queue on moto's
server, 127.0.0.1, the real boto3 client) only enqueues; the fake of Lambda's SQS event source
mapping (:mod:`tests.fakes.sqs_esm`, three pollers, short polls 20 ms apart when idle, as
:class:`~tests.fakes.sqs_esm.EventSourceMapping` does) runs ``handlers.worker.handler``, which
runs the turn against PostgreSQL and sends the reply to the fake Bot API. ``/add`` updates
arrive open loop at a steady rate from a few users (one message group each).

Receipt-to-reply per update: from just before its webhook request is handed to the handler to
the fake Bot API receiving its ``sendMessage`` (both ``time.monotonic()`` in this process).
Checks every update answered exactly once, every outbox row sent, nothing left on the queue or
dead-lettered. Everything shares this process and the machine's two cores (webhook, moto,
pollers, worker, fake): a local figure, not Lambda's, and reported rather than judged.
Run: ``python -m tests.bench.aws_reply`` (``--quick``).
"""

from __future__ import annotations

import itertools
import sys
import threading
import time

from models.migrate import upgrade
from tests.bench.aws import environment, fifo_queue
from tests.bench.events import TELEGRAM_SECRET, LambdaContext, telegram_event, telegram_update
from tests.bench.serve_throughput import receipt_to_reply_ms
from tests.bench.slack_ack import check_outbox
from tests.bench.table import Row, median, percentile, render
from tests.fakes.sqs_esm import BatchOutcome, EventSourceMapping
from tests.fakes.telegram_api import DEFAULT_TOKEN, FakeTelegram
from tests.pg_databases import temporary_database

UPDATES, QUICK_UPDATES = 200, 12
USERS = 8
PER_SECOND = 20.0
POLLERS = 3
FIRST_USER = 950_000_001


def run(updates: int = UPDATES) -> tuple[list[float], list[float]]:
    """(receipt-to-reply ms, webhook answer ms) per update."""
    with temporary_database("todobot_bench_aws_reply") as url, FakeTelegram() as api, \
            fifo_queue("todobot-bench-telegram") as queue:
        upgrade(url)
        env = queue.env() | {"DATABASE_URL": url, "TELEGRAM_BOT_TOKEN": DEFAULT_TOKEN,
                             "TELEGRAM_WEBHOOK_SECRET": TELEGRAM_SECRET,
                             "TELEGRAM_API_BASE_URL": api.url}
        with environment(env):
            from handlers.telegram import handler
            from handlers.worker import handler as worker

            esm = EventSourceMapping(queue.client, queue.url, worker, queue_arn=queue.arn,
                                     function_timeout_s=120,
                                     function_name="todobot-bench-worker")
            sending = threading.Event()
            outcomes: list[BatchOutcome] = []
            errors: list[BaseException] = []

            def drain() -> None:
                try:
                    outcomes.extend(esm.run_concurrently(POLLERS, timeout_s=600,
                                                         not_before=sending))
                except BaseException as error:  # noqa: BLE001 - reported on the main thread
                    errors.append(error)

            poller = threading.Thread(target=drain, name="esm", daemon=True)
            poller.start()
            context = LambdaContext("todobot-bench-telegram")
            update_ids = itertools.count(95_000_000)
            sent_at: dict[int, float] = {}
            answers: list[float] = []
            try:
                # One update through the whole path first: connections, clients, caches.
                handler(telegram_event(telegram_update(
                    "/add Warm-up", user_id=FIRST_USER, update_id=next(update_ids))), context)
                deadline = time.monotonic() + 60
                while not api.calls_to("sendMessage") and time.monotonic() < deadline:
                    time.sleep(0.01)
                began = time.monotonic()
                for n in range(updates):
                    time.sleep(max(0.0, began + n / PER_SECOND - time.monotonic()))
                    update_id = next(update_ids)
                    event = telegram_event(telegram_update(
                        f"/add Load {update_id}", user_id=FIRST_USER + n % USERS,
                        update_id=update_id))
                    sent_at[update_id] = time.monotonic()
                    response = handler(event, context)
                    answers.append((time.monotonic() - sent_at[update_id]) * 1000)
                    assert response["statusCode"] == 200, response
            finally:
                sending.set()
                poller.join(660)
        if errors:
            raise errors[0]
        assert not poller.is_alive(), "the queue was not drained"
        assert not [o for o in outcomes if o.error or o.failed]
        replies = api.calls_to("sendMessage")
        assert len(replies) == updates + 1, (len(replies), updates + 1)
        to_reply = receipt_to_reply_ms(sent_at, replies)
        assert queue.waiting() == 0 and queue.dead_letters() == 0
        check_outbox(url, updates + 1)
        return to_reply, answers


def measure(quick: bool = False) -> list[Row]:
    updates = QUICK_UPDATES if quick else UPDATES
    to_reply, answers = run(updates)
    r50, r99 = median(to_reply), percentile(to_reply, 0.99)
    return [Row(
        6, "receipt-to-reply, AWS path: `handlers.telegram.handler` enqueues to SQS FIFO "
        "(moto's server) -> event source mapping fake -> `handlers.worker.handler` -> fake Bot "
        "API `sendMessage`",
        f"p50 {r50:.0f} ms, p99 {r99:.0f} ms over {len(to_reply)} `/add` updates "
        f"({PER_SECOND:.0f}/s open loop, {USERS} users, {POLLERS} pollers; the webhook "
        f"answered in p50 {median(answers):.0f} ms, p99 {percentile(answers, 0.99):.0f} ms); "
        "each answered once, every outbox row sent; webhook, moto, pollers and worker share "
        "one process and 2 cores",
        f"p50 {r50:.0f} ms / p99 {r99:.0f} ms", "reported", None)]


def main() -> None:
    print(render(measure("--quick" in sys.argv)))


if __name__ == "__main__":
    main()
