"""The clean pipeline from Python: accounting over generated corpora, atomic outputs, determinism, formats."""

from __future__ import annotations

import gzip
import json
import os
import pathlib
import pickle
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tunesmith
from tunesmith.clean import CleanConfig, Pipeline, clean_file, clean_texts
from tunesmith.clean.corpus import make_corpus
from tunesmith.errors import ConfigError, InputError

QUICK = {"gopher_quality": {"enabled": False}, "gopher_repetition": {"enabled": False}}

words = st.lists(st.sampled_from("the cat sat on a mat and then ran off to see of with have that".split()), max_size=60)
good = words.map(lambda w: json.dumps({"text": " ".join(w), "n": 1}).encode())
line = st.one_of(
    good,
    good,
    st.sampled_from([b'{"text": "repeat me please, I am the same every time."}', b'{"text": "write to a@b.co now, ok?"}']),
    st.just(b""),
    st.just(b'{"text": '),
    st.just(b'{"id": 3}'),
    st.just(b'{"text": null}'),
    st.just(b'{"text": ["a"]}'),
    st.just(b'{"text": "caf\xc3"}'),
    st.just(b"   "),
    st.binary(max_size=40).filter(lambda b: b"\n" not in b and b"\r" not in b),
    st.builds(lambda i, o: json.dumps({"instruction": i, "output": o}).encode(), st.text(max_size=30), st.text(max_size=80)),
)


def write(path: pathlib.Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(x + b"\n" for x in lines))


