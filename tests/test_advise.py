"""ApproachRecommender against the guide's own code on every profile class; data-size rules; validation."""

from __future__ import annotations

import doctest
import itertools
import subprocess
import sys

import pytest

import tunesmith.advise as advise
from tunesmith.advise import (
    USE_CASE_PROFILES,
    USE_CASE_RECOMMENDATIONS,
    ApproachRecommender,
    ApproachType,
    TrainingDataRequirements,
    UseCaseProfile,
)
from tunesmith.errors import ArgumentError

# --- the guide's code, as printed (floats, dict-order max): the oracle for the scores --------------------


def seed_scores(p: UseCaseProfile) -> dict[ApproachType, float]:
    ft = 0.0
    if p.data_size >= 10000:
        ft += 0.3
    elif p.data_size >= 1000:
        ft += 0.2
    elif p.data_size >= 100:
        ft += 0.1
    if p.data_update_frequency == "static":
        ft += 0.2
    elif p.data_update_frequency == "monthly":
        ft += 0.1
    if p.task_complexity == "complex":
        ft += 0.2
    if p.requires_specific_format:
        ft += 0.15
    if p.requires_specific_tone:
        ft += 0.15
    rag = 0.0
    if p.data_update_frequency in ["daily", "weekly"]:
        rag += 0.3
    if p.requires_domain_knowledge:
        rag += 0.25
    if p.data_size < 1000:
        rag += 0.2
    if p.task_complexity == "moderate":
        rag += 0.15
    pr = 0.0
    if p.task_complexity == "simple":
        pr += 0.4
    if p.data_size < 100:
        pr += 0.3
    if p.latency_requirement_ms > 5000:
        pr += 0.2
    return {ApproachType.FINE_TUNING: min(ft, 1.0), ApproachType.RAG: min(rag, 1.0),
            ApproachType.PROMPTING: min(pr, 1.0)}


def seed_recommend(p: UseCaseProfile) -> ApproachType:
    scores = seed_scores(p)
    best = max(scores, key=scores.get)
    if scores[ApproachType.FINE_TUNING] > 0.5 and scores[ApproachType.RAG] > 0.5:
        return ApproachType.HYBRID
    return best


def all_profiles():
    # one representative per branch of every rule (boundaries included)
    for size, freq, cx, lat, dom, fmt, tone in itertools.product(
        (0, 99, 100, 999, 1000, 9999, 10000),
        ("daily", "weekly", "monthly", "static"),
        ("simple", "moderate", "complex"),
        (5000, 5001), (False, True), (False, True), (False, True),
    ):
        yield UseCaseProfile("p", size, freq, cx, lat, 100.0, dom, fmt, tone)


def test_scores_are_the_guides_and_only_ties_are_decided_differently():
    rec = ApproachRecommender()
    ties = changed = 0
    for p in all_profiles():
        ours, seed = rec.scores(p), seed_scores(p)
        for a in seed:
            assert ours[a] == pytest.approx(seed[a], abs=1e-12)
        got, guide = rec.recommend(p), seed_recommend(p)
        top = max(ours.values())
        tied = [a for a in ApproachRecommender.PREFERENCE if ours[a] == top]
        if got is ApproachType.HYBRID:
            assert guide is ApproachType.HYBRID
        elif len(tied) == 1:
            assert got == guide == tied[0]
        else:
            ties += 1
            assert got == tied[0]  # the cheapest of the tied approaches
            changed += got != guide
    # the grid has exact ties, and the guide broke some of them towards fine-tuning
    assert ties > 0 and changed > 0


def test_float_sums_no_longer_break_ties():
    # 0.4 + 0.2 (prompting) vs 0.3 + 0.15 + 0.15 (fine-tuning): equal, but not as floats
    p = UseCaseProfile("p", 50_000, "weekly", "simple", 10_000, 1.0, False, True, True)
    assert seed_scores(p)[ApproachType.PROMPTING] > seed_scores(p)[ApproachType.FINE_TUNING]
    assert ApproachRecommender().scores(p)[ApproachType.PROMPTING] == ApproachRecommender().scores(p)[
        ApproachType.FINE_TUNING] == 0.6
    # an exact tie the guide gave to fine-tuning goes to the cheaper approach: with no training data at all,
    # fine-tuning (0.2 complex + 0.15 format + 0.15 tone) ties RAG (0.3 daily + 0.2 little data)
    q = UseCaseProfile("q", 0, "daily", "complex", 1000, 1.0, False, True, True)
    assert seed_recommend(q) is ApproachType.FINE_TUNING
    assert ApproachRecommender().recommend(q) is ApproachType.RAG


