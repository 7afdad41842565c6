"""Selective `torch.compile`: compile the hot, fixed-shape part of a model and leave the rest eager."""

import logging

from transformers import CompileConfig, StaticCache

logger = logging.getLogger(__name__)


def compile_decoding(model, max_cache_len: int) -> StaticCache:
    """Compile the one-token decode step of a causal LM and return the static KV cache it runs on.

    transformers compiles only the decode step (the prefill stays eager, so prompts of any length
    run without recompiling) when the cache has a fixed shape. One cache of `max_cache_len` tokens,
    reset per request, keeps that shape fixed for every request: one graph, compiled once.
    """
    config = CompileConfig(fullgraph=False, dynamic=False)
    # transformers auto-compiles on CUDA only; the CPU path is what the tests exercise.
    config._compile_all_devices = True
    model.generation_config.compile_config = config
    logger.info("compiling the decode step, static KV cache of %d tokens", max_cache_len)
    return StaticCache(config=model.config, max_cache_len=max_cache_len)


def compiled_graph_count() -> int:
    """Graphs dynamo has compiled in this process: a recompile shows up as one more."""
    from torch._dynamo.utils import counters

    return counters["stats"]["unique_graphs"]

