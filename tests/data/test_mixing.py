"""Splits (sizes, determinism, the seed guide's permutation), task mixing and replay (proportions within
statistical bounds, seeded, non-mutating)."""

from __future__ import annotations

import copy
import math
import random
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tunesmith.data import CatastrophicForgettingMitigation, DatasetFormatter, MultiTaskFineTuner, TrainingExample
from tunesmith.data.mixing import mixture_weights
from tunesmith.errors import ArgumentError


def make(n: int, tag: str = "x") -> list[TrainingExample]:
    return [TrainingExample(f"{tag} {i}", "", f"out {i}", metadata={"id": i}) for i in range(n)]


def seed_guide_split(examples, train_ratio, val_ratio, seed):
    """The seed guide's create_train_val_test_split, verbatim (it reseeds the global RNG)."""
    random.seed(seed)
    shuffled = examples.copy()
    random.shuffle(shuffled)
    n = len(shuffled)
    train_end = int(n * train_ratio)
    val_end = train_end + int(n * val_ratio)
    return {"train": shuffled[:train_end], "validation": shuffled[train_end:val_end], "test": shuffled[val_end:]}


ratios = st.tuples(st.integers(0, 20), st.integers(0, 20), st.integers(0, 20)).filter(lambda t: sum(t) > 0).map(
    lambda t: tuple(x / sum(t) for x in t))


@given(st.integers(0, 300), ratios, st.integers(0, 2**32))
def test_split_sizes_permutation_and_seed_guide_equivalence(n, r, seed):
    data = list(range(n))
    tr, vr, te = r
    state = random.getstate()
    split = DatasetFormatter.create_train_val_test_split(data, tr, vr, 1.0 - tr - vr, seed=seed)
    assert random.getstate() == state  # the global generator is left alone
    assert len(split["train"]) == int(n * tr) and len(split["validation"]) == int(n * vr)
    assert len(split["test"]) == n - int(n * tr) - int(n * vr)
    assert sorted(split["train"] + split["validation"] + split["test"]) == data
    assert split == DatasetFormatter.create_train_val_test_split(data, tr, vr, 1.0 - tr - vr, seed=seed)
    assert split == seed_guide_split(data, tr, vr, seed)
    random.setstate(state)


def test_split_seeds_differ_and_ratios_are_checked():
    data = make(50)
    a = DatasetFormatter.create_train_val_test_split(data, seed=1)
    b = DatasetFormatter.create_train_val_test_split(data, seed=2)
    assert a["train"] != b["train"]
    assert [len(a[k]) for k in ("train", "validation", "test")] == [40, 5, 5]
    with pytest.raises(ArgumentError, match=r"train_ratio \+ val_ratio \+ test_ratio must be 1"):
        DatasetFormatter.create_train_val_test_split(data, 0.8, 0.1, 0.2)
    with pytest.raises(ArgumentError, match="val_ratio: must be in"):
        DatasetFormatter.create_train_val_test_split(data, 0.9, -0.1, 0.2)


@pytest.fixture()
def tasks():
    return {"big": make(300, "big"), "mid": make(60, "mid"), "small": make(12, "small")}


def test_proportional_takes_every_example_once_tagged_and_copies(tasks):
    before = copy.deepcopy(tasks)
    mixer = MultiTaskFineTuner("base", tasks, seed=3)
    mixed = mixer.create_mixed_dataset("proportional")
    assert tasks == before  # inputs (and their metadata dicts) untouched
    assert Counter(ex.metadata["task"] for ex in mixed) == {"big": 300, "mid": 60, "small": 12}
    assert sorted((ex.metadata["task"], ex.metadata["id"]) for ex in mixed) == sorted(
        (name, ex.metadata["id"]) for name, exs in tasks.items() for ex in exs)
    assert mixed == mixer.create_mixed_dataset("proportional")
    assert mixed != mixer.create_mixed_dataset("proportional", seed=4)
    assert all(m.metadata is not o.metadata for m in mixed for o in tasks["small"])


