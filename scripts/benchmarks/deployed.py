"""How each deployment configures its model or engine, reproduced for the benchmarks and the GPU check.

One small function per deployment choice. When `shared/` changes how a deployment is set up (settings
objects, KV-cache buckets, new quantizations), this file follows and the measuring code stays as it is.
"""

import os
from pathlib import Path

import torch

from shared.compile import compile_decoding
from shared.layer_filter import LANGUAGE_MODEL_LINEARS, LayerFilter
from shared.quantization import quantize_hqq, quantize_int8_weight_only

# The context each text deployment serves (its MAX_CONTEXT_TOKENS default in predict.py).
MAX_CONTEXT = {"smollm3": 20480, "gemma3": 16384, "phi4-reasoning": 32768 + 4096}

# Every linear layer of a text-only decoder but the head and embeddings (the real-size Gemma-3 is text-only:
# its layers are `model.layers.*`, not `model.language_model.layers.*`).
TEXT_DECODER_LINEARS = LayerFilter(include=(r"layers\.",), exclude=(r"lm_head", r"embed"))


def cache_tokens(deployment: str, needed: int) -> int:
    """The static KV cache a deployment compiles its decode step over, for a request of `needed` tokens
    (prompt + new). Today: one cache of the deployment's whole context, whatever the request."""
    return max(MAX_CONTEXT[deployment], needed)


def compiled_decode(model, tokens: int):
    """The compiled decode step over a static cache, as `shared.compile` sets it up; returns the cache."""
    return compile_decoding(model, tokens)


def smollm3_optimized(model, device: torch.device, tokens: int):
    """SmolLM3 as deployed: HQQ 4-bit (group 64) through Pruna, then the compiled decode step."""
    model = quantize_hqq(model, device, bits=4, group_size=64)
    return model, compiled_decode(model, tokens)


def gemma3_layers(model) -> LayerFilter:
    has_language_model = any(".language_model." in f".{name}." for name, _ in model.named_modules())
    return LANGUAGE_MODEL_LINEARS if has_language_model else TEXT_DECODER_LINEARS


def gemma3_optimized(model, device: torch.device, tokens: int):
    """Gemma-3's language model in torchao INT8 weight-only, with the compiled decode step."""
    quantize_int8_weight_only(model, gemma3_layers(model))
    return model, compiled_decode(model, tokens)


def phi4_4bit(checkpoint: Path, device: torch.device):
    """Phi-4 as deployed: 4-bit through Unsloth on CUDA where it imports, else transformers + bitsandbytes NF4.
    Returns (model, backend)."""
    from shared.loading import load_4bit_causal_lm

    model, _, backend = load_4bit_causal_lm(checkpoint, device, MAX_CONTEXT["phi4-reasoning"])
    return model, backend


def flux_quantizations(device: torch.device) -> tuple[str, ...]:
    """The `FLUX_QUANTIZE` variants the engine runs on this device, most important first (bitsandbytes NF4
    needs CUDA; fp8 needs compute capability 8.9 or newer)."""
    if device.type != "cuda":
        return ("int8",)
    if torch.cuda.get_device_capability(device) >= (8, 9):
        return ("fp8", "nf4", "int8")
    return ("nf4", "int8")


def flux_engine(device: torch.device, model_dir: Path, quantize: str, max_lora_rank: int = 64):
    """The FLUX deployments' engine on `model_dir`, transformer quantized as `quantize`, compiled in place, LoRA
    slot of rank `max_lora_rank` ready. Loaded, not yet warmed up."""
    from shared.flux import FluxEngine

    os.environ.update(FLUX_MODEL_DIR=str(model_dir), FLUX_QUANTIZE=quantize, COMPILE="1",
                      MAX_LORA_RANK=str(max_lora_rank))
    engine = FluxEngine(device, token=None)
    engine.load()
    return engine
