"""Stage `report`: docs/benchmarks-gpu.md from the stage JSON, with the issue's targets side by side.

Reads every `<stage>.json` in the context's source folders (the first folder holding a stage wins), so it runs
anywhere: on the GPU machine after the stages, or here on the JSON a GPU session brought back.
"""

from pathlib import Path

from scripts.benchmarks.tables import decode_table, error_lines, image_table, speedup
from scripts.gpu.context import StageContext
from scripts.gpu.results import load
from scripts.gpu.stages import STAGES

ENGINE_TARGET = 0.45  # lora-fast on an H100: 3.55 s against 7.89 s bf16 eager, LoRA hot-swapped, compiled, fp8
PHI4_VRAM_TARGET_GB = 12.0


def gather(sources: list[Path]) -> dict[str, dict]:
    found = {}
    for stage in STAGES:
        for folder in sources:
            data = load(folder, stage.name)
            if data is not None:
                found[stage.name] = data
                break
    return found


def text_rows(results: dict, model_prefix: str) -> list[dict]:
    rows = [r for name, data in results.items() if name.startswith("speed-") for r in data["rows"]]
    return [r for r in rows if r.get("model", "").startswith(model_prefix)]


def targets(results: dict) -> list[str]:
    lines = ["| target | wanted | measured | met |", "|---|---|---|---|"]

    def decode_target(prefix: str, label: str, wanted: float) -> None:
        rows = text_rows(results, prefix)
        optimized = [r for r in rows if r["role"] == "optimized"]
        if not optimized:
            lines.append(f"| {label} | >= {wanted}x bf16 compiled | not measured | - |")
            return
        for row in optimized:
            gain = speedup(rows, row, "bf16 + compiled decode")
            bound = row.get("bandwidth_bound_tokens_per_s")
            share = f", {100 * row['decode_tokens_per_s']['median'] / bound:.0f}% of the bandwidth bound" if bound \
                else ""
            measured = f"{gain:.2f}x at {row['context_tokens']} tokens{share}" if gain else "no control"
            met = "-" if gain is None else ("yes" if gain >= wanted else "**no**")
            lines.append(f"| {label} | >= {wanted}x bf16 compiled | {measured} | {met} |")

    decode_target("SmolLM3", "SmolLM3 HQQ 4-bit decode", 1.5)
    decode_target("Gemma", "Gemma-3 INT8 decode", 1.3)
    phi4 = [r for r in text_rows(results, "Phi-4") if r["role"] == "optimized"]
    for variant in dict.fromkeys(r["variant"] for r in phi4):
        rows = [r for r in phi4 if r["variant"] == variant]
        serving = max(r["peak_memory_mb"] for r in rows) / 1024
        setup = max(r["setup_peak_memory_mb"] for r in rows) / 1024
        met = max(serving, setup) <= PHI4_VRAM_TARGET_GB
        lines.append(f"| Phi-4 {variant}: peak VRAM | <= {PHI4_VRAM_TARGET_GB:.0f} GB | {serving:.1f} GiB serving up "
                     f"to {max(r['context_tokens'] for r in rows)} tokens of context, {setup:.1f} GiB while loading | "
                     f"{'yes' if met else '**no**'} |")
    if not phi4:
        lines.append(f"| Phi-4 4-bit peak VRAM | <= {PHI4_VRAM_TARGET_GB:.0f} GB | not measured | - |")
    images = [r for name, data in results.items() if name.startswith("speed-flux-") for r in data["rows"]]
    eager = next((r for r in images if r["variant"] == "bf16 eager"), None)
    engines = [r for r in images if r["role"] == "optimized"]
    for row in engines:
        relative = row["s_per_image"]["median"] / eager["s_per_image"]["median"] if eager else None
        measured = f"{relative:.2f}x ({row['s_per_image']['median']:.2f} s)" if relative else "no control"
        met = "-" if relative is None else ("yes" if relative <= ENGINE_TARGET else "**no**")
        lines.append(f"| FLUX engine {row['quantize']}, LoRA live, s/image | <= {ENGINE_TARGET}x bf16 eager | "
                     f"{measured} | {met} |")
    if not engines:
        lines.append(f"| FLUX engine, LoRA live, s/image | <= {ENGINE_TARGET}x bf16 eager | not measured | - |")
    swaps = [r["recompiles"] for r in engines]
    swaps += [p["metrics"].get("recompiles") for r in functional_rows(results) for p in r.get("predictions", [])]
    swaps = [s for s in swaps if s is not None]
    lines.append(f"| recompiles on LoRA swap | 0 | {max(swaps) if swaps else 'not measured'} (max over "
                 f"{len(swaps)} runs) | {('yes' if max(swaps) == 0 else '**no**') if swaps else '-'} |")
    return lines


