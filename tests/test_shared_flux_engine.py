"""The FLUX engine in-process: one compiled graph serves text-to-image, image-to-image and every LoRA swap."""

import logging
import re
from pathlib import Path

import pytest
import torch

from shared.common.compiled_graphs import compiled_graph_count
from shared.flux.engine import FluxEngine, ImageRequest, LoraChoice, SlotRefused
from shared.flux.hardware import Accelerator, choose_attention, choose_quantization
from shared.flux.settings import FluxSettings
from shared.flux.styles import GHIBSKY, OPEN_IMAGE_PREFERENCES, pick_style
from shared.lora.cache import LoraSettings, lora_identity
from tests.flux_helpers import (
    TINY_WIDTHS,
    bfl_layers,
    bfl_lora,
    comfyui_extras,
    comfyui_lora,
    kohya_clip_part,
    kohya_dora,
    kohya_lora,
    kohya_t5_part,
    lora_pairs,
    lycoris_loha,
    lycoris_lokr,
    safetensors_bytes,
    sd15_kohya_lora,
    sdxl_kohya_lora,
)

REQUEST = ImageRequest(prompt="a cat", width=64, height=64, steps=2, guidance=3.5, seed=0)


@pytest.fixture(scope="module")
def engine(tiny_flux, tiny_loras):
    settings = FluxSettings(warmup_size=64, lora=LoraSettings(max_rank=8))
    engine = FluxEngine(settings, torch.device("cpu"))
    engine.load(tiny_flux)
    engine.warm_up()
    return engine


def style_choice(style, tiny_loras, scale=1.0) -> LoraChoice:
    if style is None:
        return LoraChoice()
    return LoraChoice(f"style:{style.name}", scale, tiny_loras["styles"] / f"{style.name}.safetensors")


def file_choice(tiny_loras, name, scale=1.0) -> LoraChoice:
    return LoraChoice(name, scale, tiny_loras[name])


def pixels(image) -> bytes:
    return image.tobytes()


@pytest.fixture
def no_recompiles():
    """Fails the test on any recompilation, and checks dynamo's graph count did not move either."""
    graphs = compiled_graph_count()
    torch.compiler.set_stance("fail_on_recompile")
    try:
        yield
    finally:
        torch.compiler.set_stance("default")
    assert compiled_graph_count() == graphs


def test_no_recompile_across_pipelines_and_swaps_of_either_slot(engine, tiny_loras, no_recompiles):
    base = engine.generate(REQUEST)
    for style, extra in ((OPEN_IMAGE_PREFERENCES, None), (GHIBSKY, "custom"), (None, "custom"), (GHIBSKY, None)):
        extra_choice = file_choice(tiny_loras, extra, 0.5) if extra else LoraChoice()
        engine.use_loras({"lora_weights": style_choice(style, tiny_loras), "extra_lora": extra_choice})
        engine.generate(REQUEST)
        engine.generate(ImageRequest(**{**REQUEST.__dict__, "strength": 0.7}), image=base)
    for scale in (0.7, -1.0, 3.0):  # a new scale is a new swap, never a new graph
        engine.use_loras({"lora_weights": file_choice(tiny_loras, "custom", scale),
                          "extra_lora": style_choice(OPEN_IMAGE_PREFERENCES, tiny_loras, -scale)})
        engine.generate(REQUEST)
    assert engine.lora.live == {
        "lora_weights": (lora_identity(tiny_loras["custom"]), 3.0),
        "extra_lora": (lora_identity(tiny_loras["styles"] / "open-image-preferences.safetensors"), -3.0),
    }


def test_both_slots_shape_the_image_and_scale_zero_is_the_base_model(engine, tiny_loras, no_recompiles):
    def render(first: LoraChoice, extra: LoraChoice) -> bytes:
        engine.use_loras({"lora_weights": first, "extra_lora": extra})
        return pixels(engine.generate(REQUEST))

    ghibsky, custom = style_choice(GHIBSKY, tiny_loras), file_choice(tiny_loras, "custom")
    base = render(LoraChoice(), LoraChoice())
    first_only = render(ghibsky, LoraChoice())
    both = render(ghibsky, custom)
    negative = render(ghibsky, file_choice(tiny_loras, "custom", -1.0))
    assert len({base, first_only, both, negative}) == 4
    assert render(style_choice(GHIBSKY, tiny_loras, 0.0), file_choice(tiny_loras, "custom", 0.0)) == base
    assert render(ghibsky, custom) == both, "swapping back is bit-exact"


