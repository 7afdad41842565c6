"""Device choice, seeding, and per-prediction metrics (latency, tokens/s, peak memory)."""

import logging
import os
import random
import resource
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch

from shared.common.secrets import hf_token, redact_in_logs
from shared.common.settings import RuntimeSettings

logger = logging.getLogger(__name__)


def configure_logging(level: int = logging.INFO) -> None:
    """One stdout handler on the root logger: Cog captures stdout into each prediction's logs."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(level)


@dataclass(frozen=True)
class Setup:
    """What a service starts from: the device, the HF token (masked in every log line), the runtime settings."""

    device: torch.device
    token: str | None
    runtime: RuntimeSettings


def begin_setup(environ: Mapping[str, str] = os.environ) -> Setup:
    """What every service's start() does first: logs to stdout, the environment read once, the token, the
    device."""
    configure_logging()
    token = hf_token()
    redact_in_logs(token)
    runtime = RuntimeSettings.from_env(environ)
    return Setup(pick_device(runtime.device), token, runtime)


def pick_device(requested: str | None = None) -> torch.device:
    """CUDA when present; `DEVICE=cpu` (RuntimeSettings.device) forces the CPU (how the tests run)."""
    if requested:
        return torch.device(requested)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def new_seed() -> int:
    """A fresh seed in the range the seed inputs take (0-2147483647)."""
    return int.from_bytes(os.urandom(4), "big") >> 1


def request_seed(seed: int | None) -> int:
    """A request's seed, drawn when it gave none, and logged either way for re-runs."""
    seed = new_seed() if seed is None else seed
    logger.info("seed: %d", seed)
    return seed


def seed_everything(seed: int | None) -> int:
    """Seed Python, NumPy and torch (CPU and CUDA). No seed picks a fresh one and logs it, for re-runs."""
    if seed is None:
        seed = new_seed()
    random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    try:
        import numpy as np

        np.random.seed(seed % 2**32)
    except ImportError:
        pass
    logger.info("seed: %d", seed)
    return seed


def peak_memory_mb(device: torch.device) -> float:
    """Peak VRAM since the last `reset_peak_memory` on CUDA; peak process RSS on CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # ru_maxrss is KiB on Linux


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


@dataclass
class PredictionTimer:
    """Measures one prediction: call `first_output()` when the first token/image is ready."""

    device: torch.device
    start: float = field(default_factory=time.perf_counter)
    first_output_at: float | None = None

    def __post_init__(self):
        reset_peak_memory(self.device)

    def first_output(self) -> None:
        if self.first_output_at is None:
            self.first_output_at = time.perf_counter()

    def metrics(self, output_tokens: int | None = None) -> dict[str, float]:
        elapsed = time.perf_counter() - self.start
        result = {"generation_time": round(elapsed, 4), "peak_memory_mb": round(peak_memory_mb(self.device), 1)}
        if self.first_output_at is not None:
            result["time_to_first_token"] = round(self.first_output_at - self.start, 4)
        if output_tokens is not None:
            result["output_token_count"] = output_tokens
            decode_time = elapsed - result.get("time_to_first_token", 0.0)
            if output_tokens > 1 and decode_time > 0:
                result["tokens_per_second"] = round((output_tokens - 1) / decode_time, 2)
        return result

    def log(self, **extra) -> dict[str, float]:
        result = self.metrics(**extra)
        logger.info("metrics: %s", " ".join(f"{k}={v}" for k, v in result.items()))
        return result