def test_equal_draws_the_smallest_size_from_each_without_replacement(tasks):
    before = copy.deepcopy(tasks)
    mixed = MultiTaskFineTuner("base", tasks).create_mixed_dataset("equal", seed=0)
    assert tasks == before
    assert Counter(ex.metadata["task"] for ex in mixed) == {"big": 12, "mid": 12, "small": 12}
    keys = [(ex.metadata["task"], ex.metadata["id"]) for ex in mixed]
    assert len(set(keys)) == len(keys)
    with pytest.raises(ArgumentError, match="'none' has no examples"):
        MultiTaskFineTuner("base", {**tasks, "none": []}).create_mixed_dataset("equal")


@pytest.mark.parametrize("temperature", [1.0, 2.0, 5.0])
def test_temperature_sampling_proportions_within_bounds(tasks, temperature):
    before = copy.deepcopy(tasks)
    n = 20_000
    mixed = MultiTaskFineTuner("base", tasks).create_mixed_dataset("temperature", temperature=temperature,
                                                                     num_samples=n, seed=11)
    assert tasks == before and len(mixed) == n
    sizes = {name: len(exs) for name, exs in tasks.items()}
    z = {name: size ** (1 / temperature) for name, size in sizes.items()}
    counts = Counter(ex.metadata["task"] for ex in mixed)
    for name in tasks:
        p = z[name] / sum(z.values())
        sigma = math.sqrt(n * p * (1 - p))
        # each count is Binomial(n, p): 5 sigma leaves a false-failure chance below 1e-6 per task
        assert abs(counts[name] - n * p) < 5 * sigma, (name, counts[name], n * p)
    # examples are uniform within a task: the big task's 300 ids are each drawn about n·p/300 times
    big = Counter(ex.metadata["id"] for ex in mixed if ex.metadata["task"] == "big")
    assert len(big) == 300 if temperature == 1.0 else len(big) > 250


def test_temperature_defaults_to_the_seed_guides_size_and_weights(tasks):
    mixed = MultiTaskFineTuner("base", tasks).create_mixed_dataset("temperature")
    assert len(mixed) == 372
    assert mixture_weights([900, 100], "temperature", 2.0) == pytest.approx([0.75, 0.25])
    assert mixture_weights([900, 100], "temperature", 1.0) == pytest.approx(mixture_weights([900, 100]))
    assert mixture_weights([900, 100], "temperature", 1e9) == pytest.approx(mixture_weights([900, 100], "equal"))
    with pytest.raises(ArgumentError, match="sampling_strategy: 'uniform' is not one of proportional, equal, temperature"):
        MultiTaskFineTuner("base", tasks).create_mixed_dataset("uniform")
    with pytest.raises(ArgumentError, match="temperature: must be > 0"):
        MultiTaskFineTuner("base", tasks).create_mixed_dataset("temperature", temperature=0)
    with pytest.raises(ArgumentError, match="num_samples"):
        MultiTaskFineTuner("base", tasks).create_mixed_dataset("equal", num_samples=5)


@given(st.integers(0, 200), st.integers(0, 200), st.floats(0, 3), st.integers(0, 1000))
def test_replay_counts_seeded_and_non_mutating(n_task, n_general, ratio, seed):
    task = [("t", i) for i in range(n_task)]
    general = [("g", i) for i in range(n_general)]
    task_before, general_before = list(task), list(general)
    mixed = CatastrophicForgettingMitigation.create_replay_dataset(task, general, ratio, seed=seed)
    assert task == task_before and general == general_before
    replayed = [x for x in mixed if x[0] == "g"]
    assert len(replayed) == min(int(n_task * ratio), n_general) and len(set(replayed)) == len(replayed)
    assert sorted(x for x in mixed if x[0] == "t") == task
    assert mixed == CatastrophicForgettingMitigation.create_replay_dataset(task, general, ratio, seed=seed)


def test_replay_strategies_are_the_seed_guides_and_tune_re_exports():
    strategies = CatastrophicForgettingMitigation.strategies()
    assert list(strategies) == ["low_learning_rate", "regularization", "ewc", "replay", "lora", "gradual_unfreezing"]
    assert strategies["replay"] == "Mix in original training data distribution"
    with pytest.raises(ArgumentError, match="replay_ratio"):
        CatastrophicForgettingMitigation.create_replay_dataset([1], [2], -0.5)
    pytest.importorskip("transformers")
    from tunesmith.tune.seed_compat import CatastrophicForgettingMitigation as FromTune

    assert FromTune is CatastrophicForgettingMitigation
