"""The GPU check's cold-start stage: SmolLM3 booted through the Cog server four ways (scripts/benchmarks/
cold_start.py): quantizing at boot with no compile cache (the control), then on the served model `make weights`
saves, with an empty compile cache, with the first boot's Mega-Cache artifacts, and restarted on the first
boot's inductor cache. Goal (issue 21): text deployments READY in <= 30 s.

On the GPU the model has SmolLM3-3B's real layer sizes with random weights (the concurrency stage's checkpoint,
made once per machine); two cache buckets (1024, 4096) instead of the image's four keep the four boots inside
one loan, each compiled graph costing the same as one of the image's.
"""

import torch

from scripts.benchmarks import cold_start
from scripts.gpu.concurrency import CHECKPOINT, SIZE_BYTES, save_real_layers
from scripts.gpu.context import StageContext

SETTINGS = {"MAX_CONTEXT_TOKENS": "4096", "CACHE_BUCKETS": "1024"}


def smollm3(context: StageContext) -> None:
    if context.profile.name == "real":
        folder = context.work.checkpoint(CHECKPOINT, lambda path: save_real_layers(path, context.device), SIZE_BYTES)
    else:
        folder = context.work.tiny("smollm3")
    work = context.work.scratch("cold-start")
    result = cold_start.measure("smollm3", work, context.device.type, {"SMOLLM3_MODEL_DIR": str(folder), **SETTINGS})
    context.record.info("make_weights_save_s", result["make_weights_save_s"])
    for boot, row in result["rows"].items():
        context.record.row({"boot": boot, **row})
    if context.device.type == "cuda":
        context.record.info("gpu", torch.cuda.get_device_name(context.device))
