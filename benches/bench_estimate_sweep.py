"""Accurate-estimator sweep: the Rust columns vs a Python loop over the scalar ``estimate()``.

Run: `.venv/bin/python benches/bench_estimate_sweep.py [--rows 10000000]` (after a release build:
`maturin develop --release --uv -q`). Both sides run in this one process on the same rows; the Python
loop is timed on a slice and its per-row cost extrapolated. Every sampled row is also checked:
the Rust row must equal the scalar estimate exactly. Machines here are shared: trust the ratio.
"""

from __future__ import annotations

import argparse

import numpy as np

from tunesmith import _core
from tunesmith.estimate import estimate, sweep
from tunesmith.estimate.memory import PRECISIONS
from _common import median_seconds  # benches/ is on sys.path when run as a script


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--loop-rows", type=int, default=2_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--model", default="llama-3-8b")
    parser.add_argument("--method", default="lora")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    n = args.rows
    cols = {
        "batch_size": rng.integers(1, 65, n, dtype=np.uint32),
        "seq_len": rng.integers(128, 16385, n, dtype=np.uint32),
        "rank": rng.integers(1, 257, n, dtype=np.uint32),
        "gradient_checkpointing": rng.integers(0, 2, n, dtype=np.uint8),
        "precision": rng.integers(0, 5, n, dtype=np.uint8),
    }
    sweep(args.model, method=args.method, **{k: v[:1000] for k, v in cols.items()})  # warm pool and caches
    rust = median_seconds(lambda: sweep(args.model, method=args.method, **cols), args.repeats)
    rust_peak = median_seconds(lambda: sweep(args.model, method=args.method, outputs="peak", **cols), args.repeats)

    m = args.loop_rows
    rows = [{k: int(v[i]) for k, v in cols.items()} for i in range(m)]

    def python_loop() -> list[int]:
        return [
            estimate(args.model, method=args.method, batch_size=r["batch_size"], seq_len=r["seq_len"],
                     rank=r["rank"], gradient_checkpointing=bool(r["gradient_checkpointing"]),
                     precision=PRECISIONS[r["precision"]]).peak_bytes
            for r in rows
        ]

    loop_per_row = median_seconds(python_loop, 3) / m
    out = sweep(args.model, method=args.method, **{k: v[:m] for k, v in cols.items()})
    scalar = python_loop()
    mismatches = sum(int(round(out["peak_bytes"][i])) != scalar[i] for i in range(m))

    print(f"build: {_core.build_profile}; model {args.model}, method {args.method}; {n:,} rows")
    print(f"rust sweep, all 14 columns out : {rust:.3f} s = {n / rust / 1e6:,.1f} M estimates/s")
    print(f"rust sweep, peak + phase out   : {rust_peak:.3f} s = {n / rust_peak / 1e6:,.1f} M estimates/s")
    print(f"python loop      : {loop_per_row * 1e6:,.1f} us/row = {1 / loop_per_row:,.0f} estimates/s "
          f"(timed on {m:,} rows)")
    print(f"ratio            : {loop_per_row * n / rust:,.0f}x (all columns), "
          f"{loop_per_row * n / rust_peak:,.0f}x (peak + phase)")
    print(f"rows checked     : {m:,}, rust peak != scalar estimate: {mismatches}")


if __name__ == "__main__":
    main()
