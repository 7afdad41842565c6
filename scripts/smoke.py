"""Run a deployment's committed smoke inputs against its built image with `cog predict`.

    python3 scripts/smoke.py deployments/smollm3 --image smollm3

Values starting with "@" are files relative to the deployment folder (Cog's own `-i name=@file` syntax).
Standard library only: it runs on a GPU host that has cog and docker but not this repo's venv.
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path


def cog_predict_args(image: str, inputs: dict) -> list[str]:
    args = ["cog", "predict", image]
    for name, value in inputs.items():
        args += ["-i", f"{name}={json.dumps(value) if isinstance(value, (dict, list)) else value}"]
    return args


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("deployment", type=Path)
    parser.add_argument("--image", required=True)
    args = parser.parse_args()
    cases = json.loads((args.deployment / "smoke_inputs.json").read_text())
    failures = 0
    for number, inputs in enumerate(cases, 1):
        command = cog_predict_args(args.image, inputs)
        print(f"[{number}/{len(cases)}] {' '.join(command)}", flush=True)
        result = subprocess.run(command, cwd=args.deployment, capture_output=True, text=True)
        answered = result.returncode == 0 and result.stdout.strip()
        print(result.stdout[-2000:] if answered else result.stderr[-4000:], flush=True)
        failures += not answered
    print(f"smoke: {len(cases) - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
