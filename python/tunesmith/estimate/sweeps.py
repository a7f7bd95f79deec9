"""Sweeps: the accurate estimator over columns (or a grid) of job knobs, computed in Rust.

The model and method are reduced to a plan once in Python; every row is then evaluated by the Rust
mirror of the estimator's arithmetic on all cores with the GIL released (≥ 10 M rows/s on 2 cores,
``benches/bench_estimate_sweep.py``). Rows equal :func:`tunesmith.estimate.estimate` bit for bit.

Example:
    >>> cols = sweep("llama-3-8b", method="lora", grid={"batch_size": [1, 2, 4], "seq_len": [512, 2048]})
    >>> len(cols["peak_bytes"])
    6
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from tunesmith.errors import ArgumentError
from tunesmith.estimate.memory import (
    _OUT_FIELDS,
    ADAMW_IMPLS,
    ATTENTION,
    METHODS,
    OPTIMIZERS,
    PHASES,
    PRECISIONS,
    _choice,
    _METHOD_ALIASES,
    _OPTIMIZER_ALIASES,
    _PRECISION_ALIASES,
    make_plan,
    resolve_loss_kernel,
    resolve_model,
)

__all__ = ["SWEEPABLE", "sweep"]

# knob -> (numpy dtype, encoder of names to codes or None, default)
_SHARD_CODES = {"none": 0, "ddp": 1, "zero2": 2, "zero3": 3, "fsdp": 4}
SWEEPABLE: dict[str, tuple[str, Any, Any]] = {
    "batch_size": ("uint32", None, 1),
    "seq_len": ("uint32", None, 512),
    "rank": ("uint32", None, 8),
    "gradient_checkpointing": ("uint8", None, False),
    "attn_implementation": ("uint8", lambda v: 1 if _choice("attn_implementation", v, ATTENTION) == "eager" else 0,
                            "sdpa"),
    "precision": ("uint8", lambda v: PRECISIONS.index(_choice("precision", v, PRECISIONS, _PRECISION_ALIASES)),
                  "bf16"),
    "optimizer": ("uint8", lambda v: OPTIMIZERS.index(_choice("optimizer", v, OPTIMIZERS, _OPTIMIZER_ALIASES)),
                  "adamw"),
    "adamw_impl": ("uint8", lambda v: ADAMW_IMPLS.index(_choice("adamw_impl", v, ADAMW_IMPLS)), "foreach"),
    "num_devices": ("uint32", None, 1),
    "sharding": ("uint8", lambda v: _SHARD_CODES[_choice("sharding", v, tuple(_SHARD_CODES))], "none"),
    "grad_accum": ("uint32", None, 1),
}


def _column(np: Any, name: str, values: Any) -> Any:
    dtype, encode, _ = SWEEPABLE[name]
    arr = np.asarray(values)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ArgumentError(f"{name}: expected a scalar or a 1-D column, got shape {arr.shape}")
    if encode is not None and arr.dtype.kind in "OUS":
        uniq, inverse = np.unique(arr, return_inverse=True)
        codes = np.array([encode(str(u)) for u in uniq], dtype=dtype)
        return codes[inverse]
    if arr.dtype.kind == "b":
        return arr.astype(dtype)
    if arr.dtype.kind not in "iu":
        if arr.dtype.kind == "f" and np.all(arr == np.floor(arr)):
            arr = arr.astype(np.int64)
        else:
            raise ArgumentError(f"{name}: expected integers, got dtype {arr.dtype}")
    if arr.size and (arr.min() < 0 or arr.max() > np.iinfo(dtype).max):
        raise ArgumentError(f"{name}: values out of range for {dtype}")
    if name in ("batch_size", "seq_len", "num_devices", "grad_accum") and arr.size and arr.min() < 1:
        raise ArgumentError(f"{name}: values must be at least 1")
    return np.ascontiguousarray(arr, dtype=dtype)


def _one_method(
    np: Any, shape: Any, method: str, cols: dict[str, Any], static: Mapping[str, Any], mask: int
) -> dict[str, Any]:
    from tunesmith import _core

    plan = make_plan(shape, method, **static)
    rank = cols["rank"]
    uses_rank = method in ("lora", "dora", "qlora") or (method == "dpo" and static.get("dpo_policy") == "lora")
    if uses_rank and rank.size and rank.min() < 1:
        raise ArgumentError("rank: values must be at least 1 for LoRA methods")
    if not uses_rank:
        rank = np.zeros(1, dtype="uint32")
    if method == "prefix" and cols["gradient_checkpointing"].any():
        from tunesmith.errors import UnsupportedError

        raise UnsupportedError("method='prefix' with gradient_checkpointing: PEFT refuses it")
    out = _core.estimate_memory_columns(
        plan.as_list(), cols["batch_size"], cols["seq_len"], rank, cols["gradient_checkpointing"],
        cols["attn_implementation"], cols["precision"], cols["optimizer"], cols["adamw_impl"],
        cols["num_devices"], cols["sharding"], cols["grad_accum"], mask,
    )
    return {f: c for f, c in zip(_OUT_FIELDS, out, strict=True) if c is not None}


def sweep(
    model: Any,
    *,
    method: str | list[str] = "full",
    grid: Mapping[str, Any] | None = None,
    device: Any = None,
    output: str = "numpy",
    target_modules: Any = None,
    bits: int = 4,
    quant_type: str = "nf4",
    double_quant: bool = True,
    num_virtual_tokens: int = 20,
    adapter_reduction: int = 16,
    dpo_policy: str = "full",
    lora_dropout: float = 0.0,
    loss_kernel: str = "auto",
    outputs: str | list[str] = "all",
    **columns: Any,
) -> Any:
    """Estimate every row of job columns (or of the cartesian product ``grid``).

    Args:
        model: catalog name, config path or dict.
        method: one method, or a list of methods (rows are repeated per method).
        grid: ``{knob: values}`` for knobs of :data:`SWEEPABLE`; their cartesian product is swept.
        device: adds ``overhead_bytes``, ``total_bytes`` and a ``fits`` column against its memory.
        output: ``numpy`` (dict of arrays), ``pyarrow``, ``pandas`` or ``polars``.
        loss_kernel: ``auto``/``triton``/``torch``, as in :func:`~tunesmith.estimate.memory.estimate` (DPO only).
        outputs: ``"all"``, ``"peak"`` (``peak_bytes`` and ``peak_phase``) or a list of output fields.
            Every row is fully estimated either way; fewer columns means less fresh memory to write,
            which is what bounds the row rate.
        **columns: knobs of :data:`SWEEPABLE` as scalars or 1-D columns (broadcast together).

    Returns:
        The knobs given as columns (scalars are not repeated) and ``weights_bytes`` … ``peak_bytes``, ``peak_phase`` (0 forward, 1 backward,
        2 optimizer step) as columns.
    """
    import numpy as np

    unknown = set(columns) - set(SWEEPABLE)
    if grid:
        unknown |= set(grid) - set(SWEEPABLE) - {"method"}
    if unknown:
        raise ArgumentError(f"{', '.join(sorted(unknown))}: not sweepable; valid choices: {', '.join(SWEEPABLE)}")
    if output not in ("numpy", "pyarrow", "pandas", "polars"):
        raise ArgumentError(f"output={output!r} is not valid; valid choices: numpy, pyarrow, pandas, polars")
    methods = method if isinstance(method, (list, tuple)) else [method]
    if grid:
        grid = dict(grid)
        if "method" in grid:
            methods = list(grid.pop("method"))
        keys = list(grid)
        combos = list(itertools.product(*[list(np.asarray(grid[k]).reshape(-1)) for k in keys]))
        for i, k in enumerate(keys):
            columns[k] = np.array([c[i] for c in combos]) if combos else np.array([], dtype="int64")
    methods = [_choice("method", m, METHODS, _METHOD_ALIASES) for m in methods]
    if outputs == "all":
        wanted = list(_OUT_FIELDS)
    elif outputs == "peak":
        wanted = ["peak_bytes", "peak_phase"]
    else:
        wanted = [outputs] if isinstance(outputs, str) else list(outputs)
        bad = [f for f in wanted if f not in _OUT_FIELDS]
        if bad:
            raise ArgumentError(f"outputs: {', '.join(bad)} unknown; valid choices: all, peak, {', '.join(_OUT_FIELDS)}")
    if "peak_bytes" not in wanted:
        wanted.append("peak_bytes")
    mask = sum(1 << _OUT_FIELDS.index(f) for f in wanted)
    shape = resolve_model(model)
    cols = {name: _column(np, name, columns.get(name, SWEEPABLE[name][2])) for name in SWEEPABLE}
    n = 0 if any(len(c) == 0 for c in cols.values()) else max(len(c) for c in cols.values())
    for name, c in cols.items():
        if len(c) not in (1, n):
            raise ArgumentError(f"cannot broadcast {name} of length {len(c)} against length {n}")
    static = dict(target_modules=target_modules, bits=bits, quant_type=quant_type, double_quant=double_quant,
                  num_virtual_tokens=num_virtual_tokens, adapter_reduction=adapter_reduction,
                  dpo_policy=dpo_policy, lora_dropout=lora_dropout,
                  loss_kernel=resolve_loss_kernel(loss_kernel, device))
    parts = [_one_method(np, shape, m, cols, static, mask) for m in methods]
    result: dict[str, Any] = {}
    if len(methods) > 1:
        result["method"] = np.repeat(np.array(methods), n)
    for name, c in cols.items():
        if len(c) == n and (n > 1 or name in columns):
            result[name] = np.tile(c, len(methods)) if len(methods) > 1 else c
    for field in _OUT_FIELDS:
        if field in parts[0]:
            result[field] = parts[0][field] if len(parts) == 1 else np.concatenate([p[field] for p in parts])
    if "peak_phase" in result:
        result["peak_phase"] = result["peak_phase"].astype("uint8")
    if device is not None:
        from tunesmith.estimate.hardware import get_device

        dev = get_device(device)
        result["overhead_bytes"] = np.full(len(result["peak_bytes"]), float(dev.overhead_bytes))
        result["total_bytes"] = result["peak_bytes"] + dev.overhead_bytes
        result["fits"] = result["total_bytes"] <= dev.memory_bytes
    else:
        result["total_bytes"] = result["peak_bytes"]
    return _convert(result, output)


def phase_names(codes: Any) -> list[str]:
    """``peak_phase`` codes as names."""
    return [PHASES[int(c)] for c in codes]


def _convert(result: dict[str, Any], output: str) -> Any:
    if output == "numpy":
        return result
    if output == "pyarrow":
        import pyarrow as pa

        return pa.table(result)
    if output == "pandas":
        import pandas as pd

        return pd.DataFrame(result)
    import polars as pl

    return pl.DataFrame(result)
