"""The check's scratch folder: tiny models, LoRA files, and real-size checkpoints, one at a time.

The GPU machine has 64 GiB of disk: a real-size FLUX.1-dev checkpoint is ~34 GB and Phi-4's ~29 GB, so making
one checkpoint first deletes any other, then checks that the free disk holds it (NotEnoughDisk otherwise: the
stage's JSON names it, instead of a save dying half-way with ENOSPC after minutes). A checkpoint is used only
once its `.complete` marker exists (a save cut short by a time-out is made again). No heavy imports at module
level: the driver asks `checkpoint_ready` before deciding what fits the budget.
"""

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# Room left beside a checkpoint for what grows while it is used: the inductor cache, outputs, logs.
DISK_MARGIN_BYTES = 2 * 2**30


class NotEnoughDisk(RuntimeError):
    """The free disk can't hold a checkpoint: the stage stops before writing a byte."""


def checkpoint_dir(root: Path, name: str) -> Path:
    return root / "checkpoints" / name


def checkpoint_ready(root: Path, name: str) -> bool:
    return (checkpoint_dir(root, name) / ".complete").exists()


def require_free_disk(directory: Path, needed_bytes: int, what: str) -> None:
    """Raise NotEnoughDisk unless the disk holding `directory` has `needed_bytes` plus the margin free."""
    free = shutil.disk_usage(directory).free
    if free < needed_bytes + DISK_MARGIN_BYTES:
        raise NotEnoughDisk(f"{what} needs {needed_bytes / 1e9:.1f} GB + {DISK_MARGIN_BYTES / 2**30:.0f} GiB spare "
                            f"at {directory}; {free / 1e9:.1f} GB free")


@dataclass(frozen=True)
class Workdir:
    root: Path

    def tiny(self, name: str) -> Path:
        from scripts.benchmarks.models import tiny_model

        return tiny_model(name, self.root / "tiny")

    def tiny_loras(self) -> dict[str, Path]:
        """The tiny FLUX LoRA set the tests use: built-in styles (a FLUX_STYLE_LORAS_DIR), a custom one, ..."""
        from scripts.harness.tiny_models.flux_loras import build_tiny_loras

        directory = self.root / "tiny" / "flux-loras"
        if not (directory / "custom.safetensors").exists():
            shutil.rmtree(directory, ignore_errors=True)
            build_tiny_loras(self.tiny("flux"), directory)
        return {"styles": directory / "styles", "custom": directory / "custom.safetensors"}

    def tiny_safety_checker(self) -> dict[str, str]:
        """The FLUX deployments' two safety models, tiny, flagging only red images (tiny FLUX never paints one),
        as the environment variables they are read from."""
        from scripts.harness.tiny_models.safety_checker import build_tiny_nsfw_classifier, build_tiny_safety_checker

        folders = {"SAFETY_CHECKER_MODEL_DIR": (self.root / "tiny" / "safety-checker", build_tiny_safety_checker),
                   "NSFW_CLASSIFIER_MODEL_DIR": (self.root / "tiny" / "nsfw-classifier", build_tiny_nsfw_classifier)}
        for directory, build in folders.values():
            if not directory.exists():
                build(directory, "red")
        return {name: str(directory) for name, (directory, _) in folders.items()}

    def scratch(self, name: str) -> Path:
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def checkpoint(self, name: str, save: Callable[[Path], None], size_bytes: int = 0) -> Path:
        """`root/checkpoints/<name>`, saved by `save(path)` unless complete already; other checkpoints go first,
        then the disk must hold `size_bytes` (NotEnoughDisk)."""
        directory = checkpoint_dir(self.root, name)
        if checkpoint_ready(self.root, name):
            return directory
        for other in (self.root / "checkpoints").glob("*"):
            shutil.rmtree(other, ignore_errors=True)
        directory.mkdir(parents=True)
        require_free_disk(directory, size_bytes, f"checkpoint {name!r}")
        save(directory)
        (directory / ".complete").touch()
        return directory
