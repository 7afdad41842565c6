"""Every FLUX.1 LoRA layout users bring, converted in one step into the slots' layout: diffusers'
`transformer.<layer>.lora_A.weight` / `.lora_B.weight`, each layer's alpha folded into B, with a record of
what was left out. Model-agnostic (the layers are checked against the transformer by `LoraSlots.check_fits`).

Layouts (who writes them: their keys -> who converts them):
- kohya sd-scripts, FluxGym: `lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight`, `.alpha` -> diffusers;
- ComfyUI: `diffusion_model.double_blocks.0.img_attn.qkv.lora_down.weight`, `.alpha` -> diffusers;
- diffusers, PEFT, ai-toolkit, Replicate's trainers: `transformer.<layer>.lora_A.weight` -> as is, `.alpha` folded;
- XLabs: `double_blocks.0.processor.proj_lora1.down.weight` -> diffusers;
- bare BFL names (cog-flux applies these to the original model): `double_blocks.0.img_attn.proj.lora_A.weight`
  -> renamed here into ComfyUI's spelling (its `diffusion_model.` prefix, lora_down/lora_up), then diffusers.

Refused, saying why: LoRAs for other models (SDXL, SD 1.x, SD3), DoRA (diffusers drops `dora_scale` with a
warning: the image would silently be the plain LoRA's), LoKr and LoHa (LyCORIS, not low-rank pairs).
Left out and reported: the CLIP and T5 text-encoder parts (cog-flux `fp8/lora_loading.py` drops them too: the
slots hot-swap the compiled transformer only) and full weight/bias deltas (`.diff`, `.diff_b`, `.w_norm`,
`.b_norm`: ComfyUI `comfy/lora.py` patches them into the weights, which a no-recompile hot-swap can't hold).
A LoRA of a rank above the slots' is fitted into them by a truncated SVD of each layer's B·A (`fit_rank`).
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch

from shared.lora.errors import LoraRefused

_PAIR_KEY = re.compile(r"^transformer\.(.+)\.lora_([AB])\.weight$")
_ALPHA_KEY = re.compile(r"^transformer\.(.+)\.alpha$")

# Key families that are not the transformer's LoRA, by prefix (kohya, diffusers, ComfyUI spellings).
# sd-scripts names FLUX's CLIP-L `lora_te1` and T5 `lora_te3` (`networks/lora_flux.py`; early versions `lora_te2`).
_CLIP_PREFIXES = ("lora_te_", "lora_te1_", "text_encoder.", "text_encoders.clip_l.")
_T5_PREFIXES = ("lora_te2_", "lora_te3_", "text_encoder_2.", "text_encoders.t5xxl.")
_DELTA_SUFFIXES = (".diff", ".diff_b", ".w_norm", ".b_norm")
LEFT_OUT_PARTS = {
    "clip": "the CLIP text-encoder part",
    "t5": "the T5 text-encoder part",
    "delta": "the full weight and bias deltas, .diff/.diff_b",
}

# Top-level module names of the original (BFL) FLUX checkpoint, as bare LoRA keys use them.
_BFL_MODULES = ("double_blocks.", "single_blocks.", "img_in.", "txt_in.", "time_in.", "vector_in.",
                "guidance_in.", "final_layer.")
FLUX1_LINEAR1_OUT = 3 * 3072 + 12288  # q, k, v and MLP of a FLUX.1 single block; diffusers splits by these
_LINEAR1_UP = re.compile(r"single_blocks[._]\d+[._]linear1\.lora_(?:up|B)\.weight$")

# Stable Diffusion UNets (diffusers and original spellings); FLUX has none of these blocks.
_SD_UNET = re.compile(r"(?:^|[._])(?:down_blocks[._]\d|up_blocks[._]\d|mid_block[._]|input_blocks[._]\d|"
                      r"output_blocks[._]\d|middle_block[._])")
# SDXL: a second CLIP, several transformer blocks per attention, added conditioning embeddings.
_SDXL = re.compile(r"^lora_te2_|^text_encoder_2\.|transformer_blocks[._][1-9]|label_emb|add_embedding")


@dataclass
class ConvertedLora:
    """A LoRA in the slots' layout, and what of the file it is."""

    state_dict: dict[str, torch.Tensor]
    layout: str
    left_out: list[str] = field(default_factory=list)
    fitted: str | None = None  # how a rank above the slots' was fitted, if it was

    @property
    def layers(self) -> int:
        return len(self.state_dict) // 2

    @property
    def rank(self) -> int:
        return max(t.shape[0] for k, t in self.state_dict.items() if k.endswith(".lora_A.weight"))

    def changed(self) -> bool:
        """Whether the slots will hold less than the file: the one case a user must be told about."""
        return bool(self.left_out or self.fitted)

    def report(self) -> str:
        """One line: the layout, the layers, and everything not applied as the file has it."""
        line = f"{self.layout} LoRA, {self.layers} layers" + ("" if self.fitted else f", rank {self.rank}")
        if self.left_out:
            line += "; left out (not applied): " + ", ".join(self.left_out)
        if self.fitted:
            line += f"; {self.fitted}"
        return line


