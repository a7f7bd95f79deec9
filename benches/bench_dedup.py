"""Exact and near-duplicate removal, end to end (read JSONL, dedup, write JSONL), against peers in one run.

    python benches/bench_dedup.py --size-mb 50          # corpus from ../shared/bench/make_corpus.py
    python benches/bench_dedup.py --size-mb 50 --skip datatrove --repeats 7

Every tool is timed over ``--repeats`` calls, back to back after one untimed warm-up call (except datatrove,
whose calls take seconds), and compared at its median; each call writes a fresh output file.

Exact: tunesmith vs datatrove's 3-stage exact dedup (1 task) and a plain-Python orjson + xxh3-128 set.
Near: tunesmith (its defaults: 256 permutations, estimated-Jaccard cut 0.77) vs rensa (RMinHash + RMinHashLSH,
verified at 0.8) and datasketch (MinHash + MinHashLSH, threshold 0.8), peers with 128 permutations; all over
5-word shingles, keep first. Recall of the injected near-duplicate pairs whose true Jaccard is ≥ 0.8, and
precision of the predicted (duplicate, kept) links (share at true Jaccard ≥ 0.8, and ≥ 0.7 as "loose"), are
printed beside the speed. Near-dup times are medians over ``--repeat`` rounds in which the tools take turns; the
CPU time of each (all threads) is printed too, a figure that depends less on how busy the machine is.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import resource
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable

from _common import corpus, load_docs, score, timed_median, truth_pairs

import tunesmith
from tunesmith.clean import Pipeline

OFF = {"enabled": False}


def ts_config(exact: bool, near: bool) -> dict:
    return {
        "length": OFF,
        "seed_checks": OFF,
        "gopher_quality": OFF,
        "gopher_repetition": OFF,
        "pii": OFF,
        "exact_dedup": {"enabled": exact},
        "near_dedup": {"enabled": near},
    }


def tunesmith_run(src: pathlib.Path, out: pathlib.Path, exact: bool, near: bool, removed: pathlib.Path | None = None):
    return Pipeline(ts_config(exact, near)).clean_file(src, out, removed=removed)


def python_exact(src: pathlib.Path, out: pathlib.Path) -> int:
    import orjson
    import xxhash

    seen: set[bytes] = set()
    kept = 0
    with open(src, "rb") as f, open(out, "wb") as w:
        for line in f:
            h = xxhash.xxh3_128_digest(orjson.loads(line)["text"].encode())
            if h not in seen:
                seen.add(h)
                w.write(line)
                kept += 1
    return kept


def datatrove_exact(src: pathlib.Path, work: pathlib.Path) -> None:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.exact_dedup import (
        ExactDedupConfig,
        ExactDedupFilter,
        ExactDedupSignature,
        ExactFindDedups,
    )
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    cfg = ExactDedupConfig(content_getter=lambda doc: doc.text.encode())
    reader = lambda: JsonlReader(str(src.parent), glob_pattern=src.name, id_key="id")  # noqa: E731
    for i, steps in enumerate(
        [
            [reader(), ExactDedupSignature(output_folder=str(work / "sigs"), config=cfg)],
            [ExactFindDedups(data_folder=str(work / "sigs"), output_folder=str(work / "dups"), config=cfg)],
            [reader(), ExactDedupFilter(data_folder=str(work / "dups"), config=cfg), JsonlWriter(str(work / "out"))],
        ]
    ):
        LocalPipelineExecutor(pipeline=steps, tasks=1, workers=1, logging_dir=str(work / f"logs{i}")).run()


def shingle_list(text: str) -> list[str]:
    words = text.split()
    if len(words) < 5:
        return [" ".join(words)] if words else [""]
    return [" ".join(words[i : i + 5]) for i in range(len(words) - 4)]


def rensa_near(src: pathlib.Path, out: pathlib.Path) -> list[tuple[str, str]]:
    import orjson
    from rensa import RMinHash, RMinHashLSH

    lsh = RMinHashLSH(threshold=0.8, num_perm=128, num_bands=16)
    links, sigs, ids = [], [], []
    with open(src, "rb") as f, open(out, "wb") as w:
        for line in f:
            rec = orjson.loads(line)
            m = RMinHash(num_perm=128, seed=42)
            m.update(shingle_list(rec["text"]))
            dup = next((k for k in sorted(lsh.query(m)) if sigs[k].jaccard(m) >= 0.8), None)
            if dup is None:
                lsh.insert(len(sigs), m)
                sigs.append(m)
                ids.append(rec["id"])
                w.write(line)
            else:
                links.append((rec["id"], ids[dup]))
    return links


def datasketch_near(src: pathlib.Path, out: pathlib.Path) -> list[tuple[str, str]]:
    import orjson
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=0.8, num_perm=128)
    links = []
    with open(src, "rb") as f, open(out, "wb") as w:
        for line in f:
            rec = orjson.loads(line)
            m = MinHash(num_perm=128, seed=1)
            m.update_batch([s.encode() for s in shingle_list(rec["text"])])
            hits = lsh.query(m)
            if hits:
                links.append((rec["id"], hits[0]))
            else:
                lsh.insert(rec["id"], m)
                w.write(line)
    return links


def interleaved_medians(
    runs: dict[str, Callable[[], object]], repeat: int
) -> tuple[dict[str, float], dict[str, float], dict[str, object]]:
    """Median wall time and median CPU time (all threads of this process) of each run over ``repeat`` rounds, the
    runs taking turns within a round so that a change in machine load falls on every tool alike; and each run's
    last result."""
    wall: dict[str, list[float]] = {name: [] for name in runs}
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    results: dict[str, object] = {}
    for _ in range(repeat):
        for name, fn in runs.items():
            start, start_cpu = time.perf_counter(), process_cpu_seconds()
            results[name] = fn()
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(process_cpu_seconds() - start_cpu)
    median = statistics.median
    return {n: median(t) for n, t in wall.items()}, {n: median(t) for n, t in cpu.items()}, results


def process_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def tunesmith_links(removed: pathlib.Path, ids_by_line: list[str]) -> list[tuple[str, str]]:
    links = []
    with open(removed, encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            if "duplicate_of" in rec:
                links.append((rec["record"]["id"], ids_by_line[rec["duplicate_of"]["line"] - 1]))
    return links


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mb", type=int, default=50)
    ap.add_argument("--skip", action="append", default=[], help="peer to skip: datatrove, python, rensa, datasketch")
    ap.add_argument("--repeats", "--repeat", dest="repeats", type=int, default=3,
                    help="timed rounds per tool (the median is reported)")
    args = ap.parse_args()
    src = corpus(args.size_mb)
    size = src.stat().st_size
    work = pathlib.Path(tempfile.mkdtemp(prefix="bench-dedup-"))
    print(f"corpus {src} ({size / 1e6:.1f} MB), tunesmith threads: {tunesmith.get_num_threads()}")
    Pipeline()  # import pydantic and the config models outside the timings
    try:
        print("exact dedup, end to end")
        exact: dict = {"tunesmith": lambda r: tunesmith_run(src, work / f"ts{r}.jsonl", True, False)}
        if "python" not in args.skip:
            exact["python orjson + xxh3 set"] = lambda r: python_exact(src, work / f"py{r}.jsonl")
        if "datatrove" not in args.skip:
            exact["datatrove exact dedup (3 stages)"] = lambda r: datatrove_exact(src, work / f"dt{r}")
        def drop_outputs(r: int) -> None:
            for path in [work / f"ts{r}.jsonl", work / f"py{r}.jsonl"]:
                path.unlink(missing_ok=True)
            shutil.rmtree(work / f"dt{r}", ignore_errors=True)

        cheap = [name for name in exact if not name.startswith("datatrove")]
        got = timed_median(exact, size, args.repeats, warmup=cheap, cleanup=drop_outputs)
        t_ts, rep = got["tunesmith"]
        print(f"    tunesmith kept {rep.kept:,} of {rep.read:,}")
        if "python orjson + xxh3 set" in got:
            t_py, kept = got["python orjson + xxh3 set"]
            print(f"    python kept {kept:,}; tunesmith is {t_py / t_ts:.1f}x faster")
        if "datatrove exact dedup (3 stages)" in got:
            print(f"    tunesmith is {got['datatrove exact dedup (3 stages)'][0] / t_ts:.1f}x faster than datatrove")

        print("near-duplicate dedup (MinHash, 5-word shingles, pairs at J >= 0.8), end to end")
        print(f"  (median of {args.repeats} rounds, tools taking turns)")
        ids, texts = load_docs(src)
        truth = truth_pairs(src, "near_dup")
        runs = {
            "tunesmith": lambda: tunesmith_run(
                src, work / "tsn.jsonl", False, True, removed=work / "tsn.removed.jsonl"
            ),
            "rensa": lambda: rensa_near(src, work / "rensa.jsonl"),
            "datasketch": lambda: datasketch_near(src, work / "datasketch.jsonl"),
        }
        runs = {name: fn for name, fn in runs.items() if name not in args.skip}
        times, cpu, results = interleaved_medians(runs, args.repeats)
        for name, t in times.items():
            print(f"  {name:<34} {t:8.2f} s  {size / t / 1e6:9.1f} MB/s  (CPU {cpu[name]:.2f} s)")
            links = tunesmith_links(work / "tsn.removed.jsonl", ids) if name == "tunesmith" else results[name]
            faster = "" if name == "tunesmith" else f"; tunesmith is {t / times['tunesmith']:.1f}x faster"
            faster += "" if name == "tunesmith" else f" (CPU time {cpu[name] / cpu['tunesmith']:.1f}x less)"
            print(f"    {score(links, truth, texts)}{faster}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
