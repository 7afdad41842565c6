"""FLUX.1-dev text-to-image through the real Cog server, on a tiny FLUX pipeline with tiny LoRAs.

The transformer is INT8 (torchao) and compiled; styles are hot-swapped into it. Every response carries a
`recompiles` metric, which must stay 0.
"""

import io
import json

import pytest

from scripts.cog_server import CogServer
from shared.image_outputs import read_parameters
from shared.metrics import METRICS
from tests.flux_helpers import open_image, output_files

SMALL = dict(aspect_ratio="custom", width=64, height=64, num_inference_steps=2, output_format="png")


@pytest.fixture(scope="module")
def server(flux_env):
    with CogServer("flux-dev-txt2img", flux_env) as cog:
        yield cog


def generate(server, **inputs) -> tuple[bytes, dict]:
    result = server.predict(**{**SMALL, **inputs})
    files = output_files(result)
    assert result["metrics"]["recompiles"] == 0
    return files[0], result


@pytest.mark.parametrize(("output_format", "pil_format"), [("png", "PNG"), ("webp", "WEBP"), ("jpg", "JPEG")])
def test_images_have_the_requested_size_and_format(server, output_format, pil_format):
    result = server.predict(**{**SMALL, "output_format": output_format, "width": 96, "height": 64},
                            prompt="a lighthouse", num_outputs=2, seed=1)
    files = output_files(result)
    assert len(files) == 2
    assert result["metrics"]["image_output_count"] == 2
    assert set(result["metrics"]) - {"predict_time"} <= set(METRICS), "every reported metric is named"
    for data in files:
        image = open_image(data)
        assert image.format == pil_format and image.size == (96, 64)


def test_same_seed_same_bytes_and_parameters_are_in_the_file(server):
    first, _ = generate(server, prompt="a red fox", seed=123, style="none")
    second, _ = generate(server, prompt="a red fox", seed=123, style="none")
    assert first == second
    parameters = read_parameters(io.BytesIO(first))
    assert parameters["prompt"] == "a red fox" and parameters["seed"] == 123 and parameters["steps"] == 2
    assert parameters["lora"] == "none"
    other, _ = generate(server, prompt="a red fox", seed=124, style="none")
    assert other != first


def test_each_output_gets_its_own_seed(server):
    result = server.predict(**SMALL, prompt="a boat", num_outputs=3, seed=7)
    seeds = [read_parameters(io.BytesIO(data))["seed"] for data in output_files(result)]
    assert seeds == [7, 8, 9]


def test_styles_swap_without_recompiling_and_swap_back_exactly(server, tiny_loras):
    prompt = "Cinematic, GHIBSKY, a castle"
    base, _ = generate(server, prompt=prompt, seed=5, style="none")
    cinematic, r1 = generate(server, prompt=prompt, seed=5, style="Cinematic")
    ghibsky, r2 = generate(server, prompt=prompt, seed=5, style="GHIBSKY")
    custom, r3 = generate(server, prompt=prompt, seed=5, lora_weights=str(tiny_loras["custom"]))
    again, r4 = generate(server, prompt=prompt, seed=5, style="Cinematic")
    assert len({base, cinematic, ghibsky, custom}) == 4, "every LoRA changes the image"
    assert again == cinematic, "swapping back reproduces the first image bit for bit"
    assert [r["metrics"]["recompiles"] for r in (r1, r2, r3, r4)] == [0, 0, 0, 0]
    assert read_parameters(io.BytesIO(ghibsky))["lora"] == "style:ghibsky"


def test_trigger_word_in_prompt_selects_the_style(server):
    auto, _ = generate(server, prompt="Anime portrait of a cat", seed=9)
    explicit, _ = generate(server, prompt="Anime portrait of a cat", seed=9, style="Anime")
    plain, _ = generate(server, prompt="Anime portrait of a cat", seed=9, style="none")
    assert auto == explicit != plain


def test_lora_scale_changes_the_image(server):
    full, _ = generate(server, prompt="Painting of a bridge", seed=2, style="Painting", lora_scale=1.0)
    half, _ = generate(server, prompt="Painting of a bridge", seed=2, style="Painting", lora_scale=0.5)
    zero, _ = generate(server, prompt="Painting of a bridge", seed=2, style="Painting", lora_scale=0.0)
    none, _ = generate(server, prompt="Painting of a bridge", seed=2, style="none")
    assert full != half
    assert open_image(zero).tobytes() == open_image(none).tobytes(), "scale 0 is the base model (metadata differs)"


