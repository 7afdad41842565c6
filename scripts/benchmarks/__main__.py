"""CPU benchmarks on the tiny models: every optimization against bf16 controls measured in the same run.

    python -m scripts.benchmarks [--docs docs] [--size tiny|smoke] [--runs 5] [--stage speed] [--report-only]
                                 [--reuse DIR]   # stages measured there at the same size are copied, not rerun
    python -m scripts.benchmarks --gpu      # = python -m scripts.gpu.check --stage speed,report (real size, CUDA)

The measuring is the GPU check's speed stages (scripts/benchmarks, run through scripts.gpu.check on the CPU):
LLMs bf16 eager / bf16 + compiled decode / optimized at two context lengths, FLUX bf16 eager / bf16 + compile /
each quantization the CPU runs + compile + a LoRA live; min, median and max of 5 runs; static caches sized as
deployed. Each stage's JSON lands in docs/benchmarks/cpu/ as it is measured; then the Cog server's overhead per
request is measured, and docs/benchmarks.md + its plot are written from the JSON.
"""

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import time
from dataclasses import asdict
from pathlib import Path

from scripts.benchmarks.tables import decode_table, error_lines, image_table, speedup
from scripts.gpu import check
from scripts.gpu.report import gather
from scripts.gpu.results import load, result_path
from scripts.gpu.stages import select

DEFAULT_DOCS = Path(__file__).resolve().parents[2] / "docs"


async def drain(pieces) -> str:
    return "".join([piece async for piece in pieces])


def server_overhead(tiny_smollm3: Path, requests: int = 8) -> dict:
    """The Cog server's cost per request: the same SmolLM3 request through HTTP and as a direct call."""
    import torch

    from scripts.harness.cog_server import CogServer
    from scripts.harness.deployment_predictor import predictor_class

    env = {"SMOLLM3_MODEL_DIR": str(tiny_smollm3), "MAX_CONTEXT_TOKENS": "1024", "DEVICE": "cpu"}
    args = dict(prompt="Hello", system_prompt="", mode="no_think", max_new_tokens=8, temperature=0.0,
                top_p=1.0, top_k=0, stop_sequences="", seed=0)
    os.environ.update(env)
    predictor = predictor_class("smollm3")()
    predictor.setup()
    direct = []
    for _ in range(requests):
        start = time.perf_counter()
        asyncio.run(drain(predictor.run(**args)))  # run() is an async generator, as coglet drives it
        direct.append(time.perf_counter() - start)
    del predictor
    torch._dynamo.reset()
    http = []
    with CogServer("smollm3", env) as server:
        for _ in range(requests):
            start = time.perf_counter()
            assert server.predict(**args)["status"] == "succeeded"
            http.append(time.perf_counter() - start)
    result = {"direct_ms": 1000 * statistics.median(direct), "http_ms": 1000 * statistics.median(http)}
    result["overhead_ms"] = result["http_ms"] - result["direct_ms"]
    print(result, flush=True)
    return result


