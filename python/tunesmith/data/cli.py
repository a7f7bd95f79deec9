"""``tunesmith data``: convert, split, mix and generate instruction datasets.

    tunesmith data convert train.jsonl train.parquet --schema openai     # alpaca/sharegpt/openai, any file format
    tunesmith data convert raw.jsonl clean.jsonl --lenient --rejects rejects.txt
    tunesmith data split train.jsonl --out-dir splits --ratios 0.8 0.1 0.1 --seed 42
    tunesmith data mix qa=qa.jsonl chat=chat.jsonl -o mixed.jsonl --strategy temperature --temperature 2
    tunesmith data generate seeds.jsonl -o synthetic.jsonl --num 100 --task "unit conversion" \\
        --base-url http://127.0.0.1:8000/v1 --model base       # key from $OPENAI_API_KEY when set

Every output is written atomically; every record that could not be read or generated is reported.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pathlib
import sys

_SCHEMAS = ("alpaca", "sharegpt", "openai")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = __doc__.split("\n\n", 1)[1] if __doc__ else None
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    def io(p: argparse.ArgumentParser) -> None:
        p.add_argument("--from", dest="source_schema", default="auto", choices=("auto", *_SCHEMAS),
                       help="schema of the input records (default: detect per record)")
        p.add_argument("--schema", default="alpaca", choices=_SCHEMAS, help="schema of the output records")
        p.add_argument("--extras", action="store_true", help="also write metadata (and the Alpaca system prompt)")

    convert = sub.add_parser("convert", help="rewrite a dataset in another schema and/or file format")
    convert.add_argument("input", type=pathlib.Path)
    convert.add_argument("output", type=pathlib.Path, help=".jsonl, .json or .parquet")
    io(convert)
    convert.add_argument("--lenient", action="store_true", help="skip bad records instead of stopping at the first")
    convert.add_argument("--rejects", type=pathlib.Path, help="with --lenient: write FILE:LINE: reason lines here")

    split = sub.add_parser("split", help="seeded train/validation/test split")
    split.add_argument("input", type=pathlib.Path)
    split.add_argument("--out-dir", required=True, type=pathlib.Path)
    split.add_argument("--ratios", nargs=3, type=float, default=(0.8, 0.1, 0.1), metavar=("TRAIN", "VAL", "TEST"))
    split.add_argument("--seed", type=int, default=42)
    split.add_argument("--format", default="jsonl", choices=("jsonl", "json", "parquet"))
    io(split)

    mix = sub.add_parser("mix", help="mix task datasets (proportional, equal or temperature sampling)")
    mix.add_argument("tasks", nargs="+", metavar="NAME=PATH")
    mix.add_argument("-o", "--output", required=True, type=pathlib.Path)
    mix.add_argument("--strategy", default="proportional", choices=("proportional", "equal", "temperature"))
    mix.add_argument("--temperature", type=float, default=2.0)
    mix.add_argument("--num-samples", type=int, help="draws for temperature sampling (default: all examples)")
    mix.add_argument("--seed", type=int, default=42)
    io(mix)

    gen = sub.add_parser("generate", help="synthetic examples from seed examples via an OpenAI-compatible API")
    gen.add_argument("seeds", type=pathlib.Path, help="seed examples (any schema and file format)")
    gen.add_argument("-o", "--output", required=True, type=pathlib.Path)
    gen.add_argument("--num", type=int, required=True, help="examples to generate")
    gen.add_argument("--task", required=True, help="task description given to the model")
    gen.add_argument("--base-url", required=True, help="API root, e.g. http://127.0.0.1:8000/v1")
    gen.add_argument("--model", help="model field of the requests")
    gen.add_argument("--api-key-env", default="OPENAI_API_KEY", help="environment variable holding the API key")
    gen.add_argument("--endpoint", default="chat", choices=("chat", "completions"))
    gen.add_argument("--batch-size", type=int, default=10)
    gen.add_argument("--timeout", type=float, default=120.0)
    gen.add_argument("--no-clean", action="store_true", help="skip the clean engine")
    io(gen)


def _run(args: argparse.Namespace) -> None:
    from tunesmith.data.formats import DatasetFormatter, load_examples, save_examples

    if args.action == "convert":
        result = load_examples(args.input, schema=args.source_schema, lenient=args.lenient)
        save_examples(result.examples, args.output, schema=args.schema, extras=args.extras)
        if args.rejects is not None:
            from tunesmith.data.formats import atomic_write

            atomic_write(args.rejects, lambda f: f.writelines(f"{r}\n" for r in result.rejects))
        found = ", ".join(f"{k} {v}" for k, v in sorted(result.schemas.items())) or "none"
        print(f"{args.input}: {len(result.examples)} examples ({found}), {len(result.rejects)} rejected "
              f"-> {args.output} ({args.schema})")
        for reject in result.rejects[:10]:
            print(f"  rejected {reject}", file=sys.stderr)
    elif args.action == "split":
        examples = load_examples(args.input, schema=args.source_schema).examples
        parts = DatasetFormatter.create_train_val_test_split(examples, *args.ratios, seed=args.seed)
        for name, part in parts.items():
            path = save_examples(part, args.out_dir / f"{name}.{args.format}", schema=args.schema, extras=args.extras)
            print(f"{name:10s} {len(part):>8} -> {path}")
    elif args.action == "mix":
        from tunesmith.data.mixing import MultiTaskFineTuner
        from tunesmith.errors import ArgumentError

        tasks = {}
        for item in args.tasks:
            name, sep, path = item.partition("=")
            if not sep or not name or not path:
                raise ArgumentError(f"tasks: expected NAME=PATH, got {item!r}")
            tasks[name] = load_examples(path, schema=args.source_schema).examples
        mixed = MultiTaskFineTuner("", tasks, seed=args.seed).create_mixed_dataset(
            args.strategy, temperature=args.temperature, num_samples=args.num_samples)
        save_examples(mixed, args.output, schema=args.schema, extras=True)
        counts = {name: sum(1 for ex in mixed if ex.metadata and ex.metadata.get("task") == name) for name in tasks}
        print(f"{len(mixed)} examples ({', '.join(f'{k} {v}' for k, v in counts.items())}) -> {args.output}")
    else:
        from tunesmith.data.llm import CompletionClient
        from tunesmith.data.synthetic import SyntheticDataGenerator

        seeds = load_examples(args.seeds, schema=args.source_schema).examples
        client = CompletionClient(args.base_url, api_key=os.environ.get(args.api_key_env) or None, model=args.model,
                                  endpoint=args.endpoint, timeout=args.timeout)
        generator = SyntheticDataGenerator(client, clean=not args.no_clean, batch_size=args.batch_size)
        examples = asyncio.run(generator.generate_from_seed(seeds, args.num, args.task))
        save_examples(examples, args.output, schema=args.schema, extras=args.extras)
        print(generator.report)
        print(f"-> {args.output}")


def run(args: argparse.Namespace) -> int:
    from tunesmith.errors import TunesmithError

    try:
        _run(args)
    except (TunesmithError, OSError, ImportError) as e:
        print(f"tunesmith data {args.action}: error: {e}", file=sys.stderr)
        return 1
    return 0
