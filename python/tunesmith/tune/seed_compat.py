"""The seed guide's training classes as drop-ins, running on transformers 5 / PEFT / TRL 1.x.

``FineTuningConfig`` keeps the guide's fields; ``FineTuningTrainer(config).setup()``
then ``.train(train_dataset, eval_dataset, output_dir)`` works as in the guide but
passes the current names (``eval_strategy``, ``processing_class``, ``warmup_steps``
as a ratio, ``use_cpu``) and stays honest on a CPU (fp32, no flash attention, no
paged optimizer). ``to_train_config()`` turns the same fields into a
:class:`~tunesmith.tune.config.TrainConfig` for the YAML path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tunesmith.data.mixing import CatastrophicForgettingMitigation  # canonical: seeded, non-mutating
from tunesmith.tune.merge import ModelMerger
from tunesmith.tune.methods import enable_activation_checkpointing
from tunesmith.tune.trainer import recommend_lr

__all__ = [
    "CatastrophicForgettingMitigation",
    "ElasticWeightConsolidation",
    "FineTuningConfig",
    "FineTuningEvaluator",
    "FineTuningTrainer",
    "LearningRateSchedules",
    "ModelMerger",
    "QLoRATrainer",
]


@dataclass
class FineTuningConfig:
    """The guide's complete fine-tuning configuration (same fields and defaults)."""

    model_name: str = "meta-llama/Llama-2-7b-hf"
    use_flash_attention: bool = True
    peft_method: str = "lora"
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    lora_target_modules: list[str] = field(default_factory=lambda: ["q_proj", "v_proj", "k_proj", "o_proj"])
    num_epochs: int = 3
    learning_rate: float = 2e-4
    batch_size: int = 4
    gradient_accumulation_steps: int = 4
    max_seq_length: int = 2048
    optimizer: str = "adamw"
    lr_scheduler: str = "cosine"
    warmup_ratio: float = 0.03
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    fp16: bool = False
    bf16: bool = True
    tf32: bool = True
    gradient_checkpointing: bool = True
    eval_steps: int = 100
    save_steps: int = 100
    logging_steps: int = 10
    early_stopping_patience: int = 3
    early_stopping_threshold: float = 0.01

    @property
    def effective_batch_size(self) -> int:
        return self.batch_size * self.gradient_accumulation_steps

    def to_train_config(self, train_path: str, valid_path: str | None = None, output_dir: str = "tunesmith-out") -> Any:
        from tunesmith.tune.config import TrainConfig

        data = {k: getattr(self, k) for k in self.__dataclass_fields__ if k not in ("optimizer", "use_flash_attention", "tf32")}
        data.update(train_path=train_path, valid_path=valid_path, output_dir=output_dir,
                    optim="paged_adamw_8bit" if self.optimizer == "paged_adamw_8bit" else "adamw_torch")
        # the guide's bf16=True default means "16-bit where the GPU has it": precision auto does that
        data.pop("bf16")
        if not self.fp16:
            data.pop("fp16")
        return TrainConfig.from_dict(data, source="FineTuningConfig")


