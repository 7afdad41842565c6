"""SmolLM3-3B, 4-bit HQQ (Pruna) with a compiled decode step, streaming text in think / no_think modes."""

from cog import AsyncConcatenateIterator, BaseRunner, Input, concurrent, streaming

from shared.common.model_source import ModelSource
from shared.optim.quantization import hqq_layers, use_int4_kernel
from shared.text.service import TextModel, TextRequest, TextService
from shared.text.settings import TextSettings

HQQ = {"bits": 4, "group_size": 64}


class SmolLM3(TextModel):
    def optimize(self, model, device, settings):
        return hqq_layers(model, device, **HQQ) if settings.quantize == "hqq4" else model

    def served_variant(self, settings):
        return {"quantize": settings.quantize, **HQQ} if settings.quantize == "hqq4" else None

    def on_device(self, model, device, settings):
        if settings.quantize == "hqq4":  # the int4 kernel's packing is the device's own: made at every boot
            return use_int4_kernel(model, require_fast_kernel=settings.hqq_fast_kernel == "require")
        return model


MODEL = SmolLM3(
    name="smollm3",
    source=ModelSource(
        repo_id="HuggingFaceTB/SmolLM3-3B",
        revision="a07cc9a04f16550a088caea529712d1d335b0ac1",
        local_dir_env="SMOLLM3_MODEL_DIR",
        allow_patterns=("*.json", "*.safetensors", "*.jinja", "*.txt"),
    ),
    # Prompt + answer; the longest static KV cache. Overridden by the environment (shared/text/settings.py).
    defaults=TextSettings(max_context=20480, quantize="hqq4", quantize_choices=("hqq4", "none")),
    keep_tokens=("<think>", "</think>"),
)
WEIGHTS = (MODEL.source,)  # what `make weights-smollm3` bakes into the image


class Predictor(BaseRunner):
    def setup(self) -> None:
        self.service = TextService.start(MODEL)

    # Requests served at once, batched together (shared/text/batching.py): the default the cog CLI bakes
    # into the image as COG_MAX_CONCURRENCY, which `docker run -e` or the platform may override.
    @concurrent(max=32)
    @streaming
    async def run(
        self,
        prompt: str = Input(description="Text prompt for the model.", min_length=1, max_length=1048576),
        system_prompt: str = Input(
            description="System prompt that sets the assistant's behaviour. Empty uses the model's own.",
            default="",
            max_length=1048576,
        ),
        mode: str = Input(
            description="think: reason step by step inside <think>...</think> before answering. no_think: answer directly.",
            choices=["think", "no_think"],
            default="think",
        ),
        max_new_tokens: int = Input(
            description="Maximum number of tokens to generate (1-16384); the prompt and the answer must also fit the model's context window.",
            default=2048,
            ge=1,
            le=16384,
        ),
        # SmolLM3's model card recommends temperature 0.6, top_p 0.95.
        temperature: float = Input(
            description="Sampling temperature (0-2). 0 picks the most likely token every step (greedy, deterministic).",
            default=0.6,
            ge=0.0,
            le=2.0,
        ),
        top_p: float = Input(
            description="Nucleus sampling (0.01-1): sample only from the smallest set of tokens whose probabilities add up to top_p. 1 disables it.",
            default=0.95,
            ge=0.01,
            le=1.0,
        ),
        top_k: int = Input(
            description="Sample only from the top_k most likely tokens (0-1000). 0 disables it.",
            default=50,
            ge=0,
            le=1000,
        ),
        stop_sequences: str = Input(
            description="Comma-separated texts that end the answer where they first appear (up to 16, each up to 200 characters); the stop text itself is not returned. Example: '</answer>,Question:'.",
            default="",
            max_length=4096,
        ),
        seed: int | None = Input(
            description="Random seed (0-2147483647) for reproducible outputs. Leave empty for a random seed; the seed used is printed in the logs.",
            default=None,
            ge=0,
            le=2147483647,
        ),
    ) -> AsyncConcatenateIterator[str]:
        request = TextRequest(
            prompt=prompt, system_prompt=system_prompt, max_new_tokens=max_new_tokens, temperature=temperature,
            top_p=top_p, top_k=top_k, stop_sequences=stop_sequences, seed=seed,
            template={"enable_thinking": mode == "think"},
        )
        async for piece in self.service.stream(request, self.record_metric):
            yield piece
