"""The clean pipeline: one streaming pass in Rust over JSONL (plain, ``.gz``, ``.zst``), Parquet or in-memory texts.

    >>> from tunesmith.clean import clean_texts
    >>> docs = ["Write to me at jane@example.com please, soon.", "Write to me at jane@example.com please, soon.",
    ...         "tiny"]
    >>> out = clean_texts(docs, gopher_quality={"enabled": False}, gopher_repetition={"enabled": False})
    >>> out.texts
    ['Write to me at [EMAIL] please, soon.']
    >>> out.report.removed_by_reason
    {'exact_duplicate': 1, 'too_few_chars': 1}

Every batch call releases the GIL and runs on tunesmith's thread pool (``tunesmith.set_num_threads``); the
dedup state lives in the :class:`Pipeline` object, so a sequence of batches is deduplicated across batches.
"""

from __future__ import annotations

import os
import pathlib
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from tunesmith import _core
from tunesmith import atomic
from tunesmith.clean.report import CleanReport
from tunesmith.errors import ArgumentError

__all__ = [
    "CleanedTexts",
    "ExactDeduper",
    "MinHashDeduper",
    "Pipeline",
    "clean_file",
    "clean_texts",
]

PathLike = str | os.PathLike[str]

#: Where :meth:`Pipeline.run` can run: this process, or a Ray cluster (``pip install 'tunesmith[dist]'``).
EXECUTORS = ("local", "ray")


def _config(config: Any, overrides: dict[str, Any]):
    from tunesmith.clean.config import CleanConfig

    return CleanConfig.coerce(config, **overrides)


@dataclass(frozen=True)
class CleanedTexts:
    """Result of :meth:`Pipeline.clean_texts`: the kept texts, and per input text its fate."""

    texts: list[str]
    keep: list[bool]
    reasons: list[str | None]
    duplicate_of: list[int | None]
    report: CleanReport


def _as_list(texts: Iterable[Any]) -> list[Any]:
    """A list of the values of a list, tuple, pyarrow array or numpy array, or of any iterable."""
    if isinstance(texts, list):
        return texts
    to_pylist = getattr(texts, "to_pylist", None)  # pyarrow Array / ChunkedArray
    if callable(to_pylist):
        return to_pylist()
    tolist = getattr(texts, "tolist", None)  # numpy
    if callable(tolist):
        values = tolist()
        return values if isinstance(values, list) else [values]
    return list(texts)


def _is_parquet(path: pathlib.Path) -> bool:
    return path.suffix.lower() in {".parquet", ".pq"}


