"""Selective `torch.compile`: the one-token decode step of a causal LM, over static KV caches of a few lengths.

transformers compiles only the decode step (the prefill stays eager, so prompts of any length run without
recompiling) when generate() gets a static cache. Attention reads the whole static cache on every step, so
one cache of the maximum context would make a 50-token chat pay for 20k tokens. Instead a few cache lengths
("buckets") are compiled once each at setup and a request takes the smallest that holds it: one graph per
bucket, none afterwards.
"""

import logging

import torch
from transformers import CompileConfig, StaticCache
from transformers.cache_utils import StaticLayer

from shared.common.compiled_graphs import compiled_graph_count

logger = logging.getLogger(__name__)


class CacheBuckets:
    """Static KV caches of the given lengths over one allocation: the shorter ones are views of the first
    rows of the longest, so memory is that of the longest cache alone (requests run one at a time)."""

    def __init__(self, model, lengths: tuple[int, ...], device: torch.device):
        self.lengths = tuple(sorted(lengths))
        _enable_decode_compile(model, len(self.lengths))
        text_config = model.config.get_text_config(decoder=True)
        self.caches = {length: _full_attention_cache(text_config, length) for length in self.lengths}
        longest = self.caches[self.lengths[-1]]
        longest.early_initialization(
            batch_size=1,
            num_heads=text_config.num_key_value_heads,
            head_dim=_head_dim(text_config),
            dtype=model.get_input_embeddings().weight.dtype,
            device=device,
        )
        for length in self.lengths[:-1]:
            for layer, backing in zip(self.caches[length].layers, longest.layers, strict=True):
                _share_rows(layer, backing)
        logger.info("static KV caches of %s tokens, sharing %s tokens of memory", self.lengths, self.lengths[-1])

    def configure_compiling_thread(self) -> None:
        """Call on the thread that runs generate(): dynamo's config is per thread since torch 2.12
        (torch/utils/_config_module.py keeps assignments in ContextVars), so a limit set in setup's thread
        would not reach it. One graph per bucket on the same code; the default limit (8) would fall back to
        eager past it. Graphs compiled before (another model in this process: the tests) count too: the compiled
        call is nn.Module.__call__, one code object for every module."""
        needed = 2 * len(self.lengths) + compiled_graph_count()
        torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, needed)

    def pick(self, tokens: int) -> StaticCache:
        """The smallest cache that holds `tokens` (prompt + max_new_tokens); the caller checked it fits."""
        length = next(length for length in self.lengths if length >= tokens)
        return self.caches[length]


def _enable_decode_compile(model, graphs: int) -> None:
    config = CompileConfig(fullgraph=False, dynamic=False)
    config._compile_all_devices = True  # transformers auto-compiles on CUDA only; the tests run on the CPU
    model.generation_config.compile_config = config
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None and not quantizer.is_compileable and _is_bnb_4bit(quantizer):
        # transformers 5.5 reports every quantizer but torchao's and fp8's as not compileable, and generate()
        # then silently decodes eagerly. bitsandbytes >= 0.46 compiles 4-bit layers without graph breaks
        # (bitsandbytes#1616); here the tiny Phi-4 NF4 decode step compiled to one graph, no recompiles.
        base = type(quantizer)
        quantizer.__class__ = type(f"Compileable{base.__name__}", (base,), {"is_compileable": True})


def _is_bnb_4bit(quantizer) -> bool:
    config = getattr(quantizer, "quantization_config", None)
    return getattr(config, "quant_method", None) == "bitsandbytes" and bool(getattr(config, "load_in_4bit", False))


def _full_attention_cache(text_config, length: int) -> StaticCache:
    """A static cache with a full-length layer for every attention layer, sliding-window ones included.

    transformers' static sliding-window layer branches on a Python int that grows each token, so a compiled
    decode step recompiles every token (seen on Gemma-3: eager again after 8). A full-length layer is exact
    too (the attention mask applies the window) and keeps one graph; it costs cache memory, which the
    buckets keep in proportion to the request.
    """
    cache = StaticCache(config=text_config, max_cache_len=length)
    cache.layers = [StaticLayer(max_cache_len=length) for _ in cache.layers]
    return cache


def _head_dim(text_config) -> int:
    return getattr(text_config, "head_dim", None) or text_config.hidden_size // text_config.num_attention_heads


def _share_rows(layer: StaticLayer, backing: StaticLayer) -> None:
    """Make `layer` read and write the first `layer.max_cache_len` positions of `backing`'s tensors."""
    keys = backing.keys[:, :, : layer.max_cache_len]
    values = backing.values[:, :, : layer.max_cache_len]
    layer.lazy_initialization(keys, values)  # sets shapes, dtype, device (and allocates; replaced just below)
    layer.keys, layer.values = keys, values
    # The compiled step keeps these addresses (no copy, no graph break on the in-place update).
    torch._dynamo.mark_static_address(layer.keys)
    torch._dynamo.mark_static_address(layer.values)
