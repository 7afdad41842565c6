"""Reading FLUX predictions' image outputs (data URIs when the Cog server has no upload URL), and LoRA files in
the layouts trainers and sites produce."""

import base64
import io
import tarfile

import torch
from PIL import Image
from safetensors.torch import save


def output_files(prediction: dict) -> list[bytes]:
    assert prediction["status"] == "succeeded", prediction.get("error")
    return [base64.b64decode(uri.split(",", 1)[1]) for uri in prediction["output"]]


def open_image(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def data_uri(payload: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(payload).decode()}"


def png_bytes(size=(64, 64), color=(30, 120, 200)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


# ---- LoRA files as trainers write them -------------------------------------------------------------------------
# Each layout is spelled from its own rules (kohya sd-scripts `networks/lora_flux.py`, ComfyUI `comfy/lora.py`,
# black-forest-labs/flux module names), never from our converter's output.

TINY_WIDTHS = {"hidden": 32, "mlp": 128}  # scripts/harness/tiny_models/flux.py: 2 heads of 16, MLP ratio 4
FLUX1_WIDTHS = {"hidden": 3072, "mlp": 12288}


def bfl_layers(hidden: int, mlp: int, linear1: bool = True) -> dict[str, tuple[int, int]]:
    """(in, out) of block 0's linear layers in the original FLUX checkpoint, by their BFL names. `linear1` is
    the single block's fused q/k/v/MLP projection, which diffusers splits at FLUX.1's widths only."""
    layers = {}
    for stream in ("img", "txt"):
        layers |= {
            f"double_blocks.0.{stream}_attn.qkv": (hidden, 3 * hidden),
            f"double_blocks.0.{stream}_attn.proj": (hidden, hidden),
            f"double_blocks.0.{stream}_mlp.0": (hidden, mlp),
            f"double_blocks.0.{stream}_mlp.2": (mlp, hidden),
            f"double_blocks.0.{stream}_mod.lin": (hidden, 6 * hidden),
        }
    layers["single_blocks.0.linear2"] = (hidden + mlp, hidden)
    layers["single_blocks.0.modulation.lin"] = (hidden, 3 * hidden)
    if linear1:
        layers["single_blocks.0.linear1"] = (hidden, 3 * hidden + mlp)
    return layers


def lora_pairs(layers: dict[str, tuple[int, int]], rank: int, seed: int) -> dict[str, tuple]:
    """name -> (down, up): random enough that the tiny FLUX's image changes."""
    generator = torch.Generator().manual_seed(seed)
    return {
        name: (torch.randn(rank, n_in, generator=generator) * 0.5, torch.randn(n_out, rank, generator=generator) * 0.5)
        for name, (n_in, n_out) in layers.items()
    }


def kohya_lora(pairs: dict, alpha: float) -> dict:
    """sd-scripts / FluxGym: `lora_unet_` + the BFL name with dots as underscores, lora_down/lora_up, `.alpha`."""
    state = {}
    for name, (down, up) in pairs.items():
        stem = "lora_unet_" + name.replace(".", "_")
        state |= {f"{stem}.lora_down.weight": down, f"{stem}.lora_up.weight": up, f"{stem}.alpha": torch.tensor(alpha)}
    return state


def comfyui_lora(pairs: dict, alpha: float) -> dict:
    """ComfyUI: `diffusion_model.` + the BFL name, lora_down/lora_up, `.alpha`."""
    state = {}
    for name, (down, up) in pairs.items():
        stem = f"diffusion_model.{name}"
        state |= {f"{stem}.lora_down.weight": down, f"{stem}.lora_up.weight": up, f"{stem}.alpha": torch.tensor(alpha)}
    return state


def bfl_lora(pairs: dict) -> dict:
    """Bare BFL names with PEFT's lora_A/lora_B, as cog-flux applies them to the original model (no alpha)."""
    state = {}
    for name, (down, up) in pairs.items():
        state |= {f"{name}.lora_A.weight": down, f"{name}.lora_B.weight": up}
    return state


def kohya_clip_part(rank: int = 4, width: int = 32) -> dict:
    """sd-scripts' CLIP-L part (`lora_te1_`, HF CLIPTextModel module names with underscores)."""
    stem = "lora_te1_text_model_encoder_layers_0_self_attn_q_proj"
    return {f"{stem}.lora_down.weight": torch.ones(rank, width), f"{stem}.lora_up.weight": torch.ones(width, rank),
            f"{stem}.alpha": torch.tensor(float(rank))}


def kohya_t5_part(rank: int = 4, width: int = 32) -> dict:
    """sd-scripts' T5-XXL part (`lora_te3_`)."""
    stem = "lora_te3_encoder_block_0_layer_0_SelfAttention_q"
    return {f"{stem}.lora_down.weight": torch.ones(rank, width), f"{stem}.lora_up.weight": torch.ones(width, rank)}


def comfyui_extras(hidden: int = 32, head_dim: int = 16) -> dict:
    """What ComfyUI files carry beside the LoRA pairs: a T5 part and full deltas (`x.diff_b` for a bias,
    `x.diff` for a weight, here a QK-norm's scale), which `comfy/lora.py` patches into the weights."""
    t5 = "text_encoders.t5xxl.transformer.encoder.block.0.layer.0.SelfAttention.q"
    return {
        f"{t5}.lora_down.weight": torch.ones(4, hidden), f"{t5}.lora_up.weight": torch.ones(hidden, 4),
        "diffusion_model.double_blocks.0.img_attn.proj.diff_b": torch.ones(hidden),
        "diffusion_model.double_blocks.0.img_attn.norm.query_norm.diff": torch.ones(head_dim),
    }


def kohya_dora(pairs: dict, alpha: float) -> dict:
    """A kohya/LyCORIS DoRA: the LoRA pairs plus a `dora_scale` magnitude per layer."""
    state = kohya_lora(pairs, alpha)
    for name, (down, _) in pairs.items():
        state[f"lora_unet_{name.replace('.', '_')}.dora_scale"] = torch.ones(1, down.shape[1])
    return state


def lycoris_lokr() -> dict:
    stem = "lora_unet_double_blocks_0_img_attn_proj"
    return {f"{stem}.lokr_w1": torch.ones(4, 4), f"{stem}.lokr_w2": torch.ones(8, 8),
            f"{stem}.alpha": torch.tensor(4.0)}


def lycoris_loha() -> dict:
    stem = "lora_unet_double_blocks_0_img_attn_proj"
    return {f"{stem}.hada_w1_a": torch.ones(32, 4), f"{stem}.hada_w1_b": torch.ones(4, 32),
            f"{stem}.hada_w2_a": torch.ones(32, 4), f"{stem}.hada_w2_b": torch.ones(4, 32),
            f"{stem}.alpha": torch.tensor(4.0)}


def _kohya_pair(stem: str, n_in: int, n_out: int, rank: int = 4) -> dict:
    return {f"{stem}.lora_down.weight": torch.ones(rank, n_in), f"{stem}.lora_up.weight": torch.ones(n_out, rank),
            f"{stem}.alpha": torch.tensor(float(rank))}


def sdxl_kohya_lora() -> dict:
    """kohya's SDXL naming: the UNet's original (sgm) block names, two CLIPs (`lora_te1_`, `lora_te2_`)."""
    return (_kohya_pair("lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q", 640, 640)
            | _kohya_pair("lora_unet_output_blocks_2_1_transformer_blocks_1_attn2_to_k", 2048, 1280)
            | _kohya_pair("lora_te1_text_model_encoder_layers_0_self_attn_q_proj", 768, 768)
            | _kohya_pair("lora_te2_text_model_encoder_layers_0_self_attn_q_proj", 1280, 1280))


def sd15_kohya_lora() -> dict:
    """kohya's SD 1.5 naming: diffusers' UNet block names with underscores, one CLIP (`lora_te_`)."""
    return (_kohya_pair("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q", 320, 320)
            | _kohya_pair("lora_te_text_model_encoder_layers_0_mlp_fc1", 768, 3072))


def sdxl_diffusers_lora() -> dict:
    """diffusers' SDXL layout: `unet.` and `text_encoder_2.` modules with lora_A/lora_B."""
    q = "unet.down_blocks.1.attentions.0.transformer_blocks.1.attn1.to_q"
    te2 = "text_encoder_2.text_model.encoder.layers.0.self_attn.q_proj"
    return {f"{q}.lora_A.weight": torch.ones(4, 640), f"{q}.lora_B.weight": torch.ones(640, 4),
            f"{te2}.lora_A.weight": torch.ones(4, 1280), f"{te2}.lora_B.weight": torch.ones(1280, 4)}


def trainer_tar(members: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    """A .tar as Replicate's LoRA trainers output it (name -> content), plus optional symlinks (name -> target)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            archive.addfile(info)
    return buffer.getvalue()


def safetensors_bytes(state: dict) -> bytes:
    return save({k: v.to(torch.bfloat16).contiguous() if v.dim() else v.contiguous() for k, v in state.items()})
