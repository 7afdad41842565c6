"""The CPU benchmark runs end to end and writes its report with the controls and the spread; its numbers are not
asserted (timings are not tests). One smoke-sized run of one LLM and the FLUX engine keeps it quick: the other
stages are the same code, run by tests/test_gpu_check_dry_run.py. Two of its three stages come from that dry run
(`--reuse`: the same stage code at the same size), the FLUX control is measured here."""

import json
import os
import shutil
import subprocess
import sys

from scripts.benchmarks.__main__ import reusable
from scripts.benchmarks.models import SMOKE, TINY
from scripts.harness.cog_server import REPO

REUSED = ("speed-smollm3", "speed-flux-int8")


def dry_run_result(dry_run: dict, name: str):
    return next(folder / f"{name}.json" for folder in dry_run["loans"] if (folder / f"{name}.json").exists())


def test_cpu_benchmark_writes_report_plot_and_stage_results(tmp_path, gpu_check_dry_run):
    reused = tmp_path / "dry-run"
    reused.mkdir()
    for name in REUSED:
        shutil.copy(dry_run_result(gpu_check_dry_run, name), reused)
    done = subprocess.run(
        [sys.executable, "-m", "scripts.benchmarks", "--docs", str(tmp_path), "--size", "smoke",
         "--stage", "speed-smollm3,speed-flux-eager,speed-flux-int8", "--reuse", str(reused)],
        cwd=REPO, capture_output=True, text=True, timeout=900,
        env={**os.environ, "BENCH_WORK": str(gpu_check_dry_run["work"])},  # its tiny models, linked once
    )
    assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-3000:])
    report = (tmp_path / "benchmarks.md").read_text()
    assert "| SmolLM3-3B (tiny) | HQQ 4-bit + compiled decode (cache 1024) | 32 |" in report
    assert "vs bf16 eager | vs bf16 compiled" in report and "Cog server overhead" in report
    assert "| int8 + compile + LoRA live |" in report
    assert (tmp_path / "benchmarks" / "cpu_ratios.png").stat().st_size > 10_000
    results = tmp_path / "benchmarks" / "cpu"
    rows = json.loads((results / "speed-smollm3.json").read_text())["rows"]
    by_variant = {row["variant"]: row for row in rows}
    assert set(by_variant) == {"bf16 eager", "bf16 + compiled decode", "HQQ 4-bit + compiled decode"}
    assert by_variant["HQQ 4-bit + compiled decode"]["weight_mb"] < by_variant["bf16 eager"]["weight_mb"]
    assert json.loads((results / "server-overhead.json").read_text())["http_ms"] > 0
    for name in REUSED:
        assert f"{name}: taken from {reused}" in done.stdout
        assert (results / f"{name}.json").read_bytes() == (reused / f"{name}.json").read_bytes()
    # The stage left to measure ran here, through the same in-process path the reused ones skipped.
    measured = json.loads((results / "speed-flux-eager.json").read_text())
    assert measured["complete"] and [r["variant"] for r in measured["rows"]] == ["bf16 eager"]
    assert measured["started"] >= json.loads((reused / "speed-flux-int8.json").read_text())["started"]


def test_only_a_complete_cpu_result_at_the_same_size_without_errors_is_reused():
    smoke = json.loads(json.dumps(SMOKE.__dict__, default=lambda size: size.__dict__))
    result = {"complete": True, "device": "cpu", "errors": [], "info": {"profile": smoke}}
    assert reusable(result, smoke)
    assert not reusable({**result, "complete": False}, smoke)
    assert not reusable({**result, "device": "cuda"}, smoke)
    assert not reusable({**result, "errors": [{"what": "bf16 eager", "error": "RuntimeError: x"}]}, smoke)
    tiny = json.loads(json.dumps(TINY.__dict__, default=lambda size: size.__dict__))
    assert not reusable(result, tiny)
    assert not reusable(None, smoke)
