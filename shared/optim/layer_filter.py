"""Which layers an optimization may touch, written as data: module-name patterns to include and exclude.

A layer is selected when it is an `nn.Linear`, its name matches an include pattern and no exclude
pattern. Patterns are regular expressions searched in the module's dotted name.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class LayerFilter:
    include: tuple[str, ...]
    exclude: tuple[str, ...] = ()

    def __call__(self, module: torch.nn.Module, name: str) -> bool:
        """torchao's `filter_fn(module, fqn)` signature, so a filter can be handed to `quantize_` as is."""
        return (
            isinstance(module, torch.nn.Linear)
            and any(re.search(p, name) for p in self.include)
            and not any(re.search(p, name) for p in self.exclude)
        )

    def select(self, model: torch.nn.Module) -> Iterator[tuple[str, torch.nn.Linear]]:
        for name, module in model.named_modules():
            if self(module, name):
                yield name, module


# Layers whose weights can lose precision or values without wrecking a decoder: attention inputs and the MLP.
# Embeddings, the output head, norms and the attention output projection stay exact; so does any vision tower.
DECODER_PRUNABLE = LayerFilter(
    include=(r"\.(q_proj|k_proj|v_proj|gate_proj|up_proj|down_proj)$",),
    exclude=(r"embed", r"lm_head", r"norm", r"o_proj", r"out_proj", r"vision", r"multi_modal_projector"),
)

# Every linear layer of the language model, none of the vision tower, projector or output head.
LANGUAGE_MODEL_LINEARS = LayerFilter(
    include=(r"language_model\.layers\.",),
    exclude=(r"vision", r"multi_modal_projector", r"lm_head", r"embed"),
)
