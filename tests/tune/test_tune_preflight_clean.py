"""Pre-flight sizing of QLoRA configs, and the tune data's clean step (no torch needed)."""

from __future__ import annotations

import pytest

from tunesmith.tune.config import TrainConfig
from tunesmith.tune.data import Record
from tunesmith.tune.trainer import _apply_clean, preflight


@pytest.fixture
def single_process(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "ACCELERATE_USE_FSDP",
                 "ACCELERATE_USE_DEEPSPEED", "ACCELERATE_DEEPSPEED_ZERO_STAGE"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(("dtype", "bits"), [("bfloat16", 4), ("float16", 4), ("float32", 8)])
def test_qlora_preflight_sizes_the_job_in_its_compute_dtype(single_process, dtype: str, bits: int) -> None:
    from tunesmith.estimate import estimate

    config = TrainConfig.from_dict({
        "model": "llama-3.2-1b", "train_path": "train.jsonl",
        "training": {"train_batch_size_per_device": 2, "context_length": 512},
        "qlora": {"bits": bits, "compute_dtype": dtype}, "lora_config": {"r": 16},
    })
    result = preflight(config, device="cpu", device_memory=2**40)
    precision = {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32"}[dtype]
    expected = estimate("llama-3.2-1b", method="qlora", bits=bits, rank=16, precision=precision, batch_size=2,
                        seq_len=512, target_modules=config.lora_config.target_modules,
                        gradient_checkpointing=config.training.gradient_checkpointing)
    assert result.required_bytes == expected.total_bytes
    assert result.fits


def _alpaca(i: int, output: str) -> Record:
    return Record({"instruction": f"Write note number {i} about the weekly meeting schedule for the team.",
                   "input": "", "output": output}, "train.jsonl", i + 1)


def test_clean_step_redacts_pii_in_the_records_it_keeps() -> None:
    config = TrainConfig.from_dict({
        "model": "llama-3.2-1b", "train_path": "train.jsonl",
        "data": {"clean": {"gopher_quality": {"enabled": False}, "gopher_repetition": {"enabled": False},
                           "seed_checks": {"enabled": False}}},
    })
    reply = "Please contact jane.doe@example.com or call 415-555-0199 before the meeting starts on Monday."
    records = [_alpaca(0, reply), _alpaca(1, "The meeting moves to Tuesday at ten in the large room downstairs."),
               _alpaca(0, reply)]
    logged: list[str] = []
    kept = _apply_clean(config, records, logged.append)
    assert len(kept) == 2  # the exact duplicate is gone
    assert "jane.doe@example.com" not in kept[0].data["output"] and "415-555-0199" not in kept[0].data["output"]
    assert kept[0].where() == "train.jsonl:1"
    assert "[EMAIL]" in kept[0].data["output"] and "[PHONE]" in kept[0].data["output"]
    assert kept[1] == records[1]
    assert records[0].data["output"] == reply  # the caller's records are not modified
    assert "kept 2 of 3" in logged[0]


def test_clean_step_detect_only_leaves_the_text_alone() -> None:
    config = TrainConfig.from_dict({
        "model": "llama-3.2-1b", "train_path": "train.jsonl",
        "data": {"clean": {"pii": {"action": "detect"}, "gopher_quality": {"enabled": False},
                           "gopher_repetition": {"enabled": False}, "seed_checks": {"enabled": False}}},
    })
    record = _alpaca(3, "Send the minutes to jane.doe@example.com after the meeting, thanks a lot.")
    assert _apply_clean(config, [record], lambda _: None) == [record]
