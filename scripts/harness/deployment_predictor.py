"""Load a deployment's predictor class in this process, the way the container imports it: predict.py from the
deployment folder, `shared` from the repo root. For benchmarks and tests that call a predictor directly."""

import importlib.util
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOYMENTS = REPO / "deployments"


def deployment_names() -> list[str]:
    return sorted(p.parent.name for p in DEPLOYMENTS.glob("*/cog.yaml"))


def predictor_ref(deployment: Path) -> tuple[str, str]:
    """(module file, class name) from cog.yaml's `run:` key (or the deprecated `predict:`)."""
    config = yaml.safe_load((deployment / "cog.yaml").read_text())
    module_file, class_name = (config.get("run") or config["predict"]).split(":")
    return module_file, class_name


def image_environment(deployment: Path) -> dict[str, str]:
    """cog.yaml's `environment`: the ENV lines `cog build` writes into the image."""
    config = yaml.safe_load((deployment / "cog.yaml").read_text())
    return dict(entry.split("=", 1) for entry in config.get("environment") or [])


def predictor_module(name: str):
    deployment = DEPLOYMENTS / name
    module_file, _ = predictor_ref(deployment)
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    module_name = f"{name.replace('-', '_')}_predict"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, deployment / module_file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def predictor_class(name: str) -> type:
    _, class_name = predictor_ref(DEPLOYMENTS / name)
    return getattr(predictor_module(name), class_name)
