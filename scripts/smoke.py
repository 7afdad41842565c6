"""Run a deployment's committed smoke inputs against its built image with `cog run`.

    python3 scripts/smoke.py deployments/smollm3 --image smollm3 [--setup-timeout 1800]

Values starting with "@" are files relative to the deployment folder (Cog's own `-i name=@file` syntax).
HF_TOKEN, when set here, is passed into the container (`cog run` passes only `-e` variables) and masked in
what this prints. Standard library only: it runs on a GPU host that has cog and docker but not this repo's venv.
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

# Download + quantize + compile of the largest deployment (FLUX.1-dev, ~34 GB) on a fresh host; baked weights
# need a fraction of it. Cog's own default (300 s) is too short for a first start.
SETUP_TIMEOUT_S = 1800
PASSED_ENV = ("HF_TOKEN",)


def cog_run_args(image: str, inputs: dict, setup_timeout: int) -> list[str]:
    args = ["cog", "run", image, "--setup-timeout", str(setup_timeout)]
    for name in PASSED_ENV:
        if os.environ.get(name):
            args += ["-e", f"{name}={os.environ[name]}"]
    for name, value in inputs.items():
        args += ["-i", f"{name}={json.dumps(value) if isinstance(value, (dict, list)) else value}"]
    return args


def masked(text: str) -> str:
    for name in PASSED_ENV:
        if os.environ.get(name):
            text = text.replace(os.environ[name], "***")
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("deployment", type=Path)
    parser.add_argument("--image", required=True)
    parser.add_argument("--setup-timeout", type=int, default=SETUP_TIMEOUT_S, help="seconds (default %(default)s)")
    args = parser.parse_args()
    cases = json.loads((args.deployment / "smoke_inputs.json").read_text())
    failures = 0
    for number, inputs in enumerate(cases, 1):
        command = cog_run_args(args.image, inputs, args.setup_timeout)
        print(f"[{number}/{len(cases)}] {masked(' '.join(command))}", flush=True)
        result = subprocess.run(command, cwd=args.deployment, capture_output=True, text=True)
        answered = result.returncode == 0 and result.stdout.strip()
        print(masked(result.stdout[-2000:] if answered else result.stderr[-4000:]), flush=True)
        failures += not answered
    print(f"smoke: {len(cases) - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
