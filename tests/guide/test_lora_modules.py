"""The guide's LoRA / prefix / prompt / adapter modules, checked against PEFT on a tiny random Llama."""

from __future__ import annotations

import copy

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
peft = pytest.importorskip("peft")

from torch import nn  # noqa: E402

from tunesmith.errors import ArgumentError, UnsupportedError  # noqa: E402
from tunesmith.guide import (  # noqa: E402
    Adapter,
    LinearWithLoRA,
    LoRAConfig,
    LoRALayer,
    PrefixTuning,
    PrefixTuningConfig,
    PromptTuning,
    PromptTuningConfig,
    apply_lora_to_model,
    get_lora_params,
    lora_modules,
    merge_and_unload,
)

pytestmark = pytest.mark.train


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def tiny_llama(kv_heads: int = 4):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=96,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=kv_heads,
        max_position_embeddings=64,
        tie_word_embeddings=False,
    )
    return LlamaForCausalLM(config).eval()


def ids(batch: int = 2, seq: int = 7):
    return torch.randint(0, 96, (batch, seq), generator=torch.Generator().manual_seed(1))


def randomize_b(model: nn.Module, seed: int = 3) -> None:
    g = torch.Generator().manual_seed(seed)
    for m in lora_modules(model).values():
        with torch.no_grad():
            m.lora.lora_B.copy_(torch.randn(m.lora.lora_B.shape, generator=g) * 0.1)


def test_fresh_layer_adds_nothing():
    lin = nn.Linear(16, 12)
    wrapped = LinearWithLoRA(copy.deepcopy(lin), rank=4, alpha=8)
    x = torch.randn(3, 16)
    torch.testing.assert_close(wrapped(x), lin(x))
    assert wrapped.lora.scaling == 2.0
    assert not wrapped.linear.weight.requires_grad and not wrapped.linear.bias.requires_grad


def test_lora_layer_formula():
    layer = LoRALayer(10, 6, rank=2, alpha=6)
    with torch.no_grad():
        layer.lora_B.normal_()
    x = torch.randn(4, 10)
    expected = 3.0 * (x @ layer.lora_A.T @ layer.lora_B.T)
    torch.testing.assert_close(layer(x), expected)
    torch.testing.assert_close(layer.delta_weight(), 3.0 * layer.lora_B @ layer.lora_A)


