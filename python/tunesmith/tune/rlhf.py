"""RLHF: a reward model trained on preference pairs, then on-policy optimization of a policy against it.

The seed guide's last pattern (``RLHFTrainer.train_reward_model`` /
``train_with_ppo`` / ``_get_reward``) sketched PPO through ``trl.PPOTrainer``
and ``AutoModelForCausalLMWithValueHead``. TRL 1.16, the installed version,
ships neither: its on-policy trainers are ``GRPOTrainer`` and ``RLOOTrainer``.
Both are critic-free policy-gradient methods with PPO's clipped surrogate:

* GRPO (Shao et al. 2024, arXiv:2402.03300) samples ``G`` completions per
  prompt and uses the group-normalised reward ``(r - mean) / std`` as each
  completion's advantage; TRL's default drops the KL term (``beta = 0``), so no
  reference model is held.
* RLOO (Ahmadian et al. 2024, arXiv:2402.14740) uses the leave-one-out
  baseline ``r_i - mean(r_{j != i})`` and keeps PPO-RLHF's KL penalty to the
  starting policy (TRL's default ``beta = 0.05``).

We default to GRPO: without a value head there is no critic to train (the
sketch's PPO needs one as large as the policy), the group baseline gives a
usable signal from the first step even when every reward is far from zero,
and TRL maintains it most actively. ``algorithm="rloo"`` runs RLOO with the
same arguments.

Step 1, the reward model, is ``AutoModelForSequenceClassification`` with
``num_labels=1`` trained by TRL's ``RewardTrainer`` on the pairwise
Bradley–Terry loss ``-log σ(r(x, y_chosen) - r(x, y_rejected))`` (Ouyang et al.
2022, arXiv:2203.02155, eq. 1). We then measure it ourselves on held-out pairs
(:func:`pairwise_accuracy`), one pair at a time, rather than trusting the
trainer's per-batch averages.

The reward model sees exactly the text the policy trainer later feeds it: the
chat template applied to the prompt messages plus one assistant message
(:func:`format_conversation`); :func:`score` is the single scoring path used
for the held-out metrics and for ``_get_reward``.

Devices: ``device="auto"`` trains on CUDA when torch sees one and on CPU
otherwise; ``precision="auto"`` is bf16 autocast on a CUDA card that supports
it, fp16 on an older one, fp32 on CPU. Weights stay fp32 (full fine-tuning:
bf16 weights would round small updates away). Nothing else changes between
the two, so the same call runs on a laptop and on a GPU.

Example (a tiny random-init model from :func:`tunesmith.tune.tiny.build_tiny_model`, hence the high
learning rates; ``tests/tune/test_rlhf.py`` runs the same)::

    from tunesmith.tune.rlhf import make_keyword_pairs, optimize_policy, train_reward_model

    pairs = make_keyword_pairs(160, seed=0)
    rm = train_reward_model("tiny", pairs[:128], "out/rm", eval_pairs=pairs[128:], epochs=2, learning_rate=1e-3)
    print(rm.accuracy)                           # 1.0 on the 32 held-out pairs
    run = optimize_policy("tiny", rm.model_dir, [p["prompt"] for p in pairs], "out/policy",
                          steps=24, prompts_per_step=2, max_completion_length=12, learning_rate=6e-3)
    print(run.reward_first, run.reward_last)     # mean reward of the first and last 5 steps: it rises
"""

from __future__ import annotations

import contextlib
import json
import math
import pathlib
import random
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from tunesmith.errors import ArgumentError, InputError
from tunesmith.tune.dpo import as_messages

__all__ = [
    "ALGORITHMS",
    "COLOURS",
    "PolicyResult",
    "RLHFTrainer",
    "RewardModelResult",
    "bradley_terry_loss",
    "format_conversation",
    "make_keyword_pairs",
    "optimize_policy",
    "pairwise_accuracy",
    "sample_completions",
    "score",
    "train_reward_model",
]

ALGORITHMS = ("grpo", "rloo")
_DEVICES = ("auto", "cpu", "cuda")
_PRECISIONS = ("auto", "fp32", "bf16", "fp16")

Messages = list[dict[str, str]]


# --- data ------------------------------------------------------------------------------------------


_FILLER = ["apple", "river", "stone", "cloud", "table", "garden", "window", "bridge", "candle", "mirror",
           "the", "and", "is", "of", "old", "new", "near", "far"]
COLOURS = ("red", "green", "blue", "yellow", "black", "white", "purple", "orange")
# what a random-init policy decodes to: word pieces, punctuation, odd bytes
_NOISE = list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:'!?-_*&%$#@()[]{}<>|/\\\"~^`") + [
    "\ufffd", "\u0120", "\x0c", "\x1e", "\x7f"]
_TOPICS = ["apple", "river", "stone", "cloud", "table", "garden", "window", "bridge", "candle", "mirror"]


