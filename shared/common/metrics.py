"""Every metric a deployment reports on a prediction, by name, and one way to record them.

Cog returns what a predictor records with `record_metric` in the prediction's `metrics`, beside Replicate's
own `predict_time`. Replicate bills some metrics by name (replicate/cog-flux `helpers/billing/metrics.py`
lists them: `image_output_count`, `token_input_count`, ...); the names here that Replicate's own FLUX and
language models also report keep their meaning (`image_output_count`, `input_token_count`,
`output_token_count`, `time_to_first_token`, `tokens_per_second`). A name missing from this table is a bug:
`record_metrics` refuses it, so a typo can't ship a metric nobody reads.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    name: str
    kind: type  # int or float: the value is converted, so JSON shows 3 rather than 3.0 for counts
    meaning: str


METRICS = {
    metric.name: metric
    for metric in (
        Metric("generation_time", float, "seconds from the start of the request to its last output"),
        Metric("time_to_first_token", float, "seconds until the first streamed token"),
        Metric("tokens_per_second", float, "decode speed after the first token"),
        Metric("input_token_count", int, "tokens in the prompt, chat template included"),
        Metric("output_token_count", int, "tokens generated"),
        Metric("peak_memory_mb", float, "peak VRAM on CUDA (peak process RSS on CPU) during the request, MiB"),
        Metric("image_output_count", int, "images returned (Replicate's billing metric for image models)"),
        Metric("recompiles", int, "graphs torch.compile built during the request: 0 unless a new image size"),
    )
}

RecordMetric = Callable[[str, float], None]


def record_metrics(record_metric: RecordMetric, values: Mapping[str, float]) -> None:
    """Record each named value with Cog's `record_metric`, as the kind the table gives it."""
    for name, value in values.items():
        metric = METRICS.get(name)
        if metric is None:
            raise KeyError(f"metric {name!r} is not in shared.common.metrics.METRICS; add it there with its meaning")
        record_metric(name, metric.kind(value))
