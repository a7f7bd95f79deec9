"""``tunesmith check``: each checklist item on configs and data built to pass or fail it; no torch."""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
import sys

import pytest

from tunesmith.check import LR_RANGES, CheckReport, record_text, run_checklist
from tunesmith.cli import main
from tunesmith.errors import ArgumentError

CONFIGS = pathlib.Path(__file__).resolve().parents[1] / "python" / "tunesmith" / "configs"


def alpaca(i: int, output: str | None = None) -> dict[str, str]:
    return {"instruction": f"Question number {i}: what is {i} plus {i + 1}?", "input": "",
            "output": output or f"The sum of {i} and {i + 1} is {2 * i + 1}."}


def write_jsonl(path: pathlib.Path, records: list[dict]) -> pathlib.Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def make_config(tmp: pathlib.Path, *, train: list[dict] | None = None, valid: list[dict] | None = None,
                method: str = "lora_config:\n  r: 8\n", training: str = "", data: str = "",
                model: str = "qwen2.5-0.5b") -> pathlib.Path:
    train = train if train is not None else [alpaca(i) for i in range(1200)]
    write_jsonl(tmp / "data" / "train.jsonl", train)
    valid_line = ""
    if valid is not None:
        write_jsonl(tmp / "data" / "valid.jsonl", valid)
        valid_line = "  valid_path: data/valid.jsonl\n"
    text = (
        f"model:\n  path: {model}\n"
        f"data:\n  train_path: data/train.jsonl\n{valid_line}{data}"
        "training:\n  num_epochs: 1\n  context_length: 256\n  train_batch_size_per_device: 4\n"
        "  eval_steps: 50\n  save_steps: 50\n  logging_steps: 10\n  gradient_checkpointing: true\n"
        f"{training}"
        f"{method}"
        f"output_dir: {tmp / 'out'}\n"
    )
    path = tmp / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def status(report: CheckReport, check: str) -> tuple[str, str]:
    item = next(i for i in report.items if i.check == check)
    return item.status, item.detail


GOOD_TRAINING = "  learning_rate: 2.0e-4\n  early_stopping_patience: 3\n"


def good(tmp: pathlib.Path) -> pathlib.Path:
    return make_config(tmp, valid=[alpaca(i) for i in range(5000, 5060)], training=GOOD_TRAINING)


def test_a_good_config_passes_every_checkable_item(tmp_path):
    report = run_checklist(good(tmp_path), device="cpu", device_memory=64)
    assert not report.failed
    checkable = [i for i in report.items if i.status != "MANUAL"]
    assert {i.status for i in checkable} == {"PASS"}, [i for i in checkable if i.status != "PASS"]
    assert {i.stage for i in report.items} == {"before", "during", "after"}
    assert status(report, "training data") == ("PASS", "1200 train, 60 validation records, all readable: 1260 alpaca")
    assert status(report, "compute fits")[1] == "needs 3.67 GiB of cpu's 64.00 GiB (6%; catalog model qwen2.5-0.5b)"
    # 1200 records / batch 4 = 300 steps: 6 evaluations, 30 loss logs, 6 checkpoints
    assert status(report, "monitor loss and validation")[1] == (
        "300 optimizer steps: loss logged 30x, validation loss computed 6x")
    assert main(["check", str(tmp_path / "config.yaml"), "--device", "cpu", "--device-memory", "64"]) == 0


