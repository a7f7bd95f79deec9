"""The OpenAI-compatible HTTP API over a :class:`DynamicAdapterServer` (stdlib ``http.server``).

Endpoints:

- ``GET  /v1/models``                  the base and every loaded adapter
- ``POST /v1/completions``             ``{"model", "prompt", "max_tokens", "temperature", "top_p", "seed", "stop"}``
- ``POST /v1/chat/completions``        ``{"model", "messages", ...}`` rendered with the tokenizer's chat template
- ``POST /v1/adapters``                ``{"name", "path"}`` loads an adapter while serving
- ``DELETE /v1/adapters/NAME``         unloads it
- ``GET  /health``

The ``model`` field picks the adapter; the base model's id (or no ``model``)
picks the base. Errors are JSON ``{"error": {"message", "type", "param", "code"}}``
with a 4xx status for anything wrong with the request.
"""

from __future__ import annotations

import hmac
import json
import logging
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from tunesmith.errors import ArgumentError, InputError, UnsupportedError

if TYPE_CHECKING:
    from tunesmith.serve.server import DynamicAdapterServer

__all__ = ["AdapterHTTPServer", "ApiError"]

log = logging.getLogger("tunesmith.serve")

MAX_BODY_BYTES = 1 << 20
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    405: "method_not_allowed",
    409: "conflict_error",
    411: "invalid_request_error",
    413: "invalid_request_error",
    500: "server_error",
}