def make_keyword_pairs(
    n: int, *, keywords: Sequence[str] = COLOURS, noise_fraction: float = 0.5, seed: int = 0
) -> list[dict[str, str]]:
    """Preference pairs with a learnable rule: the chosen reply names one of ``keywords``, the rejected one none.

    Two kinds of pair, mixed in shuffled order:

    * minimal pairs: the rejected reply is the chosen one with each keyword
      replaced by a filler word, so the keywords are the only difference;
    * noise pairs (a share ``noise_fraction``): the rejected reply is a string of
      random characters, like what an untrained policy emits. Without them a
      reward model is free to score gibberish anywhere (it never saw any), and
      can even rank it above every real reply ("fewer filler words is better"
      explains minimal pairs too), which leaves a random-init policy no room to
      improve. With them, the untrained policy starts low and moving towards
      keyword replies scores higher.

    A tiny random-init reward model learns both rules in a few epochs, which
    makes the reward a known quantity for testing the policy-optimization step.
    The default keywords, eight colours, are single tokens (after a space) in
    :func:`tunesmith.tune.tiny.build_tiny_model`'s tokenizer, so an untrained
    policy that samples about uniformly from its 512 tokens hits one in about 1
    of 64 tokens: rare enough to leave room to improve, frequent enough that
    every batch of completions carries some signal. Replies start with a filler
    word so a keyword always follows a space.

    Args:
        n: number of pairs.
        keywords: the words chosen replies contain (one to three of them).
        noise_fraction: share of pairs whose rejected reply is random characters (0 to 1).
        seed: seed of the generator (same seed, same pairs).

    Returns:
        ``n`` dicts with ``prompt``, ``chosen`` and ``rejected`` strings.

    Raises:
        ArgumentError: ``n`` is negative, ``noise_fraction`` is outside [0, 1], or ``keywords`` is empty or
            holds something that is not one word.

    Example:
        >>> pair = make_keyword_pairs(1, noise_fraction=0.0)[0]
        >>> [any(w in COLOURS for w in pair[k].rstrip(".").split()) for k in ("chosen", "rejected")]
        [True, False]
    """
    if n < 0:
        raise ArgumentError(f"make_keyword_pairs: n must be >= 0, got {n}")
    if not 0 <= noise_fraction <= 1:
        raise ArgumentError(f"make_keyword_pairs: noise_fraction must be between 0 and 1, got {noise_fraction}")
    keywords = list(keywords)
    if not keywords or any(not isinstance(w, str) or w.split() != [w] for w in keywords):
        raise ArgumentError(f"make_keyword_pairs: keywords must be a non-empty list of single words, got {keywords!r}")
    rng = random.Random(seed)
    fillers = [w for w in _FILLER if w not in keywords]
    if not fillers:
        raise ArgumentError(f"make_keyword_pairs: keywords {keywords!r} leave no filler words to build replies from")
    n_noise = round(n * noise_fraction)
    kinds = [True] * n_noise + [False] * (n - n_noise)
    rng.shuffle(kinds)
    out = []
    for noisy in kinds:
        topic = rng.choice(_TOPICS)
        words = [rng.choice(fillers) for _ in range(rng.randint(4, 9))]
        slots = rng.sample(range(1, len(words)), rng.randint(1, 3))
        chosen = list(words)
        rejected = list(words)
        for i in slots:
            chosen[i] = rng.choice(keywords)
            rejected[i] = rng.choice(fillers)
        chosen_text = " ".join(chosen) + "."
        if noisy:
            rejected_text = "".join(rng.choice(_NOISE) for _ in range(rng.randint(8, 40)))
            # random letters spelling a keyword are astronomically rare, but the rule must hold exactly
            while any(w in rejected_text for w in keywords):
                rejected_text = "".join(rng.choice(_NOISE) for _ in range(len(rejected_text)))
        else:
            rejected_text = " ".join(rejected) + "."
        out.append({"prompt": f"Say something about the {topic}.", "chosen": chosen_text, "rejected": rejected_text})
    return out


def _preference_rows(data: Sequence[dict[str, Any]] | str | pathlib.Path, argument: str) -> list[dict[str, Messages]]:
    """Rows in TRL's conversational preference format, from a JSONL/JSON path or a list of dicts."""
    if isinstance(data, (str, pathlib.Path)):
        from tunesmith.tune.dpo import load_preference_records

        return load_preference_records(data)
    rows = []
    for i, record in enumerate(data):
        if not isinstance(record, dict):
            raise InputError(f"{argument}[{i}]: expected a dict with prompt, chosen and rejected, "
                             f"got {type(record).__name__}")
        rows.append({
            "prompt": as_messages(record.get("prompt"), f"{argument}[{i}].prompt", "user"),
            "chosen": as_messages(record.get("chosen"), f"{argument}[{i}].chosen", "assistant"),
            "rejected": as_messages(record.get("rejected"), f"{argument}[{i}].rejected", "assistant"),
        })
    return rows


def _prompt_rows(prompts: Sequence[str | Messages], argument: str) -> list[Messages]:
    return [as_messages(p, f"{argument}[{i}]", "user") for i, p in enumerate(prompts)]


# --- the pairwise loss and scoring -----------------------------------------------------------------


def bradley_terry_loss(chosen: Any, rejected: Any, margin: Any = None) -> Any:
    """Mean pairwise Bradley–Terry loss ``-log σ(r_chosen - r_rejected - margin)``.

    The reward model's objective (InstructGPT, arXiv:2203.02155 eq. 1; TRL's
    ``RewardTrainer.compute_loss``): the probability that the chosen reply wins
    is ``σ(r_c - r_r)``. ``logsigmoid`` keeps it finite for large differences.

    Args:
        chosen: tensor of rewards of the chosen replies, shape ``[n]``.
        rejected: tensor of rewards of the rejected replies, shape ``[n]``.
        margin: optional tensor ``[n]`` (or float) the chosen reward must exceed the rejected one by.

    Returns:
        A scalar tensor.

    Raises:
        ArgumentError: the shapes differ.

    Example:
        >>> import torch
        >>> round(float(bradley_terry_loss(torch.tensor([0.0]), torch.tensor([0.0]))), 4)  # log 2: a coin toss
        0.6931
        >>> round(float(bradley_terry_loss(torch.tensor([3.0]), torch.tensor([1.0]))), 4)  # log(1 + e^-2)
        0.1269
    """
    import torch.nn.functional as F

    if chosen.shape != rejected.shape:
        raise ArgumentError(f"bradley_terry_loss: chosen has shape {tuple(chosen.shape)}, "
                            f"rejected {tuple(rejected.shape)}; they must match")
    diff = chosen - rejected
    if margin is not None:
        diff = diff - margin
    return -F.logsigmoid(diff).mean()


