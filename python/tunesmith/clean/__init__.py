"""Clean a corpus: normalise, filter, deduplicate (exact and MinHash), find and redact PII, in one
streaming pass in Rust that accounts for every record.

    >>> from tunesmith.clean import Pipeline
    >>> report = Pipeline().clean_file("corpus.jsonl.zst", "clean.jsonl.zst", report="report.json")  # doctest: +SKIP

Names load lazily: importing this package pulls in neither pydantic nor pyarrow until a name that needs them
is used.
"""

from __future__ import annotations

import importlib
from typing import Any

from tunesmith.clean import scanners as _scanners

_LAZY: dict[str, str] = {
    "CleanConfig": "tunesmith.clean.config",
    "CleanReport": "tunesmith.clean.report",
    "CleanedTexts": "tunesmith.clean.pipeline",
    "ExactDeduper": "tunesmith.clean.pipeline",
    "MinHashDeduper": "tunesmith.clean.pipeline",
    "Pipeline": "tunesmith.clean.pipeline",
    "clean_file": "tunesmith.clean.pipeline",
    "clean_texts": "tunesmith.clean.pipeline",
    "TrainingExample": "tunesmith.clean.seed_compat",
    "DataCleaningConfig": "tunesmith.clean.seed_compat",
    "DataCleaner": "tunesmith.clean.seed_compat",
    "DataValidator": "tunesmith.clean.seed_compat",
    "make_corpus": "tunesmith.clean.corpus",
}
# The scanners module needs only the Rust core, so its own export list is read eagerly.
_LAZY.update(dict.fromkeys(_scanners.__all__, "tunesmith.clean.scanners"))

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tunesmith.clean' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
