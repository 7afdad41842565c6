"""`make smoke-<name>` against a stand-in `cog` that parses, fails and writes as the real CLI does.

There is no cog CLI or Docker here. The stand-in below follows replicate/cog at 6110c912, line for line where it
matters: `-i name=value` is coerced by the committed openapi.json's types (pkg/predict/input.go), file outputs
are written as output.N.<ext> in the working directory and announced on stderr, text goes to stdout
(pkg/cli/predict.go), `--version` prints cobra's "cog version X (built Y)" (pkg/cli/root.go:31). The launcher
written into a temporary bin/ runs `standin_main` from this module, so the stand-in is plain, linted code.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.check_cog import refusal
from scripts.smoke import cli_value

REPO = Path(__file__).resolve().parents[1]
DEPLOYMENTS = REPO / "deployments"
NAMES = sorted(p.parent.name for p in DEPLOYMENTS.glob("*/cog.yaml"))
FILE_OUTPUT_NAMES = ("flux-dev-img2img", "flux-dev-txt2img")
STANDIN_TEXT = ["The", " capital", " of", " France", " is", " Paris", "."]
MIME_EXTENSION = {"webp": ".webp", "jpg": ".jpg", "png": ".png"}  # pkg/util/mime/mime.go:64-69


# ---- the stand-in cog CLI ----------------------------------------------------------------------------------

class CliError(Exception):
    pass


def standin_main(argv: list[str]) -> int:
    with open(os.environ["STANDIN_LOG"], "a") as log:
        log.write(json.dumps({"argv": argv, "cwd": os.getcwd()}) + "\n")
    if "--version" in argv:
        print(f"cog version {os.environ.get('STANDIN_COG_VERSION', '0.23.1')} (built 2026-01-09T18:03:12Z)")
        return 0
    if argv[:1] == ["build"]:
        return 0
    if argv[:1] != ["run"]:
        print(f"error: the stand-in does not do {argv[:1]}", file=sys.stderr)
        return 1
    try:
        return standin_run(argv[1:])
    except CliError as error:  # cmd/cog prints the error and exits 1
        print(f"error: {error}", file=sys.stderr)
        return 1


def standin_run(argv: list[str]) -> int:
    image, flags = parse_run_flags(argv)
    if image is None:
        raise CliError("the stand-in only runs built images (`cog run <image>`); building from source needs Docker")
    if "=" in image:  # pkg/cli/predict.go:284
        raise CliError(f"Invalid image name '{image}'. Did you forget `-i`?")
    schema = json.loads((Path(os.environ["STANDIN_DEPLOYMENTS"]) / image_name(image) / "openapi.json").read_text())
    inputs = parse_inputs(flags["-i"], schema["components"]["schemas"]["Input"])
    print("Starting Docker image and running setup()...", file=sys.stderr)  # predict.go:314
    print(f"setup timeout {flags['--setup-timeout']} s", file=sys.stderr)
    print("Running prediction...", file=sys.stderr)  # predict.go:473
    output_schema = schema["components"]["schemas"]["Output"]
    out_path = flags["-o"]
    destination = writable_output_path(out_path)
    if output_schema.get("items", {}).get("format") == "uri":
        write_file_outputs(inputs, schema["components"]["schemas"]["Input"]["properties"], destination)
        return 0  # predict.go:593: nothing printed for list[Path]
    text = json.dumps([] if os.environ.get("STANDIN_FAULT") == "no-output" else STANDIN_TEXT, indent=2)
    if out_path:  # predict.go:622-627: with -o the JSON goes to the file instead of stdout
        Path(destination).write_text(text)
        print(f"Written output to: {destination}", file=sys.stderr)
    else:
        print(text)  # console.Output: stdout (pkg/util/console/console.go:149-153)
    return 0


def parse_run_flags(argv: list[str]) -> tuple[str | None, dict]:
    flags: dict = {"-i": [], "-e": [], "-o": "", "--setup-timeout": "300"}  # predict.go:760: default 300
    aliases = {"--input": "-i", "--env": "-e", "--output": "-o"}
    image = None
    items = iter(argv)
    for item in items:
        name = aliases.get(item, item)
        if name in ("-i", "-e"):
            flags[name].append(next(items))
        elif name in ("-o", "--setup-timeout"):
            flags[name] = next(items)
        elif item.startswith("-"):
            raise CliError(f"unknown flag: {item}")
        elif image is None:
            image = item
        else:
            raise CliError(f"accepts at most 1 arg(s), received {len(argv)}")  # predict.go:84
    if not flags["--setup-timeout"].isdigit():
        raise CliError(f'invalid argument "{flags["--setup-timeout"]}" for "--setup-timeout" flag')
    return image, flags


def image_name(image: str) -> str:
    return image.rsplit("/", 1)[-1].split(":", 1)[0]


def parse_inputs(raw_inputs: list[str], input_schema: dict) -> dict:
    """pkg/cli/predict.go:733-757 (parseInputFlags), pkg/predict/input.go (coercion), input_validation.go."""
    import jsonschema

    inputs = {}
    for raw in raw_inputs:
        if "=" not in raw:
            raise CliError(f"Failed to parse input '{raw}', expected format is 'name=value'")
        name, value = raw.split("=", 1)
        if value.startswith('"') and value.endswith('"'):
            value = value[1:-1]
        if name not in input_schema["properties"]:  # validateKnownInputNames
            raise CliError(f"unknown input {name!r}")
        inputs[name] = coerce(value, input_schema["properties"][name])
    try:  # component.VisitJSON, input_validation.go:59
        jsonschema.validate(inputs, input_schema)
    except jsonschema.ValidationError as error:
        raise CliError(f"invalid input {'.'.join(map(str, error.path))!r}: {error.message}") from None
    return inputs


def coerce(value: str, schema: dict) -> object:
    """input.go: "@" reads a local file (:72, :178-191); booleans only true/false (parseJSONBool, :244-253);
    integers base-10 int32, numbers int then float (coerceScalarValue, :308-336); else the string, left for
    validation to refuse."""
    if value.startswith("@"):
        path = Path(value[1:]).expanduser()
        if not path.is_file():
            raise CliError(f"open {path}: no such file or directory")
        mime = {".png": "image/png", ".jpg": "image/jpeg", ".webp": "image/webp"}.get(path.suffix, "")
        return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}"
    kind = schema.get("type")
    if kind == "boolean" and value in ("true", "false"):
        return value == "true"
    if kind in ("integer", "number") and re.fullmatch(r"[+-]?\d+", value) and -2**31 <= int(value) < 2**31:
        return int(value)
    if kind == "number" and re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", value):
        return float(value)
    if kind in ("object", "array"):
        return json.loads(value)
    return value


def writable_output_path(out_path: str) -> str:
    """ensureOutputWriteable, predict.go:637-680: a folder given with -o gets the fallback name "output"."""
    if not out_path:
        if Path("output").is_dir():
            raise CliError('Default output name "output" conflicts with directory, provide --output')
        return "output"
    return str(Path(out_path) / "output") if Path(out_path).is_dir() else out_path


def write_file_outputs(inputs: dict, properties: dict, destination: str) -> None:
    """processFileOutputs (predict.go:694-731) names item i `<destination>.<i>`; WriteDataURLToFile
    (pkg/util/files/files.go:63-77) drops that integer "extension" and appends the one of the data URL's MIME
    type; each write is announced with console.Infof on stderr (predict.go:707)."""
    from PIL import Image

    count = inputs.get("num_outputs", properties.get("num_outputs", {}).get("default", 1))
    image_format = inputs.get("output_format", properties["output_format"]["default"])
    stem, suffix = os.path.splitext(destination)
    fault = os.environ.get("STANDIN_FAULT")
    for index in range(count):
        path = f"{stem}.{index}{MIME_EXTENSION[image_format]}" if not suffix else f"{stem}.{index}{suffix}"
        if fault == "empty-file":
            Path(path).write_bytes(b"")
        elif fault == "not-an-image":
            Path(path).write_bytes(b"<html>502 Bad Gateway</html>")
        elif fault != "missing-file":
            Image.new("RGB", (8, 8), (200, 30, 30)).save(path, format={"jpg": "JPEG"}.get(image_format, image_format))
        print(f"Written output to: {path}", file=sys.stderr)


# ---- fixtures and helpers ----------------------------------------------------------------------------------

@pytest.fixture
def standin_path(tmp_path, monkeypatch) -> Path:
    """bin/ with the stand-in `cog` and a `docker` whose `info` succeeds, first on PATH; returns the cog log."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    cog = bin_dir / "cog"
    cog.write_text(
        f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(REPO)!r})\n"
        "from tests.test_smoke_cli import standin_main\nsys.exit(standin_main(sys.argv[1:]))\n"
    )
    docker = bin_dir / "docker"
    docker.write_text("#!/bin/sh\n[ \"$1\" = info ] && exit 0\necho \"stand-in docker: no $1\" >&2\nexit 1\n")
    for script in (cog, docker):
        script.chmod(0o755)
    log = tmp_path / "cog-calls.jsonl"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("STANDIN_LOG", str(log))
    monkeypatch.setenv("STANDIN_DEPLOYMENTS", str(DEPLOYMENTS))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("STANDIN_FAULT", raising=False)
    monkeypatch.delenv("STANDIN_COG_VERSION", raising=False)
    return log


