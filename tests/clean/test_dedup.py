"""ExactDeduper and MinHashDeduper: against slow Python references, pickling, GIL release."""

from __future__ import annotations

import pickle
import random
import threading
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tunesmith.clean import ExactDeduper, MinHashDeduper, normalize_text


def shingles(text: str, n: int = 5) -> set[str]:
    w = text.split()
    return {" ".join(w[i : i + n]) for i in range(len(w) - n + 1)} if len(w) >= n else ({" ".join(w)} if w else set())


def jaccard(a: str, b: str) -> float:
    sa, sb = shingles(a), shingles(b)
    return len(sa & sb) / len(sa | sb) if sa | sb else 1.0


@settings(max_examples=60)
@given(st.lists(st.text(alphabet="ab \t\n\u00e9e\u0301", max_size=8), max_size=40))
def test_exact_matches_python_reference(texts):
    seen: dict[str, int] = {}
    expected = []
    for i, t in enumerate(texts):
        key = normalize_text(t)
        expected.append(seen.get(key))
        seen.setdefault(key, i)
    assert ExactDeduper().add(texts) == expected


def test_exact_state_pickles():
    d = ExactDeduper()
    d.add(["one", "two"])
    e = pickle.loads(pickle.dumps(d))
    assert e.add(["two", "three"]) == [1, None]
    assert len(e) == 3


def _doc(rng: random.Random, n: int = 200) -> list[str]:
    return [f"w{rng.randrange(3000)}" for _ in range(n)]


def test_minhash_estimate_tracks_jaccard():
    rng = random.Random(0)
    d = MinHashDeduper(num_perm=256)
    errs = []
    for _ in range(40):
        a = _doc(rng)
        b = list(a)
        for _ in range(rng.randrange(0, 12)):
            b[rng.randrange(len(b))] = f"x{rng.randrange(10**6)}"
        ta, tb = " ".join(a), " ".join(b)
        sig = d.signatures([ta, tb])
        errs.append(float(np.mean(sig[0] == sig[1])) - jaccard(ta, tb))
    assert abs(np.mean(errs)) < 0.02 and np.std(errs) < 0.04


def test_minhash_recall_and_precision_on_planted_pairs():
    rng = random.Random(1)
    base = [" ".join(_doc(rng, 300)) for _ in range(300)]
    near = []
    for t in base[:100]:
        w = t.split()
        for _ in range(3):
            w[rng.randrange(len(w))] = "edit"
        near.append(" ".join(w))
    texts = base + near
    res = MinHashDeduper().add(texts)
    found = sum(1 for i in range(100) if res[300 + i] == i)
    assert found >= 95
    false = [i for i, r in enumerate(res) if r is not None and jaccard(texts[i], texts[r]) < 0.7]
    assert not false


def test_cluster_keep_first_and_longest():
    rng = random.Random(2)
    a = " ".join(_doc(rng, 300))
    b = a + " one more tail"
    c = " ".join(_doc(rng, 300))
    d = MinHashDeduper()
    assert d.cluster([a, c, b]) == [0, 1, 0]
    assert d.cluster([a, c, b], keep="longest") == [2, 1, 2]
    with pytest.raises(ValueError, match="keep"):
        d.cluster([a], keep="middle")


def test_minhash_arguments_are_checked():
    with pytest.raises(ValueError, match="num_perm"):
        MinHashDeduper(num_perm=0)
    with pytest.raises(ValueError, match="bands"):
        MinHashDeduper(bands=4)
    assert MinHashDeduper(unit="char", ngram=4).signatures(["hello world"]).shape == (1, 256)


def test_fresh_minhash_deduper_pickles():
    d = pickle.loads(pickle.dumps(MinHashDeduper(num_perm=64, threshold=0.7)))
    assert d.signatures(["a b c d e f"]).shape == (1, 64)
    d.add(["a b c d e f"])
    with pytest.raises(TypeError):
        pickle.dumps(d)


def test_batches_release_the_gil():
    texts = [" ".join(_doc(random.Random(i), 400)) for i in range(3000)]
    d = MinHashDeduper()
    windows = []

    def work():
        t = time.perf_counter()
        d.signatures(texts)
        windows.append((t, time.perf_counter()))

    ticks = 0
    th = threading.Thread(target=work)
    th.start()
    while th.is_alive():
        ticks += 1
        time.sleep(0.001)
    th.join()
    assert ticks > 5, "the main thread could not run while signatures were computed"
