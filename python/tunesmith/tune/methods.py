"""Fine-tuning methods: load the base model for a config and make the right parameters trainable.

LoRA, DoRA, IA3, prefix and prompt tuning come from PEFT; QLoRA loads the base
through bitsandbytes (4-bit NF4/FP4 with double quantization, or 8-bit) and
then ``prepare_model_for_kbit_training``; bottleneck adapters are our own
(:class:`BottleneckAdapter` after each decoder MLP) because PEFT has none and
AdapterHub does not support transformers 5. All adapters are saved into one
directory and loaded back with :func:`load_adapter`.
"""

from __future__ import annotations

import json
import os
import pathlib
from typing import Any

from tunesmith.errors import UnsupportedError

__all__ = [
    "BOTTLENECK_CONFIG",
    "BottleneckAdapter",
    "add_bottleneck_adapters",
    "apply_method",
    "bnb_status",
    "is_adapter_dir",
    "load_adapter",
    "load_base_model",
    "resolve_device",
    "save_bottleneck_adapters",
    "trainable_parameters",
]

BOTTLENECK_CONFIG = "bottleneck_config.json"
BOTTLENECK_WEIGHTS = "bottleneck_model.safetensors"


def resolve_device(requested: str = "auto") -> str:
    import torch

    if requested == "cuda" and not torch.cuda.is_available():
        raise UnsupportedError("training.device is cuda but torch sees no CUDA device; use device: auto or cpu")
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return requested


def resolve_precision(precision: str, device: str) -> str:
    """``auto`` is bf16 on a CUDA device that supports it, fp16 on an older one, fp32 on CPU."""
    import torch

    if precision != "auto":
        if device == "cpu" and precision == "fp16":
            raise UnsupportedError("fp16 mixed precision needs a CUDA device; use precision: fp32 or bf16 on CPU")
        return precision
    if device == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "fp32"


def bnb_status() -> str | None:
    """None when bitsandbytes imports and can run here, else the reason it cannot."""
    try:
        import bitsandbytes  # noqa: F401
    except Exception as exc:  # a broken CUDA setup raises more than ImportError
        return f"bitsandbytes is not usable here ({type(exc).__name__}: {exc}); install tunesmith[qlora]"
    return None


def _quantization_config(qlora: Any) -> Any:
    import torch
    from transformers import BitsAndBytesConfig

    if qlora.bits == 8:
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=qlora.quant_type,
        bnb_4bit_use_double_quant=qlora.double_quant,
        bnb_4bit_compute_dtype=getattr(torch, qlora.compute_dtype),
    )


def load_base_model(config: Any, *, device: str, precision: str) -> Any:
    """``AutoModelForCausalLM.from_pretrained`` for the config: dtype, device map, quantization."""
    import torch
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {"trust_remote_code": config.model.trust_remote_code}
    if config.model.revision:
        kwargs["revision"] = config.model.revision
    if config.model.token:
        kwargs["token"] = config.model.token
    if config.model.attn_implementation:
        if config.model.attn_implementation == "flash_attention_2" and device != "cuda":
            raise UnsupportedError("flash_attention_2 needs a CUDA device; use attn_implementation: sdpa")
        kwargs["attn_implementation"] = config.model.attn_implementation
    if config.qlora is not None:
        reason = bnb_status()
        if reason is not None:
            raise UnsupportedError(f"QLoRA needs bitsandbytes: {reason}. Use lora_config without qlora to train in full precision.")
        kwargs["quantization_config"] = _quantization_config(config.qlora)
        # one whole copy per process: under accelerate/torchrun each rank loads onto its own GPU
        kwargs["device_map"] = {"": int(os.environ.get("LOCAL_RANK", 0))} if device == "cuda" else {"": "cpu"}
    elif config.method == "full" or precision == "fp32":
        # full fine-tuning keeps fp32 master weights (the Trainer autocasts): bf16 weights would round
        # small updates away
        kwargs["dtype"] = torch.float32
    else:
        # a frozen base only needs its compute dtype; PEFT keeps the adapter weights in fp32
        kwargs["dtype"] = torch.bfloat16 if precision == "bf16" else torch.float16
    return AutoModelForCausalLM.from_pretrained(config.model.path, **kwargs)


