"""FLUX.1-dev text-to-image through the real Cog server, on a tiny FLUX pipeline with tiny LoRAs.

The transformer is INT8 (torchao) and compiled; styles are hot-swapped into it. Every response carries a
`recompiles` metric, which must stay 0.
"""

import io
import json
import re
import time

import pytest

from scripts.harness.cog_server import CogServer
from shared.common.metrics import METRICS
from shared.flux.image_outputs import read_parameters
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
    open_image,
    output_files,
    safetensors_bytes,
    sd15_kohya_lora,
    sdxl_kohya_lora,
    trainer_tar,
)

SMALL = dict(aspect_ratio="custom", width=64, height=64, num_inference_steps=2, output_format="png")


@pytest.fixture(scope="module")
def server(flux_env):
    with CogServer("flux-dev-txt2img", flux_env) as cog:
        yield cog


@pytest.fixture(scope="module")
def layout_files(tiny_loras) -> dict[str, str]:
    """LoRA files in every layout users bring, under the server's LORA_LOCAL_DIR, spelled by each layout's own
    rules (tests/flux_helpers.py); `trainer_tar` is a Replicate trainer's output, the LoRA in a .tar."""
    local_dir = tiny_loras["custom"].parent
    pairs = lora_pairs(bfl_layers(**TINY_WIDTHS, linear1=False), rank=4, seed=21)
    states = {
        "kohya": kohya_lora(pairs, alpha=4.0),
        "kohya_clip_t5": kohya_lora(pairs, alpha=2.0) | kohya_clip_part() | kohya_t5_part(),
        "comfyui_t5_deltas": comfyui_lora(lora_pairs(bfl_layers(**TINY_WIDTHS, linear1=False), 4, 22), 4.0)
        | comfyui_extras(),
        "bfl": bfl_lora(lora_pairs(bfl_layers(**TINY_WIDTHS, linear1=False), rank=4, seed=23)),
        "sdxl": sdxl_kohya_lora(),
        "sd15": sd15_kohya_lora(),
        "dora": kohya_dora(pairs, alpha=4.0),
        "lokr": lycoris_lokr(),
        "loha": lycoris_loha(),
        "tiny_linear1": kohya_lora(lora_pairs(bfl_layers(**TINY_WIDTHS), rank=4, seed=24), alpha=4.0),
    }
    files = {}
    for name, state in states.items():
        (local_dir / f"{name}.safetensors").write_bytes(safetensors_bytes(state))
        files[name] = str(local_dir / f"{name}.safetensors")
    # ai-toolkit, behind Replicate's FLUX trainers, writes diffusers' module names.
    trained = {}
    for module, bfl_name in (("transformer_blocks.0.attn.to_out.0", "double_blocks.0.img_attn.proj"),
                             ("transformer_blocks.0.ff.net.0.proj", "double_blocks.0.img_mlp.0")):
        down, up = pairs[bfl_name]
        trained |= {f"transformer.{module}.lora_A.weight": down, f"transformer.{module}.lora_B.weight": up}
    (local_dir / "trained_model.tar").write_bytes(trainer_tar({
        "output/flux_train_replicate/config.yaml": b"job: extension\n",
        "output/flux_train_replicate/lora.safetensors": safetensors_bytes(trained),
    }))
    files["trainer_tar"] = str(local_dir / "trained_model.tar")
    return files


def generate(server, **inputs) -> tuple[bytes, dict]:
    result = server.predict(**{**SMALL, **inputs})
    files = output_files(result)
    assert result["metrics"]["recompiles"] == 0
    return files[0], result


def test_setup_logs_one_line_of_stage_times_with_the_regional_compile(server):
    log = server.log_tail(10**7)
    assert "FLUX compile: regional" in log
    stages = re.findall(r"setup stages: ((?:[^,\"]+ \d+\.\d s, )*total \d+\.\d s)", log)
    assert len(stages) == 1, stages
    names = [re.fullmatch(r"(.+) \d+\.\d s", part).group(1) for part in stages[0].split(", ")]
    assert names == ["resolve", "load+quantize", "pipelines+LoRA slots", "compile", "warm-up", "safety checker",
                     "total"]
    assert float(re.search(r"compile (\d+\.\d) s", stages[0]).group(1)) > 0


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


def test_a_refused_extra_lora_fails_the_request_and_both_live_loras_keep_working(server, tiny_loras, layout_files):
    prompt = dict(prompt="GHIBSKY, a harbour", seed=8)
    before, _ = generate(server, **prompt, extra_lora=str(tiny_loras["custom"]), extra_lora_scale=0.5)
    refused = server.predict(**SMALL, **prompt, lora_weights=str(tiny_loras["custom"]),
                             extra_lora=layout_files["dora"])
    assert refused["status"] == "failed"
    assert "extra_lora: dora.safetensors can't be used: it is a DoRA" in refused["error"]
    server.wait_until_ready(timeout=10)
    after, result = generate(server, **prompt, extra_lora=str(tiny_loras["custom"]), extra_lora_scale=0.5)
    assert after == before and result["metrics"]["recompiles"] == 0


