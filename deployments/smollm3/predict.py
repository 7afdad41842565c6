"""SmolLM3-3B, 4-bit HQQ (Pruna) with a compiled decode step, streaming text in think / no_think modes."""

import os

import torch
from cog import BaseRunner, ConcatenateIterator, Input, streaming

from shared import inputs
from shared.loading import load_causal_lm
from shared.model_source import ModelSource
from shared.quantization import quantize_hqq
from shared.runtime import begin_setup, seed_everything
from shared.serving import require_text, stream_text
from shared.text_generation import Sampling, TextGenerator, chat_messages
from shared.text_settings import TextSettings

SMOLLM3 = ModelSource(
    repo_id="HuggingFaceTB/SmolLM3-3B",
    revision="a07cc9a04f16550a088caea529712d1d335b0ac1",
    local_dir_env="SMOLLM3_MODEL_DIR",
    allow_patterns=("*.json", "*.safetensors", "*.jinja", "*.txt"),
)
MAX_NEW_TOKENS = 16384
# Prompt + answer; the longest static KV cache. Overridden by the environment (shared/text_settings.py).
DEFAULTS = TextSettings(max_context=20480, quantize="hqq4", quantize_choices=("hqq4", "none"))


class Predictor(BaseRunner):
    def setup(self) -> None:
        device, token = begin_setup()
        settings = TextSettings.from_env(os.environ, DEFAULTS)
        model, tokenizer = load_causal_lm(SMOLLM3.resolve(token), torch.bfloat16, device)
        if settings.quantize == "hqq4":
            model = quantize_hqq(model, device, require_fast_kernel=settings.hqq_fast_kernel == "require")
        self.generator = TextGenerator(model, tokenizer, device, settings, keep_tokens=("<think>", "</think>"))
        self.generator.warm_up()

    @streaming
    def run(
        self,
        prompt: str = inputs.prompt(),
        system_prompt: str = inputs.system_prompt(),
        mode: str = Input(
            description="think: reason step by step inside <think>...</think> before answering. "
            "no_think: answer directly.",
            choices=["think", "no_think"],
            default="think",
        ),
        max_new_tokens: int = inputs.max_new_tokens(default=2048, maximum=MAX_NEW_TOKENS),
        temperature: float = inputs.temperature(default=0.6),
        top_p: float = inputs.top_p(default=0.95),
        top_k: int = inputs.top_k(default=50),
        seed: int | None = inputs.seed(),
    ) -> ConcatenateIterator[str]:
        require_text("prompt", prompt)
        seed_everything(seed)
        chat = self.generator.encode_chat(chat_messages(prompt, system_prompt), enable_thinking=mode == "think")
        sampling = Sampling(max_new_tokens, temperature, top_p, top_k)
        yield from stream_text(self.generator, chat, sampling, self.record_metric, save_as="smollm3")
