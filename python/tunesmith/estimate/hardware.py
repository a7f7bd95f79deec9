"""The accelerator catalog (``devices.json``): memory, bf16 TFLOP/s, bandwidth, on-demand $/h, overhead.

Memory is the vendor's figure in GiB; ``overhead_bytes`` is what a training process loses before
its first tensor (CUDA context with lazy module loading, cuBLAS/cuDNN workspaces, allocator slack;
PyTorch PR #86509 measured 287 MB for the context alone). ``"CPU"`` is this machine's RAM. Prices are
typical on-demand cloud rates per device-hour (they move; pass your own with :func:`register_device`).

Example:
    >>> get_device("h100").memory_bytes // 2**30
    80
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import pathlib
from typing import Any

from tunesmith.errors import ArgumentError

__all__ = ["Device", "device_names", "devices", "get_device", "register_device"]


@dataclasses.dataclass(frozen=True)
class Device:
    """One accelerator (or the host's RAM)."""

    name: str
    memory_bytes: int
    bf16_tflops: float
    bandwidth_gbps: float
    price_per_hour: float = 0.0
    overhead_bytes: int = 0
    vendor: str = "custom"
    note: str = ""

    @property
    def memory_gib(self) -> float:
        return self.memory_bytes / 2**30

    def __str__(self) -> str:
        return (f"{self.name} ({self.memory_gib:.0f} GiB, {self.bf16_tflops:g} bf16 TFLOP/s, "
                f"{self.bandwidth_gbps:g} GB/s, ${self.price_per_hour:.2f}/h)")


_USER: dict[str, Device] = {}


@functools.cache
def _builtin() -> tuple[dict[str, Device], dict[str, str]]:
    raw = json.loads(pathlib.Path(__file__).with_name("devices.json").read_text())
    table: dict[str, Device] = {}
    alias: dict[str, str] = {}
    for d in raw["devices"]:
        dev = Device(
            name=d["name"], memory_bytes=int(d["memory_gib"] * 2**30), bf16_tflops=float(d["bf16_tflops"]),
            bandwidth_gbps=float(d["bandwidth_gbps"]), price_per_hour=float(d["price_per_hour"]),
            overhead_bytes=int(d["overhead_mib"] * 2**20), vendor=d["vendor"], note=d.get("note", ""),
        )
        table[dev.name] = dev
        for a in [dev.name, *d["aliases"]]:
            alias[_norm(a)] = dev.name
    return table, alias


def _norm(name: str) -> str:
    return name.strip().lower().replace("_", "-").replace(" ", "-")


def _cpu() -> Device:
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        ram = 16 * 2**30
    return Device(name="CPU", memory_bytes=int(ram), bf16_tflops=1.0, bandwidth_gbps=50.0, vendor="host",
                  note="this machine's RAM")


def devices() -> list[Device]:
    """Every catalog device (built-in, then registered), and the host CPU last."""
    table, _ = _builtin()
    return [*table.values(), *_USER.values(), _cpu()]


def device_names() -> list[str]:
    return [d.name for d in devices()]


def register_device(device: Device | None = None, **fields: Any) -> Device:
    """Add a user device (a :class:`Device` or its fields) so it can be named like the built-in ones."""
    dev = device if device is not None else Device(**fields)
    if dev.memory_bytes <= 0:
        raise ArgumentError(f"memory_bytes={dev.memory_bytes!r} must be positive")
    _USER[_norm(dev.name)] = dev
    return dev


def get_device(device: Any) -> Device:
    """A :class:`Device` from a name or alias (case-insensitive), or the device itself."""
    if isinstance(device, Device):
        return device
    if isinstance(device, str):
        key = _norm(device)
        if key in _USER:
            return _USER[key]
        table, alias = _builtin()
        if key in alias:
            return table[alias[key]]
        if key in ("cpu", "ram", "host"):
            return _cpu()
    raise ArgumentError(f"device={device!r} is not in the catalog; valid choices: {', '.join(device_names())}")
