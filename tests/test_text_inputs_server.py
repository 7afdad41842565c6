"""Text inputs clients bring from Replicate's language models, through the real Cog server, on the scripted
tiny Phi-4 whose greedy answer is `<think>First, add</think> The capital of France is Paris.`. stop_sequences:
the answer ends before the first one, the stop text never reaches the client, even in pieces, and generation
stops there."""

import time

import pytest

from scripts.harness.cog_server import CogServer
from shared.common.inputs import PROMPT_MAX_CHARS
from tests.cog_client import output_text

GREEDY = {"prompt": "What is the capital of France?", "max_new_tokens": 40, "temperature": 0}


@pytest.fixture(scope="module")
def server(tiny_phi4):
    env = {"PHI4_MODEL_DIR": str(tiny_phi4), "MAX_CONTEXT_TOKENS": "8192", "DEVICE": "cpu"}
    with CogServer("phi4-reasoning", env) as cog:
        yield cog


def streamed(server, **inputs) -> tuple[list[str], dict]:
    events = server.stream(**GREEDY, **inputs)
    chunks = [data["chunk"] for name, data in events if name == "output"]
    return chunks, events[-1][1]


def test_the_answer_ends_before_the_stop_sequence(server):
    full = output_text(server.predict(**GREEDY, show_reasoning=False))
    assert "Paris" in full
    chunks, completed = streamed(server, show_reasoning=False, stop_sequences="Paris")
    assert completed["status"] == "succeeded", completed
    assert "".join(chunks) == full[: full.index("Paris")]
    assert completed["metrics"]["output_token_count"] < server.predict(**GREEDY)["metrics"]["output_token_count"]


def test_a_stop_sequence_split_across_pieces_never_leaks(server):
    full = output_text(server.predict(**GREEDY, show_reasoning=False))
    stop = "France is P"  # several tokens, so several streamed pieces
    chunks, completed = streamed(server, show_reasoning=False, stop_sequences=f"nowhere,{stop}")
    text = "".join(chunks)
    assert text == full[: full.index(stop)]
    assert not any(stop[:n] in chunk for chunk in chunks[-1:] for n in range(2, len(stop))), chunks


def test_stops_apply_to_the_visible_text(server):
    # "add" is inside the hidden reasoning: with the reasoning hidden it can't end the answer.
    hidden = output_text(server.predict(**GREEDY, show_reasoning=False, stop_sequences="add"))
    assert "Paris" in hidden
    shown = output_text(server.predict(**GREEDY, show_reasoning=True, stop_sequences="add"))
    assert shown.endswith("First, ") and "Paris" not in shown


def test_too_many_stop_sequences_name_the_field_and_the_server_answers_after(server):
    result = server.predict(**GREEDY, stop_sequences=",".join(f"s{i}" for i in range(17)))
    assert result["status"] == "failed"
    assert "stop_sequences: 17 sequences given (at most 16" in result["error"]
    server.wait_until_ready(timeout=10)
    assert server.predict(**GREEDY)["status"] == "succeeded"


def test_no_seed_picks_one_and_logs_it_but_null_is_refused_by_cog(server):
    """Leaving seed out gives a random seed, printed in the logs. `"seed": null` is answered 422 by coglet
    0.23.1, whose validator ignores OpenAPI's `nullable` (README, "What bad input gets"): if Cog starts
    accepting it, this test says so and the README can drop the caveat."""
    result = server.predict(prompt="Hi", max_new_tokens=2, temperature=1.0)
    assert result["status"] == "succeeded"
    assert "seed: " in result["logs"]
    response = server.post({"prompt": "Hi", "max_new_tokens": 2, "seed": None})
    assert response.status_code == 422
    assert ["body", "input", "seed"] in [error["loc"] for error in response.json()["detail"]]


def test_an_eight_megabyte_prompt_is_refused_by_cog_at_once_and_the_next_request_works(server):
    """A text model spent ~19 s tokenizing 5.6M tokens before refusing them; the schema's maxLength has Cog
    refuse the prompt first, naming it. A few seconds is a behaviour bound, not a benchmark."""
    started = time.monotonic()
    response = server.post({**GREEDY, "prompt": "The capital of France. " * 360_000})
    elapsed = time.monotonic() - started
    assert response.status_code == 422, response.text[:300]
    assert ["body", "input", "prompt"] in [error["loc"] for error in response.json()["detail"]]
    assert elapsed < 5, f"the 422 took {elapsed:.1f} s"
    assert server.predict(**GREEDY)["status"] == "succeeded"


def test_a_prompt_at_the_schema_bound_passes_it_and_is_refused_for_the_context_window(server):
    """The schema allows what the model's whole trained context could hold (shared/common/inputs.py); the deployment's
    MAX_CONTEXT_TOKENS is checked after it, and the error names the prompt."""
    prompt = "x" * PROMPT_MAX_CHARS["phi4-reasoning"]
    result = server.predict(**{**GREEDY, "prompt": prompt})
    assert result["status"] == "failed"
    assert "prompt: " in result["error"] and "8192-token context window" in result["error"], result["error"]
    assert server.predict(**GREEDY)["status"] == "succeeded"
