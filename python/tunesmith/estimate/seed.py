"""The seed heuristics, exactly as the original Rust crates compute them.

``estimate_training_memory`` is ai-hwaccel's fixed-multiple heuristic and the
``FineTuneMethod`` methods are entrenar's; both run in tunesmith's Rust core.
Scalars give a :class:`~tunesmith.MemoryEstimate`; numpy arrays (or lists) of
parameter counts, methods or targets are broadcast together and computed over
all cores with the GIL released, bit-identical to the scalar calls.

These are heuristics: they ignore batch size, sequence length, rank,
vocabulary and checkpointing. Use :func:`tunesmith.estimate.estimate` for a
per-component estimate from the model's shape.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from tunesmith import _core
from tunesmith._core import FineTuneMethod, MemoryEstimate, TrainingMethod, TrainingTarget

__all__ = [
    "FineTuneHeuristics",
    "MemoryEstimateColumns",
    "estimate_training_memory",
    "fine_tune_heuristics",
]

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

# numpy is imported inside the functions that need it: it costs ~200 ms on a cold
# start, and `import tunesmith` must stay well under 100 ms.

_U8_MAX = 255
_U32_MAX = 2**32 - 1
_FINE_TUNE_KIND_CODES = {"LoRA": 0, "QLoRA": 1, "Adapter": 2, "Prefix": 3, "IA3": 4, "Full": 5}


class MemoryEstimateColumns(MemoryEstimate):
    """A :class:`~tunesmith.MemoryEstimate` whose four fields are float64 numpy arrays.

    Indexing gives the scalar estimate of one row; ``str()`` summarises the columns.
    """

    _columns: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]

    def __new__(
        cls,
        model_gb: np.ndarray,
        optimizer_gb: np.ndarray,
        activation_gb: np.ndarray,
        total_gb: np.ndarray,
    ) -> MemoryEstimateColumns:
        self = super().__new__(cls, 0.0, 0.0, 0.0, 0.0)
        self._columns = (model_gb, optimizer_gb, activation_gb, total_gb)
        return self

    @property  # type: ignore[override]
    def model_gb(self) -> np.ndarray:
        return self._columns[0]

    @property  # type: ignore[override]
    def optimizer_gb(self) -> np.ndarray:
        return self._columns[1]

    @property  # type: ignore[override]
    def activation_gb(self) -> np.ndarray:
        return self._columns[2]

    @property  # type: ignore[override]
    def total_gb(self) -> np.ndarray:
        return self._columns[3]

    @property
    def shape(self) -> tuple[int, ...]:
        return self._columns[0].shape

    def __len__(self) -> int:
        return len(self._columns[0])

    def __getitem__(self, index: Any) -> MemoryEstimate | MemoryEstimateColumns:
        import numpy as np

        parts = [c[index] for c in self._columns]
        if np.ndim(parts[0]) == 0:
            return MemoryEstimate(*(float(p) for p in parts))
        return MemoryEstimateColumns(*parts)

    def __iter__(self) -> Iterator[MemoryEstimate]:  # type: ignore[override]
        for i in range(len(self)):
            yield self[i]  # type: ignore[misc]

    def __eq__(self, other: object) -> bool:
        import numpy as np

        if not isinstance(other, MemoryEstimateColumns):
            return NotImplemented
        return all(np.array_equal(a, b) for a, b in zip(self._columns, other._columns))

    __hash__ = None  # type: ignore[assignment]

    def __str__(self) -> str:
        import numpy as np

        n = self._columns[3].size
        if n == 0:
            return "MemoryEstimateColumns(0 rows)"
        total = self._columns[3]
        return (
            f"MemoryEstimateColumns({n} rows, shape {self.shape}): "
            f"total {np.nanmin(total):.1f}..{np.nanmax(total):.1f} GB"
        )

    def __repr__(self) -> str:
        return f"<{self}>"

    def __reduce__(self) -> tuple[Any, ...]:  # type: ignore[override]
        return (MemoryEstimateColumns, self._columns)

    def to_json(self) -> str:  # type: ignore[override]
        raise TypeError("to_json() is defined for scalar estimates; index a row first")


class FineTuneHeuristics(NamedTuple):
    """The six ``FineTuneMethod`` heuristics as float64 columns."""

    memory_reduction_factor: np.ndarray
    trainable_params_percent: np.ndarray
    memory_multiplier: np.ndarray
    training_speedup: np.ndarray
    quality_retention: np.ndarray
    batch_size_multiplier: np.ndarray


def _is_scalar(value: object) -> bool:
    if isinstance(value, (int, float, str, bytes)):
        return True
    if isinstance(value, (list, tuple)) or "numpy" not in sys.modules:
        return not isinstance(value, (list, tuple))
    import numpy as np

    return np.ndim(value) == 0


def _uint_column(values: object, name: str, dtype: type[np.unsignedinteger[Any]], max_value: int) -> np.ndarray:
    """An unsigned-integer column, with the seed's domain errors naming ``name``."""
    import numpy as np

    rust_type = {np.uint8: "u8", np.uint32: "u32", np.uint64: "u64"}[dtype]  # type: ignore[index]
    array = np.asarray(values)
    if array.dtype == object:
        try:
            array = np.asarray(values, dtype=np.uint64)
        except (OverflowError, TypeError, ValueError) as exc:
            raise TypeError(f"{name} must hold integers ({rust_type}): {exc}") from None
    if array.dtype.kind not in "iub":
        raise TypeError(f"{name} must hold integers ({rust_type}), got a {array.dtype} array")
    # Every value of a bool or narrow-enough unsigned dtype fits: skip the scan (10 M rows cost ~7 ms).
    fits_by_dtype = array.dtype.kind == "b" or (array.dtype.kind == "u" and np.iinfo(array.dtype).max <= max_value)
    if array.size and not fits_by_dtype:
        if array.dtype.kind == "i" and int(array.min()) < 0:
            raise OverflowError(f"{name} holds {int(array.min())}, which does not fit in {rust_type} (0..={max_value})")
        if int(array.max()) > max_value:
            raise OverflowError(f"{name} holds {int(array.max())}, which does not fit in {rust_type} (0..={max_value})")
    return array.astype(dtype, copy=False)


