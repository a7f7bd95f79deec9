"""Properties of the accurate estimator (hypothesis) and its input checking."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tunesmith.errors import ArgumentError, UnsupportedError
from tunesmith.estimate import (
    ComputeRequirements,
    advise,
    estimate,
    fits,
    flops_per_token,
    get_device,
    load_shape,
    max_batch_size,
    min_devices,
    recommend_hardware,
    training_time,
)

MODELS = ["gpt2", "llama-3-8b", "qwen2.5-0.5b", "mixtral-8x7b", "falcon-7b", "pythia-410m", "phi-3-mini", "gemma2-2b"]
METHODS = ["full", "lora", "dora", "qlora", "ia3", "prompt", "adapter", "dpo", "distillation", "rlhf"]

jobs = st.fixed_dictionaries({
    "model": st.sampled_from(MODELS),
    "method": st.sampled_from(METHODS),
    "precision": st.sampled_from(["fp32", "bf16", "fp16"]),
    "optimizer": st.sampled_from(["adamw", "adamw8bit", "sgd", "adafactor"]),
    "rank": st.integers(1, 256),
    "batch_size": st.integers(1, 64),
    "seq_len": st.integers(1, 8192),
    "attn_implementation": st.sampled_from(["sdpa", "eager"]),
}).filter(lambda j: not (j["model"] == "phi-3-mini" and j["method"] == "ia3"))  # PEFT has no IA3 defaults


def _run(job: dict, **over) -> object:
    j = {**job, **over}
    return estimate(j.pop("model"), **j)


@settings(max_examples=150, deadline=None)
@given(jobs)
def test_monotone_in_batch_and_sequence(job: dict) -> None:
    e = _run(job)
    assert _run(job, batch_size=job["batch_size"] + 1).peak_bytes >= e.peak_bytes
    assert _run(job, seq_len=job["seq_len"] + 64).peak_bytes >= e.peak_bytes


@settings(max_examples=150, deadline=None)
@given(jobs)
def test_peak_is_the_max_over_phases_and_components_add_up(job: dict) -> None:
    e = _run(job)
    assert e.peak_bytes == max(e.phase_bytes.values())
    assert e.total_bytes == e.peak_bytes + e.overhead_bytes
    assert e.peak_phase in ("forward", "backward", "optimizer")
    assert e.gradients_bytes == e.trainable_bytes
    assert 0 < e.trainable_params <= e.total_params * 4


@settings(max_examples=100, deadline=None)
@given(jobs, st.integers(2, 64))
def test_sharding_divides_states(job: dict, n: int) -> None:
    one = _run(job)
    z2 = _run(job, num_devices=n, sharding="zero2")
    z3 = _run(job, num_devices=n, sharding="zero3")
    assert z2.optimizer_bytes == pytest.approx(one.optimizer_bytes / n, abs=1)
    assert z2.gradients_bytes == pytest.approx(one.gradients_bytes / n, abs=1)
    assert z3.weights_bytes < one.weights_bytes or one.weights_bytes < 4 * load_shape(job["model"]).layer_params
    assert z3.peak_bytes <= one.peak_bytes + 4 * load_shape(job["model"]).layer_params


@settings(max_examples=100, deadline=None)
@given(jobs.filter(lambda j: j["method"] != "prefix"))
def test_checkpointing_lowers_activations(job: dict) -> None:
    off = _run(job)
    on = _run(job, gradient_checkpointing=True)
    assert on.peak_bytes <= off.peak_bytes
    assert on.phase_bytes["forward"] <= off.phase_bytes["forward"]


def test_full_finetune_peaks_at_the_optimizer_step_with_five_copies() -> None:
    shape = load_shape("llama-2-7b")
    e = estimate(shape, method="full", precision="bf16", batch_size=1, seq_len=16, gradient_checkpointing=True)
    assert e.peak_phase == "optimizer"
    assert e.weights_bytes == 2 * shape.num_params
    assert e.optimizer_bytes == 2 * e.trainable_bytes + 4 * shape.num_param_tensors
    assert e.temporary_bytes == e.trainable_bytes


def test_measured_7b_anchor_points_within_two_percent() -> None:
    # estimation-measurements.md §2.3 (fake-tensor runs, MiB of tensor bytes)
    mib = 2**20
    cases = [
        (dict(model="llama-2-7b", method="lora", precision="bf16", seq_len=512), 16_220),
        (dict(model="llama-2-7b", method="lora", precision="bf16", seq_len=512, gradient_checkpointing=True), 13_272),
        (dict(model="llama-3-8b", method="lora", precision="bf16", seq_len=1024), 23_306),
        (dict(model="llama-3-8b", method="lora", precision="bf16", seq_len=1024, gradient_checkpointing=True), 17_170),
        (dict(model="llama-2-7b", method="full", precision="bf16", seq_len=512, gradient_checkpointing=True), 64_263),
        (dict(model="llama-3-8b", method="full", precision="bf16", seq_len=512, gradient_checkpointing=True), 76_583),
    ]
    for job, measured in cases:
        got = _run(job) .peak_bytes / mib
        assert got == pytest.approx(measured, rel=0.02), (job, got, measured)


def test_8bit_adamw_is_2_03_bytes_per_param() -> None:
    e = estimate("llama-2-7b", method="full", optimizer="adamw8bit")
    assert e.optimizer_bytes / e.trainable_params == pytest.approx(2.03, abs=0.005)


def test_qlora_weights_are_about_half_a_byte_per_quantized_param() -> None:
    e = estimate("llama-2-7b", method="qlora", bits=4)
    # 6.48 B quantized values at ½ B + block scales, and the embeddings and head upcast to fp32
    assert 4.3e9 < e.weights_bytes < 4.5e9
    assert e.quant_state_bytes > 0
    e8 = estimate("llama-2-7b", method="qlora", bits=8)
    assert e8.weights_bytes > e.weights_bytes


@pytest.mark.parametrize(("kwargs", "name"), [
    (dict(method="lora", rank=0), "rank"),
    (dict(batch_size=0), "batch_size"),
    (dict(seq_len=-1), "seq_len"),
    (dict(method="sft"), "method"),
    (dict(precision="int3"), "precision"),
    (dict(optimizer="lion"), "optimizer"),
    (dict(sharding="tp"), "sharding"),
    (dict(attn_implementation="xformers"), "attn_implementation"),
    (dict(device="H1000"), "device"),
    (dict(method="lora", target_modules=["nope"]), "target_modules"),
    (dict(method="qlora", bits=3), "bits"),
    (dict(method="dpo", loss_kernel="cuda"), "loss_kernel"),
])
def test_errors_name_the_argument_and_choices(kwargs: dict, name: str) -> None:
    with pytest.raises(ArgumentError, match=name):
        estimate("gpt2", **kwargs)


def test_dpo_loss_kernel_follows_the_device() -> None:
    # TRL folds the fused head's tiles with Triton on NVIDIA/AMD GPUs and with whole-tile torch ops elsewhere
    knobs = dict(method="dpo", dpo_policy="lora", rank=8, batch_size=1, seq_len=2048)
    plain, gpu, tpu = (estimate("llama-3-8b", device=d, **knobs) for d in (None, "H100", "TPU-v5e"))
    forced = estimate("llama-3-8b", device="H100", loss_kernel="torch", **knobs)
    tile = min(2 * (2048 - 1), 4096) * 32768  # chosen + rejected rows of 2047 predicted tokens
    # the torch fallback's backward peak holds the bf16 tile and its fp32 temporaries; with Triton the tile is
    # smaller than the last layer's gradient temporaries, which then hold the backward peak
    assert plain.peak_phase == "backward" and plain.logits_bytes == (2 + 29) * tile
    assert gpu.logits_bytes == 0 and gpu.temporary_bytes > 2 * tile
    assert 0 < plain.phase_bytes["backward"] - gpu.phase_bytes["backward"] <= 29 * tile
    assert tpu.phase_bytes == plain.phase_bytes
    assert forced.phase_bytes == plain.phase_bytes
    lora = dict(method="lora", rank=8, batch_size=1, seq_len=2048)
    assert estimate("llama-3-8b", **lora).peak_bytes == estimate("llama-3-8b", device="H100", **lora).peak_bytes


def test_unknown_model_lists_catalog() -> None:
    with pytest.raises(ArgumentError, match="llama-3-8b"):
        estimate("no-such-model")


def test_prefix_with_checkpointing_is_refused_with_the_reason() -> None:
    with pytest.raises(UnsupportedError, match="PREFIX_TUNING does not work with gradient checkpointing"):
        estimate("gpt2", method="prefix", gradient_checkpointing=True)


def test_fit_helpers_are_consistent() -> None:
    job = dict(method="lora", seq_len=1024)
    b = max_batch_size("llama-3-8b", "A100-80GB", **job)
    assert b >= 1
    assert fits("llama-3-8b", "A100-80GB", batch_size=b, **job)
    assert not fits("llama-3-8b", "A100-80GB", batch_size=b + 1, **job)
    n = min_devices("llama-3-70b", "H100", method="full", seq_len=2048, gradient_checkpointing=True)
    assert n is not None and n > 1
    tips = advise("llama-3-8b", "A10G", method="full", batch_size=4, seq_len=2048)
    assert tips and tips == sorted(tips, key=lambda t: (t.cost_usd, t.estimate.total_bytes))
    assert all(t.estimate.total_bytes <= get_device(t.device).memory_bytes for t in tips)


def test_lora_saves_a_third_of_the_flops_and_checkpointing_adds_a_forward() -> None:
    full = flops_per_token("llama-2-7b", seq_len=2048)
    lora = flops_per_token("llama-2-7b", method="lora", seq_len=2048)
    ckpt = flops_per_token("llama-2-7b", seq_len=2048, gradient_checkpointing=True)
    assert lora.total / full.total == pytest.approx(2 / 3, abs=0.03)
    assert ckpt.total == pytest.approx(full.total * 4 / 3, rel=1e-9)
    t = training_time("llama-2-7b", device="H100", mfu=0.5, batch_size=8, seq_len=2048, dataset_tokens=10**9)
    assert t.hours * 3600 == pytest.approx(10**9 * full.total / (989e12 * 0.5), rel=1e-9)


def test_seed_guide_dropins_keep_their_shape_and_are_corrected() -> None:
    req = ComputeRequirements(7.0, training_samples=1000, epochs=3, batch_size=4, sequence_length=2048)
    assert req.estimate_vram_qlora() < req.estimate_vram_lora() < req.estimate_vram_full_finetune()
    assert recommend_hardware(7, "qlora")
    assert all(s.endswith("GB)") for s in recommend_hardware(7, "full"))
    with pytest.raises(ArgumentError, match="method"):
        recommend_hardware(7, "sft")


def test_import_does_not_load_heavy_modules() -> None:
    import subprocess
    import sys

    code = ("import sys, tunesmith, tunesmith.estimate; "
            "print(','.join(m for m in ('torch', 'transformers', 'pyarrow', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
