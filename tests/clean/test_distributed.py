"""The clean pass on Ray: same kept records, side files and report as the local pass.

The default tests start one small local Ray instance (2 CPUs) for the module; the ``ray start --head`` cluster
with worker nodes is in the slow test at the end.
"""

from __future__ import annotations

import gzip
import json
import pathlib
import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tunesmith.clean import Pipeline
from tunesmith.clean.corpus import make_corpus
from tunesmith.clean.distributed import (
    _bucket_edges,
    _edges_table,
    _large_star,
    _orient_down,
    _small_star,
    run_ray,
)
from tunesmith.errors import InputError

ray = pytest.importorskip("ray")

FIELDS = ("read", "kept", "removed", "rejected", "removed_by_reason", "pii_by_kind", "clusters", "bytes_read",
          "bytes_written", "exact_entries", "lsh_entries", "rejections")


def _words(seed: int, n: int = 60) -> list[str]:
    rng = np.random.default_rng(seed)
    vocab = "river stone garden window letter morning summer valley market harbor lantern meadow".split()
    return [f"{vocab[i % len(vocab)]}{j}" for i, j in zip(rng.integers(0, 12, n), rng.integers(0, 999, n), strict=True)]


def _edge_cases() -> list[bytes]:
    """Records whose fate depends on first-occurrence order and on what exactly is hashed."""
    base = _words(1)
    chain_b = base[:54] + _words(2, 6)  # about 0.82 Jaccard (5-gram words) with base
    chain_c = chain_b[:48] + _words(3, 12)  # near chain_b, not near base: kept only because chain_b is removed
    doc = lambda ws: json.dumps({"text": " ".join(ws) + "."}).encode()  # noqa: E731
    inst = "Name the capital of France and one river that runs through it."
    out = "The capital of France is Paris, and the Seine runs through the city."
    return [
        doc(base),
        doc(chain_b),
        doc(chain_c),
        json.dumps({"instruction": inst, "output": out}).encode(),
        json.dumps({"instruction": inst, "input": "", "output": out}).encode(),  # exact duplicate of the previous
        json.dumps({"messages": [{"role": "user", "content": inst}, {"role": "assistant", "content": out}]}).encode(),
        json.dumps({"text": "Mail jane.doe@example.com or call 555-867-5309 about the garden party soon."}).encode()
        + b"\r",
        b'{"text": "caf\xc3 au lait in the morning is a fine thing to have"}',
        b"",
        b"[1, 2]",
        doc(base),  # exact duplicate of the first record, after it was already kept
    ]


