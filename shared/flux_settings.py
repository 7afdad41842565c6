"""What the operator chose for the FLUX engine, read once from the environment at setup.

Tests and benchmarks build `FluxSettings(...)` directly instead of editing `os.environ`.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

QUANTIZATIONS = ("fp8", "nf4", "int8", "bf16")
# Our names -> diffusers' AttentionBackendName values.
ATTENTION_BACKENDS = {"sdpa": "native", "cudnn": "_native_cudnn", "fa3": "_flash_3"}


def _default_lora_cache() -> Path:
    return Path.home() / ".cache" / "lora-cache"


@dataclass(frozen=True)
class FluxSettings:
    quantize: str = "auto"  # FLUX_QUANTIZE: auto (follows the GPU, shared.flux_hardware) or one of QUANTIZATIONS
    attention: str = "auto"  # FLUX_ATTENTION: auto (the fastest installed) or one of ATTENTION_BACKENDS
    compile: bool = True  # COMPILE=0 runs eagerly (debugging)
    max_lora_rank: int = 64  # MAX_LORA_RANK: every LoRA slot is this rank; larger LoRAs are refused
    warmup_size: int = 1024  # WARMUP_SIZE: the square size compiled at setup, before the first request
    lora_cache_dir: Path = field(default_factory=_default_lora_cache)  # LORA_CACHE_DIR
    lora_cache_size: int = 20  # LORA_CACHE_SIZE: LoRA files kept, least recently used evicted
    style_loras_dir: Path | None = None  # FLUX_STYLE_LORAS_DIR: built-in styles as <name>.safetensors, no download

    def __post_init__(self):
        if self.quantize not in ("auto", *QUANTIZATIONS):
            raise ValueError(f"FLUX_QUANTIZE must be auto or one of {', '.join(QUANTIZATIONS)}, got {self.quantize!r}")
        if self.attention not in ("auto", *ATTENTION_BACKENDS):
            raise ValueError(
                f"FLUX_ATTENTION must be auto or one of {', '.join(ATTENTION_BACKENDS)}, got {self.attention!r}"
            )
        if not 1 <= self.max_lora_rank <= 1024:
            raise ValueError(f"MAX_LORA_RANK must be between 1 and 1024, got {self.max_lora_rank}")
        if self.warmup_size < 16 or self.warmup_size % 16:
            raise ValueError(f"WARMUP_SIZE must be a multiple of 16 of at least 16, got {self.warmup_size}")
        if self.lora_cache_size < 2:
            # Two slots: a request may need two files at once.
            raise ValueError(f"LORA_CACHE_SIZE must be at least 2, got {self.lora_cache_size}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "FluxSettings":
        styles = environ.get("FLUX_STYLE_LORAS_DIR")
        quantize = environ.get("FLUX_QUANTIZE", "auto")
        return cls(
            # `none` was this setting's name for bf16 before FP8 arrived.
            quantize={"none": "bf16"}.get(quantize, quantize),
            attention=environ.get("FLUX_ATTENTION", "auto"),
            compile=environ.get("COMPILE", "1") == "1",
            max_lora_rank=int(environ.get("MAX_LORA_RANK", "64")),
            warmup_size=int(environ.get("WARMUP_SIZE", "1024")),
            lora_cache_dir=Path(environ.get("LORA_CACHE_DIR") or _default_lora_cache()),
            lora_cache_size=int(environ.get("LORA_CACHE_SIZE", "20")),
            style_loras_dir=Path(styles) if styles else None,
        )
