"""``tunesmith data`` convert / split / mix / generate, through the top-level CLI."""

from __future__ import annotations

import json

from tunesmith.cli import main
from tunesmith.data import TrainingExample, load_examples, save_examples


def exs(n, tag="t"):
    return [TrainingExample(f"{tag} instruction {i}", "", f"{tag} output {i}") for i in range(n)]


def test_convert_between_schemas_and_formats_with_rejects(tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    save_examples(exs(3), src)
    with src.open("a") as f:
        f.write('{"instruction": 1, "output": "x"}\n')
    assert main(["data", "convert", str(src), str(tmp_path / "out.parquet"), "--schema", "openai"]) == 1
    assert "in.jsonl:4: field 'instruction': expected a string, got int" in capsys.readouterr().err
    assert not (tmp_path / "out.parquet").exists()
    rejects = tmp_path / "rejects.txt"
    assert main(["data", "convert", str(src), str(tmp_path / "out.parquet"), "--schema", "openai", "--lenient",
                 "--rejects", str(rejects)]) == 0
    assert "3 examples (alpaca 3), 1 rejected" in capsys.readouterr().out
    assert rejects.read_text().startswith(f"{src}:4: field 'instruction'")
    assert load_examples(tmp_path / "out.parquet").schemas == {"openai": 3}
    assert load_examples(tmp_path / "out.parquet").examples == exs(3)


def test_split_and_mix(tmp_path, capsys):
    src = tmp_path / "all.json"
    save_examples(exs(20), src)
    assert main(["data", "split", str(src), "--out-dir", str(tmp_path / "s"), "--ratios", "0.5", "0.25", "0.25",
                 "--seed", "3"]) == 0
    sizes = [len(load_examples(tmp_path / "s" / f"{k}.jsonl")) for k in ("train", "validation", "test")]
    assert sizes == [10, 5, 5]
    save_examples(exs(2, "b"), tmp_path / "b.jsonl")
    assert main(["data", "mix", f"a={src}", f"b={tmp_path / 'b.jsonl'}", "-o", str(tmp_path / "m.jsonl"),
                 "--strategy", "equal"]) == 0
    assert "4 examples (a 2, b 2)" in capsys.readouterr().out
    tasks = [json.loads(line)["metadata"]["task"] for line in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert sorted(tasks) == ["a", "a", "b", "b"]
    assert main(["data", "mix", "nonsense", "-o", str(tmp_path / "x.jsonl")]) == 1
    assert "expected NAME=PATH" in capsys.readouterr().err


def test_generate_against_the_loopback_endpoint(tmp_path, capsys, fake_endpoint, monkeypatch):
    fake_endpoint.queue("---\nInstruction: Name a colour of the sky\nInput:\nOutput: The sky is usually blue on a "
                        "clear day.\n---\nnothing useful\n---")
    save_examples([TrainingExample("Name a fruit that is yellow", "", "A banana is a yellow fruit.")],
                  tmp_path / "seeds.jsonl")
    monkeypatch.setenv("TS_TEST_KEY", "secret")
    code = main(["data", "generate", str(tmp_path / "seeds.jsonl"), "-o", str(tmp_path / "gen.jsonl"), "--num", "1",
                 "--task", "trivia", "--base-url", fake_endpoint.url, "--api-key-env", "TS_TEST_KEY"])
    out = capsys.readouterr().out
    assert code == 0 and "1 requests -> 1 parsed, 1 unparsable blocks" in out
    assert load_examples(tmp_path / "gen.jsonl").examples == [
        TrainingExample("Name a colour of the sky", "", "The sky is usually blue on a clear day.")]
    assert fake_endpoint.requests[0]["authorization"] == "Bearer secret"