@pytest.fixture(scope="module")
def ray_local():
    ray.init(address="local", num_cpus=2, object_store_memory=300 * 2**20, include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def corpus_files(tmp_path_factory) -> list[pathlib.Path]:
    d = tmp_path_factory.mktemp("ray-corpus")
    lines = make_corpus(260, seed=7, dup_frac=0.12, near_frac=0.1, pii_frac=0.2, malformed_frac=0.03).lines
    extra = _edge_cases()
    first = lines[:150] + extra[:6]
    second = extra[6:] + lines[150:] + [lines[3], lines[200]]  # duplicates across files
    paths = [d / "a.jsonl", d / "b.jsonl", d / "c.jsonl.gz"]
    paths[0].write_bytes(b"\n".join(first) + b"\n")
    paths[1].write_bytes(b"\n".join(second))  # no final newline
    paths[2].write_bytes(gzip.compress(b"\n".join([lines[5], extra[0], lines[7], b"{"]) + b"\n"))  # read whole
    return paths


def _concat(directory: pathlib.Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(directory.glob("part-*.jsonl")))


def _both(paths, tmp: pathlib.Path, config: dict, **ray_kwargs):
    local = Pipeline(config).clean_file(
        paths, tmp / "local.jsonl", removed=tmp / "local.removed.jsonl", rejected=tmp / "local.rejected.jsonl"
    )
    result = run_ray(
        paths, tmp / "out", config, removed=tmp / "removed", rejected=tmp / "rejected", report=tmp / "report.json",
        **ray_kwargs,
    )
    return local, result


CONFIGS = {
    "default": {"gopher_quality": {"enabled": False}},
    "all-steps-pii-drop-no-exact": {"exact_dedup": {"enabled": False}, "pii": {"action": "drop"}},
}


@pytest.mark.parametrize(
    "name", ["default", pytest.param("all-steps-pii-drop-no-exact", marks=pytest.mark.slow)]
)
def test_same_records_side_files_and_report_as_local(ray_local, corpus_files, tmp_path, name):
    local, result = _both(corpus_files, tmp_path, CONFIGS[name], chunk_bytes=20000, partitions=3)
    r = result.report
    assert result.chunks > 4  # several byte ranges per file, boundaries inside the corpus
    for f in FIELDS:
        assert getattr(r, f) == getattr(local, f), f
    assert r.balanced and r.removed_by_reason  # something was removed...
    if name == "default":
        assert r.removed_by_reason["exact_duplicate"] >= 30 and r.removed_by_reason["near_duplicate"] >= 20
        assert r.pii_by_kind and result.cc_rounds >= 1
    # Shards concatenated in name order are the local outputs, byte for byte (so the order is deterministic).
    assert _concat(tmp_path / "out") == (tmp_path / "local.jsonl").read_bytes()
    assert _concat(tmp_path / "removed") == (tmp_path / "local.removed.jsonl").read_bytes()
    assert _concat(tmp_path / "rejected") == (tmp_path / "local.rejected.jsonl").read_bytes()
    assert json.loads((tmp_path / "report.json").read_text())["kept"] == local.kept
    assert [p.name for p in result.shards] == [f"part-{i:05d}.jsonl" for i in range(result.chunks)]


def test_chained_near_duplicates_follow_keep_first(ray_local, tmp_path):
    """base ~ b ~ c with c not ~ base: the local pass keeps base and c (b is removed, so c has no kept match);
    connected components alone would remove c too."""
    extra = _edge_cases()
    src = tmp_path / "chain.jsonl"
    src.write_bytes(b"\n".join(extra[:3]) + b"\n")
    cfg = {"gopher_quality": {"enabled": False}, "gopher_repetition": {"enabled": False}}
    local, result = _both([src], tmp_path, cfg)
    assert local.removed_by_reason == {"near_duplicate": 1} and local.kept == 2
    assert result.report.removed_by_reason == local.removed_by_reason
    removed = [json.loads(line) for line in _concat(tmp_path / "removed").splitlines()]
    assert [(r["line"], r["duplicate_of"]["line"]) for r in removed] == [(2, 1)]
    assert _concat(tmp_path / "out") == (tmp_path / "local.jsonl").read_bytes()


def test_empty_inputs_give_empty_shards_like_local(ray_local, tmp_path):
    src = tmp_path / "empty.jsonl"
    src.write_bytes(b"")
    local, result = _both([src], tmp_path, {})
    assert (result.report.read, result.report.kept) == (local.read, local.kept) == (0, 0)
    assert _concat(tmp_path / "out") == (tmp_path / "local.jsonl").read_bytes() == b""


def test_strict_stops_at_the_first_malformed_line_like_local(ray_local, corpus_files, tmp_path):
    with pytest.raises(InputError) as local_err:
        Pipeline(strict=True).clean_file(corpus_files, tmp_path / "l.jsonl")
    with pytest.raises(InputError) as ray_err:
        run_ray(corpus_files, tmp_path / "out", strict=True, chunk_bytes=20000)
    assert str(ray_err.value) == str(local_err.value)
    assert not (tmp_path / "out").exists()


def test_output_must_be_a_directory_of_shards(ray_local, corpus_files, tmp_path):
    (tmp_path / "file.jsonl").write_text("x\n")
    with pytest.raises(ValueError, match="directory of shards"):
        run_ray(corpus_files, tmp_path / "file.jsonl")
    (tmp_path / "mixed").mkdir()
    (tmp_path / "mixed" / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="other than part-"):
        run_ray(corpus_files, tmp_path / "mixed")
    assert (tmp_path / "mixed" / "notes.txt").read_text() == "keep me"


def test_pipeline_run_and_cli_use_the_ray_executor(ray_local, corpus_files, tmp_path):
    from tunesmith.clean import clean_file
    from tunesmith.cli import main

    local = clean_file(corpus_files, tmp_path / "local.jsonl", **CONFIGS["default"])
    via_run = Pipeline(CONFIGS["default"]).run(corpus_files, tmp_path / "run", executor="ray")
    assert (via_run.kept, via_run.removed_by_reason) == (local.kept, local.removed_by_reason)
    with pytest.raises(ValueError, match="progress: not supported"):
        clean_file(corpus_files, tmp_path / "fn", executor="ray", progress=print)
    (tmp_path / "cfg.yaml").write_text("gopher_quality:\n  enabled: false\n")
    code = main(["clean", *map(str, corpus_files), "-o", str(tmp_path / "cli"), "--executor", "ray", "--quiet",
                 "--config", str(tmp_path / "cfg.yaml"), "--report", str(tmp_path / "cli.json"), "--fsync"])
    assert code == 0
    assert json.loads((tmp_path / "cli.json").read_text())["kept"] == local.kept
    assert _concat(tmp_path / "cli") == (tmp_path / "local.jsonl").read_bytes()


def test_unknown_executor_names_the_choices(corpus_files, tmp_path):
    with pytest.raises(ValueError, match="executor.*'local', 'ray'"):
        Pipeline().run(corpus_files, tmp_path / "o", executor="dask")


def test_without_ray_the_executor_says_how_to_install(corpus_files, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ImportError, match=r"tunesmith\[dist\]"):
        run_ray(corpus_files, tmp_path / "o")


# ------------------------------------------------------------- connected components, without Ray


def _components_by_stars(edges: list[tuple[int, int]]) -> dict[int, int]:
    """Run the large-star / small-star rounds of the Ray step on one partition until the edge set is stable."""
    a = np.array([e[0] for e in edges], np.uint64)
    b = np.array([e[1] for e in edges], np.uint64)
    prev = None
    for _ in range(100):
        both = _edges_table(np.concatenate([a, b]), np.concatenate([b, a]), 1)
        large = _large_star(both, 1)
        down = _orient_down(large, 1)
        small = _small_star(down, 1)
        a, b = small.column("a").to_numpy(), small.column("b").to_numpy()
        state = set(zip(a.tolist(), b.tolist(), strict=True))
        if state == prev:
            break
        prev = state
    roots = {int(x): int(y) for x, y in zip(a, b, strict=True)}
    roots.update({r: r for r in set(roots.values())})
    return roots


def _components_by_union_find(edges: list[tuple[int, int]]) -> dict[int, int]:
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        parent.setdefault(x, x)
        while parent[x] != x:
            x = parent[x]
        return x

    for u, v in edges:
        ru, rv = find(u), find(v)
        parent[max(ru, rv)] = min(ru, rv)
    return {x: find(x) for x in parent}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40)).filter(lambda e: e[0] != e[1]), min_size=1,
                max_size=80))
