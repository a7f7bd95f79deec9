"""Per-document scanners: PII golden cases and decoys, redaction properties,
Gopher metrics against a slow Python oracle, normalisation, GIL release."""

from __future__ import annotations

import math
import pickle
import random
import sys
import threading
import time
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tunesmith.clean.scanners import (
    PII_KINDS,
    PiiSpan,
    gopher_filters_batch,
    gopher_quality,
    gopher_quality_stats,
    length_check,
    normalize_text,
    normalize_texts,
    redact_pii,
    repetition_stats,
    repetition_stats_batch,
    scan_pii,
    scan_pii_batch,
    seed_checks,
    word_tokens,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reference"))
from gopher_reference import quality_metrics, repetition_metrics  # noqa: E402

GOLDEN = [
    ("EMAIL", "Email: jane_roe@example.org", "jane_roe@example.org"),
    ("EMAIL", "From: Jane Roe <j.roe@mail.example.co.uk>", "j.roe@mail.example.co.uk"),
    ("PHONE", "call (591)341-7776 for support", "(591)341-7776"),
    ("PHONE", "Phone: 206.269.0743x9150", "206.269.0743x9150"),
    ("PHONE", "mobile +1-780-563-6083x7783", "+1-780-563-6083x7783"),
    ("PHONE", "Tel. +44(0)28 9018631", "+44(0)28 9018631"),
    ("PHONE", "fax: +49 (0) 9141 777631", "+49 (0) 9141 777631"),
    ("PHONE", "call 07700 900 123 now", "07700 900 123"),
    ("PHONE", "mobile +33 (0)1 41 63 60 83", "+33 (0)1 41 63 60 83"),
    ("PHONE", "Phone: 0232781286", "0232781286"),
    ("SSN", "SSN 686-40-4122 on file", "686-40-4122"),
    ("CREDIT_CARD", "card number 4539 1488 0343 6467", "4539 1488 0343 6467"),
    ("CREDIT_CARD", "CC# 5555555555554444", "5555555555554444"),
    ("CREDIT_CARD", "paid with 3714-496353-98431", "3714-496353-98431"),
    ("IPV4", "connect to 203.0.113.77 port 22", "203.0.113.77"),
    ("IPV6", "listening on [d95b:afc8:f2a4:d27b:dcf4:bb9a:f4be:a973]:443", "d95b:afc8:f2a4:d27b:dcf4:bb9a:f4be:a973"),
    ("IPV6", "peer fe80::1ff:fe23:4567:890a", "fe80::1ff:fe23:4567:890a"),
    ("IBAN", "IBAN: DE89 3704 0044 0532 0130 00", "DE89 3704 0044 0532 0130 00"),
    ("IBAN", "transfer to FR1420041010050500013M02606", "FR1420041010050500013M02606"),
    ("AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID=AKIAQ2W3E4R5T6Y7U2I3", "AKIAQ2W3E4R5T6Y7U2I3"),
    ("AWS_SECRET_KEY", "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    ("GITHUB_TOKEN", "git clone https://ghp_0123456789abcdefghijABCDEFGHIJ012345@github.com/org/repo", "ghp_0123456789abcdefghijABCDEFGHIJ012345"),
    ("GITLAB_TOKEN", "export TOKEN=glpat-xY9zX8wV7uT6sR5qP4oN", "glpat-xY9zX8wV7uT6sR5qP4oN"),
    ("SLACK_TOKEN", "slack: xoxp-2222222222-abcdefABCDEF", "xoxp-2222222222-abcdefABCDEF"),
    ("SECRET", 'api_key: "9f8e7d6c5b4a"', "9f8e7d6c5b4a"),
    ("URL_CREDENTIALS", "proxy http://joe:pa55word@proxy.example.com:3128", "joe:pa55word"),
    ("JWT", "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlLXZhbHVl", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlLXZhbHVl"),
]

DECOYS = [
    "order number 4539148803436468",  # Luhn-invalid
    "tracking id 6011 0009 9013 9425",  # Luhn-invalid
    "part no. 000-12-3456",
    "lot 666-45-6789",
    "case 987-65-4321",
    "reference DE89370400440532013001",  # IBAN checksum broken
    "book ISBN 978-0-306-40615-7",
    "version 1.2.3 of libfoo, 2.10.4 too",
    "released 2023-01-15, updated 15.01.2023",
    "meeting 10/12/2024 at 10:30:00",
    "range 1990-2020 and 555-1234",
    "INT_MAX 2147483647, UINT_MAX 4294967295",
    "a[1::2] and std::io::Result",
    "timestamp 1700000000123 and 5913417776 in a log",
    "password = os.environ['DB_PASSWORD']",
]


@pytest.mark.parametrize(("kind", "text", "value"), GOLDEN)
def test_finds_each_kind(kind, text, value):
    spans = scan_pii(text)
    assert [(s.kind, s.text) for s in spans] == [(kind, value)]
    s = spans[0]
    assert text[s.start : s.end] == value


@pytest.mark.parametrize("text", DECOYS)
def test_decoys_do_not_match(text):
    assert scan_pii(text) == []


def test_every_kind_is_covered_by_golden_cases():
    covered = {k for k, _, _ in GOLDEN} | {"PRIVATE_KEY"}
    assert covered == set(PII_KINDS)
    block = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----"
    assert [s.kind for s in scan_pii(f"key:\n{block}\n")] == ["PRIVATE_KEY"]


def test_character_offsets_with_non_ascii():
    text = "Grüße 📞 — écrivez à marie@exemple.fr ou +33 1 83 41 77 76"
    spans = scan_pii(text)
    assert [text[s.start : s.end] for s in spans] == ["marie@exemple.fr", "+33 1 83 41 77 76"]


def test_redaction_modes_and_counts():
    text = "Write to a@b.io, SSN 123-45-6789."
    assert redact_pii(text) == "Write to [EMAIL], SSN [SSN]."
    assert redact_pii(text, mode="mask") == "Write to ******, SSN ***********."
    hashed, counts = redact_pii(text, mode="hash", salt="pepper", return_counts=True)
    assert counts == {"EMAIL": 1, "SSN": 1}
    assert hashed == redact_pii(text, mode="hash", salt="pepper")
    assert hashed != redact_pii(text, mode="hash", salt="other")
    assert "a@b.io" not in hashed
    assert redact_pii(text, kinds=["ssn"]) == "Write to a@b.io, SSN [SSN]."
    texts, total = redact_pii([text, "nothing here"], return_counts=True)
    assert texts == ["Write to [EMAIL], SSN [SSN].", "nothing here"]
    assert total == {"EMAIL": 1, "SSN": 1}


def test_texts_without_pii_come_back_uncopied():
    clean = "nothing here, " * 3
    assert redact_pii(clean) is clean
    texts = [clean, "mail a@b.io"]
    out = redact_pii(texts)
    assert out[0] is clean and out[1] == "mail [EMAIL]"

    class Text(str):
        pass

    assert type(redact_pii(Text("plain"))) is str
    assert type(redact_pii([Text("plain")])[0]) is str


def test_bad_arguments_raise_value_errors():
    with pytest.raises(ValueError, match="mode"):
        redact_pii("x", mode="shred")
    with pytest.raises(ValueError, match="kinds"):
        scan_pii("x", kinds=["PASSPORT"])


def test_spans_pickle_and_compare():
    s = scan_pii("mail a@b.io")[0]
    assert pickle.loads(pickle.dumps(s)) == s == PiiSpan("EMAIL", 5, 11, "a@b.io")
    assert str(s) == "EMAIL [5, 11) 'a@b.io'"


pii_values = st.sampled_from([v for _, _, v in GOLDEN])
filler = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=15)


@given(st.lists(st.one_of(pii_values, filler), max_size=8))
def test_redaction_never_leaves_a_detected_span(parts):
    text = " ".join(parts)
    spans = scan_pii(text)
    ends = [0] + [s.end for s in spans]
    assert all(a.end <= b.start for a, b in zip(spans, spans[1:]))
    assert all(e <= s.start for e, s in zip(ends, spans))
    rest = "\0".join(text[e:s.start] for e, s in zip(ends, spans + [PiiSpan("", len(text), len(text), "")]))
    out = redact_pii(text)
    for s in spans:
        assert text[s.start : s.end] == s.text
        if s.text not in rest:
            assert s.text not in out


@given(st.lists(st.one_of(pii_values, filler), max_size=6), st.lists(st.one_of(pii_values, filler), max_size=6))
def test_batch_matches_single(a, b):
    texts = [" ".join(a), " ".join(b)]
    assert scan_pii_batch(texts) == [scan_pii(t) for t in texts]


def test_normalize_follows_the_seed_clean_text():
    assert normalize_text("  Hello \t\n world\x00!\x7f ") == "Hello world!"
    assert normalize_text("cafe\u0301") == "caf\u00e9"
    assert normalize_text("a\x0cb") == "a b"
    assert normalize_texts(["a  b", " c "]) == ["a b", "c"]


@given(st.text())
def test_normalize_is_idempotent_nfc_and_collapsed(s):
    once = normalize_text(s)
    assert normalize_text(once) == once
    assert unicodedata.is_normalized("NFC", once)
    assert "  " not in once and once == once.strip()


words = st.lists(st.sampled_from(["the", "cat", "sat", "on", "mat", "and", "dog", "ran", ","]), max_size=80)


@given(st.lists(words, min_size=1, max_size=6), st.sampled_from(["\n", "\n\n", "\n\n\n", " "]))
def test_repetition_metrics_match_the_oracle(paragraphs, sep):
    text = sep.join(" ".join(p) for p in paragraphs)
    ours = repetition_stats(text)
    ref = repetition_metrics(text, word_tokens(text))
    for key, value in ref.items():
        assert math.isclose(getattr(ours, key), value, rel_tol=1e-12, abs_tol=1e-12), key


def test_repetition_golden_and_batch():
    spam = "Buy cheap pills now!\n" * 10
    assert repetition_stats(spam).reason == "gopher_rep_dup_line_frac"
    prose = (
        "The committee met on Tuesday to discuss the budget. Several members raised concerns about the rising "
        "cost of maintenance, and the chair promised a detailed report before the next meeting."
    )
    assert repetition_stats(prose).keep
    assert repetition_stats("").reason == "gopher_rep_empty"
    assert repetition_stats_batch([spam, prose]) == [repetition_stats(spam), repetition_stats(prose)]


@given(st.lists(st.sampled_from(["the", "#", "...", "word", "Alpha", "to", "123", "-", "•", "\n", "of"]), max_size=120))
def test_quality_metrics_match_the_oracle(tokens):
    text = " ".join(tokens)
    ours = gopher_quality_stats(text)
    ref = quality_metrics(text, word_tokens(text))
    for key, value in ref.items():
        got = getattr(ours, key)
        assert (math.isnan(got) and math.isnan(value)) or math.isclose(got, value, rel_tol=1e-12), key


def test_quality_golden():
    good = "The quick brown fox jumps over the lazy dog and runs to the river with friends. " * 5
    assert gopher_quality(good) is None
    assert gopher_quality("too short") == "gopher_short_doc"
    assert gopher_quality(good + "#" * 100) == "gopher_too_many_hashes"
    assert gopher_quality("too short", min_doc_words=-1, min_avg_word_length=-1, min_stop_words=-1) is None
    varied = (
        "The committee met on Tuesday to discuss the budget for the coming year. Several members raised concerns "
        "about the rising cost of maintenance, and the chair promised a detailed report before the next meeting. "
        "A local engineer explained that the bridge needs new cables, which will have to be ordered from abroad. "
        "Residents asked whether the library could stay open later in the evening, and the board agreed to study "
        "the idea with the staff over the summer."
    )
    assert gopher_filters_batch([varied, "a\na\na\na", good]) == [None, "gopher_rep_dup_line_frac", "gopher_rep_top_3_gram"]


def test_words_follow_spacy_english():
    assert word_tokens("I don't know, e.g. U.S. (maybe).") == [
        "I", "do", "n't", "know", ",", "e.g.", "U.S.", "(", "maybe", ")", ".",
    ]


def test_length_and_seed_checks():
    assert length_check("abc", min_chars=5) == "too_few_chars"
    assert length_check("a b c", max_words=2) == "too_many_words"
    assert length_check("a b c", min_chars=1, max_words=3) is None
    issues, ok = seed_checks("", "")
    assert issues == ["Empty instruction", "Empty output", "Output too short (< 5 words)"]
    assert seed_checks("Say hi", "hi " * 20)[0] == ["Output contains excessive repetition"]
    assert seed_checks("Q", "word " * 30)[1] is False


def test_batch_calls_release_the_gil():
    rng = random.Random(0)
    doc = " ".join(rng.choice(["call", "555-234-5678", "a@b.io", "text", "the"]) for _ in range(5000))
    texts = [doc] * 400
    done = threading.Event()
    elapsed = []

    def work():
        t0 = time.perf_counter()
        scan_pii_batch(texts)
        elapsed.append(time.perf_counter() - t0)
        done.set()

    worker = threading.Thread(target=work)
    max_gap, last = 0.0, time.perf_counter()
    worker.start()
    while not done.is_set():
        now = time.perf_counter()
        max_gap, last = max(max_gap, now - last), now
    worker.join()
    # This Python loop keeps ticking while Rust scans, which it only can if the
    # GIL is released: no pause anywhere near the length of the scan.
    assert elapsed[0] > 0.05
    assert max_gap < elapsed[0] / 2
