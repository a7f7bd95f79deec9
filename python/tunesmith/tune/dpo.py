"""Preference tuning (DPO) through TRL's ``DPOTrainer``.

TRL's trainer rather than our own loss: it already handles the reference model
(adapter-disabled base for LoRA, a frozen copy for full DPO), prompt/response
tokenization with the chat template, and the loss variants, and it sits on the
same Trainer as the SFT path, so checkpoints, `accelerate launch` and logging
behave the same. What we add: record validation with file/line/field errors,
the pre-flight, and the same output layout and ``metrics.json``.

Records: ``prompt`` (a string or a list of messages), ``chosen`` and
``rejected`` (a string, or a list of messages with the assistant's reply).
"""

from __future__ import annotations

import json
import pathlib
import time
from collections.abc import Callable
from typing import Any

from tunesmith.errors import InputError

__all__ = ["load_preference_records", "run_dpo"]


def as_messages(value: Any, where: str, default_role: str) -> list[dict[str, str]]:
    """One side of a preference record as chat messages: a string is one ``default_role`` turn.

    Raises:
        InputError: naming ``where`` when the value is missing or neither a string nor {role, content} messages.
    """
    if isinstance(value, str):
        return [{"role": default_role, "content": value}]
    if isinstance(value, list) and value and all(
        isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str) for m in value
    ):
        return [{"role": m["role"], "content": m["content"]} for m in value]
    if value is None:
        raise InputError(f"{where}: missing (preference records need prompt, chosen and rejected)")
    raise InputError(f"{where}: expected a string or a non-empty list of {{role, content}} messages, "
                     f"got {type(value).__name__}")


def _messages(record: Any, key: str, default_role: str) -> list[dict[str, str]]:
    return as_messages(record.data.get(key), record.where(key), default_role)


def load_preference_records(path: str | pathlib.Path, *, limit: int | None = None) -> list[dict[str, Any]]:
    """Rows in TRL's conversational preference format."""
    from tunesmith.tune.data import load_records

    rows = []
    for record in load_records(path, limit=limit):
        rows.append({
            "prompt": _messages(record, "prompt", "user"),
            "chosen": _messages(record, "chosen", "assistant"),
            "rejected": _messages(record, "rejected", "assistant"),
        })
    return rows


