"""SmolLM3 through the real Cog server, on a tiny random-weight SmolLM3 loaded by the production code."""

import difflib
import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from scripts.harness.cog_server import CogServer
from tests.cog_client import cancel, output_text

MAX_CONTEXT = 4096  # the tiny model's longest static cache; the chat template alone is ~400 tokens here
BUCKET = 512  # the shorter cache a short answer takes
SLOTS = 4


@pytest.fixture(scope="module")
def server(tiny_smollm3, tmp_path_factory):
    outputs = tmp_path_factory.mktemp("outputs")
    env = {
        "SMOLLM3_MODEL_DIR": str(tiny_smollm3),
        "MAX_CONTEXT_TOKENS": str(MAX_CONTEXT),
        "CACHE_BUCKETS": str(BUCKET),
        "DEVICE": "cpu",
        "OUTPUT_DIR": str(outputs),
        "HF_TOKEN": "hf_do_not_log_this_token",
        # An operator's override of the image's @concurrent(max=32), as `docker run -e` sets it: 4 slots are
        # quick to fill, to see the fifth request refused.
        "COG_MAX_CONCURRENCY": str(SLOTS),
    }
    with CogServer("smollm3", env) as cog:
        cog.outputs = outputs
        yield cog


def assert_ready_and_answering(server):
    server.wait_until_ready(timeout=10)  # BUSY for a moment while the failed slot is released
    follow_up = server.predict(prompt="Still there?", max_new_tokens=3, temperature=0)
    assert follow_up["status"] == "succeeded", follow_up


def test_answers_with_text_within_max_new_tokens(server):
    for max_new_tokens in (1, 7, 24):
        result = server.predict(prompt="Tell me about the sea.", max_new_tokens=max_new_tokens, temperature=1.0)
        assert result["status"] == "succeeded", result
        assert all(isinstance(piece, str) for piece in result["output"])
        assert 1 <= result["metrics"]["output_token_count"] <= max_new_tokens


def test_setup_compiles_each_cache_bucket_on_the_int4_kernel(server):
    log = server.log_tail(10**7)
    assert "HQQ 4-bit kernel: int4 tinygemm (torch _weight_int4pack_mm) on 14 of 14 quantized layers" in log
    assert f"warm-up: decode step over a {BUCKET}-token cache" in log
    assert f"warm-up: decode step over a {MAX_CONTEXT}-token cache" in log


def test_setup_logs_one_line_of_stage_times(server):
    # Cog wraps each log line in JSON: the line ends at its total.
    stages = re.findall(r"setup stages: ((?:[^,\"]+ \d+\.\d s, )*total \d+\.\d s)", server.log_tail(10**7))
    assert len(stages) == 1, stages
    names = [re.fullmatch(r"(.+) \d+\.\d s", part).group(1) for part in stages[0].split(", ")]
    assert names == ["resolve", "load", "optimize", "on device", "compile", "warm-up", "batch engine",
                     "total"]
    assert float(re.search(r"compile (\d+\.\d) s", stages[0]).group(1)) > 0, "the warm-up compiles each bucket"


def test_a_request_takes_the_smallest_cache_that_holds_it(server):
    short = server.predict(prompt="Hi", max_new_tokens=8, temperature=0)
    assert f"KV cache: {BUCKET} tokens" in short["logs"], short["logs"]
    room = BUCKET - short["metrics"]["input_token_count"]
    longer = server.predict(prompt="Hi", max_new_tokens=room + 1, temperature=0)
    assert f"KV cache: {MAX_CONTEXT} tokens" in longer["logs"]
    assert output_text(longer).startswith(output_text(short))


def test_greedy_is_deterministic(server):
    first = server.predict(prompt="What is 2+2?", max_new_tokens=16, temperature=0)
    second = server.predict(prompt="What is 2+2?", max_new_tokens=16, temperature=0, seed=7)
    assert output_text(first) == output_text(second) != ""


def test_same_seed_same_sample_and_other_seed_differs(server):
    args = dict(prompt="Write a haiku.", max_new_tokens=24, temperature=1.0, top_p=1.0, top_k=0)
    first = output_text(server.predict(**args, seed=1234))
    assert output_text(server.predict(**args, seed=1234)) == first
    assert output_text(server.predict(**args, seed=4321)) != first


def test_streams_over_server_sent_events(server):
    events = server.stream(prompt="Hello", max_new_tokens=12, temperature=0)
    names = [name for name, _ in events]
    assert names[0] == "start" and names[-1] == "completed"
    chunks = [data["chunk"] for name, data in events if name == "output"]
    assert len(chunks) >= 2, "output should arrive in pieces, not at the end"
    completed = events[-1][1]
    assert completed["status"] == "succeeded"
    synchronous = server.predict(prompt="Hello", max_new_tokens=12, temperature=0)
    assert "".join(chunks) == output_text(synchronous)