def format_conversation(tokenizer: Any, prompt: str | Messages, response: str | Messages) -> str:
    """The text the reward model scores: the chat template over the prompt and the assistant's reply.

    The same text TRL builds in ``RewardTrainer`` (prompt + chosen messages) and in
    ``GRPOTrainer``/``RLOOTrainer`` (prompt + completion), so training, evaluation
    and the policy's reward all see one format.

    Args:
        tokenizer: a tokenizer with a chat template.
        prompt: the user's message, or a list of messages.
        response: the assistant's reply, or a list of messages.

    Returns:
        The formatted text (no generation prompt).
    """
    messages = as_messages(prompt, "prompt", "user") + as_messages(response, "response", "assistant")
    return tokenizer.apply_chat_template(messages, tokenize=False)


def score(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str | Messages],
    responses: Sequence[str | Messages],
    *,
    batch_size: int = 32,
) -> list[float]:
    """Rewards of ``(prompt, response)`` pairs under a sequence-classification reward model (one label).

    Args:
        model: an ``AutoModelForSequenceClassification`` with ``num_labels=1``.
        tokenizer: its tokenizer (with a chat template and a pad token).
        prompts: one prompt per response.
        responses: the replies to score.
        batch_size: pairs per forward pass.

    Returns:
        One float per pair.

    Raises:
        ArgumentError: the lengths differ or ``batch_size < 1``.
    """
    import torch

    if len(prompts) != len(responses):
        raise ArgumentError(f"score: {len(prompts)} prompts but {len(responses)} responses; "
                            "give one prompt per response")
    if batch_size < 1:
        raise ArgumentError(f"score: batch_size must be >= 1, got {batch_size}")
    texts = [format_conversation(tokenizer, p, r) for p, r in zip(prompts, responses, strict=True)]
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out: list[float] = []
    try:
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                batch = tokenizer(texts[start:start + batch_size], return_tensors="pt", padding=True,
                                  padding_side="right", add_special_tokens=False).to(device)
                out.extend(float(x) for x in model(**batch).logits[:, 0].float().cpu())
    finally:
        model.train(was_training)
    return out


def pairwise_accuracy(
    model: Any, tokenizer: Any, pairs: Sequence[dict[str, Any]], *, batch_size: int = 32
) -> dict[str, float]:
    """Held-out metrics of a reward model on preference pairs, each pair scored on its own.

    Args:
        model: the reward model.
        tokenizer: its tokenizer.
        pairs: dicts with ``prompt``, ``chosen``, ``rejected`` (strings or message lists).
        batch_size: pairs per forward pass.

    Returns:
        ``accuracy`` (fraction of pairs with ``r(chosen) > r(rejected)``; ties count as wrong),
        ``loss`` (mean Bradley–Terry loss), ``margin`` (mean ``r(chosen) - r(rejected)``), ``pairs``.

    Raises:
        ArgumentError: ``pairs`` is empty.
        InputError: a pair lacks a field.
    """
    import torch

    if not pairs:
        raise ArgumentError("pairwise_accuracy: pairs is empty; give at least one held-out pair")
    rows = _preference_rows(pairs, "pairs")
    prompts = [r["prompt"] for r in rows]
    chosen = torch.tensor(score(model, tokenizer, prompts, [r["chosen"] for r in rows], batch_size=batch_size))
    rejected = torch.tensor(score(model, tokenizer, prompts, [r["rejected"] for r in rows], batch_size=batch_size))
    return {
        "accuracy": float((chosen > rejected).float().mean()),
        "loss": float(bradley_terry_loss(chosen, rejected)),
        "margin": float((chosen - rejected).mean()),
        "pairs": float(len(rows)),
    }


# --- results ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RewardModelResult:
    """What :func:`train_reward_model` measured and where it saved the model.

    Attributes:
        output_dir: the run's folder; the reward model and its tokenizer are in ``output_dir / "model"``.
        model_dir: ``output_dir / "model"`` (load with ``AutoModelForSequenceClassification.from_pretrained``).
        train_pairs: pairs trained on (after TRL drops those longer than ``max_length``).
        eval_pairs: held-out pairs measured.
        accuracy: held-out pairwise accuracy after training.
        accuracy_before: the same before training (about 0.5 for a random head).
        eval_loss: held-out Bradley–Terry loss after training.
        eval_loss_before: the same before training.
        margin: mean held-out ``r(chosen) - r(rejected)`` after training.
        steps: optimizer steps.
        train_seconds: wall time of ``trainer.train()``.
        device: ``cpu`` or ``cuda``.
        precision: ``fp32``, ``bf16`` or ``fp16`` (autocast; weights are fp32).
        history: the trainer's log history (train loss, accuracy, margin per logging step).
    """

    output_dir: pathlib.Path
    model_dir: pathlib.Path
    train_pairs: int
    eval_pairs: int
    accuracy: float
    accuracy_before: float
    eval_loss: float
    eval_loss_before: float
    margin: float
    steps: int
    train_seconds: float
    device: str
    precision: str
    history: list[dict[str, Any]] = field(repr=False)


