"""Gopher repetition + quality filters: tunesmith vs datatrove, side by side in one process.

    python benches/bench_repetition.py [--corpus /tmp/clean-bench/corpus50.jsonl] [--peer-docs 1500]

Builds the corpus with ../shared/bench/make_corpus.py when it is missing. Prints,
for each filter, the keep/drop agreement with datatrove's GopherRepetitionFilter
and GopherQualityFilter on the peer sample, each side's MB/s on that sample, the
ratio, and tunesmith's MB/s on the whole corpus (all cores). Both tools are timed slice by
slice of the sample, back to back, so a shared machine's drifting load hits both alike.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

from tunesmith.clean.scanners import gopher_filters_batch, gopher_quality_batch, repetition_stats_batch

SHARED_MAKE = Path(__file__).resolve().parents[2] / "shared" / "bench" / "make_corpus.py"


def ensure_corpus(path: Path, size_mb: int) -> None:
    if path.exists():
        return
    if not SHARED_MAKE.exists():
        sys.exit(f"{path} is missing and {SHARED_MAKE} is not there to build it")
    subprocess.run(
        [sys.executable, str(SHARED_MAKE), "--size-mb", str(size_mb), "--name", path.stem, "--out-dir", str(path.parent)],
        check=True,
    )


def load_texts(path: Path) -> list[str]:
    with path.open() as f:
        return [json.loads(line)["text"] for line in f]


def mb(texts: list[str]) -> float:
    return sum(len(t.encode()) for t in texts) / 1e6


def timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def timed_median(fn, *args, repeats: int = 3):
    """``fn(*args)`` and the median wall time of ``repeats`` calls."""
    runs = [timed(fn, *args) for _ in range(repeats)]
    return runs[0][0], sorted(t for _, t in runs)[repeats // 2]


def datatrove_verdicts(flt, texts: list[str]) -> list[str | None]:
    from datatrove.data import Document

    out = []
    for i, t in enumerate(texts):
        r = flt.filter(Document(text=t, id=str(i)))
        out.append(None if r is True else (r[1] if isinstance(r, tuple) else "removed"))
    return out


def agreement(ours: list[str | None], theirs: list[str | None]) -> tuple[float, list[int]]:
    diff = [i for i, (a, b) in enumerate(zip(ours, theirs)) if (a is None) != (b is None)]
    return 1 - len(diff) / len(ours), diff


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=Path("/tmp/clean-bench/corpus50.jsonl"))
    ap.add_argument("--size-mb", type=int, default=50)
    ap.add_argument("--peer-docs", type=int, default=1500, help="documents in the sample both tools run on")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--show-diffs", type=int, default=0)
    ap.add_argument("--slices", type=int, default=5, help="slices of the sample each tool is timed on in turn")
    args = ap.parse_args()

    ensure_corpus(args.corpus, args.size_mb)
    texts = load_texts(args.corpus)
    sample = random.Random(args.seed).sample(texts, min(args.peer_docs, len(texts)))
    sample_mb = mb(sample)

    from datatrove.pipeline.filters import GopherQualityFilter, GopherRepetitionFilter

    rep_peer, quality_peer = GopherRepetitionFilter(), GopherQualityFilter()
    datatrove_verdicts(rep_peer, sample[:2])  # load spaCy outside the timing
    # Like for like: datatrove's filters return a keep/drop decision and stop at
    # the first failing check, so the timed rows are tunesmith's verdicts
    # (which stop early too); the full-statistics calls are timed apart.
    # tunesmith's lazily built tables (tokenizer exceptions, URL pattern) are
    # built outside the timing too; its runs are fast, so each is a median of 3.
    gopher_filters_batch(sample[:2])
    # The machine is shared, so its load drifts over the minute datatrove takes:
    # the sample is timed in slices, each slice by every tool back to back, and
    # each tool's times are summed over the slices. Both sides see the same load.
    runs = {
        "rep_theirs": lambda s: datatrove_verdicts(rep_peer, s),
        "q_theirs": lambda s: datatrove_verdicts(quality_peer, s),
        "rep_ours": lambda s: gopher_filters_batch(s, quality=False),
        "q_ours": lambda s: gopher_filters_batch(s, repetition=False),
        "both_ours": gopher_filters_batch,
        "rep_ours_stats": repetition_stats_batch,
        "q_ours_stats": gopher_quality_batch,
    }
    out = {name: [] for name in runs}
    secs = dict.fromkeys(runs, 0.0)
    step = -(-len(sample) // args.slices)
    for start in range(0, len(sample), step):
        part = sample[start : start + step]
        for name, fn in runs.items():
            got, t = timed(fn, part) if name.endswith("theirs") else timed_median(fn, part)
            out[name] += got
            secs[name] += t
    rep_theirs, q_theirs = out["rep_theirs"], out["q_theirs"]
    rep_ours, q_ours, both_ours = out["rep_ours"], out["q_ours"], out["both_ours"]
    rep_ours_stats, q_ours_stats = out["rep_ours_stats"], out["q_ours_stats"]
    t_rep_theirs, t_q_theirs = secs["rep_theirs"], secs["q_theirs"]
    t_rep_ours, t_q_ours, t_both_ours = secs["rep_ours"], secs["q_ours"], secs["both_ours"]
    t_rep_stats, t_q_stats = secs["rep_ours_stats"], secs["q_ours_stats"]
    assert [s.reason for s in rep_ours_stats] == rep_ours, "repetition stats and verdicts disagree"
    assert [s.reason for s in q_ours_stats] == q_ours, "quality stats and verdicts disagree"
    both_theirs = [r if r is not None else q for r, q in zip(rep_theirs, q_theirs)]

    _, t_full = timed(gopher_filters_batch, texts)

    rows = []
    for name, ours, theirs, t_o, t_t in [
        ("repetition", rep_ours, rep_theirs, t_rep_ours, t_rep_theirs),
        ("quality", q_ours, q_theirs, t_q_ours, t_q_theirs),
        ("repetition+quality", both_ours, both_theirs, t_both_ours, t_rep_theirs + t_q_theirs),
    ]:
        agree, diff = agreement(ours, theirs)
        rows.append((name, agree, len(diff), sample_mb / t_o, sample_mb / t_t, t_t / t_o))
        for i in diff[: args.show_diffs]:
            print(f"  {name} diff doc {i}: ours={ours[i]} datatrove={theirs[i]} {sample[i][:120]!r}")
    print(f"sample: {len(sample)} docs, {sample_mb:.1f} MB, timed in {args.slices} slices; "
          f"threads={os.cpu_count()} (tunesmith), 1 (datatrove)")
    print(f"{'filter':<20} {'agree':>8} {'diffs':>6} {'tunesmith MB/s':>15} {'datatrove MB/s':>15} {'ratio':>8}")
    for name, agree, ndiff, ours_mbs, theirs_mbs, ratio in rows:
        print(f"{name:<20} {agree:>8.4f} {ndiff:>6} {ours_mbs:>15.2f} {theirs_mbs:>15.3f} {ratio:>7.0f}x")
    print(f"full statistics (every metric, no early stop): repetition {sample_mb / t_rep_stats:.2f} MB/s "
          f"({t_rep_theirs / t_rep_stats:.0f}x), quality {sample_mb / t_q_stats:.2f} MB/s ({t_q_theirs / t_q_stats:.0f}x)")
    print(f"tunesmith repetition+quality on the whole corpus: {mb(texts):.1f} MB in {t_full:.2f} s = {mb(texts) / t_full:.1f} MB/s")


if __name__ == "__main__":
    main()
