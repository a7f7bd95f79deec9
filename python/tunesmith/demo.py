"""``tunesmith demo``: the main job end to end, on data the project makes itself.

Each step is a function ``step(out_dir: pathlib.Path) -> None`` in the module of
the part it shows; they run in order and print what they did.
"""

from __future__ import annotations

import argparse
import importlib
import pathlib
import time

# (title, "module:function"), in the order the demo runs them.
STEPS: list[tuple[str, str]] = [
    ("seed heuristics", "tunesmith.estimate.seed_cli:demo_step"),
    ("clean a corpus", "tunesmith.clean.demo:demo_step"),
    ("size the job", "tunesmith.estimate.demo:demo_step"),
    ("fine-tune a tiny model", "tunesmith.tune.demo:demo_step"),
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("demo-out"), help="output directory")
    parser.add_argument(
        "--only", action="append", default=None, metavar="STEP", help="run only this step (repeatable)"
    )


def run(args: argparse.Namespace) -> int:
    out: pathlib.Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    for title, target in STEPS:
        if args.only and not any(o in title for o in args.only):
            continue
        module_name, func_name = target.split(":")
        print(f"\n=== {title} ===", flush=True)
        started = time.perf_counter()
        getattr(importlib.import_module(module_name), func_name)(out)
        print(f"--- {title}: {time.perf_counter() - started:.1f} s", flush=True)
    return 0
