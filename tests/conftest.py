import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# One inductor cache for every test session and server the tests start: the second run compiles in seconds.
os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(REPO / ".cache" / "inductor"))
os.environ.setdefault("PRUNA_METRICS_ENABLED", "false")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_smollm3(tmp_path_factory) -> Path:
    from scripts.tiny_models.smollm3 import build_tiny_smollm3

    return build_tiny_smollm3(tmp_path_factory.mktemp("tiny-smollm3"))


@pytest.fixture(scope="session")
def tiny_phi4(tmp_path_factory) -> Path:
    from scripts.tiny_models.phi4 import build_tiny_phi4

    # Scripted: greedy decoding emits a real <think>...</think> block, then an answer.
    return build_tiny_phi4(tmp_path_factory.mktemp("tiny-phi4"), scripted=True)


@pytest.fixture(scope="session")
def tiny_gemma3(tmp_path_factory) -> Path:
    from scripts.tiny_models.gemma3 import build_tiny_gemma3

    return build_tiny_gemma3(tmp_path_factory.mktemp("tiny-gemma3"))


@pytest.fixture(scope="session")
def tiny_flux(tmp_path_factory) -> Path:
    from scripts.tiny_models.flux import build_tiny_flux

    return build_tiny_flux(tmp_path_factory.mktemp("tiny-flux"))


@pytest.fixture(scope="session")
def tiny_loras(tiny_flux, tmp_path_factory) -> dict[str, Path]:
    """LoRA files for the tiny FLUX transformer: two built-in styles, a custom one, and unfit ones."""
    from scripts.tiny_models.flux_loras import build_tiny_loras

    return build_tiny_loras(tiny_flux, tmp_path_factory.mktemp("tiny-loras"))


@pytest.fixture(scope="session")
def tiny_safety_checkers(tmp_path_factory) -> dict[str, dict[str, str]]:
    """Tiny safety checkers wired to flag red images ("red", which tiny FLUX never paints) or every image
    ("any"), as the environment a FLUX deployment reads them from."""
    from scripts.tiny_models.safety_checker import build_tiny_nsfw_classifier, build_tiny_safety_checker

    return {
        flag: {
            "SAFETY_CHECKER_DIR": str(build_tiny_safety_checker(tmp_path_factory.mktemp(f"checker-{flag}"), flag)),
            "NSFW_CLASSIFIER_DIR": str(build_tiny_nsfw_classifier(tmp_path_factory.mktemp(f"nsfw-{flag}"), flag)),
        }
        for flag in ("red", "any")
    }


@pytest.fixture(scope="session")
def flux_env(tiny_flux, tiny_loras, tiny_safety_checkers) -> dict[str, str]:
    """Environment for a FLUX deployment on the tiny pipeline: CPU, 64 px warm-up, LoRA rank up to 8."""
    return {
        **tiny_safety_checkers["red"],
        "FLUX_MODEL_DIR": str(tiny_flux),
        "FLUX_STYLE_LORAS_DIR": str(tiny_loras["styles"]),
        "LORA_LOCAL_DIR": str(tiny_loras["custom"].parent),  # requests may name LoRA files only under it
        "DEVICE": "cpu",
        "WARMUP_SIZE": "64",
        "MAX_LORA_RANK": "8",
    }
