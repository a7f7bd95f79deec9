"""Krippendorff's alpha against the ``krippendorff`` package; blind rating sheets; rating records."""

from __future__ import annotations

import doctest
import json
import math
import warnings

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import tunesmith.evaluation as evaluation
from tunesmith.errors import ArgumentError, InputError
from tunesmith.evaluation import HumanEvaluation, compute_inter_rater_reliability, krippendorff_alpha

LEVELS = ("nominal", "ordinal", "interval", "ratio")


@pytest.fixture(scope="module")
def kd():
    return pytest.importorskip("krippendorff")


def reference(kd, data, level, **kw):
    """The package's alpha, or None where it refuses (no pairable unit, one value in the domain) or is nan."""
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            value = float(kd.alpha(reliability_data=data, level_of_measurement=level, **kw))
    except ValueError:
        return None
    return None if math.isnan(value) else value


def tables(values: st.SearchStrategy) -> st.SearchStrategy[list[list[float | None]]]:
    """raters × units tables with missing ratings (None)."""
    return st.integers(2, 6).flatmap(
        lambda raters: st.integers(1, 14).flatmap(
            lambda units: st.lists(
                st.lists(st.one_of(st.none(), values), min_size=units, max_size=units), min_size=raters, max_size=raters
            )
        )
    )


def as_float(table):
    return np.array([[np.nan if v is None else v for v in row] for row in table], dtype=float)


def pairable(table) -> bool:
    return any(sum(row[j] is not None for row in table) >= 2 for j in range(len(table[0])))


def check_against_reference(kd, table, level):
    ref = reference(kd, as_float(table), level)
    if not pairable(table):
        with pytest.raises(ArgumentError, match="two or more raters"):
            krippendorff_alpha(table, level)
        return
    ours = krippendorff_alpha(table, level)
    if ref is None:
        # the package refuses a one-value domain and gives nan without variation; alpha is undefined there
        assert math.isnan(ours)
    else:
        assert ours == pytest.approx(ref, abs=1e-9, rel=1e-9)


@pytest.mark.parametrize("level", LEVELS)
@given(table=tables(st.integers(0, 6)))
def test_alpha_matches_krippendorff_package_on_ratings(kd, level, table):
    check_against_reference(kd, table, level)


@pytest.mark.parametrize("level", ["interval", "ratio"])
@given(table=tables(st.floats(0, 1000, allow_nan=False, allow_infinity=False)))
def test_alpha_matches_krippendorff_package_on_continuous_values(kd, level, table):
    check_against_reference(kd, table, level)


@given(table=tables(st.sampled_from(["bad", "fair", "good", "great"])))
def test_alpha_matches_on_labels(kd, table):
    assume(pairable(table))
    domain = ["bad", "fair", "good", "great"]
    ref_table = np.array([["nan" if v is None else v for v in row] for row in table])
    for level in ("nominal", "ordinal"):
        ref = reference(kd, ref_table, level, value_domain=domain)
        ours = krippendorff_alpha(table, level, value_domain=domain)
        if ref is None:
            assert math.isnan(ours)
        else:
            assert ours == pytest.approx(ref, abs=1e-9, rel=1e-9)


def test_krippendorff_2011_worked_examples(kd):
    # Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", the 4 coders × 12 units example
    data = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
        [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
    ]
    assert krippendorff_alpha(data, "nominal") == pytest.approx(0.743, abs=5e-4)
    assert krippendorff_alpha(data, "ordinal") == pytest.approx(0.815, abs=5e-4)
    assert krippendorff_alpha(data, "interval") == pytest.approx(0.849, abs=5e-4)
    assert krippendorff_alpha(data, "ratio") == pytest.approx(0.797, abs=5e-4)


@given(table=tables(st.integers(1, 5)), extra=st.integers(1, 5), level=st.sampled_from(LEVELS))
def test_units_with_one_rating_change_nothing(table, extra, level):
    assume(pairable(table))
    base = krippendorff_alpha(table, level)
    widened = [row + [extra if i == 0 else None] for i, row in enumerate(table)]
    after = krippendorff_alpha(widened, level)
    assert (math.isnan(base) and math.isnan(after)) or after == pytest.approx(base, abs=1e-12)


@given(table=tables(st.integers(1, 5)), seed=st.integers(0, 2**32 - 1), level=st.sampled_from(LEVELS))
def test_order_of_raters_and_units_does_not_matter(table, seed, level):
    assume(pairable(table))
    rng = np.random.default_rng(seed)
    rows = [table[i] for i in rng.permutation(len(table))]
    cols = rng.permutation(len(table[0]))
    shuffled = [[row[j] for j in cols] for row in rows]
    a, b = krippendorff_alpha(table, level), krippendorff_alpha(shuffled, level)
    assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, abs=1e-12)


