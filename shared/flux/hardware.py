"""Which quantization and attention kernel FLUX runs with: a pure function of the device, so it can be tested
on any machine, and a probe that describes the device once at setup.

`auto` picks, in order of speed on the hardware (huggingface/lora-fast, H100, 1024², 28 steps: 7.89 s
baseline, 4.35 s compiled + hot-swap, 3.55 s with FP8 and FlashAttention-3 on top):
- FP8 (torchao float8, dynamic activations, row-wise scales) on GPUs with FP8 tensor cores (compute
  capability >= 8.9: Ada, Hopper, Blackwell) and room for it: the FP8 transformer (~12 GB) beside the bf16
  T5 (~9.5 GB), two rank-64 LoRA slots (~1.4 GB) and 1 MP activations needs about 30 GB, so 40 GiB or more;
- bf16 on other GPUs with 48 GiB or more (A100, A6000): faster than NF4, which dequantizes every step;
- NF4 (bitsandbytes 4-bit) on smaller GPUs: it saves memory (~7 GB transformer), not time;
- INT8 weight-only (torchao) without CUDA, the only one of these that runs on a CPU.
Attention: FlashAttention-3 where it is installed on a Hopper GPU, cuDNN attention on other CUDA GPUs, PyTorch
SDPA otherwise (all through diffusers' attention dispatcher).
"""

from dataclasses import dataclass

import torch

FP8_MIN_CAPABILITY = (8, 9)
FP8_MIN_MEMORY_GIB = 40
BF16_MIN_MEMORY_GIB = 48


@dataclass(frozen=True)
class Accelerator:
    """What the choices depend on; everything else about the device is irrelevant to them."""

    kind: str  # "cuda", "cpu", ...
    name: str = ""
    capability: tuple[int, int] = (0, 0)
    memory_gib: float = 0.0
    flash_attn_3: bool = False  # diffusers can import FlashAttention-3 (flash_attn_interface)
    cudnn_attention: bool = False  # cuDNN >= 9 on an sm80+ GPU: PyTorch's cuDNN attention kernel

    def describe(self) -> str:
        if self.kind != "cuda":
            return self.kind
        major, minor = self.capability
        return f"{self.name or 'CUDA GPU'} (compute capability {major}.{minor}, {self.memory_gib:.0f} GiB)"


@dataclass(frozen=True)
class Choice:
    name: str
    reason: str


def probe(device: torch.device) -> Accelerator:
    if device.type != "cuda":
        return Accelerator(kind=device.type)
    from diffusers.utils import is_flash_attn_3_available

    properties = torch.cuda.get_device_properties(device)
    capability = (properties.major, properties.minor)
    cudnn = torch.backends.cudnn.is_available() and (torch.backends.cudnn.version() or 0) >= 90000
    return Accelerator(
        kind="cuda",
        name=properties.name,
        capability=capability,
        memory_gib=properties.total_memory / 2**30,
        flash_attn_3=is_flash_attn_3_available(),
        cudnn_attention=cudnn and capability >= (8, 0),
    )


def choose_quantization(requested: str, device: Accelerator) -> Choice:
    """`requested` is FluxSettings.quantize: `auto` or one of its QUANTIZATIONS. Raises ValueError when the
    device can't run the requested one."""
    fp8_capable = device.kind == "cuda" and device.capability >= FP8_MIN_CAPABILITY
    if requested == "auto":
        if device.kind != "cuda":
            return Choice("int8", f"{device.describe()}: torchao INT8 weight-only runs here, NF4 and FP8 need CUDA")
        if fp8_capable and device.memory_gib >= FP8_MIN_MEMORY_GIB:
            return Choice("fp8", f"{device.describe()} has FP8 tensor cores and room for an FP8 transformer")
        if device.memory_gib >= BF16_MIN_MEMORY_GIB:
            return Choice("bf16", f"{device.describe()}: no FP8 tensor cores (compute capability < 8.9) and room "
                                  "for the bf16 transformer, faster than NF4")
        return Choice("nf4", f"{device.describe()}: NF4 keeps the transformer small enough to fit")
    if requested == "fp8" and not fp8_capable:
        raise ValueError(f"FLUX_QUANTIZE=fp8 needs a CUDA GPU of compute capability 8.9 or higher (Ada, Hopper, "
                         f"Blackwell); this device is {device.describe()} (use auto, nf4, int8 or bf16)")
    if requested == "nf4" and device.kind != "cuda":
        raise ValueError(f"FLUX_QUANTIZE=nf4 needs CUDA (bitsandbytes 4-bit); this device is {device.describe()} "
                         "(use int8 or bf16)")
    return Choice(requested, "FLUX_QUANTIZE")


def choose_attention(requested: str, device: Accelerator) -> Choice:
    """`requested` is FluxSettings.attention: `auto` or one of its ATTENTION_BACKENDS. Raises ValueError when
    the device can't run the requested one."""
    fa3_usable = device.kind == "cuda" and device.flash_attn_3 and device.capability[0] == 9
    if requested == "auto":
        if fa3_usable:
            return Choice("fa3", f"FlashAttention-3 is installed and {device.describe()} is a Hopper GPU")
        if device.kind == "cuda" and device.cudnn_attention:
            return Choice("cudnn", f"{device.describe()}: cuDNN attention (FlashAttention-3 needs a Hopper GPU "
                                   "and the flash_attn_interface package)")
        return Choice("sdpa", f"{device.describe()}: PyTorch SDPA picks its own kernel")
    if requested == "fa3" and not fa3_usable:
        raise ValueError(f"FLUX_ATTENTION=fa3 needs FlashAttention-3 (flash_attn_interface) on a Hopper GPU; this "
                         f"device is {device.describe()}, FA3 {'is' if device.flash_attn_3 else 'is not'} installed "
                         "(use auto, cudnn or sdpa)")
    if requested == "cudnn" and not (device.kind == "cuda" and device.cudnn_attention):
        raise ValueError(f"FLUX_ATTENTION=cudnn needs cuDNN 9+ on an sm80+ CUDA GPU; this device is "
                         f"{device.describe()} (use auto or sdpa)")
    return Choice(requested, "FLUX_ATTENTION")
