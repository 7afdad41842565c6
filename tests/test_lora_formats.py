"""The one conversion step, apart from any model: every layout users bring lands on the right diffusers modules
with the right weights, what is left out is named, what can't be used is refused with its reason, and a rank
above the slots' is fitted by the best low-rank approximation.

Expected weights come from the layouts' own definitions: a LoRA's update is up @ down * alpha / rank on the
original FLUX module, and the table below is where diffusers' FluxTransformer2DModel keeps each original module
(black-forest-labs/flux `model.py` against diffusers' `transformer_flux.py`), fused projections split by rows.
"""

import pytest
import torch

from shared.lora.errors import LoraRefused
from shared.lora.formats import convert_lora, fit_rank, truncated_factors
from tests.flux_helpers import (
    FLUX1_WIDTHS,
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
    sd15_kohya_lora,
    sdxl_diffusers_lora,
    sdxl_kohya_lora,
)

DIFFUSERS_MODULES = {
    "double_blocks.0.img_attn.qkv": ["transformer_blocks.0.attn.to_q", "transformer_blocks.0.attn.to_k",
                                     "transformer_blocks.0.attn.to_v"],
    "double_blocks.0.img_attn.proj": ["transformer_blocks.0.attn.to_out.0"],
    "double_blocks.0.img_mlp.0": ["transformer_blocks.0.ff.net.0.proj"],
    "double_blocks.0.img_mlp.2": ["transformer_blocks.0.ff.net.2"],
    "double_blocks.0.img_mod.lin": ["transformer_blocks.0.norm1.linear"],
    "double_blocks.0.txt_attn.qkv": ["transformer_blocks.0.attn.add_q_proj", "transformer_blocks.0.attn.add_k_proj",
                                     "transformer_blocks.0.attn.add_v_proj"],
    "double_blocks.0.txt_attn.proj": ["transformer_blocks.0.attn.to_add_out"],
    "double_blocks.0.txt_mlp.0": ["transformer_blocks.0.ff_context.net.0.proj"],
    "double_blocks.0.txt_mlp.2": ["transformer_blocks.0.ff_context.net.2"],
    "double_blocks.0.txt_mod.lin": ["transformer_blocks.0.norm1_context.linear"],
    "single_blocks.0.linear1": ["single_transformer_blocks.0.attn.to_q", "single_transformer_blocks.0.attn.to_k",
                                "single_transformer_blocks.0.attn.to_v", "single_transformer_blocks.0.proj_mlp"],
    "single_blocks.0.linear2": ["single_transformer_blocks.0.proj_out"],
    "single_blocks.0.modulation.lin": ["single_transformer_blocks.0.norm.linear"],
}


