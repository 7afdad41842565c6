"""How each deployment configures its model or engine, reproduced for the benchmarks and the GPU check.

One small function per deployment choice, calling the deployment's own declaration (its predict.py `MODEL`:
defaults and `optimize`, see `shared.text.service.TextModel`; `shared.flux.settings`) so that when a deployment
changes, the measuring code doesn't have to.
"""

from dataclasses import replace
from pathlib import Path

import torch

from shared.optim.layer_filter import LANGUAGE_MODEL_LINEARS, LayerFilter
from shared.optim.quantization import quantize_int8_weight_only
from shared.text.kv_cache import CacheBuckets
from shared.text.service import TextModel
from shared.text.settings import TextSettings

# Every linear layer of a text-only decoder but the head and embeddings (the real-size Gemma-3 is text-only:
# its layers are `model.layers.*`, not `model.language_model.layers.*`).
TEXT_DECODER_LINEARS = LayerFilter(include=(r"layers\.",), exclude=(r"lm_head", r"embed"))


def text_model(deployment: str) -> TextModel:
    """The deployment's declaration, from its predict.py."""
    from scripts.harness.deployment_predictor import predictor_module

    return predictor_module(deployment).MODEL


def text_settings(deployment: str) -> TextSettings:
    """The deployment's defaults (context length, cache buckets, quantization)."""
    return text_model(deployment).defaults


def cache_buckets(model, deployment: str, device: torch.device) -> CacheBuckets:
    """The static KV caches the deployment compiles its decode step over; a request takes the smallest that
    holds it (`CacheBuckets.pick`). The benchmarks decode on the calling thread, so it gets the compile config."""
    caches = CacheBuckets(model, text_settings(deployment).cache_lengths, device)
    caches.configure_compiling_thread()
    return caches


def smollm3_optimized(model, device: torch.device):
    """SmolLM3 as deployed: HQQ 4-bit through Pruna on the int4 kernel, the compiled decode step. Layers left
    on HQQ's slow forward are counted rather than fatal, so a GPU run still measures (the deployment refuses to
    start instead; the functional stage shows that)."""
    from shared.optim.hqq_kernels import layer_kernels

    settings = replace(text_settings("smollm3"), hqq_fast_kernel="warn")
    smollm3 = text_model("smollm3")
    model = smollm3.on_device(smollm3.optimize(model, device, settings), device, settings)
    kernels = list(layer_kernels(model).values())
    notes = {"kernels": {kernel: kernels.count(kernel) for kernel in sorted(set(kernels))}}
    return model, cache_buckets(model, "smollm3", device), notes


def gemma3_layers(model) -> LayerFilter:
    has_language_model = any(".language_model." in f".{name}." for name, _ in model.named_modules())
    return LANGUAGE_MODEL_LINEARS if has_language_model else TEXT_DECODER_LINEARS


def gemma3_optimized(model, device: torch.device):
    """Gemma-3's language model in torchao INT8 weight-only, with the compiled decode step."""
    quantize_int8_weight_only(model, gemma3_layers(model))
    return model, cache_buckets(model, "gemma3", device), {}


def phi4_4bit(checkpoint: Path, device: torch.device):
    """Phi-4 as deployed: 4-bit through Unsloth on CUDA where it imports (its own decode, not compiled), else
    transformers + bitsandbytes NF4 with the compiled decode step. Returns (model, caches or None, backend)."""
    from shared.text.loading import load_4bit_causal_lm

    settings = text_settings("phi4-reasoning")
    model, _, backend = load_4bit_causal_lm(checkpoint, device, settings.max_context)
    caches = None if backend == "unsloth" else cache_buckets(model, "phi4-reasoning", device)
    return model, caches, backend


def flux_quantizations(device: torch.device) -> tuple[str, ...]:
    """The FLUX quantizations the engine runs on this device, the one `auto` picks first."""
    from shared.flux.hardware import choose_quantization, probe
    from shared.flux.settings import QUANTIZATIONS

    accelerator = probe(device)
    runnable = []
    for name in QUANTIZATIONS:
        try:
            runnable.append(choose_quantization(name, accelerator).name)
        except ValueError:  # this device can't run it
            pass
    default = choose_quantization("auto", accelerator).name
    return (default, *(name for name in runnable if name != default))


def functional_flux_quantizations(device: torch.device) -> tuple[str, ...]:
    """What the functional check serves FLUX with: FP8 and NF4 on CUDA (the defaults on big and small GPUs),
    the device's default elsewhere."""
    if device.type != "cuda":
        return flux_quantizations(device)[:1]
    return tuple(q for q in ("fp8", "nf4") if q in flux_quantizations(device))


def flux_engine(device: torch.device, model_dir: Path, quantize: str, warmup_size: int, max_lora_rank: int):
    """The FLUX deployments' engine on `model_dir` as their setup() leaves it: quantized, LoRA slots ready,
    compiled in place, warmed up at `warmup_size`."""
    from shared.flux.engine import FluxEngine
    from shared.flux.settings import FluxSettings
    from shared.lora.cache import LoraSettings

    settings = FluxSettings(quantize=quantize, warmup_size=warmup_size, lora=LoraSettings(max_rank=max_lora_rank))
    engine = FluxEngine(settings, device)
    engine.load(model_dir)
    engine.warm_up()
    return engine


def use_lora(engine, path: Path | None, scale: float = 1.0) -> None:
    """Hot-swap `path` into the engine's first LoRA slot (None empties it), as a request naming it does."""
    from shared.flux.engine import LoraChoice

    choice = LoraChoice(path.stem, scale, path) if path is not None else LoraChoice()
    engine.use_loras({"lora_weights": choice})
