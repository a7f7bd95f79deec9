"""Slow, obviously-correct Gopher repetition and quality metrics.

Written from the definitions of Rae et al. 2021 (Table A1, section A.1.1) as
datatrove's GopherRepetitionFilter / GopherQualityFilter implement them. The
word list is an argument, so the oracle checks the metric definitions
independently of the tokenizer.
"""

from __future__ import annotations

import re
import string
from collections import Counter

PUNCTUATION_ASCII = set(string.punctuation)


def _duplicates(items: list[str]) -> tuple[int, int]:
    seen: set[str] = set()
    count = chars = 0
    for item in items:
        if item in seen:
            count += 1
            chars += len(item)
        else:
            seen.add(item)
    return count, chars


def repetition_metrics(text: str, words: list[str]) -> dict[str, float]:
    n_chars = len(text)
    paragraphs = re.split(r"\n{2,}", text.strip())
    lines = re.split(r"\n+", text)
    dup_paras, dup_para_chars = _duplicates(paragraphs)
    dup_lines, dup_line_chars = _duplicates(lines)
    out = {
        "paragraphs": len(paragraphs),
        "lines": len(lines),
        "dup_para_frac": dup_paras / len(paragraphs),
        "dup_line_frac": dup_lines / len(lines),
        "dup_para_char_frac": dup_para_chars / n_chars if n_chars else 0.0,
        "dup_line_char_frac": dup_line_chars / n_chars if n_chars else 0.0,
    }
    for n in (2, 3, 4):
        grams = [" ".join(words[i : i + n]) for i in range(len(words) - n + 1)]
        if grams and n_chars:
            gram, count = Counter(grams).most_common(1)[0]
            out[f"top_{n}_gram_char_frac"] = len(gram) * count / n_chars
        else:
            out[f"top_{n}_gram_char_frac"] = 0.0
    for n in range(5, 11):
        seen: set[tuple[str, ...]] = set()
        idx = repeated = 0
        while idx < len(words) - n + 1:
            gram = tuple(words[idx : idx + n])
            if gram in seen:
                repeated += sum(len(w) for w in gram)
                idx += n
            else:
                seen.add(gram)
                idx += 1
        out[f"dup_{n}_gram_char_frac"] = repeated / n_chars if n_chars else 0.0
    return out


def quality_metrics(text: str, words: list[str], stop_words=("the", "be", "to", "of", "and", "that", "have", "with")):
    non_symbol = [w for w in words if any(c not in PUNCTUATION_ASCII for c in w)]
    lines = text.splitlines()
    n = len(words)
    return {
        "words": n,
        "non_symbol_words": len(non_symbol),
        "mean_word_length": sum(len(w) for w in non_symbol) / len(non_symbol) if non_symbol else float("nan"),
        "hash_ratio": text.count("#") / n if n else float("inf"),
        "ellipsis_ratio": (text.count("...") + text.count("…")) / n if n else float("inf"),
        "bullet_lines_ratio": sum(l.lstrip().startswith(("•", "-")) for l in lines) / len(lines) if lines else 0.0,
        "ellipsis_lines_ratio": sum(l.rstrip().endswith(("...", "…")) for l in lines) / len(lines) if lines else 0.0,
        "alpha_words_ratio": sum(any(c.isalpha() for c in w) for w in words) / n if n else 0.0,
        "stop_words": len(set(stop_words) & set(words)),
    }
