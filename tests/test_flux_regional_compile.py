"""Regional compilation of the FLUX transformer: the repeated blocks compiled in place, LoRA hot-swaps of both
slots still compile nothing, and the images are the whole-model compile's images."""

import numpy as np
import pytest
import torch

from shared.common.compiled_graphs import compiled_graph_count
from shared.flux.engine import FluxEngine, ImageRequest, LoraChoice
from shared.flux.settings import FluxSettings
from shared.lora.cache import LoraSettings

REQUEST = ImageRequest(prompt="a cat", width=64, height=64, steps=2, guidance=3.5, seed=3)


def engine(tiny_flux, mode: str) -> FluxEngine:
    built = FluxEngine(FluxSettings(warmup_size=64, compile_mode=mode, lora=LoraSettings(max_rank=8)),
                       torch.device("cpu"))
    built.load(tiny_flux)
    built.warm_up()
    return built


@pytest.fixture(scope="module")
def engines(tiny_flux, tiny_loras) -> dict[str, FluxEngine]:
    return {mode: engine(tiny_flux, mode) for mode in ("whole", "regional")}


def lora_choices(tiny_loras, first: str | None, extra: str | None, scale: float = 1.0) -> dict[str, LoraChoice]:
    def choice(name):
        return LoraChoice() if name is None else LoraChoice(name, scale, tiny_loras[name])

    return {"lora_weights": choice(first), "extra_lora": choice(extra)}


SWAPS = [(None, None), ("ghibsky", None), ("ghibsky", "custom"), ("open-image-preferences", "custom"),
         (None, "custom"), ("custom", "ghibsky")]


def test_regional_compiles_each_repeated_block_in_place_not_the_transformer(engines):
    transformer = engines["regional"].text2img.transformer
    blocks = [*transformer.transformer_blocks, *transformer.single_transformer_blocks]
    assert blocks and all(block._compiled_call_impl is not None for block in blocks)
    assert transformer._compiled_call_impl is None
    # In place: the pipelines hold the model itself, not an OptimizedModule wrapper.
    assert type(engines["regional"].img2img.transformer).__name__ == "FluxTransformer2DModel"
    assert engines["whole"].text2img.transformer._compiled_call_impl is not None


def test_hot_swapping_both_slots_recompiles_nothing_and_matches_the_whole_model_compile(engines, tiny_loras):
    regional, whole = engines["regional"], engines["whole"]
    graphs = compiled_graph_count()
    torch.compiler.set_stance("fail_on_recompile")
    try:
        images = []
        for first, extra in SWAPS:
            for scale in (1.0, -0.5):
                regional.use_loras(lora_choices(tiny_loras, first, extra, scale))
                base = regional.generate(REQUEST)
                images.append(np.asarray(base))
                img2img = regional.generate(ImageRequest(**{**REQUEST.__dict__, "strength": 0.7}), image=base)
                images.append(np.asarray(img2img))
    finally:
        torch.compiler.set_stance("default")
    assert compiled_graph_count() == graphs
    assert len({image.tobytes() for image in images}) > len(SWAPS), "the LoRAs must change the images"

    index = 0
    for first, extra in SWAPS:
        for scale in (1.0, -0.5):
            whole.use_loras(lora_choices(tiny_loras, first, extra, scale))
            base = whole.generate(REQUEST)
            img2img = whole.generate(ImageRequest(**{**REQUEST.__dict__, "strength": 0.7}), image=base)
            for expected in (base, img2img):
                # Different fusions round bf16 differently: a few pixels may move by a few levels.
                difference = np.abs(images[index].astype(int) - np.asarray(expected).astype(int))
                assert difference.max() <= 8 and difference.mean() < 0.5, (first, extra, scale, difference.max())
                index += 1


def test_the_compile_mode_is_checked_and_named_in_the_error():
    assert FluxSettings.from_env({}).compile_mode == "regional"
    assert FluxSettings.from_env({"FLUX_COMPILE": "whole"}).compile_mode == "whole"
    with pytest.raises(ValueError, match="^FLUX_COMPILE must be one of regional, whole, got 'blocks'$"):
        FluxSettings.from_env({"FLUX_COMPILE": "blocks"})
