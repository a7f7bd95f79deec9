"""The accurate training-memory estimator: bytes per component from the model's own shape.

``estimate(model, method=..., batch_size=..., seq_len=...)`` returns a :class:`MemoryBreakdown`:
weights (quantization block scales included), trainable parameters, gradients, optimizer state,
activations, logits, the optimizer step's temporaries, inputs and device overhead, and the phase
(forward, backward, optimizer step) that holds the peak. The peak is the maximum over phases, not the
sum of the components.

What it models (measured on CPU with tensor-level accounting, see ``tunesmith.estimate.measure``):

* static terms are exact: weights, trainable parameters, gradients (= trainable bytes), AdamW state
  (2 × trainable bytes + one fp32 ``step`` per tensor), 8-bit AdamW (2 B + fp32 absmax per 256 values);
  PEFT adapters are fp32 whatever the base dtype (``autocast_adapter_dtype``);
  ``prepare_model_for_kbit_training`` keeps every non-quantized parameter in fp32;
* activations per layer per token, per family, dtype, attention implementation and trainable set
  (``activations.json``, fitted from saved-tensor bytes of tiny models: exact for the families listed);
  gradient checkpointing keeps the layer input per layer (fp32 under autocast, whose residual stream is
  fp32) plus one layer's working set;
* a layer's backward holds, beside its saved activations, its gradient temporaries (``bwd_temp`` of the
  table, per token and intermediate feature, fitted by ``benches/fit_activations.py``): the
  backward peak under checkpointing, and for a small vocabulary without it;
* under autocast: the bf16 copies of the fp32 matmul weights are saved (2 B per parameter), LoRA adapters
  keep bf16 casts of their inputs (2 B per input feature and per rank, not pure 16-bit training's fp32
  casts), LayerNorm keeps its fp32 input, and with every weight trained each linear keeps its own bf16 input
  cast and norm outputs stay fp32 (``amp_full`` of the table);
* prefix tuning: SDPA keeps the ``[b, 1, s, s + v]`` mask of the cached prefix per layer, and keys/values
  over ``s + v`` positions repeated to every query head;
* the loss upcasts logits to fp32: log-softmax (b·s·V·4) is held after forward and two more fp32
  copies exist at the start of backward;
* foreach AdamW adds one copy of the trainable parameters at the step.

The arithmetic after the shape is read (``_plan`` → ``evaluate_plan``) is mirrored in Rust
(``tunesmith._core.estimate_memory_columns``) for sweeps; a test keeps the two equal.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

from tunesmith.errors import ArgumentError, UnsupportedError
from tunesmith.estimate.model import Linear, ModelShape

__all__ = [
    "ATTENTION",
    "LOSS_KERNELS",
    "METHODS",
    "OPTIMIZERS",
    "PRECISIONS",
    "SHARDING",
    "MemoryBreakdown",
    "estimate",
    "resolve_loss_kernel",
    "trainable_params",
]

METHODS: tuple[str, ...] = (
    "full", "lora", "dora", "qlora", "ia3", "prefix", "prompt", "adapter", "dpo", "rlhf", "distillation",
)
_METHOD_ALIASES = {"distill": "distillation", "qdora": "qlora", "ppo": "rlhf"}
# code used by the Rust mirror: index in this tuple
PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "fp16", "bf16-mixed", "fp16-mixed")
_PRECISION_ALIASES = {
    "float32": "fp32", "bfloat16": "bf16", "float16": "fp16", "amp_bf16": "bf16-mixed",
    "amp_fp16": "fp16-mixed", "bf16-amp": "bf16-mixed", "fp16-amp": "fp16-mixed", "mixed": "bf16-mixed",
}
OPTIMIZERS: tuple[str, ...] = ("adamw", "adamw8bit", "paged_adamw", "sgd", "adafactor", "paged_adamw8bit")
_OPTIMIZER_ALIASES = {
    "adamw_8bit": "adamw8bit", "adamw_bnb_8bit": "adamw8bit", "paged_adamw_32bit": "paged_adamw",
    "paged_adamw_8bit": "paged_adamw8bit", "adamw_torch": "adamw", "adam": "adamw",
}
ADAMW_IMPLS: tuple[str, ...] = ("foreach", "forloop", "fused")
ATTENTION: tuple[str, ...] = ("sdpa", "eager", "flash")
SHARDING: tuple[str, ...] = ("none", "ddp", "zero2", "zero3", "fsdp")
# How TRL's fused LM head (DPO) folds each [tokens, vocab] tile: a Triton kernel on CUDA/ROCm devices,
# whole-tile torch ops elsewhere (CPU, TPU, Gaudi); ``auto`` picks from ``device``.
LOSS_KERNELS: tuple[str, ...] = ("auto", "triton", "torch")
# Bytes per tile element of the torch fallback's fp32 temporaries in TRL's ``_backward_tile`` (y, z, log p, p,
# the gradient, the one-hot target mask and its float copy, the product): measured 29.0 on CPU for bf16 and fp32
# tiles, batch 1..2100 tokens, LoRA and full policies (tests/estimate/test_accuracy.py).
TORCH_TILE_TEMP_BYTES = 29.0
PHASES: tuple[str, ...] = ("forward", "backward", "optimizer")

_PEFT = ("lora", "dora", "qlora", "ia3", "prefix", "prompt", "adapter")
_EMBED_NAMES = ("embed_tokens", "wte", "embed_in", "word_embeddings")
_HEAD_NAMES = ("lm_head", "embed_out")


def _choice(name: str, value: Any, choices: Sequence[str], aliases: Mapping[str, str] | None = None) -> str:
    if isinstance(value, str):
        v = value.lower().replace(" ", "")
        v = (aliases or {}).get(v, v)
        if v in choices:
            return v
    raise ArgumentError(f"{name}={value!r} is not valid; valid choices: {', '.join(choices)}")


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ArgumentError(f"{name}={value!r} must be a positive integer")
    return value


# ----------------------------------------------------------------------------- static counts
def _lora_targets(shape: ModelShape, target_modules: Any) -> tuple[list[Linear], list[str]]:
    targets = list(shape.default_lora_targets()) if target_modules is None else target_modules
    linears = shape.match_targets(targets)
    names = [targets] if isinstance(targets, str) else list(targets)
    special = [t for t in names if t in _EMBED_NAMES or t in _HEAD_NAMES]
    return linears, special


def _split_trainable(
    shape: ModelShape,
    method: str,
    *,
    target_modules: Any = None,
    num_virtual_tokens: int = 20,
    adapter_reduction: int = 16,
) -> tuple[int, int, int, int, int]:
    """``(fixed, per_rank, tensors, adafactor_fixed, adafactor_per_rank)`` trainable counts of ``method``.

    LoRA trainable parameters are ``fixed + rank × per_rank``; ``tensors`` is the number of trainable
    parameter tensors; the Adafactor pair counts its factored state the same way.
    """
    h, layers = shape.hidden, shape.layers
    if method in ("full", "dpo", "distillation", "rlhf"):
        n = shape.num_params
        return n, 0, shape.num_param_tensors, _adafactor_full(shape), 0
    if method in ("lora", "dora", "qlora"):
        linears, special = _lora_targets(shape, target_modules)
        per_rank = layers * sum(lin.in_features + lin.out_features for lin in linears)
        tensors = layers * len(linears) * 2
        fixed = 0
        af_fixed = layers * sum(lin.in_features + lin.out_features for lin in linears)
        af_rank = 2 * layers * len(linears)
        if method == "dora":
            fixed += layers * sum(lin.out_features for lin in linears)
            tensors += layers * len(linears)
            af_fixed += layers * sum(lin.out_features for lin in linears)
        for name in special:
            per_rank += shape.vocab + h
            tensors += 2
            af_fixed += shape.vocab + h
            af_rank += 2
        return fixed, per_rank, tensors, af_fixed, af_rank
    if method == "ia3":
        targets, feedforward = shape.ia3_targets()
        n = tensors = 0
        for t in targets:
            lin = shape.linear(t)
            if lin is None:
                continue
            n += layers * (lin.in_features if t in feedforward else lin.out_features)
            tensors += layers
        return n, 0, tensors, n + tensors, 0
    if method == "prefix":
        token_dim = shape.kv_heads * shape.head_dim if _has_kv_heads_key(shape) else h
        n = num_virtual_tokens * layers * 2 * token_dim
        return n, 0, 1, num_virtual_tokens + layers * 2 * token_dim, 0
    if method == "prompt":
        n = num_virtual_tokens * h
        return n, 0, 1, num_virtual_tokens + h, 0
    # bottleneck adapters (tunesmith.tune.methods): one after each layer's MLP, down h→m and up m→h with
    # biases, in the base model's dtype
    m = max(1, h // adapter_reduction)
    n = layers * (2 * h * m + m + h)
    return n, 0, layers * 4, layers * (2 * (h + m) + m + h), 0


def _full_tensor_sizes(shape: ModelShape) -> list[int]:
    """numel of every parameter tensor of the transformers model (full fine-tuning)."""
    sizes = [shape.vocab * shape.hidden]
    if shape.family == "gpt2":
        sizes.append(shape.embed_params - shape.vocab * shape.hidden)
    per_layer: list[int] = []
    for lin in shape.layer_linears:
        per_layer.append(lin.in_features * lin.out_features)
        if lin.bias:
            per_layer.append(lin.out_features)
    for _, n in shape.layer_other:
        per_layer.extend([n // 2, n // 2] if shape.norm == "layer" else [n])
    sizes += per_layer * shape.layers
    sizes += [shape.hidden, shape.hidden] if shape.norm == "layer" else [shape.final_norm_params]
    if not shape.tied:
        sizes.append(shape.vocab * shape.hidden)
    return sizes


def _adam8_tensor_bytes(n: float) -> float:
    """bitsandbytes 8-bit Adam state of one tensor: two uint8 states + an fp32 absmax per 256 values,
    or two fp32 states below ``min_8bit_size`` = 4096 values."""
    return 2.0 * n + 8.0 * math.ceil(n / 256.0) if n >= 4096.0 else 8.0 * n


def _adam8_split(shape: ModelShape, method: str, *, target_modules: Any, num_virtual_tokens: int,
                 adapter_reduction: int) -> tuple[float, list[tuple[int, int]]]:
    """8-bit AdamW state: ``(bytes of rank-independent tensors, [(d, count)] of LoRA tensors of r·d values)``."""
    h, layers = shape.hidden, shape.layers
    if method in ("full", "dpo", "distillation", "rlhf"):
        return sum(_adam8_tensor_bytes(n) for n in _full_tensor_sizes(shape)), []
    if method in ("lora", "dora", "qlora"):
        linears, special = _lora_targets(shape, target_modules)
        dims: dict[int, int] = {}
        fixed = 0.0
        for lin in linears:
            dims[lin.in_features] = dims.get(lin.in_features, 0) + layers
            dims[lin.out_features] = dims.get(lin.out_features, 0) + layers
            if method == "dora":
                fixed += layers * _adam8_tensor_bytes(lin.out_features)
        for _name in special:
            dims[shape.vocab] = dims.get(shape.vocab, 0) + 1
            dims[h] = dims.get(h, 0) + 1
        return fixed, sorted(dims.items())
    if method == "ia3":
        targets, feedforward = shape.ia3_targets()
        total = 0.0
        for t in targets:
            lin = shape.linear(t)
            if lin is not None:
                total += layers * _adam8_tensor_bytes(lin.in_features if t in feedforward else lin.out_features)
        return total, []
    if method in ("prefix", "prompt"):
        fixed, *_ = _split_trainable(shape, method, num_virtual_tokens=num_virtual_tokens)
        return _adam8_tensor_bytes(fixed), []
    m = max(1, h // adapter_reduction)
    return layers * sum(_adam8_tensor_bytes(n) for n in (h * m, m, m * h, h)), []


_A8_PAIRS = 6


def _has_kv_heads_key(shape: ModelShape) -> bool:
    return shape.family not in ("gpt2", "gpt_neox", "falcon")


def _adafactor_full(shape: ModelShape) -> int:
    total = 0
    for lin in shape.layer_linears:
        total += shape.layers * (lin.in_features + lin.out_features + (lin.out_features if lin.bias else 0))
    for _, n in shape.layer_other:
        total += shape.layers * n
    total += shape.vocab + shape.hidden + shape.final_norm_params
    if not shape.tied:
        total += shape.vocab + shape.hidden
    return total


def trainable_params(shape: ModelShape, method: str = "full", *, rank: int = 8, **kw: Any) -> int:
    """Trainable parameters of ``method`` on ``shape`` (equals PEFT's ``get_nb_trainable_parameters()``)."""
    method = _choice("method", method, METHODS, _METHOD_ALIASES)
    fixed, per_rank, *_ = _split_trainable(
        shape, method, target_modules=kw.get("target_modules"),
        num_virtual_tokens=kw.get("num_virtual_tokens", 20), adapter_reduction=kw.get("adapter_reduction", 16),
    )
    return fixed + rank * per_rank


def _quantized_bytes(shape: ModelShape, bits: int, quant_type: str, double_quant: bool) -> tuple[int, int, int]:
    """``(bytes of quantized weights incl. state, quantized param count, quant state bytes)`` (bitsandbytes).

    4-bit: two values per byte, one absmax per 64 values (fp32, or uint8 + fp32 per 256 absmax + an fp32
    offset with double quantization) and the 16-entry code of each layer; 8-bit (LLM.int8): one byte per
    value and an fp32 scale per output row.
    """
    del quant_type  # NF4 and FP4 store the same bytes
    packed = state = count = 0
    for lin in shape.layer_linears:
        n = lin.in_features * lin.out_features
        count += n * shape.layers
        if bits == 4:
            blocks = -(-n // 64)
            packed += shape.layers * (-(-n // 2))
            per = 16 * 4
            if double_quant:
                # uint8 absmax, fp32 absmax of those per 256, the 256-entry fp32 code, an fp32 offset
                per += blocks + 4 * -(-blocks // 256) + 1024 + 4
            else:
                per += 4 * blocks
            state += shape.layers * per
        else:
            packed += shape.layers * n
            state += shape.layers * 4 * lin.out_features
    return packed + state, count, state


# ------------------------------------------------------------------------------- activations
@functools.cache
def _activation_table() -> dict[str, Any]:
    return json.loads((pathlib.Path(__file__).with_name("activations.json")).read_text())


def _act_key(shape: ModelShape) -> str:
    if shape.family == "falcon" and shape.kv_heads not in (1, shape.heads):
        return "falcon40"
    if shape.family in ("mistral", "qwen2"):
        return "llama"
    if shape.family == "gpt2" and shape.extra.get("dropout", 0.0) > 0 and "gpt2_dropout" in _activation_table():
        return "gpt2_dropout"
    return shape.family


# Dropout tables hold the frozen base and the methods fitted with dropout; another method is derived from the
# table of the same family without dropout.
_DROPOUT_BASE = {"gpt2_dropout": "gpt2"}


def _activation_coefficients(shape: ModelShape, mode: str) -> list[float]:
    """Per layer and token: ``[sdpa2, eager2, eager2_per_s, sdpa4, eager4, eager4_per_s]``, the same
    for the part outside the layers (embeddings, final norm, head input), then ``[sdpa2_per_s, sdpa4_per_s]``
    (the math SDPA path, taken with attention dropout on CPU, keeps s² terms): 14 numbers."""
    tables = _activation_table()
    table = tables[_act_key(shape)]
    base = tables.get(_DROPOUT_BASE.get(_act_key(shape), ""), {})
    if f"bf16/sdpa/{mode}" not in table:
        if f"bf16/sdpa/{mode}" in base:
            # the method's saved tensors beyond the frozen base's do not depend on dropout: the dropout
            # table's frozen entry plus the method's difference in the table without dropout
            derived = dict(table)
            for dt in ("bf16", "fp32"):
                for attn in ("sdpa", "eager"):
                    key, frozen = f"{dt}/{attn}/{mode}", f"{dt}/{attn}/frozen"
                    derived[key] = {t: table[frozen][t] + c - base[frozen][t] for t, c in base[key].items()}
            table = derived
        else:
            mode = "frozen"
    out: list[float] = []
    sdpa_s: list[float] = []
    for dt in ("bf16", "fp32"):
        for attn in ("sdpa", "eager"):
            c = table[f"{dt}/{attn}/{mode}"]
            layer = c["a"] * shape.hidden + c["b"] * shape.intermediate + c["c"] * shape.num_kv_dim + c["e"]
            per_s = c["f"] * shape.heads
            if attn == "sdpa":
                out.append(layer)
                sdpa_s.append(per_s if per_s >= 0.1 else 0.0)
            else:
                out.extend([layer, per_s])
    outside: list[float] = []
    for dt in ("bf16", "fp32"):
        for attn in ("sdpa", "eager"):
            c = table[f"{dt}/{attn}/{mode}"]
            o = c["oa"] * shape.hidden + c["oe"]
            outside.extend([o] if attn == "sdpa" else [o, 0.0])
    return out + outside + sdpa_s


# Gradient temporaries of a layer's backward per token and intermediate feature, for families without a
# fitted ``bwd_temp``: the MLP backward holds the gradient of the down projection's input and the two gradients
# of the gate·up product (three I-wide tensors in the activation dtype) at once.
_DEFAULT_BWD_TEMP = {"bf16": 6.0, "fp32": 12.0, "amp": 6.0}


# Families without a fitted ``amp_full`` share the one of the same layer layout.
_AMP_FULL_LIKE = {"qwen3": "llama", "mixtral": "llama", "gemma2": "gemma", "falcon": "gpt_neox",
                  "falcon40": "gpt_neox", "gpt2": "gpt2_dropout"}


def _autocast_full_activations(shape: ModelShape) -> float:
    """Bytes per token and layer that autocast adds to the 16-bit table when every weight is trained: each
    linear casts its input to bf16 on its own (q, k, v and gate, up each save a copy where pure bf16 saves one
    shared input) and norm outputs stay fp32 (``amp_full`` of the table, per hidden unit, fitted by
    ``benches/fit_activations.py``)."""
    table = _activation_table()
    key = _act_key(shape)
    if "amp_full" not in table[key]:
        key = _AMP_FULL_LIKE.get(key, "llama")
    return table[key]["amp_full"] * shape.hidden


def _backward_temporaries(shape: ModelShape, mode: str) -> list[float]:
    """``[bf16, fp32, autocast]`` bytes per token of the gradient temporaries alive at the peak of one layer's
    backward, on top of that layer's saved activations: ``t × intermediate``, ``t`` from the family's
    ``bwd_temp`` table (``benches/fit_activations.py``) by activation dtype and trainable set."""
    fitted = _activation_table()[_act_key(shape)].get("bwd_temp", {})
    out = []
    for dt in ("bf16", "fp32", "amp"):
        t = fitted.get(f"{dt}/{mode}", fitted.get(f"{dt}/frozen", _DEFAULT_BWD_TEMP[dt]))
        out.append(t * shape.intermediate)
    return out


# --------------------------------------------------------------------------------- the plan
_PLAN_FIELDS = (
    "method_code", "num_params", "train_fixed", "train_per_rank", "train_tensors", "af_fixed", "af_per_rank",
    "largest_fixed", "largest_per_rank", "quant_bytes", "quant_params", "quant_state", "extra_frozen_params",
    "extra_trainable_params", "extra_trainable_tensors", "hidden", "layers", "vocab", "intermediate",
    "layer_params", "lora_targets", "lora_extra_act", "virtual_tokens", "buffers",
    "act_l_sdpa2", "act_l_eager2", "act_l_eager2_s", "act_l_sdpa4", "act_l_eager4", "act_l_eager4_s",
    "act_o_sdpa2", "act_o_eager2", "act_o_eager2_s", "act_o_sdpa4", "act_o_eager4", "act_o_eager4_s",
    "a8_fixed", "a8_d1", "a8_c1", "a8_d2", "a8_c2", "a8_d3", "a8_c3", "a8_d4", "a8_c4", "a8_d5", "a8_c5",
    "a8_d6", "a8_c6", "act_l_sdpa2_s", "act_l_sdpa4_s", "loss_tile_temp", "lora_in_features",
    "bwd_temp2", "bwd_temp4", "bwd_temp_amp", "amp_full_act", "prefix_kv_dim", "kv_dim",
    "layer_norm_inputs",
)
# method codes the Rust mirror switches on
_METHOD_CODE = {m: i for i, m in enumerate(METHODS)}


@dataclasses.dataclass(frozen=True)
class Plan:
    """Everything the arithmetic needs from the model(s) and method, as plain numbers (mirrored in Rust)."""

    method_code: int
    num_params: float
    train_fixed: float
    train_per_rank: float
    train_tensors: float
    af_fixed: float
    af_per_rank: float
    largest_fixed: float
    largest_per_rank: float
    quant_bytes: float
    quant_params: float
    quant_state: float
    extra_frozen_params: float
    extra_trainable_params: float
    extra_trainable_tensors: float
    hidden: float
    layers: float
    vocab: float
    intermediate: float
    layer_params: float
    lora_targets: float
    lora_extra_act: float
    virtual_tokens: float
    buffers: float
    act_l_sdpa2: float
    act_l_eager2: float
    act_l_eager2_s: float
    act_l_sdpa4: float
    act_l_eager4: float
    act_l_eager4_s: float
    act_o_sdpa2: float
    act_o_eager2: float
    act_o_eager2_s: float
    act_o_sdpa4: float
    act_o_eager4: float
    act_o_eager4_s: float
    a8_fixed: float = 0.0
    a8_d1: float = 0.0
    a8_c1: float = 0.0
    a8_d2: float = 0.0
    a8_c2: float = 0.0
    a8_d3: float = 0.0
    a8_c3: float = 0.0
    a8_d4: float = 0.0
    a8_c4: float = 0.0
    a8_d5: float = 0.0
    a8_c5: float = 0.0
    a8_d6: float = 0.0
    a8_c6: float = 0.0
    act_l_sdpa2_s: float = 0.0
    act_l_sdpa4_s: float = 0.0
    loss_tile_temp: float = 0.0
    lora_in_features: float = 0.0
    bwd_temp2: float = 0.0
    bwd_temp4: float = 0.0
    bwd_temp_amp: float = 0.0
    amp_full_act: float = 0.0
    prefix_kv_dim: float = 0.0
    kv_dim: float = 0.0
    layer_norm_inputs: float = 0.0

    def as_list(self) -> list[float]:
        return [float(getattr(self, f)) for f in _PLAN_FIELDS]


def make_plan(
    shape: ModelShape,
    method: str,
    *,
    target_modules: Any = None,
    bits: int = 4,
    quant_type: str = "nf4",
    double_quant: bool = True,
    num_virtual_tokens: int = 20,
    adapter_reduction: int = 16,
    dpo_policy: str = "full",
    teacher: ModelShape | None = None,
    reference: ModelShape | None = None,
    reward: ModelShape | None = None,
    value: ModelShape | None = None,
    lora_dropout: float = 0.0,
    loss_kernel: str = "torch",
) -> Plan:
    """Reduce ``shape`` and the method to the numbers :func:`evaluate_plan` (and Rust) work on.

    ``loss_kernel`` is ``triton`` or ``torch`` (resolve ``auto`` with :func:`resolve_loss_kernel` first).
    """
    lora_like = method in ("lora", "dora", "qlora") or (method == "dpo" and dpo_policy == "lora")
    split_method = "lora" if (method == "dpo" and dpo_policy == "lora") else method
    fixed, per_rank, tensors, af_fixed, af_rank = _split_trainable(
        shape, split_method, target_modules=target_modules, num_virtual_tokens=num_virtual_tokens,
        adapter_reduction=adapter_reduction,
    )
    largest_fixed = largest_rank = 0
    if split_method in ("full", "dpo", "distillation", "rlhf"):
        sizes = [lin.in_features * lin.out_features for lin in shape.layer_linears]
        sizes += [n for _, n in shape.layer_other] + [shape.embed_params]
        largest_fixed = max(sizes)
    elif lora_like:
        linears, special = _lora_targets(shape, target_modules)
        largest_rank = max([max(lin.in_features, lin.out_features) for lin in linears]
                           + [shape.vocab for _ in special] + [0])
    else:
        largest_fixed = fixed if split_method in ("prefix", "prompt") else max(shape.hidden, shape.intermediate)

    quant = (0, 0, 0)
    if method == "qlora":
        quant = _quantized_bytes(shape, bits, quant_type, double_quant)

    extra_frozen = extra_train = extra_tensors = 0
    if method == "dpo" and dpo_policy == "full":
        extra_frozen += (reference or shape).num_params
    if method == "distillation":
        extra_frozen += (teacher or shape).num_params
    if method == "rlhf":
        extra_frozen += (reference or shape).num_params + (reward or shape).num_params
        v = value or reward or shape
        extra_train += v.num_params
        extra_tensors += v.num_param_tensors

    if method in ("full", "dpo", "distillation", "rlhf") and not lora_like:
        mode = "full"
    elif lora_like:
        mode = "lora"
    elif method == "ia3":
        mode = "ia3"
    else:
        mode = "frozen"
    coeffs = _activation_coefficients(shape, mode)

    temps = _backward_temporaries(shape, mode)
    n_targets = extra_act = lora_in = 0.0
    if lora_like:
        linears, _special = _lora_targets(shape, target_modules)
        n_targets = float(len(linears))
        lora_in = float(sum(lin.in_features for lin in linears))
        cal = {lin.path for lin in shape.match_targets(list(_CAL_TARGETS.get(shape.family, _CAL_TARGETS["llama"])))}
        # Targets beyond the calibrated attention set keep an fp32 copy of their input (bf16 only: the
        # ``x.to(lora_A.dtype)`` cast) and, for the MLP's down projection, the input itself.
        for lin in linears:
            if lin.path not in cal:
                extra_act += lin.in_features
        for path in cal - {lin.path for lin in linears}:
            lin = shape.linear(path)
            if lin is not None:
                extra_act -= lin.in_features
        if lora_dropout > 0:
            extra_act += sum(lin.in_features for lin in linears)
        # calibrated with rank 8: the rank-proportional part is added per job
        coeffs[0] -= 8 * 4 * len(_CAL_TARGETS.get(shape.family, _CAL_TARGETS["llama"]))
        coeffs[1] -= 8 * 4 * len(_CAL_TARGETS.get(shape.family, _CAL_TARGETS["llama"]))
        coeffs[3] -= 8 * 4 * len(_CAL_TARGETS.get(shape.family, _CAL_TARGETS["llama"]))
        coeffs[4] -= 8 * 4 * len(_CAL_TARGETS.get(shape.family, _CAL_TARGETS["llama"]))

    qkv_extra = _fused_qkv_value_extra(shape) if method in ("prompt", "adapter") else 0
    if qkv_extra:
        # The frozen table counts the values SDPA saves as their own kv-wide tensor (prefix tuning concatenates
        # them with the cached prefix); otherwise they stay a slice of the fused q/k/v projection's output,
        # whose whole storage is then kept alive (the rotated queries and keys are new tensors).
        for i, dt_bytes in ((0, 2.0), (1, 2.0), (3, 4.0), (4, 4.0)):
            coeffs[i] += dt_bytes * qkv_extra
    if method == "adapter":
        # Nothing before the first adapter (after layer 0's MLP) needs a gradient, so layer 0 keeps no
        # activations; each adapter keeps its input (h) and the bottleneck before and after the activation (2m).
        m_width = max(1, shape.hidden // adapter_reduction)
        kept = (shape.layers - 1) / shape.layers
        for i, bytes_per in ((0, 2.0), (1, 2.0), (3, 4.0), (4, 4.0)):
            coeffs[i] = coeffs[i] * kept + bytes_per * (shape.hidden + 2 * m_width)
        coeffs[2] *= kept
        coeffs[5] *= kept
        coeffs[12] *= kept
        coeffs[13] *= kept
    if method == "dora":
        # DoRA keeps the base and LoRA outputs (fp32) of every adapted layer for the magnitude scaling
        dora_out = 8.0 * sum(lin.out_features for lin in _lora_targets(shape, target_modules)[0])
        for i in (0, 1, 3, 4):
            coeffs[i] += dora_out
    if method == "qlora":
        # bitsandbytes layers cast their fp32 input to the compute dtype and keep it (and, for LLM.int8,
        # its int8 copy and row scales) for backward: bytes per token per input feature of every quantized
        # linear, fitted to steady-state real CPU steps (the first QLoRA step of a process also holds
        # bitsandbytes' one-time tables).
        per_in = 0.1 if bits == 4 else 1.89
        extra = per_in * sum(lin.in_features for lin in shape.layer_linears)
        coeffs[3] += extra
        coeffs[4] += extra

    a8_fixed, a8_dims = _adam8_split(shape, split_method, target_modules=target_modules,
                                     num_virtual_tokens=num_virtual_tokens, adapter_reduction=adapter_reduction)
    if method == "rlhf":
        a8_fixed += sum(_adam8_tensor_bytes(n) for n in _full_tensor_sizes(value or reward or shape))
    a8_fixed += 2048.0  # the two 256-entry fp32 quantization maps of the optimizer
    if len(a8_dims) > _A8_PAIRS:
        raise ArgumentError(f"target_modules: more than {_A8_PAIRS} distinct adapter widths are not supported")
    a8_pairs: list[float] = []
    for d, c in a8_dims + [(0, 0)] * (_A8_PAIRS - len(a8_dims)):
        a8_pairs += [float(d), float(c)]

    buffers = shape.head_dim * 4 if shape.family not in ("gpt2",) else 0
    return Plan(
        _METHOD_CODE[method], float(shape.num_params), float(fixed), float(per_rank), float(tensors),
        float(af_fixed), float(af_rank), float(largest_fixed), float(largest_rank), float(quant[0]),
        float(quant[1]), float(quant[2]), float(extra_frozen), float(extra_train), float(extra_tensors),
        float(shape.hidden), float(shape.layers), float(shape.vocab), float(shape.intermediate),
        float(shape.layer_params), n_targets, float(extra_act), float(num_virtual_tokens if method in (
            "prefix", "prompt") else 0), float(buffers), *[float(c) for c in coeffs[:12]], float(a8_fixed), *a8_pairs,
        float(coeffs[12]), float(coeffs[13]),
        TORCH_TILE_TEMP_BYTES if (method == "dpo" and loss_kernel == "torch") else 0.0,
        lora_in, *temps, _autocast_full_activations(shape), float(_prefix_kv_dim(shape)),
        float(shape.num_kv_dim), float(_layer_norm_inputs(shape)),
    )


def _layer_norm_inputs(shape: ModelShape) -> int:
    """Distinct inputs of the LayerNorms of one layer (one with a parallel attention/MLP block); 0 for RMSNorm,
    whose 16-bit table already holds its fp32 upcast input."""
    if shape.norm != "layer":
        return 0
    return 1 if shape.parallel_attn else len(shape.layer_other)


# Families whose attention slices values out of one fused q/k/v projection and applies rotary embeddings
# to the queries and keys only (GPT-2 has no rotary: its table already holds the whole fused output).
_FUSED_QKV_ROTARY = {"gpt_neox": "attention.query_key_value", "phi3": "self_attn.qkv_proj"}


def _fused_qkv_value_extra(shape: ModelShape) -> int:
    """Features per token and layer by which the fused q/k/v output, kept alive as the storage of the saved
    values, exceeds the values themselves; 0 for families without a fused rotary projection."""
    path = _FUSED_QKV_ROTARY.get(shape.family)
    lin = shape.linear(path) if path else None
    if lin is None:
        return 0
    return lin.out_features - shape.num_kv_dim


def _prefix_kv_dim(shape: ModelShape) -> int:
    """Features per position of the keys (and values) SDPA saves when a mask forbids its GQA path: repeat_kv
    copies them to every query head, except from a single key/value head, where the repeat is a view."""
    return shape.num_kv_dim if shape.kv_heads == 1 else shape.heads * shape.head_dim


_CAL_TARGETS: dict[str, tuple[str, ...]] = {
    "llama": ("q_proj", "k_proj", "v_proj", "o_proj"),
    "phi3": ("qkv_proj", "o_proj"),
    "gpt2": ("c_attn", "attn.c_proj"),
    "gpt_neox": ("query_key_value", "attention.dense"),
    "falcon": ("query_key_value", "self_attention.dense"),
}


@dataclasses.dataclass(frozen=True)
class Job:
    """The per-row knobs of a sweep (codes index the tuples above)."""

    batch_size: int = 1
    seq_len: int = 512
    rank: int = 8
    checkpointing: int = 0
    attention: int = 0
    precision: int = 1
    optimizer: int = 0
    adamw_impl: int = 0
    num_devices: int = 1
    sharding: int = 0
    grad_accum: int = 1


_OUT_FIELDS = (
    "weights_bytes", "trainable_params", "trainable_bytes", "gradients_bytes", "optimizer_bytes",
    "activations_bytes", "logits_bytes", "temporary_bytes", "inputs_bytes", "forward_bytes", "backward_bytes",
    "optimizer_step_bytes", "peak_bytes", "peak_phase",
)


def evaluate_plan(p: Plan, j: Job) -> dict[str, float]:
    """The estimator's arithmetic for one row. Every operation here is mirrored, in the same order and
    in f64, by ``rust/tunesmith-core/src/estimate/memory.rs``."""
    m = p.method_code
    full_like = m in (0, 8, 9, 10) and p.train_per_rank == 0.0 and p.lora_targets == 0.0
    qlora = m == 3
    prec = j.precision
    wdt = 4.0 if prec in (0, 3, 4) else 2.0
    adt = 4.0 if prec == 0 or qlora else 2.0
    b = float(j.batch_size)
    s = float(j.seq_len)
    rank = float(j.rank)
    rows = 2.0 * b if m == 8 else b
    tokens = rows * (s + p.virtual_tokens if m == 6 else s)
    n_dev = float(j.num_devices)

    train = p.train_fixed + rank * p.train_per_rank
    tdt = wdt if full_like or m == 7 else 4.0
    trainable_b = train * tdt + p.extra_trainable_params * wdt
    base_params = p.num_params - p.quant_params
    if full_like:
        weights = p.num_params * wdt
    elif qlora:
        weights = p.quant_bytes + base_params * 4.0 + train * 4.0
    else:
        weights = p.num_params * wdt + train * tdt
    weights = weights + p.extra_frozen_params * wdt + p.extra_trainable_params * wdt
    grads = trainable_b
    tensors = p.train_tensors + p.extra_trainable_tensors
    all_train = train + p.extra_trainable_params
    opt = j.optimizer
    if opt in (0, 2):
        opt_b = 2.0 * trainable_b + 4.0 * tensors
    elif opt in (1, 5):
        opt_b = p.a8_fixed
        for d, c in ((p.a8_d1, p.a8_c1), (p.a8_d2, p.a8_c2), (p.a8_d3, p.a8_c3), (p.a8_d4, p.a8_c4),
                     (p.a8_d5, p.a8_c5), (p.a8_d6, p.a8_c6)):
            opt_b = opt_b + c * _adam8_tensor_bytes(rank * d)
    elif opt == 3:
        opt_b = 0.0
    else:
        opt_b = (p.af_fixed + rank * p.af_per_rank) * tdt + 4.0 * tensors
    largest = (p.largest_fixed + rank * p.largest_per_rank) * tdt
    if opt == 0 and j.adamw_impl == 0:
        step_temp = trainable_b
    elif opt == 0 and j.adamw_impl == 1:
        step_temp = 2.0 * largest
    elif opt == 4:
        step_temp = 2.0 * largest
    else:
        step_temp = 0.0

    shard = j.sharding
    if shard in (3, 4) and n_dev > 1.0:
        gathered = 2.0 * p.layer_params * wdt
        weights = weights / n_dev + gathered
        grads = grads / n_dev
        opt_b = opt_b / n_dev
        step_temp = step_temp / n_dev
    elif shard == 2 and n_dev > 1.0:
        grads = grads / n_dev
        opt_b = opt_b / n_dev
        step_temp = step_temp / n_dev
    elif shard == 1 and n_dev > 1.0:
        grads = grads * 2.0

    eager = j.attention == 1
    if adt == 2.0:
        layer = p.act_l_eager2 + p.act_l_eager2_s * s if eager else p.act_l_sdpa2 + p.act_l_sdpa2_s * s
        outside = p.act_o_eager2 if eager else p.act_o_sdpa2
    else:
        layer = p.act_l_eager4 + p.act_l_eager4_s * s if eager else p.act_l_sdpa4 + p.act_l_sdpa4_s * s
        outside = p.act_o_eager4 if eager else p.act_o_sdpa4
    amp = prec in (3, 4)
    if amp and full_like:
        # autocast's own bf16 input cast per linear and its fp32 norm outputs, saved for the weight gradients
        layer = layer + p.amp_full_act
    layer = layer + p.lora_targets * 4.0 * rank + p.lora_extra_act * (4.0 if adt == 2.0 else 0.0)
    if amp and p.lora_targets > 0.0:
        # The 16-bit table keeps PEFT's fp32 casts of each adapter's input (4 B per input feature) and of its
        # rank-wide lora_B input; under autocast lora_A and lora_B read bf16 casts instead (2 B each).
        layer = layer - 2.0 * (p.lora_in_features + rank * p.lora_targets)
    if amp and not full_like:
        # autocast runs LayerNorm in fp32 on the fp32 residual stream and saves that input (4 B where the 16-bit
        # table has 2 B); with every weight trained ``amp_full_act`` holds it
        layer = layer + 2.0 * p.layer_norm_inputs * p.hidden
    if m == 5:
        # Prefix tuning: with the cached prefix transformers builds a [b, 1, s, s + v] mask, which SDPA saves
        # in every layer (eager only adds it), and keys/values span s + v positions, repeated to every query
        # head (no GQA with a mask), where the table counts s positions of the key/value heads.
        if not eager:
            layer = layer + (s + p.virtual_tokens) * adt
        layer = layer + 2.0 * adt * ((s + p.virtual_tokens) * p.prefix_kv_dim / s - p.kv_dim)
    per_layer = layer * tokens
    # the residual stream is fp32 under autocast: each checkpointed layer keeps its input at 4 B
    resid_dt = 4.0 if amp else adt
    if j.checkpointing == 1:
        acts = p.layers * p.hidden * resid_dt * tokens + outside * tokens
        work = per_layer
    else:
        acts = p.layers * per_layer + outside * tokens
        work = 0.0
    if adt == 2.0:
        layer_temp = (p.bwd_temp_amp if amp else p.bwd_temp2) * tokens
    else:
        layer_temp = p.bwd_temp4 * tokens
    if amp:
        # Autocast casts each fp32 matmul weight to bf16 (per call when frozen, once per forward when trained) and
        # the matmul saves the copy for backward: 2 B per parameter of the layers and the LM head (measured);
        # checkpointing holds one layer's at a time.
        if j.checkpointing == 1:
            acts = acts + 2.0 * p.vocab * p.hidden
            work = work + 2.0 * p.layer_params
        else:
            acts = acts + 2.0 * (p.layers * p.layer_params + p.vocab * p.hidden)
    logits_held = 4.0 * tokens * p.vocab
    logits_fwd = logits_held + tokens * p.vocab * (adt + (4.0 if adt == 2.0 else 0.0))
    logits_bwd = logits_held + 8.0 * tokens * p.vocab
    if m == 10:
        # distillation: teacher logits, both temperature-scaled log-softmaxes and the KL's terms exist
        # together at the end of forward; backward starts from four fp32 copies
        logits_held = 3.0 * logits_held
        logits_fwd = 11.0 * 4.0 * tokens * p.vocab
        logits_bwd = 4.0 * 4.0 * tokens * p.vocab
    if m == 8:
        # TRL's DPOTrainer computes log-probs through a fused LM head: no b·s·V logits, but one
        # [min(N, 4096), 32768] projection tile in the activation dtype during forward and again during
        # backward, for the N = rows·(s−1) predicted tokens (trl/kernels/chunked_logprob.py).
        # Without Triton, each tile's fold runs as whole-tile torch ops whose fp32 temporaries peak in backward.
        n_tile = min(rows * (s - 1.0), 4096.0)
        tile = n_tile * 32768.0 * adt
        logits_held = 0.0
        logits_fwd = tile
        logits_bwd = tile + p.loss_tile_temp * n_tile * min(p.vocab, 32768.0)
    inputs = 24.0 * rows * s

    resident = weights + opt_b + inputs + p.buffers
    if j.grad_accum > 1:
        resident = resident + grads
    fwd = resident + acts + logits_fwd - logits_held
    # Measured: with every weight trained the log-softmax is gone when the first checkpointed layer is
    # recomputed; with a frozen base it is still alive then.
    recompute = work if full_like else work + logits_held
    # A layer's own backward (the last one, or the recomputed one under checkpointing) holds its saved
    # activations and its gradient temporaries; the log-softmax is gone by then.
    layer_bwd = work + layer_temp
    bwd = resident + acts + max(logits_bwd, recompute, layer_bwd)
    step = weights + opt_b + inputs + p.buffers + grads + step_temp
    peak = max(fwd, bwd, step)
    if peak == step and step >= bwd and step >= fwd:
        phase = 2.0
        at_acts, at_logits, at_temp = 0.0, 0.0, step_temp
    elif bwd >= fwd:
        phase = 1.0
        if layer_bwd > logits_bwd and layer_bwd >= recompute:
            at_acts, at_logits, at_temp = acts + work, 0.0, layer_temp
        elif recompute > logits_bwd:
            at_acts, at_logits, at_temp = acts + work, recompute - work, 0.0
        else:
            at_acts, at_logits, at_temp = acts, logits_bwd, 0.0
    else:
        phase = 0.0
        at_acts, at_logits, at_temp = acts, logits_fwd - logits_held, 0.0
    return {
        "weights_bytes": weights,
        "trainable_params": all_train,
        "trainable_bytes": trainable_b,
        "gradients_bytes": grads,
        "optimizer_bytes": opt_b,
        "activations_bytes": at_acts,
        "logits_bytes": at_logits,
        "temporary_bytes": at_temp,
        "inputs_bytes": inputs,
        "forward_bytes": fwd,
        "backward_bytes": bwd,
        "optimizer_step_bytes": step,
        "peak_bytes": peak,
        "peak_phase": phase,
    }


# ------------------------------------------------------------------------------ the result
def _fmt(n: float) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= size:
            return f"{n / size:,.2f} {unit}"
    return f"{n:,.0f} B"


@dataclasses.dataclass(frozen=True)
class MemoryBreakdown:
    """Bytes per component of one training step, per device, and where the peak is.

    ``total_bytes`` = ``peak_bytes`` (tensor bytes at the peak phase, the maximum over phases) +
    ``overhead_bytes`` (CUDA context, library workspaces and allocator slack of ``device``; 0 without one).
    The component fields give each component's size; ``activations_bytes``, ``logits_bytes`` and
    ``temporary_bytes`` are their values *at the peak*, so the components of the peak phase add up to
    ``peak_bytes``.
    """

    model: str
    method: str
    precision: str
    optimizer: str
    batch_size: int
    seq_len: int
    gradient_checkpointing: bool
    num_devices: int
    sharding: str
    total_params: int
    trainable_params: int
    weights_bytes: int
    quant_state_bytes: int
    trainable_bytes: int
    gradients_bytes: int
    optimizer_bytes: int
    activations_bytes: int
    logits_bytes: int
    temporary_bytes: int
    inputs_bytes: int
    overhead_bytes: int
    peak_bytes: int
    total_bytes: int
    peak_phase: str
    phase_bytes: Mapping[str, int]
    device: str | None = None

    @property
    def total_gib(self) -> float:
        return self.total_bytes / 2**30

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self) | {"phase_bytes": dict(self.phase_bytes)}

    def fits(self, device: Any, *, headroom: float = 0.0) -> bool:
        """Whether this job fits ``device`` (a catalog name or :class:`~tunesmith.estimate.hardware.Device`)."""
        from tunesmith.estimate.hardware import get_device

        return self.total_bytes <= get_device(device).memory_bytes * (1.0 - headroom)

    def __str__(self) -> str:
        head = (
            f"{self.model}: {self.method}, {self.precision}, {self.optimizer}, batch {self.batch_size} × "
            f"seq {self.seq_len}{', checkpointing' if self.gradient_checkpointing else ''}"
            + (f", {self.num_devices} devices ({self.sharding})" if self.num_devices > 1 else "")
        )
        rows = [
            ("weights", self.weights_bytes, f"{self.total_params:,} params"
             + (f", quant state {_fmt(self.quant_state_bytes)}" if self.quant_state_bytes else "")),
            ("trainable", self.trainable_bytes, f"{self.trainable_params:,} params "
             f"({100 * self.trainable_params / max(self.total_params, 1):.3g}%)"),
            ("gradients", self.gradients_bytes, ""),
            ("optimizer state", self.optimizer_bytes, self.optimizer),
            ("activations", self.activations_bytes, f"at the {self.peak_phase} peak"),
            ("logits (fp32)", self.logits_bytes, f"at the {self.peak_phase} peak"),
            ("temporaries", self.temporary_bytes, f"at the {self.peak_phase} peak"),
            ("inputs", self.inputs_bytes, ""),
            ("device overhead", self.overhead_bytes, self.device or "no device given"),
        ]
        lines = [head]
        lines += [f"  {name:<17}{_fmt(v):>14}  {note}".rstrip() for name, v, note in rows]
        phases = ", ".join(f"{k} {_fmt(v)}" for k, v in self.phase_bytes.items())
        lines.append(f"  {'peak (tensors)':<17}{_fmt(self.peak_bytes):>14}  in {self.peak_phase} ({phases})")
        lines.append(f"  {'total':<17}{_fmt(self.total_bytes):>14}  = peak + overhead")
        return "\n".join(lines)


# ---------------------------------------------------------------------------- entry point
def resolve_model(model: Any, argument: str = "model") -> ModelShape:
    """A :class:`ModelShape` from a shape, a config dict, a ``config.json`` path or a catalog name."""
    if isinstance(model, ModelShape):
        return model
    if isinstance(model, Mapping):
        return ModelShape.from_config(dict(model))
    if isinstance(model, (str, pathlib.Path)):
        from tunesmith.estimate.catalog import catalog_names, load_shape

        path = pathlib.Path(model)
        if isinstance(model, str) and not path.exists():
            try:
                return load_shape(model)
            except KeyError:
                raise ArgumentError(
                    f"{argument}={model!r} is neither a config.json path nor a catalog name; catalog: "
                    + ", ".join(catalog_names())
                ) from None
        return ModelShape.from_config(path)
    if hasattr(model, "to_dict"):
        return ModelShape.from_config(model.to_dict())
    raise ArgumentError(f"{argument}: expected a config dict, a config.json path or a catalog name, got {type(model).__name__}")


def normalize_args(
    *,
    method: str = "full",
    precision: str = "bf16",
    optimizer: str = "adamw",
    attn_implementation: str = "sdpa",
    sharding: str = "none",
    adamw_impl: str = "foreach",
) -> tuple[str, str, str, str, str, str]:
    return (
        _choice("method", method, METHODS, _METHOD_ALIASES),
        _choice("precision", precision, PRECISIONS, _PRECISION_ALIASES),
        _choice("optimizer", optimizer, OPTIMIZERS, _OPTIMIZER_ALIASES),
        _choice("attn_implementation", attn_implementation, ATTENTION,
                {"flash_attention_2": "flash", "flash_attention_3": "flash", "flash-attn": "flash"}),
        _choice("sharding", sharding, SHARDING, {"deepspeed_zero2": "zero2", "deepspeed_zero3": "zero3",
                                                  "fsdp2": "fsdp", "zero-2": "zero2", "zero-3": "zero3"}),
        _choice("adamw_impl", adamw_impl, ADAMW_IMPLS),
    )


def resolve_loss_kernel(loss_kernel: str, device: Any) -> str:
    """``triton`` or ``torch``: how TRL's fused LM head will fold its tiles for ``device``.

    ``auto`` is ``triton`` on NVIDIA and AMD GPUs (Triton's targets; TRL uses it on ``cuda`` devices, which ROCm
    builds of torch also are) and ``torch`` for CPUs, TPUs, Gaudi and for no device at all, where the whole-tile
    torch fallback runs. Only DPO's estimate depends on it.
    """
    choice = _choice("loss_kernel", loss_kernel, LOSS_KERNELS)
    if choice != "auto":
        return choice
    if device is None:
        return "torch"
    from tunesmith.estimate.hardware import get_device

    return "triton" if get_device(device).vendor in ("nvidia", "amd") else "torch"


def estimate(
    model: Any,
    *,
    method: str = "full",
    rank: int = 8,
    lora_alpha: float | None = None,
    alpha: float | None = None,
    lora_dropout: float = 0.0,
    target_modules: str | Sequence[str] | None = None,
    bits: int = 4,
    quant_type: str = "nf4",
    double_quant: bool = True,
    num_virtual_tokens: int = 20,
    adapter_reduction: int = 16,
    precision: str = "bf16",
    optimizer: str = "adamw",
    adamw_impl: str = "foreach",
    batch_size: int = 1,
    seq_len: int = 512,
    grad_accum: int = 1,
    gradient_checkpointing: bool = False,
    attn_implementation: str = "sdpa",
    num_devices: int = 1,
    sharding: str = "none",
    dpo_policy: str = "full",
    teacher: Any = None,
    reference: Any = None,
    reward: Any = None,
    value: Any = None,
    device: Any = None,
    loss_kernel: str = "auto",
) -> MemoryBreakdown:
    """Estimate the memory of one training step, per device.

    Args:
        model: a catalog name (``"llama-3-8b"``), a ``config.json`` path or a config dict.
        method: one of :data:`METHODS` (``distill`` is accepted for ``distillation``).
        rank, lora_alpha, lora_dropout, target_modules: LoRA/DoRA/QLoRA adapters (targets default to the
            attention projections; ``"all-linear"``, ``embed_tokens`` and ``lm_head`` work).
        bits, quant_type, double_quant: QLoRA's base quantization (4 or 8 bits; ``nf4``/``fp4``).
        num_virtual_tokens: prefix/prompt tuning length. adapter_reduction: bottleneck size ``h // r``.
        precision: ``fp32``; ``bf16``/``fp16`` (pure 16-bit weights, gradients and state);
            ``bf16-mixed``/``fp16-mixed`` (fp32 master weights, autocast; ``amp_bf16`` works too).
            For QLoRA it is the compute dtype.
        optimizer: ``adamw``, ``adamw8bit``, ``paged_adamw``, ``paged_adamw8bit``, ``sgd``, ``adafactor``;
            ``adamw_impl``: torch's ``foreach`` (default), ``forloop`` or ``fused``.
        batch_size, seq_len, grad_accum: micro-batch rows, tokens per row, accumulation steps.
        gradient_checkpointing, attn_implementation: ``sdpa``/``flash`` (no s² term) or ``eager``.
        num_devices, sharding: data parallel layout (``ddp``, ``zero2``, ``zero3``/``fsdp``).
        dpo_policy: ``full`` (frozen reference copy) or ``lora`` (reference = adapters disabled).
        teacher, reference, reward, value: other models of distillation / DPO / RLHF (default: ``model``).
        device: a catalog device name or :class:`~tunesmith.estimate.hardware.Device`; adds its overhead.
        loss_kernel: ``auto``, ``triton`` or ``torch``: how TRL's fused DPO log-prob head runs. The torch fallback
            (CPU, TPU, Gaudi; ``auto`` without a device) holds about 29 bytes of fp32 temporaries per element
            of its ``[min(N, 4096), min(V, 32768)]`` tile in backward; Triton (NVIDIA/AMD GPUs) holds none.

    Raises:
        ArgumentError: an argument outside its domain (the message names it and the valid choices).
        UnsupportedError: a combination the libraries refuse (the message says why).

    Example:
        >>> e = estimate("gpt2", method="lora", rank=8, batch_size=4, seq_len=512)
        >>> e.peak_phase
        'backward'
    """
    method, precision, optimizer, attn, sharding, adamw_impl = normalize_args(
        method=method, precision=precision, optimizer=optimizer, attn_implementation=attn_implementation,
        sharding=sharding, adamw_impl=adamw_impl,
    )
    for name, value_ in (("batch_size", batch_size), ("seq_len", seq_len), ("grad_accum", grad_accum),
                         ("num_devices", num_devices), ("num_virtual_tokens", num_virtual_tokens),
                         ("adapter_reduction", adapter_reduction)):
        _positive_int(name, value_)
    uses_rank = method in ("lora", "dora", "qlora") or (method == "dpo" and dpo_policy == "lora")
    if uses_rank:
        _positive_int("rank", rank)
    elif isinstance(rank, bool) or not isinstance(rank, int) or rank < 0:
        raise ArgumentError(f"rank={rank!r} must be a positive integer")
    if dpo_policy not in ("full", "lora"):
        raise ArgumentError(f"dpo_policy={dpo_policy!r} is not valid; valid choices: full, lora")
    if method == "qlora":
        if bits not in (4, 8):
            raise ArgumentError(f"bits={bits!r} is not valid for qlora; valid choices: 4, 8")
        if quant_type not in ("nf4", "fp4"):
            raise ArgumentError(f"quant_type={quant_type!r} is not valid; valid choices: nf4, fp4")
        if precision not in ("fp32", "bf16", "fp16"):
            raise UnsupportedError(
                f"precision={precision!r} with qlora: the 4/8-bit base has no fp32 master copy; "
                "the precision is the compute dtype (fp32, bf16 or fp16)"
            )
    if method == "prefix" and gradient_checkpointing:
        raise UnsupportedError(
            "method='prefix' with gradient_checkpointing=True: PEFT refuses it "
            "(\"PREFIX_TUNING does not work with gradient checkpointing.\")"
        )
    if num_devices == 1 and sharding not in ("none", "ddp"):
        sharding_eff = "none"
    else:
        sharding_eff = sharding
    del lora_alpha, alpha  # scaling only: no memory effect

    kernel = resolve_loss_kernel(loss_kernel, device)
    shape = resolve_model(model)
    others = {k: (resolve_model(v, k) if v is not None else None)
              for k, v in (("teacher", teacher), ("reference", reference), ("reward", reward), ("value", value))}
    plan = make_plan(
        shape, method, target_modules=target_modules, bits=bits, quant_type=quant_type, double_quant=double_quant,
        num_virtual_tokens=num_virtual_tokens, adapter_reduction=adapter_reduction, dpo_policy=dpo_policy,
        lora_dropout=lora_dropout, loss_kernel=kernel, **others,
    )
    job = Job(
        batch_size=batch_size, seq_len=seq_len, rank=rank if uses_rank else 0,
        checkpointing=int(bool(gradient_checkpointing)), attention=1 if attn == "eager" else 0,
        precision=PRECISIONS.index(precision), optimizer=OPTIMIZERS.index(optimizer),
        adamw_impl=ADAMW_IMPLS.index(adamw_impl), num_devices=num_devices,
        sharding={"none": 0, "ddp": 1, "zero2": 2, "zero3": 3, "fsdp": 4}[sharding_eff], grad_accum=grad_accum,
    )
    r = evaluate_plan(plan, job)
    overhead = 0
    device_name = None
    if device is not None:
        from tunesmith.estimate.hardware import get_device

        dev = get_device(device)
        overhead = dev.overhead_bytes
        device_name = dev.name
    peak = int(round(r["peak_bytes"]))
    phase = PHASES[int(r["peak_phase"])]
    return MemoryBreakdown(
        model=shape.name or shape.family, method=method, precision=precision, optimizer=optimizer,
        batch_size=batch_size, seq_len=seq_len, gradient_checkpointing=bool(gradient_checkpointing),
        num_devices=num_devices, sharding=sharding, total_params=shape.num_params,
        trainable_params=int(r["trainable_params"]), weights_bytes=int(round(r["weights_bytes"])),
        quant_state_bytes=int(plan.quant_state), trainable_bytes=int(round(r["trainable_bytes"])),
        gradients_bytes=int(round(r["gradients_bytes"])), optimizer_bytes=int(round(r["optimizer_bytes"])),
        activations_bytes=int(round(r["activations_bytes"])), logits_bytes=int(round(r["logits_bytes"])),
        temporary_bytes=int(round(r["temporary_bytes"])), inputs_bytes=int(round(r["inputs_bytes"])),
        overhead_bytes=overhead, peak_bytes=peak, total_bytes=peak + overhead, peak_phase=phase,
        phase_bytes={"forward": int(round(r["forward_bytes"])), "backward": int(round(r["backward_bytes"])),
                     "optimizer": int(round(r["optimizer_step_bytes"]))},
        device=device_name,
    )
