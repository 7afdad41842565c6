"""A GPU-check stage stopped at the budget takes everything it started with it: on the GPU machine a leftover
Cog server and its coglet worker would hold VRAM through every later stage."""

import os
import signal
import sys
import time

import torch

from scripts.gpu import env
from scripts.gpu.processes import live_processes, run_captured, run_group, stat_fields

# A stage as the check starts one: a child in the stage's group (as CogServer starts coglet, whose worker stays
# in that group) and one that leaves it with setsid (a daemon); it writes their pids, then works on.
STAGE = """
import os, subprocess, sys, time
sleep = [sys.executable, "-c", "import time; time.sleep(600)"]
same_group = subprocess.Popen(sleep)
own_session = subprocess.Popen(sleep, start_new_session=True)
with open(sys.argv[1], "w") as pids:
    pids.write(f"{os.getpid()} {same_group.pid} {own_session.pid}")
"""
WORKS_ON = STAGE + "time.sleep(600)\n"


def pids_written(path) -> tuple[int, int, int]:
    stage, same_group, own_session = map(int, path.read_text().split())
    return stage, same_group, own_session


def test_a_stage_stopped_at_the_budget_leaves_no_process_of_its_group_behind(tmp_path):
    pids_file = tmp_path / "pids"
    start = time.monotonic()
    # 8 s: time for the stage to spawn both children before the kill, even on a loaded machine.
    returncode = run_group([sys.executable, "-c", WORKS_ON, str(pids_file)], timeout=8)
    elapsed = time.monotonic() - start
    stage, same_group, own_session = pids_written(pids_file)
    assert returncode is None, "past the budget: reported as stopped, not as an exit status"
    assert elapsed < 8 + 10, "sleeping processes end at SIGTERM, inside the grace"
    for pid in (stage, same_group, own_session):
        assert stat_fields(pid) is None, f"process {pid} survived"
    survivors = [pid for pid, (_, group, session) in live_processes().items() if stage in (group, session)]
    assert survivors == []


def test_what_a_finished_stage_left_in_its_group_is_stopped_too(tmp_path):
    pids_file = tmp_path / "pids"
    assert run_group([sys.executable, "-c", STAGE, str(pids_file)], timeout=60) == 0
    stage, same_group, own_session = pids_written(pids_file)
    try:
        assert stat_fields(same_group) is None, "a server the stage failed to stop outlived it"
        # One that left the session after its parent exited can't be told from anyone else's process.
        assert stat_fields(own_session) is not None
    finally:
        os.kill(own_session, signal.SIGKILL)


def test_a_hanging_child_is_reported_with_its_output_not_raised():
    start = time.monotonic()
    code, output = run_captured([sys.executable, "-c", "print('started', flush=True); import time; "
                                 "time.sleep(600)"], timeout=3)
    assert code is None and "started" in output
    assert time.monotonic() - start < 3 + 10
    assert run_group([sys.executable, "-c", "raise SystemExit(4)"], timeout=60) == 4


def test_the_env_stage_records_an_unsloth_probe_that_hangs(monkeypatch):
    monkeypatch.setattr(env, "PROBE_TIMEOUT_S", 2)
    monkeypatch.setattr(env, "UNSLOTH_PROBE", "import time; time.sleep(600)")
    assert env.unsloth_status(torch.device("cpu")).startswith("probe stopped: no answer in 2 s")
