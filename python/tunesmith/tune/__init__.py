"""Fine-tuning: a YAML/Python config driving transformers + PEFT (+ bitsandbytes), sized before it starts.

Importing this package loads pydantic and pyyaml only; torch, transformers and
peft are imported by the functions that use them.

>>> from tunesmith.tune import load_config, train        # doctest: +SKIP
>>> result = train(load_config("python/tunesmith/configs/lora.yaml"))
"""

from __future__ import annotations

from typing import Any

from tunesmith.tune.config import TrainConfig, load_config

__all__ = [
    "RLHFTrainer", "TrainConfig", "export_gguf", "load_config", "merge", "preflight", "recommend_lr", "train",
]


def __getattr__(name: str) -> Any:
    if name in ("train", "preflight", "recommend_lr"):
        from tunesmith.tune import trainer

        return getattr(trainer, name)
    if name == "merge":
        from tunesmith.tune.merge import merge

        return merge
    if name == "RLHFTrainer":  # rlhf.py imports torch only inside its functions
        from tunesmith.tune.rlhf import RLHFTrainer

        return RLHFTrainer
    if name == "export_gguf":  # numpy + gguf only: no torch
        from tunesmith.tune.export import export_gguf

        return export_gguf
    raise AttributeError(f"module 'tunesmith.tune' has no attribute {name!r}")
