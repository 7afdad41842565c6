"""`make gpu-wheels`: the wheels the GPU machine lacks, for its Python 3.12 (x86_64), into .whl/ at the repo root.

The borrowed GPU machine has no network and its own image (docs/gpu-check.md): Python 3.12, torch 2.11 (CUDA
13.0), torchvision, triton, accelerate, safetensors, huggingface_hub, numpy, pandas, pyarrow, scipy, pillow,
requests, pyyaml, protobuf, ... Everything else the check imports travels as wheels in `.whl/`, carried by the
`run` tool, at most 64 MiB together with the repo. Versions are the repo's pins (requirements/dev.txt, then
requirements/constraints.txt, then the Phi-4 container's requirements.txt and cog.yaml for Unsloth's set).

Two wheels are rewritten to fit: bitsandbytes keeps only its CUDA 13.0 and CPU libraries (of 16; torch 2.11 is
the cu130 build), and unsloth drops its `studio/` web app and CLI (77 MB unpacked; `import unsloth` never reads
them). hqq has no wheel on PyPI: it is built from its sdist with DISABLE_CUDA=1 (pure Python; its CUDA extension
is an optional backend the deployments don't use).

    python -m scripts.gpu.wheels [--out .whl] [--verify-with /path/to/python3.12]

`--verify-with` installs the set into a scratch folder for a Python 3.12 that has the GPU machine's packages
and runs the env stage's imports plus HQQ through Pruna on a tiny model with it (how the set below was found).
Standard library only: runs before any venv exists.
"""

import argparse
import base64
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WHEELS = REPO / ".whl"
CARRY_LIMIT = 64 * 2**20  # the run tool's limit on the working tree plus carried paths
PIN_FILES = (REPO / "requirements" / "dev.txt", REPO / "requirements" / "constraints.txt",
             REPO / "deployments" / "phi4-reasoning" / "requirements.txt",
             REPO / "deployments" / "phi4-reasoning" / "cog.yaml")
PLATFORM = ["--only-binary=:all:", "--python-version", "3.12", "--implementation", "cp",
            *(f"--platform={tag}" for tag in ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64",
                                              "manylinux_2_24_x86_64", "manylinux_2_17_x86_64",
                                              "manylinux2014_x86_64", "manylinux1_x86_64"))]

# What the machine lacks, or has at another version than the deployments run. Found by installing into a
# Python 3.12 with the machine's package list and running the stages' imports (--verify-with).
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
    # Phi-4's Unsloth path: what the phi4 container installs beside torch and transformers
    "unsloth": "Phi-4's 4-bit fast path", "unsloth-zoo": "unsloth", "trl": "unsloth", "tyro": "unsloth",
    "docstring-parser": "tyro", "typeguard": "tyro", "msgspec": "unsloth-zoo", "json5": "unsloth",
    "nest-asyncio": "unsloth", "cut-cross-entropy": "unsloth-zoo",
}
# Packages no pin file names (tyro's needs): the newest releases when this set was made.
EXTRA_PINS = {"docstring-parser": "0.18.0", "typeguard": "4.6.1"}
# Built from the sdist (no wheel on PyPI), with these environment variables.
FROM_SDIST = {"hqq": {"DISABLE_CUDA": "1"}}


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins() -> dict[str, str]:
    """name -> version from the pin files, the first file naming a package wins."""
    pins = {}
    for path in PIN_FILES:
        for match in re.finditer(r"(?m)(?:^|\s)([A-Za-z0-9][A-Za-z0-9_.-]*)==([0-9][^\s#;,\"']*)", path.read_text()):
            pins.setdefault(normalize(match[1]), match[2])
    return pins | {normalize(k): v for k, v in EXTRA_PINS.items()}


def requirements() -> list[str]:
    pins = read_pins()
    missing = [name for name in CARRIED if normalize(name) not in pins]
    if missing:
        raise SystemExit(f"no pinned version for {', '.join(missing)}: pin them (requirements/) or in EXTRA_PINS")
    return [f"{name}=={pins[normalize(name)]}" for name in CARRIED]


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
    names = [normalize(w.name.split("-")[0]) for w in out.glob("*.whl")]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise SystemExit(f"two versions of {', '.join(twice)} in {out}: pip would refuse the install")


def travelling_bytes() -> int:
    """The working tree the run tool sends: tracked files plus untracked ones git does not ignore."""
    listing = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                             capture_output=True, check=True).stdout.decode().split("\0")
    return sum((REPO / name).stat().st_size for name in listing if name and (REPO / name).is_file())


def report_size(out: Path) -> None:
    wheels = sum(w.stat().st_size for w in out.glob("*.whl"))
    tree = travelling_bytes()
    total = wheels + tree
    print(f"{len(list(out.glob('*.whl')))} wheels: {wheels / 2**20:.1f} MiB; repo working tree: {tree / 2**20:.1f} "
          f"MiB; carried together: {total / 2**20:.1f} MiB of {CARRY_LIMIT / 2**20:.0f} MiB "
          f"({(CARRY_LIMIT - total) / 2**20:.1f} MiB to spare)")
    if total > CARRY_LIMIT:
        raise SystemExit("over the run tool's 64 MiB limit: carry less")


def verify(out: Path, python: str) -> None:
    """Install the set next to a GPU-machine-like Python 3.12 and run what the stages import on a CPU."""
    with tempfile.TemporaryDirectory() as target:
        subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--no-compile",
                        "--target", target, *map(str, sorted(out.glob("*.whl")))], check=True)
        env = {**os.environ, "PYTHONPATH": f"{target}{os.pathsep}{REPO}"}
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
    specs = requirements()
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    download(specs, args.out)
    slim(args.out)
    check_one_version_each(args.out)
    report_size(args.out)
    if args.verify_with:
        verify(args.out, args.verify_with)


if __name__ == "__main__":
    main()
