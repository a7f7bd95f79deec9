"""Perplexity on a data file and side-by-side generations, for a base model and a tuned one.

The loss is the token-weighted mean over response tokens (prompt tokens masked
exactly as in training), so perplexity = exp(loss) is comparable before and
after a run.
"""

from __future__ import annotations

import math
import pathlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["EvalResult", "generate", "load_for_eval", "mean_loss", "perplexity_on_file"]


@dataclass
class EvalResult:
    loss: float
    perplexity: float
    tokens: int

    def __str__(self) -> str:
        return f"loss {self.loss:.4f}, perplexity {self.perplexity:.2f} over {self.tokens} response tokens"


def mean_loss(model: Any, examples: Sequence[Any], *, batch_size: int = 8, pad_token_id: int = 0) -> EvalResult:
    """Token-weighted mean cross-entropy of ``model`` on tokenized examples (labels -100 ignored)."""
    import torch

    from tunesmith.tune.data import PaddingCollator, as_dataset

    collate = PaddingCollator(pad_token_id)
    rows = as_dataset(examples)
    device = next(p.device for p in model.parameters())
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(rows), batch_size):
            batch = {k: v.to(device) for k, v in collate(rows[i : i + batch_size]).items()}
            labels = batch.pop("labels")
            logits = model(**batch).logits.float()
            # prompt tuning prepends virtual tokens to the logits
            logits = logits[:, logits.size(1) - labels.size(1) :]
            shift_logits = logits[:, :-1].reshape(-1, logits.size(-1))
            shift_labels = labels[:, 1:].reshape(-1)
            total += torch.nn.functional.cross_entropy(shift_logits, shift_labels, ignore_index=-100, reduction="sum").item()
            count += int((shift_labels != -100).sum())
    model.train(was_training)
    loss = total / max(count, 1)
    return EvalResult(loss, math.exp(min(loss, 50.0)), count)


def generate(model: Any, tokenizer: Any, prompts: Sequence[str], *, max_new_tokens: int = 32) -> list[dict[str, Any]]:
    """Greedy completions of chat-formatted ``prompts`` (one user turn each), with latency."""
    import torch

    device = next(p.device for p in model.parameters())
    was_training = model.training
    model.eval()
    out = []
    for prompt in prompts:
        text = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True)
        enc = tokenizer(text, return_tensors="pt", add_special_tokens=False).to(device)
        started = time.perf_counter()
        with torch.no_grad():
            ids = model.generate(
                **enc,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
            )
        new = ids[0, enc["input_ids"].shape[1] :]
        out.append({
            "prompt": prompt,
            "generated": tokenizer.decode(new, skip_special_tokens=True),
            "tokens_generated": int(new.numel()),
            "latency_ms": (time.perf_counter() - started) * 1000,
        })
    model.train(was_training)
    return out


def load_for_eval(path: str | pathlib.Path, *, base: str | None = None, device: str = "cpu") -> tuple[Any, Any, str]:
    """Load a model directory, an adapter directory or a run's output dir; returns (model, tokenizer, description)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tunesmith.tune.methods import adapter_base_model, is_adapter_dir, load_adapter

    p = pathlib.Path(path)
    for sub in ("merged", "model", "adapter"):
        if (p / "tunesmith_run.json").exists() and (p / sub).is_dir():
            p = p / sub
            break
    if is_adapter_dir(p):
        base_path = base or adapter_base_model(p)
        if base_path is None:
            from tunesmith.errors import ConfigError

            raise ConfigError(f"{p}: the adapter does not name its base model; pass --base")
        model = AutoModelForCausalLM.from_pretrained(base_path, dtype=torch.float32)
        model = load_adapter(model, p)
        tok_dir = p if (p / "tokenizer_config.json").exists() else pathlib.Path(base_path)
        desc = f"{base_path} + adapter {p}"
    else:
        model = AutoModelForCausalLM.from_pretrained(p, dtype=torch.float32)
        tok_dir = p
        desc = str(p)
    tokenizer = AutoTokenizer.from_pretrained(tok_dir)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model.to(device), tokenizer, desc


def perplexity_on_file(
    model: Any, tokenizer: Any, path: str | pathlib.Path, *, context_length: int = 512, fmt: str = "auto", batch_size: int = 8
) -> EvalResult:
    from tunesmith.tune.data import ensure_chat_template, load_records, tokenize_records

    ensure_chat_template(tokenizer)
    examples = tokenize_records(load_records(path), tokenizer, context_length=context_length, fmt=fmt)
    return mean_loss(model, examples, batch_size=batch_size, pad_token_id=tokenizer.pad_token_id or 0)
