"""``tunesmith clean INPUT... -o OUT``: clean JSONL/Parquet corpora in one streaming pass.

    tunesmith clean data/*.jsonl.zst -o clean.jsonl.zst --report report.json --removed removed.jsonl \\
        --rejected rejected.jsonl --config clean.yaml --threads 8
"""

from __future__ import annotations

import argparse
import pathlib
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", type=pathlib.Path, metavar="INPUT", help="JSONL (.gz/.zst) or Parquet")
    parser.add_argument("-o", "--output", required=True, type=pathlib.Path, help="kept records (same formats)")
    parser.add_argument("--config", type=pathlib.Path, help="YAML CleanConfig (top level or under 'clean:')")
    parser.add_argument("--report", type=pathlib.Path, help="write report.json here")
    parser.add_argument("--removed", type=pathlib.Path, help="write removed records, with reason, here")
    parser.add_argument("--rejected", type=pathlib.Path, help="write rejected lines (file, line, error) here")
    parser.add_argument("--strict", action="store_true", help="stop at the first malformed record")
    parser.add_argument("--fsync", action="store_true", help="force outputs to disk before renaming them into place")
    parser.add_argument("--threads", type=int, default=0, help="worker threads (0 = one per core)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--executor",
        choices=("local", "ray"),
        default="local",
        help="local: this process; ray: a Ray cluster (-o/--removed/--rejected name shard directories; "
        "needs pip install 'tunesmith[dist]')",
    )
    parser.add_argument("--address", help="Ray cluster address for --executor ray (default: start a local one)")


def _progress(args: argparse.Namespace):
    """A (callback, close) pair drawing a rich progress bar on stderr, or no-ops."""
    if args.quiet or not sys.stderr.isatty():
        return None, lambda: None
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    plain = all(p.suffix not in {".gz", ".zst", ".zstd"} for p in args.inputs)
    total = sum(p.stat().st_size for p in args.inputs) if plain else None
    bar = Progress(
        TextColumn("[bold]clean"),
        BarColumn(),
        TextColumn("{task.fields[records]:>12,} records  {task.fields[rps]:>9,.0f} rec/s  {task.fields[mbps]:>7.1f} MB/s"),
        TimeElapsedColumn(),
        transient=True,
    )
    task = bar.add_task("clean", total=total, records=0, rps=0.0, mbps=0.0)
    bar.start()

    def update(r) -> None:
        bar.update(task, completed=r.bytes_read, records=r.read, rps=r.records_per_second, mbps=r.bytes_per_second / 1e6)

    return update, bar.stop


def _print_table(report) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        print(report.table())
        return
    table = Table(title="tunesmith clean", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    for label, value in report.rows():
        table.add_row(label, value)
    Console().print(table)


def run(args: argparse.Namespace) -> int:
    import tunesmith
    from tunesmith.clean.config import CleanConfig
    from tunesmith.clean.pipeline import Pipeline
    from tunesmith.errors import TunesmithError

    if args.threads:
        tunesmith.set_num_threads(args.threads)
    try:
        flags = {name: True for name in ("strict", "fsync") if getattr(args, name)}
        config = CleanConfig.coerce(args.config, **flags)
        if args.executor == "ray":
            report = Pipeline(config).run(
                args.inputs,
                args.output,
                executor="ray",
                address=args.address,
                removed=args.removed,
                rejected=args.rejected,
                report=args.report,
            )
        else:
            update, close = _progress(args)
            try:
                report = Pipeline(config).clean_file(
                    args.inputs,
                    args.output,
                    removed=args.removed,
                    rejected=args.rejected,
                    report=args.report,
                    progress=update,
                )
            finally:
                close()
    except (TunesmithError, OSError, ImportError) as e:
        print(f"tunesmith clean: error: {e}", file=sys.stderr)
        return 1
    _print_table(report)
    return 0