def cog_calls(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def listing(folder: Path) -> set[str]:
    """What `cog run` could leave behind. Not .cog/ (the server schema) or __pycache__/, which a server test on
    the other test worker may be writing at the same moment."""
    return {str(path.relative_to(folder)) for path in folder.rglob("*")
            if not {".cog", "__pycache__"} & set(path.relative_to(folder).parts)}


def smoke(name: str, outputs: Path, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "scripts/smoke.py", f"deployments/{name}", "--image", name, "--outputs", str(outputs)],
        cwd=cwd, capture_output=True, text=True, timeout=300,
    )


def standin_cog(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["cog", *args], cwd=cwd, capture_output=True, text=True, timeout=60)


# ---- smoke.py against every deployment ---------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_committed_smoke_inputs_pass_and_nothing_lands_in_the_build_context(name, standin_path, tmp_path):
    before = listing(DEPLOYMENTS / name)
    result = smoke(name, tmp_path / "outputs")
    cases = json.loads((DEPLOYMENTS / name / "smoke_inputs.json").read_text())
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"smoke: {len(cases)} passed, 0 failed" in result.stdout
    assert listing(DEPLOYMENTS / name) == before, "cog run's outputs must not land in the next build's context"
    runs = [call for call in cog_calls(standin_path) if call["argv"][:1] == ["run"]]
    assert len(runs) == len(cases)
    for call in runs:
        assert call["argv"][1:4] == [name, "--setup-timeout", "1800"]
        assert Path(call["cwd"]).is_relative_to(tmp_path / "outputs")
    if name in FILE_OUTPUT_NAMES:
        images = sorted((tmp_path / "outputs").rglob("output.*"))
        expected = sum(case.get("num_outputs", 1) for case in cases)
        assert len(images) == expected and all(image.stat().st_size for image in images)
    else:
        assert "The capital of France is Paris." in result.stdout, "the streamed tokens shown as one text"


