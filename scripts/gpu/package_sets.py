"""The two package sets the GPU check carries, where each is installed on the machine, and how a stage runs with
one: `main` (the other deployments' pins, requirements/) into the machine's own Python environment, and `phi4`
(the Phi-4 container's pins: deployments/phi4-reasoning/requirements.txt and cog.yaml) into a folder of its own,
put first on PYTHONPATH for the Phi-4 stages only. They differ: Unsloth needs datasets < 5 (4.3.0 in the
container, 5.2.0 for pruna in requirements/), and only the Phi-4 container has Unsloth at all.

    python -m scripts.gpu.package_sets phi4    # in a Phi-4 stage's environment: its versions against the pins

Standard library only: runs on the GPU machine before anything is installed, and here before any venv.
"""

import json
import os
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WHEELS = REPO / ".whl"  # the main set; carried by the run tool together with:
PHI4_WHEELS = WHEELS / "phi4"  # what the Phi-4 set holds beyond the main set and the machine
PHI4_SITE = Path(os.environ.get("GPU_CHECK_PHI4_SITE", "/tmp/gpu-check-phi4-site"))
MAIN_PIN_FILES = (REPO / "requirements" / "dev.txt", REPO / "requirements" / "constraints.txt")
PHI4_DIR = REPO / "deployments" / "phi4-reasoning"
PHI4_PIN_FILES = (PHI4_DIR / "requirements.txt", PHI4_DIR / "cog.yaml")
PIN = re.compile(r"(?m)(?:^|\s)([A-Za-z0-9][A-Za-z0-9_.-]*)==([0-9][^\s#;,\"']*)")

# Pins of the Phi-4 container that can't travel: the machine's own stand in, and env.json records them.
NOT_CARRIED = {
    "torch": "the machine's 2.11.0+cu130: 2.14.1 is a 530 MB wheel and a call carries 64 MiB",
    "torchvision": "the machine's 0.26, built for its torch",
}
# The machine's image has these at the container's version (KINDS.md pip list, 2026-11; env.json checks it).
ON_MACHINE = {"accelerate": "1.15.0", "safetensors": "0.8.0", "huggingface-hub": "1.33.0"}
# Not pinned by the container, chosen by pip when it installs datasets 4.3.0 there: the newest release that
# datasets' bounds allow (dill < 0.4.1, multiprocess < 0.70.17, fsspec <= 2025.9.0).
PHI4_RESOLVED = {"dill": "0.4.0", "multiprocess": "0.70.16", "fsspec": "2025.9.0"}


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(paths) -> dict[str, str]:
    """name -> version from `name==version` in the files, the first file naming a package winning."""
    pins = {}
    for path in paths:
        for match in PIN.finditer(Path(path).read_text()):
            pins.setdefault(normalize(match[1]), match[2])
    return pins


def phi4_container_pins() -> dict[str, str]:
    """What the Phi-4 container installs by version: requirements.txt, cog.yaml's `pip install` line (Unsloth),
    and the Cog SDK at cog.yaml's sdk_version."""
    pins = read_pins(PHI4_PIN_FILES)
    sdk = re.search(r"(?m)^\s*sdk_version:\s*[\"']?([0-9][^\"'\s]*)", (PHI4_DIR / "cog.yaml").read_text())
    if sdk:
        pins["cog"] = sdk[1]
    return pins


def pythonpath(packages: str, inherited: str = "") -> str:
    """PYTHONPATH for a stage of a package set: the Phi-4 folder first for `phi4`, then what was set before."""
    parts = [str(PHI4_SITE)] if packages == "phi4" else []
    parts += [p for p in inherited.split(os.pathsep) if p]
    return os.pathsep.join(dict.fromkeys(parts))


def installed_versions(names) -> dict[str, str]:
    import importlib.metadata

    found = {}
    for name in names:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def compare_to_phi4_container() -> dict:
    """This interpreter's versions of every package the Phi-4 container pins: which differ, and which of those
    can't be carried (NOT_CARRIED)."""
    pins = phi4_container_pins()
    found = installed_versions(pins)
    differ = {name: {"pinned": pins[name], "found": found[name]} for name in pins if found[name] != pins[name]}
    return {"matches": not (differ.keys() - NOT_CARRIED.keys()), "site": str(PHI4_SITE),
            "site_on_path": str(PHI4_SITE) in sys.path,
            "differ": {name: {**d, **({"why": NOT_CARRIED[name]} if name in NOT_CARRIED else {})}
                       for name, d in differ.items()}}


def main(argv: list[str]) -> int:
    if argv != ["phi4"]:
        raise SystemExit("usage: python -m scripts.gpu.package_sets phi4")
    result = compare_to_phi4_container()
    print(json.dumps(result, indent=1))
    return 0 if result["matches"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