def test_coglet_sends_an_async_generators_pieces_together_at_the_end(server):
    """Pins docs/upstream/coglet-async-generator-output.md: coglet 0.23.1 collects what an async run() yields and
    sends it when run() ends, so the events come in one burst. When this fails, coglet streams async generators:
    update that file, the README's "SmolLM3 and Gemma-3 send their text when the answer ends" and this test."""
    start, arrivals = time.monotonic(), []
    with server.post({"prompt": "Hello", "max_new_tokens": 100, "temperature": 0},
                     headers={"Accept": "text/event-stream"}, stream=True) as response:
        for line in response.iter_lines(decode_unicode=True):
            if line.startswith("event: output"):
                arrivals.append(time.monotonic() - start)
    assert len(arrivals) == 100, "one piece per token"
    assert arrivals[-1] - arrivals[0] < 0.25 * arrivals[-1], f"first {arrivals[0]:.2f} s, last {arrivals[-1]:.2f} s"


def test_think_and_no_think_render_different_prompts(server):
    think = server.predict(prompt="Hi", mode="think", max_new_tokens=1, temperature=0)
    no_think = server.predict(prompt="Hi", mode="no_think", max_new_tokens=1, temperature=0)
    # no_think adds the empty <think></think> block and a shorter system prompt: the prompts differ in length.
    assert think["metrics"]["input_token_count"] != no_think["metrics"]["input_token_count"]


def test_writes_each_answer_under_output_dir(server):
    result = server.predict(prompt="Save me", max_new_tokens=8, temperature=0, seed=99)
    saved = sorted(server.outputs.glob("smollm3-*.txt"), key=lambda p: p.stat().st_mtime)
    assert saved and saved[-1].read_text(encoding="utf-8") == output_text(result)


@pytest.mark.parametrize(
    ("inputs", "field", "message"),
    [
        ({"prompt": ""}, "prompt", "shorter than 1"),
        ({"prompt": "x", "max_new_tokens": 0}, "max_new_tokens", "minimum of 1"),
        ({"prompt": "x", "max_new_tokens": 99999}, "max_new_tokens", "maximum of 16384"),
        ({"prompt": "x", "max_new_tokens": "lots"}, "max_new_tokens", ""),
        ({"prompt": "x", "temperature": 2.5}, "temperature", "maximum of 2"),
        ({"prompt": "x", "top_p": 0}, "top_p", "minimum of 0.01"),
        ({"prompt": "x", "top_k": -1}, "top_k", "minimum of 0"),
        ({"prompt": "x", "mode": "fast"}, "mode", ""),
        ({"prompt": "x", "seed": -5}, "seed", "minimum of 0"),
        ({}, "prompt", ""),
    ],
)
def test_out_of_range_input_is_rejected_with_422(server, inputs, field, message):
    response = server.post(inputs)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert any(d["loc"][-1] == field and message in d["msg"] for d in detail), detail
    assert_ready_and_answering(server)


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        ({"prompt": "   \n"}, "prompt: must contain text"),
        ({"prompt": "Hi", "max_new_tokens": MAX_CONTEXT}, f"max_new_tokens: {MAX_CONTEXT} new tokens do not fit"),
    ],
)
def test_inputs_only_the_predictor_can_check_fail_clearly(server, inputs, expected):
    result = server.predict(**inputs)
    assert result["status"] == "failed"
    assert expected in result["error"]
    assert_ready_and_answering(server)


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        ({"prompt": "many words " * 600}, "prompt: the prompt takes"),
        ({"prompt": "Hi", "system_prompt": "many words " * 600}, "prompt, system_prompt: the prompt and system prompt"),
    ],
)
def test_a_prompt_too_long_for_the_context_is_blamed_on_the_prompt(server, inputs, expected):
    result = server.predict(**inputs, max_new_tokens=1)
    assert result["status"] == "failed"
    assert f"ContextTooLongError: {expected}" in result["error"], result["error"]
    assert f"(at most {MAX_CONTEXT - 1} tokens fit" in result["error"]
    assert "max_new_tokens" not in result["error"]
    assert_ready_and_answering(server)


def test_too_many_new_tokens_says_how_many_fit_and_that_many_do(server):
    result = server.predict(prompt="Count to three.", max_new_tokens=MAX_CONTEXT - 10, temperature=0)
    assert result["status"] == "failed"
    room = int(re.search(r"\(at most (\d+) for this prompt\)", result["error"]).group(1))
    assert f"max_new_tokens: {MAX_CONTEXT - 10} new tokens do not fit" in result["error"]
    server.wait_until_ready(timeout=10)
    fits = server.predict(prompt="Count to three.", max_new_tokens=room, temperature=0)
    assert fits["status"] == "succeeded", fits
    assert fits["metrics"]["input_token_count"] + room == MAX_CONTEXT


