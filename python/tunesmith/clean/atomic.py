"""Moving a finished temporary file into place, optionally durably (``CleanConfig.fsync``)."""

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
    if fsync and os.name == "posix":
        fd = os.open(pathlib.Path(final).parent or ".", os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
