"""``TrainConfig``: one YAML (or Python) description of a fine-tuning run.

The schema is nested (``model``, ``data``, one method block, ``training``,
``output_dir``), but the flat Anyscale template keys (``model_id``,
``train_path``, ``context_length``, ``lora_config`` ...) load as written, and
the keys that transformers 5 / TRL 1.x removed or renamed are translated with
a note instead of failing deep inside the Trainer. Errors name the file, the
line and the key, with the valid keys at that place.

Only pydantic and pyyaml are imported here: validating a config never loads torch.
"""

from __future__ import annotations

import difflib
import pathlib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from tunesmith.errors import ConfigError

__all__ = [
    "AdapterConfig",
    "DPOConfig",
    "DataConfig",
    "IA3Config",
    "LoraConfig",
    "ModelConfig",
    "PrefixTuningConfig",
    "PromptTuningConfig",
    "QLoraConfig",
    "TrainConfig",
    "TrainingConfig",
    "load_config",
]


class _Block(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelConfig(_Block):
    """Which model to start from and how to load it."""

    path: str = Field(description="local directory or hub id")
    processing_class: str | None = Field(default=None, description="tokenizer directory when not the model's")
    trust_remote_code: bool = False
    attn_implementation: Literal["sdpa", "eager", "flash_attention_2"] | None = None
    revision: str | None = None
    token: str | None = None


class DataConfig(_Block):
    """Training and validation files (JSONL or JSON) and how to turn them into tokens."""

    train_path: str
    valid_path: str | None = None
    format: Literal["auto", "alpaca", "sharegpt", "openai", "text"] = "auto"
    packing: bool = False
    chat_template: str | None = Field(default=None, description="jinja template overriding the tokenizer's")
    valid_fraction: float = Field(default=0.0, ge=0.0, lt=1.0, description="split off train when no valid_path")
    max_examples: int | None = Field(default=None, gt=0)
    clean: dict[str, Any] | None = Field(default=None, description="tunesmith.clean options applied first")


class LoraConfig(_Block):
    """LoRA (``use_dora: true`` for DoRA). Anyscale's ``lora_config`` block, as written."""

    r: int = Field(default=8, gt=0)
    lora_alpha: float = 16
    lora_dropout: float = Field(default=0.05, ge=0.0, lt=1.0)
    target_modules: list[str] | Literal["all-linear"] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"]
    )
    use_dora: bool = False
    bias: Literal["none", "all", "lora_only"] = "none"
    modules_to_save: list[str] | None = None
    task_type: Literal["CAUSAL_LM"] = "CAUSAL_LM"
    fan_in_fan_out: bool = False
    init_lora_weights: bool = True


class QLoraConfig(_Block):
    """Quantize the frozen base with bitsandbytes; the ``lora_config`` block gives the adapter."""

    bits: Literal[4, 8] = 4
    quant_type: Literal["nf4", "fp4"] = "nf4"
    double_quant: bool = True
    compute_dtype: Literal["bfloat16", "float16", "float32"] = "bfloat16"


class IA3Config(_Block):
    target_modules: list[str] = Field(default_factory=lambda: ["k_proj", "v_proj", "down_proj"])
    feedforward_modules: list[str] = Field(default_factory=lambda: ["down_proj"])


class PrefixTuningConfig(_Block):
    num_virtual_tokens: int = Field(default=16, gt=0)
    prefix_projection: bool = False


class PromptTuningConfig(_Block):
    num_virtual_tokens: int = Field(default=16, gt=0)
    init_text: str | None = Field(default=None, description="initialise the soft prompt from this text")


class AdapterConfig(_Block):
    """Bottleneck adapter (Houlsby-style) after each decoder MLP."""

    bottleneck_size: int = Field(default=64, gt=0)
    activation: Literal["gelu", "relu"] = "gelu"


