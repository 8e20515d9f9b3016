"""How far the seed-to-seed spread lets a run's numbers speak: intervals and verdicts.

Two experiments are compared by the difference of their means over seeds, with Welch's t interval
(unequal variances, few seeds). A reported number, which came from one run, is compared with the
interval where one more run of ours would fall (a prediction interval). Student's t quantiles come from
the regularized incomplete beta function, so nothing beyond the standard library is needed; this module
is imported at planning time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Two-sided confidence of a difference's interval; an equivalence test (two one-sided tests at 5 %)
# uses the 90 % interval.
CONFIDENCE = 0.95
EQUIVALENCE_CONFIDENCE = 0.90

HOLDS, CONTRADICTED, UNRESOLVED, ONE_SEED, NOT_CHECKED = (
    "holds", "contradicted", "unresolved", "one_seed", "not_checked"
)  # fmt: skip


@dataclass(frozen=True)
class Sample:
    mean: float | None
    std: float | None
    n: int


def sample(values) -> Sample:
    """Mean and sample standard deviation of the finite values."""
    finite = [float(v) for v in values if isinstance(v, int | float) and math.isfinite(v)]
    if not finite:
        return Sample(None, None, 0)
    mean = math.fsum(finite) / len(finite)
    if len(finite) == 1:
        return Sample(mean, None, 1)
    variance = math.fsum((v - mean) ** 2 for v in finite) / (len(finite) - 1)
    return Sample(mean, math.sqrt(variance), len(finite))


def _beta_fraction(x: float, a: float, b: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz)."""
    tiny = 1e-300

    def guarded(value):
        return value if abs(value) > tiny else tiny

    c, d = 1.0, 1 / guarded(1 - (a + b) * x / (a + 1))
    result = d
    for m in range(1, 1000):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1 / guarded(1 + numerator * d)
            c = guarded(1 + numerator / c)
            result *= c * d
        if abs(c * d - 1) < 1e-15:
            break
    return result


def regularized_beta(x: float, a: float, b: float) -> float:
    """I_x(a, b), the regularized incomplete beta function."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1) / (a + b + 2):
        return math.exp(log_front) * _beta_fraction(x, a, b) / a
    return 1 - math.exp(log_front) * _beta_fraction(1 - x, b, a) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with df (not necessarily whole) degrees of freedom."""
    tail = 0.5 * regularized_beta(df / (df + t * t), df / 2, 0.5)
    return 1 - tail if t >= 0 else tail


def t_quantile(probability: float, df: float) -> float:
    """The t with P(T <= t) = probability, by bisection on the distribution function."""
    if not 0 < probability < 1:
        raise ValueError(f"probability must lie strictly between 0 and 1; got {probability}")
    if probability < 0.5:
        return -t_quantile(1 - probability, df)
    low, high = 0.0, 1.0
    while t_cdf(high, df) < probability:
        low, high = high, 2 * high
    for _ in range(200):
        middle = (low + high) / 2
        low, high = (middle, high) if t_cdf(middle, df) < probability else (low, middle)
    return (low + high) / 2


@dataclass(frozen=True)
class Interval:
    estimate: float | None
    low: float | None  # None where the seeds give no interval (one seed, or none)
    high: float | None


def difference_interval(a: Sample, b: Sample, confidence: float = CONFIDENCE) -> Interval:
    """mean(a) - mean(b) with Welch's t interval; no interval unless both sides have two seeds."""
    if a.n == 0 or b.n == 0:
        return Interval(None, None, None)
    estimate = a.mean - b.mean
    if a.n < 2 or b.n < 2:
        return Interval(estimate, None, None)
    share_a, share_b = a.std**2 / a.n, b.std**2 / b.n
    error = math.sqrt(share_a + share_b)
    if error == 0:  # every seed gave the same number on both sides
        return Interval(estimate, estimate, estimate)
    df = (share_a + share_b) ** 2 / (share_a**2 / (a.n - 1) + share_b**2 / (b.n - 1))
    half = t_quantile(1 - (1 - confidence) / 2, df) * error
    return Interval(estimate, estimate - half, estimate + half)


def prediction_interval(ours: Sample, confidence: float = CONFIDENCE) -> Interval:
    """Where one more run would fall, from the seeds' mean and spread (one run reported one number)."""
    if ours.n < 2:
        return Interval(ours.mean, None, None)
    half = t_quantile(1 - (1 - confidence) / 2, ours.n - 1) * ours.std * math.sqrt(1 + 1 / ours.n)
    return Interval(ours.mean, ours.mean - half, ours.mean + half)


def greater_verdict(difference: Interval) -> str:
    """Whether 'a > b' holds for the interval of a - b."""
    if difference.estimate is None:
        return NOT_CHECKED
    if difference.low is None:
        return ONE_SEED
    if difference.low > 0:
        return HOLDS
    # A zero-width interval at 0 (a tie on every seed) contradicts "greater" as well.
    return CONTRADICTED if difference.high <= 0 else UNRESOLVED


def equivalence_verdict(difference: Interval, margin: float) -> str:
    """Two one-sided tests: equivalent when the whole interval lies within (-margin, margin),
    different when it lies wholly beyond the margin on one side."""
    if difference.estimate is None:
        return NOT_CHECKED
    if difference.low is None:
        return ONE_SEED
    if -margin < difference.low and difference.high < margin:
        return HOLDS
    if difference.low >= margin or difference.high <= -margin:
        return CONTRADICTED
    return UNRESOLVED


def combined_verdict(verdicts: list[str]) -> str:
    """A claim made of several comparisons holds when every one holds; one contradiction is enough
    to contradict it."""
    for verdict in (NOT_CHECKED, CONTRADICTED):
        if verdict in verdicts:
            return verdict
    if all(verdict == HOLDS for verdict in verdicts):
        return HOLDS
    return ONE_SEED if ONE_SEED in verdicts else UNRESOLVED


# Where a reported number lies against the prediction interval of our runs.
WITHIN, ABOVE, BELOW = "within", "above", "below"


def reported_verdict(reported: float, ours: Interval, widest: float | None = None) -> str:
    """Where a reported number falls against our (unclipped) prediction interval.

    `widest` is the width of the metric's range (1 for an accuracy; for a loss, the largest loss our
    runs reached). An interval at least that wide holds every number the metric could plausibly take,
    so a number inside it is not resolved with this many seeds rather than "within"; a number outside
    even so wide an interval is still above or below ours.
    """
    if ours.estimate is None:
        return NOT_CHECKED
    if ours.low is None:
        return ONE_SEED
    if reported > ours.high:
        return ABOVE
    if reported < ours.low:
        return BELOW
    if widest is not None and ours.high - ours.low >= widest:
        return UNRESOLVED
    return WITHIN


def clipped(interval: Interval, low: float, high: float) -> Interval:
    """The interval as shown: within the metric's range [low, high]."""
    if interval.low is None:
        return interval
    return Interval(interval.estimate, max(interval.low, low), min(interval.high, high))
