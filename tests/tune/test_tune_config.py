"""TrainConfig: Anyscale keys, translated legacy keys, errors with file/line/key, shipped configs."""

from __future__ import annotations

import pathlib
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("pydantic")
pytest.importorskip("yaml")

from tunesmith.errors import ConfigError  # noqa: E402
from tunesmith.tune.config import TrainConfig, load_config  # noqa: E402

CONFIGS = sorted((pathlib.Path(__file__).parents[2] / "python" / "tunesmith" / "configs").glob("*.yaml"))


def _write(tmp_path: pathlib.Path, text: str) -> pathlib.Path:
    p = tmp_path / "run.yaml"
    p.write_text(textwrap.dedent(text), encoding="utf-8")
    return p


def test_typo_names_file_line_key_and_valid_keys(tmp_path):
    path = _write(tmp_path, """\
        model:
          path: ./m
        data:
          train_path: t.jsonl
        training:
          num_epochs: 1
          learnig_rate: 1e-4
        """)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    msg = str(info.value)
    assert f"{path}:7:" in msg
    assert "training.learnig_rate" in msg
    assert "did you mean 'learning_rate'" in msg
    assert "valid keys here:" in msg and "context_length" in msg and "warmup_steps" in msg


def test_bad_value_and_unknown_block_lines(tmp_path):
    path = _write(tmp_path, """\
        model: ./m
        data:
          train_path: t.jsonl
          format: csv
        lora_config:
          rank: 8
        """)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    lines = str(info.value).splitlines()
    assert lines[0].startswith(f"{path}:4: key 'data.format'") and "alpaca" in lines[0]
    assert lines[1].startswith(f"{path}:6: unknown key 'lora_config.rank'") and "lora_alpha" in lines[1]


def test_invalid_yaml_names_line(tmp_path):
    path = _write(tmp_path, "model: ./m\ndata: [unclosed\n")
    with pytest.raises(ConfigError, match=rf"{path}:\d+: invalid YAML"):
        load_config(path)


def test_anyscale_keys_load_as_written(tmp_path):
    path = _write(tmp_path, """\
        model_id: meta-llama/Meta-Llama-3-8B-Instruct
        train_path: train.jsonl
        valid_path: valid.jsonl
        context_length: 512
        num_devices: 4
        num_epochs: 3
        train_batch_size_per_device: 16
        learning_rate: 1e-4
        lora_config:
          r: 8
          lora_alpha: 16
          lora_dropout: 0.05
          target_modules: [q_proj, v_proj, embed_tokens, lm_head]
        """)
    c = load_config(path)
    assert c.model.path == "meta-llama/Meta-Llama-3-8B-Instruct"
    assert c.data.train_path == "train.jsonl" and c.data.valid_path == "valid.jsonl"
    assert c.training.context_length == 512 and c.training.num_epochs == 3
    assert c.training.train_batch_size_per_device == 16 and c.training.learning_rate == 1e-4
    assert c.method == "lora" and c.lora_config.target_modules[-2:] == ["embed_tokens", "lm_head"]
    assert any("num_devices" in n and "line 5" in n for n in c.notes)
    # the same file without lora_config is full fine-tuning
    text = path.read_text().split("lora_config:")[0]
    assert load_config(_write(tmp_path, text)).method == "full"


def test_removed_and_renamed_keys_translated_with_notes(tmp_path):
    path = _write(tmp_path, """\
        model_name: ./m
        tokenizer: ./tok
        train_path: t.jsonl
        evaluation_strategy: epoch
        warmup_ratio: 0.1
        max_seq_length: 1024
        overwrite_output_dir: true
        no_cuda: true
        load_in_4bit: true
        training:
          per_device_train_batch_size: 2
          lr_scheduler_type: linear
        """)
    c = load_config(path)
    assert c.model.processing_class == "./tok"
    assert c.training.eval_strategy == "epoch"
    assert c.training.warmup_steps == 0.1
    assert c.training.context_length == 1024
    assert c.training.device == "cpu"
    assert c.method == "qlora" and c.qlora.bits == 4
    assert c.training.train_batch_size_per_device == 2 and c.training.lr_scheduler == "linear"
    notes = "\n".join(c.notes)
    for key in ("tokenizer", "evaluation_strategy", "warmup_ratio", "max_seq_length", "overwrite_output_dir", "no_cuda", "load_in_4bit"):
        assert key in notes, key
    assert "processing_class" in notes and "eval_strategy" in notes


def test_seed_guide_finetuning_config_keys(tmp_path):
    c = TrainConfig.from_dict({
        "model_name": "m", "train_path": "t.jsonl", "peft_method": "qlora", "lora_r": 16,
        "lora_alpha": 32, "lora_target_modules": ["q_proj"], "bf16": True, "gradient_checkpointing": True,
    })
    assert c.method == "qlora" and c.lora_config.r == 16 and c.lora_config.target_modules == ["q_proj"]
    assert c.training.precision == "bf16" and c.training.gradient_checkpointing


def test_one_method_block_only():
    with pytest.raises(ConfigError, match="choose one method block"):
        TrainConfig.from_dict({"model": "m", "train_path": "t", "lora_config": {}, "ia3": {}})


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_shipped_configs_load_and_start_with_their_command(path):
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first == f"# tunesmith tune python/tunesmith/configs/{path.name}"
    config = load_config(path)
    assert config.model.path and config.data.train_path


def test_shipped_configs_cover_the_methods():
    methods = {load_config(p).method for p in CONFIGS}
    assert {"lora", "full", "qlora", "dora", "ia3", "prompt_tuning", "adapter"} <= methods
    assert len(CONFIGS) >= 7


def test_validate_cli_does_not_import_torch(tmp_path):
    path = CONFIGS[0]
    code = (
        "import sys; from tunesmith.cli import main; rc = main(['tune', 'validate', %r]);"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules, 'heavy import';"
        "import tunesmith.tune, tunesmith.tune.trainer, tunesmith.tune.data, tunesmith.tune.methods, tunesmith.tune.merge;"
        "assert 'torch' not in sys.modules; sys.exit(rc)" % str(path)
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert ": ok" in out.stdout


def test_validate_cli_reports_error(tmp_path):
    from tunesmith.cli import main

    path = _write(tmp_path, "model: m\ndata:\n  train_path: t\n  pack: true\n")
    assert main(["tune", "validate", str(path)]) == 1
