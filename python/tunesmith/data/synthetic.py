"""LLM-made training data: the seed guide's ``SyntheticDataGenerator`` and ``DataAugmenter``, on any
OpenAI-compatible endpoint (:class:`~tunesmith.data.llm.CompletionClient`, e.g. ``tunesmith serve``).

What a model returns is parsed leniently and everything that could not be used is reported, never dropped in
silence. :func:`parse_generated` reads the guide's ``---``-separated ``Instruction:/Input:/Output:`` blocks and the
usual variations (markdown bold or headings around the labels, numbering, ``Response:``/``Context:`` aliases,
multi-line fields, no separators, placeholders such as ``Input: none``) as well as JSON (a list, an object with
an ``examples`` list, or JSON lines, fenced or not). Generated examples then go through the clean engine
(:class:`tunesmith.clean.Pipeline`: the seed guide's length and quality checks, exact and near-duplicate removal
against the seed examples and each other, PII redaction) before they are returned.

    >>> result = parse_generated("---\\nInstruction: Add 2 and 3\\nInput: none\\nOutput: 5\\n---\\nOutput: ???\\n---")
    >>> [(ex.instruction, ex.input, ex.output) for ex in result.examples]
    [('Add 2 and 3', '', '5')]
    >>> [f.reason for f in result.failures]
    ["no 'Instruction:' field"]
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import pathlib
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tunesmith.data.example import TrainingExample

__all__ = [
    "DataAugmenter",
    "GenerationReport",
    "ParseFailure",
    "ParseResult",
    "SyntheticDataGenerator",
    "clean_examples",
    "parse_generated",
    "parse_paraphrases",
]

_FIELD_ALIASES = {"instruction": "instruction", "question": "instruction", "prompt": "instruction",
                  "input": "input", "context": "input",
                  "output": "output", "response": "output", "answer": "output"}
_LABEL = re.compile(
    r"^\s*(?:#+\s*)?(?:\d+[.)]\s*)?(?:[-*•]\s+)?[*_`]*\s*"
    r"(instruction|question|prompt|input|context|output|response|answer)(?:\s*#?\d+)?"
    r"\s*[*_`]*\s*[:：]\s*[*_`]*\s?(.*)$",
    re.IGNORECASE,
)
_SEPARATOR = re.compile(r"^\s*(?:-{3,}|\*{3,}|_{3,}|={3,}|#{3,})\s*$")
_EMPTY_INPUT = {"", "none", "n/a", "na", "empty", "(empty)", "<empty>", "(none)", "<none>", "-", "—", "null",
                "<input or empty>", "no input", "(no input)", "nothing"}
_FENCE = re.compile(r"```[a-zA-Z0-9_-]*\s*\n(.*?)```", re.DOTALL)


@dataclass(frozen=True)
class ParseFailure:
    """A piece of a model's answer that gave no example, and why.

    Attributes:
        index: The block number in the answer (or, for the augmenter, the example's index).
        text: The text that could not be used.
        reason: What was missing or wrong.
    """

    index: int
    text: str
    reason: str

    def __str__(self) -> str:
        snippet = self.text if len(self.text) <= 80 else self.text[:77] + "..."
        return f"block {self.index}: {self.reason}: {snippet!r}"


@dataclass
class ParseResult:
    """The examples :func:`parse_generated` found and what it could not parse."""

    examples: list[TrainingExample] = field(default_factory=list)
    failures: list[ParseFailure] = field(default_factory=list)


def _strip_markup(value: str) -> str:
    return value.strip().strip("*_`").strip()


def _finish(fields: dict[str, list[str]], index: int, raw: list[str], result: ParseResult) -> None:
    text = "\n".join(raw).strip()
    if not text:
        return
    values = {k: _strip_markup("\n".join(v)) for k, v in fields.items()}
    if not fields:
        result.failures.append(ParseFailure(index, text, "no 'Instruction:'/'Output:' labels"))
        return
    if not values.get("instruction"):
        result.failures.append(ParseFailure(index, text, "no 'Instruction:' field"))
        return
    if not values.get("output"):
        result.failures.append(ParseFailure(index, text, "no 'Output:' field"))
        return
    input_ = values.get("input", "")
    if input_.lower() in _EMPTY_INPUT:
        input_ = ""
    result.examples.append(TrainingExample(values["instruction"], input_, values["output"], metadata={"synthetic": True}))


def _parse_json(text: str) -> ParseResult | None:
    candidates = [m.group(1) for m in _FENCE.finditer(text)] or [text]
    items: list[Any] = []
    for candidate in candidates:
        candidate = candidate.strip()
        if not candidate or candidate[0] not in "[{":
            return None
        try:
            value = json.loads(candidate)
        except json.JSONDecodeError:
            lines = [ln for ln in candidate.splitlines() if ln.strip()]
            try:
                value = [json.loads(ln) for ln in lines]
            except json.JSONDecodeError:
                return None
        if isinstance(value, dict) and isinstance(value.get("examples"), list):
            value = value["examples"]
        items.extend(value if isinstance(value, list) else [value])
    result = ParseResult()
    for i, item in enumerate(items):
        raw = json.dumps(item, ensure_ascii=False)
        if not isinstance(item, dict):
            result.failures.append(ParseFailure(i, raw, f"expected an object, got {type(item).__name__}"))
            continue
        fields: dict[str, list[str]] = {}
        for key, value in item.items():
            name = _FIELD_ALIASES.get(str(key).lower())
            if name is not None and isinstance(value, str):
                fields.setdefault(name, [value])
        _finish(fields, i, [raw], result)
    return result


def parse_generated(response: str) -> ParseResult:
    """Parse a model's answer into examples (metadata ``{"synthetic": True}``) and failures.

    Args:
        response: The text the model returned.

    Returns:
        The examples in answer order and, per block that gave none, a :class:`ParseFailure` with the reason.
    """
    as_json = _parse_json(response)
    if as_json is not None:
        return as_json
    result = ParseResult()
    fields: dict[str, list[str]] = {}
    raw: list[str] = []
    current: str | None = None
    index = 0
    preamble = True  # text before the first label or separator is the model talking, not a block

    def close() -> None:
        nonlocal fields, raw, current, index
        if fields or (raw and not preamble):
            _finish(fields, index, raw, result)
            index += 1
        fields, raw, current = {}, [], None

    for line in response.splitlines():
        if _SEPARATOR.match(line):
            close()
            preamble = False
            continue
        match = _LABEL.match(line)
        if match:
            name = _FIELD_ALIASES[match.group(1).lower()]
            if name in fields:  # a repeated label starts the next example (answers without separators)
                close()
            preamble = False
            fields[name] = [match.group(2)]
            current = name
            raw.append(line)
            continue
        if current is not None:
            fields[current].append(line)
        raw.append(line)
    close()
    if not result.examples and not result.failures and response.strip():
        result.failures.append(ParseFailure(0, response.strip(), "no 'Instruction:'/'Output:' labels in the answer"))
    return result


_BULLET = re.compile(r"^\s*(?:[-*•]\s+|\d+\s*[.):]\s*|\(\d+\)\s*|paraphrase\s*\d*\s*[:：.)-]\s*)", re.IGNORECASE)


def _norm(text: str) -> str:
    return " ".join(text.lower().split()).rstrip(".?!")


def parse_paraphrases(response: str, original: str, num: int) -> tuple[list[str], list[tuple[str, str]]]:
    """Up to ``num`` distinct paraphrases from a one-per-line answer, and the skipped lines as ``(reason, line)``.

    Numbering, bullets, ``Paraphrase 1:`` labels and wrapping quotes are removed; a preamble line ending in
    ``:``, a line equal to the original, and a repeat are skipped.
    """
    found: list[str] = []
    skipped: list[tuple[str, str]] = []
    seen = {_norm(original)}
    for line in response.splitlines():
        text = line.strip()
        if not text or _SEPARATOR.match(text):
            continue
        text = _BULLET.sub("", text, count=1).strip()
        text = _strip_markup(text)
        if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'“”":
            text = text[1:-1].strip()
        if len(text) >= 2 and text[0] == "“" and text[-1] == "”":
            text = text[1:-1].strip()
        if not text:
            continue
        if text.endswith(":") and not found:
            skipped.append(("preamble", line.strip()))
            continue
        key = _norm(text)
        if key == _norm(original):
            skipped.append(("same as the original", line.strip()))
            continue
        if key in seen:
            skipped.append(("repeat", line.strip()))
            continue
        if len(found) >= num:
            skipped.append((f"more than the {num} asked for", line.strip()))
            continue
        seen.add(key)
        found.append(text)
    return found, skipped


# --- the clean engine ---------------------------------------------------------------------------------


def clean_examples(
    candidates: Sequence[TrainingExample],
    *,
    reference: Sequence[TrainingExample] = (),
    config: Any = None,
) -> tuple[list[TrainingExample], dict[str, int]]:
    """Run ``candidates`` through :class:`tunesmith.clean.Pipeline` as Alpaca records; keep what it keeps.

    ``reference`` examples (e.g. the seeds) go first, so a candidate that duplicates one is removed; they are
    never returned. Kept candidates carry the engine's rewrites (PII redaction) and their own metadata.

    Args:
        candidates: Examples to check.
        reference: Examples to deduplicate against.
        config: A :class:`tunesmith.clean.CleanConfig`, dict or YAML path (``None``: the engine's defaults).

    Returns:
        The kept candidates (copies, in order) and the count of removed candidates per reason.
    """
    if not candidates:
        return [], {}
    from tunesmith.clean import Pipeline
    from tunesmith.data.formats import json_line

    with tempfile.TemporaryDirectory(prefix="tunesmith-data-") as tmp:
        src, dst, removed = (pathlib.Path(tmp) / n for n in ("in.jsonl", "out.jsonl", "removed.jsonl"))
        n_ref = len(reference)
        with src.open("w", encoding="utf-8") as f:
            for i, ex in enumerate([*reference, *candidates]):
                f.write(json_line({**ex.to_alpaca_format(), "_tunesmith_index": i}))
        Pipeline(config).clean_file(src, dst, removed=removed)
        kept = []
        for line in dst.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            i = record["_tunesmith_index"] - n_ref
            if i >= 0:
                ex = candidates[i]
                kept.append(dataclasses.replace(ex, instruction=record["instruction"], input=record.get("input", ""),
                                                output=record["output"], metadata=dict(ex.metadata or {}) or None))
        reasons: dict[str, int] = {}
        for line in removed.read_text(encoding="utf-8").splitlines() if removed.exists() else []:
            entry = json.loads(line)
            if entry["record"]["_tunesmith_index"] >= n_ref:
                reasons[entry["reason"]] = reasons.get(entry["reason"], 0) + 1
    return kept, reasons


@dataclass
class GenerationReport:
    """What a generation run asked for, got, could not parse and what the clean engine removed."""

    requests: int = 0
    parsed: int = 0
    kept: int = 0
    unparsed: list[ParseFailure] = field(default_factory=list)
    removed_by_clean: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        removed = ", ".join(f"{k} {v}" for k, v in sorted(self.removed_by_clean.items())) or "none"
        lines = [f"{self.requests} requests -> {self.parsed} parsed, {len(self.unparsed)} unparsable blocks, "
                 f"clean removed {sum(self.removed_by_clean.values())} ({removed}), {self.kept} kept"]
        lines += [f"  unparsed {f}" for f in self.unparsed[:20]]
        if len(self.unparsed) > 20:
            lines.append(f"  ... and {len(self.unparsed) - 20} more")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


class SyntheticDataGenerator:
    """Generate synthetic training data from seed examples (the seed guide's class).

    Args:
        llm_client: Anything with ``async generate(prompt=..., system=...) -> str``; a
            :class:`~tunesmith.data.llm.CompletionClient` for an OpenAI-compatible endpoint.
        clean: ``False`` skips the clean engine; ``True`` uses its defaults; a ``CleanConfig``/dict/YAML path
            configures it.
        batch_size: Examples asked for per request (the guide's 10).
        max_requests: Give up after this many requests (default: twice the requests the target needs, plus 2).

    Attributes:
        report: The :class:`GenerationReport` of the last :meth:`generate_from_seed`.
    """

    def __init__(self, llm_client: Any, *, clean: Any = True, batch_size: int = 10, max_requests: int | None = None) -> None:
        from tunesmith.errors import ArgumentError

        if batch_size < 1:
            raise ArgumentError(f"batch_size: must be at least 1, got {batch_size}")
        self.llm = llm_client
        self.clean = clean
        self.batch_size = batch_size
        self.max_requests = max_requests
        self.report = GenerationReport()

    def _prompt(self, seed_text: str, n: int) -> str:
        return f"""Based on these examples:
{seed_text}
Generate {n} new, diverse examples.
Each should follow the same format but cover different scenarios.
Format each as:
---
Instruction: <instruction>
Input: <input or empty>
Output: <expected output>
---"""

    async def generate_from_seed(
        self,
        seed_examples: Sequence[TrainingExample],
        num_to_generate: int,
        task_description: str,
    ) -> list[TrainingExample]:
        """Ask the model for new examples like the first five seeds until ``num_to_generate`` survive parsing
        and cleaning, or ``max_requests`` is reached (then fewer are returned and the report says so).

        Returns:
            At most ``num_to_generate`` new examples, metadata ``{"synthetic": True}``, in the order generated.

        Raises:
            ArgumentError: no seed examples or a negative count.
            EndpointError: the endpoint failed (from :class:`~tunesmith.data.llm.CompletionClient`).
        """
        from tunesmith.errors import ArgumentError

        if not seed_examples:
            raise ArgumentError("seed_examples: give at least one example to imitate")
        if num_to_generate < 0:
            raise ArgumentError(f"num_to_generate: must be >= 0, got {num_to_generate}")
        report = self.report = GenerationReport()
        seed_text = "\n\n".join(
            f"Instruction: {ex.instruction}\nInput: {ex.input}\nOutput: {ex.output}" for ex in seed_examples[:5]
        )
        budget = self.max_requests if self.max_requests is not None else 2 * -(-num_to_generate // self.batch_size) + 2
        candidates: list[TrainingExample] = []
        kept: list[TrainingExample] = []
        usable = 0  # parsed examples not yet cleaned count as usable until the engine says otherwise
        while usable < num_to_generate and report.requests < budget:
            n = min(self.batch_size, num_to_generate - usable)
            response = await self.llm.generate(prompt=self._prompt(seed_text, n),
                                               system=f"You are generating training data for: {task_description}")
            report.requests += 1
            parsed = parse_generated(response)
            offset = len(report.unparsed)
            report.unparsed.extend(dataclasses.replace(f, index=f.index + offset) for f in parsed.failures)
            report.parsed += len(parsed.examples)
            candidates.extend(parsed.examples)
            usable += len(parsed.examples)
            # clean once there may be enough (or no request is left), not after every request: each pass
            # re-checks all candidates, so a top-up round sees duplicates across rounds
            if usable >= num_to_generate or report.requests >= budget:
                if self.clean is False:
                    kept = list(candidates)
                else:
                    kept, report.removed_by_clean = clean_examples(
                        candidates, reference=seed_examples, config=None if self.clean is True else self.clean
                    )
                usable = len(kept)
        if len(kept) < num_to_generate:
            report.notes.append(f"asked for {num_to_generate}, got {len(kept)} usable after {report.requests} requests")
        kept = kept[:num_to_generate]
        report.kept = len(kept)
        return kept

    def _parse_generated(self, response: str) -> list[TrainingExample]:
        """The guide's parser name: the examples :func:`parse_generated` finds (failures go to ``report``)."""
        result = parse_generated(response)
        self.report.unparsed.extend(result.failures)
        return result.examples


class DataAugmenter:
    """Augment training data with paraphrased instructions (the seed guide's class).

    Args:
        llm_client: Anything with ``async generate(prompt=..., system=...) -> str``.
        clean: As for :class:`SyntheticDataGenerator`; paraphrased examples are checked against the originals.
        concurrency: Requests in flight at once.

    Attributes:
        report: The :class:`GenerationReport` of the last :meth:`augment_with_paraphrases`.
    """

    def __init__(self, llm_client: Any, *, clean: Any = True, concurrency: int = 4) -> None:
        from tunesmith.errors import ArgumentError

        if concurrency < 1:
            raise ArgumentError(f"concurrency: must be at least 1, got {concurrency}")
        self.llm = llm_client
        self.clean = clean
        self.concurrency = concurrency
        self.report = GenerationReport()

    async def _generate_paraphrases(self, text: str, num: int) -> tuple[list[str], list[tuple[str, str]]]:
        response = await self.llm.generate(
            prompt=f"""Generate {num} different paraphrases of this instruction.
Keep the same meaning but vary the wording.
Original: {text}
Paraphrases (one per line):""",
        )
        return parse_paraphrases(response, text, num)

    async def augment_with_paraphrases(
        self,
        examples: Sequence[TrainingExample],
        num_paraphrases: int = 2,
    ) -> list[TrainingExample]:
        """Each original followed by up to ``num_paraphrases`` copies with a paraphrased instruction.

        Copies keep input, output and system prompt, and get ``metadata["augmented"] = True``; originals are
        returned unchanged. Paraphrases the clean engine removes (e.g. duplicates of an original) are dropped and
        counted in ``report``; skipped answer lines and short answers are listed there too.

        Raises:
            ArgumentError: ``num_paraphrases`` < 0.
            EndpointError: the endpoint failed.
        """
        from tunesmith.errors import ArgumentError

        if num_paraphrases < 0:
            raise ArgumentError(f"num_paraphrases: must be >= 0, got {num_paraphrases}")
        report = self.report = GenerationReport()
        gate = asyncio.Semaphore(self.concurrency)

        async def one(ex: TrainingExample) -> tuple[list[str], list[tuple[str, str]]]:
            async with gate:
                return await self._generate_paraphrases(ex.instruction, num_paraphrases)

        answers = await asyncio.gather(*(one(ex) for ex in examples)) if num_paraphrases else [([], [])] * len(examples)
        report.requests = len(examples) if num_paraphrases else 0
        copies: list[TrainingExample] = []
        owner: list[int] = []
        for i, (ex, (paraphrases, skipped)) in enumerate(zip(examples, answers, strict=True)):
            report.unparsed.extend(ParseFailure(i, line, reason) for reason, line in skipped)
            if len(paraphrases) < num_paraphrases:
                report.unparsed.append(ParseFailure(i, ex.instruction,
                                                    f"got {len(paraphrases)} of {num_paraphrases} paraphrases"))
            for para in paraphrases:
                copies.append(dataclasses.replace(ex, instruction=para,
                                                  metadata={**(ex.metadata or {}), "augmented": True}))
                owner.append(i)
        report.parsed = len(copies)
        if self.clean is not False and copies:
            tagged = [dataclasses.replace(c, metadata={**(c.metadata or {}), "_owner": o}) for c, o in zip(copies, owner, strict=True)]
            kept, report.removed_by_clean = clean_examples(tagged, reference=examples,
                                                           config=None if self.clean is True else self.clean)
            copies, owner = [], []
            for c in kept:
                meta = dict(c.metadata or {})
                owner.append(meta.pop("_owner"))
                copies.append(dataclasses.replace(c, metadata=meta))
        report.kept = len(copies)
        out: list[TrainingExample] = []
        j = 0
        for i, ex in enumerate(examples):
            out.append(ex)
            while j < len(copies) and owner[j] == i:
                out.append(copies[j])
                j += 1
        return out
