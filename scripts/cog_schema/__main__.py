"""Emulate the static schema step of `cog build` / `cog push` / `cog run` on a deployment, with `ast` only.

    python -m scripts.cog_schema                          # every deployment with a cog.yaml
    python -m scripts.cog_schema deployments/smollm3 ...

Prints each deployment's findings and how its derived schema differs from its openapi.json; exits 1 on any.
Where run() carries cog's @concurrent, also the COG_MAX_CONCURRENCY the built image gets.
The CLI runs this step in replicate/cog 6110c912 pkg/image/build.go 454 (resolveBuildSchema: static generation
unless `--openapi-schema FILE`), after the metadata pass at 128 and before configWithDecoratorConcurrency at 158.
"""

import argparse
import json
import sys
from pathlib import Path

from .openapi import compare_with_committed
from .parser import analyze_deployment, baked_concurrency

REPO = Path(__file__).resolve().parents[2]
DEPLOYMENTS = REPO / "deployments"


def deployments() -> list[Path]:
    return sorted(p for p in DEPLOYMENTS.iterdir() if (p / "cog.yaml").is_file())


def report(deployment: Path) -> tuple[str, int]:
    """A readable report for one deployment and its number of problems."""
    result = analyze_deployment(deployment)
    lines = [f"== {deployment.name}: {result.target}.{result.method or '?'}()"]
    lines += [f"  {finding}" for finding in result.findings]
    differences = []
    committed = deployment / "openapi.json"
    if committed.is_file() and not result.errors:
        differences = compare_with_committed(result, json.loads(committed.read_text()))
        lines += [f"  differs from openapi.json: {d}" for d in differences]
    if result.concurrency_max is not None:
        kind = "async" if result.is_async else "sync"
        baked = "not built" if result.errors else f"ENV COG_MAX_CONCURRENCY={baked_concurrency(result)}"
        lines.append(f"  concurrency: @concurrent max={result.concurrency_max} on {kind} {result.method}(): {baked}")
    problems = len(result.findings) + len(differences)
    if result.errors:
        lines.append(f"  `cog build` stops at: {result.errors[0].message}")
    lines.append(f"  {problems} problem(s), {len(result.inputs)} input(s) derived")
    return "\n".join(lines), problems


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m scripts.cog_schema", description=__doc__.splitlines()[0])
    parser.add_argument("deployments", nargs="*", type=Path, help="deployment folders (default: all)")
    args = parser.parse_args()
    total = 0
    for deployment in args.deployments or deployments():
        text, problems = report(deployment)
        print(text)
        total += problems
    sys.exit(1 if total else 0)


if __name__ == "__main__":
    main()
