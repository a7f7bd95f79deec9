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

from tunesmith.estimate.catalog import catalog_names, load_shape
from tunesmith.estimate.compat import GPU_SPECS, ComputeRequirements, recommend_hardware
from tunesmith.estimate.fit import Advice, advise, fits, max_batch_size, min_devices, smallest_device
from tunesmith.estimate.flops import FlopsPerToken, TimeEstimate, flops_per_token, training_time
from tunesmith.estimate.hardware import Device, device_names, devices, get_device, register_device
from tunesmith.estimate.memory import MemoryBreakdown, estimate, trainable_params
from tunesmith.estimate.model import ModelShape
from tunesmith.estimate.seed import (
    FineTuneHeuristics,
    MemoryEstimateColumns,
    estimate_training_memory,
    fine_tune_heuristics,
)
from tunesmith.estimate.sweep import sweep

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
