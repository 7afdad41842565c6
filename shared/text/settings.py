"""The text deployments' settings, read once from the environment (cog.yaml's `environment`, or `docker -e`)."""

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from shared.optim.pruning import PruneSettings

# KV-cache lengths compiled at setup besides the maximum context. A request takes the smallest that holds its
# prompt + max_new_tokens, so attention reads ~1k tokens per step for a short chat instead of the whole context.
# Chosen without GPU measurements: short chats, long documents, very long documents; each costs one compiled
# graph at setup. Buckets share one allocation, so memory is that of the longest.
DEFAULT_CACHE_BUCKETS = (1024, 4096, 16384)
MIN_BUCKET = 32  # the warm-up's prompt and new tokens fit in it
HQQ_FAST_KERNEL_CHOICES = ("require", "warn")
# Tokens of KV cache each concurrent request gets in the batch engine's shared pool, unless BATCH_KV_TOKENS says:
# pages are taken as a request grows, so a long request borrows from short ones and one request may use up to
# the whole context; a request that finds no free page waits for one.
BATCH_KV_TOKENS_PER_REQUEST = 4096


@dataclass(frozen=True)
class TextSettings:
    max_context: int  # MAX_CONTEXT_TOKENS: prompt + answer, the longest cache
    quantize: str = "none"  # QUANTIZE: one of quantize_choices (the deployment's methods; "none" is bf16)
    quantize_choices: tuple[str, ...] = ("none",)
    compile: bool = True  # COMPILE: 1 compiles the decode step over static caches; 0 decodes eagerly
    cache_buckets: tuple[int, ...] = DEFAULT_CACHE_BUCKETS  # CACHE_BUCKETS: shorter caches, comma-separated
    hqq_fast_kernel: str = "require"  # HQQ_FAST_KERNEL: a quantized layer off the int4 kernel fails setup, or warns
    # COG_MAX_CONCURRENCY: requests the container admits at once, the variable coglet itself reads (the cog CLI
    # bakes the predictor's @cog.concurrent(max=N) into the image as it); above 1, the batch engine decodes them.
    max_requests: int = 1
    batch_kv_tokens: int = 0  # BATCH_KV_TOKENS: the batch engine's KV pool; 0 sizes it from max_requests
    prune: PruneSettings = field(default_factory=PruneSettings)  # PRUNE_*: for the deployments that prune (Gemma-3)

    def __post_init__(self):
        if self.max_context < MIN_BUCKET:
            raise ValueError(f"MAX_CONTEXT_TOKENS: {self.max_context} is too small (at least {MIN_BUCKET})")
        if self.quantize not in self.quantize_choices:
            offered = ", ".join(self.quantize_choices)
            raise ValueError(f"QUANTIZE: {self.quantize!r} is not offered by this deployment (one of {offered})")
        if any(length < MIN_BUCKET for length in self.cache_buckets):
            raise ValueError(
                f"CACHE_BUCKETS: {','.join(map(str, self.cache_buckets))} has a length below {MIN_BUCKET} "
                f"(each at least {MIN_BUCKET})"
            )
        if self.max_requests < 1:
            raise ValueError(f"COG_MAX_CONCURRENCY: {self.max_requests} (at least 1 request at a time)")
        if self.max_requests > 1 and 0 < self.batch_kv_tokens < self.max_context:
            raise ValueError(
                f"BATCH_KV_TOKENS: {self.batch_kv_tokens} can't hold one request of the {self.max_context}-token "
                f"context (at least {self.max_context}, or 0 for {BATCH_KV_TOKENS_PER_REQUEST} per request)"
            )
        if self.hqq_fast_kernel not in HQQ_FAST_KERNEL_CHOICES:
            offered = ", ".join(HQQ_FAST_KERNEL_CHOICES)
            raise ValueError(f"HQQ_FAST_KERNEL: {self.hqq_fast_kernel!r} is not a choice (one of {offered})")

    @property
    def cache_lengths(self) -> tuple[int, ...]:
        """The static caches to compile, shortest first: the buckets below the maximum context, then it."""
        return (*sorted({length for length in self.cache_buckets if length < self.max_context}), self.max_context)

    @property
    def batch_pool_tokens(self) -> int:
        """The batch engine's KV pool, in tokens."""
        return self.batch_kv_tokens or max(self.max_context, self.max_requests * BATCH_KV_TOKENS_PER_REQUEST)

    @classmethod
    def from_env(cls, environ: Mapping[str, str], defaults: "TextSettings") -> "TextSettings":
        """`defaults` is the deployment's own (its context length and quantization); the environment overrides."""
        return replace(
            defaults,
            max_context=_integer(environ, "MAX_CONTEXT_TOKENS", defaults.max_context),
            quantize=environ.get("QUANTIZE", defaults.quantize),
            compile=_flag(environ, "COMPILE", defaults.compile),
            cache_buckets=_integers(environ, "CACHE_BUCKETS", defaults.cache_buckets),
            hqq_fast_kernel=environ.get("HQQ_FAST_KERNEL", defaults.hqq_fast_kernel),
            max_requests=_integer(environ, "COG_MAX_CONCURRENCY", defaults.max_requests, "requests at once, e.g. 16"),
            batch_kv_tokens=_integer(environ, "BATCH_KV_TOKENS", defaults.batch_kv_tokens),
            prune=PruneSettings.from_env(environ) if any(k.startswith("PRUNE_") for k in environ) else defaults.prune,
        )


def _integer(environ: Mapping[str, str], name: str, default: int, example: str = "a token count, e.g. 8192") -> int:
    value = environ.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{name}: {value!r} is not a whole number ({example})") from None


def _integers(environ: Mapping[str, str], name: str, default: tuple[int, ...]) -> tuple[int, ...]:
    value = environ.get(name)
    if value is None:
        return default
    try:
        return tuple(int(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise ValueError(f"{name}: {value!r} is not a comma-separated list of token counts (e.g. 1024,4096)") from None


def _flag(environ: Mapping[str, str], name: str, default: bool) -> bool:
    value = environ.get(name)
    if value is None:
        return default
    if value.strip().lower() in ("1", "true", "yes"):
        return True
    if value.strip().lower() in ("0", "false", "no"):
        return False
    raise ValueError(f"{name}: {value!r} is not a switch (1 or 0)")
