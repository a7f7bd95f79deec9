"""RLHF: the preference data, the Bradley–Terry loss, argument checks, and a reward model + GRPO run on CPU."""

from __future__ import annotations

import doctest
import json
import math
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tunesmith.errors import ArgumentError, InputError
from tunesmith.tune import rlhf
from tunesmith.tune.rlhf import COLOURS, make_keyword_pairs


def _words(text: str) -> list[str]:
    return text.rstrip(".").split()


# --- data: no torch needed -------------------------------------------------------------------------


@given(n=st.integers(0, 60), noise=st.floats(0, 1), seed=st.integers(0, 2**16))
def test_keyword_pairs_follow_the_rule(n, noise, seed):
    pairs = make_keyword_pairs(n, noise_fraction=noise, seed=seed)
    assert len(pairs) == n
    n_noise = 0
    for p in pairs:
        assert p["prompt"].startswith("Say something about the ")
        chosen = _words(p["chosen"])
        assert 1 <= sum(w in COLOURS for w in chosen) <= 3 and chosen[0] not in COLOURS
        assert not any(c in p["rejected"] for c in COLOURS)
        rejected = _words(p["rejected"])
        if p["rejected"].endswith(".") and len(rejected) == len(chosen) and all(
            a == b for a, b in zip(chosen, rejected, strict=True) if a not in COLOURS
        ):
            continue  # a minimal pair: only the colour words differ
        n_noise += 1
    assert n_noise == round(n * noise)
    assert make_keyword_pairs(n, noise_fraction=noise, seed=seed) == pairs


def test_keyword_pairs_custom_keywords_and_docstring_example():
    pairs = make_keyword_pairs(30, keywords=["apple"], noise_fraction=0.0, seed=3)
    assert all("apple" in _words(p["chosen"]) and "apple" not in _words(p["rejected"]) for p in pairs)
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner()
    for test in finder.find(make_keyword_pairs, globs={"make_keyword_pairs": make_keyword_pairs, "COLOURS": COLOURS}):
        runner.run(test)
    assert runner.summarize(verbose=False).failed == 0 and runner.summarize(verbose=False).attempted > 0


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"n": -1}, "n must be >= 0"),
    ({"n": 3, "noise_fraction": 1.5}, "noise_fraction must be between 0 and 1"),
    ({"n": 3, "keywords": []}, "keywords must be a non-empty list"),
    ({"n": 3, "keywords": ["two words"]}, "keywords must be a non-empty list"),
])
def test_keyword_pairs_reject_bad_arguments(kwargs, message):
    with pytest.raises(ArgumentError, match=message):
        make_keyword_pairs(**kwargs)


def test_preference_rows_name_the_record_and_field(tmp_path):
    with pytest.raises(InputError, match=r"train_pairs\[1\]\.chosen: missing"):
        rlhf._preference_rows([{"prompt": "a", "chosen": "b", "rejected": "c"}, {"prompt": "a", "rejected": "c"}],
                              "train_pairs")
    with pytest.raises(InputError, match=r"train_pairs\[0\]\.rejected: expected a string or a non-empty list"):
        rlhf._preference_rows([{"prompt": "a", "chosen": "b", "rejected": 3}], "train_pairs")
    path = tmp_path / "pairs.jsonl"
    path.write_text('{"prompt": "a", "chosen": "b", "rejected": "c"}\n{"prompt": "a", "chosen": "b"}\n')
    with pytest.raises(InputError, match=r"pairs\.jsonl.*2.*rejected"):
        rlhf._preference_rows(path, "train_pairs")
    rows = rlhf._preference_rows([{"prompt": "p", "chosen": [{"role": "assistant", "content": "x"}], "rejected": "y"}],
                                 "train_pairs")
    assert rows == [{"prompt": [{"role": "user", "content": "p"}], "chosen": [{"role": "assistant", "content": "x"}],
                     "rejected": [{"role": "assistant", "content": "y"}]}]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"algorithm": "ppo"}, r"algorithm: 'ppo' is not one of 'grpo', 'rloo'"),
    ({"num_generations": 1}, "num_generations must be >= 2"),
    ({"steps": 6, "k": 4}, r"k \(4\) must be at most steps / 2 \(3\)"),
    ({"beta": -0.1}, "beta must be >= 0"),
    ({"learning_rate": 0.0}, "learning_rate must be > 0"),
])
def test_optimize_policy_checks_arguments_before_loading_anything(kwargs, message):
    with pytest.raises(ArgumentError, match=message):
        rlhf.optimize_policy("no-such-model", "no-such-rm", ["hi"], "/nonexistent/out", **kwargs)


