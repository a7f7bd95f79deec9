"""Human evaluation of fine-tuned models: blind rating sheets and Krippendorff's alpha.

The seed guide's ``HumanEvaluation`` with two things fixed:

* ``create_eval_interface`` is blind and reproducible. The guide shuffled the
  outputs with the global ``random`` (a different order every run, nothing to
  unblind with) and kept the model name inside every item (``"_model"``: "hidden
  from raters" only if nobody looks at the file). Here the order comes from
  ``seed`` alone, the sheet holds no model names, and :meth:`HumanEvaluation.answer_key`
  rebuilds the mapping from the same seed.
* ``compute_inter_rater_reliability`` was ``pass``. It is Krippendorff's alpha
  (:func:`krippendorff_alpha`) over the units the ratings describe.

:func:`krippendorff_alpha` follows Krippendorff, *Computing Krippendorff's
Alpha-Reliability* (2011, https://repository.upenn.edu/asc_papers/43): values are
paired within units, units with fewer than two ratings are not pairable and are
dropped, and ``alpha = 1 - D_o / D_e`` with the nominal, ordinal, interval or ratio
difference function. It is checked against the ``krippendorff`` package in the
tests. numpy is the only dependency.

    >>> from tunesmith.evaluation import krippendorff_alpha
    >>> data = [[1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    ...         [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    ...         [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    ...         [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None]]
    >>> round(krippendorff_alpha(data, "ordinal"), 3)
    0.815
"""

from __future__ import annotations

import math
import random
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np

from tunesmith.errors import ArgumentError, InputError

__all__ = [
    "DEFAULT_CRITERIA",
    "LEVELS",
    "HumanEvaluation",
    "compute_inter_rater_reliability",
    "krippendorff_alpha",
]

Level = Literal["nominal", "ordinal", "interval", "ratio"]
#: The levels of measurement :func:`krippendorff_alpha` knows.
LEVELS: tuple[str, ...] = ("nominal", "ordinal", "interval", "ratio")

#: The guide's three rating criteria, each on a 1-5 scale.
DEFAULT_CRITERIA: tuple[dict[str, str], ...] = (
    {"name": "relevance", "description": "How relevant is the output to the prompt?", "scale": "1-5"},
    {"name": "coherence", "description": "How coherent and well-structured is the output?", "scale": "1-5"},
    {"name": "correctness", "description": "How factually correct is the output?", "scale": "1-5"},
)

# Pairwise work per chunk for the ordinal and ratio metrics (units × m × m float64 values).
_CHUNK = 1 << 21
# Units × values up to which the nominal and ordinal sums use a dense count matrix.
_DENSE = 1 << 22


# --- Krippendorff's alpha ---------------------------------------------------------------------------


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return isinstance(value, (float, np.floating)) and math.isnan(value)
    except TypeError:
        return False


def _parse(reliability_data: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | list[Any], int, int]:
    """``(rater, unit, values, n_raters, n_units)`` of the present ratings.

    ``values`` is a float array when every value is a number (None/NaN missing),
    else a list of the Python objects.
    """
    if hasattr(reliability_data, "to_numpy") and not isinstance(reliability_data, np.ndarray):
        reliability_data = reliability_data.to_numpy()  # a pandas DataFrame: its rows, not its column names
    if isinstance(reliability_data, np.ndarray) and reliability_data.dtype.kind in "fiub":
        arr = reliability_data.astype(np.float64, copy=False)
        if arr.ndim != 2:
            raise ArgumentError(f"reliability_data: expected 2 dimensions (raters × units), got {arr.ndim}")
        numeric: np.ndarray | None = arr
    else:
        rows = [list(row) for row in reliability_data] if not isinstance(reliability_data, (str, bytes)) else None
        if rows is None:
            raise ArgumentError("reliability_data: expected rows of ratings (one row per rater), got a string")
        lengths = {len(r) for r in rows}
        if len(lengths) > 1:
            raise ArgumentError(
                f"reliability_data: every rater row must have one entry per unit; row lengths are {sorted(lengths)}"
            )
        numeric = None
        if all(isinstance(v, (int, float, np.integer, np.floating)) or v is None for r in rows for v in r):
            numeric = np.array([[np.nan if v is None else float(v) for v in r] for r in rows], dtype=np.float64)
            numeric = numeric.reshape(len(rows), lengths.pop() if lengths else 0)
    if numeric is not None:
        present = ~np.isnan(numeric)
        if np.isinf(numeric[present]).any():
            raise ArgumentError("reliability_data: ratings must be finite numbers (found an infinity)")
        unit, rater = np.nonzero(present.T)  # unit-major: already sorted by unit
        return rater, unit, numeric[rater, unit], numeric.shape[0], numeric.shape[1]
    raters: list[int] = []
    units: list[int] = []
    values: list[Any] = []
    for i, row in enumerate(rows):
        for j, v in enumerate(row):
            if not _is_missing(v):
                if not isinstance(v, Hashable):
                    raise ArgumentError(
                        f"reliability_data[{i}][{j}]: a rating must be a number, a string or another hashable value, "
                        f"got {type(v).__name__}"
                    )
                raters.append(i)
                units.append(j)
                values.append(v)
    n_units = len(rows[0]) if rows else 0
    return np.asarray(raters, dtype=np.intp), np.asarray(units, dtype=np.intp), values, len(rows), n_units


