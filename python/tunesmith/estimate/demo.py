"""The demo's "size the job" step: estimate, fit, advice and a sweep, written under ``out/estimate``."""

from __future__ import annotations

import pathlib
import time


def demo_step(out: pathlib.Path) -> None:
    from tunesmith.estimate import advise, estimate, max_batch_size, sweep, training_time

    folder = out / "estimate"
    folder.mkdir(parents=True, exist_ok=True)
    job = dict(method="lora", rank=16, batch_size=4, seq_len=2048, gradient_checkpointing=True)
    e = estimate("llama-3-8b", device="A10G", **job)
    print(e)
    print(f"fits on A10G (24 GiB): {e.fits('A10G')}; largest micro-batch on L4: "
          f"{max_batch_size('llama-3-8b', 'L4', **{k: v for k, v in job.items() if k != 'batch_size'})}")
    for tip in advise("llama-3-8b", "A10G", **job)[:3]:
        print(f"  advice: {tip}")
    print(training_time("llama-3-8b", device="A10G", dataset_tokens=50_000_000, epochs=2, **job))
    started = time.perf_counter()
    cols = sweep("llama-3-8b", method="lora", device="A10G", grid={
        "batch_size": list(range(1, 65)), "seq_len": [256, 512, 1024, 2048, 4096, 8192],
        "rank": [8, 16, 64], "gradient_checkpointing": [0, 1], "precision": ["bf16", "fp32"],
    })
    took = time.perf_counter() - started
    n = len(cols["peak_bytes"])
    print(f"sweep: {n:,} configurations in {took * 1e3:.1f} ms; {int(cols['fits'].sum()):,} fit an A10G")
    (folder / "breakdown.txt").write_text(str(e) + "\n")
