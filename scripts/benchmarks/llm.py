"""Language models: unoptimized bf16 baseline vs each deployment's optimization, measured in one run.

Tokens are generated with `generate` directly (greedy, end-of-sequence ignored so every run decodes the
same number of tokens); the optimization code is the deployments' own (`shared.quantization`,
`shared.compile`, `shared.loading`).
"""

import gc
import time
from dataclasses import dataclass

import torch

from shared.compile import compile_decoding
from shared.quantization import quantize_hqq, quantize_int8_weight_only, weight_bytes
from shared.runtime import peak_memory_mb, reset_peak_memory


@dataclass
class Result:
    model: str
    variant: str
    weight_mb: float
    setup_s: float
    first_request_s: float
    warm_request_s: float
    tokens_per_s: float
    peak_memory_mb: float


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def _request(model, input_ids, new_tokens, cache, device) -> float:
    _sync(device)
    start = time.perf_counter()
    with torch.inference_mode():
        if cache is not None:
            cache.reset()
        model.generate(
            input_ids=input_ids, attention_mask=torch.ones_like(input_ids), max_new_tokens=new_tokens,
            min_new_tokens=new_tokens, do_sample=False, past_key_values=cache,
        )
    _sync(device)
    return time.perf_counter() - start


def measure(name: str, variant: str, load, optimize, device, prompt_tokens: int, new_tokens: int) -> Result:
    """`load()` returns a bf16 model on `device`; `optimize(model)` returns (model, static cache or None)."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    reset_peak_memory(device)
    start = time.perf_counter()
    model = load()
    model, cache = optimize(model)
    setup = time.perf_counter() - start
    vocab = model.config.get_text_config().vocab_size
    input_ids = torch.randint(10, min(vocab, 300), (1, prompt_tokens), device=device)
    first = _request(model, input_ids, new_tokens, cache, device)
    warm = sorted(_request(model, input_ids, new_tokens, cache, device) for _ in range(3))[1]
    prefill = _request(model, input_ids, 1, cache, device)
    decode_rate = (new_tokens - 1) / max(warm - prefill, 1e-9)
    result = Result(name, variant, weight_bytes(model) / 1e6, setup, first, warm, decode_rate, peak_memory_mb(device))
    del model, cache
    return result


def no_optimization(model):
    return model, None


def hqq_compiled(device, max_cache: int):
    def optimize(model):
        model = quantize_hqq(model, device, bits=4, group_size=64)
        return model, compile_decoding(model, max_cache)

    return optimize


def int8_weight_only(layers):
    def optimize(model):
        quantize_int8_weight_only(model, layers)
        return model, None

    return optimize
