"""LoRA files for the tiny FLUX transformer, in the diffusers format real FLUX LoRAs load as."""

from pathlib import Path

import torch
from diffusers import FluxTransformer2DModel
from safetensors.torch import save_file


def random_lora(layers: dict[str, torch.nn.Linear], names: list[str], rank: int, seed: int) -> dict:
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for name in names:
        layer = layers[name]
        state[f"transformer.{name}.lora_A.weight"] = torch.randn(rank, layer.in_features, generator=generator) * 0.5
        state[f"transformer.{name}.lora_B.weight"] = torch.randn(layer.out_features, rank, generator=generator) * 0.5
    return {k: v.to(torch.bfloat16).contiguous() for k, v in state.items()}


def build_tiny_loras(flux_dir: Path, out_dir: Path) -> dict[str, Path]:
    """Returns name -> file. `styles/` holds the built-in styles as FLUX_STYLE_LORAS_DIR expects them."""
    transformer = FluxTransformer2DModel.from_pretrained(flux_dir, subfolder="transformer")
    layers = {n: m for n, m in transformer.named_modules() if isinstance(m, torch.nn.Linear)}
    attention = [n for n in layers if n.endswith(("to_q", "to_k", "to_v"))]
    feed_forward = [n for n in layers if ".ff." in n or n.endswith(("proj_mlp", "proj_out"))]
    (out_dir / "styles").mkdir(parents=True)
    files = {
        "open-image-preferences": (out_dir / "styles" / "open-image-preferences.safetensors",
                                   random_lora(layers, attention, 4, seed=1)),
        "ghibsky": (out_dir / "styles" / "ghibsky.safetensors", random_lora(layers, feed_forward, 8, seed=2)),
        "custom": (out_dir / "custom.safetensors", random_lora(layers, attention + feed_forward, 2, seed=3)),
        "rank_too_high": (out_dir / "rank16.safetensors", random_lora(layers, attention, 16, seed=4)),
    }
    text_encoder = random_lora(layers, attention[:1], 4, seed=5)
    text_encoder["text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora_A.weight"] = torch.zeros(4, 32)
    text_encoder["text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora_B.weight"] = torch.zeros(32, 4)
    files["text_encoder"] = (out_dir / "text_encoder.safetensors", text_encoder)
    for path, state in files.values():
        save_file(state, path)
    corrupt = out_dir / "corrupt.safetensors"
    corrupt.write_bytes(b"\x00not a safetensors file")
    return {name: path for name, (path, _) in files.items()} | {"corrupt": corrupt, "styles": out_dir / "styles"}