class DPOConfig(_Block):
    """Preference tuning with TRL's DPOTrainer on ``prompt``/``chosen``/``rejected`` records.

    With a ``lora_config`` block the reference model is the base with the adapter
    disabled (no second copy); without one (full DPO) TRL keeps a frozen copy.
    """

    beta: float = Field(default=0.1, gt=0)
    loss_type: Literal["sigmoid", "hinge", "ipo", "robust"] = "sigmoid"


class TrainingConfig(_Block):
    """Optimisation and bookkeeping. Names follow the Anyscale template where it has one."""

    num_epochs: float = Field(default=1.0, gt=0)
    max_steps: int = Field(default=-1, description="stop after this many optimizer steps (-1: epochs decide)")
    context_length: int = Field(default=512, gt=1)
    train_batch_size_per_device: int = Field(default=4, gt=0)
    eval_batch_size_per_device: int | None = Field(default=None, gt=0)
    gradient_accumulation_steps: int = Field(default=1, gt=0)
    learning_rate: float | None = Field(default=None, gt=0, description="None: the seed guide's recommend_lr")
    lr_scheduler: Literal[
        "linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup"
    ] = "cosine"
    warmup_steps: float = Field(default=0, ge=0, description="steps, or a fraction of all steps when < 1")
    weight_decay: float = Field(default=0.0, ge=0)
    max_grad_norm: float = Field(default=1.0, ge=0)
    optimizer: str = "adamw_torch"
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    gradient_checkpointing: bool = False
    seed: int = 42
    device: Literal["auto", "cpu", "cuda"] = "auto"
    eval_strategy: Literal["steps", "epoch", "no"] = "steps"
    eval_steps: int = Field(default=50, gt=0)
    save_steps: int = Field(default=50, gt=0)
    logging_steps: int = Field(default=10, gt=0)
    save_total_limit: int | None = Field(default=2, gt=0)
    early_stopping_patience: int | None = Field(default=None, gt=0)
    early_stopping_threshold: float = Field(default=0.0, ge=0)
    report_to: list[Literal["csv", "tensorboard"]] = Field(default_factory=lambda: ["csv"])


METHOD_BLOCKS = ("lora_config", "ia3", "prefix_tuning", "prompt_tuning", "adapter")


class TrainConfig(_Block):
    """A whole run. Exactly one method block, or none for full fine-tuning; ``qlora`` goes with ``lora_config``."""

    model: ModelConfig
    data: DataConfig
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    lora_config: LoraConfig | None = None
    qlora: QLoraConfig | None = None
    ia3: IA3Config | None = None
    prefix_tuning: PrefixTuningConfig | None = None
    prompt_tuning: PromptTuningConfig | None = None
    adapter: AdapterConfig | None = None
    dpo: DPOConfig | None = None
    output_dir: str = "tunesmith-out"
    _notes: list[str] = PrivateAttr(default_factory=list)

    @model_validator(mode="after")
    def _one_method(self) -> TrainConfig:
        chosen = [name for name in METHOD_BLOCKS if getattr(self, name) is not None]
        if len(chosen) > 1:
            raise ValueError(f"choose one method block, got {', '.join(chosen)}")
        if self.qlora is not None and chosen and chosen != ["lora_config"]:
            raise ValueError(f"qlora trains a LoRA adapter on a quantized base; it cannot go with {chosen[0]}")
        if self.dpo is not None and chosen and chosen != ["lora_config"]:
            raise ValueError(f"dpo trains either all weights or a lora_config adapter, not {chosen[0]}")
        if self.qlora is not None and self.lora_config is None:
            self.lora_config = LoraConfig()
        return self

    @property
    def method(self) -> str:
        """``full``, ``lora``, ``dora``, ``qlora``, ``ia3``, ``prefix_tuning``, ``prompt_tuning`` or ``adapter``."""
        if self.qlora is not None:
            return "qlora"
        if self.lora_config is not None:
            return "dora" if self.lora_config.use_dora else "lora"
        for name in METHOD_BLOCKS[1:]:
            if getattr(self, name) is not None:
                return name
        return "full"

    @property
    def notes(self) -> list[str]:
        """What the loader translated (old names, Anyscale cluster keys), one line each."""
        return list(self._notes)

    @classmethod
    def from_yaml(cls, path: str | pathlib.Path) -> TrainConfig:
        return load_config(path)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "<dict>") -> TrainConfig:
        return _build(data, {}, source)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


