"""Gemma-3-4B-IT, image + text chat, INT8 weight-only (torchao) with optional pruning, streaming text.

Quantization and pruning run once in setup; every request sees the same model. Pruning is a deployment
variant chosen by environment variables in cog.yaml, never by a request input.
"""

import os

import torch
from cog import BaseRunner, ConcatenateIterator, Input, Path, streaming

from shared import inputs
from shared.images import load_image
from shared.layer_filter import DECODER_PRUNABLE, LANGUAGE_MODEL_LINEARS
from shared.loading import load_image_text_model
from shared.model_source import ModelSource
from shared.pruning import PruneSettings, prune
from shared.quantization import quantize_int8_weight_only
from shared.runtime import begin_setup, seed_everything
from shared.serving import require_text, stream_text
from shared.text_generation import Sampling, TextGenerator, chat_messages
from shared.text_settings import TextSettings

GEMMA3 = ModelSource(
    repo_id="google/gemma-3-4b-it",
    revision=os.environ.get("GEMMA3_REVISION", "main"),
    local_dir_env="GEMMA3_MODEL_DIR",
    gated=True,
)
MAX_NEW_TOKENS = 8192
# Prompt + answer; the longest static KV cache. Overridden by the environment (shared/text_settings.py).
DEFAULTS = TextSettings(max_context=16384, quantize="int8", quantize_choices=("int8", "none"))


class Predictor(BaseRunner):
    def setup(self) -> None:
        pruning = PruneSettings.from_env(os.environ)
        device, token = begin_setup()
        settings = TextSettings.from_env(os.environ, DEFAULTS)
        model, processor = load_image_text_model(GEMMA3.resolve(token), torch.bfloat16, device)
        prune(model, DECODER_PRUNABLE, pruning)
        if settings.quantize == "int8":
            quantize_int8_weight_only(model, LANGUAGE_MODEL_LINEARS)
        # Only the language model's decode step is compiled: the vision tower runs once, in the eager prefill.
        self.generator = TextGenerator(model, processor, device, settings)
        self.generator.warm_up()

    @streaming
    def run(
        self,
        prompt: str = inputs.prompt(),
        image: Path | None = Input(description="Optional image to ask about (PNG, JPEG, WebP, ...).", default=None),
        system_prompt: str = inputs.system_prompt(),
        max_new_tokens: int = inputs.max_new_tokens(default=1024, maximum=MAX_NEW_TOKENS),
        temperature: float = inputs.temperature(default=1.0),
        top_p: float = inputs.top_p(default=0.95),
        top_k: int = inputs.top_k(default=64),
        seed: int | None = inputs.seed(),
    ) -> ConcatenateIterator[str]:
        require_text("prompt", prompt)
        picture = load_image(image, "image") if image else None
        seed_everything(seed)
        chat = self.generator.encode_chat(chat_messages(prompt, system_prompt, picture))
        sampling = Sampling(max_new_tokens, temperature, top_p, top_k)
        yield from stream_text(self.generator, chat, sampling, self.record_metric, save_as="gemma3")
