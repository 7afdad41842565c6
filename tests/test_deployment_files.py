"""Every deployment folder is complete, buildable on paper, and its committed OpenAPI schema is current."""

import json
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from scripts.harness.cog_server import DEPLOYMENTS, REPO

NAMES = sorted(p.parent.name for p in DEPLOYMENTS.glob("*/cog.yaml"))
COG_CONFIG_SCHEMA = json.loads((Path(__file__).parent / "data" / "cog_config_schema_v1.0.json").read_text())
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)")


def pins(path: Path, skip_container_only: bool = False) -> dict[str, str]:
    """Package -> version; `# container-only` marks a pin the CPU test environment does not install."""
    found = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if skip_container_only and "# container-only" in raw:
            continue
        if line:
            match = PIN.match(line)
            assert match, f"{path}: '{line}' is not pinned with =="
            found[match[1].lower().replace("_", "-")] = match[2]
    return found


def test_there_are_deployments():
    assert "smollm3" in NAMES


@pytest.mark.parametrize("name", NAMES)
def test_folder_has_every_file(name):
    for file in ("cog.yaml", "predict.py", "requirements.txt", "smoke_inputs.json", "README.md", "openapi.json"):
        assert (DEPLOYMENTS / name / file).is_file(), f"{name}/{file} is missing"


@pytest.mark.parametrize("name", NAMES)
def test_cog_yaml_is_valid_and_pinned(name):
    config = yaml.safe_load((DEPLOYMENTS / name / "cog.yaml").read_text())
    jsonschema.validate(config, COG_CONFIG_SCHEMA)
    build = config["build"]
    assert build["gpu"] is True
    assert build["python_version"] == "3.11"
    assert re.fullmatch(r"\d+\.\d+\.\d+", build["sdk_version"])
    assert config["run"].startswith("predict.py:")


@pytest.mark.parametrize("name", NAMES)
def test_container_pins_match_the_tested_versions(name):
    container = pins(DEPLOYMENTS / name / "requirements.txt", skip_container_only=True)
    tested = pins(REPO / "requirements" / "constraints.txt")
    mismatched = {pkg: (v, tested.get(pkg)) for pkg, v in container.items() if tested.get(pkg) != v}
    assert not mismatched, f"container pins differ from the versions the tests ran with: {mismatched}"
    sdk = yaml.safe_load((DEPLOYMENTS / name / "cog.yaml").read_text())["build"]["sdk_version"]
    assert tested["cog"] == sdk


@pytest.mark.parametrize("name", NAMES)
def test_committed_openapi_schema_matches_the_predictor(name):
    live = subprocess.run(
        [sys.executable, "-m", "scripts.openapi_schema", str(DEPLOYMENTS / name)],
        cwd=REPO, check=True, capture_output=True, text=True,
    ).stdout
    committed = (DEPLOYMENTS / name / "openapi.json").read_text()
    assert json.loads(live) == json.loads(committed), (
        f"the inputs of {name} changed: review the change, then run `make schema-{name}` and commit openapi.json"
    )


@pytest.mark.parametrize("name", NAMES)
def test_smoke_inputs_are_valid_inputs(name):
    schema = json.loads((DEPLOYMENTS / name / "openapi.json").read_text())["components"]["schemas"]["Input"]
    cases = json.loads((DEPLOYMENTS / name / "smoke_inputs.json").read_text())
    assert cases
    for inputs in cases:
        jsonschema.validate(inputs, schema)
        assert set(inputs) <= set(schema["properties"]), "unknown inputs would be dropped silently"


@pytest.mark.parametrize("name", NAMES)
def test_make_targets_expand(name):
    result = subprocess.run(
        ["make", "-n", f"weights-{name}", f"build-{name}", f"smoke-{name}", f"push-{name}", "REPLICATE_USER=someone"],
        cwd=REPO, check=True, capture_output=True, text=True,
    ).stdout
    assert f"-m scripts.fetch_weights {name}" in result
    assert f"cp -R shared deployments/{name}/shared" in result
    assert f"cog build --separate-weights -t r8.im/someone/{name}" in result
    assert f"scripts/smoke.py deployments/{name}" in result
    assert f"cog push --separate-weights r8.im/someone/{name}" in result


def test_smoke_uses_cog_run_with_the_token_and_a_long_setup_timeout(monkeypatch):
    from scripts.smoke import cog_run_args, masked

    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    args = cog_run_args("gemma3", {"prompt": "Hi"}, setup_timeout=1800, files_from=DEPLOYMENTS / "gemma3")
    assert args[:5] == ["cog", "run", "gemma3", "--setup-timeout", "1800"]
    assert ["-e", "HF_TOKEN=hf_secret"] == args[5:7]
    assert "hf_secret" not in masked(" ".join(args))
    monkeypatch.delenv("HF_TOKEN")
    assert "-e" not in cog_run_args("gemma3", {"prompt": "Hi"}, setup_timeout=1800, files_from=DEPLOYMENTS / "gemma3")


@pytest.mark.parametrize("name", NAMES)
def test_readme_cog_run_lines_give_a_long_setup_timeout(name):
    lines = [line for line in (DEPLOYMENTS / name / "README.md").read_text().splitlines() if "&& cog run " in line]
    assert lines, f"{name}/README.md shows no cog run line"
    for line in lines:
        assert "--setup-timeout 1800" in line, f"Cog's default setup timeout (300 s) is too short: {line}"


def test_nothing_user_facing_says_cog_predict():
    files = [REPO / "README.md", REPO / "Makefile", REPO / "scripts" / "smoke.py"]
    files += [*DEPLOYMENTS.glob("*/README.md")]
    offenders = [str(f.relative_to(REPO)) for f in files if "cog predict" in f.read_text()]
    assert not offenders, f"`cog predict` is a deprecated alias of `cog run` in Cog 0.23: {offenders}"


def test_push_without_user_is_refused():
    result = subprocess.run(["make", "push-smollm3", "REPLICATE_USER="], cwd=REPO, capture_output=True, text=True)
    assert result.returncode != 0
    assert "cog CLI is not installed" in result.stdout + result.stderr or "REPLICATE_USER" in result.stdout


def test_the_registry_lists_every_deployment_folder_with_the_variable_its_predictor_reads():
    from scripts.harness.deployment_predictor import DEPLOYMENTS as FOLDER
    from scripts.harness.deployment_predictor import predictor_module
    from scripts.registry import DEPLOYMENTS, TINY_MODELS

    assert sorted(DEPLOYMENTS) == sorted(p.parent.name for p in FOLDER.glob("*/cog.yaml"))
    for name, deployment in DEPLOYMENTS.items():
        assert deployment.tiny_model in TINY_MODELS
        assert deployment.model_dir_env in {source.local_dir_env for source in predictor_module(name).WEIGHTS}