# --- translation of flat / renamed / removed keys -------------------------------------------------

# flat key -> (canonical path, note or None). None: the key is a current name, translated silently.
_FLAT: dict[str, tuple[tuple[str, ...], str | None]] = {
    "model_id": (("model", "path"), None),
    "model_name": (("model", "path"), None),
    "model_name_or_path": (("model", "path"), None),
    "tokenizer": (("model", "processing_class"), "transformers 5: Trainer(tokenizer=) is processing_class="),
    "tokenizer_name": (("model", "processing_class"), None),
    "processing_class": (("model", "processing_class"), None),
    "trust_remote_code": (("model", "trust_remote_code"), None),
    "use_auth_token": (("model", "token"), "transformers 5 removed use_auth_token; it is token="),
    "token": (("model", "token"), None),
    "train_path": (("data", "train_path"), None),
    "valid_path": (("data", "valid_path"), None),
    "packing": (("data", "packing"), None),
    "dataset_format": (("data", "format"), None),
}
# keys that name TrainingArguments / seed-guide / TRL fields -> canonical training key (note or None)
_TRAINING: dict[str, tuple[str, str | None]] = {
    "num_train_epochs": ("num_epochs", None),
    "epochs": ("num_epochs", None),
    "per_device_train_batch_size": ("train_batch_size_per_device", None),
    "batch_size": ("train_batch_size_per_device", None),
    "per_device_eval_batch_size": ("eval_batch_size_per_device", None),
    "max_seq_length": ("context_length", "TRL 1.x renamed max_seq_length to max_length; here it is context_length"),
    "max_length": ("context_length", None),
    "evaluation_strategy": ("eval_strategy", "transformers 5 removed evaluation_strategy; it is eval_strategy"),
    "warmup_ratio": ("warmup_steps", "transformers 5 removed warmup_ratio; a warmup_steps value below 1 is a ratio"),
    "lr_scheduler_type": ("lr_scheduler", None),
    "optim": ("optimizer", None),
    "num_checkpoints_to_keep": ("save_total_limit", None),
    "early_stopping": ("early_stopping_patience", None),
    "activation_checkpointing": ("gradient_checkpointing", None),
}
for _k in TrainingConfig.model_fields:
    _TRAINING.setdefault(_k, (_k, None))

# accepted, not used, with the reason
_DROPPED: dict[str, str] = {
    "overwrite_output_dir": "transformers 5 removed overwrite_output_dir; the output dir is reused and checkpoints resume",
    "logging_dir": "transformers 5 removed logging_dir; logs go under output_dir/logs",
    "push_to_hub": "tunesmith never pushes; upload output_dir/merged yourself",
    "max_prompt_length": "TRL 1.x removed max_prompt_length; prompts are truncated with the example",
    "num_devices": "one process per device: launch with `accelerate launch -m tunesmith tune ...` or torchrun",
    "worker_resources": "Ray cluster key; not used",
    "trainer_resources": "Ray cluster key; not used",
    "deepspeed": "pass a DeepSpeed config through `accelerate launch --config_file`",
    "dataset_size_scaling_factor": "Anyscale key; not used",
    "padding": "batches are padded to the longest example (or packed with data.packing)",
    "tf32": "TF32 is left at the torch default",
    "use_flash_attention": "set model.attn_implementation: flash_attention_2 on a GPU with flash-attn",
    "flash_attention_2": "set model.attn_implementation: flash_attention_2 on a GPU with flash-attn",
    "report_to_wandb": "only csv and tensorboard logging are built in",
    "task": "only causal-LM instruction tuning is supported",
}