def _object_column(values: object, name: str, cls: type) -> np.ndarray:
    import numpy as np

    objects = np.empty(0, dtype=object)
    try:
        objects = np.array(values, dtype=object)
    except ValueError as exc:  # ragged nesting
        raise TypeError(f"{name} must be a {cls.__name__} or a (nested) sequence of them: {exc}") from None
    for i, item in enumerate(objects.reshape(-1)):
        if not isinstance(item, cls):
            raise TypeError(f"{name}[{i}] must be a {cls.__name__}, got {type(item).__name__}")
    return objects


def _method_columns(method: object) -> tuple[np.ndarray, np.ndarray]:
    import numpy as np

    if method is None:
        method = TrainingMethod.FullFineTune
    if isinstance(method, TrainingMethod):
        kind, bits = method.code()
        return np.array(kind, dtype=np.uint8), np.array(bits, dtype=np.uint8)
    if isinstance(method, (str, bytes)) or not isinstance(method, (Sequence, np.ndarray)):
        raise TypeError(f"method must be a TrainingMethod or a sequence of them, got {type(method).__name__}")
    objects = _object_column(method, "method", TrainingMethod)
    kind, bits = _core.encode_training_methods(list(objects.ravel()))
    shape = objects.shape
    return (
        np.frombuffer(bytes(kind), dtype=np.uint8).reshape(shape),
        np.frombuffer(bytes(bits), dtype=np.uint8).reshape(shape),
    )


def _target_column(target: object) -> np.ndarray:
    import numpy as np

    if target is None:
        target = TrainingTarget.Gpu
    if isinstance(target, TrainingTarget):
        return np.array(target.code(), dtype=np.uint8)
    if isinstance(target, (str, bytes)) or not isinstance(target, (Sequence, np.ndarray)):
        raise TypeError(f"target must be a TrainingTarget or a sequence of them, got {type(target).__name__}")
    objects = _object_column(target, "target", TrainingTarget)
    codes = _core.encode_training_targets(list(objects.ravel()))
    return np.frombuffer(bytes(codes), dtype=np.uint8).reshape(objects.shape)


def _flat_broadcast(columns: Sequence[np.ndarray]) -> tuple[tuple[int, ...], list[np.ndarray]]:
    """Broadcast columns; 1-D columns of length 1 or N pass through without copies."""
    import numpy as np

    try:
        shape = np.broadcast_shapes(*(c.shape for c in columns))
    except ValueError:
        shapes = ", ".join(str(c.shape) for c in columns)
        raise ValueError(f"cannot broadcast the argument shapes together: {shapes}") from None
    n = int(np.prod(shape)) if shape else 1
    flat = []
    for column in columns:
        if column.size == 1:
            flat.append(np.ascontiguousarray(column.reshape(1)))
        elif column.ndim == 1 and column.size == n:
            flat.append(np.ascontiguousarray(column))
        else:
            flat.append(np.ascontiguousarray(np.broadcast_to(column, shape)).reshape(-1))
    return shape, flat


