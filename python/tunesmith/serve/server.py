"""One base model in memory, many PEFT adapters, switched per request.

:class:`DynamicAdapterServer` loads the base once; adapters are attached to it
with ``PeftModel.load_adapter`` and chosen per call with ``set_adapter`` (or
``disable_adapter()`` for the base). Generation and adapter changes run under
one lock, because the active adapter is state shared by every thread.
"""

from __future__ import annotations

import os
import pathlib
import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from tunesmith.errors import ArgumentError, InputError, UnsupportedError

if TYPE_CHECKING:
    from tunesmith.serve.api import AdapterHTTPServer

__all__ = ["ADAPTER_NAME_RE", "DynamicAdapterServer", "Generation", "ModelNotFoundError"]

ADAPTER_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class ModelNotFoundError(ArgumentError, LookupError):
    """The requested model (adapter) is not loaded."""


@dataclass(frozen=True)
class Generation:
    """What one generation produced: the new text only, token counts, and why it stopped."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "stop" (EOS or a stop string) or "length"


class DynamicAdapterServer:
    """Serve a base causal LM with any number of PEFT adapters loaded and unloaded at run time.

    ``base_model_name`` is a local directory (or a hub id, if the machine can
    reach the hub) that ``from_pretrained`` understands. ``model_name`` is the
    id under which the base itself is served (default: the directory's name).
    """

    def __init__(
        self,
        base_model_name: str | os.PathLike[str],
        *,
        adapters: dict[str, str | os.PathLike[str]] | None = None,
        model_name: str | None = None,
        dtype: str = "auto",
        device: str | None = None,
        max_new_tokens_limit: int = 1024,
    ) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if dtype != "auto" and dtype not in _DTYPES:
            raise ArgumentError(f"dtype must be 'auto' or one of {sorted(_DTYPES)}, got {dtype!r}")
        if max_new_tokens_limit < 1:
            raise ArgumentError(f"max_new_tokens_limit must be >= 1, got {max_new_tokens_limit}")
        self.base_model_name = os.fspath(base_model_name)
        self.model_name = model_name or (pathlib.Path(self.base_model_name).name or self.base_model_name)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.max_new_tokens_limit = max_new_tokens_limit
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.base_model_name)
            self.base_model = AutoModelForCausalLM.from_pretrained(
                self.base_model_name, dtype=_DTYPES[dtype] if dtype != "auto" else "auto"
            )
        except (OSError, ValueError) as e:
            raise InputError(f"{self.base_model_name}: cannot load the base model and tokenizer: {e}") from e
        self.base_model.to(self.device).eval()
        self.model: Any = None  # the PeftModel once an adapter is loaded
        self.loaded_adapters: dict[str, str] = {}
        self._lock = threading.RLock()
        for name, path in (adapters or {}).items():
            self.load_adapter(name, path)

    # -- adapters --------------------------------------------------------------------------

    def list_adapters(self) -> dict[str, str]:
        """Loaded adapters: name -> the path they were loaded from."""
        with self._lock:
            return dict(self.loaded_adapters)

    def load_adapter(self, adapter_name: str, adapter_path: str | os.PathLike[str]) -> None:
        """Load the PEFT adapter saved in ``adapter_path`` under ``adapter_name``.

        Raises :class:`ArgumentError` for a bad or taken name (including the
        base's own), :class:`InputError` when the path holds no adapter that
        fits the base model.
        """
        if not isinstance(adapter_name, str) or not ADAPTER_NAME_RE.match(adapter_name):
            raise ArgumentError(f"adapter name must match {ADAPTER_NAME_RE.pattern}, got {adapter_name!r}")
        if adapter_name == self.model_name:
            raise ArgumentError(f"adapter name {adapter_name!r} is the base model's name")
        path = pathlib.Path(adapter_path)
        if not (path / "adapter_config.json").is_file():
            raise InputError(f"{path}: not a PEFT adapter directory (no adapter_config.json)")
        from peft import PeftModel
        from peft.mapping import PEFT_TYPE_TO_PREFIX_MAPPING

        clashes = sorted({str(p) for p in PEFT_TYPE_TO_PREFIX_MAPPING.values() if adapter_name in str(p)})
        if clashes:
            raise ArgumentError(
                f"adapter name {adapter_name!r} is part of PEFT's parameter prefix {clashes[0]!r}, "
                "which makes PEFT mix up its weights; choose a longer name"
            )
        with self._lock:
            if adapter_name in self.loaded_adapters:
                raise ArgumentError(f"adapter {adapter_name!r} is already loaded; unload it first")
            try:
                if self.model is None:
                    self.model = PeftModel.from_pretrained(self.base_model, str(path), adapter_name=adapter_name)
                    self.model.eval()
                else:
                    self.model.load_adapter(str(path), adapter_name=adapter_name)
            except (OSError, ValueError, KeyError, RuntimeError, TypeError) as e:
                self._drop_partial(adapter_name)
                raise InputError(f"{path}: cannot load adapter {adapter_name!r} onto {self.base_model_name}: {e}") from e
            self.loaded_adapters[adapter_name] = str(path)

    def _drop_partial(self, adapter_name: str) -> None:
        if self.model is None:
            self._strip_tuner_layers()
            return
        if adapter_name not in getattr(self.model, "peft_config", {}):
            return
        if len(self.model.peft_config) == 1:
            self.base_model = self.model.unload()
            self.model = None
        else:
            self.model.delete_adapter(adapter_name)

    def _strip_tuner_layers(self) -> None:
        # a first load that failed half-way leaves PEFT layers injected into the base: put the originals back
        from peft.tuners.tuners_utils import BaseTunerLayer

        for name, module in list(self.base_model.named_modules()):
            if isinstance(module, BaseTunerLayer):
                parent_name, _, attr = name.rpartition(".")
                parent = self.base_model.get_submodule(parent_name) if parent_name else self.base_model
                setattr(parent, attr, module.get_base_layer())
        for attr in ("peft_config", "_hf_peft_config_loaded"):
            if attr in self.base_model.__dict__:
                delattr(self.base_model, attr)

    def unload_adapter(self, adapter_name: str) -> None:
        """Remove a loaded adapter; the base model is untouched."""
        with self._lock:
            if adapter_name not in self.loaded_adapters:
                raise ModelNotFoundError(f"adapter {adapter_name!r} is not loaded")
            if len(self.loaded_adapters) == 1:
                self.base_model = self.model.unload()  # the last one: take the PEFT layers out entirely
                self.model = None
            else:
                self.model.delete_adapter(adapter_name)
            del self.loaded_adapters[adapter_name]

    def models(self) -> list[str]:
        """Every servable model id: the base first, then the adapters."""
        with self._lock:
            return [self.model_name, *self.loaded_adapters]

    def resolve(self, model: str | None) -> str | None:
        """The adapter ``model`` names (None for the base); raises :class:`ModelNotFoundError` for anything else."""
        if model is None or model == self.model_name:
            return None
        with self._lock:
            if model in self.loaded_adapters:
                return model
        raise ModelNotFoundError(f"The model {model!r} does not exist; loaded: {self.models()}")

    # -- generation ------------------------------------------------------------------------

    def chat_prompt(self, messages: list[dict[str, str]]) -> str:
        """Render chat ``messages`` with the tokenizer's chat template, ready for the assistant's turn."""
        if not getattr(self.tokenizer, "chat_template", None):
            raise UnsupportedError(f"the tokenizer of {self.base_model_name} has no chat template")
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return str(text)

    def complete(
        self,
        prompt: str,
        adapter: str | None = None,
        *,
        max_new_tokens: int = 64,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
        stop: list[str] | None = None,
        add_special_tokens: bool = True,
    ) -> Generation:
        """Generate a continuation of ``prompt`` with ``adapter`` (None: the base model).

        ``temperature == 0`` is greedy decoding; otherwise tokens are sampled,
        reproducibly when ``seed`` is given. Generation stops at EOS, at the
        first ``stop`` string (which is cut off), or after ``max_new_tokens``.
        """
        if not isinstance(prompt, str):
            raise ArgumentError(f"prompt must be a string, got {type(prompt).__name__}")
        if not isinstance(max_new_tokens, int) or not 1 <= max_new_tokens <= self.max_new_tokens_limit:
            raise ArgumentError(f"max_new_tokens must be an integer in [1, {self.max_new_tokens_limit}], got {max_new_tokens!r}")
        if not 0.0 <= temperature <= 100.0:
            raise ArgumentError(f"temperature must be in [0, 100], got {temperature!r}")
        if not 0.0 < top_p <= 1.0:
            raise ArgumentError(f"top_p must be in (0, 1], got {top_p!r}")
        stops = [s for s in (stop or []) if s]
        inputs = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=add_special_tokens).to(self.device)
        n_prompt = int(inputs["input_ids"].shape[1])
        if n_prompt == 0:
            raise ArgumentError("prompt is empty after tokenization")
        context = getattr(self.base_model.config, "max_position_embeddings", None)
        if isinstance(context, int) and n_prompt + max_new_tokens > context:
            raise ArgumentError(
                f"the prompt ({n_prompt} tokens) plus max_new_tokens ({max_new_tokens}) exceeds the model's "
                f"context of {context} tokens"
            )
        kwargs: dict[str, Any] = {"max_new_tokens": max_new_tokens, "pad_token_id": self._pad_id()}
        if temperature > 0:
            kwargs.update(do_sample=True, temperature=temperature, top_p=top_p)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if stops:
            kwargs.update(stop_strings=stops, tokenizer=self.tokenizer)
        with self._lock:
            target = self.resolve(adapter) if adapter is not None else None
            if seed is not None:
                torch.manual_seed(seed)
            with torch.inference_mode():
                if target is None:
                    if self.model is None:
                        out = self.base_model.generate(**inputs, **kwargs)
                    else:
                        with self.model.disable_adapter():
                            out = self.model.generate(**inputs, **kwargs)
                else:
                    self.model.set_adapter(target)
                    out = self.model.generate(**inputs, **kwargs)
        new_ids = out[0, n_prompt:].tolist()
        eos = self._eos_ids()
        finish = "length"
        for i, tok in enumerate(new_ids):
            if tok in eos:
                new_ids = new_ids[:i]
                finish = "stop"
                break
        text = self.tokenizer.decode(new_ids, skip_special_tokens=True)
        cut = min((text.find(s) for s in stops if s in text), default=-1)
        if cut >= 0:
            text = text[:cut]
            finish = "stop"
        return Generation(text=text, prompt_tokens=n_prompt, completion_tokens=len(new_ids), finish_reason=finish)

    def generate(
        self,
        prompt: str,
        adapter: str | None = None,
        *,
        adapter_name: str | None = None,
        max_new_tokens: int = 64,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
    ) -> str:
        """The generated text (without the prompt) from ``adapter`` (``adapter_name``, the guide's spelling, too).

        An adapter that is not loaded raises :class:`ModelNotFoundError`
        rather than silently answering with the base model.
        """
        if adapter is not None and adapter_name is not None and adapter != adapter_name:
            raise ArgumentError(f"adapter={adapter!r} and adapter_name={adapter_name!r} disagree")
        chosen = adapter if adapter is not None else adapter_name
        return self.complete(
            prompt, chosen, max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, seed=seed
        ).text

    def _eos_ids(self) -> set[int]:
        ids: set[int] = set()
        cfg = getattr(self.base_model, "generation_config", None)
        for source in (getattr(cfg, "eos_token_id", None), self.tokenizer.eos_token_id):
            if isinstance(source, int):
                ids.add(source)
            elif isinstance(source, (list, tuple)):
                ids.update(int(x) for x in source)
        return ids

    def _pad_id(self) -> int | None:
        if self.tokenizer.pad_token_id is not None:
            return int(self.tokenizer.pad_token_id)
        eos = sorted(self._eos_ids())
        return eos[0] if eos else None

    # -- HTTP ------------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 8000, *, api_key: str | None = None) -> AdapterHTTPServer:
        """Start the OpenAI-compatible HTTP API in a background thread; ``port=0`` picks a free port.

        Returns the server: its ``url`` says where it listens, ``shutdown()``
        stops it.
        """
        from tunesmith.serve.api import AdapterHTTPServer

        server = AdapterHTTPServer((host, port), self, api_key=api_key)
        server.start_background()
        return server

    def serve(self, host: str = "127.0.0.1", port: int = 8000, *, api_key: str | None = None) -> None:
        """Serve the OpenAI-compatible HTTP API until interrupted (binds to loopback unless told otherwise)."""
        from tunesmith.serve.api import AdapterHTTPServer

        with AdapterHTTPServer((host, port), self, api_key=api_key) as server:
            try:
                server.serve_forever()
            except KeyboardInterrupt:
                pass