def test_interval_alpha_is_affine_invariant_and_ratio_scale_invariant():
    rng = np.random.default_rng(3)
    data = rng.integers(1, 6, size=(4, 30)).astype(float)
    data[rng.random(data.shape) < 0.2] = np.nan
    interval = krippendorff_alpha(data, "interval")
    assert krippendorff_alpha(data * 3.5 - 7, "interval") == pytest.approx(interval, abs=1e-12)
    assert krippendorff_alpha(data * 10, "ratio") == pytest.approx(krippendorff_alpha(data, "ratio"), abs=1e-12)
    # ordinal depends on ranks only
    assert krippendorff_alpha(np.exp(data), "ordinal") == pytest.approx(krippendorff_alpha(data, "ordinal"), abs=1e-12)


def test_perfect_agreement_chance_and_no_variation():
    assert krippendorff_alpha([[1, 2, 3, 4], [1, 2, 3, 4]], "nominal") == 1.0
    assert krippendorff_alpha([[1, 2, 3, 4], [1, 2, 3, 4]], "interval") == 1.0
    # systematic disagreement is negative
    assert krippendorff_alpha([[1, 2], [2, 1]], "nominal") < 0
    # one value everywhere: alpha is undefined
    assert math.isnan(krippendorff_alpha([[3, 3, 3], [3, 3, None]], "ordinal"))
    assert math.isnan(krippendorff_alpha([[0, 0], [0, 0]], "ratio"))


def test_numpy_input_and_large_table_agree_with_reference(kd):
    rng = np.random.default_rng(0)
    truth = rng.integers(1, 6, size=2000)
    data = np.clip(truth + rng.integers(-1, 2, size=(8, 2000)), 1, 5).astype(float)
    data[rng.random(data.shape) < 0.3] = np.nan
    for level in LEVELS:
        assert krippendorff_alpha(data, level) == pytest.approx(reference(kd, data, level), abs=1e-9)


def test_errors_name_the_argument():
    with pytest.raises(ArgumentError, match="level_of_measurement='cardinal'.*nominal, ordinal, interval, ratio"):
        krippendorff_alpha([[1, 2], [1, 2]], "cardinal")  # type: ignore[arg-type]
    with pytest.raises(ArgumentError, match=r"row lengths are \[2, 3\]"):
        krippendorff_alpha([[1, 2], [1, 2, 3]])
    with pytest.raises(ArgumentError, match="needs numeric ratings; got 'good'"):
        krippendorff_alpha([["good", "bad"], ["good", "good"]], "interval")
    with pytest.raises(ArgumentError, match="non-negative"):
        krippendorff_alpha([[-1, 2], [1, 2]], "ratio")
    with pytest.raises(ArgumentError, match="needs value_domain"):
        krippendorff_alpha([["low", "high"], ["low", "low"]], "ordinal")
    with pytest.raises(ArgumentError, match="'mid', which is not in value_domain"):
        krippendorff_alpha([["low", "mid"], ["low", "low"]], "ordinal", value_domain=["low", "high"])
    with pytest.raises(ArgumentError, match="two or more raters"):
        krippendorff_alpha([[1, None], [None, 2]])
    with pytest.raises(ArgumentError, match="appears twice"):
        krippendorff_alpha([["a", "b"], ["a", "a"]], "nominal", value_domain=["a", "b", "a"])


# --- rating records ---------------------------------------------------------------------------------


def records(table, criterion="relevance"):
    return [
        {"rater": f"r{i}", "item_id": j, "output": "output_0", "criterion": criterion, "score": v}
        for i, row in enumerate(table)
        for j, v in enumerate(row)
    ]


@given(table=tables(st.integers(1, 5)))
def test_records_give_the_alpha_of_their_table(table):
    assume(pairable(table))
    expected = krippendorff_alpha(table, "ordinal")
    got = compute_inter_rater_reliability(records(table))
    assert (math.isnan(expected) and math.isnan(got)) or got == pytest.approx(expected, abs=1e-12)


def test_records_split_units_by_output_and_criterion():
    a = [[5, 4, 1, 2], [5, 3, 1, 2]]
    b = [[1, 5, 5, 2], [3, 1, 5, 4]]
    ratings = records(a, "relevance") + records(b, "coherence")
    assert compute_inter_rater_reliability(ratings, criterion="relevance") == pytest.approx(
        krippendorff_alpha(a, "ordinal"))
    assert compute_inter_rater_reliability(ratings, criterion="coherence") == pytest.approx(
        krippendorff_alpha(b, "ordinal"))
    pooled = [row_a + row_b for row_a, row_b in zip(a, b)]
    assert compute_inter_rater_reliability(ratings, "interval") == pytest.approx(krippendorff_alpha(pooled, "interval"))
    assert HumanEvaluation.compute_inter_rater_reliability(ratings) == compute_inter_rater_reliability(ratings)