def plot(text_rows: list[dict], image_rows: list[dict], path: Path) -> None:
    """The optimized paths against both controls: speed (higher is better) and weight bytes (lower)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels, vs_eager, vs_compiled, weights = [], [], [], []
    for row in text_rows:
        if row["role"] != "optimized" or row["context_tokens"] != max(r["context_tokens"] for r in text_rows):
            continue
        eager = next(r for r in text_rows if r["model"] == row["model"] and r["variant"] == "bf16 eager")
        labels.append(f"{row['model']}\n{row['variant']} ({row['context_tokens']} tokens)")
        vs_eager.append(speedup(text_rows, row, "bf16 eager") or float("nan"))
        vs_compiled.append(speedup(text_rows, row, "bf16 + compiled decode") or float("nan"))
        weights.append(row["weight_mb"] / eager["weight_mb"])
    by_variant = {r["variant"]: r for r in image_rows}
    for row in image_rows:
        if row["role"] == "optimized" and "bf16 eager" in by_variant:
            labels.append(f"FLUX.1-dev (tiny)\n{row['variant']}")
            vs_eager.append(by_variant["bf16 eager"]["s_per_image"]["median"] / row["s_per_image"]["median"])
            compiled = by_variant.get("bf16 + compile")
            vs_compiled.append(compiled["s_per_image"]["median"] / row["s_per_image"]["median"] if compiled
                               else float("nan"))
            weights.append(float("nan"))
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.9 * len(labels) + 1.5))
    positions = range(len(labels))
    axes[0].barh([p + 0.2 for p in positions], vs_eager, height=0.4, label="vs bf16 eager", color="#4c72b0")
    axes[0].barh([p - 0.2 for p in positions], vs_compiled, height=0.4, label="vs bf16 compiled", color="#dd8452")
    axes[0].set_yticks(list(positions), labels, fontsize=8)
    axes[0].axvline(1.0, color="black", linewidth=0.8)
    axes[0].set_title("speed vs the controls, medians (higher is better)", fontsize=10)
    axes[0].legend(fontsize=8)
    axes[1].barh(list(positions), weights, color="#55a868")
    axes[1].set_yticks(list(positions), [""] * len(labels))
    axes[1].axvline(1.0, color="black", linewidth=0.8)
    axes[1].set_title("weight bytes vs bf16 (lower is better)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def machine() -> str:
    import torch

    return f"CPU {platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}"


def kept_section(report: Path, heading: str) -> list[str]:
    """A section another benchmark writes (`python -m scripts.benchmarks.flux_compile` for the cold start),
    carried over from the report as it stands, so regenerating this one doesn't drop it."""
    if not report.exists():
        return []
    lines = report.read_text().splitlines()
    if heading not in lines:
        return []
    start = lines.index(heading)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    section = lines[start:end]
    while section[-1] == "":
        section.pop()
    return [*section, ""]


def write_report(results: dict, overhead: dict | None, swap_table: str, docs: Path, profile: dict) -> Path:
    text_rows = [r for name, data in results.items() if name.startswith("speed-") and "flux" not in name
                 for r in data["rows"]]
    image_rows = [r for name, data in results.items() if name.startswith("speed-flux") for r in data["rows"]]
    errors = [{**e, "what": f"{name}: {e['what']}"} for name, data in results.items() for e in data["errors"]]
    plot(text_rows, image_rows, docs / "benchmarks" / "cpu_ratios.png")
    image = profile["image"]
    lines = [
        "# Benchmarks (CPU)",
        "",
        f"Machine: {machine()}. Generated by `python -m scripts.benchmarks` (`make bench`) with the GPU check's "
        "speed stages on the tiny models (raw results: [benchmarks/cpu/](benchmarks/cpu/)). Every optimized path "
        "is compared with two controls measured in the same run: bf16 eager and bf16 with the same compiled "
        "decode step (so quantization doesn't get credit for what compilation did). Figures are the median of "
        f"{profile['runs']} timed runs, with min-max; static KV caches are sized as deployed.",
        "",
        "These are tiny random-weight models on a shared 2-core CPU: the tables check that every path runs and "
        "what it does to weight bytes. Speed ratios here say little about a GPU with billion-parameter layers "
        "(quantized kernels are GPU kernels; here their overhead dominates, and so does Python's per-token work). "
        "Real-size GPU figures: [benchmarks-gpu.md](benchmarks-gpu.md).",
        "",
        "![ratios](benchmarks/cpu_ratios.png)",
        "",
        "## Language models (batch 1, greedy)",
        "",
        *(decode_table(text_rows) if text_rows else ["Not measured."]),
        "",
        "Peak memory on CPU is the process's peak RSS so far (it only grows).",
        "",
        f"## FLUX.1-dev (tiny pipeline, {image['side']}x{image['side']}, {image['steps']} steps)",
        "",
        "The engine's setup includes quantization, the LoRA slots, compilation and warm-up of both pipelines; a "
        "different LoRA is hot-swapped in before each timed image.",
        "",
        *(image_table(image_rows) if image_rows else ["Not measured."]),
        "",
        "## LoRA switching on the compiled transformer",
        "",
        swap_table,
        "",
    ]
    lines += kept_section(docs / "benchmarks.md", "## Cold start")
    if overhead:
        lines += [
            "## Cog server overhead per request",
            "",
            f"SmolLM3 tiny, 8 new tokens: direct `Predictor.run` {overhead['direct_ms']:.1f} ms, through "
            f"`python -m cog.server.http` over HTTP {overhead['http_ms']:.1f} ms: **{overhead['overhead_ms']:.1f} "
            "ms** of server, worker IPC and JSON per request (medians of 8).",
            "",
        ]
    if errors:
        lines += ["## Errors", "", *error_lines(errors), ""]
    report = docs / "benchmarks.md"
    report.write_text("\n".join(lines))
    return report


