"""Language models: decode speed of each deployment's optimized path against bf16 controls, in one run.

Variants per model: bf16 eager (transformers' defaults), bf16 with the deployment's compiled decode step (the
control that separates what compilation does from what quantization does), and the optimized path as
deployed. Each is measured at several context lengths, each request on the static cache the deployment would
pick for it (`shared.text.kv_cache.CacheBuckets`).

Timing: greedy `generate` with end-of-sequence suppressed (every run decodes the same number of tokens) and a
streamer that stamps each token as it reaches the host, as a streaming deployment sees it. Prefill is the
time to the first token; decode speed is tokens after the first over the time after the first.
"""

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from transformers.generation.streamers import BaseStreamer

from scripts.benchmarks import deployed
from scripts.benchmarks.timing import GraphCounter, Spread, fresh_start, peak_memory_mb, reset_peak_memory, sync
from shared.optim.quantization import weight_bytes

# Peak HBM bandwidth (bytes/s). Batch-1 decoding reads every weight (and the KV cache it attends over) once
# per token, so bandwidth over those bytes bounds tokens/s from above.
HBM_BANDWIDTH = {"H200": 4.8e12, "H100": 3.35e12, "A100": 2.0e12, "L40S": 0.864e12, "A10": 0.6e12}


@dataclass(frozen=True)
class TextModel:
    """A benchmarked language model: how to build it in bf16 on a device, and where a saved copy is (for
    loaders that quantize while reading from disk)."""

    name: str
    deployment: str
    build: Callable[[torch.device], torch.nn.Module]
    checkpoint: Callable[[], Path] | None = None


@dataclass
class Prepared:
    model: torch.nn.Module
    caches: object | None  # the static KV caches (shared.text.kv_cache.CacheBuckets) when the decode step is compiled
    notes: dict = field(default_factory=dict)
    name: str | None = None  # the variant's name once known (which backend a loader chose)

    def cache_for(self, tokens: int):
        """The cache a request of `tokens` (prompt + new) runs on, as the deployment picks it; None: dynamic."""
        return self.caches.pick(tokens) if self.caches is not None else None


@dataclass(frozen=True)
class Variant:
    name: str
    role: str  # "control" or "optimized"
    prepare: Callable[[TextModel, torch.device], Prepared]
    reads_checkpoint: bool = False  # loads from the model's saved checkpoint (made before the clock starts)


@dataclass
class DecodeRow:
    model: str
    variant: str
    role: str
    context_tokens: int
    new_tokens: int
    cache_tokens: int | None  # None: transformers' dynamic cache
    weight_mb: float
    setup_s: float
    setup_peak_memory_mb: float  # while loading, quantizing, preparing caches
    first_request_s: float  # includes compilation for compiled variants
    prefill_s: Spread
    decode_tokens_per_s: Spread
    recompiles: int  # graphs compiled during the timed runs (after the first request)
    peak_memory_mb: float  # while serving: from the end of setup through this context's runs (VRAM; RSS on CPU)
    bandwidth_bound_tokens_per_s: float | None
    notes: dict

    def as_json(self) -> dict:
        return asdict(self)


class TokenClock(BaseStreamer):
    """Stamps each generated token as generate() hands it to the host."""

    def __init__(self):
        self.prompt_seen = False
        self.stamps: list[float] = []

    def put(self, value) -> None:
        if not self.prompt_seen:  # the prompt comes first
            self.prompt_seen = True
            return
        self.stamps.append(time.perf_counter())

    def end(self) -> None:
        pass


def timed_request(model, cache, input_ids: torch.Tensor, new_tokens: int, device) -> tuple[float, float]:
    """(prefill seconds, decode tokens/s) of one greedy request of exactly `new_tokens` tokens."""
    clock = TokenClock()
    sync(device)
    start = time.perf_counter()
    with torch.inference_mode():
        if cache is not None:
            cache.reset()
        model.generate(
            input_ids=input_ids, attention_mask=torch.ones_like(input_ids), max_new_tokens=new_tokens,
            min_new_tokens=new_tokens, do_sample=False, past_key_values=cache, streamer=clock,
        )
    sync(device)
    stamps = clock.stamps
    decode = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else float("nan")
    return stamps[0] - start, decode


