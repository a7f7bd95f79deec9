"""``tunesmith check CONFIG``: the seed guide's best-practice checklist, walked against a real config and its data.

The guide ends with a "Best Practices Checklist" (before, during and after
fine-tuning). Most of its lines can be decided from a ``tunesmith tune`` config
and the files it names, without loading a model or torch:

* the data is read with the trainer's own reader and format rules; every record is
  checked; exact duplicates are counted with :class:`tunesmith.clean.ExactDeduper`
  (xxh3-128 of the normalised text), validation records that also appear in the
  training file are counted, and PII/secrets are found with
  :func:`tunesmith.clean.scan_pii_batch`;
* the job is sized with :func:`tunesmith.tune.preflight` (the accurate memory
  estimator) for the device the run would use (``nvidia-smi`` is asked for the GPU's
  memory, so torch is never imported);
* the learning rate is compared with the published range for the method (table
  :data:`LR_RANGES`, with its sources);
* evaluation, early stopping and checkpoint settings are compared with the number
  of optimizer steps the data gives.

Lines only a person can do (is prompting enough? human evaluation, regression
tests) are listed as ``MANUAL`` with the tunesmith tool that helps. Every item is
``PASS``, ``WARN``, ``FAIL``, ``MANUAL`` or ``SKIP`` (could not be checked because
an earlier item failed) with the reason. The command exits 1 when an item fails,
2 when the config itself cannot be loaded.

    >>> from tunesmith.check import run_checklist          # doctest: +SKIP
    >>> report = run_checklist("python/tunesmith/configs/lora.yaml", device="A100-80GB")
    >>> print(report)
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from tunesmith.errors import ArgumentError, ConfigError, TunesmithError

if TYPE_CHECKING:
    from tunesmith.tune.config import TrainConfig
    from tunesmith.tune.data import Record

__all__ = ["LR_RANGES", "CheckItem", "CheckReport", "add_arguments", "run", "run_checklist"]

Status = Literal["PASS", "WARN", "FAIL", "MANUAL", "SKIP"]
STAGES = ("before", "during", "after")

#: Typical learning-rate range per method: ``(low, high, where the numbers come from)``. Within it: PASS;
#: within a factor of 4 outside it: WARN; further out: FAIL.
LR_RANGES: dict[str, tuple[float, float, str]] = {
    "full": (5e-6, 3e-5, "the guide's 1e-5; Llama 2 SFT and Alpaca used 2e-5 (Touvron et al. 2023, Taori et al. 2023)"),
    "lora": (5e-5, 5e-4, "the guide's 2e-4; QLoRA used 2e-4 for 7-13B and 1e-4 for 33-65B (Dettmers et al. 2023)"),
    "dora": (5e-5, 5e-4, "as LoRA: DoRA reuses LoRA's learning rates (Liu et al. 2024)"),
    "qlora": (5e-5, 5e-4, "QLoRA used 2e-4 for 7-13B and 1e-4 for 33-65B (Dettmers et al. 2023)"),
    "ia3": (1e-3, 1e-2, "(IA)3 in T-Few trained at 3e-3 (Liu et al. 2022)"),
    "prompt_tuning": (1e-3, 0.3, "Lester et al. 2021 trained prompts at 0.3; PEFT's example uses 3e-2"),
    "prefix_tuning": (5e-5, 1e-2, "Li & Liang 2021 used 5e-5 to 8e-5; PEFT's example uses 1e-2"),
    "adapter": (1e-5, 1e-3, "Houlsby et al. 2019 swept 3e-5 to 3e-3; AdapterHub's default is 1e-4"),
    "dpo": (1e-7, 5e-6, "DPO trained at 1e-6 (Rafailov et al. 2023); Zephyr at 5e-7 (Tunstall et al. 2023)"),
    "dpo+lora": (1e-6, 1e-4, "LoRA DPO recipes use 5e-6 to 5e-5 (TRL / alignment-handbook zephyr qlora 5e-6)"),
}
_LR_SLACK = 4.0


@dataclass(frozen=True)
class CheckItem:
    """One line of the checklist with its verdict."""

    stage: str
    check: str
    status: Status
    detail: str


@dataclass
class CheckReport:
    """Every checklist item for one config."""

    config: str
    items: list[CheckItem] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        """True when an item is ``FAIL``."""
        return any(i.status == "FAIL" for i in self.items)

    def counts(self) -> dict[str, int]:
        """Items per status."""
        return dict(Counter(i.status for i in self.items))

    def to_dict(self) -> dict[str, Any]:
        return {"config": self.config, "failed": self.failed, "counts": self.counts(),
                "items": [asdict(i) for i in self.items]}

    def __str__(self) -> str:
        width = max((len(i.check) for i in self.items), default=5)
        lines = [f"{self.config}"]
        for i in self.items:
            lines.append(f"  {i.stage:<6}  {i.check:<{width}}  {i.status:<6}  {i.detail}")
        lines.append("  " + ", ".join(f"{n} {s}" for s, n in sorted(self.counts().items())))
        return "\n".join(lines)


# --- data ------------------------------------------------------------------------------------------------


def _strings(value: Any) -> Iterator[str]:
    """Every string in a JSON value, depth first, keys in order."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def record_text(record: Record) -> str:
    """All the text of a record (prompt, response, system, every turn), newline-joined: what dedup and PII see."""
    return "\n".join(_strings(record.data))


