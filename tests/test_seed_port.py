"""The seed heuristics through the Python API: golden values computed by the seed's
own Rust code (tests/golden/seed_golden.jsonl, checked against the seed in
rust/tunesmith-core/tests/seed_golden.rs), JSON/pickle round trips, equality,
and the errors for inputs the seed's types cannot hold."""

from __future__ import annotations

import json
import pathlib
import pickle
import struct

import pytest

import tunesmith as ts
from tunesmith import FineTuneMethod, MemoryEstimate, TrainingMethod, TrainingTarget

GOLDEN = [json.loads(line) for line in (pathlib.Path(__file__).parent / "golden" / "seed_golden.jsonl").open()]
FINE_TUNE_CASES = [g for g in GOLDEN if g["kind"] == "fine_tune"]
TRAINING_CASES = [g for g in GOLDEN if g["kind"] == "training"]
TARGETS = {"Gpu": TrainingTarget.Gpu, "Tpu": TrainingTarget.Tpu, "Gaudi": TrainingTarget.Gaudi, "Cpu": TrainingTarget.Cpu}


def f64_from_hex(h: str) -> float:
    return struct.unpack("<d", int(h, 16).to_bytes(8, "little"))[0]


def f32_from_hex(h: str) -> float:
    return struct.unpack("<f", int(h, 16).to_bytes(4, "little"))[0]


def same_float(a: float, b: float) -> bool:
    return struct.pack("<d", a) == struct.pack("<d", b)


def build_fine_tune(case: dict) -> FineTuneMethod:
    ctor = case["ctor"]
    if ctor == "LoRA":
        return FineTuneMethod.LoRA(rank=case["rank"], alpha=f32_from_hex(case["alpha_f32_bits"]))
    if ctor == "QLoRA":
        return FineTuneMethod.QLoRA(rank=case["rank"], bits=case["bits"])
    return getattr(FineTuneMethod, ctor)


def build_training(case: dict) -> TrainingMethod:
    if case["method"] == "QLoRA":
        return TrainingMethod.QLoRA(bits=case["bits"])
    return getattr(TrainingMethod, case["method"])


def test_golden_grid_is_large_and_varied():
    assert len(FINE_TUNE_CASES) > 400 and len(TRAINING_CASES) > 500
    assert any(c["display"] == "LoRA(r=8, α=4294967300)" for c in FINE_TUNE_CASES)


@pytest.mark.parametrize("case", FINE_TUNE_CASES, ids=lambda c: c["display"])
def test_fine_tune_method_matches_seed(case):
    m = build_fine_tune(case)
    assert str(m) == case["display"]
    got = [
        m.memory_reduction_factor(),
        m.trainable_params_percent(),
        m.memory_multiplier(),
        m.training_speedup(),
        m.quality_retention(),
        m.batch_size_multiplier(),
    ]
    for value, expected in zip(got, case["values"]):
        assert same_float(value, f64_from_hex(expected)), (case, got)


def test_training_memory_matches_seed():
    for case in TRAINING_CASES:
        method = build_training(case)
        est = ts.estimate_training_memory(case["params"], method, TARGETS[case["target"]])
        assert str(est) == case["display"]
        assert str(method) == case["method_display"]
        assert str(method.preferred_accelerator()) == case["preferred"]
        got = [est.model_gb, est.optimizer_gb, est.activation_gb, est.total_gb]
        for value, expected in zip(got, case["values"]):
            assert same_float(value, f64_from_hex(expected)), case


