"""PII scan + redact: tunesmith vs datatrove's PIIFormatter and presidio's pattern
recognizers, side by side in one process, plus recall/precision on injected PII.

    python benches/bench_pii.py [--corpus /tmp/clean-bench/corpus50.jsonl] [--peer-mb 8] [--presidio-mb 2]

Builds the corpus with ../shared/bench/make_corpus.py when it is missing (it
writes the ground truth: injected PII with character offsets, and decoys that
must not be flagged). Speeds are MB of text per second of wall time on the same
document sample for every tool (tunesmith on all cores, and on one thread; the
peers are single-threaded Python), each the median of ``--repeats`` timed runs
after one untimed warm-up run (the peers build their recognizers outside the
timing too). Recall is over every injected item of the
whole corpus; precision over the detections that touch an injected value or a
decoy (the base text is real and has unlabelled PII of its own, counted apart).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _pii_eval import evaluate, load  # noqa: E402
from bench_repetition import ensure_corpus  # noqa: E402

from tunesmith import _core  # noqa: E402
from tunesmith.clean.scanners import redact_pii, scan_pii_batch  # noqa: E402


def take_mb(texts: list[str], limit_mb: float, seed: int) -> list[str]:
    order = list(range(len(texts)))
    random.Random(seed).shuffle(order)
    out, size = [], 0
    for i in order:
        if size >= limit_mb * 1e6:
            break
        out.append(texts[i])
        size += len(texts[i].encode())
    return out


def mb(texts: list[str]) -> float:
    return sum(len(t.encode()) for t in texts) / 1e6


def timed(fn, *args, **kw):
    t0 = time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - t0


def median_time(repeats: int, fn, *args) -> float:
    """Median wall time of ``repeats`` runs of ``fn(*args)`` after one warm-up run."""
    fn(*args)
    return statistics.median(timed(fn, *args)[1] for _ in range(repeats))


def ours_all_and_one_thread(texts: list[str], repeats: int) -> tuple[float, float]:
    t_all = median_time(repeats, redact_pii, texts)
    _core.set_num_threads(1)
    try:
        t_one = median_time(repeats, redact_pii, texts)
    finally:
        _core.set_num_threads(0)
    return t_all, t_one


def datatrove_formatter():
    from datatrove.pipeline.formatters import PIIFormatter

    return PIIFormatter()


def run_datatrove(texts: list[str], formatter) -> list[str]:
    return [formatter.format(t) for t in texts]


def presidio_recognizers():
    import logging

    # presidio's URL helpers try to download the public suffix list; offline that
    # only logs a long traceback before falling back to the bundled snapshot.
    logging.getLogger("tldextract").setLevel(logging.CRITICAL)
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        EmailRecognizer,
        IbanRecognizer,
        IpRecognizer,
        PhoneRecognizer,
        UsSsnRecognizer,
    )

    return [r() for r in (EmailRecognizer, PhoneRecognizer, UsSsnRecognizer, CreditCardRecognizer, IpRecognizer, IbanRecognizer)]


def run_presidio(texts: list[str], recognizers) -> list[str]:
    out = []
    for t in texts:
        spans = []
        for r in recognizers:
            spans += [(x.start, x.end, x.entity_type) for x in r.analyze(t, r.supported_entities, None)]
        spans.sort()
        parts, pos = [], 0
        for s, e, kind in spans:
            if s < pos:
                continue
            parts += [t[pos:s], f"[{kind}]"]
            pos = e
        parts.append(t[pos:])
        out.append("".join(parts))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=Path("/tmp/clean-bench/corpus50.jsonl"))
    ap.add_argument("--size-mb", type=int, default=50)
    ap.add_argument("--peer-mb", type=float, default=8.0, help="sample size for the datatrove comparison")
    ap.add_argument("--presidio-mb", type=float, default=2.0, help="sample size for the presidio comparison")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per tool and sample (the median is reported)")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()

    ensure_corpus(args.corpus, args.size_mb)
    ids, texts, truth = load(args.corpus)
    figures: dict[str, object] = {"corpus": str(args.corpus), "corpus_mb": round(mb(texts), 1), "cpus": os.cpu_count()}

    spans = scan_pii_batch(texts)
    acc = evaluate(ids, texts, truth, spans)
    figures["accuracy"] = {k: v for k, v in acc.items() if k not in ("missed_examples", "fp_examples")}
    print(f"PII items {acc['items']}: recall {acc['recall']:.4f} (exact spans {acc['exact_span_recall']:.4f}), "
          f"precision {acc['precision']:.4f} ({acc['true_positives']} TP, {acc['false_positives']} FP incl. "
          f"{acc['decoys']} decoys offered)")
    print("  recall by type:", acc["recall_by_type"])
    print("  detections in unlabelled base text:", acc["detections_outside_injected"])
    for m in acc["missed_examples"][:5]:
        print("  missed:", m)
    for m in acc["fp_examples"][:5]:
        print("  false positive:", m)

    t_full = median_time(args.repeats, redact_pii, texts)
    print(f"tunesmith scan+redact, whole corpus, all cores: {mb(texts) / t_full:.1f} MB/s")
    figures["tunesmith_full_mbs"] = mb(texts) / t_full

    rows = []
    sample = take_mb(texts, args.peer_mb, args.seed)
    t_ours, t_ours_1 = ours_all_and_one_thread(sample, args.repeats)
    t_dt = median_time(args.repeats, run_datatrove, sample, datatrove_formatter())
    rows.append(("datatrove PIIFormatter (email, IPv4)", mb(sample), t_ours, t_ours_1, t_dt))

    try:
        recognizers = presidio_recognizers()
    except ImportError as e:
        print(f"presidio not installed ({e}); skipping it")
    else:
        small = take_mb(texts, args.presidio_mb, args.seed)
        t_p = median_time(args.repeats, run_presidio, small, recognizers)
        t_ours_s, t_ours_s1 = ours_all_and_one_thread(small, args.repeats)
        rows.append(("presidio pattern recognizers", mb(small), t_ours_s, t_ours_s1, t_p))

    print(f"{'peer':<38} {'MB':>6} {'tunesmith MB/s':>15} {'1 thread':>9} {'peer MB/s':>10} {'ratio':>8} {'ratio 1t':>9}")
    figures["peers"] = []
    for name, size, t_o, t_o1, t_p in rows:
        print(f"{name:<38} {size:>6.1f} {size / t_o:>15.1f} {size / t_o1:>9.1f} {size / t_p:>10.2f} {t_p / t_o:>7.0f}x {t_p / t_o1:>8.0f}x")
        figures["peers"].append({"peer": name, "mb": size, "tunesmith_mbs": size / t_o, "tunesmith_1t_mbs": size / t_o1,
                                 "peer_mbs": size / t_p, "ratio": t_p / t_o, "ratio_1_thread": t_p / t_o1})
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