def reusable(data: dict | None, profile: dict) -> bool:
    """A stage result measured elsewhere stands for this run's when it is complete, without errors, on the CPU,
    at the same profile (sizes, runs, LoRA ranks): the GPU check's CPU dry run runs the same stage code."""
    return bool(data and data.get("complete") and not data.get("errors") and data.get("device") == "cpu"
                and data.get("info", {}).get("profile") == profile)


def reuse(stages: list[str], folders: list[Path], out: Path, profile: dict) -> list[str]:
    """Copy into `out` each of `stages` that a folder holds reusable; returns the stages left to measure."""
    left = []
    for name in stages:
        source = next((f for f in folders if reusable(load(f, name), profile)), None)
        if source is None:
            left.append(name)
            continue
        out.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(result_path(source, name), result_path(out, name))
        print(f"{name}: taken from {source} (measured there at this size)", flush=True)
    return left


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpu", action="store_true", help="real-size stages on CUDA (python -m scripts.gpu.check)")
    parser.add_argument("--docs", type=Path, default=DEFAULT_DOCS, help="where the report, plot and JSON go")
    parser.add_argument("--size", choices=("tiny", "smoke"), default="tiny", help="smoke: one short run of each")
    parser.add_argument("--runs", type=int, help="timed runs per figure (default 5)")
    parser.add_argument("--stage", default="speed", help="which speed stages (python -m scripts.gpu.check --list)")
    parser.add_argument("--no-server-overhead", action="store_true", help="skip the Cog server overhead")
    parser.add_argument("--report-only", action="store_true", help="render the report from the JSON already there")
    parser.add_argument("--reuse", type=Path, action="append", default=[], help="a folder of stage JSON measured "
                        "on the CPU at the same --size and --runs (the GPU check's CPU dry run): stages complete "
                        "there without errors are copied instead of measured")
    args = parser.parse_args()
    if args.gpu:
        raise SystemExit(check.main(["--stage", "speed,report", "--device", "cuda"]))
    out = args.docs / "benchmarks" / "cpu"
    work = Path(os.environ.get("BENCH_WORK", "/tmp/benchmark-cpu"))
    stage_args = ["--device", "cpu", "--size", args.size, "--out", str(out), "--work", str(work), "--in-process",
                  "--force"]
    if args.runs:
        stage_args += ["--runs", str(args.runs)]
    overhead_file = out / "server-overhead.json"
    if not args.report_only:
        stages = args.stage
        if args.reuse:
            from scripts.benchmarks.models import PROFILES

            # As the stage JSON holds it: tuples are lists there.
            profile = json.loads(json.dumps(asdict(PROFILES[args.size].with_overrides(runs=args.runs))))
            try:
                selected = [stage.name for stage in select(args.stage)]
            except ValueError as error:
                raise SystemExit(str(error)) from None
            stages = ",".join(reuse(selected, args.reuse, out, profile))
        if stages:  # an empty --stage would mean every stage
            check.main(["--stage", stages, *stage_args])
        if not args.no_server_overhead:
            from scripts.gpu.workdir import Workdir

            overhead_file.write_text(json.dumps(server_overhead(Workdir(work).tiny("smollm3")), indent=1) + "\n")
    results = {name: data for name, data in gather([out]).items() if name.startswith("speed-")}
    overhead = json.loads(overhead_file.read_text()) if overhead_file.exists() and not args.no_server_overhead \
        else None
    swap_file = DEFAULT_DOCS / "benchmarks" / "lora_swap_cpu.md"
    swap_table = "\n".join(line for line in swap_file.read_text().splitlines() if line.startswith("|")) \
        if swap_file.exists() else "(run `python -m scripts.benchmarks.lora_swap`)"
    profile = next(iter(results.values()))["info"]["profile"] if results else {"runs": 0, "image": {"side": 0,
                                                                                                      "steps": 0}}
    report = write_report(results, overhead, swap_table, args.docs, profile)
    print(report.read_text())


if __name__ == "__main__":
    main()
