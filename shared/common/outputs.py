"""Where finished outputs are written besides the HTTP response (a mounted volume under `docker run`)."""

import time
import uuid
from pathlib import Path


def save_text(text: str, stem: str, directory: Path | None) -> Path | None:
    """Write `text` to `<directory>/<stem>-<time>-<id>.txt` (RuntimeSettings.output_dir, OUTPUT_DIR); the
    unique name never overwrites an answer. No directory: outputs are only returned, never written."""
    if directory is None:
        return None
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}.txt"
    path.write_text(text, encoding="utf-8")
    return path
