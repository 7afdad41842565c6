"""The Phi-4 stages of the GPU check run the Phi-4 container's package versions, not the other deployments'."""

import json
import os
import subprocess
import sys

from scripts.gpu import package_sets, wheels
from scripts.gpu.check import stage_environment
from scripts.gpu.stages import BY_NAME, STAGES


def phi4_stage_versions() -> dict[str, str]:
    """What a Phi-4 stage imports: `.whl/phi4/` first on its path, then the main set, then the machine's own."""
    main = wheels.main_set()
    return wheels.phi4_effective(main, wheels.phi4_only(main, wheels.phi4_set()))


def test_the_phi4_stages_get_every_version_the_phi4_container_pins():
    pins = package_sets.phi4_container_pins()
    assert {"unsloth", "unsloth-zoo", "datasets", "transformers", "cog"} <= pins.keys()
    seen = phi4_stage_versions()
    differ = {name: (pinned, seen.get(name)) for name, pinned in pins.items()
              if name not in package_sets.NOT_CARRIED and seen.get(name) != pinned}
    assert differ == {}, "Phi-4 stage version != Phi-4 container pin"
    assert seen["datasets"] == "4.3.0" and wheels.main_set()["datasets"] == "5.2.0", "the sets differ where they must"


def test_only_torch_stands_in_for_the_containers_pins():
    assert set(package_sets.NOT_CARRIED) == {"torch", "torchvision"}


def test_unsloth_travels_only_for_the_phi4_stages():
    main = {wheels.normalize(name) for name in wheels.main_set()}
    assert not main & {"unsloth", "unsloth-zoo", "trl", "tyro"}
    assert {s.name for s in STAGES if s.packages == "phi4"} == {s.name for s in STAGES if "phi4" in s.name}


def test_a_phi4_stage_process_finds_its_set_before_the_main_one(tmp_path, monkeypatch):
    # A Phi-4 set folder holding datasets 4.3.0's metadata, as `pip install --target` leaves it: the stage
    # process sees 4.3.0 although this venv (the main set) has 5.2.0.
    site = tmp_path / "phi4-site"
    (site / "datasets-4.3.0.dist-info").mkdir(parents=True)
    (site / "datasets-4.3.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: datasets\n"
                                                               "Version: 4.3.0\n")
    monkeypatch.setattr(package_sets, "PHI4_SITE", site)
    probe = [sys.executable, "-m", "scripts.gpu.package_sets", "phi4"]
    seen = {}
    for name in ("functional-phi4", "functional-text"):
        env = {**stage_environment(BY_NAME[name]), "GPU_CHECK_PHI4_SITE": str(site)}
        output = subprocess.run(probe, cwd=package_sets.REPO, env=env, capture_output=True, text=True).stdout
        seen[name] = json.loads(output)
    assert "datasets" not in seen["functional-phi4"]["differ"]
    assert seen["functional-text"]["differ"]["datasets"] == {"pinned": "4.3.0", "found": "5.2.0"}
    assert os.environ.get("PYTHONPATH", "") == stage_environment(BY_NAME["functional-text"])["PYTHONPATH"]
