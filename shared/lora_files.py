"""Is this file a plausible LoRA? Checked before a download enters the cache, so a broken file is never kept."""

import re
from pathlib import Path

from shared.lora_references import LoraSourceError

# Down/A and up/B matrices in the diffusers/PEFT, Kohya and XLabs spellings.
_DOWN = re.compile(r"^(.+?)\.?(?:lora_A|lora_down|lora\.down|down)\.weight$")
_UP = re.compile(r"^(.+?)\.?(?:lora_B|lora_up|lora\.up|up)\.weight$")


def check_lora_file(path: Path, max_rank: int, field: str = "lora_weights", name: str = "the file") -> None:
    """Raise LoraSourceError unless the safetensors header parses, every tensor reads, every value is finite,
    and each down/up pair is 2-D with a shared rank of at most `max_rank`."""
    import torch  # here, not at the top: parsing references (and the input schema, via styles) needs no torch
    from safetensors import safe_open

    unreadable = f"{field}: {name} is not a readable LoRA file"
    try:
        with safe_open(str(path), framework="pt") as handle:
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    except Exception as error:  # safetensors raises its own SafetensorError, OSError, or ValueError
        raise LoraSourceError(f"{unreadable} ({type(error).__name__}) (a .safetensors LoRA is accepted)") from None
    if not tensors:
        raise LoraSourceError(f"{unreadable}: it holds no tensors (a .safetensors LoRA is accepted)")
    for key, tensor in tensors.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise LoraSourceError(f"{unreadable}: {key} holds NaN or infinite values (finite weights are accepted)")
    downs = {m[1]: t for key, t in tensors.items() if (m := _DOWN.match(key))}
    ups = {m[1]: t for key, t in tensors.items() if (m := _UP.match(key))}
    if not downs and not ups:
        raise LoraSourceError(f"{unreadable}: no LoRA down/up (lora_A/lora_B) weights (a LoRA file is accepted)")
    for layer in sorted(downs.keys() | ups.keys()):
        if layer not in downs or layer not in ups:
            raise LoraSourceError(f"{unreadable}: layer {layer} has only one of its two LoRA matrices")
        down, up = downs[layer], ups[layer]
        if down.dim() != 2 or up.dim() != 2 or down.shape[0] != up.shape[1]:
            raise LoraSourceError(
                f"{unreadable}: layer {layer} has shapes {tuple(down.shape)}/{tuple(up.shape)} "
                "(2-D down and up matrices of one rank are accepted)"
            )
        if down.shape[0] > max_rank:
            raise LoraSourceError(
                f"{field}: its rank is {down.shape[0]}; this deployment hot-swaps LoRAs up to rank {max_rank}"
            )
