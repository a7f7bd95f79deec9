"""Data: formats, errors naming file/line/field, exact prompt masking, truncation, packing without contamination."""

from __future__ import annotations

import json

import pytest

from tunesmith.errors import InputError
from tunesmith.tune import data as tdata

pytestmark = pytest.mark.train


def _jsonl(path, records):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records), encoding="utf-8")
    return path


def _loss_text(tokenizer, ex):
    return tokenizer.decode([t for t, lab in zip(ex.input_ids, ex.labels, strict=True) if lab != -100])


def test_alpaca_labels_exactly_the_response(tokenizer, tmp_path):
    rec = {"instruction": "Give the opposite of: hot", "input": "", "output": "The opposite of hot is cold."}
    ex = tdata.tokenize_records(tdata.load_records(_jsonl(tmp_path / "a.jsonl", [rec])), tokenizer, context_length=128)[0]
    assert _loss_text(tokenizer, ex) == "The opposite of hot is cold.<|im_end|>"
    # every token before the response is masked, every response token carries its own id
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": rec["instruction"]}], tokenize=False,
                                           add_generation_prompt=True)
    n_prompt = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    assert ex.labels[:n_prompt] == [-100] * n_prompt
    response = tokenizer("The opposite of hot is cold.<|im_end|>", add_special_tokens=False)["input_ids"]
    assert ex.labels[n_prompt : n_prompt + len(response)] == response
    assert all(lab == -100 for lab in ex.labels[n_prompt + len(response) :])


def test_multi_turn_openai_and_sharegpt_mask_every_prompt(tokenizer, tmp_path):
    msgs = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Give the opposite of: up"},
        {"role": "assistant", "content": "down"},
        {"role": "user", "content": "And of: left"},
        {"role": "assistant", "content": "right"},
    ]
    share = {"conversations": [{"from": {"user": "human", "assistant": "gpt", "system": "system"}[m["role"]],
                                "value": m["content"]} for m in msgs]}
    recs = tdata.load_records(_jsonl(tmp_path / "c.jsonl", [{"messages": msgs}, share]))
    report = tdata.TokenizeReport()
    a, b = tdata.tokenize_records(recs, tokenizer, context_length=256, report=report)
    assert a.input_ids == b.input_ids and a.labels == b.labels
    assert _loss_text(tokenizer, a) == "down<|im_end|>right<|im_end|>"
    assert report.formats == {"openai": 1, "sharegpt": 1}


def test_text_records_train_on_every_token(tokenizer, tmp_path):
    ex = tdata.tokenize_records(tdata.load_records(_jsonl(tmp_path / "t.jsonl", [{"text": "red apple and blue river"}])),
                                tokenizer, context_length=64)[0]
    assert ex.labels == ex.input_ids and ex.input_ids[-1] == tokenizer.eos_token_id


def test_truncation_counted_and_promptonly_dropped(tokenizer, tmp_path):
    long_prompt = {"instruction": "Describe a red apple in one sentence. " * 20, "output": "ok"}
    short = {"instruction": "Give the opposite of: hot", "output": "The opposite of hot is cold."}
    report = tdata.TokenizeReport()
    out = tdata.tokenize_records(tdata.load_records(_jsonl(tmp_path / "x.jsonl", [long_prompt, short])), tokenizer,
                                 context_length=24, report=report)
    assert report.truncated == 2 and report.dropped_no_loss == 1 and len(out) == 1
    assert len(out[0]) == 24
    assert "2 truncated" in str(report) and "1 dropped" in str(report)


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ('{"instruction": "x", "output": 3}', r"b\.jsonl:2: field 'output': expected a string, got int"),
        ('{"instruction": "x"}', r"b\.jsonl:2: field 'output': missing"),
        ('{"messages": [{"role": "user", "content": "x"}, {"role": "bot", "content": "y"}]}',
         r"b\.jsonl:2: field 'messages\[1\]\.role': unknown role 'bot'"),
        ('{"conversations": [{"from": "alien", "value": "x"}]}', r"b\.jsonl:2: field 'conversations\[0\]\.from'"),
        ('{"messages": [{"role": "user", "content": "x"}]}', r"b\.jsonl:2: field 'messages': no assistant turn"),
        ('{"prompt": "x"}', r"b\.jsonl:2: cannot tell the format"),
        ('{"instruction": "x", ', r"b\.jsonl:2: invalid JSON"),
    ],
)
def test_errors_name_file_line_field(tokenizer, tmp_path, record, expected):
    path = tmp_path / "b.jsonl"
    path.write_text('{"instruction": "ok", "output": "fine"}\n' + record + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=expected):
        tdata.tokenize_records(tdata.load_records(path), tokenizer, context_length=64)