def _peft_config(config: Any, tokenizer: Any = None) -> Any:
    import peft

    method = config.method
    if method in ("lora", "dora", "qlora"):
        lc = config.lora_config
        return peft.LoraConfig(
            r=lc.r,
            lora_alpha=lc.lora_alpha,
            lora_dropout=lc.lora_dropout,
            target_modules=lc.target_modules,
            use_dora=lc.use_dora,
            bias=lc.bias,
            modules_to_save=lc.modules_to_save or None,
            fan_in_fan_out=lc.fan_in_fan_out,
            init_lora_weights=lc.init_lora_weights,
            task_type=peft.TaskType.CAUSAL_LM,
        )
    if method == "ia3":
        return peft.IA3Config(
            target_modules=config.ia3.target_modules,
            feedforward_modules=config.ia3.feedforward_modules,
            task_type=peft.TaskType.CAUSAL_LM,
        )
    if method == "prefix_tuning":
        return peft.PrefixTuningConfig(
            num_virtual_tokens=config.prefix_tuning.num_virtual_tokens,
            prefix_projection=config.prefix_tuning.prefix_projection,
            task_type=peft.TaskType.CAUSAL_LM,
        )
    if method == "prompt_tuning":
        pt = config.prompt_tuning
        kwargs: dict[str, Any] = {"num_virtual_tokens": pt.num_virtual_tokens, "task_type": peft.TaskType.CAUSAL_LM}
        if pt.init_text:
            kwargs.update(
                prompt_tuning_init=peft.PromptTuningInit.TEXT,
                prompt_tuning_init_text=pt.init_text,
                tokenizer_name_or_path=config.model.processing_class or config.model.path,
            )
        return peft.PromptTuningConfig(**kwargs)
    raise UnsupportedError(f"method {method} is not a PEFT method")


def enable_activation_checkpointing(model: Any) -> None:
    """Recompute activations in backward (non-reentrant), under the installed transformers' name for it.

    transformers 5 renamed gradient checkpointing to activation checkpointing and
    deprecated the old name; older versions only have the old one.
    """
    enable = getattr(model, "activation_checkpointing_enable", None)
    if enable is not None:
        enable(activation_checkpointing_kwargs={"use_reentrant": False})
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})


def apply_method(model: Any, config: Any) -> Any:
    """Wrap or modify ``model`` for the config's method; returns the model to train."""
    method = config.method
    if method == "full":
        for p in model.parameters():
            p.requires_grad_(True)
        if config.training.gradient_checkpointing:
            enable_activation_checkpointing(model)
        return model
    if method == "adapter":
        if config.training.gradient_checkpointing:
            enable_activation_checkpointing(model)
            model.enable_input_require_grads()
        return add_bottleneck_adapters(model, config.adapter.bottleneck_size, config.adapter.activation)
    import peft

    if method == "qlora":
        model = peft.prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=config.training.gradient_checkpointing
        )
    elif config.training.gradient_checkpointing:
        enable_activation_checkpointing(model)
        model.enable_input_require_grads()
    return peft.get_peft_model(model, _peft_config(config))


def trainable_parameters(model: Any) -> tuple[int, int]:
    """(trainable, total) parameter counts; 4-bit packed weights count as their unpacked size."""
    trainable = total = 0
    for p in model.parameters():
        n = p.numel()
        if p.__class__.__name__ == "Params4bit":
            n *= 2
        total += n
        if p.requires_grad:
            trainable += n
    return trainable, total


# --- bottleneck adapters -------------------------------------------------------------------------


def _adapter_classes() -> tuple[type, type]:
    import torch
    from torch import nn

    class BottleneckAdapter(nn.Module):
        """x + up(act(down(x))): the seed guide's ``Adapter``; starts as the identity."""

        def __init__(self, hidden_size: int, bottleneck_size: int = 64, activation: str = "gelu") -> None:
            super().__init__()
            self.down_project = nn.Linear(hidden_size, bottleneck_size)
            self.activation = nn.GELU() if activation == "gelu" else nn.ReLU()
            self.up_project = nn.Linear(bottleneck_size, hidden_size)
            nn.init.normal_(self.down_project.weight, std=0.01)
            nn.init.zeros_(self.down_project.bias)
            nn.init.zeros_(self.up_project.weight)
            nn.init.zeros_(self.up_project.bias)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.up_project(self.activation(self.down_project(x.to(self.down_project.weight.dtype))))
            return x + h.to(x.dtype)

    class MLPWithAdapter(nn.Module):
        def __init__(self, mlp: nn.Module, adapter: nn.Module) -> None:
            super().__init__()
            self.mlp = mlp
            self.adapter = adapter

        def forward(self, *args: Any, **kwargs: Any) -> Any:
            out = self.mlp(*args, **kwargs)
            if isinstance(out, tuple):
                return (self.adapter(out[0]), *out[1:])
            return self.adapter(out)

    return BottleneckAdapter, MLPWithAdapter


