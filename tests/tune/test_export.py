"""GGUF export: read back with gguf.GGUFReader and compared with the torch weights; llama.cpp logits when installed."""

from __future__ import annotations

import json
import pathlib
import shutil

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tunesmith.errors import ArgumentError, InputError, UnsupportedError
from tunesmith.tune import export as export_mod
from tunesmith.tune.export import export_gguf, hf_to_gguf_name, iter_gguf_tensors, permute_qk, unpermute_qk

gguf = pytest.importorskip("gguf")

pytestmark = pytest.mark.train

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja")


def quiet(_: str) -> None:
    pass


def variant(
    tiny_dir: pathlib.Path, dest: pathlib.Path, seed: int = 1, save: dict | None = None, bf16: bool = False,
    qk_scale: float = 1.0, **overrides,
) -> pathlib.Path:
    """A random-init Llama with the tiny model's tokenizer and some config fields changed."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig.from_pretrained(tiny_dir)
    for key, value in overrides.items():
        setattr(config, key, value)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    # random norms, so a swapped or mis-typed norm tensor cannot pass as all-ones
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("norm.weight"):
                param.uniform_(0.5, 1.5)
            elif name.endswith(("q_proj.weight", "k_proj.weight")):
                param.mul_(qk_scale)
    if bf16:
        model = model.to(torch.bfloat16)
    model.save_pretrained(dest, **(save or {}))
    for name in TOKENIZER_FILES:
        if (tiny_dir / name).exists():
            shutil.copy(tiny_dir / name, dest / name)
    return dest


def state_dict(model_dir: pathlib.Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(model_dir / "model.safetensors")


def fields(path: pathlib.Path) -> dict[str, object]:
    reader = gguf.GGUFReader(path)
    return {name: field.contents() for name, field in reader.fields.items()}


@pytest.fixture(scope="module")
def gqa(tiny, tmp_path_factory) -> pathlib.Path:
    """4 query heads sharing 2 key/value heads: K is permuted with its own head count.

    Q/K are scaled up so attention is sharp: with the 0.02 init it is near uniform and a wrong RoPE layout changes
    llama.cpp's logits by ~1 % of their range, here by about all of it (0.64 against a max |logit| of 0.65).
    """
    return variant(tiny["model"], tmp_path_factory.mktemp("gqa"), num_key_value_heads=2, qk_scale=10.0)


@pytest.fixture(scope="module")
def exported(gqa, tmp_path_factory) -> dict[str, pathlib.Path]:
    out = tmp_path_factory.mktemp("gguf")
    return {kind: export_gguf(gqa, out / f"m-{kind}.gguf", outtype=kind, log=quiet).path for kind in ("f16", "q8_0")}


def expected_name(hf: str) -> str:
    name = hf_to_gguf_name(hf)
    assert name is not None
    return name


# ---------------------------------------------------------------------------------------------- permutation


def interleaved_rope(x: np.ndarray, pos: int, theta: float) -> np.ndarray:
    """llama.cpp's 'normal' RoPE on one head: rotate adjacent pairs (x0, x1), (x2, x3), ..."""
    d = x.shape[0]
    freq = theta ** (-np.arange(0, d, 2) / d)
    cos, sin = np.cos(pos * freq), np.sin(pos * freq)
    out = np.empty_like(x)
    out[0::2] = x[0::2] * cos - x[1::2] * sin
    out[1::2] = x[0::2] * sin + x[1::2] * cos
    return out


