"""Shared helpers of the side-by-side benchmarks: the corpus, timing, shingles, ground truth."""

from __future__ import annotations

import json
import os
import pathlib
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable

SHARED_MAKER = pathlib.Path(__file__).resolve().parents[2] / "shared" / "bench" / "make_corpus.py"


def corpus(size_mb: int, out_dir: str = "/tmp/clean-bench") -> pathlib.Path:
    """``corpusN.jsonl`` from the shared benchmark generator (made once, then reused)."""
    path = pathlib.Path(out_dir) / f"corpus{size_mb}.jsonl"
    if not path.exists():
        if not SHARED_MAKER.exists():
            sys.exit(f"{path} is missing and {SHARED_MAKER} is not available to make it")
        subprocess.run(
            [sys.executable, str(SHARED_MAKER), "--size-mb", str(size_mb), "--name", f"corpus{size_mb}", "--out-dir", out_dir],
            check=True,
        )
    return path


def timed(label: str, fn: Callable[[], object], size_bytes: int) -> tuple[float, object]:
    t = time.perf_counter()
    result = fn()
    dt = time.perf_counter() - t
    print(f"  {label:<34} {dt:8.2f} s  {size_bytes / dt / 1e6:9.1f} MB/s", flush=True)
    return dt, result


def timed_median(
    tools: dict[str, Callable[[int], object]],
    size_bytes: int,
    repeats: int,
    warmup: Iterable[str] = (),
    cleanup: Callable[[int], None] | None = None,
) -> dict[str, tuple[float, object]]:
    """Median wall time and first result of each tool over ``repeats`` calls.

    Each tool runs its calls back to back (``fn(i)``, so a call can write to a fresh path), after one untimed
    warm-up call (``fn(-1)``: page cache, thread pool, imports) for the tools named in ``warmup``, like
    hyperfine's ``--warmup``: back to back, a multi-threaded tool is timed with its cores awake, not right after
    another tool left all but one of them idle (on the shared VMs we run on, a core idle for a few hundred ms
    comes back slow for the next tens of ms, which is most of a 50 MB run). ``cleanup(i)`` runs untimed after
    each call (and after the warm-up, with -1). Prints the median, the rate at the median and the spread."""
    out = {}
    for name, fn in tools.items():
        if name in warmup:
            fn(-1)
            if cleanup is not None:
                cleanup(-1)
        times: list[float] = []
        first: object = None
        for i in range(max(1, repeats)):
            t = time.perf_counter()
            result = fn(i)
            times.append(time.perf_counter() - t)
            if i == 0:
                first = result
            if cleanup is not None:
                cleanup(i)
        med = statistics.median(times)
        spread = f"  ({min(times):.3f}–{max(times):.3f} s over {len(times)})" if len(times) > 1 else ""
        print(f"  {name:<34} {med:8.3f} s  {size_bytes / med / 1e6:9.1f} MB/s{spread}", flush=True)
        out[name] = (med, first)
    return out


def shingles(text: str, n: int = 5) -> set[str]:
    words = text.split()
    if len(words) < n:
        return {" ".join(words)} if words else set()
    return {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def load_docs(path: pathlib.Path) -> tuple[list[str], dict[str, str]]:
    """(ids in file order, id -> text)."""
    ids, texts = [], {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            ids.append(rec["id"])
            texts[rec["id"]] = rec["text"]
    return ids, texts


def truth_pairs(path: pathlib.Path, kind: str) -> list[tuple[str, str]]:
    out = []
    with open(pathlib.Path(str(path)[: -len(".jsonl")] + ".truth.jsonl"), encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            if rec["kind"] == kind:
                out.append((rec["id"], rec["of"]))
    return out


class Clusters:
    """Union-find over document ids, from (duplicate, kept) links."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        self.parent[self.find(a)] = self.find(b)


def score(
    links: list[tuple[str, str]], truth: list[tuple[str, str]], texts: dict[str, str], min_j: float = 0.8
) -> dict[str, float]:
    """Recall of truth pairs with true Jaccard ≥ ``min_j`` (same cluster), and the precision of the predicted
    links: the share whose true Jaccard is ≥ ``min_j`` and ≥ ``min_j - 0.1``."""
    sh = {}

    def s(i: str) -> set[str]:
        if i not in sh:
            sh[i] = shingles(texts[i])
        return sh[i]

    c = Clusters()
    for a, b in links:
        c.union(a, b)
    eligible = [(a, b) for a, b in truth if jaccard(s(a), s(b)) >= min_j]
    found = sum(1 for a, b in eligible if c.find(a) == c.find(b))
    js = [jaccard(s(a), s(b)) for a, b in links]
    return {
        "truth_pairs": len(eligible),
        "recall": found / len(eligible) if eligible else 1.0,
        "links": len(links),
        "precision": sum(j >= min_j for j in js) / len(js) if js else 1.0,
        "precision_loose": sum(j >= min_j - 0.1 for j in js) / len(js) if js else 1.0,
    }


def rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def env_threads() -> int:
    return int(os.environ.get("TUNESMITH_THREADS", "0"))


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``repeats`` calls of ``fn``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
