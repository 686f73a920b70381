"""The benchmark suite's runner stays runnable (benchmarks are scripts, not tests: no timing is
asserted here, only that the machinery works end to end on one tiny measurement)."""

from __future__ import annotations

from tests.bench import run_all
from tests.bench.table import Row, render


def test_the_runner_measures_and_renders_one_tiny_benchmark() -> None:
    rows = run_all.run(["llm_economy"], quick=True)

    assert rows and all(isinstance(row, Row) and row.number == 5 for row in rows)
    assert all(row.met is not None for row in rows)  # judged rows, whatever the verdict
    table = render(rows).splitlines()
    assert table[0].startswith("| # | target |") and len(table) == 2 + len(rows)


def test_every_benchmark_of_the_issue_is_in_the_suite() -> None:
    assert list(run_all.BENCHMARKS) == ["cold_start", "telegram_turn", "turn_history",
                                        "slack_ack", "llm_economy", "serve_throughput",
                                        "aws_reply", "faults", "sweep_scale",
                                        "reminder_lateness", "phrase_score", "limits_cost"]
    assert all(callable(module.measure) for module in run_all.BENCHMARKS.values())


def test_receipt_to_reply_matches_each_reply_to_its_update_once() -> None:
    from tests.bench.serve_throughput import receipt_to_reply_ms
    from tests.fakes.telegram_api import ApiCall

    sent = {7: 10.0, 8: 10.5}
    replies = [ApiCall("sendMessage", {"text": "Added #2: Load 8"}, at=10.75),
               ApiCall("sendMessage", {"text": "Added #1: Load 7"}, at=10.25),
               ApiCall("sendMessage", {"text": "Added #9: Load 99"}, at=11.0)]  # a warm-up's

    assert receipt_to_reply_ms(sent, replies) == [250.0, 250.0]
