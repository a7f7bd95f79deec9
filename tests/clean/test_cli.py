"""``tunesmith clean`` end to end, and the demo step."""

from __future__ import annotations

import json
import subprocess
import sys

from tunesmith.clean.corpus import make_corpus


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tunesmith", *map(str, args)], capture_output=True, text=True)


def test_clean_command_writes_outputs_and_report(tmp_path):
    src = tmp_path / "c.jsonl"
    make_corpus(300, seed=5).write(src)
    cfg = tmp_path / "clean.yaml"
    cfg.write_text("near_dedup:\n  threshold: 0.8\n")
    p = run("clean", src, "-o", tmp_path / "o.jsonl.gz", "--config", cfg, "--report", tmp_path / "r.json",
            "--removed", tmp_path / "rm.jsonl", "--rejected", tmp_path / "rj.jsonl", "--threads", "2", "--fsync")
    assert p.returncode == 0, p.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["read"] == report["kept"] + report["removed"] + report["rejected"]
    assert {"removed_by_reason", "pii_by_kind", "clusters", "records_per_second", "bytes_per_second"} <= report.keys()
    assert "kept" in p.stdout and "exact_duplicate" in p.stdout


def test_clean_command_errors(tmp_path):
    src = tmp_path / "c.jsonl"
    src.write_text('{"text": "fine"}\n{broken\n')
    p = run("clean", src, "-o", tmp_path / "o.jsonl", "--strict")
    assert p.returncode == 1 and "c.jsonl:2" in p.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("pii:\n  modee: mask\n")
    p = run("clean", src, "-o", tmp_path / "o.jsonl", "--config", bad)
    assert p.returncode == 1 and "pii.modee" in p.stderr
    p = run("clean", tmp_path / "missing.jsonl", "-o", tmp_path / "o.jsonl")
    assert p.returncode == 1 and "missing.jsonl" in p.stderr


def test_demo_step(tmp_path, capsys):
    from tunesmith.clean.demo import demo_step

    demo_step(tmp_path)
    out = capsys.readouterr().out
    assert "exact_duplicate" in out and (tmp_path / "report.json").exists()
