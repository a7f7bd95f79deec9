"""A causal LM's shape, read from its Hugging Face ``config.json``, with exact parameter counts.

:class:`ModelShape` lists every parameter tensor transformers creates for the
supported families (embeddings, tied or untied head, GQA attention with or without
biases, gated or plain MLPs, MoE experts and router, norms with or without bias,
GPT-2's position embeddings), so ``shape.num_params`` equals
``sum(p.numel() for p in AutoModelForCausalLM.from_config(config).parameters())``.
The per-layer linear layers are listed by their module names, which is what PEFT
matches ``target_modules`` against.

Example:
    >>> shape = ModelShape.from_config({"model_type": "gpt2", "n_layer": 12, "n_embd": 768,
    ...                                 "n_head": 12, "vocab_size": 50257, "n_positions": 1024})
    >>> shape.num_params
    124439808
"""

from __future__ import annotations

import json
import pathlib
from dataclasses import dataclass, field
from typing import Any

from tunesmith.errors import ArgumentError, InputError

__all__ = ["FAMILIES", "Linear", "ModelShape"]

FAMILIES: tuple[str, ...] = (
    "falcon",
    "gemma",
    "gemma2",
    "gpt2",
    "gpt_neox",
    "llama",
    "mistral",
    "mixtral",
    "phi3",
    "qwen2",
    "qwen3",
)

# LoRA targets when none are given: the attention projections (what recipes use and what
# ``tunesmith.estimate.measure`` adapts), by module-name suffix as PEFT matches them.
_LORA_DEFAULT_TARGETS: dict[str, tuple[str, ...]] = {
    "gpt2": ("c_attn", "attn.c_proj"),
    "gpt_neox": ("query_key_value", "attention.dense"),
    "falcon": ("query_key_value", "self_attention.dense"),
    "phi3": ("qkv_proj", "o_proj"),
}
# PEFT's IA3 targets per model type (peft.utils.constants).
_IA3_TARGETS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # model type: (target modules, feed-forward modules among them)
    "gpt2": (("c_attn", "mlp.c_proj"), ("mlp.c_proj",)),
    "gpt_neox": (("query_key_value", "dense_4h_to_h"), ("dense_4h_to_h",)),
    "falcon": (("query_key_value", "dense_4h_to_h"), ("dense_4h_to_h",)),
    "llama": (("k_proj", "v_proj", "down_proj"), ("down_proj",)),
    "mistral": (("k_proj", "v_proj", "down_proj"), ("down_proj",)),
    "mixtral": (("k_proj", "v_proj"), ()),
    "gemma": (("q_proj", "v_proj", "down_proj"), ("down_proj",)),
    "gemma2": (("q_proj", "v_proj", "down_proj"), ("down_proj",)),
    "qwen2": (("q_proj", "v_proj", "down_proj"), ("down_proj",)),
    "qwen3": (("q_proj", "v_proj", "down_proj"), ("down_proj",)),
}


@dataclass(frozen=True)
class Linear:
    """One linear layer present once per decoder layer (``path`` as PEFT sees it, e.g. ``self_attn.q_proj``)."""

    path: str
    in_features: int
    out_features: int
    bias: bool

    @property
    def num_params(self) -> int:
        return self.in_features * self.out_features + (self.out_features if self.bias else 0)


