"""TrainingExample conversions both ways, and dataset files (jsonl/json/parquet) round trips and errors."""

from __future__ import annotations

import json
import pathlib
import tempfile

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tunesmith.data import DatasetFormatter, TrainingExample, load_examples, save_examples
from tunesmith.data.example import CHAT_INPUT_MARKER
from tunesmith.errors import ArgumentError, InputError

# any Unicode except lone surrogates (not encodable as UTF-8), including U+2028, \r, \x85 that split "lines"
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
json_value = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), text)
metadata = st.one_of(st.none(), st.dictionaries(st.text(max_size=8), json_value, min_size=1, max_size=3))
examples = st.builds(TrainingExample, instruction=text, input=text, output=text, system_prompt=text, metadata=metadata)


def seed_guide_chat(ex: TrainingExample) -> list[dict[str, str]]:
    """The seed guide's to_chat_format, verbatim (the oracle the class must match)."""
    messages = []
    if ex.system_prompt:
        messages.append({"role": "system", "content": ex.system_prompt})
    user_content = ex.instruction
    if ex.input:
        user_content += f"\n\nInput:\n{ex.input}"
    messages.append({"role": "user", "content": user_content})
    messages.append({"role": "assistant", "content": ex.output})
    return messages


@given(examples)
def test_forward_conversions_are_the_seed_guides(ex):
    assert ex.to_chat_format() == seed_guide_chat(ex)
    assert ex.to_alpaca_format() == {"instruction": ex.instruction, "input": ex.input, "output": ex.output}
    human = ex.instruction + (f"\n\n{ex.input}" if ex.input else "")
    assert ex.to_sharegpt_format() == {"conversations": [{"from": "human", "value": human},
                                                         {"from": "gpt", "value": ex.output}],
                                       "system": ex.system_prompt}


@given(examples)
def test_records_round_trip_for_every_schema(ex):
    # record -> example -> record is exact in all three shapes, whatever the text holds
    chat = ex.to_chat_format()
    assert TrainingExample.from_chat_format(chat).to_chat_format() == chat
    share = ex.to_sharegpt_format()
    assert TrainingExample.from_sharegpt_format(share).to_sharegpt_format() == share
    alpaca = ex.to_alpaca_format()
    assert TrainingExample.from_alpaca_format(alpaca).to_alpaca_format() == alpaca


@given(examples)
def test_examples_round_trip_where_the_format_keeps_the_fields(ex):
    back = TrainingExample.from_alpaca_format(ex.to_alpaca_format())
    assert (back.instruction, back.input, back.output) == (ex.instruction, ex.input, ex.output)
    if CHAT_INPUT_MARKER not in ex.instruction:
        back = TrainingExample.from_chat_format(ex.to_chat_format())
        assert back == TrainingExample(ex.instruction, ex.input, ex.output, ex.system_prompt)
    back = TrainingExample.from_sharegpt_format(ex.to_sharegpt_format())
    assert back.instruction == ex.instruction + (f"\n\n{ex.input}" if ex.input else "") and back.input == ""


def _exact(ex: TrainingExample, schema: str) -> TrainingExample:
    """What a file in ``schema`` can give back for ``ex`` (with extras)."""
    if schema == "sharegpt":
        return TrainingExample(ex.instruction + (f"\n\n{ex.input}" if ex.input else ""), "", ex.output,
                               ex.system_prompt, ex.metadata)
    return ex


@given(st.lists(examples, max_size=6), st.sampled_from(["jsonl", "json", "parquet"]),
       st.sampled_from(["alpaca", "sharegpt", "openai"]))
def test_files_round_trip(batch, file_format, schema):
    batch = [ex for ex in batch if CHAT_INPUT_MARKER not in ex.instruction]
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / f"data.{file_format}"
        save_examples(batch, path, schema=schema, extras=True)
        loaded = load_examples(path)
        assert loaded.examples == [_exact(ex, schema) for ex in batch]
        assert loaded.rejects == [] and sum(loaded.schemas.values()) == len(batch)
        assert [p.name for p in pathlib.Path(tmp).iterdir()] == [path.name]  # no temp file left behind