def test_compressed_files_from_clean_load_like_plain(tokenizer, tmp_path):
    import gzip

    from tunesmith.clean import clean_file

    recs = [{"instruction": f"Give the number {i}", "output": f"The number is {i}, as asked."} for i in range(5)]
    plain = _jsonl(tmp_path / "a.jsonl", recs)
    (tmp_path / "a.jsonl.gz").write_bytes(gzip.compress(plain.read_bytes()))
    off = {"enabled": False}
    clean_file(plain, tmp_path / "c.jsonl.zst", gopher_quality=off, gopher_repetition=off, seed_checks=off)
    want = [r.data for r in tdata.load_records(plain)]
    for name in ("a.jsonl.gz", "c.jsonl.zst"):
        assert [r.data for r in tdata.load_records(tmp_path / name)] == want, name
    (tmp_path / "b.jsonl.zst").write_bytes(b"\x28\xb5\x2f\xfd truncated")
    with pytest.raises(InputError, match=r"b\.jsonl\.zst: cannot read data file"):
        tdata.load_records(tmp_path / "b.jsonl.zst")
    (tmp_path / "latin.jsonl").write_bytes(b'{"instruction": "caf\xe9", "output": "x"}\n')
    with pytest.raises(InputError, match=r"latin\.jsonl: not UTF-8 text at byte 20"):
        tdata.load_records(tmp_path / "latin.jsonl")


def test_default_chat_template_when_tokenizer_has_none(tokenizer):
    import copy

    tok = copy.deepcopy(tokenizer)
    tok.chat_template = None
    assert tdata.ensure_chat_template(tok) is True
    assert "<|im_start|>" in tok.chat_template
    assert tdata.ensure_chat_template(tok) is False


def test_pack_respects_context_and_order():
    exs = [tdata.Example([1] * n, [1] * n) for n in (10, 3, 7, 5, 9, 2)]
    rows = tdata.pack(exs, 12)
    assert all(sum(len(e) for e in row) <= 12 for row in rows)
    assert sorted(len(e) for row in rows for e in row) == sorted(len(e) for e in exs)
    assert len(rows) == 3  # 10+2, 9+3, 7+5: first-fit decreasing is optimal here


def test_packing_keeps_examples_apart(tiny, tokenizer, torch_one_thread):
    torch = torch_one_thread
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny["model"], dtype=torch.float32).eval()
    exs = tdata.tokenize_records(tdata.load_records(tiny["valid"])[:6], tokenizer, context_length=128)
    rows = tdata.pack(exs, 128)
    packed = tdata.PackedCollator()(tdata.as_dataset(exs, packed_rows=rows))
    # position ids restart at 0 at every example; the first label of each example is masked
    starts = (packed["position_ids"][0] == 0).nonzero().flatten().tolist()
    assert len(starts) == len(exs)
    assert all(packed["labels"][0, s] == -100 for s in starts)
    assert "attention_mask" not in packed

    padded = tdata.PaddingCollator(tokenizer.pad_token_id)(tdata.as_dataset(exs))
    naive = {k: v for k, v in packed.items() if k != "position_ids"}
    assert packed["use_cache"] is False  # with a KV cache transformers would not look for the packed layout
    with torch.no_grad():
        out_packed = model(**packed)
        out_padded = model(**padded)
        logits_naive = model(**naive).logits
    assert out_packed.loss.item() == pytest.approx(out_padded.loss.item(), abs=2e-4)
    # each example's logits inside the packed row equal its logits alone
    order = [next(i for i, x in enumerate(exs) if x is e) for row in rows for e in row]
    flat = torch.cat([out_padded.logits[i, : len(exs[i])] for i in order])
    diff_packed = (out_packed.logits[0] - flat).abs().max().item()
    diff_naive = (logits_naive[0] - flat).abs().max().item()
    assert diff_packed < 1e-3
    assert diff_naive > 100 * diff_packed  # without position resets later examples attend to earlier ones