def row_splits(name: str, out_features: int, hidden: int) -> list[int]:
    if name.endswith("linear1"):
        return [hidden, hidden, hidden, out_features - 3 * hidden]
    return [out_features // len(DIFFUSERS_MODULES[name])] * len(DIFFUSERS_MODULES[name])


def update(state_dict: dict, module: str, probe: torch.Tensor | None = None) -> torch.Tensor:
    """The weight update a converted LoRA makes to one diffusers module (applied to `probe`, if given)."""
    a = state_dict[f"transformer.{module}.lora_A.weight"].float()
    b = state_dict[f"transformer.{module}.lora_B.weight"].float()
    return b @ a if probe is None else b @ (a @ probe)


def assert_updates_match(state_dict: dict, pairs: dict, scale: float, hidden: int) -> None:
    """Compared on a random probe, so a FLUX.1-width update (21504 x 3072) is never formed."""
    assert len(state_dict) == 2 * sum(len(DIFFUSERS_MODULES[name]) for name in pairs)
    generator = torch.Generator().manual_seed(99)
    for name, (down, up) in pairs.items():
        probe = torch.randn(down.shape[1], 2, generator=generator)
        expected = torch.split(up @ (down @ probe) * scale, row_splits(name, up.shape[0], hidden))
        for module, rows in zip(DIFFUSERS_MODULES[name], expected, strict=True):
            torch.testing.assert_close(update(state_dict, module, probe), rows, rtol=1e-4, atol=1e-4, msg=module)


TINY_PAIRS = lora_pairs(bfl_layers(**TINY_WIDTHS, linear1=False), rank=4, seed=0)


@pytest.mark.parametrize(
    ("layout", "state", "scale"),
    [
        ("kohya", kohya_lora(TINY_PAIRS, alpha=2.0), 0.5),  # alpha / rank
        ("ComfyUI", comfyui_lora(TINY_PAIRS, alpha=8.0), 2.0),
        ("BFL", bfl_lora(TINY_PAIRS), 1.0),
    ],
)
def test_each_layout_updates_the_right_modules_by_the_right_amount(layout, state, scale):
    converted = convert_lora(state)
    assert (converted.layout, converted.left_out, converted.fitted) == (layout, [], None)
    assert_updates_match(converted.state_dict, TINY_PAIRS, scale, TINY_WIDTHS["hidden"])


@pytest.mark.parametrize("rank", [3, 4, 8])  # 4 and 8 divide by linear1's 4 parts: diffusers' "sparse" path
def test_kohya_single_block_linear1_is_split_at_flux1_widths(rank):
    """diffusers splits the fused q/k/v/MLP projection at 3072/3072/3072/12288: only a real-width LoRA shows it."""
    layers = {name: shape for name, shape in bfl_layers(**FLUX1_WIDTHS).items()
              if name in ("single_blocks.0.linear1", "double_blocks.0.img_attn.qkv")}
    pairs = lora_pairs(layers, rank=rank, seed=1)
    if rank == 8:  # what sd-scripts writes for a split-trained linear1: one rank-2 block per part, zeros elsewhere
        down, up = pairs["single_blocks.0.linear1"]
        mask = torch.zeros_like(up)
        for part, (start, stop) in enumerate([(0, 3072), (3072, 6144), (6144, 9216), (9216, 21504)]):
            mask[start:stop, 2 * part:2 * part + 2] = 1
        pairs["single_blocks.0.linear1"] = (down, up * mask)
    converted = convert_lora(kohya_lora(pairs, alpha=float(rank)))
    assert_updates_match(converted.state_dict, pairs, 1.0, FLUX1_WIDTHS["hidden"])
    assert converted.state_dict["transformer.single_transformer_blocks.0.proj_mlp.lora_B.weight"].shape[0] == 12288


def test_a_tiny_width_linear1_is_refused_as_not_for_flux1():
    pairs = lora_pairs(bfl_layers(**TINY_WIDTHS), rank=4, seed=0)
    with pytest.raises(LoraRefused, match="not for FLUX.1: its lora_unet_single_blocks_0_linear1 has 224 outputs"):
        convert_lora(kohya_lora(pairs, alpha=4.0))


def test_xlabs_processor_names_update_the_right_modules():
    """XLabs-AI/x-flux's DoubleStreamBlockLoraProcessor: *_lora1 on the image stream, *_lora2 on the text one."""
    pairs = {name: TINY_PAIRS[name] for name in ("double_blocks.0.img_attn.proj", "double_blocks.0.txt_attn.qkv")}
    xlabs = {}
    for name, processor in (("double_blocks.0.img_attn.proj", "proj_lora1"), ("double_blocks.0.txt_attn.qkv",
                                                                             "qkv_lora2")):
        down, up = pairs[name]
        xlabs |= {f"double_blocks.0.processor.{processor}.down.weight": down,
                  f"double_blocks.0.processor.{processor}.up.weight": up}
    converted = convert_lora(xlabs)
    assert converted.layout == "XLabs"
    assert_updates_match(converted.state_dict, pairs, 1.0, TINY_WIDTHS["hidden"])


def test_kohya_with_clip_and_t5_parts_loads_the_transformer_part_and_names_the_rest():
    plain = convert_lora(kohya_lora(TINY_PAIRS, alpha=4.0))
    converted = convert_lora(kohya_lora(TINY_PAIRS, alpha=4.0) | kohya_clip_part() | kohya_t5_part())
    assert converted.state_dict.keys() == plain.state_dict.keys()
    assert all(torch.equal(converted.state_dict[k], plain.state_dict[k]) for k in plain.state_dict)
    assert converted.left_out == ["the CLIP text-encoder part (3 tensors)", "the T5 text-encoder part (2 tensors)"]
    assert converted.report().endswith(
        "left out (not applied): the CLIP text-encoder part (3 tensors), the T5 text-encoder part (2 tensors)")


def test_comfyui_deltas_and_t5_part_are_named_as_left_out():
    converted = convert_lora(comfyui_lora(TINY_PAIRS, alpha=4.0) | comfyui_extras())
    assert converted.left_out == ["the T5 text-encoder part (2 tensors)",
                                  "the full weight and bias deltas, .diff/.diff_b (2 tensors)"]
    assert_updates_match(converted.state_dict, TINY_PAIRS, 1.0, TINY_WIDTHS["hidden"])


def test_a_left_out_part_of_zeros_is_said_to_change_nothing():
    clip = {k: torch.zeros_like(v) for k, v in kohya_clip_part().items()}
    converted = convert_lora(kohya_lora(TINY_PAIRS, alpha=4.0) | clip)
    assert converted.left_out == ["the CLIP text-encoder part (3 tensors, all zeros: no effect)"]


def test_diffusers_layout_folds_its_alphas():
    """diffusers/PEFT files may carry `<layer>.alpha` (e.g. TheLastBen's): the scale is alpha / rank."""
    down, up = TINY_PAIRS["double_blocks.0.img_attn.proj"]
    stem = "transformer.transformer_blocks.0.attn.to_out.0"
    converted = convert_lora({f"{stem}.lora_A.weight": down, f"{stem}.lora_B.weight": up,
                              f"{stem}.alpha": torch.tensor(2.0)})
    assert converted.layout == "diffusers"
    torch.testing.assert_close(update(converted.state_dict, "transformer_blocks.0.attn.to_out.0"), up @ down * 0.5)


def test_a_second_layout_beside_the_diffusers_one_is_named_as_left_out():
    """diffusers reads only the transformer.* keys of such a file: the others must not vanish unsaid."""
    down, up = TINY_PAIRS["double_blocks.0.img_attn.proj"]
    stem = "transformer.transformer_blocks.0.attn.to_out.0"
    state = {f"{stem}.lora_A.weight": down, f"{stem}.lora_B.weight": up} | kohya_lora(TINY_PAIRS, alpha=4.0)
    converted = convert_lora(state)
    assert converted.layers == 1
    assert converted.left_out[0].startswith(f"{len(kohya_lora(TINY_PAIRS, alpha=4.0))} tensors beside")


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        (sdxl_kohya_lora(), "this LoRA is for SDXL, not FLUX.1"),
        (sdxl_diffusers_lora(), "this LoRA is for SDXL, not FLUX.1"),
        (sd15_kohya_lora(), "this LoRA is for SD 1.5 (or 2.x), not FLUX.1"),
        (kohya_dora(TINY_PAIRS, alpha=4.0), "it is a DoRA (it has dora_scale magnitudes): DoRA isn't supported"),
        (lycoris_lokr(), "it is a LoKr (LyCORIS), not a LoRA: LoKr isn't supported"),
        (lycoris_loha(), "it is a LoHa (LyCORIS), not a LoRA: LoHa isn't supported"),
        (kohya_clip_part(), "it holds nothing for the FLUX transformer, only the CLIP text-encoder part"),
        ({"some.weight": torch.ones(2, 2)}, "unexpected key 'some.weight': not a FLUX.1 LoRA layout"),
        ({"lora_unet_double_blocks_0_img_attn_proj.lora_down.weight": torch.ones(2, 8)},
         "its keys don't map onto FLUX.1's layers"),
        ({"double_blocks.0.img_attn.proj.lora_A.weight": torch.ones(2, 8, 1),
          "double_blocks.0.img_attn.proj.lora_B.weight": torch.ones(8, 2)}, "has shapes (2, 8, 1)/(8, 2)"),
    ],
)
def test_files_that_cant_be_used_are_refused_with_their_reason(state, reason):
    with pytest.raises(LoraRefused) as refused:
        convert_lora(state)
    assert reason in str(refused.value)


