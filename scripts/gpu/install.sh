#!/usr/bin/env bash
# Installs the carried wheels on the GPU machine: scripts/gpu/install.py (scripts/gpu/loan.sh runs it first).
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python3 -m scripts.gpu.install
