"""What the operator chose for the FLUX engine, read once from the environment at setup.

Tests and benchmarks build `FluxSettings(...)` directly instead of editing `os.environ`.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field

from shared.lora.cache import LoraSettings

QUANTIZATIONS = ("fp8", "nf4", "int8", "bf16")
# Our names -> diffusers' AttentionBackendName values.
ATTENTION_BACKENDS = {"sdpa": "native", "cudnn": "_native_cudnn", "fa3": "_flash_3"}
# regional: each repeated transformer block compiled once and reused by its siblings (diffusers'
# compile_repeated_blocks), a fraction of the compile time; whole: the transformer as one graph.
COMPILE_MODES = ("regional", "whole")


@dataclass(frozen=True)
class FluxSettings:
    quantize: str = "auto"  # FLUX_QUANTIZE: auto (follows the GPU, shared.flux.hardware) or one of QUANTIZATIONS
    attention: str = "auto"  # FLUX_ATTENTION: auto (the fastest installed) or one of ATTENTION_BACKENDS
    compile: bool = True  # COMPILE=0 runs eagerly (debugging)
    compile_mode: str = "regional"  # FLUX_COMPILE: one of COMPILE_MODES
    warmup_size: int = 1024  # WARMUP_SIZE: the square size compiled at setup, before the first request
    # Where LoRAs come from and how big they may be: LORA_CACHE_DIR, LORA_CACHE_SIZE, LORA_LOCAL_DIR,
    # MAX_LORA_RANK (every slot's rank: larger LoRAs are refused), LORA_MAX_MB, LORA_DOWNLOAD_TIMEOUT, ...
    lora: LoraSettings = field(default_factory=LoraSettings)

    def __post_init__(self):
        if self.quantize not in ("auto", *QUANTIZATIONS):
            raise ValueError(f"FLUX_QUANTIZE must be auto or one of {', '.join(QUANTIZATIONS)}, got {self.quantize!r}")
        if self.attention not in ("auto", *ATTENTION_BACKENDS):
            raise ValueError(
                f"FLUX_ATTENTION must be auto or one of {', '.join(ATTENTION_BACKENDS)}, got {self.attention!r}"
            )
        if self.compile_mode not in COMPILE_MODES:
            raise ValueError(f"FLUX_COMPILE must be one of {', '.join(COMPILE_MODES)}, got {self.compile_mode!r}")
        if self.warmup_size < 16 or self.warmup_size % 16:
            raise ValueError(f"WARMUP_SIZE must be a multiple of 16 of at least 16, got {self.warmup_size}")
        if self.lora.cache_files < 2:
            # Two slots: a request may need two files at once.
            raise ValueError(f"LORA_CACHE_SIZE must be at least 2, got {self.lora.cache_files}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "FluxSettings":
        quantize = environ.get("FLUX_QUANTIZE", "auto")
        return cls(
            # `none` was this setting's name for bf16 before FP8 arrived.
            quantize={"none": "bf16"}.get(quantize, quantize),
            attention=environ.get("FLUX_ATTENTION", "auto"),
            compile=environ.get("COMPILE", "1") == "1",
            compile_mode=environ.get("FLUX_COMPILE", "regional"),
            warmup_size=int(environ.get("WARMUP_SIZE", "1024")),
            lora=LoraSettings.from_env(environ),
        )
