"""The FLUX engine in-process: one compiled graph serves text-to-image, image-to-image and every LoRA swap."""

import pytest
import torch

from shared.compile import compiled_graph_count
from shared.flux import FluxEngine, ImageRequest, LoraChoice
from shared.flux_settings import FluxSettings
from shared.styles import GHIBSKY, OPEN_IMAGE_PREFERENCES, pick_style

REQUEST = ImageRequest(prompt="a cat", width=64, height=64, steps=2, guidance=3.5, seed=0)


@pytest.fixture(scope="module")
def engine(tiny_flux, tiny_loras):
    settings = FluxSettings(max_lora_rank=8, warmup_size=64, style_loras_dir=tiny_loras["styles"])
    engine = FluxEngine(settings, torch.device("cpu"))
    engine.load(tiny_flux)
    engine.warm_up()
    return engine


def style_choice(style, tiny_loras, scale=1.0) -> LoraChoice:
    if style is None:
        return LoraChoice()
    return LoraChoice(f"style:{style.name}", scale, tiny_loras["styles"] / f"{style.name}.safetensors")


def test_no_recompile_across_pipelines_and_swaps(engine, tiny_loras):
    graphs = compiled_graph_count()
    torch.compiler.set_stance("fail_on_recompile")
    try:
        base = engine.generate(REQUEST)
        for style in (OPEN_IMAGE_PREFERENCES, GHIBSKY, None, GHIBSKY):
            engine.use_loras({"lora_weights": style_choice(style, tiny_loras)})
            engine.generate(REQUEST)
            engine.generate(ImageRequest(**{**REQUEST.__dict__, "strength": 0.7}), image=base)
        custom = LoraChoice(str(tiny_loras["custom"]), 0.7, tiny_loras["custom"])
        engine.use_loras({"lora_weights": custom})
        engine.generate(REQUEST)
    finally:
        torch.compiler.set_stance("default")
    assert compiled_graph_count() == graphs
    assert engine.lora.live["lora_weights"] == (str(tiny_loras["custom"]), 0.7)


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
