"""Every optimization against its own baseline, measured in the same run; writes docs/benchmarks.md + plots.

    python -m scripts.benchmark            # CPU, tiny models, a few minutes: anyone can reproduce it
    python -m scripts.benchmark --gpu      # CUDA, real-size architectures with random weights

Figures are ratios against a baseline measured in the same process, because these machines are noisy.
"""

import argparse
import json
import platform
import statistics
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import torch

from scripts.benchmarks import llm
from shared.layer_filter import LANGUAGE_MODEL_LINEARS

DEFAULT_DOCS = Path(__file__).resolve().parents[1] / "docs"


# Peak HBM bandwidth (bytes/s): batch-1 decoding reads every weight once per token, so bandwidth divided by
# weight bytes bounds tokens/s from above.
HBM_BANDWIDTH = {"H200": 4.8e12, "H100": 3.35e12, "A100": 2.0e12, "L40S": 0.864e12, "A10": 0.6e12}


def bandwidth_bound(device: torch.device, weight_mb: float) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    bandwidth = next((bw for gpu, bw in HBM_BANDWIDTH.items() if gpu in name), None)
    return bandwidth / (weight_mb * 1e6) if bandwidth else None


def bandwidth_lines(device: torch.device, rows: list[llm.Result]) -> list[str]:
    measured = []
    for r in rows:
        bound = bandwidth_bound(device, r.weight_mb)
        if bound:
            measured.append(f"{r.model} {r.variant}: {r.tokens_per_s:.0f} of {bound:.0f} tokens/s "
                            f"({100 * r.tokens_per_s / bound:.0f}%)")
    if not measured:
        return []
    return [f"Memory-bandwidth bound (peak HBM bandwidth / weight bytes): {'; '.join(measured)}.", ""]


def machine(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}"
    return f"CPU {platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}"


def llm_results(
    device: torch.device, tiny_dirs: dict[str, Path] | None, new_tokens: int, tiny_phi4_dir: Path | None = None
) -> list[llm.Result]:
    from transformers import AutoModelForCausalLM, AutoTokenizer, Gemma3ForConditionalGeneration

    from scripts.benchmarks import real_size
    from shared.loading import load_4bit_causal_lm

    if tiny_dirs:
        smollm3 = lambda: AutoModelForCausalLM.from_pretrained(tiny_dirs["smollm3"], dtype=torch.bfloat16)  # noqa: E731
        gemma3 = lambda: Gemma3ForConditionalGeneration.from_pretrained(tiny_dirs["gemma3"], dtype=torch.bfloat16)  # noqa: E731
        phi4 = lambda: AutoModelForCausalLM.from_pretrained(tiny_dirs["phi4"], dtype=torch.bfloat16)  # noqa: E731
        phi4_nf4 = lambda: load_4bit_causal_lm(tiny_dirs["phi4"], device, 2048)[0]  # noqa: E731
        gemma_layers = LANGUAGE_MODEL_LINEARS
        prompt_tokens, cache = 64, 512
    else:
        smollm3 = lambda: real_size.build_on(device, real_size.smollm3_3b)  # noqa: E731
        gemma3 = lambda: real_size.build_on(device, real_size.gemma3_4b_text)  # noqa: E731
        phi4 = lambda: real_size.build_on(device, real_size.phi4_14b)  # noqa: E731
        def phi4_nf4():  # 4-bit loading (Unsloth where installed) needs a checkpoint on disk: save one
            saved = Path(tempfile.mkdtemp()) / "phi4"
            model = real_size.build_on(device, real_size.phi4_14b)
            model.save_pretrained(saved)
            AutoTokenizer.from_pretrained(tiny_phi4_dir).save_pretrained(saved)
            del model
            torch.cuda.empty_cache()
            return load_4bit_causal_lm(saved, device, 4096)[0]

        from shared.layer_filter import LayerFilter

        gemma_layers = LayerFilter(include=(r"layers\.",), exclude=(r"lm_head", r"embed"))
        prompt_tokens, cache = 512, 4096
    on = lambda load: lambda: load().to(device)  # noqa: E731
    size = " (tiny)" if tiny_dirs else ""
    runs = [
        ("SmolLM3-3B" + size, "bf16 eager", on(smollm3), llm.no_optimization),
        ("SmolLM3-3B" + size, "HQQ 4-bit + compiled decode", on(smollm3), llm.hqq_compiled(device, cache)),
        ("Gemma-3-4B" + size, "bf16 eager", on(gemma3), llm.no_optimization),
        ("Gemma-3-4B" + size, "INT8 weight-only", on(gemma3), llm.int8_weight_only(gemma_layers)),
        ("Phi-4 14B" + size, "bf16 eager", on(phi4), llm.no_optimization),
    ]
    if phi4_nf4 is not None:
        runs.append(("Phi-4 14B" + size, "NF4 4-bit (transformers backend)", phi4_nf4, llm.no_optimization))
    results = []
    for name, variant, load, optimize in runs:
        results.append(llm.measure(name, variant, load, optimize, device, prompt_tokens, new_tokens))
        print(asdict(results[-1]), flush=True)
    return results


