"""``TrainingExample``: one instruction-tuning example, and its three record shapes in both directions.

The forward conversions are the seed guide's, byte for byte:

* ``to_chat_format`` (OpenAI messages): the user turn is ``instruction + "\\n\\nInput:\\n" + input``;
* ``to_alpaca_format``: ``instruction``, ``input``, ``output`` (no system prompt, as in the guide);
* ``to_sharegpt_format``: the human turn is ``instruction + "\\n\\n" + input``, plus ``system``.

The reverse conversions (``from_*``) read any record of that shape. Where the forward conversion
joins instruction and input into one turn the split is not always recoverable, so:

* chat: the user turn is split at the *first* ``"\\n\\nInput:\\n"`` (exact unless the instruction itself
  contains that marker);
* ShareGPT: the human turn becomes the instruction, input stays empty (ShareGPT has no input field and
  ``"\\n\\n"`` is an ordinary paragraph break). The rendered record still round-trips exactly.

    >>> ex = TrainingExample("Translate to French", "cheese", "fromage", system_prompt="Be brief.")
    >>> ex.to_chat_format()[1]
    {'role': 'user', 'content': 'Translate to French\\n\\nInput:\\ncheese'}
    >>> TrainingExample.from_chat_format(ex.to_chat_format()) == TrainingExample("Translate to French", "cheese",
    ...     "fromage", system_prompt="Be brief.")
    True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tunesmith.errors import InputError

__all__ = ["CHAT_INPUT_MARKER", "SHAREGPT_INPUT_JOINER", "FieldError", "TrainingExample"]

CHAT_INPUT_MARKER = "\n\nInput:\n"
SHAREGPT_INPUT_JOINER = "\n\n"
_SHAREGPT_USER = ("human", "user")
_SHAREGPT_ASSISTANT = ("gpt", "assistant", "model", "bot")


class FieldError(InputError):
    """A record field is missing or malformed; ``field`` names it (``None``: the record itself)."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(f"field '{field}': {message}" if field is not None else message)
        self.field = field
        self.reason = message