@pytest.fixture(scope="module")
def layout_files(tmp_path_factory) -> dict[str, Path]:
    """One file per layout users bring, spelled by the layout's own rules (tests/flux_helpers.py). kohya,
    ComfyUI and BFL hold the same weights at the same scale (alpha = rank), so they must paint the same image."""
    pairs = lora_pairs(bfl_layers(**TINY_WIDTHS, linear1=False), rank=4, seed=11)
    states = {
        "kohya": kohya_lora(pairs, alpha=4.0),
        "kohya_clip_t5": kohya_lora(pairs, alpha=4.0) | kohya_clip_part() | kohya_t5_part(),
        "comfyui": comfyui_lora(pairs, alpha=4.0),
        "comfyui_t5_deltas": comfyui_lora(pairs, alpha=4.0) | comfyui_extras(),
        "bfl": bfl_lora(pairs),
        "sdxl": sdxl_kohya_lora(),
        "sd15": sd15_kohya_lora(),
        "dora": kohya_dora(pairs, alpha=4.0),
        "lokr": lycoris_lokr(),
        "loha": lycoris_loha(),
        "tiny_linear1": kohya_lora(lora_pairs(bfl_layers(**TINY_WIDTHS), rank=4, seed=12), alpha=4.0),
    }
    directory = tmp_path_factory.mktemp("lora-layouts")
    for name, state in states.items():
        (directory / f"{name}.safetensors").write_bytes(safetensors_bytes(state))
    return {name: directory / f"{name}.safetensors" for name in states}


def named_choice(path: Path, scale: float = 1.0) -> LoraChoice:
    return LoraChoice(path.name, scale, path)


def test_every_layout_paints_its_lora_without_recompiling(engine, layout_files, tiny_loras, no_recompiles):
    def render(path: Path | None) -> bytes:
        first = LoraChoice() if path is None else named_choice(path)
        engine.use_loras({"lora_weights": first, "extra_lora": LoraChoice()})
        return pixels(engine.generate(REQUEST))

    base = render(None)
    images = {name: render(layout_files[name]) for name in ("kohya", "kohya_clip_t5", "comfyui",
                                                             "comfyui_t5_deltas", "bfl")}
    assert base not in images.values()
    assert len(set(images.values())) == 1, "one LoRA in any spelling is one image; left-out parts change nothing"
    rank16 = render(tiny_loras["rank_too_high"])  # rank 16 into slots of rank 8: fitted, not refused
    assert rank16 not in (base, images["kohya"])


def test_what_the_slots_dont_hold_is_one_warning_line_per_lora(engine, layout_files, tiny_loras, caplog):
    engine.use_loras({"lora_weights": LoraChoice(), "extra_lora": LoraChoice()})
    caplog.set_level(logging.INFO, logger="shared.flux.engine")
    engine.use_loras({"lora_weights": named_choice(layout_files["kohya_clip_t5"]),
                      "extra_lora": named_choice(tiny_loras["rank_too_high"])})
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2, warnings
    # Each line names its LoRA (the file, or the slot and what the user asked for) before what happened to it.
    assert re.match(r"LoRA .*kohya_clip_t5\.safetensors\)?: kohya LoRA, 16 layers, rank 4; left out \(not applied\): "
                    r"the CLIP text-encoder part \(3 tensors\), the T5 text-encoder part \(2 tensors\)$", warnings[0])
    assert re.match(r"LoRA .*rank16\.safetensors\)?: diffusers LoRA, \d+ layers; rank 16 fitted into rank 8 by "
                    r"truncated SVD of B·A on \d+ layers, energy kept min \d+\.\d%, mean \d+\.\d%$", warnings[1])
    caplog.clear()
    engine.use_loras({"lora_weights": named_choice(layout_files["bfl"]), "extra_lora": LoraChoice()})
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], "a LoRA applied whole warns of nothing"