class FineTuningTrainer:
    """The guide's trainer: ``setup()`` loads tokenizer and model for ``peft_method``; ``train()`` runs the Trainer."""

    def __init__(self, config: FineTuningConfig) -> None:
        self.config = config
        self.model: Any = None
        self.tokenizer: Any = None
        self.trainer: Any = None

    def _device(self) -> str:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    def _dtype(self) -> Any:
        import torch

        if self._device() == "cpu":
            return torch.float32
        return torch.bfloat16 if self.config.bf16 else torch.float16 if self.config.fp16 else torch.float32

    def _load_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"dtype": self._dtype()}
        if self._device() == "cuda":
            kwargs["device_map"] = "auto"
            if self.config.use_flash_attention:
                import importlib.util

                if importlib.util.find_spec("flash_attn") is not None:
                    kwargs["attn_implementation"] = "flash_attention_2"
        return kwargs

    def _lora_config(self) -> Any:
        from peft import LoraConfig

        return LoraConfig(r=self.config.lora_r, lora_alpha=self.config.lora_alpha, lora_dropout=self.config.lora_dropout,
                          target_modules=self.config.lora_target_modules, bias="none", task_type="CAUSAL_LM")

    def setup(self) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(self.config.model_name)
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        if self.config.peft_method == "qlora":
            self.model = self._load_qlora_model()
        else:
            self.model = AutoModelForCausalLM.from_pretrained(self.config.model_name, **self._load_kwargs())
            if self.config.peft_method == "lora":
                from peft import get_peft_model

                if self.config.gradient_checkpointing:
                    self.model.enable_input_require_grads()
                self.model = get_peft_model(self.model, self._lora_config())
        if self.config.gradient_checkpointing:
            enable_activation_checkpointing(self.model)
        if self.config.tf32 and torch.cuda.is_available():
            torch.backends.cuda.matmul.allow_tf32 = True

    def _load_qlora_model(self) -> Any:
        import torch
        from peft import get_peft_model, prepare_model_for_kbit_training
        from transformers import AutoModelForCausalLM, BitsAndBytesConfig

        from tunesmith.errors import UnsupportedError
        from tunesmith.tune.methods import bnb_status

        reason = bnb_status()
        if reason is not None:
            raise UnsupportedError(f"QLoRA needs bitsandbytes: {reason}")
        compute = torch.bfloat16 if self._device() == "cuda" and self.config.bf16 else torch.float32
        bnb = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=compute,
                                 bnb_4bit_use_double_quant=True)
        model = AutoModelForCausalLM.from_pretrained(
            self.config.model_name, quantization_config=bnb,
            device_map={"": 0} if self._device() == "cuda" else {"": "cpu"},
        )
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=self.config.gradient_checkpointing)
        return get_peft_model(model, self._lora_config())

    def create_training_args(self, output_dir: str) -> Any:
        from transformers import TrainingArguments

        cuda = self._device() == "cuda"
        paged = self.config.peft_method == "qlora" and cuda
        return TrainingArguments(
            output_dir=output_dir,
            num_train_epochs=self.config.num_epochs,
            per_device_train_batch_size=self.config.batch_size,
            per_device_eval_batch_size=self.config.batch_size,
            gradient_accumulation_steps=self.config.gradient_accumulation_steps,
            learning_rate=self.config.learning_rate,
            weight_decay=self.config.weight_decay,
            warmup_steps=self.config.warmup_ratio,
            lr_scheduler_type=self.config.lr_scheduler,
            max_grad_norm=self.config.max_grad_norm,
            fp16=self.config.fp16 and cuda,
            bf16=self.config.bf16 and cuda,
            use_cpu=not cuda,
            logging_steps=self.config.logging_steps,
            eval_strategy="steps",
            eval_steps=self.config.eval_steps,
            save_strategy="steps",
            save_steps=self.config.save_steps,
            save_total_limit=3,
            load_best_model_at_end=True,
            metric_for_best_model="eval_loss",
            greater_is_better=False,
            optim="paged_adamw_8bit" if paged else "adamw_torch",
            report_to="none",
            remove_unused_columns=False,
        )

    def train(self, train_dataset: Any, eval_dataset: Any, output_dir: str) -> Any:
        """Datasets of ``input_ids``/``labels`` rows (e.g. from :func:`tunesmith.tune.data.as_dataset`)."""
        from transformers import EarlyStoppingCallback, Trainer

        from tunesmith.tune.data import PaddingCollator

        if self.model is None:
            self.setup()
        self.trainer = Trainer(
            model=self.model,
            args=self.create_training_args(output_dir),
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            processing_class=self.tokenizer,
            data_collator=PaddingCollator(self.tokenizer.pad_token_id),
            callbacks=[EarlyStoppingCallback(self.config.early_stopping_patience, self.config.early_stopping_threshold)],
        )
        result = self.trainer.train()
        self.trainer.save_model()
        return result


class QLoRATrainer(FineTuningTrainer):
    """The guide's ``QLoRATrainer(model_name, ...)``: a FineTuningTrainer with ``peft_method="qlora"``."""

    def __init__(self, model_name: str, lora_r: int = 16, lora_alpha: int = 32,
                 target_modules: Sequence[str] | None = None, **overrides: Any) -> None:
        cfg = FineTuningConfig(model_name=model_name, peft_method="qlora", lora_r=lora_r, lora_alpha=lora_alpha, **overrides)
        if target_modules is not None:
            cfg.lora_target_modules = list(target_modules)
        super().__init__(cfg)

    def load_model(self) -> Any:
        self.setup()
        return self.model

    def print_trainable_parameters(self, model: Any = None) -> str:
        from tunesmith.tune.methods import trainable_parameters

        trainable, total = trainable_parameters(model if model is not None else self.model)
        line = f"trainable params: {trainable:,} || all params: {total:,} || trainable%: {100 * trainable / total:.4f}"
        print(line)
        return line


