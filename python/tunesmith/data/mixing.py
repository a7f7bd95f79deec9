"""Mixing datasets: several tasks into one (``MultiTaskFineTuner``) and task data with general "replay" data
(``CatastrophicForgettingMitigation``), the seed guide's names, seeded and non-mutating.

The guide's code tagged the caller's examples in place (``ex.metadata["task"] = ...``) and drew from the global
``random``/``numpy`` generators; here each call takes a ``seed``, uses its own ``random.Random`` and returns
tagged copies, so the same inputs and seed give the same list and the inputs are left as they were.

Temperature sampling (Arivazhagan et al. 2019, "Massively Multilingual Neural Machine Translation in the Wild",
arXiv:1907.05019, §4.2) draws task *i* with probability ``p_i ∝ n_i^(1/T)``: ``T = 1`` is proportional to size,
``T → ∞`` is uniform over tasks.

    >>> tasks = {"qa": [TrainingExample(f"q{i}", "", "a") for i in range(6)], "sum": [TrainingExample("s", "", "t")]}
    >>> mixed = MultiTaskFineTuner("base", tasks).create_mixed_dataset("equal", seed=0)
    >>> sorted(ex.metadata["task"] for ex in mixed), tasks["sum"][0].metadata is None
    (['qa', 'sum'], True)
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from tunesmith.data.example import TrainingExample
from tunesmith.errors import ArgumentError

__all__ = ["STRATEGIES", "CatastrophicForgettingMitigation", "MultiTaskFineTuner", "mixture_weights"]

STRATEGIES = ("proportional", "equal", "temperature")
T = TypeVar("T")


def mixture_weights(sizes: Sequence[int], strategy: str = "proportional", temperature: float = 2.0) -> list[float]:
    """The probability of drawing from each task under ``strategy`` (they sum to 1).

    Args:
        sizes: Examples per task.
        strategy: ``proportional`` (``n_i / Σn``), ``equal`` (``1/k``) or ``temperature`` (``n_i^(1/T)``, normalised).
        temperature: ``T`` for ``temperature``; must be > 0.

    Raises:
        ArgumentError: unknown strategy, ``temperature <= 0``, a negative size, or no examples at all.

    Example:
        >>> [round(w, 3) for w in mixture_weights([900, 100], "temperature", 2.0)]
        [0.75, 0.25]
    """
    if strategy not in STRATEGIES:
        raise ArgumentError(f"sampling_strategy: {strategy!r} is not one of {', '.join(STRATEGIES)}")
    if any(n < 0 for n in sizes):
        raise ArgumentError(f"sizes: must be non-negative, got {list(sizes)}")
    if not sizes or sum(sizes) == 0:
        raise ArgumentError("tasks: there are no examples to mix")
    if strategy == "equal":
        return [1.0 / len(sizes)] * len(sizes)
    if strategy == "temperature":
        if not temperature > 0:
            raise ArgumentError(f"temperature: must be > 0, got {temperature}")
        raw = [n ** (1.0 / temperature) if n else 0.0 for n in sizes]
    else:
        raw = [float(n) for n in sizes]
    total = sum(raw)
    return [r / total for r in raw]


def _tagged(example: TrainingExample, task: str) -> TrainingExample:
    return dataclasses.replace(example, metadata={**(example.metadata or {}), "task": task})


class MultiTaskFineTuner:
    """Fine-tune on multiple tasks simultaneously (the seed guide's class): builds the mixed dataset.

    Args:
        model_name: The base model the mixture is for (kept for the caller; not loaded here).
        tasks: Task name -> its examples. The examples are never modified.
        seed: Default seed of :meth:`create_mixed_dataset`.
    """

    def __init__(self, model_name: str, tasks: Mapping[str, Sequence[TrainingExample]], seed: int = 42) -> None:
        if not tasks:
            raise ArgumentError("tasks: give at least one task (name -> examples)")
        self.model_name = model_name
        self.tasks = {name: list(examples) for name, examples in tasks.items()}
        self.seed = seed

    def create_mixed_dataset(
        self,
        sampling_strategy: str = "proportional",
        *,
        temperature: float = 2.0,
        num_samples: int | None = None,
        seed: int | None = None,
    ) -> list[TrainingExample]:
        """Mix the tasks; every returned example is a copy whose ``metadata["task"]`` names its task.

        * ``proportional``: every example of every task once, shuffled (so each task appears in proportion
          to its size);
        * ``equal``: ``min`` task size examples drawn without replacement from each task, shuffled;
        * ``temperature``: ``num_samples`` (default: all examples' count) draws, each picking task *i* with
          probability ``∝ n_i^(1/temperature)`` and then a uniform example of it (with replacement).

        Args:
            sampling_strategy: ``proportional``, ``equal`` or ``temperature``.
            temperature: ``T`` of temperature sampling (the guide's 2.0).
            num_samples: How many draws temperature sampling makes.
            seed: Overrides the instance's seed.

        Raises:
            ArgumentError: an unknown strategy, ``num_samples`` with a strategy that does not sample, or (for
                ``equal``) a task with no examples.
        """
        if sampling_strategy not in STRATEGIES:
            raise ArgumentError(f"sampling_strategy: {sampling_strategy!r} is not one of {', '.join(STRATEGIES)}")
        if num_samples is not None and sampling_strategy != "temperature":
            raise ArgumentError(f"num_samples: only temperature sampling draws a chosen number, not {sampling_strategy}")
        rng = random.Random(self.seed if seed is None else seed)
        names = list(self.tasks)
        if sampling_strategy == "proportional":
            mixed = [_tagged(ex, name) for name in names for ex in self.tasks[name]]
            rng.shuffle(mixed)
            return mixed
        if sampling_strategy == "equal":
            empty = [name for name in names if not self.tasks[name]]
            if empty:
                raise ArgumentError(f"tasks: {', '.join(map(repr, empty))} has no examples, so equal sampling takes none")
            per_task = min(len(v) for v in self.tasks.values())
            mixed = [_tagged(ex, name) for name in names for ex in rng.sample(self.tasks[name], per_task)]
            rng.shuffle(mixed)
            return mixed
        sizes = [len(self.tasks[name]) for name in names]
        weights = mixture_weights(sizes, "temperature", temperature)
        total = sum(sizes) if num_samples is None else num_samples
        if total < 0:
            raise ArgumentError(f"num_samples: must be >= 0, got {total}")
        picks = rng.choices(range(len(names)), weights=weights, k=total)
        return [_tagged(rng.choice(self.tasks[names[i]]), names[i]) for i in picks]


class CatastrophicForgettingMitigation:
    """Strategies to prevent catastrophic forgetting (the seed guide's class)."""

    @staticmethod
    def strategies() -> dict[str, str]:
        """The guide's strategy names and one-line descriptions."""
        return {
            "low_learning_rate": "Use 10-100x smaller LR than pre-training",
            "regularization": "L2 regularization to stay close to original",
            "ewc": "Elastic Weight Consolidation - protect important weights",
            "replay": "Mix in original training data distribution",
            "lora": "Only train small adapters, keep base frozen",
            "gradual_unfreezing": "Unfreeze layers progressively",
        }

    @staticmethod
    def create_replay_dataset(
        task_data: Sequence[T],
        general_data: Sequence[T],
        replay_ratio: float = 0.1,
        seed: int | None = 42,
    ) -> list[T]:
        """Task data plus ``int(len(task_data) × replay_ratio)`` general examples (at most all of them), drawn
        without replacement, shuffled together.

        Args:
            task_data: The fine-tuning examples (all kept).
            general_data: The general-distribution pool to replay from.
            replay_ratio: Replay examples per task example.
            seed: Seed of the draw and the shuffle; ``None`` draws fresh randomness.

        Returns:
            A new list; the inputs are not modified.

        Raises:
            ArgumentError: ``replay_ratio`` is negative.

        Example:
            >>> mixed = CatastrophicForgettingMitigation.create_replay_dataset(list(range(10)), ["g"] * 5, 0.2, seed=0)
            >>> len(mixed), mixed.count("g")
            (12, 2)
        """
        if not replay_ratio >= 0:
            raise ArgumentError(f"replay_ratio: must be >= 0, got {replay_ratio}")
        rng = random.Random(seed)
        num_replay = int(len(task_data) * replay_ratio)
        pool: list[Any] = list(general_data)
        combined = list(task_data) + rng.sample(pool, min(num_replay, len(pool)))
        rng.shuffle(combined)
        return combined