@dataclass(frozen=True)
class ModelShape:
    """The dimensions of a decoder-only causal LM and every parameter tensor it has.

    Attributes:
        family: the ``model_type`` (one of :data:`FAMILIES`).
        layer_linears: the linear layers of one decoder layer (LoRA/IA3 targets).
        layer_other: parameter counts per decoder layer outside those linears
            (norms, MoE experts and router), as ``(path, numel)``.
        embed_params: token (and position) embedding parameters.
        head_params: the LM head's parameters (0 when tied to the embeddings).
        final_norm_params: parameters of the final norm.
    """

    family: str
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    tied: bool
    layer_linears: tuple[Linear, ...]
    layer_other: tuple[tuple[str, int], ...]
    embed_params: int
    head_params: int
    final_norm_params: int
    num_experts: int = 0
    experts_per_token: int = 0
    norm: str = "rms"
    gated_mlp: bool = True
    parallel_attn: bool = False
    name: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    # ------------------------------------------------------------------ counts
    @property
    def layer_params(self) -> int:
        return sum(lin.num_params for lin in self.layer_linears) + sum(n for _, n in self.layer_other)

    @property
    def num_params(self) -> int:
        """Exactly ``sum(p.numel() for p in model.parameters())`` of the transformers model."""
        return self.embed_params + self.layers * self.layer_params + self.final_norm_params + self.head_params

    @property
    def num_param_tensors(self) -> int:
        """How many parameter tensors the model has (AdamW keeps one ``step`` scalar per tensor)."""
        norm_tensors = 2 if self.norm == "layer" else 1
        per_layer = sum(2 if lin.bias else 1 for lin in self.layer_linears) + len(self.layer_other) * norm_tensors
        embeds = 2 if self.family == "gpt2" else 1
        final = norm_tensors
        return embeds + self.layers * per_layer + final + (0 if self.tied else 1)

    @property
    def num_kv_dim(self) -> int:
        return self.kv_heads * self.head_dim

    @property
    def params_billions(self) -> float:
        return self.num_params / 1e9

    def active_params(self) -> int:
        """Parameters touched per token (all but the inactive MoE experts)."""
        if not self.num_experts:
            return self.num_params
        expert = 3 * self.hidden * self.intermediate
        inactive = (self.num_experts - self.experts_per_token) * expert * self.layers
        return self.num_params - inactive

    def linear(self, name: str) -> Linear | None:
        for lin in self.layer_linears:
            if lin.path == name or lin.path.endswith("." + name):
                return lin
        return None

    def linear_names(self) -> list[str]:
        return [lin.path.rsplit(".", 1)[-1] for lin in self.layer_linears]

    def default_lora_targets(self) -> tuple[str, ...]:
        return _LORA_DEFAULT_TARGETS.get(self.family, ("q_proj", "k_proj", "v_proj", "o_proj"))

    def ia3_targets(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """PEFT's default IA3 ``(target_modules, feedforward_modules)`` for this family."""
        if self.family not in _IA3_TARGETS:
            from tunesmith.errors import UnsupportedError

            raise UnsupportedError(
                f"method='ia3' on {self.family}: PEFT has no default IA3 target modules for this model type "
                "(\"Please specify `target_modules` in `peft_config`\"); families with defaults: "
                + ", ".join(sorted(_IA3_TARGETS))
            )
        return _IA3_TARGETS[self.family]

    def match_targets(self, targets: str | list[str] | tuple[str, ...], argument: str = "target_modules") -> list[Linear]:
        """The per-layer linears PEFT adapts for ``targets`` (suffix match on module names, or ``"all-linear"``)."""
        if isinstance(targets, str):
            if targets == "all-linear":
                return list(self.layer_linears)
            targets = [targets]
        chosen: list[Linear] = []
        for t in targets:
            if t in ("embed_tokens", "lm_head", "wte", "embed_in", "embed_out", "word_embeddings"):
                continue
            hits = [lin for lin in self.layer_linears if lin.path == t or lin.path.endswith("." + t)]
            if not hits:
                valid = sorted({*self.linear_names(), *(lin.path for lin in self.layer_linears)})
                raise ArgumentError(
                    f"{argument}: {t!r} matches no linear layer of {self.family}; valid choices: "
                    + ", ".join(valid + ["embed_tokens", "lm_head", "all-linear"])
                )
            chosen.extend(h for h in hits if h not in chosen)
        return chosen

    def summary(self) -> str:
        kind = f"{self.num_experts}x{self.experts_per_token} MoE " if self.num_experts else ""
        return (
            f"{self.name or self.family}: {kind}{self.num_params / 1e6:,.1f}M params, {self.layers} layers, "
            f"h={self.hidden}, heads={self.heads}/{self.kv_heads} (d={self.head_dim}), ffn={self.intermediate}, "
            f"vocab={self.vocab}, {'tied' if self.tied else 'untied'} head"
        )

    # ------------------------------------------------------------ constructors
    @classmethod
    def from_config(cls, config: dict[str, Any] | str | pathlib.Path, name: str = "") -> ModelShape:
        """Build from a ``config.json`` dict or path (a directory holding ``config.json`` works too)."""
        if not isinstance(config, dict):
            path = pathlib.Path(config)
            if path.is_dir():
                path = path / "config.json"
            try:
                config = json.loads(path.read_text())
            except FileNotFoundError as e:
                raise ArgumentError(f"model: no such config file {str(path)!r}") from e
            except json.JSONDecodeError as e:
                raise InputError(f"{path}:{e.lineno}: invalid JSON ({e.msg})") from e
            name = name or path.parent.name
        if not isinstance(config, dict):
            raise ArgumentError("model: a config must be a JSON object")
        if "model_type" not in config and isinstance(config.get("text_config"), dict):
            config = config["text_config"]
        family = config.get("model_type")
        if family == "qwen2_moe" or family not in FAMILIES:
            raise ArgumentError(
                f"model: model_type {family!r} is not supported; valid choices: {', '.join(FAMILIES)}"
            )
        builder = _BUILDERS[family]
        try:
            return builder(_Cfg(config, family), name or config.get("_name_or_path", "") or "")
        except KeyError as e:
            raise InputError(f"model config ({family}): missing field {e.args[0]!r}") from e


class _Cfg:
    """Config lookup with transformers' defaults per family."""

    _DEFAULTS: dict[str, dict[str, Any]] = {
        "llama": {"vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32,
                  "num_attention_heads": 32, "attention_bias": False, "mlp_bias": False,
                  "tie_word_embeddings": False},
        "mistral": {"vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
                    "num_attention_heads": 32, "num_key_value_heads": 8, "tie_word_embeddings": False},
        "mixtral": {"vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
                    "num_attention_heads": 32, "num_key_value_heads": 8, "tie_word_embeddings": False,
                    "num_local_experts": 8, "num_experts_per_tok": 2},
        "qwen2": {"vocab_size": 151936, "hidden_size": 4096, "intermediate_size": 22016, "num_hidden_layers": 32,
                  "num_attention_heads": 32, "num_key_value_heads": 32, "tie_word_embeddings": False},
        "qwen3": {"vocab_size": 151936, "hidden_size": 4096, "intermediate_size": 22016, "num_hidden_layers": 32,
                  "num_attention_heads": 32, "num_key_value_heads": 32, "head_dim": 128,
                  "attention_bias": False, "tie_word_embeddings": False},
        "gemma": {"vocab_size": 256000, "hidden_size": 3072, "intermediate_size": 24576, "num_hidden_layers": 28,
                  "num_attention_heads": 16, "num_key_value_heads": 16, "head_dim": 256, "attention_bias": False,
                  "tie_word_embeddings": True},
        "gemma2": {"vocab_size": 256000, "hidden_size": 2304, "intermediate_size": 9216, "num_hidden_layers": 26,
                   "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 256, "attention_bias": False,
                   "tie_word_embeddings": True},
        "phi3": {"vocab_size": 32064, "hidden_size": 3072, "intermediate_size": 8192, "num_hidden_layers": 32,
                 "num_attention_heads": 32, "tie_word_embeddings": False},
        "gpt2": {"vocab_size": 50257, "n_positions": 1024, "n_embd": 768, "n_layer": 12, "n_head": 12,
                 "n_inner": None, "tie_word_embeddings": True},
        "gpt_neox": {"vocab_size": 50432, "hidden_size": 6144, "num_hidden_layers": 44, "num_attention_heads": 64,
                     "intermediate_size": 24576, "attention_bias": True, "tie_word_embeddings": False},
        "falcon": {"vocab_size": 65024, "hidden_size": 4544, "num_hidden_layers": 32, "num_attention_heads": 71,
                   "num_kv_heads": None, "multi_query": True, "new_decoder_architecture": False, "bias": False,
                   "parallel_attn": True, "ffn_hidden_size": None, "num_ln_in_parallel_attn": None,
                   "tie_word_embeddings": True},
    }

    def __init__(self, raw: dict[str, Any], family: str) -> None:
        self.raw = raw
        self.defaults = self._DEFAULTS[family]

    def __getitem__(self, key: str) -> Any:
        if key in self.raw:
            return self.raw[key]
        return self.defaults[key]

    def get(self, key: str, default: Any = None) -> Any:
        if key in self.raw and self.raw[key] is not None:
            return self.raw[key]
        value = self.defaults.get(key)
        return default if value is None else value


def _int(v: Any, field_name: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
        raise InputError(f"model config: {field_name} must be a positive integer, got {v!r}")
    return v


def _llama_like(c: _Cfg, name: str, family: str) -> ModelShape:
    h = _int(c["hidden_size"], "hidden_size")
    layers = _int(c["num_hidden_layers"], "num_hidden_layers")
    heads = _int(c["num_attention_heads"], "num_attention_heads")
    kv = _int(c.get("num_key_value_heads", heads), "num_key_value_heads")
    d = _int(c.get("head_dim", h // heads), "head_dim")
    inter = _int(c["intermediate_size"], "intermediate_size")
    vocab = _int(c["vocab_size"], "vocab_size")
    tied = bool(c.get("tie_word_embeddings", False))
    if family == "qwen2":
        qkv_bias, o_bias, mlp_bias = True, False, False
    elif family in ("mistral", "mixtral"):
        qkv_bias = o_bias = mlp_bias = False
    else:
        qkv_bias = o_bias = bool(c.get("attention_bias", False))
        mlp_bias = bool(c.get("mlp_bias", False)) if family == "llama" else False
    attn = (
        Linear("self_attn.q_proj", h, heads * d, qkv_bias),
        Linear("self_attn.k_proj", h, kv * d, qkv_bias),
        Linear("self_attn.v_proj", h, kv * d, qkv_bias),
        Linear("self_attn.o_proj", heads * d, h, o_bias),
    )
    other: list[tuple[str, int]] = [("input_layernorm", h), ("post_attention_layernorm", h)]
    if family == "gemma2":
        other += [("pre_feedforward_layernorm", h), ("post_feedforward_layernorm", h)]
    if family == "qwen3":
        other += [("self_attn.q_norm", d), ("self_attn.k_norm", d)]
    experts = per_tok = 0
    if family == "mixtral":
        experts = _int(c["num_local_experts"], "num_local_experts")
        per_tok = _int(c["num_experts_per_tok"], "num_experts_per_tok")
        mlp: tuple[Linear, ...] = ()
        other += [
            ("block_sparse_moe.gate", h * experts),
            ("block_sparse_moe.experts.gate_up_proj", experts * 2 * inter * h),
            ("block_sparse_moe.experts.down_proj", experts * h * inter),
        ]
    else:
        mlp = (
            Linear("mlp.gate_proj", h, inter, mlp_bias),
            Linear("mlp.up_proj", h, inter, mlp_bias),
            Linear("mlp.down_proj", inter, h, mlp_bias),
        )
    return ModelShape(
        family=family, hidden=h, layers=layers, heads=heads, kv_heads=kv, head_dim=d, intermediate=inter,
        vocab=vocab, tied=tied, layer_linears=attn + mlp, layer_other=tuple(other), embed_params=vocab * h,
        head_params=0 if tied else vocab * h, final_norm_params=h, num_experts=experts,
        experts_per_token=per_tok, name=name,
    )


def _phi3(c: _Cfg, name: str) -> ModelShape:
    h = _int(c["hidden_size"], "hidden_size")
    heads = _int(c["num_attention_heads"], "num_attention_heads")
    kv = _int(c.get("num_key_value_heads", heads), "num_key_value_heads")
    d = _int(c.get("head_dim", h // heads), "head_dim")
    inter = _int(c["intermediate_size"], "intermediate_size")
    vocab = _int(c["vocab_size"], "vocab_size")
    tied = bool(c.get("tie_word_embeddings", False))
    linears = (
        Linear("self_attn.qkv_proj", h, (heads + 2 * kv) * d, False),
        Linear("self_attn.o_proj", heads * d, h, False),
        Linear("mlp.gate_up_proj", h, 2 * inter, False),
        Linear("mlp.down_proj", inter, h, False),
    )
    return ModelShape(
        family="phi3", hidden=h, layers=_int(c["num_hidden_layers"], "num_hidden_layers"), heads=heads,
        kv_heads=kv, head_dim=d, intermediate=inter, vocab=vocab, tied=tied, layer_linears=linears,
        layer_other=(("input_layernorm", h), ("post_attention_layernorm", h)), embed_params=vocab * h,
        head_params=0 if tied else vocab * h, final_norm_params=h, name=name,
    )


def _gpt2(c: _Cfg, name: str) -> ModelShape:
    h = _int(c["n_embd"], "n_embd")
    heads = _int(c["n_head"], "n_head")
    inter = c.get("n_inner") or 4 * h
    vocab = _int(c["vocab_size"], "vocab_size")
    positions = _int(c["n_positions"], "n_positions")
    linears = (
        Linear("attn.c_attn", h, 3 * h, True),
        Linear("attn.c_proj", h, h, True),
        Linear("mlp.c_fc", h, inter, True),
        Linear("mlp.c_proj", inter, h, True),
    )
    tied = bool(c.get("tie_word_embeddings", True))
    return ModelShape(
        family="gpt2", hidden=h, layers=_int(c["n_layer"], "n_layer"), heads=heads, kv_heads=heads,
        head_dim=h // heads, intermediate=inter, vocab=vocab, tied=tied, layer_linears=linears,
        layer_other=(("ln_1", 2 * h), ("ln_2", 2 * h)), embed_params=vocab * h + positions * h,
        head_params=0 if tied else vocab * h, final_norm_params=2 * h, norm="layer", gated_mlp=False, name=name,
        extra={"positions": positions, "dropout": float(c.get("attn_pdrop", 0.1) or 0.0)},
    )


def _gpt_neox(c: _Cfg, name: str) -> ModelShape:
    h = _int(c["hidden_size"], "hidden_size")
    heads = _int(c["num_attention_heads"], "num_attention_heads")
    inter = _int(c["intermediate_size"], "intermediate_size")
    vocab = _int(c["vocab_size"], "vocab_size")
    bias = bool(c.get("attention_bias", True))
    linears = (
        Linear("attention.query_key_value", h, 3 * h, bias),
        Linear("attention.dense", h, h, bias),
        Linear("mlp.dense_h_to_4h", h, inter, True),
        Linear("mlp.dense_4h_to_h", inter, h, True),
    )
    tied = bool(c.get("tie_word_embeddings", False))
    return ModelShape(
        family="gpt_neox", hidden=h, layers=_int(c["num_hidden_layers"], "num_hidden_layers"), heads=heads,
        kv_heads=heads, head_dim=h // heads, intermediate=inter, vocab=vocab, tied=tied, layer_linears=linears,
        layer_other=(("input_layernorm", 2 * h), ("post_attention_layernorm", 2 * h)), embed_params=vocab * h,
        head_params=0 if tied else vocab * h, final_norm_params=2 * h, norm="layer", gated_mlp=False,
        parallel_attn=bool(c.get("use_parallel_residual", True)), name=name,
    )


def _falcon(c: _Cfg, name: str) -> ModelShape:
    h = _int(c["hidden_size"], "hidden_size")
    heads = _int(c["num_attention_heads"], "num_attention_heads")
    d = h // heads
    bias = bool(c.get("bias", False))
    new_arch = bool(c.get("new_decoder_architecture", False))
    multi_query = bool(c.get("multi_query", True))
    parallel = bool(c.get("parallel_attn", True))
    if new_arch:
        kv = _int(c.get("num_kv_heads", heads), "num_kv_heads")
        qkv_out = (heads + 2 * kv) * d
    elif multi_query:
        kv = 1
        qkv_out = h + 2 * d
    else:
        kv = heads
        qkv_out = 3 * h
    inter = c.get("ffn_hidden_size") or 4 * h
    vocab = _int(c["vocab_size"], "vocab_size")
    linears = (
        Linear("self_attention.query_key_value", h, qkv_out, bias),
        Linear("self_attention.dense", h, h, bias),
        Linear("mlp.dense_h_to_4h", h, inter, bias),
        Linear("mlp.dense_4h_to_h", inter, h, bias),
    )
    if new_arch and (c.get("num_ln_in_parallel_attn") or 2) == 2:
        norms = [("ln_attn", 2 * h), ("ln_mlp", 2 * h)]
    else:
        norms = [("input_layernorm", 2 * h)]
        if not parallel:
            norms.append(("post_attention_layernorm", 2 * h))
    tied = bool(c.get("tie_word_embeddings", True))
    return ModelShape(
        family="falcon", hidden=h, layers=_int(c["num_hidden_layers"], "num_hidden_layers"), heads=heads,
        kv_heads=kv, head_dim=d, intermediate=inter, vocab=vocab, tied=tied, layer_linears=linears,
        layer_other=tuple(norms), embed_params=vocab * h, head_params=0 if tied else vocab * h,
        final_norm_params=2 * h, norm="layer", gated_mlp=False, parallel_attn=parallel or new_arch, name=name,
    )


_BUILDERS = {
    "llama": lambda c, n: _llama_like(c, n, "llama"),
    "mistral": lambda c, n: _llama_like(c, n, "mistral"),
    "mixtral": lambda c, n: _llama_like(c, n, "mixtral"),
    "qwen2": lambda c, n: _llama_like(c, n, "qwen2"),
    "qwen3": lambda c, n: _llama_like(c, n, "qwen3"),
    "gemma": lambda c, n: _llama_like(c, n, "gemma"),
    "gemma2": lambda c, n: _llama_like(c, n, "gemma2"),
    "phi3": _phi3,
    "gpt2": _gpt2,
    "gpt_neox": _gpt_neox,
    "falcon": _falcon,
}
