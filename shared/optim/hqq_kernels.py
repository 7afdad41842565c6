"""HQQ 4-bit layers on torch's int4 "tinygemm" kernel, whatever torch's version string looks like.

hqq 0.2.7's torchao_int4 backend (`hqq/backends/torchao.py`, also in 0.2.8) picks the weight layout with
`float(torch.__version__[:3]) >= 2.5`. "2.14.1"[:3] is "2.1", so on torch 2.10 and later it hands int32
weights to `_convert_weight_to_int4pack`, which since torch 2.5 takes two int4 values per uint8; the call
raises, pruna logs the error and keeps HQQ's dequantize-then-matmul forward: 4-bit memory, bf16-or-slower
speed. Here each 4-bit HQQ layer becomes hqq's own tinygemm layer (the same conversion math, the same
kernel) with the layout chosen by a real version comparison, and with torch's CPU variants of the two ops
on the CPU, so the tests run the packed path for real.
"""

import logging

import torch
from hqq.backends.torchao import HQQLinearTorchWeightOnlynt4
from hqq.core.quantize import HQQLinear, Quantizer
from torch.torch_version import TorchVersion

logger = logging.getLogger(__name__)

TINYGEMM = "int4 tinygemm (torch _weight_int4pack_mm)"
DEQUANTIZE = "HQQ dequantize + matmul"
TILE_CHOICES = (8, 4, 2)  # the kernel's inner k tiles, widest first; k must be a multiple of 16 x tiles


def tinygemm_takes_uint8(torch_version: str) -> bool:
    """Since torch 2.5 the CUDA conversion op takes the int4 values packed two per byte ([n, k/2] uint8)."""
    return TorchVersion(torch_version) >= (2, 5)


def tinygemm_weight(values: torch.Tensor, device_type: str, torch_version: str) -> torch.Tensor:
    """The int4 values (0..15, [n, k]) in the layout `device_type`'s conversion op takes.

    Accepts them as hqq produced them: int32 [n, k], or already packed two per byte by hqq's own check.
    """
    if values.dtype == torch.uint8:
        values = torch.stack((values >> 4, values & 0xF), dim=-1).reshape(values.shape[0], -1)
    values = values.to(torch.int32)
    if device_type != "cpu" and tinygemm_takes_uint8(torch_version):
        return (values[:, ::2] << 4 | values[:, 1::2]).to(torch.uint8)
    return values


class TinyGemmInt4Linear(HQQLinearTorchWeightOnlynt4):
    """hqq's tinygemm layer with the layout decision fixed and the CPU ops added.

    The packed weight and the scales are non-persistent buffers so that `.to()` moves them and weight
    byte counts see them.
    """

    def __init__(self, hqq_layer: HQQLinear, inner_k_tiles: int):
        self.on_cpu = torch.device(hqq_layer.device).type == "cpu"
        super().__init__(
            None,
            quant_config=hqq_layer.quant_config,
            compute_dtype=hqq_layer.compute_dtype,
            device=hqq_layer.device,
            del_orig=False,
            initialize=False,
            inner_k_tiles=inner_k_tiles,
            padding=False,
        )
        self.initialize_with_hqq_quants(hqq_layer.W_q, hqq_layer.meta, hqq_layer.bias)

    @torch.no_grad()
    def process_hqq_quants(self, W_q, meta):  # noqa: N803 (hqq's names)
        if meta["packing"] is not None:
            W_q = Quantizer.unpack[meta["packing"]](W_q)  # noqa: N806
        values, scales, zeros = self.hqq_quants_to_torch_quants(
            W_q=W_q, scales=meta["scale"], zeros=meta["zero"], shape=meta["shape"], nbits=self.nbits
        )
        device_type = torch.device(self.device).type
        values = tinygemm_weight(values, device_type, torch.__version__)
        convert = (
            torch.ops.aten._convert_weight_to_int4pack_for_cpu
            if self.on_cpu
            else torch.ops.aten._convert_weight_to_int4pack
        )
        self.register_buffer("weight_int4pack", convert(values, self.inner_k_tiles), persistent=False)
        self.register_buffer("scales_and_zeros", self.pack_scales_and_zeros(scales, zeros), persistent=False)

    def matmul(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, x.shape[-1])
        if self.on_cpu:
            out = torch.ops.aten._weight_int4pack_mm_for_cpu(
                rows, self.weight_int4pack, self.groupsize, self.scales_and_zeros
            )
        else:
            out = torch.ops.aten._weight_int4pack_mm(rows, self.weight_int4pack, self.groupsize, self.scales_and_zeros)
        return out.reshape(*x.shape[:-1], self.out_features)


