"""The Rust sweep equals the Python scalar estimate, row by row and bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from tunesmith.errors import ArgumentError
from tunesmith.estimate import estimate, sweep
from tunesmith.estimate.memory import (
    ADAMW_IMPLS,
    OPTIMIZERS,
    PRECISIONS,
    Job,
    _OUT_FIELDS,
    evaluate_plan,
    make_plan,
    resolve_model,
)

CASES = [
    ("gpt2", "full"), ("llama-3-8b", "lora"), ("qwen2.5-0.5b", "qlora"), ("mixtral-8x7b", "dora"),
    ("falcon-7b", "ia3"), ("pythia-410m", "prompt"), ("phi-3-mini", "adapter"), ("gemma2-2b", "dpo"),
    ("llama-2-7b", "distillation"), ("qwen3-0.6b", "rlhf"), ("gemma-2b", "prefix"),
]


@pytest.mark.parametrize(("model", "method"), CASES)
def test_rust_rows_equal_python_arithmetic(model: str, method: str) -> None:
    rng = np.random.default_rng(7)
    n = 400
    cols = {
        "batch_size": rng.integers(1, 128, n), "seq_len": rng.integers(1, 32768, n), "rank": rng.integers(1, 512, n),
        "gradient_checkpointing": rng.integers(0, 2, n) * (method != "prefix"),
        "attn_implementation": rng.choice(["sdpa", "eager", "flash"], n),
        "precision": rng.choice(list(PRECISIONS if method != "qlora" else PRECISIONS[:3]), n),
        "optimizer": rng.choice(list(OPTIMIZERS), n), "adamw_impl": rng.choice(list(ADAMW_IMPLS), n),
        "num_devices": rng.integers(1, 65, n), "sharding": rng.choice(["none", "ddp", "zero2", "zero3", "fsdp"], n),
        "grad_accum": rng.integers(1, 9, n),
    }
    out = sweep(model, method=method, **cols)
    shape = resolve_model(model)
    plan = make_plan(shape, method)
    uses_rank = method in ("lora", "dora", "qlora")
    for i in range(n):
        job = Job(
            batch_size=int(out["batch_size"][i]), seq_len=int(out["seq_len"][i]),
            rank=int(out["rank"][i]) if uses_rank else 0, checkpointing=int(out["gradient_checkpointing"][i]),
            attention=int(out["attn_implementation"][i]), precision=int(out["precision"][i]),
            optimizer=int(out["optimizer"][i]), adamw_impl=int(out["adamw_impl"][i]),
            num_devices=int(out["num_devices"][i]), sharding=int(out["sharding"][i]),
            grad_accum=int(out["grad_accum"][i]),
        )
        ref = evaluate_plan(plan, job)
        for field in _OUT_FIELDS:
            assert float(out[field][i]) == ref[field], (field, i)


def test_rows_equal_the_public_scalar_estimate() -> None:
    grid = {"batch_size": [1, 3, 8], "seq_len": [128, 2048], "gradient_checkpointing": [0, 1],
            "precision": ["bf16", "fp32"], "rank": [4, 64]}
    out = sweep("llama-3-8b", method="lora", grid=grid, device="H100")
    assert len(out["peak_bytes"]) == 3 * 2 * 2 * 2 * 2
    for i in range(len(out["peak_bytes"])):
        e = estimate("llama-3-8b", method="lora", batch_size=int(out["batch_size"][i]),
                     seq_len=int(out["seq_len"][i]), gradient_checkpointing=bool(out["gradient_checkpointing"][i]),
                     precision=PRECISIONS[int(out["precision"][i])], rank=int(out["rank"][i]), device="H100")
        assert e.peak_bytes == round(out["peak_bytes"][i])
        assert e.total_bytes == round(out["total_bytes"][i])
        assert e.activations_bytes == round(out["activations_bytes"][i])
        assert ("forward", "backward", "optimizer")[out["peak_phase"][i]] == e.peak_phase


def test_methods_in_a_grid_and_table_outputs() -> None:
    pa = pytest.importorskip("pyarrow")
    t = sweep("gpt2", grid={"method": ["full", "lora"], "batch_size": [1, 2]}, output="pyarrow")
    assert isinstance(t, pa.Table) and t.num_rows == 4
    assert t.column("method").to_pylist() == ["full", "full", "lora", "lora"]
    pd = pytest.importorskip("pandas")
    assert isinstance(sweep("gpt2", batch_size=[1, 2], output="pandas"), pd.DataFrame)


def test_broadcast_and_bad_columns_name_the_argument() -> None:
    out = sweep("gpt2", batch_size=np.arange(1, 11), seq_len=1024)
    assert len(out["peak_bytes"]) == 10 and np.all(np.diff(out["peak_bytes"]) >= 0)
    with pytest.raises(ArgumentError, match="seq_len"):
        sweep("gpt2", batch_size=[1, 2, 3], seq_len=[1, 2])
    with pytest.raises(ArgumentError, match="batch_size"):
        sweep("gpt2", batch_size=[0, 1])
    with pytest.raises(ArgumentError, match="precision"):
        sweep("gpt2", precision=["bf16", "int2"])
    with pytest.raises(ArgumentError, match="vocab"):
        sweep("gpt2", vocab=[1])
    with pytest.raises(ArgumentError, match="rank"):
        sweep("gpt2", method="lora", rank=[0, 8])


def test_empty_columns_give_empty_results() -> None:
    out = sweep("gpt2", batch_size=np.array([], dtype=np.uint32))
    assert len(out["peak_bytes"]) == 0
