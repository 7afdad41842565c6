"""LoRA hot-swapping on a compiled diffusion transformer: switch LoRAs without recompiling or reloading.

The order matters (diffusers' hot-swap guide, and traps measured here):
1. `enable_lora_hotswap(target_rank=R)` before the first LoRA is loaded;
2. load one adapter per slot that covers every layer any later LoRA may touch. Here each is an all-zero LoRA
   over every linear layer of the transformer, so an empty slot is the base model exactly and any LoRA of
   rank <= R fits; every slot stays active (weight 1) for good, so the set of adapters never changes;
3. compile the transformer in place (`transformer.compile`, not `torch.compile(module)`, whose wrapper
   recompiles on a swap), then warm up;
4. every later LoRA goes in with `load_lora_weights(..., adapter_name=<slot>, hotswap=True)`, which copies
   weights into that slot's live tensors: same graph, no recompilation.

A swap that fails half-way deletes the live adapter, so every LoRA of a request is checked (`check_fits`)
before any slot is swapped, and an unfit one is refused with a clear error while every slot keeps its LoRA.
The scale is folded into the weights (B * scale) instead of being passed at call time, where a new Python
float would recompile the graph.
"""

import logging
from contextlib import contextmanager

import torch

from shared.lora.errors import LoraRefused
from shared.lora.formats import lora_pairs

logger = logging.getLogger(__name__)

NONE = "none"  # the key of an empty slot


def linear_layers(transformer: torch.nn.Module) -> dict[str, torch.nn.Linear]:
    return {name: m for name, m in transformer.named_modules() if isinstance(m, torch.nn.Linear)}


def zero_lora(layers: dict[str, torch.nn.Linear], rank: int, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """A LoRA that changes nothing, over the given layers."""
    state = {}
    for name, layer in layers.items():
        state[f"transformer.{name}.lora_A.weight"] = torch.zeros(rank, layer.in_features, dtype=dtype)
        state[f"transformer.{name}.lora_B.weight"] = torch.zeros(layer.out_features, rank, dtype=dtype)
    return state


Fitted = dict[str, tuple[torch.Tensor, torch.Tensor]]  # layer -> (A, B) of a LoRA that passed check_fits


class LoraSlots:
    """Owns the pipeline's LoRA slots (one PEFT adapter each, named after the slot) and knows which LoRA is
    live in each, as (key, scale): the key is the caller's identity of the LoRA, `none` an empty slot."""

    def __init__(self, pipe, slots: tuple[str, ...], max_rank: int):
        self.pipe = pipe
        self.slots = slots
        self.max_rank = max_rank
        self.live: dict[str, tuple[str, float]] = {}

    def prepare(self) -> None:
        """Steps 1-2: call once, before compiling the transformer."""
        # The base layers are captured before PEFT wraps them, so later checks see the real shapes.
        layers = linear_layers(self.pipe.transformer)
        self.layers = {name: (m.in_features, m.out_features) for name, m in layers.items()}
        self.pipe.enable_lora_hotswap(target_rank=self.max_rank)
        dtype = self.pipe.transformer.dtype if self.pipe.transformer.dtype.is_floating_point else torch.bfloat16
        self.dtype = dtype
        for slot in self.slots:
            self.pipe.load_lora_weights(zero_lora(layers, self.max_rank, dtype), adapter_name=slot)
            self.live[slot] = (NONE, 1.0)
        # Loading an adapter makes it the only active one: activate every slot, for good.
        self.pipe.set_adapters(list(self.slots), [1.0] * len(self.slots))
        logger.info("LoRA slots %s ready: %d layers, rank <= %d", ", ".join(self.slots), len(self.layers),
                    self.max_rank)

    def check_fits(self, state_dict: dict[str, torch.Tensor]) -> Fitted:
        """Validate a LoRA in the slots' layout (`shared.lora.formats.convert_lora`, then `fit_rank`); returns
        {layer: (A, B)} or raises LoraRefused."""
        pairs = lora_pairs(state_dict)
        unknown = sorted(set(pairs) - set(self.layers))
        if unknown:
            raise LoraRefused(f"this LoRA is not for FLUX.1: it targets layers this FLUX transformer doesn't have: "
                              f"{', '.join(unknown[:3])}")
        result = {}
        for name, (a, b) in pairs.items():
            rank = a.shape[0]
            if rank > self.max_rank:
                raise LoraRefused(f"its rank is {rank}; this deployment hot-swaps LoRAs up to rank {self.max_rank}")
            if (a.shape[1], b.shape[0]) != self.layers[name]:
                raise LoraRefused(f"this LoRA is not for FLUX.1: layer {name} has shapes {tuple(a.shape)}/"
                                  f"{tuple(b.shape)}, made for another model")
            result[name] = (a, b)
        return result

    def swap(self, slot: str, key: str, fitted: Fitted, scale: float) -> None:
        """Make `key` live in `slot` at `scale`, by hot-swap; `fitted` must come from `check_fits` ({} for none).

        Every layer is padded to the slot's rank with zeros, so the swapped-in adapter has exactly the
        first adapter's configuration (PEFT refuses a hot-swap whose rank or alpha pattern differs).
        """
        if self.live[slot] == (key, scale):
            return
        full = {}
        for name, (in_features, out_features) in self.layers.items():
            a = torch.zeros(self.max_rank, in_features, dtype=self.dtype)
            b = torch.zeros(out_features, self.max_rank, dtype=self.dtype)
            if name in fitted:
                lora_a, lora_b = fitted[name]
                rank = lora_a.shape[0]
                a[:rank] = lora_a.to(self.dtype)
                b[:, :rank] = (lora_b.float() * scale).to(self.dtype)
            full[f"transformer.{name}.lora_A.weight"] = a
            full[f"transformer.{name}.lora_B.weight"] = b
        with _quiet("diffusers.loaders.lora_base"):
            self.pipe.load_lora_weights(full, adapter_name=slot, hotswap=True)
        self.live[slot] = (key, scale)
        logger.info("LoRA slot %s: %d layers live (scale %.2f)", slot, len(fitted), scale)


@contextmanager
def _quiet(name: str):
    """Mute a logger below ERROR. diffusers warns on every swap that the slots' LoRA has no CLIP keys (they never
    do: text-encoder parts are left out before, and said so), which in a prediction's logs reads as a loss."""
    quieted = logging.getLogger(name)
    level = quieted.level
    quieted.setLevel(logging.ERROR)
    try:
        yield
    finally:
        quieted.setLevel(level)
