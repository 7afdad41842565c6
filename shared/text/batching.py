"""Many requests decoded together: transformers' continuous batching engine over the served model's weights.

The engine (transformers/generation/continuous_batching, pinned 5.5.4) schedules requests into one packed
forward per step over a paged KV cache, admits new ones between steps and frees a finished one's pages at once.
This module adds what a deployment needs around it:
- a view of the model that shares every weight but has its own config, since the engine switches attention to
  its paged kernel, which the compiled static-cache path (one request alone, shared/text/generator.py) can't use;
- per-request sampling: the engine samples every request alike from one generation config, so each request's
  own sampler (shared/text/sampling.py) picks its token inside the engine's logits step instead;
- streaming into asyncio, and cancelling one request without disturbing the others.

CUDA graphs and the engine's async double-buffering stay off: both capture the logits step, and the per-request
samplers run Python there.
"""

import asyncio
import copy
import logging
import uuid
from collections.abc import AsyncIterator

import torch
from torch import nn
from transformers import ContinuousBatchingConfig, GenerationConfig, LogitsProcessor

from shared.text.sampling import RequestSampler, Sampling
from shared.text.settings import TextSettings

logger = logging.getLogger(__name__)


PAGE_TOKENS = 256  # the engine's default KV page


def model_sharing_weights(model: nn.Module) -> nn.Module:
    """A second module tree over the same parameters and buffers, with its own copies of the configs.

    Every module is copied shallowly (its parameter and buffer dicts are the same objects), so no weight is
    copied and quantized layers stay as they are; only `config` attributes point to the new configs.
    """
    configs: dict[int, object] = {}
    config = copy.deepcopy(model.config, configs)

    def clone(module: nn.Module) -> nn.Module:
        twin = copy.copy(module)
        twin.__dict__ = dict(module.__dict__)
        twin._modules = {name: clone(child) if child is not None else None for name, child in module._modules.items()}
        if hasattr(module, "config") and id(module.config) in configs:
            twin.config = configs[id(module.config)]
        twin.__dict__.pop("_compiled_call", None)  # the static-cache path's compiled forward
        return twin

    twin = clone(model)
    twin.config = config
    return twin


def text_causal_lm(model: nn.Module, causal_lm_class: type) -> nn.Module:
    """An image-text model's language model and head as a text-only causal LM, sharing their weights."""
    with torch.device("meta"):  # the modules made here are replaced at once: nothing is allocated
        causal = causal_lm_class(model.config.text_config)
    causal.model = model.model.language_model
    causal.lm_head = model.lm_head
    causal.generation_config = model.generation_config
    return causal


class _EachRequestSamples(LogitsProcessor):
    """The engine's logits step: each request's row gets its own sampler's pick as its only finite score, so the
    engine's greedy argmax returns it."""

    def __init__(self, engine: "BatchEngine"):
        self.engine = engine

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        rows = self.engine.manager.batch_processor.inputs_and_outputs.req_id_to_new_token_position
        for request_id, row in rows.items():
            sampler = self.engine.samplers.get(request_id)
            if sampler is not None and sampler.generator is not None:
                sampler.force(scores[row])
        return scores


class BatchEngine:
    """Owns the continuous batching manager and its generation thread, started at setup."""

    def __init__(self, model: nn.Module, eos_token_ids: list[int], settings: TextSettings):
        self.eos_token_ids = eos_token_ids
        self.samplers: dict[str, RequestSampler] = {}
        view = model_sharing_weights(model)
        pages = -(-settings.batch_pool_tokens // PAGE_TOKENS)
        self.manager = view.init_continuous_batching(
            generation_config=GenerationConfig(do_sample=False, eos_token_id=eos_token_ids, max_new_tokens=1),
            continuous_batching_config=ContinuousBatchingConfig(
                block_size=PAGE_TOKENS,
                num_blocks=pages,
                use_cuda_graph=False,
                use_async_batching=False,
                allow_block_sharing=False,
                max_queue_size=0,
            ),
        )
        self.manager.logit_processor.append(_EachRequestSamples(self))
        self.manager.start()
        logger.info("batch engine: up to %d requests together over %d KV pages of %d tokens",
                    settings.max_requests, pages, PAGE_TOKENS)

    def warm_up(self) -> None:
        """One short request through the engine at setup, so an engine that can't run this model fails setup
        rather than a user's request."""
        request_id = self.manager.add_request([self.eos_token_ids[0]] * 4, max_new_tokens=2)
        result = self.manager.get_result(request_id, timeout=600)
        if result is None or result.error is not None:
            raise RuntimeError(f"batch engine: the warm-up request failed ({result.error if result else 'no answer'})")

    async def stream_tokens(
        self, prompt_ids: list[int], sampling: Sampling, seed: int, device: torch.device
    ) -> AsyncIterator[list[int]]:
        """The request's new token ids as they come (end-of-turn included). Closing the iterator, or cancelling
        its task, cancels this request alone."""
        request_id = uuid.uuid4().hex
        self.samplers[request_id] = RequestSampler(sampling, seed, device)
        outputs: asyncio.Queue = asyncio.Queue()
        self.manager.register_result_handler(request_id, outputs.put_nowait)
        self.manager.add_request(prompt_ids, request_id, max_new_tokens=sampling.max_new_tokens, streaming=True,
                                 eos_token_id=self.eos_token_ids)
        sent, finished = 0, False
        try:
            while not finished:
                output = await self._next(outputs)
                if output.error is not None:
                    raise RuntimeError(f"batch engine: {output.error}")
                finished = output.is_finished()
                new = output.generated_tokens[sent:]
                sent += len(new)
                if new:
                    yield new
        finally:
            if not finished:
                self.manager.cancel_request(request_id)
                with self.manager.output_router._lock:  # the engine drops a handler only when its request ends
                    self.manager.output_router.result_handlers.pop(request_id, None)
            self.samplers.pop(request_id, None)

    async def _next(self, outputs: asyncio.Queue):
        while True:
            try:
                return await asyncio.wait_for(outputs.get(), timeout=1.0)
            except TimeoutError:
                if not self.manager.is_running():  # its loop died: nothing will ever come
                    raise RuntimeError("batch engine: its generation loop has stopped (see the log)") from None

    def stop(self) -> None:
        self.manager.stop(block=True, timeout=30)