def load_lora_tensors(path: Path) -> dict[str, torch.Tensor]:
    """Every tensor of a .safetensors file, or LoraRefused("not a readable LoRA file (...)")."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            return {key: handle.get_tensor(key) for key in handle.keys()}
    except Exception as error:  # safetensors raises its own SafetensorError, OSError, or ValueError
        raise LoraRefused(f"not a readable LoRA file ({type(error).__name__})") from None


def convert_lora(tensors: Mapping[str, torch.Tensor]) -> ConvertedLora:
    """The slots' layout of any accepted layout, or LoraRefused saying why the file can't be used."""
    keys = list(tensors)
    _refuse_other_kinds(keys)
    parts: dict[str, dict[str, torch.Tensor]] = {"transformer": {}, "clip": {}, "t5": {}, "delta": {}}
    for key, tensor in tensors.items():
        parts[_family(key)][key] = tensor
    left_out = [_describe_left_out(part, parts[part]) for part in LEFT_OUT_PARTS if parts[part]]
    transformer = parts["transformer"]
    if not transformer:
        if left_out:
            raise LoraRefused(f"it holds nothing for the FLUX transformer, only {', '.join(left_out)}, which this "
                              "deployment doesn't apply (a LoRA for the FLUX.1 transformer is accepted)")
        raise LoraRefused("it holds no LoRA weights")
    layout = _layout(transformer)
    if layout == "diffusers":
        others = [k for k in transformer if not k.startswith("transformer.")]
        if others:  # diffusers reads only the `transformer.` keys of such a file and drops the rest unsaid
            left_out.append(f"{len(others)} tensors beside the transformer.* ones ({others[0]}, ...)")
            transformer = {k: v for k, v in transformer.items() if k.startswith("transformer.")}
    if layout == "BFL":
        transformer = {f"diffusion_model.{_kohya_spelling(k)}": v for k, v in transformer.items()}
    elif layout == "ComfyUI":
        transformer = {_kohya_spelling(k): v for k, v in transformer.items()}
    _refuse_other_widths(transformer)
    state_dict = _diffusers_conversion(transformer)
    lora_pairs(state_dict)
    return ConvertedLora(state_dict, layout, left_out)


def fit_rank(lora: ConvertedLora, max_rank: int, device: torch.device | None = None) -> ConvertedLora:
    """Fit every layer of rank above `max_rank` into it: the best rank-`max_rank` approximation of B·A
    (Eckart-Young), from the SVD of B·A computed in float32 through QR of both factors, so a 3072x12288
    product is never formed. Records the energy kept (share of ||B·A||_F^2), min and mean over those layers."""
    energies = []
    state_dict = dict(lora.state_dict)
    original_rank = lora.rank
    for key in [k for k, t in state_dict.items() if k.endswith(".lora_A.weight") and t.shape[0] > max_rank]:
        b_key = key.removesuffix(".lora_A.weight") + ".lora_B.weight"
        a, b, energy = truncated_factors(state_dict[key], state_dict[b_key], max_rank, device)
        state_dict[key], state_dict[b_key] = a, b
        energies.append(energy)
    if not energies:
        return lora
    fitted = (f"rank {original_rank} fitted into rank {max_rank} by truncated SVD of B·A on {len(energies)} layers, "
              f"energy kept min {min(energies):.1%}, mean {sum(energies) / len(energies):.1%}")
    return ConvertedLora(state_dict, lora.layout, list(lora.left_out), fitted)


def truncated_factors(a: torch.Tensor, b: torch.Tensor, rank: int, device: torch.device | None = None):
    """(A', B', energy kept) with B'·A' the best rank-`rank` approximation of B·A, split evenly (sqrt of the
    singular values on each side) so neither factor's magnitude overflows bf16."""
    a32, b32 = a.to(device=device, dtype=torch.float32), b.to(device=device, dtype=torch.float32)
    q_a, r_a = torch.linalg.qr(a32.T)  # A^T = Qa Ra
    q_b, r_b = torch.linalg.qr(b32)  # B = Qb Rb, so B·A = Qb (Rb Ra^T) Qa^T
    u, s, vh = torch.linalg.svd(r_b @ r_a.T)
    total = float((s**2).sum())
    energy = float((s[:rank] ** 2).sum()) / total if total > 0 else 1.0
    root = s[:rank].sqrt()
    fitted_b = (q_b @ u[:, :rank]) * root
    fitted_a = root[:, None] * (vh[:rank] @ q_a.T)
    return fitted_a.cpu().contiguous(), fitted_b.cpu().contiguous(), energy


