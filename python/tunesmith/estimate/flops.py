"""Training FLOPs and time: per token, per step, per dataset, at a stated model-FLOPs utilization.

Per token, forward = 2 × (matmul parameters touched) + 4·L·heads·head_dim·s (QKᵀ and AV, PaLM's
convention, Appendix B); backward = 2 × forward when every weight is trained. With a frozen base
(LoRA, QLoRA, IA3, prefix, prompt) the weight gradients of the frozen matrices are skipped, so the
backward is one forward plus the attention term and the adapters; gradient checkpointing recomputes
one forward. Step time = FLOPs / (devices × peak bf16 FLOP/s × MFU).

Example:
    >>> f = flops_per_token("llama-2-7b", seq_len=2048)
    >>> round(f.total / 1e9, 1)
    42.9
"""

from __future__ import annotations

import dataclasses
from typing import Any

from tunesmith.errors import ArgumentError
from tunesmith.estimate.hardware import get_device
from tunesmith.estimate.memory import METHODS, _METHOD_ALIASES, _choice, resolve_model, trainable_params

__all__ = ["FlopsPerToken", "TimeEstimate", "flops_per_token", "training_time"]

_FROZEN_BASE = ("lora", "dora", "qlora", "ia3", "prefix", "prompt", "adapter")


@dataclasses.dataclass(frozen=True)
class FlopsPerToken:
    forward: float
    backward: float
    recompute: float
    attention: float

    @property
    def total(self) -> float:
        return self.forward + self.backward + self.recompute


@dataclasses.dataclass(frozen=True)
class TimeEstimate:
    flops_per_token: FlopsPerToken
    tokens_per_step: int
    step_seconds: float
    tokens_per_second: float
    hours: float
    cost_usd: float
    device: str
    num_devices: int
    mfu: float

    def __str__(self) -> str:
        return (f"{self.flops_per_token.total / 1e9:,.1f} GFLOP/token; step {self.step_seconds:,.3f} s "
                f"({self.tokens_per_step:,} tokens), {self.tokens_per_second:,.0f} tokens/s on "
                f"{self.num_devices}× {self.device} at MFU {self.mfu:.0%}; {self.hours:,.2f} h, "
                f"${self.cost_usd:,.2f}")


def flops_per_token(
    model: Any, *, method: str = "full", seq_len: int = 512, gradient_checkpointing: bool = False,
    rank: int = 8, target_modules: Any = None, **_: Any,
) -> FlopsPerToken:
    """Training FLOPs per token of ``model`` (catalog name, config path or dict) for ``method``."""
    method = _choice("method", method, METHODS, _METHOD_ALIASES)
    if isinstance(seq_len, bool) or not isinstance(seq_len, int) or seq_len < 1:
        raise ArgumentError(f"seq_len={seq_len!r} must be a positive integer")
    shape = resolve_model(model)
    matmul = shape.active_params() - shape.embed_params - shape.final_norm_params
    matmul -= shape.layers * sum(n for path, n in shape.layer_other if "norm" in path or path.startswith("ln"))
    if shape.tied:
        matmul += shape.vocab * shape.hidden
    attention = 4.0 * shape.layers * shape.heads * shape.head_dim * seq_len
    forward = 2.0 * matmul + attention
    if method in _FROZEN_BASE:
        adapters = 2.0 * trainable_params(shape, method, rank=rank, target_modules=target_modules) \
            if method in ("lora", "dora", "qlora") else 0.0
        forward += adapters
        backward = forward + attention + 2.0 * adapters
    else:
        backward = 2.0 * forward
    if method in ("dpo", "rlhf", "distillation"):
        # frozen reference / teacher forward per token
        forward += 2.0 * matmul + attention
    recompute = (2.0 * matmul + attention) if gradient_checkpointing else 0.0
    return FlopsPerToken(forward=forward, backward=backward, recompute=recompute, attention=attention)


def training_time(
    model: Any, *, device: Any = "H100", num_devices: int = 1, mfu: float = 0.4, batch_size: int = 1,
    seq_len: int = 512, grad_accum: int = 1, dataset_tokens: int | None = None, num_examples: int | None = None,
    epochs: float = 1.0, **job: Any,
) -> TimeEstimate:
    """Step time, tokens/s, total hours and cost for ``dataset_tokens`` (or ``num_examples × seq_len``)."""
    if not 0.0 < mfu <= 1.0:
        raise ArgumentError(f"mfu={mfu!r} must be in (0, 1]")
    for name, v in (("num_devices", num_devices), ("batch_size", batch_size), ("grad_accum", grad_accum)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ArgumentError(f"{name}={v!r} must be a positive integer")
    if epochs <= 0:
        raise ArgumentError(f"epochs={epochs!r} must be positive")
    dev = get_device(device)
    f = flops_per_token(model, seq_len=seq_len, **job)
    tokens_per_step = batch_size * seq_len * grad_accum * num_devices
    rate = num_devices * dev.bf16_tflops * 1e12 * mfu
    step = tokens_per_step * f.total / rate
    tps = tokens_per_step / step
    if dataset_tokens is None:
        dataset_tokens = (num_examples or 0) * seq_len
    hours = dataset_tokens * epochs / tps / 3600.0
    return TimeEstimate(
        flops_per_token=f, tokens_per_step=tokens_per_step, step_seconds=step, tokens_per_second=tps,
        hours=hours, cost_usd=hours * dev.price_per_hour * num_devices, device=dev.name,
        num_devices=num_devices, mfu=mfu,
    )
