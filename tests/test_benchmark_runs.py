"""The CPU benchmark runs end to end and writes its report with the controls and the spread; its numbers are not
asserted (timings are not tests). One smoke-sized run of one LLM and the FLUX engine keeps it quick: the other
stages are the same code, run by tests/test_gpu_check_dry_run.py."""

import json
import os
import subprocess
import sys

from scripts.harness.cog_server import REPO


def test_cpu_benchmark_writes_report_plot_and_stage_results(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "scripts.benchmarks", "--docs", str(tmp_path), "--size", "smoke",
         "--stage", "speed-smollm3,speed-flux-eager,speed-flux-int8"],
        cwd=REPO, check=True, capture_output=True, timeout=900,
        env={**os.environ, "BENCH_WORK": str(tmp_path / "work")},
    )
    report = (tmp_path / "benchmarks.md").read_text()
    assert "| SmolLM3-3B (tiny) | HQQ 4-bit + compiled decode (cache 1024) | 32 |" in report
    assert "vs bf16 eager | vs bf16 compiled" in report and "Cog server overhead" in report
    assert "| int8 + compile + LoRA live |" in report
    assert (tmp_path / "benchmarks" / "cpu_ratios.png").stat().st_size > 10_000
    rows = json.loads((tmp_path / "benchmarks" / "cpu" / "speed-smollm3.json").read_text())["rows"]
    by_variant = {row["variant"]: row for row in rows}
    assert set(by_variant) == {"bf16 eager", "bf16 + compiled decode", "HQQ 4-bit + compiled decode"}
    assert by_variant["HQQ 4-bit + compiled decode"]["weight_mb"] < by_variant["bf16 eager"]["weight_mb"]
    assert json.loads((tmp_path / "benchmarks" / "cpu" / "server-overhead.json").read_text())["http_ms"] > 0
