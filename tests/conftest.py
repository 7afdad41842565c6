import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# One inductor cache for every test session and server the tests start: the second run compiles in seconds.
os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(REPO / ".cache" / "inductor"))
os.environ.setdefault("PRUNA_METRICS_ENABLED", "false")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


# The GPU check's dry run is the longest piece of work in the suite, and the CPU benchmark's test reads it.
DRY_RUN_MODULES = ("test_gpu_check_dry_run.py", "test_benchmark_runs.py")


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist: plain `pytest` runs without it
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """Under `make test`'s two workers (pytest-xdist) a module runs whole on one worker, so its server boots
    once, and the dry run's two modules share one. (xdist's own --dist loadgroup can't: under pytest 9 its
    renamed node ids don't reach the scheduler.)"""
    from xdist.scheduler import LoadScopeScheduling

    class ByModule(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return "gpu-check-dry-run" if Path(module).name in DRY_RUN_MODULES else module

    config.option.loadscopereorder = False  # keep the order below: the longest piece of work first
    return ByModule(config, log)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The dry run first, so the other worker fills its time with everything else."""
    items.sort(key=lambda item: item.path.name not in DRY_RUN_MODULES)


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


def loan(out: Path, work: Path, phi4_site: Path, *more: str) -> int:
    """LOAN_CALL's command, with the CPU's Python instead of the GPU machine's, and the tests' tiny models."""
    import subprocess
    import sys

    from scripts.gpu.stages import LOAN_CALL

    env = {**os.environ, "DEVICE": "cpu", "PYTHON": sys.executable, "OUT": str(out),
           "GPU_CHECK_PHI4_SITE": str(phi4_site), "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1",
           "TQDM_DISABLE": "1"}
    env.pop("GPU_CHECK_STARTED", None)
    command = [*LOAN_CALL["command"].split(), "--work", str(work), *more]
    return subprocess.run(command, cwd=REPO, env=env, timeout=1500).returncode


@pytest.fixture(scope="session")
def gpu_check_dry_run(tmp_path_factory, tiny_smollm3, tiny_gemma3, tiny_phi4, tiny_flux, tiny_loras,
                      tiny_safety_checkers) -> dict:
    """The GPU check's CPU dry run: two loans, then the report from both loans' JSON and a stage over the budget.
    Session-wide: tests/test_gpu_check_dry_run.py checks it, and the CPU benchmark's test takes stage results
    from it instead of measuring the same stages at the same size again."""
    from scripts.gpu import check

    work = tmp_path_factory.mktemp("gpu-check-work")
    (work / "tiny").mkdir()
    checkers = tiny_safety_checkers["red"]
    links = {"smollm3": tiny_smollm3, "gemma3": tiny_gemma3, "phi4-reasoning": tiny_phi4, "flux": tiny_flux,
             "flux-loras": tiny_loras["custom"].parent, "safety-checker": checkers["SAFETY_CHECKER_MODEL_DIR"],
             "nsfw-classifier": checkers["NSFW_CLASSIFIER_MODEL_DIR"]}
    for name, target in links.items():
        (work / "tiny" / name).symlink_to(target)
    phi4_site = tmp_path_factory.mktemp("phi4-site")  # empty here: the Phi-4 set is the GPU machine's wheels
    first, second = tmp_path_factory.mktemp("loan-1"), tmp_path_factory.mktemp("loan-2")
    loan_1 = loan(first, work, phi4_site)
    loan_2 = loan(second, work, phi4_site, "--done", str(first))  # as docs/gpu would hold loan 1's JSON
    report = tmp_path_factory.mktemp("report") / "benchmarks-gpu.md"
    check.main(["--stage", "report", "--device", "cpu", "--out", str(second), "--done", str(first),
                "--report", str(report), "--in-process"])
    over_budget = check.main(["--stage", "speed-smollm3", "--force", "--budget-s", "1", "--device", "cpu",
                              "--out", str(tmp_path_factory.mktemp("over-budget")), "--work", str(work)])
    return {"loans": (first, second), "codes": (loan_1, loan_2, over_budget), "report": report,
            "phi4_site": phi4_site, "work": work}
