"""A file-based registry of model versions: register with metrics, promote through stages, roll back.

The registry is ``versions.json`` in a directory. Every operation takes an
``fcntl`` lock on the sidecar ``versions.json.lock`` (shared to read, exclusive
to change), re-reads the file, and writes the new state to a temporary file in
the same directory that then replaces the old one (``os.replace``), so two
processes changing the registry at once lose nothing and a reader never sees
half a file. A registry file that cannot be parsed raises
:class:`tunesmith.errors.InputError` naming it, and is never overwritten.
POSIX only (``fcntl``).
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import json
import math
import os
import pathlib
import tempfile
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from typing import Any

from tunesmith.errors import ArgumentError, InputError

__all__ = ["STAGES", "ModelVersionManager"]

STAGES = ("registered", "staging", "production", "archived")
PROMOTION_STAGES = ("staging", "production", "archived")
REGISTRY_FILE = "versions.json"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


class ModelVersionManager:
    """Model versions with metrics and a deployment stage, stored under ``model_registry_path``.

    A version moves ``registered -> staging -> production -> archived``; at
    most one version is in production (``current``). Promoting a version to
    production archives the one it replaces; :meth:`rollback` puts an earlier
    version back. Every production change is kept in ``history``.
    """

    def __init__(self, model_registry_path: str | os.PathLike[str]) -> None:
        self.registry_path = pathlib.Path(model_registry_path)
        self.registry_path.mkdir(parents=True, exist_ok=True)
        self.versions_file = self.registry_path / REGISTRY_FILE
        self.lock_file = self.registry_path / (REGISTRY_FILE + ".lock")
        with self._locked(exclusive=False):
            self._read()

    # -- storage ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self, exclusive: bool) -> Iterator[None]:
        fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    def _read(self) -> dict[str, Any]:
        try:
            text = self.versions_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {"versions": [], "current": None, "history": []}
        except UnicodeDecodeError as e:
            raise InputError(f"{self.versions_file}: model registry is not UTF-8 text ({e})") from e
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise InputError(
                f"{self.versions_file}:{e.lineno}:{e.colno}: model registry is not valid JSON ({e.msg}); "
                "fix or move the file, it is left as it is"
            ) from e
        self._check(data)
        data.setdefault("history", [])
        return data

    def _check(self, data: Any) -> None:
        def bad(why: str) -> InputError:
            return InputError(f"{self.versions_file}: model registry is malformed: {why}; it is left as it is")

        if not isinstance(data, dict) or not isinstance(data.get("versions"), list):
            raise bad("expected an object with a 'versions' list")
        names = set()
        for i, v in enumerate(data["versions"]):
            if not isinstance(v, dict):
                raise bad(f"versions[{i}] is not an object")
            for key, kind in (("version", str), ("model_path", str), ("status", str), ("metrics", dict)):
                if not isinstance(v.get(key), kind):
                    raise bad(f"versions[{i}].{key} is missing or not a {kind.__name__}")
            if v["status"] not in STAGES:
                raise bad(f"versions[{i}].status {v['status']!r} is not one of {STAGES}")
            names.add(v["version"])
        current = data.get("current")
        if current is not None and current not in names:
            raise bad(f"current version {current!r} is not among the versions")
        if not isinstance(data.get("history", []), list):
            raise bad("'history' is not a list")

    def _write(self, data: dict[str, Any]) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.registry_path, prefix=f".{REGISTRY_FILE}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=2, sort_keys=False)
                f.write("\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.versions_file)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        dir_fd = os.open(self.registry_path, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[dict[str, Any]]:
        with self._locked(exclusive=True):
            data = self._read()
            yield data
            self._write(data)

    @staticmethod
    def _find(data: dict[str, Any], version: str) -> dict[str, Any]:
        for v in data["versions"]:
            if v["version"] == version:
                return v
        raise ArgumentError(f"Version {version!r} not found in the model registry")

    # -- reading ---------------------------------------------------------------------------

    @property
    def versions(self) -> dict[str, Any]:
        """A snapshot of the whole registry: ``{"versions": [...], "current": ..., "history": [...]}``."""
        with self._locked(exclusive=False):
            return self._read()

    def get_version(self, version: str) -> dict[str, Any]:
        """The record of ``version`` (path, metrics, metadata, status, timestamps)."""
        return copy.deepcopy(self._find(self.versions, version))

    def list_versions(self, stage: str | None = None) -> list[dict[str, Any]]:
        """All versions in registration order, or those in ``stage``."""
        if stage is not None and stage not in STAGES:
            raise ArgumentError(f"stage must be one of {STAGES}, got {stage!r}")
        return [v for v in self.versions["versions"] if stage is None or v["status"] == stage]

    def current_version(self) -> str | None:
        """The version in production, or None."""
        current = self.versions.get("current")
        return str(current) if current is not None else None

    def get_current_model_path(self) -> str:
        """Path of the production model; raises :class:`ArgumentError` when nothing is in production."""
        data = self.versions
        current = data.get("current")
        if not current:
            raise ArgumentError(f"No current version set in the model registry {self.versions_file}")
        return str(self._find(data, current)["model_path"])

    # -- changing --------------------------------------------------------------------------

    def register_version(
        self,
        version: str,
        model_path: str | os.PathLike[str],
        metrics: Mapping[str, float],
        metadata: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Add a new version in stage ``registered``; the version name must be new."""
        if not isinstance(version, str) or not version.strip():
            raise ArgumentError(f"version must be a non-empty string, got {version!r}")
        clean_metrics: dict[str, float] = {}
        for key, value in dict(metrics).items():
            if not isinstance(key, str) or isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ArgumentError(f"metrics must map names to numbers; {key!r}: {value!r} is not")
            if not math.isfinite(value):
                raise ArgumentError(f"metric {key!r} is not finite: {value!r}")
            clean_metrics[key] = value
        meta = dict(metadata or {})
        try:
            json.dumps(meta)
        except (TypeError, ValueError) as e:
            raise ArgumentError(f"metadata must be JSON-serialisable: {e}") from e
        now = _now()
        info = {
            "version": version,
            "model_path": os.fspath(model_path),
            "metrics": clean_metrics,
            "metadata": meta,
            "created_at": now,
            "updated_at": now,
            "status": "registered",
        }
        with self._transaction() as data:
            if any(v["version"] == version for v in data["versions"]):
                raise ArgumentError(f"Version {version!r} is already registered")
            data["versions"].append(info)
        return copy.deepcopy(info)

    def promote_version(self, version: str, stage: str) -> None:
        """Move ``version`` to ``stage`` (staging, production or archived).

        Promoting to production archives the version it replaces. The
        production version itself can only leave production by another
        version being promoted or rolled back to.
        """
        if stage not in PROMOTION_STAGES:
            raise ArgumentError(f"stage must be one of {PROMOTION_STAGES}, got {stage!r}")
        with self._transaction() as data:
            info = self._find(data, version)
            now = _now()
            if stage == "production":
                if data.get("current") == version:
                    return
                self._set_production(data, info, "promote", now)
                return
            if data.get("current") == version:
                raise ArgumentError(
                    f"Version {version!r} is in production; promote or roll back to another version before moving it to {stage!r}"
                )
            info["status"] = stage
            info["updated_at"] = now

    def rollback(self, target_version: str | None = None) -> str:
        """Put ``target_version`` (default: the production version before the current one) back in production.

        Returns the version now in production.
        """
        with self._transaction() as data:
            current = data.get("current")
            if target_version is None:
                previous = [h["version"] for h in data["history"] if h["version"] != current]
                if not previous:
                    raise ArgumentError("Nothing to roll back to: no earlier production version in the history")
                target_version = previous[-1]
            info = self._find(data, target_version)
            if target_version == current:
                raise ArgumentError(f"Version {target_version!r} is already in production")
            self._set_production(data, info, "rollback", _now())
        return target_version

    @staticmethod
    def _set_production(data: dict[str, Any], info: dict[str, Any], action: str, now: str) -> None:
        current = data.get("current")
        if current is not None and current != info["version"]:
            old = ModelVersionManager._find(data, current)
            old["status"] = "archived"
            old["updated_at"] = now
        info["status"] = "production"
        info["updated_at"] = now
        data["current"] = info["version"]
        data["history"].append({"version": info["version"], "action": action, "previous": current, "at": now})