@dataclass(frozen=True)
class PolicyResult:
    """What :func:`optimize_policy` measured and where it saved the policy.

    Attributes:
        output_dir: the run's folder; the policy and its tokenizer are in ``output_dir / "model"``.
        model_dir: ``output_dir / "model"``.
        algorithm: ``grpo`` or ``rloo``.
        steps: optimizer steps (one fresh batch of completions each: fully on-policy).
        reward_curve: mean reward-model reward of each step's sampled completions, step by step.
        k: how many steps :attr:`reward_first` and :attr:`reward_last` average.
        reward_first: mean of the first ``k`` entries of :attr:`reward_curve`.
        reward_last: mean of the last ``k`` entries.
        sampled_reward_before: mean reward of completions sampled from the starting policy for the evaluation
            prompts (same sampling settings and seed as after), or None when no evaluation prompts were given.
        sampled_reward_after: the same for the trained policy.
        samples: a few ``(prompt, completion, reward)`` triples from the trained policy.
        train_seconds: wall time of ``trainer.train()``.
        device: ``cpu`` or ``cuda``.
        precision: ``fp32``, ``bf16`` or ``fp16``.
        history: the trainer's log history.
    """

    output_dir: pathlib.Path
    model_dir: pathlib.Path
    algorithm: str
    steps: int
    reward_curve: list[float]
    k: int
    reward_first: float
    reward_last: float
    sampled_reward_before: float | None
    sampled_reward_after: float | None
    samples: list[tuple[str, str, float]]
    train_seconds: float
    device: str
    precision: str
    history: list[dict[str, Any]] = field(repr=False)


# --- helpers shared by both steps ------------------------------------------------------------------


def _check_choice(name: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ArgumentError(f"{name}: {value!r} is not one of {', '.join(repr(c) for c in choices)}")


def _check_positive(**values: float) -> None:
    for name, value in values.items():
        if not value > 0:
            raise ArgumentError(f"{name} must be > 0, got {value}")


def _resolve(device: str, precision: str) -> tuple[str, str]:
    """(device, precision) after ``auto``: CUDA and bf16 (fp16 before Ampere) when present, else CPU and fp32."""
    import torch

    _check_choice("device", device, _DEVICES)
    _check_choice("precision", precision, _PRECISIONS)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    elif device == "cuda" and not torch.cuda.is_available():
        from tunesmith.errors import UnsupportedError

        raise UnsupportedError("device: 'cuda' was asked for but torch sees no CUDA device; use 'auto' or 'cpu'")
    if precision == "auto":
        if device == "cuda":
            precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        else:
            precision = "fp32"
    elif precision == "fp16" and device == "cpu":
        from tunesmith.errors import UnsupportedError

        raise UnsupportedError("precision: 'fp16' mixed precision needs a CUDA device; use 'fp32' or 'bf16' on CPU")
    return device, precision


def _common_args(config_cls: Any, *, output_dir: pathlib.Path, device: str, precision: str, seed: int,
                 learning_rate: float, batch_size: int, logging_steps: int) -> dict[str, Any]:
    # transformers 5 renamed gradient checkpointing to activation checkpointing; TRL's configs default the old
    # name to True, which would warn and slow a small model down for nothing.
    checkpointing = ("activation_checkpointing" if "activation_checkpointing" in config_cls.__dataclass_fields__
                     else "gradient_checkpointing")
    return {
        "output_dir": str(output_dir / "checkpoints"),
        "learning_rate": learning_rate,
        "per_device_train_batch_size": batch_size,
        "gradient_accumulation_steps": 1,
        "lr_scheduler_type": "constant",
        "warmup_steps": 0,
        "bf16": precision == "bf16",
        "fp16": precision == "fp16",
        "use_cpu": device == "cpu",
        "dataloader_pin_memory": device == "cuda",
        checkpointing: False,
        "seed": seed,
        "data_seed": seed,
        "logging_steps": logging_steps,
        "logging_first_step": True,
        "save_strategy": "no",
        "report_to": "none",
        "disable_tqdm": True,
    }


def _tokenizer(path: str | pathlib.Path) -> Any:
    from transformers import AutoTokenizer

    from tunesmith.tune.data import ensure_chat_template

    tok = AutoTokenizer.from_pretrained(str(path))
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    ensure_chat_template(tok)
    return tok


def _quiet_trainer(trainer: Any) -> None:
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)


def _write_json(path: pathlib.Path, value: dict[str, Any]) -> None:
    from tunesmith.data.formats import atomic_write

    atomic_write(path, lambda f: f.write(json.dumps(value, indent=2, default=str) + "\n"))


def _quiet(_: str) -> None:
    return None