def half_rope(x: np.ndarray, pos: int, theta: float) -> np.ndarray:
    """transformers' Llama RoPE on one head: ``x * cos + rotate_half(x) * sin``."""
    d = x.shape[0]
    freq = theta ** (-np.arange(0, d, 2) / d)
    cos = np.concatenate([np.cos(pos * freq)] * 2)
    sin = np.concatenate([np.sin(pos * freq)] * 2)
    rotated = np.concatenate([-x[d // 2:], x[: d // 2]])
    return x * cos + rotated * sin


@given(
    n_head=st.integers(1, 4),
    half=st.integers(1, 8),
    pos=st.integers(0, 300),
    seed=st.integers(0, 2**31 - 1),
)
def test_permutation_turns_hf_rope_into_llama_cpp_rope(n_head, half, pos, seed):
    head_dim = 2 * half
    rng = np.random.default_rng(seed)
    weight = rng.standard_normal((n_head * head_dim, 5))
    x = rng.standard_normal(5)
    q_hf = weight @ x
    q_cpp = permute_qk(weight, n_head) @ x
    for h in range(n_head):
        rows = slice(h * head_dim, (h + 1) * head_dim)
        # rotating the permuted projection the llama.cpp way == permuting the HF-rotated projection
        np.testing.assert_allclose(
            interleaved_rope(q_cpp[rows], pos, 10000.0),
            permute_qk(half_rope(q_hf[rows], pos, 10000.0), 1),
            rtol=1e-9, atol=1e-9,
        )
    np.testing.assert_array_equal(unpermute_qk(permute_qk(weight, n_head), n_head), weight)


def test_permute_rejects_odd_heads():
    with pytest.raises(ArgumentError, match="2 heads of an even size"):
        permute_qk(np.zeros((6, 2)), 2)


def test_tensor_names_follow_llama_cpp():
    assert hf_to_gguf_name("model.embed_tokens.weight") == "token_embd.weight"
    assert hf_to_gguf_name("model.layers.11.self_attn.o_proj.weight") == "blk.11.attn_output.weight"
    assert hf_to_gguf_name("model.layers.2.self_attn.k_proj.bias") == "blk.2.attn_k.bias"
    assert hf_to_gguf_name("model.layers.0.post_attention_layernorm.weight") == "blk.0.ffn_norm.weight"
    assert hf_to_gguf_name("model.norm.weight") == "output_norm.weight"
    assert hf_to_gguf_name("model.layers.0.self_attn.rotary_emb.inv_freq") is None
    with pytest.raises(UnsupportedError, match="vision_tower"):
        hf_to_gguf_name("vision_tower.blocks.0.weight")


# ------------------------------------------------------------------------------------------------- export


def test_metadata_and_tokenizer(exported, gqa):
    from transformers import AutoTokenizer

    config = json.loads((gqa / "config.json").read_text())
    tok = AutoTokenizer.from_pretrained(gqa)
    for kind, ftype in (("f16", 1), ("q8_0", 7)):
        meta = fields(exported[kind])
        assert meta["general.architecture"] == "llama"
        assert meta["general.file_type"] == ftype
        assert meta["llama.context_length"] == config["max_position_embeddings"]
        assert meta["llama.embedding_length"] == config["hidden_size"] == 64
        assert meta["llama.block_count"] == config["num_hidden_layers"]
        assert meta["llama.feed_forward_length"] == config["intermediate_size"]
        assert meta["llama.attention.head_count"] == 4
        assert meta["llama.attention.head_count_kv"] == 2
        assert meta["llama.rope.dimension_count"] == 16
        assert meta["llama.rope.freq_base"] == pytest.approx(config["rope_parameters"]["rope_theta"])
        assert meta["llama.attention.layer_norm_rms_epsilon"] == pytest.approx(config["rms_norm_eps"])
        assert meta["llama.vocab_size"] == config["vocab_size"]
        assert meta["tokenizer.ggml.model"] == "gpt2"
        assert meta["tokenizer.ggml.pre"] == "gpt-2"
        assert meta["tokenizer.ggml.tokens"] == tok.convert_ids_to_tokens(list(range(len(tok))))
        types = meta["tokenizer.ggml.token_type"]
        specials = {i for i, added in tok.added_tokens_decoder.items() if added.special}
        assert specials == {0, 1, 2, 3, 4, 5}
        assert {i for i, t in enumerate(types) if t == gguf.TokenType.CONTROL} == specials
        assert all(t == gguf.TokenType.NORMAL for i, t in enumerate(types) if i not in specials)
        merges = json.loads((gqa / "tokenizer.json").read_text())["model"]["merges"]
        assert meta["tokenizer.ggml.merges"] == [" ".join(m) for m in merges]
        assert meta["tokenizer.ggml.bos_token_id"] == tok.bos_token_id
        assert meta["tokenizer.ggml.eos_token_id"] == tok.eos_token_id
        assert meta["tokenizer.ggml.padding_token_id"] == tok.pad_token_id
        assert meta["tokenizer.ggml.add_bos_token"] == (tok("hot")["input_ids"][0] == tok.bos_token_id)
        assert meta["tokenizer.chat_template"] == tok.chat_template


def test_f16_values_equal_torch_weights(exported, gqa):
    weights = state_dict(gqa)
    got = {name: (kind, values) for name, kind, values in iter_gguf_tensors(exported["f16"])}
    assert set(got) == {expected_name(n) for n in weights}
    for hf, w in weights.items():
        kind, values = got[expected_name(hf)]
        if hf.endswith("q_proj.weight"):
            values = unpermute_qk(values, 4)
        elif hf.endswith("k_proj.weight"):
            values = unpermute_qk(values, 2)
        assert values.shape == w.shape, hf
        if w.ndim == 1:
            assert kind == "F32", hf
            np.testing.assert_array_equal(values, w, err_msg=hf)
        else:
            assert kind == "F16", hf
            # exactly the torch weight rounded to float16
            np.testing.assert_array_equal(values, w.astype(np.float16).astype(np.float32), err_msg=hf)
    # ggml order: ne0 is the row length, so the reader's dims are the torch shape reversed
    reader = gguf.GGUFReader(exported["f16"])
    shapes = {t.name: t.shape.tolist() for t in reader.tensors}
    assert shapes["token_embd.weight"] == [64, 512]
    assert shapes["blk.0.attn_k.weight"] == [64, 32]
    assert shapes["blk.1.ffn_down.weight"] == [128, 64]


def test_q8_0_within_its_error_bound(exported, gqa):
    weights = state_dict(gqa)
    got = {name: (kind, values) for name, kind, values in iter_gguf_tensors(exported["q8_0"])}
    n_quantized = 0
    for hf, w in weights.items():
        kind, values = got[expected_name(hf)]
        if w.ndim == 1:
            assert kind == "F32", hf
            np.testing.assert_array_equal(values, w)
            continue
        assert kind == "Q8_0", hf
        n_quantized += 1
        heads = 4 if hf.endswith("q_proj.weight") else 2 if hf.endswith("k_proj.weight") else 0
        if heads:
            values = unpermute_qk(values, heads)
            blocks_of = permute_qk(w, heads)  # blocks are formed in the stored (permuted) row order
        else:
            blocks_of = w
        # per block of 32: scale d = max|x| / 127 stored as f16, values round(x / d): error <= d/2 + 127 * |d - f16(d)|
        d = np.abs(blocks_of.reshape(-1, 32)).max(axis=1) / 127
        bound = (0.5 * d + 127 * np.abs(d - d.astype(np.float16).astype(np.float64)) + 1e-7).repeat(32)
        bound = bound.reshape(blocks_of.shape)
        if heads:
            bound = unpermute_qk(bound, heads)
        err = np.abs(values.astype(np.float64) - w)
        assert (err <= bound).all(), f"{hf}: max err {err.max():.3g} over bound"
        assert err.max() > 0  # really quantized, not a copy
    assert n_quantized == 2 * 7 + 2
    assert exported["q8_0"].stat().st_size < 0.6 * exported["f16"].stat().st_size


def test_q8_0_falls_back_to_f16_for_rows_not_multiple_of_32(tiny, tmp_path):
    src = variant(tiny["model"], tmp_path / "odd", intermediate_size=80, num_hidden_layers=1)
    result = export_gguf(src, tmp_path / "odd.gguf", outtype="q8_0", log=quiet)
    # ffn_down's rows are intermediate_size long; gate/up rows are hidden_size (64) long
    assert result.fallbacks == {"blk.0.ffn_down.weight": "row length 80 is not a multiple of 32"}
    assert result.tensor_types["blk.0.ffn_down.weight"] == "F16"
    assert result.tensor_types["blk.0.ffn_up.weight"] == "Q8_0"
    assert "ffn_down.weight: F16 instead of Q8_0" in str(result)
    types = {t.name: t.tensor_type.name for t in gguf.GGUFReader(result.path).tensors}
    assert types["blk.0.ffn_down.weight"] == "F16"
    assert types["blk.0.ffn_gate.weight"] == "Q8_0"


def test_sharded_bf16_checkpoint(tiny, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    src = variant(tiny["model"], tmp_path / "bf16", num_hidden_layers=1, bf16=True,
                  save={"max_shard_size": "40KB"})
    assert (src / "model.safetensors.index.json").exists()
    headers = [json.loads(p.read_bytes()[8:8 + int.from_bytes(p.read_bytes()[:8], "little")])
               for p in src.glob("*.safetensors")]
    assert {meta["dtype"] for h in headers for name, meta in h.items() if name != "__metadata__"} == {"BF16"}
    reference = AutoModelForCausalLM.from_pretrained(src, dtype=torch.bfloat16).state_dict()
    result = export_gguf(src, tmp_path / "bf16.gguf", outtype="f16", log=quiet)
    got = {name: values for name, _, values in iter_gguf_tensors(result.path)}
    for hf, w in reference.items():
        values = got[expected_name(hf)]
        if hf.endswith(("q_proj.weight", "k_proj.weight")):  # 4 query and 4 key/value heads
            values = unpermute_qk(values, 4)
        want = w.float().numpy()
        if w.ndim == 2:
            want = want.astype(np.float16).astype(np.float32)
        np.testing.assert_array_equal(values, want, err_msg=hf)


def test_tied_embeddings_write_no_output_tensor(tiny, tmp_path):
    src = variant(tiny["model"], tmp_path / "tied", tie_word_embeddings=True, num_hidden_layers=1)
    result = export_gguf(src, tmp_path / "tied.gguf", log=quiet)
    assert "output.weight" not in result.tensor_types  # llama.cpp reuses token_embd
    assert "token_embd.weight" in result.tensor_types


def test_unsupported_architecture_names_type_and_choices(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]}))
    with pytest.raises(UnsupportedError, match=r"model_type 'gpt2' \(GPT2LMHeadModel\).*llama, mistral"):
        export_gguf(tmp_path, tmp_path / "x.gguf", log=quiet)
    assert not (tmp_path / "x.gguf").exists()


def test_bad_outtype_and_missing_files(tiny, tmp_path):
    with pytest.raises(ArgumentError, match="q4_k_m.*f32, f16, bf16, q8_0"):
        export_gguf(tiny["model"], tmp_path / "x.gguf", outtype="q4_k_m", log=quiet)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="no config.json"):
        export_gguf(tmp_path, tmp_path / "x.gguf", log=quiet)
    partial = tmp_path / "partial"
    partial.mkdir()
    shutil.copy(tiny["model"] / "config.json", partial / "config.json")
    with pytest.raises(InputError, match=r"no \*\.safetensors"):
        export_gguf(partial, tmp_path / "x.gguf", log=quiet)