def _validate_records(records: Sequence[Record], fmt: str, dpo: bool) -> tuple[list[str], Counter[str]]:
    """Problems, each naming file:line and field, as the trainer would meet them; and the formats seen."""
    from tunesmith.errors import InputError
    from tunesmith.tune.data import detect_format, to_messages

    problems = []
    formats: Counter[str] = Counter()
    for r in records:
        try:
            if dpo:
                for key in ("prompt", "chosen", "rejected"):
                    if key not in r.data:
                        raise InputError(
                            f"{r.where(key)}: missing (preference records need prompt, chosen and rejected)"
                        )
                formats["preference"] += 1
            else:
                kind = detect_format(r) if fmt == "auto" else fmt
                to_messages(r, kind)
                formats[kind] += 1
        except InputError as exc:
            problems.append(str(exc))
    return problems, formats


@dataclass
class _Data:
    train: list[Any]
    valid: list[Any]
    valid_source: str
    problems: list[str]
    formats: Counter[str]
    sampled: bool


def _read_data(config: TrainConfig, sample: int | None) -> _Data:
    from tunesmith.tune.data import load_records

    limit = config.data.max_examples
    if sample is not None:
        limit = min(limit, sample) if limit is not None else sample
    train = load_records(config.data.train_path, limit=limit)
    sampled = sample is not None and len(train) == sample
    if config.data.valid_path:
        valid = load_records(config.data.valid_path, limit=sample)
        source = config.data.valid_path
    elif config.data.valid_fraction > 0:
        n_valid = max(1, int(len(train) * config.data.valid_fraction))
        valid, train = train[-n_valid:], train[:-n_valid]
        source = f"the last {config.data.valid_fraction:g} of {config.data.train_path}"
    else:
        valid, source = [], ""
    problems, formats = _validate_records(train + valid, config.data.format, config.dpo is not None)
    return _Data(train, valid, source, problems, formats, sampled)


# --- device and model -------------------------------------------------------------------------------------