def test_booleans_go_as_the_cli_parses_them(standin_path, tmp_path):
    smoke("phi4-reasoning", tmp_path / "outputs")
    sent = [arg for call in cog_calls(standin_path) for arg in call["argv"] if arg.startswith("show_reasoning=")]
    assert sent == ["show_reasoning=false"]
    values = (True, 0, 0.8, 2048, "no_think", {"a": [1, True]})
    assert [cli_value(v, DEPLOYMENTS) for v in values] == ["true", "0", "0.8", "2048", "no_think", '{"a": [1, true]}']
    gemma3 = DEPLOYMENTS / "gemma3"
    assert cli_value("@examples/scene.png", gemma3) == f"@{gemma3 / 'examples' / 'scene.png'}"


@pytest.mark.parametrize("bad", ["show_reasoning=False", "show_reasoning=1", "max_new_tokens=2048.0",
                                 "seed=forty-two", "temperature=warm", "top_k=99999999999"])
def test_the_standin_refuses_what_the_cli_refuses(bad, standin_path, tmp_path):
    # The old smoke.py sent f"{name}={value}", Python's str(False): this is the run that would have caught it.
    result = standin_cog("run", "phi4-reasoning", "-i", "prompt=Hi", "-i", bad, cwd=tmp_path)
    assert result.returncode == 1
    assert bad.split("=")[0] in result.stderr
    accepted = standin_cog("run", "phi4-reasoning", "-i", "prompt=Hi", "-i", "show_reasoning=false",
                           "-i", "temperature=0", "-i", "top_p=0.5", cwd=tmp_path)
    assert accepted.returncode == 0, accepted.stderr


