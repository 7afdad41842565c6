import logging

import torch

from shared.common.outputs import save_text
from shared.common.runtime import PredictionTimer, seed_everything
from shared.common.settings import RuntimeSettings


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
    assert save_text("hi", "x", RuntimeSettings.from_env({}).output_dir) is None
    directory = RuntimeSettings.from_env({"OUTPUT_DIR": str(tmp_path / "out")}).output_dir
    first, second = save_text("héllo", "model", directory), save_text("again", "model", directory)
    assert first.read_text(encoding="utf-8") == "héllo" and first != second
