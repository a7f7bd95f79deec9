"""The seed guide's PEFT building blocks as working PyTorch modules (no PEFT needed).

Importing this package imports torch; ``import tunesmith`` never imports it.
"""

from __future__ import annotations

from tunesmith.guide.lora import (
    LinearWithLoRA,
    LoRAConfig,
    LoRALayer,
    apply_lora_to_model,
    get_lora_params,
    lora_modules,
    merge_and_unload,
)
from tunesmith.guide.prompt import Adapter, PrefixTuning, PrefixTuningConfig, PromptTuning, PromptTuningConfig

__all__ = [
    "Adapter",
    "LinearWithLoRA",
    "LoRAConfig",
    "LoRALayer",
    "PrefixTuning",
    "PrefixTuningConfig",
    "PromptTuning",
    "PromptTuningConfig",
    "apply_lora_to_model",
    "get_lora_params",
    "lora_modules",
    "merge_and_unload",
]
