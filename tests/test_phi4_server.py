"""Phi-4-reasoning-plus through the real Cog server, on a tiny Phi3 model with Phi-4's template.

Here (no GPU) the predictor takes its transformers + bitsandbytes NF4 path; Unsloth needs CUDA.
"""

import time

import pytest
from transformers import AutoTokenizer

from scripts.harness.cog_server import CogServer
from scripts.harness.tiny_models.phi4 import SCRIPT_ANSWER, SCRIPT_REASONING
from shared.text.reasoning import visible_text
from tests.cog_client import WebhookReceiver, cancel, output_text, predict_async


@pytest.fixture(scope="module")
def server(tiny_phi4):
    env = {"PHI4_MODEL_DIR": str(tiny_phi4), "MAX_CONTEXT_TOKENS": "8192", "CACHE_BUCKETS": "1024", "DEVICE": "cpu"}
    with CogServer("phi4-reasoning", env) as cog:
        yield cog


def test_setup_says_which_backend_it_chose_and_compiles_its_decode(server):
    log = server.log_tail(10**7)
    assert "backend: transformers+bitsandbytes-nf4 (unsloth not used: no CUDA device)" in log
    assert "warm-up: decode step over a 1024-token cache" in log
    assert "warm-up: decode step over a 8192-token cache" in log
    assert "warm-up compiled no graph" not in log


def test_prompt_is_rendered_with_phi4_template(tiny_phi4):
    tokenizer = AutoTokenizer.from_pretrained(tiny_phi4)
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "2+2?"}], tokenize=False, add_generation_prompt=True
    )
    assert text.startswith("<|im_start|>system<|im_sep|>You are Phi, a language model trained by Microsoft")
    assert text.endswith("<|im_start|>user<|im_sep|>2+2?<|im_end|><|im_start|>assistant<|im_sep|>")


def test_streams_an_answer(server):
    events = server.stream(prompt="What is 2+2?", max_new_tokens=16, seed=3)
    assert events[-1][1]["status"] == "succeeded", events[-1]
    chunks = [data["chunk"] for name, data in events if name == "output"]
    assert len(chunks) >= 2
    metrics = events[-1][1]["metrics"]
    assert 1 <= metrics["output_token_count"] <= 16
    assert metrics["input_token_count"] > 800, "the fixed reasoning system prompt is part of every prompt"


def test_system_prompt_is_added_after_the_reasoning_prompt(server):
    plain = server.predict(prompt="Hi", max_new_tokens=1)
    extra = server.predict(prompt="Hi", system_prompt="Answer in French.", max_new_tokens=1)
    assert extra["metrics"]["input_token_count"] > plain["metrics"]["input_token_count"]


def test_same_seed_reproduces(server):
    args = dict(prompt="Count to five.", max_new_tokens=24, temperature=0.8, seed=11)
    assert output_text(server.predict(**args)) == output_text(server.predict(**args))


def test_reasoning_is_streamed_or_hidden(server):
    """The scripted tiny model really writes <think>First, add</think> before its answer."""
    args = dict(prompt="What is the capital of France?", max_new_tokens=40, temperature=0)
    shown = output_text(server.predict(**args, show_reasoning=True))
    assert shown.startswith(f"<think>{SCRIPT_REASONING}</think>{SCRIPT_ANSWER}")
    events = server.stream(**args, show_reasoning=False)
    chunks = [data["chunk"] for name, data in events if name == "output"]
    hidden = "".join(chunks)
    assert hidden.startswith(SCRIPT_ANSWER.strip())
    assert "<think>" not in hidden and "</think>" not in hidden and SCRIPT_REASONING not in hidden
    assert not any(piece in chunk for chunk in chunks for piece in ("<", "think>", "</")), chunks
    assert hidden == "".join(visible_text([shown], show_reasoning=False))


@pytest.mark.parametrize(
    ("inputs", "field"),
    [
        ({"prompt": ""}, "prompt"),
        ({"prompt": "x", "max_new_tokens": 40000}, "max_new_tokens"),
        ({"prompt": "x", "temperature": -0.1}, "temperature"),
        ({"prompt": "x", "show_reasoning": "maybe"}, "show_reasoning"),
    ],
)
def test_bad_input_is_rejected_and_the_server_stays_ready(server, inputs, field):
    response = server.post(inputs)
    assert response.status_code == 422, response.text
    assert any(d["loc"][-1] == field for d in response.json()["detail"])
    server.wait_until_ready(timeout=10)  # BUSY for a moment while the failed slot is released
    assert server.predict(prompt="ok", max_new_tokens=2)["status"] == "succeeded"


def test_the_answer_streams_and_a_cancel_stops_it_part_way(server):
    """run() is a sync generator: coglet sends each piece as it is yielded (an async one it sends at the end,
    tests/test_smollm3_server.py), and a cancel stops decoding with the pieces sent so far."""
    webhook = WebhookReceiver()
    try:
        prediction_id = predict_async(
            server,
            {"prompt": "Write a very long essay.", "max_new_tokens": 6000, "temperature": 1.0, "seed": 5},
            webhook.url,
        )
        webhook.wait_for(lambda call: call.get("output"))  # it is generating, and what it wrote has arrived
        started = time.monotonic()
        assert cancel(server, prediction_id).status_code == 200
        final = webhook.wait_for(lambda call: call.get("status") in ("canceled", "succeeded", "failed"))
        assert final["status"] == "canceled"
        assert time.monotonic() - started < 10, "generation should stop within a few tokens"
        assert 0 < len(final["output"]) < 6000
    finally:
        webhook.close()
    server.wait_until_ready(timeout=10)
    assert server.predict(prompt="after cancel", max_new_tokens=2)["status"] == "succeeded"
    assert "engine: single request (one request at a time)" in server.log_tail(10**7)
