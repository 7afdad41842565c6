"""Cold start of every deployment, stage by stage, through the real Cog server: the boot as it was (the control)
against the boot with what is now made ahead of it, measured in the same run on the same tiny models.

    python -m scripts.benchmarks.cold_start [--docs docs] [--only smollm3,gemma3]

Each boot is a fresh server process with an empty inductor cache of its own (a new machine, or a new Replicate
instance), the image's settings (cog.yaml's `environment`, the baked COG_MAX_CONCURRENCY) and the deployment's
tiny model (FLUX: 4 double + 8 single blocks, so that compiling blocks instead of the whole model shows). Rows:

- `control`: quantize at boot, the whole FLUX transformer compiled, no compile cache (the boot before #21);
- `new, first boot`: the served model `make weights-<name>` saved, FLUX compiled by regions, a compile-cache
  folder that is still empty (what a boot without a matching cache costs; it fills the folder);
- `new, with compile cache`: the same, the folder now holding the first boot's Mega-Cache artifacts;
- `restart, same inductor cache`: the first boot's inductor cache kept (a `docker run -v` volume on your host).

"ready" is the wall time from starting the server to its health check saying READY; the stages are what setup
reported (SETUP_REPORT). Writes docs/benchmarks/cold_start_cpu.json and .md.
"""

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scripts.harness.cog_server import CogServer
from scripts.registry import DEPLOYMENTS

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DOCS = REPO / "docs"
ROWS = ("control", "new, first boot", "new, with compile cache", "restart, same inductor cache")


def model_env(name: str, work: Path) -> dict[str, str]:
    """The deployment's tiny model (and, for FLUX, its LoRA styles and safety checkers) as its environment."""
    from scripts.benchmarks.flux_compile import build_model
    from scripts.gpu.workdir import Workdir

    deployment, workdir = DEPLOYMENTS[name], Workdir(work)
    if deployment.kind == "text":
        return {deployment.model_dir_env: str(workdir.tiny(deployment.tiny_model))}
    flux = work / "flux-12-blocks"
    if not (flux / "model_index.json").exists():
        build_model(flux)
    loras = workdir.tiny_loras()
    return {"FLUX_MODEL_DIR": str(flux), "FLUX_STYLE_LORAS_DIR": str(loras["styles"]),
            "LORA_LOCAL_DIR": str(loras["custom"].parent), "WARMUP_SIZE": "64", "MAX_LORA_RANK": "8",
            **workdir.tiny_safety_checker()}


def save_served(name: str, env: dict[str, str]) -> float | None:
    """`make weights-<name>`'s second step; its seconds (done once, on the build host, not at boot), None when
    the deployment saves nothing."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "scripts.save_served", name], env={**os.environ, **env},
                          cwd=REPO, check=True, capture_output=True, text=True, timeout=1800)
    return time.perf_counter() - start if "served model saved" in done.stdout else None


def boot(name: str, env: dict[str, str], report: Path) -> dict:
    """One server boot to READY; the setup's own stage report, and the wall time."""
    start = time.perf_counter()
    with CogServer(name, {**env, "SETUP_REPORT": str(report)}) as server:
        ready_s = time.perf_counter() - start
        log = server.log_tail(400_000)
    stages = json.loads(report.read_text())
    return {"ready_s": round(ready_s, 2), "setup_s": stages["total_s"], "stages_s": stages["stages_s"],
            "served_model_loaded": "served weights: loaded the saved" in log,
            "compile_cache_loaded": "compile cache: loaded" in log}


def measure(name: str, work: Path, device: str = "cpu", env: dict[str, str] | None = None) -> dict:
    """The four boots of one deployment; `env` overrides its tiny model or settings (the GPU check's real-size
    layers)."""
    common = {**model_env(name, work), "DEVICE": device, **(env or {})}
    folder = work / name
    control = {**common, "WEIGHTS_DIR": str(folder / "no-weights"), "FLUX_COMPILE": "whole"}
    new = {**common, "WEIGHTS_DIR": str(folder / "weights"), "FLUX_COMPILE": "regional"}
    cached = {**new, "TORCH_COMPILE_CACHE": str(folder / "compile-cache")}
    boots = {  # row: (environment, inductor cache folder)
        ROWS[0]: (control, folder / "inductor-control"),
        ROWS[1]: (cached, folder / "inductor-first"),
        ROWS[2]: (cached, folder / "inductor-second"),
        ROWS[3]: (new, folder / "inductor-first"),  # the first boot's inductor cache, as a volume keeps it
    }
    result = {"deployment": name, "make_weights_save_s": None, "rows": {}}
    for index, (row, (env, inductor)) in enumerate(boots.items()):
        if index == 1 and DEPLOYMENTS[name].kind == "text":
            seconds = save_served(name, new)
            result["make_weights_save_s"] = None if seconds is None else round(seconds, 2)
        report = folder / f"report-{index}.json"
        result["rows"][row] = boot(name, {**env, "TORCHINDUCTOR_CACHE_DIR": str(inductor)}, report)
    return result


def table(results: list[dict]) -> list[str]:
    names = []
    for result in results:
        for row in result["rows"].values():
            names += [stage for stage in row["stages_s"] if stage not in names]
    lines = [f"| deployment | boot | ready s | vs control | setup s | {' | '.join(names)} | saved model | "
             "Mega-Cache |", "|---|---|---:|---:|---:|" + "---:|" * len(names) + "---|---|"]
    for result in results:
        control = result["rows"][ROWS[0]]["ready_s"]
        for label, row in result["rows"].items():
            stages = " | ".join(f"{row['stages_s'][s]:.1f}" if s in row["stages_s"] else "-" for s in names)
            lines.append(f"| {result['deployment']} | {label} | {row['ready_s']:.1f} | "
                         f"{row['ready_s'] / control:.2f}x | {row['setup_s']:.1f} | {stages} | "
                         f"{'loaded' if row['served_model_loaded'] else '-'} | "
                         f"{'loaded' if row['compile_cache_loaded'] else '-'} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=Path, default=DEFAULT_DOCS)
    parser.add_argument("--only", default=",".join(DEPLOYMENTS), help="comma-separated deployment names")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cold-start-"))
    try:
        results = []
        for name in args.only.split(","):
            results.append(measure(name, work))
            print(json.dumps(results[-1]), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    import torch

    machine = f"{platform.machine()} CPU, {os.cpu_count()} threads, torch {torch.__version__}"
    out = args.docs / "benchmarks"
    out.mkdir(parents=True, exist_ok=True)
    (out / "cold_start_cpu.json").write_text(json.dumps({"machine": machine, "results": results}, indent=1) + "\n")
    saves = ", ".join(f"{r['deployment']} {r['make_weights_save_s']:.1f} s" for r in results
                      if r["make_weights_save_s"] is not None)
    text = [f"Every deployment's boot through the real Cog server, tiny models on the {machine}; each boot a fresh "
            "process with its own empty inductor cache unless the row says otherwise (`python -m "
            "scripts.benchmarks.cold_start`). Stage columns are setup's own report, in seconds; `compile` is "
            "dynamo+inductor time inside the warm-up. Saving the served model at `make weights` (once, on the "
            f"build host): {saves or 'none'}.", "", *table(results)]
    (out / "cold_start_cpu.md").write_text("\n".join(text) + "\n")
    print("\n".join(text))


if __name__ == "__main__":
    main()
