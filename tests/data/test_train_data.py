"""to_huggingface's response-only mask, token-exact corpus chunking and a continued pre-training run, on the
tiny tokenizer and model trained here (no hub)."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tunesmith.data import ContinuedPreTrainer, DatasetFormatter, TrainingExample
from tunesmith.data.pretrain import chunk_texts
from tunesmith.errors import ArgumentError, InputError

pytestmark = pytest.mark.train

WORDS = "the red apple river stone cloud table and of is garden window bridge candle mirror opposite hot cold".split()
EXAMPLES = [
    TrainingExample("Give the opposite of: hot", "", "The opposite of hot is cold."),
    TrainingExample("Repeat the words in reverse order.", "apple river stone", "stone river apple"),
    TrainingExample("Describe a red apple", "", "The apple is red, and every red apple looks like this apple.",
                    system_prompt="ignored by this format"),
]


def _response_part(tokenizer, ids, labels):
    return tokenizer.decode([i for i, label in zip(ids, labels, strict=True) if label != -100])


def test_labels_mask_exactly_the_prompt(tokenizer):
    out = DatasetFormatter.to_huggingface(EXAMPLES, tokenizer, max_length=96, return_tensors=None)
    for ex, ids, mask, labels in zip(EXAMPLES, out["input_ids"], out["attention_mask"], out["labels"], strict=True):
        assert len(ids) == len(mask) == len(labels) == 96
        n = sum(mask)
        text = f"### Instruction:\n{ex.instruction}" + (f"\n\n### Input:\n{ex.input}" if ex.input else "")
        text += f"\n\n### Response:\n{ex.output}"
        assert ids[: n - 1] == tokenizer(text)["input_ids"] and ids[n - 1] == tokenizer.eos_token_id
        # the prompt (up to and including "### Response:\n") carries no loss; the response and EOS do
        assert _response_part(tokenizer, ids, labels) == ex.output + tokenizer.eos_token
        first = next(i for i, label in enumerate(labels) if label != -100)
        assert tokenizer.decode(ids[:first]).endswith("### Response:\n")
        assert labels[first:n] == ids[first:n]
        assert set(labels[n:]) <= {-100} and set(ids[n:]) <= {tokenizer.pad_token_id} and mask[n:] == [0] * (96 - n)


def test_padding_modes_tensors_and_truncation(tokenizer):
    import torch

    pt = DatasetFormatter.to_huggingface(EXAMPLES, tokenizer, max_length=64)
    assert all(isinstance(t, torch.Tensor) and t.shape == (64,) for t in pt["labels"])
    longest = DatasetFormatter.to_huggingface(EXAMPLES, tokenizer, padding="longest", return_tensors=None)
    width = max(sum(m) for m in longest["attention_mask"])
    assert {len(x) for x in longest["input_ids"]} == {width}
    loose = DatasetFormatter.to_huggingface(EXAMPLES, tokenizer, padding="do_not_pad", return_tensors=None)
    assert [len(x) for x in loose["input_ids"]] == [sum(m) for m in longest["attention_mask"]]
    short = DatasetFormatter.to_huggingface(EXAMPLES[:1], tokenizer, max_length=8, return_tensors=None)
    assert len(short["input_ids"][0]) == 8 and set(short["labels"][0]) == {-100}  # truncated inside the prompt
    with pytest.raises(ArgumentError, match="padding: 'left' is not one of"):
        DatasetFormatter.to_huggingface(EXAMPLES, tokenizer, padding="left")


class _NoOffsets:
    """A tokenizer without offset mappings (as transformers' slow tokenizers): the fallback path."""

    def __init__(self, inner):
        self.inner = inner
        self.eos_token_id = inner.eos_token_id
        self.pad_token_id = inner.pad_token_id

    def __call__(self, text, **kw):
        if kw.pop("return_offsets_mapping", False):
            raise NotImplementedError("return_offset_mapping is not available when using Python tokenizers")
        return self.inner(text, **kw)


def test_tokenizers_without_offsets_get_the_same_mask_boundary(tokenizer):
    fast = DatasetFormatter.to_huggingface(EXAMPLES, tokenizer, padding="do_not_pad", return_tensors=None)
    slow = DatasetFormatter.to_huggingface(EXAMPLES, _NoOffsets(tokenizer), padding="do_not_pad", return_tensors=None)
    for f_ids, f_lab, s_ids, s_lab in zip(fast["input_ids"], fast["labels"], slow["input_ids"], slow["labels"], strict=True):
        assert _response_part(tokenizer, s_ids, s_lab) == _response_part(tokenizer, f_ids, f_lab)


class _AppendsEos(_NoOffsets):
    """A tokenizer whose post-processor appends EOS itself (as Llama-style configs with add_eos_token do)."""

    def __call__(self, text, **kw):
        enc = dict(self.inner(text, **kw))
        if kw.get("add_special_tokens", True):
            enc["input_ids"] = [*enc["input_ids"], self.eos_token_id]
            if "offset_mapping" in enc:
                enc["offset_mapping"] = [*enc["offset_mapping"], (0, 0)]
        return enc


def test_an_eos_the_tokenizer_appends_still_carries_loss(tokenizer):
    plain = DatasetFormatter.to_huggingface(EXAMPLES, tokenizer, padding="do_not_pad", return_tensors=None)
    own = DatasetFormatter.to_huggingface(EXAMPLES, _AppendsEos(tokenizer), padding="do_not_pad", return_tensors=None)
    assert own == plain  # one EOS, with loss, either way


lines = st.lists(st.lists(st.sampled_from(WORDS), min_size=0, max_size=30).map(" ".join), max_size=25)


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines, st.integers(4, 40))
def test_chunks_fit_the_token_budget_and_keep_every_word(tokenizer, corpus, size):
    chunks = chunk_texts(corpus, tokenizer, size)
    assert all(len(tokenizer(c, add_special_tokens=False)["input_ids"]) <= size for c in chunks)
    # nothing lost or reordered: only whitespace at chunk edges can change (a line longer than a chunk is cut)
    assert "".join("".join(chunks).split()) == "".join("".join(corpus).split())
    assert all(c.strip() for c in chunks)
    # lines that fit a chunk are never cut
    fitting = [line for line in corpus if len(tokenizer(line, add_special_tokens=False)["input_ids"]) <= size]
    assert " ".join(chunk_texts(fitting, tokenizer, size)).split() == " ".join(fitting).split()


