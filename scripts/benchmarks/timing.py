"""Clocks for the benchmarks: device-synchronised timings, their spread, peak memory, compiled-graph counts."""

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from shared.common.compiled_graphs import compiled_graph_count
from shared.common.runtime import peak_memory_mb, reset_peak_memory


@dataclass(frozen=True)
class Spread:
    """Minimum, median and maximum of repeated measurements: the median is the figure, min/max its spread."""

    min: float
    median: float
    max: float
    runs: int

    @classmethod
    def of(cls, values: list[float]) -> "Spread":
        if not values:
            raise ValueError("values: no measurements (at least one run is needed)")
        return cls(min(values), statistics.median(values), max(values), len(values))


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def seconds(call: Callable[[], object], device: torch.device) -> float:
    """Wall-clock seconds of `call()`, the device's queued work included."""
    sync(device)
    start = time.perf_counter()
    call()
    sync(device)
    return time.perf_counter() - start


def fresh_start(device: torch.device) -> None:
    """Between variants: drop compiled graphs and cached blocks so one variant's memory or graphs don't
    count against the next; peak memory restarts here."""
    torch._dynamo.reset()
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    reset_peak_memory(device)


class GraphCounter:
    """Graphs dynamo compiled since `start()`: a recompile during timed runs shows up here."""

    def __init__(self):
        self.start()

    def start(self) -> None:
        self.before = compiled_graph_count()

    def since(self) -> int:
        return compiled_graph_count() - self.before


__all__ = ["GraphCounter", "Spread", "fresh_start", "peak_memory_mb", "reset_peak_memory", "seconds", "sync"]
