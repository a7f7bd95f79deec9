"""The ``tunesmith`` command.

Each subcommand lives in its own module exposing ``add_arguments(parser)`` and
``run(args) -> int``; only the module of the command being run is imported, so
``tunesmith --help`` and ``tunesmith --version`` stay fast and never load torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# name -> (module, one-line help). Keep the modules free of heavy imports at top level.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("tunesmith.demo", "run the end-to-end demo: clean a corpus, size a job, fine-tune a tiny model"),
    "estimate": ("tunesmith.estimate.cli", "estimate training memory and time for a model (breakdown + fit verdict)"),
    "sweep": ("tunesmith.estimate.cli", "sweep the memory estimator over batch × sequence (or any grid) to a table"),
    "seed": ("tunesmith.estimate.seed_cli", "print the seed heuristics (ai-hwaccel / entrenar) for a model size"),
    "clean": ("tunesmith.clean.cli", "clean JSONL/Parquet corpora: filters, exact + MinHash dedup, PII redaction"),
    "data": ("tunesmith.data.cli", "convert / split / mix instruction datasets; generate synthetic ones via an API"),
    "check": ("tunesmith.check", "walk the guide's best-practice checklist against a tune config and its data"),
    "tune": ("tunesmith.tune.cli", "fine-tune from a YAML config (tune CONFIG [--force] | tune validate CONFIG)"),
    "merge": ("tunesmith.tune.cli_merge", "merge a run's adapter into its base: writes OUTPUT_DIR/merged"),
    "export": ("tunesmith.tune.cli_export", "write a llama-family model as GGUF for llama.cpp (f16, q8_0, bf16, f32)"),
    "eval": ("tunesmith.tune.cli_eval", "perplexity and generations of a tuned model against its base"),
    "serve": ("tunesmith.serve.cli", "serve a base model with many adapters over an OpenAI-compatible API"),
}


def _top_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tunesmith",
        description="Clean fine-tuning data, size the job, tune the model.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="commands:\n" + "\n".join(f"  {name:<10} {help_}" for name, (_, help_) in COMMANDS.items()),
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument("command", nargs="?", choices=sorted(COMMANDS), metavar="COMMAND", help="see below")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in COMMANDS:
        module_name, help_ = COMMANDS[args[0]]
        module = importlib.import_module(module_name)
        parser = argparse.ArgumentParser(prog=f"tunesmith {args[0]}", description=help_)
        module.add_arguments(parser)
        return int(module.run(parser.parse_args(args[1:])) or 0)
    top = _top_parser()
    parsed = top.parse_args(args)
    if parsed.version:
        from tunesmith import __version__

        print(f"tunesmith {__version__}")
        return 0
    top.print_help()
    return 0 if not args else 2


if __name__ == "__main__":
    raise SystemExit(main())
