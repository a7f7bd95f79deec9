"""Does it fit? The largest micro-batch, the smallest device or device count, and ranked advice.

Example:
    >>> fits("llama-3-8b", "A100-80GB", method="lora", batch_size=1, seq_len=1024)
    True
    >>> max_batch_size("gpt2", "T4", method="full", seq_len=1024) >= 1
    True
"""

from __future__ import annotations

import dataclasses
from typing import Any

from tunesmith.estimate.flops import training_time
from tunesmith.estimate.hardware import Device, devices, get_device
from tunesmith.estimate.memory import MemoryBreakdown, estimate

__all__ = ["Advice", "advise", "fits", "max_batch_size", "min_devices", "smallest_device"]


def fits(model: Any, device: Any, *, headroom: float = 0.0, **job: Any) -> bool:
    """Whether one training step of ``job`` fits in ``device``'s memory (overhead included)."""
    dev = get_device(device)
    return estimate(model, device=dev, **job).total_bytes <= dev.memory_bytes * (1.0 - headroom)


def max_batch_size(model: Any, device: Any, *, limit: int = 1 << 16, **job: Any) -> int:
    """The largest micro-batch that fits (0 when even one row does not); memory grows with batch size."""
    dev = get_device(device)
    job.pop("batch_size", None)

    def ok(b: int) -> bool:
        return estimate(model, device=dev, batch_size=b, **job).total_bytes <= dev.memory_bytes

    if not ok(1):
        return 0
    lo, hi = 1, 2
    while hi <= limit and ok(hi):
        lo, hi = hi, hi * 2
    hi = min(hi, limit + 1)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if ok(mid) else (lo, mid)
    return lo


def smallest_device(model: Any, *, candidates: list[Any] | None = None, **job: Any) -> Device | None:
    """The catalog accelerator with the least memory that fits ``job`` (cheapest among equals), or None."""
    pool = [get_device(d) for d in candidates] if candidates else [d for d in devices() if d.vendor != "host"]
    fitting = [d for d in pool if fits(model, d, **job)]
    return min(fitting, key=lambda d: (d.memory_bytes, d.price_per_hour), default=None)


def min_devices(model: Any, device: Any, *, sharding: str = "zero3", max_devices: int = 4096, **job: Any) -> int | None:
    """The fewest ``device``s that fit ``job`` with ``sharding`` (None if even ``max_devices`` do not)."""
    dev = get_device(device)
    job.pop("num_devices", None)
    n = 1
    while n <= max_devices:
        if fits(model, dev, num_devices=n, sharding=sharding if n > 1 else "none", **job):
            return n
        n *= 2
    return None


@dataclasses.dataclass(frozen=True)
class Advice:
    """One way to make the job fit, with its estimate and its cost for the same data."""

    action: str
    changes: dict[str, Any]
    estimate: MemoryBreakdown
    device: str
    num_devices: int
    hours: float
    cost_usd: float

    def __str__(self) -> str:
        return (f"{self.action}: {self.estimate.total_bytes / 2**30:,.1f} GiB per device on {self.num_devices}× "
                f"{self.device}, ~{self.hours:,.1f} h, ~${self.cost_usd:,.2f}")


def advise(model: Any, device: Any, *, dataset_tokens: int = 100_000_000, mfu: float = 0.4, **job: Any) -> list[Advice]:
    """Changes that make ``job`` fit on ``device`` (or on more/larger devices), cheapest first.

    The cost is for ``dataset_tokens`` at ``mfu`` on the device's on-demand price; an empty list means
    no single change fits.
    """
    dev = get_device(device)
    method = job.get("method", "full")
    options: list[tuple[str, dict[str, Any], Any, int]] = []
    if not job.get("gradient_checkpointing"):
        options.append(("enable gradient checkpointing", {"gradient_checkpointing": True}, dev, 1))
    b = job.get("batch_size", 1)
    accum = job.get("grad_accum", 1)
    while b > 1:
        b //= 2
        accum *= 2
        options.append((f"micro-batch {b} × grad_accum {accum}", {"batch_size": b, "grad_accum": accum}, dev, 1))
    if job.get("optimizer", "adamw") in ("adamw", "paged_adamw") and method in ("full", "dpo", "rlhf", "distillation"):
        options.append(("8-bit AdamW", {"optimizer": "adamw8bit"}, dev, 1))
    if method in ("full",):
        options.append(("LoRA r=16 instead of full fine-tuning", {"method": "lora", "rank": 16}, dev, 1))
    if method in ("full", "lora", "dora"):
        options.append(("QLoRA 4-bit NF4", {"method": "qlora", "rank": job.get("rank", 16),
                                            "precision": "bf16"}, dev, 1))
        options.append(("QLoRA 4-bit NF4 + checkpointing", {"method": "qlora", "rank": job.get("rank", 16),
                                                              "precision": "bf16", "gradient_checkpointing": True},
                        dev, 1))
    n = min_devices(model, dev, **{k: v for k, v in job.items() if k != "sharding"})
    if n and n > 1:
        options.append((f"shard over {n}× {dev.name} (ZeRO-3/FSDP)", {"num_devices": n, "sharding": "zero3"}, dev, n))
    bigger = smallest_device(model, **job)
    if bigger is not None and bigger.name != dev.name:
        options.append((f"use a {bigger.name}", {}, bigger, 1))
    out: list[Advice] = []
    for action, changes, target, count in options:
        trial = {**job, **changes}
        trial.setdefault("num_devices", count)
        e = estimate(model, device=target, **trial)
        if e.total_bytes > target.memory_bytes:
            continue
        t = training_time(model, device=target, mfu=mfu, dataset_tokens=dataset_tokens,
                          **{k: v for k, v in trial.items() if k not in ("sharding", "optimizer", "precision",
                                                                         "attn_implementation")})
        out.append(Advice(action, changes, e, target.name, trial["num_devices"], t.hours, t.cost_usd))
    return sorted(out, key=lambda a: (a.cost_usd, a.estimate.total_bytes))
