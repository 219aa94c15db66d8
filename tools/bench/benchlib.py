"""What the benchmarks share."""

import time
from typing import Callable


def per_call_us(func: Callable[[], object], rounds: int, n: int) -> float:
    """Microseconds per call of ``func``: the best of ``rounds`` runs of
    ``n`` calls (the least disturbed by the rest of the machine)."""
    best = float('inf')
    for _ in range(rounds):
        start = time.perf_counter_ns()
        for _ in range(n):
            func()
        best = min(best, (time.perf_counter_ns() - start) / n / 1000.0)
    return best
