"""The generator and augmenter against `tunesmith serve` itself (a random-init tiny model: its answers are
noise, which is the point: nothing crashes and every unusable answer is reported)."""

from __future__ import annotations

import asyncio

import pytest

from tunesmith.data import CompletionClient, DataAugmenter, SyntheticDataGenerator, TrainingExample

pytestmark = [pytest.mark.slow, pytest.mark.train]


@pytest.fixture(scope="module")
def served(tiny_model):
    from tunesmith.serve.server import DynamicAdapterServer

    server = DynamicAdapterServer(str(tiny_model), device="cpu").start(port=0, api_key="k")
    yield server
    server.shutdown()


@pytest.mark.parametrize("endpoint", ["chat", "completions"])
def test_generator_and_augmenter_on_tunesmith_serve(served, endpoint):
    client = CompletionClient(served.url, api_key="k", endpoint=endpoint, max_tokens=24, temperature=0.0)
    seeds = [TrainingExample("Give the opposite of: hot", "", "The opposite of hot is cold.")]
    gen = SyntheticDataGenerator(client, max_requests=2)
    out = asyncio.run(gen.generate_from_seed(seeds, 3, "antonyms"))
    report = gen.report
    assert report.requests == 2 and len(out) == report.kept <= 3
    assert report.parsed + len(report.unparsed) >= 1 or "got 0 usable" in report.notes[0]
    aug = DataAugmenter(client)
    result = asyncio.run(aug.augment_with_paraphrases(seeds, num_paraphrases=2))
    assert result[0] is seeds[0] and aug.report.requests == 1
    assert len(result) - 1 + sum(aug.report.removed_by_clean.values()) == aug.report.parsed
