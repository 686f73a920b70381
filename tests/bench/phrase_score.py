"""The offline brain's phrase table, scored: ``python -m tests.bench.phrase_score``.

Runs every row of tests/core/test_phrase_table.py (dates, times, recurrences, traps, edits,
views, bulk deletes and the daylight-saving days of Europe/Berlin and America/New_York, at
fixed nows) through the real service with the offline brain, on a throwaway SQLite database,
each row as a user of its own. Prints "phrase table: N/M = xx.x %" and every failing row with
what happened instead (``--table``: also as the benchmark table's row). Target: >= 97 %.
``measure()`` gives the figure as a benchmark table row, for run_all.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bot_core.bootstrap import build_service
from bot_core.settings import Settings
from models.db import create_db_engine
from models.migrate import upgrade
from tests.bench.table import Row, render
from tests.core.test_phrase_table import ROWS, TARGET, FixedClock
from tests.core.test_phrase_table import Row as PhraseRow
from tests.core.test_phrase_table import score as score_rows

NUMBER = 10  # the benchmark table's row number (the suite's own targets are 1..9)


def run() -> list[tuple[PhraseRow, str | None]]:
    """Every row of the table on a fresh SQLite database: (row, failure or None)."""
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'phrases.db'}"
        upgrade(url)
        engine = create_db_engine(url)
        try:
            clock = FixedClock()
            service = build_service(Settings(database_url=url), engine=engine, clock=clock)
            return score_rows(service, engine, clock)
        finally:
            engine.dispose()


def summary(results: Sequence[tuple[PhraseRow, str | None]]) -> tuple[int, int, float]:
    passed = sum(failure is None for _, failure in results)
    return passed, len(results), passed / len(results)


def table_row(results: Sequence[tuple[PhraseRow, str | None]]) -> Row:
    passed, total, share = summary(results)
    return Row(NUMBER, "offline brain phrase table (dates, times, recurrence, traps, edits, "
                       "views, bulk, DST days; Berlin, New York, Tokyo)",
               f"{passed}/{total} rows end to end on SQLite", f"{share:.1%}",
               f"≥ {TARGET:.0%}", share >= TARGET)


def measure(quick: bool = False) -> list[Row]:
    """The score as one benchmark row (``quick`` changes nothing: the table takes seconds)."""
    return [table_row(run())]


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    started = time.perf_counter()
    results = run()
    passed, total, share = summary(results)
    print(f"phrase table: {passed}/{total} = {share * 100:.1f} %  (target ≥ {TARGET:.0%}; "
          f"{len(ROWS)} rows in {time.perf_counter() - started:.1f} s)")
    for row, failure in results:
        if failure is not None:
            known = f"  [known: {row.fails}]" if row.fails else ""
            print(f"  FAIL {row.id}\n       {failure}{known}")
    if "--table" in args:
        print("\n" + render([table_row(results)]))
    return 0  # a figure, not a gate: the test suite asserts the target


if __name__ == "__main__":
    sys.exit(main())