def versions(results: dict) -> list[str]:
    env = results.get("env")
    if not env:
        return ["Stage `env` has not run: machine and versions unknown.", ""]
    machine, found = env["info"].get("machine", {}), env["info"].get("versions", {})
    gpu = machine.get("gpu", "no GPU")
    lines = [f"Machine: **{gpu}** (compute capability {machine.get('capability', '-')}, "
             f"{machine.get('gpu_memory_gib', '-')} GiB), driver/clocks `{machine.get('nvidia_smi', '-')}`, "
             f"CUDA {machine.get('torch_cuda', '-')}, cuDNN {machine.get('cudnn', '-')}, "
             f"Python {machine.get('python', '-')}.", "",
             "Libraries: " + ", ".join(f"{k} {v}" for k, v in found.items()) + ".", ""]
    hqq = env["info"].get("hqq")
    if hqq:
        kernels = ", ".join(f"{kernel}: {count} layers" for kernel, count in hqq.get("kernels", {}).items())
        lines += [f"HQQ 4-bit layers of the tiny SmolLM3 on this device: {kernels or '-'}. "
                  f"Unsloth: {env['info'].get('unsloth', '-')}.", ""]
    phi4 = env["info"].get("phi4_packages")
    if phi4:
        differ = "; ".join(f"{name} {d.get('found')} (pinned {d.get('pinned')})" for name, d in
                           phi4.get("differ", {}).items())
        lines += [f"Phi-4 stages' packages against the Phi-4 container's pins: "
                  f"{'as pinned' if phi4.get('matches') else '**not as pinned**'}"
                  f"{f'; differ: {differ}' if differ else ''}{phi4.get('error', '')}.", ""]
    failed = {k: v for k, v in env["info"].get("imports", {}).items() if v != "ok"}
    if failed:
        lines += ["Imports that failed: " + "; ".join(f"`{k}`: {v}" for k, v in failed.items()), ""]
    return lines


def functional_rows(results: dict) -> list[dict]:
    return [r for name, data in results.items() if name.startswith("functional-") for r in data.get("rows", [])]


def functional(results: dict) -> list[str]:
    rows = functional_rows(results)
    if not rows:
        return ["Not run yet.", ""]
    lines = ["| scenario | passed | failed checks | setup s | path taken (setup log) |", "|---|---|---|---:|---|"]
    for row in rows:
        failed = [name for name, ok in row.get("checks", {}).items() if not ok]
        if row.get("error"):
            failed.append(row["error"].splitlines()[0][:200])
        # Our own modules' lines say which path was taken; libraries' warnings come after them.
        ordered = sorted(row.get("path", []), key=lambda line: "shared." not in line)
        path = "<br>".join(line.replace("|", "/")[:160] for line in ordered[:6])
        lines.append(f"| {row['scenario']} | {'yes' if row['passed'] else '**no**'} | {'; '.join(failed) or '-'} | "
                     f"{row.get('setup_s', '-')} | {path} |")
    return [*lines, ""]


def render(results: dict) -> str:
    images = [r for name, data in results.items() if name.startswith("speed-flux-") for r in data["rows"]]
    texts = [r for name, data in results.items() if name.startswith("speed-") and not name.startswith("speed-flux-")
             for r in data["rows"]]
    errors = [{**e, "what": f"{name}: {e['what']}"} for name, data in results.items() for e in data["errors"]]
    incomplete = [name for name, data in results.items() if not data.get("complete")]
    missing = [s.name for s in STAGES if s.writes_json and s.name not in results]
    devices = sorted({data["device"] for data in results.values()})
    lines = [
        "# GPU check",
        "",
        "Generated by `python -m scripts.gpu.check --stage report` from the stages' JSON (the committed run's "
        f"is in [gpu/](gpu/); device: {', '.join(devices) or '-'}). Procedure and commands: "
        "[gpu-check.md](gpu-check.md). Models are real-size architectures with random weights (published "
        "configs); controls are measured in the same run; figures are the median of the timed runs with min-max.",
        "",
        *([] if results else ["**No GPU has run these stages yet.** The harness is ready: the commands for the next "
                              "session with a GPU are in [gpu-check.md](gpu-check.md).", ""]),
        *versions(results),
        "## Targets",
        "",
        *targets(results),
        "",
        "## Every deployment through the Cog server (tiny models, on the device)",
        "",
        *functional(results),
        "## Language models: decode speed (batch 1, greedy)",
        "",
        *(decode_table(texts) if texts else ["Not measured yet."]),
        "",
        "Share of bound: decode tokens/s against peak HBM bandwidth over the bytes a step reads (weights, plus "
        "the KV cache attended over: the whole static cache for compiled variants).",
        "",
        "## FLUX.1-dev",
        "",
        *(image_table(images) if images else ["Not measured yet."]),
        "",
    ]
    if errors:
        lines += ["## Errors", "", *error_lines(errors), ""]
    if incomplete or missing:
        lines += ["## Not complete", "",
                  *(f"- `{name}`: started, cut short (time-out or crash); its rows above are what was measured"
                    for name in incomplete),
                  *(f"- `{name}`: not run yet" for name in missing), ""]
    return "\n".join(lines)


def run(context: StageContext) -> None:
    results = gather(context.sources)
    context.report_path.parent.mkdir(parents=True, exist_ok=True)
    context.report_path.write_text(render(results))
    print(f"wrote {context.report_path} from {len(results)} stage result(s)", flush=True)