def test_train_reward_model_checks_arguments_before_loading_anything():
    pairs = make_keyword_pairs(4)
    with pytest.raises(ArgumentError, match="eval_fraction must be between 0 and 1"):
        rlhf.train_reward_model("no-such-model", pairs, "/nonexistent/out", eval_fraction=1.0)
    with pytest.raises(ArgumentError, match="batch_size must be > 0"):
        rlhf.train_reward_model("no-such-model", pairs, "/nonexistent/out", batch_size=0)
    with pytest.raises(ArgumentError, match="device: 'tpu' is not one of 'auto', 'cpu', 'cuda'"):
        rlhf.RLHFTrainer("m", "r", device="tpu")


def test_importing_rlhf_leaves_torch_out():
    code = "import sys, tunesmith.tune.rlhf; print('torch' in sys.modules or 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


# --- with torch ------------------------------------------------------------------------------------


@pytest.mark.train
@given(diffs=st.lists(st.tuples(st.floats(-30, 30), st.floats(-30, 30)), min_size=1, max_size=8),
       margin=st.floats(0, 2))
def test_bradley_terry_loss_matches_the_formula(torch_one_thread, diffs, margin):
    import torch

    chosen = torch.tensor([c for c, _ in diffs], dtype=torch.float64)
    rejected = torch.tensor([r for _, r in diffs], dtype=torch.float64)
    # -log σ(d) = log(1 + e^{-d}), written the overflow-safe way for the reference
    want = sum(math.log1p(math.exp(-abs(c - r - margin))) + max(0.0, -(c - r - margin)) for c, r in diffs) / len(diffs)
    got = float(rlhf.bradley_terry_loss(chosen, rejected, margin))
    assert got == pytest.approx(want, rel=1e-9, abs=1e-12)
    with pytest.raises(ArgumentError, match="chosen has shape"):
        rlhf.bradley_terry_loss(chosen, rejected[:0])


@pytest.mark.train
def test_bradley_terry_loss_docstring_runs(torch_one_thread):
    runner = doctest.DocTestRunner()
    globs = {"bradley_terry_loss": rlhf.bradley_terry_loss}
    for test in doctest.DocTestFinder().find(rlhf.bradley_terry_loss, globs=globs):
        runner.run(test)
    assert runner.summarize(verbose=False).failed == 0 and runner.summarize(verbose=False).attempted == 3


@pytest.mark.train
def test_scoring_text_is_what_trl_trains_and_rewards_on(tokenizer):
    from trl.data_utils import _tokenize, apply_chat_template

    pair = make_keyword_pairs(1, seed=5)[0]
    prompt = [{"role": "user", "content": pair["prompt"]}]
    reply = [{"role": "assistant", "content": pair["chosen"]}]
    text = rlhf.format_conversation(tokenizer, pair["prompt"], pair["chosen"])
    # GRPOTrainer/RLOOTrainer: the chat template over prompt + completion, tokenized without special tokens
    assert text == apply_chat_template({"messages": prompt + reply}, tokenizer)["text"]
    # RewardTrainer: the chat template over prompt + chosen, tokenized by apply_chat_template
    assert tokenizer(text, add_special_tokens=False)["input_ids"] == _tokenize(tokenizer, prompt + reply)["input_ids"]


def _run_rlhf(tiny, out, *, algorithm="grpo", steps=24, k=5, eval_prompts=None, seed=0):
    """The seed guide's face end to end: reward model, then on-policy optimization against it."""
    pairs = make_keyword_pairs(160, seed=seed)
    trainer = rlhf.RLHFTrainer(str(tiny["model"]), reward_model_name=str(tiny["model"]), device="cpu", seed=seed)
    rm = trainer.train_reward_model(pairs[:128], str(out / "rm"), eval_pairs=pairs[128:], epochs=2,
                                    learning_rate=1e-3)
    policy = trainer.train_with_ppo([p["prompt"] for p in pairs], str(out / "policy"), algorithm=algorithm,
                                    steps=steps, k=k, prompts_per_step=2, num_generations=8,
                                    max_completion_length=12, learning_rate=6e-3, eval_prompts=eval_prompts)
    return trainer, pairs, rm, policy