def test_hybrid_when_both_fine_tuning_and_rag_score_above_half():
    p = UseCaseProfile("p", 20_000, "weekly", "complex", 1000, 1.0, True, True, False)
    rec = ApproachRecommender()
    assert rec.scores(p)[ApproachType.FINE_TUNING] == 0.65 and rec.scores(p)[ApproachType.RAG] == 0.55
    assert rec.recommend(p) is ApproachType.HYBRID
    # exactly 0.5 is not above it
    q = UseCaseProfile("q", 5000, "weekly", "moderate", 1000, 1.0, True, True, True)
    assert rec.scores(q)[ApproachType.FINE_TUNING] == 0.5
    assert rec.recommend(q) is ApproachType.RAG


def test_use_case_table_and_profiles_agree():
    rec = ApproachRecommender()
    assert set(USE_CASE_PROFILES) == set(USE_CASE_RECOMMENDATIONS)
    for name, profile in USE_CASE_PROFILES.items():
        assert rec.recommend(profile) is USE_CASE_RECOMMENDATIONS[name]["approach"], name
        assert USE_CASE_RECOMMENDATIONS[name]["reason"]


def test_explain_lists_the_rules_that_fired():
    out = ApproachRecommender().explain(USE_CASE_PROFILES["document_qa"])
    assert out["approach"] == "rag"
    assert out["scores"] == {"prompting": 0.0, "rag": 0.9, "fine_tuning": 0.1}
    assert out["reasons"]["rag"] == [
        "+0.30 knowledge changes daily", "+0.25 needs domain knowledge", "+0.20 only 200 examples (< 1000)",
        "+0.15 moderate task",
    ]
    assert out["reasons"]["prompting"] == []


def test_profile_validation_names_field_and_choices():
    with pytest.raises(ArgumentError, match=r"frequency='Daily'; expected one of daily, weekly, monthly, static"):
        UseCaseProfile("x", 10, "Daily", "simple", 100, 1.0, False, False, False)
    with pytest.raises(ArgumentError, match=r"task_complexity='medium'; expected one of simple, moderate, complex"):
        UseCaseProfile("x", 10, "daily", "medium", 100, 1.0, False, False, False)
    with pytest.raises(ArgumentError, match=r"data_size=-1; must be >= 0"):
        UseCaseProfile("x", -1, "daily", "simple", 100, 1.0, False, False, False)


def test_samples_needed_is_the_guides_table():
    complexity = {"simple": 1.0, "moderate": 2.5, "complex": 5.0}
    capability = {"high": 0.5, "medium": 1.0, "low": 2.0}
    for (c, cm), (m, mm) in itertools.product(complexity.items(), capability.items()):
        assert TrainingDataRequirements.estimate_samples_needed(c, m) == int(1000 * cm * mm)
    assert TrainingDataRequirements.estimate_samples_needed("simple", "high") == 500
    assert TrainingDataRequirements.estimate_samples_needed("complex", "low") == 10_000
    with pytest.raises(ArgumentError, match="task_complexity='hard'"):
        TrainingDataRequirements.estimate_samples_needed("hard", "low")
    with pytest.raises(ArgumentError, match="base_model_capability='7b'; expected one of high, medium, low"):
        TrainingDataRequirements.estimate_samples_needed("simple", "7b")


def test_assess_and_defaults():
    req = TrainingDataRequirements()
    assert (req.minimum_samples, req.recommended_samples, req.optimal_samples) == (100, 1000, 10000)
    assert [req.assess(n) for n in (0, 99, 100, 999, 1000, 9999, 10000)] == [
        "below minimum", "below minimum", "minimum", "minimum", "recommended", "recommended", "optimal"]


def test_learning_rate_schedules_is_reused_and_no_torch_on_import():
    from tunesmith.tune.seed_compat import LearningRateSchedules

    assert advise.LearningRateSchedules is LearningRateSchedules
    assert advise.LearningRateSchedules.recommend_lr(7, "lora", 5000) == 2e-4
    code = "import sys, tunesmith.advise as a; a.LearningRateSchedules; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_docstring_examples_run():
    result = doctest.testmod(advise)
    assert result.attempted >= 3
    assert result.failed == 0