def test_an_image_with_nothing_on_stdout_counts_as_answered(standin_path, tmp_path):
    direct = standin_cog("run", "flux-dev-txt2img", "-i", "prompt=a house", cwd=tmp_path)
    assert direct.returncode == 0 and direct.stdout == ""
    assert "Written output to: output.0.webp" in direct.stderr
    assert (tmp_path / "output.0.webp").read_bytes()[8:12] == b"WEBP"
    result = smoke("flux-dev-txt2img", tmp_path / "outputs")
    assert result.returncode == 0 and "smoke: 3 passed, 0 failed" in result.stdout
    assert re.search(r"case-3/output\.1\.webp \(\d+ bytes\)", result.stdout), result.stdout


@pytest.mark.parametrize("fault, shown", [("missing-file", "missing"), ("empty-file", "empty"),
                                          ("not-an-image", "not a png image")])
def test_an_announced_file_that_is_missing_or_broken_counts_as_failed(fault, shown, standin_path, tmp_path,
                                                                       monkeypatch):
    monkeypatch.setenv("STANDIN_FAULT", fault)
    result = smoke("flux-dev-txt2img", tmp_path / "outputs")
    assert result.returncode == 1
    assert "smoke: 0 passed, 3 failed" in result.stdout
    assert f"output.0.png: {shown}" in result.stdout


def test_an_empty_text_answer_counts_as_failed(standin_path, tmp_path, monkeypatch):
    monkeypatch.setenv("STANDIN_FAULT", "no-output")
    result = smoke("smollm3", tmp_path / "outputs")
    assert result.returncode == 1 and "smoke: 0 passed, 2 failed" in result.stdout


def test_outputs_inside_the_deployment_are_refused(standin_path):
    result = smoke("smollm3", DEPLOYMENTS / "smollm3" / "outputs")
    assert result.returncode != 0 and "the next cog build's context" in result.stderr
    assert not (DEPLOYMENTS / "smollm3" / "outputs").exists()
    assert cog_calls(standin_path) == []


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule, enough for these patterns: a pattern matches the path or a folder above it, from the
    context's root ("**/" at any depth)."""
    parts = path.split("/")
    prefixes = ["/".join(parts[:end]) for end in range(1, len(parts) + 1)]
    suffixes = ["/".join(parts[start:end]) for end in range(1, len(parts) + 1) for start in range(end)]
    return any(
        any(fnmatch.fnmatchcase(candidate, pattern.rstrip("/").removeprefix("**/"))
            for candidate in (suffixes if pattern.startswith("**/") else prefixes))
        for pattern in patterns
    )


