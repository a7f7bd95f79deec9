"""Tiny decoder configs of several families, built from config with random weights in the tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

_LLAMA_LIKE = {
    "hidden_size": 64,
    "intermediate_size": 160,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "vocab_size": 512,
    "max_position_embeddings": 512,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "pad_token_id": 0,
}

TINY_CONFIGS: dict[str, dict[str, Any]] = {
    "llama": {"model_type": "llama", **_LLAMA_LIKE},
    "qwen2": {"model_type": "qwen2", **_LLAMA_LIKE, "tie_word_embeddings": True},
    "mistral": {"model_type": "mistral", **_LLAMA_LIKE},
    "gemma": {"model_type": "gemma", **_LLAMA_LIKE, "num_key_value_heads": 1, "head_dim": 16},
    "phi3": {"model_type": "phi3", **_LLAMA_LIKE},
    "gpt2": {
        "model_type": "gpt2",
        "n_embd": 64,
        "n_layer": 2,
        "n_head": 4,
        "vocab_size": 512,
        "n_positions": 512,
        "bos_token_id": 1,
        "eos_token_id": 2,
    },
    "gpt_neox": {
        "model_type": "gpt_neox",
        "hidden_size": 64,
        "intermediate_size": 256,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "vocab_size": 512,
        "max_position_embeddings": 512,
        "bos_token_id": 1,
        "eos_token_id": 2,
    },
}

# LoRA on the attention projections (what tunesmith's trainer targets for Llama-style models).
ATTENTION_TARGETS: dict[str, list[str]] = {
    "llama": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "qwen2": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "mistral": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "gemma": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "phi3": ["qkv_proj", "o_proj"],
    "gpt2": ["c_attn", "attn.c_proj"],
    "gpt_neox": ["query_key_value", "attention.dense"],
}


@pytest.fixture
def tiny_config() -> Callable[..., dict[str, Any]]:
    """``tiny_config("llama", hidden_size=128)``: a fresh config dict of a tiny model of that family."""

    def make(family: str, **overrides: Any) -> dict[str, Any]:
        return {**TINY_CONFIGS[family], **overrides}

    return make


@pytest.fixture
def attention_targets() -> Callable[[str], list[str]]:
    return lambda family: list(ATTENTION_TARGETS[family])
