"""Columns of the seed heuristics: equal to the scalar calls bit for bit, broadcasting,
thread-count independence, and the GIL released while Rust works."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tunesmith as ts
from tunesmith import FineTuneMethod, TrainingMethod, TrainingTarget

training_methods = st.one_of(
    st.sampled_from(
        [
            TrainingMethod.FullFineTune,
            TrainingMethod.LoRA,
            TrainingMethod.Prefix,
            TrainingMethod.DPO,
            TrainingMethod.RLHF,
            TrainingMethod.Distillation,
        ]
    ),
    st.integers(0, 255).map(TrainingMethod.QLoRA),
)
targets = st.sampled_from([TrainingTarget.Gpu, TrainingTarget.Tpu, TrainingTarget.Gaudi, TrainingTarget.Cpu])
params = st.integers(0, 2**64 - 1)


def bits_equal(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == np.float64 and np.array_equal(a.view(np.uint64), b.view(np.uint64))


@given(st.lists(st.tuples(params, training_methods, targets), min_size=1, max_size=50))
def test_columns_equal_scalar_calls(rows):
    p = np.array([r[0] for r in rows], dtype=np.uint64)
    est = ts.estimate_training_memory(p, [r[1] for r in rows], [r[2] for r in rows])
    assert isinstance(est, ts.MemoryEstimate) and len(est) == len(rows)
    for i, (n, method, target) in enumerate(rows):
        scalar = ts.estimate_training_memory(n, method, target)
        assert est[i] == scalar
        assert str(est[i]) == str(scalar)


@given(params, training_methods, targets)
def test_total_is_the_sum_of_components(n, method, target):
    e = ts.estimate_training_memory(n, method, target)
    assert e.total_gb == e.model_gb + e.optimizer_gb + e.activation_gb
    assert ts.MemoryEstimate.from_json(e.to_json()) == e


@given(training_methods)
def test_training_method_json_round_trip(method):
    assert TrainingMethod.from_json(method.to_json()) == method


@given(st.integers(0, 2**32 - 1), st.floats(width=32, allow_nan=False, allow_infinity=False), st.integers(0, 255))
def test_fine_tune_json_round_trip(rank, alpha, bits):
    for m in (FineTuneMethod.LoRA(rank=rank, alpha=alpha), FineTuneMethod.QLoRA(rank=rank, bits=bits)):
        assert FineTuneMethod.from_json(m.to_json()) == m
        assert str(FineTuneMethod.from_json(m.to_json())) == str(m)


@given(
    hnp.arrays(np.uint32, st.integers(1, 40)),
    st.sampled_from(["LoRA", "QLoRA", "Adapter", "Prefix", "IA3", "Full"]),
    st.integers(0, 255),
)
def test_fine_tune_columns_equal_scalar_calls(ranks, kind, bits):
    cols = ts.fine_tune_heuristics(kind, rank=ranks, bits=bits)
    for i, r in enumerate(ranks.tolist()):
        if kind == "LoRA":
            m = FineTuneMethod.lora(r)
        elif kind == "QLoRA":
            m = FineTuneMethod.QLoRA(rank=r, bits=bits)
        else:
            m = getattr(FineTuneMethod, kind)
        expected = [
            m.memory_reduction_factor(),
            m.trainable_params_percent(),
            m.memory_multiplier(),
            m.training_speedup(),
            m.quality_retention(),
            m.batch_size_multiplier(),
        ]
        got = [c[i] for c in cols]
        assert np.array_equal(np.array(got).view(np.uint64), np.array(expected).view(np.uint64))


def test_non_finite_alpha_has_serdes_json_shape():
    # serde_json writes non-finite floats as null and refuses null for an f32, like the original crate.
    text = FineTuneMethod.LoRA(rank=1, alpha=float("inf")).to_json()
    assert text == '{"LoRA":{"rank":1,"alpha":null}}'
    with pytest.raises(ts.InputError, match="FineTuneMethod"):
        FineTuneMethod.from_json(text)


def test_fine_tune_columns_from_objects():
    methods = [FineTuneMethod.lora(8), FineTuneMethod.qlora(16), FineTuneMethod.IA3, FineTuneMethod.Full]
    cols = ts.fine_tune_heuristics(methods)
    assert cols.memory_reduction_factor.tolist() == [m.memory_reduction_factor() for m in methods]
    assert cols.quality_retention.tolist() == [m.quality_retention() for m in methods]


def test_broadcasting_shapes():
    p = np.arange(6, dtype=np.uint64).reshape(2, 3) * 1000
    est = ts.estimate_training_memory(p, [[TrainingMethod.LoRA], [TrainingMethod.DPO]], TrainingTarget.Tpu)
    assert est.total_gb.shape == (2, 3)
    assert est.total_gb[1, 2] == ts.estimate_training_memory(5000, TrainingMethod.DPO, TrainingTarget.Tpu).total_gb
    with pytest.raises(ValueError, match="broadcast"):
        ts.estimate_training_memory(np.arange(3), [TrainingMethod.LoRA] * 2)
    empty = ts.estimate_training_memory(np.array([], dtype=np.uint64))
    assert empty.total_gb.shape == (0,)


def test_results_do_not_depend_on_thread_count():
    p = np.random.default_rng(1).integers(0, 2**40, size=300_000, dtype=np.uint64)
    outputs = []
    for n in (1, 2, 3):
        ts.set_num_threads(n)
        try:
            outputs.append(ts.estimate_training_memory(p, TrainingMethod.QLoRA(8), TrainingTarget.Gaudi))
        finally:
            ts.set_num_threads(0)
    for other in outputs[1:]:
        assert all(bits_equal(a, b) for a, b in zip(outputs[0]._columns, other._columns))


def test_sweep_releases_the_gil():
    p = np.arange(4_000_000, dtype=np.uint64)
    ts.estimate_training_memory(p[:10], TrainingMethod.LoRA)  # warm up: numpy, pool
    windows: list[tuple[float, float]] = []
    lock = threading.Lock()

    def work() -> None:
        ts.set_num_threads(1)
        start = time.perf_counter()
        for _ in range(3):
            ts.estimate_training_memory(p, TrainingMethod.LoRA)
        end = time.perf_counter()
        with lock:
            windows.append((start, end))

    ts.set_num_threads(1)
    try:
        threads = [threading.Thread(target=work) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        ts.set_num_threads(0)
    latest_start = max(s for s, _ in windows)
    earliest_end = min(e for _, e in windows)
    assert latest_start < earliest_end, "threads ran one after another: the GIL was held"


def test_pickled_columns_round_trip():
    import pickle

    est = ts.estimate_training_memory(np.arange(5, dtype=np.uint64) * 1000, TrainingMethod.LoRA)
    back = pickle.loads(pickle.dumps(est))
    assert back == est and back[4] == est[4]


def test_out_columns_are_reused_and_bit_identical():
    p = np.random.default_rng(2).integers(0, 2**40, size=50_000, dtype=np.uint64)
    fresh = ts.estimate_training_memory(p, TrainingMethod.DPO, TrainingTarget.Gaudi)
    out = ts.estimate_training_memory(np.zeros_like(p), TrainingMethod.LoRA)
    buffers = [c.ctypes.data for c in out._columns]
    again = ts.estimate_training_memory(p, TrainingMethod.DPO, TrainingTarget.Gaudi, out=out)
    assert again is out and [c.ctypes.data for c in out._columns] == buffers
    assert all(bits_equal(a, b) for a, b in zip(fresh._columns, out._columns))
    with pytest.raises(ValueError, match="out"):
        ts.estimate_training_memory(p[:10], TrainingMethod.LoRA, out=out)
    same = out.model_gb
    aliased = ts.MemoryEstimateColumns(same, same, out.activation_gb, out.total_gb)
    with pytest.raises(Exception, match="borrow|alias|already"):
        ts.estimate_training_memory(p, TrainingMethod.LoRA, out=aliased)
