"""Training throughput on CPU: tunesmith's LoRA run against TRL's SFTTrainer, and packed against unpacked.

Same tiny Llama (built here, saved and reloaded), same records, same LoRA, same
batch size, steps, optimizer and learning rate; loss on responses only in all
runs. Throughput is real (non-padding) tokens per second of training time;
each variant runs ``--repeats`` times interleaved and the best run counts,
because on a shared machine the slowest runs measure the neighbours.

    python benches/bench_tune.py [--steps 30] [--repeats 2] [--threads 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import random
import tempfile
import time

_WORDS = ["red", "green", "blue", "apple", "river", "stone", "cloud", "table", "garden", "window", "bridge", "candle"]


def variable_records(n: int, seed: int = 0) -> list[dict[str, str]]:
    """Alpaca records whose responses run from 1 to 60 words: lengths vary about 10x, as real SFT data does."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        k = rng.choice([1, 2, 3, 5, 8, 12, 20, 30, 45, 60])
        words = [rng.choice(_WORDS) for _ in range(k)]
        out.append({"instruction": f"Write {k} words.", "input": "", "output": " ".join(words) + "."})
    return out


LORA = {"r": 8, "lora_alpha": 16, "lora_dropout": 0.0,
        "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]}


def run_tunesmith(model: pathlib.Path, train: pathlib.Path, out: pathlib.Path, *, steps: int, batch: int,
                  packing: bool, context: int) -> dict[str, float]:
    from tunesmith.tune.config import TrainConfig
    from tunesmith.tune.trainer import train as tune

    cfg = TrainConfig.from_dict({
        "model": {"path": str(model)},
        "data": {"train_path": str(train), "packing": packing},
        "training": {"max_steps": steps, "train_batch_size_per_device": batch, "context_length": context,
                     "learning_rate": 1e-3, "lr_scheduler": "constant", "eval_strategy": "no",
                     "save_steps": 10_000, "logging_steps": 10, "save_total_limit": 1},
        "lora_config": LORA,
        "output_dir": str(out),
    })
    m = tune(cfg, log=lambda _: None, progress=False).metrics
    return {"tokens": m["tokens_seen"], "seconds": m["train_seconds"], "tokens_per_second": m["tokens_per_second"],
            "final_loss": m["final_logged_train_loss"]}


def run_trl(model_dir: pathlib.Path, records: list[dict[str, str]], out: pathlib.Path, *, steps: int, batch: int,
            context: int) -> dict[str, float]:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    ds = Dataset.from_list([{"messages": [
        {"role": "user", "content": r["instruction"]}, {"role": "assistant", "content": r["output"]}]} for r in records])
    args = SFTConfig(
        output_dir=str(out), max_steps=steps, per_device_train_batch_size=batch, learning_rate=1e-3,
        lr_scheduler_type="constant", max_length=context, packing=False, assistant_only_loss=True,
        use_cpu=True, bf16=False, gradient_checkpointing=False, report_to="none", save_strategy="no",
        logging_steps=10, include_num_input_tokens_seen="non_padding", disable_tqdm=True, seed=42,
        dataloader_pin_memory=False,
    )
    trainer = SFTTrainer(model=model, args=args, train_dataset=ds, processing_class=tok,
                         peft_config=LoraConfig(task_type="CAUSAL_LM", **LORA))
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    tokens = int(trainer.state.num_input_tokens_seen)
    loss = next((h["loss"] for h in reversed(trainer.state.log_history) if "loss" in h), float("nan"))
    return {"tokens": tokens, "seconds": seconds, "tokens_per_second": tokens / seconds, "final_loss": loss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--packed-rows", type=int, default=4, help="rows of 256 tokens per packed step")
    parser.add_argument("--json", type=pathlib.Path)
    args = parser.parse_args()

    import datasets
    import torch
    import transformers

    from tunesmith.tune.tiny import build_tiny_model

    datasets.disable_progress_bars()
    transformers.utils.logging.set_verbosity_error()
    torch.set_num_threads(args.threads)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench-tune-"))
    model = build_tiny_model(tmp / "model", max_position_embeddings=1024)
    records = variable_records(2000)
    train = tmp / "train.jsonl"
    train.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    context = 256

    results: dict[str, list[dict[str, float]]] = {"tunesmith": [], "tunesmith_packed": [], "trl_sft": []}
    for rep in range(args.repeats):
        results["trl_sft"].append(run_trl(model, records, tmp / f"trl{rep}", steps=args.steps, batch=args.batch, context=context))
        results["tunesmith"].append(run_tunesmith(model, train, tmp / f"ts{rep}", steps=args.steps, batch=args.batch,
                                                  packing=False, context=context))
        # a packed row holds several examples (about 6 here), so fewer rows per step carry more tokens per step
        results["tunesmith_packed"].append(run_tunesmith(model, train, tmp / f"tsp{rep}", steps=args.steps,
                                                         batch=args.packed_rows, packing=True, context=context))
    best = {k: max(v, key=lambda r: r["tokens_per_second"]) for k, v in results.items()}
    summary = {
        "device": "cpu", "threads": args.threads, "steps": args.steps, "batch": args.batch,
        "torch": torch.__version__, "transformers": transformers.__version__,
        "best": best, "runs": results,
        "tunesmith_vs_trl": best["tunesmith"]["tokens_per_second"] / best["trl_sft"]["tokens_per_second"],
        "packed_vs_unpacked": best["tunesmith_packed"]["tokens_per_second"] / best["tunesmith"]["tokens_per_second"],
    }
    print(f"{'variant':<18}{'tokens/s':>10}{'tokens':>9}{'tok/step':>9}{'seconds':>9}{'final loss':>12}   (best of {args.repeats})")
    for name, r in best.items():
        print(f"{name:<18}{r['tokens_per_second']:>10,.0f}{r['tokens']:>9}{r['tokens'] / args.steps:>9.0f}"
              f"{r['seconds']:>9.2f}{r['final_loss']:>12.3f}")
    print(f"tunesmith / TRL SFTTrainer: {summary['tunesmith_vs_trl']:.2f}x; packed / unpacked: {summary['packed_vs_unpacked']:.2f}x")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
