"""Requests that try to tie up a container: text too long to be worth reading, and a client-chosen prediction
id that coglet 0.23.1 can't handle (docs/upstream/coglet-long-prediction-id.md).

The id tests pin Cog's behaviour, not ours, each on its own throwaway server (the broken one never recovers):
when a Cog upgrade fixes it they fail, and their message says what to update."""

import time

import pytest
import requests
import torch

from scripts.harness.cog_server import CogServer
from shared.common.inputs import MAX_CHARS_PER_TOKEN
from shared.flux.engine import FluxEngine
from shared.flux.image_outputs import read_parameters
from shared.flux.runner import PROMPT_CHARS, FluxRequest, FluxRunner, bounded_prompt
from shared.flux.settings import FluxSettings
from shared.lora.cache import LoraSettings
from shared.lora.sources import LoraCache
from shared.text.generator import ContextTooLongError
from shared.text.service import refuse_text_past_context
from tests.throwaway_deployment import throwaway_deployment

ECHO = '''
from cog import BaseRunner, Input


class Predictor(BaseRunner):
    def run(self, text: str = Input(description="Echoed back.", default="hi", max_length=100)) -> str:
        return text
'''

COG_FIXED = (
    "coglet no longer behaves as pinned here: check the new behaviour, then update the README (\"What bad input "
    "gets\" and the self-hosting advice) and docs/upstream/coglet-long-prediction-id.md, and turn this test "
    "into one for the fixed behaviour"
)


@pytest.fixture
def echo_server(tmp_path):
    with CogServer(throwaway_deployment(tmp_path / "echo", ECHO)) as server:
        yield server


def post_with_id(server: CogServer, prediction_id: str) -> requests.Response:
    """POST with a client-chosen id, retrying the brief 409 while the last prediction's slot is freed."""
    deadline = time.monotonic() + 10
    while True:
        response = requests.post(f"{server.url}/predictions", json={"id": prediction_id, "input": {}}, timeout=30)
        if response.status_code != 409 or time.monotonic() > deadline:
            return response
        time.sleep(0.1)


def statuses_for(server: CogServer, seconds: float) -> set[tuple[str, int]]:
    """(health, POST status) pairs seen over `seconds`: one pair means the state held."""
    seen, deadline = set(), time.monotonic() + seconds
    while time.monotonic() < deadline:
        answer = requests.post(f"{server.url}/predictions", json={"input": {}}, timeout=30).status_code
        seen.add((server.health()["status"], answer))
        time.sleep(0.5)
    return seen


@pytest.mark.parametrize(("prediction_id", "os_error"), [
    ("a" * 300, "File name too long"),  # one path component past NAME_MAX (255)
    ("/proc/no-such-dir", "No such file or directory"),  # short, but the directory can't be made
], ids=["300-character-id", "unmakeable-directory"])
def test_coglet_loses_its_only_slot_when_it_cant_make_a_predictions_directory(echo_server, prediction_id, os_error):
    """coglet 0.23.1 makes /tmp/coglet/predictions/<id>/outputs for a client-chosen id after taking the slot, and
    returns without releasing it when that fails: the prediction fails, health stays BUSY, every later request
    gets 409 until a restart."""
    assert echo_server.predict(text="ok")["output"] == "ok"
    response = post_with_id(echo_server, prediction_id)
    pinned = (response.status_code, f"Failed to create output dir: {os_error}" in response.json().get("error", ""),
              statuses_for(echo_server, seconds=3))
    assert pinned == (200, True, {("BUSY", 409)}), f"{pinned}: {COG_FIXED}"


def test_coglet_makes_the_predictions_directory_wherever_an_absolute_id_points(echo_server, tmp_path):
    """The id is joined onto /tmp/coglet/predictions as a path: an absolute one (or one with `..`) makes
    directories anywhere the server may write. The prediction itself succeeds."""
    outside = tmp_path / "outside-the-predictions-root"
    response = post_with_id(echo_server, str(outside))
    pinned = (response.json().get("status"), (outside / "outputs").is_dir(), (outside / "inputs").is_dir())
    assert pinned == ("succeeded", True, True), f"{pinned}: {COG_FIXED}"
    echo_server.wait_until_ready(10)  # the slot is freed just after the response: READY follows, it doesn't stick


# --- Text past the context window, refused before the tokenizer --------------------------------------------


def test_text_past_the_context_window_is_refused_without_tokenizing_naming_the_inputs_given():
    limit = 8192 * MAX_CHARS_PER_TOKEN
    refuse_text_past_context(8192, prompt="x" * limit)  # at the bound: left to the exact, tokenized check
    refuse_text_past_context(8192, prompt="x" * (limit // 2), system_prompt="y" * (limit // 2))
    with pytest.raises(ContextTooLongError, match=rf"^prompt: {limit + 1} characters can't fit the 8192-token"):
        refuse_text_past_context(8192, prompt="x" * (limit + 1), system_prompt="")
    with pytest.raises(ContextTooLongError, match=r"^prompt, system_prompt: "):
        refuse_text_past_context(8192, prompt="x" * limit, system_prompt="y")


def test_an_eight_megabyte_prompt_is_refused_in_a_blink():
    """Counting characters is the point: no tokenizer, so time does not grow with what a client sends."""
    started = time.monotonic()
    with pytest.raises(ContextTooLongError):
        refuse_text_past_context(20480, prompt="The capital of France. " * 360_000)
    assert time.monotonic() - started < 0.5


def test_flux_prompts_are_cut_to_what_t5_can_read_before_tokenizing(tiny_flux, tmp_path):
    """Where no schema is checked (a Cog server without .cog/openapi_schema.json validates nothing), the runner
    still hands the tokenizers at most PROMPT_CHARS: what T5's 512 tokens can hold."""
    assert PROMPT_CHARS == 512 * MAX_CHARS_PER_TOKEN
    assert bounded_prompt("a red fox") == "a red fox"
    settings = FluxSettings(compile=False, warmup_size=64, lora=LoraSettings(cache_dir=tmp_path / "loras"))
    engine = FluxEngine(settings, torch.device("cpu"))
    engine.load(tiny_flux)
    runner = FluxRunner(engine, LoraCache(settings.lora), token=None)
    long = "a red fox " * 800_000
    request = FluxRequest(prompt=long, style="auto", size=(64, 64), num_outputs=1, steps=1, guidance=3.0, seed=0,
                          output_format="png", output_quality=80)
    (path,) = runner.render(request, record_metric=lambda name, value: None)
    assert read_parameters(path)["prompt"] == long[:PROMPT_CHARS]