def _text(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise FieldError(field, f"expected a string, got {type(value).__name__}")
    return value


@dataclass
class TrainingExample:
    """Single training example for fine-tuning (the seed guide's class).

    Args:
        instruction: What the model is asked to do.
        input: Optional context for the instruction.
        output: The response the model should learn.
        system_prompt: Optional system message (kept by the chat and ShareGPT formats).
        metadata: Free-form annotations (task name, provenance, ...); never serialised by the seed formats.
    """

    instruction: str
    input: str = ""
    output: str = ""
    system_prompt: str = ""
    metadata: dict[str, Any] | None = None

    # --- forward: the seed guide's conversions -------------------------------------------------------

    def to_chat_format(self) -> list[dict[str, str]]:
        """OpenAI chat messages: optional system, the user turn, the assistant turn."""
        messages = []
        if self.system_prompt:
            messages.append({"role": "system", "content": self.system_prompt})
        user_content = self.instruction
        if self.input:
            user_content += f"{CHAT_INPUT_MARKER}{self.input}"
        messages.append({"role": "user", "content": user_content})
        messages.append({"role": "assistant", "content": self.output})
        return messages

    def to_alpaca_format(self) -> dict[str, str]:
        """Alpaca record: ``instruction``, ``input``, ``output``."""
        return {"instruction": self.instruction, "input": self.input, "output": self.output}

    def to_sharegpt_format(self) -> dict[str, Any]:
        """ShareGPT record: ``conversations`` (human, gpt) and ``system``."""
        user_content = self.instruction
        if self.input:
            user_content += f"{SHAREGPT_INPUT_JOINER}{self.input}"
        return {
            "conversations": [{"from": "human", "value": user_content}, {"from": "gpt", "value": self.output}],
            "system": self.system_prompt or "",
        }

    # --- reverse -------------------------------------------------------------------------------------

    @classmethod
    def from_alpaca_format(cls, record: Mapping[str, Any]) -> TrainingExample:
        """Read an Alpaca record (``instruction``, optional ``input``, ``output``; optional ``system``, ``metadata``).

        Raises:
            InputError: a field is missing or not a string; the message names the field.
        """
        if not isinstance(record, Mapping):
            raise FieldError(None, f"expected an object, got {type(record).__name__}")
        for key in ("instruction", "output"):
            if key not in record:
                raise FieldError(key, "missing (an Alpaca record has instruction, input, output)")
        metadata = record.get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            raise FieldError("metadata", f"expected an object, got {type(metadata).__name__}")
        return cls(
            instruction=_text(record["instruction"], "instruction"),
            input=_text(record.get("input") or "", "input"),
            output=_text(record["output"], "output"),
            system_prompt=_text(record.get("system") or "", "system"),
            metadata=dict(metadata) if metadata is not None else None,
        )

    @classmethod
    def from_chat_format(cls, messages: Sequence[Mapping[str, Any]], *, field: str = "messages") -> TrainingExample:
        """Read OpenAI chat messages: an optional system turn, one user turn, one assistant turn.

        Args:
            messages: The ``messages`` list.
            field: How errors name the list (``messages`` in an OpenAI record).

        Raises:
            InputError: the turns are not (system?, user, assistant); the message names the turn.
        """
        turns = _turns(messages, field, "role", "content")
        return _from_turns(cls, turns, field, "role", ("user",), ("assistant",), split_input=True)

    @classmethod
    def from_sharegpt_format(cls, record: Mapping[str, Any]) -> TrainingExample:
        """Read a ShareGPT record: ``conversations`` (optional system, human, gpt) and optional ``system``.

        Raises:
            InputError: the conversation is not one human and one gpt turn; the message names the turn.
        """
        if not isinstance(record, Mapping):
            raise FieldError(None, f"expected an object, got {type(record).__name__}")
        if "conversations" not in record:
            raise FieldError("conversations", "missing (a ShareGPT record has conversations and system)")
        turns = _turns(record["conversations"], "conversations", "from", "value")
        example = _from_turns(cls, turns, "conversations", "from", _SHAREGPT_USER, _SHAREGPT_ASSISTANT,
                              split_input=False)
        system = _text(record.get("system") or "", "system")
        if system and example.system_prompt and system != example.system_prompt:
            raise FieldError("system", "differs from the conversation's system turn")
        example.system_prompt = system or example.system_prompt
        return example


def _turns(value: Any, field: str, role_key: str, content_key: str) -> list[tuple[str, str]]:
    if not isinstance(value, (list, tuple)) or not value:
        raise FieldError(field, "expected a non-empty list of turns")
    out = []
    for i, turn in enumerate(value):
        name = f"{field}[{i}]"
        if not isinstance(turn, Mapping):
            raise FieldError(name, f"expected an object, got {type(turn).__name__}")
        if role_key not in turn:
            raise FieldError(f"{name}.{role_key}", "missing")
        if content_key not in turn:
            raise FieldError(f"{name}.{content_key}", "missing")
        out.append((_text(turn[role_key], f"{name}.{role_key}"), _text(turn[content_key], f"{name}.{content_key}")))
    return out


def _from_turns(cls: type[TrainingExample], turns: list[tuple[str, str]], field: str, role_key: str,
                user: tuple[str, ...], assistant: tuple[str, ...], *, split_input: bool) -> TrainingExample:
    system = ""
    start = 0
    if turns[0][0] == "system":
        system, start = turns[0][1], 1
    rest = turns[start:]
    expected = f"({'system, ' if start else 'optional system, '}{user[0]}, {assistant[0]})"
    if len(rest) != 2:
        raise FieldError(field, f"{len(rest)} turn(s) besides the system turn; a TrainingExample is one exchange {expected}"
        )
    for offset, (role, allowed) in enumerate(((rest[0][0], user), (rest[1][0], assistant))):
        if role not in allowed:
            raise FieldError(f"{field}[{start + offset}].{role_key}", f"{role!r}; expected one of {list(allowed)} {expected}"
            )
    prompt, output = rest[0][1], rest[1][1]
    instruction, input_ = prompt, ""
    if split_input and CHAT_INPUT_MARKER in prompt:
        head, tail = prompt.split(CHAT_INPUT_MARKER, 1)
        if tail:  # an empty input is never rendered, so "...\n\nInput:\n" at the end is instruction text
            instruction, input_ = head, tail
    return cls(instruction=instruction, input=input_, output=output, system_prompt=system)
