"""tunesmith serve: a real HTTP client on loopback against a tiny base with two random LoRA adapters."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import urllib.error
import urllib.request
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
peft = pytest.importorskip("peft")

pytestmark = pytest.mark.train

PROMPT = "Give the opposite of: hot"


def make_adapter(base: pathlib.Path, out: pathlib.Path, seed: int) -> pathlib.Path:
    """A LoRA adapter with random (non-zero) B, so it changes the model's outputs."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base)
    config = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    pm = peft.get_peft_model(model, config)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in pm.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=g))
    pm.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory):
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    from tunesmith.serve import DynamicAdapterServer
    from tunesmith.tune.tiny import build_tiny_model

    root = tmp_path_factory.mktemp("serve")
    base = build_tiny_model(root / "base", hidden_size=32, num_heads=2, intermediate_size=64, vocab_size=300)
    a = make_adapter(base, root / "adapter_a", seed=1)
    b = make_adapter(base, root / "adapter_b", seed=2)
    app = DynamicAdapterServer(base, adapters={"alpha": a}, model_name="tiny")
    server = app.start("127.0.0.1", 0)
    yield {"app": app, "url": server.url, "base": base, "a": a, "b": b, "root": root}
    server.shutdown()
    torch.set_num_threads(previous)


def call(url: str, method: str = "GET", body: Any = None, raw: bytes | None = None, headers: dict | None = None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def complete(url: str, model: str | None, **extra: Any):
    body = {"prompt": PROMPT, "max_tokens": 8, "temperature": 0, **extra}
    if model is not None:
        body["model"] = model
    return call(url + "/v1/completions", "POST", body)


def assert_error(status: int, body: dict, want: int, type_: str | None = None) -> None:
    assert status == want, body
    assert set(body) == {"error"} and isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["type"], str)
    if type_:
        assert body["error"]["type"] == type_


def test_binds_loopback(setup):
    assert setup["url"].startswith("http://127.0.0.1:")


def test_models_lists_base_and_adapters(setup):
    status, body = call(setup["url"] + "/v1/models")
    assert status == 200 and body["object"] == "list"
    ids = [m["id"] for m in body["data"]]
    assert ids[0] == "tiny" and "alpha" in ids
    assert next(m for m in body["data"] if m["id"] == "alpha")["parent"] == "tiny"


def test_adapters_change_outputs_and_hot_load_unload(setup):
    url, app = setup["url"], setup["app"]
    s_base, base_out = complete(url, "tiny")
    s_a, a_out = complete(url, "alpha")
    assert s_base == 200 and s_a == 200, (base_out, a_out)
    assert a_out["object"] == "text_completion" and a_out["model"] == "alpha"
    choice = a_out["choices"][0]
    assert choice["finish_reason"] in ("stop", "length") and isinstance(choice["text"], str)
    assert a_out["usage"]["total_tokens"] == a_out["usage"]["prompt_tokens"] + a_out["usage"]["completion_tokens"]
    # greedy decoding is deterministic, and the same through the Python face
    assert complete(url, "alpha")[1]["choices"][0]["text"] == choice["text"]
    assert app.generate(PROMPT, adapter="alpha", max_new_tokens=8) == choice["text"]
    assert complete(url, None)[1]["choices"][0]["text"] == base_out["choices"][0]["text"]

    # hot load a second adapter
    status, body = call(url + "/v1/adapters", "POST", {"name": "beta", "path": str(setup["b"])})
    assert status == 201 and body["id"] == "beta"
    assert "beta" in [m["id"] for m in call(url + "/v1/models")[1]["data"]]
    s_b, b_out = complete(url, "beta")
    assert s_b == 200
    texts = {"base": base_out["choices"][0]["text"], "alpha": choice["text"], "beta": b_out["choices"][0]["text"]}
    assert len(set(texts.values())) == 3, texts
    # switching back and forth does not leak one adapter into another
    assert complete(url, "alpha")[1]["choices"][0]["text"] == texts["alpha"]
    assert complete(url, "tiny")[1]["choices"][0]["text"] == texts["base"]

    # loading the same name again conflicts; unload then 404
    assert_error(*call(url + "/v1/adapters", "POST", {"name": "beta", "path": str(setup["b"])}), 409)
    status, body = call(url + "/v1/adapters/beta", "DELETE")
    assert status == 200 and body["deleted"] is True
    assert_error(*complete(url, "beta"), 404, "not_found_error")
    assert_error(*call(url + "/v1/adapters/beta", "DELETE"), 404)
    assert complete(url, "alpha")[1]["choices"][0]["text"] == texts["alpha"]

    # unloading the last adapter leaves the plain base model, which answers as before
    assert call(url + "/v1/adapters/alpha", "DELETE")[0] == 200
    assert app.model is None and app.list_adapters() == {}
    assert complete(url, "tiny")[1]["choices"][0]["text"] == texts["base"]
    assert call(url + "/v1/adapters", "POST", {"name": "alpha", "path": str(setup["a"])})[0] == 201
    assert complete(url, "alpha")[1]["choices"][0]["text"] == texts["alpha"]


