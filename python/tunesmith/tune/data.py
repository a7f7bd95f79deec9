"""Training data: read records, render them with the chat template, mask prompts, pack.

Records (JSONL, one per line, or a JSON list) come in four shapes:

* ``alpaca``: ``instruction``, optional ``input``, ``output`` (optional ``system``)
* ``sharegpt``: ``conversations: [{from: human|gpt|system, value}]``
* ``openai``: ``messages: [{role, content}]``
* ``text``: ``text`` (raw text; every token carries loss)

Chat records are rendered with the tokenizer's chat template (ChatML when it has
none). Labels are the input ids on the assistant turns (content and end-of-turn
token) and -100 everywhere else, found from character offsets of the rendered
text, so the masking is exact whatever the tokenizer merges.

torch is imported inside the functions that need it.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tunesmith.errors import InputError
from tunesmith.textfile import data_suffix, read_text

__all__ = [
    "Example",
    "PackedCollator",
    "PaddingCollator",
    "TokenizeReport",
    "detect_format",
    "ensure_chat_template",
    "load_records",
    "pack",
    "to_messages",
    "tokenize_records",
]

IGNORE_INDEX = -100
FORMATS = ("alpaca", "sharegpt", "openai", "text")
_SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                   "system": "system", "model": "assistant", "bot": "assistant"}


@dataclass
class Record:
    """One input record with where it came from."""

    data: dict[str, Any]
    source: str
    line: int

    def where(self, field_name: str | None = None) -> str:
        return f"{self.source}:{self.line}" + (f": field '{field_name}'" if field_name else "")


def load_records(path: str | pathlib.Path, *, limit: int | None = None) -> list[Record]:
    """Read a ``.jsonl`` (one object per line) or ``.json`` (a list of objects) file, plain or compressed
    (``.gz``, ``.zst``, as ``tunesmith clean`` writes them)."""
    path = pathlib.Path(path)
    text = read_text(path)
    records: list[Record] = []
    if data_suffix(path) == ".json" and text.lstrip().startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from exc
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise InputError(f"{path}: item {i}: expected an object, got {type(item).__name__}")
            records.append(Record(item, str(path), i + 1))
    else:
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}:{lineno}: invalid JSON at column {exc.colno}: {exc.msg}") from exc
            if not isinstance(item, dict):
                raise InputError(f"{path}:{lineno}: expected a JSON object, got {type(item).__name__}")
            records.append(Record(item, str(path), lineno))
            if limit is not None and len(records) >= limit:
                break
    if not records:
        raise InputError(f"{path}: no records")
    return records[:limit] if limit is not None else records


def detect_format(record: Record) -> str:
    keys = record.data.keys()
    if "messages" in keys:
        return "openai"
    if "conversations" in keys:
        return "sharegpt"
    if "instruction" in keys or "output" in keys:
        return "alpaca"
    if "text" in keys:
        return "text"
    raise InputError(
        f"{record.where()}: cannot tell the format from keys {sorted(keys)}; expected 'messages' (openai), "
        "'conversations' (sharegpt), 'instruction'/'output' (alpaca) or 'text'"
    )


def _str_field(record: Record, obj: dict[str, Any], key: str, name: str, *, required: bool = True) -> str:
    value = obj.get(key)
    if value is None:
        if required:
            raise InputError(f"{record.where(name)}: missing")
        return ""
    if not isinstance(value, str):
        raise InputError(f"{record.where(name)}: expected a string, got {type(value).__name__}")
    return value


def to_messages(record: Record, fmt: str) -> list[dict[str, str]] | str:
    """The record as chat messages (or a plain string for ``text``)."""
    d = record.data
    if fmt == "text":
        return _str_field(record, d, "text", "text")
    if fmt == "alpaca":
        instruction = _str_field(record, d, "instruction", "instruction")
        extra = _str_field(record, d, "input", "input", required=False)
        output = _str_field(record, d, "output", "output")
        messages = []
        system = _str_field(record, d, "system", "system", required=False)
        if system:
            messages.append({"role": "system", "content": system})
        messages.append({"role": "user", "content": instruction + ("\n" + extra if extra else "")})
        messages.append({"role": "assistant", "content": output})
        return messages
    key, role_key, content_key = (
        ("messages", "role", "content") if fmt == "openai" else ("conversations", "from", "value")
    )
    turns = d.get(key)
    if not isinstance(turns, list) or not turns:
        raise InputError(f"{record.where(key)}: expected a non-empty list of turns")
    messages = []
    for i, turn in enumerate(turns):
        name = f"{key}[{i}]"
        if not isinstance(turn, dict):
            raise InputError(f"{record.where(name)}: expected an object, got {type(turn).__name__}")
        role = _str_field(record, turn, role_key, f"{name}.{role_key}")
        content = _str_field(record, turn, content_key, f"{name}.{content_key}")
        if fmt == "sharegpt":
            if role not in _SHAREGPT_ROLES:
                raise InputError(
                    f"{record.where(name + '.from')}: unknown speaker {role!r}; expected one of {sorted(_SHAREGPT_ROLES)}"
                )
            role = _SHAREGPT_ROLES[role]
        elif role not in ("system", "user", "assistant", "tool"):
            raise InputError(f"{record.where(name + '.role')}: unknown role {role!r}; expected system, user, assistant or tool")
        messages.append({"role": role, "content": content})
    if not any(m["role"] == "assistant" for m in messages):
        raise InputError(f"{record.where(key)}: no assistant turn, so nothing to learn")
    return messages


def ensure_chat_template(tokenizer: Any, template: str | None = None) -> bool:
    """Give the tokenizer a chat template (``template``, its own, or ChatML). Returns True when one was set."""
    from tunesmith.tune.tiny import DEFAULT_CHAT_TEMPLATE

    if template is not None:
        tokenizer.chat_template = template
        return True
    if getattr(tokenizer, "chat_template", None):
        return False
    tokenizer.chat_template = DEFAULT_CHAT_TEMPLATE
    return True


@dataclass
class Example:
    input_ids: list[int]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.input_ids)


@dataclass
class TokenizeReport:
    records: int = 0
    examples: int = 0
    truncated: int = 0
    dropped_no_loss: int = 0
    tokens: int = 0
    loss_tokens: int = 0
    formats: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        fmts = ", ".join(f"{k} {v}" for k, v in sorted(self.formats.items()))
        return (
            f"{self.records} records ({fmts}) -> {self.examples} examples, {self.tokens} tokens, "
            f"{self.loss_tokens} with loss; {self.truncated} truncated to the context length, "
            f"{self.dropped_no_loss} dropped (no response token left after truncation)"
        )


def _render(tokenizer: Any, messages: list[dict[str, str]]) -> tuple[str, list[tuple[int, int]]]:
    """Rendered conversation and the character spans of each assistant turn."""
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    spans = []
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        before = tokenizer.apply_chat_template(messages[:i], tokenize=False, add_generation_prompt=True) if i else ""
        upto = tokenizer.apply_chat_template(messages[: i + 1], tokenize=False)
        if not full.startswith(upto) or not upto.startswith(before):
            raise InputError(
                "the chat template does not render conversations prefix by prefix, so response tokens cannot be "
                "located; set data.chat_template to one that does (e.g. ChatML)"
            )
        start = len(before)
        # the turn ends after its end-of-turn token; a trailing newline belongs to the next prompt
        end = len(upto.rstrip("\n")) if upto.rstrip("\n") else len(upto)
        spans.append((start, end))
    return full, spans


def tokenize_records(
    records: Sequence[Record],
    tokenizer: Any,
    *,
    context_length: int,
    fmt: str = "auto",
    report: TokenizeReport | None = None,
) -> list[Example]:
    """Tokenize records into examples with prompt tokens masked, truncating to ``context_length``."""
    report = report if report is not None else TokenizeReport()
    examples = []
    for record in records:
        report.records += 1
        kind = detect_format(record) if fmt == "auto" else fmt
        report.formats[kind] = report.formats.get(kind, 0) + 1
        content = to_messages(record, kind)
        if isinstance(content, str):
            enc = tokenizer(content, add_special_tokens=True)
            ids = list(enc["input_ids"])
            if tokenizer.eos_token_id is not None and (not ids or ids[-1] != tokenizer.eos_token_id):
                ids.append(tokenizer.eos_token_id)
            labels = list(ids)
        else:
            text, spans = _render(tokenizer, content)
            enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
            ids = list(enc["input_ids"])
            labels = [IGNORE_INDEX] * len(ids)
            for t, (s, e) in enumerate(enc["offset_mapping"]):
                if e > s and any(start <= s and e <= end for start, end in spans):
                    labels[t] = ids[t]
        if len(ids) > context_length:
            report.truncated += 1
            ids, labels = ids[:context_length], labels[:context_length]
        if not any(label != IGNORE_INDEX for label in labels[1:]):
            report.dropped_no_loss += 1
            continue
        examples.append(Example(ids, labels))
        report.examples += 1
        report.tokens += len(ids)
        report.loss_tokens += sum(1 for label in labels[1:] if label != IGNORE_INDEX)
    return examples


def pack(examples: Iterable[Example], context_length: int) -> list[list[Example]]:
    """Group examples into rows of at most ``context_length`` tokens (first-fit decreasing); order is stable."""
    items = sorted(enumerate(examples), key=lambda kv: -len(kv[1]))
    rows: list[list[tuple[int, Example]]] = []
    room: list[int] = []
    for idx, ex in items:
        for r, free in enumerate(room):
            if len(ex) <= free:
                rows[r].append((idx, ex))
                room[r] -= len(ex)
                break
        else:
            rows.append([(idx, ex)])
            room.append(context_length - len(ex))
    ordered = sorted(rows, key=lambda row: min(i for i, _ in row))
    return [[ex for _, ex in sorted(row, key=lambda kv: kv[0])] for row in ordered]


class PaddingCollator:
    """Pads a batch of examples to its longest; padding carries no loss and is masked out."""

    def __init__(self, pad_token_id: int) -> None:
        self.pad_token_id = pad_token_id

    def __call__(self, batch: Sequence[dict[str, Any]]) -> dict[str, Any]:
        import torch

        width = max(len(b["input_ids"]) for b in batch)
        ids = torch.full((len(batch), width), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, b in enumerate(batch):
            n = len(b["input_ids"])
            ids[i, :n] = torch.tensor(b["input_ids"])
            labels[i, :n] = torch.tensor(b["labels"])
            mask[i, :n] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}


class PackedCollator:
    """Flattens packed rows into one sequence without padding; examples stay apart.

    Each example restarts ``position_ids`` at 0 and no attention mask is passed,
    so transformers (≥ 5 on eager/sdpa, and flash-attention varlen) builds a
    block-diagonal mask from the position resets; the first label of every
    example is -100 so no token is predicted from the example before it.
    ``use_cache=False`` is part of the batch because transformers only looks
    for packed sequences when no KV cache exists, and models default to one.
    """

    def __call__(self, batch: Sequence[dict[str, Any]]) -> dict[str, Any]:
        import torch

        ids: list[int] = []
        labels: list[int] = []
        positions: list[int] = []
        for row in batch:
            for ex_ids, ex_labels in zip(row["input_ids"], row["labels"], strict=True):
                ids.extend(ex_ids)
                labels.extend([IGNORE_INDEX, *ex_labels[1:]])
                positions.extend(range(len(ex_ids)))
        return {
            "input_ids": torch.tensor([ids], dtype=torch.long),
            "labels": torch.tensor([labels], dtype=torch.long),
            "position_ids": torch.tensor([positions], dtype=torch.long),
            "use_cache": False,
        }


def as_dataset(examples: Sequence[Example], *, packed_rows: Sequence[Sequence[Example]] | None = None) -> list[dict[str, Any]]:
    """Rows for the Trainer: one example each, or one packed row (lists of examples) each."""
    if packed_rows is not None:
        return [
            {"input_ids": [e.input_ids for e in row], "labels": [e.labels for e in row]} for row in packed_rows
        ]
    return [{"input_ids": e.input_ids, "labels": e.labels} for e in examples]
