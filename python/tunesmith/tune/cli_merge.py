"""``tunesmith merge OUTPUT_DIR``: fold the run's adapter into its base, write ``OUTPUT_DIR/merged``."""

from __future__ import annotations

import argparse
import sys

from tunesmith.errors import TunesmithError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("output_dir", metavar="OUTPUT_DIR", help="the output_dir of a `tunesmith tune` run")
    parser.add_argument("--base-model", help="base model path when the run does not record it")
    parser.add_argument("--out", help="where to write the merged model (default OUTPUT_DIR/merged)")
    parser.add_argument(
        "--base",
        choices=["dequantized", "original"],
        default="dequantized",
        help="QLoRA only: merge into the dequantized 4-bit base (faithful, default) or the original weights",
    )


def run(args: argparse.Namespace) -> int:
    from tunesmith.tune.merge import merge

    try:
        merge(args.output_dir, base_model=args.base_model, out_dir=args.out, base=args.base)
    except TunesmithError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
