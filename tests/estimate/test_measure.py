"""The measurement module's own accounting, checked against quantities computed independently."""

from __future__ import annotations

import subprocess
import sys
import warnings

import pytest

from tunesmith.errors import ArgumentError, UnsupportedError

pytestmark = pytest.mark.train

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("peft")

from tunesmith.estimate.measure import CATEGORIES, PHASES, Measurement, measure_training_step  # noqa: E402

B, S = 2, 32


@pytest.fixture(autouse=True)
def _quiet() -> None:
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning)


def _reference_model(config: dict, dtype=torch.float32):
    cfg = dict(config)
    return transformers.AutoModelForCausalLM.from_config(
        transformers.AutoConfig.for_model(cfg.pop("model_type"), **cfg), dtype=dtype
    )


def _param_bytes(model) -> tuple[int, int]:
    storages = {p.untyped_storage().data_ptr(): p.untyped_storage().nbytes() for p in model.parameters()}
    return sum(storages.values()), len(list(model.parameters()))


def test_full_fp32_static_terms_are_exact(tiny_config):
    cfg = tiny_config("llama")
    m = measure_training_step(cfg, batch_size=B, seq_len=S)
    weights, n_tensors = _param_bytes(_reference_model(cfg))
    assert m.weights_bytes == weights
    assert m.trainable_bytes == weights
    assert m.gradients_bytes == weights
    # AdamW: exp_avg + exp_avg_sq in the parameter dtype, plus one fp32 `step` scalar per tensor.
    assert m.optimizer_bytes == 2 * weights + 4 * n_tensors
    assert m.inputs_bytes == 3 * B * S * 8  # input_ids, attention_mask, labels (int64)
    # Full fine-tuning of a tiny model peaks in the step: weights + grads + state + the foreach
    # temporary (one copy of the trainable parameters) + the inputs + the rotary buffers, to the byte.
    assert m.peak_phase == "optimizer"
    assert m.peak_bytes == weights + weights + m.optimizer_bytes + weights + m.inputs_bytes + m.buffers_bytes
    assert m.peak_breakdown["optimizer"] == m.optimizer_bytes + weights
    assert sum(m.peak_breakdown.values()) == m.peak_bytes
    assert set(m.peak_breakdown) == set(CATEGORIES)
    assert set(m.phase_peaks) == set(PHASES)
    assert max(m.phase_peaks.values()) == m.peak_bytes


def test_adamw_implementations_differ_only_in_step_scratch(tiny_config):
    cfg = tiny_config("llama")
    runs = {impl: measure_training_step(cfg, batch_size=B, seq_len=S, adamw_impl=impl, fake=True)
            for impl in ("foreach", "forloop", "fused")}
    model = _reference_model(cfg)
    weights, _ = _param_bytes(model)
    largest = max(p.numel() * 4 for p in model.parameters())
    base = runs["fused"].phase_peaks["optimizer"]
    assert runs["foreach"].phase_peaks["optimizer"] == base + weights
    # for-loop: two temporaries of the largest parameter (sqrt, then the division), plus a few
    # scalar tensors of the bias corrections.
    assert base + 2 * largest <= runs["forloop"].phase_peaks["optimizer"] <= base + 2 * largest + 512
    assert len({r.optimizer_bytes for r in runs.values()}) == 1


def test_pure_bf16_halves_weights_grads_and_state(tiny_config):
    cfg = tiny_config("qwen2")
    fp32 = measure_training_step(cfg, batch_size=B, seq_len=S, fake=True)
    bf16 = measure_training_step(cfg, batch_size=B, seq_len=S, precision="bf16", fake=True)
    _, n_tensors = _param_bytes(_reference_model(cfg))
    assert 2 * bf16.weights_bytes == fp32.weights_bytes
    assert 2 * bf16.gradients_bytes == fp32.gradients_bytes
    assert bf16.optimizer_bytes == 2 * bf16.trainable_bytes + 4 * n_tensors


def test_amp_keeps_fp32_weights_and_state(tiny_config):
    cfg = tiny_config("llama")
    fp32 = measure_training_step(cfg, batch_size=B, seq_len=S, fake=True)
    amp = measure_training_step(cfg, batch_size=B, seq_len=S, precision="amp_bf16", fake=True)
    assert (amp.weights_bytes, amp.gradients_bytes, amp.optimizer_bytes) == (
        fp32.weights_bytes, fp32.gradients_bytes, fp32.optimizer_bytes)
    assert amp.peak_breakdown["params"] == fp32.peak_breakdown["params"]


