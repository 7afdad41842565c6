"""Refuse a cog CLI too old for these deployments (`make check-cog` calls it before every build, smoke and push).

    python3 scripts/check_cog.py

Before 0.20, `cog run` was the command runner (`cog exec` today: `pkg/cli/run.go` up to v0.17, an alias of
`exec` in v0.18-v0.19), so `cog run <image> -i ...` would not run a prediction; 0.20 is also the first CLI that
reads cog.yaml's top-level `run:` key (`pkg/config/config_file.go`). Standard library only, like smoke.py.
"""

from __future__ import annotations

import re
import subprocess
import sys

MINIMUM = (0, 20)
# cobra's default version template over the root command's Version, "<global.Version> (built <BuildTime>)"
# (replicate/cog pkg/cli/root.go:31): "cog version 0.23.1 (built 2026-01-09T18:03:12Z)"; snapshots read
# "0.23.2-dev+gabc1234" (.goreleaser.yaml), a plain `go build` reads "dev".
VERSION = re.compile(r"\bversion\s+v?(\d+)\.(\d+)\.(\d+)")


def parse_version(text: str) -> tuple[int, int, int] | None:
    match = VERSION.search(text)
    return tuple(int(part) for part in match.groups()) if match else None


def refusal(version_output: str) -> str | None:
    """Why this CLI can't be used, or None when it can."""
    wanted = ".".join(map(str, MINIMUM))
    version = parse_version(version_output)
    if version is None:
        return (f"error: can't read a version from `cog --version` ({version_output.strip()!r}); these deployments "
                f"need a released cog CLI {wanted} or newer (https://cog.run/getting-started)")
    if version[:2] < MINIMUM:
        found = ".".join(map(str, version))
        return (f"error: cog {found} is too old: these deployments need cog {wanted} or newer (before 0.20 "
                f"`cog run` ran shell commands, as `cog exec` does now, instead of predictions). "
                f"Upgrade: https://cog.run/getting-started")
    return None


def main() -> int:
    try:
        result = subprocess.run(["cog", "--version"], capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        print("error: the cog CLI is not installed (https://cog.run/getting-started)", file=sys.stderr)
        return 1
    reason = refusal(result.stdout + result.stderr)
    if reason:
        print(reason, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
