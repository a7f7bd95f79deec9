"""The seed guide's data-cleaning names as drop-ins, backed by the Rust engine.

``TrainingExample``, ``DataCleaningConfig``, ``DataCleaner.clean_dataset`` (same stats keys, same printed line)
and ``DataValidator(tokenizer, max_tokens).validate_example / validate_dataset`` (same result keys and issue
strings) behave as the seed's code does, with three documented differences:

* ``_clean_text`` is :func:`tunesmith.clean.normalize_text`, which also applies Unicode NFC;
* PII removal uses the engine's detectors (emails, phones, SSNs as the seed's three regexes did, plus cards,
  IBANs, IPs and secrets), with the seed's placeholders ``[EMAIL]``, ``[PHONE]``, ``[SSN]``;
* the duplicate hash is xxh3-128 instead of MD5 (same keys: instruction, input and output).

    >>> from tunesmith.clean import DataCleaner, DataCleaningConfig, TrainingExample
    >>> ex = [TrainingExample("Summarize the text", "The cat sat on the mat.", "A cat sat on a mat.")] * 2
    >>> cleaned = DataCleaner(DataCleaningConfig()).clean_dataset(ex)
    Cleaning stats: {'total': 2, 'passed': 1, 'removed_length': 0, 'removed_duplicate': 1, 'removed_quality': 0}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tunesmith.clean import scanners
from tunesmith.clean.pipeline import ExactDeduper
from tunesmith.data.example import TrainingExample  # the one class; it lives in tunesmith.data

__all__ = ["DataCleaner", "DataCleaningConfig", "DataValidator", "TrainingExample"]


@dataclass
class DataCleaningConfig:
    """Configuration for data cleaning (the seed guide's fields and defaults)."""

    min_input_length: int = 10
    max_input_length: int = 4096
    min_output_length: int = 10
    max_output_length: int = 4096
    remove_duplicates: bool = True
    dedupe_similarity_threshold: float = 0.9
    remove_pii: bool = True
    language_filter: str | None = None


class DataCleaner:
    """Clean and preprocess training data (the seed guide's class, on the Rust engine)."""

    def __init__(self, config: DataCleaningConfig) -> None:
        self.config = config
        self._dedup = ExactDeduper(normalize=False)

    def clean_dataset(self, examples: list[TrainingExample]) -> list[TrainingExample]:
        """Clean entire dataset; prints and keeps ``self.stats`` with the seed's keys."""
        cfg = self.config
        stats: dict[str, int] = {
            "total": len(examples),
            "passed": 0,
            "removed_length": 0,
            "removed_duplicate": 0,
            "removed_quality": 0,
        }
        fields = [(ex.instruction, ex.input, ex.output) for ex in examples]
        flat = scanners.normalize_texts([t for f in fields for t in f])
        cleaned_fields = [tuple(flat[3 * i : 3 * i + 3]) for i in range(len(examples))]
        for ex, (instruction, input_, output) in zip(examples, cleaned_fields, strict=True):
            ex.instruction, ex.output = instruction, output
            if ex.input:
                ex.input = input_
        survivors: list[TrainingExample] = []
        for ex in examples:
            reason = self._check(ex)
            if reason is None:
                survivors.append(ex)
            else:
                stats[f"removed_{reason}"] = stats.get(f"removed_{reason}", 0) + 1
        if cfg.remove_pii and survivors:
            texts = [t for ex in survivors for t in (ex.instruction, ex.input, ex.output)]
            red = scanners.redact_pii(texts, "placeholder")
            for i, ex in enumerate(survivors):
                ex.instruction, ex.input, ex.output = red[3 * i], red[3 * i + 1], red[3 * i + 2]
        cleaned = []
        for ex in survivors:
            if scanners.seed_checks(ex.instruction, ex.output)[1]:
                cleaned.append(ex)
                stats["passed"] += 1
            else:
                stats["removed_quality"] += 1
        self.stats = stats
        print(f"Cleaning stats: {stats}")
        return cleaned

    def _check(self, ex: TrainingExample) -> str | None:
        cfg = self.config
        input_len = len(ex.instruction) + len(ex.input)
        if not cfg.min_input_length <= input_len <= cfg.max_input_length:
            return "length"
        if not cfg.min_output_length <= len(ex.output) <= cfg.max_output_length:
            return "length"
        if cfg.remove_duplicates:
            content = f"{ex.instruction}|{ex.input}|{ex.output}"
            if self._dedup.add([content])[0] is not None:
                return "duplicate"
        return None


class DataValidator:
    """Validate training data quality (the seed guide's class): ``tokenizer`` needs ``encode(str)``."""

    def __init__(self, tokenizer: Any, max_tokens: int = 4096) -> None:
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens

    def validate_example(self, example: TrainingExample) -> dict[str, Any]:
        issues: list[str] = []
        full_text = f"{example.instruction}\n{example.input}\n{example.output}"
        token_count = len(self.tokenizer.encode(full_text))
        if token_count > self.max_tokens:
            issues.append(f"Total tokens ({token_count}) exceeds max ({self.max_tokens})")
        issues.extend(scanners.seed_checks(example.instruction, example.output)[0])
        return {"valid": len(issues) == 0, "issues": issues, "token_count": token_count}

    def validate_dataset(self, examples: list[TrainingExample]) -> dict[str, Any]:
        results = [self.validate_example(ex) for ex in examples]
        valid_count = sum(1 for r in results if r["valid"])
        total_tokens = sum(r["token_count"] for r in results)
        issue_counts: dict[str, int] = {}
        for r in results:
            for issue in r["issues"]:
                issue_counts[issue] = issue_counts.get(issue, 0) + 1
        n = len(examples)
        return {
            "total_examples": n,
            "valid_examples": valid_count,
            "invalid_examples": n - valid_count,
            "valid_ratio": valid_count / n if n else 0.0,
            "total_tokens": total_tokens,
            "avg_tokens_per_example": total_tokens / n if n else 0.0,
            "issue_summary": issue_counts,
        }

