"""The whole default clean pipeline (every step on), end to end, against datatrove's equivalent.

    python benches/bench_pipeline.py --size-mb 50 --peer-mb 5

tunesmith runs the default ``CleanConfig`` (normalise, length, Gopher quality + repetition, exact + MinHash
dedup, PII redaction) over the whole corpus on all cores. datatrove runs JsonlReader → GopherRepetitionFilter
→ GopherQualityFilter → PIIFormatter → JsonlWriter plus its 3-stage exact dedup, on the first ``--peer-mb`` MB
(it runs well under 1 MB/s here; its MinHash dedup is left out, which flatters it). Both rates are MB of input
JSONL per second of wall time, measured in this one process run.
"""

from __future__ import annotations

import argparse
import itertools
import pathlib
import resource
import shutil
import tempfile

from _common import corpus, timed, timed_median

import tunesmith
from tunesmith.clean import Pipeline


def head(src: pathlib.Path, dst: pathlib.Path, mb: float) -> int:
    size = 0
    with open(src, "rb") as f, open(dst, "wb") as w:
        for line in itertools.takewhile(lambda _: size < mb * 1e6, f):
            w.write(line)
            size += len(line)
    return size


def datatrove_pipeline(src: pathlib.Path, work: pathlib.Path) -> None:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.exact_dedup import (
        ExactDedupConfig,
        ExactDedupFilter,
        ExactDedupSignature,
        ExactFindDedups,
    )
    from datatrove.pipeline.filters import GopherQualityFilter, GopherRepetitionFilter
    from datatrove.pipeline.formatters import PIIFormatter
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    cfg = ExactDedupConfig(content_getter=lambda doc: doc.text.encode())
    stages = [
        [
            JsonlReader(str(src.parent), glob_pattern=src.name),
            GopherRepetitionFilter(),
            GopherQualityFilter(),
            PIIFormatter(),
            JsonlWriter(str(work / "filtered"), output_filename="f.jsonl", compression=None),
        ],
        [
            JsonlReader(str(work / "filtered"), glob_pattern="f.jsonl"),
            ExactDedupSignature(output_folder=str(work / "sigs"), config=cfg),
        ],
        [ExactFindDedups(data_folder=str(work / "sigs"), output_folder=str(work / "dups"), config=cfg)],
        [
            JsonlReader(str(work / "filtered"), glob_pattern="f.jsonl"),
            ExactDedupFilter(data_folder=str(work / "dups"), config=cfg),
            JsonlWriter(str(work / "out")),
        ],
    ]
    for i, steps in enumerate(stages):
        LocalPipelineExecutor(pipeline=steps, tasks=1, workers=1, logging_dir=str(work / f"logs{i}")).run()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mb", type=int, default=50)
    ap.add_argument("--peer-mb", type=float, default=5.0, help="MB of the corpus datatrove runs on")
    ap.add_argument("--skip-peer", action="store_true")
    ap.add_argument("--repeats", type=int, default=5, help="timed runs of tunesmith on the whole corpus (median)")
    args = ap.parse_args()
    src = corpus(args.size_mb)
    size = src.stat().st_size
    work = pathlib.Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    print(f"corpus {src} ({size / 1e6:.1f} MB), tunesmith threads: {tunesmith.get_num_threads()}")
    Pipeline()  # import pydantic and the config models outside the timings
    try:
        got = timed_median(
            {"tunesmith default pipeline": lambda r: Pipeline().clean_file(src, work / f"o{r}.jsonl")},
            size,
            args.repeats,
            warmup=["tunesmith default pipeline"],
            cleanup=lambda r: (work / f"o{r}.jsonl").unlink(missing_ok=True),
        )
        t_ts, report = got["tunesmith default pipeline"]
        rate_ts = size / t_ts
        print(f"    kept {report.kept:,}, removed {report.removed:,} {report.removed_by_reason}")
        print(f"    PII {report.pii_by_kind}; dedup state {report.state_bytes / 1e6:.1f} MB; "
              f"peak RSS so far {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
        if not args.skip_peer:
            sample = work / "sample" / "s.jsonl"
            sample.parent.mkdir()
            n = head(src, sample, args.peer_mb)
            t_ts2, _ = timed(f"tunesmith on the {n / 1e6:.1f} MB sample", lambda: Pipeline().clean_file(sample, work / "o2.jsonl"), n)
            t_dt, _ = timed(f"datatrove on the {n / 1e6:.1f} MB sample", lambda: datatrove_pipeline(sample, work / "dt"), n)
            print(f"    tunesmith (whole corpus) is {rate_ts / (n / t_dt):.0f}x datatrove's rate; "
                  f"on the same sample {t_dt / t_ts2:.0f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
