"""Reading a dataset text file that may be compressed, as ``tunesmith clean`` writes them (``.gz``, ``.zst``)."""

from __future__ import annotations

import os
import pathlib

from tunesmith.errors import InputError

COMPRESSED_SUFFIXES = (".gz", ".zst", ".zstd")


def data_suffix(path: str | os.PathLike[str]) -> str:
    """The lower-case suffix that names the format, past a compression suffix: ``a.jsonl.zst`` → ``.jsonl``."""
    path = pathlib.Path(path)
    suffix = path.suffix.lower()
    if suffix in COMPRESSED_SUFFIXES:
        return pathlib.Path(path.stem).suffix.lower()
    return suffix


def read_text(path: str | os.PathLike[str], what: str = "data file") -> str:
    """The UTF-8 text of ``path``, decompressed when it is gzip or zstd (by suffix or magic bytes).

    Raises :class:`InputError` naming the file: it cannot be read, does not decompress, or is not UTF-8.
    """
    from tunesmith import _core

    path = pathlib.Path(path)
    try:
        data = _core.read_decompressed(str(path))
    except OSError as exc:
        reason = str(exc).removeprefix(f"{path}: ")
        raise InputError(f"{path}: cannot read {what}: {reason}") from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text at byte {exc.start}") from exc