def _codes(values: np.ndarray | list[Any], domain: Sequence[Any] | None, ordered: bool) -> tuple[np.ndarray, int]:
    """Integer codes of ``values`` (in ``domain`` order when given, else first-seen or sorted) and the domain size."""
    if domain is not None:
        index: dict[Any, int] = {}
        for k, v in enumerate(domain):
            if _is_missing(v):
                raise ArgumentError(f"value_domain[{k}]: a missing value (None/NaN) cannot be in the domain")
            if v in index:
                raise ArgumentError(f"value_domain: {v!r} appears twice (positions {index[v]} and {k})")
            index[v] = k
        codes = np.empty(len(values), dtype=np.intp)
        for k, v in enumerate(values.tolist() if isinstance(values, np.ndarray) else values):
            code = index.get(v)
            if code is None:
                raise ArgumentError(f"reliability_data holds {v!r}, which is not in value_domain {list(domain)!r}")
            codes[k] = code
        return codes, len(index)
    if isinstance(values, np.ndarray):
        uniq, codes = np.unique(values, return_inverse=True)
        return codes.astype(np.intp, copy=False), len(uniq)
    distinct = list(dict.fromkeys(values))
    if ordered:
        raise ArgumentError(
            "level_of_measurement='ordinal' with non-numeric ratings needs value_domain: the values in rank order"
        )
    index = {v: k for k, v in enumerate(distinct)}
    return np.fromiter((index[v] for v in values), dtype=np.intp, count=len(values)), len(distinct)