def test_token_never_reaches_the_logs(server):
    result = server.predict(prompt="Hello", max_new_tokens=2)
    assert "hf_do_not_log_this_token" not in result["logs"]
    assert "hf_do_not_log_this_token" not in server.log_tail(10**7)


def similar(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def at_once(server, requests_: list[dict]) -> list[dict]:
    with ThreadPoolExecutor(len(requests_)) as pool:
        return list(pool.map(lambda inputs: server.predict(**inputs), requests_))


# Requests that differ in every input a user sets; each must keep its own.
MIXED = [
    dict(prompt="Hello", max_new_tokens=20, temperature=0),
    dict(prompt="Tell me a story.", max_new_tokens=24, temperature=1.0, top_p=0.9, top_k=40, seed=11),
    dict(prompt="Tell me a story.", max_new_tokens=24, temperature=1.0, top_p=0.9, top_k=40, seed=12),
    dict(prompt="What is 2+2?", max_new_tokens=7, temperature=0.7, seed=3, mode="no_think"),
]


def test_concurrent_requests_are_batched_and_each_gets_its_solo_answer(server):
    alone = [output_text(server.predict(**inputs)) for inputs in MIXED]
    assert similar(alone[1], alone[2]) < 0.5, "the seeds must tell requests apart for this test to mean anything"
    together = at_once(server, MIXED)
    assert [r["status"] for r in together] == ["succeeded"] * len(MIXED), together
    assert re.search(r"engine: batch \(\d other requests streaming\)", server.log_tail(10**6))
    for inputs, answer, solo in zip(MIXED, together, alone, strict=True):
        assert 1 <= answer["metrics"]["output_token_count"] <= inputs["max_new_tokens"]
        if inputs["temperature"] == 0:
            assert output_text(answer) == solo
        else:
            # The same seed: its own solo answer, up to a draw that bf16 rounding in the packed batch tips the
            # other way (the answer goes its own way from there), and closer to it than to any other.
            others = [other for other in alone if other != solo]
            assert similar(output_text(answer), solo) > max(similar(output_text(answer), o) for o in others)


def test_stop_sequences_apply_to_each_batched_request_alone(server):
    sample = dict(prompt="Hi", max_new_tokens=30, temperature=1.0, top_k=0, top_p=1.0, seed=5)
    solo = output_text(server.predict(**sample))
    stop = solo[6:9]
    plain, stopped = at_once(server, [sample, {**sample, "stop_sequences": stop}])
    plain, stopped = output_text(plain), output_text(stopped)
    assert stop in plain and similar(plain, solo) > 0.8, (plain, solo)
    # The two share the batch and their inputs: the same draws, until one stops.
    assert stopped == plain[: plain.index(stop)]


def test_one_bad_request_among_good_ones_fails_alone(server):
    good = dict(prompt="Fine", max_new_tokens=16, temperature=0)
    bad = dict(prompt="Hi", max_new_tokens=MAX_CONTEXT, temperature=0)
    results = at_once(server, [good, bad, good])
    assert [r["status"] for r in results] == ["succeeded", "failed", "succeeded"], results
    assert f"max_new_tokens: {MAX_CONTEXT} new tokens do not fit" in results[1]["error"]
    assert output_text(results[0]) == output_text(results[2]) != ""
    assert_ready_and_answering(server)


def test_a_cancelled_stream_leaves_the_others_complete_and_past_the_slots_is_409(server):
    # Greedy: this random model then repeats its last token and never ends early, so every slot stays taken.
    short = {"max_new_tokens": 200, "temperature": 0}  # seconds of decoding: the slots stay taken past the 409
    endless = {"prompt": "Write a long essay.", "max_new_tokens": 3600, "temperature": 0}  # far longer than the test
    with ThreadPoolExecutor(SLOTS) as pool:
        cancelled = pool.submit(lambda: requests.post(
            f"{server.url}/predictions", json={"id": "endless-essay", "input": endless}, timeout=300).json())
        time.sleep(0.5)
        others = [pool.submit(server.predict, **short, prompt=f"Note {n}") for n in range(SLOTS - 1)]
        deadline = time.monotonic() + 30
        while server.health()["status"] != "BUSY":  # every slot taken
            assert time.monotonic() < deadline, server.log_tail()
            time.sleep(0.05)
        refused = requests.post(f"{server.url}/predictions", json={"input": {"prompt": "one more"}}, timeout=30)
        assert cancel(server, "endless-essay").status_code == 200, "it should still be streaming"
        stopped = cancelled.result()
        finished = [other.result() for other in others]
    assert refused.status_code == 409, refused.text
    assert stopped["status"] == "canceled", stopped
    assert "output_token_count" not in stopped["metrics"], "coglet keeps no output of a cancelled prediction"
    for answer in finished:
        assert answer["status"] == "succeeded", answer
        assert output_text(answer) == "\n" * short["max_new_tokens"]
    assert "engine: batch" in "".join(answer["logs"] for answer in finished)
    assert_ready_and_answering(server)
