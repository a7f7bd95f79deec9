"""pytest-benchmark: `.venv/bin/python -m pytest benches/test_bench_seed.py --benchmark-enable`."""

import numpy as np

import tunesmith as ts

PARAMS = np.random.default_rng(0).integers(1, 500_000, size=1_000_000, dtype=np.uint64)


def test_seed_columns_1m(benchmark):
    est = benchmark(ts.estimate_training_memory, PARAMS, ts.TrainingMethod.LoRA, ts.TrainingTarget.Gpu)
    assert est.total_gb.shape == PARAMS.shape


def test_seed_scalar(benchmark):
    est = benchmark(ts.estimate_training_memory, 7000, ts.TrainingMethod.LoRA, ts.TrainingTarget.Gpu)
    assert est.total_gb > 15.0
