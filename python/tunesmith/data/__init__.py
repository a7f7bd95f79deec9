"""Training data for fine-tuning: examples and their formats, splits, task mixing, replay, continued
pre-training corpora, and LLM-generated data checked by the clean engine.

The seed guide's names keep their behaviour, made correct and reproducible (every random choice takes a seed
and no function mutates the caller's examples):

    >>> from tunesmith.data import DatasetFormatter, TrainingExample
    >>> examples = [TrainingExample(f"Say {i}", "", f"{i}") for i in range(10)]
    >>> split = DatasetFormatter.create_train_val_test_split(examples, seed=0)
    >>> [len(split[k]) for k in ("train", "validation", "test")]
    [8, 1, 1]

Names load lazily: importing this package loads no torch, transformers, pydantic or pyarrow.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY: dict[str, str] = {
    "TrainingExample": "tunesmith.data.example",
    "FieldError": "tunesmith.data.example",
    "DatasetFormatter": "tunesmith.data.formats",
    "LoadResult": "tunesmith.data.formats",
    "Reject": "tunesmith.data.formats",
    "load_examples": "tunesmith.data.formats",
    "save_examples": "tunesmith.data.formats",
    "record_to_example": "tunesmith.data.formats",
    "example_to_record": "tunesmith.data.formats",
    "detect_schema": "tunesmith.data.formats",
    "MultiTaskFineTuner": "tunesmith.data.mixing",
    "CatastrophicForgettingMitigation": "tunesmith.data.mixing",
    "mixture_weights": "tunesmith.data.mixing",
    "ContinuedPreTrainer": "tunesmith.data.pretrain",
    "chunk_texts": "tunesmith.data.pretrain",
    "CompletionClient": "tunesmith.data.llm",
    "EndpointError": "tunesmith.data.llm",
    "SyntheticDataGenerator": "tunesmith.data.synthetic",
    "DataAugmenter": "tunesmith.data.synthetic",
    "GenerationReport": "tunesmith.data.synthetic",
    "ParseResult": "tunesmith.data.synthetic",
    "ParseFailure": "tunesmith.data.synthetic",
    "clean_examples": "tunesmith.data.synthetic",
    "parse_generated": "tunesmith.data.synthetic",
    "parse_paraphrases": "tunesmith.data.synthetic",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tunesmith.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