def test_failed_export_leaves_previous_file_and_no_temp(tiny, tmp_path, monkeypatch):
    target = tmp_path / "model.gguf"
    target.write_bytes(b"previous")
    calls = []

    def failing(data, qtype, name):
        calls.append(name)
        if len(calls) == 3:
            raise RuntimeError("disk full")
        return gguf.quants.quantize(np.ascontiguousarray(data, dtype=np.float32), qtype)

    monkeypatch.setattr(export_mod, "_convert", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        export_gguf(tiny["model"], target, log=quiet)
    assert target.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.gguf"]


def test_cli_export(tiny, tmp_path, capsys):
    from tunesmith.cli import main

    out = tmp_path / "cli.gguf"
    assert main(["export", str(tiny["model"]), "-o", str(out), "--type", "q8_0", "--name", "opposites"]) == 0
    assert "Q8_0" in capsys.readouterr().out
    meta = fields(out)
    assert meta["general.name"] == "opposites"
    assert meta["general.file_type"] == 7
    assert main(["export", str(tmp_path), "-o", str(tmp_path / "y.gguf")]) == 1
    assert "no config.json" in capsys.readouterr().err


def test_model_merger_export_to_gguf(tiny, tmp_path):
    from tunesmith.tune.merge import ModelMerger

    merger = ModelMerger(str(tiny["model"]), str(tmp_path / "adapter"))
    results = merger.export_to_gguf(str(tiny["model"]), str(tmp_path / "gguf"), quantization="q8_0")
    assert [r.path.name for r in results] == ["model-f16.gguf", "model-q8_0.gguf"]
    assert [fields(r.path)["general.file_type"] for r in results] == [1, 7]
    with pytest.raises(ArgumentError, match="q4_k_m.*llama-quantize"):
        merger.export_to_gguf(str(tiny["model"]), str(tmp_path / "gguf"), quantization="q4_k_m")


# ----------------------------------------------------------------------------------------------- llama.cpp


PROMPT = "<|im_start|>user\nGive the opposite of: hot<|im_end|>\n<|im_start|>assistant\nThe opposite of hot is"


def transformers_logits(model_dir: pathlib.Path, ids: list[int]) -> np.ndarray:
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    with torch.no_grad():
        return model(input_ids=torch.tensor([ids])).logits[0].numpy()


def llama_cpp_logits(path: pathlib.Path, ids: list[int]) -> tuple[np.ndarray, list[int]]:
    """llama.cpp's logits at every position of ``ids``, and its own tokenization of :data:`PROMPT`."""
    llama_cpp = pytest.importorskip("llama_cpp")
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=128, n_threads=1, n_batch=128, logits_all=True, verbose=False)
    try:
        tokens = llm.tokenize(PROMPT.encode(), add_bos=False, special=True)
        llm.eval(ids)
        return np.asarray(llm.scores[: len(ids)], dtype=np.float32), tokens
    finally:
        llm.close()