def test_same_weights_same_logits_as_peft():
    base = tiny_llama()
    ours = apply_lora_to_model(copy.deepcopy(base), LoRAConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["q_proj", "v_proj"]))
    randomize_b(ours)
    config = peft.LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    theirs = peft.get_peft_model(copy.deepcopy(base), config).eval()

    ours_mods = lora_modules(ours)
    assert sorted(ours_mods) == sorted(f"model.layers.{i}.self_attn.{p}" for i in range(2) for p in ("q_proj", "v_proj"))
    theirs_params = dict(theirs.named_parameters())
    for name, m in ours_mods.items():
        with torch.no_grad():
            theirs_params[f"base_model.model.{name}.lora_A.default.weight"].copy_(m.lora.lora_A)
            theirs_params[f"base_model.model.{name}.lora_B.default.weight"].copy_(m.lora.lora_B)

    x = ids()
    with torch.no_grad():
        out_ours = ours(input_ids=x).logits
        out_theirs = theirs(input_ids=x).logits
        out_base = base(input_ids=x).logits
    torch.testing.assert_close(out_ours, out_theirs, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(out_ours, out_base, atol=1e-4)

    # merging changes the parameters but not the function; PEFT's merge agrees
    for m in ours_mods.values():
        m.merge_weights()
    merged_theirs = theirs.merge_and_unload()
    with torch.no_grad():
        torch.testing.assert_close(ours(input_ids=x).logits, out_theirs, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(merged_theirs(input_ids=x).logits, out_theirs, rtol=1e-5, atol=1e-5)
    for name, m in ours_mods.items():
        torch.testing.assert_close(m.linear.weight, merged_theirs.get_submodule(name).weight, rtol=1e-6, atol=1e-6)


def test_merge_unmerge_round_trip_and_no_double_merge():
    torch.manual_seed(5)
    lin = nn.Linear(32, 24)
    original = lin.weight.detach().clone()
    layer = LinearWithLoRA(lin, rank=4, alpha=16)
    with torch.no_grad():
        layer.lora.lora_B.normal_()
    x = torch.randn(5, 32)
    before = layer(x)
    layer.merge_weights()
    assert layer.merged
    merged_weight = layer.linear.weight.detach().clone()
    torch.testing.assert_close(layer(x), before, rtol=1e-5, atol=1e-5)
    layer.merge_weights()  # second merge is a no-op
    torch.testing.assert_close(layer.linear.weight, merged_weight, rtol=0, atol=0)
    torch.testing.assert_close(layer(x), before, rtol=1e-5, atol=1e-5)
    layer.unmerge_weights()
    assert not layer.merged
    torch.testing.assert_close(layer.linear.weight, original, rtol=1e-6, atol=1e-6)
    layer.unmerge_weights()  # and so is a second unmerge
    torch.testing.assert_close(layer.linear.weight, original, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(layer(x), before, rtol=1e-5, atol=1e-5)


def test_bf16_round_trip_within_dtype_tolerance():
    torch.manual_seed(2)
    lin = nn.Linear(32, 32).to(torch.bfloat16)
    original = lin.weight.detach().clone()
    layer = LinearWithLoRA(lin, rank=4, alpha=8)
    assert layer.lora.lora_A.dtype == torch.bfloat16
    with torch.no_grad():
        layer.lora.lora_B.normal_(std=0.01)
    layer.merge_weights()
    layer.unmerge_weights()
    torch.testing.assert_close(layer.linear.weight, original, rtol=1.6e-2, atol=1e-3)


class WithNorm(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.q_proj = nn.Linear(8, 8)
        self.q_proj_norm = nn.Linear(8, 8)
        self.inner = nn.ModuleDict({"v_proj": nn.Linear(8, 8), "my_v_proj": nn.Linear(8, 8)})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner["v_proj"](self.q_proj_norm(self.q_proj(x))) + self.inner["my_v_proj"](x)


def test_suffix_matching_not_substring_and_same_as_peft():
    model = apply_lora_to_model(WithNorm(), LoRAConfig(r=2, target_modules=["q_proj", "v_proj"]))
    assert sorted(lora_modules(model)) == ["inner.v_proj", "q_proj"]
    assert isinstance(model.q_proj_norm, nn.Linear) and isinstance(model.inner["my_v_proj"], nn.Linear)
    theirs = peft.get_peft_model(WithNorm(), peft.LoraConfig(r=2, target_modules=["q_proj", "v_proj"]))
    peft_wrapped = sorted(
        n.removeprefix("base_model.model.") for n, m in theirs.named_modules() if isinstance(m, peft.tuners.lora.LoraLayer)
    )
    assert peft_wrapped == sorted(lora_modules(model))
    # a dotted suffix narrows the match
    narrowed = apply_lora_to_model(WithNorm(), LoRAConfig(r=2, target_modules=["inner.v_proj"]))
    assert sorted(lora_modules(narrowed)) == ["inner.v_proj"]


def test_apply_errors():
    with pytest.raises(ArgumentError, match="no module name ends with"):
        apply_lora_to_model(WithNorm(), LoRAConfig(target_modules=["k_proj"]))
    model = apply_lora_to_model(WithNorm(), LoRAConfig(target_modules=["q_proj"]))
    with pytest.raises(ArgumentError, match="already has LoRA"):
        apply_lora_to_model(model, LoRAConfig(target_modules=["q_proj"]))
    with pytest.raises(UnsupportedError, match="only nn.Linear"):
        apply_lora_to_model(WithNorm(), LoRAConfig(target_modules=["inner"]))
    with pytest.raises(ArgumentError, match="r must be"):
        LoRAConfig(r=0)
    with pytest.raises(ArgumentError, match="bias"):
        LoRAConfig(bias="some")
    assert LoRAConfig(target_modules=None).target_modules == ["q_proj", "v_proj", "k_proj", "o_proj"]  # type: ignore[arg-type]


def test_get_lora_params_and_bias_modes():
    model = apply_lora_to_model(WithNorm(), LoRAConfig(r=2, target_modules=["q_proj"]))
    params = get_lora_params(model)
    assert len(params) == 2
    assert {id(p) for p in params} == {id(model.q_proj.lora.lora_A), id(model.q_proj.lora.lora_B)}
    assert all(not p.requires_grad for n, p in model.named_parameters() if "lora_" not in n)
    lora_only = get_lora_params(model, bias="lora_only")
    assert len(lora_only) == 3 and model.q_proj.linear.bias.requires_grad and not model.q_proj_norm.bias.requires_grad
    assert len(get_lora_params(model, bias="all")) == 2 + 4


def test_training_step_moves_only_lora():
    base = tiny_llama()
    model = apply_lora_to_model(copy.deepcopy(base), LoRAConfig(r=4, lora_dropout=0.1, target_modules=["q_proj", "o_proj"]))
    params = get_lora_params(model)
    frozen_before = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    opt = torch.optim.AdamW(params, lr=1e-2)
    model.train()
    x = ids()
    for _ in range(2):
        loss = model(input_ids=x, labels=x).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    for n, p in model.named_parameters():
        if not p.requires_grad:
            torch.testing.assert_close(p, frozen_before[n], rtol=0, atol=0)
    assert any(m.lora.lora_B.abs().sum() > 0 for m in lora_modules(model).values())

    # merge_and_unload leaves a plain model with the same function
    model.eval()
    with torch.no_grad():
        before = model(input_ids=x).logits
        plain = merge_and_unload(model)
        assert not lora_modules(plain)
        assert isinstance(plain.model.layers[0].self_attn.q_proj, nn.Linear)
        torch.testing.assert_close(plain(input_ids=x).logits, before, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("projection", [False, True])
@pytest.mark.parametrize("kv_heads", [4, 2])
def test_prefix_tuning_matches_peft(projection: bool, kv_heads: int):
    base = tiny_llama(kv_heads=kv_heads)
    n = 3
    ours = PrefixTuning(PrefixTuningConfig(num_virtual_tokens=n, prefix_projection=projection, hidden_size=48), base.config)
    assert ours.num_heads == kv_heads and ours.head_dim == 16
    config = peft.PrefixTuningConfig(
        task_type="CAUSAL_LM", num_virtual_tokens=n, prefix_projection=projection, encoder_hidden_size=48
    )
    theirs = peft.get_peft_model(copy.deepcopy(base), config).eval()
    enc = theirs.prompt_encoder["default"]
    with torch.no_grad():
        if projection:
            ours.prefix_encoder[0].weight.copy_(enc.embedding.weight)
            ours.prefix_encoder[1].load_state_dict(enc.transform[0].state_dict())
            ours.prefix_encoder[3].load_state_dict(enc.transform[2].state_dict())
        else:
            ours.prefix_encoder.weight.copy_(enc.embedding.weight)
    kv = ours(2)
    assert len(kv) == 2 and kv[0][0].shape == (2, kv_heads, n, 16)
    x = ids()
    mask = torch.ones_like(x)
    mask[1, :2] = 0
    with torch.no_grad():
        out_theirs = theirs(input_ids=x, attention_mask=mask).logits
        out_ours = base(**ours.model_inputs(x, mask, model=base)).logits
        out_base = base(input_ids=x, attention_mask=mask).logits
    torch.testing.assert_close(out_ours, out_theirs, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(out_ours, out_base, atol=1e-4)


def test_prompt_tuning_matches_peft():
    base = tiny_llama()
    n = 4
    emb = base.get_input_embeddings()
    ours = PromptTuning(PromptTuningConfig(num_virtual_tokens=n), tokenizer=None, model_embeddings=emb)
    assert ours.soft_prompt.shape == (n, 64)
    with torch.no_grad():
        ours.soft_prompt.normal_()
    theirs = peft.get_peft_model(copy.deepcopy(base), peft.PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=n)).eval()
    with torch.no_grad():
        theirs.prompt_encoder["default"].embedding.weight.copy_(ours.soft_prompt)
    x = ids()
    with torch.no_grad():
        out_theirs = theirs(input_ids=x, attention_mask=torch.ones_like(x)).logits
        inputs = ours.model_inputs(x, emb, labels=x)
        out_ours = base(**{k: v for k, v in inputs.items() if k != "labels"}).logits
    assert out_ours.shape == (2, n + 7, 96)
    torch.testing.assert_close(out_ours, out_theirs, rtol=1e-5, atol=1e-5)
    assert (inputs["labels"][:, :n] == -100).all() and (inputs["labels"][:, n:] == x).all()


class _ListTokenizer:
    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return [ord(c) % 96 for c in text]


def test_prompt_tuning_init_text_repeats_tokens_and_is_detached():
    emb = nn.Embedding(96, 16)
    pt = PromptTuning(PromptTuningConfig(num_virtual_tokens=5, prompt_init_text="ab"), _ListTokenizer(), emb)
    want = [ord("a") % 96, ord("b") % 96] * 3
    torch.testing.assert_close(pt.soft_prompt.detach(), emb.weight.detach()[want[:5]])
    pt.soft_prompt.sum().backward()
    assert emb.weight.grad is None


def test_adapter_starts_as_identity_and_trains():
    torch.manual_seed(0)
    ad = Adapter(32, adapter_size=8, activation="relu")
    x = torch.randn(4, 6, 32)
    torch.testing.assert_close(ad(x), x)
    opt = torch.optim.SGD(ad.parameters(), lr=0.5)
    target = x + 1.0
    first = None
    for _ in range(20):
        loss = ((ad(x) - target) ** 2).mean()
        first = first if first is not None else loss.item()
        loss.backward()
        opt.step()
        opt.zero_grad()
    assert loss.item() < first
    with pytest.raises(ArgumentError, match="activation"):
        Adapter(8, activation="swish")  # type: ignore[arg-type]


def test_import_tunesmith_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, tunesmith; assert 'torch' not in sys.modules and 'tunesmith.guide' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