# ---- what a file is --------------------------------------------------------------------------------------------

def _refuse_other_kinds(keys: list[str]) -> None:
    """Files that are not FLUX.1 LoRAs, named for what they are."""
    base = _other_base_model(keys)
    if base:
        raise LoraRefused(f"this LoRA is for {base}, not FLUX.1 (a FLUX.1 LoRA is accepted)")
    if any(".dora_scale" in k or "lora_magnitude_vector" in k for k in keys):
        raise LoraRefused("it is a DoRA (it has dora_scale magnitudes): DoRA isn't supported, and without its "
                          "magnitudes it would make a different image (a plain LoRA is accepted)")
    for marker, kind in ((".lokr_", "LoKr"), (".hada_", "LoHa")):
        if any(marker in k for k in keys):
            raise LoraRefused(f"it is a {kind} (LyCORIS), not a LoRA: {kind} isn't supported (a LoRA of "
                              "lora_down/lora_up or lora_A/lora_B pairs is accepted)")


def _other_base_model(keys: list[str]) -> str | None:
    if any("joint_blocks" in k for k in keys):
        return "SD3"
    unet = [k for k in keys if _SD_UNET.search(k)]
    if not unet:
        return None
    if any(_SDXL.search(k) for k in keys):
        return "SDXL"
    return "SD 1.5 (or 2.x)"


def _family(key: str) -> str:
    if key.startswith(_CLIP_PREFIXES):
        return "clip"
    if key.startswith(_T5_PREFIXES):
        return "t5"
    if key.endswith(_DELTA_SUFFIXES):
        return "delta"
    return "transformer"


def _describe_left_out(part: str, tensors: dict[str, torch.Tensor]) -> str:
    zeros = all(not t.is_floating_point() or not t.any() for t in tensors.values())
    return f"{LEFT_OUT_PARTS[part]} ({len(tensors)} tensors{', all zeros: no effect' if zeros else ''})"


