"""Timing: samples of one operation, their median and 95th percentile, and ratios between them.

Every figure the benchmarks report is a ratio of two timings taken in the same run, alternating
between the two, so that a noisy machine slows both alike.
"""

from __future__ import annotations

import gc
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Timing:
    """Seconds per call of one operation."""

    samples: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def p95(self) -> float:
        ordered = sorted(self.samples)
        # Nearest rank: the smallest sample that at least 95 % of the samples do not exceed.
        return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]

    def as_json(self) -> dict[str, object]:
        return {
            "median_ms": round(self.median * 1000, 3),
            "p95_ms": round(self.p95 * 1000, 3),
            "samples": len(self.samples),
        }


def time_once(operation: Callable[[], object]) -> float:
    started = time.perf_counter()
    operation()
    return time.perf_counter() - started


def alternate(
    operations: Sequence[Callable[[], object]], *, samples: int, warmup: int = 2
) -> list[Timing]:
    """Time each operation `samples` times, taking turns, after `warmup` untimed turns each."""
    for _ in range(warmup):
        for operation in operations:
            operation()
    taken: list[list[float]] = [[] for _ in operations]
    for _ in range(samples):
        for index, operation in enumerate(operations):
            # A collection started by the previous operation's garbage must not land in this one.
            gc.collect()
            taken[index].append(time_once(operation))
    return [Timing(tuple(times)) for times in taken]


def ratio(ours: float, baseline: float) -> float:
    return ours / baseline if baseline > 0 else math.inf


def format_ms(seconds: float) -> str:
    milliseconds = seconds * 1000
    if milliseconds >= 100:
        return f"{milliseconds:,.0f} ms"
    if milliseconds >= 10:
        return f"{milliseconds:.1f} ms"
    return f"{milliseconds:.2f} ms"


def format_timing(timing: Timing) -> str:
    return f"{format_ms(timing.median)} (p95 {format_ms(timing.p95)})"
