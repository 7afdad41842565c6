"""One JSON file per stage, rewritten after every measurement: a crash or a time-out keeps what was measured.

    {"stage": ..., "device": ..., "complete": false|true, "started": ..., "elapsed_s": ...,
     "info": {...}, "rows": [...], "errors": [{"what": ..., "error": ..., "traceback": ...}]}

A stage counts as done only when `complete` is true, and only for the device it ran on: a CPU dry run never
skips a stage because a GPU loan finished it, nor a loan because of a dry run.
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


def is_done(directories: list[Path], stage: str, device: str) -> bool:
    return any((data := load(d, stage) or {}).get("complete") and data.get("device") == device for d in directories)


def partial_path(directory: Path, stage: str) -> Path:
    return result_path(directory, stage).with_suffix(".json.partial")


def drop_partial(directory: Path, stage: str) -> None:
    """A write cut by a kill leaves `<stage>.json.partial`: one file too many for what $OUT brings back."""
    partial_path(directory, stage).unlink(missing_ok=True)


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
        partial = partial_path(self.path.parent, self.data["stage"])
        partial.write_text(json.dumps(self.data, indent=1, default=str) + "\n")
        partial.replace(self.path)  # never a half-written file, even if killed mid-write
