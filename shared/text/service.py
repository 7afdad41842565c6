"""The one service every text predictor calls: `TextService.start(model)` in setup, `stream(request)` per request.

A deployment declares its model as a `TextModel` (weights, defaults, how it is loaded and optimized); the
service owns everything else: settings read once, weights resolved, the generator built and warmed up, and per
request the input checks, seeding, chat template, streaming, stop sequences, metrics and the saved answer.
"""

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import aclosing, closing
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch

from shared.common.compile_cache import CompileCache
from shared.common.input_images import load_image
from shared.common.inputs import MAX_CHARS_PER_TOKEN, require_text
from shared.common.metrics import record_metrics
from shared.common.model_source import ModelSource
from shared.common.outputs import save_text
from shared.common.runtime import PredictionTimer, begin_setup, request_seed
from shared.common.setup_stages import SetupStages
from shared.optim.served_weights import ServedWeights, ServedWeightsError, recipe
from shared.text.batching import BatchEngine
from shared.text.generator import (
    ChatInputs,
    ContextTooLongError,
    IncrementalDetokenizer,
    TextGenerator,
    Usage,
    chat_messages,
)
from shared.text.loading import load_causal_lm
from shared.text.reasoning import AnswerOnly
from shared.text.sampling import Sampling
from shared.text.settings import TextSettings
from shared.text.stop_sequences import StopSequenceFilter, parse_stop_sequences

RecordMetric = Callable[[str, float], None]
logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class TextModel:
    """What a text deployment declares. Subclass it to change how the model is loaded or optimized (README,
    "Adding a deployment"); the benchmarks call the same `optimize` on their real-size models.

    `keep_tokens`: special tokens the user sees (`<think>`); `system_in_user_turn`: the template replaces any
    system message with its own, so a system prompt joins the user turn; `reasoning`: the answer follows a
    `<think>` trace that `show_reasoning` can hide.
    """

    name: str
    source: ModelSource
    defaults: TextSettings
    keep_tokens: tuple[str, ...] = ()
    system_in_user_turn: bool = False
    reasoning: bool = False

    def load(self, weights: Path, device: torch.device, settings: TextSettings, with_weights: bool = True):
        """(model, tokenizer or processor, settings): the settings may change with what was loaded.
        `with_weights=False`: the architecture alone (parameters on the meta device), for a saved served model."""
        model, tokenizer = load_causal_lm(weights, torch.bfloat16, device, with_weights)
        return model, tokenizer, settings

    def optimize(self, model, device: torch.device, settings: TextSettings):
        """The model as served: quantized, pruned... The same on any device, so `make weights-<name>` saves it when
        `served_variant` names it; otherwise (or when the saved one doesn't match) it runs at setup."""
        return model

    def served_variant(self, settings: TextSettings) -> Mapping[str, object] | None:
        """What `optimize` does with these settings, as a saved served model records it; None: nothing worth
        saving (it leaves the weights as they are)."""
        return None

    def on_device(self, model, device: torch.device, settings: TextSettings):
        """What runs after `optimize` (or after loading its saved result) at every boot: kernel layouts that
        depend on the device."""
        return model

    def text_decoder(self, model):
        """The causal LM the batch engine decodes, over the served weights: the model itself, or its text part
        when the engine can't take the whole (it reads token ids only)."""
        return model


@dataclass(frozen=True, kw_only=True)
class TextRequest:
    """One request's inputs, as the predictor received them."""

    prompt: str
    system_prompt: str = ""
    image: Path | None = None
    max_new_tokens: int
    temperature: float
    top_p: float = 1.0
    top_k: int = 0
    stop_sequences: str = ""
    seed: int | None = None
    template: Mapping[str, object] | None = None  # chat-template switches (SmolLM3's enable_thinking)
    show_reasoning: bool = True