def test_save_dataset_writes_the_seed_guides_bytes(tmp_path):
    exs = [TrainingExample("Say hi", "to Bob", "Hi Bob!", system_prompt="kind", metadata={"k": 1}),
           TrainingExample("Count", "", "1 2 3")]
    DatasetFormatter.save_dataset(exs, str(tmp_path / "a.jsonl"))
    assert (tmp_path / "a.jsonl").read_text() == "".join(json.dumps(e.to_alpaca_format()) + "\n" for e in exs)
    DatasetFormatter.save_dataset(exs, str(tmp_path / "a.json"), format="json")
    assert json.loads((tmp_path / "a.json").read_text()) == DatasetFormatter.to_alpaca(exs)
    DatasetFormatter.save_dataset(exs, str(tmp_path / "a.parquet"), format="parquet")
    import pyarrow.parquet as pq

    assert pq.read_table(tmp_path / "a.parquet").to_pylist() == DatasetFormatter.to_alpaca(exs)
    assert DatasetFormatter.load_dataset(str(tmp_path / "a.parquet")) == [
        TrainingExample("Say hi", "to Bob", "Hi Bob!"), TrainingExample("Count", "", "1 2 3")]
    assert DatasetFormatter.to_openai_chat(exs)[0] == {"messages": exs[0].to_chat_format()}
    assert DatasetFormatter.from_sharegpt(DatasetFormatter.to_sharegpt(exs))[1] == TrainingExample("Count", "", "1 2 3")


def test_jsonl_lines_survive_readers_that_split_on_unicode_line_breaks(tmp_path):
    from tunesmith.tune.data import load_records

    tricky = [TrainingExample("a\u2028b", "c\x85d", "e\u2029f é")]
    path = save_examples(tricky * 3, tmp_path / "t.jsonl")
    assert len(path.read_text(encoding="utf-8").splitlines()) == 3 and "é" in path.read_text(encoding="utf-8")
    assert [r.data["instruction"] for r in load_records(path)] == ["a\u2028b"] * 3
    assert load_examples(path).examples == tricky * 3


def test_failed_save_leaves_the_old_file(tmp_path):
    path = tmp_path / "keep.jsonl"
    save_examples([TrainingExample("old", "", "data")], path)
    before = path.read_bytes()
    with pytest.raises(TypeError):
        save_examples([TrainingExample("a", "", "b", metadata={"bad": object()})], path, extras=True)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.jsonl"]
    path.chmod(0o640)
    save_examples([TrainingExample("new", "", "data")], path)
    assert path.stat().st_mode & 0o777 == 0o640  # a rewrite keeps the file's mode
    fresh = save_examples([], tmp_path / "fresh.jsonl")
    (tmp_path / "plain.txt").write_text("")  # what an ordinary open() gives under this umask
    assert fresh.stat().st_mode & 0o777 == (tmp_path / "plain.txt").stat().st_mode & 0o777


def test_strict_errors_name_file_line_and_field(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"instruction": "a", "output": "b"}\n\n{"instruction": "c", "output": 7}\n')
    with pytest.raises(InputError, match=r"bad\.jsonl:3: field 'output': expected a string, got int"):
        load_examples(path)
    path.write_text('{"messages": [{"role": "user", "content": "q"}, {"role": "bot", "content": "a"}]}\n')
    with pytest.raises(InputError, match=r"bad\.jsonl:1: field 'messages\[1\]\.role': 'bot'; expected one of"):
        load_examples(path)
    path.write_text('{"conversations": [{"from": "human", "value": "q"}]}\n')
    with pytest.raises(InputError, match=r"bad\.jsonl:1: field 'conversations': 1 turn\(s\)"):
        load_examples(path)
    path.write_text('{"text": "plain"}\n')
    with pytest.raises(InputError, match=r"bad\.jsonl:1: cannot tell the schema from keys \['text'\]"):
        load_examples(path)
    path.write_text('{"instruction": "a", "output": "b"}\n{"instruction": "a", "output": "b"\n')
    with pytest.raises(InputError, match=r"bad\.jsonl:2: invalid JSON at column"):
        load_examples(path)
    path.write_text('{"instruction": "a", "output": "b"}\n')
    with pytest.raises(InputError, match=r"bad\.jsonl:1: field 'messages': missing"):
        load_examples(path, schema="openai")