def test_chat_completions(setup):
    url = setup["url"]
    body = {"model": "alpha", "messages": [{"role": "user", "content": "Give the opposite of: up"}], "max_tokens": 6, "temperature": 0}
    status, out = call(url + "/v1/chat/completions", "POST", body)
    assert status == 200, out
    assert out["object"] == "chat.completion" and out["model"] == "alpha"
    msg = out["choices"][0]["message"]
    assert msg["role"] == "assistant" and isinstance(msg["content"], str)
    assert 1 <= out["usage"]["completion_tokens"] <= 6
    again = call(url + "/v1/chat/completions", "POST", body)[1]
    assert again["choices"][0]["message"]["content"] == msg["content"]
    assert_error(*call(url + "/v1/chat/completions", "POST", {**body, "messages": [{"role": "robot", "content": "x"}]}), 400)
    assert_error(*call(url + "/v1/chat/completions", "POST", {**body, "messages": []}), 400)


def test_concurrent_requests_on_different_models_do_not_mix(setup):
    from concurrent.futures import ThreadPoolExecutor

    url = setup["url"]
    expected = {m: complete(url, m)[1]["choices"][0]["text"] for m in ("tiny", "alpha")}
    order = ["alpha", "tiny"] * 4
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(lambda m: complete(url, m), order))
    for model, (status, body) in zip(order, got):
        assert status == 200 and body["model"] == model
        assert body["choices"][0]["text"] == expected[model]


def test_sampling_with_seed_is_reproducible(setup):
    url = setup["url"]
    one = complete(url, "alpha", temperature=1.0, seed=7, max_tokens=10)[1]["choices"][0]["text"]
    two = complete(url, "alpha", temperature=1.0, seed=7, max_tokens=10)[1]["choices"][0]["text"]
    assert one == two


def test_bad_requests_get_json_4xx(setup):
    url = setup["url"]
    assert_error(*complete(url, "nope"), 404, "not_found_error")
    assert_error(*call(url + "/v1/completions", "POST", raw=b"{not json"), 400, "invalid_request_error")
    assert_error(*call(url + "/v1/completions", "POST", raw=b"[1, 2]"), 400)
    assert_error(*call(url + "/v1/completions", "POST", {"model": "tiny"}), 400)  # no prompt
    assert_error(*complete(url, "tiny", max_tokens=0), 400)
    assert_error(*complete(url, "tiny", max_tokens="many"), 400)
    assert_error(*complete(url, "tiny", temperature=-1), 400)
    assert_error(*complete(url, "tiny", stream=True), 400)
    assert_error(*complete(url, "tiny", n=2), 400)
    assert_error(*complete(url, "tiny", stop=[1]), 400)
    assert_error(*complete(url, 5), 400)
    assert_error(*call(url + "/v1/nowhere"), 404)
    assert_error(*call(url + "/v1/completions"), 405)
    assert_error(*call(url + "/v1/adapters", "POST", {"name": "x"}), 400)
    assert_error(*call(url + "/v1/adapters", "POST", {"name": "bad name!", "path": str(setup["a"])}), 400)
    assert_error(*call(url + "/v1/adapters", "POST", {"name": "ghost", "path": str(setup["root"] / "missing")}), 400)
    assert_error(*call(url + "/v1/adapters", "POST", {"name": "tiny", "path": str(setup["a"])}), 409)
    assert_error(*call(url + "/v1/adapters/tiny", "DELETE"), 400)
    assert_error(*call(url + "/v1/adapters", "POST", {"name": "a", "path": str(setup["a"])}), 400)  # clashes with "lora_"
    assert_error(*complete(url, "tiny", prompt="word " * 600, max_tokens=8), 400)  # beyond the 512-token context
    # the server is still healthy and the failed loads left nothing behind
    assert call(url + "/health") == (200, {"status": "ok"})
    assert set(setup["app"].list_adapters()) == {"alpha"}


