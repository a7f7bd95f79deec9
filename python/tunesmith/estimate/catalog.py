"""Popular models by name: their shapes as data (``models.json``), written from their published configs.

Names are short and lower case (``llama-3-8b``, ``qwen2.5-7b``, ``gpt2``); the Hugging Face id
(``meta-llama/Meta-Llama-3-8B``) works too, case-insensitively.

Example:
    >>> load_shape("llama-2-7b").num_params
    6738415616
"""

from __future__ import annotations

import functools
import json
import pathlib
from typing import Any, overload, Literal

from tunesmith.estimate.model import ModelShape

__all__ = ["catalog_names", "catalog_entry", "load_shape"]


@functools.cache
def _catalog() -> dict[str, dict[str, Any]]:
    return json.loads(pathlib.Path(__file__).with_name("models.json").read_text())


@functools.cache
def _index() -> dict[str, str]:
    index: dict[str, str] = {}
    for name, entry in _catalog().items():
        index[name.lower()] = name
        index[entry["hf_id"].lower()] = name
        index[entry["hf_id"].split("/")[-1].lower()] = name
    return index


def catalog_names() -> list[str]:
    """Every catalog name, sorted."""
    return sorted(_catalog())


def catalog_entry(name: str) -> dict[str, Any]:
    """``{"hf_id": ..., "config": {...}}`` of ``name``; ``KeyError`` if unknown."""
    return _catalog()[_index()[name.strip().lower()]]


@overload
def load_shape(name: str, *, with_config: Literal[False] = False) -> ModelShape: ...
@overload
def load_shape(name: str, *, with_config: Literal[True]) -> tuple[ModelShape, dict[str, Any]]: ...
def load_shape(name: str, *, with_config: bool = False) -> ModelShape | tuple[ModelShape, dict[str, Any]]:
    """The :class:`ModelShape` of catalog model ``name`` (and its config dict with ``with_config``)."""
    key = _index()[name.strip().lower()]
    config = dict(_catalog()[key]["config"])
    shape = ModelShape.from_config(config, name=key)
    return (shape, config) if with_config else shape
