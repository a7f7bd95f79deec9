"""Run a :class:`~tunesmith.tune.config.TrainConfig` with the Hugging Face Trainer.

Order of work: validate the config, size the job before touching any weights
(pre-flight), read and tokenize the data, load the base model, apply the
method, measure the base's validation loss, train, save, measure again.

``output_dir`` afterwards holds::

    adapter/             PEFT adapter (adapter_config.json + safetensors) or bottleneck adapter, plus the tokenizer
    model/               full weights instead, for full fine-tuning
    checkpoints/         Trainer checkpoints (resume with --resume)
    metrics.json         losses, perplexity before/after, tokens/s, peak memory, data report
    log.csv              every logged step (loss, learning rate, eval loss)
    loss.png             the loss curves
    tunesmith_run.json   the resolved config, so `tunesmith merge` / `eval` know the base

Using the Trainer means `accelerate launch` / `torchrun` give multi-GPU, FSDP
and DeepSpeed without code of ours (:mod:`tunesmith.tune.distributed`)::

    torchrun --nproc_per_node 2 -m tunesmith tune run.yaml
    accelerate launch --config_file python/tunesmith/configs/accelerate/zero3.yaml -m tunesmith tune run.yaml

Under a launcher every process trains (each on its ``LOCAL_RANK`` device and its
share of the batches), the pre-flight sizes one device of the launch's layout,
and only rank 0 prints reports and writes the files above; the Trainer writes
checkpoints from rank 0 as well.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import pathlib
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tunesmith.errors import ConfigError, TunesmithError, UnsupportedError
from tunesmith.tune.config import TrainConfig

__all__ = ["PreflightResult", "TuneResult", "preflight", "recommend_lr", "train"]


def shared_training_arguments(tr: Any, lr: float, precision: str, device: str, has_eval: bool) -> dict[str, Any]:
    """The TrainingArguments fields every tunesmith trainer (SFT and DPO) sets the same way from ``training:``."""
    return {
        "num_train_epochs": tr.num_epochs,
        "max_steps": tr.max_steps,
        "per_device_train_batch_size": tr.train_batch_size_per_device,
        "per_device_eval_batch_size": tr.eval_batch_size_per_device or tr.train_batch_size_per_device,
        "gradient_accumulation_steps": tr.gradient_accumulation_steps,
        "learning_rate": lr,
        "lr_scheduler_type": tr.lr_scheduler,
        "warmup_steps": tr.warmup_steps,
        "weight_decay": tr.weight_decay,
        "max_grad_norm": tr.max_grad_norm,
        "optim": tr.optimizer,
        "bf16": precision == "bf16",
        "fp16": precision == "fp16",
        "use_cpu": device == "cpu",
        "eval_strategy": tr.eval_strategy if has_eval else "no",
        "eval_steps": tr.eval_steps,
        "save_total_limit": tr.save_total_limit,
        "logging_steps": tr.logging_steps,
        "logging_first_step": True,
        "seed": tr.seed,
        "dataloader_pin_memory": device == "cuda",
    }


def recommend_lr(model_params_billions: float, peft_method: str, dataset_size: int) -> float:
    """The seed guide's ``LearningRateSchedules.recommend_lr``."""
    if peft_method == "full":
        base_lr = 1e-5
    elif peft_method in ("lora", "qlora", "dora"):
        base_lr = 2e-4
    else:
        base_lr = 1e-4
    if model_params_billions > 30:
        base_lr *= 0.5
    elif model_params_billions > 10:
        base_lr *= 0.7
    if dataset_size > 100000:
        base_lr *= 1.2
    elif dataset_size < 1000:
        base_lr *= 0.8
    return base_lr


# --- pre-flight ------------------------------------------------------------------------------------


