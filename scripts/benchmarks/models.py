"""The models the benchmarks run, at two sizes: the tiny ones the tests use (CPU, seconds) and real-size
architectures with random weights (GPU). Sizes per run are a `Profile`."""

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from scripts.benchmarks import real_size
from scripts.benchmarks.flux import ImageSize
from scripts.benchmarks.llm import TextModel
from scripts.registry import DEPLOYMENTS, TINY_MODELS

NAMES = {name: deployment.model for name, deployment in DEPLOYMENTS.items() if deployment.kind == "text"}


@dataclass(frozen=True)
class Profile:
    """What one run measures: context lengths and new tokens per LLM request, timed runs per figure, the image
    size and steps for FLUX, the LoRA ranks swapped and the slot's rank."""

    name: str
    contexts: tuple[int, ...]
    new_tokens: int
    runs: int
    image: ImageSize
    lora_ranks: tuple[int, int]
    max_lora_rank: int

    def with_overrides(self, **changes) -> "Profile":
        return Profile(**{**self.__dict__, **{k: v for k, v in changes.items() if v is not None}})


# Contexts of about 512, 4k and 16k tokens that, with the new tokens, fit the deployments' 1024, 4096 and 16384
# cache buckets: each request runs on the cache it would get deployed.
REAL = Profile("real", contexts=(512, 4000, 16000), new_tokens=64, runs=5, image=ImageSize(1024, 28),
               lora_ranks=(16, 32), max_lora_rank=64)
TINY = Profile("tiny", contexts=(64, 512), new_tokens=16, runs=5, image=ImageSize(64, 4),
               lora_ranks=(2, 4), max_lora_rank=8)
# The harness's dry run: every stage and variant once, on the tiny models, as little work as that allows. A
# short context takes the 1024-token cache and images are 64 px, as in the server tests, so their compiled
# graphs come from the inductor cache.
SMOKE = Profile("smoke", contexts=(32,), new_tokens=4, runs=1, image=ImageSize(64, 2), lora_ranks=(2, 4),
                max_lora_rank=8)
PROFILES = {p.name: p for p in (REAL, TINY, SMOKE)}

def tiny_model(name: str, root: Path) -> Path:
    """`root/<name>`, built on first use (a folder already there is used as is: tests link their fixtures)."""
    directory = root / name
    if not directory.exists():
        TINY_MODELS[name].build(directory)
    return directory


def tiny_text_model(deployment: str, directory: Path) -> TextModel:
    def build(device: torch.device):
        from transformers import AutoModelForCausalLM, Gemma3ForConditionalGeneration

        cls = Gemma3ForConditionalGeneration if deployment == "gemma3" else AutoModelForCausalLM
        return cls.from_pretrained(directory, dtype=torch.bfloat16).to(device).eval()

    return TextModel(f"{NAMES[deployment]} (tiny)", deployment, build, lambda: directory)


REAL_FACTORIES = {
    "smollm3": real_size.smollm3_3b,
    "gemma3": real_size.gemma3_4b_text,
    "phi4-reasoning": real_size.phi4_14b,
}


def real_text_model(deployment: str, checkpoint: Callable[[], Path] | None = None) -> TextModel:
    """Random weights straight on the device; `checkpoint()` saves (once) a copy for loaders reading from disk."""
    factory = REAL_FACTORIES[deployment]
    return TextModel(NAMES[deployment], deployment, lambda device: real_size.build_on(device, factory), checkpoint)


def save_real_checkpoint(deployment: str, directory: Path, device: torch.device, tokenizer_dir: Path) -> None:
    """A real-size random checkpoint in bf16 with the tiny model's tokenizer (token ids are all that matter)."""
    from transformers import AutoTokenizer

    model = real_size.build_on(device, REAL_FACTORIES[deployment])
    model.save_pretrained(directory)
    AutoTokenizer.from_pretrained(tokenizer_dir).save_pretrained(directory)
    del model


def transformer_config(flux_dir: Path) -> dict:
    return json.loads((flux_dir / "transformer" / "config.json").read_text())
