"""What the text predictors share around their model: input checks, and streaming with metrics and saved
answers."""

from collections.abc import Callable, Iterator

from shared.outputs import save_text
from shared.runtime import PredictionTimer
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
) -> Iterator[str]:
    """Stream the answer; then record Replicate-style metrics and write the answer under OUTPUT_DIR."""
    timer = PredictionTimer(generator.device)
    record_metric("input_token_count", inputs.prompt_tokens)
    pieces = []
    for piece in generator.stream(inputs, sampling):
        timer.first_output()
        pieces.append(piece)
        yield piece
    for key, value in timer.log(output_tokens=generator.last_output_tokens).items():
        record_metric(key, value)
    save_text("".join(pieces), save_as)