def count_lines(path: pathlib.Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


@settings(max_examples=40)
@given(st.lists(line, max_size=60))
def test_every_line_is_accounted_for(tmp_path_factory, lines):
    d = tmp_path_factory.mktemp("acc")
    src = d / "in.jsonl"
    write(src, lines)
    r = clean_file(src, d / "out.jsonl", removed=d / "rm.jsonl", rejected=d / "rj.jsonl", chunk_mb=0.0005)
    assert r.read == len(lines)
    assert r.balanced
    assert count_lines(d / "out.jsonl") == r.kept
    assert count_lines(d / "rm.jsonl") == r.removed
    assert count_lines(d / "rj.jsonl") == r.rejected
    assert sum(r.removed_by_reason.values()) == r.removed
    for rec in map(json.loads, (d / "rj.jsonl").read_text().splitlines()):
        assert {"file", "line", "error"} <= rec.keys()


def test_empty_file_and_large_single_line(tmp_path):
    (tmp_path / "empty.jsonl").write_bytes(b"")
    r = clean_file(tmp_path / "empty.jsonl", tmp_path / "out.jsonl")
    assert (r.read, r.kept) == (0, 0) and (tmp_path / "out.jsonl").read_bytes() == b""
    big = " ".join(f"w{i % 9000}" for i in range(1_500_000))
    write(tmp_path / "big.jsonl", [json.dumps({"text": big}).encode()])
    r = clean_file(tmp_path / "big.jsonl", tmp_path / "big.out.jsonl")
    assert r.read == 1 and r.balanced


@pytest.mark.slow
def test_100mb_single_line_in_bounded_memory(tmp_path):
    """A 100 MB record is read, analysed and accounted for whole; the engine's peak memory stays a small multiple
    of the line (block buffer, normalised copy, the Gopher word list), not of the file or the run."""
    import resource
    import subprocess

    words = " ".join(f"w{i}" for i in range(9000))
    reps = 100_000_000 // (len(words) + 1) + 1
    with open(tmp_path / "big.jsonl", "wb") as f:
        f.write(b'{"id": 1, "text": "')
        for _ in range(reps):
            f.write(words.encode() + b" ")
        f.write(b'end"}\n')
    size = (tmp_path / "big.jsonl").stat().st_size
    assert size > 100_000_000
    code = (
        "import json, sys; from tunesmith.clean import clean_file; "
        "r = clean_file(sys.argv[1], sys.argv[2], removed=sys.argv[3]); "
        "print(json.dumps([r.read, r.kept, r.removed, r.rejected, r.removed_by_reason, r.bytes_read]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, tmp_path / "big.jsonl", tmp_path / "out.jsonl", tmp_path / "rm.jsonl"],
        capture_output=True, text=True, check=True, timeout=600,
    )
    read, kept, removed, rejected, reasons, bytes_read = json.loads(out.stdout)
    assert (read, kept, removed, rejected) == (1, 0, 1, 0)
    assert reasons == {"gopher_long_doc": 1} and bytes_read == size
    rec = json.loads((tmp_path / "rm.jsonl").read_bytes())
    assert rec["line"] == 1 and rec["reason"] == "gopher_long_doc" and rec["record"]["text"].endswith(" end")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    assert peak < 8 * size, f"peak RSS {peak / 1e6:.0f} MB for a {size / 1e6:.0f} MB line"


def test_output_identical_for_1_and_n_threads(tmp_path):
    src = tmp_path / "c.jsonl"
    make_corpus(400, seed=3).write(src)
    outs = []
    try:
        for n in (1, 4):
            tunesmith.set_num_threads(n)
            clean_file(src, tmp_path / f"o{n}.jsonl", removed=tmp_path / f"r{n}.jsonl", chunk_mb=0.05)
            outs.append(((tmp_path / f"o{n}.jsonl").read_bytes(), (tmp_path / f"r{n}.jsonl").read_bytes()))
    finally:
        tunesmith.set_num_threads(0)
    assert outs[0] == outs[1]


def test_corpus_ground_truth(tmp_path):
    corpus = make_corpus(600, seed=11)
    src = tmp_path / "c.jsonl"
    corpus.write(src)
    r = clean_file(src, tmp_path / "o.jsonl", removed=tmp_path / "r.jsonl")
    assert r.rejected == len(corpus.truth["malformed"])
    assert r.removed_by_reason.get("exact_duplicate") == len(corpus.truth["exact_dup"])
    assert r.removed_by_reason.get("near_duplicate", 0) >= 0.95 * len(corpus.truth["near_dup"])
    kept = (tmp_path / "o.jsonl").read_text()
    for item in corpus.truth["pii"]:
        assert item["value"] not in kept
    assert sum(r.pii_by_kind.values()) >= len(corpus.truth["pii"])


def test_interrupted_run_leaves_old_output(tmp_path):
    src = tmp_path / "c.jsonl"
    make_corpus(300, seed=2).write(src)
    out = tmp_path / "o.jsonl"
    out.write_text("old\n")

    def boom(report):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        clean_file(src, out, progress=boom, chunk_mb=0.01)
    assert out.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_fsync_gives_the_same_outputs_and_syncs_them(tmp_path, monkeypatch, suffix):
    src = tmp_path / f"c{suffix}"
    make_corpus(200, seed=4).write(tmp_path / "c.jsonl")
    if suffix == ".parquet":
        pa = pytest.importorskip("pyarrow")
        pq = pytest.importorskip("pyarrow.parquet")
        texts = []
        for line in (tmp_path / "c.jsonl").read_bytes().splitlines():
            try:
                text = json.loads(line).get("text")
            except (ValueError, AttributeError):
                text = None
            texts.append(text if isinstance(text, str) else None)
        pq.write_table(pa.table({"text": texts}), src)
    plain = clean_file(src, tmp_path / f"plain{suffix}", removed=tmp_path / "plain.rm.jsonl")
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    durable = clean_file(
        src, tmp_path / f"durable{suffix}", removed=tmp_path / "durable.rm.jsonl", report=tmp_path / "r.json", fsync=True
    )
    assert (durable.read, durable.kept, durable.removed) == (plain.read, plain.kept, plain.removed)
    assert (tmp_path / "durable.rm.jsonl").read_bytes() == (tmp_path / "plain.rm.jsonl").read_bytes()
    if suffix == ".jsonl":
        assert (tmp_path / "durable.jsonl").read_bytes() == (tmp_path / "plain.jsonl").read_bytes()
        assert len(synced) == 2  # report.json and its directory (the core syncs its own outputs)
    else:
        assert len(synced) == 6  # output, side file, report: each file and its directory
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_strict_raises_with_file_and_line(tmp_path):
    src = tmp_path / "c.jsonl"
    write(src, [b'{"text": "fine text here"}', b"{oops"])
    with pytest.raises(InputError, match=r"c\.jsonl:2"):
        clean_file(src, tmp_path / "o.jsonl", strict=True)
    assert not (tmp_path / "o.jsonl").exists()


def test_compressed_round_trip(tmp_path):
    src = tmp_path / "c.jsonl.gz"
    rec = {"id": "x", "text": "Call me at 415-555-0134 about the garden, the river and the market."}
    with gzip.open(src, "wt") as f:
        f.write(json.dumps(rec) + "\n")
    clean_file(src, tmp_path / "o.jsonl.zst", **QUICK)
    r = clean_file(tmp_path / "o.jsonl.zst", tmp_path / "o.jsonl", **QUICK)
    assert r.kept == 1
    assert "[PHONE]" in json.loads((tmp_path / "o.jsonl").read_text())["text"]


def test_passthrough_fields_and_redaction(tmp_path):
    src = tmp_path / "c.jsonl"
    rec = {"id": "x", "text": "Call me at 415-555-0134 about the garden, the river and the market.", "meta": [1, {"a": None}]}
    write(src, [json.dumps(rec).encode()])
    clean_file(src, tmp_path / "o.jsonl", **QUICK)
    out = json.loads((tmp_path / "o.jsonl").read_text())
    assert out["meta"] == rec["meta"] and out["id"] == "x"
    assert "[PHONE]" in out["text"]


def test_instruction_and_chat_records(tmp_path):
    src = tmp_path / "c.jsonl"
    long_out = "The capital of France is Paris, a city on the Seine."
    write(
        src,
        [
            json.dumps({"instruction": "What is the capital of France?", "input": "", "output": long_out}).encode(),
            json.dumps({"instruction": "What is the capital of France?", "input": "", "output": long_out}).encode(),
            json.dumps({"instruction": "Say hi", "output": "hi"}).encode(),
            json.dumps({"messages": [{"role": "user", "content": "Name a river in Europe please."},
                                     {"role": "assistant", "content": "The Danube flows through ten countries."}]}).encode(),
        ],
    )
    r = clean_file(src, tmp_path / "o.jsonl")
    assert r.kept == 2
    assert r.removed_by_reason == {"exact_duplicate": 1, "seed_length": 1}


def test_config_rejects_unknown_keys_and_loads_yaml(tmp_path):
    with pytest.raises(ConfigError, match="near_dedup.thresh"):
        Pipeline(near_dedup={"thresh": 0.9})
    y = tmp_path / "clean.yaml"
    y.write_text("clean:\n  pii:\n    action: drop\n  near_dedup:\n    threshold: 0.9\n")
    cfg = CleanConfig.from_yaml(y)
    assert cfg.pii.action == "drop" and cfg.near_dedup.threshold == 0.9
    y.write_text("pii:\n  actoin: drop\n")
    with pytest.raises(ConfigError, match=r"clean\.yaml.*pii\.actoin"):
        CleanConfig.from_yaml(y)


def test_clean_texts_and_pickle():
    docs = ["Write to me at jane@example.com please, soon.", "Write to me at jane@example.com please, soon.", "tiny"]
    out = clean_texts(docs, **QUICK)
    assert out.texts == ["Write to me at [EMAIL] please, soon."]
    assert out.duplicate_of == [None, 0, None]
    p = pickle.loads(pickle.dumps(Pipeline(**QUICK)))
    assert p.clean_texts(docs).texts == out.texts


def test_map_batch_for_datasets():
    p = Pipeline(**QUICK)
    batch = {"text": ["a fine sentence here.", "a fine sentence here.", "x", None], "id": [1, 2, 3, 4]}
    assert p.map_batch(batch) == {"text": ["a fine sentence here."], "id": [1]}
    r = p.report
    assert (r.read, r.kept, r.removed, r.rejected) == (4, 1, 2, 1) and r.balanced


@given(st.lists(st.one_of(st.none(), st.integers(), st.sampled_from(["a fine sentence here.", "another line, fine."])),
                max_size=30))
@settings(max_examples=60, deadline=None)
def test_clean_texts_accounts_for_values_that_are_not_strings(values):
    p = Pipeline(**QUICK)
    out = p.clean_texts(values)
    strings = [v for v in values if isinstance(v, str)]
    assert len(out.keep) == len(values)
    assert [ok for ok, v in zip(out.keep, values) if not isinstance(v, str)] == [False] * (len(values) - len(strings))
    for v, reason in zip(values, out.reasons):
        if not isinstance(v, str):
            assert reason == f"not a string: {type(v).__name__}"
    # duplicate_of indexes the caller's list, values that are not strings included.
    for i, d in enumerate(out.duplicate_of):
        if d is not None:
            assert values[d] == values[i] and d < i
    r = p.report
    assert r.read == len(values) and r.rejected == len(values) - len(strings) and r.balanced
    assert out.texts == list(dict.fromkeys(strings))


def test_clean_texts_takes_arrow_and_numpy_arrays():
    pa = pytest.importorskip("pyarrow")
    np = pytest.importorskip("numpy")
    docs = ["a fine sentence here.", None, "a fine sentence here.", "another line, fine."]
    arrow = clean_texts(pa.chunked_array([docs[:2], docs[2:]]), **QUICK)
    assert arrow.texts == ["a fine sentence here.", "another line, fine."]
    assert arrow.duplicate_of == [None, None, 0, None] and arrow.report.rejected == 1
    numpy = clean_texts(np.array([d for d in docs if d is not None]), **QUICK)
    assert numpy.texts == arrow.texts and numpy.duplicate_of == [None, 0, None]


def test_parquet_round_trip(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    texts = ["the river runs to the sea with the boats.", "the river runs to the sea with the boats.", None, "email a@b.co now ok then."]
    pq.write_table(pa.table({"text": texts, "id": [1, 2, 3, 4]}), tmp_path / "in.parquet")
    r = clean_file(tmp_path / "in.parquet", tmp_path / "out.parquet", **QUICK)
    t = pq.read_table(tmp_path / "out.parquet")
    assert t.column("id").to_pylist() == [1, 4]
    assert "[EMAIL]" in t.column("text").to_pylist()[1]
    assert r.read == 4 and r.rejected == 1 and r.balanced


def test_parquet_side_files_match_jsonl_layout(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    texts = ["the river runs to the sea with the boats.", "tiny", None, "the river runs to the sea with the boats."]
    pq.write_table(pa.table({"text": texts, "id": [1, 2, 3, 4]}), tmp_path / "in.parquet")
    r = clean_file(
        tmp_path / "in.parquet", tmp_path / "out.parquet", removed=tmp_path / "rm.jsonl", rejected=tmp_path / "rj.jsonl", **QUICK
    )
    assert (r.kept, r.removed, r.rejected) == (1, 2, 1)
    removed = [json.loads(x) for x in (tmp_path / "rm.jsonl").read_text().splitlines()]
    assert [(x["line"], x["reason"], x["record"]["id"]) for x in removed] == [(2, "too_few_chars", 2), (4, "exact_duplicate", 4)]
    assert removed[1]["duplicate_of"] == {"file": str(tmp_path / "in.parquet"), "line": 1}
    (rejected,) = [json.loads(x) for x in (tmp_path / "rj.jsonl").read_text().splitlines()]
    assert (rejected["line"], rejected["error"]) == (3, "field 'text' must be a string, got null")
    assert json.loads(rejected["raw"]) == {"text": None, "id": 3}
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_parquet_missing_text_column_names_it(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    pq.write_table(pa.table({"body": ["x"]}), tmp_path / "in.parquet")
    with pytest.raises(ValueError, match=r"no column 'text'.*body"):
        clean_file(tmp_path / "in.parquet", tmp_path / "out.parquet", removed=tmp_path / "rm.jsonl")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.parquet"]


def test_import_tunesmith_stays_light():
    import subprocess

    code = "import sys, tunesmith, tunesmith.clean; print(any(m in sys.modules for m in ('pydantic', 'pyarrow', 'rich', 'yaml')))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


def test_clean_file_releases_the_gil(tmp_path):
    import threading

    src = tmp_path / "c.jsonl"
    make_corpus(3000, seed=9).write(src)
    ticks = 0
    th = threading.Thread(target=lambda: clean_file(src, tmp_path / "o.jsonl"))
    th.start()
    while th.is_alive():
        ticks += 1
        threading.Event().wait(0.001)
    th.join()
    assert ticks > 5, "the main thread could not run while the file was cleaned"
