"""A text deployment's setup (`TextService.start`, as the predictor runs it) booted twice, each time a new machine
with an empty inductor cache of its own: the second boot loads the served model the build saved instead of
quantizing, and gets its decode graphs from the first boot's compile-cache artifacts instead of compiling them.

Counted by inductor's graph cache, not by seconds: on the CPU a hit still builds the graph's C++ kernels with the
compiler (Mega-Cache carries Triton kernels, not C++ ones), so the time saved there is not the GPU's."""

import json
import os
import subprocess
import sys
import textwrap

from tests.conftest import REPO

BOOT = textwrap.dedent("""
    import json, sys
    from torch._dynamo.utils import counters
    from scripts.harness.deployment_predictor import predictor_module
    from shared.text.service import TextService

    service = TextService.start(predictor_module("smollm3").MODEL)
    print(json.dumps({"hits": counters["inductor"]["fxgraph_cache_hit"],
                      "misses": counters["inductor"]["fxgraph_cache_miss"]}))
""")


def boot(env: dict, inductor) -> tuple[dict, dict, str]:
    """(inductor's graph cache counters, setup's stage report, the log)."""
    report = inductor.parent / f"{inductor.name}-report.json"
    env = {**os.environ, **env, "TORCHINDUCTOR_CACHE_DIR": str(inductor), "SETUP_REPORT": str(report),
           "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", BOOT], env=env, capture_output=True, text=True, cwd=REPO,
                          timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1]), json.loads(report.read_text()), done.stdout


def test_second_boot_loads_the_saved_model_and_the_compiled_graphs(tiny_smollm3, tmp_path):
    env = {"SMOLLM3_MODEL_DIR": str(tiny_smollm3), "WEIGHTS_DIR": str(tmp_path / "weights"), "DEVICE": "cpu",
           "QUANTIZE": "hqq4", "MAX_CONTEXT_TOKENS": "64", "CACHE_BUCKETS": "64", "COG_MAX_CONCURRENCY": "1",
           "TORCH_COMPILE_CACHE": str(tmp_path / "compile-cache")}
    first, first_report, first_log = boot(env, tmp_path / "inductor-first")
    assert first["misses"] >= 1 and first["hits"] == 0  # the decode graph (one cache length), compiled
    assert "optimize" in first_report["stages_s"] and "compile cache: saved" in first_log

    done = subprocess.run([sys.executable, "-m", "scripts.save_served", "smollm3"], env={**os.environ, **env},
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr

    second, second_report, second_log = boot(env, tmp_path / "inductor-second")
    assert second == {"hits": first["misses"], "misses": 0}
    assert "compile cache: loaded" in second_log and "served weights: loaded the saved smollm3 model" in second_log
    assert "optimize" not in second_report["stages_s"]
