"""What every deployment reads from the environment, read once at setup into one frozen object.

One naming scheme: `<NAME>_MODEL_DIR` is a local folder holding a model's weights (air-gapped hosts, the tests'
tiny models), `<NAME>_REVISION` overrides a pinned revision. The deployment-specific settings
(`TextSettings`, `FluxSettings`, `LoraSettings`, `PruneSettings`) follow the same rule: `from_env` once, in
setup; tests and benchmarks build them directly.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType


def _default_model_cache() -> Path:
    return Path.home() / ".cache" / "huggingface" / "hub"


@dataclass(frozen=True)
class RuntimeSettings:
    device: str | None = None  # DEVICE: "cpu" forces the CPU (the tests); unset picks CUDA when present
    output_dir: Path | None = None  # OUTPUT_DIR: answers and images are also written here (a mounted volume)
    weights_dir: Path = Path("weights")  # WEIGHTS_DIR: what `make weights-<name>` baked in, beside predict.py
    model_cache_dir: Path = field(default_factory=_default_model_cache)  # MODEL_CACHE_DIR: Hub downloads
    model_dirs: Mapping[str, str] = field(default_factory=dict)  # every <NAME>_MODEL_DIR that is set
    revisions: Mapping[str, str] = field(default_factory=dict)  # every <NAME>_REVISION that is set
    setup_report: Path | None = None  # SETUP_REPORT: setup's stage times are also written here as JSON
    compile_cache: Path | None = None  # TORCH_COMPILE_CACHE: a folder of Mega-Cache artifacts (compile_cache.py)

    @property
    def served_weights_dir(self) -> Path:
        """Where `make weights-<name>` saves served (quantized) models: shared/optim/served_weights.py."""
        return self.weights_dir / "served"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "RuntimeSettings":
        defaults = cls()
        output_dir, setup_report = environ.get("OUTPUT_DIR"), environ.get("SETUP_REPORT")
        compile_cache = environ.get("TORCH_COMPILE_CACHE")
        return cls(
            device=environ.get("DEVICE") or None,
            output_dir=Path(output_dir) if output_dir else None,
            weights_dir=Path(environ.get("WEIGHTS_DIR") or defaults.weights_dir),
            model_cache_dir=Path(environ.get("MODEL_CACHE_DIR") or defaults.model_cache_dir),
            model_dirs=MappingProxyType({k: v for k, v in environ.items() if k.endswith("_MODEL_DIR") and v}),
            revisions=MappingProxyType({k: v for k, v in environ.items() if k.endswith("_REVISION") and v}),
            setup_report=Path(setup_report) if setup_report else None,
            compile_cache=Path(compile_cache) if compile_cache else None,
        )
