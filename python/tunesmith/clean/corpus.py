"""A small synthetic corpus with known duplicates, near-duplicates, PII and broken lines.

tunesmith's own generator for the demo and the tests (no network, no external data): documents are
paragraphs of English-like prose built from a fixed vocabulary by a seeded RNG, so Gopher's quality filter
keeps them; then exact copies, word-edited near copies, PII (emails, phones, SSNs, Luhn-valid cards, IPs) and
malformed lines are injected, and the ground truth is returned.

    >>> from tunesmith.clean.corpus import make_corpus
    >>> c = make_corpus(n_docs=50, seed=1)
    >>> len(c.lines) >= 50, sorted(c.truth)[:2]
    (True, ['exact_dup', 'malformed'])
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field

__all__ = ["Corpus", "make_corpus"]

_WORDS = (
    "the of and to in is that for it with as was on be at by this have from or one had not but what all were "
    "when we there can an your which their said if do will each about how up out them then she many some so "
    "these would other into has more her two like him see time could no make than first been its who now people "
    "my made over did down only way find use may water long little very after words called just where most know "
    "model data training memory batch learning rate token layer weight gradient adapter dataset corpus sample "
    "evaluation loss optimizer schedule checkpoint precision quantization inference latency throughput cluster "
    "river mountain garden window kitchen market station library village harbor forest winter summer morning"
).split()
_FIRST = ["Alice", "Bruno", "Chen", "Dana", "Emeka", "Farah", "Goran", "Hana", "Ivan", "Julia"]
_LAST = ["Smith", "Garcia", "Kim", "Novak", "Okafor", "Rossi", "Tanaka", "Weber", "Silva", "Moreau"]


def _luhn_complete(digits: list[int]) -> list[int]:
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 0:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return digits + [(10 - total % 10) % 10]


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(_WORDS) for _ in range(rng.randint(8, 18))]
    words[0] = words[0].capitalize()
    return " ".join(words) + rng.choice([".", ".", ".", "!", "?"])


def _document(rng: random.Random) -> str:
    paragraphs = []
    for _ in range(rng.randint(2, 5)):
        paragraphs.append(" ".join(_sentence(rng) for _ in range(rng.randint(3, 7))))
    return "\n\n".join(paragraphs)


def _pii(rng: random.Random) -> tuple[str, str]:
    kind = rng.choice(["EMAIL", "PHONE", "SSN", "CREDIT_CARD", "IPV4"])
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    if kind == "EMAIL":
        value = f"{first.lower()}.{last.lower()}@example.{rng.choice(['com', 'org', 'net'])}"
    elif kind == "PHONE":
        value = f"({rng.randint(201, 989)}) {rng.randint(200, 999)}-{rng.randint(1000, 9999)}"
    elif kind == "SSN":
        value = f"{rng.randint(100, 665):03d}-{rng.randint(10, 99):02d}-{rng.randint(1000, 9999):04d}"
    elif kind == "CREDIT_CARD":
        digits = _luhn_complete([4] + [rng.randint(0, 9) for _ in range(14)])
        s = "".join(map(str, digits))
        value = " ".join(s[i : i + 4] for i in range(0, 16, 4))
    else:
        value = f"{rng.randint(11, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    return kind, value


def _near(text: str, rng: random.Random, rate: float) -> str:
    words = text.split(" ")
    for _ in range(max(1, int(len(words) * rate))):
        i = rng.randrange(len(words))
        words[i] = rng.choice(_WORDS)
    return " ".join(words)


@dataclass
class Corpus:
    """JSONL lines (bytes, without newlines) and the ground truth by kind."""

    lines: list[bytes]
    truth: dict[str, list[dict]] = field(default_factory=dict)

    def write(self, path) -> None:
        with open(path, "wb") as f:
            for line in self.lines:
                f.write(line + b"\n")


def make_corpus(
    n_docs: int = 1000,
    *,
    seed: int = 0,
    dup_frac: float = 0.08,
    near_frac: float = 0.05,
    pii_frac: float = 0.1,
    malformed_frac: float = 0.01,
) -> Corpus:
    """``n_docs`` base documents plus injected exact duplicates, near-duplicates (0.5–1.5 % of words replaced),
    PII and malformed lines, shuffled. ``truth`` maps ``exact_dup``/``near_dup`` to ``{"id", "of"}`` records,
    ``pii`` to ``{"id", "kind", "value"}`` and ``malformed`` to ``{"index"}`` (0-based line index)."""
    rng = random.Random(seed)
    docs: list[tuple[str, str]] = []
    truth: dict[str, list[dict]] = {"exact_dup": [], "near_dup": [], "pii": [], "malformed": []}
    for i in range(n_docs):
        text = _document(rng)
        if rng.random() < pii_frac:
            kind, value = _pii(rng)
            text = text.replace(". ", f". Contact {rng.choice(_FIRST)} at {value} for details. ", 1)
            truth["pii"].append({"id": f"d{i}", "kind": kind, "value": value})
        docs.append((f"d{i}", text))
    extra: list[tuple[str, str]] = []
    for j, (doc_id, text) in enumerate(rng.sample(docs, int(n_docs * dup_frac))):
        extra.append((f"x{j}", text))
        truth["exact_dup"].append({"id": f"x{j}", "of": doc_id})
    for j, (doc_id, text) in enumerate(rng.sample(docs, int(n_docs * near_frac))):
        extra.append((f"n{j}", _near(text, rng, rng.choice([0.005, 0.01, 0.015]))))
        truth["near_dup"].append({"id": f"n{j}", "of": doc_id})
    records = docs + extra
    rng.shuffle(records)
    lines = [json.dumps({"id": doc_id, "text": text, "source": "synthetic"}).encode() for doc_id, text in records]
    broken = [b'{"id": "broken", "text": ', b"", b'{"id": "no-text"}', b'{"text": 42}', b'{"text": "caf\xc3"}']
    for k in range(max(1, int(n_docs * malformed_frac))):
        at = rng.randrange(len(lines) + 1)
        lines.insert(at, broken[k % len(broken)])
    truth["malformed"] = [{"index": i} for i, line in enumerate(lines) if line in broken]
    return Corpus(lines, truth)
