"""Phi-4-reasoning-plus in 4-bit through Unsloth (CUDA), reasoning trace streamed or hidden."""

from shared.unsloth_first import UNSLOTH  # noqa: F401, I001  (Unsloth must be imported before transformers)

# isort: split
import os
from dataclasses import replace

from cog import BaseRunner, ConcatenateIterator, Input, streaming

from shared import inputs
from shared.loading import load_4bit_causal_lm
from shared.model_source import ModelSource
from shared.reasoning import visible_text
from shared.runtime import begin_setup, seed_everything
from shared.serving import require_text, stream_text
from shared.text_generation import Sampling, TextGenerator, chat_messages
from shared.text_settings import TextSettings

PHI4 = ModelSource(
    # Unsloth's dynamic 4-bit checkpoint: ~9 GB to download instead of ~29 GB in bf16.
    repo_id="unsloth/Phi-4-reasoning-plus-unsloth-bnb-4bit",
    revision=os.environ.get("PHI4_REVISION", "main"),
    local_dir_env="PHI4_MODEL_DIR",
)
MAX_NEW_TOKENS = 32768
# Prompt + answer; the longest static KV cache. Overridden by the environment (shared/text_settings.py).
# The checkpoint is stored in 4-bit: NF4 is the only quantization.
DEFAULTS = TextSettings(max_context=32768 + 4096, quantize="nf4", quantize_choices=("nf4",))


class Predictor(BaseRunner):
    def setup(self) -> None:
        device, token = begin_setup()
        settings = TextSettings.from_env(os.environ, DEFAULTS)
        model, tokenizer, self.backend = load_4bit_causal_lm(PHI4.resolve(token), device, settings.max_context)
        if self.backend == "unsloth":  # its for_inference() decode is its own fast path, with its own KV cache
            settings = replace(settings, compile=False)
        # Phi-4's template always sends its fixed reasoning system prompt: ours joins the user turn.
        self.generator = TextGenerator(
            model, tokenizer, device, settings, keep_tokens=("<think>", "</think>"), system_in_user_turn=True
        )
        self.generator.warm_up()

    @streaming
    def run(
        self,
        prompt: str = inputs.prompt(),
        system_prompt: str = inputs.system_prompt(
            description="Extra instructions, added after Phi-4's fixed reasoning system prompt (the model's "
            "template always sends that one; yours goes at the start of the user turn)."
        ),
        max_new_tokens: int = inputs.max_new_tokens(default=4096, maximum=MAX_NEW_TOKENS),
        temperature: float = inputs.temperature(default=0.8),
        top_p: float = inputs.top_p(default=0.95),
        top_k: int = inputs.top_k(default=50),
        seed: int | None = inputs.seed(),
        show_reasoning: bool = Input(
            description="Stream the <think>...</think> reasoning before the answer. Off: only the answer is "
            "returned (it starts once the reasoning ends).",
            default=True,
        ),
    ) -> ConcatenateIterator[str]:
        require_text("prompt", prompt)
        seed_everything(seed)
        chat = self.generator.encode_chat(chat_messages(prompt, system_prompt))
        sampling = Sampling(max_new_tokens, temperature, top_p, top_k)
        pieces = stream_text(self.generator, chat, sampling, self.record_metric, "phi4")
        yield from visible_text(pieces, show_reasoning)
