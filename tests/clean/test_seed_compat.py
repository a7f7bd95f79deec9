"""The seed guide's DataCleaner / DataValidator names, against a verbatim copy of the seed's logic."""

from __future__ import annotations

import contextlib
import hashlib
import io
import re
from collections import Counter
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from tunesmith.clean import DataCleaner, DataCleaningConfig, DataValidator, TrainingExample


class SeedValidator:
    """The seed guide's DataValidator checks (verbatim logic) for the reference."""

    def __init__(self, tokenizer, max_tokens=4096):
        self.tokenizer, self.max_tokens = tokenizer, max_tokens

    def validate_example(self, example):
        issues = []
        full_text = f"{example.instruction}\n{example.input}\n{example.output}"
        token_count = len(self.tokenizer.encode(full_text))
        if token_count > self.max_tokens:
            issues.append(f"Total tokens ({token_count}) exceeds max ({self.max_tokens})")
        if not example.instruction.strip():
            issues.append("Empty instruction")
        if not example.output.strip():
            issues.append("Empty output")
        if len(example.output.split()) < 5:
            issues.append("Output too short (< 5 words)")
        words = example.output.lower().split()
        if len(words) >= 10:
            ngrams = [tuple(words[i : i + 3]) for i in range(len(words) - 2)]
            if len(set(ngrams)) / len(ngrams) < 0.3:
                issues.append("Output contains excessive repetition")
        return {"valid": len(issues) == 0, "issues": issues, "token_count": token_count}


class WordTokenizer:
    def encode(self, text):
        return text.split()


def seed_clean(examples, config):
    """The seed guide's DataCleaner.clean_dataset without its PII step (verbatim logic)."""
    seen = set()
    stats = {"total": len(examples), "passed": 0, "removed_length": 0, "removed_duplicate": 0, "removed_quality": 0}
    out = []

    def clean_text(text):
        text = re.sub(r"\s+", " ", text)
        text = re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]", "", text)
        return text.strip()

    for ex in examples:
        ex = replace(ex, instruction=clean_text(ex.instruction), output=clean_text(ex.output),
                     input=clean_text(ex.input) if ex.input else ex.input)
        il = len(ex.instruction) + len(ex.input)
        reason = None
        if il < config.min_input_length or il > config.max_input_length:
            reason = "length"
        elif len(ex.output) < config.min_output_length or len(ex.output) > config.max_output_length:
            reason = "length"
        else:
            h = hashlib.md5(f"{ex.instruction}|{ex.input}|{ex.output}".encode()).hexdigest()
            if h in seen:
                reason = "duplicate"
            else:
                seen.add(h)
                words = ex.output.lower().split()
                bad = len(words) > 10 and Counter(words).most_common(1)[0][1] / len(words) > 0.3
                if not bad and ex.output.strip() and ex.output.strip()[-1] not in ".!?\"')" and len(ex.output) > 100:
                    bad = True
                if bad:
                    reason = "quality"
        if reason:
            stats[f"removed_{reason}"] += 1
        else:
            stats["passed"] += 1
            out.append(ex)
    return out, stats


ascii_text = st.text(alphabet="abc de.!  \t\n", max_size=140)
example = st.builds(TrainingExample, instruction=ascii_text, input=st.sampled_from(["", "ctx"]), output=ascii_text)


@settings(max_examples=80)
@given(st.lists(example, max_size=25))
def test_clean_dataset_matches_seed(examples):
    cfg = DataCleaningConfig(remove_pii=False)
    expected, stats = seed_clean([replace(e) for e in examples], cfg)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        got = DataCleaner(cfg).clean_dataset([replace(e) for e in examples])
    assert printed.getvalue() == f"Cleaning stats: {stats}\n"
    assert [(e.instruction, e.input, e.output) for e in got] == [(e.instruction, e.input, e.output) for e in expected]


@settings(max_examples=80)
@given(example)
def test_validator_matches_seed(ex):
    assert DataValidator(WordTokenizer(), 12).validate_example(ex) == SeedValidator(WordTokenizer(), 12).validate_example(ex)


def test_validate_dataset_keys_and_pii_placeholders(capsys):
    exs = [
        TrainingExample("Summarize the report", "", "Mail jane.doe@example.com or call 415-555-0134 today please."),
        TrainingExample("", "", "short"),
    ]
    report = DataValidator(WordTokenizer(), 4096).validate_dataset(exs)
    assert set(report) == {"total_examples", "valid_examples", "invalid_examples", "valid_ratio", "total_tokens",
                           "avg_tokens_per_example", "issue_summary"}
    assert report["issue_summary"] == {"Empty instruction": 1, "Output too short (< 5 words)": 1}
    cleaned = DataCleaner(DataCleaningConfig()).clean_dataset(exs)
    assert cleaned[0].output == "Mail [EMAIL] or call [PHONE] today please."
    assert "Cleaning stats:" in capsys.readouterr().out
