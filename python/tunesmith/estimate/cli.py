"""``tunesmith estimate MODEL ...`` and ``tunesmith sweep MODEL ... -o out.parquet``.

``estimate`` prints the per-component breakdown, the fit verdict on ``--device`` (with the largest
micro-batch and, if it does not fit, ranked advice) and the time for ``--tokens`` at ``--mfu``.
``sweep`` writes the batch × sequence grid (or any ``--grid knob=v1,v2``) to Parquet/CSV and can
draw memory against batch × sequence with the device limit (``--plot memory.png``).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from tunesmith.errors import TunesmithError

COMMAND_HELP = {
    "estimate": "estimate training memory and time for a model (breakdown + fit verdict)",
    "sweep": "sweep the estimator over batch × sequence (or any grid) and write a table",
}


def _job_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="catalog name (e.g. llama-3-8b), config.json path or model folder")
    parser.add_argument("--method", default="full", help="full, lora, dora, qlora, ia3, prefix, prompt, adapter, "
                        "dpo, rlhf, distillation")
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--target-modules", default=None, help="comma-separated, or all-linear")
    parser.add_argument("--bits", type=int, default=4)
    parser.add_argument("--quant-type", default="nf4")
    parser.add_argument("--precision", default="bf16", help="fp32, bf16, fp16, bf16-mixed, fp16-mixed")
    parser.add_argument("--optimizer", default="adamw", help="adamw, adamw8bit, paged_adamw, sgd, adafactor")
    parser.add_argument("--attn", default="sdpa", help="sdpa, flash or eager")
    parser.add_argument("--gradient-checkpointing", "--ckpt", action="store_true")
    parser.add_argument("--num-devices", type=int, default=1)
    parser.add_argument("--sharding", default="none", help="none, ddp, zero2, zero3, fsdp")
    parser.add_argument("--device", default=None, help="catalog device, e.g. H100, A100-80GB, RTX-4090, TPU-v5e")


def _job(args: argparse.Namespace) -> dict[str, Any]:
    targets = None
    if args.target_modules:
        targets = "all-linear" if args.target_modules == "all-linear" else args.target_modules.split(",")
    return dict(method=args.method, rank=args.rank, target_modules=targets, bits=args.bits,
                quant_type=args.quant_type, precision=args.precision, optimizer=args.optimizer,
                attn_implementation=args.attn, gradient_checkpointing=args.gradient_checkpointing,
                num_devices=args.num_devices, sharding=args.sharding)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    if parser.prog.endswith("sweep"):
        _add_sweep_arguments(parser)
        return
    _job_arguments(parser)
    parser.add_argument("--batch", type=int, default=1, help="micro-batch size")
    parser.add_argument("--seq", type=int, default=2048, help="sequence length")
    parser.add_argument("--grad-accum", type=int, default=1)
    parser.add_argument("--tokens", type=float, default=1e8, help="dataset tokens (for time and cost)")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--mfu", type=float, default=0.4, help="model-FLOPs utilization for the time estimate")
    parser.add_argument("--json", action="store_true", help="print the breakdown as JSON")


def _add_sweep_arguments(parser: argparse.ArgumentParser) -> None:
    _job_arguments(parser)
    parser.add_argument("--batch", default="1,2,4,8,16,32", help="comma-separated batch sizes")
    parser.add_argument("--seq", default="256,512,1024,2048,4096,8192", help="comma-separated sequence lengths")
    parser.add_argument("--grid", action="append", default=[], metavar="KNOB=V1,V2",
                        help="more grid axes, e.g. rank=8,16,64 or precision=bf16,fp32 (repeatable)")
    parser.add_argument("-o", "--output", required=True, help="output table (.parquet or .csv)")
    parser.add_argument("--plot", default=None, help="also draw memory vs batch × sequence to this PNG")


def _parse_values(text: str) -> list[Any]:
    out: list[Any] = []
    for v in text.split(","):
        v = v.strip()
        out.append(int(v) if v.lstrip("-").isdigit() else v)
    return out


def run(args: argparse.Namespace) -> int:
    try:
        if hasattr(args, "plot"):
            return _run_sweep(args)
        return _run_estimate(args)
    except TunesmithError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def _run_estimate(args: argparse.Namespace) -> int:
    from tunesmith.estimate.fit import advise, max_batch_size
    from tunesmith.estimate.flops import training_time
    from tunesmith.estimate.memory import estimate

    job = _job(args)
    e = estimate(args.model, batch_size=args.batch, seq_len=args.seq, grad_accum=args.grad_accum,
                 device=args.device, **job)
    if args.json:
        import json

        print(json.dumps(e.as_dict(), indent=1))
        return 0
    print(e)
    if args.device:
        from tunesmith.estimate.hardware import get_device

        dev = get_device(args.device)
        verdict = "FITS" if e.total_bytes <= dev.memory_bytes else "DOES NOT FIT"
        print(f"\n{verdict} on {dev}: {e.total_bytes / 2**30:,.2f} of {dev.memory_gib:,.0f} GiB")
        rest = {k: v for k, v in job.items()}
        print(f"largest micro-batch at seq {args.seq}: "
              f"{max_batch_size(args.model, dev, seq_len=args.seq, grad_accum=args.grad_accum, **rest)}")
        if verdict != "FITS":
            tips = advise(args.model, dev, dataset_tokens=int(args.tokens), mfu=args.mfu, batch_size=args.batch,
                          seq_len=args.seq, grad_accum=args.grad_accum, **job)
            print("advice (cheapest first):" if tips else "no single change makes it fit")
            for t in tips[:6]:
                print(f"  - {t}")
        t = training_time(args.model, device=dev, num_devices=args.num_devices, mfu=args.mfu,
                          batch_size=args.batch, seq_len=args.seq, grad_accum=args.grad_accum,
                          dataset_tokens=int(args.tokens), epochs=args.epochs, method=args.method,
                          rank=args.rank, gradient_checkpointing=args.gradient_checkpointing)
        print(f"time: {t}")
    return 0


def _run_sweep(args: argparse.Namespace) -> int:
    from tunesmith.estimate.sweeps import sweep

    job = _job(args)
    grid: dict[str, Any] = {"batch_size": _parse_values(args.batch), "seq_len": _parse_values(args.seq)}
    for item in args.grid:
        key, _, values = item.partition("=")
        grid[key.strip().replace("-", "_")] = _parse_values(values)
    static = {k: job.pop(k) for k in ("target_modules", "bits", "quant_type")}
    method = grid.pop("method", None) or job.pop("method")
    job.pop("method", None)
    for k in list(job):
        if k in grid:
            job.pop(k)
    table = sweep(args.model, method=method, grid=grid, device=args.device, output="pyarrow", **static, **job)
    if args.output.endswith(".csv"):
        import pyarrow.csv as pacsv

        pacsv.write_csv(table, args.output)
    else:
        import pyarrow.parquet as pq

        pq.write_table(table, args.output)
    print(f"wrote {table.num_rows:,} rows × {table.num_columns} columns to {args.output}")
    if args.plot:
        _plot(table, args)
        print(f"wrote {args.plot}")
    return 0


def _plot(table: Any, args: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    cols = table.to_pydict()
    batch = np.asarray(cols["batch_size"])
    seq = np.asarray(cols["seq_len"])
    total = np.asarray(cols["total_bytes"]) / 2**30
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for s in sorted(set(seq.tolist())):
        sel = seq == s
        order = np.argsort(batch[sel])
        ax.plot(batch[sel][order], total[sel][order], marker="o", label=f"seq {s}")
    if args.device:
        from tunesmith.estimate.hardware import get_device

        dev = get_device(args.device)
        ax.axhline(dev.memory_gib, color="red", linestyle="--", label=f"{dev.name} {dev.memory_gib:.0f} GiB")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("micro-batch size")
    ax.set_ylabel("peak memory per device (GiB)")
    ax.set_title(f"{args.model}: {args.method}, {args.precision}"
                 + (", checkpointing" if args.gradient_checkpointing else ""))
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(args.plot, dpi=120)
