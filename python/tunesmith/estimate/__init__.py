"""Sizing fine-tuning jobs.

* :mod:`tunesmith.estimate.seed`: the seed heuristics, exact (scalar and columns).
"""

from __future__ import annotations

from tunesmith.estimate.seed import (
    FineTuneHeuristics,
    MemoryEstimateColumns,
    estimate_training_memory,
    fine_tune_heuristics,
)

__all__ = [
    "FineTuneHeuristics",
    "MemoryEstimateColumns",
    "estimate_training_memory",
    "fine_tune_heuristics",
]
