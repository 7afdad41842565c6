"""The FLUX engine in-process: one compiled graph serves text-to-image, image-to-image and every LoRA swap."""

import pytest
import torch

from shared.compile import compiled_graph_count
from shared.flux import FluxEngine, ImageRequest, pick_style
from shared.styles import GHIBSKY, OPEN_IMAGE_PREFERENCES


@pytest.fixture(scope="module")
def engine(flux_env):
    mp = pytest.MonkeyPatch()
    for name, value in flux_env.items():
        mp.setenv(name, value)
    engine = FluxEngine(torch.device("cpu"), token=None)
    engine.load()
    engine.warm_up(64)
    yield engine
    mp.undo()


def test_no_recompile_across_pipelines_and_swaps(engine, tiny_loras):
    request = ImageRequest("a cat", 64, 64, 2, 3.5, 0, "", 1.0)
    graphs = compiled_graph_count()
    torch.compiler.set_stance("fail_on_recompile")
    try:
        base = engine.generate(request)
        for style in (OPEN_IMAGE_PREFERENCES, GHIBSKY, None, GHIBSKY):
            engine.use_lora(style, "", 1.0)
            engine.generate(request)
            engine.generate(ImageRequest("a cat", 64, 64, 2, 3.5, 0, "", 1.0, strength=0.7), image=base)
        engine.use_lora(None, str(tiny_loras["custom"]), 0.7)
        engine.generate(request)
    finally:
        torch.compiler.set_stance("default")
    assert compiled_graph_count() == graphs
    assert engine.lora.live == (str(tiny_loras["custom"]), 0.7)


def test_text_and_image_pipelines_share_one_transformer(engine):
    assert engine.img2img.transformer is engine.text2img.transformer


@pytest.mark.parametrize(
    ("prompt", "style", "expected_style", "expected_prompt"),
    [
        ("a cat", "auto", None, "a cat"),
        ("a pixel art cat", "auto", OPEN_IMAGE_PREFERENCES, "a pixel art cat"),
        ("GHIBSKY hills", "auto", GHIBSKY, "GHIBSKY hills"),
        ("a cat", "GHIBSKY", GHIBSKY, "GHIBSKY, a cat"),
        ("Anime cat", "none", None, "Anime cat"),
        ("Manga cat", "Manga", OPEN_IMAGE_PREFERENCES, "Manga cat"),
    ],
)
def test_pick_style(prompt, style, expected_style, expected_prompt):
    assert pick_style(prompt, style) == (expected_style, expected_prompt)
