"""``CleanReport``: what a clean run did, with ``read == kept + removed + rejected``."""

from __future__ import annotations

import json
import os
import pathlib
import tempfile
from dataclasses import asdict, dataclass, field
from typing import Any

from tunesmith import atomic

__all__ = ["CleanReport"]


@dataclass(frozen=True)
class CleanReport:
    """Counts of a clean run. ``removed_by_reason`` sums to ``removed``; ``rejections`` holds the first 100
    rejected records (file, line, error); the side file named by ``rejected=`` holds them all."""

    read: int = 0
    kept: int = 0
    removed: int = 0
    rejected: int = 0
    removed_by_reason: dict[str, int] = field(default_factory=dict)
    pii_by_kind: dict[str, int] = field(default_factory=dict)
    clusters: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    seconds: float = 0.0
    exact_entries: int = 0
    lsh_entries: int = 0
    state_bytes: int = 0
    rejections: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_core(cls, d: dict[str, Any]) -> CleanReport:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})

    @property
    def balanced(self) -> bool:
        return self.read == self.kept + self.removed + self.rejected

    @property
    def records_per_second(self) -> float:
        return self.read / self.seconds if self.seconds > 0 else 0.0

    @property
    def bytes_per_second(self) -> float:
        return self.bytes_read / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["records_per_second"] = round(self.records_per_second, 1)
        d["bytes_per_second"] = round(self.bytes_per_second, 1)
        d["mb_per_second"] = round(self.bytes_per_second / 1e6, 2)
        return d

    def write_json(self, path: str | os.PathLike[str], *, fsync: bool = False) -> None:
        """Write ``report.json`` atomically (temp file in the same directory, then rename; ``fsync``: durably)."""
        path = pathlib.Path(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or ".")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(self.to_dict(), f, indent=2, sort_keys=False)
                f.write("\n")
            atomic.replace(tmp, path, fsync=fsync)
        except BaseException:
            pathlib.Path(tmp).unlink(missing_ok=True)
            raise

    def rows(self) -> list[tuple[str, str]]:
        """(label, value) rows of the summary table."""
        pct = (lambda n: f"{n:,} ({100.0 * n / self.read:.1f} %)") if self.read else (lambda n: f"{n:,}")
        rows = [
            ("read", f"{self.read:,}"),
            ("kept", pct(self.kept)),
            ("removed", pct(self.removed)),
        ]
        rows += [(f"  {reason}", f"{n:,}") for reason, n in sorted(self.removed_by_reason.items(), key=lambda kv: -kv[1])]
        rows.append(("rejected", pct(self.rejected)))
        if self.pii_by_kind:
            rows.append(("PII redacted/found", f"{sum(self.pii_by_kind.values()):,}"))
            rows += [(f"  {kind}", f"{n:,}") for kind, n in sorted(self.pii_by_kind.items(), key=lambda kv: -kv[1])]
        rows += [
            ("duplicate clusters", f"{self.clusters:,}"),
            ("MB read", f"{self.bytes_read / 1e6:,.1f}"),
            ("seconds", f"{self.seconds:.2f}"),
            ("records/s", f"{self.records_per_second:,.0f}"),
            ("MB/s", f"{self.bytes_per_second / 1e6:,.1f}"),
            ("dedup state MB", f"{self.state_bytes / 1e6:,.1f}"),
        ]
        return rows

    def table(self) -> str:
        """The summary as a plain-text table."""
        rows = self.rows()
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)

    def __str__(self) -> str:
        return self.table()
