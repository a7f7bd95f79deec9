"""``tunesmith tune CONFIG [--force] [--resume]`` and ``tunesmith tune validate CONFIG``.

The same command runs under a launcher, one process per device::

    torchrun --nproc_per_node 2 -m tunesmith tune CONFIG
    accelerate launch --config_file python/tunesmith/configs/accelerate/ddp.yaml -m tunesmith tune CONFIG

Rank 0 prints the reports and the result; the other ranks print one line each.
"""

from __future__ import annotations

import argparse
import sys

from tunesmith.errors import TunesmithError
from tunesmith.tune.distributed import world_info


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.usage = "tunesmith tune CONFIG [--force] [--resume] | tunesmith tune validate CONFIG"
    parser.add_argument("config", metavar="CONFIG", help="YAML config (or the word 'validate' followed by one)")
    parser.add_argument("extra", nargs="?", metavar="CONFIG", help=argparse.SUPPRESS)
    parser.add_argument("--force", action="store_true", help="run even when the pre-flight check says it will not fit")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint in output_dir")
    parser.add_argument(
        "--preflight-device",
        metavar="DEVICE",
        help="size the job for this device (a hardware name the estimator knows) instead of the detected one",
    )
    parser.add_argument(
        "--device-memory", type=float, metavar="GIB", help="size the job for a device with this much memory (GiB)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def validate(path: str) -> int:
    from tunesmith.tune.config import load_config

    config = load_config(path)
    for note in config.notes:
        print(f"note: {note}")
    tr = config.training
    print(
        f"{path}: ok — {'dpo+' if config.dpo else ''}{config.method} on {config.model.path}, data {config.data.train_path} "
        f"({config.data.format}{', packed' if config.data.packing else ''}), context {tr.context_length}, "
        f"batch {tr.train_batch_size_per_device}x{tr.gradient_accumulation_steps}, output {config.output_dir}"
    )
    return 0


def run(args: argparse.Namespace) -> int:
    try:
        if args.config == "validate":
            if not args.extra:
                print("usage: tunesmith tune validate CONFIG", file=sys.stderr)
                return 2
            return validate(args.extra)
        if args.extra:
            print(f"unexpected argument {args.extra!r}", file=sys.stderr)
            return 2
        from tunesmith.tune.config import load_config
        from tunesmith.tune.trainer import train

        config = load_config(args.config)
        try:
            result = train(
                config, force=args.force, resume=args.resume, progress=not args.quiet,
                preflight_device=args.preflight_device,
                preflight_memory=int(args.device_memory * 2**30) if args.device_memory else None,
            )
        finally:
            _end_process_group()
        if world_info().is_main:
            print(result)
        return 0
    except TunesmithError as exc:
        _print_error(exc)
        return 1


def _print_error(exc: TunesmithError) -> None:
    """Rank 0 prints the whole message; under a launcher the other ranks print its first line, tagged, so a
    failure that only one rank meets still shows which rank."""
    try:
        world = world_info()
    except TunesmithError:
        print(f"error: {exc}", file=sys.stderr)
        return
    if world.is_main:
        print(f"error: {exc}", file=sys.stderr)
    else:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"error (rank {world.rank}): {first}", file=sys.stderr)


def _end_process_group() -> None:
    """Destroy the process group accelerate created under torchrun / accelerate launch, so each rank exits
    cleanly (torch warns at exit about a group left open). Nothing to do in a single process."""
    if "torch" not in sys.modules:
        return
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
