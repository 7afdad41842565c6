"""The CPU benchmark runs end to end and writes its report; its numbers are not asserted (timings are not tests)."""

import json
import subprocess
import sys

from scripts.cog_server import REPO


def test_cpu_benchmark_writes_report_plot_and_results(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "scripts.benchmark", "--docs", str(tmp_path), "--new-tokens", "8"],
        cwd=REPO, check=True, capture_output=True, timeout=900,
    )
    report = (tmp_path / "benchmarks.md").read_text()
    assert "SmolLM3-3B (tiny) | HQQ 4-bit + compiled decode" in report and "Cog server overhead" in report
    assert (tmp_path / "benchmarks" / "cpu_ratios.png").stat().st_size > 10_000
    results = json.loads((tmp_path / "benchmarks" / "cpu_results.json").read_text())
    by_variant = {row["variant"]: row for row in results["llm"]}
    assert by_variant["INT8 weight-only"]["weight_mb"] < by_variant["bf16 eager"]["weight_mb"]
