"""The seed guide's classes as drop-ins on the tiny model."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.train


def test_recommend_lr_matches_the_guide():
    from tunesmith.tune.seed_compat import LearningRateSchedules

    assert LearningRateSchedules.recommend_lr(7, "lora", 5000) == pytest.approx(2e-4)
    assert LearningRateSchedules.recommend_lr(70, "full", 500) == pytest.approx(1e-5 * 0.5 * 0.8)
    assert LearningRateSchedules.recommend_lr(13, "ia3", 200000) == pytest.approx(1e-4 * 0.7 * 1.2)
    assert "cosine" in LearningRateSchedules.get_schedule_info()


def test_replay_dataset_mixes_the_ratio():
    from tunesmith.tune.seed_compat import CatastrophicForgettingMitigation

    mixed = CatastrophicForgettingMitigation.create_replay_dataset(list(range(100)), list(range(1000, 1050)), 0.1, seed=1)
    assert len(mixed) == 110 and sum(x >= 1000 for x in mixed) == 10


def test_finetuning_config_to_train_config():
    from tunesmith.tune.seed_compat import FineTuningConfig

    cfg = FineTuningConfig(model_name="m", peft_method="qlora", lora_r=16).to_train_config("t.jsonl")
    assert cfg.method == "qlora" and cfg.lora_config.r == 16 and cfg.training.context_length == 2048
    assert cfg.training.warmup_steps == 0.03 and cfg.training.precision == "auto"
    assert FineTuningConfig().effective_batch_size == 16


@pytest.mark.slow
def test_finetuning_trainer_and_evaluator_run(tiny, tokenizer, tmp_path, torch_one_thread):
    from tunesmith.tune import data as tdata
    from tunesmith.tune.seed_compat import ElasticWeightConsolidation, FineTuningConfig, FineTuningEvaluator, FineTuningTrainer

    trainer = FineTuningTrainer(FineTuningConfig(
        model_name=str(tiny["model"]), num_epochs=1, batch_size=8, gradient_accumulation_steps=1, learning_rate=5e-3,
        gradient_checkpointing=False, eval_steps=6, save_steps=6, logging_steps=2,
    ))
    trainer.setup()
    ex = tdata.tokenize_records(tdata.load_records(tiny["train"]), trainer.tokenizer, context_length=96)
    valid = tdata.tokenize_records(tdata.load_records(tiny["valid"]), trainer.tokenizer, context_length=96)
    evaluator = FineTuningEvaluator(trainer.tokenizer, device="cpu")
    before = evaluator.compute_perplexity(trainer.model, valid)
    trainer.train(tdata.as_dataset(ex), tdata.as_dataset(valid), str(tmp_path))
    after = evaluator.compute_perplexity(trainer.model, tdata.as_dataset(valid))
    assert after < before
    assert (tmp_path / "adapter_config.json").exists()
    report = evaluator.compare_models(trainer.model, trainer.model, valid, [{"prompt": "Give the opposite of: up"}])
    assert report["perplexity"]["improvement"] == pytest.approx(0.0)

    collate = tdata.PaddingCollator(trainer.tokenizer.pad_token_id)
    batches = [collate(tdata.as_dataset(valid[:8]))]
    ewc = ElasticWeightConsolidation(trainer.model, batches, importance_weight=10.0)
    assert float(ewc.penalty(trainer.model)) == pytest.approx(0.0)
