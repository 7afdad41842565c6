"""Weight pruning applied once at setup: magnitude, gradual (scheduled) and structured (whole channels).

Pruned weights are zeroed in place. Dense storage keeps its size, so pruning alone saves no memory;
what it buys is sparsity that sparse kernels or compression can use, and a smaller model to quantize.
"""

import logging
import re
from collections import defaultdict
from dataclasses import dataclass

import torch

from shared.optim.layer_filter import LayerFilter

logger = logging.getLogger(__name__)

METHODS = ("none", "magnitude", "gradual", "structured")


@dataclass(frozen=True)
class PruneSettings:
    method: str = "none"
    sparsity: float = 0.0
    steps: int = 10

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"PRUNE_METHOD must be one of {', '.join(METHODS)}, got {self.method!r}")
        if not 0.0 <= self.sparsity < 1.0:
            raise ValueError(f"PRUNE_SPARSITY must be in [0, 1), got {self.sparsity}")
        if self.steps < 1:
            raise ValueError(f"PRUNE_STEPS must be at least 1, got {self.steps}")

    @classmethod
    def from_env(cls, environ) -> "PruneSettings":
        return cls(
            method=environ.get("PRUNE_METHOD", "none"),
            sparsity=float(environ.get("PRUNE_SPARSITY", "0")),
            steps=int(environ.get("PRUNE_STEPS", "10")),
        )


@torch.no_grad()
def magnitude_prune_(weight: torch.Tensor, sparsity: float) -> None:
    """Zero the `sparsity` fraction of entries with the smallest absolute value."""
    count = int(round(sparsity * weight.numel()))
    if count:
        smallest = weight.abs().flatten().float().topk(count, largest=False).indices
        weight.view(-1)[smallest] = 0


@torch.no_grad()
def structured_prune_(weight: torch.Tensor, sparsity: float) -> None:
    """Zero whole output channels (rows) with the smallest L2 norm."""
    count = int(round(sparsity * weight.shape[0]))
    if count:
        rows = weight.float().norm(dim=1).topk(count, largest=False).indices
        weight[rows] = 0


def cubic_schedule(final: float, steps: int) -> list[float]:
    """Sparsity after each step, rising fast then levelling off (Zhu & Gupta, 2017)."""
    return [final * (1 - (1 - step / steps) ** 3) for step in range(1, steps + 1)]


def prune(model: torch.nn.Module, layers: LayerFilter, settings: PruneSettings) -> dict[str, float]:
    """Prune the layers the filter selects; returns the sparsity achieved per layer group."""
    if settings.method == "none" or settings.sparsity == 0:
        return {}
    weights = [module.weight for _, module in layers.select(model)]
    if not weights:
        raise ValueError("the layer filter selected no layers to prune")
    if settings.method == "magnitude":
        for weight in weights:
            magnitude_prune_(weight.data, settings.sparsity)
    elif settings.method == "structured":
        for weight in weights:
            structured_prune_(weight.data, settings.sparsity)
    elif settings.method == "gradual":
        for step, target in enumerate(cubic_schedule(settings.sparsity, settings.steps), 1):
            for weight in weights:
                magnitude_prune_(weight.data, target)
            logger.info("gradual pruning step %d/%d: sparsity %.3f", step, settings.steps, target)
    report = sparsity_by_group(model, layers)
    logger.info(
        "pruned (%s, target %.2f): %s", settings.method, settings.sparsity,
        ", ".join(f"{group} {value:.3f}" for group, value in report.items()),
    )
    return report


def sparsity_by_group(model: torch.nn.Module, layers: LayerFilter) -> dict[str, float]:
    """Fraction of zero weights per layer kind (q_proj, up_proj, ...) over the selected layers."""
    zeros, totals = defaultdict(int), defaultdict(int)
    for name, module in layers.select(model):
        group = re.sub(r".*\.", "", name)
        zeros[group] += int((module.weight == 0).sum())
        totals[group] += module.weight.numel()
    return {group: zeros[group] / totals[group] for group in sorted(totals)}