def test_lora_trains_only_the_adapters(tiny_config):
    cfg = tiny_config("llama")
    r = 8
    m = measure_training_step(cfg, method="lora", rank=r, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
                              batch_size=B, seq_len=S, fake=True)
    h, kv = cfg["hidden_size"], cfg["num_key_value_heads"] * cfg["hidden_size"] // cfg["num_attention_heads"]
    per_layer = r * (h + h) + r * (h + kv) * 2 + r * (h + h)  # q, k, v, o: r·(in + out)
    expected = cfg["num_hidden_layers"] * per_layer
    assert m.trainable_params == expected
    assert m.trainable_bytes == 4 * expected
    assert m.gradients_bytes == m.trainable_bytes
    assert m.optimizer_bytes == 2 * m.trainable_bytes + 4 * 2 * 4 * cfg["num_hidden_layers"]
    base, _ = _param_bytes(_reference_model(cfg))
    assert m.weights_bytes == base + m.trainable_bytes
    assert m.peak_phase == "backward"


def test_lora_on_a_bf16_base_keeps_fp32_adapters(tiny_config):
    cfg = tiny_config("mistral")
    m = measure_training_step(cfg, method="lora", precision="bf16", batch_size=B, seq_len=S, fake=True)
    base, _ = _param_bytes(_reference_model(cfg, torch.bfloat16))
    assert m.trainable_bytes == 4 * m.trainable_params
    assert m.weights_bytes == base + m.trainable_bytes


@pytest.mark.parametrize(
    "family",
    ["llama", "gpt2", pytest.param("gpt_neox", marks=pytest.mark.slow), pytest.param("gemma", marks=pytest.mark.slow),
     pytest.param("phi3", marks=pytest.mark.slow), pytest.param("qwen2", marks=pytest.mark.slow)],
)
def test_fake_mode_gives_the_real_bytes(tiny_config, attention_targets, family):
    cfg = tiny_config(family)
    for kw in ({}, {"method": "lora", "target_modules": attention_targets(family), "gradient_checkpointing": True}):
        real = measure_training_step(cfg, batch_size=B, seq_len=S, **kw)
        fake = measure_training_step(cfg, batch_size=B, seq_len=S, fake=True, **kw)
        assert not real.fake and fake.fake
        for field in ("peak_bytes", "peak_phase", "weights_bytes", "gradients_bytes", "optimizer_bytes",
                      "saved_activations_bytes"):
            assert getattr(real, field) == getattr(fake, field), field
        assert real.phase_peaks == fake.phase_peaks
        assert real.peak_breakdown == fake.peak_breakdown


@pytest.mark.parametrize("ckpt", [False, True])
def test_allocator_trace_agrees_with_the_tracker(tiny_config, ckpt):
    cfg = tiny_config("llama")
    m = measure_training_step(cfg, method="lora", batch_size=B, seq_len=S, gradient_checkpointing=ckpt, profile=True)
    assert m.profiler_peak_bytes is not None
    # The allocator also sees what bypasses the dispatcher: the CPU RNG state (≈5 KB) that
    # torch.utils.checkpoint saves per checkpointed layer.
    slack = 64 + (6 * 1024 * cfg["num_hidden_layers"] if ckpt else 0)
    assert m.peak_bytes <= m.profiler_peak_bytes <= m.peak_bytes + slack


def test_checkpointing_keeps_less_after_forward(tiny_config):
    cfg = tiny_config("llama")
    off = measure_training_step(cfg, batch_size=B, seq_len=S, fake=True)
    on = measure_training_step(cfg, batch_size=B, seq_len=S, gradient_checkpointing=True, fake=True)
    assert on.saved_activations_bytes < off.saved_activations_bytes
    # What is left per layer is the layer input: b·s·h fp32.
    layer_inputs = cfg["num_hidden_layers"] * B * S * cfg["hidden_size"] * 4
    assert on.saved_activations_bytes >= layer_inputs


@pytest.mark.parametrize("method", ["ia3", "prefix", "prompt", "dora", "adapter"])
def test_peft_methods_have_grads_equal_to_trainable_bytes(tiny_config, method):
    m = measure_training_step(tiny_config("llama"), method=method, batch_size=B, seq_len=S, fake=True)
    assert 0 < m.trainable_bytes < m.weights_bytes
    assert m.gradients_bytes == m.trainable_bytes
    assert m.optimizer_bytes >= 2 * m.trainable_bytes
    assert m.peak_phase == "backward"


def test_repeated_measurements_are_identical(tiny_config):
    # DoRA leaves tensors in reference cycles; the cycle collector is off during the step, so when
    # it would have run does not change the peak.
    runs = [measure_training_step(tiny_config("llama"), method="dora", batch_size=B, seq_len=S, fake=True)
            for _ in range(2)]
    assert runs[0].peak_bytes == runs[1].peak_bytes
    assert runs[0].saved_activations_bytes == runs[1].saved_activations_bytes


