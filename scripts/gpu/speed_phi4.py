"""Stage `speed-phi4`, in a module of its own because the deployment's 4-bit path imports Unsloth, which must
come before transformers (and would patch transformers for every other model measured in the same process)."""

from shared.unsloth_first import UNSLOTH, UNSLOTH_UNAVAILABLE  # noqa: I001  (before anything imports transformers)

# isort: split
from scripts.gpu.context import StageContext
from scripts.gpu.speed import text_stage


def run(context: StageContext) -> None:
    context.record.info("unsloth", "imported" if UNSLOTH is not None else f"not used: {UNSLOTH_UNAVAILABLE}")
    try:
        text_stage(context, "phi4-reasoning")
    finally:
        context.work.drop_checkpoint("phi4-reasoning")  # ~29 GB: the FLUX checkpoint needs the disk next
