"""Fixtures for the tune tests: a tiny random-init Llama and a tokenizer trained here, saved and reloaded."""

from __future__ import annotations

import pathlib

import pytest


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory, torch_one_thread) -> dict[str, pathlib.Path]:
    from tunesmith.tune.tiny import build_tiny_model, make_dataset

    root = tmp_path_factory.mktemp("tiny")
    model = build_tiny_model(root / "model")
    train, valid = make_dataset(root / "data", n_train=96, n_valid=24)
    return {"root": root, "model": model, "train": train, "valid": valid}


@pytest.fixture(scope="session")
def tokenizer(tiny):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny["model"])


def write_config(path: pathlib.Path, text: str) -> pathlib.Path:
    path.write_text(text, encoding="utf-8")
    return path
