"""End to end on CPU with the tiny model: LoRA, merge, resume, full FT, bottleneck adapters, QLoRA, other PEFT methods."""

from __future__ import annotations

import json
import pathlib

import pytest

from tunesmith.errors import UnsupportedError
from tunesmith.tune.config import TrainConfig

pytestmark = pytest.mark.train


def make_config(tiny, out: pathlib.Path, method: dict | None = None, **training) -> TrainConfig:
    base = {
        "max_steps": 12, "train_batch_size_per_device": 8, "learning_rate": 5e-3, "eval_steps": 6,
        "save_steps": 6, "logging_steps": 2, "context_length": 96, "lr_scheduler": "constant",
    }
    base.update(training)
    return TrainConfig.from_dict({
        "model": {"path": str(tiny["model"])},
        "data": {"train_path": str(tiny["train"]), "valid_path": str(tiny["valid"])},
        "training": base,
        "output_dir": str(out),
        **(method or {}),
    })


def quiet(_: str) -> None:
    pass


def run(config: TrainConfig, **kw):
    from tunesmith.tune.trainer import train

    return train(config, log=quiet, progress=False, **kw)


LORA = {"lora_config": {"r": 8, "lora_alpha": 16, "lora_dropout": 0.0,
                        "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]}}


@pytest.fixture(scope="module")
def lora_run(tiny, tmp_path_factory):
    out = tmp_path_factory.mktemp("lora")
    return run(make_config(tiny, out, LORA))


def _valid_examples(tiny, tokenizer):
    from tunesmith.tune import data as tdata

    return tdata.tokenize_records(tdata.load_records(tiny["valid"]), tokenizer, context_length=96)


def test_lora_end_to_end_loss_drops_and_outputs_written(lora_run):
    out, m = lora_run.output_dir, lora_run.metrics
    assert m["eval_loss_after"] < m["eval_loss_before"] - 0.2
    assert m["perplexity_after"] < m["perplexity_before"]
    assert m["final_logged_train_loss"] < m["first_logged_train_loss"]
    assert m["steps"] == 12 and m["tokens_per_second"] > 0 and m["peak_memory_bytes"] > 0
    assert m["data"]["train"]["truncated"] == 0 and m["data"]["train"]["examples"] == 96
    for name in ("adapter/adapter_config.json", "adapter/adapter_model.safetensors", "metrics.json", "loss.png",
                 "log.csv", "tunesmith_run.json", "checkpoints/checkpoint-12"):
        assert (out / name).exists(), name
    assert json.loads((out / "metrics.json").read_text())["method"] == "lora"
    assert (out / "loss.png").read_bytes()[:4] == b"\x89PNG"


def test_lora_adapter_loads_with_peft(lora_run, tiny, tokenizer, torch_one_thread):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from tunesmith.tune.evaluate import mean_loss

    base = AutoModelForCausalLM.from_pretrained(tiny["model"], dtype=torch.float32)
    model = PeftModel.from_pretrained(base, str(lora_run.output_dir / "adapter"))
    got = mean_loss(model, _valid_examples(tiny, tokenizer), pad_token_id=tokenizer.pad_token_id)
    assert got.loss == pytest.approx(lora_run.metrics["eval_loss_after"], abs=1e-5)


def test_merge_gives_the_adapter_logits(lora_run, tiny, tokenizer, torch_one_thread):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from tunesmith.cli import main

    assert main(["merge", str(lora_run.output_dir)]) == 0
    merged = AutoModelForCausalLM.from_pretrained(lora_run.output_dir / "merged", dtype=torch.float32).eval()
    assert not any("lora" in k for k in merged.state_dict())
    adapter = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(tiny["model"], dtype=torch.float32), str(lora_run.output_dir / "adapter")
    ).eval()
    ids = torch.tensor([_valid_examples(tiny, tokenizer)[0].input_ids])
    with torch.no_grad():
        diff = (merged(input_ids=ids).logits - adapter(input_ids=ids).logits).abs().max().item()
    assert diff < 1e-4
    info = json.loads((lora_run.output_dir / "merged" / "tunesmith_merge.json").read_text())
    assert info["max_logit_diff_vs_adapter"] < 1e-4


def test_eval_cli_compares_base_and_tuned(lora_run, tiny, capsys):
    from tunesmith.cli import main

    rc = main(["eval", str(lora_run.output_dir), "--data", str(tiny["valid"]), "--context-length", "96",
               "--prompt", "Give the opposite of: up", "--max-new-tokens", "8", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["tuned"]["perplexity"] < out["base"]["perplexity"]
    assert out["tuned"]["loss"] == pytest.approx(lora_run.metrics["eval_loss_after"], abs=1e-4)
    assert len(out["tuned"]["generations"]) == 1 and out["base"]["generations"][0]["prompt"].startswith("Give")


def test_resume_continues_from_last_checkpoint(lora_run, tiny):
    cfg = make_config(tiny, lora_run.output_dir, LORA, max_steps=14)
    result = run(cfg, resume=True)
    assert result.metrics["steps"] == 14
    steps = [int(r.split(",")[0]) for r in (lora_run.output_dir / "log.csv").read_text().splitlines()[1:]]
    assert 14 in steps and steps.count(2) == 1  # the first 12 steps were not redone


def test_full_finetune_writes_model_dir(tiny, tmp_path, torch_one_thread):
    import torch
    from transformers import AutoModelForCausalLM

    result = run(make_config(tiny, tmp_path, None, max_steps=6, learning_rate=2e-3, eval_steps=6))
    assert result.metrics["method"] == "full"
    assert result.metrics["trainable_params"] == result.metrics["total_params"]
    assert result.metrics["eval_loss_after"] < result.metrics["eval_loss_before"]
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "model", dtype=torch.float32)
    assert model.config.hidden_size == 64
    assert not (tmp_path / "adapter").exists()


def test_bottleneck_adapter_trains_saves_and_loads(tiny, tokenizer, tmp_path, torch_one_thread):
    import torch
    from transformers import AutoModelForCausalLM

    from tunesmith.tune.evaluate import mean_loss
    from tunesmith.tune.methods import load_adapter

    result = run(make_config(tiny, tmp_path, {"adapter": {"bottleneck_size": 16}}, max_steps=6, eval_steps=6))
    m = result.metrics
    assert m["method"] == "adapter" and m["eval_loss_after"] < m["eval_loss_before"]
    assert m["trainable_params"] == 2 * (64 * 16 + 16 + 16 * 64 + 64)
    assert (tmp_path / "adapter" / "bottleneck_config.json").exists()
    model = load_adapter(AutoModelForCausalLM.from_pretrained(tiny["model"], dtype=torch.float32), tmp_path / "adapter")
    got = mean_loss(model, _valid_examples(tiny, tokenizer), pad_token_id=tokenizer.pad_token_id)
    assert got.loss == pytest.approx(m["eval_loss_after"], abs=1e-5)
    with pytest.raises(UnsupportedError, match="cannot be merged"):
        from tunesmith.tune.merge import merge

        merge(tmp_path, log=quiet)


def test_qlora_trains_or_refuses_clearly(tiny, tmp_path, torch_one_thread):
    from tunesmith.tune.methods import bnb_status

    cfg = make_config(tiny, tmp_path, {"qlora": {"compute_dtype": "float32"}, **LORA}, max_steps=4, eval_steps=4,
                      learning_rate=5e-3)
    if bnb_status() is not None:
        with pytest.raises(UnsupportedError, match="bitsandbytes"):
            run(cfg)
        return
    result = run(cfg)
    assert result.metrics["method"] == "qlora"
    assert result.metrics["eval_loss_after"] < result.metrics["eval_loss_before"]
    assert (tmp_path / "adapter" / "adapter_config.json").exists()

    from tunesmith.tune.merge import merge

    faithful = merge(tmp_path, log=quiet)  # dequantize the 4-bit base, then merge
    assert faithful.base == "dequantized 4-bit" and faithful.max_logit_diff < 1e-3
    naive = merge(tmp_path, base="original", out_dir=tmp_path / "merged-original", log=quiet)
    assert naive.max_logit_diff > 10 * max(faithful.max_logit_diff, 1e-4)


@pytest.mark.parametrize(
    "method",
    [
        {"lora_config": {"r": 4, "use_dora": True, "lora_dropout": 0.0}},
        {"ia3": {}},
        {"prompt_tuning": {"num_virtual_tokens": 8}},
        pytest.param({"prefix_tuning": {"num_virtual_tokens": 8}}, marks=pytest.mark.slow),
    ],
    ids=["dora", "ia3", "prompt_tuning", "prefix_tuning"],
)
def test_other_peft_methods_train(tiny, tmp_path, method):
    result = run(make_config(tiny, tmp_path, method, max_steps=4, eval_steps=4, learning_rate=1e-2))
    m = result.metrics
    assert m["eval_loss_after"] < m["eval_loss_before"]
    assert (tmp_path / "adapter" / "adapter_config.json").exists()


def test_cli_run_from_yaml_with_packing_and_clean(tiny, tmp_path, capsys):
    pytest.importorskip("tunesmith.clean.pipeline")
    from tunesmith.cli import main

    cfg = tmp_path / "run.yaml"
    cfg.write_text(f"""\
model_id: {tiny['model']}
train_path: {tiny['train']}
valid_path: {tiny['valid']}
context_length: 96
train_batch_size_per_device: 2
learning_rate: 5e-3
evaluation_strategy: "no"
output_dir: {tmp_path / 'out'}
data:
  packing: true
  clean:
    length: {{enabled: false}}
    seed_checks: {{enabled: false}}
    gopher_quality: {{enabled: false}}
    gopher_repetition: {{enabled: false}}
training:
  max_steps: 4
  logging_steps: 2
lora_config:
  r: 8
  lora_dropout: 0.0
""")
    assert main(["tune", str(cfg), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "note: line 7: evaluation_strategy" in printed
    assert "clean: kept" in printed and "exact_duplicate" in printed
    m = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert m["data"]["train"]["records"] < 96  # the synthetic set repeats itself; exact dedup removed the copies
    assert m["data"]["packed_rows"] < m["data"]["train"]["examples"]
    assert m["eval_loss_after"] < m["eval_loss_before"]


def test_preflight_refuses_a_70b_model_on_16gb_unless_forced(tiny, tmp_path, capsys, monkeypatch):
    pytest.importorskip("tunesmith.estimate.memory")
    import shutil

    from tunesmith.cli import main
    from tunesmith.tune.trainer import train

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = tmp_path / "llama-70b"
    model.mkdir()
    # Llama-3-70B's shape, no weights: the pre-flight must decide from config.json alone
    (model / "config.json").write_text(json.dumps({
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 8192, "intermediate_size": 28672,
        "num_hidden_layers": 80, "num_attention_heads": 64, "num_key_value_heads": 8, "vocab_size": 128256,
        "max_position_embeddings": 8192, "rms_norm_eps": 1e-5, "tie_word_embeddings": False,
    }))
    for f in tiny["model"].glob("*"):
        if f.name.startswith(("tokenizer", "chat_template")):
            shutil.copy(f, model / f.name)
    cfg_path = tmp_path / "big.yaml"
    cfg_path.write_text(f"model: {model}\ntrain_path: {tiny['train']}\noutput_dir: {tmp_path / 'out'}\n"
                        "lora_config: {r: 8}\ntraining: {max_steps: 1, context_length: 64}\n")
    assert main(["tune", str(cfg_path), "--device-memory", "16", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "does not fit" in err and "does NOT fit" in err and "--force" in err
    assert "weights" in err and "to make it fit" in err and "qlora" in err
    assert not (tmp_path / "out" / "checkpoints").exists()

    from tunesmith.tune.config import load_config

    with pytest.raises(OSError, match="model.safetensors|pytorch_model.bin|weights"):
        # forced: past the pre-flight, it fails only when the (absent) weights are loaded
        train(load_config(cfg_path), force=True, log=quiet, progress=False, preflight_memory=16 * 2**30)


def test_dpo_with_lora_prefers_the_chosen_answers(tiny, tmp_path, torch_one_thread):
    pytest.importorskip("trl")
    from tunesmith.tune.tiny import make_preferences

    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps(r) + "\n" for r in make_preferences(16)), encoding="utf-8")
    cfg = TrainConfig.from_dict({
        "model": {"path": str(tiny["model"])},
        "data": {"train_path": str(pairs)},
        "training": {"max_steps": 6, "train_batch_size_per_device": 8, "learning_rate": 5e-3, "context_length": 64,
                     "lr_scheduler": "constant", "logging_steps": 2, "save_steps": 6},
        "lora_config": LORA["lora_config"],
        "dpo": {"beta": 0.1},
        "output_dir": str(tmp_path / "out"),
    })
    m = run(cfg).metrics
    assert m["method"] == "dpo+lora"
    assert m["eval_loss_before"] == pytest.approx(0.6931, abs=1e-3)  # the policy starts equal to the reference
    assert m["eval_loss_after"] < m["eval_loss_before"] and m["reward_accuracy_after"] > 0.5
    assert (tmp_path / "out" / "adapter" / "adapter_config.json").exists()


def test_dpo_record_errors_name_the_field(tmp_path):
    from tunesmith.errors import InputError
    from tunesmith.tune.dpo import load_preference_records

    bad = tmp_path / "p.jsonl"
    bad.write_text('{"prompt": "x", "chosen": "y", "rejected": "z"}\n{"prompt": "x", "chosen": "y"}\n')
    with pytest.raises(InputError, match=r"p\.jsonl:2: field 'rejected': missing"):
        load_preference_records(bad)


def test_preflight_catalog_model_on_catalog_device(tiny, tmp_path, capsys):
    pytest.importorskip("tunesmith.estimate.catalog")
    from tunesmith.cli import main

    cfg = tmp_path / "big.yaml"
    cfg.write_text(f"model_id: llama-3-70b\ntrain_path: {tiny['train']}\noutput_dir: {tmp_path / 'out'}\n"
                   "context_length: 2048\nlora_config: {r: 16}\n")
    assert main(["tune", str(cfg), "--preflight-device", "t4", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "does NOT fit" in err and "T4" in err and "--force" in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_checkpointing_and_early_stopping(tiny, tmp_path):
    cfg = make_config(tiny, tmp_path, LORA, max_steps=40, eval_steps=2, save_steps=3, logging_steps=2,
                      learning_rate=1e-6, gradient_checkpointing=True, early_stopping_patience=1,
                      early_stopping_threshold=0.5)
    m = run(cfg).metrics
    # a learning rate this small cannot improve eval loss by 0.5, so the first patience check stops the run
    assert m["steps"] == 4
    assert (tmp_path / "adapter" / "adapter_config.json").exists()


def test_qlora_without_bitsandbytes_is_a_clear_error(tiny, tmp_path, monkeypatch):
    from tunesmith.tune import methods

    monkeypatch.setattr(methods, "bnb_status", lambda: "bitsandbytes is not usable here (ImportError: test)")
    cfg = make_config(tiny, tmp_path, {"qlora": {}, **LORA})
    with pytest.raises(UnsupportedError, match="QLoRA needs bitsandbytes.*Drop the qlora block"):
        run(cfg)
    assert not (tmp_path / "checkpoints").exists()
