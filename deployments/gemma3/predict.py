"""Gemma-3-4B-IT, image + text chat, INT8 weight-only (torchao) with optional pruning, streaming text.

Quantization and pruning run once, at `make weights-gemma3` (saved beside the weights) or else in setup; every
request sees the same model. Pruning is a deployment variant chosen by environment variables in cog.yaml, never
by a request input.
"""

from dataclasses import asdict

import torch
from cog import AsyncConcatenateIterator, BaseRunner, Input, Path, concurrent, streaming
from transformers import Gemma3ForCausalLM

from shared.common.model_source import ModelSource
from shared.optim.layer_filter import DECODER_PRUNABLE, LANGUAGE_MODEL_LINEARS
from shared.optim.pruning import prune
from shared.optim.quantization import quantize_int8_weight_only
from shared.text.batching import text_causal_lm
from shared.text.loading import load_image_text_model
from shared.text.service import TextModel, TextRequest, TextService
from shared.text.settings import TextSettings


class Gemma3(TextModel):
    def load(self, weights, device, settings, with_weights=True):
        model, processor = load_image_text_model(weights, torch.bfloat16, device, with_weights)
        return model, processor, settings

    def optimize(self, model, device, settings):
        prune(model, DECODER_PRUNABLE, settings.prune)
        if settings.quantize == "int8":
            quantize_int8_weight_only(model, LANGUAGE_MODEL_LINEARS)
        # Only the language model's decode step is compiled: the vision tower runs once, in the eager prefill.
        return model

    def served_variant(self, settings):
        pruned = settings.prune.method != "none" and settings.prune.sparsity > 0
        if settings.quantize == "none" and not pruned:
            return None
        return {"quantize": settings.quantize, "prune": asdict(settings.prune) if pruned else None}

    def text_decoder(self, model):
        # The batch engine takes token ids only, and reads the text config's sizes: text requests batch on
        # the language model and head alone; image requests decode one at a time on the whole model.
        return text_causal_lm(model, Gemma3ForCausalLM)


MODEL = Gemma3(
    name="gemma3",
    source=ModelSource(
        repo_id="google/gemma-3-4b-it",
        revision="093f9f388b31de276ce2de164bdc2081324b9767",
        revision_env="GEMMA3_REVISION",
        local_dir_env="GEMMA3_MODEL_DIR",
        gated=True,
    ),
    # Prompt + answer; the longest static KV cache. Overridden by the environment (shared/text/settings.py).
    defaults=TextSettings(max_context=16384, quantize="int8", quantize_choices=("int8", "none")),
)
WEIGHTS = (MODEL.source,)  # what `make weights-gemma3` bakes into the image


class Predictor(BaseRunner):
    def setup(self) -> None:
        self.service = TextService.start(MODEL)

    # Requests served at once, batched together (shared/text/batching.py): the default the cog CLI bakes
    # into the image as COG_MAX_CONCURRENCY, which `docker run -e` or the platform may override.
    @concurrent(max=16)
    @streaming
    async def run(
        self,
        prompt: str = Input(description="Text prompt for the model.", min_length=1, max_length=2097152),
        image: Path | None = Input(description="Optional image to ask about (PNG, JPEG, WebP, ...).", default=None),
        system_prompt: str = Input(
            description="System prompt that sets the assistant's behaviour. Empty uses the model's own.",
            default="",
            max_length=2097152,
        ),
        max_new_tokens: int = Input(
            description="Maximum number of tokens to generate (1-8192); the prompt and the answer must also fit the model's context window.",
            default=1024,
            ge=1,
            le=8192,
        ),
        # Gemma 3's recommended sampling: temperature 1.0, top_k 64, top_p 0.95.
        temperature: float = Input(
            description="Sampling temperature (0-2). 0 picks the most likely token every step (greedy, deterministic).",
            default=1.0,
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
            default=64,
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
            prompt=prompt, system_prompt=system_prompt, image=image, max_new_tokens=max_new_tokens,
            temperature=temperature, top_p=top_p, top_k=top_k, stop_sequences=stop_sequences, seed=seed,
        )
        async for piece in self.service.stream(request, self.record_metric):
            yield piece