@pytest.mark.parametrize(
    ("lora", "message"),
    [
        ("corrupt", "not a readable LoRA file"),
        ("sdxl", "lora_weights: sdxl.safetensors can't be used: this LoRA is for SDXL, not FLUX.1"),
        ("sd15", "this LoRA is for SD 1.5 (or 2.x), not FLUX.1"),
        ("dora", "it is a DoRA (it has dora_scale magnitudes): DoRA isn't supported"),
        ("lokr", "it is a LoKr (LyCORIS), not a LoRA"),
        ("loha", "it is a LoHa (LyCORIS), not a LoRA"),
        ("tiny_linear1", "this LoRA is not for FLUX.1"),
        ("replicate.com/owner/model", "is a Replicate page, which this deployment can't download from: paste the "
                                      "URL of the trained weights instead"),
    ],
)
def test_unfit_lora_is_refused_and_the_live_style_keeps_working(server, tiny_loras, layout_files, lora, message):
    before, _ = generate(server, prompt="Cinematic, a harbour", seed=3, style="Cinematic")
    reference = str(tiny_loras["corrupt"]) if lora == "corrupt" else layout_files.get(lora, lora)
    refused = server.predict(**SMALL, prompt="a harbour", seed=3, lora_weights=reference)
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


def test_an_eight_megabyte_prompt_is_refused_at_once_and_the_next_image_is_made(server):
    """The tokenizers read a whole prompt before keeping 512 (T5) and 77 (CLIP) tokens: 8 MB held the only slot
    for over 90 s. The schema's maxLength has Cog refuse it first; a few seconds is a behaviour bound for that,
    not a benchmark."""
    started = time.monotonic()
    response = server.post({**SMALL, "prompt": "a red fox " * 800_000})
    elapsed = time.monotonic() - started
    assert response.status_code == 422, response.text[:300]
    assert ["body", "input", "prompt"] in [error["loc"] for error in response.json()["detail"]]
    assert elapsed < 5, f"the 422 took {elapsed:.1f} s"
    assert server.health()["status"] == "READY"
    generate(server, prompt="a red fox", seed=1, style="none")


def test_a_token_longer_than_any_token_is_refused_before_it_is_used(server):
    """Cog can't bound a Secret's length; the runner refuses it by name, without echoing it."""
    token = "hf_" + "k" * 2000
    result = server.predict(**SMALL, prompt="a red fox", hf_api_token=token)
    assert result["status"] == "failed"
    assert "hf_api_token: 2003 characters, longer than any token (at most 1024)" in result["error"]
    assert "k" * 50 not in result["error"] + result["logs"]


@pytest.mark.parametrize(
    ("lora", "logged"),
    [
        ("kohya", None),
        ("kohya_clip_t5", "left out (not applied): the CLIP text-encoder part (3 tensors), the T5 text-encoder part"),
        ("comfyui_t5_deltas", "left out (not applied): the T5 text-encoder part (2 tensors), the full weight and "
                              "bias deltas, .diff/.diff_b (2 tensors)"),
        ("bfl", None),
        ("trainer_tar", None),
        ("rank_too_high", "rank 16 fitted into rank 8 by truncated SVD of B·A on 6 layers, energy kept min "),
    ],
)
def test_every_layout_users_bring_paints_without_recompiling(server, tiny_loras, layout_files, lora, logged):
    """And says in the prediction's logs, in one warning line, whatever of the file the slots don't hold."""
    prompt = dict(prompt="a lighthouse at dusk", seed=4, style="none")
    base, _ = generate(server, **prompt)
    reference = str(tiny_loras[lora]) if lora == "rank_too_high" else layout_files[lora]
    image, result = generate(server, **prompt, lora_weights=reference)
    assert open_image(image).tobytes() != open_image(base).tobytes()
    assert result["metrics"]["recompiles"] == 0
    lines = [line for line in result["logs"].splitlines() if " LoRA, " in line]  # lora_formats' report
    assert len(lines) == 1, result["logs"]
    if logged:
        assert lines[0].startswith("WARNING ") and logged in lines[0], lines[0]
    else:
        assert "left out" not in lines[0] and "fitted" not in lines[0], lines[0]
    again, _ = generate(server, **prompt, lora_weights=reference)
    assert again == image, "a LoRA already live is not read again and paints the same image"