@pytest.mark.slow
@pytest.mark.parametrize("outtype", ["f16", "q8_0"])
def test_llama_cpp_logits_match_transformers(exported, gqa, tokenizer, outtype):
    pytest.importorskip("llama_cpp")
    ids = tokenizer(PROMPT, add_special_tokens=False)["input_ids"]
    reference = transformers_logits(gqa, ids)
    got, tokens = llama_cpp_logits(exported[outtype], ids)
    # the GGUF vocabulary tokenizes the prompt exactly as the Hugging Face tokenizer does
    assert tokens == ids
    diff = np.abs(got - reference)
    scale = np.abs(reference).max()
    print(f"\n{outtype}: {len(ids)} positions x {got.shape[1]} logits; max |logit diff| {diff.max():.3g}, "
          f"mean {diff.mean():.3g} (max |logit| {scale:.3g}); "
          f"argmax agreement {(got.argmax(-1) == reference.argmax(-1)).mean():.3f}")
    # f16 weights (and ggml's f16 activations) round at 2^-11; q8_0 quantizes weights and activations to 8 bits.
    # Measured: f16 0.15 %, q8_0 3.2 % of max |logit|; exporting without the Q/K permutation gives ~98 %.
    limit = 0.01 if outtype == "f16" else 0.08
    assert diff.max() <= limit * scale


