"""`make gpu-wheels`: the wheels the GPU machine lacks, for its Python 3.12 (x86_64), into .whl/ at the repo root.

The borrowed GPU machine has no network and its own image (docs/gpu-check.md): Python 3.12, torch 2.11 (CUDA
13.0), torchvision, triton, accelerate, safetensors, huggingface_hub, numpy, pandas, pyarrow, scipy, pillow,
requests, pyyaml, protobuf, ... Everything else the check imports travels as wheels, carried by the `run` tool,
at most 64 MiB together with the repo, in two sets (scripts/gpu/package_sets.py):

- `.whl/`: the main set, at the repo's pins (requirements/dev.txt, then requirements/constraints.txt), installed
  into the machine's Python;
- `.whl/phi4/`: what the Phi-4 container's set (deployments/phi4-reasoning/requirements.txt and cog.yaml) has
  beyond the main set and the machine: Unsloth and its extras, datasets 4.3.0 and what pip resolves for it, ...;
  installed into a folder of its own that only the Phi-4 stages put first on PYTHONPATH.

Two wheels are rewritten to fit: bitsandbytes keeps only its CUDA 13.0 and CPU libraries (of 16; torch 2.11 is
the cu130 build), and unsloth drops its `studio/` web app and CLI (77 MB unpacked; `import unsloth` never reads
them). hqq has no wheel on PyPI: it is built from its sdist with DISABLE_CUDA=1 (pure Python; its CUDA extension
is an optional backend the deployments don't use).

    python -m scripts.gpu.wheels [--out .whl] [--verify-with /path/to/python3.12]

`--verify-with` installs both sets into scratch folders for a Python 3.12 that has the GPU machine's packages
and runs the env stage with it (how the sets below were found).
Standard library only: runs before any venv exists.
"""

import argparse
import base64
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from scripts.gpu.package_sets import (
    MAIN_PIN_FILES,
    NOT_CARRIED,
    ON_MACHINE,
    PHI4_RESOLVED,
    REPO,
    WHEELS,
    normalize,
    phi4_container_pins,
    read_pins,
)

CARRY_LIMIT = 64 * 2**20  # the run tool's limit on the working tree plus carried paths
PLATFORM = ["--only-binary=:all:", "--python-version", "3.12", "--implementation", "cp",
            *(f"--platform={tag}" for tag in ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64",
                                              "manylinux_2_24_x86_64", "manylinux_2_17_x86_64",
                                              "manylinux2014_x86_64", "manylinux1_x86_64"))]

# What the machine lacks, or has at another version than the deployments run, for every stage but Phi-4's.
# Found by installing into a Python 3.12 with the machine's package list and running the stages' imports
# (--verify-with).
CARRIED = {
    # The optimization stack at the deployments' pins (the machine's transformers 5.17 and tokenizers 0.23 are
    # replaced: the containers and the tests run 5.5.4; its peft version is unknown).
    "transformers": "the pinned version, not the machine's",
    "tokenizers": "what transformers 5.5.4 needs",
    "peft": "LoRA hot-swap (pinned; pruna wants < 0.19)",
    "diffusers": "FLUX",
    "torchao": "INT8 weight-only, float8; HQQ's int4 backend",
    "bitsandbytes": "NF4 (FLUX, Phi-4 fallback)",
    "hqq": "SmolLM3's 4-bit quantizer",
    "pruna": "runs HQQ for SmolLM3",
    "cog": "the Cog SDK the predictors import",
    "coglet": "the Cog server (a Rust binary wheel)",
    "structlog": "cog",
    "termcolor": "hqq",
    # What Pruna imports when it loads and when it smashes with HQQ
    "ConfigSpace": "pruna", "more-itertools": "ConfigSpace", "datasets": "pruna", "dill": "datasets",
    "multiprocess": "datasets", "importlib-metadata": "pruna", "lazy-importer": "pruna", "kernels": "pruna",
    "kernels-data": "kernels", "aenum": "pruna", "ipython": "pruna's output suppression", "traitlets": "ipython",
    "opentelemetry-api": "pruna telemetry (off, but imported)", "opentelemetry-sdk": "pruna",
    "opentelemetry-semantic-conventions": "opentelemetry-sdk", "opentelemetry-proto": "the OTLP exporter",
    "opentelemetry-exporter-otlp-proto-http": "pruna", "opentelemetry-exporter-otlp-proto-common": "the exporter",
    "opentelemetry-exporter-otlp-common": "the exporter", "opentelemetry-exporter-http-transport": "the exporter",
}
# The Phi-4 set beyond the container's pins: tyro's needs, which no pin file names (the newest releases when
# this set was made), and what pip resolves for datasets 4.3.0 (package_sets.PHI4_RESOLVED).
PHI4_EXTRA_PINS = {"docstring-parser": "0.18.0", "typeguard": "4.6.1", **PHI4_RESOLVED}
# Built from the sdist (no wheel on PyPI), with these environment variables.
FROM_SDIST = {"hqq": {"DISABLE_CUDA": "1"}}