def test_record_errors():
    with pytest.raises(InputError, match=r"ratings\[1\]: rater 'r0' already rated item 0.*ratings\[0\]"):
        compute_inter_rater_reliability([{"rater": "r0", "item_id": 0, "score": 1}] * 2)
    with pytest.raises(InputError, match=r"ratings\[0\]: missing key; expected one of score, rating, value"):
        compute_inter_rater_reliability([{"rater": "r0", "item_id": 0}])
    with pytest.raises(InputError, match="no ratings for criterion 'tone'"):
        compute_inter_rater_reliability(records([[1, 2], [1, 2]]), criterion="tone")


# --- the sheet --------------------------------------------------------------------------------------

CASES = [{"prompt": f"question {i}", "expected": f"answer {i}"} for i in range(12)]
OUTPUTS = {name: [f"{name} says {i}" for i in range(12)] for name in ("base", "lora", "qlora")}


def test_sheet_is_blind_and_the_key_unblinds_it():
    sheet = HumanEvaluation.create_eval_interface(CASES, OUTPUTS, seed=7)
    key = HumanEvaluation.answer_key(OUTPUTS, len(CASES), seed=7)
    assert len(sheet) == 12
    for item, slots in zip(sheet, key):
        assert item["prompt"] == CASES[item["id"]]["prompt"]
        assert item["reference"] == CASES[item["id"]]["expected"]
        assert [c["name"] for c in item["criteria"]] == ["relevance", "coherence", "correctness"]
        assert set(item["outputs"]) == {"output_0", "output_1", "output_2"}
        for slot, out in item["outputs"].items():
            assert set(out) == {"text"}
            assert out["text"] == OUTPUTS[slots[slot]][item["id"]]
    # no model name anywhere but in the texts themselves
    assert "_model" not in json.dumps(sheet)
    # every model lands in every slot somewhere: the order really is shuffled
    assert {slots["output_0"] for slots in key} == set(OUTPUTS)


def test_sheet_order_is_seeded_and_independent_of_dict_order():
    a = HumanEvaluation.create_eval_interface(CASES, OUTPUTS, seed=1)
    b = HumanEvaluation.create_eval_interface(CASES, dict(reversed(list(OUTPUTS.items()))), seed=1)
    c = HumanEvaluation.create_eval_interface(CASES, OUTPUTS, seed=2)
    assert a == b
    assert a != c


def test_score_models_unblinds_ratings():
    key = HumanEvaluation.answer_key(OUTPUTS, len(CASES), seed=5)
    truth = {"base": 2.0, "lora": 4.0, "qlora": 3.0}
    ratings = [
        {"rater": "r", "item_id": i, "output": slot, "criterion": "relevance", "score": truth[model]}
        for i, slots in enumerate(key)
        for slot, model in slots.items()
    ]
    ratings.append({"rater": "r", "item_id": 0, "output": "output_0", "criterion": "coherence", "score": None})
    assert HumanEvaluation.score_models(ratings, key) == {m: {"relevance": v} for m, v in truth.items()}
    with pytest.raises(InputError, match="item 0 output 'output_9' is not on the sheet"):
        HumanEvaluation.score_models([{"item_id": 0, "output": "output_9", "score": 1}], key)


def test_sheet_errors():
    with pytest.raises(InputError, match=r"model_outputs\['base'\]: 1 outputs for 2 test cases"):
        HumanEvaluation.create_eval_interface(CASES[:2], {"base": ["x"]})
    with pytest.raises(InputError, match=r"test_cases\[0\]: missing 'prompt'"):
        HumanEvaluation.create_eval_interface([{"question": "x"}], {"base": ["x"]})
    with pytest.raises(ArgumentError, match="model_outputs"):
        HumanEvaluation.create_eval_interface(CASES, {})


def test_docstring_examples_run():
    result = doctest.testmod(evaluation, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 4
    assert result.failed == 0


def test_sparse_paths_for_large_domains_match_reference(kd, monkeypatch):
    # the nominal, ordinal and ratio sums switch from a dense units × values count matrix to per-unit pairs
    # (ordinal, ratio) and sorted pair counts (nominal) on large tables; force that path on small ones
    monkeypatch.setattr(evaluation, "_DENSE", 0)
    rng = np.random.default_rng(11)
    for trial in range(60):
        raters, units = rng.integers(2, 7), rng.integers(2, 25)
        data = rng.integers(0, rng.integers(2, 9), size=(raters, units)).astype(float)
        data[rng.random(data.shape) < rng.uniform(0, 0.6)] = np.nan
        table = [[None if np.isnan(v) else int(v) for v in row] for row in data]
        for level in ("nominal", "ordinal", "ratio"):
            check_against_reference(kd, table, level)


def test_dataframe_rows_are_raters():
    class Frame:  # the part of a pandas DataFrame that matters: iterating it yields column names
        def __init__(self, rows):
            self.rows = rows

        def __iter__(self):
            return iter(range(len(self.rows[0])))

        def to_numpy(self):
            return np.array(self.rows, dtype=object)

    rows = [[1, 2, 3, 1], [1, 2, None, 2]]
    assert krippendorff_alpha(Frame(rows), "nominal") == krippendorff_alpha(rows, "nominal")
