"""The benchmark suite's one table: a row per target, figures measured side by side.

Each benchmark module returns :class:`Row` values; :func:`render` prints them as a Markdown table
(the README shows it as it is). ``met`` is None for figures that are reported, not judged.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    """One target: what was measured, the figure compared, the threshold, and the verdict."""

    number: int
    target: str
    measured: str
    figure: str
    threshold: str
    met: bool | None


def ratio_row(number: int, target: str, measured: str, ratio: float, limit: float) -> Row:
    """A row judged by ``ratio <= limit``."""
    return Row(number, target, measured, f"{ratio:.2f}", f"≤ {limit:g}", ratio <= limit)


def render(rows: Sequence[Row]) -> str:
    """The Markdown table."""
    lines = ["| # | target | measured in the same run | figure | threshold | met |",
             "|---|---|---|---|---|---|"]
    for row in rows:
        verdict = "—" if row.met is None else ("yes" if row.met else "**no**")
        lines.append(f"| {row.number} | {row.target} | {row.measured} | {row.figure} | "
                     f"{row.threshold} | {verdict} |")
    return "\n".join(lines)


def percentile(samples: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (``fraction`` 0.99 for p99): a value that was measured."""
    ordered = sorted(samples)
    rank = max(1, -(-len(ordered) * fraction // 1))  # ceil without float surprises
    return ordered[int(rank) - 1]


def median(samples: Sequence[float]) -> float:
    return statistics.median(samples)


def ms(value: float) -> str:
    """Milliseconds, with as many decimals as the size deserves."""
    return f"{value:.2f} ms" if value < 10 else f"{value:.0f} ms" if value >= 100 else \
        f"{value:.1f} ms"
