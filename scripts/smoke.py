"""Run a deployment's committed smoke inputs against its built image with `cog run`.

    python3 scripts/smoke.py deployments/smollm3 --image smollm3 [--setup-timeout 1800] [--outputs DIR]

Values starting with "@" are files relative to the deployment folder (Cog's own `-i name=@file` syntax).
HF_TOKEN, when set here, is passed into the container (`cog run` passes only `-e` variables) and masked in
what this prints. Standard library only: it runs on a GPU host that has cog and docker but not this repo's venv.

`cog run` writes file outputs into its working directory, so each case runs in its own folder under --outputs
(default: a new temporary folder), never in the deployment folder: that is the build context, and whatever is
left there goes into the next `cog build`. `cog run <image>` needs no cog.yaml in its working directory
(replicate/cog pkg/cli/predict.go:273-311: only the build-from-source path reads it).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

# Download + quantize + compile of the largest deployment (FLUX.1-dev, ~34 GB) on a fresh host; baked weights
# need a fraction of it. Cog's own default (300 s, pkg/cli/predict.go:760) is too short for a first start.
SETUP_TIMEOUT_S = 1800
PASSED_ENV = ("HF_TOKEN",)
# File outputs are announced on stderr with console.Infof (pkg/cli/predict.go:565, 607, 627, 707); colour
# prompts are only added on a terminal, stripped here anyway.
ANNOUNCED = re.compile(r"Written output to: (.+?)\s*$", re.MULTILINE)
ANSI = re.compile(r"\x1b\[[0-9;]*m")
IMAGE_MAGIC = {
    ".png": (b"\x89PNG\r\n\x1a\n",),
    ".jpg": (b"\xff\xd8\xff",),
    ".jpeg": (b"\xff\xd8\xff",),
    ".webp": (b"RIFF",),
}


def cli_value(value: object, files_from: Path) -> str:
    """`value` spelled the way `cog run -i name=value` parses it (replicate/cog pkg/predict/input.go).

    Booleans must be `true`/`false` (parseJSONBool, :244), numbers must parse (coerceScalarValue, :308), objects
    and arrays are JSON (:82-86), "@path" is a file read by the CLI (:72); here it is relative to the
    deployment folder, made absolute because `cog run` runs elsewhere. Strings go as they are.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, dict, list)):
        return json.dumps(value)
    if isinstance(value, str):
        if value.startswith("@"):
            return "@" + str((files_from / value[1:]).resolve())
        return value
    raise ValueError(f"`cog run -i` can't send {value!r}: leave the input out to get its default")


def cog_run_args(image: str, inputs: dict, setup_timeout: int, files_from: Path) -> list[str]:
    args = ["cog", "run", image, "--setup-timeout", str(setup_timeout)]
    for name in PASSED_ENV:
        if os.environ.get(name):
            args += ["-e", f"{name}={os.environ[name]}"]
    for name, value in inputs.items():
        args += ["-i", f"{name}={cli_value(value, files_from)}"]
    return args


def masked(text: str) -> str:
    for name in PASSED_ENV:
        if os.environ.get(name):
            text = text.replace(os.environ[name], "***")
    return text


@dataclass(frozen=True)
class Verdict:
    answered: bool
    shown: str


def announced_files(stderr: str, cwd: Path) -> list[Path]:
    return [cwd / path for path in ANNOUNCED.findall(ANSI.sub("", stderr))]


def file_problem(path: Path) -> str | None:
    if not path.is_file():
        return "missing"
    head = path.read_bytes()[:16]
    if not head:
        return "empty"
    magics = IMAGE_MAGIC.get(path.suffix.lower())
    if magics and not head.startswith(magics):
        return f"not a {path.suffix[1:]} image"
    if path.suffix.lower() == ".webp" and head[8:12] != b"WEBP":
        return "not a webp image"
    return None


def readable_text(stdout: str) -> str:
    """A streamed text output is an array of strings, which the CLI prints as indented JSON
    (pkg/cli/predict.go:613-629); joined here as Cog's `x-cog-array-display: concatenate` means."""
    try:
        output = json.loads(stdout)
    except ValueError:
        return stdout.strip()
    if isinstance(output, list) and all(isinstance(item, str) for item in output):
        return "".join(output).strip()
    return output.strip() if isinstance(output, str) else stdout.strip()


def judge(result: subprocess.CompletedProcess, cwd: Path) -> Verdict:
    """Answered: exit 0 and either files announced on stderr, all present and sound, or text on stdout."""
    if result.returncode != 0:
        return Verdict(False, f"exit {result.returncode}\n{result.stderr[-4000:]}")
    files = announced_files(result.stderr, cwd)
    if files:
        problems = [f"{path}: {problem}" for path in files if (problem := file_problem(path))]
        if problems:
            return Verdict(False, "\n".join(problems) + "\n" + result.stderr[-2000:])
        return Verdict(True, "\n".join(f"{path} ({path.stat().st_size} bytes)" for path in files))
    text = readable_text(result.stdout)
    if text:
        return Verdict(True, text[-2000:])
    return Verdict(False, "no text on stdout and no file announced on stderr\n" + result.stderr[-4000:])


def outputs_folder(requested: Path | None, deployment: Path) -> Path:
    if requested is None:
        return Path(tempfile.mkdtemp(prefix=f"smoke-{deployment.resolve().name}-"))
    folder = requested.resolve()
    if folder == deployment.resolve() or deployment.resolve() in folder.parents:
        raise SystemExit(f"error: --outputs {requested} is inside {deployment}, the next cog build's context")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("deployment", type=Path)
    parser.add_argument("--image", required=True)
    parser.add_argument("--setup-timeout", type=int, default=SETUP_TIMEOUT_S, help="seconds (default %(default)s)")
    parser.add_argument("--outputs", type=Path, help="where each case's outputs go (default: a new temporary folder)")
    args = parser.parse_args()
    cases = json.loads((args.deployment / "smoke_inputs.json").read_text())
    outputs = outputs_folder(args.outputs, args.deployment)
    failures = 0
    for number, inputs in enumerate(cases, 1):
        command = cog_run_args(args.image, inputs, args.setup_timeout, args.deployment)
        print(f"[{number}/{len(cases)}] {masked(' '.join(command))}", flush=True)
        case_folder = outputs / f"case-{number}"
        case_folder.mkdir(exist_ok=True)
        result = subprocess.run(command, cwd=case_folder, capture_output=True, text=True)
        verdict = judge(result, case_folder)
        print(masked(verdict.shown), flush=True)
        failures += not verdict.answered
    print(f"smoke: {len(cases) - failures} passed, {failures} failed; outputs in {outputs}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