def test_adapter_for_another_base_is_refused_and_leaves_the_base_clean(setup, tmp_path):
    from peft.tuners.tuners_utils import BaseTunerLayer
    from transformers import LlamaConfig, LlamaForCausalLM

    from tunesmith.serve import DynamicAdapterServer

    wider = LlamaForCausalLM(LlamaConfig(vocab_size=300, hidden_size=64, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2))
    wider.save_pretrained(tmp_path / "wider")
    bad = make_adapter(tmp_path / "wider", tmp_path / "wider_adapter", seed=3)
    app = DynamicAdapterServer(setup["base"])  # no adapter yet: the failed load must not leave PEFT layers behind
    before = app.generate(PROMPT, max_new_tokens=6)
    from tunesmith.errors import InputError

    with pytest.raises(InputError, match="size mismatch"):
        app.load_adapter("wider", bad)
    assert app.model is None
    assert not any(isinstance(m, BaseTunerLayer) for m in app.base_model.modules())
    assert app.generate(PROMPT, max_new_tokens=6) == before
    app.load_adapter("alpha", setup["a"])
    with pytest.raises(InputError, match="size mismatch"):
        app.load_adapter("wider", bad)
    assert list(app.model.peft_config) == ["alpha"] and app.list_adapters() == {"alpha": str(setup["a"])}
    assert app.generate(PROMPT, adapter="alpha", max_new_tokens=8) == setup["app"].generate(PROMPT, adapter="alpha", max_new_tokens=8)


def test_stop_strings_cut_the_text(setup):
    url = setup["url"]
    full = complete(url, "tiny", max_tokens=12)[1]["choices"][0]
    text = full["text"]
    if len(text.strip()) < 2:
        pytest.skip("the random model produced too little text to cut")
    stop = text.strip()[1:3]
    cut = complete(url, "tiny", max_tokens=12, stop=stop)[1]["choices"][0]
    assert cut["text"] == text[: text.find(stop)] and cut["finish_reason"] == "stop"


def test_api_key(setup):
    server = setup["app"].start("127.0.0.1", 0, api_key="s3cret")
    try:
        assert_error(*call(server.url + "/v1/models"), 401, "authentication_error")
        assert_error(*call(server.url + "/v1/models", headers={"Authorization": "Bearer wrong"}), 401)
        assert call(server.url + "/v1/models", headers={"Authorization": "Bearer s3cret"})[0] == 200
    finally:
        server.shutdown()


def test_python_face_errors(setup):
    from tunesmith.errors import ArgumentError, InputError
    from tunesmith.serve import ModelNotFoundError

    app = setup["app"]
    with pytest.raises(ModelNotFoundError):
        app.generate(PROMPT, adapter="nope")
    with pytest.raises(ArgumentError, match="max_new_tokens"):
        app.generate(PROMPT, max_new_tokens=0)
    with pytest.raises(InputError, match="no adapter_config.json"):
        app.load_adapter("x", setup["root"])
    with pytest.raises(ModelNotFoundError):
        app.unload_adapter("nope")


def test_cli_is_registered_and_light():
    from tunesmith.cli import COMMANDS

    assert COMMANDS["serve"][0] == "tunesmith.serve.cli"
    code = "import sys, tunesmith.serve.cli, tunesmith.serve; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
    out = subprocess.run([sys.executable, "-m", "tunesmith", "serve", "--help"], capture_output=True, text=True, check=True)
    assert "--adapter" in out.stdout and "127.0.0.1" in out.stdout


@pytest.mark.slow
def test_cli_serves_until_sigterm(setup):
    import signal

    proc = subprocess.Popen(
        [sys.executable, "-m", "tunesmith", "serve", str(setup["base"]), "--adapter", f"alpha={setup['a']}", "--port", "0", "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("serving "), (line, proc.stderr.read() if proc.poll() is not None else "")
        url = line.split(" at ")[1].split("/v1")[0]
        assert url.startswith("http://127.0.0.1:")
        assert [m["id"] for m in call(url + "/v1/models")[1]["data"]] == ["base", "alpha"]
        status, body = complete(url, "alpha")
        assert status == 200 and body["choices"][0]["text"] == setup["app"].generate(PROMPT, adapter="alpha", max_new_tokens=8)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        proc.stdout.close()
        proc.stderr.close()
