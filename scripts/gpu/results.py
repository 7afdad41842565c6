"""One JSON file per stage, rewritten after every measurement: a crash or a time-out keeps what was measured.

    {"stage": ..., "device": ..., "complete": false|true, "started": ..., "elapsed_s": ...,
     "info": {...}, "rows": [...], "errors": [{"what": ..., "error": ..., "traceback": ...}]}

A stage counts as done only when `complete` is true.
"""

import json
import time
import traceback
from dataclasses import asdict, is_dataclass
from pathlib import Path


def result_path(directory: Path, stage: str) -> Path:
    return directory / f"{stage}.json"


def load(directory: Path, stage: str) -> dict | None:
    path = result_path(directory, stage)
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:  # a file cut short by a kill: treat the stage as not done
        return None


def is_done(directories: list[Path], stage: str) -> bool:
    return any((load(d, stage) or {}).get("complete") for d in directories)


def _plain(value):
    if is_dataclass(value):
        return asdict(value)
    if hasattr(value, "as_json"):
        return value.as_json()
    return value


class StageRecorder:
    """Collects one stage's info, rows and errors and writes them to `<out>/<stage>.json` as they arrive."""

    def __init__(self, out: Path, stage: str, device: str):
        self.path = result_path(out, stage)
        self.started = time.time()
        self.data = {"stage": stage, "device": device, "complete": False,
                     "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)),
                     "elapsed_s": 0.0, "info": {}, "rows": [], "errors": []}
        out.mkdir(parents=True, exist_ok=True)
        self.write()

    def info(self, key: str, value) -> None:
        self.data["info"][key] = _plain(value)
        self.write()

    def row(self, row) -> None:
        row = _plain(row)
        self.data["rows"].append(row)
        self.write()
        print(f"[{self.data['stage']}] {json.dumps(row, default=str)}", flush=True)

    def error(self, what: str, error: BaseException) -> None:
        text = "".join(traceback.format_exception(error))
        self.data["errors"].append({"what": what, "error": f"{type(error).__name__}: {error}"[:2000],
                                    "traceback": text[-6000:]})
        self.write()
        print(f"[{self.data['stage']}] ERROR {what}: {type(error).__name__}: {error}", flush=True)

    def finish(self) -> None:
        self.data["complete"] = True
        self.write()

    def write(self) -> None:
        self.data["elapsed_s"] = round(time.time() - self.started, 2)
        partial = self.path.with_suffix(".json.partial")
        partial.write_text(json.dumps(self.data, indent=1, default=str) + "\n")
        partial.replace(self.path)  # never a half-written file, even if killed mid-write