def test_extra_lora_swaps_without_recompiling_and_negative_scales_work(server, tiny_loras):
    ghibsky_file = str(tiny_loras["styles"] / "ghibsky.safetensors")
    prompt = dict(prompt="Cinematic, a castle", seed=6)
    styled, _ = generate(server, **prompt, style="Cinematic")
    both, r1 = generate(server, **prompt, style="Cinematic", extra_lora=str(tiny_loras["custom"]))
    other_extra, r2 = generate(server, **prompt, style="Cinematic", extra_lora=ghibsky_file)
    negative, r3 = generate(server, **prompt, style="Cinematic", extra_lora=ghibsky_file, extra_lora_scale=-1)
    first_negative, r4 = generate(server, **prompt, style="Cinematic", lora_scale=-1)
    assert len({styled, both, other_extra, negative, first_negative}) == 5
    assert [r["metrics"]["recompiles"] for r in (r1, r2, r3, r4)] == [0, 0, 0, 0]
    again, _ = generate(server, **prompt, style="Cinematic", extra_lora=str(tiny_loras["custom"]))
    assert again == both, "swapping both slots back reproduces the image bit for bit"
    parameters = read_parameters(io.BytesIO(negative))
    assert (parameters["lora"], parameters["extra_lora"], parameters["extra_lora_scale"]) == (
        "style:open-image-preferences", ghibsky_file, -1.0)


def test_a_refused_extra_lora_fails_the_request_and_both_live_loras_keep_working(server, tiny_loras):
    prompt = dict(prompt="GHIBSKY, a harbour", seed=8)
    before, _ = generate(server, **prompt, extra_lora=str(tiny_loras["custom"]), extra_lora_scale=0.5)
    refused = server.predict(**SMALL, **prompt, lora_weights=str(tiny_loras["custom"]),
                             extra_lora=str(tiny_loras["text_encoder"]))
    assert refused["status"] == "failed"
    assert f"extra_lora: {tiny_loras['text_encoder']} can't be used: it has text-encoder weights" in refused["error"]
    server.wait_until_ready(timeout=10)
    after, result = generate(server, **prompt, extra_lora=str(tiny_loras["custom"]), extra_lora_scale=0.5)
    assert after == before and result["metrics"]["recompiles"] == 0


@pytest.mark.parametrize(
    ("lora", "message"),
    [
        ("rank_too_high", "its rank is 16; this deployment hot-swaps LoRAs up to rank 8"),
        ("text_encoder", "text-encoder weights"),
        ("corrupt", "not a readable LoRA file"),
    ],
)
def test_unfit_lora_is_refused_and_the_live_style_keeps_working(server, tiny_loras, lora, message):
    before, _ = generate(server, prompt="Cinematic, a harbour", seed=3, style="Cinematic")
    refused = server.predict(**SMALL, prompt="a harbour", seed=3, lora_weights=str(tiny_loras[lora]))
    assert refused["status"] == "failed"
    assert "lora_weights:" in refused["error"] and message in refused["error"]
    server.wait_until_ready(timeout=10)
    after, _ = generate(server, prompt="Cinematic, a harbour", seed=3, style="Cinematic")
    assert after == before


def test_unknown_lora_reference_is_explained(server):
    result = server.predict(**SMALL, prompt="x", lora_weights="not a reference")
    assert result["status"] == "failed" and "lora_weights: expected a Hugging Face repo" in result["error"]


@pytest.mark.parametrize(
    ("inputs", "field"),
    [
        ({"num_outputs": 5}, "num_outputs"),
        ({"width": 32}, "width"),
        ({"output_format": "gif"}, "output_format"),
        ({"guidance": 11}, "guidance"),
        ({"num_inference_steps": 0}, "num_inference_steps"),
        ({"style": "Baroque"}, "style"),
        ({"lora_scale": 3.5}, "lora_scale"),
        ({"lora_scale": -1.5}, "lora_scale"),
        ({"extra_lora_scale": 3.5}, "extra_lora_scale"),
    ],
)
def test_out_of_range_input_is_422(server, inputs, field):
    response = server.post({**SMALL, "prompt": "x", **inputs})
    assert response.status_code == 422, response.text
    assert json.loads(response.text)["detail"][0]["loc"][-1] == field
    server.wait_until_ready(timeout=10)
