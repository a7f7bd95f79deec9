"""``tunesmith seed``: the seed heuristics as a table, and the demo's sweep timing."""

from __future__ import annotations

import argparse
import pathlib
import time

import numpy as np

from tunesmith._core import FineTuneMethod, TrainingMethod, TrainingTarget
from tunesmith.estimate.seed import estimate_training_memory

METHODS = [
    TrainingMethod.FullFineTune,
    TrainingMethod.LoRA,
    TrainingMethod.QLoRA(4),
    TrainingMethod.QLoRA(8),
    TrainingMethod.Prefix,
    TrainingMethod.DPO,
    TrainingMethod.RLHF,
    TrainingMethod.Distillation,
]
TARGETS = [TrainingTarget.Gpu, TrainingTarget.Tpu, TrainingTarget.Gaudi, TrainingTarget.Cpu]
FINE_TUNE_METHODS = [
    FineTuneMethod.Full,
    FineTuneMethod.lora(8),
    FineTuneMethod.lora(64),
    FineTuneMethod.qlora(16),
    FineTuneMethod.Adapter,
    FineTuneMethod.Prefix,
    FineTuneMethod.IA3,
]


def seed_table(params_millions: int) -> str:
    """Total GiB of the seed heuristic for every method (rows) and target (columns)."""
    header = f"{'method':<14}" + "".join(f"{str(t):>10}" for t in TARGETS) + "  preferred"
    lines = [header, "-" * len(header)]
    for method in METHODS:
        cells = "".join(
            f"{estimate_training_memory(params_millions, method, target).total_gb:>10.1f}" for target in TARGETS
        )
        lines.append(f"{str(method):<14}{cells}  {method.preferred_accelerator()}")
    return "\n".join(lines)


def fine_tune_table() -> str:
    names = ["reduction", "trainable%", "mem x", "speedup", "quality", "batch x"]
    header = f"{'method':<18}" + "".join(f"{n:>11}" for n in names)
    lines = [header, "-" * len(header)]
    for m in FINE_TUNE_METHODS:
        values = [
            m.memory_reduction_factor(),
            m.trainable_params_percent(),
            m.memory_multiplier(),
            m.training_speedup(),
            m.quality_retention(),
            m.batch_size_multiplier(),
        ]
        lines.append(f"{str(m):<18}" + "".join(f"{v:>11.3f}" for v in values))
    return "\n".join(lines)


def time_sweep(rows: int = 10_000_000, repeats: int = 5) -> tuple[float, float]:
    """Median seconds and estimates/s for a sweep of ``rows`` parameter counts."""
    params = np.random.default_rng(0).integers(1, 200_000, size=rows, dtype=np.uint64)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        estimate_training_memory(params, TrainingMethod.LoRA, TrainingTarget.Gpu)
        times.append(time.perf_counter() - start)
    median = float(np.median(times))
    return median, rows / median


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("params_millions", type=int, nargs="+", help="model size in millions of parameters")


def run(args: argparse.Namespace) -> int:
    for p in args.params_millions:
        print(f"\nSeed estimate (ai-hwaccel heuristic), total GiB, {p} M parameters:")
        print(seed_table(p))
    print("\nFineTuneMethod heuristics (entrenar):")
    print(fine_tune_table())
    return 0


def demo_step(out: pathlib.Path) -> None:
    for p, name in [(7000, "7B"), (70000, "70B")]:
        print(f"\nSeed estimate (ai-hwaccel heuristic), total GiB, {name}:")
        print(seed_table(p))
    print("\nFineTuneMethod heuristics (entrenar):")
    print(fine_tune_table())
    print(f"\nexample: {estimate_training_memory(7000, TrainingMethod.LoRA, TrainingTarget.Gpu)}")
    median, rate = time_sweep()
    print(f"sweep: 10,000,000 estimates in {median * 1e3:.0f} ms (median of 5) = {rate / 1e6:.0f} M estimates/s")