def test_issue_examples():
    assert str(FineTuneMethod.lora(8)) == "LoRA(r=8, α=8)"
    assert str(FineTuneMethod.qlora(16)) == "QLoRA(r=16, 4-bit)"
    assert str(FineTuneMethod.IA3) == "IA³"
    assert str(FineTuneMethod.LoRA(rank=8, alpha=4294967296.0)) == "LoRA(r=8, α=4294967300)"
    assert str(ts.estimate_training_memory(7000, TrainingMethod.LoRA, TrainingTarget.Gpu)) == (
        "Model: 13.0 GB, Optimizer: 1.3 GB, Activations: 1.3 GB (total: 15.6 GB)"
    )
    assert str(TrainingMethod.QLoRA(bits=4)) == "qlora-4bit"
    assert str(TrainingMethod.FullFineTune) == "full"
    assert TrainingMethod() == TrainingMethod.FullFineTune
    assert TrainingTarget() == TrainingTarget.Gpu
    assert FineTuneMethod.QLoRA(rank=1, bits=0).memory_reduction_factor() == float("inf")
    assert FineTuneMethod.lora(0).memory_reduction_factor() == 100.0


def test_accelerator_requirement():
    assert str(TrainingMethod.LoRA.preferred_accelerator()) == "gpu"
    assert TrainingMethod.QLoRA(bits=8).preferred_accelerator() == ts.AcceleratorRequirement.Gpu
    assert TrainingMethod.DPO.preferred_accelerator() == ts.AcceleratorRequirement.GpuOrTpu
    assert str(ts.AcceleratorRequirement.Tpu(min_chips=8)) == "tpu(8+ chips)"
    assert str(ts.AcceleratorRequirement.None_) == "none"
    assert str(ts.AcceleratorRequirement.AnyAccelerator) == "any-accelerator"
    assert str(ts.AcceleratorRequirement.AwsNeuron) == "aws-neuron"
    assert ts.AcceleratorRequirement() == ts.AcceleratorRequirement.None_
    assert ts.AcceleratorRequirement.Tpu(min_chips=2).to_json() == '{"Tpu":{"min_chips":2}}'


ALL_VALUES = [
    FineTuneMethod.lora(8),
    FineTuneMethod.LoRA(rank=3, alpha=-1.5),
    FineTuneMethod.QLoRA(rank=16, bits=8),
    FineTuneMethod.Adapter,
    FineTuneMethod.Prefix,
    FineTuneMethod.IA3,
    FineTuneMethod.Full,
    TrainingMethod.FullFineTune,
    TrainingMethod.QLoRA(bits=4),
    TrainingMethod.Distillation,
    TrainingTarget.Gaudi,
    ts.AcceleratorRequirement.Tpu(min_chips=4),
    ts.AcceleratorRequirement.GpuOrTpu,
    ts.estimate_training_memory(7000, TrainingMethod.RLHF, TrainingTarget.Tpu),
]


@pytest.mark.parametrize("value", ALL_VALUES, ids=repr)
def test_json_pickle_repr_round_trip(value):
    cls = type(value)
    assert cls.from_json(value.to_json()) == value
    assert pickle.loads(pickle.dumps(value)) == value
    assert hash(pickle.loads(pickle.dumps(value))) == hash(value)
    assert eval(repr(value), vars(ts)) == value  # noqa: S307 - repr is meant to evaluate


def test_serde_json_shapes():
    assert FineTuneMethod.lora(8).to_json() == '{"LoRA":{"rank":8,"alpha":8.0}}'
    assert json.loads(FineTuneMethod.LoRA(rank=8, alpha=8.0).to_json()) == {"LoRA": {"rank": 8, "alpha": 8.0}}
    assert FineTuneMethod.Adapter.to_json() == '"Adapter"'
    assert FineTuneMethod.from_json('{"QLoRA": {"rank": 16, "bits": 4}}') == FineTuneMethod.qlora(16)
    assert TrainingMethod.from_json('"LoRA"') == TrainingMethod.LoRA
    assert TrainingMethod.QLoRA(bits=8).to_json() == '{"QLoRA":{"bits":8}}'
    est = MemoryEstimate.from_json('{"model_gb":1.0,"optimizer_gb":2.0,"activation_gb":3.0,"total_gb":6.0}')
    assert est.total_gb == 6.0 and str(est) == "Model: 1.0 GB, Optimizer: 2.0 GB, Activations: 3.0 GB (total: 6.0 GB)"


