"""ABTestingFramework: stable routing, latency statistics, Welch's test against scipy."""

from __future__ import annotations

import asyncio
import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tunesmith.abtest import ABTestingFramework, betainc, student_t_sf, welch_t_test
from tunesmith.errors import ArgumentError



@pytest.fixture(scope="module")
def scipy_stats():
    return pytest.importorskip("scipy.stats")


@pytest.fixture(scope="module")
def scipy_special():
    return pytest.importorskip("scipy.special")


def test_routing_is_deterministic_across_processes():
    ids = [f"req-{i}" for i in range(50)]
    here = "".join(ABTestingFramework(traffic_split=0.3).route_request(i) for i in ids)
    code = (
        "from tunesmith.abtest import ABTestingFramework as F;"
        f"print(''.join(F(traffic_split=0.3).route_request(i) for i in {ids!r}))"
    )
    for seed in ("0", "12345"):
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={"PYTHONHASHSEED": seed}
        )
        assert out.stdout.strip() == here


def test_traffic_split_proportion_and_salt():
    n = 20_000
    for split in (0.0, 0.1, 0.5, 0.9, 1.0):
        f = ABTestingFramework(traffic_split=split)
        share = sum(f.route_request(str(i)) == "a" for i in range(n)) / n
        # binomial standard error is at most 0.0036 here; 5 sigma
        assert abs(share - split) < 0.018
    a = [ABTestingFramework(salt="x").route_request(str(i)) for i in range(200)]
    b = [ABTestingFramework(salt="y").route_request(str(i)) for i in range(200)]
    assert a != b
    with pytest.raises(ArgumentError, match="traffic_split"):
        ABTestingFramework(traffic_split=1.5)


def test_statistics_match_numpy_and_scipy(scipy_stats):
    rng = np.random.default_rng(0)
    f = ABTestingFramework()
    a = rng.gamma(2.0, 0.05, size=40)
    b = rng.gamma(2.0, 0.08, size=55)
    for x in a:
        f.record("a", x)
    for x in b:
        f.record("b", float(x))
    s = f.compute_statistics()
    assert s["a"]["count"] == 40 and s["b"]["count"] == 55
    assert s["a"]["avg_latency"] == pytest.approx(a.mean())
    assert s["b"]["p95_latency"] == pytest.approx(np.percentile(b, 95))
    assert s["a"]["p99_latency"] == pytest.approx(np.percentile(a, 99))
    assert s["a"]["p50_latency"] == pytest.approx(np.median(a))
    ref = scipy_stats.ttest_ind(a, b, equal_var=False)
    assert s["significance"]["t_statistic"] == pytest.approx(ref.statistic, rel=1e-10)
    assert s["significance"]["p_value"] == pytest.approx(ref.pvalue, rel=1e-8)
    assert s["significance"]["df"] == pytest.approx(ref.df, rel=1e-10)
    assert s["significance"]["significant"] == (ref.pvalue < 0.05)


def test_no_significance_below_min_samples():
    f = ABTestingFramework(min_samples=5)
    for i in range(4):
        f.record("a", 0.1 + i * 0.01)
        f.record("b", 0.2 + i * 0.01)
    assert "significance" not in f.compute_statistics()
    f.record("a", np.float32(0.2))  # numpy scalars are numbers too
    f.record("b", 0.3)
    assert "significance" in f.compute_statistics()
    assert ABTestingFramework().compute_statistics() == {}
    with pytest.raises(ArgumentError, match="latency"):
        f.record("a", -1.0)
    with pytest.raises(ArgumentError, match="variant"):
        f.record("c", 1.0)


def test_process_request_sync_and_async_models():
    class Sync:
        def generate(self, prompt: str) -> str:
            return "sync:" + prompt

    class Async:
        async def generate(self, prompt: str) -> str:
            await asyncio.sleep(0)
            return "async:" + prompt

    f = ABTestingFramework(Sync(), Async(), traffic_split=0.5)

    async def run() -> list[dict]:
        return [await f.process_request(f"r{i}", "hi") for i in range(20)]

    results = asyncio.run(run())
    for r in results:
        assert r["variant"] == f.route_request(r["request_id"])
        assert r["output"] == ("sync:hi" if r["variant"] == "a" else "async:hi")
        assert r["latency"] >= 0
    assert sum(s["count"] for k, s in f.compute_statistics().items() if k in ("a", "b")) == 20


