"""Benchmark 2, a warm Telegram ``/add``: the whole webhook path against its floor.

Wall time of ``handlers.telegram.handler(event, context)`` for a private ``/add`` on a warm
process, against a throwaway PostgreSQL database and the loopback fake Bot API, on the local
path (no ``TODOBOT_QUEUE_URL``): Mangum and the Starlette route, secret check, parsing, the
in-process queue (the conversation's order), the worker's turn (one transaction: delivery claim,
task, messages, outbox row), then the outbox row leased, sent through python-telegram-bot and
marked sent. Interleaved with it, in the same run: the floor (:mod:`tests.bench.floor`: the same
statements with plain psycopg plus one plain POST to the same fake) and the core's
``TodoService.handle`` alone (no outbox row, nothing sent).

Target (issue #6): handler <= 2 x floor. Run: ``python -m tests.bench.telegram_turn``.
"""

from __future__ import annotations

import itertools
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from bot_core.inbound import Inbound
from models.migrate import upgrade
from tests.bench.aws import environment
from tests.bench.events import TELEGRAM_SECRET, LambdaContext, telegram_event, telegram_update
from tests.bench.floor import FloorTurn
from tests.bench.table import Row, median, ms, percentile, ratio_row, render
from tests.fakes.telegram_api import DEFAULT_TOKEN, FakeTelegram
from tests.pg_databases import temporary_database

TURNS = 300
WARMUP = 30
LIMIT = 2.0
USER_ID = 940_000_001


@dataclass(frozen=True)
class WarmTurns:
    """Milliseconds per turn, sampled alternately."""

    handler: list[float]
    floor: list[float]
    core: list[float]


def _ms(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return (time.perf_counter() - started) * 1000


def run(turns: int = TURNS, warmup: int = WARMUP) -> WarmTurns:
    from handlers import composition

    with temporary_database("todobot_bench_tg") as url, FakeTelegram() as api, environment({
            "DATABASE_URL": url, "TELEGRAM_BOT_TOKEN": DEFAULT_TOKEN,
            "TELEGRAM_WEBHOOK_SECRET": TELEGRAM_SECRET, "TELEGRAM_API_BASE_URL": api.url,
            "AWS_LAMBDA_FUNCTION_NAME": "todobot-bench-telegram"}):
        upgrade(url)
        from handlers.telegram import handler

        floor = FloorTurn(url, api.url, DEFAULT_TOKEN)
        context = LambdaContext("todobot-bench-telegram")
        update_ids = itertools.count(90_000_000)
        try:
            def through_handler(n: int) -> None:
                update = telegram_update(f"/add Task {n}", user_id=USER_ID,
                                         update_id=next(update_ids))
                response = handler(telegram_event(update), context)
                assert response["statusCode"] == 200, response

            service = composition.root().service

            def core(n: int) -> None:
                service.handle(Inbound(platform="telegram", chat_id=str(USER_ID),
                                       external_user_id=str(USER_ID), text=f"/add Core {n}"))

            for n in range(warmup):
                through_handler(-n)
                floor.turn()
                core(-n)
            samples = WarmTurns([], [], [])
            for n in range(turns):
                samples.handler.append(_ms(partial(through_handler, n)))
                samples.floor.append(_ms(floor.turn))
                samples.core.append(_ms(partial(core, n)))
            assert len(api.calls_to("sendMessage")) == 2 * (warmup + turns)
            assert sum(text.startswith("Added #") for text in api.sent_texts()) == \
                2 * (warmup + turns)
            return samples
        finally:
            floor.close()


def measure(quick: bool = False) -> list[Row]:
    samples = run(turns=20, warmup=5) if quick else run()
    handler, floor, core = (median(samples.handler), median(samples.floor),
                            median(samples.core))
    return [ratio_row(
        2, "warm `/add` through `handlers.telegram.handler`, local path (PostgreSQL, fake Bot "
        "API) vs its floor: the same statements with plain psycopg (turn + outbox row in one "
        "transaction, then lease, one POST, mark sent)",
        f"{ms(handler)} vs {ms(floor)} (median of {len(samples.handler)}, interleaved; "
        f"p90 {ms(percentile(samples.handler, 0.9))}); the core's turn alone {ms(core)}",
        handler / floor, LIMIT)]


def main() -> None:
    print(render(measure("--quick" in sys.argv)))


if __name__ == "__main__":
    main()
