"""ModelShape's parameter counts equal transformers' (and PEFT's trainable counts) to the parameter."""

from __future__ import annotations

import pytest

from tunesmith.errors import ArgumentError
from tunesmith.estimate.catalog import catalog_names, load_shape
from tunesmith.estimate.memory import trainable_params
from tunesmith.estimate.model import FAMILIES, ModelShape

pytestmark = pytest.mark.train

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

_LLAMA = {"hidden_size": 64, "intermediate_size": 176, "num_hidden_layers": 2, "num_attention_heads": 4,
          "num_key_value_heads": 2, "vocab_size": 301, "max_position_embeddings": 128}

TINY: dict[str, dict] = {
    "llama": {"model_type": "llama", **_LLAMA},
    "llama-bias-tied": {"model_type": "llama", **_LLAMA, "attention_bias": True, "mlp_bias": True,
                        "tie_word_embeddings": True},
    "mistral": {"model_type": "mistral", **_LLAMA},
    "mixtral": {"model_type": "mixtral", **_LLAMA, "num_local_experts": 4, "num_experts_per_tok": 2},
    "qwen2": {"model_type": "qwen2", **_LLAMA, "tie_word_embeddings": True},
    "qwen3": {"model_type": "qwen3", **_LLAMA, "head_dim": 24},
    "gemma": {"model_type": "gemma", **_LLAMA, "head_dim": 32},
    "gemma2": {"model_type": "gemma2", **_LLAMA, "head_dim": 32},
    "phi3": {"model_type": "phi3", **_LLAMA, "pad_token_id": 0},
    "gpt2": {"model_type": "gpt2", "n_embd": 64, "n_layer": 2, "n_head": 4, "vocab_size": 301, "n_positions": 96},
    "gpt2-inner": {"model_type": "gpt2", "n_embd": 64, "n_layer": 3, "n_head": 4, "vocab_size": 301,
                   "n_positions": 96, "n_inner": 100},
    "gpt_neox": {"model_type": "gpt_neox", "hidden_size": 64, "intermediate_size": 200, "num_hidden_layers": 2,
                 "num_attention_heads": 4, "vocab_size": 301},
    "falcon-7b-like": {"model_type": "falcon", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
                       "vocab_size": 301, "multi_query": True, "parallel_attn": True},
    "falcon-40b-like": {"model_type": "falcon", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
                        "num_kv_heads": 2, "vocab_size": 301, "new_decoder_architecture": True},
    "falcon-rw": {"model_type": "falcon", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
                  "vocab_size": 301, "multi_query": False, "parallel_attn": False, "bias": True},
}


def _build(config: dict):
    cfg = transformers.AutoConfig.for_model(**config)
    with torch.device("meta"):
        return transformers.AutoModelForCausalLM.from_config(cfg)


@pytest.mark.parametrize("key", sorted(TINY))
def test_param_count_is_exact(key: str) -> None:
    model = _build(TINY[key])
    shape = ModelShape.from_config(TINY[key])
    params = list(model.parameters())
    assert shape.num_params == sum(p.numel() for p in params)
    assert shape.num_param_tensors == len(params)


def test_every_family_is_covered() -> None:
    assert {c["model_type"] for c in TINY.values()} == set(FAMILIES)


@pytest.mark.parametrize("name", catalog_names())
def test_catalog_entry_counts_like_transformers(name: str) -> None:
    shape, config = load_shape(name, with_config=True)
    model = _build(config)
    assert shape.num_params == sum(p.numel() for p in model.parameters())


_PEFT_CASES = [
    ("llama", "lora", {"rank": 8}),
    ("llama", "lora", {"rank": 4, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                                     "up_proj", "down_proj"]}),
    ("llama", "lora", {"rank": 4, "target_modules": ["q_proj", "v_proj", "embed_tokens", "lm_head"]}),
    ("qwen2", "lora", {"rank": 4, "target_modules": ["q_proj", "v_proj", "embed_tokens"]}),
    ("llama", "dora", {"rank": 8, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]}),
    ("gpt2", "lora", {"rank": 8}),
    ("gpt2", "lora", {"rank": 8, "target_modules": "all-linear"}),
    ("gpt_neox", "lora", {"rank": 16}),
    ("falcon-40b-like", "lora", {"rank": 8}),
    ("phi3", "lora", {"rank": 8}),
    ("mixtral", "lora", {"rank": 8}),
    ("llama", "ia3", {}),
    ("gpt2", "ia3", {}),
    ("qwen3", "ia3", {}),
    ("llama", "prefix", {"num_virtual_tokens": 20}),
    ("gpt2", "prefix", {"num_virtual_tokens": 10}),
    ("llama", "prompt", {"num_virtual_tokens": 20}),
    ("gemma", "prompt", {"num_virtual_tokens": 7}),
]


def _peft_config(shape: ModelShape, method: str, kw: dict):
    import peft

    if method in ("lora", "dora"):
        targets = kw.get("target_modules") or list(shape.default_lora_targets())
        return peft.LoraConfig(r=kw["rank"], lora_alpha=2 * kw["rank"], target_modules=targets,
                               use_dora=method == "dora", task_type="CAUSAL_LM")
    if method == "ia3":
        return peft.IA3Config(task_type="CAUSAL_LM")
    if method == "prefix":
        return peft.PrefixTuningConfig(num_virtual_tokens=kw["num_virtual_tokens"], task_type="CAUSAL_LM")
    return peft.PromptTuningConfig(num_virtual_tokens=kw["num_virtual_tokens"], task_type="CAUSAL_LM")


@pytest.mark.parametrize(("key", "method", "kw"), _PEFT_CASES, ids=[f"{k}-{m}-{i}" for i, (k, m, _) in
                                                                        enumerate(_PEFT_CASES)])
def test_peft_trainable_params_match_peft(key: str, method: str, kw: dict) -> None:
    peft = pytest.importorskip("peft")
    shape = ModelShape.from_config(TINY[key])
    model = _build(TINY[key])
    pm = peft.get_peft_model(model, _peft_config(shape, method, kw))
    trainable, _total = pm.get_nb_trainable_parameters()
    assert trainable_params(shape, method=method, **kw) == trainable


def test_unknown_family_names_argument_and_choices() -> None:
    with pytest.raises(ArgumentError, match=r"model.*'bert'.*llama"):
        ModelShape.from_config({"model_type": "bert"})