def _within_units(
    x: np.ndarray, unit: np.ndarray, m: np.ndarray, distance: Any
) -> float:
    """``Σ_u Σ_{i,j in u} distance(x_i, x_j) / (m_u - 1)`` over ordered pairs, units grouped by size.

    ``x`` is sorted by ``unit``; ``m`` is the number of values of each unit (every unit has m >= 2).
    """
    m = m.astype(np.intp)
    starts = np.concatenate(([0], np.cumsum(m)[:-1])).astype(np.intp)
    total = 0.0
    for size in np.unique(m):
        size = int(size)
        first = starts[m == size]
        step = max(1, _CHUNK // (size * size))
        offsets = np.arange(size)
        for lo in range(0, len(first), step):
            block = x[first[lo : lo + step, None] + offsets[None, :]]
            total += float(distance(block[:, :, None], block[:, None, :]).sum()) / (size - 1)
    return total


def _observed(codes: np.ndarray, size: int, unit: np.ndarray, m: np.ndarray, table: np.ndarray) -> float:
    """``Σ_u c_uᵀ δ² c_u / (m_u - 1)`` (``c_u``: the unit's value counts) for a ``size`` × ``size`` table ``δ²``."""
    if len(m) * size <= _DENSE:
        counts = np.bincount(unit * size + codes, minlength=len(m) * size).reshape(len(m), size).astype(np.float64)
        return float(np.sum(((counts @ table) * counts).sum(axis=1) / (m - 1.0)))
    return _within_units(codes, unit, m, lambda a, b: table[a, b])


def _between_values(values: np.ndarray, counts: np.ndarray, distance: Any) -> float:
    """``Σ_c Σ_k n_c n_k distance(v_c, v_k)`` over the distinct values, in row blocks."""
    total = 0.0
    step = max(1, _CHUNK // max(1, len(values)))
    for lo in range(0, len(values), step):
        d = distance(values[lo : lo + step, None], values[None, :])
        total += float(counts[lo : lo + step] @ d @ counts)
    return total


def krippendorff_alpha(
    reliability_data: Any,
    level_of_measurement: Level = "interval",
    *,
    value_domain: Sequence[Any] | None = None,
) -> float:
    """Krippendorff's alpha of a raters × units table of ratings.

    Args:
        reliability_data: one row per rater, one column per unit (the ``krippendorff``
            package's layout); ``None`` or NaN marks a missing rating. Numbers for the
            interval and ratio levels; any hashable values (strings too) for nominal; numbers,
            or any values with ``value_domain``, for ordinal.
        level_of_measurement: ``nominal``, ``ordinal``, ``interval`` or ``ratio``
            (Krippendorff's difference functions; ratio needs non-negative values).
        value_domain: the possible values, in rank order for ``ordinal``. Optional; a
            rating outside it is an error. For ordinal data it only fixes the order:
            values nobody used do not change alpha.

    Returns:
        alpha: 1 is perfect agreement, 0 agreement at chance, negative systematic
        disagreement. ``nan`` when the pairable ratings have no variation (every pairable
        value equal, or all ratio values zero): alpha is then undefined (Krippendorff 2011,
        section C). Units rated by fewer than two raters are dropped.

    Cost: nominal and interval are linear in the number of ratings (interval by the identity
    ``Σ_{i,j}(x_i - x_j)² = 2m Σ_i (x_i - x̄)²``, so continuous ratings need no values × values
    matrix); ordinal and ratio build a values × values table, so they grow with the square of the
    number of distinct values (fine for rating scales; slow for a ratio variable with 10⁵ distinct values).

    Raises:
        ArgumentError: unknown level, ragged rows, non-numeric ratings for interval/ratio,
            negative ratio values, values outside ``value_domain``, or no unit with two ratings.

    Example:
        >>> krippendorff_alpha([["a", "a", "b"], ["a", "b", "b"]], "nominal")
        0.4444444444444444
    """
    if level_of_measurement not in LEVELS:
        raise ArgumentError(
            f"level_of_measurement={level_of_measurement!r}; expected one of {', '.join(LEVELS)}"
        )
    rater, unit, values, _, _ = _parse(reliability_data)
    del rater
    if level_of_measurement in ("interval", "ratio") and not isinstance(values, np.ndarray):
        bad = next(v for v in values if not isinstance(v, (int, float, np.integer, np.floating)))
        raise ArgumentError(
            f"level_of_measurement={level_of_measurement!r} needs numeric ratings; got {bad!r}"
            " (use 'nominal', or 'ordinal' with value_domain, for labels)"
        )
    if value_domain is not None and level_of_measurement in ("interval", "ratio"):
        _codes(values, value_domain, ordered=False)  # membership check only

    # drop unpairable units (fewer than two ratings) and sort the rest by unit
    per_unit = np.bincount(unit, minlength=int(unit.max()) + 1 if len(unit) else 0)
    keep = per_unit[unit] >= 2
    if not keep.any():
        raise ArgumentError("reliability_data: no unit has ratings from two or more raters, so alpha is undefined")
    unit = unit[keep]
    order = None if np.all(unit[1:] >= unit[:-1]) else np.argsort(unit, kind="stable")
    if isinstance(values, np.ndarray):
        values = values[keep] if order is None else values[keep][order]
    else:
        values = [v for v, k in zip(values, keep.tolist()) if k]
        values = values if order is None else [values[i] for i in order.tolist()]
    if order is not None:
        unit = unit[order]
    dense = np.cumsum(per_unit >= 2) - 1
    unit = dense[unit]  # unit ids 0..U-1 in order
    m = np.bincount(unit).astype(np.float64)  # values per unit, all >= 2
    n = float(m.sum())

    if level_of_measurement == "interval":
        x = np.asarray(values, dtype=np.float64)
        # Σ_{i,j in u} (x_i - x_j)^2 = 2 m_u Σ_i (x_i - mean_u)^2; the same over all n pairable values.
        # Each unit is shifted by its first value before averaging, so equal values give exactly 0.
        first = np.concatenate(([0], np.cumsum(m.astype(np.intp))[:-1]))
        xs = x - x[first][unit]
        mean_u = np.bincount(unit, weights=xs) / m
        ss_u = np.bincount(unit, weights=(xs - mean_u[unit]) ** 2)
        observed = float(np.sum(2.0 * m * ss_u / (m - 1.0)))
        x0 = x - x[0]
        expected = 2.0 * n * float(np.sum((x0 - x0.mean()) ** 2))
    elif level_of_measurement == "nominal":
        codes, size = _codes(values, value_domain, ordered=False)
        if len(m) * size <= _DENSE:
            counts = np.bincount(unit * size + codes, minlength=len(m) * size).reshape(len(m), size)
            same_u = (counts.astype(np.float64) ** 2).sum(axis=1)
        else:
            pair_keys, pair_counts = np.unique(unit * size + codes, return_counts=True)
            same_u = np.bincount(pair_keys // size, weights=pair_counts.astype(np.float64) ** 2, minlength=len(m))
        observed = float(np.sum((m * m - same_u) / (m - 1.0)))
        n_c = np.bincount(codes).astype(np.float64)
        expected = n * n - float(np.sum(n_c * n_c))
    elif level_of_measurement == "ordinal":
        codes, size = _codes(values, value_domain, ordered=True)
        n_c = np.bincount(codes, minlength=size).astype(np.float64)
        cum = np.cumsum(n_c)
        lo = np.minimum.outer(np.arange(size), np.arange(size))
        hi = np.maximum.outer(np.arange(size), np.arange(size))
        # δ²(c, k) = (Σ_{g=c}^{k} n_g − (n_c + n_k)/2)², Krippendorff 2011 eq. for ordinal metric
        between = cum[hi] - cum[lo] + n_c[lo]
        table = (between - (n_c[:, None] + n_c[None, :]) / 2.0) ** 2
        observed = _observed(codes, size, unit, m, table)
        expected = float(n_c @ table @ n_c)
    else:
        x = np.asarray(values, dtype=np.float64)
        if (x < 0).any():
            raise ArgumentError(
                f"level_of_measurement='ratio' needs non-negative ratings (an absolute zero); got {float(x.min())!r}"
            )

        def ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            s = a + b
            return np.divide(a - b, s, out=np.zeros(np.broadcast_shapes(a.shape, b.shape)), where=s != 0) ** 2

        distinct, codes, counts = np.unique(x, return_inverse=True, return_counts=True)
        size = len(distinct)
        if size * size <= _DENSE:
            table = ratio(distinct[:, None], distinct[None, :])
            observed = _observed(codes, size, unit, m, table)
            expected = float(counts @ table @ counts)
        else:
            observed = _within_units(x, unit, m, ratio)
            expected = _between_values(distinct, counts.astype(np.float64), ratio)
    if expected <= 0.0:
        return float("nan")
    return 1.0 - (n - 1.0) * observed / expected


# --- rating records ---------------------------------------------------------------------------------

_RATER_KEYS = ("rater", "rater_id", "annotator", "coder")
_ITEM_KEYS = ("item_id", "id", "item", "unit")
_SCORE_KEYS = ("score", "rating", "value")


def _field(rating: Mapping[str, Any], keys: tuple[str, ...], index: int, required: bool = True) -> Any:
    for key in keys:
        if key in rating:
            return rating[key]
    if required:
        raise InputError(f"ratings[{index}]: missing key; expected one of {', '.join(keys)} (got {sorted(rating)})")
    return None


def compute_inter_rater_reliability(
    ratings: Iterable[Mapping[str, Any]],
    level_of_measurement: Level = "ordinal",
    *,
    criterion: str | None = None,
) -> float:
    """Krippendorff's alpha of rating records such as those collected on :meth:`HumanEvaluation.create_eval_interface`.

    Each record names its rater (``rater``/``rater_id``/``annotator``/``coder``), the item
    (``item_id``/``id``/``item``/``unit``), optionally the ``output`` slot (``output_0``...)
    and the ``criterion``, and the ``score`` (``rating``/``value``; ``None`` for a
    skipped rating). One unit is one (item, output, criterion) triple; a unit rated by
    a single rater is dropped.

    Args:
        ratings: the records.
        level_of_measurement: ``ordinal`` by default, since the guide's criteria are 1-5
            scales whose steps need not be equal; ``interval`` treats them as equal steps.
        criterion: only the records of this criterion (default: all, each criterion its own units).

    Returns:
        The alpha (``nan`` when every pairable score is the same).

    Raises:
        InputError: a record without a rater, item or score key, or one rater rating the same unit twice.
        ArgumentError: as :func:`krippendorff_alpha`, e.g. no unit rated twice.

    Example:
        >>> ratings = [{"rater": r, "item_id": i, "criterion": "relevance", "score": s}
        ...            for r, scores in (("ann", [5, 3, 1]), ("bob", [4, 3, 1])) for i, s in enumerate(scores)]
        >>> round(compute_inter_rater_reliability(ratings), 3)
        0.949
    """
    rater_ids: dict[Any, int] = {}
    unit_ids: dict[tuple[Any, Any, Any], int] = {}
    cells: dict[tuple[int, int], tuple[int, Any]] = {}
    for k, rating in enumerate(ratings):
        if not isinstance(rating, Mapping):
            raise InputError(f"ratings[{k}]: expected a mapping, got {type(rating).__name__}")
        crit = rating.get("criterion")
        if criterion is not None and crit != criterion:
            continue
        rater = rater_ids.setdefault(_field(rating, _RATER_KEYS, k), len(rater_ids))
        key = (_field(rating, _ITEM_KEYS, k), rating.get("output"), crit)
        unit = unit_ids.setdefault(key, len(unit_ids))
        score = _field(rating, _SCORE_KEYS, k)
        if (rater, unit) in cells:
            raise InputError(
                f"ratings[{k}]: rater {_field(rating, _RATER_KEYS, k)!r} already rated item {key[0]!r}"
                f"{f' output {key[1]!r}' if key[1] is not None else ''}"
                f"{f' criterion {key[2]!r}' if key[2] is not None else ''} in ratings[{cells[rater, unit][0]}]"
            )
        cells[rater, unit] = (k, score)
    if not cells:
        which = f" for criterion {criterion!r}" if criterion is not None else ""
        raise InputError(f"ratings: no ratings{which}")
    table: list[list[Any]] = [[None] * len(unit_ids) for _ in rater_ids]
    for (rater, unit), (_, score) in cells.items():
        table[rater][unit] = score
    return krippendorff_alpha(table, level_of_measurement)


# --- the rating sheet -------------------------------------------------------------------------------


def _orders(model_names: Sequence[str], n_items: int, seed: int) -> list[list[str]]:
    """Per item, the models in the order their outputs are shown (one ``random.Random(seed)`` stream)."""
    rng = random.Random(seed)
    orders = []
    for _ in range(n_items):
        names = sorted(model_names)
        rng.shuffle(names)
        orders.append(names)
    return orders


class HumanEvaluation:
    """Blind side-by-side rating of several models' outputs, and the agreement between raters."""

    @staticmethod
    def create_eval_interface(
        test_cases: Sequence[Mapping[str, str]],
        model_outputs: Mapping[str, Sequence[str]],
        *,
        seed: int = 0,
        criteria: Sequence[Mapping[str, str]] = DEFAULT_CRITERIA,
    ) -> list[dict[str, Any]]:
        """One item per test case with every model's output under an anonymous slot name.

        Args:
            test_cases: records with ``prompt`` and optionally ``expected`` (shown as ``reference``).
            model_outputs: model name → one output per test case, in test-case order.
            seed: fixes the order of the outputs in every item; the same seed gives the same
                sheet, and :meth:`answer_key` with it tells which model is behind each slot.
            criteria: what raters score, each ``{name, description, scale}`` (the guide's three by default).

        Returns:
            Items ``{id, prompt, reference, outputs: {output_0: {text}, ...}, criteria}``.
            Unlike the guide, no item names a model (the guide stored ``_model`` beside each
            text) and the order is reproducible (the guide used the unseeded global
            ``random``); model names are sorted before shuffling, so the dict order of
            ``model_outputs`` does not matter either.

        Raises:
            InputError: a test case without ``prompt``, or a model with a different number of outputs than test cases.
            ArgumentError: no models.

        Example:
            >>> sheet = HumanEvaluation.create_eval_interface(
            ...     [{"prompt": "2+2?", "expected": "4"}], {"base": ["5"], "tuned": ["4"]}, seed=1)
            >>> sorted(o["text"] for o in sheet[0]["outputs"].values())
            ['4', '5']
            >>> HumanEvaluation.answer_key({"base": ["5"], "tuned": ["4"]}, 1, seed=1)[0] == {
            ...     slot: {"4": "tuned", "5": "base"}[o["text"]] for slot, o in sheet[0]["outputs"].items()}
            True
        """
        if not model_outputs:
            raise ArgumentError("model_outputs: give at least one model's outputs")
        for name, outs in model_outputs.items():
            if len(outs) != len(test_cases):
                raise InputError(
                    f"model_outputs[{name!r}]: {len(outs)} outputs for {len(test_cases)} test cases; "
                    "give one output per test case, in order"
                )
        criteria_list = [dict(c) for c in criteria]
        orders = _orders(list(model_outputs), len(test_cases), seed)
        items = []
        for i, case in enumerate(test_cases):
            if "prompt" not in case:
                raise InputError(f"test_cases[{i}]: missing 'prompt' (got keys {sorted(case)})")
            items.append({
                "id": i,
                "prompt": case["prompt"],
                "reference": case.get("expected"),
                "outputs": {f"output_{j}": {"text": model_outputs[name][i]} for j, name in enumerate(orders[i])},
                "criteria": [dict(c) for c in criteria_list],
            })
        return items

    @staticmethod
    def answer_key(
        model_outputs: Mapping[str, Any] | Sequence[str], n_items: int, *, seed: int = 0
    ) -> list[dict[str, str]]:
        """Per item, slot name → model name for the sheet :meth:`create_eval_interface` made with ``seed``.

        Args:
            model_outputs: the same mapping (or just its model names).
            n_items: the number of test cases.
            seed: the seed the sheet was made with.
        """
        names = list(model_outputs)
        return [{f"output_{j}": name for j, name in enumerate(order)} for order in _orders(names, n_items, seed)]

    @staticmethod
    def score_models(
        ratings: Iterable[Mapping[str, Any]], key: Sequence[Mapping[str, str]]
    ) -> dict[str, dict[str, float]]:
        """Mean score per model and criterion, unblinding each rating's ``output`` slot with ``key``.

        Args:
            ratings: records with ``item_id``, ``output``, ``criterion`` and ``score`` (``None`` skipped).
            key: :meth:`answer_key` of the sheet.

        Returns:
            ``{model: {criterion: mean score}}``.

        Raises:
            InputError: a rating whose item or output slot is not in ``key``.
        """
        sums: dict[str, dict[str, list[float]]] = {}
        for k, rating in enumerate(ratings):
            item = _field(rating, _ITEM_KEYS, k)
            score = _field(rating, _SCORE_KEYS, k)
            slot = rating.get("output")
            if not isinstance(item, int) or not 0 <= item < len(key) or slot not in key[item]:
                raise InputError(f"ratings[{k}]: item {item!r} output {slot!r} is not on the sheet")
            if score is None:
                continue
            acc = sums.setdefault(key[item][slot], {}).setdefault(str(rating.get("criterion")), [0.0, 0.0])
            acc[0] += float(score)
            acc[1] += 1.0
        return {model: {c: s / n for c, (s, n) in crits.items()} for model, crits in sums.items()}

    @staticmethod
    def compute_inter_rater_reliability(
        ratings: Iterable[Mapping[str, Any]],
        level_of_measurement: Level = "ordinal",
        *,
        criterion: str | None = None,
    ) -> float:
        """Krippendorff's alpha of the ratings: see :func:`compute_inter_rater_reliability`."""
        return compute_inter_rater_reliability(ratings, level_of_measurement, criterion=criterion)