@dataclass
class PreflightResult:
    """The pre-flight verdict.

    Attributes:
        fits: the estimate is at most the memory available per device.
        report: the estimate's breakdown, the verdict and, when it does not fit, what to change.
        required_bytes: estimated peak per device.
        available_bytes: memory of one device (system RAM shared by the processes on this machine on CPU).
        device: the device described.
        num_devices: devices in the layout sized (the launch's world size unless overridden).
        sharding: ``none``, ``ddp``, ``zero2``, ``zero3`` or ``fsdp``.
    """

    fits: bool
    report: str
    required_bytes: int
    available_bytes: int | None
    device: str
    num_devices: int = 1
    sharding: str = "none"


def _device_memory(device: str) -> tuple[str, int]:
    """(description, bytes) of the device this process will train on.

    CUDA: the ``LOCAL_RANK`` GPU. CPU: system RAM divided by the processes a launcher
    runs on this machine, since they all share it.
    """
    from tunesmith.tune.distributed import world_info

    world = world_info()
    if device == "cuda":
        import torch

        props = torch.cuda.get_device_properties(world.local_rank)
        return f"cuda:{world.local_rank} ({props.name})", int(props.total_memory)
    import os

    ram = int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    if world.local_world_size > 1:
        return f"cpu (system RAM / {world.local_world_size} processes)", ram // world.local_world_size
    return "cpu (system RAM)", ram


def _model_source(config: TrainConfig) -> dict[str, Any] | str:
    """The model's config: config.json of a local directory, a name the estimator's catalog knows, or
    the hub's config.json (a few KB, from the cache when present); never the weights."""
    path = pathlib.Path(config.model.path)
    if (path / "config.json").exists():
        return json.loads((path / "config.json").read_text(encoding="utf-8"))
    try:
        from tunesmith.estimate.catalog import catalog_entry

        catalog_entry(config.model.path)
        return config.model.path
    except (ImportError, KeyError):
        pass
    try:
        from transformers import AutoConfig

        hub = AutoConfig.from_pretrained(
            config.model.path, trust_remote_code=config.model.trust_remote_code,
            revision=config.model.revision, token=config.model.token,
        )
        return hub.to_dict()
    except Exception:  # offline, private or unknown: the estimator will say it cannot size it
        return config.model.path


_ESTIMATE_METHOD = {"prefix_tuning": "prefix", "prompt_tuning": "prompt"}
_PREFLIGHT_PRECISION = {"fp32": "fp32", "bf16": "bf16-mixed", "fp16": "fp16-mixed"}