samples = st.lists(st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False), min_size=2, max_size=40)


@pytest.mark.filterwarnings("ignore:Precision loss:RuntimeWarning")
@given(samples, samples)
def test_welch_matches_scipy(scipy_stats, a: list[float], b: list[float]):
    ours = welch_t_test(a, b)
    with np.errstate(all="ignore"):
        ref = scipy_stats.ttest_ind(a, b, equal_var=False)
    if math.isnan(ref.statistic) or math.isinf(ref.statistic) or np.var(a) + np.var(b) < 1e-9:
        return
    assert ours.t_statistic == pytest.approx(ref.statistic, rel=1e-7, abs=1e-9)
    assert ours.df == pytest.approx(ref.df, rel=1e-7)
    assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-6, abs=1e-300)


@pytest.mark.parametrize("alternative", ["two-sided", "less", "greater"])
@pytest.mark.parametrize("sizes", [(2, 3), (5, 200), (300, 310), (3000, 40)])
def test_welch_alternatives_and_extremes(scipy_stats, alternative: str, sizes: tuple[int, int]):
    rng = np.random.default_rng(sizes[0] * 7 + sizes[1])
    for shift in (0.0, 0.3, 5.0):
        a = rng.normal(0.0, 1.0, sizes[0])
        b = rng.normal(shift, 3.0, sizes[1])
        ours = welch_t_test(a, b, alternative=alternative)
        ref = scipy_stats.ttest_ind(a, b, equal_var=False, alternative=alternative)
        assert ours.t_statistic == pytest.approx(ref.statistic, rel=1e-10)
        assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-8, abs=1e-300)


def test_t_distribution_and_incomplete_beta(scipy_stats, scipy_special):
    for df in (0.5, 1.0, 2.5, 7.0, 30.0, 1e3, 1e6):
        for t in (-40.0, -3.0, -0.5, 0.0, 0.1, 1.96, 8.0, 60.0):
            assert student_t_sf(t, df) == pytest.approx(scipy_stats.t.sf(t, df), rel=1e-9, abs=1e-300)
    for a, b, x in [(0.5, 0.5, 0.3), (2.0, 5.0, 0.9), (400.0, 0.5, 0.999), (1e5, 0.5, 0.99999), (3.0, 3.0, 1e-8)]:
        assert betainc(a, b, x) == pytest.approx(scipy_special.betainc(a, b, x), rel=1e-10, abs=1e-300)
    assert student_t_sf(math.inf, 3) == 0.0 and student_t_sf(-math.inf, 3) == 1.0


def test_welch_degenerate_inputs():
    r = welch_t_test([1.0, 1.0], [1.0, 1.0])
    assert math.isnan(r.t_statistic) and math.isnan(r.p_value)
    with pytest.raises(ArgumentError, match=">= 2 values"):
        welch_t_test([1.0], [1.0, 2.0])
    with pytest.raises(ArgumentError, match="NaN"):
        welch_t_test([1.0, float("nan")], [1.0, 2.0])
    with pytest.raises(ArgumentError, match="alternative"):
        welch_t_test([1.0, 2.0], [1.0, 2.0], alternative="both")


def test_welch_fixed_reference_values():
    # scipy 1.17.1: ttest_ind(a, b, equal_var=False) and t.sf(2.5, 3.3), kept so the check runs without scipy
    a = [0.12, 0.15, 0.11, 0.19, 0.14, 0.13, 0.22]
    b = [0.21, 0.35, 0.18, 0.40, 0.29]
    r = welch_t_test(a, b)
    assert r.t_statistic == pytest.approx(-3.0617245984944055, rel=1e-12)
    assert r.df == pytest.approx(5.069953850462739, rel=1e-12)
    assert r.p_value == pytest.approx(0.027544217540614972, rel=1e-10)
    assert student_t_sf(2.5, 3.3) == pytest.approx(0.040026418154177235, rel=1e-10)
