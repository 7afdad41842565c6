"""Stage `env`: what machine and software the other stages ran on, and whether the pieces import and engage.

Records the GPU, driver, CUDA, torch and library versions, free disk, which of the repo's modules import, whether
Unsloth imports (in a child process: importing it patches transformers for everything after), and which forward
HQQ's 4-bit layers take on this device (its torchao int4 kernel or dequantize-then-matmul).
"""

import importlib
import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys

import torch

from scripts.gpu.context import StageContext
from scripts.harness.cog_server import REPO

LIBRARIES = ("torch", "torchvision", "triton", "transformers", "tokenizers", "accelerate", "peft", "diffusers",
             "torchao", "bitsandbytes", "hqq", "pruna", "unsloth", "unsloth_zoo", "trl", "datasets", "safetensors",
             "huggingface_hub", "cog", "coglet", "numpy", "pillow")
MODULES = ("shared.flux.engine", "shared.lora.slots", "shared.optim.quantization", "shared.text.kv_cache",
           "shared.text.loading", "shared.text.generator", "shared.optim.pruning", "bitsandbytes",
           "torchao.quantization", "hqq.core.quantize",
           "pruna", "diffusers", "cog.server.http")
UNSLOTH_PROBE = ("import shared.text.unsloth_first as u; "
                 "print('imported' if u.UNSLOTH is not None else 'not used: ' + u.UNSLOTH_UNAVAILABLE)")


def versions() -> dict[str, str]:
    found = {}
    for name in LIBRARIES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


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
            info["nvidia_smi"] = subprocess.run(query, capture_output=True, text=True).stdout.strip()
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


def unsloth_status(device: torch.device) -> str:
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "DEVICE": device.type, "PYTHONPATH": path}
    probe = subprocess.run([sys.executable, "-c", UNSLOTH_PROBE], capture_output=True, text=True, timeout=300,
                           cwd=REPO, env=env)
    lines = probe.stdout.strip().splitlines() or [f"exit {probe.returncode}: {probe.stderr.strip()[-500:]}"]
    return lines[-1]


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
    record.info("unsloth", unsloth_status(context.device))
    try:
        record.info("hqq", hqq_kernel_path(context))
    except Exception as error:  # reported, and the other stages still run
        record.error("HQQ on a tiny model", error)
