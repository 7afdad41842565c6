"""The GPU check's concurrency stage: SmolLM3 as deployed (HQQ 4-bit, compiled single-request path, batch engine)
at 1, 4, 16 and 32 concurrent requests against the same requests one at a time (scripts/benchmarks/concurrency.py).

On the GPU the model has SmolLM3-3B's real layer sizes with random weights and the tiny tokenizer's vocabulary
(random weights need a tokenizer that decodes every id they draw; the smaller head changes the step by the head's
share of the compute, ~10%). Goal (issue 22): at 32 requests, ≥ 10x the aggregate tokens/s of one stream, each
stream ≥ 50% of its solo speed.
"""

import json

import torch

from scripts.benchmarks import concurrency
from scripts.gpu.context import StageContext

CHECKPOINT = "smollm3-layers-tiny-vocab"
SIZE_BYTES = 6_200_000_000  # 3.1 B parameters in bf16 with the small vocabulary: an upper bound


def save_real_layers(path, device: torch.device) -> None:
    from transformers import AutoConfig, SmolLM3ForCausalLM

    from scripts.benchmarks import real_size
    from scripts.registry import TINY_MODELS

    TINY_MODELS["smollm3"].build(path)  # tokenizer, chat template, generation config
    tiny = AutoConfig.from_pretrained(path)
    with torch.device("meta"):
        config = real_size.smollm3_3b().config
    for name in ("vocab_size", "bos_token_id", "eos_token_id", "pad_token_id"):
        setattr(config, name, getattr(tiny, name))
    with torch.device(device):
        model = SmolLM3ForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(path)


def smollm3(context: StageContext) -> None:
    if context.profile.name == "real":
        folder = context.work.checkpoint(CHECKPOINT, lambda path: save_real_layers(path, context.device), SIZE_BYTES)
    else:
        folder = context.work.tiny("smollm3")
    out = context.work.scratch("concurrency") / "smollm3"
    concurrency.main(["--device", context.device.type, "--deployments", "smollm3", "--model-dir",
                      f"smollm3={folder}", "--tokens", "128", "--out", str(out)])
    for row in json.loads(out.with_suffix(".json").read_text()):
        context.record.row(row)
    if context.device.type == "cuda":
        context.record.info("gpu", torch.cuda.get_device_name(context.device))
