"""Cold compile of the FLUX transformer, whole against regional (repeated blocks), on a tiny FLUX with 4 double
and 8 single blocks, each variant in its own process with an empty inductor cache.

    python -m scripts.benchmarks.flux_compile [--docs docs] [--runs 5]

Writes docs/benchmarks/flux_compile_cpu.json and .md (the table docs/benchmarks.md's "Cold start" shows).
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_DOCS = Path(__file__).resolve().parents[2] / "docs"
VARIANTS = ("eager", "whole", "regional")
DOUBLE_BLOCKS, SINGLE_BLOCKS = 4, 8


def build_model(out_dir: Path) -> Path:
    """The tests' tiny FLUX, its transformer rebuilt with enough blocks for regional compilation to show."""
    import torch
    from diffusers import FluxTransformer2DModel

    from scripts.harness.tiny_models.flux import build_tiny_flux

    build_tiny_flux(out_dir)
    config = dict(FluxTransformer2DModel.load_config(out_dir / "transformer"))
    config.update(num_layers=DOUBLE_BLOCKS, num_single_layers=SINGLE_BLOCKS)
    torch.manual_seed(0)
    FluxTransformer2DModel.from_config(config).save_pretrained(out_dir / "transformer")
    return out_dir


def measure(model: Path, variant: str, runs: int) -> dict:
    """In this process: load, time the first image (the compile), then the steady state."""
    import torch

    from shared.common.compiled_graphs import compiled_graph_count
    from shared.common.setup_stages import compile_seconds
    from shared.flux.engine import FluxEngine, ImageRequest
    from shared.flux.settings import FluxSettings
    from shared.lora.cache import LoraSettings

    settings = FluxSettings(quantize="bf16", compile=variant != "eager",
                            compile_mode="whole" if variant == "eager" else variant,
                            warmup_size=64, lora=LoraSettings(max_rank=8))
    engine = FluxEngine(settings, torch.device("cpu"))
    start = time.perf_counter()
    engine.load(model)
    load_s = time.perf_counter() - start
    request = ImageRequest(prompt="a cat", width=64, height=64, steps=4, guidance=3.5, seed=0)
    compiling = compile_seconds()
    start = time.perf_counter()
    engine.generate(request)
    first_s = time.perf_counter() - start
    compile_s = compile_seconds() - compiling
    times = []
    for run in range(runs):
        start = time.perf_counter()
        engine.generate(ImageRequest(**{**request.__dict__, "seed": run + 1}))
        times.append(time.perf_counter() - start)
    return {"variant": variant, "load_s": load_s, "first_image_s": first_s, "dynamo_compile_s": compile_s,
            "graphs": compiled_graph_count(), "s_per_image": statistics.median(times),
            "s_per_image_min": min(times), "s_per_image_max": max(times), "runs": runs}


def measure_cold(model: Path, variant: str, runs: int) -> dict:
    """`measure` in a fresh process with an empty inductor cache: a cold compile, as on a new machine."""
    with tempfile.TemporaryDirectory(prefix="inductor-cold-") as cache:
        env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache}
        command = [sys.executable, "-m", "scripts.benchmarks.flux_compile", "--measure", variant,
                   "--model", str(model), "--runs", str(runs)]
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=True,
                              cwd=Path(__file__).resolve().parents[2])
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(rows: list[dict]) -> list[str]:
    by_name = {row["variant"]: row for row in rows}
    whole = by_name.get("whole")
    lines = ["| compile | first image s (cold compile) | of which dynamo+inductor s | vs whole | graphs | "
             "s / image, median (min-max) |", "|---|---:|---:|---:|---:|---:|"]
    for row in rows:
        compiled = whole and row["variant"] != "eager"
        ratio = f"{row['first_image_s'] / whole['first_image_s']:.2f}x" if compiled else "-"
        lines.append(f"| {row['variant']} | {row['first_image_s']:.1f} | {row['dynamo_compile_s']:.1f} | {ratio} | "
                     f"{row['graphs']} | {row['s_per_image']:.3f} ({row['s_per_image_min']:.3f}-"
                     f"{row['s_per_image_max']:.3f}) |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=Path, default=DEFAULT_DOCS)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--measure", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--model", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.model, args.measure, args.runs)))
        return
    with tempfile.TemporaryDirectory(prefix="tiny-flux-12-blocks-") as directory:
        model = build_model(Path(directory))
        rows = [measure_cold(model, variant, args.runs) for variant in VARIANTS]
    import torch

    machine = f"{platform.machine()} CPU, {os.cpu_count()} threads, torch {torch.__version__}"
    out = args.docs / "benchmarks"
    out.mkdir(parents=True, exist_ok=True)
    (out / "flux_compile_cpu.json").write_text(json.dumps({"machine": machine, "rows": rows}, indent=1) + "\n")
    text = [f"Tiny FLUX, {DOUBLE_BLOCKS} double + {SINGLE_BLOCKS} single blocks, bf16, 64x64, 4 steps, LoRA slots "
            f"ready; {machine}; each row in a fresh process with an empty inductor cache.", "", *table(rows)]
    (out / "flux_compile_cpu.md").write_text("\n".join(text) + "\n")
    print("\n".join(text))


if __name__ == "__main__":
    main()
