"""``export_gguf``: write a llama-family safetensors model as a GGUF file that llama.cpp loads.

Done in-process with the ``gguf`` package (``GGUFWriter`` and ``gguf.quants``),
following what llama.cpp's ``convert_hf_to_gguf.py`` (class ``LlamaModel``) does:

* tensor names: ``model.embed_tokens`` -> ``token_embd``, ``model.layers.N.self_attn.q_proj`` ->
  ``blk.N.attn_q`` (``k``/``v``/``o`` -> ``attn_k``/``attn_v``/``attn_output``), ``mlp.{gate,up,down}_proj`` ->
  ``blk.N.ffn_{gate,up,down}``, ``input_layernorm`` -> ``blk.N.attn_norm``, ``post_attention_layernorm`` ->
  ``blk.N.ffn_norm``, ``model.norm`` -> ``output_norm``, ``lm_head`` -> ``output``;
* the Q/K row permutation: Hugging Face stores each head's rotary dimensions as two halves (``rotate_half``)
  while llama.cpp's ``llama`` architecture rotates adjacent pairs, so ``LlamaModel.permute`` reorders the rows
  of ``q_proj``/``k_proj`` (``k`` with the key/value head count): ``w.reshape(n_head, 2, d // 2, ...)
  .swapaxes(1, 2)``;
* 1-D tensors and every ``*_norm.weight`` stay F32; 2-D weights take the requested type. Q8_0 packs blocks of
  32 along a row, so a weight whose row length is not a multiple of 32 falls back to F16 (reported in
  :attr:`ExportResult.fallbacks`), as the convert script does on ``QuantError``;
* metadata ``llama.*`` hyper-parameters and the byte-level BPE tokenizer as ``tokenizer.ggml.model = "gpt2"``
  with tokens, token types, merges, special ids and the chat template.

The safetensors files are read through ``numpy.memmap`` and written one tensor at a time
(``GGUFWriter.add_tensor_info`` for all, then ``write_tensor_data`` for each), so memory stays at one tensor;
the file is written next to its destination and renamed into place only when complete.
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from tunesmith.errors import ArgumentError, ConfigError, InputError, UnsupportedError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["OUTTYPES", "SUPPORTED_MODEL_TYPES", "ExportResult", "export_gguf", "hf_to_gguf_name", "iter_gguf_tensors",
           "permute_qk", "unpermute_qk"]

OutType = Literal["f32", "f16", "bf16", "q8_0"]
#: Output types ``export_gguf`` writes (the ``outtype`` argument), as in ``convert_hf_to_gguf.py --outtype``.
OUTTYPES: tuple[str, ...] = ("f32", "f16", "bf16", "q8_0")
#: ``config.json`` ``model_type`` values exported, all to llama.cpp's ``llama`` architecture (the convert script
#: registers ``LlamaForCausalLM`` and ``MistralForCausalLM`` on the same ``LlamaModel`` class).
SUPPORTED_MODEL_TYPES: tuple[str, ...] = ("llama", "mistral")

# ggml block size of Q8_0: a row is cut into blocks of 32 values, each stored as one f16 scale + 32 int8.
Q8_0_BLOCK = 32

# Hugging Face pre-tokenizer regexes whose llama.cpp names (``tokenizer.ggml.pre``) we know.
_LLAMA3_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|"
    r"\s+(?!\S)|\s+"
)

_LAYER_NAMES = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
    "input_layernorm": "attn_norm",
    "post_attention_layernorm": "ffn_norm",
}
_GLOBAL_NAMES = {"model.embed_tokens": "token_embd", "model.norm": "output_norm", "lm_head": "output"}
_LAYER_RE = re.compile(r"^model\.layers\.(\d+)\.(.+)\.(weight|bias)$")
_SKIPPED_SUFFIXES = (".rotary_emb.inv_freq",)


@dataclass
class ExportResult:
    """What :func:`export_gguf` wrote.

    Attributes:
        path: the GGUF file.
        outtype: the requested output type (one of :data:`OUTTYPES`).
        architecture: the GGUF ``general.architecture`` (``"llama"``).
        model_type: ``model_type`` of the source ``config.json``.
        n_params: number of weights written.
        file_bytes: size of the file.
        tensor_types: GGUF tensor name -> ggml type written (``"F32"``, ``"F16"``, ``"BF16"``, ``"Q8_0"``).
        fallbacks: GGUF tensor name -> why it was written as F16 instead of Q8_0.
        seconds: wall time of the export.
    """

    path: pathlib.Path
    outtype: str
    architecture: str
    model_type: str
    n_params: int
    file_bytes: int
    tensor_types: dict[str, str] = field(default_factory=dict)
    fallbacks: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def __str__(self) -> str:
        counts: dict[str, int] = {}
        for kind in self.tensor_types.values():
            counts[kind] = counts.get(kind, 0) + 1
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
        text = (f"wrote {self.path} ({self.outtype}, {self.file_bytes / 2**20:.2f} MiB, {self.n_params:,} weights; "
                f"{len(self.tensor_types)} tensors: {kinds}) in {self.seconds:.2f} s")
        for name, why in self.fallbacks.items():
            text += f"\n  {name}: F16 instead of Q8_0 ({why})"
        return text


# --------------------------------------------------------------------------------------------- naming, permutation


def hf_to_gguf_name(name: str) -> str | None:
    """llama.cpp's name for a Hugging Face Llama tensor name.

    Args:
        name: a state-dict key such as ``"model.layers.3.self_attn.q_proj.weight"``.

    Returns:
        The GGUF name (``"blk.3.attn_q.weight"``), or ``None`` for buffers llama.cpp does not store
        (``rotary_emb.inv_freq``).

    Raises:
        UnsupportedError: the name belongs to no tensor of the llama architecture.

    Example:
        >>> hf_to_gguf_name("model.layers.0.mlp.down_proj.weight")
        'blk.0.ffn_down.weight'
        >>> hf_to_gguf_name("lm_head.weight")
        'output.weight'
    """
    if name.endswith(_SKIPPED_SUFFIXES):
        return None
    match = _LAYER_RE.match(name)
    if match:
        layer, module, kind = match.groups()
        if module in _LAYER_NAMES:
            return f"blk.{layer}.{_LAYER_NAMES[module]}.{kind}"
    else:
        module, _, kind = name.rpartition(".")
        if module in _GLOBAL_NAMES and kind in ("weight", "bias"):
            return f"{_GLOBAL_NAMES[module]}.{kind}"
    raise UnsupportedError(f"tensor {name!r} has no llama.cpp 'llama' counterpart; known modules: "
                           f"{', '.join(sorted(_GLOBAL_NAMES))} and model.layers.N.{{{', '.join(_LAYER_NAMES)}}}")


def permute_qk(weight: np.ndarray, n_head: int) -> np.ndarray:
    """Reorder Q or K projection rows from Hugging Face's rotary layout to llama.cpp's.

    Within each head HF keeps the rotary pairs as (first half, second half); llama.cpp's ``llama``
    architecture rotates adjacent rows. This is ``LlamaModel.permute`` of ``convert_hf_to_gguf.py``.

    Args:
        weight: ``[n_head * head_dim, ...]`` weight or bias (rows first).
        n_head: heads of this projection: attention heads for Q, key/value heads for K.

    Returns:
        The permuted array, same shape.

    Example:
        >>> import numpy as np
        >>> permute_qk(np.arange(4), 1).tolist()
        [0, 2, 1, 3]
    """
    rows = weight.shape[0]
    if rows % (2 * n_head):
        raise ArgumentError(f"permute_qk: {rows} rows do not split into {n_head} heads of an even size")
    return weight.reshape(n_head, 2, rows // n_head // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def unpermute_qk(weight: np.ndarray, n_head: int) -> np.ndarray:
    """Undo :func:`permute_qk`: llama.cpp row order back to Hugging Face's.

    Example:
        >>> import numpy as np
        >>> w = np.arange(32).reshape(8, 4)
        >>> bool((unpermute_qk(permute_qk(w, 2), 2) == w).all())
        True
    """
    rows = weight.shape[0]
    if rows % (2 * n_head):
        raise ArgumentError(f"unpermute_qk: {rows} rows do not split into {n_head} heads of an even size")
    return weight.reshape(n_head, rows // n_head // 2, 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


# ------------------------------------------------------------------------------------------------- safetensors


@dataclass
class _SourceTensor:
    name: str
    file: pathlib.Path
    dtype: str
    shape: tuple[int, ...]
    offset: int
    nbytes: int

    def load(self) -> np.ndarray:
        """The tensor as float32 (memory-mapped read; BF16 widened exactly)."""
        import numpy as np

        raw = np.memmap(self.file, mode="r", dtype=np.uint8, offset=self.offset, shape=(self.nbytes,))
        if self.dtype == "F32":
            out = raw.view(np.float32).astype(np.float32)
        elif self.dtype == "F16":
            out = raw.view(np.float16).astype(np.float32)
        elif self.dtype == "BF16":
            out = (raw.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
        elif self.dtype == "F64":
            out = raw.view(np.float64).astype(np.float32)
        else:  # checked when the header is read
            raise UnsupportedError(f"{self.file}: tensor {self.name!r} has dtype {self.dtype}")
        return out.reshape(self.shape)


_SAFETENSORS_DTYPES = {"F32": 4, "F16": 2, "BF16": 2, "F64": 8}


def _read_safetensors_header(path: pathlib.Path) -> dict[str, _SourceTensor]:
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            raise InputError(f"{path}: not a safetensors file (shorter than its 8-byte header length)")
        n = int.from_bytes(head, "little")
        if n > size - 8:
            raise InputError(f"{path}: header length {n} runs past the end of the file ({size} bytes)")
        try:
            header = json.loads(fh.read(n))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise InputError(f"{path}: safetensors header is not JSON ({err})") from err
    out: dict[str, _SourceTensor] = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        dtype = meta["dtype"]
        if dtype not in _SAFETENSORS_DTYPES:
            raise UnsupportedError(f"{path}: tensor {name!r} has dtype {dtype}; exportable dtypes: "
                                   f"{', '.join(_SAFETENSORS_DTYPES)} (quantized checkpoints must be merged/"
                                   "dequantized first: `tunesmith merge`)")
        begin, end = meta["data_offsets"]
        shape = tuple(int(d) for d in meta["shape"])
        if end - begin != math.prod(shape) * _SAFETENSORS_DTYPES[dtype] or 8 + n + end > size:
            raise InputError(f"{path}: tensor {name!r} byte range {begin}..{end} does not match shape {shape} {dtype}")
        out[name] = _SourceTensor(name, path, dtype, shape, 8 + n + begin, end - begin)
    return out


def _source_tensors(model_dir: pathlib.Path) -> dict[str, _SourceTensor]:
    index = model_dir / "model.safetensors.index.json"
    if index.exists():
        weight_map = json.loads(index.read_text(encoding="utf-8")).get("weight_map")
        if not isinstance(weight_map, dict):
            raise InputError(f"{index}: no 'weight_map' object")
        files = sorted(set(weight_map.values()))
    else:
        files = sorted(p.name for p in model_dir.glob("*.safetensors"))
    if not files:
        raise InputError(f"{model_dir}: no *.safetensors weights (save the model with save_pretrained, "
                         "safe_serialization=True)")
    tensors: dict[str, _SourceTensor] = {}
    for name in files:
        path = model_dir / name
        if not path.exists():
            raise InputError(f"{index}: lists {name}, which is missing from {model_dir}")
        tensors.update(_read_safetensors_header(path))
    return tensors


# --------------------------------------------------------------------------------------------------- tokenizer


def _token_id(value: Any, lookup: dict[str, int]) -> int | None:
    if isinstance(value, dict):
        value = value.get("content")
    return lookup.get(value) if isinstance(value, str) else None


def _template_adds(post: Any, token: str | None) -> bool:
    """Whether a tokenizers post-processor puts ``token`` into a single-sequence encoding."""
    if not isinstance(post, dict) or token is None:
        return False
    if post.get("type") == "Sequence":
        return any(_template_adds(p, token) for p in post.get("processors", []))
    if post.get("type") == "TemplateProcessing":
        return any(item.get("SpecialToken", {}).get("id") == token for item in post.get("single", []))
    return False


def _pre_tokenizer_name(tok: dict[str, Any], path: pathlib.Path) -> str:
    pre = tok.get("pre_tokenizer")
    if tok.get("normalizer") is None and isinstance(pre, dict):
        if pre.get("type") == "ByteLevel" and pre.get("use_regex", True) and not pre.get("add_prefix_space"):
            return "gpt-2"
        steps = pre.get("pretokenizers", []) if pre.get("type") == "Sequence" else []
        if (len(steps) == 2 and steps[0].get("type") == "Split"
                and steps[0].get("pattern", {}).get("Regex") == _LLAMA3_REGEX
                and steps[1].get("type") == "ByteLevel" and not steps[1].get("use_regex", True)):
            return "llama-bpe"
    raise UnsupportedError(
        f"{path}: pre-tokenizer {json.dumps(pre)[:200]} with normalizer {json.dumps(tok.get('normalizer'))[:80]} "
        "matches no llama.cpp pre-tokenizer known here (byte-level GPT-2 -> 'gpt-2', Llama-3 split -> 'llama-bpe'); "
        "pass tokenizer_pre=NAME (a llama.cpp 'tokenizer.ggml.pre' value) if you know which one it is"
    )


def _add_tokenizer(writer: Any, model_dir: pathlib.Path, vocab_size: int, config: dict[str, Any],
                   tokenizer_pre: str | None) -> dict[str, Any]:
    import gguf

    path = model_dir / "tokenizer.json"
    if not path.exists():
        raise InputError(f"{model_dir}: no tokenizer.json; llama.cpp needs the vocabulary in the GGUF file "
                         "(save the tokenizer with tokenizer.save_pretrained into the model directory)")
    tok = json.loads(path.read_text(encoding="utf-8"))
    model = tok.get("model", {})
    if model.get("type") != "BPE" or model.get("byte_fallback"):
        kind = "BPE with byte_fallback (SentencePiece-style)" if model.get("byte_fallback") else model.get("type")
        raise UnsupportedError(f"{path}: model type {kind!r}; only byte-level BPE tokenizers (GGUF "
                               "tokenizer.ggml.model 'gpt2') are exported")
    pre = tokenizer_pre or _pre_tokenizer_name(tok, path)
    vocab: dict[str, int] = dict(model.get("vocab", {}))
    added = {a["id"]: a for a in tok.get("added_tokens", [])}
    lookup = {**vocab, **{a["content"]: i for i, a in added.items()}}
    if lookup and max(lookup.values()) >= vocab_size:
        raise InputError(f"{path}: token id {max(lookup.values())} is outside the model's vocab_size {vocab_size} "
                         f"({model_dir / 'config.json'}); resize the embeddings before exporting")
    reverse = {i: t for t, i in vocab.items()}
    tokens: list[str] = []
    types: list[int] = []
    for i in range(vocab_size):
        if i in added:
            tokens.append(added[i]["content"])
            types.append(gguf.TokenType.CONTROL if added[i].get("special") else gguf.TokenType.USER_DEFINED)
        elif i in reverse:
            tokens.append(reverse[i])
            types.append(gguf.TokenType.NORMAL)
        else:  # embedding rows past the tokenizer (padded vocab), named as the convert script does
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]

    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(pre)
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)

    tcfg_path = model_dir / "tokenizer_config.json"
    tcfg = json.loads(tcfg_path.read_text(encoding="utf-8")) if tcfg_path.exists() else {}
    special: dict[str, int] = {}
    for kind in ("bos", "eos", "unk", "pad"):
        tid = _token_id(tcfg.get(f"{kind}_token"), lookup)
        if tid is None:
            from_config = config.get(f"{kind}_token_id")
            tid = from_config[0] if isinstance(from_config, list) and from_config else from_config
        if isinstance(tid, int) and 0 <= tid < vocab_size:
            special[kind] = tid
    setters: dict[str, Callable[[int], None]] = {
        "bos": writer.add_bos_token_id, "eos": writer.add_eos_token_id,
        "unk": writer.add_unk_token_id, "pad": writer.add_pad_token_id,
    }
    for kind, tid in special.items():
        setters[kind](tid)
    # Whether encoding adds BOS/EOS: the tokenizer_config flag when present, else what the post-processor does.
    names = {kind: tokens[tid] for kind, tid in special.items()}
    add_bos = tcfg.get("add_bos_token", _template_adds(tok.get("post_processor"), names.get("bos")))
    add_eos = tcfg.get("add_eos_token", _template_adds(tok.get("post_processor"), names.get("eos")))
    writer.add_add_bos_token(bool(add_bos))
    writer.add_add_eos_token(bool(add_eos))
    template = tcfg.get("chat_template")
    if template is None and (model_dir / "chat_template.jinja").exists():
        template = (model_dir / "chat_template.jinja").read_text(encoding="utf-8")
    if template:
        writer.add_chat_template(template)
    return {"pre": pre, "n_tokens": len(lookup), "n_merges": len(merges), "special": special,
            "add_bos": bool(add_bos), "add_eos": bool(add_eos)}


# ------------------------------------------------------------------------------------------------------- export


def _rope(config: dict[str, Any], path: pathlib.Path) -> tuple[float, dict[str, Any] | None]:
    """``(rope_theta, scaling)`` from a transformers 4 (``rope_theta``/``rope_scaling``) or 5 (``rope_parameters``)
    config; ``scaling`` is ``None`` for plain RoPE."""
    params = config.get("rope_parameters") or {}
    scaling = config.get("rope_scaling") or {}
    theta = float(config.get("rope_theta") or params.get("rope_theta") or 10000.0)
    kind = params.get("rope_type") or scaling.get("rope_type") or scaling.get("type") or "default"
    if kind == "default":
        return theta, None
    merged = {**params, **scaling, "rope_type": kind}
    if kind in ("linear", "llama3"):
        return theta, merged
    raise UnsupportedError(f"{path}: rope type {kind!r} is not exported; supported: default, linear, llama3")


def _llama3_rope_factors(theta: float, head_dim: int, scaling: dict[str, Any]) -> np.ndarray:
    """Per-frequency divisors for Llama-3.1 RoPE scaling (``LlamaModel.generate_extra_tensors``)."""
    import numpy as np

    freqs = 1.0 / (theta ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim))
    factor = float(scaling.get("factor", 8.0))
    low, high = float(scaling.get("low_freq_factor", 1.0)), float(scaling.get("high_freq_factor", 4.0))
    old_ctx = float(scaling.get("original_max_position_embeddings", 8192))
    low_wavelen, high_wavelen = old_ctx / low, old_ctx / high
    out = []
    for freq in freqs:
        wavelen = 2 * math.pi / freq
        if wavelen < high_wavelen:
            out.append(1.0)
        elif wavelen > low_wavelen:
            out.append(factor)
        else:
            smooth = (old_ctx / wavelen - low) / (high - low)
            out.append(1.0 / ((1 - smooth) / factor + smooth))
    return np.asarray(out, dtype=np.float32)


@dataclass
class _Planned:
    gguf_name: str
    qtype: Any  # gguf.GGMLQuantizationType
    shape: tuple[int, ...]
    load: Callable[[], np.ndarray]


def _nbytes(shape: tuple[int, ...], qtype: Any) -> int:
    import gguf

    block, size = gguf.GGML_QUANT_SIZES[qtype]
    return math.prod(shape) // block * size


def _convert(data: np.ndarray, qtype: Any, name: str) -> np.ndarray:
    import gguf
    import numpy as np

    if qtype == gguf.GGMLQuantizationType.F16:
        big = float(np.abs(data).max(initial=0.0))
        if big > float(np.finfo(np.float16).max):
            raise ArgumentError(f"outtype: tensor {name} holds |x| = {big:.4g}, beyond float16's range 65504; "
                                "export with outtype='bf16' or 'f32'")
    return gguf.quants.quantize(np.ascontiguousarray(data, dtype=np.float32), qtype)


def export_gguf(
    model_dir: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    outtype: OutType = "f16",
    tokenizer_pre: str | None = None,
    name: str | None = None,
    log: Callable[[str], None] = print,
) -> ExportResult:
    """Write a llama-family model directory as one GGUF file for llama.cpp.

    ``model_dir`` holds ``config.json``, ``*.safetensors`` (F32/F16/BF16, sharded or not) and ``tokenizer.json``,
    as ``save_pretrained`` and :func:`tunesmith.tune.merge.merge` leave them.

    Args:
        model_dir: the model directory.
        out_path: the ``.gguf`` file to write (its folder is created; an existing file is replaced atomically).
        outtype: ``"f16"`` (default), ``"bf16"``, ``"f32"`` or ``"q8_0"``. Norms and other 1-D tensors stay F32;
            with ``"q8_0"`` a weight whose row length is not a multiple of 32 is written F16 and listed in
            :attr:`ExportResult.fallbacks`.
        tokenizer_pre: llama.cpp pre-tokenizer name (``tokenizer.ggml.pre``) to write when the tokenizer's is not
            recognised (byte-level GPT-2 and the Llama-3 split are).
        name: ``general.name``; defaults to the model directory's name.
        log: called with the summary line(s).

    Returns:
        An :class:`ExportResult` with the per-tensor types and any Q8_0 fallbacks.

    Raises:
        ArgumentError: ``outtype`` is not one of :data:`OUTTYPES`, or an F16 tensor would overflow.
        UnsupportedError: the model type is not one of :data:`SUPPORTED_MODEL_TYPES`, or a tensor, RoPE scaling
            or tokenizer has no GGUF form here.
        InputError: files are missing or malformed (the message names the file).

    Example:
        >>> from tunesmith.tune.export import export_gguf
        >>> result = export_gguf("runs/opposites/merged", "opposites-q8_0.gguf", outtype="q8_0")  # doctest: +SKIP
        >>> result.tensor_types["blk.0.attn_q.weight"]  # doctest: +SKIP
        'Q8_0'
    """
    started = time.perf_counter()
    if outtype not in OUTTYPES:
        raise ArgumentError(f"outtype={outtype!r} is not supported; choose one of {', '.join(OUTTYPES)}")
    try:
        import gguf
        import numpy as np
    except ImportError as err:  # pragma: no cover - the train extra installs it
        raise UnsupportedError(f"GGUF export needs the gguf package ({err}); pip install 'tunesmith[train]'") from err

    src = pathlib.Path(model_dir)
    out = pathlib.Path(out_path)
    config_path = src / "config.json"
    if not config_path.exists():
        raise InputError(f"{src}: no config.json (expected a model directory written by save_pretrained)")
    config = json.loads(config_path.read_text(encoding="utf-8"))
    model_type = config.get("model_type")
    if model_type not in SUPPORTED_MODEL_TYPES:
        archs = ", ".join(config.get("architectures") or []) or "?"
        raise UnsupportedError(f"{config_path}: model_type {model_type!r} ({archs}) cannot be exported to GGUF here; "
                               f"supported model types: {', '.join(SUPPORTED_MODEL_TYPES)} (llama.cpp 'llama')")
    if out.is_dir():
        raise ArgumentError(f"out_path={str(out)!r} is a directory; give the .gguf file to write")

    def need(key: str) -> int:
        if key not in config:
            raise ConfigError(f"{config_path}: missing {key!r}")
        return int(config[key])

    n_layer, n_embd, n_ff = need("num_hidden_layers"), need("hidden_size"), need("intermediate_size")
    n_head, vocab_size = need("num_attention_heads"), need("vocab_size")
    n_head_kv = int(config.get("num_key_value_heads") or n_head)
    head_dim = int(config.get("head_dim") or n_embd // n_head)
    theta, scaling = _rope(config, config_path)

    qtype_of = {"f32": gguf.GGMLQuantizationType.F32, "f16": gguf.GGMLQuantizationType.F16,
                "bf16": gguf.GGMLQuantizationType.BF16, "q8_0": gguf.GGMLQuantizationType.Q8_0}
    ftype_of = {"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16,
                "bf16": gguf.LlamaFileType.MOSTLY_BF16, "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0}
    wanted = qtype_of[outtype]

    # ---- plan every tensor from the headers alone (names, shapes, types), before reading any data
    plan: list[_Planned] = []
    fallbacks: dict[str, str] = {}
    for tensor in _source_tensors(src).values():
        gname = hf_to_gguf_name(tensor.name)
        if gname is None:
            continue
        if gname.endswith(("attn_q.weight", "attn_q.bias")):
            heads = n_head
        elif gname.endswith(("attn_k.weight", "attn_k.bias")):
            heads = n_head_kv
        else:
            heads = 0

        def load(t: _SourceTensor = tensor, h: int = heads) -> np.ndarray:
            data = t.load()
            return permute_qk(data, h) if h else data

        if len(tensor.shape) <= 1 or gname.endswith("_norm.weight"):
            qtype = gguf.GGMLQuantizationType.F32
        else:
            qtype = wanted
            if qtype == gguf.GGMLQuantizationType.Q8_0 and tensor.shape[-1] % Q8_0_BLOCK:
                qtype = gguf.GGMLQuantizationType.F16
                fallbacks[gname] = f"row length {tensor.shape[-1]} is not a multiple of {Q8_0_BLOCK}"
        plan.append(_Planned(gname, qtype, tensor.shape, load))
    if scaling is not None and scaling["rope_type"] == "llama3":
        factors = _llama3_rope_factors(theta, head_dim, scaling)
        plan.append(_Planned("rope_freqs.weight", gguf.GGMLQuantizationType.F32, factors.shape, lambda: factors))

    names = {p.gguf_name for p in plan}
    missing = [n for n in ("token_embd.weight", "output_norm.weight") if n not in names]
    missing += [f"blk.{i}.{part}.weight" for i in range(n_layer) for part in
                ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down", "attn_norm",
                 "ffn_norm") if f"blk.{i}.{part}.weight" not in names]
    if missing:
        raise InputError(f"{src}: the safetensors files lack {len(missing)} tensor(s) of a {n_layer}-layer llama: "
                         f"{', '.join(missing[:6])}{' ...' if len(missing) > 6 else ''}")
    order = {"token_embd": -2, "rope_freqs": -1, "output_norm": 1 << 30, "output": (1 << 30) + 1}

    def sort_key(p: _Planned) -> tuple[int, str]:
        head = p.gguf_name.split(".")
        return (int(head[1]), p.gguf_name) if head[0] == "blk" else (order.get(head[0], 1 << 29), p.gguf_name)

    plan.sort(key=sort_key)

    # ---- header, metadata, tensor infos, then tensor data one at a time into a temp file beside the target
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    writer = gguf.GGUFWriter(path=None, arch=gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.LLAMA])
    try:
        writer.add_type(gguf.GGUFType.MODEL)
        writer.add_name(name or src.resolve().name)
        writer.add_context_length(need("max_position_embeddings"))
        writer.add_embedding_length(n_embd)
        writer.add_block_count(n_layer)
        writer.add_feed_forward_length(n_ff)
        writer.add_head_count(n_head)
        writer.add_head_count_kv(n_head_kv)
        writer.add_rope_freq_base(theta)
        writer.add_rope_dimension_count(head_dim)
        if head_dim != n_embd // n_head:
            writer.add_key_length(head_dim)
            writer.add_value_length(head_dim)
        if scaling is not None and scaling["rope_type"] == "linear":
            writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
            writer.add_rope_scaling_factor(float(scaling["factor"]))
        writer.add_layer_norm_rms_eps(float(config.get("rms_norm_eps", 1e-6)))
        writer.add_vocab_size(vocab_size)
        writer.add_file_type(ftype_of[outtype])
        writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
        _add_tokenizer(writer, src, vocab_size, config, tokenizer_pre)

        for p in plan:
            nbytes = _nbytes(p.shape, p.qtype)
            if p.qtype == gguf.GGMLQuantizationType.F32:
                writer.add_tensor_info(p.gguf_name, p.shape, np.dtype(np.float32), nbytes)
            elif p.qtype == gguf.GGMLQuantizationType.F16:
                writer.add_tensor_info(p.gguf_name, p.shape, np.dtype(np.float16), nbytes)
            else:
                byte_shape = gguf.quant_shape_to_byte_shape(p.shape, p.qtype)
                writer.add_tensor_info(p.gguf_name, byte_shape, np.dtype(np.uint8), nbytes, raw_dtype=p.qtype)
        writer.write_header_to_file(path=tmp)
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        n_params = 0
        for p in plan:
            data = p.load()
            n_params += data.size
            writer.write_tensor_data(_convert(data, p.qtype, p.gguf_name))
        assert writer.fout is not None
        for fh in writer.fout:
            fh.flush()
            os.fsync(fh.fileno())
        writer.close()
        os.replace(tmp, out)
    except BaseException:
        writer.close()
        tmp.unlink(missing_ok=True)
        raise
    result = ExportResult(
        path=out, outtype=outtype, architecture="llama", model_type=str(model_type), n_params=n_params,
        file_bytes=out.stat().st_size, tensor_types={p.gguf_name: p.qtype.name for p in plan},
        fallbacks=fallbacks, seconds=time.perf_counter() - started,
    )
    log(str(result))
    return result


def iter_gguf_tensors(path: str | os.PathLike[str]) -> Iterator[tuple[str, str, np.ndarray]]:
    """``(name, ggml type, float32 values)`` of every tensor of a GGUF file, dequantized with ``gguf.quants``.

    Shapes are numpy order (rows first), i.e. the reverse of the GGUF/ggml ``ne`` order.

    Example:
        >>> for name, kind, values in iter_gguf_tensors("model-q8_0.gguf"):  # doctest: +SKIP
        ...     print(name, kind, values.shape)
    """
    import gguf
    import numpy as np

    reader = gguf.GGUFReader(path)
    for t in reader.tensors:
        shape = tuple(int(d) for d in reversed(t.shape.tolist()))
        values = gguf.quants.dequantize(np.asarray(t.data), t.tensor_type).reshape(shape)
        yield t.name, t.tensor_type.name, values
