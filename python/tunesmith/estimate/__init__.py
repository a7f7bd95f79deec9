"""Sizing fine-tuning jobs.

* :func:`estimate`: the accurate per-component memory estimate of one training step (``MemoryBreakdown``),
  from a model's own shape (:class:`ModelShape`, a ``config.json``, or a catalog name).
* :func:`fits`, :func:`max_batch_size`, :func:`smallest_device`, :func:`min_devices`, :func:`advise`.
* :func:`flops_per_token`, :func:`training_time`: FLOPs, step time, tokens/s, hours and cost.
* :func:`sweep`: the estimator over millions of job rows, computed in Rust.
* :mod:`tunesmith.estimate.compat`: the seed guide's ``ComputeRequirements``/``GPU_SPECS``/``recommend_hardware``.
* :mod:`tunesmith.estimate.seed`: the seed heuristics, exact (scalar and columns).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from tunesmith.estimate.seed import (
    FineTuneHeuristics,
    MemoryEstimateColumns,
    estimate_training_memory,
    fine_tune_heuristics,
)

# The estimator's modules load their JSON catalogs on import; `import tunesmith` (which imports the
# seed names above) must stay cheap, so they load on first use of one of these names.
_LAZY: dict[str, str] = {
    **dict.fromkeys(["catalog_names", "load_shape"], "catalog"),
    **dict.fromkeys(["GPU_SPECS", "ComputeRequirements", "recommend_hardware"], "compat"),
    **dict.fromkeys(["Advice", "advise", "fits", "max_batch_size", "min_devices", "smallest_device"], "fit"),
    **dict.fromkeys(["FlopsPerToken", "TimeEstimate", "flops_per_token", "training_time"], "flops"),
    **dict.fromkeys(["Device", "device_names", "devices", "get_device", "register_device"], "hardware"),
    **dict.fromkeys(["MemoryBreakdown", "estimate", "trainable_params"], "memory"),
    "ModelShape": "model",
    "sweep": "sweeps",
}

if TYPE_CHECKING:
    from tunesmith.estimate.catalog import catalog_names, load_shape
    from tunesmith.estimate.compat import GPU_SPECS, ComputeRequirements, recommend_hardware
    from tunesmith.estimate.fit import Advice, advise, fits, max_batch_size, min_devices, smallest_device
    from tunesmith.estimate.flops import FlopsPerToken, TimeEstimate, flops_per_token, training_time
    from tunesmith.estimate.hardware import Device, device_names, devices, get_device, register_device
    from tunesmith.estimate.memory import MemoryBreakdown, estimate, trainable_params
    from tunesmith.estimate.model import ModelShape
    from tunesmith.estimate.sweeps import sweep


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tunesmith.estimate' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"tunesmith.estimate.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "GPU_SPECS",
    "Advice",
    "ComputeRequirements",
    "Device",
    "FineTuneHeuristics",
    "FlopsPerToken",
    "MemoryBreakdown",
    "MemoryEstimateColumns",
    "ModelShape",
    "TimeEstimate",
    "advise",
    "catalog_names",
    "device_names",
    "devices",
    "estimate",
    "estimate_training_memory",
    "fine_tune_heuristics",
    "fits",
    "flops_per_token",
    "get_device",
    "load_shape",
    "max_batch_size",
    "min_devices",
    "recommend_hardware",
    "register_device",
    "smallest_device",
    "sweep",
    "trainable_params",
    "training_time",
]