def flux_results(flux_dir: Path, device: torch.device) -> list[dict]:
    """Seconds per image: plain bf16 FluxPipeline vs the deployment's engine (quantized, LoRA slot, compiled)."""

    from diffusers import FluxPipeline

    from shared.flux import FluxEngine, ImageRequest
    from shared.flux_settings import FluxSettings

    size, steps = (64, 4) if device.type == "cpu" else (1024, 28)
    request = ImageRequest(prompt="a lighthouse at dawn", width=size, height=size, steps=steps, guidance=3.5, seed=0)
    rows = []
    start = time.perf_counter()
    baseline = FluxPipeline.from_pretrained(flux_dir, dtype=torch.bfloat16).to(device)
    setup = time.perf_counter() - start

    def image_seconds(call) -> tuple[float, float]:
        first_start = time.perf_counter()
        call()
        first = time.perf_counter() - first_start
        times = []
        for _ in range(3):
            t = time.perf_counter()
            call()
            times.append(time.perf_counter() - t)
        return first, statistics.median(times)

    first, warm = image_seconds(lambda: baseline(
        request.prompt, width=size, height=size, num_inference_steps=steps, guidance_scale=3.5,
        generator=torch.Generator(device).manual_seed(0)))
    rows.append({"variant": "bf16 eager pipeline", "setup_s": setup, "first_image_s": first, "s_per_image": warm})
    baseline = None  # free it before the optimized engine loads
    if device.type == "cuda":
        torch.cuda.empty_cache()
    start = time.perf_counter()
    engine = FluxEngine(FluxSettings(warmup_size=size), device)
    engine.load(flux_dir)
    engine.warm_up()
    setup = time.perf_counter() - start
    first, warm = image_seconds(lambda: engine.generate(request))
    quantized = "NF4" if device.type == "cuda" else "INT8"
    rows.append({"variant": f"{quantized} + LoRA slot + compiled", "setup_s": setup, "first_image_s": first,
                 "s_per_image": warm})
    for row in rows:
        print(row, flush=True)
    return rows


