#!/usr/bin/env bash
# First step of every command on the GPU machine: install the carried wheels (.whl/, from `make gpu-wheels`)
# into the machine's own Python environment. Not a --target folder on PYTHONPATH: scripts/harness/cog_server.py sets
# PYTHONPATH for the servers it starts, which would hide such a folder from them.
# Safe to run twice (a machine still warm from the last call keeps what was installed).
set -euo pipefail
cd "$(dirname "$0")/../.."
shopt -s nullglob
wheels=(.whl/*.whl)
if [ ${#wheels[@]} -eq 0 ]; then
  echo "install: no wheels in .whl/ (run 'make gpu-wheels' here, then name .whl in the run tool's carry)" >&2
  exit 1
fi
python3 -m pip install --quiet --no-index --no-deps --no-compile --no-cache-dir --upgrade "${wheels[@]}"
python3 - <<'PY'
import importlib.metadata as m
names = ["torch", "transformers", "diffusers", "peft", "torchao", "bitsandbytes", "hqq", "pruna", "unsloth", "cog"]
print("install: " + ", ".join(f"{n} {m.version(n)}" for n in names))
PY