class ApiError(Exception):
    """An error answered as ``{"error": {...}}`` with ``status``."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": _ERROR_TYPES.get(self.status, "invalid_request_error"),
                "param": self.param,
                "code": self.code,
            }
        }


def _number(body: dict[str, Any], key: str, default: float, lo: float, hi: float) -> float:
    value = body.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise ApiError(400, f"'{key}' must be a number in [{lo}, {hi}], got {value!r}", param=key)
    return float(value)


def _integer(body: dict[str, Any], key: str, default: int | None, lo: int, hi: int) -> int | None:
    value = body.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ApiError(400, f"'{key}' must be an integer in [{lo}, {hi}], got {value!r}", param=key)
    return value


def _stop(body: dict[str, Any]) -> list[str]:
    stop = body.get("stop")
    if stop is None:
        return []
    if isinstance(stop, str):
        return [stop]
    if isinstance(stop, list) and len(stop) <= 4 and all(isinstance(s, str) for s in stop):
        return list(stop)
    raise ApiError(400, "'stop' must be a string or a list of at most 4 strings", param="stop")


class _Handler(BaseHTTPRequestHandler):
    server: AdapterHTTPServer
    server_version = "tunesmith-serve"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        log.info("%s %s", self.address_string(), format % args)

    # -- plumbing --------------------------------------------------------------------------

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict[str, Any]:
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            raise ApiError(411, "a JSON body with a Content-Length header is required")
        try:
            length = int(length_header)
        except ValueError:
            raise ApiError(400, f"bad Content-Length {length_header!r}") from None
        if length < 0:
            raise ApiError(400, f"bad Content-Length {length_header!r}")
        if length > MAX_BODY_BYTES:
            raise ApiError(413, f"request body is {length} bytes; the limit is {MAX_BODY_BYTES}")
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ApiError(400, f"request body is not valid JSON: {e}") from None
        if not isinstance(body, dict):
            raise ApiError(400, "request body must be a JSON object")
        return body

    def _authorize(self) -> None:
        key = self.server.api_key
        if key is None:
            return
        given = self.headers.get("Authorization", "")
        if not (given.startswith("Bearer ") and hmac.compare_digest(given[7:].encode(), key.encode())):
            raise ApiError(401, "missing or wrong API key (send 'Authorization: Bearer KEY')")

    def _dispatch(self, method: str) -> None:
        path = self.path.split("?", 1)[0].rstrip("/") or "/"
        try:
            self._authorize()
            routes = {
                ("GET", "/health"): self._health,
                ("GET", "/v1/models"): self._models,
                ("POST", "/v1/completions"): self._completions,
                ("POST", "/v1/chat/completions"): self._chat,
                ("POST", "/v1/adapters"): self._load_adapter,
                ("GET", "/v1/adapters"): self._list_adapters,
            }
            if (method, path) in routes:
                routes[(method, path)]()
            elif method == "DELETE" and path.startswith("/v1/adapters/"):
                self._unload_adapter(path.removeprefix("/v1/adapters/"))
            elif any(p == path for _, p in routes) or path.startswith("/v1/adapters/"):
                raise ApiError(405, f"{method} is not allowed on {path}")
            else:
                raise ApiError(404, f"no such endpoint: {path}")
        except ApiError as e:
            self._send(e.status, e.body())
        except Exception as e:  # the request must get an answer, whatever broke
            log.exception("internal error on %s %s", method, path)
            self._send(500, ApiError(500, f"internal error: {type(e).__name__}: {e}").body())

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    # -- endpoints -------------------------------------------------------------------------

    def _health(self) -> None:
        self._send(200, {"status": "ok"})

    def _models(self) -> None:
        app = self.server.app
        created = self.server.created
        data = [{"id": app.model_name, "object": "model", "created": created, "owned_by": "tunesmith", "root": app.base_model_name, "parent": None}]
        for name, path in app.list_adapters().items():
            data.append({"id": name, "object": "model", "created": created, "owned_by": "tunesmith", "root": path, "parent": app.model_name})
        self._send(200, {"object": "list", "data": data})

    def _list_adapters(self) -> None:
        adapters = self.server.app.list_adapters()
        self._send(200, {"object": "list", "data": [{"id": n, "path": p} for n, p in adapters.items()]})

    def _resolve(self, body: dict[str, Any]) -> tuple[str, str | None]:
        app = self.server.app
        model = body.get("model")
        if model is not None and not isinstance(model, str):
            raise ApiError(400, "'model' must be a string", param="model")
        try:
            return (model or app.model_name), app.resolve(model)
        except ArgumentError as e:
            raise ApiError(404, str(e), param="model", code="model_not_found") from None

    def _sampling(self, body: dict[str, Any], max_key_default: int) -> dict[str, Any]:
        if body.get("stream"):
            raise ApiError(400, "streaming is not supported by this server; send 'stream': false", param="stream")
        if _integer(body, "n", 1, 1, 1) != 1:
            raise ApiError(400, "only n=1 is supported", param="n")
        limit = self.server.app.max_new_tokens_limit
        max_tokens = _integer(body, "max_tokens", None, 1, limit)
        if max_tokens is None:
            max_tokens = _integer(body, "max_completion_tokens", max_key_default, 1, limit)
        return {
            "max_new_tokens": max_tokens,
            "temperature": _number(body, "temperature", 1.0, 0.0, 2.0),
            "top_p": _number(body, "top_p", 1.0, 1e-9, 1.0),
            "seed": _integer(body, "seed", None, 0, 2**63 - 1),
            "stop": _stop(body),
        }

    def _generate(self, prompt: str, adapter: str | None, params: dict[str, Any], add_special_tokens: bool) -> Any:
        try:
            return self.server.app.complete(prompt, adapter, add_special_tokens=add_special_tokens, **params)
        except ArgumentError as e:
            # the adapter may have been unloaded between resolving and generating
            status = 404 if isinstance(e, LookupError) else 400
            raise ApiError(status, str(e), code="model_not_found" if status == 404 else None) from None

    @staticmethod
    def _usage(gen: Any) -> dict[str, int]:
        return {
            "prompt_tokens": gen.prompt_tokens,
            "completion_tokens": gen.completion_tokens,
            "total_tokens": gen.prompt_tokens + gen.completion_tokens,
        }

    def _completions(self) -> None:
        body = self._body()
        model, adapter = self._resolve(body)
        prompt = body.get("prompt")
        if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
            prompt = prompt[0]
        if not isinstance(prompt, str) or not prompt:
            raise ApiError(400, "'prompt' must be a non-empty string (or a list holding one)", param="prompt")
        params = self._sampling(body, 16)
        gen = self._generate(prompt, adapter, params, add_special_tokens=True)
        self._send(
            200,
            {
                "id": f"cmpl-{uuid.uuid4().hex}",
                "object": "text_completion",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "text": gen.text, "logprobs": None, "finish_reason": gen.finish_reason}],
                "usage": self._usage(gen),
            },
        )

    def _chat(self) -> None:
        body = self._body()
        model, adapter = self._resolve(body)
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise ApiError(400, "'messages' must be a non-empty list", param="messages")
        clean: list[dict[str, str]] = []
        for i, m in enumerate(messages):
            if not (isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)):
                raise ApiError(400, f"messages[{i}] must be an object with string 'role' and 'content'", param="messages")
            if m["role"] not in ("system", "user", "assistant"):
                raise ApiError(400, f"messages[{i}].role must be system, user or assistant, got {m['role']!r}", param="messages")
            clean.append({"role": m["role"], "content": m["content"]})
        params = self._sampling(body, 256)
        try:
            prompt = self.server.app.chat_prompt(clean)
        except UnsupportedError as e:
            raise ApiError(400, str(e), param="messages") from None
        gen = self._generate(prompt, adapter, params, add_special_tokens=False)
        self._send(
            200,
            {
                "id": f"chatcmpl-{uuid.uuid4().hex}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": gen.text}, "finish_reason": gen.finish_reason}
                ],
                "usage": self._usage(gen),
            },
        )

    def _load_adapter(self) -> None:
        body = self._body()
        name, path = body.get("name"), body.get("path")
        if not isinstance(name, str) or not isinstance(path, str) or not path:
            raise ApiError(400, "body must be {\"name\": str, \"path\": str}")
        app = self.server.app
        if name in app.list_adapters() or name == app.model_name:
            raise ApiError(409, f"a model named {name!r} is already being served", param="name")
        try:
            app.load_adapter(name, path)
        except (ArgumentError, InputError) as e:
            status = 409 if "already loaded" in str(e) else 400
            raise ApiError(status, str(e)) from None
        self._send(201, {"id": name, "object": "model", "path": path, "parent": app.model_name})

    def _unload_adapter(self, name: str) -> None:
        app = self.server.app
        if name == app.model_name:
            raise ApiError(400, "the base model cannot be unloaded", param="name")
        try:
            app.unload_adapter(name)
        except ArgumentError as e:
            raise ApiError(404, str(e), code="model_not_found") from None
        self._send(200, {"id": name, "object": "model", "deleted": True})


class AdapterHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server answering the OpenAI-style API for one :class:`DynamicAdapterServer`."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], app: DynamicAdapterServer, *, api_key: str | None = None) -> None:
        self.app = app
        self.api_key = api_key
        self.created = int(time.time())
        self._thread: threading.Thread | None = None
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, _Handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        host = str(self.server_address[0])
        return f"http://{'[' + host + ']' if ':' in host else host}:{self.port}"

    def start_background(self) -> None:
        """Serve from a daemon thread; :meth:`shutdown` stops it."""
        self._thread = threading.Thread(target=self.serve_forever, name="tunesmith-serve", daemon=True)
        self._thread.start()

    def shutdown(self) -> None:
        super().shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