@pytest.mark.parametrize(
    ("refused_slot", "unfit", "reason"),
    [
        ("extra_lora", "corrupt", "not a readable LoRA file"),
        ("lora_weights", "sdxl", "this LoRA is for SDXL, not FLUX.1"),
        ("extra_lora", "sd15", "this LoRA is for SD 1.5 (or 2.x), not FLUX.1"),
        ("lora_weights", "dora", "it is a DoRA (it has dora_scale magnitudes): DoRA isn't supported"),
        ("extra_lora", "lokr", "it is a LoKr (LyCORIS), not a LoRA"),
        ("lora_weights", "loha", "it is a LoHa (LyCORIS), not a LoRA"),
        ("extra_lora", "tiny_linear1", "this LoRA is not for FLUX.1"),
    ],
)
def test_a_refused_lora_leaves_both_live_loras_as_they_were(engine, tiny_loras, layout_files, no_recompiles,
                                                            refused_slot, unfit, reason):
    engine.use_loras({"lora_weights": style_choice(GHIBSKY, tiny_loras, 0.8),
                      "extra_lora": file_choice(tiny_loras, "custom", -0.5)})
    live, before = dict(engine.lora.live), pixels(engine.generate(REQUEST))
    # The other slot asks for a LoRA that fits: it must not be swapped in when its partner is refused.
    wanted = {"lora_weights": style_choice(OPEN_IMAGE_PREFERENCES, tiny_loras),
              "extra_lora": style_choice(OPEN_IMAGE_PREFERENCES, tiny_loras)}
    wanted[refused_slot] = LoraChoice(unfit, 1.0, tiny_loras["corrupt"] if unfit == "corrupt" else layout_files[unfit])
    with pytest.raises(SlotRefused, match=f"^{refused_slot}: {unfit} can't be used: ") as refused:
        engine.use_loras(wanted)
    assert reason in str(refused.value)
    assert refused.value.slot == refused_slot and refused.value.choice == wanted[refused_slot]
    assert engine.lora.live == live
    assert pixels(engine.generate(REQUEST)) == before


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_the_gpu_default_engine_hot_swaps_both_slots_without_recompiling(tiny_flux, tiny_loras):
    """On a GPU `auto` picks FP8 (compute capability >= 8.9), bf16 or NF4, and cuDNN or FA3 attention: the
    quantized base layers must leave the bf16 LoRA slots hot-swappable with zero recompiles."""
    gpu = FluxEngine(FluxSettings(warmup_size=64, lora=LoraSettings(max_rank=8)), torch.device("cuda"))
    gpu.load(tiny_flux)
    gpu.warm_up()
    graphs = compiled_graph_count()
    torch.compiler.set_stance("fail_on_recompile")
    try:
        images = []
        for first, extra in ((GHIBSKY, 1.0), (OPEN_IMAGE_PREFERENCES, -1.0), (None, 0.5)):
            gpu.use_loras({"lora_weights": style_choice(first, tiny_loras),
                           "extra_lora": file_choice(tiny_loras, "custom", extra)})
            images.append(pixels(gpu.generate(REQUEST)))
    finally:
        torch.compiler.set_stance("default")
    assert compiled_graph_count() == graphs
    assert len(set(images)) == 3


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


def test_the_cpu_engine_runs_int8_sdpa_and_a_channels_last_vae(engine):
    assert (engine.quantization.name, engine.attention.name) == ("int8", "sdpa")
    processor = engine.text2img.transformer.transformer_blocks[0].attn.processor
    assert processor._attention_backend.value == "native"
    conv = engine.text2img.vae.decoder.conv_in.weight
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()


CPU = Accelerator(kind="cpu")
H100 = Accelerator(kind="cuda", name="H100", capability=(9, 0), memory_gib=79.6, cudnn_attention=True)
H100_FA3 = Accelerator(**{**H100.__dict__, "flash_attn_3": True})
L40S = Accelerator(kind="cuda", name="L40S", capability=(8, 9), memory_gib=44.4, cudnn_attention=True)
RTX_4090 = Accelerator(kind="cuda", name="RTX 4090", capability=(8, 9), memory_gib=23.6, cudnn_attention=True)
A100 = Accelerator(kind="cuda", name="A100", capability=(8, 0), memory_gib=79.2, cudnn_attention=True,
                   flash_attn_3=True)
T4 = Accelerator(kind="cuda", name="T4", capability=(7, 5), memory_gib=14.6)


@pytest.mark.parametrize(
    ("device", "quantization", "attention"),
    [
        (CPU, "int8", "sdpa"),
        (H100_FA3, "fp8", "fa3"),
        (H100, "fp8", "cudnn"),
        (L40S, "fp8", "cudnn"),
        (RTX_4090, "nf4", "cudnn"),  # FP8 tensor cores, but 24 GB holds FP8 FLUX + bf16 T5 only just
        (A100, "bf16", "cudnn"),  # no FP8; FA3 installed but it needs Hopper
        (T4, "nf4", "sdpa"),
    ],
)
def test_auto_follows_the_device(device, quantization, attention):
    assert choose_quantization("auto", device).name == quantization
    assert choose_attention("auto", device).name == attention
    assert device.describe().split(" ")[0] in choose_quantization("auto", device).reason