def _nvidia_smi() -> tuple[str, int] | None:
    """(name, bytes) of GPU 0 from ``nvidia-smi``, or None when there is none; never imports torch."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "--query-gpu=name,memory.total", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=20, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    first = out.strip().splitlines()[0] if out.strip() else ""
    name, _, mib = first.rpartition(",")
    try:
        return name.strip(), int(float(mib)) * 2**20
    except ValueError:
        return None


def _catalog_guess(model_path: str) -> str | None:
    """A catalog name for a hub id: ``Qwen/Qwen2.5-0.5B-Instruct`` → ``qwen2.5-0.5b``."""
    from tunesmith.estimate.catalog import catalog_names

    names = set(catalog_names())
    stem = model_path.rstrip("/").split("/")[-1].lower()
    candidates = [stem]
    for pattern in (r"-(instruct|chat|hf|it|base)(-v?[\d.]+)?$", r"^meta-"):
        candidates += [re.sub(pattern, "", c) for c in list(candidates)]
    candidates += [re.sub(r"-(instruct|chat|hf|it|base)$", "", c) for c in list(candidates)]
    return next((c for c in candidates if c in names), None)


def _sizable(config: TrainConfig, model_config: str | None) -> tuple[TrainConfig | None, str]:
    """A copy of ``config`` whose model the estimator can size offline, and how it was found (or why not)."""
    path = pathlib.Path(model_config or config.model.path)
    if model_config is not None:
        folder = path.parent if path.name == "config.json" else path
        if not (folder / "config.json").exists():
            raise ArgumentError(f"--model-config {model_config}: no config.json there")
        sized = config.model_copy(deep=True)
        sized.model.path = str(folder)
        return sized, f"model config {folder / 'config.json'}"
    if (path / "config.json").exists():
        return config, f"model config {path / 'config.json'}"
    from tunesmith.estimate.catalog import catalog_entry

    try:
        catalog_entry(config.model.path)
        return config, f"catalog model {config.model.path}"
    except KeyError:
        pass
    guess = _catalog_guess(config.model.path)
    if guess is None:
        try:
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(config.model.path, "config.json")
        except Exception:  # no huggingface_hub, or an id it refuses: not sizable offline either way
            cached = None
        if isinstance(cached, str):
            sized = config.model_copy(deep=True)
            sized.model.path = str(pathlib.Path(cached).parent)
            return sized, f"cached {cached}"
        return None, (f"{config.model.path} is not a local model, a catalog name or in the hub cache; "
                      "pass --model-config PATH/config.json to size it")
    sized = config.model_copy(deep=True)
    sized.model.path = guess
    return sized, f"sized as catalog model {guess}"


# --- the checklist ----------------------------------------------------------------------------------------


def _steps(config: TrainConfig, n_train: int) -> int:
    tr = config.training
    if tr.max_steps > 0:
        return tr.max_steps
    per_epoch = max(1, math.ceil(math.ceil(n_train / tr.train_batch_size_per_device) / tr.gradient_accumulation_steps))
    return max(1, math.ceil(per_epoch * tr.num_epochs))


def _gib(n: float) -> str:
    return f"{n / 2**30:.2f} GiB"


def run_checklist(
    config: str | pathlib.Path | TrainConfig,
    *,
    device: str | None = None,
    device_memory: float | None = None,
    sample: int | None = None,
    model_config: str | None = None,
) -> CheckReport:
    """Walk the guide's before/during/after checklist for ``config``.

    Args:
        config: a YAML path (loaded with :func:`tunesmith.tune.load_config`) or a loaded config.
        device: size the job for ``cpu``, ``cuda`` (GPU 0, from ``nvidia-smi``) or a device name
            of the estimator's hardware catalog (``A100-80GB``...); default: the config's
            ``training.device`` (``auto``: the GPU when ``nvidia-smi`` finds one, else the CPU).
        device_memory: the device's memory in GiB, overriding what is detected.
        sample: check only the first ``sample`` training (and validation) records.
        model_config: a ``config.json`` to size the model with, for a hub model not on disk.

    Returns:
        The report; ``report.failed`` is True when an item is ``FAIL``.

    Raises:
        ConfigError: the config cannot be loaded (the message names file, line and key).
        ArgumentError: ``sample`` below 1, an unknown ``device`` or a ``model_config`` that is not there.
    """
    from tunesmith.advise import TrainingDataRequirements
    from tunesmith.tune.config import TrainConfig, load_config

    if sample is not None and sample < 1:
        raise ArgumentError(f"sample={sample}: give at least 1 record, or None for all")
    if device is not None and device not in ("cpu", "cuda", "auto"):
        from tunesmith.estimate.hardware import get_device

        get_device(device)  # a name outside the catalog raises, listing the valid ones
    source = str(config) if not isinstance(config, TrainConfig) else "<config>"
    cfg = config if isinstance(config, TrainConfig) else load_config(config)
    tr = cfg.training
    report = CheckReport(source)

    def add(stage: str, check: str, status: Status, detail: str) -> None:
        report.items.append(CheckItem(stage, check, status, detail))

    # --- before ------------------------------------------------------------------------------------------
    add("before", "prompting or RAG first", "MANUAL",
        "profile the use case with tunesmith.advise.ApproachRecommender (fine-tuning pays off with 1000+ "
        "examples, static knowledge, a format or tone to learn)")
    data: _Data | None
    try:
        data = _read_data(cfg, sample)
    except TunesmithError as exc:
        data = None
        add("before", "training data", "FAIL", str(exc))
    n_train = len(data.train) if data else 0
    if data is not None:
        where = f"{len(data.train)} train" + (f", {len(data.valid)} validation" if data.valid else "")
        if data.problems:
            more = f" (and {len(data.problems) - 3} more)" if len(data.problems) > 3 else ""
            add("before", "training data", "FAIL",
                f"{len(data.problems)} of {len(data.train) + len(data.valid)} records would be rejected: "
                + "; ".join(data.problems[:3]) + more)
        else:
            add("before", "training data", "PASS",
                f"{where} records{' (sampled)' if data.sampled else ''}, all readable: "
                + ", ".join(f"{n} {k}" for k, n in data.formats.most_common()))
        req = TrainingDataRequirements()
        level = req.assess(n_train)
        size_status: Status = "FAIL" if level == "below minimum" else "WARN" if level == "minimum" else "PASS"
        if data.sampled:
            size_status, level = "SKIP", f"sampled {n_train}; run without --sample to count"
        add("before", "enough examples (1000+)", size_status,
            f"{n_train} training examples: {level} (the guide: {req.minimum_samples} bare minimum, "
            f"{req.recommended_samples} recommended, {req.optimal_samples} best)")
    else:
        add("before", "enough examples (1000+)", "SKIP", "the training data could not be read")

    clean = None
    if cfg.data.clean is not None:
        from tunesmith.clean.config import CleanConfig

        try:
            clean = CleanConfig.coerce(dict(cfg.data.clean))
        except TunesmithError as exc:
            add("before", "data.clean options", "FAIL", f"{source}: data.clean: {exc}")
    if data is not None:
        from tunesmith.clean import ExactDeduper, scan_pii_batch

        train_texts = [record_text(r) for r in data.train]
        valid_texts = [record_text(r) for r in data.valid]
        deduper = ExactDeduper()
        dup_of = deduper.add(train_texts)
        dups = [(r, data.train[d]) for r, d in zip(data.train, dup_of) if d is not None]
        dedup_on = clean is not None and clean.exact_dedup.enabled
        if not dups:
            add("before", "deduplicated", "PASS", f"no exact duplicates among {len(train_texts)} training records")
        else:
            first = f"e.g. line {dups[0][0].line} repeats line {dups[0][1].line}"
            share = len(dups) / len(train_texts)
            if dedup_on:
                add("before", "deduplicated", "PASS",
                    f"{len(dups)} exact duplicates ({share:.1%}); data.clean.exact_dedup removes them before training")
            else:
                add("before", "deduplicated", "WARN" if share <= 0.01 else "FAIL",
                    f"{len(dups)} exact duplicates ({share:.1%}) in {cfg.data.train_path}, {first}; "
                    "add `data: {clean: {}}` or run `tunesmith clean`")
        if data.valid:
            seen = set(deduper.hashes(train_texts))
            leaked = [r for r, h in zip(data.valid, deduper.hashes(valid_texts)) if h in seen]
            add("before", "validation held out", "PASS" if not leaked else "FAIL",
                "no validation record is also a training record" if not leaked else
                f"{len(leaked)} of {len(data.valid)} validation records are also in the training data "
                f"(e.g. {leaked[0].where()}): validation loss would flatter the model")
        # PII: found on what the model would read. data.clean's `redact` rewrites the cleaned texts, but the
        # trainer keeps the original records, so only `drop` keeps PII out of the weights.
        spans = scan_pii_batch(train_texts + valid_texts)
        hits = [(r, s) for r, s in zip(data.train + data.valid, spans) if s]
        kinds = Counter(span.kind for _, s in hits for span in s)
        pii_dropped = clean is not None and clean.pii.enabled and clean.pii.action == "drop"
        if not hits:
            add("before", "PII removed", "PASS", f"no PII or secrets in {len(spans)} records")
        else:
            summary = ", ".join(f"{k} {n}" for k, n in kinds.most_common())
            first = f"first at {hits[0][0].where()} ({hits[0][1][0].kind})"
            if pii_dropped:
                add("before", "PII removed", "PASS",
                    f"{len(hits)} records with PII ({summary}); data.clean.pii drops them before training")
            else:
                add("before", "PII removed", "FAIL",
                    f"{len(hits)} of {len(spans)} records hold PII or secrets ({summary}), {first}; redact them with "
                    "`tunesmith clean` first (or `data: {clean: {pii: {action: drop}}}`)")
    else:
        for name in ("deduplicated", "PII removed"):
            add("before", name, "SKIP", "the training data could not be read")

    has_valid = bool(data and data.valid)
    if data is not None and not data.valid:
        add("before", "train/validation split", "FAIL",
            "no validation data: set data.valid_path, or data.valid_fraction (e.g. 0.05) to split the training file")
    elif data is not None:
        add("before", "train/validation split", "PASS",
            f"{len(data.valid)} validation records from {data.valid_source}")
    else:
        add("before", "train/validation split", "SKIP", "the training data could not be read")
    add("before", "baseline metrics", "PASS" if has_valid else "WARN",
        "tunesmith tune measures the base model's validation loss before training" if has_valid else
        "without validation data the baseline is the loss on the first 64 training examples")

    # compute
    fits: bool | None = None
    params_b: float | None = None
    sized, how = _sizable(cfg, model_config)
    if sized is None:
        add("before", "compute fits", "WARN", f"cannot size the job: {how}")
    else:
        mem = int(device_memory * 2**30) if device_memory is not None else None
        dev = device or tr.device
        desc = dev
        if dev in ("auto", "cuda"):
            gpu = _nvidia_smi()
            if gpu is not None:
                desc = f"cuda ({gpu[0]})"
                mem = mem if mem is not None else gpu[1]
                dev = "cuda"
            elif dev == "cuda" and mem is None:
                which = "--device" if device else "training.device"
                add("before", "compute fits", "FAIL", f"{which} is cuda but nvidia-smi finds no GPU")
                dev = ""
            else:
                dev = "cuda" if dev == "cuda" else "cpu"
                desc = dev
        if dev:
            from tunesmith.estimate.memory import resolve_model
            from tunesmith.tune.trainer import preflight

            try:
                pre = preflight(sized, device=dev, device_memory=mem)
                params_b = resolve_model(_source_of(sized)).num_params / 1e9
            except TunesmithError as exc:
                add("before", "compute fits", "WARN", f"cannot size the job ({how}): {exc}")
            else:
                fits = pre.fits
                use = pre.required_bytes / pre.available_bytes if pre.available_bytes else math.inf
                tail = pre.report.splitlines()
                tips = [t.strip()[2:] for t in tail if t.strip().startswith("- ")]
                if not fits:
                    add("before", "compute fits", "FAIL",
                        f"needs {_gib(pre.required_bytes)}, {desc} has {_gib(pre.available_bytes or 0)} ({how}); "
                        + (f"first fix: {tips[0]}" if tips else ""))
                else:
                    add("before", "compute fits", "PASS" if use <= 0.9 else "WARN",
                        f"needs {_gib(pre.required_bytes)} of {desc}'s {_gib(pre.available_bytes or 0)} "
                        f"({use:.0%}; {how})"
                        + ("; under 10 % headroom: allocator fragmentation can still OOM" if use > 0.9 else ""))

    # --- during ------------------------------------------------------------------------------------------
    method = cfg.method
    add("during", "PEFT before full fine-tuning", "WARN" if method == "full" else "PASS",
        "full fine-tuning: try a LoRA adapter (lora_config block) first; it is cheaper and forgets less"
        if method == "full" else f"{method}{' (DPO)' if cfg.dpo else ''}: trains an adapter, the base stays frozen")

    key = ("dpo+lora" if cfg.lora_config is not None else "dpo") if cfg.dpo is not None else method
    lo, hi, why = LR_RANGES[key]
    lr = tr.learning_rate
    lr_source = "training.learning_rate"
    if lr is None and cfg.dpo is None and params_b is not None:
        from tunesmith.tune.trainer import recommend_lr

        lr = recommend_lr(params_b, method, n_train)
        lr_source = f"unset, so the guide's recommend_lr({params_b:.3g} B, {method}, {n_train} examples)"
    if lr is None:
        add("during", "learning rate", "SKIP",
            "training.learning_rate is unset and the model could not be sized to compute the recommended one")
    else:
        if lo <= lr <= hi:
            status: Status = "PASS"
        elif lo / _LR_SLACK <= lr <= hi * _LR_SLACK:
            status = "WARN"
        else:
            status = "FAIL"
        add("during", "learning rate", status,
            f"{lr:g} ({lr_source}); typical for {key}: {lo:g} to {hi:g} ({why})")

    fits_text = "the job fits" if fits else "the job does not fit" if fits is False else "the job was not sized"
    if tr.gradient_checkpointing:
        add("during", "gradient checkpointing", "PASS", "on")
    else:
        add("during", "gradient checkpointing", "PASS" if fits else "WARN",
            f"off and {fits_text}" + (": turning it on costs ~30 % more compute for nothing" if fits else
                                      ": set training.gradient_checkpointing: true"))

    steps = _steps(cfg, n_train) if data is not None else None
    evaluates = has_valid and tr.eval_strategy != "no"
    if steps is None:
        add("during", "monitor loss and validation", "SKIP", "the training data could not be read")
    elif not evaluates:
        add("during", "monitor loss and validation", "FAIL",
            "no validation data" if not has_valid else
            "training.eval_strategy is 'no': validation loss is never computed")
    else:
        packed = " at most" if cfg.data.packing else ""
        evals = steps // tr.eval_steps if tr.eval_strategy == "steps" else math.ceil(tr.num_epochs)
        logs = steps // tr.logging_steps
        if evals < 1 or logs < 1:
            add("during", "monitor loss and validation", "WARN",
                f"{steps} optimizer steps{packed}, but eval_steps {tr.eval_steps} / logging_steps {tr.logging_steps}: "
                f"{evals} evaluations, {logs} loss logs during training; lower them")
        else:
            add("during", "monitor loss and validation", "PASS",
                f"{steps} optimizer steps{packed}: loss logged {logs}x, validation loss computed {evals}x")

    if steps is not None:
        saves = steps // tr.save_steps
        add("during", "checkpoints", "PASS" if saves >= 1 else "WARN",
            f"a checkpoint every {tr.save_steps} steps ({saves} in {steps}), keeping {tr.save_total_limit or 'all'}"
            if saves >= 1 else f"save_steps {tr.save_steps} exceeds the {steps} steps: no checkpoint before the end")
    else:
        add("during", "checkpoints", "SKIP", "the training data could not be read")

    if tr.early_stopping_patience is None:
        add("during", "early stopping", "WARN",
            "off: set training.early_stopping_patience (e.g. 3) to stop when validation loss stops improving"
            + (f"; {tr.num_epochs:g} epochs over {n_train} examples can overfit" if tr.num_epochs > 3 else ""))
    elif not evaluates:
        add("during", "early stopping", "FAIL",
            f"early_stopping_patience {tr.early_stopping_patience} needs validation data and an eval_strategy; "
            "without them tunesmith tune turns it off")
    else:
        add("during", "early stopping", "PASS",
            f"stops after {tr.early_stopping_patience} evaluations without a validation-loss gain over "
            f"{tr.early_stopping_threshold:g}; the best checkpoint is kept")

    # --- after -------------------------------------------------------------------------------------------
    add("after", "held-out test set", "MANUAL",
        "keep a test file out of train/validation and run `tunesmith eval OUTPUT_DIR --data TEST.jsonl`")
    add("after", "compare against baseline", "PASS" if has_valid else "WARN",
        "metrics.json holds validation loss and perplexity before and after" if has_valid else
        "without validation data before/after is measured on training examples")
    add("after", "general-capability regression", "MANUAL",
        "evaluate the tuned model on general prompts too (replay data: CatastrophicForgettingMitigation)")
    add("after", "human evaluation", "MANUAL",
        "blind side-by-side sheets and Krippendorff's alpha: tunesmith.evaluation.HumanEvaluation")
    out = pathlib.Path(cfg.output_dir)
    if (out / "tunesmith_run.json").exists():
        add("after", "document config and results", "WARN",
            f"{out} already holds a run: it would be resumed or overwritten; choose a new output_dir")
    else:
        add("after", "document config and results", "PASS",
            f"tunesmith tune writes tunesmith_run.json, metrics.json and log.csv to {out}")
    add("after", "merge adapter", "PASS" if method == "full" else "MANUAL",
        "full fine-tuning saves full weights; nothing to merge" if method == "full" else
        f"`tunesmith merge {out}` writes {out / 'merged'} for deployment")
    add("after", "version artifacts", "MANUAL",
        "register the run with tunesmith.registry.ModelVersionManager (stages, metrics, rollback)")
    return report


def _source_of(config: TrainConfig) -> Any:
    path = pathlib.Path(config.model.path)
    return str(path / "config.json") if (path / "config.json").exists() else config.model.path


# --- the command ------------------------------------------------------------------------------------------

_STYLE = {"PASS": "green", "WARN": "yellow", "FAIL": "bold red", "MANUAL": "cyan", "SKIP": "dim"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.usage = ("tunesmith check CONFIG [--device DEVICE] [--device-memory GIB] [--sample N] "
                    "[--model-config PATH] [--json]")
    parser.add_argument("config", metavar="CONFIG", help="a tunesmith tune YAML config")
    parser.add_argument("--device",
                        help="size for cpu, cuda or a catalog device (A100-80GB, ...); default: the config's")
    parser.add_argument("--device-memory", type=float, metavar="GIB", help="the device's memory, overriding detection")
    parser.add_argument("--sample", type=int, metavar="N", help="check only the first N records of each file")
    parser.add_argument("--model-config", metavar="PATH", help="config.json of the model, for a hub id not on disk")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args: argparse.Namespace) -> int:
    try:
        report = run_checklist(args.config, device=args.device, device_memory=args.device_memory,
                               sample=args.sample, model_config=args.model_config)
    except (ConfigError, ArgumentError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        _print_table(report)
    return 1 if report.failed else 0


def _print_table(report: CheckReport) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        print(report)
        return
    table = Table(title=f"tunesmith check {report.config}", show_lines=False)
    for name in ("stage", "check", "status", "detail"):
        table.add_column(name, overflow="fold", no_wrap=name != "detail")
    for item in report.items:
        table.add_row(item.stage, item.check, f"[{_STYLE[item.status]}]{item.status}[/]", item.detail)
    console = Console()
    console.print(table)
    counts = report.counts()
    console.print(", ".join(f"[{_STYLE[s]}]{counts[s]} {s}[/]" for s in ("PASS", "WARN", "FAIL", "MANUAL", "SKIP")
                            if s in counts))
