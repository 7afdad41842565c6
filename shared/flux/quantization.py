"""Loading the FLUX transformer with the weights `shared.flux.hardware` chose: FP8, NF4, INT8 or bf16.

Only the base linear layers are quantized, before PEFT wraps them: the LoRA slots stay bf16, so a hot-swap
copies bf16 weights into bf16 tensors and never touches a quantized one (and never recompiles).
"""

import logging
from pathlib import Path

import torch

from shared.optim.layer_filter import LayerFilter
from shared.optim.quantization import quantize_int8_weight_only, weight_bytes

logger = logging.getLogger(__name__)

# Every linear layer of the transformer; LoRA layers are named out in case one already exists.
BASE_LINEARS = LayerFilter(include=(r".",), exclude=(r"\.lora_[AB]\b",))


def load_transformer(weights: Path, quantization: str, device: torch.device):
    from diffusers import FluxTransformer2DModel

    kwargs = {"subfolder": "transformer", "dtype": torch.bfloat16}
    if quantization == "nf4":  # bitsandbytes quantizes as it loads, onto the GPU
        from diffusers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16
        )
    transformer = FluxTransformer2DModel.from_pretrained(weights, **kwargs)
    if quantization == "fp8":
        # On the GPU first: torchao quantizes where the weights are, and FP8 needs the GPU to run anyway.
        quantize_fp8(transformer.to(device))
    elif quantization == "int8":
        quantize_int8_weight_only(transformer, BASE_LINEARS)
    logger.info("FLUX transformer: %s, %.2f GB of weights", quantization, weight_bytes(transformer) / 1e9)
    return transformer


def quantize_fp8(transformer: torch.nn.Module) -> None:
    """torchao float8 weights and dynamically quantized float8 activations, one scale per row (the
    huggingface/lora-fast recipe). Needs compute capability >= 8.9."""
    from torchao.quantization import Float8DynamicActivationFloat8WeightConfig, PerRow, quantize_

    quantize_(transformer, Float8DynamicActivationFloat8WeightConfig(granularity=PerRow()), filter_fn=BASE_LINEARS)
