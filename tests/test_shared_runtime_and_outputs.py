import logging

import torch

from shared.outputs import save_text
from shared.runtime import PredictionTimer, seed_everything


def test_same_seed_same_numbers():
    seed_everything(5)
    first = torch.rand(4)
    seed_everything(5)
    assert torch.equal(torch.rand(4), first)


def test_no_seed_picks_one_and_logs_it(caplog):
    with caplog.at_level(logging.INFO):
        seed = seed_everything(None)
    assert 0 <= seed < 2**31
    assert f"seed: {seed}" in caplog.text


def test_timer_reports_tokens_per_second_and_memory():
    timer = PredictionTimer(torch.device("cpu"))
    timer.first_output()
    metrics = timer.metrics(output_tokens=10)
    assert metrics["output_token_count"] == 10
    assert metrics["peak_memory_mb"] > 0
    assert 0 <= metrics["time_to_first_token"] <= metrics["generation_time"]


def test_text_is_saved_only_when_output_dir_is_set(tmp_path, monkeypatch):
    monkeypatch.delenv("OUTPUT_DIR", raising=False)
    assert save_text("hi", "x") is None
    monkeypatch.setenv("OUTPUT_DIR", str(tmp_path / "out"))
    first, second = save_text("héllo", "model"), save_text("again", "model")
    assert first.read_text(encoding="utf-8") == "héllo" and first != second
