"""A small client for any OpenAI-compatible completions endpoint (stdlib only: ``urllib``).

It speaks ``POST {base_url}/chat/completions`` (default) or ``POST {base_url}/completions`` as the OpenAI API,
vLLM, llama.cpp's server, Ollama's ``/v1`` and ``tunesmith serve`` do, with an optional bearer key. It has the
``await client.generate(prompt=..., system=...)`` method the seed guide's ``SyntheticDataGenerator`` and
``DataAugmenter`` call, and a blocking :meth:`CompletionClient.complete`.

Failures raise :class:`EndpointError` saying which URL failed and how (HTTP status with the server's own
message, timeout, refused connection, an answer that is not an OpenAI-shaped JSON object). Connection errors,
timeouts, 429 and 5xx answers are retried ``retries`` times with exponential backoff.

    >>> client = CompletionClient("http://127.0.0.1:8000/v1", model="base")    # doctest: +SKIP
    >>> client.complete("Say hi", system="Be brief.")                        # doctest: +SKIP
    'Hi!'
"""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Literal

from tunesmith.errors import ArgumentError, TunesmithError

__all__ = ["CompletionClient", "EndpointError"]

_RETRY_STATUS = {408, 429, 500, 502, 503, 504}


class EndpointError(TunesmithError, ConnectionError):
    """The completions endpoint failed: the message names the URL and what went wrong."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class CompletionClient:
    """Client of an OpenAI-compatible completions API.

    Args:
        base_url: The API root, e.g. ``http://127.0.0.1:8000/v1`` (a bare ``http://host:port`` gets ``/v1``).
        api_key: Sent as ``Authorization: Bearer KEY`` when given.
        model: The ``model`` field of each request (``None``: leave it out; the server picks its default).
        endpoint: ``chat`` (``/chat/completions``, messages) or ``completions`` (``/completions``, a prompt).
        timeout: Seconds to wait for each answer.
        max_tokens: Default ``max_tokens`` of each request.
        temperature: Default sampling temperature.
        retries: Extra attempts after a connection error, timeout, 429 or 5xx.
        backoff: Seconds before the first retry; doubled each time.

    Raises:
        ArgumentError: an unusable ``base_url`` or ``endpoint``, or a non-positive ``timeout``.
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        model: str | None = None,
        endpoint: Literal["chat", "completions"] = "chat",
        timeout: float = 120.0,
        max_tokens: int = 1024,
        temperature: float = 0.7,
        retries: int = 2,
        backoff: float = 0.5,
    ) -> None:
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ArgumentError(f"base_url: expected http(s)://host[:port][/path], got {base_url!r}")
        if endpoint not in ("chat", "completions"):
            raise ArgumentError(f"endpoint: {endpoint!r} is not one of chat, completions")
        if not timeout > 0:
            raise ArgumentError(f"timeout: must be > 0 seconds, got {timeout}")
        if retries < 0:
            raise ArgumentError(f"retries: must be >= 0, got {retries}")
        path = parts.path.rstrip("/") or "/v1"
        self.base_url = urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", ""))
        self.api_key = api_key
        self.model = model
        self.endpoint = endpoint
        self.timeout = timeout
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.retries = retries
        self.backoff = backoff

    def __repr__(self) -> str:
        key = "set" if self.api_key else "none"
        return f"CompletionClient({self.base_url!r}, model={self.model!r}, endpoint={self.endpoint!r}, api_key={key})"

    @property
    def url(self) -> str:
        """The URL requests go to."""
        return f"{self.base_url}/{'chat/completions' if self.endpoint == 'chat' else 'completions'}"

    def _body(self, prompt: str, system: str | None, max_tokens: int | None, temperature: float | None,
              stop: list[str] | None, seed: int | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "max_tokens": self.max_tokens if max_tokens is None else max_tokens,
            "temperature": self.temperature if temperature is None else temperature,
        }
        if self.model is not None:
            body["model"] = self.model
        if stop:
            body["stop"] = stop
        if seed is not None:
            body["seed"] = seed
        if self.endpoint == "chat":
            messages = [{"role": "system", "content": system}] if system else []
            body["messages"] = [*messages, {"role": "user", "content": prompt}]
        else:
            body["prompt"] = f"{system}\n\n{prompt}" if system else prompt
        return body

    def _post(self, body: dict[str, Any]) -> Any:
        url = self.url
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        data = json.dumps(body).encode("utf-8")
        attempt = 0
        while True:
            request = urllib.request.Request(url, data=data, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    raw = response.read()
                break
            except urllib.error.HTTPError as exc:
                detail = _server_message(exc)
                error = EndpointError(f"{url}: HTTP {exc.code} {exc.reason}{': ' + detail if detail else ''}",
                                      status=exc.code)
                retry = exc.code in _RETRY_STATUS
            except (TimeoutError, socket.timeout):
                error = EndpointError(f"{url}: no answer within {self.timeout:g} s (timeout=)")
                retry = True
            except urllib.error.URLError as exc:
                reason = exc.reason
                if isinstance(reason, (TimeoutError, socket.timeout)):
                    error = EndpointError(f"{url}: no answer within {self.timeout:g} s (timeout=)")
                else:
                    error = EndpointError(f"{url}: cannot connect: {reason}")
                retry = True
            except (OSError, http.client.HTTPException) as exc:  # reset, remote disconnect, truncated answer
                error = EndpointError(f"{url}: connection failed: {exc!r}")
                retry = True
            if not retry or attempt >= self.retries:
                if attempt:
                    raise EndpointError(f"{error} (after {attempt + 1} attempts)", status=error.status) from None
                raise error from None
            time.sleep(self.backoff * 2**attempt)
            attempt += 1
        try:
            return json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise EndpointError(f"{url}: the answer is not JSON ({exc}): {raw[:200]!r}") from None

    def complete(
        self,
        prompt: str,
        *,
        system: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: list[str] | None = None,
        seed: int | None = None,
    ) -> str:
        """One completion: the text of the first choice.

        Args:
            prompt: The user message (chat) or the prompt (completions).
            system: A system message (chat) or a preamble to the prompt (completions).
            max_tokens: Overrides the client's default.
            temperature: Overrides the client's default.
            stop: Stop strings.
            seed: Sampling seed, for servers that take one.

        Raises:
            EndpointError: the request failed or the answer has no text where the OpenAI API puts it.
        """
        answer = self._post(self._body(prompt, system, max_tokens, temperature, stop, seed))
        where = "choices[0].message.content" if self.endpoint == "chat" else "choices[0].text"
        try:
            choice = answer["choices"][0]
            text = choice["message"]["content"] if self.endpoint == "chat" else choice["text"]
        except (KeyError, IndexError, TypeError):
            text = None
        if not isinstance(text, str):
            raise EndpointError(f"{self.url}: the answer has no string at {where}: {json.dumps(answer)[:200]}")
        return text

    async def generate(self, prompt: str, system: str | None = None, **kwargs: Any) -> str:
        """:meth:`complete` without blocking the event loop (the seed guide's ``llm.generate``)."""
        return await asyncio.to_thread(self.complete, prompt, system=system, **kwargs)


def _server_message(exc: urllib.error.HTTPError) -> str:
    """The server's error text: OpenAI's ``{"error": {"message"}}`` or the start of the body."""
    try:
        raw = exc.read()
    except OSError:
        return ""
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return raw[:200].decode("utf-8", "replace").strip()
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return err["message"]
        if isinstance(err, str):
            return err
    return json.dumps(body)[:200]