class LearningRateSchedules:
    @staticmethod
    def get_schedule_info() -> dict[str, str]:
        return {
            "cosine": "Cosine annealing - smooth decay, good default",
            "linear": "Linear decay - simple and predictable",
            "constant": "No decay - use with warmup",
            "constant_with_warmup": "Constant after warmup",
            "cosine_with_restarts": "Cosine with periodic restarts",
            "polynomial": "Polynomial decay - flexible",
        }

    @staticmethod
    def recommend_lr(model_params_billions: float, peft_method: str, dataset_size: int) -> float:
        return recommend_lr(model_params_billions, peft_method, dataset_size)


def ElasticWeightConsolidation(model: Any, dataloader: Any, importance_weight: float = 1000) -> Any:  # noqa: N802
    """The guide's EWC module: Fisher information from ``dataloader`` batches; ``penalty(model)`` to add to the loss."""
    import torch
    from torch import nn

    class _EWC(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.importance_weight = importance_weight
            self.params = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
            self.fisher = self._compute_fisher()

        def _compute_fisher(self) -> dict[str, torch.Tensor]:
            fisher = {n: torch.zeros_like(p) for n, p in self.params.items()}
            was = model.training
            model.eval()
            batches = 0
            for batch in dataloader:
                model.zero_grad()
                model(**batch).loss.backward()
                for n, p in model.named_parameters():
                    if n in fisher and p.grad is not None:
                        fisher[n] += p.grad.detach() ** 2
                batches += 1
            model.zero_grad()
            model.train(was)
            return {n: f / max(batches, 1) for n, f in fisher.items()}

        def penalty(self, current: Any) -> torch.Tensor:
            loss = torch.zeros(())
            for n, p in current.named_parameters():
                if n in self.fisher:
                    loss = loss + (self.fisher[n] * (p - self.params[n]) ** 2).sum()
            return self.importance_weight * loss

    return _EWC()


class FineTuningEvaluator:
    """The guide's evaluator: perplexity on tokenized rows, generation, and a base-vs-tuned comparison."""

    def __init__(self, tokenizer: Any, device: str = "cuda") -> None:
        self.tokenizer = tokenizer
        self.device = device

    def compute_perplexity(self, model: Any, eval_dataset: Any, batch_size: int = 8) -> float:
        from tunesmith.tune.data import Example
        from tunesmith.tune.evaluate import mean_loss

        examples = [e if isinstance(e, Example) else Example(list(e["input_ids"]), list(e["labels"])) for e in eval_dataset]
        return mean_loss(model, examples, batch_size=batch_size, pad_token_id=self.tokenizer.pad_token_id or 0).perplexity

    def evaluate_generation(self, model: Any, test_cases: list[dict[str, str]], max_new_tokens: int = 256) -> list[dict[str, Any]]:
        from tunesmith.tune.evaluate import generate

        results = generate(model, self.tokenizer, [c["prompt"] for c in test_cases], max_new_tokens=max_new_tokens)
        for case, result in zip(test_cases, results, strict=True):
            if case.get("expected"):
                result["expected"] = case["expected"]
                result["exact_match"] = result["generated"].strip() == case["expected"].strip()
        return results

    def compare_models(self, baseline_model: Any, finetuned_model: Any, eval_dataset: Any,
                       test_cases: list[dict[str, str]]) -> dict[str, Any]:
        import statistics

        base_ppl = self.compute_perplexity(baseline_model, eval_dataset)
        tuned_ppl = self.compute_perplexity(finetuned_model, eval_dataset)
        base_gen = self.evaluate_generation(baseline_model, test_cases)
        tuned_gen = self.evaluate_generation(finetuned_model, test_cases)
        return {
            "perplexity": {"baseline": base_ppl, "finetuned": tuned_ppl, "improvement": (base_ppl - tuned_ppl) / base_ppl},
            "generation": {
                "baseline_avg_latency": statistics.fmean(r["latency_ms"] for r in base_gen) if base_gen else 0.0,
                "finetuned_avg_latency": statistics.fmean(r["latency_ms"] for r in tuned_gen) if tuned_gen else 0.0,
            },
            "detailed_results": {"baseline": base_gen, "finetuned": tuned_gen},
        }
