"""Stage `env`: what machine and software the other stages ran on, and whether the pieces import and engage.

Records the GPU, driver, CUDA, torch and library versions, free disk, which of the repo's modules import, how
the Phi-4 stages' package set compares with the Phi-4 container's pins, whether Unsloth imports with that set (in
a child process: importing it patches transformers for everything after), and which forward HQQ's 4-bit layers
take on this device (its torchao int4 kernel or dequantize-then-matmul). A child that hangs is stopped at its
time-out and recorded as such; the stage goes on.
"""

import importlib
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys

import torch

from scripts.gpu.context import StageContext
from scripts.gpu.package_sets import installed_versions, pythonpath
from scripts.gpu.processes import run_captured
from scripts.harness.cog_server import REPO

LIBRARIES = ("torch", "torchvision", "triton", "transformers", "tokenizers", "accelerate", "peft", "diffusers",
             "torchao", "bitsandbytes", "hqq", "pruna", "unsloth", "unsloth_zoo", "trl", "datasets", "safetensors",
             "huggingface_hub", "cog", "coglet", "numpy", "pillow")
MODULES = ("shared.flux.engine", "shared.lora.slots", "shared.optim.quantization", "shared.text.kv_cache",
           "shared.text.loading", "shared.text.generator", "shared.optim.pruning", "bitsandbytes",
           "torchao.quantization", "hqq.core.quantize", "pruna", "diffusers", "cog.server.http")
UNSLOTH_PROBE = ("import shared.text.unsloth_first as u; "
                 "print('imported' if u.UNSLOTH is not None else 'not used: ' + u.UNSLOTH_UNAVAILABLE)")
PROBE_TIMEOUT_S = 150  # Unsloth's import takes ~20-30 s on the H200 machine; more is a hang


def versions() -> dict[str, str]:
    return installed_versions(LIBRARIES)


def machine(device: torch.device) -> dict:
    info = {"python": sys.version.split()[0], "platform": platform.platform(), "torch": torch.__version__,
            "torch_cuda": torch.version.cuda, "cpu_count": torch.get_num_threads()}
    if device.type == "cuda":
        properties = torch.cuda.get_device_properties(device)
        info |= {"gpu": properties.name, "capability": ".".join(map(str, torch.cuda.get_device_capability(device))),
                 "gpu_memory_gib": round(properties.total_memory / 2**30, 1),
                 "multiprocessors": properties.multi_processor_count,
                 "cudnn": torch.backends.cudnn.version()}
        smi = shutil.which("nvidia-smi")
        if smi:
            query = [smi, "--query-gpu=driver_version,name,clocks.max.sm,clocks.max.memory", "--format=csv,noheader"]
            try:
                info["nvidia_smi"] = subprocess.run(query, capture_output=True, text=True, timeout=30).stdout.strip()
            except subprocess.TimeoutExpired:
                info["nvidia_smi"] = "no answer in 30 s"
    return info


def imports() -> dict[str, str]:
    result = {}
    for name in MODULES:
        try:
            importlib.import_module(name)
            result[name] = "ok"
        except Exception as error:
            result[name] = f"{type(error).__name__}: {error}"[:500]
    return result


def phi4_child(command: list[str], device: torch.device) -> tuple[int | None, str]:
    """`command` in a child with the Phi-4 stages' package set first on its path, as they run."""
    env = {**os.environ, "DEVICE": device.type,
           "PYTHONPATH": pythonpath("phi4", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))}
    return run_captured(command, PROBE_TIMEOUT_S, cwd=REPO, env=env)


def unsloth_status(device: torch.device) -> str:
    code, output = phi4_child([sys.executable, "-c", UNSLOTH_PROBE], device)
    if code is None:
        return f"probe stopped: no answer in {PROBE_TIMEOUT_S} s: {output.strip()[-300:]}"
    # Unsloth prints banners and warnings around the probe's own line: find that line.
    answers = [line for line in output.splitlines() if line == "imported" or line.startswith("not used: ")]
    return answers[-1] if code == 0 and answers else f"exit {code}: {output.strip()[-500:]}"


def phi4_packages(device: torch.device) -> dict:
    """The Phi-4 set as its stages see it, against the container's pins (scripts/gpu/package_sets.py)."""
    code, output = phi4_child([sys.executable, "-m", "scripts.gpu.package_sets", "phi4"], device)
    try:
        return json.loads(output[output.index("{"):])
    except ValueError:
        return {"matches": False, "error": f"exit {code}: {output.strip()[-500:]}"}


def hqq_kernel_path(context: StageContext) -> dict:
    """Quantize the tiny SmolLM3 as the deployment does and count which forward its 4-bit layers run."""
    from scripts.benchmarks import deployed
    from shared.text.loading import load_causal_lm

    model, _ = load_causal_lm(context.work.tiny("smollm3"), torch.bfloat16, context.device)
    _, _, notes = deployed.smollm3_optimized(model, context.device)
    # hqq 0.2.7's own check, which shared.optim.hqq_kernels works around: `float(torch.__version__[:3]) >= 2.5`.
    return {**notes, "hqq_own_version_check_reads": torch.__version__[:3]}


def run(context: StageContext) -> None:
    record = context.record
    record.info("machine", machine(context.device))
    record.info("versions", versions())
    usage = shutil.disk_usage(context.work.root)
    record.info("disk_free_gib", round(usage.free / 2**30, 1))
    record.info("imports", imports())
    record.info("phi4_packages", phi4_packages(context.device))
    record.info("unsloth", unsloth_status(context.device))
    try:
        record.info("hqq", hqq_kernel_path(context))
    except Exception as error:  # reported, and the other stages still run
        record.error("HQQ on a tiny model", error)
