"""First step of every GPU-machine call (scripts/gpu/loan.sh): install the carried wheels (`make gpu-wheels`).

The main set (.whl/*.whl) goes into the machine's own Python environment, not a --target folder:
scripts/harness/cog_server.py sets PYTHONPATH for the servers it starts, which would hide such a folder from the other
stages. The Phi-4 set (.whl/phi4/*.whl) goes into package_sets.PHI4_SITE, which only the Phi-4 stages put first
on PYTHONPATH (and pass on to their servers). Then prints the versions each set sees, and how the Phi-4 set
compares with the Phi-4 container's pins. Safe to run twice. Standard library only.
"""

import os
import shutil
import subprocess
import sys

from scripts.gpu.package_sets import PHI4_SITE, PHI4_WHEELS, REPO, WHEELS, pythonpath

SHOWN = ("torch", "transformers", "diffusers", "peft", "torchao", "bitsandbytes", "hqq", "pruna", "datasets", "cog")


def pip_install(wheels: list, *target: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--no-compile",
                    "--no-cache-dir", "--upgrade", *target, *map(str, wheels)], check=True)


def main() -> int:
    main_wheels, phi4_wheels = sorted(WHEELS.glob("*.whl")), sorted(PHI4_WHEELS.glob("*.whl"))
    if not main_wheels or not phi4_wheels:
        print("install: no wheels in .whl/ or .whl/phi4/ (run 'make gpu-wheels' here, then name .whl in the run "
              "tool's carry)", file=sys.stderr)
        return 1
    pip_install(main_wheels)
    shutil.rmtree(PHI4_SITE, ignore_errors=True)  # exactly this call's Phi-4 set, nothing left from an earlier one
    pip_install(phi4_wheels, "--target", str(PHI4_SITE))
    show = f"from scripts.gpu.package_sets import installed_versions as v; print('install:', v({SHOWN!r}))"
    subprocess.run([sys.executable, "-c", show], cwd=REPO, check=True)
    env = {**os.environ, "PYTHONPATH": pythonpath("phi4", os.environ.get("PYTHONPATH", ""))}
    # Differences are reported, not fatal: env.json records them and the other stages still run.
    subprocess.run([sys.executable, "-m", "scripts.gpu.package_sets", "phi4"], cwd=REPO, env=env)
    return 0


if __name__ == "__main__":
    sys.exit(main())
