"""Gemma-3 through the real Cog server, on a tiny Gemma-3 (text decoder + SigLIP) built offline.

The server runs the pruned variant (magnitude, 50%) on top of INT8 weight-only quantization.
"""

import base64
import difflib
import io
import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image

from scripts.harness.cog_server import CogServer
from tests.cog_client import output_text


def data_uri(payload: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(payload).decode()}"


def png_bytes(size=(40, 30), color=(200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def server(tiny_gemma3):
    env = {
        "GEMMA3_MODEL_DIR": str(tiny_gemma3),
        "DEVICE": "cpu",
        "MAX_CONTEXT_TOKENS": "1024",
        "PRUNE_METHOD": "magnitude",
        "PRUNE_SPARSITY": "0.5",
    }
    with CogServer("gemma3", env) as cog:
        yield cog


def test_setup_logs_sparsity_and_int8_bytes_and_compiles_the_decode_step(server):
    log = server.log_tail(10**7)
    assert "pruned (magnitude, target 0.50): down_proj 0.500" in log
    assert "torchao INT8 weight-only on 14 layers" in log
    assert "warm-up: decode step over a 1024-token cache" in log
    assert "warm-up compiled no graph" not in log


def test_text_only_answer_streams(server):
    events = server.stream(prompt="Say hello.", max_new_tokens=12, seed=1)
    assert events[-1][1]["status"] == "succeeded", events[-1]
    assert [name for name, _ in events].count("output") >= 2


def test_image_and_text_answer(server):
    text_only = server.predict(prompt="What colour is this?", max_new_tokens=4, seed=1)
    with_image = server.predict(
        prompt="What colour is this?", image=data_uri(png_bytes(), "image/png"), max_new_tokens=4, seed=1
    )
    assert with_image["status"] == "succeeded", with_image
    # The image adds <start_of_image>, its soft tokens and <end_of_image> to the prompt.
    assert with_image["metrics"]["input_token_count"] >= text_only["metrics"]["input_token_count"] + 6


def test_same_seed_reproduces(server):
    args = dict(prompt="Tell a story.", image=data_uri(png_bytes(color=(0, 90, 200)), "image/png"),
                max_new_tokens=16, seed=42)
    assert output_text(server.predict(**args)) == output_text(server.predict(**args))


@pytest.mark.parametrize(
    ("payload", "mime", "expected"),
    [
        (b"just some text, not pixels", "text/plain", "image: not an image file"),
        (png_bytes()[:60], "image/png", "image: the image is corrupt or truncated"),
        (b"", "image/png", "image: the file is empty"),
    ],
)
def test_bad_image_fails_clearly_and_server_stays_ready(server, payload, mime, expected):
    result = server.predict(prompt="What is this?", image=data_uri(payload, mime), max_new_tokens=2)
    assert result["status"] == "failed"
    assert expected in result["error"]
    server.wait_until_ready(timeout=10)  # BUSY for a moment while the failed slot is released
    assert server.predict(prompt="ok", max_new_tokens=2)["status"] == "succeeded"


def test_out_of_range_input_is_422(server):
    response = server.post({"prompt": "x", "top_k": 5000})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == "top_k"


def test_text_requests_batch_while_an_image_request_decodes_alone(server):
    picture = data_uri(png_bytes(color=(20, 160, 60)), "image/png")
    requests_ = [dict(prompt=f"Question {n}", max_new_tokens=12, temperature=0) for n in range(3)]
    requests_.insert(1, dict(prompt="What is in the picture?", image=picture, max_new_tokens=12, temperature=0))
    alone = [output_text(server.predict(**inputs)) for inputs in requests_]
    with ThreadPoolExecutor(len(requests_)) as pool:
        together = list(pool.map(lambda inputs: server.predict(**inputs), requests_))
    assert [r["status"] for r in together] == ["succeeded"] * len(requests_), together
    assert output_text(together[1]) == alone[1], "the image request ran the same single-request path"
    for answer, solo in zip(together, alone, strict=True):
        # Greedy, but INT8 and bf16 in a packed batch round differently from one sequence alone: an argmax
        # near a tie can flip, and the answer goes its own way from there.
        assert difflib.SequenceMatcher(None, output_text(answer), solo).ratio() > 0.5, (output_text(answer), solo)
    engines = [re.search(r"engine: (batch|single request)", r["logs"]).group(1) for r in together]
    assert engines[1] == "single request", "the engine takes token ids only: an image decodes on its own path"
    assert "batch" in engines
