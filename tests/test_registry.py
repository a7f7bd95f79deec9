"""ModelVersionManager: stages, rollback, atomic writes, concurrent writer processes, corrupt files."""

from __future__ import annotations

import json
import multiprocessing
import os
import pathlib

import pytest

from tunesmith.errors import ArgumentError, InputError
from tunesmith.registry import ModelVersionManager


def test_register_promote_rollback(tmp_path: pathlib.Path):
    reg = ModelVersionManager(tmp_path / "reg")
    with pytest.raises(ArgumentError, match="No current version"):
        reg.get_current_model_path()
    info = reg.register_version("v1", tmp_path / "m1", {"loss": 1.2, "accuracy": 0.7}, {"base": "tiny"})
    assert info["status"] == "registered" and info["model_path"] == str(tmp_path / "m1")
    reg.register_version("v2", "/models/m2", {"loss": 0.9})
    reg.register_version("v3", "/models/m3", {"loss": 0.8})
    with pytest.raises(ArgumentError, match="already registered"):
        reg.register_version("v1", "/x", {})

    reg.promote_version("v1", "staging")
    assert reg.get_version("v1")["status"] == "staging"
    reg.promote_version("v1", "production")
    assert reg.get_current_model_path() == str(tmp_path / "m1")
    reg.promote_version("v2", "production")
    assert reg.current_version() == "v2"
    assert reg.get_version("v1")["status"] == "archived"
    assert reg.get_version("v2")["status"] == "production"
    assert [v["version"] for v in reg.list_versions("production")] == ["v2"]

    # a fresh manager (another process) sees the same state
    again = ModelVersionManager(tmp_path / "reg")
    assert again.get_current_model_path() == "/models/m2"
    assert again.get_version("v1")["metrics"] == {"loss": 1.2, "accuracy": 0.7}
    assert again.get_version("v1")["metadata"] == {"base": "tiny"}

    assert reg.rollback() == "v1"
    assert reg.get_current_model_path() == str(tmp_path / "m1")
    assert reg.get_version("v2")["status"] == "archived"
    reg.rollback("v3")
    assert reg.current_version() == "v3"
    assert [h["action"] for h in reg.versions["history"]] == ["promote", "promote", "rollback", "rollback"]

    with pytest.raises(ArgumentError, match="not found"):
        reg.promote_version("v9", "staging")
    with pytest.raises(ArgumentError, match="stage"):
        reg.promote_version("v1", "canary")
    with pytest.raises(ArgumentError, match="in production"):
        reg.promote_version("v3", "archived")
    with pytest.raises(ArgumentError, match="already in production"):
        reg.rollback("v3")
    with pytest.raises(ArgumentError, match="not finite"):
        reg.register_version("v4", "/x", {"loss": float("nan")})
    with pytest.raises(ArgumentError, match="numbers"):
        reg.register_version("v4", "/x", {"loss": "low"})  # type: ignore[dict-item]


def test_rollback_with_no_history(tmp_path: pathlib.Path):
    reg = ModelVersionManager(tmp_path)
    reg.register_version("v1", "/a", {})
    with pytest.raises(ArgumentError, match="Nothing to roll back"):
        reg.rollback()
    reg.promote_version("v1", "production")
    with pytest.raises(ArgumentError, match="Nothing to roll back"):
        reg.rollback()


def test_writes_are_atomic_files(tmp_path: pathlib.Path):
    reg = ModelVersionManager(tmp_path)
    reg.register_version("v1", "/a", {"x": 1})
    names = sorted(os.listdir(tmp_path))
    assert names == ["versions.json", "versions.json.lock"]  # no temp files left behind
    data = json.loads((tmp_path / "versions.json").read_text())
    assert data["versions"][0]["version"] == "v1"


@pytest.mark.parametrize(
    "content, match",
    [
        ('{"versions": [', r"versions\.json:1:\d+: model registry is not valid JSON"),
        ('["not", "an", "object"]', "malformed"),
        ('{"versions": [{"version": "v1"}]}', r"versions\[0\]\.model_path"),
        ('{"versions": [], "current": "v7"}', "current version 'v7'"),
    ],
)
def test_corrupt_registry_is_reported_not_overwritten(tmp_path: pathlib.Path, content: str, match: str):
    path = tmp_path / "versions.json"
    path.write_text(content)
    with pytest.raises(InputError, match=match) as info:
        ModelVersionManager(tmp_path)
    assert str(path) in str(info.value)
    # a manager made before the file went bad must not overwrite it either
    path.unlink()
    reg = ModelVersionManager(tmp_path)
    path.write_text(content)
    with pytest.raises(InputError):
        reg.register_version("v1", "/a", {})
    with pytest.raises(InputError):
        reg.promote_version("v1", "production")
    assert path.read_text() == content


def _writer(root: str, prefix: str, n: int, start) -> None:
    reg = ModelVersionManager(root)
    start.wait()
    for i in range(n):
        reg.register_version(f"{prefix}-{i}", f"/models/{prefix}/{i}", {"step": i})
        if i % 5 == 0:
            reg.promote_version(f"{prefix}-{i}", "staging")


def test_two_processes_registering_at_once_lose_nothing(tmp_path: pathlib.Path):
    ctx = multiprocessing.get_context("fork")
    start = ctx.Event()
    n = 40
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), p, n, start)) for p in ("a", "b")]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    reg = ModelVersionManager(tmp_path)
    names = [v["version"] for v in reg.list_versions()]
    assert len(names) == 2 * n
    assert sorted(names) == sorted(f"{p}-{i}" for p in ("a", "b") for i in range(n))
    # each writer's own versions stay in its order
    for p in ("a", "b"):
        assert [x for x in names if x.startswith(p + "-")] == [f"{p}-{i}" for i in range(n)]
    assert len(reg.list_versions("staging")) == 2 * len(range(0, n, 5))
