"""The deployments, in one list: what each serves, the variable its weights folder is named by, and the tiny model
the tests, benchmarks and the GPU check's CPU dry run put there. `tests/test_deployment_files.py` checks it
against the folders under deployments/."""

import importlib
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class TinyModel:
    """A builder in scripts/harness/tiny_models/, and the keyword arguments it is called with."""

    module: str
    function: str
    kwargs: dict = field(default_factory=dict)

    def build(self, directory: Path) -> Path:
        return getattr(importlib.import_module(f"scripts.harness.tiny_models.{self.module}"), self.function)(
            directory, **self.kwargs
        )


TINY_MODELS = {
    "smollm3": TinyModel("smollm3", "build_tiny_smollm3"),
    "gemma3": TinyModel("gemma3", "build_tiny_gemma3"),
    # Scripted: greedy decoding emits a real <think>...</think> block, then an answer.
    "phi4-reasoning": TinyModel("phi4", "build_tiny_phi4", {"scripted": True}),
    "flux": TinyModel("flux", "build_tiny_flux"),
}


@dataclass(frozen=True)
class Deployment:
    name: str  # its folder under deployments/
    kind: str  # "text" or "image"
    model: str  # what it serves, as people call it
    model_dir_env: str  # <NAME>_MODEL_DIR: a local folder with its weights
    tiny_model: str  # a key of TINY_MODELS

    def build_tiny_model(self, directory: Path) -> Path:
        return TINY_MODELS[self.tiny_model].build(directory)


DEPLOYMENTS = {
    d.name: d
    for d in (
        Deployment("smollm3", "text", "SmolLM3-3B", "SMOLLM3_MODEL_DIR", "smollm3"),
        Deployment("gemma3", "text", "Gemma-3-4B", "GEMMA3_MODEL_DIR", "gemma3"),
        Deployment("phi4-reasoning", "text", "Phi-4 14B", "PHI4_MODEL_DIR", "phi4-reasoning"),
        Deployment("flux-dev-txt2img", "image", "FLUX.1-dev", "FLUX_MODEL_DIR", "flux"),
        Deployment("flux-dev-img2img", "image", "FLUX.1-dev", "FLUX_MODEL_DIR", "flux"),
    )
}
TEXT_DEPLOYMENTS = tuple(name for name, d in DEPLOYMENTS.items() if d.kind == "text")
