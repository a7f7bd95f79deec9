"""The demo's fine-tune step: a tiny Llama built here, LoRA on CPU, merge, perplexity before and after."""

from __future__ import annotations

import json
import pathlib
import time


def demo_step(out: pathlib.Path) -> None:
    import torch

    from tunesmith.tune.config import TrainConfig
    from tunesmith.tune.evaluate import generate, load_for_eval, perplexity_on_file
    from tunesmith.tune.merge import merge
    from tunesmith.tune.tiny import build_tiny_model, make_dataset
    from tunesmith.tune.trainer import train

    root = pathlib.Path(out) / "tune"
    started = time.perf_counter()
    model_dir = build_tiny_model(root / "tiny-llama")
    train_path, valid_path = make_dataset(root / "data", n_train=320, n_valid=48)
    print(f"built a tiny Llama (hidden 64, 2 layers) and a BPE tokenizer in {time.perf_counter() - started:.1f} s; "
          f"{train_path.name} 320 / {valid_path.name} 48 alpaca records")

    config = TrainConfig.from_dict({
        "model": {"path": str(model_dir)},
        "data": {"train_path": str(train_path), "valid_path": str(valid_path), "packing": True},
        "training": {
            "max_steps": 60, "train_batch_size_per_device": 4, "context_length": 256, "learning_rate": 1e-2,
            "lr_scheduler": "cosine", "warmup_steps": 0.05, "eval_steps": 20, "save_steps": 60, "logging_steps": 10,
        },
        # embed_tokens and lm_head as in the Anyscale template: a random-init model has everything to learn there
        "lora_config": {"r": 16, "lora_alpha": 32, "lora_dropout": 0.0,
                        "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj",
                                           "embed_tokens", "lm_head"]},
        "output_dir": str(root / "run"),
    })
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a model this small runs fastest on one thread, and leaves the others alone
    try:
        result = train(config, progress=False, log=lambda line: print("  " + line.replace("\n", "\n  ")))
        m = result.metrics
        merged = merge(result.output_dir, log=lambda line: print("  " + line))
        model, tokenizer, _ = load_for_eval(merged.merged_dir)
        check = perplexity_on_file(model, tokenizer, valid_path, context_length=256)
        sample = generate(model, tokenizer, ["Give the opposite of: hot"], max_new_tokens=16)[0]["generated"]
    finally:
        torch.set_num_threads(threads)
    print(f"LoRA, {m['trainable_params']:,} of {m['total_params']:,} parameters trained, {m['steps']} steps")
    print(f"valid loss       {m['eval_loss_before']:.3f} -> {m['eval_loss_after']:.3f}")
    print(f"valid perplexity {m['perplexity_before']:.1f} -> {m['perplexity_after']:.1f} "
          f"(merged model, reloaded: {check.perplexity:.1f})")
    print(f"train tokens/s   {m['tokens_per_second']:,.0f} on {m['device']} ({m['precision']})")
    print(f"greedy answer to 'Give the opposite of: hot': {sample!r}")
    print(f"wrote {result.output_dir}/{{adapter, merged, metrics.json, loss.png, log.csv}}")
    (root / "summary.json").write_text(json.dumps({k: m[k] for k in (
        "eval_loss_before", "eval_loss_after", "perplexity_before", "perplexity_after", "tokens_per_second")}, indent=2))
