"""The examples in tunesmith.data's docstrings run and print what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize("name", ["", ".example", ".formats", ".mixing", ".synthetic", ".pretrain", ".llm"])
def test_docstring_examples(name):
    module = importlib.import_module(f"tunesmith.data{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    if name in ("", ".example", ".formats", ".mixing", ".synthetic"):
        assert result.attempted > 0
