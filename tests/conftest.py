import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# One inductor cache for every test session and server the tests start: the second run compiles in seconds.
os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(REPO / ".cache" / "inductor"))
os.environ.setdefault("PRUNA_METRICS_ENABLED", "false")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def tiny(name: str, tmp_path_factory) -> Path:
    """The tiny model scripts/registry.py names, built once per session."""
    from scripts.registry import TINY_MODELS

    return TINY_MODELS[name].build(tmp_path_factory.mktemp(f"tiny-{name}"))


@pytest.fixture(scope="session")
def tiny_smollm3(tmp_path_factory) -> Path:
    return tiny("smollm3", tmp_path_factory)


@pytest.fixture(scope="session")
def tiny_phi4(tmp_path_factory) -> Path:
    return tiny("phi4-reasoning", tmp_path_factory)


@pytest.fixture(scope="session")
def tiny_gemma3(tmp_path_factory) -> Path:
    return tiny("gemma3", tmp_path_factory)


@pytest.fixture(scope="session")
def tiny_flux(tmp_path_factory) -> Path:
    return tiny("flux", tmp_path_factory)


@pytest.fixture(scope="session")
def tiny_loras(tiny_flux, tmp_path_factory) -> dict[str, Path]:
    """LoRA files for the tiny FLUX transformer: two built-in styles, a custom one, and unfit ones."""
    from scripts.harness.tiny_models.flux_loras import build_tiny_loras

    return build_tiny_loras(tiny_flux, tmp_path_factory.mktemp("tiny-loras"))


@pytest.fixture(scope="session")
def tiny_safety_checkers(tmp_path_factory) -> dict[str, dict[str, str]]:
    """Tiny safety checkers wired to flag red images ("red", which tiny FLUX never paints) or every image
    ("any"), as the environment a FLUX deployment reads them from."""
    from scripts.harness.tiny_models.safety_checker import build_tiny_nsfw_classifier, build_tiny_safety_checker

    return {
        flag: {
            "SAFETY_CHECKER_MODEL_DIR": str(
                build_tiny_safety_checker(tmp_path_factory.mktemp(f"checker-{flag}"), flag)
            ),
            "NSFW_CLASSIFIER_MODEL_DIR": str(
                build_tiny_nsfw_classifier(tmp_path_factory.mktemp(f"nsfw-{flag}"), flag)
            ),
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
