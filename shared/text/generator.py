"""Chat-templated text generation that streams, honours every sampling input and can be stopped."""

import asyncio
import logging
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

import torch
from transformers import LogitsProcessorList, ProcessorMixin, StoppingCriteria, StoppingCriteriaList
from transformers.generation.streamers import BaseStreamer

from shared.common.compiled_graphs import compiled_graph_count
from shared.common.runtime import new_seed
from shared.text.kv_cache import CacheBuckets
from shared.text.sampling import RequestSampler, SampleWith, Sampling
from shared.text.settings import TextSettings

logger = logging.getLogger(__name__)


class ContextTooLongError(ValueError):
    """The prompt, or the prompt plus max_new_tokens, does not fit the context window."""


class IncrementalDetokenizer(BaseStreamer):
    """Turns generated token ids into text pieces as they arrive, without splitting a UTF-8 character.

    Decodes a short window of tokens each step (as TGI and vLLM do) instead of the whole answer, so
    streaming stays linear in the answer's length.
    """

    def __init__(self, tokenizer, keep_tokens: tuple[str, ...] = (), pieces=None):
        self.tokenizer = tokenizer
        # Special tokens are dropped (end of turn, padding) except those the user must see, such as
        # <think> where a tokenizer marks it special.
        special = {i for i, token in tokenizer.added_tokens_decoder.items() if token.special}
        kept = set(tokenizer.convert_tokens_to_ids(list(keep_tokens)))
        self.hidden_ids = (special | set(tokenizer.all_special_ids)) - kept
        self.pieces = pieces if pieces is not None else queue.Queue()  # anything with put(piece)
        self.tokens: list[int] = []
        self.generated = 0
        self.prefix_offset = 0
        self.read_offset = 0
        self.prompt_seen = False

    def put(self, value: torch.Tensor) -> None:
        if not self.prompt_seen:  # generate() first hands over the prompt
            self.prompt_seen = True
            return
        self.add(value.reshape(-1).tolist())

    def add(self, new: list[int]) -> None:
        """New token ids, as the batch engine hands them over."""
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


@dataclass
class Usage:
    """What one answer took, filled in by `TextGenerator.stream`: read it once the stream has ended."""

    output_tokens: int = 0
    cache_length: int | None = None  # the static KV cache it ran on; None when decoding eagerly


@dataclass(frozen=True)
class ChatInputs:
    """A rendered, tokenized chat: what generate() takes, and the request inputs it was built from."""

    tensors: dict[str, torch.Tensor]  # input_ids, attention_mask; pixel values etc. from a processor
    fields: str = "prompt"  # the inputs an overlong prompt is blamed on

    @property
    def prompt_tokens(self) -> int:
        return int(self.tensors["input_ids"].shape[1])

    @property
    def has_pixels(self) -> bool:
        return "pixel_values" in self.tensors


def chat_messages(prompt: str, system_prompt: str = "", image=None) -> list[dict]:
    """One user turn (text, and an image first when given) after the system prompt, in the parts format
    processors take. A blank system prompt is left out, so the model's template applies its default."""
    content = [{"type": "image", "image": image}] if image is not None else []
    content.append({"type": "text", "text": prompt})
    messages = [{"role": "user", "content": content}]
    if system_prompt.strip():
        messages.insert(0, {"role": "system", "content": [{"type": "text", "text": system_prompt}]})
    return messages