def test_dirty_data_fails_with_locations(tmp_path, capsys):
    train = [alpaca(i) for i in range(300)]
    train += [alpaca(3), alpaca(4)]  # exact duplicates of lines 4 and 5
    train.append(alpaca(900, "Mail jane.doe@example.com or pay with 4111 1111 1111 1111."))
    train.append({"instruction": "no answer here"})  # line 304: no output
    valid = [alpaca(7), alpaca(8000)]  # one leaked from training
    path = make_config(tmp_path, train=train, valid=valid, training=GOOD_TRAINING)
    report = run_checklist(path, device="cpu", device_memory=64)
    assert report.failed
    st, detail = status(report, "training data")
    assert st == "FAIL" and "train.jsonl:304: field 'output': missing" in detail
    st, detail = status(report, "deduplicated")
    assert st == "WARN"  # 2 of 304 records: within the 1 % band
    assert detail.startswith("2 exact duplicates (0.7%)") and "line 301 repeats line 4" in detail
    st, detail = status(report, "PII removed")
    assert st == "FAIL" and "EMAIL 1" in detail and "CREDIT_CARD 1" in detail and "train.jsonl:303" in detail
    st, detail = status(report, "validation held out")
    assert st == "FAIL" and detail.startswith("1 of 2 validation records") and "valid.jsonl:1" in detail
    assert status(report, "enough examples (1000+)")[0] == "WARN"
    assert main(["check", str(path), "--device", "cpu", "--device-memory", "64"]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "PII removed" in out


def test_duplicate_share_bands_and_clean_options(tmp_path):
    train = [alpaca(i) for i in range(1000)] + [alpaca(0)]
    valid = [alpaca(i) for i in range(5000, 5010)]
    report = run_checklist(make_config(tmp_path, train=train, valid=valid, training=GOOD_TRAINING), device="cpu",
                           device_memory=64)
    assert status(report, "deduplicated")[0] == "WARN"  # 0.1 %
    pii = [alpaca(i) for i in range(1000)] + [alpaca(1000, "call 555-867-5309 or ssn 078-05-1120")]
    # data.clean with pii redact: the trainer keeps the original records, so the PII still reaches training
    report = run_checklist(make_config(tmp_path, train=pii, valid=valid, training=GOOD_TRAINING,
                                       data="  clean: {}\n"), device="cpu", device_memory=64)
    assert status(report, "PII removed")[0] == "FAIL"
    report = run_checklist(make_config(tmp_path, train=pii + [alpaca(5)], valid=valid, training=GOOD_TRAINING,
                                       data="  clean: {pii: {action: drop}}\n"), device="cpu", device_memory=64)
    assert status(report, "PII removed")[0] == "PASS"
    assert status(report, "deduplicated")[0] == "PASS"  # exact_dedup is on in data.clean
    report = run_checklist(make_config(tmp_path, train=pii, valid=valid, data="  clean: {nonsense: 1}\n"),
                           device="cpu", device_memory=64)
    st, detail = status(report, "data.clean options")
    assert st == "FAIL" and "nonsense" in detail


@pytest.mark.parametrize(
    ("method", "lr", "expected"),
    [
        ("lora_config:\n  r: 8\n", 2e-4, "PASS"),
        ("lora_config:\n  r: 8\n", 1e-3, "WARN"),
        ("lora_config:\n  r: 8\n", 1e-2, "FAIL"),
        ("", 2e-5, "PASS"),  # full fine-tuning
        ("", 2e-4, "FAIL"),  # LoRA's rate on all weights
        ("prompt_tuning:\n  num_virtual_tokens: 8\n", 3e-2, "PASS"),
        ("ia3: {}\n", 3e-3, "PASS"),
        ("lora_config:\n  r: 8\ndpo:\n  beta: 0.1\n", 5e-6, "PASS"),
        ("dpo:\n  beta: 0.1\n", 1e-4, "FAIL"),
    ],
)
def test_learning_rate_against_the_methods_range(tmp_path, method, lr, expected):
    train = ([{"prompt": f"p{i}", "chosen": f"c{i}", "rejected": f"r{i}"} for i in range(200)] if "dpo" in method
             else None)
    valid = ([{"prompt": "pv", "chosen": "cv", "rejected": "rv"}] if "dpo" in method
             else [alpaca(i) for i in range(5000, 5010)])
    path = make_config(tmp_path, train=train, valid=valid, method=method, training=f"  learning_rate: {lr}\n")
    st, detail = status(run_checklist(path, device="cpu", device_memory=64), "learning rate")
    assert st == expected, detail
    assert f"{lr:g} (training.learning_rate)" in detail


def test_unset_learning_rate_uses_the_guides_recommendation(tmp_path):
    valid = [alpaca(i) for i in range(5000, 5010)]
    report = run_checklist(make_config(tmp_path, valid=valid), device="cpu", device_memory=64)
    st, detail = status(report, "learning rate")
    assert st == "PASS"
    assert detail.startswith("0.0002 (unset, so the guide's recommend_lr(0.494 B, lora, 1200 examples)")
    # the guide gives every non-LoRA PEFT method 1e-4: far below what prompt tuning trains at
    path = make_config(tmp_path, valid=valid, method="prompt_tuning:\n  num_virtual_tokens: 8\n")
    st, detail = status(run_checklist(path, device="cpu", device_memory=64), "learning rate")
    assert st == "FAIL" and detail.startswith("0.0001 (unset")
    assert LR_RANGES["prompt_tuning"][0] > 1e-4 * 4


def test_no_validation_data(tmp_path):
    path = make_config(tmp_path, training="  learning_rate: 2.0e-4\n  early_stopping_patience: 3\n")
    report = run_checklist(path, device="cpu", device_memory=64)
    assert status(report, "train/validation split")[0] == "FAIL"
    assert status(report, "monitor loss and validation") == ("FAIL", "no validation data")
    assert status(report, "early stopping")[0] == "FAIL"
    assert status(report, "baseline metrics")[0] == "WARN"
    # a valid_fraction split counts
    path = make_config(tmp_path, data="  valid_fraction: 0.05\n", training=GOOD_TRAINING)
    report = run_checklist(path, device="cpu", device_memory=64)
    train_file = tmp_path / "data" / "train.jsonl"
    assert status(report, "train/validation split") == (
        "PASS", f"60 validation records from the last 0.05 of {train_file}")
    assert not report.failed


def test_eval_checkpoint_and_early_stopping_settings(tmp_path):
    valid = [alpaca(i) for i in range(5000, 5010)]
    path = make_config(tmp_path, train=[alpaca(i) for i in range(100)], valid=valid,
                       training="  learning_rate: 2.0e-4\n  eval_strategy: 'no'\n")
    report = run_checklist(path, device="cpu", device_memory=64)
    assert status(report, "monitor loss and validation")[0] == "FAIL"
    assert status(report, "early stopping")[0] == "WARN"
    # 100 records / 4 = 25 steps < eval_steps 50 = save_steps
    path = make_config(tmp_path, train=[alpaca(i) for i in range(100)], valid=valid, training=GOOD_TRAINING)
    report = run_checklist(path, device="cpu", device_memory=64)
    assert status(report, "monitor loss and validation")[0] == "WARN"
    assert status(report, "checkpoints") == ("WARN", "save_steps 50 exceeds the 25 steps: no checkpoint before the end")


def test_compute_that_does_not_fit_and_models_that_cannot_be_sized(tmp_path):
    valid = [alpaca(i) for i in range(5000, 5010)]
    path = make_config(tmp_path, valid=valid, training=GOOD_TRAINING, method="")
    st, detail = status(run_checklist(path, device="cpu", device_memory=2), "compute fits")
    assert st == "FAIL" and "cpu has 2.00 GiB" in detail and "first fix:" in detail
    st, _ = status(run_checklist(path, device="A100-80GB"), "compute fits")
    assert st == "PASS"
    # a hub id the catalog does not know, not on disk: no network, a WARN naming the way out
    path = make_config(tmp_path, valid=valid, model="someone/unknown-model-7b")
    report = run_checklist(path, device="cpu", device_memory=64)
    st, detail = status(report, "compute fits")
    assert st == "WARN" and "--model-config" in detail
    assert status(report, "learning rate")[0] == "SKIP"
    # ... which --model-config fixes
    cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 256, "intermediate_size": 688,
           "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 4, "vocab_size": 1000,
           "max_position_embeddings": 512, "tie_word_embeddings": False, "rms_norm_eps": 1e-6}
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text(json.dumps(cfg), encoding="utf-8")
    report = run_checklist(path, device="cpu", device_memory=64, model_config=str(tmp_path / "m" / "config.json"))
    assert status(report, "compute fits")[0] == "PASS"
    assert status(report, "learning rate")[0] == "PASS"
    with pytest.raises(ArgumentError, match="--model-config"):
        run_checklist(path, model_config=str(tmp_path / "nowhere"))