@contextlib.contextmanager
def _renamed_checkpointing_warning_off() -> Iterator[None]:
    """TRL 1.16 reads ``model.is_gradient_checkpointing`` (around every generation, and in PEFT set-up), a name
    transformers 5 deprecated: a FutureWarning per step that is not ours to fix and that no caller can act on."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)
        yield


def _merged(model: Any) -> Any:
    """A PEFT model with its adapter folded in (a plain transformers model), so the saved folder loads alone."""
    return model.merge_and_unload() if hasattr(model, "merge_and_unload") else model


# --- step 1: the reward model ----------------------------------------------------------------------


def train_reward_model(
    base_model: str | pathlib.Path,
    train_pairs: Sequence[dict[str, Any]] | str | pathlib.Path,
    output_dir: str | pathlib.Path,
    *,
    eval_pairs: Sequence[dict[str, Any]] | str | pathlib.Path | None = None,
    eval_fraction: float = 0.2,
    epochs: float = 3.0,
    learning_rate: float = 1e-5,
    batch_size: int = 16,
    max_length: int | None = 512,
    device: str = "auto",
    precision: str = "auto",
    seed: int = 0,
    peft_config: Any = None,
    log: Callable[[str], None] = _quiet,
) -> RewardModelResult:
    """Train a scalar reward model on ``prompt``/``chosen``/``rejected`` pairs and report held-out accuracy.

    ``base_model`` (a local folder or hub name of a causal LM or classifier) is
    loaded as ``AutoModelForSequenceClassification`` with ``num_labels=1`` (a new
    linear head on the last non-pad token) and trained in full by TRL's
    ``RewardTrainer`` on the Bradley–Terry loss. Accuracy, loss and margin on the
    held-out pairs are measured before and after with :func:`pairwise_accuracy`.

    Args:
        base_model: path or hub id of the model to start from.
        train_pairs: preference pairs (dicts or a JSONL/JSON file); ``prompt``, ``chosen``, ``rejected`` are
            strings or lists of ``{role, content}`` messages.
        output_dir: folder for ``model/``, ``metrics.json`` and the trainer's scratch files.
        eval_pairs: held-out pairs; when None, the last ``eval_fraction`` of ``train_pairs`` is held out.
        eval_fraction: share held out when ``eval_pairs`` is None (0 < f < 1).
        epochs: passes over the training pairs.
        learning_rate: AdamW learning rate (constant). The default suits a pretrained model (InstructGPT
            used 9e-6); a tiny random-init one needs about 1e-3.
        batch_size: pairs per step.
        max_length: pairs longer than this many tokens are dropped by TRL (None keeps all).
        device: ``auto``, ``cpu`` or ``cuda``.
        precision: ``auto``, ``fp32``, ``bf16`` or ``fp16``.
        seed: seed of the new head's initialisation and of the data order.
        peft_config: a ``peft`` config (e.g. ``LoraConfig(task_type="SEQ_CLS", ...)``) to train an adapter
            instead of all weights; the adapter is merged into the saved model, so ``model_dir`` loads alone.
        log: called with one line per stage.

    Returns:
        A :class:`RewardModelResult`.

    Raises:
        ArgumentError: an argument is out of range or names an unknown choice.
        InputError: a pair lacks a field (the message names the record).
        UnsupportedError: ``cuda``/``fp16`` asked for where they cannot run.
    """
    _check_positive(epochs=epochs, learning_rate=learning_rate, batch_size=batch_size)
    if eval_pairs is None and not 0 < eval_fraction < 1:
        raise ArgumentError(f"eval_fraction must be between 0 and 1 (exclusive) when eval_pairs is None, "
                            f"got {eval_fraction}")
    rows = _preference_rows(train_pairs, "train_pairs")
    if eval_pairs is None:
        n_eval = max(1, int(len(rows) * eval_fraction))
        rows, held_out = rows[:-n_eval], rows[-n_eval:]
    else:
        held_out = _preference_rows(eval_pairs, "eval_pairs")
    if not rows or not held_out:
        raise ArgumentError(f"train_reward_model: {len(rows)} training and {len(held_out)} held-out pairs; "
                            "both need at least one")
    device, precision = _resolve(device, precision)

    import datasets
    import torch
    import transformers
    from transformers import AutoModelForSequenceClassification
    from trl import RewardConfig, RewardTrainer

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    out = pathlib.Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = _tokenizer(base_model)
    # the new head is random: seed before building it so the same seed gives the same model
    transformers.set_seed(seed)
    model = AutoModelForSequenceClassification.from_pretrained(str(base_model), num_labels=1, dtype=torch.float32)
    model.config.pad_token_id = tokenizer.pad_token_id
    if device == "cuda":
        model.to("cuda")
    log(f"reward model: {type(model).__name__} from {base_model}, {sum(p.numel() for p in model.parameters()):,} "
        f"parameters, on {device} ({precision})")

    before = pairwise_accuracy(model, tokenizer, held_out, batch_size=batch_size)
    log(f"before: held-out accuracy {before['accuracy']:.3f}, Bradley-Terry loss {before['loss']:.4f} "
        f"({len(held_out)} pairs)")
    args = RewardConfig(
        **_common_args(RewardConfig, output_dir=out, device=device, precision=precision, seed=seed,
                       learning_rate=learning_rate, batch_size=batch_size, logging_steps=1),
        num_train_epochs=epochs,
        max_length=max_length,
    )
    with _renamed_checkpointing_warning_off():
        trainer = RewardTrainer(
            model=model,
            args=args,
            train_dataset=datasets.Dataset.from_list(rows),
            processing_class=tokenizer,
            peft_config=peft_config,
        )
    _quiet_trainer(trainer)
    kept = len(trainer.train_dataset)
    if kept == 0:
        raise ArgumentError(f"max_length: every training pair is longer than {max_length} tokens; "
                            "raise it or pass None")
    if kept < len(rows):
        log(f"note: {len(rows) - kept} of {len(rows)} training pairs are longer than max_length={max_length} "
            "tokens and were dropped")
    started = time.perf_counter()
    with _renamed_checkpointing_warning_off():
        trainer.train()
    wall = time.perf_counter() - started
    model = trainer.model
    after = pairwise_accuracy(model, tokenizer, held_out, batch_size=batch_size)
    log(f"after: held-out accuracy {after['accuracy']:.3f}, Bradley-Terry loss {after['loss']:.4f}, "
        f"margin {after['margin']:.3f}; {trainer.state.global_step} steps in {wall:.1f} s")

    model_dir = out / "model"
    model = _merged(model)
    model.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    result = RewardModelResult(
        output_dir=out, model_dir=model_dir, train_pairs=kept, eval_pairs=len(held_out),
        accuracy=after["accuracy"], accuracy_before=before["accuracy"], eval_loss=after["loss"],
        eval_loss_before=before["loss"], margin=after["margin"], steps=trainer.state.global_step,
        train_seconds=wall, device=device, precision=precision, history=list(trainer.state.log_history),
    )
    metrics = {k: v for k, v in asdict(result).items() if k != "history"}
    _write_json(out / "metrics.json", {"stage": "reward_model", "base_model": str(base_model), **metrics})
    return result


# --- step 2: on-policy optimization ---------------------------------------------------------------


def sample_completions(model: Any, tokenizer: Any, prompts: Sequence[str | Messages], *, max_new_tokens: int = 16,
                       temperature: float = 1.0, seed: int = 0) -> list[str]:
    """One sampled completion per prompt, formatted and decoded the way TRL's GRPO/RLOO trainers do it.

    The prompt gets the chat template with the generation prompt; sampling is
    plain temperature sampling over the whole vocabulary (no top-k/top-p), as in
    training; special tokens are dropped from the decoded text.

    Args:
        model: a causal LM.
        tokenizer: its tokenizer (with a chat template and a pad token).
        prompts: strings (a user message) or message lists.
        max_new_tokens: tokens per completion at most.
        temperature: sampling temperature (> 0).
        seed: ``torch.manual_seed`` before sampling, so the same model and seed give the same completions.

    Returns:
        One string per prompt.

    Raises:
        ArgumentError: ``max_new_tokens`` or ``temperature`` is not positive.
        InputError: a prompt is neither a string nor a message list.
    """
    import torch

    _check_positive(max_new_tokens=max_new_tokens, temperature=temperature)
    prompts = _prompt_rows(prompts, "prompts")
    if not prompts:
        return []
    device = next(model.parameters()).device
    texts = [tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in prompts]
    batch = tokenizer(texts, return_tensors="pt", padding=True, padding_side="left",
                      add_special_tokens=False).to(device)
    was_training = model.training
    model.eval()
    try:
        torch.manual_seed(seed)
        with torch.inference_mode():
            ids = model.generate(**batch, do_sample=True, temperature=temperature, top_k=0, top_p=1.0,
                                 max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id,
                                 eos_token_id=tokenizer.eos_token_id)
    finally:
        model.train(was_training)
    return tokenizer.batch_decode(ids[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)


def optimize_policy(
    policy_model: str | pathlib.Path,
    reward_model: str | pathlib.Path,
    prompts: Sequence[str | Messages],
    output_dir: str | pathlib.Path,
    *,
    algorithm: str = "grpo",
    steps: int = 40,
    prompts_per_step: int = 4,
    num_generations: int = 8,
    max_completion_length: int = 16,
    learning_rate: float = 1e-6,
    beta: float | None = None,
    temperature: float = 1.0,
    eval_prompts: Sequence[str | Messages] | None = None,
    k: int = 5,
    device: str = "auto",
    precision: str = "auto",
    seed: int = 0,
    peft_config: Any = None,
    log: Callable[[str], None] = _quiet,
) -> PolicyResult:
    """Optimize a causal LM against a reward model with TRL's on-policy ``GRPOTrainer`` or ``RLOOTrainer``.

    Every step samples ``num_generations`` completions for each of
    ``prompts_per_step`` prompts from the current policy, scores them with the
    reward model (:func:`format_conversation` text), and takes one clipped
    policy-gradient step with the group (GRPO) or leave-one-out (RLOO) baseline.
    The policy is fine-tuned in full unless ``peft_config`` asks for an adapter.

    Args:
        policy_model: path or hub id of the causal LM to optimize.
        reward_model: folder of a reward model (``num_labels=1``), e.g. :attr:`RewardModelResult.model_dir`;
            its tokenizer is loaded from the same folder.
        prompts: training prompts (strings or message lists); cycled through in shuffled order.
        output_dir: folder for ``model/``, ``metrics.json`` and the trainer's scratch files.
        algorithm: ``grpo`` or ``rloo``.
        steps: optimizer steps.
        prompts_per_step: distinct prompts per step.
        num_generations: completions per prompt (the group); at least 2.
        max_completion_length: tokens generated per completion at most.
        learning_rate: AdamW learning rate (constant). The default (TRL's GRPO recipes' 1e-6) suits a pretrained
            model; a tiny random-init one needs about 5e-3.
        beta: KL coefficient to the starting policy; None keeps the algorithm's TRL default (GRPO 0.0, RLOO 0.05).
        temperature: sampling temperature, in training and in the before/after evaluation.
        eval_prompts: prompts for the before/after sampled-reward measurement (None skips it).
        k: steps averaged at each end of the reward curve for :attr:`PolicyResult.reward_first`/``reward_last``.
        device: ``auto``, ``cpu`` or ``cuda``.
        precision: ``auto``, ``fp32``, ``bf16`` or ``fp16``.
        seed: seed of sampling, data order and initialisation.
        peft_config: a ``peft`` config (e.g. ``LoraConfig(task_type="CAUSAL_LM", ...)``) to train an adapter
            instead of all weights (with ``beta > 0`` the reference is the base with the adapter disabled, no
            copy); the adapter is merged into the saved model, so ``model_dir`` loads alone.
        log: called with one line per stage.

    Returns:
        A :class:`PolicyResult`.

    Raises:
        ArgumentError: an argument is out of range or names an unknown choice.
        InputError: a prompt is neither a string nor a message list.
        UnsupportedError: ``cuda``/``fp16`` asked for where they cannot run.
    """
    _check_choice("algorithm", algorithm, ALGORITHMS)
    _check_positive(steps=steps, prompts_per_step=prompts_per_step, max_completion_length=max_completion_length,
                    learning_rate=learning_rate, temperature=temperature, k=k)
    if num_generations < 2:
        raise ArgumentError(f"num_generations must be >= 2 (the baseline compares completions of one prompt), "
                            f"got {num_generations}")
    if beta is not None and beta < 0:
        raise ArgumentError(f"beta must be >= 0 or None, got {beta}")
    if 2 * k > steps:
        raise ArgumentError(f"k ({k}) must be at most steps / 2 ({steps // 2}) "
                            "so the first and last k steps do not overlap")
    rows = _prompt_rows(prompts, "prompts")
    if not rows:
        raise ArgumentError("prompts is empty; give at least one prompt")
    held_out = _prompt_rows(eval_prompts, "eval_prompts") if eval_prompts else []
    device, precision = _resolve(device, precision)

    import datasets
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    if algorithm == "grpo":
        from trl import GRPOConfig as Config
        from trl import GRPOTrainer as Trainer
    else:
        from trl import RLOOConfig as Config
        from trl import RLOOTrainer as Trainer

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    out = pathlib.Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    transformers.set_seed(seed)
    tokenizer = _tokenizer(policy_model)
    rm_tokenizer = _tokenizer(reward_model)
    policy = AutoModelForCausalLM.from_pretrained(str(policy_model), dtype=torch.float32)
    rm = AutoModelForSequenceClassification.from_pretrained(str(reward_model), num_labels=1, dtype=torch.float32)
    rm.config.pad_token_id = rm_tokenizer.pad_token_id
    rm.eval().requires_grad_(False)
    if device == "cuda":
        policy.to("cuda")
        rm.to("cuda")
    log(f"policy: {type(policy).__name__} from {policy_model} ({sum(p.numel() for p in policy.parameters()):,} "
        f"parameters), reward model {reward_model}; {algorithm.upper()} on {device} ({precision})")

    def measure(tag: str) -> float | None:
        if not held_out:
            return None
        completions = sample_completions(policy, tokenizer, held_out, max_new_tokens=max_completion_length,
                                         temperature=temperature, seed=seed + 1)
        rewards = score(rm, rm_tokenizer, held_out, completions)
        value = sum(rewards) / len(rewards)
        log(f"{tag}: mean reward {value:.4f} of one sampled completion for each of {len(held_out)} evaluation prompts")
        return value

    sampled_before = measure("before")
    extra: dict[str, Any] = {}
    if beta is not None:
        extra["beta"] = beta
    batch = prompts_per_step * num_generations
    args = Config(
        **_common_args(Config, output_dir=out, device=device, precision=precision, seed=seed,
                       learning_rate=learning_rate, batch_size=batch, logging_steps=1),
        max_steps=steps,
        num_generations=num_generations,
        # one fresh generation per optimizer step: strictly on-policy (TRL reuses a generation for
        # steps_per_generation steps otherwise)
        steps_per_generation=1,
        num_iterations=1,
        max_completion_length=max_completion_length,
        temperature=temperature,
        **extra,
    )
    # cycle the prompts so that `steps` steps never run out of data, whatever the prompt count
    need = steps * prompts_per_step
    dataset = datasets.Dataset.from_list([{"prompt": rows[i % len(rows)]} for i in range(max(need, len(rows)))])
    with _renamed_checkpointing_warning_off():
        trainer = Trainer(
            model=policy,
            reward_funcs=rm,
            args=args,
            train_dataset=dataset,
            processing_class=tokenizer,
            reward_processing_classes=rm_tokenizer,
            peft_config=peft_config,
        )
    _quiet_trainer(trainer)
    started = time.perf_counter()
    with _renamed_checkpointing_warning_off():
        trainer.train()
    wall = time.perf_counter() - started
    policy = trainer.model
    history = list(trainer.state.log_history)
    curve = [float(h["reward"]) for h in history if "reward" in h and "step" in h]
    if len(curve) < 2 * k:
        raise ArgumentError(f"k ({k}): only {len(curve)} steps logged a reward; lower k")
    first, last = sum(curve[:k]) / k, sum(curve[-k:]) / k
    log(f"reward: first {k} steps {first:.4f}, last {k} steps {last:.4f} ({len(curve)} steps in {wall:.1f} s)")
    sampled_after = measure("after")

    samples: list[tuple[str, str, float]] = []
    if held_out:
        shown = held_out[:4]
        completions = sample_completions(policy, tokenizer, shown, max_new_tokens=max_completion_length,
                                         temperature=temperature, seed=seed + 2)
        rewards = score(rm, rm_tokenizer, shown, completions)
        samples = [(p[-1]["content"], c, r) for p, c, r in zip(shown, completions, rewards, strict=True)]

    model_dir = out / "model"
    policy = _merged(policy)
    policy.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    result = PolicyResult(
        output_dir=out, model_dir=model_dir, algorithm=algorithm, steps=trainer.state.global_step,
        reward_curve=curve, k=k, reward_first=first, reward_last=last, sampled_reward_before=sampled_before,
        sampled_reward_after=sampled_after, samples=samples, train_seconds=wall, device=device,
        precision=precision, history=history,
    )
    metrics = {key: v for key, v in asdict(result).items() if key != "history"}
    _write_json(out / "metrics.json", {"stage": "policy", "policy_model": str(policy_model),
                                       "reward_model": str(reward_model), **metrics})
    if not all(math.isfinite(x) for x in curve):
        log("warning: a logged reward is not finite; lower the learning rate")
    return result


# --- the seed guide's face -------------------------------------------------------------------------


class RLHFTrainer:
    """The seed guide's ``RLHFTrainer``: train a reward model, then optimize the policy against it.

    Same names as the guide (``train_reward_model``, ``train_with_ppo``,
    ``_get_reward``) with working bodies. ``train_with_ppo`` keeps its name but
    runs GRPO (or RLOO): TRL 1.16 has no ``PPOTrainer`` (see the module docstring).

    Args:
        model_name: the policy to optimize (path or hub id of a causal LM).
        reward_model_name: the reward model, or the base to train one from with :meth:`train_reward_model`
            (after which this attribute points at the trained model).
        device: ``auto``, ``cpu`` or ``cuda``.
        precision: ``auto``, ``fp32``, ``bf16`` or ``fp16``.
        seed: seed of both stages.

    Example::

        rlhf = RLHFTrainer("tiny", reward_model_name="tiny")      # policy and reward model start from one base
        pairs = make_keyword_pairs(160)
        rlhf.train_reward_model(pairs, "out/rm", learning_rate=1e-3).accuracy     # held-out accuracy
        rlhf.train_with_ppo([p["prompt"] for p in pairs], "out/policy", learning_rate=6e-3).reward_curve
        rlhf._get_reward("Say something about the river.", "the red river.")     # a 0-d tensor
    """

    def __init__(self, model_name: str, reward_model_name: str, *, device: str = "auto", precision: str = "auto",
                 seed: int = 0) -> None:
        _check_choice("device", device, _DEVICES)
        _check_choice("precision", precision, _PRECISIONS)
        self.model_name = model_name
        self.reward_model_name = reward_model_name
        self.device = device
        self.precision = precision
        self.seed = seed
        self.reward_result: RewardModelResult | None = None
        self.policy_result: PolicyResult | None = None
        self._scorer: tuple[str, Any, Any] | None = None

    @property
    def tokenizer(self) -> Any:
        """The reward model's tokenizer (the guide's ``_get_reward`` reads ``self.tokenizer``)."""
        return self._reward_model()[1]

    def _reward_model(self) -> tuple[Any, Any]:
        if self._scorer is None or self._scorer[0] != str(self.reward_model_name):
            import torch
            from transformers import AutoModelForSequenceClassification

            tok = _tokenizer(self.reward_model_name)
            model = AutoModelForSequenceClassification.from_pretrained(
                str(self.reward_model_name), num_labels=1, dtype=torch.float32
            )
            model.config.pad_token_id = tok.pad_token_id
            self._scorer = (str(self.reward_model_name), model.eval(), tok)
        return self._scorer[1], self._scorer[2]

    def train_reward_model(
        self,
        comparison_data: Sequence[dict[str, Any]] | str | pathlib.Path,
        output_dir: str,
        **kwargs: Any,
    ) -> RewardModelResult:
        """Train the reward model on comparisons and point ``reward_model_name`` at it.

        Args:
            comparison_data: ``prompt``/``chosen``/``rejected`` dicts or a JSONL file of them.
            output_dir: where to save it.
            **kwargs: forwarded to :func:`train_reward_model` (``eval_pairs``, ``epochs``, ``learning_rate``, ...).

        Returns:
            The :class:`RewardModelResult` (held-out accuracy etc.).
        """
        kwargs.setdefault("device", self.device)
        kwargs.setdefault("precision", self.precision)
        kwargs.setdefault("seed", self.seed)
        result = train_reward_model(self.reward_model_name, comparison_data, output_dir, **kwargs)
        self.reward_result = result
        self.reward_model_name = str(result.model_dir)
        return result

    def train_with_ppo(
        self,
        prompts: Sequence[str | Messages],
        output_dir: str,
        num_epochs: int = 1,
        **kwargs: Any,
    ) -> PolicyResult:
        """Optimize the policy against the reward model (GRPO by default; ``algorithm="rloo"`` for RLOO).

        Args:
            prompts: training prompts.
            output_dir: where to save the policy.
            num_epochs: passes over ``prompts`` (the guide's argument); sets ``steps`` unless given.
            **kwargs: forwarded to :func:`optimize_policy`.

        Returns:
            The :class:`PolicyResult` with the reward curve.

        Raises:
            ArgumentError: ``num_epochs < 1``.
        """
        if num_epochs < 1:
            raise ArgumentError(f"num_epochs must be >= 1, got {num_epochs}")
        per_step = kwargs.get("prompts_per_step", 4)
        kwargs.setdefault("steps", max(2 * kwargs.get("k", 5), math.ceil(num_epochs * len(prompts) / per_step)))
        kwargs.setdefault("device", self.device)
        kwargs.setdefault("precision", self.precision)
        kwargs.setdefault("seed", self.seed)
        result = optimize_policy(self.model_name, self.reward_model_name, prompts, output_dir, **kwargs)
        self.policy_result = result
        return result

    def _get_reward(self, prompt: str | Messages, response: str, reward_model: Any = None) -> Any:
        """Reward of one response under the reward model, as a 0-d float tensor.

        Args:
            prompt: the prompt (string or messages).
            response: the reply.
            reward_model: a loaded reward model (uses ``self.tokenizer``); None loads ``reward_model_name``.

        Returns:
            ``torch.Tensor`` of shape ``[]``.
        """
        import torch

        model, tok = self._reward_model()
        if reward_model is not None:
            model = reward_model
        return torch.tensor(score(model, tok, [prompt], [response])[0])