class TextGenerator:
    """Owns a causal LM, its tokenizer or processor, and (when compiled) its static KV caches.

    `system_in_user_turn`: the model's template replaces any system message with its own (Phi-4-reasoning),
    so a system prompt is put at the start of the user turn instead.
    """

    def __init__(
        self,
        model,
        tokenizer_or_processor,
        device: torch.device,
        settings: TextSettings,
        keep_tokens: tuple[str, ...] = (),
        system_in_user_turn: bool = False,
    ):
        self.model = model
        is_processor = isinstance(tokenizer_or_processor, ProcessorMixin)
        self.processor = tokenizer_or_processor if is_processor else None
        self.tokenizer = tokenizer_or_processor.tokenizer if is_processor else tokenizer_or_processor
        self.device = device
        self.max_context = settings.max_context
        self.keep_tokens = keep_tokens
        self.system_in_user_turn = system_in_user_turn
        self.caches = CacheBuckets(model, settings.cache_lengths, device) if settings.compile else None
        # Every generate() runs on this one thread, made here and kept for the process: torch keeps compiled
        # functions and CUDA graph trees per thread (torch 2.14 compile_fx / cudagraph_trees thread-local
        # state; torch 2.11 asserts when a graph tree is recorded off the main thread, pytorch#123177, so
        # it must be the same thread at warm-up and in every request), and dynamo's config per thread.
        self.generation_thread = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="generate",
            initializer=self.caches.configure_compiling_thread if self.caches else None,
        )

    def end_of_turn_ids(self) -> list[int]:
        """The tokens that end an answer: the model's generation config's, and the tokenizer's."""
        configured = self.model.generation_config.eos_token_id
        ids = configured if isinstance(configured, list) else [configured]
        return sorted({*ids, self.tokenizer.eos_token_id} - {None})

    def render(self, messages: list[dict], **template_kwargs) -> str:
        """The prompt text of plain-text messages (a tokenizer's template)."""
        return self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True, **template_kwargs
        )

    def encode_chat(self, messages: list[dict], **template_kwargs) -> ChatInputs:
        """Chat messages (see `chat_messages`) to model inputs, through the processor or the tokenizer.

        `template_kwargs` go to the chat template (SmolLM3's `enable_thinking`).
        """
        has_system = any(message["role"] == "system" for message in messages)
        if self.system_in_user_turn:
            messages = _system_into_user_turn(messages)
        if self.processor is not None:
            batch = self.processor.apply_chat_template(
                messages, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt",
                **template_kwargs,
            )
            # Pixel values come out in float32; the vision tower runs in the model's dtype.
            tensors = {
                name: value.to(self.device, self.model.dtype if value.is_floating_point() else value.dtype)
                for name, value in batch.items()
            }
        else:
            text = self.render(_plain_text(messages), **template_kwargs)
            # The chat template already wrote every special token the model expects.
            ids = self.tokenizer(text, return_tensors="pt", add_special_tokens=False).input_ids
            tensors = {"input_ids": ids.to(self.device)}
        tensors.setdefault("attention_mask", torch.ones_like(tensors["input_ids"]))
        return ChatInputs(tensors, "prompt, system_prompt" if has_system else "prompt")

    def check_fits(self, prompt_tokens: int, max_new_tokens: int, fields: str = "prompt") -> None:
        """Blame an overlong prompt on the prompt inputs, and only a too-large answer on max_new_tokens."""
        room = self.max_context - prompt_tokens
        if room < 1:
            what = "the prompt and system prompt take" if "system_prompt" in fields else "the prompt takes"
            raise ContextTooLongError(
                f"{fields}: {what} {prompt_tokens} tokens with the chat template, more than the "
                f"{self.max_context}-token context window holds (at most {self.max_context - 1} tokens fit, "
                "chat template included, leaving room for one new token)"
            )
        if max_new_tokens > room:
            raise ContextTooLongError(
                f"max_new_tokens: {max_new_tokens} new tokens do not fit after the {prompt_tokens}-token prompt in "
                f"the {self.max_context}-token context window (at most {room} for this prompt)"
            )

    def stream(
        self, inputs: ChatInputs, sampling: Sampling, usage: Usage | None = None, seed: int | None = None
    ) -> Iterator[str]:
        """Yield text pieces as they are generated, and fill in `usage`. Closing the iterator stops generation
        promptly. `seed` seeds this request's own sampler (shared/text/sampling.py); None draws one."""
        streamer = IncrementalDetokenizer(self.tokenizer, self.keep_tokens)
        done, stop = self._start(inputs, sampling, usage, seed, streamer)
        try:
            while (piece := streamer.pieces.get()) is not _DONE:
                yield piece
        finally:
            stop.set()
            self._finish(done.result(), streamer, usage)  # result() waits for generate() to return

    async def astream(
        self, inputs: ChatInputs, sampling: Sampling, usage: Usage | None = None, seed: int | None = None
    ) -> AsyncIterator[str]:
        """`stream` for an async predictor: the event loop stays free for other requests while this one decodes.
        Cancelling the task, or closing the iterator, stops generation promptly."""
        loop = asyncio.get_running_loop()
        pieces: asyncio.Queue = asyncio.Queue()
        streamer = IncrementalDetokenizer(self.tokenizer, self.keep_tokens, _ThreadToLoop(loop, pieces))
        done, stop = self._start(inputs, sampling, usage, seed, streamer)
        try:
            while (piece := await pieces.get()) is not _DONE:
                yield piece
        finally:
            stop.set()
            error = await asyncio.shield(asyncio.wrap_future(done))
            self._finish(error, streamer, usage)

    def _start(self, inputs: ChatInputs, sampling: Sampling, usage: Usage | None, seed: int | None, streamer):
        """Check the request fits, pick its cache, and queue its generate() on the generation thread."""
        self.check_fits(inputs.prompt_tokens, sampling.max_new_tokens, inputs.fields)
        cache = self.caches.pick(inputs.prompt_tokens + sampling.max_new_tokens) if self.caches else None
        if usage is not None:
            usage.cache_length = cache.max_cache_len if cache is not None else None
        if cache is not None:
            logger.info("KV cache: %d tokens (prompt %d + max_new_tokens %d)",
                        cache.max_cache_len, inputs.prompt_tokens, sampling.max_new_tokens)
        sampler = RequestSampler(sampling, new_seed() if seed is None else seed, self.device)
        stop = threading.Event()

        def run() -> BaseException | None:
            try:
                self._generate(inputs.tensors, sampling, cache, sampler, streamer=streamer, stop=stop)
            except BaseException as error:  # handed to the request that asked, on its own thread
                return error
            finally:
                streamer.pieces.put(_DONE)
            return None

        return self.generation_thread.submit(run), stop

    @staticmethod
    def _finish(error: BaseException | None, streamer: "IncrementalDetokenizer", usage: Usage | None) -> None:
        if usage is not None:
            usage.output_tokens = streamer.generated
        if error is not None:
            raise error

    def on_generation_thread(self, work: Callable[[], object]) -> object:
        """Run `work` on the thread every generate() runs on, and wait for it."""
        return self.generation_thread.submit(work).result()

    def warm_up(self) -> None:
        """Compile each cache bucket's decode step now rather than in a user's request (no-op when eager)."""
        if self.caches is None:
            return
        # A real chat's inputs (the same keyword arguments as a request's, or the step would recompile), cut
        # to a few tokens so the prompt fits the shortest cache and the eager prefill stays quick.
        chat = self.encode_chat(chat_messages("Hi"))
        tensors = {name: value[:, :8] for name, value in chat.tensors.items()}
        graphs = compiled_graph_count()
        for length in self.caches.lengths:
            start = time.perf_counter()
            # Four new tokens: three decode steps, enough for CUDA graphs to warm up, record and replay. On the
            # generation thread: the graphs are kept for the thread that compiled them.
            greedy = Sampling(4, 0.0)
            sampler = RequestSampler(greedy, 0, self.device)
            warm = partial(self._generate, tensors, greedy, self.caches.caches[length], sampler, min_new_tokens=4)
            self.on_generation_thread(warm)
            logger.info("warm-up: decode step over a %d-token cache in %.1f s", length, time.perf_counter() - start)
        if compiled_graph_count() == graphs:
            logger.warning("warm-up compiled no graph: generate() decodes eagerly (see transformers' warnings above)")

    def _generate(self, tensors: dict, sampling: Sampling, cache, sampler: RequestSampler, streamer=None, stop=None,
                  **extra) -> None:
        stopping = StoppingCriteriaList([_StopWhenSet(stop)]) if stop is not None else None
        # Greedy over scores where the request's sampler left only its pick (shared/text/sampling.py).
        processors = LogitsProcessorList([] if sampling.greedy else [SampleWith(sampler)])
        # no_grad, as generate() itself uses: compiled graphs over tensor-subclass weights (torchao INT8) under
        # inference_mode have open bugs (pytorch#170419).
        with torch.no_grad():
            if cache is not None:
                cache.reset()
            self.model.generate(
                **tensors,
                max_new_tokens=sampling.max_new_tokens,
                past_key_values=cache,
                streamer=streamer,
                stopping_criteria=stopping,
                logits_processor=processors,
                pad_token_id=self.tokenizer.pad_token_id,
                do_sample=False, temperature=None, top_p=None, top_k=None,  # neutral, so transformers doesn't warn
                **extra,
            )


class _ThreadToLoop:
    """A queue's put() for the generation thread that delivers into an asyncio queue on the event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, pieces: asyncio.Queue):
        self.loop = loop
        self.pieces = pieces

    def put(self, piece) -> None:
        self.loop.call_soon_threadsafe(self.pieces.put_nowait, piece)


def _system_into_user_turn(messages: list[dict]) -> list[dict]:
    system = "".join(
        part["text"] for message in messages if message["role"] == "system" for part in message["content"]
    ).strip()
    rest = [message for message in messages if message["role"] != "system"]
    if not system:
        return rest
    first, *others = rest
    return [{**first, "content": [{"type": "text", "text": f"{system}\n\n"}, *first["content"]]}, *others]


def _plain_text(messages: list[dict]) -> list[dict]:
    """Parts-format messages as the plain strings a tokenizer's template takes."""
    plain = []
    for message in messages:
        parts = message["content"]
        if isinstance(parts, str):
            plain.append(message)
            continue
        if any(part["type"] != "text" for part in parts):
            raise ValueError("image: this model reads text only (send the prompt without an image)")
        plain.append({**message, "content": "".join(part["text"] for part in parts)})
    return plain