def why_not_packable(layer: HQQLinear) -> str | None:
    """None when the kernel can run this layer; else the reason, for the log."""
    meta = layer.meta
    n, k = meta["shape"]
    group = meta["group_size"]
    if meta["nbits"] != 4 or meta["axis"] != 1:
        return f"{meta['nbits']}-bit, axis {meta['axis']} (the kernel takes 4-bit, axis 1)"
    if layer.compute_dtype != torch.bfloat16:
        return f"compute dtype {layer.compute_dtype} (the kernel takes bfloat16)"
    if group not in (32, 64, 128, 256) or k % group:
        return f"group size {group} for {k} inputs (32, 64, 128 or 256, dividing the inputs)"
    if n % 8 or _inner_k_tiles(k) is None:
        return f"shape {n}x{k} (outputs a multiple of 8, inputs of 32)"
    return None


def _inner_k_tiles(k: int) -> int | None:
    return next((tiles for tiles in TILE_CHOICES if k % (16 * tiles) == 0), None)


def engage_tinygemm(model: torch.nn.Module) -> dict[str, str]:
    """Swap every packable 4-bit HQQ layer for `TinyGemmInt4Linear`, in place.

    Returns {layer name: why it was left on HQQ's slow forward} for the layers that were not swapped.
    """
    left: dict[str, str] = {}
    for parent_name, parent in list(model.named_modules()):
        for name, child in list(parent.named_children()):
            if not isinstance(child, HQQLinear):
                continue
            full_name = f"{parent_name}.{name}" if parent_name else name
            reason = why_not_packable(child)
            if reason:
                left[full_name] = reason
                continue
            setattr(parent, name, TinyGemmInt4Linear(child, _inner_k_tiles(child.meta["shape"][1])))
    return left


def layer_kernels(model: torch.nn.Module) -> dict[str, str]:
    """Which forward each quantized layer runs: `TINYGEMM` or `DEQUANTIZE`."""
    kernels = {}
    for name, module in model.named_modules():
        # hqq's tinygemm layer (ours derives from it) exists only once its conversion succeeded.
        if isinstance(module, HQQLinearTorchWeightOnlynt4):
            kernels[name] = TINYGEMM
        elif isinstance(module, HQQLinear):
            kernels[name] = DEQUANTIZE
    return kernels


class SlowKernelError(RuntimeError):
    """Quantized layers would run HQQ's dequantize-then-matmul forward, slower than bf16."""


def check_kernels(kernels: dict[str, str], left: dict[str, str], require_fast: bool) -> None:
    """Log which kernel the quantized layers run; raise (or warn, when `require_fast` is off) when any is slow."""
    fast = sum(kernel == TINYGEMM for kernel in kernels.values())
    logger.info("HQQ 4-bit kernel: %s on %d of %d quantized layers", TINYGEMM, fast, len(kernels))
    slow = [name for name, kernel in kernels.items() if kernel != TINYGEMM]
    if not kernels or not slow:
        return
    reasons = "; ".join(f"{name}: {left.get(name, 'not converted')}" for name in slow[:5])
    message = (
        f"{len(slow)} of {len(kernels)} HQQ layers run the slow {DEQUANTIZE} forward ({reasons}"
        f"{'; ...' if len(slow) > 5 else ''}). Set HQQ_FAST_KERNEL=warn to serve anyway."
    )
    if require_fast:
        raise SlowKernelError(message)
    logger.warning(message)