@pytest.mark.parametrize("name", NAMES)
def test_dockerignore_keeps_cog_run_outputs_out_of_the_image_and_nothing_else(name):
    lines = (DEPLOYMENTS / name / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    for output in ("output", "output.0.webp", "output.1.png", "output.json", "__pycache__/predict.cpython-311.pyc"):
        assert dockerignored(output, patterns), output
    committed = subprocess.run(["git", "ls-files", "."], cwd=DEPLOYMENTS / name, capture_output=True, text=True,
                               check=True).stdout.split()
    needed = [*committed, "shared/common/runtime.py", "shared/flux/image_outputs.py", "weights/model.safetensors"]
    assert not [path for path in needed if dockerignored(path, patterns)]


# ---- the CLI version -------------------------------------------------------------------------------------

@pytest.mark.parametrize("output", ["cog version 0.19.3 (built 2025-10-01T00:00:00Z)", "cog version 0.18.0 (built x)",
                                    "cog version 0.17.2 (built x)", "cog version dev (built none)", ""])
def test_old_or_unreadable_cli_versions_are_refused(output):
    reason = refusal(output)
    assert reason and "0.20 or newer" in reason
    if "0.1" in output:
        assert "too old" in reason and output.split()[2] in reason and "cog exec" in reason


@pytest.mark.parametrize("output", ["cog version 0.20.0 (built x)", "cog version 0.23.1 (built 2026-01-09T18:03:12Z)",
                                    "cog version 0.23.2-dev+gabc1234 (built x)", "cog version 1.0.0 (built x)"])
def test_current_cli_versions_are_accepted(output):
    assert refusal(output) is None


@pytest.mark.parametrize("version, accepted", [("0.19.3", False), ("0.20.0", True), ("0.23.1", True)])
def test_make_check_cog_reads_the_installed_version(version, accepted, standin_path, monkeypatch):
    monkeypatch.setenv("STANDIN_COG_VERSION", version)
    result = subprocess.run(["make", "--no-print-directory", "check-cog"], cwd=REPO, capture_output=True, text=True)
    assert (result.returncode == 0) is accepted, result.stdout + result.stderr
    if not accepted:
        assert f"cog {version} is too old" in result.stderr


# ---- make smoke-<name>, end to end -------------------------------------------------------------------------

def repo_copy(destination: Path) -> Path:
    """make smoke stages shared/ into deployments/<name>/shared: done in a copy, since in the shared checkout a
    staged copy would shadow shared/ for tests that run a predictor from its deployment folder meanwhile."""
    destination.mkdir()
    shutil.copy2(REPO / "Makefile", destination / "Makefile")
    for folder in ("scripts", "shared"):
        shutil.copytree(REPO / folder, destination / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "deployments", destination / "deployments",
                    ignore=shutil.ignore_patterns("__pycache__", "weights", "shared", "output", "output.*"))
    return destination


def test_make_smoke_builds_then_smokes_through_cog_run(standin_path, tmp_path, monkeypatch):
    repo = repo_copy(tmp_path / "repo")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))  # smoke.py's default outputs folder (tempfile.mkdtemp)
    deployment = repo / "deployments" / "smollm3"
    before = listing(deployment)
    result = subprocess.run(["make", "--no-print-directory", "smoke-smollm3", "IMAGE=smollm3"], cwd=repo,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "smoke: 2 passed, 0 failed" in result.stdout
    calls = [call for call in cog_calls(standin_path) if call["argv"] != ["--version"]]
    assert calls[0] == {"argv": ["build", "--separate-weights", "-t", "smollm3"], "cwd": str(deployment.resolve())}
    assert [call["argv"][:2] for call in calls[1:]] == [["run", "smollm3"]] * 2
    assert all(Path(call["cwd"]).is_relative_to(scratch) for call in calls[1:])
    # The only new thing in the build context is the staged shared/, which the image needs and git ignores.
    assert listing(deployment) - before == {"shared", *(f"shared/{p}" for p in listing(deployment / "shared"))}
    ignored = subprocess.run(["git", "check-ignore", "-q", "deployments/smollm3/shared/common/runtime.py"], cwd=REPO)
    assert ignored.returncode == 0
