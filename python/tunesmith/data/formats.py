"""Datasets of :class:`TrainingExample` on disk: the seed guide's ``DatasetFormatter`` and its reverse.

``DatasetFormatter`` keeps the guide's names and outputs (``to_alpaca``, ``to_sharegpt``, ``to_openai_chat``,
``to_huggingface``, ``create_train_val_test_split``, ``save_dataset``) with these fixes:

* ``to_huggingface`` masks exactly the prompt tokens with -100 (found from character offsets, so a token merged
  across the prompt/response boundary cannot shift the mask), masks padding too, and appends EOS;
* ``create_train_val_test_split`` uses its own ``random.Random(seed)`` (the guide reseeds the global
  generator); the permutation and the sizes are the guide's;
* ``save_dataset`` writes atomically (sibling temp file, then rename) and takes a record ``schema``.

Loading reads JSONL, JSON (a list) or Parquet holding Alpaca, ShareGPT or OpenAI-messages records, detected per
record or named. A bad record raises :class:`tunesmith.errors.InputError` naming the file, line (row for
Parquet) and field; ``lenient=True`` collects it as a :class:`Reject` instead.

    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "train.jsonl"
    >>> DatasetFormatter.save_dataset([TrainingExample("Say hi", "", "Hi!")], str(path))
    >>> path.read_text()
    '{"instruction": "Say hi", "input": "", "output": "Hi!"}\\n'
    >>> load_examples(path).examples
    [TrainingExample(instruction='Say hi', input='', output='Hi!', system_prompt='', metadata=None)]
"""

from __future__ import annotations

import functools
import json
import os
import pathlib
import random
import stat
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from tunesmith.data.example import FieldError, TrainingExample
from tunesmith import atomic
from tunesmith.errors import ArgumentError, InputError
from tunesmith.textfile import COMPRESSED_SUFFIXES, data_suffix, read_text

__all__ = [
    "FILE_FORMATS",
    "SCHEMAS",
    "DatasetFormatter",
    "LoadResult",
    "Reject",
    "atomic_write",
    "detect_schema",
    "example_to_record",
    "json_line",
    "load_examples",
    "record_to_example",
    "save_examples",
]

SCHEMAS = ("alpaca", "sharegpt", "openai")
FILE_FORMATS = ("jsonl", "json", "parquet")
IGNORE_INDEX = -100
_SUFFIX = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".parquet": "parquet", ".pq": "parquet"}

PathLike = str | os.PathLike[str]


# --- records <-> examples ---------------------------------------------------------------------------


def detect_schema(record: Any) -> str | None:
    """``openai`` (has ``messages``), ``sharegpt`` (``conversations``), ``alpaca`` (``instruction``/``output``)."""
    if not isinstance(record, dict):
        return None
    if "messages" in record:
        return "openai"
    if "conversations" in record:
        return "sharegpt"
    if "instruction" in record or "output" in record:
        return "alpaca"
    return None


def record_to_example(record: Any, schema: str = "auto") -> TrainingExample:
    """One record as a :class:`TrainingExample`.

    Args:
        record: A parsed JSON object.
        schema: ``auto``, ``alpaca``, ``sharegpt`` or ``openai``.

    Raises:
        InputError: the record does not fit ``schema`` (a :class:`~tunesmith.data.example.FieldError` names the field).
    """
    kind = detect_schema(record) if schema == "auto" else schema
    if kind is None:
        keys = sorted(record) if isinstance(record, dict) else type(record).__name__
        raise FieldError(None, f"cannot tell the schema from keys {keys}; expected 'messages' (openai), "
                               "'conversations' (sharegpt) or 'instruction'/'output' (alpaca)")
    if kind == "alpaca":
        return TrainingExample.from_alpaca_format(record)
    if kind == "sharegpt":
        example = TrainingExample.from_sharegpt_format(record)
    elif kind == "openai":
        if not isinstance(record, dict):
            raise FieldError(None, f"expected an object, got {type(record).__name__}")
        if "messages" not in record:
            raise FieldError("messages", "missing (an OpenAI chat record has messages)")
        example = TrainingExample.from_chat_format(record["messages"])
    else:
        raise ArgumentError(f"schema: {schema!r} is not one of auto, {', '.join(SCHEMAS)}")
    metadata = record.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise FieldError("metadata", f"expected an object, got {type(metadata).__name__}")
        example.metadata = dict(metadata)
    return example


