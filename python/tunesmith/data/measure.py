"""Measured figures for the README: ``python -m tunesmith.data.measure [--records N]``.

1. Label masks: the seed guide's ``to_huggingface`` against ours on the tiny tokenizer's instruction set,
   counting prompt and padding tokens that carry loss and response tokens that do not.
2. Chunking: the guide's whitespace-word chunks against ours, re-tokenized: how many exceed the token budget.
3. Dataset I/O: save and load N Alpaca records as JSONL / JSON / Parquet, beside ``datasets.Dataset.from_json``.
4. Temperature sampling: observed task shares against ``n_i^(1/T)``, as z-scores.

Needs the ``train`` extra (transformers, tokenizers, datasets); builds the tiny tokenizer in a temp dir.
"""

from __future__ import annotations

import argparse
import math
import pathlib
import tempfile
import time
from collections import Counter

from tunesmith.data.example import TrainingExample
from tunesmith.data.formats import DatasetFormatter, load_examples, save_examples
from tunesmith.data.mixing import MultiTaskFineTuner, mixture_weights
from tunesmith.data.pretrain import chunk_texts


def _seed_labels(ex: TrainingExample, tokenizer: object, max_length: int) -> tuple[list[int], list[int]]:
    """The guide's to_huggingface for one example, verbatim but on lists."""
    text = f"### Instruction:\n{ex.instruction}"
    if ex.input:
        text += f"\n\n### Input:\n{ex.input}"
    text += f"\n\n### Response:\n{ex.output}"
    encoded = tokenizer(text, truncation=True, max_length=max_length, padding="max_length")  # type: ignore[operator]
    label = list(encoded["input_ids"])
    response_start = text.find("### Response:")
    response_tokens = len(tokenizer.encode(text[:response_start]))  # type: ignore[attr-defined]
    label[:response_tokens] = [-100] * min(response_tokens, len(label))
    return list(encoded["input_ids"]), label


def _masks(tokenizer: object, examples: list[TrainingExample], max_length: int) -> str:
    ours = DatasetFormatter.to_huggingface(examples, tokenizer, max_length, return_tensors=None)
    seed_prompt = seed_pad = seed_missed = our_prompt = our_pad = our_missed = 0
    for i, ex in enumerate(examples):
        ids, labels, mask = ours["input_ids"][i], ours["labels"][i], ours["attention_mask"][i]
        n = sum(mask)
        first = next(j for j, lab in enumerate(labels) if lab != -100)
        s_ids, s_labels = _seed_labels(ex, tokenizer, max_length)
        # the response starts at our first labelled token (checked by the tests: it decodes to the output)
        seed_prompt += sum(1 for j in range(first) if s_labels[j] != -100)
        seed_pad += sum(1 for j in range(len(s_ids)) if j >= n - 1 and s_labels[j] != -100)
        seed_missed += sum(1 for j in range(first, n - 1) if s_labels[j] == -100)
        our_prompt += sum(1 for j in range(first) if labels[j] != -100)
        our_pad += sum(1 for j in range(n, len(ids)) if labels[j] != -100)
        our_missed += sum(1 for j in range(first, n) if labels[j] == -100)
    k = len(examples)
    return (f"label masks on {k} examples (max_length {max_length}): prompt tokens with loss seed {seed_prompt / k:.1f}"
            f"/example, ours {our_prompt}; padding tokens with loss seed {seed_pad / k:.1f}/example, ours {our_pad}; "
            f"response tokens without loss seed {seed_missed}, ours {our_missed}; EOS learnt seed no, ours yes")


def _seed_chunks(lines: list[str], chunk_size: int) -> list[str]:
    chunks, current, length = [], [], 0
    for line in lines:
        tokens = len(line.split())
        if length + tokens > chunk_size:
            chunks.append(" ".join(current))
            current, length = [], 0
        current.append(line.strip())
        length += tokens
    if current:
        chunks.append(" ".join(current))
    return chunks