@pytest.mark.train
def test_reward_model_learns_and_grpo_raises_the_reward(tiny, tmp_path, torch_one_thread):
    trainer, pairs, rm, policy = _run_rlhf(tiny, tmp_path)

    # the reward model ranks held-out pairs (a random head can sit anywhere, even below chance)
    assert rm.train_pairs == 128 and rm.eval_pairs == 32 and rm.steps == 16
    assert rm.accuracy >= 0.9
    assert rm.eval_loss < rm.eval_loss_before / 4 and rm.margin > 1
    assert (rm.model_dir / "config.json").exists() and (rm.model_dir / "tokenizer.json").exists()
    saved = json.loads((rm.output_dir / "metrics.json").read_text())
    assert saved["accuracy"] == rm.accuracy and saved["stage"] == "reward_model" and saved["device"] == "cpu"
    assert trainer.reward_model_name == str(rm.model_dir)

    # _get_reward scores one pair the way the held-out metric does
    held = pairs[130]
    chosen = trainer._get_reward(held["prompt"], held["chosen"])
    rejected = trainer._get_reward(held["prompt"], held["rejected"])
    assert chosen.shape == () and float(chosen) > float(rejected)

    # the policy: one logged reward per step, and the last steps score clearly above the first
    assert policy.algorithm == "grpo" and policy.steps == 24 and len(policy.reward_curve) == 24
    assert policy.reward_first == pytest.approx(sum(policy.reward_curve[:5]) / 5)
    assert policy.reward_last == pytest.approx(sum(policy.reward_curve[-5:]) / 5)
    assert policy.reward_last > policy.reward_first + 0.3, policy.reward_curve
    assert (policy.model_dir / "model.safetensors").exists()
    saved = json.loads((policy.output_dir / "metrics.json").read_text())
    assert saved["reward_curve"] == policy.reward_curve and saved["stage"] == "policy"


@pytest.mark.train
@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["grpo", "rloo"])
def test_longer_run_policy_learns_to_say_colours(tiny, tmp_path, torch_one_thread, algorithm):
    evals = [f"Say something about the {w}." for w in rlhf._TOPICS] * 4
    _, _, rm, policy = _run_rlhf(tiny, tmp_path, algorithm=algorithm, steps=60, k=10, eval_prompts=evals)
    assert rm.accuracy >= 0.95
    assert policy.reward_last > policy.reward_first + 1.0, policy.reward_curve
    # measured apart from training: fresh samples on the evaluation prompts, same seed before and after
    assert policy.sampled_reward_after > policy.sampled_reward_before + 1.0
    assert len(policy.samples) == 4 and all(isinstance(c, str) for _, c, _ in policy.samples)


@pytest.mark.train
@pytest.mark.slow
def test_lora_adapters_are_merged_into_standalone_models(tiny, tmp_path, torch_one_thread):
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    pairs = make_keyword_pairs(160, seed=0)
    rm = rlhf.train_reward_model(
        tiny["model"], pairs[:128], tmp_path / "rm", eval_pairs=pairs[128:], epochs=2, learning_rate=1e-2,
        device="cpu", peft_config=LoraConfig(task_type="SEQ_CLS", r=8, lora_alpha=16, target_modules="all-linear"),
    )
    assert rm.accuracy >= 0.9
    policy = rlhf.optimize_policy(
        tiny["model"], rm.model_dir, [p["prompt"] for p in pairs], tmp_path / "policy", steps=4, k=2,
        prompts_per_step=2, max_completion_length=8, learning_rate=1e-2, beta=0.02, device="cpu",
        peft_config=LoraConfig(task_type="CAUSAL_LM", r=8, lora_alpha=16, target_modules="all-linear"),
    )
    assert policy.steps == 4 and len(policy.reward_curve) == 4
    # merged: plain transformers folders, no adapter files, loadable without peft
    for folder in (rm.model_dir, policy.model_dir):
        assert not (folder / "adapter_config.json").exists() and (folder / "model.safetensors").exists()
    reloaded = AutoModelForSequenceClassification.from_pretrained(rm.model_dir, num_labels=1)
    tok = rlhf._tokenizer(rm.model_dir)
    assert rlhf.pairwise_accuracy(reloaded, tok, pairs[128:])["accuracy"] == pytest.approx(rm.accuracy)
    tuned = AutoModelForCausalLM.from_pretrained(policy.model_dir)
    base = AutoModelForCausalLM.from_pretrained(tiny["model"])
    assert any((a - b).abs().max() > 0 for a, b in zip(tuned.parameters(), base.parameters(), strict=True))
