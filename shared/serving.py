"""What the text predictors share around their model: input checks, and streaming with metrics and saved
answers."""

from collections.abc import Callable, Iterator
from contextlib import closing

from shared.metrics import record_metrics
from shared.outputs import save_text
from shared.runtime import PredictionTimer
from shared.stop_sequences import stop_at
from shared.text_generation import ChatInputs, Sampling, TextGenerator


def require_text(name: str, value: str) -> str:
    """Reject a blank string with an error that names the field (the schema already rejects "")."""
    if not value or not value.strip():
        raise ValueError(f"{name}: must contain text, got an empty or blank string")
    return value


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