def server_overhead(tiny_smollm3: Path, requests: int = 8) -> dict:
    """The Cog server's cost per request: the same SmolLM3 request through HTTP and as a direct call."""
    import importlib.util
    import os

    from scripts.cog_server import DEPLOYMENTS, CogServer

    env = {"SMOLLM3_MODEL_DIR": str(tiny_smollm3), "MAX_CONTEXT_TOKENS": "1024", "DEVICE": "cpu"}
    args = dict(prompt="Hello", system_prompt="", mode="no_think", max_new_tokens=8, temperature=0.0,
                top_p=1.0, top_k=0, seed=0)
    os.environ.update(env)
    spec = importlib.util.spec_from_file_location("smollm3_predict", DEPLOYMENTS / "smollm3" / "predict.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    predictor = module.Predictor()
    predictor.setup()
    direct = []
    for _ in range(requests):
        start = time.perf_counter()
        "".join(predictor.run(**args))
        direct.append(time.perf_counter() - start)
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


def plot(llm_rows: list[llm.Result], flux_rows: list[dict], path: Path, tiny: bool) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = {}
    for row in llm_rows:
        groups.setdefault(row.model, []).append(row)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    labels, memory, speed = [], [], []
    for model, rows in groups.items():
        base = rows[0]
        for row in rows[1:]:
            labels.append(f"{model}\n{row.variant}")
            memory.append(row.weight_mb / base.weight_mb)
            speed.append(row.tokens_per_s / base.tokens_per_s)
    if flux_rows and len(flux_rows) > 1:
        labels.append(f"FLUX.1-dev{' (tiny)' if tiny else ''}\n{flux_rows[1]['variant']}")
        memory.append(float("nan"))
        speed.append(flux_rows[0]["s_per_image"] / flux_rows[1]["s_per_image"])
    for axis, values, title in ((axes[0], memory, "weight bytes vs bf16 (lower is better)"),
                                (axes[1], speed, "speed vs baseline (higher is better)")):
        axis.barh(labels, values, color="#4c72b0")
        axis.axvline(1.0, color="black", linewidth=0.8)
        axis.set_title(title, fontsize=10)
        axis.tick_params(labelsize=8)
        for y, value in enumerate(values):
            if value == value:  # not NaN
                axis.text(value, y, f" {value:.2f}x", va="center", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def write_report(mode: str, device, llm_rows, flux_rows, overhead, swap_table: str, out: Path) -> None:
    lines = [
        f"# Benchmarks ({mode})",
        "",
        f"Machine: {machine(device)}. Generated by `python -m scripts.benchmark{' --gpu' if mode == 'GPU' else ''}` "
        "(`make bench`); every figure is compared with a baseline measured in the same run.",
        "",
    ]
    if mode == "CPU":
        lines += [
            "CPU mode runs the tiny random-weight models the tests use. It checks that each optimization runs and "
            "what it does to weight bytes; speed ratios on a 2-core CPU with 64-wide layers say little about a GPU "
            "with 3B-parameter layers (quantized kernels are GPU kernels; here their overhead dominates).",
            "",
        ]
    lines += [
        f"![ratios](benchmarks/{mode.lower()}_ratios.png)",
        "",
        "## Language models (batch 1, greedy)",
        "",
        "| model | variant | weights (MB) | setup (s) | first request (s) | warm request (s) | decode tokens/s | "
        "peak memory (MB) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
        *(f"| {r.model} | {r.variant} | {r.weight_mb:.2f} | {r.setup_s:.2f} | {r.first_request_s:.3f} | "
          f"{r.warm_request_s:.3f} | {r.tokens_per_s:.1f} | {r.peak_memory_mb:.0f} |" for r in llm_rows),
        "",
        *bandwidth_lines(device, llm_rows),
        "Peak memory is VRAM on CUDA; on CPU it is the process's peak RSS so far (it only grows).",
        "",
        "## FLUX.1-dev" + (" (tiny pipeline, 64x64, 4 steps)" if mode == "CPU" else " (1024x1024, 28 steps)"),
        "",
        "Setup of the optimized engine includes quantization, the LoRA slot, compilation and warm-up of both "
        "pipelines; its first image comes after that warm-up.",
        "",
        "| variant | setup (s) | first image (s) | s / image |",
        "|---|---:|---:|---:|",
        *(f"| {r['variant']} | {r['setup_s']:.2f} | {r['first_image_s']:.3f} | {r['s_per_image']:.3f} |"
          for r in flux_rows),
        "",
        "## LoRA switching on the compiled transformer",
        "",
        swap_table,
        "",
        "## Cog server overhead per request",
        "",
        f"SmolLM3 tiny, 8 new tokens: direct `Predictor.run` {overhead['direct_ms']:.1f} ms, through "
        f"`python -m cog.server.http` over HTTP {overhead['http_ms']:.1f} ms: **{overhead['overhead_ms']:.1f} ms** "
        "of server, worker IPC and JSON per request (medians of 8).",
    ]
    out.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpu", action="store_true", help="real-size architectures on CUDA")
    parser.add_argument("--new-tokens", type=int, default=None)
    parser.add_argument("--docs", type=Path, default=DEFAULT_DOCS, help="where the report and plots go")
    args = parser.parse_args()
    docs = args.docs
    mode = "GPU" if args.gpu else "CPU"
    device = torch.device("cuda" if args.gpu else "cpu")
    if args.gpu and not torch.cuda.is_available():
        raise SystemExit("--gpu needs a CUDA device")
    (docs / "benchmarks").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        from scripts.tiny_models.flux import build_tiny_flux
        from scripts.tiny_models.gemma3 import build_tiny_gemma3
        from scripts.tiny_models.phi4 import build_tiny_phi4
        from scripts.tiny_models.smollm3 import build_tiny_smollm3

        tiny = {
            "smollm3": build_tiny_smollm3(Path(tmp) / "smollm3"),
            "gemma3": build_tiny_gemma3(Path(tmp) / "gemma3"),
            "phi4": build_tiny_phi4(Path(tmp) / "phi4"),
        }
        llm_rows = llm_results(
            device, None if args.gpu else tiny, args.new_tokens or (128 if args.gpu else 32), tiny["phi4"]
        )
        if args.gpu:
            from scripts.benchmarks.real_size import save_flux_dev

            flux_dir = save_flux_dev(Path(tmp) / "flux", device)
        else:
            flux_dir = build_tiny_flux(Path(tmp) / "flux")
        flux_rows = flux_results(flux_dir, device)
        overhead = server_overhead(tiny["smollm3"])
    swap_file = DEFAULT_DOCS / "benchmarks" / "lora_swap_cpu.md"
    swap_table = "\n".join(line for line in swap_file.read_text().splitlines() if line.startswith("|")) \
        if swap_file.exists() else "(run `python -m scripts.bench_lora_swap`)"
    plot(llm_rows, flux_rows, docs / "benchmarks" / f"{mode.lower()}_ratios.png", tiny=not args.gpu)
    report = docs / ("benchmarks.md" if mode == "CPU" else "benchmarks-gpu.md")
    write_report(mode, device, llm_rows, flux_rows, overhead, swap_table, report)
    (docs / "benchmarks" / f"{mode.lower()}_results.json").write_text(json.dumps(
        {"machine": machine(device), "llm": [asdict(r) for r in llm_rows], "flux": flux_rows,
         "server_overhead": overhead}, indent=2) + "\n")
    print(report.read_text())


if __name__ == "__main__":
    main()