def __getattr__(name: str) -> Any:
    if name == "BottleneckAdapter":
        return _adapter_classes()[0]
    raise AttributeError(name)


def _decoder_layers(model: Any) -> list[tuple[str, Any]]:
    layers = [(name, m) for name, m in model.named_modules() if name and hasattr(m, "mlp") and hasattr(m.mlp, "forward")]
    if not layers:
        raise UnsupportedError(
            f"{type(model).__name__} has no decoder layers with an 'mlp' submodule; bottleneck adapters cannot be placed"
        )
    return layers


def add_bottleneck_adapters(model: Any, bottleneck_size: int = 64, activation: str = "gelu") -> Any:
    """Freeze ``model`` and put a trainable adapter after every decoder layer's MLP (in place)."""
    adapter_cls, wrapper_cls = _adapter_classes()
    hidden = model.config.get_text_config().hidden_size if hasattr(model.config, "get_text_config") else model.config.hidden_size
    for p in model.parameters():
        p.requires_grad_(False)
    ref = next(model.parameters())
    for _, layer in _decoder_layers(model):
        if isinstance(layer.mlp, wrapper_cls) or layer.mlp.__class__.__name__ == "MLPWithAdapter":
            continue
        # trainable weights in fp32 whatever the base's dtype, as PEFT does for its adapters
        adapter = adapter_cls(hidden, bottleneck_size, activation).to(device=ref.device)
        layer.mlp = wrapper_cls(layer.mlp, adapter)
    model._tunesmith_bottleneck = {"bottleneck_size": bottleneck_size, "activation": activation, "hidden_size": hidden}
    return model


def save_bottleneck_adapters(model: Any, out_dir: str | pathlib.Path, *, base_model: str | None = None) -> pathlib.Path:
    """Write the adapters' weights (safetensors) and config into ``out_dir``."""
    from safetensors.torch import save_file

    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    info = getattr(model, "_tunesmith_bottleneck", None)
    if info is None:
        raise UnsupportedError("the model has no bottleneck adapters to save")
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items() if ".adapter." in k}
    save_file(state, str(out / BOTTLENECK_WEIGHTS))
    meta = {"method": "bottleneck_adapter", "base_model_name_or_path": base_model, **info}
    (out / BOTTLENECK_CONFIG).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return out


def is_adapter_dir(path: str | pathlib.Path) -> bool:
    p = pathlib.Path(path)
    return (p / "adapter_config.json").exists() or (p / BOTTLENECK_CONFIG).exists()


def adapter_base_model(path: str | pathlib.Path) -> str | None:
    p = pathlib.Path(path)
    for name in ("adapter_config.json", BOTTLENECK_CONFIG):
        if (p / name).exists():
            return json.loads((p / name).read_text(encoding="utf-8")).get("base_model_name_or_path")
    return None


def load_adapter(base_model: Any, path: str | pathlib.Path, *, is_trainable: bool = False) -> Any:
    """Attach the adapter saved in ``path`` (PEFT or bottleneck) to ``base_model``."""
    p = pathlib.Path(path)
    if (p / "adapter_config.json").exists():
        from peft import PeftModel

        return PeftModel.from_pretrained(base_model, str(p), is_trainable=is_trainable)
    if (p / BOTTLENECK_CONFIG).exists():
        from safetensors.torch import load_file

        meta = json.loads((p / BOTTLENECK_CONFIG).read_text(encoding="utf-8"))
        model = add_bottleneck_adapters(base_model, meta["bottleneck_size"], meta["activation"])
        state = load_file(str(p / BOTTLENECK_WEIGHTS))
        missing, unexpected = model.load_state_dict(state, strict=False)
        wanted = {k for k in model.state_dict() if ".adapter." in k}
        if unexpected or wanted - set(state):
            raise UnsupportedError(
                f"{p}: adapter weights do not match the model (unexpected {sorted(unexpected)[:3]}, "
                f"missing {sorted(wanted - set(state))[:3]})"
            )
        for name, param in model.named_parameters():
            param.requires_grad_(is_trainable and ".adapter." in name)
        return model
    raise UnsupportedError(f"{p}: no adapter_config.json or {BOTTLENECK_CONFIG}; not an adapter directory")
