"""The one definition of the intervals every figure carries: Student-t intervals of a mean.

Over evaluation seeds, training seeds or replicate owners, a figure is the
mean of a few values and its 95 % interval is mean +- t(0.975, n - 1) * sd /
sqrt(n). Fewer than two values have no interval. Plain Python and scipy: the
torch-free report layer and the evaluation share it.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def half_width(sd: float, n: int, *, level: float = 0.95) -> float:
    """Half-width of the Student-t interval of a mean of ``n`` values with deviation ``sd``
    (0 for fewer than 2 values, or a non-finite ``sd``: no interval can be drawn)."""
    if n < 2 or not math.isfinite(sd):
        return 0.0
    from scipy.stats import t

    return float(t.ppf(0.5 + level / 2, n - 1)) * sd / math.sqrt(n)


def t_interval(values: Sequence[float], *, level: float = 0.95
               ) -> tuple[float, float | None, float | None]:
    """(mean, lo, hi) of ``values``; lo and hi are None for fewer than 2 values."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, None, None
    half = half_width(statistics.stdev(values), len(values), level=level)
    return mean, mean - half, mean + half