def test_json_list_errors_give_the_line_of_the_record(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('[\n  {"instruction": "a", "output": "b"},\n\n  {"instruction": "c",\n   "output": null}\n]\n')
    with pytest.raises(InputError, match=r"bad\.json:4: field 'output': expected a string, got NoneType"):
        load_examples(path)
    path.write_text('{"instruction": "a", "output": "b"}')
    with pytest.raises(InputError, match="must be a JSON list"):
        load_examples(path)


def test_parquet_errors_give_the_row(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "bad.parquet"
    pq.write_table(pa.Table.from_pylist([{"instruction": "a", "output": "b"}, {"instruction": "c", "output": None}]), path)
    with pytest.raises(InputError, match=r"bad\.parquet:2: field 'output'"):
        load_examples(path)


def test_lenient_mode_collects_rejects_and_keeps_the_rest(tmp_path):
    path = tmp_path / "mixed.jsonl"
    lines = [
        json.dumps({"instruction": "a", "output": "b"}),
        "{not json",
        json.dumps({"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "r"}], "system": "s"}),
        json.dumps({"messages": [{"role": "user", "content": "q"}]}),
        json.dumps({"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q\n\nInput:\nx"},
                                 {"role": "assistant", "content": "r"}]}),
    ]
    path.write_text("\n".join(lines) + "\n")
    result = load_examples(path, lenient=True)
    assert result.examples == [TrainingExample("a", "", "b"), TrainingExample("q", "", "r", "s"),
                               TrainingExample("q", "x", "r", "s")]
    assert [(r.line, r.field) for r in result.rejects] == [(2, None), (4, "messages")]
    assert str(result.rejects[1]).startswith(f"{path}:4: field 'messages': 1 turn(s)")
    assert result.schemas == {"alpaca": 1, "sharegpt": 1, "openai": 1}


def test_bad_arguments_name_the_choices(tmp_path):
    with pytest.raises(ArgumentError, match="cannot tell the file format.*jsonl, json, parquet"):
        save_examples([], tmp_path / "x.txt")
    with pytest.raises(ArgumentError, match="schema: 'yaml' is not one of alpaca, sharegpt, openai"):
        save_examples([TrainingExample("a", "", "b")], tmp_path / "x.jsonl", schema="yaml")
    with pytest.raises(ArgumentError, match="schema: 'csv' is not one of auto"):
        load_examples(tmp_path / "x.jsonl", schema="csv")
    with pytest.raises(InputError, match="no such dataset file"):
        load_examples(tmp_path / "missing.jsonl")


def test_compressed_datasets_as_clean_writes_them(tmp_path):
    import gzip

    from tunesmith.clean import clean_file

    examples = [TrainingExample(f"Name the number {i}.", "", f"It is the number {i}, written out.") for i in range(6)]
    plain = save_examples(examples, tmp_path / "d.jsonl")
    (tmp_path / "d.jsonl.gz").write_bytes(gzip.compress(plain.read_bytes()))
    off = {"enabled": False}
    report = clean_file(plain, tmp_path / "clean.jsonl.zst", gopher_quality=off, gopher_repetition=off, seed_checks=off)
    assert report.kept == 6
    for name in ("d.jsonl.gz", "clean.jsonl.zst"):
        assert load_examples(tmp_path / name).examples == examples, name
    (tmp_path / "broken.jsonl.gz").write_bytes(b"\x1f\x8b not gzip after all")
    with pytest.raises(InputError, match=r"broken\.jsonl\.gz: cannot read the dataset"):
        load_examples(tmp_path / "broken.jsonl.gz")
    with pytest.raises(ArgumentError, match="written uncompressed"):
        save_examples(examples, tmp_path / "out.jsonl.gz")
    with pytest.raises(ArgumentError, match="cannot tell the file format from the suffix '.parquet.gz'"):
        load_examples(tmp_path / "x.parquet.gz")


def test_clean_package_re_exports_the_one_class():
    import tunesmith.clean
    import tunesmith.clean.seed_compat
    import tunesmith.data.example

    assert tunesmith.clean.TrainingExample is tunesmith.data.example.TrainingExample
    assert tunesmith.clean.seed_compat.TrainingExample is TrainingExample


def test_import_loads_no_heavy_modules():
    import subprocess
    import sys

    code = ("import sys, tunesmith.data as d; d.TrainingExample; d.DatasetFormatter; d.MultiTaskFineTuner; "
            "d.CompletionClient; d.SyntheticDataGenerator; d.ContinuedPreTrainer; "
            "print(sorted(m for m in ('torch', 'transformers', 'pyarrow', 'pydantic') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