class TextService:
    """`batch`: the engine that decodes concurrent requests together; None when the container admits one at a
    time (COG_MAX_CONCURRENCY 1), or when the model can't batch."""

    def __init__(self, model: TextModel, generator: TextGenerator, output_dir: Path | None = None,
                 batch: BatchEngine | None = None):
        self.model = model
        self.generator = generator
        self.output_dir = output_dir  # answers are also written here (OUTPUT_DIR)
        self.batch = batch
        self.in_flight = 0  # requests streaming now; changed on the event loop only
        # One tokenizer call at a time, off the event loop: a long prompt takes a while, and a fast tokenizer
        # must not be called from two threads at once ("Already borrowed").
        self.tokenizing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tokenize")

    @classmethod
    def start(cls, model: TextModel, environ: Mapping[str, str] = os.environ) -> "TextService":
        """setup(): settings read once, weights resolved, the model loaded, optimized, compiled and warmed up."""
        setup = begin_setup(environ)
        stages = SetupStages(model.name)
        compile_cache = CompileCache(setup.runtime.compile_cache, setup.device)
        compile_cache.load(stages)
        settings = TextSettings.from_env(environ, model.defaults)
        with stages.stage("resolve"):
            weights = model.source.resolve(setup.token, setup.runtime)
        loaded, tokenizer, settings = load_served(model, weights, setup.device, settings,
                                                  setup.runtime.served_weights_dir, stages)
        with stages.warm_up():
            generator = TextGenerator(
                loaded, tokenizer, setup.device, settings,
                keep_tokens=model.keep_tokens, system_in_user_turn=model.system_in_user_turn,
            )
            generator.warm_up()
        batch = None
        if settings.max_requests > 1:
            with stages.stage("batch engine"):
                batch = BatchEngine(model.text_decoder(loaded), generator.end_of_turn_ids(), settings)
                batch.warm_up()
        compile_cache.save(stages)
        stages.finish(setup.runtime.setup_report)
        return cls(model, generator, setup.runtime.output_dir, batch)

    async def stream(self, request: TextRequest, record_metric: RecordMetric) -> AsyncIterator[str]:
        """Check the inputs, then stream the answer; record Replicate-style metrics and save the answer.

        A request that arrives while others stream joins them in the batch engine; one alone (and any with an
        image, which the engine can't take) decodes on the compiled static cache, the fastest path for one.
        For an `async` predictor: coglet 0.23.1 sends what it yields when it ends
        (docs/upstream/coglet-async-generator-output.md).
        """
        encode, seed, stops = self._prepare(request)
        chat = await asyncio.wrap_future(self.tokenizing.submit(encode))
        answer, sampling, usage = self._admit(request, chat, stops, record_metric)
        batched = self.batch is not None and self.in_flight > 0 and not chat.has_pixels
        logger.info("engine: %s (%d other requests streaming)", "batch" if batched else "single request",
                    self.in_flight)
        raw = self._batched(chat, sampling, seed, usage) if batched else self.generator.astream(
            chat, sampling, usage, seed)
        self.in_flight += 1
        try:
            # aclosing(): a stop sequence ends the loop early, and generation must stop with it, not run on.
            async with aclosing(raw):
                async for piece in raw:
                    if text := answer.feed(piece):
                        yield text
                    if answer.stopped:
                        break
            if text := answer.rest():
                yield text
        finally:
            self.in_flight -= 1
        answer.finish(usage)

    def stream_one_at_a_time(self, request: TextRequest, record_metric: RecordMetric) -> Iterator[str]:
        """`stream` for a sync predictor, which takes one request at a time: coglet sends each piece as it is
        yielded, and a cancel (raised in this thread) stops generation within a few tokens."""
        encode, seed, stops = self._prepare(request)
        chat = self.tokenizing.submit(encode).result()
        answer, sampling, usage = self._admit(request, chat, stops, record_metric)
        logger.info("engine: single request (one request at a time)")
        # closing(): a stop sequence or a cancel ends the loop early, and generation must stop with it.
        with closing(self.generator.stream(chat, sampling, usage, seed)) as raw:
            for piece in raw:
                if text := answer.feed(piece):
                    yield text
                if answer.stopped:
                    break
        if text := answer.rest():
            yield text
        answer.finish(usage)

    def _prepare(self, request: TextRequest) -> tuple[Callable[[], ChatInputs], int, tuple[str, ...]]:
        """The checks before the tokenizer; the request's tokenizer call, seed and stop sequences."""
        require_text("prompt", request.prompt)
        stops = parse_stop_sequences(request.stop_sequences)
        refuse_text_past_context(self.generator.max_context, prompt=request.prompt,
                                 system_prompt=request.system_prompt)
        picture = load_image(request.image, "image") if request.image else None
        seed = request_seed(request.seed)
        messages = chat_messages(request.prompt, request.system_prompt, picture)
        return partial(self.generator.encode_chat, messages, **(request.template or {})), seed, stops

    def _admit(self, request: TextRequest, chat: ChatInputs, stops: tuple[str, ...], record_metric: RecordMetric):
        """The tokenized request checked against the context window; the answer it will stream into."""
        sampling = Sampling(request.max_new_tokens, request.temperature, request.top_p, request.top_k)
        self.generator.check_fits(chat.prompt_tokens, sampling.max_new_tokens, chat.fields)
        record_metrics(record_metric, {"input_token_count": chat.prompt_tokens})
        answer = _Answer(self, request, stops, record_metric)
        return answer, sampling, Usage()

    async def _batched(self, chat: ChatInputs, sampling: Sampling, seed: int, usage: Usage) -> AsyncIterator[str]:
        pieces: list[str] = []
        detokenizer = IncrementalDetokenizer(self.generator.tokenizer, self.generator.keep_tokens, _Collect(pieces))
        ids = chat.tensors["input_ids"][0].tolist()
        try:
            async for new in self.batch.stream_tokens(ids, sampling, seed, self.generator.device):
                detokenizer.add(new)
                while pieces:
                    yield pieces.pop(0)
            detokenizer.end()
            while pieces:
                yield pieces.pop(0)
        finally:
            usage.output_tokens = detokenizer.generated


