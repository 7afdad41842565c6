"""One table of metric names: recording converts to the metric's kind and refuses names it doesn't know."""

import pytest

from shared.common.metrics import METRICS, record_metrics
from shared.common.runtime import PredictionTimer


def test_known_metrics_are_recorded_as_their_kind():
    recorded = {}
    record_metrics(recorded.__setitem__, {"image_output_count": 2.0, "generation_time": 1, "recompiles": 0})
    assert recorded == {"image_output_count": 2, "generation_time": 1.0, "recompiles": 0}
    assert type(recorded["image_output_count"]) is int and type(recorded["generation_time"]) is float


def test_an_unknown_metric_is_refused_before_it_ships():
    with pytest.raises(KeyError, match="'images_out' is not in shared.common.metrics.METRICS"):
        record_metrics(lambda name, value: None, {"images_out": 1})


def test_every_metric_the_timer_reports_is_named():
    import torch

    timer = PredictionTimer(torch.device("cpu"))
    timer.first_output()
    assert set(timer.metrics(output_tokens=5)) <= set(METRICS)
