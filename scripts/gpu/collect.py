"""After a loan, here: keep what the call measured so the next loan continues from it.

    python -m scripts.gpu.collect <files_at>     # the folder the run tool's reply names

Copies the stage JSON that came back into docs/gpu/ (the next loan's `--done docs/gpu` skips the complete ones)
and check.log into docs/gpu/logs/<started>.log. Only CUDA results are taken, and a complete result already
there is never replaced by an incomplete one. Then render the report and commit (docs/gpu-check.md).
"""

import json
import re
import shutil
import sys
import time
from pathlib import Path

from scripts.gpu.results import load

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "docs" / "gpu"


def collect(source: Path, results: Path = RESULTS) -> list[str]:
    """Copy `source`'s stage JSON and log into `results`; returns what was done, one line per file."""
    results.mkdir(parents=True, exist_ok=True)
    done = []
    for path in sorted(source.glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as error:
            done.append(f"{path.name}: skipped, unreadable ({error})")
            continue
        if data.get("device") != "cuda" or "stage" not in data:
            done.append(f"{path.name}: skipped, not a CUDA stage result (device {data.get('device')!r})")
            continue
        kept = load(results, data["stage"])
        if kept and kept.get("complete") and kept.get("device") == "cuda" and not data.get("complete"):
            done.append(f"{path.name}: skipped, docs/gpu holds a complete run of {data['stage']}")
            continue
        shutil.copyfile(path, results / f"{data['stage']}.json")
        state = "complete" if data.get("complete") else "incomplete (runs again next loan)"
        done.append(f"{path.name}: {state}, {len(data.get('rows', []))} rows, {len(data.get('errors', []))} errors")
    log = source / "check.log"
    if log.exists():
        (results / "logs").mkdir(exist_ok=True)
        target = results / "logs" / f"{log_started(log)}.log"
        shutil.copyfile(log, target)
        done.append(f"check.log: {target}")
    return done


def log_started(log: Path) -> str:
    """The loan's start from loan.sh's first line ("loan: 2026-12-02T10:00:00Z on ..."), else now."""
    first = log.read_text(errors="replace").split("\n", 1)[0]
    match = re.match(r"loan: (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)", first)
    return (match[1] if match else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())).replace(":", "")


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not Path(argv[0]).is_dir():
        raise SystemExit("usage: python -m scripts.gpu.collect <folder the run tool brought the files to>")
    for line in collect(Path(argv[0])):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
