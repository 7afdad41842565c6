"""The served model saved once: its quantized (and pruned) weights, written by `make weights-<name>` beside the
baked weights and loaded at boot instead of being quantized again.

A saved model is used only when the recipe it was made with matches this boot's exactly: the source weights'
fingerprint, the deployment's optimization settings and the versions of the libraries that made it (quantized
tensor layouts change between versions). Otherwise setup quantizes as before and logs why. A save is written to
a temporary folder and renamed into place, with its SHA-256 recorded and checked at load: an interrupted or
corrupt save is never used.

What is saved is a state dict, loaded into the model's architecture built without weights. hqq's `HQQLinear`
keeps its packed values, scales and zeros as tensors in it; torchao's quantized weights are tensor subclasses
that `torch.load(weights_only=True)` accepts. Both are the same on any device, so a build host without a GPU can
make it: device-specific kernel layouts (the int4 kernel's packing) are made at every boot, after loading.
"""

import hashlib
import importlib.metadata
import json
import logging
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

logger = logging.getLogger(__name__)

FORMAT = 2  # bump when what is saved changes meaning
WEIGHTS_FILE = "model.pt"
RECIPE_FILE = "recipe.json"
# Whose versions a saved model depends on: torch's serialization, the model classes, the quantizers' layouts.
LIBRARIES = ("torch", "transformers", "torchao", "hqq", "pruna")
SAMPLE_BYTES = 1 << 20


def library_versions() -> dict[str, str | None]:
    versions = {"torch": torch.__version__}  # with its build (+cu130): the distribution's version has none
    for name in LIBRARIES[1:]:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def source_fingerprint(weights: Path) -> str:
    """Which checkpoint a served model was made from: the config and a sample of every weight file (its size,
    first and last MiB). Two checkpoints of one architecture differ in every tensor, so in those samples too;
    reading 2 MiB per file instead of all of it keeps this to milliseconds at boot."""
    digest = hashlib.sha256()
    files = [weights / "config.json", *sorted(weights.rglob("*.safetensors")), *sorted(weights.rglob("*.bin"))]
    for file in files:
        if not file.is_file():
            continue
        size = file.stat().st_size
        digest.update(f"{file.relative_to(weights)}:{size}\n".encode())
        with open(file, "rb") as handle:
            digest.update(handle.read(SAMPLE_BYTES))
            if size > 2 * SAMPLE_BYTES:
                handle.seek(-SAMPLE_BYTES, os.SEEK_END)
                digest.update(handle.read())
            elif size > SAMPLE_BYTES:
                digest.update(handle.read())
    return digest.hexdigest()


def recipe(deployment: str, weights: Path, variant: Mapping[str, object]) -> dict:
    """Everything a served model depends on; `variant` is the deployment's optimization settings."""
    return {
        "format": FORMAT,
        "deployment": deployment,
        "source": source_fingerprint(weights),
        "variant": json.loads(json.dumps(variant)),  # as it reads back from JSON (tuples become lists)
        "libraries": library_versions(),
    }


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(16 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class ServedWeights:
    """A folder holding one served model: `model.pt` (the state dict) and `recipe.json` (what made it)."""

    directory: Path

    def exists(self) -> bool:
        return self.directory.is_dir()

    def mismatch(self, wanted: dict) -> str | None:
        """None when the saved model was made by `wanted`; else why it can't be used, for the log."""
        recipe_file = self.directory / RECIPE_FILE
        if not recipe_file.is_file() or not (self.directory / WEIGHTS_FILE).is_file():
            return f"no saved served model in {self.directory} (make weights-<name> saves one)"
        saved = json.loads(recipe_file.read_text()).get("recipe", {})
        differences = [
            f"{key} {_short(saved.get(key))} != {_short(value)} here"
            for key, value in wanted.items()
            if saved.get(key) != value
        ]
        if differences:
            return f"the served model in {self.directory} was made differently: " + "; ".join(differences)
        return None

    def save(self, model: torch.nn.Module, made_by: dict) -> Path:
        """Write the model's state dict and its recipe, replacing any earlier save only once both are whole."""
        partial = self.directory.with_name(f"{self.directory.name}.partial-{os.getpid()}")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        try:
            weights = partial / WEIGHTS_FILE
            state = model.state_dict()
            # Buffers a state dict leaves out (rotary frequencies) as the optimization left them: hqq casts every
            # layer it doesn't quantize to its compute dtype, and a load must give that same model.
            computed = {name: buffer for name, buffer in model.named_buffers() if name not in state}
            torch.save({"state": state, "computed_buffers": computed}, weights)
            record = {"recipe": made_by, "bytes": weights.stat().st_size, "sha256": file_sha256(weights)}
            (partial / RECIPE_FILE).write_text(json.dumps(record, indent=1) + "\n")
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        if self.directory.exists():
            shutil.rmtree(self.directory)
        partial.rename(self.directory)
        logger.info("served model saved: %.1f MB in %s", record["bytes"] / 1e6, self.directory)
        return self.directory

    def load_into(self, empty: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        """The saved weights in `empty` (the architecture built without weights), on `device`.

        Raises ServedWeightsError when the file is not the one recorded (truncated, overwritten, corrupt)."""
        weights = self.directory / WEIGHTS_FILE
        record = json.loads((self.directory / RECIPE_FILE).read_text())
        if weights.stat().st_size != record["bytes"] or file_sha256(weights) != record["sha256"]:
            raise ServedWeightsError(f"{weights} is not the file its recipe records (corrupt or overwritten)")
        saved = torch.load(weights, map_location=device, weights_only=True, mmap=device.type == "cpu")
        state = saved["state"]
        _empty_hqq_layers(empty, state, device)
        empty.load_state_dict(state, assign=True, strict=True)
        for name, buffer in saved["computed_buffers"].items():
            owner, _, attribute = name.rpartition(".")
            empty.get_submodule(owner)._buffers[attribute] = buffer
        empty.tie_weights()  # the state dict holds the tied head and embedding as one storage, not one parameter
        logger.info("served model loaded from %s (%.1f MB, no quantization at boot)", self.directory,
                    record["bytes"] / 1e6)
        return empty.to(device).eval()  # buffers the architecture made itself (rotary frequencies) are on the CPU


class ServedWeightsError(RuntimeError):
    """A saved served model that matched its recipe could not be read back."""


def _empty_hqq_layers(model: torch.nn.Module, state: Mapping[str, torch.Tensor], device: torch.device) -> None:
    """hqq layers where the state dict holds them (a `W_q`), to load into: an `nn.Linear` can't take their
    state, and `HQQLinear.to()` moves nothing, so each is made on the device."""
    names = {key.removesuffix(".W_q") for key in state if key.endswith(".W_q")}
    if not names:
        return
    from hqq.core.quantize import HQQLinear

    for name in names:
        parent, _, child = name.rpartition(".")
        layer = HQQLinear(None, quant_config=None, compute_dtype=torch.bfloat16, device=str(device), initialize=False)
        model.get_submodule(parent).register_module(child, layer)


def _short(value) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + "..."