def test_equality_and_hash_distinguish_variants():
    assert FineTuneMethod.lora(8) == FineTuneMethod.LoRA(rank=8, alpha=8.0)
    assert FineTuneMethod.lora(8) != FineTuneMethod.LoRA(rank=8, alpha=16.0)
    assert FineTuneMethod.lora(8) != FineTuneMethod.qlora(8)
    assert FineTuneMethod.Adapter != TrainingMethod.LoRA
    assert len({FineTuneMethod.lora(8), FineTuneMethod.LoRA(rank=8, alpha=8.0), FineTuneMethod.IA3}) == 2
    assert FineTuneMethod.LoRA(rank=1, alpha=float("nan")) != FineTuneMethod.LoRA(rank=1, alpha=float("nan"))


def test_odd_inputs_follow_the_seed():
    huge = ts.estimate_training_memory(2**64 - 1)
    assert huge.total_gb == huge.model_gb + huge.optimizer_gb + huge.activation_gb
    assert str(FineTuneMethod.LoRA(rank=1, alpha=1e300)) == "LoRA(r=1, α=inf)"  # `as f32` saturates
    assert str(FineTuneMethod.LoRA(rank=1, alpha=-0.0)) == "LoRA(r=1, α=-0)"
    assert FineTuneMethod.LoRA(rank=2**32 - 1).trainable_params_percent() == 0.2


@pytest.mark.parametrize(
    ("call", "exc", "name"),
    [
        (lambda: FineTuneMethod.lora(-1), OverflowError, "rank"),
        (lambda: FineTuneMethod.lora(2**32), OverflowError, "rank"),
        (lambda: FineTuneMethod.lora(8.0), TypeError, "rank"),
        (lambda: FineTuneMethod.LoRA(rank="8"), TypeError, "rank"),
        (lambda: FineTuneMethod.LoRA(rank=8, alpha="x"), TypeError, "alpha"),
        (lambda: FineTuneMethod.QLoRA(rank=8, bits=300), OverflowError, "bits"),
        (lambda: FineTuneMethod.QLoRA(rank=8, bits=-1), OverflowError, "bits"),
        (lambda: FineTuneMethod.QLoRA(rank=8, bits=4.0), TypeError, "bits"),
        (lambda: TrainingMethod.QLoRA(bits=256), OverflowError, "bits"),
        (lambda: ts.AcceleratorRequirement.Tpu(min_chips=-2), OverflowError, "min_chips"),
        (lambda: ts.estimate_training_memory(-1), OverflowError, "model_params_millions"),
        (lambda: ts.estimate_training_memory(2**64), OverflowError, "model_params_millions"),
        (lambda: ts.estimate_training_memory(7.5), TypeError, "model_params_millions"),
        (lambda: ts.estimate_training_memory([1, -2]), OverflowError, "model_params_millions"),
        (lambda: ts.estimate_training_memory([1.5, 2.5]), TypeError, "model_params_millions"),
        (lambda: ts.estimate_training_memory([1, 2], method=["lora"]), TypeError, "method"),
        (lambda: ts.estimate_training_memory([1, 2], target="gpu"), TypeError, "target"),
        (lambda: FineTuneMethod.from_json('{"LoRA": {"rank": -1, "alpha": 1.0}}'), ValueError, "FineTuneMethod"),
        (lambda: ts.fine_tune_heuristics("LoRA", rank=[-1]), OverflowError, "rank"),
        (lambda: ts.fine_tune_heuristics("Lora"), ValueError, "method"),
    ],
)
def test_errors_name_the_argument(call, exc, name):
    with pytest.raises(exc, match=name):
        call()


def test_json_errors_are_input_errors():
    with pytest.raises(ts.InputError, match="TrainingMethod"):
        TrainingMethod.from_json('"Sgd"')