def example_to_record(example: TrainingExample, schema: str = "alpaca", *, extras: bool = False) -> dict[str, Any]:
    """The record for ``example`` in ``schema`` (the guide's ``to_*_format``).

    Args:
        example: The example.
        schema: ``alpaca``, ``sharegpt`` or ``openai``.
        extras: Also write what the schema would drop: ``metadata`` (all schemas) and, for Alpaca, ``system``.
    """
    if schema == "alpaca":
        record: dict[str, Any] = example.to_alpaca_format()
        if extras and example.system_prompt:
            record["system"] = example.system_prompt
    elif schema == "sharegpt":
        record = example.to_sharegpt_format()
    elif schema == "openai":
        record = {"messages": example.to_chat_format()}
    else:
        raise ArgumentError(f"schema: {schema!r} is not one of {', '.join(SCHEMAS)}")
    if extras and example.metadata:
        record["metadata"] = example.metadata
    return record


# --- files -------------------------------------------------------------------------------------------

# Characters JSON leaves unescaped that str.splitlines() treats as line breaks; escaped so that every JSONL
# reader, including ones that split with splitlines(), sees one record per line.
_LINE_BREAKS = {"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"}


def json_line(record: Any) -> str:
    """``record`` as one JSONL line (UTF-8 text kept readable; Unicode line separators escaped), with ``\\n``."""
    text = json.dumps(record, ensure_ascii=False)
    for char, escaped in _LINE_BREAKS.items():
        if char in text:
            text = text.replace(char, escaped)
    return text + "\n"



def _file_format(path: pathlib.Path, file_format: str | None) -> str:
    if file_format is not None:
        if file_format not in FILE_FORMATS:
            raise ArgumentError(f"format: {file_format!r} is not one of {', '.join(FILE_FORMATS)}")
        return file_format
    kind = _SUFFIX.get(data_suffix(path))
    if kind is None or (kind == "parquet" and data_suffix(path) != path.suffix.lower()):
        raise ArgumentError(
            f"{path}: cannot tell the file format from the suffix {''.join(path.suffixes[-2:])!r}; name it with "
            f"format= ({', '.join(FILE_FORMATS)}) or use .jsonl, .json (either may end in .gz or .zst) or .parquet"
        )
    return kind


