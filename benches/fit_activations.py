"""Fit the activation-table terms beyond the saved-tensor coefficients (``bwd_temp``, ``amp_full``).

``bwd_temp``: during one decoder layer's backward the tensors it saved are still alive, and beside them its
gradient temporaries (for a gated MLP: the gradient of the down projection's input and the two gradients of
the gate·up product). Under gradient checkpointing this is the backward peak: one recomputed layer's
activations plus these temporaries on top of the checkpointed inputs. The estimator models them as
``t × intermediate`` bytes per token, per family, activation dtype and trainable set. For each family,
method (full, LoRA r8, IA3, prompt tuning = the ``frozen`` table) and precision (fp32, bf16, autocast) this
measures a checkpointed training step (batch 4 × 256 tokens, FakeTensorMode) at two hidden sizes, computes
the estimator's backward peak without the temporaries (the plan with ``bwd_temp*`` set high, less that term)
and solves for ``t``. With every weight trained, gradients also accumulate during backward (not modelled),
so ``full``'s ``t`` varies more with the size.

``amp_full``: autocast with every weight trained saves, beyond the pure-bf16 table, one bf16 input copy per
linear (pure bf16 shares one input among q, k, v and among gate, up) and fp32 norm outputs: the saved
bytes of full fine-tuning under autocast less those under bf16 and less the bf16 weight copies
(2 B per matmul parameter), per token, layer and hidden unit.

The mean over the two sizes and the families sharing one table (llama, qwen2, mistral) is written to the
family's table: ``bwd_temp`` keyed ``precision/mode``, and ``amp_full``. Run::

    python benches/fit_activations.py            # prints the fit
    python benches/fit_activations.py --write    # and writes activations.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import statistics
import warnings
from typing import Any

from tunesmith.estimate import memory
from tunesmith.estimate.measure import measure_training_step

TABLE = pathlib.Path(memory.__file__).with_name("activations.json")

_LLAMA_LIKE = {
    "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 512,
    "max_position_embeddings": 512, "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0,
}
# intermediate size per hidden unit, and the config of each family (the tests' tiny models, 4 layers)
FAMILIES: dict[str, tuple[float, dict[str, Any]]] = {
    "llama": (2.75, {"model_type": "llama", **_LLAMA_LIKE}),
    "qwen2": (2.75, {"model_type": "qwen2", **_LLAMA_LIKE, "tie_word_embeddings": True}),
    "mistral": (2.75, {"model_type": "mistral", **_LLAMA_LIKE}),
    "gemma": (2.75, {"model_type": "gemma", **_LLAMA_LIKE, "num_key_value_heads": 1, "head_dim": 16}),
    "phi3": (2.75, {"model_type": "phi3", **_LLAMA_LIKE}),
    "gpt2": (4.0, {"model_type": "gpt2", "n_layer": 4, "n_head": 4, "vocab_size": 512, "n_positions": 512,
                   "bos_token_id": 1, "eos_token_id": 2}),
    "gpt_neox": (4.0, {"model_type": "gpt_neox", "num_hidden_layers": 4, "num_attention_heads": 4,
                       "vocab_size": 512, "max_position_embeddings": 512, "bos_token_id": 1, "eos_token_id": 2}),
}
TARGETS = {
    "phi3": ["qkv_proj", "o_proj"], "gpt2": ["c_attn", "attn.c_proj"],
    "gpt_neox": ["query_key_value", "attention.dense"],
}
METHODS = {"full": {"method": "full"}, "lora": {"method": "lora", "rank": 8}, "ia3": {"method": "ia3"},
           "frozen": {"method": "prompt", "num_virtual_tokens": 16}}
PRECISIONS = {"fp32": "fp32", "bf16": "bf16", "amp": "amp_bf16"}
HIDDEN = (128, 256)
BATCH, SEQ = 4, 256


def config(family: str, hidden: int) -> dict[str, Any]:
    ratio, cfg = FAMILIES[family]
    if family == "gpt2":
        return {**cfg, "n_embd": hidden}
    return {**cfg, "hidden_size": hidden, "intermediate_size": int(ratio * hidden)}


def _measure(family: str, mode: str, precision: str, hidden: int, checkpointing: bool) -> Any:
    knobs = dict(METHODS[mode], precision=PRECISIONS[precision], batch_size=BATCH, seq_len=SEQ,
                 gradient_checkpointing=checkpointing, lora_dropout=0.0,
                 target_modules=TARGETS.get(family, ["q_proj", "k_proj", "v_proj", "o_proj"]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return measure_training_step(config(family, hidden), fake=True, **knobs)


def measure(family: str, mode: str, precision: str, hidden: int) -> tuple[int, memory.Plan, memory.Job, int]:
    """``(measured backward peak, the estimator's plan and job, tokens · intermediate)``."""
    cfg = config(family, hidden)
    m = _measure(family, mode, precision, hidden, True)
    kw = m.estimate_kwargs()
    shape = memory.resolve_model(cfg)
    method, prec, opt, attn, _, impl = memory.normalize_args(
        method=kw["method"], precision=kw["precision"], optimizer=kw["optimizer"],
        attn_implementation=kw["attn_implementation"], adamw_impl=kw["adamw_impl"])
    plan = memory.make_plan(shape, method, target_modules=kw["target_modules"],
                            num_virtual_tokens=kw["num_virtual_tokens"], lora_dropout=0.0)
    job = memory.Job(batch_size=BATCH, seq_len=SEQ, rank=kw["rank"] if method == "lora" else 0, checkpointing=1,
                     precision=memory.PRECISIONS.index(prec), optimizer=memory.OPTIMIZERS.index(opt),
                     adamw_impl=memory.ADAMW_IMPLS.index(impl))
    tokens = BATCH * (SEQ + (kw["num_virtual_tokens"] if method == "prompt" else 0))
    return m.phase_peaks["backward"], plan, job, tokens * shape.intermediate


def solve_t(measured: int, plan: memory.Plan, job: memory.Job, per_t: int) -> float:
    """``t`` at which the estimator's backward equals the measured one (the layer-backward term dominating)."""
    big = 1000.0 * plan.intermediate
    high = dataclasses.replace(plan, bwd_temp2=big, bwd_temp4=big, bwd_temp_amp=big)
    base = memory.evaluate_plan(high, job)["backward_bytes"] - 1000.0 * per_t
    return (measured - base) / per_t


def fit_autocast_full() -> dict[str, list[float]]:
    found: dict[str, list[float]] = {}
    for family in FAMILIES:
        for hidden in HIDDEN:
            bf16 = _measure(family, "full", "bf16", hidden, False).saved_activations_bytes
            amp = _measure(family, "full", "amp", hidden, False).saved_activations_bytes
            shape = memory.resolve_model(config(family, hidden))
            copies = 2 * (shape.layers * shape.layer_params + shape.vocab * shape.hidden)
            per = (amp - bf16 - copies) / (shape.layers * BATCH * SEQ * shape.hidden)
            found.setdefault(memory._act_key(shape), []).append(per)
            print(f"{family:9s} amp_full h={hidden:<4d} {per:6.3f}", flush=True)
    return found


def fit() -> dict[tuple[str, str, str], list[float]]:
    found: dict[tuple[str, str, str], list[float]] = {}
    for family in FAMILIES:
        for mode in METHODS:
            if mode == "ia3" and family == "phi3":
                continue  # PEFT has no IA3 targets for phi3
            for precision in PRECISIONS:
                for hidden in HIDDEN:
                    measured, plan, job, per_t = measure(family, mode, precision, hidden)
                    t = solve_t(measured, plan, job, per_t)
                    key = (memory._act_key(memory.resolve_model(config(family, hidden))), mode, precision)
                    found.setdefault(key, []).append(t)
                    print(f"{family:9s} {mode:6s} {precision:4s} h={hidden:<4d} t={t:6.2f}", flush=True)
    return found


def write(found: dict[tuple[str, str, str], list[float]], amp_full: dict[str, list[float]]) -> None:
    table = json.loads(TABLE.read_text())
    for key, per in amp_full.items():
        table[key]["amp_full"] = round(statistics.fmean(per), 2)
    for (key, mode, precision), ts in sorted(found.items()):
        # a negative mean (the layer backward never holds the peak) is no temporary at all
        table[key].setdefault("bwd_temp", {})[f"{precision}/{mode}"] = max(0.0, round(statistics.fmean(ts), 2))
    TABLE.write_text(json.dumps(table, indent=1, sort_keys=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="write the fit into activations.json")
    args = parser.parse_args()
    amp_full = fit_autocast_full()
    found = fit()
    for key, per in sorted(amp_full.items()):
        print(f"{key:12s} amp_full mean {statistics.fmean(per):6.2f}  range {min(per):6.2f}..{max(per):6.2f}")
    for (key, mode, precision), ts in sorted(found.items()):
        print(f"{key:12s} {mode:6s} {precision:4s} mean {statistics.fmean(ts):6.2f}  range {min(ts):6.2f}..{max(ts):6.2f}")
    if args.write:
        write(found, amp_full)


if __name__ == "__main__":
    main()