def test_docstring_examples():
    import doctest

    result = doctest.testmod(export_mod, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted >= 5


@pytest.mark.slow
def test_llama_cpp_check_catches_a_missing_permutation(gqa, tokenizer, tmp_path, monkeypatch):
    """The comparison above is sensitive: the same export without the Q/K permutation is far off."""
    pytest.importorskip("llama_cpp")
    monkeypatch.setattr(export_mod, "permute_qk", lambda weight, n_head: weight)
    path = export_gguf(gqa, tmp_path / "unpermuted.gguf", outtype="f32", log=quiet).path
    ids = tokenizer(PROMPT, add_special_tokens=False)["input_ids"]
    reference = transformers_logits(gqa, ids)
    got, _ = llama_cpp_logits(path, ids)
    assert np.abs(got - reference).max() > 0.3 * np.abs(reference).max()


@pytest.mark.slow
def test_llama_cpp_with_attention_and_mlp_biases(tiny, tokenizer, tmp_path):
    """Q/K biases are permuted like their weights; llama.cpp's llama graph adds all seven biases."""
    import torch

    pytest.importorskip("llama_cpp")
    src = variant(tiny["model"], tmp_path / "bias", seed=3, qk_scale=10.0, attention_bias=True, mlp_bias=True,
                  num_key_value_heads=2)
    from safetensors.torch import load_file, save_file

    weights = load_file(src / "model.safetensors")
    generator = torch.Generator().manual_seed(0)
    for name in [n for n in weights if n.endswith(".bias")]:  # init leaves biases at zero: make them count
        weights[name] = torch.randn(weights[name].shape, generator=generator) * 0.5
    save_file(weights, src / "model.safetensors", metadata={"format": "pt"})
    result = export_gguf(src, tmp_path / "bias.gguf", outtype="f32", log=quiet)
    assert result.tensor_types["blk.0.attn_k.bias"] == "F32"
    assert result.tensor_types["blk.1.ffn_down.bias"] == "F32"
    ids = tokenizer(PROMPT, add_special_tokens=False)["input_ids"]
    reference = transformers_logits(src, ids)
    got, _ = llama_cpp_logits(result.path, ids)
    assert np.abs(got - reference).max() <= 1e-3 * np.abs(reference).max()
