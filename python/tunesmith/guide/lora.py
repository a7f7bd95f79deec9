"""LoRA as plain PyTorch modules, for users who want it without PEFT.

The names and shapes follow the seed guide; the behaviour follows PEFT's LoRA
layer, so the same ``lora_A``/``lora_B`` weights give the same outputs:

    y = W x + b + (alpha / r) * B (A dropout(x))

``lora_A`` has shape ``(r, in_features)`` and ``lora_B`` ``(out_features, r)``,
exactly PEFT's ``lora_A.<adapter>.weight`` and ``lora_B.<adapter>.weight``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

from tunesmith.errors import ArgumentError, UnsupportedError

__all__ = [
    "LoRAConfig",
    "LoRALayer",
    "LinearWithLoRA",
    "apply_lora_to_model",
    "get_lora_params",
    "lora_modules",
    "merge_and_unload",
]

BiasMode = Literal["none", "all", "lora_only"]
_BIAS_MODES = ("none", "all", "lora_only")
DEFAULT_TARGET_MODULES = ("q_proj", "v_proj", "k_proj", "o_proj")


@dataclass
class LoRAConfig:
    """Configuration for LoRA fine-tuning.

    ``target_modules`` are module-name suffixes: ``"q_proj"`` matches
    ``model.layers.0.self_attn.q_proj`` but not ``...q_proj_norm``; a dotted
    suffix such as ``"self_attn.o_proj"`` narrows the match. ``bias`` says which
    biases :func:`get_lora_params` trains: none, all of them, or only those of
    layers that carry LoRA.
    """

    r: int = 8
    lora_alpha: float = 16
    lora_dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: list(DEFAULT_TARGET_MODULES))
    bias: BiasMode = "none"

    def __post_init__(self) -> None:
        if self.target_modules is None:
            self.target_modules = list(DEFAULT_TARGET_MODULES)
        if isinstance(self.target_modules, str):
            self.target_modules = [self.target_modules]
        self.target_modules = list(self.target_modules)
        if not isinstance(self.r, int) or isinstance(self.r, bool) or self.r < 1:
            raise ArgumentError(f"LoRAConfig.r must be a positive integer, got {self.r!r}")
        if not self.lora_alpha > 0:
            raise ArgumentError(f"LoRAConfig.lora_alpha must be > 0, got {self.lora_alpha!r}")
        if not 0.0 <= self.lora_dropout < 1.0:
            raise ArgumentError(f"LoRAConfig.lora_dropout must be in [0, 1), got {self.lora_dropout!r}")
        if not self.target_modules or any(not isinstance(t, str) or not t.strip(".") for t in self.target_modules):
            raise ArgumentError(f"LoRAConfig.target_modules must be non-empty module names, got {self.target_modules!r}")
        if self.bias not in _BIAS_MODES:
            raise ArgumentError(f"LoRAConfig.bias must be one of {_BIAS_MODES}, got {self.bias!r}")


class LoRALayer(nn.Module):
    """The low-rank update ``scaling * B(A(dropout(x)))`` with ``scaling = alpha / rank``.

    ``A`` starts Kaiming-uniform and ``B`` at zero, so a fresh layer adds nothing.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        rank: int = 8,
        alpha: float = 16,
        dropout: float = 0.0,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if rank < 1:
            raise ArgumentError(f"rank must be a positive integer, got {rank!r}")
        if not 0.0 <= dropout < 1.0:
            raise ArgumentError(f"dropout must be in [0, 1), got {dropout!r}")
        self.rank = rank
        self.alpha = alpha
        self.scaling = alpha / rank
        self.lora_A = nn.Parameter(torch.empty(rank, in_features, device=device, dtype=dtype))
        self.lora_B = nn.Parameter(torch.zeros(out_features, rank, device=device, dtype=dtype))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.dropout: nn.Module = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.dropout(x.to(self.lora_A.dtype))
        return (x @ self.lora_A.T @ self.lora_B.T) * self.scaling

    def delta_weight(self) -> torch.Tensor:
        """``scaling * B @ A``, the update to the wrapped weight, shaped ``(out_features, in_features)``."""
        return (self.lora_B @ self.lora_A) * self.scaling


