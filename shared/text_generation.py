"""Chat-templated text generation that streams, honours every sampling input and can be stopped."""

import logging
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from transformers import StoppingCriteria, StoppingCriteriaList
from transformers.generation.streamers import BaseStreamer

logger = logging.getLogger(__name__)


class ContextTooLongError(ValueError):
    """The prompt plus max_new_tokens does not fit the context window."""


@dataclass(frozen=True)
class Sampling:
    max_new_tokens: int
    temperature: float
    top_p: float = 1.0
    top_k: int = 0

    def generate_kwargs(self) -> dict:
        if self.temperature == 0:
            # Greedy: the sampling knobs are set to their neutral values so transformers doesn't warn.
            return {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        return {"do_sample": True, "temperature": self.temperature, "top_p": self.top_p, "top_k": self.top_k}


class IncrementalDetokenizer(BaseStreamer):
    """Turns generated token ids into text pieces as they arrive, without splitting a UTF-8 character.

    Decodes a short window of tokens each step (as TGI and vLLM do) instead of the whole answer, so
    streaming stays linear in the answer's length.
    """

    def __init__(self, tokenizer, keep_tokens: tuple[str, ...] = ()):
        self.tokenizer = tokenizer
        # Special tokens are dropped (end of turn, padding) except those the user must see, such as
        # <think> where a tokenizer marks it special.
        special = {i for i, token in tokenizer.added_tokens_decoder.items() if token.special}
        kept = set(tokenizer.convert_tokens_to_ids(list(keep_tokens)))
        self.hidden_ids = (special | set(tokenizer.all_special_ids)) - kept
        self.pieces: queue.Queue = queue.Queue()
        self.tokens: list[int] = []
        self.generated = 0
        self.prefix_offset = 0
        self.read_offset = 0
        self.prompt_seen = False

    def put(self, value: torch.Tensor) -> None:
        if not self.prompt_seen:  # generate() first hands over the prompt
            self.prompt_seen = True
            return
        new = value.reshape(-1).tolist()
        self.generated += len(new)
        self.tokens.extend(t for t in new if t not in self.hidden_ids)
        prefix = self._decode(self.tokens[self.prefix_offset : self.read_offset])
        text = self._decode(self.tokens[self.prefix_offset :])
        if len(text) > len(prefix) and not text.endswith("\ufffd"):
            self.pieces.put(text[len(prefix) :])
            self.prefix_offset, self.read_offset = self.read_offset, len(self.tokens)

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=False)

    def end(self) -> None:
        rest = self._decode(self.tokens[self.prefix_offset :])
        done = self._decode(self.tokens[self.prefix_offset : self.read_offset])
        if len(rest) > len(done):
            self.pieces.put(rest[len(done) :])


class _StopWhenSet(StoppingCriteria):
    def __init__(self, event: threading.Event):
        self.event = event

    def __call__(self, input_ids, scores, **kwargs) -> torch.Tensor:
        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device)


_DONE = object()


class TextGenerator:
    """Owns a causal LM, its tokenizer and (when compiled) its static KV cache."""

    def __init__(
        self, model, tokenizer, device: torch.device, max_context: int, cache=None, keep_tokens: tuple[str, ...] = ()
    ):
        self.model = model
        self.keep_tokens = keep_tokens
        self.tokenizer = tokenizer
        self.device = device
        self.max_context = max_context
        self.cache = cache
        self.last_output_tokens = 0

    def render(self, messages: list[dict], **template_kwargs) -> str:
        return self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True, **template_kwargs
        )

    def encode(self, text: str) -> torch.Tensor:
        # The chat template already wrote every special token the model expects.
        return self.tokenizer(text, return_tensors="pt", add_special_tokens=False).input_ids.to(self.device)

    def check_fits(self, prompt_tokens: int, max_new_tokens: int) -> None:
        if prompt_tokens + max_new_tokens > self.max_context:
            room = self.max_context - prompt_tokens
            hint = f"lower max_new_tokens to {room} or less" if room > 0 else "shorten the prompt"
            raise ContextTooLongError(
                f"max_new_tokens: the prompt ({prompt_tokens} tokens) plus max_new_tokens ({max_new_tokens}) "
                f"exceeds the context window of {self.max_context} tokens; {hint}"
            )

    def stream(self, model_inputs: torch.Tensor | dict, sampling: Sampling) -> Iterator[str]:
        """Yield text pieces as they are generated. Closing the iterator stops generation promptly.

        `model_inputs` is the prompt's input_ids, or a processor's whole output (pixel values too).
        """
        model_inputs = {"input_ids": model_inputs} if isinstance(model_inputs, torch.Tensor) else dict(model_inputs)
        input_ids = model_inputs["input_ids"]
        model_inputs.setdefault("attention_mask", torch.ones_like(input_ids))
        self.check_fits(input_ids.shape[1], sampling.max_new_tokens)
        streamer = IncrementalDetokenizer(self.tokenizer, self.keep_tokens)
        stop = threading.Event()
        errors: list[BaseException] = []

        def run():
            try:
                with torch.inference_mode():
                    if self.cache is not None:
                        self.cache.reset()  # its tensors were made in inference mode: reset them there
                    self.model.generate(
                        **model_inputs,
                        max_new_tokens=sampling.max_new_tokens,
                        past_key_values=self.cache,
                        streamer=streamer,
                        stopping_criteria=StoppingCriteriaList([_StopWhenSet(stop)]),
                        pad_token_id=self.tokenizer.pad_token_id,
                        **sampling.generate_kwargs(),
                    )
            except BaseException as error:  # surfaced in the caller's thread below
                errors.append(error)
            finally:
                streamer.pieces.put(_DONE)

        # generate() runs in a worker thread so pieces reach the client while it decodes; torch's
        # RNG is process-wide, so the caller's seed still applies.
        worker = threading.Thread(target=run, name="generate", daemon=True)
        worker.start()
        try:
            while (piece := streamer.pieces.get()) is not _DONE:
                yield piece
        finally:
            stop.set()
            worker.join()
            self.last_output_tokens = streamer.generated
        if errors:
            raise errors[0]