def main_set() -> dict[str, str]:
    """name -> version of the main set, from requirements/."""
    pins = read_pins(MAIN_PIN_FILES)
    missing = [name for name in CARRIED if normalize(name) not in pins]
    if missing:
        raise SystemExit(f"no pinned version for {', '.join(missing)}: pin them in requirements/")
    return {name: pins[normalize(name)] for name in CARRIED}


def phi4_set() -> dict[str, str]:
    """name -> version of everything the Phi-4 stages must see that the machine doesn't have: the container's pins
    (but torch and torchvision, NOT_CARRIED, and what the machine has at that version) and PHI4_EXTRA_PINS."""
    pins = {**{normalize(k): v for k, v in PHI4_EXTRA_PINS.items()}, **phi4_container_pins()}
    return {name: version for name, version in pins.items()
            if name not in NOT_CARRIED and ON_MACHINE.get(name) != version}


def phi4_only(main: dict[str, str], phi4: dict[str, str]) -> dict[str, str]:
    """The part of the Phi-4 set the main set doesn't already carry at the same version: `.whl/phi4/`."""
    shared = {normalize(name): version for name, version in main.items()}
    return {name: version for name, version in phi4.items() if shared.get(name) != version}


def phi4_effective(main: dict[str, str], phi4_folder: dict[str, str]) -> dict[str, str]:
    """normalized name -> the version a Phi-4 stage imports: its folder first on PYTHONPATH, then the main set
    installed into the machine's Python, then the machine's own (ON_MACHINE; others unknown here)."""
    return {**ON_MACHINE, **{normalize(n): v for n, v in main.items()},
            **{normalize(n): v for n, v in phi4_folder.items()}}


def requirements() -> list[str]:
    return [f"{name}=={version}" for name, version in main_set().items()]


def download(specs: list[str], out: Path) -> None:
    binary = [s for s in specs if normalize(s.split("==")[0]) not in FROM_SDIST]
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", *PLATFORM, "-d", str(out),
                    *binary], check=True)
    for spec in specs:
        name = normalize(spec.split("==")[0])
        if name in FROM_SDIST:
            env = {**os.environ, **FROM_SDIST[name]}
            subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-binary", name,
                            "-w", str(out), spec], check=True, env=env)


def record_line(name: str, data: bytes) -> bytes:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}".encode()


def rewrite_wheel(path: Path, drop) -> int:
    """Rewrite a wheel without the members `drop(name)` selects; RECORD lists exactly what is left. Returns the
    bytes saved."""
    before = path.stat().st_size
    temporary = path.with_suffix(".tmp")
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as target:
        record = next(i for i in source.infolist() if i.filename.endswith(".dist-info/RECORD"))
        lines = []
        for item in source.infolist():
            if item is record or drop(item.filename):
                continue
            data = source.read(item)
            target.writestr(item, data, compress_type=zipfile.ZIP_DEFLATED)
            lines.append(record_line(item.filename, data))
        lines.append(f"{record.filename},,".encode())
        target.writestr(record, b"\n".join(lines) + b"\n", compress_type=zipfile.ZIP_DEFLATED)
    temporary.replace(path)
    return before - path.stat().st_size


