"""A tiny random-init Llama, a tokenizer trained here, and an instruction set with a learnable pattern.

No hub access is needed: the model is built from a ``LlamaConfig``, the BPE
tokenizer is trained with ``tokenizers`` on generated text, and both are written
with ``save_pretrained`` so every caller loads them with ``from_pretrained``, the
same path a real model takes. Tests and the demo use it.
"""

from __future__ import annotations

import json
import pathlib
import random

__all__ = ["DEFAULT_CHAT_TEMPLATE", "build_tiny_model", "make_dataset", "make_preferences", "make_records"]

# ChatML. {% generation %} marks what the assistant says, for tools that use assistant masks.
DEFAULT_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{% if message['role'] == 'assistant' %}{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{% else %}{{ message['content'] + '<|im_end|>' }}{% endif %}"
    "{{ '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

SPECIAL_TOKENS = ["<pad>", "<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]

_PAIRS = [
    ("hot", "cold"), ("up", "down"), ("left", "right"), ("big", "small"), ("fast", "slow"),
    ("early", "late"), ("light", "dark"), ("open", "closed"), ("full", "empty"), ("happy", "sad"),
    ("old", "new"), ("rich", "poor"), ("high", "low"), ("hard", "soft"), ("wet", "dry"),
    ("strong", "weak"), ("loud", "quiet"), ("near", "far"), ("thick", "thin"), ("sweet", "sour"),
    ("first", "last"), ("inside", "outside"), ("long", "short"), ("clean", "dirty"), ("true", "false"),
    ("win", "lose"), ("buy", "sell"), ("push", "pull"), ("give", "take"), ("begin", "end"),
]
_COLOURS = ["red", "green", "blue", "yellow", "black", "white", "purple", "orange"]
_ITEMS = ["apple", "river", "stone", "cloud", "table", "garden", "window", "bridge", "candle", "mirror"]


def make_records(n: int, *, seed: int = 0) -> list[dict[str, str]]:
    """``n`` alpaca records from three templates whose answers follow from the question."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        kind = i % 3
        if kind == 0:
            a, b = rng.choice(_PAIRS)
            if rng.random() < 0.5:
                a, b = b, a
            out.append({"instruction": f"Give the opposite of: {a}", "input": "", "output": f"The opposite of {a} is {b}."})
        elif kind == 1:
            words = rng.sample(_ITEMS, 3)
            out.append({
                "instruction": "Repeat the words in reverse order.",
                "input": " ".join(words),
                "output": " ".join(reversed(words)),
            })
        else:
            colour, item = rng.choice(_COLOURS), rng.choice(_ITEMS)
            out.append({
                "instruction": f"Describe a {colour} {item} in one sentence.",
                "input": "",
                "output": f"The {item} is {colour}, and every {colour} {item} looks like this {item}.",
            })
    return out


def make_dataset(out_dir: str | pathlib.Path, *, n_train: int = 256, n_valid: int = 48, seed: int = 0) -> tuple[pathlib.Path, pathlib.Path]:
    """Write ``train.jsonl`` and ``valid.jsonl`` (alpaca) into ``out_dir``; returns their paths."""
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, records in (("train", make_records(n_train, seed=seed)), ("valid", make_records(n_valid, seed=seed + 1))):
        path = out / f"{name}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        paths.append(path)
    return paths[0], paths[1]


def make_preferences(n: int, *, seed: int = 0) -> list[dict[str, str]]:
    """``n`` DPO records: the right opposite is chosen, a wrong one rejected."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        (a, b), (_, wrong) = rng.sample(_PAIRS, 2)
        out.append({
            "prompt": f"Give the opposite of: {a}",
            "chosen": f"The opposite of {a} is {b}.",
            "rejected": f"The opposite of {a} is {wrong}.",
        })
    return out


def _corpus() -> list[str]:
    records = make_records(600, seed=123)
    lines = []
    for r in records:
        prompt = r["instruction"] + ("\n" + r["input"] if r["input"] else "")
        lines.append(f"<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n{r['output']}<|im_end|>\n")
    lines += [f"{a} {b} {c}" for a in _ITEMS for b in _COLOURS for c in ("is", "the", "and", "of")]
    return lines


def build_tiny_model(
    out_dir: str | pathlib.Path,
    *,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    intermediate_size: int = 128,
    vocab_size: int = 512,
    max_position_embeddings: int = 512,
    seed: int = 0,
    with_chat_template: bool = True,
) -> pathlib.Path:
    """Train a BPE tokenizer, build a random-init ``LlamaForCausalLM``, ``save_pretrained`` both into ``out_dir``.

    Every Linear output size is a multiple of 32, which bitsandbytes' CPU 4-bit kernels require.
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="<|im_end|>",
        unk_token="<unk>",
        pad_token="<pad>",
    )
    if with_chat_template:
        tokenizer.chat_template = DEFAULT_CHAT_TEMPLATE
    tokenizer.save_pretrained(out)

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_heads,
        max_position_embeddings=max_position_embeddings,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config)
    model.save_pretrained(out)
    return out