def _put(out: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    """Set ``out[path]``; a mapping merges into one already there (flat keys and their block can mix)."""
    node = out
    for part in path[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            return
    old = node.get(path[-1])
    if isinstance(old, dict) and isinstance(value, dict):
        node[path[-1]] = {**old, **value}
    else:
        node[path[-1]] = value


def _translate(
    data: dict[str, Any], lines: dict[tuple[Any, ...], int]
) -> tuple[dict[str, Any], dict[tuple[Any, ...], int], list[str]]:
    """Flat and legacy keys -> the nested schema; returns the new dict, its line map and the notes."""
    out: dict[str, Any] = {}
    new_lines: dict[tuple[Any, ...], int] = {}
    notes: list[str] = []

    def move(src: tuple[Any, ...], dst: tuple[Any, ...], value: Any) -> None:
        _put(out, dst, value)
        for path, line in lines.items():
            if path[: len(src)] == src:
                new_lines[dst + path[len(src) :]] = line

    def note(src: tuple[Any, ...], text: str) -> None:
        line = lines.get(src)
        where = f"line {line}: " if line else ""
        notes.append(f"{where}{'.'.join(map(str, src))}: {text}")

    for key, value in data.items():
        src = (key,)
        if key == "model" and isinstance(value, str):
            move(src, ("model", "path"), value)
        elif key in _FLAT:
            dst, text = _FLAT[key]
            move(src, dst, value)
            if text:
                note(src, text)
        elif key in _DROPPED:
            note(src, f"ignored: {_DROPPED[key]}")
        elif key == "load_in_4bit" or key == "load_in_8bit":
            if value:
                move(src, ("qlora", "bits"), 4 if key == "load_in_4bit" else 8)
                note(src, f"transformers 5 removed from_pretrained({key}=); translated to a qlora block")
        elif key in ("torch_dtype", "dtype"):
            note(src, "ignored: the dtype follows training.precision (transformers 5 calls it dtype=)")
        elif key in ("fp16", "bf16"):
            if value:
                move(src, ("training", "precision"), key)
                note(src, f"translated to training.precision: {key}")
        elif key == "no_cuda":
            if value:
                move(src, ("training", "device"), "cpu")
            note(src, "transformers 5 removed no_cuda; translated to training.device: cpu (use_cpu=True)")
        elif key in ("peft_method", "lora_r", "lora_alpha", "lora_dropout", "lora_target_modules"):
            continue
        elif key in _TRAINING and key not in TrainConfig.model_fields:
            dst_key, text = _TRAINING[key]
            move(src, ("training", dst_key), value)
            if text:
                note(src, text)
        elif key == "training" and isinstance(value, dict):
            for tkey, tvalue in value.items():
                tsrc = (key, tkey)
                if tkey in _DROPPED:
                    note(tsrc, f"ignored: {_DROPPED[tkey]}")
                elif tkey in _TRAINING:
                    dst_key, text = _TRAINING[tkey]
                    move(tsrc, ("training", dst_key), tvalue)
                    if text:
                        note(tsrc, text)
                else:
                    move(tsrc, ("training", tkey), tvalue)
        else:
            move(src, (key,), value)

    # the seed guide's FineTuningConfig: peft_method + lora_r/lora_alpha/...
    method = data.get("peft_method")
    seed_lora = {k: data[k] for k in ("lora_r", "lora_alpha", "lora_dropout", "lora_target_modules") if k in data}
    if method is not None or seed_lora:
        if method not in (None, "lora", "qlora", "full"):
            move(("peft_method",), ("peft_method",), method)
        elif method != "full":
            names = {"lora_r": "r", "lora_target_modules": "target_modules"}
            for k, v in seed_lora.items():
                move((k,), ("lora_config", names.get(k, k)), v)
            out.setdefault("lora_config", {})
            if method == "qlora":
                out.setdefault("qlora", {})
        note(("peft_method",) if method is not None else (next(iter(seed_lora)),),
             "seed FineTuningConfig keys translated to lora_config/qlora blocks")
    if "warmup_steps" in out.get("training", {}) and "warmup_ratio" in data.get("training", data):
        ratio = out["training"]["warmup_steps"]
        if isinstance(ratio, (int, float)) and ratio >= 1:
            notes.append(f"warmup_ratio {ratio} is not below 1; it is read as a step count")
    return out, new_lines, notes


# --- YAML with line numbers ----------------------------------------------------------------------


def _lines_of(node: Any, path: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> None:
    import yaml

    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = yaml.safe_load(yaml.serialize(key_node)) if not isinstance(key_node, yaml.ScalarNode) else key_node.value
            sub = path + (key,)
            lines[sub] = key_node.start_mark.line + 1
            _lines_of(value_node, sub, lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            sub = path + (i,)
            lines[sub] = item.start_mark.line + 1
            _lines_of(item, sub, lines)


def _read_yaml(path: pathlib.Path) -> tuple[Any, dict[tuple[Any, ...], int]]:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc.strerror or exc}") from exc
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ConfigError(f"{where}: invalid YAML: {getattr(exc, 'problem', None) or exc}") from exc
    lines: dict[tuple[Any, ...], int] = {}
    if root is not None:
        _lines_of(root, (), lines)
    return data, lines


def _fields_at(loc: tuple[Any, ...]) -> list[str] | None:
    """The valid keys of the block that ``loc`` points into (``loc[:-1]``)."""
    import typing

    model: Any = TrainConfig
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        fields = getattr(model, "model_fields", None)
        if fields is None or part not in fields:
            return None
        ann = fields[part].annotation
        candidates = [ann, *typing.get_args(ann)]
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if model is None:
            return None
    fields = getattr(model, "model_fields", None)
    return sorted(fields) if fields is not None else None


def _format_errors(exc: ValidationError, lines: dict[tuple[Any, ...], int], source: str) -> str:
    out: list[tuple[int, str]] = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        key = ".".join(str(p) for p in loc) or "<top level>"
        line = None
        for n in range(len(loc), 0, -1):
            line = lines.get(loc[:n])
            if line is not None:
                break
        where = f"{source}:{line}" if line is not None else source
        if err["type"] == "extra_forbidden":
            valid = _fields_at(loc) or []
            extra = [k for k in (_FLAT if len(loc) == 1 else ()) if k not in valid]
            close = difflib.get_close_matches(str(loc[-1]), valid + extra, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            out.append((line or 0, f"{where}: unknown key '{key}'{hint}; valid keys here: {', '.join(valid)}"))
        elif err["type"] == "missing":
            out.append((line or 0, f"{where}: missing required key '{key}'"))
        else:
            out.append((line or 0, f"{where}: key '{key}': {err['msg']} (got {err.get('input')!r})"))
    return "\n".join(msg for _, msg in sorted(out, key=lambda t: t[0]))


def _build(data: Any, lines: dict[tuple[Any, ...], int], source: str) -> TrainConfig:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a config is a mapping of keys, got {type(data).__name__}")
    translated, new_lines, notes = _translate(data, lines)
    try:
        config = TrainConfig.model_validate(translated)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, new_lines, source)) from None
    config._notes = notes
    return config


def load_config(path: str | pathlib.Path) -> TrainConfig:
    """Read, translate and validate a YAML config; relative data/model paths resolve against the file."""
    path = pathlib.Path(path)
    data, lines = _read_yaml(path)
    config = _build(data, lines, str(path))
    base = path.resolve().parent
    for block, key in (("data", "train_path"), ("data", "valid_path"), ("model", "path"), ("model", "processing_class")):
        value = getattr(getattr(config, block), key)
        if value and not pathlib.Path(value).is_absolute() and (base / value).exists():
            setattr(getattr(config, block), key, str(base / value))
    return config
