"""tunesmith: clean the data, size the job, tune the model.

This module is the public API. Importing it loads the Rust core and numpy only:
never torch or transformers (the training layer imports those lazily).
"""

from __future__ import annotations

from tunesmith._core import (
    AcceleratorRequirement,
    FineTuneMethod,
    MemoryEstimate,
    TrainingMethod,
    TrainingTarget,
    get_num_threads,
    set_num_threads,
)
from tunesmith._core import __version__ as _core_version
from tunesmith.errors import ArgumentError, ConfigError, InputError, TunesmithError, UnsupportedError
from tunesmith.estimate.seed import (
    FineTuneHeuristics,
    MemoryEstimateColumns,
    estimate_training_memory,
    fine_tune_heuristics,
)

__version__: str = _core_version

__all__ = [
    "AcceleratorRequirement",
    "ArgumentError",
    "ConfigError",
    "FineTuneHeuristics",
    "FineTuneMethod",
    "InputError",
    "MemoryEstimate",
    "MemoryEstimateColumns",
    "TrainingMethod",
    "TrainingTarget",
    "TunesmithError",
    "UnsupportedError",
    "__version__",
    "estimate_training_memory",
    "fine_tune_heuristics",
    "get_num_threads",
    "set_num_threads",
]
