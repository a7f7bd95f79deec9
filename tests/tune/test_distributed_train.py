"""Training under launchers: torchrun / accelerate launch on CPU (gloo), layout detection, the accelerate configs.

The launch tests run ``tunesmith tune`` in two processes and watch what each one
writes with a Python audit hook (``sys.addaudithook``, installed through a
``sitecustomize`` on ``PYTHONPATH``): every ``open`` for writing and every
rename under the output directory, per rank. Writes done in native code
(safetensors' Rust writer) are not audited; the file listing covers those.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import socket
import subprocess
import sys
import textwrap

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tunesmith.errors import ArgumentError, ConfigError, UnsupportedError
from tunesmith.tune.config import TrainConfig
from tunesmith.tune.distributed import (
    SHARDINGS,
    Layout,
    WorldInfo,
    check_compatibility,
    detect_layout,
    world_info,
)

ROOT = pathlib.Path(__file__).parents[2]
ACCELERATE_CONFIGS = sorted((ROOT / "python" / "tunesmith" / "configs" / "accelerate").glob("*.yaml"))
LAUNCH_ENV = (
    "WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "ACCELERATE_USE_FSDP", "ACCELERATE_USE_DEEPSPEED",
    "ACCELERATE_DEEPSPEED_ZERO_STAGE", "ACCELERATE_DEEPSPEED_CONFIG_FILE", "FSDP_SHARDING_STRATEGY", "FSDP_VERSION",
    "FSDP_RESHARD_AFTER_FORWARD", "FSDP_ACTIVATION_CHECKPOINTING", "ACCELERATE_MIXED_PRECISION",
)
FSDP_ENV = {"ACCELERATE_USE_FSDP": "true"}
DS_ENV = {"ACCELERATE_USE_DEEPSPEED": "true"}


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in LAUNCH_ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


# --- world and layout ------------------------------------------------------------------------------


def test_world_info_plain_process_is_rank_zero_of_one():
    w = world_info({})
    assert w == WorldInfo(1, 0, 0, 1) and w.is_main and not w.distributed and str(w) == "single process"


def test_world_info_reads_torchrun_variables():
    w = world_info({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"})
    assert (w.world_size, w.rank, w.local_rank, w.local_world_size) == (4, 3, 1, 2)
    assert not w.is_main and w.distributed


@pytest.mark.parametrize(("env", "names"), [
    ({"WORLD_SIZE": "two"}, "WORLD_SIZE='two'"),
    ({"WORLD_SIZE": "2", "RANK": "2"}, "RANK=2"),
    ({"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "5"}, "LOCAL_RANK=5"),
    ({"WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "3"}, "LOCAL_WORLD_SIZE=3"),
])
def test_world_info_errors_name_the_variable(env, names):
    with pytest.raises(ConfigError, match=re.escape(names)):
        world_info(env)


@given(world=st.integers(1, 64), data=st.data())
def test_world_info_round_trips_valid_launches(world, data):
    local_world = data.draw(st.sampled_from([d for d in range(1, world + 1) if world % d == 0]))
    rank = data.draw(st.integers(0, world - 1))
    env = {"WORLD_SIZE": str(world), "RANK": str(rank), "LOCAL_RANK": str(rank % local_world),
           "LOCAL_WORLD_SIZE": str(local_world)}
    w = world_info(env)
    assert (w.world_size, w.rank, w.local_rank, w.local_world_size) == (world, rank, rank % local_world, local_world)
    assert w.is_main == (rank == 0)
    layout = detect_layout({**env, "ACCELERATE_USE_FSDP": "true"})
    assert layout.sharding in SHARDINGS and 1 <= layout.num_devices <= world


@pytest.mark.parametrize(("env", "expected"), [
    ({}, (1, "none", "none")),
    ({"WORLD_SIZE": "2"}, (2, "ddp", "ddp")),
    ({"WORLD_SIZE": "8", "ACCELERATE_USE_FSDP": "true"}, (8, "fsdp", "fsdp")),
    ({"WORLD_SIZE": "8", **FSDP_ENV, "FSDP_SHARDING_STRATEGY": "SHARD_GRAD_OP"}, (8, "zero2", "fsdp")),
    ({"WORLD_SIZE": "8", "ACCELERATE_USE_FSDP": "true", "FSDP_SHARDING_STRATEGY": "3"}, (8, "ddp", "fsdp")),
    ({"WORLD_SIZE": "8", "LOCAL_WORLD_SIZE": "4", **FSDP_ENV, "FSDP_SHARDING_STRATEGY": "HYBRID_SHARD"},
     (4, "fsdp", "fsdp")),
    ({"WORLD_SIZE": "4", "ACCELERATE_USE_FSDP": "true", "FSDP_VERSION": "2", "FSDP_RESHARD_AFTER_FORWARD": "false"},
     (4, "zero2", "fsdp")),
    ({"WORLD_SIZE": "4", **DS_ENV, "ACCELERATE_DEEPSPEED_ZERO_STAGE": "2"}, (4, "zero2", "deepspeed")),
    ({"WORLD_SIZE": "4", **DS_ENV, "ACCELERATE_DEEPSPEED_ZERO_STAGE": "3"}, (4, "zero3", "deepspeed")),
    ({"WORLD_SIZE": "4", **DS_ENV, "ACCELERATE_DEEPSPEED_ZERO_STAGE": "1"}, (4, "ddp", "deepspeed")),
    ({"ACCELERATE_USE_DEEPSPEED": "true", "ACCELERATE_DEEPSPEED_ZERO_STAGE": "3"}, (1, "zero3", "deepspeed")),
])
def test_detect_layout_from_launcher_variables(env, expected):
    layout = detect_layout(env)
    assert (layout.num_devices, layout.sharding, layout.engine) == expected


def test_detect_layout_reads_the_deepspeed_json_stage(tmp_path):
    ds = tmp_path / "ds.json"
    ds.write_text(json.dumps({"zero_optimization": {"stage": 3}, "train_batch_size": "auto"}))
    env = {"WORLD_SIZE": "2", **DS_ENV, "ACCELERATE_DEEPSPEED_CONFIG_FILE": str(ds)}
    layout = detect_layout(env)
    assert layout.sharding == "zero3" and str(ds) in layout.source
    ds.write_text("{not json")
    with pytest.raises(ConfigError, match=re.escape(f"{ds}:1: DeepSpeed config is not valid JSON")):
        detect_layout(env)


@pytest.mark.parametrize(("env", "match"), [
    ({"WORLD_SIZE": "2", "ACCELERATE_USE_FSDP": "true", "FSDP_SHARDING_STRATEGY": "HALF_SHARD"},
     "FSDP_SHARDING_STRATEGY='HALF_SHARD' is not a sharding strategy; valid choices: FULL_SHARD"),
    ({"WORLD_SIZE": "2", "ACCELERATE_USE_DEEPSPEED": "true", "ACCELERATE_DEEPSPEED_ZERO_STAGE": "4"},
     "ACCELERATE_DEEPSPEED_ZERO_STAGE=4 is not a ZeRO stage; valid choices: 0, 1, 2, 3"),
])
def test_detect_layout_errors_name_variable_and_choices(env, match):
    with pytest.raises(ConfigError, match=re.escape(match)):
        detect_layout(env)


def _config(method: dict | None = None, **training) -> TrainConfig:
    return TrainConfig.from_dict({"model": "llama-3.2-1b", "train_path": "train.jsonl", "training": training,
                                  **(method or {})})


FSDP2 = Layout(2, "fsdp", "test", False, "fsdp")
ZERO3 = Layout(2, "zero3", "test", False, "deepspeed")


@pytest.mark.parametrize(("method", "layout", "match"), [
    ({"qlora": {}}, FSDP2, "bnb_4bit_quant_storage"),
    ({"adapter": {}}, FSDP2, "adapter (bottleneck) under fsdp"),
    ({"prefix_tuning": {}}, Layout(2, "fsdp", "test", True, "fsdp"), "fsdp_activation_checkpointing"),
    ({"qlora": {}}, ZERO3, "qlora under zero3"),
])
def test_refused_method_layout_pairs(method, layout, match):
    with pytest.raises(UnsupportedError, match=re.escape(match)):
        check_compatibility(_config(method), layout)


def test_prefix_tuning_with_checkpointing_refused_even_on_one_device():
    with pytest.raises(UnsupportedError, match="training.gradient_checkpointing"):
        check_compatibility(_config({"prefix_tuning": {}}, gradient_checkpointing=True), Layout())


@pytest.mark.parametrize("method", [None, {"lora_config": {}}, {"qlora": {}}, {"adapter": {}}, {"ia3": {}}])
def test_ddp_and_fsdp_accept_the_supported_methods(method):
    check_compatibility(_config(method), Layout(2, "ddp", "test", False, "ddp"))
    if method is None or "qlora" not in method and "adapter" not in method:
        check_compatibility(_config(method), FSDP2)


def test_fsdp_and_deepspeed_launches_refused_on_cpu():
    for layout in (FSDP2, ZERO3):
        with pytest.raises(UnsupportedError, match="on CPU: accelerate shards with FSDP / DeepSpeed on GPUs only"):
            check_compatibility(_config({"lora_config": {}}), layout, "cpu")
    check_compatibility(_config({"lora_config": {}}), FSDP2, "cuda")


def test_deepspeed_launch_without_deepspeed_says_how_to_install():
    import importlib.util

    if importlib.util.find_spec("deepspeed") is not None:
        pytest.skip("deepspeed is installed here")
    with pytest.raises(UnsupportedError, match="deepspeed is not installed; pip install deepspeed"):
        check_compatibility(_config({"lora_config": {}}), Layout(2, "zero2", "DeepSpeed ZeRO-2", False, "deepspeed"))


# --- the pre-flight under a launch -----------------------------------------------------------------


def test_preflight_zero3_over_two_devices_needs_less_per_device(clean_env):
    from tunesmith.tune.trainer import preflight

    config = _config(context_length=512, train_batch_size_per_device=1)
    one = preflight(config, device="cpu", device_memory=2**40)
    zero3 = preflight(config, device="cpu", device_memory=2**40, num_devices=2, sharding="zero3")
    assert (one.num_devices, one.sharding) == (1, "none")
    assert (zero3.num_devices, zero3.sharding) == (2, "zero3")
    # full fine-tuning of a 1.2 B model: weights, gradients and AdamW state dominate and are halved
    assert zero3.required_bytes < 0.7 * one.required_bytes
    assert "per device (2 devices, zero3" in zero3.report


def test_preflight_reads_the_launch_from_the_environment(clean_env):
    from tunesmith.tune.trainer import preflight

    config = _config({"lora_config": {}}, train_batch_size_per_device=1)
    given_layout = preflight(config, device="cpu", device_memory=2**40, num_devices=2, sharding="zero3")
    for name, value in {"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0", "ACCELERATE_USE_DEEPSPEED": "true",
                        "ACCELERATE_DEEPSPEED_ZERO_STAGE": "3"}.items():
        clean_env.setenv(name, value)
    launched = preflight(config, device="cpu", device_memory=2**40)
    assert (launched.num_devices, launched.sharding) == (2, "zero3")
    assert launched.required_bytes == given_layout.required_bytes
    assert "DeepSpeed ZeRO-3 from ACCELERATE_DEEPSPEED_ZERO_STAGE" in launched.report
    # plain DDP keeps a gradient bucket beside the gradients: never less than one device
    clean_env.setenv("ACCELERATE_USE_DEEPSPEED", "false")
    ddp = preflight(config, device="cpu", device_memory=2**40)
    single = preflight(config, device="cpu", device_memory=2**40, num_devices=1, sharding="none")
    assert ddp.sharding == "ddp" and ddp.required_bytes >= single.required_bytes


def test_preflight_rejects_bad_layout_arguments(clean_env):
    from tunesmith.tune.trainer import preflight

    with pytest.raises(ArgumentError, match="num_devices=0 must be a positive integer"):
        preflight(_config(), device="cpu", num_devices=0)
    with pytest.raises(ArgumentError, match="sharding='zero4' is not valid; valid choices: none, ddp, zero2, zero3"):
        preflight(_config(), device="cpu", num_devices=2, sharding="zero4")


# --- the shipped accelerate configs ----------------------------------------------------------------


def test_shipped_accelerate_configs_exist_and_start_with_their_command():
    assert [p.name for p in ACCELERATE_CONFIGS] == ["ddp.yaml", "fsdp.yaml", "zero2.yaml", "zero3.yaml"]
    for path in ACCELERATE_CONFIGS:
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first == (f"# accelerate launch --config_file python/tunesmith/configs/accelerate/{path.name} "
                         "-m tunesmith tune CONFIG")


@pytest.mark.train
@pytest.mark.parametrize("path", ACCELERATE_CONFIGS, ids=[p.stem for p in ACCELERATE_CONFIGS])
def test_shipped_accelerate_configs_load_with_accelerate(path):
    pytest.importorskip("accelerate")
    from accelerate.commands.config.config_args import load_config_from_file
    from accelerate.utils import DistributedType

    config = load_config_from_file(str(path))  # raises on keys accelerate does not know
    kind = path.stem
    assert config.num_processes == 2 and config.use_cpu is False
    if kind == "ddp":
        assert config.distributed_type == DistributedType.MULTI_GPU
    elif kind == "fsdp":
        fsdp = config.fsdp_config
        assert config.distributed_type == DistributedType.FSDP
        assert fsdp["fsdp_sharding_strategy"] == "FULL_SHARD"
        assert fsdp["fsdp_auto_wrap_policy"] == "TRANSFORMER_BASED_WRAP"
        assert fsdp["fsdp_use_orig_params"] is True and fsdp["fsdp_state_dict_type"] == "FULL_STATE_DICT"
        # no class named: accelerate wraps the model's _no_split_modules, its decoder layer
        assert "fsdp_transformer_layer_cls_to_wrap" not in fsdp
    else:
        assert config.distributed_type == DistributedType.DEEPSPEED
        assert config.deepspeed_config["zero_stage"] == int(kind[-1])
        # batch, accumulation and clipping stay "auto": the tunesmith config decides them
        assert not {"gradient_accumulation_steps", "gradient_clipping"} & set(config.deepspeed_config)


@pytest.mark.train
def test_fsdp_config_wraps_the_decoder_layer(tiny):
    """The wrap class accelerate falls back to is the decoder layer of the model tunesmith loads."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny["model"])
    assert set(model._no_split_modules) == {"LlamaDecoderLayer"}
    assert type(model.model.layers[0]).__name__ == "LlamaDecoderLayer"


