"""Stages `speed-*`: the shared benchmark code (scripts/benchmarks) on the device, one model per stage.

Real size on CUDA (published configs, random weights), the tiny models on CPU. Rows are written as they are
measured; a variant that fails is recorded as an error and the next one runs.
"""

from functools import partial

import torch

from scripts.benchmarks import flux as flux_bench
from scripts.benchmarks import llm
from scripts.benchmarks.models import real_text_model, save_real_checkpoint, tiny_text_model, transformer_config
from scripts.benchmarks.real_size import save_flux_dev
from scripts.gpu.context import StageContext
from scripts.gpu.stages import CHECKPOINTS

FLUX_CHECKPOINT = "flux-dev"


def text_model(context: StageContext, deployment: str) -> llm.TextModel:
    if context.profile.name != "real":
        return tiny_text_model(deployment, context.work.tiny(deployment))

    def checkpoint():
        save = partial(save_real_checkpoint, deployment, device=context.device,
                       tokenizer_dir=context.work.tiny(deployment))
        return context.work.checkpoint(deployment, save, checkpoint_bytes(deployment))

    return real_text_model(deployment, checkpoint)


def text_stage(context: StageContext, deployment: str) -> None:
    profile = context.profile
    source = text_model(context, deployment)
    context.record.info("model", source.name)
    llm.run_variants(source, context.device, profile.contexts, profile.new_tokens, profile.runs,
                     context.record.row, context.record.error)


def smollm3(context: StageContext) -> None:
    text_stage(context, "smollm3")


def gemma3(context: StageContext) -> None:
    text_stage(context, "gemma3")


def checkpoint_bytes(name: str) -> int:
    """What the disk must hold for checkpoint `name` (stages.CHECKPOINTS; the small ones need no check)."""
    return CHECKPOINTS[name].size_bytes if name in CHECKPOINTS else 0


def flux_dir(context: StageContext):
    if context.profile.name != "real":
        return context.work.tiny("flux")
    return context.work.checkpoint(FLUX_CHECKPOINT, lambda path: save_flux_dev(path, context.device),
                                   checkpoint_bytes(FLUX_CHECKPOINT))


def flux_stage(context: StageContext, variants: list[str]) -> None:
    profile = context.profile
    directory = flux_dir(context)
    loras = flux_bench.random_loras(transformer_config(directory), context.work.scratch("loras"), profile.lora_ranks)
    flux_bench.run_variants(directory, context.device, profile.image, profile.runs, variants, loras,
                            profile.max_lora_rank, context.record.row, context.record.error)
    if context.device.type == "cuda":
        context.record.info("gpu", torch.cuda.get_device_name(context.device))


def flux_eager(context: StageContext) -> None:
    flux_stage(context, ["bf16 eager"])


def flux_compiled(context: StageContext) -> None:
    flux_stage(context, ["bf16 + compile"])


def flux_fp8(context: StageContext) -> None:
    flux_stage(context, ["fp8"])


def flux_nf4(context: StageContext) -> None:
    flux_stage(context, ["nf4"])


def flux_int8(context: StageContext) -> None:
    flux_stage(context, ["int8"])


def flux_bf16(context: StageContext) -> None:
    flux_stage(context, ["bf16"])
