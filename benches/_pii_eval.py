"""PII recall/precision of tunesmith's scanner against make_corpus.py ground truth."""

from __future__ import annotations

import collections
import json
from pathlib import Path

# Ground-truth types of make_corpus.py -> tunesmith kinds that count as a hit.
TRUTH_KINDS = {
    "EMAIL": {"EMAIL"},
    "PHONE": {"PHONE"},
    "SSN": {"SSN"},
    "CREDIT_CARD": {"CREDIT_CARD"},
    "IBAN": {"IBAN"},
    "IPV4": {"IPV4"},
    "IPV6": {"IPV6"},
    "AWS_ACCESS_KEY": {"AWS_ACCESS_KEY"},
    "AWS_SECRET_KEY": {"AWS_SECRET_KEY", "SECRET"},
    "GITHUB_TOKEN": {"GITHUB_TOKEN"},
}


def load(corpus: Path) -> tuple[list[str], list[str], dict[str, list[dict]]]:
    ids, texts = [], []
    with corpus.open() as f:
        for line in f:
            r = json.loads(line)
            ids.append(r["id"])
            texts.append(r["text"])
    truth: dict[str, list[dict]] = collections.defaultdict(list)
    truth_path = corpus.with_name(corpus.name.replace(".jsonl", ".truth.jsonl"))
    with truth_path.open() as f:
        for line in f:
            r = json.loads(line)
            if r["kind"] == "pii":
                truth[r["id"]].append(r)
    return ids, texts, truth


def evaluate(ids, texts, truth, spans_per_doc) -> dict:
    """Typed recall of injected PII, exact-span recall, and precision over the
    labelled set (detections overlapping an injected value or decoy)."""
    per_type = collections.Counter()
    hit_type = collections.Counter()
    exact = 0
    tp = fp = 0
    fp_examples = []
    missed = []
    outside = collections.Counter()
    for doc_id, text, spans in zip(ids, texts, spans_per_doc):
        items = truth.get(doc_id, [])
        for it in items:
            if it["decoy"]:
                continue
            per_type[it["type"]] += 1
            ok = [s for s in spans if s.start < it["end"] and s.end > it["start"] and s.kind in TRUTH_KINDS[it["type"]]]
            if ok:
                hit_type[it["type"]] += 1
                exact += any(s.start == it["start"] and s.end == it["end"] for s in ok)
            else:
                missed.append((it["type"], it["value"], text[max(0, it["start"] - 30): it["end"] + 30]))
        for s in spans:
            over = [it for it in items if s.start < it["end"] and s.end > it["start"]]
            if not over:
                outside[s.kind] += 1
                continue
            if any(not it["decoy"] and s.kind in TRUTH_KINDS[it["type"]] for it in over):
                tp += 1
            else:
                fp += 1
                fp_examples.append((s.kind, s.text, [it["type"] for it in over]))
    n = sum(per_type.values())
    return {
        "items": n,
        "recall": sum(hit_type.values()) / n if n else 1.0,
        "exact_span_recall": exact / n if n else 1.0,
        "precision": tp / (tp + fp) if tp + fp else 1.0,
        "true_positives": tp,
        "false_positives": fp,
        "recall_by_type": {t: round(hit_type[t] / per_type[t], 4) for t in sorted(per_type)},
        "decoys": sum(1 for items in truth.values() for it in items if it["decoy"]),
        "detections_outside_injected": dict(outside),
        "missed_examples": missed[:15],
        "fp_examples": fp_examples[:15],
    }
