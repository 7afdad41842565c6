"""Weight quantization: at `make weights` (saved, shared/optim/served_weights.py) or at setup."""

import logging
import os

import torch

logger = logging.getLogger(__name__)


def weight_bytes(module: torch.nn.Module) -> int:
    """Bytes held by parameters and buffers: quantized layers keep packed weights in buffers or tensors."""
    tensors = {id(t): t for t in [*module.parameters(), *module.buffers()]}
    total = sum(_tensor_bytes(t) for t in tensors.values())
    return total + sum(_hqq_packed_bytes(m) for m in module.modules())


def _hqq_packed_bytes(module: torch.nn.Module) -> int:
    # HQQLinear keeps its packed weight and scales in plain attributes, not parameters or buffers.
    packed = getattr(module, "W_q", None)
    if not isinstance(packed, torch.Tensor) or isinstance(packed, torch.nn.Parameter):
        return 0
    meta = getattr(module, "meta", {}) or {}
    extra = sum(v.numel() * v.element_size() for v in meta.values() if isinstance(v, torch.Tensor))
    return packed.numel() * packed.element_size() + extra


def hqq_layers(
    model: torch.nn.Module,
    device: torch.device,
    bits: int = 4,
    group_size: int = 64,
    compute_dtype: torch.dtype = torch.bfloat16,
) -> torch.nn.Module:
    """Half-Quadratic Quantization of every linear layer but the head, through Pruna: hqq's `HQQLinear` layers,
    whose state (packed values, scales, zeros) is the same on any device, so `make weights` can save it
    (shared/optim/served_weights.py).

    Pruna only lists CUDA for HQQ; on the CPU (tests, a build host without a GPU) it runs with
    `experimental=True`, which skips that device check and nothing else. Only the quantizer is used: Pruna's
    compiled generator ignores top_p, attention masks and streamers, so decoding is compiled by
    `shared.text.kv_cache` instead. Pruna's own kernel step is off: hqq's torchao_int4 backend misreads torch's
    version and falls back to a dequantize-then-matmul forward, so `use_int4_kernel` does that step.
    """
    os.environ.setdefault("PRUNA_METRICS_ENABLED", "false")  # pruna sends telemetry unless told not to
    from pruna import SmashConfig, smash

    before = weight_bytes(model)
    config = SmashConfig(device=str(device))
    config.add(
        {
            "hqq": {
                "weight_bits": bits,
                "group_size": group_size,
                "compute_dtype": str(compute_dtype),
                "use_torchao_kernels": False,
            }
        }
    )
    quantized = smash(model, config, experimental=device.type != "cuda").model
    after = weight_bytes(quantized)
    logger.info(
        "HQQ %d-bit (group %d): weights %.1f MB -> %.1f MB (%.0f%%)",
        bits, group_size, before / 1e6, after / 1e6, 100 * after / before,
    )
    return quantized


def use_int4_kernel(model: torch.nn.Module, require_fast_kernel: bool = True) -> torch.nn.Module:
    """Move the 4-bit HQQ layers to torch's int4 kernel (`shared.optim.hqq_kernels`), in the packed layout of the
    device they are on, and check every layer got there (`require_fast_kernel=False` only warns when some did
    not). Runs at every boot: the packed layout differs between the CPU and CUDA kernels."""
    from shared.optim.hqq_kernels import check_kernels, engage_tinygemm, layer_kernels

    left_slow = engage_tinygemm(model)
    check_kernels(layer_kernels(model), left_slow, require_fast=require_fast_kernel)
    return model


def quantize_int8_weight_only(model: torch.nn.Module, layers) -> dict[str, int]:
    """torchao INT8 weight-only quantization of the layers `layers` selects (a `LayerFilter`).

    Returns the selected layers' weight bytes before and after. The quantized weights (torchao `Int8Tensor`s)
    can't go through `save_pretrained`, but a state dict of them can (shared/optim/served_weights.py).
    """
    from torchao.quantization import Int8WeightOnlyConfig, quantize_

    selected = [module for _, module in layers.select(model)]
    if not selected:
        raise ValueError("the layer filter selected no layers to quantize")
    before = sum(m.weight.numel() * m.weight.element_size() for m in selected)
    quantize_(model, Int8WeightOnlyConfig(version=2), filter_fn=layers)
    after = sum(_tensor_bytes(m.weight) for m in selected)
    logger.info(
        "torchao INT8 weight-only on %d layers: %.2f MB -> %.2f MB (%.0f%%)",
        len(selected), before / 1e6, after / 1e6, 100 * after / before,
    )
    return {"layers": len(selected), "bytes_before": before, "bytes_after": after}


def inner_tensors(tensor: torch.Tensor) -> list[torch.Tensor]:
    """The plain tensors that hold a tensor's data: itself, or every inner tensor of a subclass (torchao's
    quantized weights keep int8 data and scales inside one `Int8Tensor`)."""
    if hasattr(tensor, "__tensor_flatten__"):
        names, _ = tensor.__tensor_flatten__()
        return [inner for name in names for inner in inner_tensors(getattr(tensor, name))]
    return [tensor]


def _tensor_bytes(tensor: torch.Tensor) -> int:
    return sum(t.numel() * t.element_size() for t in inner_tensors(tensor))
