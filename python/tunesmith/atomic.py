"""Moving a finished temporary file into place, optionally durably (fsync of the file and its directory)."""

from __future__ import annotations

import os
import pathlib


def replace(tmp: str | os.PathLike[str], final: str | os.PathLike[str], *, fsync: bool = False) -> None:
    """Rename ``tmp`` onto ``final`` (atomic for readers and for a crash of this process).

    With ``fsync`` the data is forced to disk before the rename and the directory entry after it, so the new file
    also survives a power loss or a kernel crash.
    """
    if fsync:
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
    os.replace(tmp, final)
    if fsync:
        sync_dir(pathlib.Path(final).parent)


def sync_dir(path: str | os.PathLike[str]) -> None:
    """Force the entries of directory ``path`` (a rename into it) to disk; a no-op where directories cannot be
    opened (Windows)."""
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