def test_dora_is_refused_because_diffusers_would_load_it_as_the_plain_lora():
    """What the refusal guards against: diffusers drops dora_scale and converts the rest as a plain LoRA."""
    from diffusers.loaders.lora_pipeline import FluxLoraLoaderMixin

    dropped = FluxLoraLoaderMixin.lora_state_dict(kohya_dora(TINY_PAIRS, alpha=4.0))
    plain = FluxLoraLoaderMixin.lora_state_dict(kohya_lora(TINY_PAIRS, alpha=4.0))
    assert dropped.keys() == plain.keys() and all(torch.equal(dropped[k], plain[k]) for k in plain)


# ---- a rank above the slots' ----------------------------------------------------------------------------------

def test_truncated_factors_are_the_best_low_rank_approximation():
    generator = torch.Generator().manual_seed(0)
    a, b = torch.randn(16, 64, generator=generator), torch.randn(48, 16, generator=generator)
    fitted_a, fitted_b, energy = truncated_factors(a.to(torch.bfloat16), b.to(torch.bfloat16), 8)
    assert fitted_a.shape == (8, 64) and fitted_b.shape == (48, 8) and fitted_a.dtype == torch.float32
    product = b.to(torch.bfloat16).float() @ a.to(torch.bfloat16).float()
    s = torch.linalg.svdvals(product)
    assert energy == pytest.approx(float((s[:8] ** 2).sum() / (s**2).sum()), rel=1e-4)
    residual = torch.linalg.matrix_norm(product - fitted_b @ fitted_a) ** 2
    assert float(residual) == pytest.approx(float((s[8:] ** 2).sum()), rel=1e-3)  # Eckart-Young: the optimum


