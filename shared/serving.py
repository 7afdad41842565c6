"""What the text predictors share around their model: input checks, and streaming with metrics and saved
answers."""

from collections.abc import Callable, Iterator
from contextlib import closing

from shared.inputs import MAX_CHARS_PER_TOKEN
from shared.metrics import record_metrics
from shared.outputs import save_text
from shared.runtime import PredictionTimer
from shared.stop_sequences import stop_at
from shared.text_generation import ChatInputs, ContextTooLongError, Sampling, TextGenerator


def require_text(name: str, value: str) -> str:
    """Reject a blank string with an error that names the field (the schema already rejects "")."""
    if not value or not value.strip():
        raise ValueError(f"{name}: must contain text, got an empty or blank string")
    return value


def refuse_text_past_context(max_context: int, **texts: str) -> None:
    """Refuse chat text that can't fit the context window, before the tokenizer reads it.

    Tokenizing costs time in proportion to the text (~19 s for 5.6M tokens) and holds the only slot; the
    exact check after tokenizing (TextGenerator.check_fits) would refuse such a prompt anyway. This one counts
    characters: more than `max_context` tokens' worth at MAX_CHARS_PER_TOKEN (shared/inputs.py: a generous
    average, 3-4 times that of prose) can't fit, whatever the tokenizer makes of it.
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


def stream_text(
    generator: TextGenerator,
    inputs: ChatInputs,
    sampling: Sampling,
    record_metric: Callable[[str, float], None],
    save_as: str,
    stop_sequences: tuple[str, ...] = (),
    shape: Callable[[Iterator[str]], Iterator[str]] | None = None,
) -> Iterator[str]:
    """Stream the answer; then record Replicate-style metrics and write the answer under OUTPUT_DIR.

    `shape` turns the raw text into what the user sees (Phi-4 hides its reasoning); stop sequences apply to
    that visible text, so a stop word inside hidden reasoning can't end an answer that never started.
    """
    timer = PredictionTimer(generator.device)
    record_metrics(record_metric, {"input_token_count": inputs.prompt_tokens})
    pieces = []
    # closing(): a stop sequence ends the loop early, and generation must stop with it, not run on.
    with closing(generator.stream(inputs, sampling)) as raw:
        for piece in stop_at(shape(raw) if shape else raw, stop_sequences):
            timer.first_output()
            pieces.append(piece)
            yield piece
    record_metrics(record_metric, timer.log(output_tokens=generator.last_output_tokens))
    save_text("".join(pieces), save_as)
