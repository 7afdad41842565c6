"""The FLUX engine in-process: one compiled graph serves text-to-image, image-to-image and every LoRA swap."""

import pytest
import torch

from shared.compile import compiled_graph_count
from shared.flux import FluxEngine, ImageRequest, LoraChoice, SlotRefused
from shared.flux_hardware import Accelerator, choose_attention, choose_quantization
from shared.flux_settings import FluxSettings
from shared.lora_cache import LoraSettings, lora_identity
from shared.styles import GHIBSKY, OPEN_IMAGE_PREFERENCES, pick_style

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


@pytest.mark.parametrize(
    ("refused_slot", "unfit", "reason"),
    [
        ("extra_lora", "rank_too_high", "its rank is 16; this deployment hot-swaps LoRAs up to rank 8"),
        ("lora_weights", "text_encoder", "it has text-encoder weights"),
        ("extra_lora", "corrupt", "not a readable LoRA file"),
    ],
)
def test_a_refused_lora_leaves_both_live_loras_as_they_were(engine, tiny_loras, no_recompiles, refused_slot,
                                                            unfit, reason):
    engine.use_loras({"lora_weights": style_choice(GHIBSKY, tiny_loras, 0.8),
                      "extra_lora": file_choice(tiny_loras, "custom", -0.5)})
    live, before = dict(engine.lora.live), pixels(engine.generate(REQUEST))
    # The other slot asks for a LoRA that fits: it must not be swapped in when its partner is refused.
    wanted = {"lora_weights": style_choice(OPEN_IMAGE_PREFERENCES, tiny_loras),
              "extra_lora": style_choice(OPEN_IMAGE_PREFERENCES, tiny_loras)}
    wanted[refused_slot] = file_choice(tiny_loras, unfit)
    with pytest.raises(SlotRefused, match=f"^{refused_slot}: {unfit} can't be used: .*{reason}") as refused:
        engine.use_loras(wanted)
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


def test_built_in_styles_fetch_their_named_file_at_their_revision(tiny_loras, tmp_path, monkeypatch):
    """The GHIBSKY repo holds two LoRA files: the style names the one it means (on a loopback Hub)."""
    from shared.lora_sources import LoraCache, resolve_style
    from tests.fixture_server import FixtureServer

    monkeypatch.delenv("FLUX_STYLE_LORAS_DIR", raising=False)
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