def test_layout_env_of_each_shipped_config_is_detected():
    """What accelerate launch exports for each config gives the sharding the estimator is asked for."""
    import yaml

    expected = {"ddp": "ddp", "fsdp": "fsdp", "zero2": "zero2", "zero3": "zero3"}
    for path in ACCELERATE_CONFIGS:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        env = {"WORLD_SIZE": str(data["num_processes"]), "ACCELERATE_MIXED_PRECISION": data["mixed_precision"]}
        if data["distributed_type"] == "FSDP":
            env.update(ACCELERATE_USE_FSDP="true", FSDP_VERSION=str(data["fsdp_config"]["fsdp_version"]),
                       FSDP_SHARDING_STRATEGY=data["fsdp_config"]["fsdp_sharding_strategy"])
        elif data["distributed_type"] == "DEEPSPEED":
            env.update(ACCELERATE_USE_DEEPSPEED="true",
                       ACCELERATE_DEEPSPEED_ZERO_STAGE=str(data["deepspeed_config"]["zero_stage"]))
        assert detect_layout(env).sharding == expected[path.stem], path.name


# --- two processes on CPU --------------------------------------------------------------------------

AUDIT_HOOK = '''
import atexit, json, os, sys

_root = os.environ.get("TUNESMITH_AUDIT_ROOT")
_dump = os.environ.get("TUNESMITH_AUDIT_DIR")
if _root and _dump and "RANK" in os.environ:
    _root = os.path.realpath(_root)
    _writes = set()

    def _under(path):
        try:
            p = os.path.realpath(os.fsdecode(path))
        except (TypeError, ValueError):
            return None
        return os.path.relpath(p, _root) if p == _root or p.startswith(_root + os.sep) else None

    def _hook(event, args):
        if event == "open":
            path, mode, flags = args
            writing = any(c in mode for c in "wax+") if isinstance(mode, str) else bool(
                (flags or 0) & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
            rel = _under(path) if writing and not isinstance(path, int) else None
            if rel is not None:
                _writes.add(rel)
        elif event in ("os.rename", "os.replace"):
            rel = _under(args[1])
            if rel is not None:
                _writes.add(rel)

    sys.addaudithook(_hook)

    def _save():
        with open(os.path.join(_dump, "rank%s.json" % os.environ["RANK"]), "w") as f:
            json.dump(sorted(_writes), f)

    atexit.register(_save)
'''


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(
    tiny, tmp_path: pathlib.Path, launcher: list[str], steps: int = 2
) -> tuple[subprocess.CompletedProcess, pathlib.Path, pathlib.Path]:
    out = tmp_path / "out"
    audit = tmp_path / "audit"
    hook = tmp_path / "hook"
    audit.mkdir()
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(AUDIT_HOOK, encoding="utf-8")
    config = tmp_path / "run.yaml"
    config.write_text(textwrap.dedent(f"""\
        model:
          path: {tiny['model']}
        data:
          train_path: {tiny['train']}
          valid_path: {tiny['valid']}
          max_examples: 32
        training:
          max_steps: {steps}
          train_batch_size_per_device: 4
          learning_rate: 5.0e-3
          lr_scheduler: constant
          context_length: 64
          logging_steps: 1
          save_steps: {steps}
          eval_strategy: "no"
          device: cpu
        lora_config:
          r: 4
          lora_alpha: 8
          lora_dropout: 0.0
        output_dir: {out}
        """), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(hook), os.environ.get("PYTHONPATH", "")]),
           "TUNESMITH_AUDIT_ROOT": str(out), "TUNESMITH_AUDIT_DIR": str(audit), "OMP_NUM_THREADS": "1"}
    for name in LAUNCH_ENV:
        env.pop(name, None)
    proc = subprocess.run([*launcher, "-m", "tunesmith", "tune", str(config), "--quiet"], capture_output=True,
                          text=True, timeout=900, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc, out, audit


RANK_LINE = re.compile(r"rank (\d)/2: (\d+) optimizer steps, read (\d+) training rows \((\d+) distinct, "
                       r"indices digest (\w+)\), trainable-weight checksum (\S+)")


def _check_two_rank_run(
    proc: subprocess.CompletedProcess, out: pathlib.Path, audit: pathlib.Path, tiny, steps: int
) -> None:
    import torch
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    # both ranks trained the same number of steps on different rows, and ended with the same weights
    ranks = {int(m[0]): m[1:] for m in RANK_LINE.findall(proc.stdout)}
    assert sorted(ranks) == [0, 1], proc.stdout
    for got_steps, fetched, distinct, _, _ in ranks.values():
        assert int(got_steps) == steps and int(fetched) >= steps * 4 and int(distinct) == int(fetched)
    assert ranks[0][3] != ranks[1][3], "both ranks read the same rows"
    assert ranks[0][4] == ranks[1][4], "the ranks' trainable weights differ after training"

    # one report per launch: rank 0 prints the pre-flight and the result, sized for 2 devices (ddp)
    assert proc.stdout.count("pre-flight:") == 1 and "per device (2 devices, ddp" in proc.stdout
    assert proc.stdout.count(f"wrote {out}") == 1

    # only rank 0 writes the outputs: rank 1 opened nothing under the output directory for writing
    rank0 = set(json.loads((audit / "rank0.json").read_text()))
    rank1 = set(json.loads((audit / "rank1.json").read_text()))
    assert rank1 == set(), rank1
    for name in ("log.csv", "metrics.json", "tunesmith_run.json", "loss.png", "adapter/adapter_config.json",
                 "adapter/tokenizer_config.json", f"checkpoints/checkpoint-{steps}/adapter_config.json",
                 f"checkpoints/checkpoint-{steps}/trainer_state.json"):
        assert name in rank0, (name, sorted(rank0))
    # torch.save and safetensors write natively (not audited): no file may carry a rank but the Trainer's
    # per-rank RNG state, which it saves from every rank by design so that --resume restores each rank's stream
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    for name in ("adapter/adapter_model.safetensors", f"checkpoints/checkpoint-{steps}/adapter_model.safetensors",
                 f"checkpoints/checkpoint-{steps}/optimizer.pt"):
        assert name in files, (name, files)
    ranked = [f for f in files if re.search(r"rank|_[01]\.", pathlib.Path(f).name)]
    ckpt = f"checkpoints/checkpoint-{steps}"
    assert ranked == [f"{ckpt}/rng_state_0.pth", f"{ckpt}/rng_state_1.pth"], files
    log_steps = [int(line.split(",")[0]) for line in (out / "log.csv").read_text().splitlines()[1:]]
    assert log_steps[: steps] == list(range(1, steps + 1)), log_steps  # once each, not once per rank
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["sharding"] == "ddp" and metrics["steps"] == steps

    # the saved adapter loads with PEFT, holds the weights both ranks reported, and gives finite logits
    saved = load_file(str(out / "adapter" / "adapter_model.safetensors"))
    total = sum(float(t.double().sum()) for t in saved.values())
    assert total == pytest.approx(float(ranks[0][4]), rel=1e-9, abs=1e-12)
    base = AutoModelForCausalLM.from_pretrained(tiny["model"], dtype=torch.float32)
    model = PeftModel.from_pretrained(base, str(out / "adapter"))
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([[5, 6, 7, 8]])).logits
    assert logits.shape == (1, 4, base.config.vocab_size) and torch.isfinite(logits).all()
    b = next(v for k, v in saved.items() if "lora_B" in k)
    assert float(b.abs().sum()) > 0, "lora_B is still its zero init: nothing was trained"


@pytest.mark.train
def test_torchrun_two_processes_on_cpu(tiny, tmp_path):
    port = str(_free_port())
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", port]
    proc, out, audit = _launch(tiny, tmp_path, launcher)
    _check_two_rank_run(proc, out, audit, tiny, steps=2)


@pytest.mark.train
@pytest.mark.slow
def test_accelerate_launch_with_the_shipped_ddp_config_on_cpu(tiny, tmp_path):
    pytest.importorskip("accelerate")
    config = ROOT / "python" / "tunesmith" / "configs" / "accelerate" / "ddp.yaml"
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config),
                "--main_process_port", str(_free_port())]
    proc, out, audit = _launch(tiny, tmp_path, launcher)
    assert "accelerate, WORLD_SIZE=2" in proc.stdout
    _check_two_rank_run(proc, out, audit, tiny, steps=2)
