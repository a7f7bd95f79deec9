"""``tunesmith estimate`` and ``tunesmith sweep``."""

from __future__ import annotations

import json
import pathlib

import pytest

from tunesmith.cli import main


def test_estimate_prints_breakdown_and_verdict(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["estimate", "llama-3-8b", "--method", "lora", "--rank", "16", "--batch", "4", "--seq", "2048",
                 "--device", "H100"]) == 0
    out = capsys.readouterr().out
    for word in ("weights", "optimizer state", "activations", "logits", "peak", "FITS on H100", "tokens/s"):
        assert word in out


def test_estimate_gives_advice_when_it_does_not_fit(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["estimate", "llama-3-8b", "--method", "full", "--batch", "4", "--seq", "2048",
                 "--device", "A10G"]) == 0
    out = capsys.readouterr().out
    assert "DOES NOT FIT" in out and "advice" in out


def test_estimate_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["estimate", "gpt2", "--json", "--batch", "2", "--seq", "128"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["total_bytes"] == d["peak_bytes"] and d["batch_size"] == 2


def test_estimate_bad_argument_is_a_clean_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["estimate", "gpt2", "--device", "H1000"]) == 2
    assert "device" in capsys.readouterr().err


def test_sweep_writes_parquet_and_plot(tmp_path: pathlib.Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    pytest.importorskip("matplotlib")
    out, png = tmp_path / "s.parquet", tmp_path / "m.png"
    assert main(["sweep", "qwen2.5-0.5b", "--method", "lora", "--batch", "1,2,4", "--seq", "512,1024",
                 "--grid", "rank=8,64", "--device", "T4", "-o", str(out), "--plot", str(png)]) == 0
    t = pq.read_table(out)
    assert t.num_rows == 12 and "fits" in t.column_names
    assert png.stat().st_size > 1000


def test_sweep_csv(tmp_path: pathlib.Path) -> None:
    pytest.importorskip("pyarrow")
    out = tmp_path / "s.csv"
    assert main(["sweep", "gpt2", "--batch", "1,2", "--seq", "128", "-o", str(out)]) == 0
    assert out.read_text().count("\n") == 3
