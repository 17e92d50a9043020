"""Statistics over repeated runs (seeds, class orders): pure functions on lists of numbers.

Training is chaotic (docs/experiments.md, "What repeats"): one run is one sample, so every
figure icarl publishes over repetitions is a mean with its sample standard deviation
(``sd``, ddof=1) and the standard error of the mean (``se = sd / sqrt(n)``), and an effect
between two configurations is a difference with its own standard error and a 95% interval.

Two configurations run on the same seeds and class orders are compared PAIRED: the
difference is taken within each (seed, order) pair, which removes what the pair shares (a
hard class order is hard for both). The unpaired standard error
``sqrt(sd_a^2/n_a + sd_b^2/n_b)`` is given beside it. "Not distinguishable" means the 95%
interval of the paired difference, ``mean +- t(0.975, n-1) * se``, covers zero.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

# two-sided 95% quantiles of Student's t by degrees of freedom (a table, not scipy); between
# entries the next smaller df is used, which widens the interval (conservative)
T975 = {
    1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
    10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110,
    18: 2.101, 19: 2.093, 20: 2.086, 25: 2.060, 30: 2.042, 40: 2.021, 60: 2.000, 120: 1.980,
}  # fmt: skip


def t975(df: int) -> float:
    """The 97.5% quantile of Student's t with ``df`` degrees of freedom (1.96 beyond 120)."""
    if df < 1:
        return math.inf
    if df > 120:
        return 1.96
    return T975[max(k for k in T975 if k <= df)]


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for fewer than two values)."""
    n = len(values)
    if n == 0:
        return math.nan, math.nan
    m = math.fsum(values) / n
    if n < 2:
        return m, 0.0
    return m, math.sqrt(math.fsum((v - m) ** 2 for v in values) / (n - 1))


def summary(values: Sequence[float]) -> dict[str, Any]:
    """``{n, mean, sd, se, values}`` of a list of numbers (``se = sd / sqrt(n)``)."""
    values = [float(v) for v in values]
    m, sd = mean_sd(values)
    n = len(values)
    return {"n": n, "mean": m, "sd": sd, "se": sd / math.sqrt(n) if n else math.nan, "values": values}


def per_step(curves: Sequence[Sequence[float]]) -> dict[str, list[float]]:
    """Mean, sd and se at each position of equally long curves (one per repetition)."""
    columns = list(zip(*curves, strict=True)) if curves else []
    stats = [summary(c) for c in columns]
    return {k: [s[k] for s in stats] for k in ("mean", "sd", "se")}


def paired(a: Sequence[float], b: Sequence[float]) -> dict[str, Any]:
    """``b - a`` within pairs: the mean difference, its sd and se, the 95% interval, whether
    it covers zero (``distinguishable``), and the unpaired standard error beside it."""
    if len(a) != len(b):
        raise ValueError(f"paired comparison needs as many values on each side ({len(a)} != {len(b)})")
    diffs = [float(y) - float(x) for x, y in zip(a, b, strict=True)]
    d = summary(diffs)
    half = t975(d["n"] - 1) * d["se"] if d["n"] > 1 else math.inf
    _, sd_a = mean_sd(a)
    _, sd_b = mean_sd(b)
    n = len(a)
    unpaired = math.sqrt(sd_a**2 / n + sd_b**2 / n) if n > 1 else math.nan
    low, high = d["mean"] - half, d["mean"] + half
    return {
        "n": n,
        "mean_diff": d["mean"],
        "sd_diff": d["sd"],
        "se_diff": d["se"],
        "ci95": [low, high],
        "se_unpaired": unpaired,
        "distinguishable": bool(n > 1 and (low > 0 or high < 0)),
        "diffs": diffs,
    }


def verdict(p: dict[str, Any], scale: float = 100.0, unit: str = " points") -> str:
    """One line: the difference with its se and interval, and whether it is an effect."""
    low, high = (scale * v for v in p["ci95"])
    text = (
        f"{scale * p['mean_diff']:+.2f}{unit} (se {scale * p['se_diff']:.2f}, 95% interval "
        f"{low:+.2f} to {high:+.2f}, n = {p['n']} pairs)"
    )
    if p["n"] < 2:
        return text + ": one pair estimates no noise; repeat over more seeds or orders"
    return text + (": distinguishable" if p["distinguishable"] else ": not distinguishable")
