"""SyntheticDataGenerator / DataAugmenter / CompletionClient against a real HTTP server on loopback."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest

from tunesmith.data import CompletionClient, DataAugmenter, EndpointError, SyntheticDataGenerator, TrainingExample
from tunesmith.data.synthetic import ParseFailure, clean_examples, parse_generated, parse_paraphrases
from tunesmith.errors import ArgumentError

SEEDS = [
    TrainingExample("Convert the temperature to Fahrenheit", "20 C", "20 degrees Celsius is 68 degrees Fahrenheit."),
    TrainingExample("Convert the distance to miles", "10 km", "10 kilometres is about 6.2 miles in total."),
]

GOOD = """Here are the examples you asked for:
---
Instruction: Convert the weight to pounds
Input: 5 kg
Output: 5 kilograms is about 11 pounds of weight.
---
**Instruction:** Convert the volume to gallons
**Input:** (empty)
**Output:** Ten litres is roughly 2.64 US gallons, a bit more
than two and a half.
---
Instruction: Convert the speed to mph
Input: 100 km/h
---
I could not think of more examples.
---
Instruction: Convert the temperature to Fahrenheit
Input: 20 C
Output: 20 degrees Celsius is 68 degrees Fahrenheit.
---
Instruction: Email the conversion table to the team
Input:
Output: Send the table to jane.doe@example.com before the meeting today.
---"""

MORE = """```json
[{"instruction": "Convert the length to inches", "input": "30 cm", "output": "30 centimetres is about 11.8 inches long."},
 {"instruction": "Convert the area", "output": ""}]
```"""


def run(coro):
    return asyncio.run(coro)


def test_generator_parses_reports_cleans_and_tops_up(fake_endpoint):
    fake_endpoint.queue(GOOD, MORE)
    client = CompletionClient(fake_endpoint.url, api_key="sk-test", model="tiny")
    gen = SyntheticDataGenerator(client, batch_size=10)
    out = run(gen.generate_from_seed(SEEDS, 4, "unit conversion"))
    report = gen.report
    assert [ex.instruction for ex in out] == ["Convert the weight to pounds", "Convert the volume to gallons",
                                              "Email the conversion table to the team", "Convert the length to inches"]
    assert out[1].input == "" and out[1].output.endswith("a bit more\nthan two and a half.")
    assert out[2].output == "Send the table to [EMAIL] before the meeting today."  # PII redacted by the engine
    assert all(ex.metadata == {"synthetic": True} for ex in out)
    # two requests: the first gave 3 usable examples (one unparsable, one chatter block, one copy of a seed)
    assert report.requests == 2 and report.parsed == 5 and report.kept == 4
    reasons = sorted(f.reason for f in report.unparsed)
    assert reasons == ["no 'Instruction:'/'Output:' labels", "no 'Output:' field", "no 'Output:' field"]
    assert report.removed_by_clean == {"exact_duplicate": 1}
    assert "2 requests -> 5 parsed, 3 unparsable blocks" in str(report)
    first = fake_endpoint.requests[0]
    assert first["path"] == "/v1/chat/completions" and first["authorization"] == "Bearer sk-test"
    body = first["body"]
    assert body["model"] == "tiny"
    assert body["messages"][0] == {"role": "system", "content": "You are generating training data for: unit conversion"}
    assert "Generate 4 new, diverse examples." in body["messages"][1]["content"]
    assert "Instruction: Convert the distance to miles\nInput: 10 km\n" in body["messages"][1]["content"]
    assert "Generate 1 new, diverse examples." in fake_endpoint.requests[1]["body"]["messages"][1]["content"]


def test_generator_gives_up_after_max_requests_and_says_so(fake_endpoint):
    fake_endpoint.queue("I'm sorry, I can't help with that.")
    gen = SyntheticDataGenerator(CompletionClient(fake_endpoint.url), max_requests=3)
    assert run(gen.generate_from_seed(SEEDS, 5, "unit conversion")) == []
    assert gen.report.requests == 3 and len(gen.report.unparsed) == 3
    assert gen.report.notes == ["asked for 5, got 0 usable after 3 requests"]


def test_clean_false_keeps_everything_parsed(fake_endpoint):
    fake_endpoint.queue(GOOD)
    gen = SyntheticDataGenerator(CompletionClient(fake_endpoint.url), clean=False)
    out = run(gen.generate_from_seed(SEEDS, 4, "unit conversion"))
    assert len(out) == 4 and out[2].input == "20 C"  # the seed copy stays when the engine is off


def test_augmenter_paraphrases_with_originals_first_and_reports(fake_endpoint):
    fake_endpoint.queue(
        "Sure, here are 2 paraphrases:\n1. Change the temperature into Fahrenheit\n2. \"Express the temperature in "
        "Fahrenheit\"\n3. Give the temperature in Fahrenheit",
        "- Convert the distance to miles\n- Turn the distance into miles",
    )
    examples = [SEEDS[0], TrainingExample(SEEDS[1].instruction, SEEDS[1].input, SEEDS[1].output,
                                          system_prompt="Be exact.", metadata={"id": 7})]
    aug = DataAugmenter(CompletionClient(fake_endpoint.url), concurrency=1)
    out = run(aug.augment_with_paraphrases(examples, num_paraphrases=2))
    assert [ex.instruction for ex in out] == [
        SEEDS[0].instruction, "Change the temperature into Fahrenheit", "Express the temperature in Fahrenheit",
        SEEDS[1].instruction, "Turn the distance into miles"]
    assert out[0] is examples[0] and examples[1].metadata == {"id": 7}
    assert out[4].metadata == {"id": 7, "augmented": True} and out[4].system_prompt == "Be exact."
    assert out[4].output == SEEDS[1].output and out[4].input == "10 km"
    reasons = sorted(f.reason for f in aug.report.unparsed)
    assert reasons == ["got 1 of 2 paraphrases", "more than the 2 asked for", "preamble", "same as the original"]
    assert aug.report.unparsed[0] == ParseFailure(0, "Sure, here are 2 paraphrases:", "preamble")
    assert "Original: Convert the temperature to Fahrenheit" in fake_endpoint.requests[0]["body"]["messages"][0]["content"]


def test_completions_endpoint_and_base_url_forms(fake_endpoint):
    fake_endpoint.queue("plain completion")
    root = fake_endpoint.url.removesuffix("/v1")
    client = CompletionClient(root, endpoint="completions", max_tokens=7, temperature=0.0)
    assert client.url == f"{root}/v1/completions"
    assert client.complete("Hello", system="Sys", stop=["\n"], seed=3) == "plain completion"
    body = fake_endpoint.requests[0]["body"]
    assert body == {"max_tokens": 7, "temperature": 0.0, "stop": ["\n"], "seed": 3, "prompt": "Sys\n\nHello"}
    assert fake_endpoint.requests[0]["authorization"] is None


def test_http_errors_are_clear_and_retried(fake_endpoint):
    Canned = fake_endpoint.Canned
    error = json.dumps({"error": {"message": "model 'x' is not loaded", "type": "invalid_request_error"}}).encode()
    fake_endpoint.queue(Canned(status=404, body=error))
    client = CompletionClient(fake_endpoint.url, retries=2, backoff=0.01)
    with pytest.raises(EndpointError, match=r"/v1/chat/completions: HTTP 404 Not Found: model 'x' is not loaded") as info:
        client.complete("hi")
    assert info.value.status == 404 and len(fake_endpoint.requests) == 1  # a 4xx is not retried

    fake_endpoint.queue(Canned(status=503, body=b"overloaded"), Canned("recovered"))
    assert client.complete("hi") == "recovered" and len(fake_endpoint.requests) == 2

    fake_endpoint.queue(Canned(status=500, body=b"boom"))
    with pytest.raises(EndpointError, match=r"HTTP 500 Internal Server Error: boom \(after 3 attempts\)"):
        client.complete("hi")


def test_timeouts_refused_connections_and_bad_answers(fake_endpoint):
    Canned = fake_endpoint.Canned
    fake_endpoint.queue(Canned("late", delay=1.0))
    with pytest.raises(EndpointError, match=r"no answer within 0.2 s"):
        CompletionClient(fake_endpoint.url, timeout=0.2, retries=0).complete("hi")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(EndpointError, match=rf"127.0.0.1:{port}/v1/chat/completions: cannot connect"):
        CompletionClient(f"http://127.0.0.1:{port}/v1", retries=0).complete("hi")
    fake_endpoint.queue(Canned(status=0))
    with pytest.raises(EndpointError, match=r"connection failed: RemoteDisconnected.*\(after 2 attempts\)"):
        CompletionClient(fake_endpoint.url, retries=1, backoff=0.01).complete("hi")
    assert len(fake_endpoint.requests) == 2
    fake_endpoint.queue(Canned(body=b"<html>not json</html>"))
    with pytest.raises(EndpointError, match="the answer is not JSON"):
        CompletionClient(fake_endpoint.url).complete("hi")
    fake_endpoint.queue(Canned(body=b'{"choices": []}'))
    with pytest.raises(EndpointError, match=r"no string at choices\[0\]\.message\.content"):
        CompletionClient(fake_endpoint.url).complete("hi")
    with pytest.raises(ArgumentError, match="base_url"):
        CompletionClient("localhost:8000")
    with pytest.raises(ArgumentError, match="endpoint: 'embeddings' is not one of chat, completions"):
        CompletionClient("http://h", endpoint="embeddings")
    assert "sk-secret" not in repr(CompletionClient("http://h", api_key="sk-secret"))


def test_parser_variants():
    numbered = parse_generated("1. Instruction: a\nOutput: b\n2. Instruction: c\nContext: d\nResponse: e")
    assert [(e.instruction, e.input, e.output) for e in numbered.examples] == [("a", "", "b"), ("c", "d", "e")]
    lines = parse_generated('{"instruction": "q", "output": "r"}\n{"question": "s", "answer": "t"}\n[1]')
    assert [(e.instruction, e.output) for e in lines.examples] == [("q", "r"), ("s", "t")]
    assert [f.reason for f in lines.failures] == ["expected an object, got list"]
    chatter = parse_generated("I'm sorry, I can't help with that.")
    assert chatter.examples == [] and [f.text for f in chatter.failures] == ["I'm sorry, I can't help with that."]
    obj = parse_generated('{"examples": [{"instruction": "q", "input": "N/A", "output": "r"}, 5]}')
    assert [(e.input, e.output) for e in obj.examples] == [("", "r")]
    assert [f.reason for f in obj.failures] == ["expected an object, got int"]
    assert parse_generated("").examples == [] and parse_generated("").failures == []
    found, skipped = parse_paraphrases("Paraphrase 1: Tell me a joke\n(2) 'Share a joke'", "Tell a joke", 5)
    assert found == ["Tell me a joke", "Share a joke"] and skipped == []


def test_clean_examples_dedups_against_reference_and_keeps_metadata():
    cand = [TrainingExample(SEEDS[0].instruction, SEEDS[0].input, SEEDS[0].output, metadata={"n": 1}),
            TrainingExample("Tell me", "", "short", metadata={"n": 2}),
            TrainingExample("Explain the boiling point of water", "", "Water boils at 100 degrees Celsius at sea level.",
                            metadata={"n": 3})]
    kept, removed = clean_examples(cand, reference=SEEDS)
    assert [ex.metadata for ex in kept] == [{"n": 3}]
    assert removed == {"exact_duplicate": 1, "seed_length": 1}
    assert cand[0].metadata == {"n": 1}