class _Answer:
    """One request's answer as its client sees it: the reasoning hidden when asked, cut at the first stop
    sequence, timed, and saved with its metrics at the end."""

    def __init__(self, service: TextService, request: TextRequest, stops: tuple[str, ...],
                 record_metric: RecordMetric):
        self.service = service
        self.record_metric = record_metric
        self.timer = PredictionTimer(service.generator.device)
        # Stop sequences apply to what the user sees, so a stop word inside hidden reasoning can't end an
        # answer that never started.
        self.answer_only = AnswerOnly() if service.model.reasoning and not request.show_reasoning else None
        self.stop = StopSequenceFilter(stops)
        self.pieces: list[str] = []

    @property
    def stopped(self) -> bool:
        return self.stop.stopped

    def feed(self, piece: str) -> str:
        text = self.stop.feed(self.answer_only.feed(piece) if self.answer_only else piece)
        if text:
            self.timer.first_output()
            self.pieces.append(text)
        return text

    def rest(self) -> str:
        """What the filters still hold once generation has ended ("" after a stop sequence)."""
        if self.stop.stopped:
            return ""
        text = (self.stop.feed(self.answer_only.flush()) if self.answer_only else "") + self.stop.flush()
        if text:
            self.pieces.append(text)
        return text

    def finish(self, usage: Usage) -> None:
        record_metrics(self.record_metric, self.timer.log(output_tokens=usage.output_tokens))
        save_text("".join(self.pieces), self.service.model.name, self.service.output_dir)


class _Collect:
    def __init__(self, pieces: list[str]):
        self.pieces = pieces

    def put(self, piece: str) -> None:
        self.pieces.append(piece)


def refuse_text_past_context(max_context: int, **texts: str) -> None:
    """Refuse chat text that can't fit the context window, before the tokenizer reads it.

    Tokenizing costs time in proportion to the text (~19 s for 5.6M tokens) and holds the only slot; the
    exact check after tokenizing (TextGenerator.check_fits) would refuse such a prompt anyway. This one counts
    characters: more than `max_context` tokens' worth at MAX_CHARS_PER_TOKEN (shared/common/inputs.py: a
    generous average, 3-4 times that of prose) can't fit, whatever the tokenizer makes of it.
    `texts` are the inputs by name (`prompt=..., system_prompt=...`); the error names those given.
    """
    limit = max_context * MAX_CHARS_PER_TOKEN
    total = sum(len(text) for text in texts.values())
    if total > limit:
        fields = ", ".join(name for name, text in texts.items() if text)
        raise ContextTooLongError(
            f"{fields}: {total} characters can't fit the {max_context}-token context window (at most {limit} "
            f"characters, {MAX_CHARS_PER_TOKEN} per token); shorten the text"
        )


def served_weights(model: TextModel, weights: Path, settings: TextSettings, folder: Path):
    """(the saved served model's folder, the recipe it must match), or None when the model saves nothing."""
    variant = model.served_variant(settings)
    if variant is None:
        return None
    return ServedWeights(folder / model.name), recipe(model.name, weights, variant)


def load_served(model: TextModel, weights: Path, device: torch.device, settings: TextSettings, folder: Path,
                stages: SetupStages):
    """(model as served, tokenizer, settings): the saved served model when it matches this boot, else the
    weights loaded and optimized now; the log says which, and why."""
    saved = served_weights(model, weights, settings, folder)
    reason = "this deployment saves no served model" if saved is None else saved[0].mismatch(saved[1])
    loaded = None
    if reason is None:
        with stages.stage("load"):
            empty, tokenizer, settings = model.load(weights, device, settings, with_weights=False)
            try:
                loaded = saved[0].load_into(empty, device)
                logger.info("served weights: loaded the saved %s model (%s)", model.name, saved[0].directory)
            except ServedWeightsError as error:
                reason = str(error)
    if loaded is None:
        if saved is not None:  # a save that can't be used is worth a warning; none at all is the default
            log = logger.warning if saved[0].exists() else logger.info
            log("served weights: optimizing at boot: %s", reason)
        with stages.stage("load"):
            loaded, tokenizer, settings = model.load(weights, device, settings)
        with stages.stage("optimize"):  # quantize, prune: whatever the model declares
            loaded = model.optimize(loaded, device, settings)
    with stages.stage("on device"):
        loaded = model.on_device(loaded, device, settings)
    return loaded, tokenizer, settings


def save_served(model: TextModel, environ: Mapping[str, str] = os.environ) -> Path | None:
    """`make weights-<name>`: optimize the weights once and save the result where setup looks for it. None when
    the deployment saves nothing with these settings."""
    setup = begin_setup(environ)
    settings = TextSettings.from_env(environ, model.defaults)
    weights = model.source.resolve(setup.token, setup.runtime)
    saved = served_weights(model, weights, settings, setup.runtime.served_weights_dir)
    if saved is None:
        logger.info("%s: nothing to save (its settings leave the weights as they are)", model.name)
        return None
    loaded, _, settings = model.load(weights, setup.device, settings)
    return saved[0].save(model.optimize(loaded, setup.device, settings), saved[1])
