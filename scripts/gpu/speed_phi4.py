"""Stages `speed-phi4` and `speed-phi4-nf4`, in a module of their own: the deployment's 4-bit path imports
Unsloth, which must come before transformers (and would patch transformers for every other model measured in
the same process). `speed-phi4-nf4` runs with USE_UNSLOTH=0 (stages.py), so the same code takes the
deployment's fallback, transformers + bitsandbytes NF4."""

from shared.text.unsloth_first import UNSLOTH, UNSLOTH_UNAVAILABLE  # noqa: I001  (before anything imports transformers)

# isort: split
from scripts.benchmarks import llm
from scripts.gpu.context import StageContext
from scripts.gpu.speed import text_model

DEPLOYMENT = "phi4-reasoning"


def run(context: StageContext) -> None:
    """The controls and the 4-bit path as deployed."""
    context.record.info("unsloth", "imported" if UNSLOTH is not None else f"not used: {UNSLOTH_UNAVAILABLE}")
    profile = context.profile
    llm.run_variants(text_model(context, DEPLOYMENT), context.device, profile.contexts, profile.new_tokens,
                     profile.runs, context.record.row, context.record.error)


def fallback(context: StageContext) -> None:
    """Only the 4-bit path, without Unsloth; its controls are speed-phi4's."""
    context.record.info("unsloth", "imported" if UNSLOTH is not None else f"not used: {UNSLOTH_UNAVAILABLE}")
    profile = context.profile
    llm.run_variants(text_model(context, DEPLOYMENT), context.device, profile.contexts, profile.new_tokens,
                     profile.runs, context.record.row, context.record.error, controls=False)
