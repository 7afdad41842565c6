"""Setup's stage timer: the stages in the order they ran, compile split out of a lazily compiling warm-up, one
log line, and the JSON report where SETUP_REPORT points."""

import json
import logging

import pytest
import torch

from shared.common.settings import RuntimeSettings
from shared.common.setup_stages import SetupStages, compile_seconds


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_stages_add_up_in_order_and_the_warm_up_splits_out_its_compile_time(tmp_path, caplog):
    wall, compiling = Clock(), Clock()
    stages = SetupStages("tiny", clock=wall, compile_clock=compiling)
    with stages.stage("resolve"):
        wall.now += 0.25
    with stages.stage("load"):
        wall.now += 2.0
    with stages.warm_up():
        wall.now += 10.0
        compiling.now += 8.5
    with stages.stage("load"):  # a stage entered again adds up
        wall.now += 1.0
    caplog.set_level(logging.INFO, logger="shared.common.setup_stages")
    report = stages.finish(tmp_path / "reports" / "setup.json")
    assert report == {"deployment": "tiny", "total_s": 13.25,
                      "stages_s": {"resolve": 0.25, "load": 3.0, "compile": 8.5, "warm-up": 1.5}}
    assert list(report["stages_s"]) == ["resolve", "load", "compile", "warm-up"]
    assert caplog.messages == ["setup stages: resolve 0.2 s, load 3.0 s, compile 8.5 s, warm-up 1.5 s, total 13.2 s"]
    assert json.loads((tmp_path / "reports" / "setup.json").read_text()) == report


def test_a_failing_stage_is_still_timed_and_nothing_is_written_without_a_path(tmp_path):
    wall = Clock()
    stages = SetupStages("tiny", clock=wall, compile_clock=Clock())
    with pytest.raises(RuntimeError), stages.stage("load"):
        wall.now += 1.0
        raise RuntimeError("weights missing")
    assert stages.finish(None)["stages_s"] == {"load": 1.0}
    assert not list(tmp_path.iterdir())


def test_the_compile_clock_reads_dynamos_own_compile_time():
    before = compile_seconds()
    torch.compile(lambda x: torch.sin(x) + 1, backend="eager")(torch.ones(3))
    assert compile_seconds() > before


def test_setup_report_is_read_from_the_environment(tmp_path):
    assert RuntimeSettings.from_env({}).setup_report is None
    assert RuntimeSettings.from_env({"SETUP_REPORT": str(tmp_path / "s.json")}).setup_report == tmp_path / "s.json"