# torch 2.11 on the machine is the CUDA 13.0 build: bitsandbytes loads libbitsandbytes_cuda130.so for it.
BITSANDBYTES_KEEP = ("_cuda130.so", "_cpu.so")


def slim(out: Path) -> None:
    for wheel in out.glob("bitsandbytes-*.whl"):
        saved = rewrite_wheel(wheel, lambda n: n.startswith("bitsandbytes/libbitsandbytes_")
                              and not n.endswith(BITSANDBYTES_KEEP))
        print(f"bitsandbytes: kept the CUDA 13.0 and CPU libraries, {saved / 2**20:.1f} MiB less")
    for wheel in out.glob("unsloth-2*.whl"):
        saved = rewrite_wheel(wheel, lambda n: n.startswith(("studio/", "unsloth_cli/")))
        print(f"unsloth: without studio/ and unsloth_cli/, {saved / 2**20:.1f} MiB less")


def check_one_version_each(out: Path) -> None:
    for folder in (out, out / "phi4"):
        names = [normalize(w.name.split("-")[0]) for w in folder.glob("*.whl")]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise SystemExit(f"two versions of {', '.join(twice)} in {folder}: pip would refuse the install")


def travelling_bytes() -> int:
    """The working tree the run tool sends: tracked files plus untracked ones git does not ignore."""
    listing = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                             capture_output=True, check=True).stdout.decode().split("\0")
    return sum((REPO / name).stat().st_size for name in listing if name and (REPO / name).is_file())


def report_size(out: Path) -> None:
    wheels = sum(w.stat().st_size for w in out.rglob("*.whl"))
    tree = travelling_bytes()
    total = wheels + tree
    print(f"{len(list(out.glob('*.whl')))} + {len(list(out.glob('phi4/*.whl')))} (Phi-4) wheels: "
          f"{wheels / 2**20:.1f} MiB; repo working tree: {tree / 2**20:.1f} "
          f"MiB; carried together: {total / 2**20:.1f} MiB of {CARRY_LIMIT / 2**20:.0f} MiB "
          f"({(CARRY_LIMIT - total) / 2**20:.1f} MiB to spare)")
    if total > CARRY_LIMIT:
        raise SystemExit("over the run tool's 64 MiB limit: carry less")


def verify(out: Path, python: str) -> None:
    """Install both sets next to a GPU-machine-like Python 3.12 and run what the stages import on a CPU."""
    with tempfile.TemporaryDirectory() as target:
        phi4_site = Path(target) / "phi4-site"
        for folder, site in ((out, target), (out / "phi4", str(phi4_site))):
            subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--no-compile",
                            "--target", site, *map(str, sorted(folder.glob("*.whl")))], check=True)
        env = {**os.environ, "PYTHONPATH": f"{target}{os.pathsep}{REPO}", "GPU_CHECK_PHI4_SITE": str(phi4_site)}
        probe = ("from scripts.gpu import check; import sys; "
                 "sys.exit(check.main(['--stage', 'env', '--device', 'cpu', '--in-process', '--force', "
                 "'--out', sys.argv[1], '--work', sys.argv[1] + '/work']))")
        subprocess.run([python, "-c", probe, str(Path(target) / "verify")], check=True, cwd=REPO, env=env)
        print((Path(target) / "verify" / "env.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=WHEELS)
    parser.add_argument("--verify-with", metavar="PYTHON", help="a Python 3.12 with the GPU machine's packages")
    args = parser.parse_args()
    main, phi4 = main_set(), phi4_set()
    shutil.rmtree(args.out, ignore_errors=True)
    (args.out / "phi4").mkdir(parents=True)
    download([f"{name}=={version}" for name, version in main.items()], args.out)
    download([f"{name}=={version}" for name, version in phi4_only(main, phi4).items()], args.out / "phi4")
    slim(args.out)
    slim(args.out / "phi4")
    check_one_version_each(args.out)
    report_size(args.out)
    if args.verify_with:
        verify(args.out, args.verify_with)


if __name__ == "__main__":
    main()
