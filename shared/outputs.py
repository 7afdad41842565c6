"""Where finished outputs are written besides the HTTP response (a mounted volume under `docker run`)."""

import os
import time
import uuid
from pathlib import Path


def output_dir() -> Path | None:
    """`OUTPUT_DIR` when set; None means outputs are only returned, never written."""
    value = os.environ.get("OUTPUT_DIR")
    return Path(value) if value else None


def save_text(text: str, stem: str) -> Path | None:
    """Write `text` to `$OUTPUT_DIR/<stem>-<time>-<id>.txt`; the unique name never overwrites an answer."""
    directory = output_dir()
    if directory is None:
        return None
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}.txt"
    path.write_text(text, encoding="utf-8")
    return path