def _chunking(tokenizer: object, lines: list[str], chunk_size: int) -> str:
    def sizes(chunks: list[str]) -> list[int]:
        return [len(tokenizer(c, add_special_tokens=False)["input_ids"]) for c in chunks]  # type: ignore[operator]

    seed, ours = sizes(_seed_chunks(lines, chunk_size)), sizes(chunk_texts(lines, tokenizer, chunk_size))
    over = sum(s > chunk_size for s in seed)
    return (f"chunking {len(lines)} lines at {chunk_size} tokens: seed {len(seed)} chunks, {over} "
            f"({100 * over / len(seed):.0f} %) over budget, largest {max(seed)} tokens; ours {len(ours)} chunks, "
            f"{sum(s > chunk_size for s in ours)} over budget, largest {max(ours)}, mean fill "
            f"{100 * sum(ours) / len(ours) / chunk_size:.0f} %")


def _io(records: int) -> list[str]:
    from tunesmith.tune.tiny import make_records

    examples = [TrainingExample(r["instruction"], r["input"], r["output"]) for r in make_records(records, seed=1)]
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in ("jsonl", "json", "parquet"):
            path = pathlib.Path(tmp) / f"d.{fmt}"
            t0 = time.perf_counter()
            save_examples(examples, path)
            t1 = time.perf_counter()
            loaded = load_examples(path)
            t2 = time.perf_counter()
            assert loaded.examples == examples
            out.append(f"{fmt:8s} {records} records: save {records / (t1 - t0):,.0f} rec/s, "
                       f"load+validate {records / (t2 - t1):,.0f} rec/s")
        try:
            from datasets import Dataset

            t0 = time.perf_counter()
            Dataset.from_json(str(pathlib.Path(tmp) / "d.jsonl"), cache_dir=tmp)
            out.append(f"datasets.Dataset.from_json (same JSONL, to Arrow, no validation): "
                       f"{records / (time.perf_counter() - t0):,.0f} rec/s")
        except ImportError:
            pass
    return out


def _sampling() -> str:
    sizes = {"big": [TrainingExample(str(i)) for i in range(9000)], "mid": [TrainingExample("m")] * 900,
             "small": [TrainingExample("s")] * 100}
    n = 100_000
    mixed = MultiTaskFineTuner("m", sizes).create_mixed_dataset("temperature", temperature=2.0, num_samples=n, seed=0)
    counts = Counter(ex.metadata["task"] for ex in mixed if ex.metadata)
    weights = mixture_weights([len(v) for v in sizes.values()], "temperature", 2.0)
    zs = [(counts[name] - n * p) / math.sqrt(n * p * (1 - p)) for name, p in zip(sizes, weights, strict=True)]
    shares = ", ".join(f"{name} {counts[name] / n:.4f} (expected {p:.4f})" for name, p in zip(sizes, weights, strict=True))
    return f"temperature sampling T=2, {n} draws from sizes 9000/900/100: {shares}; max |z| {max(map(abs, zs)):.2f}"


def main(argv: list[str] | None = None) -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(prog="python -m tunesmith.data.measure", description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000, help="records for the I/O figures")
    args = parser.parse_args(argv)
    from transformers import AutoTokenizer

    from tunesmith.tune.tiny import _corpus, build_tiny_model, make_records

    with tempfile.TemporaryDirectory() as tmp:
        build_tiny_model(pathlib.Path(tmp) / "m", num_layers=1)
        tokenizer = AutoTokenizer.from_pretrained(pathlib.Path(tmp) / "m")
    examples = [TrainingExample(r["instruction"], r["input"], r["output"]) for r in make_records(300, seed=7)]
    print(_masks(tokenizer, examples, 96))
    print(_chunking(tokenizer, [line.replace("\n", " ") for line in _corpus()], 256))
    for line in _io(args.records):
        print(line)
    print(_sampling())


if __name__ == "__main__":
    main()
