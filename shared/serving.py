"""What the text predictors share around their model: input checks, and streaming with metrics and saved
answers."""

from collections.abc import Callable, Iterator

from shared.metrics import record_metrics
from shared.outputs import save_text
from shared.runtime import PredictionTimer
from shared.text_generation import Sampling, TextGenerator


def require_text(name: str, value: str) -> str:
    """Reject a blank string with an error that names the field (the schema already rejects "")."""
    if not value or not value.strip():
        raise ValueError(f"{name}: must contain text, got an empty or blank string")
    return value


def stream_text(
    generator: TextGenerator,
    model_inputs,
    sampling: Sampling,
    record_metric: Callable[[str, float], None],
    save_as: str,
) -> Iterator[str]:
    """Stream the answer; then record Replicate-style metrics and write the answer under OUTPUT_DIR."""
    timer = PredictionTimer(generator.device)
    input_ids = model_inputs["input_ids"] if isinstance(model_inputs, dict) else model_inputs
    record_metrics(record_metric, {"input_token_count": input_ids.shape[1]})
    pieces = []
    for piece in generator.stream(model_inputs, sampling):
        timer.first_output()
        pieces.append(piece)
        yield piece
    record_metrics(record_metric, timer.log(output_tokens=generator.last_output_tokens))
    save_text("".join(pieces), save_as)
