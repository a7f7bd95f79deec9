"""Fixtures for the data tests: a fake OpenAI-compatible server on loopback, and the tiny model/tokenizer."""

from __future__ import annotations

import json
import pathlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class Canned:
    """One answer of the fake server: a completion text, or a raw status/body (status 0: close the connection
    without answering), after an optional delay."""

    text: str | None = None
    status: int = 200
    body: bytes | None = None
    delay: float = 0.0


@dataclass
class FakeEndpoint:
    """Answers POSTs to /v1/chat/completions and /v1/completions from a queue (the last answer repeats)."""

    answers: list[Canned] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def queue(self, *answers: Canned | str) -> None:
        with self.lock:
            self.answers = [a if isinstance(a, Canned) else Canned(a) for a in answers]
            self.requests = []

    def next(self) -> Canned:
        with self.lock:
            return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


FakeEndpoint.Canned = Canned  # type: ignore[attr-defined]  # tests reach it through the fixture


def _handler(endpoint: FakeEndpoint) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length))
            with endpoint.lock:
                endpoint.requests.append({"path": self.path, "body": body,
                                          "authorization": self.headers.get("Authorization")})
            answer = endpoint.next()
            if answer.delay:
                time.sleep(answer.delay)
            if answer.status == 0:  # hang up without a word
                self.close_connection = True
                return
            if answer.body is not None:
                payload = answer.body
            elif self.path.endswith("/chat/completions"):
                payload = json.dumps({"object": "chat.completion", "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": answer.text}, "finish_reason": "stop"}]}).encode()
            else:
                payload = json.dumps({"object": "text_completion",
                                      "choices": [{"index": 0, "text": answer.text, "finish_reason": "stop"}]}).encode()
            try:
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout test)

    return Handler


@pytest.fixture(scope="module")
def fake_endpoint() -> Iterator[FakeEndpoint]:
    endpoint = FakeEndpoint()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(endpoint))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    endpoint.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    yield endpoint
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory, torch_one_thread) -> pathlib.Path:
    from tunesmith.tune.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", num_layers=1)


@pytest.fixture(scope="session")
def tokenizer(tiny_model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model)
