"""``tunesmith serve BASE --adapter NAME=PATH ... [--host 127.0.0.1] [--port 8000]``.

Loads the base model once, attaches each adapter, and answers the
OpenAI-compatible API (``/v1/completions``, ``/v1/chat/completions``,
``/v1/models``; ``POST /v1/adapters`` and ``DELETE /v1/adapters/NAME`` load and
unload adapters while it runs). The ``model`` field of a request picks the
adapter; the base model's id picks the base.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import signal
import sys
from types import FrameType

__all__ = ["add_arguments", "run"]


def _adapter(spec: str) -> tuple[str, str]:
    name, sep, path = spec.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=PATH, got {spec!r}")
    return name, path


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("base", help="base model directory (or hub id) for from_pretrained")
    parser.add_argument(
        "--adapter", action="append", type=_adapter, default=[], metavar="NAME=PATH",
        help="a PEFT adapter to serve as model NAME (repeatable)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, loopback only)")
    parser.add_argument("--port", type=int, default=8000, help="port (0: any free port; default 8000)")
    parser.add_argument("--model-name", default=None, help="id the base model is served as (default: its directory name)")
    parser.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"], help="weights dtype")
    parser.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--max-tokens-limit", type=int, default=1024, help="largest max_tokens a request may ask for")
    parser.add_argument("--quiet", action="store_true", help="do not log each request to stderr")
    parser.add_argument(
        "--api-key", default=os.environ.get("TUNESMITH_API_KEY"),
        help="require 'Authorization: Bearer KEY' on every request (default: $TUNESMITH_API_KEY, else none)",
    )


def run(args: argparse.Namespace) -> int:
    from tunesmith.errors import TunesmithError
    from tunesmith.serve.api import AdapterHTTPServer
    from tunesmith.serve.server import DynamicAdapterServer

    names = [name for name, _ in args.adapter]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        print(f"tunesmith serve: adapter names given twice: {', '.join(duplicates)}", file=sys.stderr)
        return 2
    if not _is_loopback(args.host) and not args.api_key:
        print(
            f"tunesmith serve: warning: binding {args.host} without --api-key; anyone who can reach it can "
            "generate and load adapters from this machine's paths",
            file=sys.stderr,
        )
    try:
        app = DynamicAdapterServer(
            args.base,
            adapters=dict(args.adapter),
            model_name=args.model_name,
            dtype=args.dtype,
            device=args.device,
            max_new_tokens_limit=args.max_tokens_limit,
        )
        server = AdapterHTTPServer((args.host, args.port), app, api_key=args.api_key)
    except (TunesmithError, OSError) as e:
        print(f"tunesmith serve: {e}", file=sys.stderr)
        return 1
    request_log = logging.getLogger("tunesmith.serve")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    request_log.addHandler(handler)
    request_log.setLevel(logging.WARNING if args.quiet else logging.INFO)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    with server:
        print(f"serving {', '.join(app.models())} at {server.url}/v1 (Ctrl-C to stop)", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            print("stopped", file=sys.stderr)
    return 0
