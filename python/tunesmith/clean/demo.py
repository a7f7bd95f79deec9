"""The ``clean a corpus`` step of ``tunesmith demo``: generate a small corpus, clean it, print the report."""

from __future__ import annotations

import pathlib


def demo_step(out: pathlib.Path) -> None:
    from tunesmith.clean.cli import _print_table
    from tunesmith.clean.corpus import make_corpus
    from tunesmith.clean.pipeline import Pipeline

    corpus = make_corpus(n_docs=2000, seed=7)
    raw = out / "corpus.jsonl"
    corpus.write(raw)
    truth = corpus.truth
    print(
        f"generated {raw} ({len(corpus.lines):,} lines): {len(truth['exact_dup'])} exact and "
        f"{len(truth['near_dup'])} near duplicates, {len(truth['pii'])} PII items, {len(truth['malformed'])} broken lines"
    )
    report = Pipeline().clean_file(
        raw,
        out / "corpus.clean.jsonl.zst",
        removed=out / "corpus.removed.jsonl",
        rejected=out / "corpus.rejected.jsonl",
        report=out / "report.json",
    )
    _print_table(report)
    assert report.balanced, "read != kept + removed + rejected"
    print(f"wrote {out / 'corpus.clean.jsonl.zst'}, side files and {out / 'report.json'}")
