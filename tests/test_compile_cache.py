"""Compile work carried into the next boot (TORCH_COMPILE_CACHE): a second boot, with an empty inductor cache of
its own, finds its graph in the Mega-Cache artifacts the first boot saved; artifacts from another environment
are ignored, with the reason logged."""

import json
import logging
import os
import subprocess
import sys
import textwrap

import torch

from shared.common.compile_cache import ARTIFACTS, ENVIRONMENT, environment, load_compile_cache
from shared.common.settings import RuntimeSettings
from tests.conftest import REPO

# One boot: the cache loaded at setup start, a fullgraph compile, the cache saved at setup end, as the
# deployments' start() do; prints what inductor's graph cache did.
BOOT = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    import torch
    from torch._dynamo.utils import counters
    from shared.common.compile_cache import CompileCache
    from shared.common.setup_stages import SetupStages

    stages = SetupStages("boot")
    cache = CompileCache(Path(sys.argv[1]), torch.device("cpu"))
    cache.load(stages)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.GELU(), torch.nn.Linear(16, 4))
    model.compile(fullgraph=True)
    with torch.no_grad():
        model(torch.randn(2, 8))
    cache.save(stages)
    print(json.dumps({"loaded": cache.loaded, "hits": counters["inductor"]["fxgraph_cache_hit"],
                      "misses": counters["inductor"]["fxgraph_cache_miss"]}))
""")


def boot(compile_cache, inductor_cache) -> dict:
    env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(inductor_cache), "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", BOOT, str(compile_cache)], env=env, capture_output=True,
                          text=True, check=True, cwd=REPO, timeout=600)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_second_boot_loads_the_first_boots_compiled_graph_instead_of_compiling_it(tmp_path):
    cache = tmp_path / "compile-cache"
    first = boot(cache, tmp_path / "inductor-first")
    assert first == {"loaded": False, "hits": 0, "misses": 1}
    assert json.loads((cache / ENVIRONMENT).read_text()) == environment(torch.device("cpu"))
    # A new machine: its own, empty inductor cache; only the artifacts carry the compile work over.
    second = boot(cache, tmp_path / "inductor-second")
    assert second == {"loaded": True, "hits": 1, "misses": 0}


def test_artifacts_from_another_environment_are_ignored_with_the_reason(tmp_path, caplog):
    (tmp_path / ARTIFACTS).write_bytes(b"not for this torch")
    recorded = {**environment(torch.device("cpu")), "torch": "2.11.0+cu130", "device": "NVIDIA H100 (sm 9.0)"}
    (tmp_path / ENVIRONMENT).write_text(json.dumps(recorded))
    caplog.set_level(logging.INFO, logger="shared.common.compile_cache")
    assert not load_compile_cache(tmp_path, torch.device("cpu"))
    assert caplog.messages == [
        f"compile cache in {tmp_path} ignored: made for another environment (torch '2.11.0+cu130' != "
        f"{torch.__version__!r} here; device 'NVIDIA H100 (sm 9.0)' != 'cpu {os.uname().machine}' here)"
    ]


def test_the_folder_is_read_from_the_environment(tmp_path):
    assert RuntimeSettings.from_env({}).compile_cache is None
    assert RuntimeSettings.from_env({"TORCH_COMPILE_CACHE": str(tmp_path)}).compile_cache == tmp_path
