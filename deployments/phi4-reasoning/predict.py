"""Phi-4-reasoning-plus in 4-bit through Unsloth (CUDA), reasoning trace streamed or hidden."""

from shared.text.unsloth_first import UNSLOTH  # noqa: F401, I001  (Unsloth must be imported before transformers)

# isort: split
from dataclasses import replace

from cog import BaseRunner, ConcatenateIterator, Input, streaming

from shared.common.model_source import ModelSource
from shared.text.loading import load_4bit_causal_lm
from shared.text.service import TextModel, TextRequest, TextService
from shared.text.settings import TextSettings


class Phi4Reasoning(TextModel):
    def load(self, weights, device, settings):
        model, tokenizer, backend = load_4bit_causal_lm(weights, device, settings.max_context)
        if backend == "unsloth":  # its for_inference() decode is its own fast path, with its own KV cache
            settings = replace(settings, compile=False)
        return model, tokenizer, settings


MODEL = Phi4Reasoning(
    name="phi4",
    source=ModelSource(
        # Unsloth's dynamic 4-bit checkpoint: ~9 GB to download instead of ~29 GB in bf16.
        repo_id="unsloth/Phi-4-reasoning-plus-unsloth-bnb-4bit",
        # No commit of this repo could be established offline (README): "main" until one is pinned.
        revision="main",
        revision_env="PHI4_REVISION",
        local_dir_env="PHI4_MODEL_DIR",
    ),
    # Prompt + answer, up to the model's window (max_position_embeddings 32768); the longest static KV cache.
    # Overridden by the environment (shared/text/settings.py). The checkpoint is stored in 4-bit: NF4 is the
    # only quantization.
    defaults=TextSettings(max_context=32768, quantize="nf4", quantize_choices=("nf4",)),
    keep_tokens=("<think>", "</think>"),
    # Phi-4's template always sends its fixed reasoning system prompt: ours joins the user turn.
    system_in_user_turn=True,
    reasoning=True,
)
WEIGHTS = (MODEL.source,)  # what `make weights-phi4-reasoning` bakes into the image


class Predictor(BaseRunner):
    def setup(self) -> None:
        self.service = TextService.start(MODEL)

    # Sync, one request at a time (Unsloth decodes one stream): coglet sends each piece as it is yielded and a
    # cancel stops the decode; it sends an async generator's pieces only when it ends
    # (docs/upstream/coglet-async-generator-output.md).
    @streaming
    def run(
        self,
        prompt: str = Input(description="Text prompt for the model.", min_length=1, max_length=524288),
        system_prompt: str = Input(
            description="Extra instructions, added after Phi-4's fixed reasoning system prompt (the model's template always sends that one; yours goes at the start of the user turn).",
            default="",
            max_length=524288,
        ),
        max_new_tokens: int = Input(
            description="Maximum number of tokens to generate (1-32768); the prompt and the answer must also fit the model's context window.",
            default=4096,
            ge=1,
            le=32768,
        ),
        # Phi-4-reasoning's model card: temperature 0.8, top_p 0.95.
        temperature: float = Input(
            description="Sampling temperature (0-2). 0 picks the most likely token every step (greedy, deterministic).",
            default=0.8,
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
        show_reasoning: bool = Input(
            description="Stream the <think>...</think> reasoning before the answer. Off: only the answer is returned (it starts once the reasoning ends).",
            default=True,
        ),
    ) -> ConcatenateIterator[str]:
        request = TextRequest(
            prompt=prompt, system_prompt=system_prompt, max_new_tokens=max_new_tokens, temperature=temperature,
            top_p=top_p, top_k=top_k, stop_sequences=stop_sequences, seed=seed, show_reasoning=show_reasoning,
        )
        yield from self.service.stream_one_at_a_time(request, self.record_metric)