def run_dpo(
    config: Any,
    *,
    tokenizer: Any,
    device: str,
    precision: str,
    log: Callable[[str], None],
    progress: bool,
    resume: bool,
) -> Any:
    import datasets
    import torch
    from trl import DPOConfig, DPOTrainer

    from tunesmith.errors import ConfigError
    from tunesmith.tune.distributed import detect_layout, world_info
    from tunesmith.tune.methods import apply_method, load_base_model, trainable_parameters
    from tunesmith.tune.trainer import TuneResult, _callbacks, _plot, recommend_lr, shared_training_arguments

    datasets.disable_progress_bars()
    # under torchrun / accelerate launch every rank trains; only rank 0 writes files
    world = world_info()
    layout = detect_layout(world=world)
    out = pathlib.Path(config.output_dir)
    tr = config.training
    train_rows = load_preference_records(config.data.train_path, limit=config.data.max_examples)
    valid_rows = load_preference_records(config.data.valid_path) if config.data.valid_path else []
    log(f"data: {len(train_rows)} preference pairs for training, {len(valid_rows)} for validation")

    model = load_base_model(config, device=device, precision=precision)
    params_b = sum(p.numel() for p in model.parameters()) / 1e9
    if config.lora_config is not None:
        model = apply_method(model, config)
    trainable, total = trainable_parameters(model)
    lr = tr.learning_rate or recommend_lr(params_b, config.method, len(train_rows)) / 10
    log(f"model: dpo ({config.method}), {trainable:,} trainable of {total:,} parameters, learning rate {lr:g}")

    has_eval = bool(valid_rows) and tr.eval_strategy != "no"
    # transformers 5 renamed gradient checkpointing to activation checkpointing (the old name warns).
    checkpointing = (
        "activation_checkpointing" if "activation_checkpointing" in DPOConfig.__dataclass_fields__ else "gradient_checkpointing"
    )
    args = DPOConfig(
        output_dir=str(out / "checkpoints"),
        beta=config.dpo.beta,
        loss_type=config.dpo.loss_type,
        max_length=tr.context_length,
        **shared_training_arguments(tr, lr, precision, device, has_eval),
        **{checkpointing: tr.gradient_checkpointing},
        save_steps=tr.save_steps,
        report_to="none",
        disable_tqdm=not progress,
    )
    trainer = DPOTrainer(
        model=model,
        args=args,
        train_dataset=datasets.Dataset.from_list(train_rows),
        eval_dataset=datasets.Dataset.from_list(valid_rows) if has_eval else None,
        processing_class=tokenizer,
        callbacks=_callbacks(out, log),
    )
    if not progress:
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)
    measure = trainer.eval_dataset if has_eval else trainer.train_dataset
    before = trainer.evaluate(eval_dataset=measure, metric_key_prefix="eval")
    log(f"before: DPO loss {before['eval_loss']:.4f}, reward accuracy {before.get('eval_rewards/accuracies', 0):.2f}")
    checkpoint = None
    if resume:
        ckpts = sorted((out / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
        if not ckpts:
            raise ConfigError(f"--resume: no checkpoint under {out / 'checkpoints'}")
        checkpoint = str(ckpts[-1])
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=checkpoint)
    wall = time.perf_counter() - started
    after = trainer.evaluate(eval_dataset=measure, metric_key_prefix="eval")
    log(f"after: DPO loss {after['eval_loss']:.4f}, reward accuracy {after.get('eval_rewards/accuracies', 0):.2f}, "
        f"margin {after.get('eval_rewards/margins', 0):.4f}")

    save_dir = out / ("adapter" if config.lora_config is not None else "model")
    if layout.engine in ("fsdp", "deepspeed"):
        trainer.save_model(str(save_dir))  # a collective: the engine gathers the weights, rank 0 writes
    elif world.is_main:
        trainer.model.save_pretrained(save_dir)
    if world.is_main:
        tokenizer.save_pretrained(save_dir)
    history = trainer.state.log_history
    eval_time = sum(h.get("eval_runtime", 0.0) for h in history)
    if device == "cuda":
        peak, kind = int(torch.cuda.max_memory_allocated()), "cuda_max_memory_allocated"
    else:
        import resource

        peak, kind = int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024), "process_peak_rss"
    train_time = max(wall - eval_time, 1e-9)
    metrics = {
        "method": f"dpo+{config.method}",
        "device": device,
        "precision": precision,
        "trainable_params": trainable,
        "total_params": total,
        "learning_rate": lr,
        "steps": trainer.state.global_step,
        "train_loss": result.training_loss,
        "eval_loss_before": before["eval_loss"],
        "eval_loss_after": after["eval_loss"],
        "reward_accuracy_before": before.get("eval_rewards/accuracies"),
        "reward_accuracy_after": after.get("eval_rewards/accuracies"),
        "reward_margin_after": after.get("eval_rewards/margins"),
        "perplexity_before": None,
        "perplexity_after": None,
        "eval_set": "valid" if has_eval else "train pairs",
        "pairs_per_second": len(train_rows) * float(trainer.state.epoch or 0) / train_time,
        "tokens_per_second": None,
        "train_seconds": train_time,
        "peak_memory_bytes": peak,
        "peak_memory_kind": kind,
        "saved": str(save_dir),
    }
    if world.is_main:
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
        run_info = {"base_model": config.model.path, "method": metrics["method"], "qlora": None,
                    "config": config.to_dict(), "notes": config.notes}
        (out / "tunesmith_run.json").write_text(json.dumps(run_info, indent=2) + "\n", encoding="utf-8")
        _plot(history, out / "loss.png", f"DPO ({config.method}): {pathlib.Path(config.model.path).name}")
    return TuneResult(out, metrics)