def test_catalog_guesses_for_hub_ids():
    from tunesmith.check import _catalog_guess

    assert _catalog_guess("Qwen/Qwen2.5-0.5B-Instruct") == "qwen2.5-0.5b"
    assert _catalog_guess("meta-llama/Meta-Llama-3-8B-Instruct") == "llama-3-8b"
    assert _catalog_guess("meta-llama/Llama-2-7b-hf") == "llama-2-7b"
    assert _catalog_guess("someone/unknown-model-7b") is None


def test_sample_json_output_and_errors(tmp_path, capsys):
    path = good(tmp_path)
    assert main(["check", str(path), "--device", "cpu", "--device-memory", "64", "--sample", "100", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["failed"] is False and out["config"] == str(path)
    items = {i["check"]: i for i in out["items"]}
    assert items["enough examples (1000+)"]["status"] == "SKIP"
    assert items["training data"]["detail"].startswith("100 train, 60 validation records (sampled)")
    assert sum(out["counts"].values()) == len(out["items"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  path: x\ndata:\n  train_path: t.jsonl\ntraining:\n  learning_rat: 1\n", encoding="utf-8")
    assert main(["check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml:6" in err and "learning_rat" in err and "did you mean 'learning_rate'" in err
    missing = make_config(tmp_path / "m", valid=[alpaca(1)])
    (tmp_path / "m" / "data" / "train.jsonl").unlink()
    report = run_checklist(missing, device="cpu", device_memory=64)
    st, detail = status(report, "training data")
    assert st == "FAIL" and "cannot read data file" in detail
    assert status(report, "deduplicated")[0] == "SKIP"
    with pytest.raises(ArgumentError, match="sample=0"):
        run_checklist(path, sample=0)
    assert main(["check", str(path), "--device", "Z100"]) == 2
    assert "device='Z100' is not in the catalog; valid choices: T4" in capsys.readouterr().err


def test_record_text_covers_every_format():
    from tunesmith.tune.data import Record

    rec = Record({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "a@b.co"}]}, "f", 1)
    assert record_text(rec) == "user\nhi\nassistant\na@b.co"
    assert record_text(Record({"prompt": "p", "chosen": "c", "rejected": "r"}, "f", 1)) == "p\nc\nr"


def test_shipped_configs_check_without_torch(tmp_path):
    from tunesmith.tune.tiny import make_dataset, make_preferences

    make_dataset(tmp_path / "data", n_train=64, n_valid=8)
    prefs = make_preferences(40)
    write_jsonl(tmp_path / "data" / "preferences.jsonl", prefs[:32])
    write_jsonl(tmp_path / "data" / "preferences-valid.jsonl", prefs[32:])
    for config in sorted(CONFIGS.rglob("*.yaml")):
        if "accelerate" in config.parts:
            continue
        shutil.copy(config, tmp_path / config.name)
    code = (
        "import sys, pathlib, json\n"
        "from tunesmith.check import run_checklist\n"
        f"root = pathlib.Path({str(tmp_path)!r})\n"
        "out = {p.name: run_checklist(p, device='A100-80GB').to_dict() for p in sorted(root.glob('*.yaml'))}\n"
        "mods = {m: m in sys.modules for m in ('torch', 'transformers')}\n"
        "print(json.dumps({**mods, 'out': out}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)
    result = json.loads(done.stdout)
    assert result["torch"] is False and result["transformers"] is False
    assert len(result["out"]) >= 8
    for name, report in result["out"].items():
        items = {i["check"]: i for i in report["items"]}
        assert items["training data"]["status"] == "PASS", (name, items["training data"])
        assert items["train/validation split"]["status"] == "PASS", name
        assert "catalog model" in items["compute fits"]["detail"], (name, items["compute fits"])


def test_device_auto_asks_nvidia_smi_not_torch(tmp_path, monkeypatch):
    import tunesmith.check as check

    calls = []

    def fake_run(cmd, **kw):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 0, stdout="NVIDIA H100 80GB HBM3, 81559\nNVIDIA H100 80GB HBM3, 81559\n")

    monkeypatch.setattr(check.shutil, "which", lambda name: "/usr/bin/nvidia-smi" if name == "nvidia-smi" else None)
    monkeypatch.setattr(check.subprocess, "run", fake_run)
    assert check._nvidia_smi() == ("NVIDIA H100 80GB HBM3", 81559 * 2**20)
    assert "--query-gpu=name,memory.total" in calls[0]
    path = good(tmp_path)  # training.device: auto
    st, detail = status(run_checklist(path), "compute fits")
    assert st == "PASS" and "of cuda (NVIDIA H100 80GB HBM3)'s 79.65 GiB" in detail
    # no nvidia-smi: auto means the CPU, and training.device: cuda fails
    monkeypatch.setattr(check.shutil, "which", lambda name: None)
    assert check._nvidia_smi() is None
    st, detail = status(run_checklist(path, device_memory=64), "compute fits")
    assert st == "PASS" and "of cpu's 64.00 GiB" in detail
    st, detail = status(run_checklist(path, device="cuda"), "compute fits")
    assert (st, detail) == ("FAIL", "--device is cuda but nvidia-smi finds no GPU")
