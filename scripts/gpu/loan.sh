#!/usr/bin/env bash
# One GPU loan = one call of the run tool (docs/gpu-check.md):
#   run(command="bash scripts/gpu/loan.sh", carry=[".whl"], timeout_s=580)
# Installs the carried wheels (both sets), then the loan plan: every stage not done yet (in $OUT or docs/gpu), in
# priority order, within the plan's budget counted from this script's start; stage JSON and check.log in $OUT.
# The CPU dry run is this same script (tests/test_gpu_check_dry_run.py), with the machine's Python swapped:
#   DEVICE=cpu PYTHON=.venv/bin/python OUT=<folder> bash scripts/gpu/loan.sh [more scripts.gpu.check options]
# (no install on CPU: the wheels are the GPU machine's, Python 3.12).
set -uo pipefail
cd "$(dirname "$0")/../.."
: "${OUT:?OUT must name the folder whose files come back}"
DEVICE="${DEVICE:-cuda}"
PYTHON="${PYTHON:-python3}"
export PYTHONUNBUFFERED=1
export GPU_CHECK_STARTED="${GPU_CHECK_STARTED:-$(date +%s)}"
mkdir -p "$OUT"
{
  echo "loan: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname), device $DEVICE, git $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
  if [ "$DEVICE" = cuda ]; then
    nvidia-smi -L || true
    df -h /tmp | tail -1
    "$PYTHON" -m scripts.gpu.install || exit 1
  fi
  "$PYTHON" -m scripts.gpu.check --plan loan --device "$DEVICE" --out "$OUT" --done docs/gpu "$@"
} 2>&1 | tee "$OUT/check.log"
exit "${PIPESTATUS[0]}"
