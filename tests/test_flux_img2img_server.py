"""FLUX.1-dev image-to-image through the real Cog server, on the tiny FLUX pipeline."""

import io

import pytest
from PIL import Image

from scripts.harness.cog_server import CogServer
from shared.flux.image_outputs import read_parameters
from tests.flux_helpers import data_uri, open_image, output_files, png_bytes

SMALL = dict(aspect_ratio="custom", width=64, height=64, num_inference_steps=4, output_format="png")


@pytest.fixture(scope="module")
def server(flux_env):
    # The text-to-image server runs the CPU default (INT8); this one the bf16 transformer, so each engine
    # variant a CPU can run is served, hot-swapped and checked for recompiles.
    with CogServer("flux-dev-img2img", {**flux_env, "FLUX_QUANTIZE": "bf16"}) as cog:
        yield cog


def test_this_server_runs_the_bf16_transformer(server):
    assert "FLUX quantization: bf16 (FLUX_QUANTIZE)" in server.log_path.read_text()


def transform(server, **inputs) -> bytes:
    result = server.predict(**{**SMALL, "image": data_uri(png_bytes()), **inputs})
    assert result["metrics"]["recompiles"] == 0
    return output_files(result)[0]


def test_image_in_image_out_reproducible_and_described(server):
    first = transform(server, prompt="a blue square at sunset", seed=4)
    assert open_image(first).size == (64, 64)
    assert transform(server, prompt="a blue square at sunset", seed=4) == first
    parameters = read_parameters(io.BytesIO(first))
    assert parameters["mode"] == "img2img" and parameters["strength"] == 0.8


def test_strength_and_input_image_matter(server):
    strong = transform(server, prompt="a blue square", seed=4, prompt_strength=1.0)
    weak = transform(server, prompt="a blue square", seed=4, prompt_strength=0.3)
    other_image = transform(server, prompt="a blue square", seed=4, prompt_strength=0.3,
                            image=data_uri(png_bytes(color=(250, 250, 0))))
    assert len({strong, weak, other_image}) == 3


def test_styles_hot_swap_here_too(server, tiny_loras):
    plain = transform(server, prompt="Neonpunk street", seed=1, style="none")
    styled = transform(server, prompt="Neonpunk street", seed=1)
    ghibsky = transform(server, prompt="Neonpunk street", seed=1, style="GHIBSKY")
    custom = transform(server, prompt="Neonpunk street", seed=1, lora_weights=str(tiny_loras["custom"]))
    assert len({plain, styled, ghibsky, custom}) == 4
    assert transform(server, prompt="Neonpunk street", seed=1, style="none") == plain


@pytest.mark.parametrize(
    ("input_size", "output_size"),
    [((300, 600), (720, 1440)), ((640, 360), (1360, 768)), ((500, 500), (1024, 1024))],
    ids=["portrait", "landscape", "square"],
)
def test_the_output_matches_the_input_shape_by_default(server, input_size, output_size):
    """About one megapixel in the input's aspect ratio, sides multiples of 16, the longest at most 1440."""
    result = server.predict(prompt="a red door", image=data_uri(png_bytes(size=input_size)), seed=2,
                            num_inference_steps=1, output_format="png")  # aspect_ratio left at its default
    width, height = open_image(output_files(result)[0]).size
    assert (width, height) == output_size
    assert width % 16 == 0 and height % 16 == 0 and max(width, height) <= 1440
    assert abs(width / height - input_size[0] / input_size[1]) < 0.01
    assert 0.95e6 < width * height < 1.1e6


def test_extra_lora_hot_swaps_here_too(server, tiny_loras):
    styled = transform(server, prompt="Neonpunk street", seed=3)
    both = transform(server, prompt="Neonpunk street", seed=3, extra_lora=str(tiny_loras["custom"]))
    negative = transform(server, prompt="Neonpunk street", seed=3, extra_lora=str(tiny_loras["custom"]),
                         extra_lora_scale=-1)
    assert len({styled, both, negative}) == 3


def huge_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (8000, 6000)).save(buffer, format="PNG")  # 48 MP of one colour compresses to ~50 kB
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("payload", "mime", "expected"),
    [
        (png_bytes()[:80], "image/png", "image: the image is corrupt or truncated"),
        (b"", "image/png", "image: the file is empty"),
        (b"%PDF-1.4 not an image", "application/pdf", "image: not an image file"),
        (huge_png(), "image/png", "image: 8000x6000 is 48 MP; the limit is 40 MP"),
    ],
)
def test_bad_input_image_fails_clearly_and_server_stays_ready(server, payload, mime, expected):
    result = server.predict(**SMALL, prompt="x", image=data_uri(payload, mime))
    assert result["status"] == "failed"
    assert expected in result["error"]
    server.wait_until_ready(timeout=10)
    assert open_image(transform(server, prompt="still fine", seed=1)).size == (64, 64)


def test_missing_image_and_bad_strength_are_422(server):
    assert server.post({**SMALL, "prompt": "x"}).status_code == 422
    response = server.post({**SMALL, "prompt": "x", "image": data_uri(png_bytes()), "prompt_strength": 0})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"][-1] == "prompt_strength"