def _advice(config: TrainConfig, est: Any, available: int) -> list[str]:
    """Concrete changes, biggest component first."""
    tr = config.training
    total = max(int(est.total_bytes), 1)
    acts = int(est.activations_bytes) + int(est.logits_bytes)
    states = int(est.optimizer_bytes) + int(est.gradients_bytes)
    weights = int(est.weights_bytes)
    tips: list[tuple[int, str]] = []
    if config.method == "full" and states > 0.1 * total:
        tips.append((states, "train a LoRA adapter instead of all weights (add a lora_config block): "
                             "gradients and optimizer state shrink to the adapter's"))
    if config.method != "qlora" and weights > 0.2 * total:
        tips.append((weights, "quantize the frozen base to 4 bits (add a qlora block, needs bitsandbytes): "
                              "weights shrink about 4x from 16-bit"))
    if acts > 0.1 * total:
        if not tr.gradient_checkpointing:
            tips.append((acts, "set training.gradient_checkpointing: true (activations are kept per layer boundary only)"))
        if tr.train_batch_size_per_device > 1:
            half = max(1, tr.train_batch_size_per_device // 2)
            accum = tr.gradient_accumulation_steps * tr.train_batch_size_per_device // half
            tips.append((acts // 2, f"training.train_batch_size_per_device: {half} with gradient_accumulation_steps: {accum} "
                                    "(same effective batch)"))
        if tr.context_length > 512:
            tips.append((acts // 2, f"a shorter training.context_length than {tr.context_length}"))
    if int(est.optimizer_bytes) > 0.1 * total and "8bit" not in tr.optimizer:
        tips.append((int(est.optimizer_bytes), "an 8-bit optimizer (training.optimizer: paged_adamw_8bit)"))
    ordered = [text for _, text in sorted(tips, key=lambda t: -t[0])]
    if weights > available:
        ordered.insert(0, f"the weights alone ({weights / 2**30:.1f} GiB) exceed the device "
                          f"({available / 2**30:.1f} GiB): quantize, or shard over several devices")
    ordered.append("or a device with more memory, or several with FSDP / ZeRO-3: accelerate launch --config_file "
                   "python/tunesmith/configs/accelerate/fsdp.yaml (or zero3.yaml) -m tunesmith tune CONFIG")
    return ordered


def preflight(
    config: TrainConfig,
    *,
    device: str | None = None,
    device_memory: int | None = None,
    num_devices: int | None = None,
    sharding: str | None = None,
) -> PreflightResult:
    """Size the job with :func:`tunesmith.estimate.memory.estimate` before any weights are loaded.

    The estimate is per device for the launch's layout: under ``torchrun`` /
    ``accelerate launch`` the world size and the sharding (``ddp``, ``zero2``,
    ``zero3``, ``fsdp``) come from the launcher's environment
    (:func:`tunesmith.tune.distributed.detect_layout`); ``num_devices`` and
    ``sharding`` override them, to size a launch before making it.

    Args:
        config: the run.
        device: ``cpu``/``cuda`` (this machine; its memory is read) or a device name from the
            estimator's hardware catalog.
        device_memory: bytes available per device, overriding the device's.
        num_devices: devices to shard over (default: the launch's world size).
        sharding: ``none``, ``ddp``, ``zero2``, ``zero3`` or ``fsdp`` (default: the launch's).

    Returns:
        The :class:`PreflightResult`.

    Raises:
        ImportError: the estimator is not installed.
        ArgumentError: ``num_devices`` is not a positive integer or ``sharding`` not one of the choices.

    Example:
        >>> one = preflight(config, device="a100-80gb")                                 # doctest: +SKIP
        >>> eight = preflight(config, device="a100-80gb", num_devices=8, sharding="zero3")  # doctest: +SKIP
        >>> eight.required_bytes < one.required_bytes                                  # doctest: +SKIP
        True
    """
    from tunesmith.errors import ArgumentError
    from tunesmith.estimate.memory import estimate

    from tunesmith.tune.distributed import SHARDINGS, Layout, detect_layout
    from tunesmith.tune.methods import resolve_device

    layout = detect_layout()
    if num_devices is not None or sharding is not None:
        bad_n = isinstance(num_devices, bool) or not isinstance(num_devices, int) or num_devices < 1
        if num_devices is not None and bad_n:
            raise ArgumentError(f"num_devices={num_devices!r} must be a positive integer")
        if sharding is not None and sharding not in SHARDINGS:
            raise ArgumentError(f"sharding={sharding!r} is not valid; valid choices: {', '.join(SHARDINGS)}")
        n = layout.num_devices if num_devices is None else num_devices
        chosen = sharding if sharding is not None else (
            "ddp" if n > 1 and layout.sharding == "none" else layout.sharding
        )
        layout = Layout(n, chosen, "given", layout.activation_checkpointing, layout.engine)

    device = device or resolve_device(config.training.device)
    tr = config.training
    precision = tr.precision if tr.precision != "auto" else ("bf16" if device not in ("cpu",) else "fp32")
    kwargs: dict[str, Any] = {
        "method": "dpo" if config.dpo is not None else _ESTIMATE_METHOD.get(config.method, config.method),
        # full fine-tuning keeps fp32 master weights under autocast; a frozen PEFT base is loaded in 16-bit
        "precision": _PREFLIGHT_PRECISION[precision] if config.method == "full" else precision,
        "optimizer": tr.optimizer,
        "batch_size": tr.train_batch_size_per_device,
        "seq_len": tr.context_length,
        "grad_accum": tr.gradient_accumulation_steps,
        "gradient_checkpointing": tr.gradient_checkpointing,
        "attn_implementation": config.model.attn_implementation or "sdpa",
        "num_devices": layout.num_devices,
        "sharding": layout.sharding,
    }
    if config.dpo is not None:
        kwargs["dpo_policy"] = "full" if config.lora_config is None else "lora"
    if config.lora_config is not None:
        lc = config.lora_config
        kwargs.update(rank=lc.r, lora_alpha=lc.lora_alpha, target_modules=lc.target_modules)
    if config.qlora is not None:
        q = config.qlora
        kwargs.update(bits=q.bits, quant_type=q.quant_type, double_quant=q.double_quant,
                      # the 4/8-bit base has no fp32 master copy: the compute dtype is the precision
                      precision={"bfloat16": "bf16", "float16": "fp16"}.get(q.compute_dtype, "fp32"))
    if config.prefix_tuning is not None or config.prompt_tuning is not None:
        kwargs["num_virtual_tokens"] = (config.prefix_tuning or config.prompt_tuning).num_virtual_tokens
    source = _model_source(config)
    if config.adapter is not None:
        hidden = source.get("hidden_size") if isinstance(source, dict) else None
        if hidden:
            kwargs["adapter_reduction"] = max(1, int(hidden) // config.adapter.bottleneck_size)
    local = device in ("cpu", "cuda")
    if not local:
        kwargs["device"] = device
    est = estimate(source, **kwargs)
    if device_memory is not None:
        available: int | None = int(device_memory)
        desc = f"{device} ({device_memory / 2**30:.1f} GiB given)"
    elif local:
        desc, available = _device_memory(device)
    else:
        from tunesmith.estimate.hardware import get_device

        available = int(get_device(device).memory_bytes)
        desc = device
    fits = est.total_bytes <= available
    per = f" per device ({layout})" if layout.num_devices > 1 else ""
    verdict = (
        f"needs {est.total_bytes / 2**30:.2f} GiB{per}, {desc} has {available / 2**30:.2f} GiB: "
        + ("fits" if fits else "does NOT fit")
    )
    report = f"{est}\n{verdict}"
    if not fits:
        report += "\nto make it fit:\n" + "\n".join(f"  - {tip}" for tip in _advice(config, est, available))
    return PreflightResult(fits, report, int(est.total_bytes), available, desc, layout.num_devices, layout.sharding)


# --- the run ---------------------------------------------------------------------------------------


@dataclass
class TuneResult:
    output_dir: pathlib.Path
    metrics: dict[str, Any]

    def __str__(self) -> str:
        m = self.metrics
        if m["perplexity_before"] is None:
            return (f"{m['method']} on {m['device']} ({m['precision']}): eval loss {m['eval_loss_before']:.4f} -> "
                    f"{m['eval_loss_after']:.4f}, wrote {self.output_dir}")
        return (
            f"{m['method']} on {m['device']} ({m['precision']}): eval loss {m['eval_loss_before']:.4f} -> "
            f"{m['eval_loss_after']:.4f}, perplexity {m['perplexity_before']:.2f} -> {m['perplexity_after']:.2f}, "
            f"{m['tokens_per_second']:.0f} tokens/s, wrote {self.output_dir}"
        )


def _callbacks(out: pathlib.Path, log: Callable[[str], None]) -> list[Any]:
    """``log.csv``, written by the world's process zero only (the Trainer logs the same values on every rank)."""
    from transformers import TrainerCallback

    from tunesmith.tune.distributed import world_info

    main = world_info().is_main

    class CsvLog(TrainerCallback):
        def __init__(self) -> None:
            self.path = out / "log.csv"
            self.fields = ["step", "epoch", "loss", "grad_norm", "learning_rate", "eval_loss"]
            if main and not self.path.exists():
                with self.path.open("w", newline="") as f:
                    csv.writer(f).writerow(self.fields)

        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any) -> None:
            if not (main and state.is_world_process_zero):
                return
            logs = logs or {}
            with self.path.open("a", newline="") as f:
                csv.writer(f).writerow([state.global_step, *(logs.get(k, "") for k in self.fields[1:])])

    return [CsvLog()]


def _plot(history: list[dict[str, Any]], path: pathlib.Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [(h["step"], h["loss"]) for h in history if "loss" in h]
    evals = [(h["step"], h["eval_loss"]) for h in history if "eval_loss" in h]
    fig, ax = plt.subplots(figsize=(6, 4))
    if train:
        ax.plot(*zip(*train, strict=True), label="train loss")
    if evals:
        ax.plot(*zip(*evals, strict=True), marker="o", label="eval loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


class _CountingRows:
    """The training rows as a map-style dataset that counts what this process fetched: under a launcher each
    rank reads its own share, and the count and index digest say so in the per-rank log line."""

    def __init__(self, rows: Any) -> None:
        self.rows = rows
        self.fetched = 0
        self.indices: set[int] = set()

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> Any:
        self.fetched += 1
        self.indices.add(int(index))
        return self.rows[index]

    def digest(self) -> str:
        import hashlib

        return hashlib.sha256(",".join(map(str, sorted(self.indices))).encode()).hexdigest()[:12]


class _Collator:
    """Packed rows (lists of examples) go flat with position resets; single examples are padded."""

    def __init__(self, pad_token_id: int) -> None:
        from tunesmith.tune.data import PackedCollator, PaddingCollator

        self.packed = PackedCollator()
        self.padded = PaddingCollator(pad_token_id)

    def __call__(self, batch: Any) -> Any:
        if batch and batch[0]["input_ids"] and isinstance(batch[0]["input_ids"][0], list):
            return self.packed(batch)
        return self.padded(batch)


def _record_text(record: Any, fmt: str) -> str:
    from tunesmith.tune.data import detect_format, to_messages

    content = to_messages(record, detect_format(record) if fmt == "auto" else fmt)
    return content if isinstance(content, str) else "\n".join(m["content"] for m in content)


def _redact_record(record: Any, redact: Callable[[str], str]) -> Any:
    """A copy of ``record`` with every string it holds redacted (keys and structure unchanged)."""
    if isinstance(record, str):
        return redact(record)
    if isinstance(record, dict):
        return {k: _redact_record(v, redact) for k, v in record.items()}
    if isinstance(record, list):
        return [_redact_record(v, redact) for v in record]
    return record


def _apply_clean(config: TrainConfig, records: list[Any], log: Callable[[str], None]) -> list[Any]:
    """Run tunesmith.clean over the records' text (prompt and response joined); keep what it keeps.

    With PII ``action: redact`` (the default) the kept records' strings are redacted field by field, with the
    same mode, salt and kinds, so what is trained on is what the clean step would have written.
    """
    try:
        from tunesmith.clean import CleanConfig, clean_texts, redact_pii
    except ImportError as exc:
        raise UnsupportedError(f"data.clean needs tunesmith.clean, which is not available here ({exc})") from exc
    clean_config = CleanConfig(**dict(config.data.clean or {}))
    texts = [_record_text(r, config.data.format) for r in records]
    result = clean_texts(texts, clean_config)
    kept = [r for r, keep in zip(records, result.keep, strict=True) if keep]
    pii = clean_config.pii
    if pii.enabled and pii.action == "redact":
        def redact(text: str) -> str:
            return redact_pii(text, pii.mode, pii.salt or None, pii.kinds)

        kept = [dataclasses.replace(r, data=_redact_record(r.data, redact)) for r in kept]
    reasons: dict[str, int] = {}
    for reason in result.reasons:
        if reason:
            reasons[reason] = reasons.get(reason, 0) + 1
    detail = ", ".join(f"{k} {v}" for k, v in sorted(reasons.items()))
    log(f"clean: kept {len(kept)} of {len(records)} records" + (f" (removed: {detail})" if detail else ""))
    return kept


def _silent(_: str) -> None:
    """The log of ranks other than 0: one report per launch, not one per process."""


def train(
    config: TrainConfig,
    *,
    force: bool = False,
    resume: bool = False,
    log: Callable[[str], None] = print,
    progress: bool = True,
    preflight_device: str | None = None,
    preflight_memory: int | None = None,
) -> TuneResult:
    """Run the fine-tune described by ``config``; see the module docstring for what is written.

    Under ``torchrun`` / ``accelerate launch`` every process calls this: all train,
    only rank 0 logs through ``log`` and writes files, and each rank logs one line of
    its own at the end (rank, optimizer steps, rows it read, a checksum of its
    trainable weights: identical on every rank after data-parallel training).
    """
    from tunesmith.tune.distributed import (
        check_compatibility,
        detect_layout,
        init_process_group,
        main_process_first,
        world_info,
    )

    world = world_info()
    rank_log = log
    if not world.is_main:
        log = _silent
    for note in config.notes:
        log(f"note: {note}")
    layout = detect_layout(world=world)
    check_compatibility(config, layout)
    if world.distributed:
        log(f"launch: {world.world_size} processes, {layout.sharding} ({layout.source})")

    from tunesmith.tune.methods import resolve_device, resolve_precision

    device = resolve_device(config.training.device)
    check_compatibility(config, layout, device)
    precision = resolve_precision(config.training.precision, device)
    if config.method == "qlora":
        from tunesmith.tune.methods import bnb_status

        reason = bnb_status()
        if reason is not None:
            raise UnsupportedError(f"QLoRA needs bitsandbytes: {reason}. Drop the qlora block to train LoRA in full precision.")

    try:
        check = preflight(config, device=preflight_device or device, device_memory=preflight_memory)
    except ImportError as exc:
        log(f"pre-flight: the memory estimator is not available in this install ({exc}); skipped")
        check = None
    except TunesmithError as exc:
        if preflight_device is not None or preflight_memory is not None:
            raise
        log(f"pre-flight: cannot size this model ({exc}); skipped")
        check = None
    if check is not None:
        if check.fits:
            log("pre-flight:\n" + check.report)
        elif not force:
            raise UnsupportedError(
                "pre-flight: this job does not fit the device\n" + check.report + "\nrerun with --force to try anyway"
            )
        else:
            log("pre-flight:\n" + check.report + "\ncontinuing because of --force")

    import torch
    import transformers
    from transformers import AutoTokenizer, EarlyStoppingCallback, Trainer, TrainingArguments

    from tunesmith.tune import data as tdata
    from tunesmith.tune.evaluate import mean_loss
    from tunesmith.tune.methods import apply_method, load_base_model, save_bottleneck_adapters, trainable_parameters

    transformers.utils.logging.disable_progress_bar()
    transformers.set_seed(config.training.seed)
    out = pathlib.Path(config.output_dir)
    if world.is_main:
        out.mkdir(parents=True, exist_ok=True)
    tr = config.training
    init_process_group(device)

    # downloads land in the hub cache once: the first process per machine fetches, the others read
    with main_process_first(world):
        tokenizer = AutoTokenizer.from_pretrained(
            config.model.processing_class or config.model.path, trust_remote_code=config.model.trust_remote_code
        )
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    if tdata.ensure_chat_template(tokenizer, config.data.chat_template):
        log("data: the tokenizer has no chat template; using ChatML")

    if config.dpo is not None:
        from tunesmith.tune.dpo import run_dpo

        return run_dpo(config, tokenizer=tokenizer, device=device, precision=precision, log=log,
                       progress=progress, resume=resume)

    records = tdata.load_records(config.data.train_path, limit=config.data.max_examples)
    if config.data.clean is not None:
        records = _apply_clean(config, records, log)
    if config.data.valid_path:
        valid_records = tdata.load_records(config.data.valid_path)
    elif config.data.valid_fraction > 0:
        n_valid = max(1, int(len(records) * config.data.valid_fraction))
        valid_records, records = records[-n_valid:], records[:-n_valid]
    else:
        valid_records = []
    report = tdata.TokenizeReport()
    train_examples = tdata.tokenize_records(records, tokenizer, context_length=tr.context_length, fmt=config.data.format, report=report)
    valid_report = tdata.TokenizeReport()
    valid_examples = tdata.tokenize_records(
        valid_records, tokenizer, context_length=tr.context_length, fmt=config.data.format, report=valid_report
    )
    log(f"data: train {report}")
    if valid_records:
        log(f"data: valid {valid_report}")
    if not train_examples:
        raise ConfigError(f"{config.data.train_path}: no training example has a response token")
    if config.data.packing:
        rows = tdata.pack(train_examples, tr.context_length)
        train_rows = tdata.as_dataset(train_examples, packed_rows=rows)
        log(f"data: packed {len(train_examples)} examples into {len(rows)} rows of at most {tr.context_length} tokens")
    else:
        train_rows = tdata.as_dataset(train_examples)
    eval_rows = tdata.as_dataset(valid_examples)
    measure = valid_examples or train_examples[: min(64, len(train_examples))]

    with main_process_first(world):
        model = load_base_model(config, device=device, precision=precision)
    if device == "cuda" and config.qlora is None and layout.engine in ("none", "ddp"):
        # one whole copy per process, on its own GPU (never device_map="auto", which would spread every
        # rank's copy over all GPUs); under FSDP / DeepSpeed the weights stay on the CPU until the Trainer
        # shards them onto the GPUs, and the base loss below is measured there
        model.to(f"cuda:{world.local_rank}")
    params_b = sum(p.numel() for p in model.parameters()) / 1e9
    before = mean_loss(model, measure, batch_size=tr.eval_batch_size_per_device or tr.train_batch_size_per_device,
                       pad_token_id=tokenizer.pad_token_id)
    log(f"base: {before} ({'valid set' if valid_examples else 'first train examples'})")
    model = apply_method(model, config)
    trainable, total = trainable_parameters(model)
    log(f"model: {config.method}, {trainable:,} trainable of {total:,} parameters ({100 * trainable / total:.2f} %)")

    lr = tr.learning_rate
    if lr is None:
        lr = recommend_lr(params_b, config.method, len(train_examples))
        log(f"learning rate: {lr:g} (seed guide's recommend_lr for {config.method}, {params_b:.3g} B params, {len(train_examples)} examples)")

    has_eval = bool(eval_rows) and tr.eval_strategy != "no"
    early = tr.early_stopping_patience is not None and has_eval
    if tr.early_stopping_patience is not None and not has_eval:
        log("note: early stopping needs a validation set and eval_strategy; it is off")
    save_steps = tr.save_steps
    if early and tr.eval_strategy == "steps" and save_steps % tr.eval_steps:
        save_steps = tr.eval_steps
        log(f"note: early stopping keeps the best checkpoint, so save_steps follows eval_steps ({save_steps})")
    report_to = []
    if "tensorboard" in tr.report_to:
        try:
            import tensorboard  # noqa: F401

            report_to.append("tensorboard")
        except ImportError:
            log("note: tensorboard is not installed; logging to log.csv only")
    args = TrainingArguments(
        output_dir=str(out / "checkpoints"),
        **shared_training_arguments(tr, lr, precision, device, has_eval),
        save_strategy=(tr.eval_strategy if early else "steps"),
        save_steps=save_steps,
        load_best_model_at_end=early,
        metric_for_best_model="eval_loss" if early else None,
        greater_is_better=False if early else None,
        report_to=report_to or "none",
        data_seed=tr.seed,
        remove_unused_columns=False,
        include_num_input_tokens_seen="non_padding",
        disable_tqdm=not progress,
    )
    callbacks = _callbacks(out, log)
    if early:
        callbacks.append(EarlyStoppingCallback(tr.early_stopping_patience, tr.early_stopping_threshold))
    counted_rows = _CountingRows(train_rows)
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=counted_rows,
        eval_dataset=eval_rows if has_eval else None,
        processing_class=tokenizer,
        data_collator=_Collator(tokenizer.pad_token_id),
        callbacks=callbacks,
    )
    if not progress:
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)
    checkpoint = None
    if resume:
        ckpts = sorted((out / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
        if not ckpts:
            raise ConfigError(f"--resume: no checkpoint under {out / 'checkpoints'}")
        checkpoint = str(ckpts[-1])
        log(f"resuming from {checkpoint}")
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=checkpoint)
    wall = time.perf_counter() - started
    history = trainer.state.log_history
    eval_time = sum(h.get("eval_runtime", 0.0) for h in history)
    tokens_seen = int(trainer.state.num_input_tokens_seen)

    model = trainer.model
    after = mean_loss(model, measure, batch_size=args.per_device_eval_batch_size, pad_token_id=tokenizer.pad_token_id)
    log(f"tuned: {after}")

    if world.distributed:
        checksum = sum(float(p.detach().double().sum()) for p in model.parameters() if p.requires_grad)
        rank_log(
            f"rank {world.rank}/{world.world_size}: {trainer.state.global_step} optimizer steps, read "
            f"{counted_rows.fetched} training rows ({len(counted_rows.indices)} distinct, indices digest "
            f"{counted_rows.digest()}), trainable-weight checksum {checksum:.12e}"
        )

    save_dir = out / ("model" if config.method == "full" else "adapter")
    if config.method == "adapter":
        # refused under FSDP / ZeRO-3 (check_compatibility): every rank holds the whole adapter
        if world.is_main:
            save_bottleneck_adapters(model, save_dir, base_model=config.model.path)
    elif layout.engine in ("fsdp", "deepspeed"):
        # the engine holds the weights (sharded under FULL_SHARD / ZeRO-3): the Trainer gathers a full state
        # dict (a collective every rank joins) and writes it from rank 0
        trainer.save_model(str(save_dir))
    elif world.is_main:
        model.save_pretrained(save_dir)
    if world.is_main:
        tokenizer.save_pretrained(save_dir)

    if device == "cuda":
        peak, peak_kind = int(torch.cuda.max_memory_allocated()), "cuda_max_memory_allocated"
    else:
        scale = 1 if sys.platform == "darwin" else 1024
        peak, peak_kind = int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale), "process_peak_rss"
    train_time = max(wall - eval_time, 1e-9)
    metrics = {
        "method": config.method,
        "device": device,
        "precision": precision,
        "world_size": world.world_size,
        "sharding": layout.sharding,
        "trainable_params": trainable,
        "total_params": total,
        "learning_rate": lr,
        "steps": trainer.state.global_step,
        "epochs": trainer.state.epoch,
        "train_loss": result.training_loss,
        "final_logged_train_loss": next((h["loss"] for h in reversed(history) if "loss" in h), None),
        "first_logged_train_loss": next((h["loss"] for h in history if "loss" in h), None),
        "eval_loss_before": before.loss,
        "eval_loss_after": after.loss,
        "perplexity_before": before.perplexity,
        "perplexity_after": after.perplexity,
        "eval_set": "valid" if valid_examples else "first train examples",
        "eval_tokens": after.tokens,
        "tokens_seen": tokens_seen,
        "tokens_per_second": tokens_seen / train_time,
        "train_seconds": train_time,
        "eval_seconds_during_training": eval_time,
        "peak_memory_bytes": peak,
        "peak_memory_kind": peak_kind,
        "data": {
            "train": report.__dict__,
            "valid": valid_report.__dict__,
            "packed_rows": len(train_rows) if config.data.packing else None,
        },
        "saved": str(save_dir),
    }
    if world.is_main:
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
        run_info = {
            "base_model": config.model.path,
            "method": config.method,
            "qlora": config.qlora.model_dump() if config.qlora else None,
            "config": config.to_dict(),
            "notes": config.notes,
        }
        (out / "tunesmith_run.json").write_text(json.dumps(run_info, indent=2) + "\n", encoding="utf-8")
        _plot(history, out / "loss.png", f"{config.method}: {pathlib.Path(config.model.path).name}")
    if not math.isfinite(after.loss):
        log("warning: the tuned model's loss is not finite; lower the learning rate")
    # no rank returns before rank 0 has written the outputs
    trainer.accelerator.wait_for_everyone()
    return TuneResult(out, metrics)