def test_a_product_of_low_rank_fits_exactly():
    generator = torch.Generator().manual_seed(1)
    a8, b8 = torch.randn(8, 32, generator=generator), torch.randn(32, 8, generator=generator)
    a16, b16 = torch.cat([a8, a8]), torch.cat([b8, b8], dim=1) / 2  # rank 16 on paper, rank 8 in fact
    fitted_a, fitted_b, energy = truncated_factors(a16, b16, 8)
    assert energy == pytest.approx(1.0, abs=1e-6)
    torch.testing.assert_close(fitted_b @ fitted_a, b8 @ a8, rtol=1e-4, atol=1e-4)


def test_fit_rank_fits_only_the_layers_above_the_slot_rank_and_says_what_it_kept():
    pairs = lora_pairs(bfl_layers(**TINY_WIDTHS, linear1=False), rank=16, seed=2)
    pairs["double_blocks.0.img_attn.proj"] = tuple(t[:4] if i == 0 else t[:, :4]
                                                   for i, t in enumerate(pairs["double_blocks.0.img_attn.proj"]))
    converted = convert_lora(bfl_lora(pairs))
    fitted = fit_rank(converted, 8)
    low = "transformer.transformer_blocks.0.attn.to_out.0.lora_A.weight"
    assert fitted.state_dict[low] is converted.state_dict[low]
    assert all(t.shape[0] == 8 for k, t in fitted.state_dict.items() if k.endswith("lora_A.weight") and k != low)
    layers = converted.layers - 1
    assert fitted.fitted.startswith(f"rank 16 fitted into rank 8 by truncated SVD of B·A on {layers} layers, "
                                    "energy kept min ")
    assert "mean " in fitted.fitted and fitted.changed()
    assert fit_rank(converted, 16) is converted
