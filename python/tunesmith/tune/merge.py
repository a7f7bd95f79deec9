"""``merge``: fold a trained adapter into its base and write ``merged/`` that ``from_pretrained`` loads.

For a QLoRA run the adapter was trained against the 4-bit base, so the faithful
merge (the default, ``base="dequantized"``) loads the base 4-bit exactly as in
training, dequantizes it to the compute dtype and merges into that: the merged
model reproduces the trained one. ``base="original"`` merges into the
unquantized original weights instead (what the seeds' Phi-3 repository does),
which gives a different model; either way the logit drift against the adapter
model is measured and reported.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from tunesmith.errors import ArgumentError, ConfigError, UnsupportedError

if TYPE_CHECKING:
    from tunesmith.tune.export import ExportResult

__all__ = ["MergeResult", "ModelMerger", "merge"]


@dataclass
class MergeResult:
    merged_dir: pathlib.Path
    max_logit_diff: float
    base: str

    def __str__(self) -> str:
        return f"merged into {self.base} base -> {self.merged_dir} (max |logit diff| vs adapter model: {self.max_logit_diff:.3g})"


def _probe_ids(tokenizer: Any) -> Any:
    import torch

    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Give the opposite of: hot"}, {"role": "assistant", "content": "The opposite"}],
        tokenize=False,
    ) if getattr(tokenizer, "chat_template", None) else "The quick brown fox jumps over the lazy dog."
    return torch.tensor([tokenizer(text, add_special_tokens=False)["input_ids"][:64]])


def _logits(model: Any, ids: Any) -> Any:
    import torch

    was = model.training
    model.eval()
    with torch.no_grad():
        out = model(input_ids=ids.to(next(model.parameters()).device)).logits.float().cpu()
    model.train(was)
    return out


def merge(
    output_dir: str | pathlib.Path,
    *,
    adapter_dir: str | pathlib.Path | None = None,
    base_model: str | None = None,
    out_dir: str | pathlib.Path | None = None,
    base: Literal["dequantized", "original"] = "dequantized",
    log: Callable[[str], None] = print,
) -> MergeResult:
    """Merge ``output_dir/adapter`` into its base and save ``output_dir/merged`` (weights + tokenizer)."""
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tunesmith.tune.methods import BOTTLENECK_CONFIG, adapter_base_model, load_adapter

    transformers.utils.logging.disable_progress_bar()
    root = pathlib.Path(output_dir)
    adapter = pathlib.Path(adapter_dir) if adapter_dir is not None else root / "adapter"
    if not adapter.is_dir():
        if (root / "model").is_dir():
            raise ConfigError(f"{root}: a full fine-tune; {root / 'model'} is already a whole model, nothing to merge")
        raise ConfigError(f"{adapter}: no adapter directory (expected the output dir of a `tunesmith tune` run)")
    if (adapter / BOTTLENECK_CONFIG).exists():
        raise UnsupportedError(
            "bottleneck adapters add layers, so they cannot be merged into the base weights; load them with "
            "tunesmith.tune.methods.load_adapter"
        )
    run_file = root / "tunesmith_run.json"
    run = json.loads(run_file.read_text(encoding="utf-8")) if run_file.exists() else {}
    base_path = base_model or run.get("base_model") or adapter_base_model(adapter)
    if not base_path:
        raise ConfigError(f"{adapter}: cannot tell the base model; pass base_model")
    peft_type = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8")).get("peft_type")
    if peft_type in ("PREFIX_TUNING", "PROMPT_TUNING", "P_TUNING"):
        raise UnsupportedError(f"{peft_type} adds virtual tokens instead of changing weights; there is nothing to merge. "
                               f"Serve it with PeftModel.from_pretrained(base, '{adapter}')")
    qlora = run.get("qlora")
    target = pathlib.Path(out_dir) if out_dir is not None else root / "merged"
    tok_dir = adapter if (adapter / "tokenizer_config.json").exists() else pathlib.Path(base_path)
    tokenizer = AutoTokenizer.from_pretrained(tok_dir)
    ids = _probe_ids(tokenizer)

    if qlora:
        from tunesmith.tune.methods import _quantization_config, bnb_status

        reason = bnb_status()
        if reason is not None:
            raise UnsupportedError(f"this adapter was trained on a 4-bit base; merging it needs bitsandbytes: {reason}")
        qcfg = type("Q", (), qlora)
        quantized = AutoModelForCausalLM.from_pretrained(
            base_path, quantization_config=_quantization_config(qcfg), device_map={"": "cpu"}
        )
        trained = load_adapter(quantized, adapter)
        reference = _logits(trained, ids)
        if base == "dequantized":
            # dequantize the very 4-bit weights the adapter was trained against, then merge in full precision
            dequant = AutoModelForCausalLM.from_pretrained(
                base_path, quantization_config=_quantization_config(qcfg), device_map={"": "cpu"}
            ).dequantize()
            merged = load_adapter(dequant.to(torch.float32), adapter).merge_and_unload()
        else:
            original = AutoModelForCausalLM.from_pretrained(base_path, dtype=torch.float32)
            merged = load_adapter(original, adapter).merge_and_unload()
        base_desc = "dequantized 4-bit" if base == "dequantized" else "original unquantized"
    else:
        model = load_adapter(AutoModelForCausalLM.from_pretrained(base_path, dtype=torch.float32), adapter)
        reference = _logits(model, ids)
        merged = model.merge_and_unload()
        base_desc = "original"

    drift = float((_logits(merged, ids) - reference).abs().max())
    target.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(target)
    tokenizer.save_pretrained(target)
    info = {"base_model": base_path, "adapter": str(adapter), "merged_into": base_desc, "max_logit_diff_vs_adapter": drift}
    (target / "tunesmith_merge.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    result = MergeResult(target, drift, base_desc)
    log(str(result))
    if qlora and base == "original":
        log("note: the adapter was trained against the 4-bit base; merging into the original weights changes the model "
            "(see the logit drift above). The default base='dequantized' reproduces the trained model.")
    return result


class ModelMerger:
    """The seed guide's ``ModelMerger`` on top of :func:`merge`."""

    def __init__(self, base_model_name: str, adapter_path: str) -> None:
        self.base_model_name = base_model_name
        self.adapter_path = adapter_path

    def merge_and_save(self, output_path: str, push_to_hub: bool = False, hub_repo: str | None = None) -> MergeResult:
        if push_to_hub:
            raise UnsupportedError("tunesmith never pushes to the hub; upload the merged directory yourself")
        return merge(pathlib.Path(self.adapter_path).parent, adapter_dir=self.adapter_path,
                     base_model=self.base_model_name, out_dir=output_path)

    def export_to_gguf(
        self, merged_model_path: str, output_path: str, quantization: str = "q8_0"
    ) -> list[ExportResult]:
        """Write ``output_path/model-f16.gguf`` and ``output_path/model-{quantization}.gguf`` for llama.cpp.

        The seed shells out to llama.cpp's ``convert.py`` and ``quantize``; this runs
        :func:`tunesmith.tune.export.export_gguf` in-process instead. ``quantization`` is one of
        ``f32``, ``f16``, ``bf16``, ``q8_0`` (default ``q8_0``; the seed's ``q4_k_m`` needs llama.cpp's
        ``llama-quantize`` on the f16 file and is refused with that hint).

        Returns:
            The :class:`~tunesmith.tune.export.ExportResult` of each file written (f16 first).
        """
        from tunesmith.tune.export import OUTTYPES, export_gguf

        kind = quantization.lower()
        if kind not in OUTTYPES:
            raise ArgumentError(f"quantization={quantization!r}: the gguf package writes {', '.join(OUTTYPES)}; for "
                                f"{quantization} run llama.cpp's llama-quantize on {output_path}/model-f16.gguf")
        out = pathlib.Path(output_path)
        results = [export_gguf(merged_model_path, out / "model-f16.gguf", outtype="f16")]
        if kind != "f16":
            target = out / f"model-{kind}.gguf"
            results.append(export_gguf(merged_model_path, target, outtype=kind))  # type: ignore[arg-type]
        return results
