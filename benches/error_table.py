"""Estimate vs measured: the error table of tunesmith's memory estimator, beside the seed heuristic and accelerate.

Each row is one training step of a catalog model (random weights), measured at the tensor level by
``tunesmith.estimate.measure.measure_training_step`` under FakeTensorMode (byte-identical to a real
run; QLoRA runs for real, so it uses the smallest model), then:

* ``tunesmith.estimate.memory.estimate`` on the same knobs;
* the seed heuristic ``tunesmith.estimate_training_memory(params_millions, method, Gpu)``: its GB
  total read as GiB (``× 2**30``); IA3/DoRA/adapters as ``LoRA``, prompt tuning as ``Prefix``;
* ``accelerate estimate-memory``'s "Training using Adam" figure, computed as accelerate does from the
  fp32 model size (4 bytes per parameter of the trained model): 4 × that size for float32 and
  2 × for float16 (chosen for bf16, fp16 and mixed precision); no activations, logits or PEFT.

Ratios are estimate / measured peak tensor bytes. Run::

    python benches/error_table.py                # prints the markdown table
    python benches/error_table.py --readme       # and writes it into README.md's "### Estimate vs measured"
    python benches/error_table.py --quick        # three small rows (a smoke run)
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time
import warnings
from typing import Any

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"
HEADING = "### Estimate vs measured"

ROWS: list[tuple[str, dict[str, Any]]] = [
    ("gpt2", {"method": "full", "precision": "fp32", "batch_size": 4, "seq_len": 512}),
    ("gpt2", {"method": "full", "precision": "bf16", "batch_size": 1, "seq_len": 512, "gradient_checkpointing": True}),
    ("gpt2", {"method": "lora", "rank": 8, "precision": "bf16", "batch_size": 4, "seq_len": 512}),
    ("pythia-160m", {"method": "full", "precision": "amp_bf16", "batch_size": 2, "seq_len": 512}),
    ("pythia-160m", {"method": "lora", "rank": 64, "precision": "fp32", "batch_size": 4, "seq_len": 256}),
    ("qwen2-0.5b", {"method": "full", "precision": "bf16", "batch_size": 1, "seq_len": 512}),
    ("qwen2-0.5b", {"method": "lora", "rank": 8, "precision": "bf16", "batch_size": 4, "seq_len": 512}),
    ("qwen2-0.5b", {"method": "lora", "rank": 8, "precision": "bf16", "batch_size": 4, "seq_len": 512,
                    "gradient_checkpointing": True}),
    ("qwen2-0.5b", {"method": "ia3", "precision": "bf16", "batch_size": 2, "seq_len": 512}),
    ("qwen2-0.5b", {"method": "prompt", "precision": "bf16", "batch_size": 2, "seq_len": 512}),
    ("qwen2-0.5b", {"method": "prefix", "precision": "bf16", "batch_size": 2, "seq_len": 512}),
    ("qwen2-0.5b", {"method": "dpo", "dpo_policy": "lora", "rank": 8, "precision": "bf16", "batch_size": 1,
                    "seq_len": 512}),
    ("qwen2-0.5b", {"method": "distill", "precision": "bf16", "batch_size": 1, "seq_len": 256}),
    ("llama-3.2-1b", {"method": "lora", "rank": 16, "precision": "bf16", "batch_size": 2, "seq_len": 1024,
                      "gradient_checkpointing": True}),
    ("tinyllama-1.1b", {"method": "full", "precision": "bf16", "batch_size": 1, "seq_len": 1024,
                        "gradient_checkpointing": True}),
    ("llama-2-7b", {"method": "lora", "rank": 8, "precision": "bf16", "batch_size": 1, "seq_len": 512}),
    ("llama-2-7b", {"method": "full", "precision": "bf16", "batch_size": 1, "seq_len": 512,
                    "gradient_checkpointing": True}),
    ("pythia-70m", {"method": "qlora", "bits": 4, "rank": 8, "precision": "bf16", "batch_size": 2, "seq_len": 256}),
]
QUICK = [ROWS[0], ROWS[2], ROWS[-1]]

_SEED_METHOD = {
    "full": "FullFineTune", "lora": "LoRA", "dora": "LoRA", "ia3": "LoRA", "adapter": "LoRA", "prefix": "Prefix",
    "prompt": "Prefix", "dpo": "DPO", "distill": "Distillation",
}


def seed_bytes(num_params: int, knobs: dict[str, Any]) -> int:
    import tunesmith as ts

    method = knobs["method"]
    if method == "qlora":
        tm = ts.TrainingMethod.QLoRA(bits=knobs.get("bits", 4))
    else:
        tm = getattr(ts.TrainingMethod, _SEED_METHOD[method])
    est = ts.estimate_training_memory(num_params // 1_000_000, tm, ts.TrainingTarget.Gpu)
    return int(est.total_gb * 2**30)


def accelerate_bytes(num_params: int, knobs: dict[str, Any]) -> int:
    fp32_size = 4 * num_params
    return 4 * fp32_size if knobs.get("precision", "fp32") == "fp32" else 2 * fp32_size


def _label(name: str, k: dict[str, Any]) -> str:
    method = k["method"]
    if method in ("lora", "qlora"):
        method += f" r{k.get('rank', 8)}"
    if method.startswith("qlora"):
        method = method.replace("qlora", f"QLoRA-{k.get('bits', 4)}")
    if k["method"] == "dpo":
        method = f"DPO ({k.get('dpo_policy', 'full')} policy)"
    ckpt = " ckpt" if k.get("gradient_checkpointing") else ""
    return f"{name} | {method} | {k['precision']}{ckpt} | {k['batch_size']}×{k['seq_len']}"


def _gib(n: float) -> str:
    return f"{n / 2**30:.2f}"


def run(rows: list[tuple[str, dict[str, Any]]]) -> tuple[str, list[float]]:
    from tunesmith.estimate.catalog import catalog_entry
    from tunesmith.estimate.measure import measure_training_step
    from tunesmith.estimate.memory import estimate

    lines = [
        "| model | method | precision | batch×seq | measured GiB (phase) | tunesmith GiB | ratio | seed GiB | ratio "
        "| accelerate GiB | ratio |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    ratios = []
    for name, knobs in rows:
        config = catalog_entry(name)["config"]
        knobs = {"lora_dropout": 0.0, **knobs}
        fake = knobs["method"] != "qlora"
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = measure_training_step(config, fake=fake, **knobs)
            e = estimate(config, **m.estimate_kwargs())
        num_params = e.total_params
        s, a = seed_bytes(num_params, knobs), accelerate_bytes(num_params, knobs)
        r = e.peak_bytes / m.peak_bytes
        ratios.append(r)
        lines.append(
            f"| {_label(name, knobs)} | {_gib(m.peak_bytes)} ({m.peak_phase}) | {_gib(e.peak_bytes)} | {r:.3f} "
            f"| {_gib(s)} | {s / m.peak_bytes:.2f} | {_gib(a)} | {a / m.peak_bytes:.2f} |"
        )
        print(f"  {name} {knobs['method']}: {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    within5 = sum(abs(r - 1) <= 0.05 for r in ratios)
    within10 = sum(abs(r - 1) <= 0.10 for r in ratios)
    worst = max(ratios, key=lambda r: abs(r - 1))
    lines.append("")
    lines.append(
        f"tunesmith within ±5 %: {within5}/{len(ratios)}, within ±10 %: {within10}/{len(ratios)}, "
        f"worst ratio {worst:.3f}."
    )
    return "\n".join(lines), ratios


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--readme", action="store_true", help=f"write the table into README.md's {HEADING!r} section")
    parser.add_argument("--quick", action="store_true", help="three small rows only")
    args = parser.parse_args(argv)
    table, _ = run(QUICK if args.quick else ROWS)
    import torch
    import transformers

    preamble = (
        f"{HEADING}\n\n"
        "Peak tensor bytes of one training step (forward, backward, AdamW foreach step), measured with "
        "`tunesmith.estimate.measure` (FakeTensorMode, byte-identical to real runs; QLoRA real), against "
        "`tunesmith.estimate.estimate`, the seed heuristic `estimate_training_memory` (GB read as GiB) and "
        "`accelerate estimate-memory`'s \"Training using Adam\" (4× / 2× the fp32 model size). Tensor bytes "
        "only: a GPU adds its context and allocator overhead. LoRA dropout 0, LoRA on the attention "
        f"projections. torch {torch.__version__}, transformers {transformers.__version__}. "
        "Made by `python benches/error_table.py --readme`.\n\n"
    )
    out = preamble + table + "\n"
    print(out)
    if args.readme:
        README.write_text(replace_section(README.read_text(encoding="utf-8"), out), encoding="utf-8")
    return 0


def replace_section(text: str, section: str) -> str:
    """``text`` with its ``HEADING`` section (up to the next heading of that level or higher, or the end)
    replaced by ``section``; appended when there is none."""
    start = text.find(HEADING + "\n")
    if start < 0:
        return text.rstrip("\n") + "\n\n" + section
    rest = text[start + len(HEADING):]
    ends = [i for i in (rest.find("\n## "), rest.find("\n### "), rest.find("\n# ")) if i >= 0]
    end = start + len(HEADING) + min(ends) + 1 if ends else len(text)
    return text[:start] + section + ("\n" + text[end:] if end < len(text) else "")


if __name__ == "__main__":
    raise SystemExit(main())
