"""Serve one base model with many PEFT adapters over an OpenAI-compatible HTTP API.

``from tunesmith.serve import DynamicAdapterServer`` imports torch and
transformers; the ``tunesmith serve`` command module does not until it runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tunesmith.serve.api import AdapterHTTPServer
    from tunesmith.serve.server import DynamicAdapterServer, Generation, ModelNotFoundError

__all__ = ["AdapterHTTPServer", "DynamicAdapterServer", "Generation", "ModelNotFoundError"]


def __getattr__(name: str) -> Any:
    if name in ("DynamicAdapterServer", "Generation", "ModelNotFoundError"):
        from tunesmith.serve import server

        return getattr(server, name)
    if name == "AdapterHTTPServer":
        from tunesmith.serve import api

        return api.AdapterHTTPServer
    raise AttributeError(f"module 'tunesmith.serve' has no attribute {name!r}")