def hbm_bandwidth(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((bw for gpu, bw in HBM_BANDWIDTH.items() if gpu in name), None)


def kv_bytes_read(config, positions: int, element_bytes: int = 2) -> int:
    """Bytes of K and V one decode step reads when attending over `positions` cached tokens (sliding-window
    layers read at most their window)."""
    text = config.get_text_config()
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads
    per_position = 2 * text.num_key_value_heads * head_dim * element_bytes
    window = getattr(text, "sliding_window", None)
    kinds = getattr(text, "layer_types", None) or ["full_attention"] * text.num_hidden_layers
    return sum(per_position * (min(positions, window) if kind == "sliding_attention" and window else positions)
               for kind in kinds)


def bytes_per_token(model: torch.nn.Module, positions: int) -> int:
    """Weights read per decode step (the input embedding only contributes one row unless tied to the head)
    plus the KV cache attended over."""
    total = weight_bytes(model)
    embedding, head = model.get_input_embeddings(), model.get_output_embeddings()
    if head is None or embedding.weight is not head.weight:
        total -= weight_bytes(embedding)
    return total + kv_bytes_read(model.config, positions)


def measure_variant(
    source: TextModel,
    variant: Variant,
    device: torch.device,
    contexts: tuple[int, ...],
    new_tokens: int,
    runs: int,
    record: Callable[[DecodeRow], None],
) -> None:
    """Set the variant up once, then time `runs` requests at each context length on the cache the deployment
    would pick for it; `record` gets each row as soon as it is measured."""
    if variant.reads_checkpoint:
        source.checkpoint()  # saving one is not the variant's setup
    fresh_start(device)
    start = time.perf_counter()
    prepared = variant.prepare(source, device)
    setup = time.perf_counter() - start
    setup_peak = peak_memory_mb(device)
    reset_peak_memory(device)
    model = prepared.model
    weight_mb = weight_bytes(model) / 1e6
    vocab = model.config.get_text_config().vocab_size
    bandwidth = hbm_bandwidth(device)
    generator = torch.Generator().manual_seed(0)
    for context in contexts:
        input_ids = torch.randint(10, vocab - 1, (1, context), generator=generator).to(device)
        cache = prepared.cache_for(context + new_tokens)
        start = time.perf_counter()
        timed_request(model, cache, input_ids, new_tokens, device)  # compiles, for compiled variants
        first = time.perf_counter() - start
        graphs = GraphCounter()
        samples = [timed_request(model, cache, input_ids, new_tokens, device) for _ in range(runs)]
        cache_tokens = cache.max_cache_len if cache is not None else None
        positions = cache_tokens or context + new_tokens // 2
        record(DecodeRow(
            model=source.name, variant=prepared.name or variant.name, role=variant.role, context_tokens=context,
            new_tokens=new_tokens, cache_tokens=cache_tokens, weight_mb=weight_mb,
            setup_s=setup, setup_peak_memory_mb=setup_peak, first_request_s=first,
            prefill_s=Spread.of([s[0] for s in samples]),
            decode_tokens_per_s=Spread.of([s[1] for s in samples]), recompiles=graphs.since(),
            peak_memory_mb=peak_memory_mb(device),
            bandwidth_bound_tokens_per_s=bandwidth / bytes_per_token(model, positions) if bandwidth else None,
            notes=prepared.notes,
        ))


def bf16_eager(source: TextModel, device: torch.device) -> Prepared:
    return Prepared(source.build(device), None)


def bf16_compiled(source: TextModel, device: torch.device) -> Prepared:
    model = source.build(device)
    return Prepared(model, deployed.cache_buckets(model, source.deployment, device))


def smollm3_optimized(source: TextModel, device: torch.device) -> Prepared:
    return Prepared(*deployed.smollm3_optimized(source.build(device), device))


def gemma3_optimized(source: TextModel, device: torch.device) -> Prepared:
    return Prepared(*deployed.gemma3_optimized(source.build(device), device))


def phi4_optimized(source: TextModel, device: torch.device) -> Prepared:
    model, caches, backend = deployed.phi4_4bit(source.checkpoint(), device)
    compiled = " + compiled decode" if caches is not None else ""
    return Prepared(model, caches, {"backend": backend}, name=f"4-bit, {backend}{compiled}")


CONTROLS = (Variant("bf16 eager", "control", bf16_eager), Variant("bf16 + compiled decode", "control", bf16_compiled))
OPTIMIZED = {
    "smollm3": Variant("HQQ 4-bit + compiled decode", "optimized", smollm3_optimized),
    "gemma3": Variant("INT8 weight-only + compiled decode", "optimized", gemma3_optimized),
    "phi4-reasoning": Variant("4-bit as deployed", "optimized", phi4_optimized, reads_checkpoint=True),
}


def variants(deployment: str) -> tuple[Variant, ...]:
    return (*CONTROLS, OPTIMIZED[deployment])


def run_variants(
    source: TextModel,
    device: torch.device,
    contexts: tuple[int, ...],
    new_tokens: int,
    runs: int,
    record: Callable[[DecodeRow], None],
    on_error: Callable[[str, BaseException], None],
    controls: bool = True,
) -> None:
    """Every variant of one model (the optimized one alone without `controls`); a variant that fails is reported
    to `on_error` and the next one runs."""
    for variant in variants(source.deployment) if controls else (OPTIMIZED[source.deployment],):
        try:
            measure_variant(source, variant, device, contexts, new_tokens, runs, record)
        except Exception as error:  # an OOM or a graph break in one variant must not cost the others
            on_error(f"{source.name} / {variant.name}", error)
