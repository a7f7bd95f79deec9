"""Ground truth for the estimator: measure one real training step, byte by byte.

:func:`measure_training_step` builds a transformers causal LM from its config (random init), applies a
fine-tuning method the way a trainer does (full, LoRA/DoRA/QLoRA and IA3/prefix/prompt tuning through
PEFT, DPO with a frozen reference, distillation with a frozen teacher), creates the optimizer state, and
runs one step (forward, backward, optimizer step, ``zero_grad``) under a tensor-storage tracker: a
subclass of ``torch.distributed._tools.mem_tracker.MemTracker`` that follows every storage an op
creates until it is freed, sorted into parameters, buffers, gradients, activations, temporaries,
optimizer state and inputs. It reports the peak of each phase, the breakdown at the overall peak and
the static components (weights, trainable parameters, gradients, optimizer state).

* ``fake=True`` runs the same step under ``FakeTensorMode``: no memory is allocated, yet the byte
  counts are those of the real run, so 7B-class models can be measured on a laptop. QLoRA cannot run
  fake (bitsandbytes' parameter subclasses refuse fake tensors).
* ``profile=True`` (real CPU runs) cross-checks the tracker against the c10 allocator trace of
  ``torch.profiler`` (``profiler_peak_bytes``): it also sees memory allocated outside the dispatcher,
  such as the RNG state ``torch.utils.checkpoint`` saves per checkpointed layer.
* On a CUDA device the allocator's own counters are read too: ``device_peak_allocated_bytes``
  (``torch.cuda.max_memory_allocated``), ``device_reserved_bytes`` and ``device_overhead_bytes``
  (context, library workspaces and cached-but-free blocks: what ``mem_get_info`` shows in use beyond
  the allocated tensors).

The optimizer state is created before the tracked step (one step on zero gradients), so the tracked
step is a steady-state step, not the first one. Python's cycle collector is off during the step
(garbage collected first), so tensors left in reference cycles count until the step ends and every
run of a config gives the same bytes.

torch, transformers and peft are imported inside the functions: ``import tunesmith`` stays light.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tunesmith.errors import ArgumentError, UnsupportedError

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = [
    "CATEGORIES",
    "METHODS",
    "OPTIMIZERS",
    "PHASES",
    "PRECISIONS",
    "Measurement",
    "default_target_modules",
    "measure_training_step",
]

METHODS = ("full", "lora", "dora", "qlora", "ia3", "prefix", "prompt", "adapter", "dpo", "distill")
PRECISIONS = ("fp32", "bf16", "fp16", "amp_bf16", "amp_fp16")
OPTIMIZERS = ("adamw", "adamw_8bit", "sgd", "adafactor")
ADAMW_IMPLS = ("foreach", "forloop", "fused")
ATTN_IMPLEMENTATIONS = ("sdpa", "eager")
PHASES = ("forward", "backward", "optimizer")
CATEGORIES = ("params", "buffers", "gradients", "optimizer", "activations", "temporaries", "inputs")

# LoRA on the attention projections, per architecture (the names PEFT matches by suffix).
_ATTENTION_TARGETS = {
    "llama": ("q_proj", "k_proj", "v_proj", "o_proj"),
    "mistral": ("q_proj", "k_proj", "v_proj", "o_proj"),
    "mixtral": ("q_proj", "k_proj", "v_proj", "o_proj"),
    "qwen2": ("q_proj", "k_proj", "v_proj", "o_proj"),
    "qwen3": ("q_proj", "k_proj", "v_proj", "o_proj"),
    "gemma": ("q_proj", "k_proj", "v_proj", "o_proj"),
    "gemma2": ("q_proj", "k_proj", "v_proj", "o_proj"),
    "phi3": ("qkv_proj", "o_proj"),
    "gpt2": ("c_attn", "attn.c_proj"),
    "gpt_neox": ("query_key_value", "attention.dense"),
    "falcon": ("query_key_value", "self_attention.dense"),
}


def default_target_modules(model_type: str) -> tuple[str, ...]:
    """The LoRA target modules used when none are given: the attention projections of ``model_type``."""
    try:
        return _ATTENTION_TARGETS[model_type]
    except KeyError:
        raise ArgumentError(
            f"model_type={model_type!r} has no default LoRA targets; pass target_modules "
            f"(known model types: {', '.join(sorted(_ATTENTION_TARGETS))})"
        ) from None


@dataclasses.dataclass(frozen=True)
class Measurement:
    """Bytes measured over one training step.

    Static components (exact functions of the model and method):
      ``weights_bytes`` every parameter storage of every model in the step (policy, reference,
      teacher), with the quantization state of 4/8-bit layers (``quant_state_bytes`` of it);
      ``buffers_bytes``; ``trainable_bytes`` / ``trainable_params``; ``gradients_bytes`` (alive at
      the end of backward); ``optimizer_bytes`` (state alive after the step); ``inputs_bytes``.

    Dynamic: ``peak_bytes`` (all tracked tensor bytes at the step's peak), ``peak_phase`` and
    ``peak_breakdown`` (bytes per category at that moment), ``phase_peaks`` (peak of each phase),
    ``category_peaks`` (largest value of each category at any time of the step) and
    ``saved_activations_bytes`` (bytes alive after the forward minus before it).
    """

    knobs: Mapping[str, Any]
    total_params: int
    trainable_params: int
    weights_bytes: int
    quant_state_bytes: int
    buffers_bytes: int
    trainable_bytes: int
    gradients_bytes: int
    optimizer_bytes: int
    inputs_bytes: int
    saved_activations_bytes: int
    peak_bytes: int
    peak_phase: str
    peak_breakdown: Mapping[str, int]
    phase_peaks: Mapping[str, int]
    category_peaks: Mapping[str, int]
    fake: bool
    device: str
    profiler_peak_bytes: int | None = None
    device_peak_allocated_bytes: int | None = None
    device_reserved_bytes: int | None = None
    device_overhead_bytes: int | None = None

    @property
    def activations_bytes(self) -> int:
        """Activation bytes at the peak (forward outputs kept for backward, recomputed ones included)."""
        return self.peak_breakdown["activations"]

    @property
    def temporary_bytes(self) -> int:
        """Temporary bytes at the peak (backward intermediates, optimizer-step scratch)."""
        return self.peak_breakdown["temporaries"]

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self) | {"knobs": dict(self.knobs)}

    def estimate_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`tunesmith.estimate.estimate` that describe the measured job."""
        k = self.knobs
        kwargs = {
            name: k[name]
            for name in (
                "method", "rank", "lora_dropout", "bits", "quant_type", "double_quant", "num_virtual_tokens",
                "precision", "optimizer", "adamw_impl", "batch_size", "seq_len", "gradient_checkpointing",
                "attn_implementation", "dpo_policy",
            )
        }
        kwargs["target_modules"] = k["target_modules"] or list(default_target_modules(k["model_type"]))
        kwargs["adapter_reduction"] = max(1, k["hidden_size"] // k["bottleneck_size"])
        return kwargs

    def __str__(self) -> str:
        def mib(n: int) -> str:
            return f"{n / 2**20:,.2f} MiB"

        k = self.knobs
        lines = [
            f"{k['model_type']} {k['method']} {k['precision']} b={k['batch_size']} s={k['seq_len']}"
            f" ckpt={'on' if k['gradient_checkpointing'] else 'off'} optimizer={k['optimizer']}"
            f" ({'fake' if self.fake else 'real'}, {self.device})",
            f"  params {self.total_params:,} ({self.trainable_params:,} trainable)",
            f"  weights      {mib(self.weights_bytes)}",
            f"  trainable    {mib(self.trainable_bytes)}",
            f"  gradients    {mib(self.gradients_bytes)}",
            f"  optimizer    {mib(self.optimizer_bytes)}",
            f"  saved acts   {mib(self.saved_activations_bytes)}",
            f"  peak         {mib(self.peak_bytes)} in {self.peak_phase}",
        ]
        lines += [f"    {cat:<12} {mib(self.peak_breakdown[cat])}" for cat in CATEGORIES]
        if self.profiler_peak_bytes is not None:
            lines.append(f"  allocator trace peak {mib(self.profiler_peak_bytes)}")
        if self.device_peak_allocated_bytes is not None:
            lines.append(
                f"  device: max allocated {mib(self.device_peak_allocated_bytes)},"
                f" reserved {mib(self.device_reserved_bytes or 0)},"
                f" overhead {mib(self.device_overhead_bytes or 0)}"
            )
        return "\n".join(lines)


def _choice(name: str, value: Any, choices: Sequence[Any]) -> None:
    if value not in choices:
        raise ArgumentError(f"{name}={value!r} is not one of {', '.join(map(repr, choices))}")


def _positive(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ArgumentError(f"{name}={value!r} must be a positive integer")


def measure_training_step(
    model: Any,
    *,
    method: str = "full",
    rank: int = 8,
    alpha: float | None = None,
    lora_dropout: float = 0.05,
    target_modules: Sequence[str] | str | None = None,
    bits: int = 4,
    quant_type: str = "nf4",
    double_quant: bool = True,
    num_virtual_tokens: int = 16,
    bottleneck_size: int = 64,
    precision: str = "fp32",
    optimizer: str = "adamw",
    adamw_impl: str = "foreach",
    batch_size: int = 1,
    seq_len: int = 128,
    gradient_checkpointing: bool = False,
    attn_implementation: str = "sdpa",
    dpo_policy: str = "full",
    teacher: Any = None,
    fake: bool = False,
    profile: bool = False,
    device: str = "cpu",
    seed: int = 0,
) -> Measurement:
    """Run one training step of ``model`` and measure its memory by category.

    Args:
        model: a transformers config (``PretrainedConfig``), a config dict with ``model_type``, a path
            to a ``config.json`` or to a folder holding one (the model is built with random weights in
            ``precision``'s dtype); or a built ``PreTrainedModel``, used as the base as it is (its dtype
            and attention implementation are kept; the method is applied to it in place).
        method: one of :data:`METHODS`. ``dpo`` trains a policy (``dpo_policy``: ``full`` or ``lora``)
            against a frozen reference (a copy for ``full``, the adapter-disabled base for ``lora``)
            with TRL's fused log-prob head on ``batch_size`` chosen + ``batch_size`` rejected rows;
            ``distill`` trains the full student with ``0.5·CE + 0.5·T²·KL(teacher‖student)`` (T=2) on
            fp32 logits against a frozen ``teacher`` (a config like ``model``; default: same config).
        rank, alpha, lora_dropout, target_modules: LoRA/DoRA/QLoRA adapter (alpha defaults to
            ``2·rank``; targets default to :func:`default_target_modules`; ``"all-linear"`` works;
            dropout 0.05 and 16 virtual tokens are tunesmith's trainer defaults).
        bits, quant_type, double_quant: QLoRA base quantization (4-bit ``nf4``/``fp4``, or 8-bit).
        num_virtual_tokens: prefix and prompt tuning length.
        bottleneck_size: width of the bottleneck adapters (``method="adapter"``, tunesmith's own, after
            each decoder MLP).
        precision: ``fp32``; ``bf16``/``fp16`` (pure: weights, grads and optimizer state in 16 bit);
            ``amp_bf16``/``amp_fp16`` (fp32 weights and state, autocast forward). For QLoRA it sets the
            compute dtype (``fp32`` or ``bf16``).
        optimizer: ``adamw`` (torch, ``adamw_impl`` foreach/forloop/fused), ``adamw_8bit``
            (bitsandbytes), ``sgd`` (no momentum), ``adafactor`` (transformers).
        batch_size, seq_len: micro-batch rows and tokens per row.
        gradient_checkpointing: transformers' activation checkpointing (non-reentrant).
        attn_implementation: ``sdpa`` or ``eager``.
        fake: run under ``FakeTensorMode`` (no allocation; not for QLoRA or ``profile``).
        profile: also record the CPU allocator trace (real CPU runs only).
        device: ``cpu`` or a CUDA device (``cuda``, ``cuda:1``).
        seed: seed of the random weights and tokens.

    Raises:
        ArgumentError: an argument outside its domain (the message names it and the valid choices).
        UnsupportedError: a combination the libraries refuse (prefix tuning with checkpointing,
            QLoRA without bitsandbytes or under ``fake``).
    """
    _choice("method", method, METHODS)
    _choice("precision", precision, PRECISIONS)
    _choice("optimizer", optimizer, OPTIMIZERS)
    _choice("adamw_impl", adamw_impl, ADAMW_IMPLS)
    _choice("attn_implementation", attn_implementation, ATTN_IMPLEMENTATIONS)
    _choice("dpo_policy", dpo_policy, ("full", "lora"))
    _positive("batch_size", batch_size)
    _positive("seq_len", seq_len)
    _positive("rank", rank)
    _positive("num_virtual_tokens", num_virtual_tokens)
    _positive("bottleneck_size", bottleneck_size)
    if method == "qlora":
        _choice("bits", bits, (4, 8))
        _choice("quant_type", quant_type, ("nf4", "fp4"))
        _choice("precision", precision, ("fp32", "bf16"))
        if fake:
            raise UnsupportedError(
                "method='qlora' cannot run with fake=True: bitsandbytes' Params4bit/Int8Params refuse "
                "FakeTensors ('Creating a new Tensor subclass Params4bit but the raw Tensor object is "
                "already associated to a python object of type FakeTensor'); measure it for real"
            )
    if method == "prefix" and gradient_checkpointing:
        raise UnsupportedError("PEFT refuses prefix tuning with gradient checkpointing (method='prefix')")
    if fake and optimizer == "adamw_8bit":
        raise UnsupportedError(
            "optimizer='adamw_8bit' cannot run with fake=True: bitsandbytes reads tensor values in its "
            "step (a data-dependent op FakeTensorMode cannot answer); measure it for real"
        )
    if profile and (fake or not device.startswith("cpu")):
        raise UnsupportedError(
            "profile=True reads the CPU allocator trace: it needs a real run on device='cpu' "
            "(on CUDA the allocator's own counters are read instead)"
        )
    if not device.startswith(("cpu", "cuda")):
        raise ArgumentError(f"device={device!r} must be 'cpu' or a CUDA device such as 'cuda:0'")

    prebuilt = _prebuilt_model(model)
    if prebuilt is not None and (method == "qlora" or fake):
        raise UnsupportedError(
            "a built model cannot be quantized or made fake again: pass its config for method='qlora' or fake=True"
        )
    config = prebuilt.config if prebuilt is not None else _load_config(model, "model")
    teacher_config = _load_config(teacher, "teacher") if teacher is not None else None
    knobs = {
        "model_type": config.model_type,
        "hidden_size": config.get_text_config().hidden_size,
        "method": method,
        "rank": rank,
        "alpha": alpha if alpha is not None else 2 * rank,
        "lora_dropout": lora_dropout,
        "target_modules": target_modules,
        "bits": bits,
        "quant_type": quant_type,
        "double_quant": double_quant,
        "num_virtual_tokens": num_virtual_tokens,
        "bottleneck_size": bottleneck_size,
        "precision": precision,
        "optimizer": optimizer,
        "adamw_impl": adamw_impl,
        "batch_size": batch_size,
        "seq_len": seq_len,
        "gradient_checkpointing": gradient_checkpointing,
        "attn_implementation": attn_implementation,
        "dpo_policy": dpo_policy,
    }
    if method == "qlora":
        _require_bitsandbytes()
    if optimizer == "adamw_8bit":
        _require_bitsandbytes()
    import torch

    torch.manual_seed(seed)
    with _fake_context(fake):
        job = _Job(config, teacher_config, knobs, device, prebuilt)
        opt = _make_optimizer(job.trainable(), optimizer, adamw_impl, fake)
        _prime_optimizer(opt, job.trainable())
        batch = job.make_batch()
        return _run_tracked_step(job, opt, batch, knobs, fake=fake, profile=profile, device=device)


def _prebuilt_model(model: Any) -> Any:
    """``model`` itself when it is an instantiated transformers model, else None."""
    if not (hasattr(model, "parameters") and hasattr(model, "config")):
        return None
    from transformers import PreTrainedModel

    return model if isinstance(model, PreTrainedModel) else None


def _require_bitsandbytes() -> None:
    try:
        import bitsandbytes  # noqa: F401
    except ImportError as err:
        raise UnsupportedError(
            "QLoRA and 8-bit optimizers need bitsandbytes: pip install 'tunesmith[qlora]'"
        ) from err


def _load_config(source: Any, name: str) -> Any:
    from transformers import AutoConfig, PretrainedConfig

    if isinstance(source, PretrainedConfig):
        return source
    if isinstance(source, Mapping):
        data = dict(source)
        if "model_type" not in data:
            raise ArgumentError(f"{name}: a config dict needs 'model_type'")
        return AutoConfig.for_model(data.pop("model_type"), **data)
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if os.path.isdir(path):
            path = os.path.join(path, "config.json")
        if not os.path.isfile(path):
            raise ArgumentError(f"{name}={source!r}: no such config file")
        with open(path, encoding="utf-8") as f:
            return _load_config(json.load(f), name)
    raise ArgumentError(
        f"{name} must be a transformers config, a config dict or a path to config.json, not {type(source).__name__}"
    )


@contextlib.contextmanager
def _fake_context(fake: bool) -> Iterator[None]:
    """Enter ``FakeTensorMode`` and answer transformers' mask checks as for an unpadded, unpacked batch.

    transformers treats a FakeTensor as "tracing" and would then build a (b, 1, s, s) causal mask (and
    turn off SDPA's causal fast path) that the real run never makes; the batches measured here are
    never padded or packed, so the answers below are the real run's answers.
    """
    if not fake:
        yield
        return
    from unittest import mock

    from torch._subclasses.fake_tensor import FakeTensor, FakeTensorMode
    from transformers import masking_utils

    orig_is_tracing = masking_utils.is_tracing
    orig_fast_all = masking_utils.fast_all
    orig_find_packed = masking_utils.find_packed_sequence_indices

    def is_tracing(tensor: Any = None) -> bool:
        if isinstance(tensor, FakeTensor):
            return False
        return orig_is_tracing(tensor)

    def fast_all(tensor: Any) -> Any:
        return True if isinstance(tensor, FakeTensor) else orig_fast_all(tensor)

    def find_packed(position_ids: Any) -> Any:
        return None if isinstance(position_ids, FakeTensor) else orig_find_packed(position_ids)

    with (
        mock.patch.object(masking_utils, "is_tracing", is_tracing),
        mock.patch.object(masking_utils, "fast_all", fast_all),
        mock.patch.object(masking_utils, "find_packed_sequence_indices", find_packed),
        _fake_safe_module_to(),
        FakeTensorMode(allow_non_fake_inputs=False),
    ):
        yield


@contextlib.contextmanager
def _fake_safe_module_to() -> Iterator[None]:
    """Let ``Module.to`` convert fake parameters.

    ``Module._apply`` always swaps fake parameters with ``torch.utils.swap_tensors``, which refuses
    tensors the fake mode holds by weakref; assigning ``.data`` gives the converted parameter instead.
    """
    from unittest import mock

    import torch

    orig = torch.utils.swap_tensors

    def swap_tensors(t1: Any, t2: Any) -> None:
        try:
            orig(t1, t2)
        except RuntimeError as err:
            if "weakref" not in str(err):
                raise
            t1.data = t2.data

    with mock.patch.object(torch.utils, "swap_tensors", swap_tensors):
        yield


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """No progress bars while the QLoRA base is saved and reloaded."""
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()


_DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16", "amp_bf16": "float32", "amp_fp16": "float32"}


class _Job:
    """The models of one step and how to compute its loss."""

    def __init__(
        self, config: Any, teacher_config: Any, knobs: Mapping[str, Any], device: str, prebuilt: Any = None
    ) -> None:
        import torch

        self.knobs = knobs
        self.device = torch.device(device)
        self.config = config
        method = knobs["method"]
        self.dtype = getattr(torch, _DTYPES[knobs["precision"]])
        self.frozen: list[nn.Module] = []
        if method == "qlora":
            self.model = self._build_qlora()
        else:
            base = self._build(config) if prebuilt is None else self._adopt(prebuilt)
            if method in ("lora", "dora") or (method == "dpo" and knobs["dpo_policy"] == "lora"):
                self.model = self._wrap_lora(base, use_dora=method == "dora")
            elif method in ("ia3", "prefix", "prompt"):
                self.model = self._wrap_peft(base, method)
            elif method == "adapter":
                from tunesmith.tune.methods import add_bottleneck_adapters

                self._input_grads(base)
                self.model = add_bottleneck_adapters(base, knobs["bottleneck_size"])
            else:
                self.model = base
        if method == "dpo":
            from trl.trainer.utils import add_fused_lm_head

            if knobs["dpo_policy"] == "full":
                ref = self._build(config)
                ref.requires_grad_(False)
                ref.eval()
                add_fused_lm_head(ref)
                self.frozen.append(ref)
                add_fused_lm_head(self.model)
            else:
                add_fused_lm_head(self.model.get_base_model())
        if method == "distill":
            teacher = self._build(teacher_config or config, checkpointing=False)
            teacher.requires_grad_(False)
            teacher.eval()
            self.frozen.append(teacher)
        self.model.train()

    def _build(self, config: Any, *, checkpointing: bool | None = None) -> nn.Module:
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_config(
            config, dtype=self.dtype, attn_implementation=self.knobs["attn_implementation"]
        )
        if self.device.type != "cpu":
            model.to(self.device)
        if checkpointing if checkpointing is not None else self.knobs["gradient_checkpointing"]:
            model.activation_checkpointing_enable()
        return model

    def _adopt(self, model: nn.Module) -> nn.Module:
        if self.device.type != "cpu":
            model.to(self.device)
        if self.knobs["gradient_checkpointing"]:
            model.activation_checkpointing_enable()
        return model

    def _input_grads(self, base: nn.Module) -> None:
        # What tunesmith's trainer does for a frozen base under checkpointing (tune.methods.apply_method).
        if self.knobs["gradient_checkpointing"]:
            base.enable_input_require_grads()

    def _targets(self) -> Any:
        targets = self.knobs["target_modules"]
        if targets is None:
            return list(default_target_modules(self.config.model_type))
        return targets if isinstance(targets, str) else list(targets)

    def _wrap_lora(self, base: nn.Module, *, use_dora: bool) -> nn.Module:
        from peft import LoraConfig, get_peft_model

        k = self.knobs
        cfg = LoraConfig(
            r=k["rank"],
            lora_alpha=k["alpha"],
            lora_dropout=k["lora_dropout"],
            target_modules=self._targets(),
            use_dora=use_dora,
            task_type="CAUSAL_LM",
        )
        if self.knobs["method"] != "qlora":
            self._input_grads(base)
        return get_peft_model(base, cfg)

    def _wrap_peft(self, base: nn.Module, method: str) -> nn.Module:
        from peft import IA3Config, PrefixTuningConfig, PromptTuningConfig, get_peft_model

        n = self.knobs["num_virtual_tokens"]
        if method == "ia3":
            from peft.utils.constants import TRANSFORMERS_MODELS_TO_IA3_TARGET_MODULES_MAPPING as ia3_targets

            if self.config.model_type not in ia3_targets:
                raise UnsupportedError(
                    f"method='ia3': PEFT has no default IA3 targets for model_type={self.config.model_type!r} "
                    f"(it has them for {', '.join(sorted(ia3_targets))})"
                )
            cfg = IA3Config(task_type="CAUSAL_LM")
        elif method == "prefix":
            cfg = PrefixTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=n)
        else:
            cfg = PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=n)
        self._input_grads(base)
        return get_peft_model(base, cfg)

    def _build_qlora(self) -> nn.Module:
        import torch
        from peft import prepare_model_for_kbit_training
        from transformers import AutoModelForCausalLM, BitsAndBytesConfig

        k = self.knobs
        if k["bits"] == 4:
            qcfg = BitsAndBytesConfig(
                load_in_4bit=True,
                bnb_4bit_quant_type=k["quant_type"],
                bnb_4bit_use_double_quant=k["double_quant"],
                bnb_4bit_compute_dtype=self.dtype,
            )
        else:
            qcfg = BitsAndBytesConfig(load_in_8bit=True)
        with tempfile.TemporaryDirectory(prefix="tunesmith-measure-") as tmp, _quiet_transformers():
            AutoModelForCausalLM.from_config(self.config, dtype=torch.float32).save_pretrained(tmp)
            model = AutoModelForCausalLM.from_pretrained(
                tmp,
                quantization_config=qcfg,
                dtype=self.dtype,
                device_map=str(self.device),
                attn_implementation=k["attn_implementation"],
            )
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=k["gradient_checkpointing"])
        return self._wrap_lora(model, use_dora=False)

    def trainable(self) -> list[torch.Tensor]:
        return [p for p in self.model.parameters() if p.requires_grad]

    def models(self) -> list[nn.Module]:
        return [self.model, *self.frozen]

    def make_batch(self) -> dict[str, torch.Tensor]:
        import torch

        k = self.knobs
        rows = 2 * k["batch_size"] if k["method"] == "dpo" else k["batch_size"]
        vocab = self.config.get_text_config().vocab_size
        input_ids = torch.randint(0, vocab, (rows, k["seq_len"]), device=self.device)
        return {
            "input_ids": input_ids,
            "attention_mask": torch.ones_like(input_ids),
            "labels": input_ids.clone(),
        }

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        import torch

        precision = self.knobs["precision"]
        if precision.startswith("amp_"):
            dtype = torch.bfloat16 if precision == "amp_bf16" else torch.float16
            return torch.autocast(self.device.type, dtype=dtype)
        return contextlib.nullcontext()

    def loss(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The step's loss; everything but the loss is dropped before backward, as a trainer does."""
        method = self.knobs["method"]
        with self.autocast():
            if method == "dpo":
                return self._dpo_loss(batch)
            if method == "distill":
                return self._distill_loss(batch)
            return self.model(**batch, use_cache=False).loss

    def _dpo_loss(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        import torch
        import torch.nn.functional as F

        kwargs = dict(batch, use_cache=False, fused_lm_head=True)
        logps = self.model(**kwargs).log_probs.sum(dim=1)
        with torch.no_grad():
            if self.frozen:
                ref_logps = self.frozen[0](**kwargs).log_probs.sum(dim=1)
            else:
                with self.model.disable_adapter():
                    ref_logps = self.model(**kwargs).log_probs.sum(dim=1)
        chosen, rejected = (logps - ref_logps).chunk(2, dim=0)
        return -F.logsigmoid(0.1 * (chosen - rejected)).mean()

    def _distill_loss(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        import torch
        import torch.nn.functional as F

        temperature = 2.0
        with torch.no_grad():
            teacher_logits = self.frozen[0](**batch, use_cache=False).logits
        out = self.model(**batch, use_cache=False)
        kl = F.kl_div(
            F.log_softmax(out.logits.float() / temperature, dim=-1),
            F.log_softmax(teacher_logits.float() / temperature, dim=-1),
            log_target=True,
            reduction="batchmean",
        )
        return 0.5 * out.loss + 0.5 * temperature**2 * kl


def _make_optimizer(params: list[Any], name: str, adamw_impl: str, fake: bool) -> Any:
    import torch

    if name == "adamw":
        impl = {"foreach": {"foreach": True}, "forloop": {"foreach": False}, "fused": {"fused": True}}[adamw_impl]
        return torch.optim.AdamW(params, lr=1e-4, weight_decay=0.0, **impl)
    if name == "adamw_8bit":
        import bitsandbytes as bnb

        return bnb.optim.AdamW8bit(params, lr=1e-4, weight_decay=0.0)
    if name == "sgd":
        return torch.optim.SGD(params, lr=1e-4)
    from transformers.optimization import Adafactor

    return Adafactor(params, lr=1e-4, scale_parameter=False, relative_step=False, warmup_init=False)


def _prime_optimizer(opt: Any, params: list[Any]) -> None:
    """Create the optimizer state with one step on zero gradients, so the tracked step is a steady one."""
    import torch

    for p in params:
        p.grad = torch.zeros_like(p)
    opt.step()
    opt.zero_grad(set_to_none=True)


def _quant_state_tensors(model: nn.Module) -> list[torch.Tensor]:
    """Tensors bitsandbytes keeps beside its packed weights (absmax, code, scales), which are no parameters."""
    import torch

    found: list[torch.Tensor] = []

    def walk(obj: Any, depth: int) -> None:
        if isinstance(obj, torch.Tensor):
            found.append(obj)
        elif depth < 3 and isinstance(obj, (list, tuple)):
            for item in obj:
                walk(item, depth + 1)
        elif depth < 3 and hasattr(obj, "__dict__") and not isinstance(obj, (type, torch.nn.Module)):
            for value in vars(obj).values():
                walk(value, depth + 1)

    for p in model.parameters():
        if type(p).__module__.startswith("bitsandbytes"):
            for value in vars(p).values():
                walk(value, 1)
    for m in model.modules():
        state = getattr(m, "state", None)
        if type(m).__module__.startswith("bitsandbytes") and state is not None:
            walk(state, 1)
    # Int8Params keeps its int8 data as ``CB`` too: the parameter's own storage is no extra state.
    param_storages = {p.untyped_storage().data_ptr() for p in model.parameters()}
    return [t for t in found if t.untyped_storage().data_ptr() not in param_storages]


@functools.cache
def _tracker_class() -> type:
    from torch.distributed._tools.mem_tracker import _TOTAL_KEY, MemTracker, _MemRefType, _ModMemStats
    from torch.utils.weak import weakref

    names = {
        _MemRefType.PARAM: "params",
        _MemRefType.BUFFER: "buffers",
        _MemRefType.GRAD: "gradients",
        _MemRefType.OPT: "optimizer",
        _MemRefType.ACT: "activations",
        _MemRefType.TEMP: "temporaries",
        _MemRefType.OTH: "inputs",
    }

    class StepTracker(MemTracker):
        """MemTracker with three changes for fine-tuning steps.

        * Gradient hooks only on trainable parameters: ``register_hook`` raises on frozen ones, so the
          stock tracker fails on every PEFT model.
        * No per-module snapshots: a module called twice from the top level in one step (DPO's reference
          pass through the policy with adapters disabled) makes the stock tracker raise, and the
          snapshots (deep copies after every op) are not used here.
        * Peaks are kept per phase (set by the caller) and per category, for one device.
        """

        def __init__(self, device: Any) -> None:
            super().__init__()
            self.device = device
            self.phase = "setup"
            self.peak_total = 0
            self.peak_phase = "setup"
            self.peak_snap: dict[str, int] = dict.fromkeys(CATEGORIES, 0)
            self.phase_peaks: dict[str, int] = {}
            self.category_peaks: dict[str, int] = dict.fromkeys(CATEGORIES, 0)

        def current(self) -> dict[str, int]:
            snap = self._curr_mem_snap.get(self.device, {})
            return {names[k]: snap.get(k, 0) for k in names}

        def current_total(self) -> int:
            return self._curr_mem_snap.get(self.device, {}).get(_TOTAL_KEY, 0)

        def track_as(self, category: Any, tensors: list[Any]) -> None:
            for t in tensors:
                self._update_and_maybe_create_winfos(t, category)

        def _track_module_params_and_buffers(self, module: Any, install_grad_hooks: bool = True) -> tuple[int, int]:
            def grad_hook(grad: Any) -> None:
                self._update_and_maybe_create_winfos(grad, _MemRefType.GRAD)

            param_memory = 0
            for param in module.parameters():
                winfos = self._update_and_maybe_create_winfos(param, _MemRefType.PARAM)
                param_memory += sum(w.mem_consumed for w in winfos)
                if param.grad is not None:
                    self._update_and_maybe_create_winfos(param.grad, _MemRefType.GRAD)
                if install_grad_hooks and param.requires_grad and param not in self._param_to_grad_hook_handles:
                    self._param_to_grad_hook_handles[param] = (
                        param.register_hook(grad_hook),
                        param.register_post_accumulate_grad_hook(lambda p: grad_hook(p.grad)),
                    )
            buffer_memory = 0
            for buffer in module.buffers():
                winfos = self._update_and_maybe_create_winfos(buffer, _MemRefType.BUFFER)
                buffer_memory += sum(w.mem_consumed for w in winfos)
            return param_memory, buffer_memory

        def _pre_fw_hook(self, module: Any, inputs: Any) -> None:
            if module not in self.memory_tracking:
                self._track_module_params_and_buffers(module, install_grad_hooks=True)
                self.memory_tracking[module] = _ModMemStats(self._mod_tracker.get_known_fqn(module) or "")
            elif self._mod_tracker.is_bw and self._ac_mod is None:
                self._ac_mod = weakref.ref(module)
                self._in_ac = True

        def _post_fw_hook(self, module: Any, inputs: Any, outputs: Any) -> None:
            if self._mod_tracker.is_bw and self._ac_mod is not None and self._ac_mod() is module:
                self._ac_mod = None
                self._in_ac = False

        def _pre_bw_hook(self, module: Any, args: Any) -> None:
            return None

        def _post_bw_hook(self, module: Any, args: Any) -> None:
            return None

        def _update_peak_stats(self, peak_state: Any) -> None:
            snap = self._curr_mem_snap.get(self.device)
            if snap is None:
                return
            total = snap[_TOTAL_KEY]
            if total > self.phase_peaks.get(self.phase, -1):
                self.phase_peaks[self.phase] = total
            if total > self.peak_total:
                self.peak_total = total
                self.peak_phase = self.phase
                self.peak_snap = {names[k]: snap.get(k, 0) for k in names}
            peaks = self.category_peaks
            for k, name in names.items():
                value = snap.get(k, 0)
                if value > peaks[name]:
                    peaks[name] = value

    return StepTracker


@contextlib.contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Collect garbage first, then keep Python's cycle collector off for the step.

    Some modules (PEFT's DoRA) leave tensors in reference cycles; when the collector frees them depends
    on unrelated allocation counts, which would make the peak vary from run to run. With the collector
    off they live until the step ends: the deterministic upper bound of what it may leave alive.
    """
    import gc

    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _unique_storage_bytes(tensors: list[Any]) -> int:
    from torch.distributed._tools.common_utils import get_untyped_storages

    seen: dict[int, int] = {}
    for t in tensors:
        for st in get_untyped_storages(t):
            seen[id(st)] = st.nbytes()
    return sum(seen.values())


def _allocator_peak(prof: Any) -> int:
    """Peak of the running sum of the allocator's events, relative to the step's start."""
    from torch._C._profiler import _EventType

    allocations = []
    stack = list(prof.profiler.kineto_results.experimental_event_tree())
    while stack:
        event = stack.pop()
        if event.typed[0] == _EventType.Allocation:
            allocations.append((event.start_time_ns, event.typed[1].alloc_size))
        stack.extend(event.children)
    running = peak = 0
    for _, size in sorted(allocations):
        running += size
        peak = max(peak, running)
    return peak


def _run_tracked_step(
    job: _Job, opt: Any, batch: dict[str, Any], knobs: Mapping[str, Any], *, fake: bool, profile: bool, device: str
) -> Measurement:
    import torch
    from torch.distributed._tools.mem_tracker import _MemRefType

    tracker = _tracker_class()(job.device)
    models = job.models()
    tracker.track_external(*models, opt, *batch.values())
    quant = [t for m in models for t in _quant_state_tensors(m)]
    tracker.track_as(_MemRefType.PARAM, quant)

    params = [p for m in models for p in m.parameters()]
    trainable = job.trainable()
    cuda = job.device.type == "cuda"
    if cuda:
        torch.cuda.synchronize(job.device)
        torch.cuda.reset_peak_memory_stats(job.device)
    prof_ctx: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
    if profile:
        from torch.profiler import ProfilerActivity
        from torch.profiler import profile as torch_profile

        prof_ctx = torch_profile(activities=[ProfilerActivity.CPU], profile_memory=True)

    start = tracker.current()
    start_total = tracker.current_total()
    with _no_cyclic_gc(), prof_ctx as prof, tracker:
        tracker.phase = "forward"
        tracker._update_peak_stats(None)
        loss = job.loss(batch)
        after_forward = tracker.current_total()
        tracker.phase = "backward"
        loss.backward()
        del loss
        gradients_bytes = tracker.current()["gradients"]
        tracker.phase = "optimizer"
        opt.step()
        opt.zero_grad(set_to_none=True)
        optimizer_bytes = tracker.current()["optimizer"]

    device_peak = device_reserved = device_overhead = None
    if cuda:
        torch.cuda.synchronize(job.device)
        device_peak = torch.cuda.max_memory_allocated(job.device)
        device_reserved = torch.cuda.max_memory_reserved(job.device)
        free, total = torch.cuda.mem_get_info(job.device)
        device_overhead = (total - free) - torch.cuda.memory_allocated(job.device)
    return Measurement(
        knobs=dict(knobs),
        total_params=sum(p.numel() for p in params),
        trainable_params=sum(p.numel() for p in trainable),
        weights_bytes=start["params"],
        quant_state_bytes=_unique_storage_bytes(quant),
        buffers_bytes=start["buffers"],
        trainable_bytes=_unique_storage_bytes(trainable),
        gradients_bytes=gradients_bytes,
        optimizer_bytes=optimizer_bytes,
        inputs_bytes=start["inputs"],
        saved_activations_bytes=after_forward - start_total,
        peak_bytes=tracker.peak_total,
        peak_phase=tracker.peak_phase,
        peak_breakdown=dict(tracker.peak_snap),
        phase_peaks={p: tracker.phase_peaks.get(p, 0) for p in PHASES},
        category_peaks=dict(tracker.category_peaks),
        fake=fake,
        device=str(job.device),
        profiler_peak_bytes=start_total + _allocator_peak(prof) if profile else None,
        device_peak_allocated_bytes=device_peak,
        device_reserved_bytes=device_reserved,
        device_overhead_bytes=device_overhead,
    )
