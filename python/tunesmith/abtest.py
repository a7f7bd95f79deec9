"""A/B testing of two model variants: stable hash routing, latency statistics, Welch's t-test.

Routing hashes the request id with SHA-256 (never Python's per-process
``hash()``), so a request id goes to the same variant in every process and on
every run. The significance test is Welch's unequal-variance t-test with the
Welch–Satterthwaite degrees of freedom; its p-value comes from the Student-t
distribution through the regularized incomplete beta function, computed here
with the standard library (no scipy at run time).
"""

from __future__ import annotations

import hashlib
import inspect
import math
import numbers
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from tunesmith.errors import ArgumentError

__all__ = ["ABTestingFramework", "WelchResult", "student_t_sf", "welch_t_test"]

VARIANTS = ("a", "b")


def _betacf(a: float, b: float, x: float) -> float:
    # modified Lentz evaluation of the continued fraction for I_x(a, b)
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 100_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-16:
            break
    return h


def _stirling_tail(z: float) -> float:
    return 1.0 / (12.0 * z) - 1.0 / (360.0 * z**3) + 1.0 / (1260.0 * z**5) - 1.0 / (1680.0 * z**7)


def _log_inverse_beta(a: float, b: float) -> float:
    """``lgamma(a + b) - lgamma(a) - lgamma(b)`` without the cancellation of large lgamma values."""
    big, small = max(a, b), min(a, b)
    if big < 20.0:
        return math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
    # Stirling's series for lgamma(big + small) - lgamma(big), arranged so that no large terms cancel
    ratio = (
        (big - 0.5) * math.log1p(small / big)
        + small * math.log(big + small)
        - small
        + _stirling_tail(big + small)
        - _stirling_tail(big)
    )
    return ratio - math.lgamma(small)


def betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function ``I_x(a, b)`` for ``a, b > 0`` and ``0 <= x <= 1``."""
    if not (a > 0 and b > 0):
        raise ArgumentError(f"betainc needs a > 0 and b > 0, got a={a}, b={b}")
    if not 0.0 <= x <= 1.0:
        raise ArgumentError(f"betainc needs 0 <= x <= 1, got x={x}")
    if x == 0.0 or x == 1.0:
        return x
    log_front = _log_inverse_beta(a, b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def student_t_sf(t: float, df: float) -> float:
    """``P(T > t)`` for Student's t with ``df`` (real, > 0) degrees of freedom."""
    if not df > 0:
        raise ArgumentError(f"student_t_sf needs df > 0, got {df}")
    if math.isnan(t):
        return math.nan
    if math.isinf(t):
        return 0.0 if t > 0 else 1.0
    tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))
    return tail if t > 0 else 1.0 - tail


@dataclass(frozen=True)
class WelchResult:
    """Welch's t-test of ``mean(a) - mean(b)``: statistic, Welch–Satterthwaite df, p-value for ``alternative``."""

    t_statistic: float
    df: float
    p_value: float
    mean_a: float
    mean_b: float
    alternative: str


def welch_t_test(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, alternative: str = "two-sided") -> WelchResult:
    """Welch's unequal-variance t-test, the same as ``scipy.stats.ttest_ind(a, b, equal_var=False)``.

    ``alternative`` is ``"two-sided"``, ``"less"`` (mean of a below b) or
    ``"greater"``. Needs at least two values per sample; when both samples have
    zero variance the test is undefined and ``t_statistic``, ``df`` and
    ``p_value`` are NaN.
    """
    if alternative not in ("two-sided", "less", "greater"):
        raise ArgumentError(f"alternative must be 'two-sided', 'less' or 'greater', got {alternative!r}")
    xa = np.asarray(a, dtype=np.float64)
    xb = np.asarray(b, dtype=np.float64)
    if xa.ndim != 1 or xb.ndim != 1 or xa.size < 2 or xb.size < 2:
        raise ArgumentError(f"welch_t_test needs two 1-D samples of >= 2 values, got sizes {xa.size} and {xb.size}")
    if not (np.isfinite(xa).all() and np.isfinite(xb).all()):
        raise ArgumentError("welch_t_test: samples contain NaN or infinite values")
    na, nb = xa.size, xb.size
    ma, mb = float(xa.mean()), float(xb.mean())
    va, vb = float(xa.var(ddof=1)) / na, float(xb.var(ddof=1)) / nb
    se2 = va + vb
    if se2 == 0.0:
        return WelchResult(math.nan, math.nan, math.nan, ma, mb, alternative)
    t = (ma - mb) / math.sqrt(se2)
    scale = max(va, vb)  # Welch–Satterthwaite on ratios, so squares of tiny variances cannot underflow
    ra, rb = va / scale, vb / scale
    df = (ra + rb) ** 2 / (ra * ra / (na - 1) + rb * rb / (nb - 1))
    if alternative == "two-sided":
        p = min(1.0, 2.0 * student_t_sf(abs(t), df))
    elif alternative == "greater":
        p = student_t_sf(t, df)
    else:
        p = student_t_sf(-t, df)
    return WelchResult(t, df, p, ma, mb, alternative)


