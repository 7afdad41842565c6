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


# The GPU check's CPU dry run (tests/test_gpu_check_dry_run.py) is ~7 minutes of subprocesses: stage processes and
# Cog servers, about one core's worth. It starts with the session, niced, beside the other tests (the second
# core), and the tests reading it run last. GPU_CHECK_DRY_RUN_BACKGROUND=0 runs it when first needed instead.
DRY_RUN = "gpu_check_dry_run"
IN_BACKGROUND = os.environ.get("GPU_CHECK_DRY_RUN_BACKGROUND", "1") != "0"


def pytest_collection_modifyitems(config, items):
    if IN_BACKGROUND:
        items.sort(key=lambda item: DRY_RUN in item.fixturenames)  # stable: the rest keep their order


class DryRun:
    """Two GPU loans in a row on the CPU, the second continuing from the first's JSON (as docs/gpu carries it),
    each the loan's one call (scripts.gpu.stages.LOAN_CALL) with the CPU's Python. The tiny models are built
    in the work folder on first use, as on the GPU machine."""

    def __init__(self, tmp_path_factory, nice: int, threads: dict[str, str] | None = None):
        self.work = tmp_path_factory.mktemp("gpu-check-work")
        self.phi4_site = tmp_path_factory.mktemp("phi4-site")  # empty here: the Phi-4 set is the GPU's wheels
        self.loans = (tmp_path_factory.mktemp("loan-1"), tmp_path_factory.mktemp("loan-2"))
        self.console = self.work / "console.log"  # both loans' output (check.log in each holds its own)
        self.nice = nice
        self.threads = threads or {}
        self.codes: list[int] = []
        self.error: BaseException | None = None
        self.process = None
        self.stopped = False

        import threading

        self.thread = threading.Thread(target=self.run, name="gpu-check-dry-run", daemon=True)

    def run(self) -> None:
        try:
            first, second = self.loans
            for out, more in ((first, ()), (second, ("--done", str(first)))):
                if not self.stopped:
                    self.codes.append(self.loan(out, *more))
        except BaseException as error:  # re-raised by result(), in the test that reads it
            self.error = error

    def loan(self, out: Path, *more: str) -> int:
        import subprocess
        import sys

        from scripts.gpu.processes import kill_tree
        from scripts.gpu.stages import LOAN_CALL

        env = {**os.environ, "DEVICE": "cpu", "PYTHON": sys.executable, "OUT": str(out),
               "GPU_CHECK_PHI4_SITE": str(self.phi4_site), "HF_HUB_OFFLINE": "1",
               "HF_HUB_DISABLE_PROGRESS_BARS": "1", "TQDM_DISABLE": "1", **self.threads}
        env.pop("GPU_CHECK_STARTED", None)
        command = [*LOAN_CALL["command"].split(), "--work", str(self.work), *more]
        with open(self.console, "ab") as console:
            self.process = subprocess.Popen(["nice", "-n", str(self.nice), *command], cwd=REPO, env=env,
                                            stdout=console, stderr=subprocess.STDOUT, start_new_session=True)
            try:
                return self.process.wait(timeout=1500)
            except subprocess.TimeoutExpired:
                kill_tree(self.process)
                raise

    def stop(self) -> None:
        """The session ends (or is interrupted) before the dry run did: nothing of it outlives pytest."""
        from scripts.gpu.processes import kill_tree

        self.stopped = True
        if self.process is not None and self.process.poll() is None:
            kill_tree(self.process)
        self.thread.join(timeout=30)

    def result(self) -> tuple[int, int]:
        self.thread.join()
        if self.error is not None:
            raise self.error
        if len(self.codes) != 2:
            raise AssertionError(f"the dry run stopped early: {self.console.read_text()[-3000:]}")
        return self.codes[0], self.codes[1]


@pytest.fixture(scope="session", autouse=True)
def gpu_check_dry_run_in_background(request, tmp_path_factory):
    """Started with the session when a selected test reads the dry run."""
    if not IN_BACKGROUND or not any(DRY_RUN in item.fixturenames for item in request.session.items):
        yield None
        return
    # One core: the tests beside it keep the other. Its stage processes start sessions of their own, and the
    # kernel's autogroups share the CPU between sessions whatever their nice: the thread counts do the work.
    run = DryRun(tmp_path_factory, nice=19, threads={"OMP_NUM_THREADS": "1", "TORCHINDUCTOR_COMPILE_THREADS": "1"})
    run.thread.start()
    yield run
    run.stop()


@pytest.fixture(scope="session")
def gpu_check_dry_run(gpu_check_dry_run_in_background, tmp_path_factory) -> dict:
    """The GPU check's CPU dry run: two loans, then the report from both loans' JSON and a stage over the budget.
    Read by tests/test_gpu_check_dry_run.py and by the CPU benchmark's test (which takes stage results from it
    instead of measuring the same stages again)."""
    from scripts.gpu import check

    run = gpu_check_dry_run_in_background
    if run is None:  # not started in the background: now, waiting for it
        run = DryRun(tmp_path_factory, nice=0)
        run.thread.start()
    codes = run.result()
    first, second = run.loans
    report = tmp_path_factory.mktemp("report") / "benchmarks-gpu.md"
    check.main(["--stage", "report", "--device", "cpu", "--out", str(second), "--done", str(first),
                "--report", str(report), "--in-process"])
    over_budget = check.main(["--stage", "speed-smollm3", "--force", "--budget-s", "1", "--device", "cpu",
                              "--out", str(tmp_path_factory.mktemp("over-budget")), "--work", str(run.work)])
    return {"loans": run.loans, "codes": (*codes, over_budget), "report": report, "phi4_site": run.phi4_site,
            "work": run.work}