@functools.cache
def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: PathLike, write: Any, *, binary: bool = False) -> pathlib.Path:
    """Call ``write(file)`` on a sibling temp file, then rename it over ``path``.

    An interrupted or failed write leaves the old file (or none), never half a file; the new file and the
    rename are forced to disk before this returns.
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # mkstemp makes the file 0600; give the result the mode an ordinary open() would (or the old file's)
    mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, mode)
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8", "newline": "\n"})) as f:
            write(f)
        atomic.replace(tmp, path, fsync=True)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def save_examples(
    examples: Sequence[TrainingExample],
    path: PathLike,
    *,
    schema: str = "alpaca",
    file_format: str | None = None,
    extras: bool = False,
) -> pathlib.Path:
    """Write ``examples`` as ``schema`` records to ``path`` (JSONL, JSON list or Parquet), atomically.

    Args:
        examples: What to write.
        path: Destination; the format follows the suffix unless ``file_format`` names it.
        schema: ``alpaca`` (default, the guide's), ``sharegpt`` or ``openai``.
        file_format: ``jsonl``, ``json`` or ``parquet``.
        extras: Also keep ``metadata`` (and the Alpaca ``system``) so a reload gives the same examples.

    Returns:
        The path written.
    """
    path = pathlib.Path(path)
    kind = _file_format(path, file_format)
    if path.suffix.lower() in COMPRESSED_SUFFIXES:
        raise ArgumentError(f"{path}: datasets are written uncompressed; name a .jsonl, .json or .parquet file")
    records = [example_to_record(ex, schema, extras=extras) for ex in examples]
    if kind == "jsonl":
        return atomic_write(path, lambda f: f.writelines(json_line(r) for r in records))
    if kind == "json":
        return atomic_write(path, lambda f: json.dump(records, f, indent=2, ensure_ascii=False))
    import pyarrow as pa
    import pyarrow.parquet as pq

    # free-form metadata has no fixed Arrow type: store it as JSON text, decoded again by load_examples
    rows = [{**r, "metadata": json.dumps(r["metadata"])} if "metadata" in r else r for r in records]
    if extras and any("metadata" in r for r in rows):
        rows = [r if "metadata" in r else {**r, "metadata": None} for r in rows]
    if schema == "alpaca" and extras and any("system" in r for r in rows):
        rows = [r if "system" in r else {**r, "system": ""} for r in rows]
    table = pa.Table.from_pylist(rows) if rows else pa.table({k: pa.array([], pa.string()) for k in ("instruction", "input", "output")})
    return atomic_write(path, lambda f: pq.write_table(table, f), binary=True)


@dataclass(frozen=True)
class Reject:
    """A record that could not be read: where it is and why."""

    source: str
    line: int
    field: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}"
        return f"{where}: field '{self.field}': {self.message}" if self.field else f"{where}: {self.message}"


@dataclass
class LoadResult:
    """What :func:`load_examples` read: the examples, the rejects (lenient mode), records per schema."""

    source: str
    examples: list[TrainingExample] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    schemas: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.examples)

    def __iter__(self) -> Iterator[TrainingExample]:
        return iter(self.examples)


def _json_items(text: str, path: pathlib.Path) -> Iterator[tuple[int, Any]]:
    """The items of a JSON list with the line each starts on."""
    decoder = json.JSONDecoder()
    ws = " \t\n\r"
    i = 0
    n = len(text)
    while i < n and text[i] in ws:
        i += 1
    if i >= n or text[i] != "[":
        raise InputError(f"{path}:{text.count(chr(10), 0, i) + 1}: a .json dataset must be a JSON list of records")
    i += 1
    line, last = 1, 0

    def skip(j: int) -> int:
        while j < n and text[j] in ws:
            j += 1
        if j >= n:
            raise InputError(f"{path}: unexpected end of file inside the JSON list")
        return j

    i = skip(i)
    if text[i] == "]":
        return
    while True:
        i = skip(i)
        line += text.count("\n", last, i)
        last = i
        try:
            item, i = decoder.raw_decode(text, i)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}:{exc.lineno}: invalid JSON at column {exc.colno}: {exc.msg}") from exc
        yield line, item
        i = skip(i)
        if text[i] == "]":
            return
        if text[i] != ",":
            raise InputError(f"{path}:{line + text.count(chr(10), last, i)}: expected ',' or ']' after a record")
        i += 1


def _records(path: pathlib.Path, kind: str, lenient: bool, rejects: list[Reject]) -> Iterator[tuple[int, Any]]:
    if kind == "parquet":
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: cannot read Parquet: {exc}") from exc
        for row, record in enumerate(table.to_pylist(), start=1):
            meta = record.get("metadata")
            if isinstance(meta, str):
                try:
                    record["metadata"] = json.loads(meta)
                except json.JSONDecodeError as exc:
                    if not lenient:
                        raise InputError(f"{path}:{row}: field 'metadata': not JSON text: {exc.msg}") from exc
                    rejects.append(Reject(str(path), row, "metadata", f"not JSON text: {exc.msg}"))
                    continue
            for key in [k for k, v in record.items() if v is None and k in ("metadata", "system", "input")]:
                del record[key]
            yield row, record
        return
    text = read_text(path, "the dataset")
    if kind == "json":
        yield from _json_items(text, path)
        return
    # split on "\n" only: str.splitlines() also breaks at U+2028, U+0085 ..., which JSON strings may hold raw
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            yield lineno, json.loads(line)
        except json.JSONDecodeError as exc:
            if not lenient:
                raise InputError(f"{path}:{lineno}: invalid JSON at column {exc.colno}: {exc.msg}") from exc
            rejects.append(Reject(str(path), lineno, None, f"invalid JSON at column {exc.colno}: {exc.msg}"))


def load_examples(
    path: PathLike,
    *,
    schema: Literal["auto", "alpaca", "sharegpt", "openai"] = "auto",
    file_format: str | None = None,
    lenient: bool = False,
) -> LoadResult:
    """Read a dataset file of Alpaca, ShareGPT or OpenAI-messages records into :class:`TrainingExample` objects.

    Args:
        path: A ``.jsonl``, ``.json`` (a list of records) or ``.parquet`` file.
        schema: ``auto`` detects each record's schema; a name requires it.
        file_format: ``jsonl``, ``json`` or ``parquet`` when the suffix does not say.
        lenient: Collect bad records in ``result.rejects`` instead of raising on the first. (A ``.json`` list
            with a syntax error cannot be read past it, so that still raises.)

    Returns:
        The examples in file order, the rejects and the count of records per schema.

    Raises:
        InputError: a record is malformed (strict mode): ``FILE:LINE: field 'F': what is wrong``; or the file
            itself cannot be read.
        ArgumentError: ``schema`` or ``file_format`` is not a known name.
    """
    path = pathlib.Path(path)
    if schema != "auto" and schema not in SCHEMAS:
        raise ArgumentError(f"schema: {schema!r} is not one of auto, {', '.join(SCHEMAS)}")
    kind = _file_format(path, file_format)
    if not path.is_file():
        raise InputError(f"{path}: no such dataset file")
    result = LoadResult(str(path))
    for line, record in _records(path, kind, lenient, result.rejects):
        try:
            example = record_to_example(record, schema)
        except InputError as exc:
            name = getattr(exc, "field", None)
            reason = getattr(exc, "reason", str(exc))
            reject = Reject(str(path), line, name, reason)
            if not lenient:
                raise InputError(str(reject)) from exc
            result.rejects.append(reject)
            continue
        kind_of = detect_schema(record) if schema == "auto" else schema
        result.schemas[str(kind_of)] = result.schemas.get(str(kind_of), 0) + 1
        result.examples.append(example)
    return result


# --- the seed guide's class ------------------------------------------------------------------------


def _prompt_text(ex: TrainingExample) -> tuple[str, str]:
    """The guide's instruction-following text, split before the response body."""
    prompt = f"### Instruction:\n{ex.instruction}"
    if ex.input:
        prompt += f"\n\n### Input:\n{ex.input}"
    prompt += "\n\n### Response:\n"
    return prompt, ex.output


def _tokenize_example(tokenizer: Any, ex: TrainingExample, max_length: int, add_eos: bool) -> tuple[list[int], list[int]]:
    prompt, response = _prompt_text(ex)
    text = prompt + response
    boundary = len(prompt)
    try:
        enc = tokenizer(text, add_special_tokens=True, return_offsets_mapping=True)
        ids = list(enc["input_ids"])
        offsets = list(enc["offset_mapping"])
        # a token is a response token when it covers any response character; special tokens have (0, 0)
        labels = [i if end > boundary and end > start else IGNORE_INDEX for i, (start, end) in zip(ids, offsets, strict=True)]
    except NotImplementedError:
        # slow tokenizers have no offsets: tokenize the two parts apart, so the boundary is exact by construction
        head = list(tokenizer(prompt, add_special_tokens=True)["input_ids"])
        tail = list(tokenizer(response, add_special_tokens=False)["input_ids"])
        ids = head + tail
        labels = [IGNORE_INDEX] * len(head) + tail
    eos = getattr(tokenizer, "eos_token_id", None)
    if add_eos and eos is not None:
        if ids and ids[-1] == eos:  # the tokenizer appended it already, as a special token without loss
            labels[-1] = eos
        else:
            ids.append(eos)
            labels.append(eos)
    return ids[:max_length], labels[:max_length]


class DatasetFormatter:
    """Convert data to various fine-tuning formats (the seed guide's class), and back."""

    @staticmethod
    def to_alpaca(examples: Sequence[TrainingExample]) -> list[dict[str, str]]:
        """Alpaca records (``instruction``, ``input``, ``output``)."""
        return [ex.to_alpaca_format() for ex in examples]

    @staticmethod
    def to_sharegpt(examples: Sequence[TrainingExample]) -> list[dict[str, Any]]:
        """ShareGPT records (``conversations``, ``system``)."""
        return [ex.to_sharegpt_format() for ex in examples]

    @staticmethod
    def to_openai_chat(examples: Sequence[TrainingExample]) -> list[dict[str, Any]]:
        """OpenAI chat fine-tuning records (``messages``)."""
        return [{"messages": ex.to_chat_format()} for ex in examples]

    @staticmethod
    def from_alpaca(records: Sequence[dict[str, Any]]) -> list[TrainingExample]:
        """The reverse of :meth:`to_alpaca`; errors name the record index and field."""
        return _from_records(records, "alpaca")

    @staticmethod
    def from_sharegpt(records: Sequence[dict[str, Any]]) -> list[TrainingExample]:
        """The reverse of :meth:`to_sharegpt` (the human turn becomes the instruction)."""
        return _from_records(records, "sharegpt")

    @staticmethod
    def from_openai_chat(records: Sequence[dict[str, Any]]) -> list[TrainingExample]:
        """The reverse of :meth:`to_openai_chat`."""
        return _from_records(records, "openai")

    @staticmethod
    def to_huggingface(
        examples: Sequence[TrainingExample],
        tokenizer: Any,
        max_length: int = 2048,
        *,
        padding: Literal["max_length", "longest", "do_not_pad"] = "max_length",
        return_tensors: Literal["pt"] | None = "pt",
        add_eos: bool = True,
    ) -> dict[str, list[Any]]:
        """Tokenize the guide's ``### Instruction / ### Input / ### Response`` text with a response-only loss.

        ``labels`` are the input ids on the response tokens (and the appended EOS) and -100 on every prompt and
        padding token. Right padding with the tokenizer's pad token (EOS when it has none).

        Args:
            examples: The examples.
            tokenizer: A transformers tokenizer (fast ones give exact character offsets).
            max_length: Truncate to this many tokens (and pad to it with ``padding="max_length"``).
            padding: ``max_length`` (the guide's), ``longest`` in the batch, or ``do_not_pad``.
            return_tensors: ``"pt"`` gives one 1-D tensor per example (the guide's); ``None`` gives lists of ints.
            add_eos: Append the EOS token so the model learns to stop (the guide did not).

        Returns:
            ``{"input_ids": [...], "attention_mask": [...], "labels": [...]}``, one entry per example.

        Raises:
            ArgumentError: ``max_length`` < 1, an unknown ``padding``, or a padding tokenizer without pad/EOS token.
        """
        if max_length < 1:
            raise ArgumentError(f"max_length: must be at least 1, got {max_length}")
        if padding not in ("max_length", "longest", "do_not_pad"):
            raise ArgumentError(f"padding: {padding!r} is not one of max_length, longest, do_not_pad")
        if return_tensors not in ("pt", None):
            raise ArgumentError(f"return_tensors: {return_tensors!r} is not one of 'pt', None")
        rows = [_tokenize_example(tokenizer, ex, max_length, add_eos) for ex in examples]
        pad_id = getattr(tokenizer, "pad_token_id", None)
        if pad_id is None:
            pad_id = getattr(tokenizer, "eos_token_id", None)
        width = max_length if padding == "max_length" else max((len(ids) for ids, _ in rows), default=0)
        if padding != "do_not_pad" and pad_id is None and any(len(ids) < width for ids, _ in rows):
            raise ArgumentError("tokenizer: has neither a pad nor an EOS token to pad with; set tokenizer.pad_token")
        out: dict[str, list[Any]] = {"input_ids": [], "attention_mask": [], "labels": []}
        for ids, labels in rows:
            fill = 0 if padding == "do_not_pad" else width - len(ids)
            out["input_ids"].append(ids + [pad_id] * fill)
            out["attention_mask"].append([1] * len(ids) + [0] * fill)
            out["labels"].append(labels + [IGNORE_INDEX] * fill)
        if return_tensors == "pt":
            import torch

            out = {k: [torch.tensor(v, dtype=torch.long) for v in vs] for k, vs in out.items()}
        return out

    @staticmethod
    def create_train_val_test_split(
        examples: Sequence[TrainingExample],
        train_ratio: float = 0.8,
        val_ratio: float = 0.1,
        test_ratio: float = 0.1,
        seed: int = 42,
    ) -> dict[str, list[TrainingExample]]:
        """Shuffle with ``random.Random(seed)`` and cut: ``train`` gets ``int(n·train_ratio)``, ``validation``
        ``int(n·val_ratio)``, ``test`` the rest (the guide's sizes and permutation; the global RNG is untouched).

        Raises:
            ArgumentError: a ratio is negative or the three do not sum to 1.
        """
        ratios = {"train_ratio": train_ratio, "val_ratio": val_ratio, "test_ratio": test_ratio}
        for name, value in ratios.items():
            if not -1e-9 <= value <= 1.0 + 1e-9:  # 1 - 0.8 - 0.2 is -5.6e-17 in floating point
                raise ArgumentError(f"{name}: must be in [0, 1], got {value}")
        if abs(sum(ratios.values()) - 1.0) > 1e-6:
            raise ArgumentError(
                f"train_ratio + val_ratio + test_ratio must be 1, got {train_ratio} + {val_ratio} + {test_ratio}"
            )
        shuffled = list(examples)
        random.Random(seed).shuffle(shuffled)
        n = len(shuffled)
        train_end = int(n * train_ratio)
        val_end = train_end + int(n * val_ratio)
        return {"train": shuffled[:train_end], "validation": shuffled[train_end:val_end], "test": shuffled[val_end:]}

    @staticmethod
    def save_dataset(
        examples: Sequence[TrainingExample],
        path: str,
        format: str = "jsonl",  # noqa: A002 - the guide's argument name
        *,
        schema: str = "alpaca",
        extras: bool = False,
    ) -> None:
        """Save to ``path`` as ``jsonl``, ``json`` (indent 2) or ``parquet``; Alpaca records unless ``schema``
        says otherwise. Atomic: an interrupted save leaves the previous file. See :func:`save_examples`."""
        save_examples(examples, path, schema=schema, file_format=format, extras=extras)

    @staticmethod
    def load_dataset(
        path: str,
        format: str | None = None,  # noqa: A002
        *,
        schema: Literal["auto", "alpaca", "sharegpt", "openai"] = "auto",
    ) -> list[TrainingExample]:
        """The reverse of :meth:`save_dataset`: strict :func:`load_examples`, examples only."""
        return load_examples(path, schema=schema, file_format=format).examples


def _from_records(records: Sequence[dict[str, Any]], schema: str) -> list[TrainingExample]:
    out = []
    for i, record in enumerate(records):
        try:
            out.append(record_to_example(record, schema))
        except InputError as exc:
            raise InputError(f"record {i}: {exc}") from exc
    return out