def _layout(transformer: dict[str, torch.Tensor]) -> str:
    keys = list(transformer)
    if any(k.startswith("transformer.") for k in keys):
        return "diffusers"
    if any(k.startswith("lora_unet_") for k in keys):
        return "kohya"
    if any(k.startswith("lora_transformer_") for k in keys):
        return "kohya (diffusers module names)"
    if any(k.startswith("diffusion_model.") for k in keys):
        return "ComfyUI"
    if any(k.startswith("base_model.model.") for k in keys):
        return "fal"
    if any(k.startswith(_BFL_MODULES) for k in keys):
        return "XLabs" if any(".processor." in k for k in keys) else "BFL"
    raise LoraRefused(f"unexpected key {keys[0]!r}: not a FLUX.1 LoRA layout (kohya, ComfyUI, diffusers, XLabs "
                      "or BFL names are accepted)")


def _kohya_spelling(key: str) -> str:
    """lora_A/lora_B in kohya's lora_down/lora_up: diffusers' kohya/ComfyUI converter reads only that spelling."""
    return key.replace(".lora_A.weight", ".lora_down.weight").replace(".lora_B.weight", ".lora_up.weight")


def _refuse_other_widths(transformer: dict[str, torch.Tensor]) -> None:
    """diffusers splits a single block's fused linear1 at FLUX.1's widths (3072 x 3 + 12288) and asserts."""
    for key, tensor in transformer.items():
        if _LINEAR1_UP.search(key) and tensor.shape[0] != FLUX1_LINEAR1_OUT:
            raise LoraRefused(f"this LoRA is not for FLUX.1: its {key.split('.')[0]} has {tensor.shape[0]} outputs, "
                              f"FLUX.1's single-block linear1 has {FLUX1_LINEAR1_OUT} (a FLUX.1 LoRA is accepted)")


def _diffusers_conversion(transformer: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    from diffusers.loaders.lora_pipeline import FluxLoraLoaderMixin

    try:
        state_dict, alphas = FluxLoraLoaderMixin.lora_state_dict(dict(transformer), return_alphas=True)
    except (ValueError, KeyError, AssertionError, IndexError, RuntimeError, NotImplementedError) as error:
        detail = str(error).strip().splitlines()[-1][:160] if str(error).strip() else ""
        raise LoraRefused(f"its keys don't map onto FLUX.1's layers ({type(error).__name__}"
                          f"{': ' + detail if detail else ''})") from None
    state_dict = dict(state_dict)
    # Alphas diffusers leaves to the caller (diffusers/PEFT files that carry them): the scale is alpha / rank.
    alphas = dict(alphas or {}) | {k: state_dict.pop(k) for k in list(state_dict) if _ALPHA_KEY.match(k)}
    for key, alpha in alphas.items():
        prefix = key.removesuffix(".alpha")
        a_key, b_key = f"{prefix}.lora_A.weight", f"{prefix}.lora_B.weight"
        if a_key in state_dict and b_key in state_dict:
            state_dict[b_key] = state_dict[b_key] * (float(alpha) / state_dict[a_key].shape[0])
    return state_dict


def lora_pairs(state_dict: Mapping[str, torch.Tensor]) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """{layer: (A, B)} of a LoRA in the slots' layout: every key a lora_A/lora_B of a transformer layer, each
    layer with both, 2-D, of one rank; else LoraRefused. The one place pairs are checked."""
    pairs: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in state_dict.items():
        match = _PAIR_KEY.match(key)
        if not match:
            raise LoraRefused(f"unexpected key {key!r}: not a FLUX transformer LoRA")
        pairs.setdefault(match[1], {})[match[2]] = tensor
    for layer, pair in pairs.items():
        if set(pair) != {"A", "B"}:
            raise LoraRefused(f"layer {layer} has only one of its two LoRA matrices")
        a, b = pair["A"], pair["B"]
        if a.dim() != 2 or b.dim() != 2 or a.shape[0] != b.shape[1]:
            raise LoraRefused(f"layer {layer} has shapes {tuple(a.shape)}/{tuple(b.shape)} (2-D down and up "
                              "matrices of one rank are accepted)")
    if not pairs:
        raise LoraRefused("it holds no LoRA weights")
    return {layer: (pair["A"], pair["B"]) for layer, pair in pairs.items()}
