"""``tunesmith eval MODEL --data FILE [--base BASE] [--prompt TEXT ...]``: perplexity and generations.

MODEL is a model directory, an adapter directory, or the output_dir of a run
(its merged/, model/ or adapter/ is used). With --base, the base is evaluated
too and the two are printed side by side.
"""

from __future__ import annotations

import argparse
import json
import sys

from tunesmith.errors import TunesmithError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", help="model dir, adapter dir or a run's output_dir")
    parser.add_argument("--data", help="JSONL file for perplexity (alpaca, sharegpt, openai messages or text)")
    parser.add_argument("--base", help="base model to compare against (default: the run's base, if any)")
    parser.add_argument("--no-base", action="store_true", help="evaluate MODEL only")
    parser.add_argument("--prompt", action="append", default=[], help="prompt to generate from (repeatable)")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--context-length", type=int, default=512)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")


def run(args: argparse.Namespace) -> int:
    import pathlib

    from tunesmith.tune.evaluate import generate, load_for_eval, perplexity_on_file

    try:
        results = {}
        tuned, tokenizer, desc = load_for_eval(args.model)
        models = [("tuned", tuned, desc)]
        base = args.base
        run_file = pathlib.Path(args.model) / "tunesmith_run.json"
        if base is None and run_file.exists():
            base = json.loads(run_file.read_text(encoding="utf-8"))["base_model"]
        if base and not args.no_base:
            base_model, _, base_desc = load_for_eval(base)
            models.insert(0, ("base", base_model, base_desc))
        for name, model, d in models:
            entry: dict = {"model": d}
            if args.data:
                r = perplexity_on_file(model, tokenizer, args.data, context_length=args.context_length)
                entry.update(loss=r.loss, perplexity=r.perplexity, tokens=r.tokens)
            if args.prompt:
                entry["generations"] = generate(model, tokenizer, args.prompt, max_new_tokens=args.max_new_tokens)
            results[name] = entry
    except TunesmithError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for name, entry in results.items():
        line = f"{name:<6} {entry['model']}"
        if "perplexity" in entry:
            line += f": loss {entry['loss']:.4f}, perplexity {entry['perplexity']:.2f} ({entry['tokens']} tokens)"
        print(line)
    for i, prompt in enumerate(args.prompt):
        print(f"\nprompt: {prompt}")
        for name, entry in results.items():
            print(f"  {name:<6} {entry['generations'][i]['generated']!r}")
    return 0
