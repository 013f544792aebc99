"""Confidence intervals and a test for proportions, as `intentedge report` uses them (95 %, two-sided).

    wilson(k, n)                   one proportion: Wilson's score interval
    newcombe(k1, n1, k2, n2)       p1 - p2: Newcombe's hybrid score interval (his method 10, 1998)
    katz(k1, n1, k2, n2)           p1 / p2: Katz's log interval, 0.5 added to every cell when one is zero
    z_test(k1, n1, k2, n2)         two-sided p-value of the pooled two-proportion z-test
    compare(k1, n1, k2, n2)        all of these for a treatment (1) against its control (2), with a verdict

Pure functions of counts; an empty group gives None where a number cannot exist.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959963984540054             # statistics.NormalDist().inv_cdf(0.975)
MIN_ARM = 30                        # visitors per arm below which a comparison has "not enough data"

Interval = tuple[float, float]


def wilson(k: int, n: int, z: float = Z95) -> Interval | None:
    """Wilson's score interval for k successes in n trials; None when n is 0."""
    if n <= 0:
        return None
    p = k / n
    z2 = z * z
    denominator = 1 + z2 / n
    center = (p + z2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    return max(0.0, center - half), min(1.0, center + half)


def newcombe(k1: int, n1: int, k2: int, n2: int, z: float = Z95) -> Interval | None:
    """Interval for p1 - p2 from the two Wilson intervals (Newcombe 1998, method 10)."""
    first, second = wilson(k1, n1, z), wilson(k2, n2, z)
    if first is None or second is None:
        return None
    p1, p2 = k1 / n1, k2 / n2
    (l1, u1), (l2, u2) = first, second
    d = p1 - p2
    return d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


def katz(k1: int, n1: int, k2: int, n2: int, z: float = Z95) -> Interval | None:
    """Interval for the risk ratio p1 / p2 from the log ratio's standard error.

    A zero cell (no successes or no failures in a group) makes the log ratio or its error
    infinite or zero, so then, and only then, 0.5 is added to each of the four cells."""
    if n1 <= 0 or n2 <= 0:
        return None
    a, b, c, d = float(k1), float(n1 - k1), float(k2), float(n2 - k2)
    if 0 in (a, b, c, d):
        a, b, c, d = a + 0.5, b + 0.5, c + 0.5, d + 0.5
    m1, m2 = a + b, c + d
    log_ratio = math.log((a / m1) / (c / m2))
    se = math.sqrt(1 / a - 1 / m1 + 1 / c - 1 / m2)
    return math.exp(log_ratio - z * se), math.exp(log_ratio + z * se)


def z_test(k1: int, n1: int, k2: int, n2: int) -> float | None:
    """Two-sided p-value that p1 == p2 (pooled variance); 1.0 when nobody or everybody converted."""
    if n1 <= 0 or n2 <= 0:
        return None
    pooled = (k1 + k2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0
    return math.erfc(abs(k1 / n1 - k2 / n2) / se / math.sqrt(2))


@dataclass(frozen=True)
class Comparison:
    """A treatment (k1 of n1 converted) against its control (k2 of n2)."""

    difference: float | None        # p1 - p2
    difference_ci: Interval | None  # Newcombe
    lift: float | None              # p1 / p2 - 1; None when p2 is 0
    lift_ci: Interval | None        # Katz, minus 1
    p_value: float | None
    verdict: str                    # "lift", "no detectable lift", "negative" or "not enough data"


def compare(k1: int, n1: int, k2: int, n2: int) -> Comparison:
    """The comparison; the verdict reads the difference's interval, once both arms have MIN_ARM visitors
    and somebody converted."""
    difference_ci = newcombe(k1, n1, k2, n2)
    ratio_ci = katz(k1, n1, k2, n2)
    difference = k1 / n1 - k2 / n2 if n1 and n2 else None
    lift = (k1 / n1) / (k2 / n2) - 1 if n1 and n2 and k2 else None
    if n1 < MIN_ARM or n2 < MIN_ARM or k1 + k2 == 0:
        verdict = "not enough data"
    elif difference_ci[0] > 0:
        verdict = "lift"
    elif difference_ci[1] < 0:
        verdict = "negative"
    else:
        verdict = "no detectable lift"
    return Comparison(difference, difference_ci, lift,
                      None if ratio_ci is None else (ratio_ci[0] - 1, ratio_ci[1] - 1),
                      z_test(k1, n1, k2, n2), verdict)