def test_long_lines_are_cut_at_token_boundaries_and_whitespace_words_are_not_tokens(tokenizer, tmp_path):
    long_line = "x" * 700 + " tail"
    chunks = chunk_texts(["short line", long_line, "after"], tokenizer, 32)
    counts = [len(tokenizer(c, add_special_tokens=False)["input_ids"]) for c in chunks]
    assert max(counts) <= 32 and chunks[0] == "short line" and chunks[-1].endswith("after")
    assert "".join(chunks[1:-1]) + chunks[-1].removesuffix("after").strip() in ("x" * 700 + "tail", "x" * 700 + " tail")
    # the seed's word count sees 2 "tokens" in this line; the tokenizer sees many more
    assert len(long_line.split()) == 2 and sum(counts) > 32
    with pytest.raises(ArgumentError, match="chunk_size"):
        chunk_texts(["a"], tokenizer, 0)


def test_prepare_corpus_reads_text_and_jsonl(tokenizer, tmp_path):
    txt = tmp_path / "corpus.txt"
    txt.write_text("\n".join(" ".join(WORDS[i:] + WORDS[:i]) for i in range(12)) + "\n\n")
    chunks = ContinuedPreTrainer("unused", txt, tokenizer=tokenizer).prepare_corpus(chunk_size=48)
    assert len(chunks) > 1 and " ".join(chunks).split() == txt.read_text().split()
    jsonl = tmp_path / "corpus.jsonl"
    jsonl.write_text(json.dumps({"text": "the red apple"}) + "\n" + json.dumps({"body": "x"}) + "\n")
    with pytest.raises(InputError, match=r"corpus\.jsonl:2: field 'text': expected a string"):
        ContinuedPreTrainer("unused", jsonl, tokenizer=tokenizer).prepare_corpus(16)
    with pytest.raises(InputError, match=r"missing\.txt: cannot read the corpus"):
        ContinuedPreTrainer("unused", tmp_path / "missing.txt", tokenizer=tokenizer).prepare_corpus(16)
    import gzip

    for name, data in [("corpus.txt.gz", txt.read_bytes()), ("corpus.jsonl.gz", b'{"text": "the red apple"}\r\n')]:
        (tmp_path / name).write_bytes(gzip.compress(data))
        got = ContinuedPreTrainer("unused", tmp_path / name, tokenizer=tokenizer).prepare_corpus(chunk_size=48)
        want = txt.read_text().split() if name.startswith("corpus.txt") else ["the", "red", "apple"]
        assert " ".join(got).split() == want, name


def test_continued_pretraining_runs_through_the_tune_engine(tiny_model, tmp_path, torch_one_thread):
    corpus = tmp_path / "domain.txt"
    corpus.write_text("\n".join(" ".join(WORDS[i:] + WORDS[:i]) for i in range(40)) + "\n")
    cpt = ContinuedPreTrainer(str(tiny_model), corpus)
    chunks = cpt.prepare_corpus(chunk_size=40)
    logs: list[str] = []
    result = cpt.train(chunks, tmp_path / "run", learning_rate=3e-3, progress=False, log=logs.append,
                       training={"max_steps": 3, "gradient_accumulation_steps": 1, "train_batch_size_per_device": 4,
                                 "logging_steps": 1, "device": "cpu", "save_steps": 3})
    m = result.metrics
    assert m["method"] == "full" and m["steps"] == 3 and m["learning_rate"] == 3e-3
    assert m["eval_loss_after"] < m["eval_loss_before"]  # every token carries loss: the model learns the corpus
    written = [json.loads(line)["text"] for line in (tmp_path / "run" / "corpus.jsonl").read_text().splitlines()]
    assert written == chunks
    assert (tmp_path / "run" / "model" / "config.json").is_file()
    assert any(f"{len(chunks)} records (text {len(chunks)})" in line for line in logs)
    with pytest.raises(ArgumentError, match="method: 'ia3' is not one of full, lora"):
        cpt.train(chunks, tmp_path / "x", method="ia3")
