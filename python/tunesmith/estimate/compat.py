"""The seed guide's names (``ComputeRequirements``, ``GPU_SPECS``, ``recommend_hardware``), corrected.

The guide's formulas are fixed multiples of the parameter count: they assume a 4096 × 32 model for
every LoRA, an activation term of ``batch·seq·P_B·0.1`` GB (25× too high at 7B) and no logits. These
drop-ins keep the signatures and return types (GB as float, a list of ``"NAME (NN GB)"``) but compute
with the accurate estimator on a model shape: the catalog model given as ``model``, or else a
Llama-2-style shape with ``model_params_billions`` parameters. Differences from the seed: A10G's bf16
peak is 70 TFLOP/s (not 125); an unknown ``method`` raises instead of silently meaning QLoRA;
recommendations include the device's CUDA-context overhead.

Example:
    >>> req = ComputeRequirements(7.0, training_samples=1000, epochs=3, batch_size=4, sequence_length=2048)
    >>> 14 < req.estimate_vram_qlora() < 40
    True
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

from tunesmith.errors import ArgumentError
from tunesmith.estimate.flops import flops_per_token
from tunesmith.estimate.hardware import get_device
from tunesmith.estimate.memory import estimate
from tunesmith.estimate.model import ModelShape

__all__ = ["GPU_SPECS", "ComputeRequirements", "recommend_hardware", "shape_for_params"]

GPU_SPECS: dict[str, dict[str, float]] = {
    "A100_80GB": {"vram_gb": 80, "tflops_fp16": 312},
    "A100_40GB": {"vram_gb": 40, "tflops_fp16": 312},
    "H100_80GB": {"vram_gb": 80, "tflops_fp16": 989},
    "A10G": {"vram_gb": 24, "tflops_fp16": 70},
    "RTX_4090": {"vram_gb": 24, "tflops_fp16": 165},
    "RTX_3090": {"vram_gb": 24, "tflops_fp16": 71},
}


@functools.cache
def shape_for_params(params_billions: float) -> ModelShape:
    """A Llama-2-style shape (``L = h/128``, ``ffn ≈ 2.69h``, 32k vocab) with about that many parameters."""
    if not params_billions > 0:
        raise ArgumentError(f"model_params_billions={params_billions!r} must be positive")
    target = params_billions * 1e9
    best: ModelShape | None = None
    for h in range(256, 32768 + 1, 128):
        layers = max(1, h // 128)
        inter = int(round(h * 2.6875 / 256)) * 256
        cfg = {"model_type": "llama", "hidden_size": h, "intermediate_size": inter, "num_hidden_layers": layers,
               "num_attention_heads": h // 128, "num_key_value_heads": h // 128, "vocab_size": 32000}
        shape = ModelShape.from_config(cfg, name=f"llama-like-{params_billions:g}b")
        if best is None or abs(shape.num_params - target) < abs(best.num_params - target):
            best = shape
        if shape.num_params > target:
            break
    assert best is not None
    return best


@dataclasses.dataclass
class ComputeRequirements:
    """Estimate compute requirements for fine-tuning (the seed guide's class, with real arithmetic).

    ``model`` (optional) is a catalog name, config path or dict; without it a Llama-2-style shape of
    ``model_params_billions`` is used.
    """

    model_params_billions: float
    training_samples: int
    epochs: int
    batch_size: int
    sequence_length: int
    model: Any = None

    def _shape(self) -> Any:
        return self.model if self.model is not None else shape_for_params(self.model_params_billions)

    def _gb(self, **job: Any) -> float:
        e = estimate(self._shape(), batch_size=self.batch_size, seq_len=self.sequence_length, **job)
        return e.total_bytes / 1e9

    def estimate_vram_full_finetune(self) -> float:
        """Peak GB of full fine-tuning in pure bf16 with AdamW (weights, grads, states, step copy, activations)."""
        return self._gb(method="full", precision="bf16")

    def estimate_vram_lora(self, lora_rank: int = 8) -> float:
        """Peak GB of bf16 LoRA on the attention projections."""
        return self._gb(method="lora", rank=lora_rank, precision="bf16")

    def estimate_vram_qlora(self, lora_rank: int = 8) -> float:
        """Peak GB of 4-bit NF4 QLoRA with gradient checkpointing (as the guide assumes)."""
        return self._gb(method="qlora", rank=lora_rank, precision="bf16", gradient_checkpointing=True)

    def estimate_training_time_hours(self, tflops: float = 100) -> float:
        """Hours at ``tflops`` achieved TFLOP/s: FLOPs per token (with the attention term) × tokens."""
        if not tflops > 0:
            raise ArgumentError(f"tflops={tflops!r} must be positive")
        f = flops_per_token(self._shape(), method="full", seq_len=self.sequence_length)
        tokens = self.training_samples * self.sequence_length * self.epochs
        return f.total * tokens / (tflops * 1e12) / 3600


def recommend_hardware(model_params_billions: float, method: str = "qlora") -> list[str]:
    """GPUs of :data:`GPU_SPECS` whose memory holds the job (batch 4 × 2048 tokens, as in the guide)."""
    if method not in ("full", "lora", "qlora"):
        raise ArgumentError(f"method={method!r} is not valid; valid choices: full, lora, qlora")
    req = ComputeRequirements(model_params_billions=model_params_billions, training_samples=1000, epochs=3,
                              batch_size=4, sequence_length=2048)
    needed = {"full": req.estimate_vram_full_finetune, "lora": req.estimate_vram_lora,
              "qlora": req.estimate_vram_qlora}[method]()
    out = []
    for gpu, specs in GPU_SPECS.items():
        overhead = get_device(gpu.replace("_", "-")).overhead_bytes / 1e9
        if specs["vram_gb"] * 2**30 / 1e9 >= needed + overhead:
            out.append(f"{gpu} ({specs['vram_gb']}GB)")
    return out
