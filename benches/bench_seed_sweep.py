"""Seed-heuristic sweep: tunesmith's Rust columns vs a Python loop over the scalar API.

Run: `make bench` or `.venv/bin/python benches/bench_seed_sweep.py [--rows 10000000]`.
Both sides run in this one process; the Python loop is timed on a slice and its
per-row cost extrapolated (a 10 M-row Python loop takes about a minute). Prints
medians and the ratio; machines here are shared, so trust the ratio, not the times.
"""

from __future__ import annotations

import argparse

import numpy as np

import tunesmith as ts
from tunesmith import FineTuneMethod, TrainingMethod, TrainingTarget
from _common import median_seconds  # benches/ is on sys.path when run as a script


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--loop-rows", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    params = rng.integers(1, 500_000, size=args.rows, dtype=np.uint64)
    methods = [TrainingMethod.LoRA, TrainingMethod.QLoRA(4), TrainingMethod.FullFineTune, TrainingMethod.DPO]
    method_col = [methods[i % 4] for i in range(1000)]
    target_col = [TrainingTarget.Gpu, TrainingTarget.Tpu, TrainingTarget.Gaudi, TrainingTarget.Cpu] * 250

    ts.estimate_training_memory(params[:1000], TrainingMethod.LoRA)  # warm the pool and numpy
    rust_one = median_seconds(lambda: ts.estimate_training_memory(params, TrainingMethod.LoRA), args.repeats)
    reused = ts.estimate_training_memory(params, TrainingMethod.LoRA)
    rust_out = median_seconds(
        lambda: ts.estimate_training_memory(params, TrainingMethod.LoRA, out=reused), args.repeats
    )
    mixed = params[: (args.rows // 1000) * 1000].reshape(-1, 1000)
    rust_mixed = median_seconds(lambda: ts.estimate_training_memory(mixed, method_col, target_col), args.repeats)

    loop_params = params[: args.loop_rows].tolist()

    def python_loop() -> None:
        f = ts.estimate_training_memory
        m, t = TrainingMethod.LoRA, TrainingTarget.Gpu
        for p in loop_params:
            f(p, m, t)

    loop = median_seconds(python_loop, 3) / args.loop_rows * args.rows

    ranks = rng.integers(0, 256, size=args.rows, dtype=np.uint32)
    ft = median_seconds(lambda: ts.fine_tune_heuristics("LoRA", rank=ranks), args.repeats)
    ft_loop_ranks = ranks[: args.loop_rows // 4].tolist()

    def python_ft_loop() -> None:
        for r in ft_loop_ranks:
            m = FineTuneMethod.lora(r)
            m.memory_reduction_factor(), m.trainable_params_percent(), m.memory_multiplier()
            m.training_speedup(), m.quality_retention(), m.batch_size_multiplier()

    ft_loop = median_seconds(python_ft_loop, 3) / len(ft_loop_ranks) * args.rows

    rows = args.rows
    print(f"threads: {ts.get_num_threads()}, rows: {rows:,}")
    print("| sweep | tunesmith columns | Python loop (scalar API) | ratio |")
    print("| --- | --- | --- | --- |")
    print(
        f"| estimate_training_memory, one method | {rust_one * 1e3:.0f} ms = {rows / rust_one / 1e6:.0f} M/s "
        f"| {loop:.1f} s = {rows / loop / 1e6:.2f} M/s | {loop / rust_one:.0f}x |"
    )
    print(
        f"| same, into reused columns (`out=`) | {rust_out * 1e3:.0f} ms = {rows / rust_out / 1e6:.0f} M/s "
        f"| {loop:.1f} s | {loop / rust_out:.0f}x |"
    )
    print(
        f"| estimate_training_memory, 4 methods x 4 targets | {rust_mixed * 1e3:.0f} ms = "
        f"{mixed.size / rust_mixed / 1e6:.0f} M/s | {loop:.1f} s | {loop / rust_mixed:.0f}x |"
    )
    print(
        f"| FineTuneMethod heuristics (6 each), LoRA ranks | {ft * 1e3:.0f} ms = {rows / ft / 1e6:.0f} M rows/s "
        f"| {ft_loop:.1f} s | {ft_loop / ft:.0f}x |"
    )


if __name__ == "__main__":
    main()