class Pipeline:
    """The clean pipeline with its dedup state.

    Args:
        config: a :class:`~tunesmith.clean.CleanConfig`, a dict of its fields, a YAML path, or ``None`` for the
            defaults; keyword arguments override top-level fields (``Pipeline(pii={"action": "drop"})``).

    Pickling keeps the configuration, not the dedup state, so a pipeline can be shipped to the workers of
    ``datasets.map(num_proc=N)``; each worker then deduplicates its own shard.
    """

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        self.config = _config(config, overrides)
        self._core = _core.CleanPipeline(self.config.to_core())
        # Texts passed to the core so far: the index space of ``duplicate_of``.
        self._texts_seen = 0

    def __reduce__(self):
        return (Pipeline, (self.config,))

    @property
    def report(self) -> CleanReport:
        """Cumulative counts of everything this pipeline has seen."""
        return CleanReport.from_core(self._core.report())

    def clean_texts(self, texts: Iterable[str | None]) -> CleanedTexts:
        """Clean a batch of strings (each one plain-text record).

        ``texts`` is any iterable of ``str``: a list, a pyarrow ``Array``/``ChunkedArray`` of strings, a numpy
        array. A value that is not a ``str`` (``None``, a number) is not kept: it is counted as rejected, with
        reason ``"not a string: TYPE"``, and keeps its place in the ``duplicate_of`` index space.
        """
        texts = _as_list(texts)
        outcomes = self._core.run_texts(texts)
        self._texts_seen += len(outcomes)
        kept: list[str] = []
        keep, reasons, dups = [], [], []
        for text, (ok, new, reason, dup) in zip(texts, outcomes, strict=True):
            keep.append(ok)
            reasons.append(reason)
            dups.append(dup)
            if ok:
                kept.append(text if new is None else new)
        return CleanedTexts(kept, keep, reasons, dups, self.report)

    def map_batch(self, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        """A ``datasets.Dataset.map(batched=True)`` function: keeps the rows that survive, text cleaned."""
        field = self.config.text_field
        result = self.clean_texts(batch[field])
        out = {k: [v for v, ok in zip(col, result.keep, strict=True) if ok] for k, col in batch.items()}
        out[field] = result.texts
        return out

    def clean_file(
        self,
        inputs: PathLike | Sequence[PathLike],
        output: PathLike | None,
        *,
        removed: PathLike | None = None,
        rejected: PathLike | None = None,
        report: PathLike | None = None,
        progress: Callable[[CleanReport], None] | None = None,
        executor: str = "local",
        address: str | None = None,
    ) -> CleanReport:
        """Clean JSONL (or Parquet) files into ``output``; write side files and ``report.json`` if named.

        All outputs are written to temporary siblings and renamed at the end: an interrupted run leaves no
        partial file. Raises :class:`tunesmith.InputError` on a malformed record only when ``strict``.

        ``executor="ray"`` runs the same steps on a Ray cluster (``address``; see
        :func:`tunesmith.clean.distributed.run_ray`): ``output``, ``removed`` and ``rejected`` are then
        directories of ``part-NNNNN.jsonl`` shards whose concatenation is the local run's file.
        """
        if executor not in EXECUTORS:
            raise ArgumentError(f"executor must be one of {', '.join(map(repr, EXECUTORS))}, got {executor!r}")
        if executor == "ray":
            if progress is not None:
                raise ArgumentError("progress: not supported with executor='ray' (the report comes at the end)")
            from tunesmith.clean.distributed import run_ray

            return run_ray(
                inputs, output, self.config, removed=removed, rejected=rejected, report=report, address=address
            ).report
        paths = [pathlib.Path(inputs)] if isinstance(inputs, (str, os.PathLike)) else [pathlib.Path(p) for p in inputs]
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise FileNotFoundError(f"input file(s) not found: {', '.join(missing)}")
        out = pathlib.Path(output) if output is not None else None
        if any(_is_parquet(p) for p in paths) or (out is not None and _is_parquet(out)):
            result = self._clean_parquet(
                paths,
                out,
                progress,
                removed=None if removed is None else pathlib.Path(removed),
                rejected=None if rejected is None else pathlib.Path(rejected),
            )
        else:
            callback = None if progress is None else (lambda d: progress(CleanReport.from_core(d)))
            result = CleanReport.from_core(
                self._core.run_files(
                    [str(p) for p in paths],
                    None if out is None else str(out),
                    None if removed is None else str(removed),
                    None if rejected is None else str(rejected),
                    callback,
                )
            )
        if report is not None:
            result.write_json(report, fsync=self.config.fsync)
        return result

    def run(
        self,
        inputs: PathLike | Sequence[PathLike],
        output: PathLike | None,
        *,
        executor: str = "local",
        address: str | None = None,
        removed: PathLike | None = None,
        rejected: PathLike | None = None,
        report: PathLike | None = None,
    ) -> CleanReport:
        """Clean files with the chosen executor: ``"local"`` (this process) or ``"ray"`` (a Ray cluster).

        Args:
            inputs: JSONL (``.gz``/``.zst``) files; Parquet with the local executor only.
            output: the kept records: a file (local) or a directory of shards (ray).
            executor: ``"local"`` or ``"ray"``.
            address: the Ray cluster to join (``None``: the connected one, or a new local one).
            removed, rejected, report: side files (directories of shards with ray) and ``report.json``.

        Returns:
            The :class:`CleanReport`; both executors keep the same records and report the same counts.
        """
        return self.clean_file(
            inputs, output, removed=removed, rejected=rejected, report=report, executor=executor, address=address
        )

    def _clean_parquet(
        self,
        paths: list[pathlib.Path],
        output: pathlib.Path | None,
        progress: Callable[[CleanReport], None] | None,
        *,
        removed: pathlib.Path | None = None,
        rejected: pathlib.Path | None = None,
    ) -> CleanReport:
        """Parquet runs: batches of the text column through :meth:`clean_texts`, other columns carried along.

        The side files have the JSONL runs' layout, with ``line`` the 1-based row of the file and ``record`` /
        ``raw`` the row as a JSON object (values JSON cannot hold are written as their ``str``).
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        field = self.config.text_field
        writer = None
        tmp = None
        extra_rejected = 0
        # (file, row) of every text handed to the core in this run, by its ``duplicate_of`` index.
        first_index = self._texts_seen
        origins: list[tuple[str, int]] = []
        sides = {name: _SideFile(path) for name, path in (("removed", removed), ("rejected", rejected)) if path}
        if output is not None:
            fd, tmp_name = tempfile.mkstemp(prefix=f".{output.name}.", dir=output.parent)
            os.close(fd)
            tmp = pathlib.Path(tmp_name)
        try:
            for path in paths:
                if not _is_parquet(path):
                    raise ValueError(f"{path}: mixing Parquet and JSONL inputs is not supported; convert one side")
                pf = pq.ParquetFile(path)
                if field not in pf.schema_arrow.names:
                    raise ValueError(
                        f"{path}: no column {field!r} (text_field); columns: {', '.join(pf.schema_arrow.names)}"
                    )
                row = 0
                for batch in pf.iter_batches(batch_size=8192):
                    column = batch.column(batch.schema.get_field_index(field)).to_pylist()
                    valid = [isinstance(v, str) for v in column]
                    extra_rejected += valid.count(False)
                    rows = [row + i + 1 for i, ok in enumerate(valid) if ok]
                    if "removed" in sides:
                        origins.extend((str(path), r) for r in rows)
                    result = self.clean_texts([v for v, ok in zip(column, valid, strict=True) if ok])
                    it = iter(zip(result.keep, range(len(result.keep)), strict=True))
                    mask = [ok and next(it)[0] for ok in valid]
                    if sides:
                        self._parquet_side_records(
                            sides, path, row, batch, column, valid, result, origins, first_index
                        )
                    row += batch.num_rows
                    table = pa.Table.from_batches([batch]).filter(pa.array(mask, type=pa.bool_()))
                    table = table.set_column(table.schema.get_field_index(field), field, pa.array(result.texts, pa.string()))
                    if tmp is not None:
                        if writer is None:
                            writer = pq.ParquetWriter(tmp, table.schema)
                        writer.write_table(table)
                    if progress is not None:
                        progress(self.report)
            if writer is not None:
                writer.close()
                writer = None
            if tmp is not None and output is not None:
                if tmp.stat().st_size == 0:
                    pq.write_table(pa.table({field: pa.array([], pa.string())}), tmp)
                atomic.replace(tmp, output, fsync=self.config.fsync)
                tmp = None
            for side in sides.values():
                side.commit(fsync=self.config.fsync)
        finally:
            if writer is not None:
                writer.close()
            if tmp is not None:
                tmp.unlink(missing_ok=True)
            for side in sides.values():
                side.discard()
        r = self.report
        return CleanReport.from_core({**r.__dict__, "read": r.read + extra_rejected, "rejected": r.rejected + extra_rejected})

    def _parquet_side_records(
        self,
        sides: dict[str, _SideFile],
        path: pathlib.Path,
        first_row: int,
        batch: Any,
        column: list[Any],
        valid: list[bool],
        result: CleanedTexts,
        origins: list[tuple[str, int]],
        first_index: int,
    ) -> None:
        """Append the removed and rejected rows of one batch to their side files."""
        import json

        field = self.config.text_field
        rows = batch.to_pylist() if any(not ok for ok in valid) or not all(result.keep) else []
        outcome = iter(zip(result.keep, result.reasons, result.duplicate_of, strict=True))
        for i, ok in enumerate(valid):
            line = first_row + i + 1
            if not ok:
                if "rejected" in sides:
                    kind = _JSON_KINDS.get(type(column[i]), type(column[i]).__name__)
                    rec = {
                        "file": str(path),
                        "line": line,
                        "error": f"field '{field}' must be a string, got {kind}",
                        "raw": json.dumps(rows[i], ensure_ascii=False, default=str),
                    }
                    sides["rejected"].write(json.dumps(rec, ensure_ascii=False))
                continue
            keep, reason, dup = next(outcome)
            if keep or "removed" not in sides:
                continue
            rec = {"file": str(path), "line": line, "reason": reason}
            if dup is not None and 0 <= dup - first_index < len(origins):
                dup_file, dup_row = origins[dup - first_index]
                rec["duplicate_of"] = {"file": dup_file, "line": dup_row}
            rec["record"] = rows[i]
            sides["removed"].write(json.dumps(rec, ensure_ascii=False, default=str))


_JSON_KINDS = {type(None): "null", bool: "boolean", int: "number", float: "number", list: "array", dict: "object"}


class _SideFile:
    """A JSONL side file written to a temporary sibling and renamed into place on :meth:`commit`."""

    def __init__(self, path: pathlib.Path) -> None:
        self.path = path
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        self.tmp = pathlib.Path(name)
        self.file = os.fdopen(fd, "w", encoding="utf-8")

    def write(self, line: str) -> None:
        self.file.write(line)
        self.file.write("\n")

    def commit(self, *, fsync: bool = False) -> None:
        self.file.close()
        atomic.replace(self.tmp, self.path, fsync=fsync)

    def discard(self) -> None:
        """Close and delete the temporary file unless :meth:`commit` already moved it."""
        if not self.file.closed:
            self.file.close()
        self.tmp.unlink(missing_ok=True)


def clean_file(
    inputs: PathLike | Sequence[PathLike],
    output: PathLike | None,
    config: Any = None,
    *,
    removed: PathLike | None = None,
    rejected: PathLike | None = None,
    report: PathLike | None = None,
    progress: Callable[[CleanReport], None] | None = None,
    executor: str = "local",
    address: str | None = None,
    **overrides: Any,
) -> CleanReport:
    """Clean files with a fresh :class:`Pipeline` (see :meth:`Pipeline.clean_file`)."""
    return Pipeline(config, **overrides).clean_file(
        inputs, output, removed=removed, rejected=rejected, report=report, progress=progress, executor=executor,
        address=address,
    )


def clean_texts(texts: Iterable[str | None], config: Any = None, **overrides: Any) -> CleanedTexts:
    """Clean a batch of strings with a fresh :class:`Pipeline` (see :meth:`Pipeline.clean_texts`)."""
    return Pipeline(config, **overrides).clean_texts(texts)


class ExactDeduper:
    """Exact dedup by xxh3-128 of the normalised text; remembers every text it has seen.

        >>> d = ExactDeduper()
        >>> d.keep(["a  b", "a b", "c"])
        [True, False, True]

    Pickles with its state (24 bytes per unique text).
    """

    def __init__(self, normalize: bool = True) -> None:
        self._core = _core.ExactDeduper(normalize)

    def add(self, texts: Iterable[str]) -> list[int | None]:
        """Per text: ``None`` if new, else the index (over all texts added) of its first occurrence."""
        return self._core.add(list(texts))

    def keep(self, texts: Iterable[str]) -> list[bool]:
        """Per text: ``True`` for a first occurrence."""
        return [d is None for d in self.add(texts)]

    def hashes(self, texts: Iterable[str]) -> list[int]:
        """The 128-bit content hashes, without recording them."""
        return self._core.hashes(list(texts))

    def __len__(self) -> int:
        return len(self._core)

    def __getstate__(self) -> bytes:
        return self._core.__getstate__()

    def __setstate__(self, state: bytes) -> None:
        self._core = _core.ExactDeduper(True)
        self._core.__setstate__(state)


class MinHashDeduper:
    """MinHash + LSH near-duplicate detection.

    Args:
        num_perm: signature length (permutations).
        ngram, unit: shingles are ``ngram`` consecutive words (``unit="word"``) or characters.
        threshold: estimated Jaccard at which two texts are duplicates. Lee et al. 2022 target true Jaccard
            0.8; the estimate of a pair at 0.8 falls below 0.8 half the time, so the default cut is 0.77, about
            one standard deviation lower at 256 permutations (measured: recall 0.955 of pairs at true
            Jaccard ≥ 0.8, and 0.90 of the flagged pairs at ≥ 0.8, on the shared benchmark corpus).
        bands, rows: LSH banding; by default chosen from ``threshold`` for recall.

    ``add`` deduplicates a stream (keep first); ``cluster`` groups a batch with union-find and keeps the first
    or the longest text of each cluster. A fresh deduper pickles (the index does not travel).
    """

    def __init__(
        self,
        num_perm: int = 256,
        ngram: int = 5,
        unit: str = "word",
        seed: int = 0x74756E65,
        threshold: float = 0.77,
        bands: int | None = None,
        rows: int | None = None,
        normalize: bool = True,
    ) -> None:
        self._args = (num_perm, ngram, unit, seed, threshold, bands, rows, normalize)
        self._core = _core.MinHashDeduper(num_perm, ngram, unit, seed, threshold, bands, rows, normalize)

    def __reduce__(self):
        if len(self._core):
            raise TypeError("only an empty MinHashDeduper pickles (its LSH index is per process)")
        return (MinHashDeduper, self._args)

    @property
    def bands(self) -> tuple[int, int]:
        """(bands, rows) of the LSH index."""
        return self._core.bands

    def signatures(self, texts: Iterable[str]):
        """``(n, num_perm)`` uint32 numpy array of MinHash signatures."""
        return self._core.signatures(list(texts))

    def add(self, texts: Iterable[str]) -> list[int | None]:
        """Per text: ``None`` if kept, else the index of the earlier kept text it near-duplicates."""
        return self._core.add(list(texts))

    def keep(self, texts: Iterable[str]) -> list[bool]:
        return [d is None for d in self.add(texts)]

    def cluster(self, texts: Sequence[str], keep: str = "first") -> list[int]:
        """Per text, the index of the text its cluster keeps (itself if kept); ``keep`` is first or longest."""
        return self._core.cluster(list(texts), keep)

    def __len__(self) -> int:
        return len(self._core)
