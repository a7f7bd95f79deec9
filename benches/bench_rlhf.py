"""RLHF on CPU with the tiny random-init Llama: does the reward model learn, and does GRPO/RLOO raise its reward?

For each seed: build the keyword preference pairs (chosen replies name a colour,
rejected ones do not; see ``tunesmith.tune.rlhf.make_keyword_pairs``), train the
reward model on 256 pairs and measure pairwise accuracy on 64 held-out pairs,
then optimize a fresh copy of the tiny model against it and report

* the mean reward of the first and last ``k`` training steps (each step's
  reward is the mean over its freshly sampled completions),
* the mean reward of one sampled completion per evaluation prompt before and
  after training (same seed, measured apart from training),
* the share of those sampled completions that name a colour, the behaviour the
  reward model was trained to prefer: does the policy learn the rule, not only
  some quirk of the reward model?

    python benches/bench_rlhf.py [--seeds 3] [--steps 60] [--k 10] [--algorithm grpo|rloo] [--threads 1]
                                 [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import tempfile
import time


def colour_share(completions: list[str]) -> float:
    from tunesmith.tune.rlhf import COLOURS

    return sum(any(c in text for c in COLOURS) for text in completions) / max(len(completions), 1)


def run_seed(model_dir: pathlib.Path, work: pathlib.Path, *, seed: int, steps: int, k: int, algorithm: str) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tunesmith.tune.rlhf import (
        _TOPICS, make_keyword_pairs, optimize_policy, sample_completions, train_reward_model,
    )

    pairs = make_keyword_pairs(320, seed=seed)
    evals = [f"Say something about the {t}." for t in _TOPICS] * 8  # 80 evaluation prompts
    rm = train_reward_model(model_dir, pairs[:256], work / f"rm{seed}", eval_pairs=pairs[256:], epochs=2,
                            learning_rate=1e-3, device="cpu", seed=seed)
    started = time.perf_counter()
    policy = optimize_policy(model_dir, rm.model_dir, [p["prompt"] for p in pairs[:256]], work / f"policy{seed}",
                             algorithm=algorithm, steps=steps, k=k, prompts_per_step=2, num_generations=8,
                             max_completion_length=12, learning_rate=6e-3, eval_prompts=evals, device="cpu", seed=seed)
    wall = time.perf_counter() - started
    tok = AutoTokenizer.from_pretrained(model_dir)
    shares = {}
    for tag, path in (("before", model_dir), ("after", policy.model_dir)):
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
        shares[tag] = colour_share(sample_completions(model, tok, evals, max_new_tokens=12, seed=seed + 1))
    return {
        "seed": seed,
        "rm_accuracy_before": rm.accuracy_before,
        "rm_accuracy": rm.accuracy,
        "rm_eval_loss": rm.eval_loss,
        "rm_seconds": rm.train_seconds,
        "reward_first_k": policy.reward_first,
        "reward_last_k": policy.reward_last,
        "sampled_reward_before": policy.sampled_reward_before,
        "sampled_reward_after": policy.sampled_reward_after,
        "colour_share_before": shares["before"],
        "colour_share_after": shares["after"],
        "policy_seconds": policy.train_seconds,
        "policy_wall_seconds": wall,
        "samples_after": [c for _, c, _ in policy.samples],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--algorithm", choices=["grpo", "rloo"], default="grpo")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=pathlib.Path)
    args = parser.parse_args()

    import torch
    import transformers

    from tunesmith.tune.tiny import build_tiny_model

    torch.set_num_threads(args.threads)
    transformers.utils.logging.set_verbosity_error()  # the classifier-from-causal-LM load report, once per seed
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = pathlib.Path(tmp)
        model_dir = build_tiny_model(work / "tiny")
        print(f"{args.algorithm.upper()}, {args.steps} steps of 2 prompts x 8 completions x <=12 tokens, "
              f"k={args.k}, {args.threads} thread(s), torch {torch.__version__}")
        print(f"{'seed':>4} {'RM acc':>7} {'first k':>8} {'last k':>8} {'sampled before':>15} {'after':>7} "
              f"{'colour before':>14} {'after':>6} {'RL s':>6}")
        for seed in range(args.seeds):
            r = run_seed(model_dir, work, seed=seed, steps=args.steps, k=args.k, algorithm=args.algorithm)
            rows.append(r)
            print(f"{seed:>4} {r['rm_accuracy']:>7.3f} {r['reward_first_k']:>8.3f} {r['reward_last_k']:>8.3f} "
                  f"{r['sampled_reward_before']:>15.3f} {r['sampled_reward_after']:>7.3f} "
                  f"{r['colour_share_before']:>14.3f} {r['colour_share_after']:>6.3f} {r['policy_seconds']:>6.1f}",
                  flush=True)
    mean = {key: statistics.fmean(r[key] for r in rows) for key in rows[0] if isinstance(rows[0][key], float)}
    print(f"mean {mean['rm_accuracy']:>7.3f} {mean['reward_first_k']:>8.3f} {mean['reward_last_k']:>8.3f} "
          f"{mean['sampled_reward_before']:>15.3f} {mean['sampled_reward_after']:>7.3f} "
          f"{mean['colour_share_before']:>14.3f} {mean['colour_share_after']:>6.3f} {mean['policy_seconds']:>6.1f}")
    print("samples after training (seed 0):", rows[0]["samples_after"])
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "runs": rows,
                                         "mean": mean}, indent=2) + "\n")


if __name__ == "__main__":
    main()
