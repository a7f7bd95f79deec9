"""Multi-process launches: which process this is, which one writes, and how the model is sharded.

tunesmith has no distributed code of its own. ``tunesmith tune CONFIG`` drives the
transformers Trainer, so the launchers that start one process per device give data
parallel training, FSDP and DeepSpeed ZeRO unchanged::

    torchrun --nproc_per_node 2 -m tunesmith tune run.yaml
    accelerate launch --config_file python/tunesmith/configs/accelerate/fsdp.yaml -m tunesmith tune run.yaml

This module reads what the launcher says about the process (``WORLD_SIZE``,
``RANK``, ``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``) and about the sharding
(``ACCELERATE_USE_FSDP`` with ``FSDP_SHARDING_STRATEGY`` / ``FSDP_RESHARD_AFTER_FORWARD``,
``ACCELERATE_USE_DEEPSPEED`` with ``ACCELERATE_DEEPSPEED_ZERO_STAGE`` or the
``zero_optimization.stage`` of ``ACCELERATE_DEEPSPEED_CONFIG_FILE``). The layout is
taken from the launch rather than from a key in the YAML on purpose: the same
config then runs on one device or many, and the pre-flight check sizes exactly
the launch that is running (:func:`detect_layout`). The process group itself is
created by accelerate, the library the Trainer uses (:func:`init_process_group`).

Which method combines with which layout: "yes" is accepted at start, "refused" raises
UnsupportedError before any weights load (:func:`check_compatibility`); what was actually
trained under a launcher is listed after the notes. FSDP and DeepSpeed need GPUs.

============== ========= ========= ========================= =========================
method         ddp       zero2     fsdp (FULL_SHARD)         zero3
============== ========= ========= ========================= =========================
full           yes       yes       yes                       yes
lora / dora    yes       yes       yes (use_orig_params)     yes
ia3, prompt    yes       yes       yes (use_orig_params)     yes
prefix_tuning  yes [1]   yes [1]   yes [1]                   yes [1]
adapter        yes       yes       refused [2]               refused [2]
qlora          yes       yes       refused [3]               refused [3]
dpo            yes [4]   yes [4]   yes [4]                   yes [4]
============== ========= ========= ========================= =========================

[1] PEFT refuses prefix tuning with gradient (activation) checkpointing, so
    ``training.gradient_checkpointing: true`` or ``fsdp_activation_checkpointing: true``
    with a ``prefix_tuning`` block is refused before any weights load.
[2] tunesmith's own bottleneck adapters are saved from the unsharded module; under
    FULL_SHARD / ZeRO-3 each rank holds a slice, so the combination is refused
    rather than saving a slice.
[3] QLoRA under FSDP or ZeRO-3 needs the 4-bit weights stored in the compute dtype
    (``BitsAndBytesConfig(bnb_4bit_quant_storage=<compute dtype>)``) so they flatten
    with the bf16 adapter weights, and a model loaded without a per-rank
    ``device_map``; tunesmith's loader places each rank's quantized copy on its own
    GPU (the DDP layout), so these launches are refused with that explanation.
[4] ``tunesmith.tune.dpo`` runs TRL's DPOTrainer on the same Trainer machinery, with the same
    rank-0 guards on every file it writes (model, metrics.json, run file, plot, log.csv); it was
    not run under a launcher here.

What was run: DDP on CPU (gloo) with ``torchrun --nproc_per_node 2`` and with
``accelerate launch --config_file configs/accelerate/ddp.yaml`` (tests/tune/test_distributed_train.py).
accelerate runs FSDP and DeepSpeed on accelerators only (an FSDP config on CPU would
quietly train plain DDP, so tunesmith refuses it there), the development machine has
no GPU and DeepSpeed is not installed in it: fsdp.yaml, zero2.yaml and zero3.yaml are
validated against accelerate's config schema and the sharding each one exports is
detected in tests, but no training ran under them.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from tunesmith.errors import ConfigError, UnsupportedError

__all__ = [
    "SHARDINGS",
    "Layout",
    "WorldInfo",
    "check_compatibility",
    "detect_layout",
    "init_process_group",
    "main_process_first",
    "world_info",
]

SHARDINGS: tuple[str, ...] = ("none", "ddp", "zero2", "zero3", "fsdp")

# torch.distributed.fsdp.ShardingStrategy: accelerate passes the name or its 1-based number
_FSDP1_STRATEGIES = {
    "FULL_SHARD": "fsdp", "1": "fsdp",
    "SHARD_GRAD_OP": "zero2", "2": "zero2",
    "NO_SHARD": "ddp", "3": "ddp",
    "HYBRID_SHARD": "fsdp", "4": "fsdp",
    "_HYBRID_SHARD_ZERO2": "zero2", "HYBRID_SHARD_ZERO2": "zero2", "5": "zero2",
}
_TRUE = ("1", "true", "yes", "on")


def _int_env(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"environment variable {name}={raw!r} is not an integer") from None


@dataclass(frozen=True)
class WorldInfo:
    """Where this process sits in a launch: ``world_size`` processes in all, this one is ``rank``.

    Attributes:
        world_size: processes in the launch (1 without a launcher).
        rank: this process's global index, 0-based.
        local_rank: its index on this machine; the device it trains on (``cuda:<local_rank>``).
        local_world_size: processes on this machine.
    """

    world_size: int = 1
    rank: int = 0
    local_rank: int = 0
    local_world_size: int = 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes files and prints reports."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """More than one process."""
        return self.world_size > 1

    def __str__(self) -> str:
        if not self.distributed:
            return "single process"
        return f"rank {self.rank} of {self.world_size} (local rank {self.local_rank} of {self.local_world_size})"


def world_info(env: Mapping[str, str] | None = None) -> WorldInfo:
    """Read ``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK`` and ``LOCAL_WORLD_SIZE`` as torchrun and accelerate set them.

    Args:
        env: the environment to read (default ``os.environ``).

    Returns:
        The process's :class:`WorldInfo`; a plain ``python`` run is rank 0 of 1.

    Raises:
        ConfigError: a variable is not an integer or the ranks are out of range (the message names it).

    Example:
        >>> world_info({"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1"}).is_main
        False
    """
    env = os.environ if env is None else env
    world_size = _int_env(env, "WORLD_SIZE", 1)
    rank = _int_env(env, "RANK", 0)
    local_rank = _int_env(env, "LOCAL_RANK", 0)
    local_world_size = _int_env(env, "LOCAL_WORLD_SIZE", world_size)
    if world_size < 1:
        raise ConfigError(f"environment variable WORLD_SIZE={world_size} must be at least 1")
    if not 0 <= rank < world_size:
        raise ConfigError(f"environment variable RANK={rank} must be in 0..{world_size - 1} (WORLD_SIZE={world_size})")
    if not 1 <= local_world_size <= world_size:
        raise ConfigError(
            f"environment variable LOCAL_WORLD_SIZE={local_world_size} must be in 1..{world_size} "
            f"(WORLD_SIZE={world_size})"
        )
    if not 0 <= local_rank < local_world_size:
        raise ConfigError(
            f"environment variable LOCAL_RANK={local_rank} must be in 0..{local_world_size - 1} "
            f"(LOCAL_WORLD_SIZE={local_world_size})"
        )
    return WorldInfo(world_size, rank, local_rank, local_world_size)


@dataclass(frozen=True)
class Layout:
    """How a launch spreads one training step, in the memory estimator's terms.

    Attributes:
        num_devices: devices the model state is sharded over (the estimator's ``num_devices``).
        sharding: ``none``, ``ddp``, ``zero2``, ``zero3`` or ``fsdp`` (the estimator's ``sharding``).
        source: where the layout was read from, for reports.
        activation_checkpointing: the launcher turned on FSDP activation checkpointing.
        engine: who distributes the model: ``none``, ``ddp`` (torch DDP), ``fsdp`` or ``deepspeed``. Under
            ``fsdp`` and ``deepspeed`` the engine places the weights; tunesmith does not move them to a GPU.
    """

    num_devices: int = 1
    sharding: str = "none"
    source: str = "single process"
    activation_checkpointing: bool = False
    engine: str = "none"

    def __str__(self) -> str:
        if self.num_devices == 1 and self.sharding == "none":
            return "1 device"
        return f"{self.num_devices} devices, {self.sharding} ({self.source})"


def _deepspeed_stage(env: Mapping[str, str]) -> tuple[int, str]:
    """ZeRO stage and the place it was read from."""
    if env.get("ACCELERATE_DEEPSPEED_ZERO_STAGE", "") != "":
        return _int_env(env, "ACCELERATE_DEEPSPEED_ZERO_STAGE", 0), "ACCELERATE_DEEPSPEED_ZERO_STAGE"
    path = env.get("ACCELERATE_DEEPSPEED_CONFIG_FILE")
    if path:
        try:
            data = json.loads(pathlib.Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(
                f"ACCELERATE_DEEPSPEED_CONFIG_FILE={path}: cannot read it ({exc.strerror or exc})"
            ) from exc
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}:{exc.lineno}: DeepSpeed config is not valid JSON ({exc.msg})") from exc
        stage = data.get("zero_optimization", {}).get("stage", 0) if isinstance(data, dict) else 0
        if not isinstance(stage, int) or isinstance(stage, bool):
            raise ConfigError(f"{path}: zero_optimization.stage={stage!r} is not one of 0, 1, 2, 3")
        return stage, f"{path} zero_optimization.stage"
    return 0, "DeepSpeed default (no ZeRO stage given)"


def detect_layout(
    env: Mapping[str, str] | None = None, *, world: WorldInfo | None = None
) -> Layout:
    """The sharding the running launch uses, from accelerate's environment variables.

    ``accelerate launch`` with an FSDP config sets ``ACCELERATE_USE_FSDP=true`` and the
    strategy (``FSDP_SHARDING_STRATEGY`` for FSDP1, ``FSDP_RESHARD_AFTER_FORWARD`` for
    FSDP2); with a DeepSpeed config ``ACCELERATE_USE_DEEPSPEED=true`` and the ZeRO
    stage. Anything else with several processes is plain data parallel (``ddp``).
    ZeRO-1 (optimizer state sharded only) is sized as ``ddp``, which overstates it.
    HYBRID_SHARD shards within a machine, so its ``num_devices`` is the local world size.
    An FSDP or DeepSpeed launch keeps its sharding even with one process (the
    estimator treats sharding over one device as none), so what it refuses is refused
    whatever the process count.

    Args:
        env: the environment to read (default ``os.environ``).
        world: the process's :class:`WorldInfo` (default: read from ``env``).

    Returns:
        A :class:`Layout` for :func:`tunesmith.estimate.estimate` (``num_devices``, ``sharding``).

    Raises:
        ConfigError: an unknown FSDP strategy or ZeRO stage (the message names the variable and the choices).

    Example:
        >>> detect_layout({"WORLD_SIZE": "4", "ACCELERATE_USE_DEEPSPEED": "true",
        ...                "ACCELERATE_DEEPSPEED_ZERO_STAGE": "3"}).sharding
        'zero3'
    """
    env = os.environ if env is None else env
    world = world or world_info(env)
    n = world.world_size
    ckpt = env.get("FSDP_ACTIVATION_CHECKPOINTING", "false").lower() in _TRUE
    if env.get("ACCELERATE_USE_FSDP", "false").lower() in _TRUE:
        version = env.get("FSDP_VERSION", "1")
        if version == "2":
            reshard = env.get("FSDP_RESHARD_AFTER_FORWARD", "true").lower()
            sharding = "fsdp" if reshard in _TRUE else "zero2"
            source = f"FSDP2, FSDP_RESHARD_AFTER_FORWARD={reshard}"
        else:
            strategy = env.get("FSDP_SHARDING_STRATEGY", "FULL_SHARD").upper()
            if strategy not in _FSDP1_STRATEGIES:
                raise ConfigError(
                    f"environment variable FSDP_SHARDING_STRATEGY={strategy!r} is not a sharding strategy; "
                    "valid choices: FULL_SHARD, SHARD_GRAD_OP, NO_SHARD, HYBRID_SHARD, HYBRID_SHARD_ZERO2 (or 1..5)"
                )
            sharding = _FSDP1_STRATEGIES[strategy]
            source = f"FSDP, FSDP_SHARDING_STRATEGY={strategy}"
            if strategy in ("HYBRID_SHARD", "4", "_HYBRID_SHARD_ZERO2", "HYBRID_SHARD_ZERO2", "5"):
                n = world.local_world_size
        return Layout(n, sharding, source, ckpt, "fsdp")
    if env.get("ACCELERATE_USE_DEEPSPEED", "false").lower() in _TRUE:
        stage, where = _deepspeed_stage(env)
        if stage not in (0, 1, 2, 3):
            raise ConfigError(f"{where}={stage} is not a ZeRO stage; valid choices: 0, 1, 2, 3")
        sharding = {0: "ddp", 1: "ddp", 2: "zero2", 3: "zero3"}[stage]
        return Layout(n, sharding, f"DeepSpeed ZeRO-{stage} from {where}", False, "deepspeed")
    if n > 1:
        launcher = "accelerate" if "ACCELERATE_MIXED_PRECISION" in env else "torchrun"
        return Layout(n, "ddp", f"{launcher}, WORLD_SIZE={n}", False, "ddp")
    return Layout()


def check_compatibility(config: Any, layout: Layout, device: str | None = None) -> None:
    """Refuse, before any weights load, the method × layout pairs of the module's table that cannot work.

    Args:
        config: the run's :class:`~tunesmith.tune.config.TrainConfig`.
        layout: the launch's :class:`Layout`.
        device: ``cpu`` or ``cuda`` when known: accelerate runs FSDP and DeepSpeed on accelerators only
            (on CPU it would quietly train plain DDP under an FSDP config), so those launches are refused on CPU.

    Raises:
        UnsupportedError: the message says which pair, why, and what runs instead.
    """
    method = config.method
    if device == "cpu" and layout.engine in ("fsdp", "deepspeed"):
        raise UnsupportedError(
            f"{layout.source} on CPU: accelerate shards with FSDP / DeepSpeed on GPUs only and would train plain "
            "DDP here; launch with configs/accelerate/ddp.yaml or torchrun on CPU"
        )
    if method == "prefix_tuning" and (config.training.gradient_checkpointing or layout.activation_checkpointing):
        where = ("training.gradient_checkpointing" if config.training.gradient_checkpointing
                 else "fsdp_activation_checkpointing in the accelerate config")
        raise UnsupportedError(
            f"prefix_tuning with {where}: PEFT refuses prefix tuning with gradient checkpointing; turn it off"
        )
    sharded = layout.sharding in ("fsdp", "zero3")
    if method == "qlora" and sharded:
        raise UnsupportedError(
            f"qlora under {layout.sharding} ({layout.source}): sharding a 4-bit base needs "
            "BitsAndBytesConfig(bnb_4bit_quant_storage=<compute dtype>) and a model loaded without a per-rank "
            "device_map, which tunesmith's loader does not do; launch with configs/accelerate/ddp.yaml or zero2.yaml "
            "(one quantized copy per GPU), or drop the qlora block to train LoRA under FSDP/ZeRO-3"
        )
    if method == "adapter" and sharded:
        raise UnsupportedError(
            f"adapter (bottleneck) under {layout.sharding} ({layout.source}): its weights are saved from the "
            "unsharded module; launch with configs/accelerate/ddp.yaml or zero2.yaml, or use lora_config"
        )
    if layout.engine == "deepspeed":
        import importlib.util

        if importlib.util.find_spec("deepspeed") is None:
            raise UnsupportedError(
                f"the launch asks for {layout.source} but deepspeed is not installed; pip install deepspeed "
                "(it needs a CUDA toolchain), or launch with configs/accelerate/ddp.yaml or fsdp.yaml"
            )


def init_process_group(device: str) -> None:
    """Let accelerate create the process group now (gloo on CPU, nccl on CUDA), so the data can be prepared
    rank by rank before the Trainer exists; the Trainer later finds it initialized and reuses it.

    Does nothing in a single-process run.

    Args:
        device: ``cpu`` or ``cuda``, the device training runs on.
    """
    if not world_info().distributed:
        return
    from accelerate import PartialState

    PartialState(cpu=device == "cpu")


@contextlib.contextmanager
def main_process_first(world: WorldInfo | None = None, *, local: bool = True) -> Iterator[None]:
    """Run the block on the (local) main process first, then on the others.

    What the block downloads or caches (hub files, tokenizer caches) is then written by
    one process and read by the rest, never written by two at once. Needs the process
    group (:func:`init_process_group`); in a single-process run it just runs the block.

    Args:
        world: the process's :class:`WorldInfo` (default: read from the environment).
        local: first per machine (``local_rank == 0``) rather than globally (``rank == 0``).
    """
    world = world or world_info()
    if not world.distributed:
        yield
        return
    import torch.distributed as dist

    first = (world.local_rank if local else world.rank) == 0
    if not first:
        dist.barrier()
    try:
        yield
    finally:
        if first:
            dist.barrier()