def test_dpo_counts_the_frozen_reference(tiny_config):
    cfg = tiny_config("llama")
    sft = measure_training_step(cfg, batch_size=B, seq_len=S, fake=True)
    full = measure_training_step(cfg, method="dpo", batch_size=B, seq_len=S, fake=True)
    assert full.weights_bytes == 2 * sft.weights_bytes
    assert full.trainable_bytes == sft.trainable_bytes
    assert full.optimizer_bytes == sft.optimizer_bytes
    assert full.inputs_bytes == 2 * sft.inputs_bytes  # chosen + rejected rows
    lora = measure_training_step(cfg, method="dpo", dpo_policy="lora", batch_size=B, seq_len=S, fake=True)
    assert lora.weights_bytes == sft.weights_bytes + lora.trainable_bytes  # reference = adapters disabled


def test_distillation_counts_the_frozen_teacher(tiny_config):
    cfg = tiny_config("llama")
    teacher = tiny_config("llama", hidden_size=128, intermediate_size=320)
    sft = measure_training_step(cfg, batch_size=B, seq_len=S, fake=True)
    m = measure_training_step(cfg, method="distill", teacher=teacher, batch_size=B, seq_len=S, fake=True)
    teacher_bytes, _ = _param_bytes(_reference_model(teacher))
    assert m.weights_bytes == sft.weights_bytes + teacher_bytes
    assert m.trainable_bytes == sft.trainable_bytes


def test_qlora_counts_packed_weights_and_quant_state(tiny_config):
    pytest.importorskip("bitsandbytes")
    cfg = tiny_config("llama")
    q4 = measure_training_step(cfg, method="qlora", bits=4, precision="bf16", batch_size=B, seq_len=S, profile=True)
    lora = measure_training_step(cfg, method="lora", batch_size=B, seq_len=S, fake=True)
    q8 = measure_training_step(cfg, method="qlora", bits=8, batch_size=B, seq_len=S)
    assert q4.trainable_bytes == lora.trainable_bytes == q8.trainable_bytes
    assert q4.quant_state_bytes > 0 and q8.quant_state_bytes > 0
    assert q4.weights_bytes < q8.weights_bytes < lora.weights_bytes
    assert q4.peak_bytes <= q4.profiler_peak_bytes <= q4.peak_bytes + 4096


def test_invalid_arguments_name_the_argument(tiny_config):
    cfg = tiny_config("llama")
    with pytest.raises(ArgumentError, match="method"):
        measure_training_step(cfg, method="rlhf")
    with pytest.raises(ArgumentError, match="batch_size"):
        measure_training_step(cfg, batch_size=0)
    with pytest.raises(ArgumentError, match="precision"):
        measure_training_step(cfg, precision="int3")
    with pytest.raises(ArgumentError, match="model_type"):
        measure_training_step({"hidden_size": 8})
    with pytest.raises(UnsupportedError, match="gradient checkpointing"):
        measure_training_step(cfg, method="prefix", gradient_checkpointing=True)
    with pytest.raises(UnsupportedError, match="fake"):
        measure_training_step(cfg, method="qlora", fake=True)
    with pytest.raises(UnsupportedError, match="IA3 targets"):
        measure_training_step(tiny_config("phi3"), method="ia3", fake=True)


def test_config_file_and_str(tiny_config, tmp_path):
    import json

    (tmp_path / "config.json").write_text(json.dumps(tiny_config("gpt2")))
    m = measure_training_step(tmp_path, batch_size=1, seq_len=16, fake=True)
    assert isinstance(m, Measurement)
    assert m.knobs["model_type"] == "gpt2"
    text = str(m)
    assert "peak" in text and "gpt2 full fp32" in text
    assert m.as_dict()["peak_bytes"] == m.peak_bytes


def test_a_built_model_is_measured_as_it_is(tiny_config):
    cfg = tiny_config("llama")
    built = _reference_model(cfg)
    m = measure_training_step(built, method="lora", batch_size=B, seq_len=S, lora_dropout=0.0)
    from_config = measure_training_step(cfg, method="lora", batch_size=B, seq_len=S, lora_dropout=0.0, fake=True)
    assert (m.weights_bytes, m.trainable_bytes, m.peak_bytes) == (
        from_config.weights_bytes, from_config.trainable_bytes, from_config.peak_bytes)
    with pytest.raises(UnsupportedError, match="config"):
        measure_training_step(_reference_model(cfg), fake=True)


def test_import_does_not_load_torch():
    code = "import sys, tunesmith.estimate.measure; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
