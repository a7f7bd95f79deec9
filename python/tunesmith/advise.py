"""Should you fine-tune at all? The seed guide's approach recommender and data-size rules.

``ApproachRecommender`` scores prompting, RAG and fine-tuning for a
:class:`UseCaseProfile` with the guide's point table (``_score_fine_tuning``,
``_score_rag``, ``_score_prompting``, unchanged) and picks the best, or
``HYBRID`` when fine-tuning and RAG both score above 0.5. What differs from the
guide, and why:

* Scores are added in hundredths (integers), then divided by 100. The guide summed
  floats, so equal totals could compare unequal: ``0.4 + 0.2`` is
  ``0.6000000000000001`` but ``0.3 + 0.15 + 0.15`` is ``0.6``, which made the guide
  pick prompting over an equally scored fine-tuning for a 50 000-example, weekly,
  simple, format-and-tone profile with a loose latency budget.
* Ties go to the cheaper approach: prompting, then RAG, then fine-tuning (the
  guide's decision tree starts with "can prompting solve the problem?", and its
  comparison matrix orders setup time and compute cost the same way). The guide's
  ``max`` over a dict returned fine-tuning, the most expensive, on every exact tie.
* :class:`UseCaseProfile` validates its fields: an unknown ``data_update_frequency``
  or ``task_complexity`` (``"Daily"``, ``"medium"``) scored zero silently in the
  guide; here it raises :class:`~tunesmith.errors.ArgumentError` with the valid values.
* :meth:`TrainingDataRequirements.estimate_samples_needed` raises on an unknown
  complexity or capability instead of silently using the "moderate"/"medium" factor.

``budget_monthly_usd`` is part of the profile, as in the guide, but, as in the
guide, no rule scores it. :meth:`ApproachRecommender.explain` lists the rules that
fired. ``LearningRateSchedules`` is the one in :mod:`tunesmith.tune.seed_compat`,
re-exported here.

    >>> profile = UseCaseProfile(
    ...     name="document_qa", data_size=200, data_update_frequency="daily", task_complexity="moderate",
    ...     latency_requirement_ms=3000, budget_monthly_usd=500, requires_domain_knowledge=True,
    ...     requires_specific_format=False, requires_specific_tone=False)
    >>> ApproachRecommender().recommend(profile)
    <ApproachType.RAG: 'rag'>
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from tunesmith.errors import ArgumentError

__all__ = [
    "USE_CASE_PROFILES",
    "USE_CASE_RECOMMENDATIONS",
    "ApproachRecommender",
    "ApproachType",
    "LearningRateSchedules",
    "TrainingDataRequirements",
    "UseCaseProfile",
]

UPDATE_FREQUENCIES: tuple[str, ...] = ("daily", "weekly", "monthly", "static")
COMPLEXITIES: tuple[str, ...] = ("simple", "moderate", "complex")
CAPABILITIES: tuple[str, ...] = ("high", "medium", "low")


class ApproachType(Enum):
    """How to adapt a model to a use case."""

    PROMPTING = "prompting"
    RAG = "rag"
    FINE_TUNING = "fine_tuning"
    HYBRID = "hybrid"


@dataclass
class UseCaseProfile:
    """A use case, profiled to choose an approach (the guide's fields).

    Attributes:
        name: a label.
        data_size: training examples available (>= 0).
        data_update_frequency: how often the knowledge changes: ``daily``, ``weekly``, ``monthly`` or ``static``.
        task_complexity: ``simple`` (classification, extraction), ``moderate`` (summaries, Q&A)
            or ``complex`` (code, multi-step reasoning).
        latency_requirement_ms: the latency budget; above 5000 ms long prompts are affordable.
        budget_monthly_usd: the monthly budget (kept from the guide; not scored).
        requires_domain_knowledge: answers need facts the base model lacks.
        requires_specific_format: outputs must follow a format.
        requires_specific_tone: outputs must keep a tone or style.

    Raises:
        ArgumentError: a value outside the choices above, or a negative size, latency or budget.
    """

    name: str
    data_size: int
    data_update_frequency: str
    task_complexity: str
    latency_requirement_ms: int
    budget_monthly_usd: float
    requires_domain_knowledge: bool
    requires_specific_format: bool
    requires_specific_tone: bool

    def __post_init__(self) -> None:
        if self.data_update_frequency not in UPDATE_FREQUENCIES:
            raise ArgumentError(
                f"UseCaseProfile({self.name!r}).data_update_frequency={self.data_update_frequency!r}; "
                f"expected one of {', '.join(UPDATE_FREQUENCIES)}"
            )
        if self.task_complexity not in COMPLEXITIES:
            raise ArgumentError(
                f"UseCaseProfile({self.name!r}).task_complexity={self.task_complexity!r}; "
                f"expected one of {', '.join(COMPLEXITIES)}"
            )
        for field in ("data_size", "latency_requirement_ms", "budget_monthly_usd"):
            if getattr(self, field) < 0:
                raise ArgumentError(f"UseCaseProfile({self.name!r}).{field}={getattr(self, field)!r}; must be >= 0")


# (points in hundredths, reason) per rule that fired
_Rules = list[tuple[int, str]]


class ApproachRecommender:
    """Recommend prompting, RAG, fine-tuning or a hybrid for a :class:`UseCaseProfile` (the guide's scoring)."""

    #: tie-break order: the cheaper approach first
    PREFERENCE: tuple[ApproachType, ...] = (ApproachType.PROMPTING, ApproachType.RAG, ApproachType.FINE_TUNING)

    def recommend(self, profile: UseCaseProfile) -> ApproachType:
        """The best-scoring approach; ``HYBRID`` when fine-tuning and RAG both score above 0.5.

        Example:
            >>> profile = UseCaseProfile("code_completion", 100_000, "static", "complex", 200, 20_000,
            ...                          False, True, False)
            >>> ApproachRecommender().recommend(profile).value
            'fine_tuning'
        """
        scores = self.scores(profile)
        if scores[ApproachType.FINE_TUNING] > 0.5 and scores[ApproachType.RAG] > 0.5:
            return ApproachType.HYBRID
        best = max(scores.values())
        return next(a for a in self.PREFERENCE if scores[a] == best)

    def scores(self, profile: UseCaseProfile) -> dict[ApproachType, float]:
        """Each approach's score in [0, 1], exact to the hundredth."""
        return {
            ApproachType.PROMPTING: self._score_prompting(profile),
            ApproachType.RAG: self._score_rag(profile),
            ApproachType.FINE_TUNING: self._score_fine_tuning(profile),
        }

    def explain(self, profile: UseCaseProfile) -> dict[str, Any]:
        """The recommendation, the scores and, per approach, the rules that gave it points.

        Returns:
            ``{"approach": str, "scores": {approach: score}, "reasons": {approach: [str]}}``.
        """
        rules = {
            ApproachType.PROMPTING: self._prompting_rules(profile),
            ApproachType.RAG: self._rag_rules(profile),
            ApproachType.FINE_TUNING: self._fine_tuning_rules(profile),
        }
        return {
            "approach": self.recommend(profile).value,
            "scores": {a.value: s for a, s in self.scores(profile).items()},
            "reasons": {a.value: [f"+{p / 100:.2f} {why}" for p, why in r] for a, r in rules.items()},
        }

    @staticmethod
    def _total(rules: _Rules) -> float:
        return min(sum(p for p, _ in rules), 100) / 100

    def _fine_tuning_rules(self, profile: UseCaseProfile) -> _Rules:
        rules: _Rules = []
        if profile.data_size >= 10000:
            rules.append((30, f"{profile.data_size} examples (>= 10000)"))
        elif profile.data_size >= 1000:
            rules.append((20, f"{profile.data_size} examples (>= 1000)"))
        elif profile.data_size >= 100:
            rules.append((10, f"{profile.data_size} examples (>= 100)"))
        if profile.data_update_frequency == "static":
            rules.append((20, "static knowledge"))
        elif profile.data_update_frequency == "monthly":
            rules.append((10, "knowledge changes monthly"))
        if profile.task_complexity == "complex":
            rules.append((20, "complex task"))
        if profile.requires_specific_format:
            rules.append((15, "specific output format"))
        if profile.requires_specific_tone:
            rules.append((15, "specific tone"))
        return rules

    def _rag_rules(self, profile: UseCaseProfile) -> _Rules:
        rules: _Rules = []
        if profile.data_update_frequency in ("daily", "weekly"):
            rules.append((30, f"knowledge changes {profile.data_update_frequency}"))
        if profile.requires_domain_knowledge:
            rules.append((25, "needs domain knowledge"))
        if profile.data_size < 1000:
            rules.append((20, f"only {profile.data_size} examples (< 1000)"))
        if profile.task_complexity == "moderate":
            rules.append((15, "moderate task"))
        return rules

    def _prompting_rules(self, profile: UseCaseProfile) -> _Rules:
        rules: _Rules = []
        if profile.task_complexity == "simple":
            rules.append((40, "simple task"))
        if profile.data_size < 100:
            rules.append((30, f"only {profile.data_size} examples (< 100)"))
        if profile.latency_requirement_ms > 5000:
            rules.append((20, f"latency budget {profile.latency_requirement_ms} ms (> 5000) allows long prompts"))
        return rules

    def _score_fine_tuning(self, profile: UseCaseProfile) -> float:
        """The guide's fine-tuning score: data size, static knowledge, complexity, format and tone."""
        return self._total(self._fine_tuning_rules(profile))

    def _score_rag(self, profile: UseCaseProfile) -> float:
        """The guide's RAG score: changing knowledge, domain knowledge, little data, moderate tasks."""
        return self._total(self._rag_rules(profile))

    def _score_prompting(self, profile: UseCaseProfile) -> float:
        """The guide's prompting score: simple tasks, very little data, a loose latency budget."""
        return self._total(self._prompting_rules(profile))


#: The guide's example mapping of use cases to approaches.
USE_CASE_RECOMMENDATIONS: dict[str, dict[str, Any]] = {
    "customer_support_bot": {
        "approach": ApproachType.HYBRID,
        "reason": "Fine-tune for tone/format, RAG for knowledge base",
    },
    "code_completion": {
        "approach": ApproachType.FINE_TUNING,
        "reason": "Specific format, static patterns, lots of training data",
    },
    "document_qa": {
        "approach": ApproachType.RAG,
        "reason": "Dynamic documents, factual accuracy critical",
    },
    "sentiment_analysis": {
        "approach": ApproachType.FINE_TUNING,
        "reason": "Classification task, labeled data available",
    },
    "creative_writing": {
        "approach": ApproachType.PROMPTING,
        "reason": "Style can be guided via prompts, subjective output",
    },
}

#: A profile for each use case of :data:`USE_CASE_RECOMMENDATIONS` (ours, not the guide's), described the way
#: its ``reason`` describes it; the recommender maps each to the approach the table gives.
USE_CASE_PROFILES: dict[str, UseCaseProfile] = {
    "customer_support_bot": UseCaseProfile("customer_support_bot", 20_000, "weekly", "moderate", 2000, 5000,
                                           True, True, True),
    "code_completion": UseCaseProfile("code_completion", 100_000, "static", "complex", 200, 20_000,
                                      False, True, False),
    "document_qa": UseCaseProfile("document_qa", 200, "daily", "moderate", 3000, 500, True, False, False),
    "sentiment_analysis": UseCaseProfile("sentiment_analysis", 20_000, "static", "simple", 100, 1000,
                                         False, True, False),
    "creative_writing": UseCaseProfile("creative_writing", 50, "static", "moderate", 10_000, 200,
                                       False, False, True),
}


@dataclass
class TrainingDataRequirements:
    """How many training examples fine-tuning needs (the guide's figures)."""

    minimum_samples: int = 100  # bare minimum
    recommended_samples: int = 1000  # good starting point
    optimal_samples: int = 10000  # best results
    max_input_tokens: int = 2048
    max_output_tokens: int = 2048

    COMPLEXITY_MULTIPLIER = {"simple": 1.0, "moderate": 2.5, "complex": 5.0}
    CAPABILITY_MULTIPLIER = {"high": 0.5, "medium": 1.0, "low": 2.0}

    @staticmethod
    def estimate_samples_needed(task_complexity: str, base_model_capability: str) -> int:
        """1000 × a complexity factor × a capability factor (the guide's table).

        Args:
            task_complexity: ``simple`` (1.0: classification, extraction), ``moderate`` (2.5:
                summaries, Q&A) or ``complex`` (5.0: code, multi-step reasoning).
            base_model_capability: ``high`` (0.5: GPT-4 class), ``medium`` (1.0: GPT-3.5 /
                Llama-70B class) or ``low`` (2.0: 7B-13B models).

        Raises:
            ArgumentError: an unknown value (the guide silently used 2.5 / 1.0).

        Example:
            >>> TrainingDataRequirements.estimate_samples_needed("complex", "low")
            10000
        """
        complexity = TrainingDataRequirements.COMPLEXITY_MULTIPLIER.get(task_complexity)
        if complexity is None:
            raise ArgumentError(f"task_complexity={task_complexity!r}; expected one of {', '.join(COMPLEXITIES)}")
        capability = TrainingDataRequirements.CAPABILITY_MULTIPLIER.get(base_model_capability)
        if capability is None:
            raise ArgumentError(
                f"base_model_capability={base_model_capability!r}; expected one of {', '.join(CAPABILITIES)}"
            )
        return int(1000 * complexity * capability)

    def assess(self, n_samples: int) -> str:
        """Where ``n_samples`` stands: ``below minimum``, ``minimum``, ``recommended`` or ``optimal``."""
        if n_samples < self.minimum_samples:
            return "below minimum"
        if n_samples < self.recommended_samples:
            return "minimum"
        if n_samples < self.optimal_samples:
            return "recommended"
        return "optimal"


def __getattr__(name: str) -> Any:
    if name == "LearningRateSchedules":
        from tunesmith.tune.seed_compat import LearningRateSchedules

        return LearningRateSchedules
    raise AttributeError(f"module 'tunesmith.advise' has no attribute {name!r}")