class LinearWithLoRA(nn.Module):
    """An ``nn.Linear`` (frozen) plus a :class:`LoRALayer`.

    :meth:`merge_weights` folds the update into the linear weight and
    :meth:`unmerge_weights` takes it out again; the LoRA weights are kept, so
    the two are inverses (up to floating-point rounding) and merging twice is a
    no-op rather than a double update. While merged, ``forward`` is the linear
    layer alone.
    """

    def __init__(
        self,
        linear: nn.Linear,
        rank: int = 8,
        alpha: float = 16,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if not isinstance(linear, nn.Linear):
            raise UnsupportedError(f"LinearWithLoRA wraps nn.Linear, got {type(linear).__name__}")
        self.linear = linear
        self.lora = LoRALayer(
            linear.in_features,
            linear.out_features,
            rank=rank,
            alpha=alpha,
            dropout=dropout,
            device=linear.weight.device,
            dtype=linear.weight.dtype if linear.weight.is_floating_point() else None,
        )
        self.merged = False
        self.linear.weight.requires_grad = False
        if self.linear.bias is not None:
            self.linear.bias.requires_grad = False

    @property
    def in_features(self) -> int:
        return self.linear.in_features

    @property
    def out_features(self) -> int:
        return self.linear.out_features

    @property
    def weight(self) -> torch.Tensor:
        return self.linear.weight

    @property
    def bias(self) -> torch.Tensor | None:
        return self.linear.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.linear(x)
        if self.merged:
            return out
        return out + self.lora(x).to(out.dtype)

    def _delta(self) -> torch.Tensor:
        # computed in at least float32 so that merge then unmerge loses as little as the weight dtype allows
        a, b = self.lora.lora_A, self.lora.lora_B
        wide = torch.promote_types(a.dtype, torch.float32)
        return (b.to(wide) @ a.to(wide)) * self.lora.scaling

    def merge_weights(self) -> None:
        """Fold ``scaling * B @ A`` into the linear weight. Merging an already merged layer does nothing."""
        if self.merged:
            return
        with torch.no_grad():
            w = self.linear.weight
            w.copy_((w.to(torch.promote_types(w.dtype, torch.float32)) + self._delta()).to(w.dtype))
        self.merged = True

    def unmerge_weights(self) -> None:
        """Take the update back out of the linear weight. Unmerging an unmerged layer does nothing."""
        if not self.merged:
            return
        with torch.no_grad():
            w = self.linear.weight
            w.copy_((w.to(torch.promote_types(w.dtype, torch.float32)) - self._delta()).to(w.dtype))
        self.merged = False

    def extra_repr(self) -> str:
        return f"rank={self.lora.rank}, alpha={self.lora.alpha}, merged={self.merged}"


def _matches(name: str, targets: list[str]) -> bool:
    return any(name == t or name.endswith("." + t) for t in targets)


def apply_lora_to_model(model: nn.Module, config: LoRAConfig) -> nn.Module:
    """Replace every ``nn.Linear`` whose qualified name ends with a target suffix by a :class:`LinearWithLoRA`.

    Modifies ``model`` in place and returns it. Raises :class:`ArgumentError`
    when no module matches, or when a match already carries LoRA, and
    :class:`UnsupportedError` when a match is not an ``nn.Linear``.
    """
    targets = [t.strip(".") for t in config.target_modules]
    linears: list[tuple[str, nn.Linear]] = []
    for name, module in model.named_modules():
        if not name or not _matches(name, targets):
            continue
        if isinstance(module, LinearWithLoRA):
            raise ArgumentError(f"apply_lora_to_model: module {name!r} already has LoRA")
        if not isinstance(module, nn.Linear):
            raise UnsupportedError(
                f"apply_lora_to_model: module {name!r} is a {type(module).__name__}; only nn.Linear takes LoRA"
            )
        linears.append((name, module))
    if not linears:
        raise ArgumentError(f"apply_lora_to_model: no module name ends with any of target_modules={targets}")
    for name, linear in linears:
        parent_name, _, attr = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, attr, LinearWithLoRA(linear, rank=config.r, alpha=config.lora_alpha, dropout=config.lora_dropout))
    return model


def lora_modules(model: nn.Module) -> dict[str, LinearWithLoRA]:
    """Every :class:`LinearWithLoRA` in ``model`` by qualified name."""
    return {name: m for name, m in model.named_modules() if isinstance(m, LinearWithLoRA)}


def get_lora_params(model: nn.Module, bias: BiasMode = "none") -> list[nn.Parameter]:
    """Make only the LoRA weights (and the biases ``bias`` selects) trainable; return those parameters.

    Every other parameter gets ``requires_grad = False``. ``bias="all"`` also
    trains every bias in the model, ``"lora_only"`` the biases of the linear
    layers that carry LoRA.
    """
    if bias not in _BIAS_MODES:
        raise ArgumentError(f"get_lora_params: bias must be one of {_BIAS_MODES}, got {bias!r}")
    lora_bias_ids = {id(m.linear.bias) for m in lora_modules(model).values() if m.linear.bias is not None}
    params: list[nn.Parameter] = []
    for name, param in model.named_parameters():
        leaf = name.rpartition(".")[2]
        trainable = leaf in ("lora_A", "lora_B")
        if leaf == "bias" and (bias == "all" or (bias == "lora_only" and id(param) in lora_bias_ids)):
            trainable = True
        param.requires_grad = trainable
        if trainable:
            params.append(param)
    return params


def merge_and_unload(model: nn.Module) -> nn.Module:
    """Merge every LoRA layer and put the plain ``nn.Linear`` back, so the model saves like its base."""
    for name, module in lora_modules(model).items():
        module.merge_weights()
        parent_name, _, attr = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, attr, module.linear)
    return model