def test_large_small_star_labels_every_node_with_its_component_minimum(edges):
    assert _components_by_stars(edges) == _components_by_union_find(edges)


def test_long_path_converges_to_one_star():
    path = [(i, i + 1) for i in range(200)]
    assert set(_components_by_stars(path).values()) == {0}


def test_bucket_edges_link_each_member_to_the_smallest():
    import pyarrow as pa

    group = pa.table({"bucket": pa.array([7, 7, 7, 9, 9, 4], pa.uint64()), "id": pa.array([30, 10, 20, 5, 5, 1], pa.uint64())})
    e = _bucket_edges(group, 1)
    assert sorted(zip(e.column("a").to_pylist(), e.column("b").to_pylist(), strict=True)) == [(20, 10), (30, 10)]


# ------------------------------------------------------------- a real cluster: ray start --head + workers


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_cluster_of_head_and_two_workers_matches_local(corpus_files, tmp_path, monkeypatch):
    """``ray start --head`` (no CPUs) plus two 1-CPU worker nodes, loopback only; stopped by their own pids."""
    import secrets

    if ray.is_initialized():
        ray.shutdown()
    # Ray's token authentication: one fresh token shared by the nodes and this driver.
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    monkeypatch.setenv("RAY_AUTH_TOKEN", secrets.token_hex(32))
    exe = shutil.which("ray") or str(pathlib.Path(sys.executable).with_name("ray"))
    port = _free_port()
    address = f"127.0.0.1:{port}"
    common = ["--block", "--node-ip-address=127.0.0.1", "--disable-usage-stats", f"--object-store-memory={300 * 2**20}"]
    procs = [subprocess.Popen([exe, "start", "--head", f"--port={port}", "--num-cpus=0", "--include-dashboard=false",
                               *common], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        _wait_for(address)
        # Drivers are fresh processes (the CLI): Ray reads the token settings once per process.
        wait = ("import ray, sys, time\n"
                "for attempt in range(60):\n"
                "    try:\n"
                f"        ray.init(address={address!r}, log_to_driver=False)\n"
                "        break\n"
                "    except ConnectionError:\n"
                "        time.sleep(2)\n"
                "while ray.cluster_resources().get('CPU', 0) < int(sys.argv[1]): time.sleep(0.5)")
        # Workers join once the head answers a driver (joining earlier can fail while the head starts up).
        subprocess.run([sys.executable, "-c", wait, "0"], check=True, timeout=180, capture_output=True)
        for n in (1, 2):
            # One node at a time, each on its own ports: two raylets starting together on one host can both pick
            # a default port and one aborts with "bind: Address already in use".
            procs.append(subprocess.Popen([exe, "start", f"--address={address}", "--num-cpus=1", *common, *_node_ports()],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            subprocess.run([sys.executable, "-c", wait, str(n)], check=True, timeout=180, capture_output=True)
        driver = [sys.executable, "-c", "from tunesmith.cli import main; raise SystemExit(main())"]
        (tmp_path / "cfg.yaml").write_text("gopher_quality:\n  enabled: false\n")
        run = subprocess.run(
            [*driver, "clean", *map(str, corpus_files), "-o", str(tmp_path / "out"), "--removed", str(tmp_path / "removed"),
             "--rejected", str(tmp_path / "rejected"), "--report", str(tmp_path / "report.json"), "--quiet",
             "--config", str(tmp_path / "cfg.yaml"), "--executor", "ray", "--address", address],
            capture_output=True, text=True, timeout=400,
        )
        assert run.returncode == 0, run.stderr[-2000:]
        local = Pipeline(CONFIGS["default"]).clean_file(
            corpus_files, tmp_path / "local.jsonl", removed=tmp_path / "local.removed.jsonl",
            rejected=tmp_path / "local.rejected.jsonl",
        )
        got = json.loads((tmp_path / "report.json").read_text())
        for f in FIELDS:
            assert got[f] == getattr(local, f), f
        assert _concat(tmp_path / "out") == (tmp_path / "local.jsonl").read_bytes()
        assert _concat(tmp_path / "removed") == (tmp_path / "local.removed.jsonl").read_bytes()
    finally:
        _stop(procs, port)


def _node_ports() -> list[str]:
    flags = ("--node-manager-port", "--object-manager-port", "--dashboard-agent-listen-port",
             "--dashboard-agent-grpc-port", "--metrics-export-port", "--runtime-env-agent-port")
    return [f"{flag}={_free_port()}" for flag in flags]


def _wait_for(address: str, timeout: float = 120.0) -> None:
    import time

    host, port = address.split(":")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex((host, int(port))) == 0:
                return
        time.sleep(0.5)
    raise TimeoutError(f"Ray head at {address} did not come up in {timeout:.0f} s")


def _stop(procs: list[subprocess.Popen], port: int) -> None:
    """Stop the nodes this test started (by pid) and forget the cluster address `ray start` recorded."""
    for p in reversed(procs):
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
    current = pathlib.Path("/tmp/ray/ray_current_cluster")
    if current.is_file() and current.read_text().strip().endswith(f":{port}"):
        current.unlink()