def estimate_training_memory(
    model_params_millions: int | npt.ArrayLike,
    method: TrainingMethod | Sequence[TrainingMethod] | None = None,
    target: TrainingTarget | Sequence[TrainingTarget] | None = None,
    *,
    out: MemoryEstimateColumns | None = None,
) -> MemoryEstimate:
    """The seed's training-memory heuristic (GiB), for one configuration or many.

    Args:
        model_params_millions: parameters in millions (``u64``): an int, or an
            array/list of them for a sweep.
        method: a :class:`TrainingMethod` (default ``FullFineTune``) or a
            sequence of them, broadcast against the other arguments.
        target: a :class:`TrainingTarget` (default ``Gpu``) or a sequence of them.
        out: columns from an earlier call with the same shape, overwritten in place
            and returned. Repeated sweeps then skip allocating (and the kernel
            zeroing) 32 bytes of fresh memory per row, which is most of a sweep's time.

    Returns:
        A :class:`MemoryEstimate` for scalar inputs; for array inputs a
        :class:`MemoryEstimateColumns` (a ``MemoryEstimate`` whose fields are
        float64 arrays of the broadcast shape).

    Example:
        >>> str(estimate_training_memory(7000, TrainingMethod.LoRA, TrainingTarget.Gpu))
        'Model: 13.0 GB, Optimizer: 1.3 GB, Activations: 1.3 GB (total: 15.6 GB)'
    """
    scalar = (
        _is_scalar(model_params_millions)
        and (method is None or isinstance(method, TrainingMethod))
        and (target is None or isinstance(target, TrainingTarget))
    )
    if scalar:
        return _core.estimate_training_memory_scalar(model_params_millions, method, target)
    import numpy as np

    params = _uint_column(model_params_millions, "model_params_millions", np.uint64, 2**64 - 1)
    kind, bits = _method_columns(method)
    codes = _target_column(target)
    shape, (params, kind, bits, codes) = _flat_broadcast([params, kind, bits, codes])
    if out is None:
        columns = _core.estimate_training_memory_columns(params, kind, bits, codes)
        return MemoryEstimateColumns(*(c.reshape(shape) for c in columns))
    if not isinstance(out, MemoryEstimateColumns) or out.shape != shape:
        got = out.shape if isinstance(out, MemoryEstimateColumns) else type(out).__name__
        raise ValueError(f"out must be MemoryEstimateColumns of shape {shape}, got {got}")
    flat_out = [c.reshape(-1) for c in out._columns]
    if any(not np.shares_memory(f, c) or f.dtype != np.float64 for f, c in zip(flat_out, out._columns)):
        raise ValueError("out columns must be contiguous float64 arrays")
    _core.fill_training_memory_columns(params, kind, bits, codes, *flat_out)
    return out


def fine_tune_heuristics(
    method: FineTuneMethod | str | Sequence[FineTuneMethod] | npt.ArrayLike,
    *,
    rank: npt.ArrayLike | None = None,
    alpha: npt.ArrayLike | None = None,
    bits: npt.ArrayLike | None = None,
) -> FineTuneHeuristics:
    """All six ``FineTuneMethod`` heuristics over columns, computed in Rust.

    Args:
        method: a variant name (``"LoRA"``, ``"QLoRA"``, ``"Adapter"``, ``"Prefix"``,
            ``"IA3"``, ``"Full"``), a :class:`FineTuneMethod` or a sequence of them.
        rank: ranks (``u32``) for LoRA/QLoRA, broadcast against the other columns.
        alpha: LoRA alphas (stored as ``f32`` like the seed; no heuristic reads it).
        bits: QLoRA bits (``u8``); defaults to 4 as in ``FineTuneMethod.qlora``.

    Each element equals the scalar method call on the corresponding
    ``FineTuneMethod`` bit for bit.
    """
    import numpy as np

    if isinstance(method, str):
        if method not in _FINE_TUNE_KIND_CODES:
            valid = ", ".join(_FINE_TUNE_KIND_CODES)
            raise ValueError(f"method: unknown FineTuneMethod variant {method!r}; valid: {valid}")
        kind = np.array(_FINE_TUNE_KIND_CODES[method], dtype=np.uint8)
        rank_col = _uint_column(0 if rank is None else rank, "rank", np.uint32, _U32_MAX)
        if alpha is None:
            alpha_col = rank_col.astype(np.float32)
        else:
            alpha_arr = np.asarray(alpha)
            if alpha_arr.dtype.kind not in "iuf":
                raise TypeError(f"alpha must hold numbers (f32), got a {alpha_arr.dtype} array")
            alpha_col = alpha_arr.astype(np.float32)
        bits_col = _uint_column(4 if bits is None else bits, "bits", np.uint8, _U8_MAX)
    else:
        if rank is not None or alpha is not None or bits is not None:
            raise TypeError("rank/alpha/bits are given by the FineTuneMethod objects; pass a variant name to sweep them")
        methods = [method] if isinstance(method, FineTuneMethod) else list(method)  # type: ignore[arg-type]
        objects = _object_column(methods, "method", FineTuneMethod)
        k, r, a, b = _core.encode_fine_tune_methods(list(objects.reshape(-1)))
        kind = np.frombuffer(bytes(k), dtype=np.uint8)
        rank_col = np.asarray(r, dtype=np.uint32)
        alpha_col = np.asarray(a, dtype=np.float32)
        bits_col = np.frombuffer(bytes(b), dtype=np.uint8)
    shape, flat = _flat_broadcast([kind, rank_col, alpha_col, bits_col])
    columns = _core.fine_tune_heuristics_columns(*flat)
    return FineTuneHeuristics(*(c.reshape(shape) for c in columns))
