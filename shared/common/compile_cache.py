"""Compile work carried into the next boot: torch's Mega-Cache artifacts in a folder (TORCH_COMPILE_CACHE).

At setup start the artifacts are loaded into inductor's caches when they were made with the same torch,
Triton and device as this boot (recorded beside them), and ignored with the reason logged otherwise; the
warm-up then finds its graphs compiled. At setup end this boot's artifacts are written there, unless the ones
loaded already matched (nothing new to carry). A folder that can't be written (a read-only image layer) costs
a warning, never the setup.
"""

import json
import logging
import platform
from pathlib import Path

import torch

from shared.common.setup_stages import SetupStages

logger = logging.getLogger(__name__)

ARTIFACTS = "mega_cache.bin"
ENVIRONMENT = "environment.json"


class CompileCache:
    """What a setup calls: `load` before anything compiles, `save` after the warm-up; both timed as the
    `compile cache` stage, both no-ops without a folder."""

    def __init__(self, directory: Path | None, device: torch.device):
        self.directory, self.device, self.loaded = directory, device, False

    def load(self, stages: SetupStages) -> None:
        if self.directory is not None:
            with stages.stage("compile cache"):
                self.loaded = load_compile_cache(self.directory, self.device)

    def save(self, stages: SetupStages) -> None:
        if self.directory is not None:
            with stages.stage("compile cache"):
                save_compile_cache(self.directory, self.device, self.loaded)


def environment(device: torch.device) -> dict[str, str | None]:
    """What the artifacts are valid for: inductor's kernels are built for one torch, one Triton, one device."""
    try:
        import triton

        triton_version = triton.__version__
    except ImportError:
        triton_version = None
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        capability = ".".join(map(str, torch.cuda.get_device_capability(device)))
        device_name = f"{name} (sm {capability})"
    else:
        device_name = f"{device.type} {platform.machine()}"
    return {"torch": torch.__version__, "triton": triton_version, "device": device_name}


def load_compile_cache(directory: Path | None, device: torch.device) -> bool:
    """Load the artifacts in `directory` when they match this boot; True when they were loaded."""
    if directory is None:
        return False
    artifacts, recorded_file = directory / ARTIFACTS, directory / ENVIRONMENT
    if not artifacts.exists() or not recorded_file.exists():
        logger.info("compile cache: none in %s yet; this boot compiles and saves it", directory)
        return False
    recorded, current = json.loads(recorded_file.read_text()), environment(device)
    differences = [f"{key} {recorded.get(key)!r} != {value!r} here" for key, value in current.items()
                   if recorded.get(key) != value]
    if differences:
        logger.warning("compile cache in %s ignored: made for another environment (%s)", directory,
                       "; ".join(differences))
        return False
    info = torch.compiler.load_cache_artifacts(artifacts.read_bytes())
    logger.info("compile cache: loaded %.1f MB from %s (%s)", artifacts.stat().st_size / 1e6, directory,
                _describe(info))
    return True


def save_compile_cache(directory: Path | None, device: torch.device, loaded: bool) -> None:
    """Write this boot's artifacts to `directory` (skipped when the ones loaded matched)."""
    if directory is None or loaded:
        return
    saved = torch.compiler.save_cache_artifacts()
    if saved is None:
        logger.info("compile cache: nothing compiled to save")
        return
    data, info = saved
    try:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / ARTIFACTS).write_bytes(data)
        (directory / ENVIRONMENT).write_text(json.dumps(environment(device), indent=1) + "\n")
    except OSError as error:
        logger.warning("compile cache: can't write %s (%s); the next boot compiles again", directory, error)
        return
    logger.info("compile cache: saved %.1f MB to %s (%s)", len(data) / 1e6, directory, _describe(info))


def _describe(info) -> str:
    if info is None or info.empty():
        return "no artifacts"
    return ", ".join(f"{len(keys)} {kind}" for kind, keys in info.artifacts.items())