def _bucket(key: str) -> float:
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


class ABTestingFramework:
    """Route requests between two variants by request id and compare their latencies.

    ``traffic_split`` is the share of requests that go to variant ``"a"``.
    ``salt`` re-draws the assignment for a new experiment. ``model_a`` and
    ``model_b`` are only needed by :meth:`process_request`; anything with a
    ``generate(prompt)`` method, plain or ``async``, will do. Latencies can also
    be fed in with :meth:`record`. Thread-safe.
    """

    def __init__(
        self,
        model_a: Any = None,
        model_b: Any = None,
        traffic_split: float = 0.5,
        *,
        salt: str = "",
        min_samples: int = 30,
        alpha: float = 0.05,
    ) -> None:
        if not 0.0 <= traffic_split <= 1.0:
            raise ArgumentError(f"traffic_split must be in [0, 1], got {traffic_split!r}")
        if min_samples < 2:
            raise ArgumentError(f"min_samples must be >= 2, got {min_samples!r}")
        if not 0.0 < alpha < 1.0:
            raise ArgumentError(f"alpha must be in (0, 1), got {alpha!r}")
        self.model_a = model_a
        self.model_b = model_b
        self.traffic_split = traffic_split
        self.salt = salt
        self.min_samples = min_samples
        self.alpha = alpha
        self.results: dict[str, list[dict[str, Any]]] = {"a": [], "b": []}
        self._lock = threading.Lock()

    def route_request(self, request_id: str) -> str:
        """``"a"`` or ``"b"``, the same for the same ``request_id`` (and salt) in every process."""
        return "a" if _bucket(f"{self.salt}\x00{request_id}") < self.traffic_split else "b"

    def record(self, variant: str, latency: float, request_id: str | None = None, output: Any = None) -> dict[str, Any]:
        """Add one observation (latency in seconds) for ``variant``; returns the stored result."""
        if variant not in VARIANTS:
            raise ArgumentError(f"variant must be 'a' or 'b', got {variant!r}")
        if isinstance(latency, bool) or not (isinstance(latency, numbers.Real) and math.isfinite(latency) and latency >= 0):
            raise ArgumentError(f"latency must be a finite number >= 0, got {latency!r}")
        result = {"request_id": request_id, "variant": variant, "output": output, "latency": float(latency)}
        with self._lock:
            self.results[variant].append(result)
        return result

    async def process_request(self, request_id: str, prompt: str) -> dict[str, Any]:
        """Route, call the variant's ``generate(prompt)``, time it and record the result."""
        variant = self.route_request(request_id)
        model = self.model_a if variant == "a" else self.model_b
        if model is None:
            raise ArgumentError(f"process_request: no model given for variant {variant!r}")
        start = time.perf_counter()
        output = model.generate(prompt)
        if inspect.isawaitable(output):
            output = await output
        return self.record(variant, time.perf_counter() - start, request_id, output)

    def latencies(self, variant: str) -> np.ndarray:
        """The recorded latencies of ``variant`` in seconds."""
        if variant not in VARIANTS:
            raise ArgumentError(f"variant must be 'a' or 'b', got {variant!r}")
        with self._lock:
            return np.array([r["latency"] for r in self.results[variant]], dtype=np.float64)

    def compute_statistics(self) -> dict[str, Any]:
        """Per variant: count, mean/std and p50/p95/p99 latency; with ``min_samples`` each, Welch's test.

        ``significance`` compares variant a against b (``t_statistic`` > 0
        means a is slower) and is present once both variants have
        ``min_samples`` observations.
        """
        stats: dict[str, Any] = {}
        samples = {v: self.latencies(v) for v in VARIANTS}
        for variant, lat in samples.items():
            if lat.size == 0:
                continue
            p50, p95, p99 = np.percentile(lat, [50, 95, 99])
            stats[variant] = {
                "count": int(lat.size),
                "avg_latency": float(lat.mean()),
                "std_latency": float(lat.std(ddof=1)) if lat.size > 1 else 0.0,
                "p50_latency": float(p50),
                "p95_latency": float(p95),
                "p99_latency": float(p99),
            }
        if samples["a"].size >= self.min_samples and samples["b"].size >= self.min_samples:
            result = welch_t_test(samples["a"], samples["b"])
            stats["significance"] = {
                **asdict(result),
                "test": "welch",
                "alpha": self.alpha,
                "significant": bool(result.p_value < self.alpha),
            }
        return stats