@pytest.mark.parametrize(
    ("choose", "requested", "device", "message"),
    [
        (choose_quantization, "fp8", A100, "FLUX_QUANTIZE=fp8 needs a CUDA GPU of compute capability 8.9"),
        (choose_quantization, "fp8", CPU, "this device is cpu"),
        (choose_quantization, "nf4", CPU, "FLUX_QUANTIZE=nf4 needs CUDA"),
        (choose_attention, "fa3", A100, "FLUX_ATTENTION=fa3 needs FlashAttention-3 (flash_attn_interface) on a Hopper"),
        (choose_attention, "fa3", H100, "FA3 is not installed"),
        (choose_attention, "cudnn", T4, "FLUX_ATTENTION=cudnn needs cuDNN 9+"),
    ],
)
def test_a_choice_the_device_cant_run_is_refused_at_setup(choose, requested, device, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        choose(requested, device)


def test_an_explicit_choice_the_device_can_run_is_kept():
    assert [choose_quantization(q, CPU).name for q in ("int8", "bf16")] == ["int8", "bf16"]
    assert choose_quantization("nf4", H100).name == "nf4" and choose_attention("sdpa", H100_FA3).name == "sdpa"


def test_settings_are_read_once_from_the_environment(tmp_path):
    settings = FluxSettings.from_env({
        "FLUX_QUANTIZE": "none", "FLUX_ATTENTION": "cudnn", "COMPILE": "0", "WARMUP_SIZE": "512",
        "MAX_LORA_RANK": "16", "LORA_CACHE_DIR": str(tmp_path), "LORA_CACHE_SIZE": "5",
    })
    assert settings == FluxSettings(quantize="bf16", attention="cudnn", compile=False, warmup_size=512,
                                    lora=LoraSettings(max_rank=16, cache_dir=tmp_path, cache_files=5))
    assert FluxSettings.from_env({}) == FluxSettings()
    with pytest.raises(ValueError, match="FLUX_QUANTIZE must be auto or one of fp8, nf4, int8, bf16, got 'fp4'"):
        FluxSettings.from_env({"FLUX_QUANTIZE": "fp4"})
    with pytest.raises(ValueError, match="WARMUP_SIZE must be a multiple of 16"):
        FluxSettings(warmup_size=1000)
    with pytest.raises(ValueError, match="LORA_CACHE_SIZE must be at least 2"):
        FluxSettings.from_env({"LORA_CACHE_SIZE": "1"})


def test_built_in_styles_fetch_their_named_file_at_their_revision(tiny_loras, tmp_path):
    """The GHIBSKY repo holds two LoRA files: the style names the one it means (on a loopback Hub)."""
    from shared.lora.sources import LoraCache, resolve_style
    from tests.fixture_server import FixtureServer

    v1, v2 = tiny_loras["custom"].read_bytes(), (tiny_loras["styles"] / "ghibsky.safetensors").read_bytes()
    preferences = (tiny_loras["styles"] / "open-image-preferences.safetensors").read_bytes()
    with FixtureServer() as hub:
        hub.add_hf_file(GHIBSKY.repo_id, "lora.safetensors", v1, revision=GHIBSKY.revision)
        hub.add_hf_file(GHIBSKY.repo_id, "lora_v2.safetensors", v2, revision=GHIBSKY.revision)
        hub.add_hf_file(OPEN_IMAGE_PREFERENCES.repo_id, "pytorch_lora_weights.safetensors", preferences,
                        revision=OPEN_IMAGE_PREFERENCES.revision)
        cache = LoraCache(LoraSettings(cache_dir=tmp_path, hf_endpoint=hub.url, max_rank=8, timeout=5))
        assert resolve_style(GHIBSKY, cache).read_bytes() == v2
        assert resolve_style(OPEN_IMAGE_PREFERENCES, cache).read_bytes() == preferences
    assert (GHIBSKY.filename, OPEN_IMAGE_PREFERENCES.filename) == ("lora_v2.safetensors",
                                                                   "pytorch_lora_weights.safetensors")
