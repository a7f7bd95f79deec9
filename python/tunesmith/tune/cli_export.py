"""``tunesmith export MODEL_DIR -o OUT.gguf --type q8_0``: write a llama-family model as one GGUF file."""

from __future__ import annotations

import argparse
import sys

from tunesmith.errors import TunesmithError

# kept literal (not imported from tunesmith.tune.export) so building the parser imports nothing heavy
_TYPES = ("f32", "f16", "bf16", "q8_0")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``MODEL_DIR``, ``-o/--out``, ``--type``, ``--name`` and ``--tokenizer-pre`` to ``parser``."""
    parser.add_argument("model_dir", metavar="MODEL_DIR",
                        help="a saved model directory (config.json, *.safetensors, tokenizer.json), "
                             "e.g. a run's merged/")
    parser.add_argument("-o", "--out", required=True, metavar="OUT.gguf", help="the GGUF file to write")
    parser.add_argument("--type", dest="outtype", choices=_TYPES, default="f16",
                        help="tensor type of the 2-D weights (norms stay f32; q8_0 falls back to f16 per tensor "
                             "whose rows are not a multiple of 32). Default f16")
    parser.add_argument("--name", help="general.name written in the file (default: the model directory's name)")
    parser.add_argument("--tokenizer-pre", metavar="NAME",
                        help="llama.cpp pre-tokenizer name when the tokenizer's is not recognised")


def run(args: argparse.Namespace) -> int:
    """Export; print the summary, or ``error: ...`` and return 1."""
    from tunesmith.tune.export import export_gguf

    try:
        export_gguf(args.model_dir, args.out, outtype=args.outtype, name=args.name, tokenizer_pre=args.tokenizer_pre)
    except TunesmithError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
