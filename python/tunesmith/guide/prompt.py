"""Prefix tuning, prompt tuning and bottleneck adapters as plain PyTorch modules.

:class:`PrefixTuning` and :class:`PromptTuning` lay their weights out as PEFT
does (``PrefixEncoder`` and the prompt-tuning embedding), so weights copied
from a PEFT adapter give the same model outputs; ``model_inputs`` builds the
arguments to pass to a Hugging Face causal LM.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from tunesmith.errors import ArgumentError

__all__ = ["Adapter", "PrefixTuning", "PrefixTuningConfig", "PromptTuning", "PromptTuningConfig"]


@dataclass
class PrefixTuningConfig:
    """Config for prefix tuning; ``hidden_size`` is the width of the reparametrisation MLP."""

    num_virtual_tokens: int = 20
    prefix_projection: bool = True
    hidden_size: int = 512

    def __post_init__(self) -> None:
        if self.num_virtual_tokens < 1:
            raise ArgumentError(f"PrefixTuningConfig.num_virtual_tokens must be >= 1, got {self.num_virtual_tokens}")
        if self.hidden_size < 1:
            raise ArgumentError(f"PrefixTuningConfig.hidden_size must be >= 1, got {self.hidden_size}")


@dataclass
class PromptTuningConfig:
    """Config for soft prompt tuning; a non-empty ``prompt_init_text`` initialises the prompt from its tokens."""

    num_virtual_tokens: int = 8
    prompt_init_text: str = ""

    def __post_init__(self) -> None:
        if self.num_virtual_tokens < 1:
            raise ArgumentError(f"PromptTuningConfig.num_virtual_tokens must be >= 1, got {self.num_virtual_tokens}")


def _config_get(model_config: Any, key: str) -> Any:
    if isinstance(model_config, dict):
        return model_config.get(key)
    return getattr(model_config, key, None)


def _prefix_mask(attention_mask: torch.Tensor | None, batch: int, seq: int, n: int, device: torch.device) -> torch.Tensor:
    if attention_mask is None:
        attention_mask = torch.ones(batch, seq, dtype=torch.long, device=device)
    ones = torch.ones(batch, n, dtype=attention_mask.dtype, device=attention_mask.device)
    return torch.cat([ones, attention_mask], dim=1)


class PrefixTuning(nn.Module):
    """Learned key/value prefixes for every attention layer.

    The prefix has ``num_virtual_tokens`` positions per layer, shaped for the
    model's key/value heads (``num_key_value_heads`` under grouped-query
    attention) and ``head_dim``. With ``prefix_projection`` an embedding of
    width ``num_kv_heads * head_dim`` goes through ``Linear -> Tanh -> Linear``
    of width ``config.hidden_size`` (PEFT's reparametrisation); without it the
    prefix is a plain embedding.
    """

    def __init__(self, config: PrefixTuningConfig, model_config: Any) -> None:
        super().__init__()
        self.num_virtual_tokens = config.num_virtual_tokens
        self.num_layers = int(_config_get(model_config, "num_hidden_layers"))
        attention_heads = int(_config_get(model_config, "num_attention_heads"))
        self.num_heads = int(_config_get(model_config, "num_key_value_heads") or attention_heads)
        self.head_dim = int(_config_get(model_config, "head_dim") or _config_get(model_config, "hidden_size") // attention_heads)
        token_dim = self.num_heads * self.head_dim
        total_dim = self.num_layers * 2 * token_dim
        self.prefix_projection = config.prefix_projection
        self.prefix_encoder: nn.Module
        if config.prefix_projection:
            self.prefix_encoder = nn.Sequential(
                nn.Embedding(config.num_virtual_tokens, token_dim),
                nn.Linear(token_dim, config.hidden_size),
                nn.Tanh(),
                nn.Linear(config.hidden_size, total_dim),
            )
        else:
            self.prefix_encoder = nn.Embedding(config.num_virtual_tokens, total_dim)
        self.register_buffer("prefix_tokens", torch.arange(config.num_virtual_tokens), persistent=False)

    def _embedding(self) -> nn.Embedding:
        enc = self.prefix_encoder
        return enc[0] if isinstance(enc, nn.Sequential) else enc  # type: ignore[return-value]

    def forward(self, batch_size: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per layer, ``(key, value)`` each shaped ``(batch, kv_heads, num_virtual_tokens, head_dim)``."""
        tokens = self.prefix_tokens.to(self._embedding().weight.device).unsqueeze(0).expand(batch_size, -1)
        prefix = self.prefix_encoder(tokens)
        prefix = prefix.view(batch_size, self.num_virtual_tokens, self.num_layers, 2, self.num_heads, self.head_dim)
        prefix = prefix.permute(2, 3, 0, 4, 1, 5)
        return [(prefix[i, 0], prefix[i, 1]) for i in range(self.num_layers)]

    def to_cache(self, batch_size: int, dtype: torch.dtype | None = None) -> Any:
        """The prefix as a ``transformers.DynamicCache``, ready to pass as ``past_key_values``."""
        from transformers import DynamicCache

        layers = self.forward(batch_size)
        if dtype is not None:
            layers = [(k.to(dtype), v.to(dtype)) for k, v in layers]
        return DynamicCache(layers)

    def model_inputs(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        dtype: torch.dtype | None = None,
        model: nn.Module | None = None,
    ) -> dict[str, Any]:
        """Keyword arguments for a causal LM's forward: ``input_ids``, the prefix cache and the widened mask.

        Pass ``model`` to use the name its ``forward`` takes the cache under
        (``cache`` in recent transformers, ``past_key_values`` before).
        """
        batch, seq = input_ids.shape
        cache_key = "past_key_values"
        if model is not None and "cache" in inspect.signature(model.forward).parameters:
            cache_key = "cache"
        return {
            "input_ids": input_ids,
            cache_key: self.to_cache(batch, dtype),
            "attention_mask": _prefix_mask(attention_mask, batch, seq, self.num_virtual_tokens, input_ids.device),
        }


class PromptTuning(nn.Module):
    """A learned soft prompt prepended to the input embeddings.

    With ``prompt_init_text`` the prompt starts as the embeddings of that
    text's tokens, repeated to fill ``num_virtual_tokens`` (as PEFT does);
    otherwise it starts as small Gaussian noise.
    """

    def __init__(self, config: PromptTuningConfig, tokenizer: Any, model_embeddings: nn.Embedding) -> None:
        super().__init__()
        self.num_virtual_tokens = config.num_virtual_tokens
        weight = model_embeddings.weight
        if config.prompt_init_text:
            ids = list(tokenizer.encode(config.prompt_init_text, add_special_tokens=False))
            if not ids:
                raise ArgumentError("PromptTuningConfig.prompt_init_text encodes to no tokens")
            ids = (ids * math.ceil(self.num_virtual_tokens / len(ids)))[: self.num_virtual_tokens]
            init = weight.detach()[torch.tensor(ids, device=weight.device)].clone()
        else:
            init = torch.randn(self.num_virtual_tokens, model_embeddings.embedding_dim, device=weight.device) * 0.01
            init = init.to(weight.dtype)
        self.soft_prompt = nn.Parameter(init)

    def forward(self, input_embeds: torch.Tensor) -> torch.Tensor:
        """Prepend the soft prompt: ``(batch, seq, dim) -> (batch, num_virtual_tokens + seq, dim)``."""
        soft = self.soft_prompt.to(input_embeds.dtype).unsqueeze(0).expand(input_embeds.shape[0], -1, -1)
        return torch.cat([soft, input_embeds], dim=1)

    def model_inputs(
        self,
        input_ids: torch.Tensor,
        embeddings: nn.Embedding,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> dict[str, Any]:
        """``inputs_embeds`` with the prompt prepended, the widened mask and (if given) labels padded with -100."""
        batch, seq = input_ids.shape
        out: dict[str, Any] = {
            "inputs_embeds": self.forward(embeddings(input_ids)),
            "attention_mask": _prefix_mask(attention_mask, batch, seq, self.num_virtual_tokens, input_ids.device),
        }
        if labels is not None:
            pad = torch.full((batch, self.num_virtual_tokens), -100, dtype=labels.dtype, device=labels.device)
            out["labels"] = torch.cat([pad, labels], dim=1)
        return out


class Adapter(nn.Module):
    """Bottleneck adapter ``x + up(act(down(x)))``; the up projection starts at zero, so it starts as the identity."""

    def __init__(
        self,
        hidden_size: int,
        adapter_size: int = 64,
        activation: Literal["gelu", "relu"] = "gelu",
    ) -> None:
        super().__init__()
        if hidden_size < 1 or adapter_size < 1:
            raise ArgumentError(f"Adapter sizes must be >= 1, got hidden_size={hidden_size}, adapter_size={adapter_size}")
        activations: dict[str, type[nn.Module]] = {"gelu": nn.GELU, "relu": nn.ReLU}
        if activation not in activations:
            raise ArgumentError(f"Adapter activation must be one of {sorted(activations)}, got {activation!r}")
        self.down_project = nn.Linear(hidden_size, adapter_size)
        self.activation = activations[activation]()
        self.up_project = nn.Linear(adapter_size, hidden_size)
        nn.init.normal_(self.down_project.weight, std=0.01)
        nn.init.zeros_(self.down_project.bias)
        nn.init.zeros_(self.up_project.weight)
        nn.init.zeros_(self.up_project.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.up_project(self.activation(self.down_project(x)))
