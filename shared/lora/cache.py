"""The on-disk LRU cache of downloaded LoRAs, and the settings every LoRA source reads once.

Only files that passed `check_lora_file` enter the cache (written beside it, checked, then renamed in), so a
broken download is never served twice; a Replicate trainer's .tar enters as the LoRA file inside it. Recency
lives in each file's access time, set explicitly on every hit, so the modification time stays the moment the
content arrived: `lora_identity` keys a live LoRA on path, size and mtime, and changes whenever the content
behind a name can have changed.
"""

import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from shared.lora.files import check_lora_file, is_tar_archive, unpack_trainer_archive

logger = logging.getLogger(__name__)

STYLE_REVISION_PREFIX = "FLUX_STYLE_REVISION_"  # + the style's name, upper case, _ for -


@dataclass(frozen=True)
class LoraSettings:
    cache_dir: Path = field(default_factory=lambda: Path.home() / ".cache" / "lora-cache")
    cache_files: int = 20
    local_dir: Path | None = None  # the only place a request may name a file on this server
    hf_endpoint: str = "https://huggingface.co"
    civitai_base: str = "https://civitai.com"
    max_bytes: int = 2 * 2**30
    max_rank: int = 64
    timeout: float = 60.0  # seconds to connect, and without a byte while downloading
    # Built-in styles: FLUX_STYLE_LORAS_DIR holds them as <name>.safetensors (air-gapped hosts, the tests);
    # FLUX_STYLE_REVISION_<NAME> pins a style repo's commit.
    style_loras_dir: Path | None = None
    style_revisions: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self):
        if self.cache_files < 1:
            raise ValueError(f"LORA_CACHE_SIZE must be at least 1, got {self.cache_files}")
        if self.max_bytes < 1:
            raise ValueError(f"LORA_MAX_MB must be positive, got {self.max_bytes / 2**20:g}")
        if self.max_rank < 1:
            raise ValueError(f"MAX_LORA_RANK must be at least 1, got {self.max_rank}")
        if self.timeout <= 0:
            raise ValueError(f"LORA_DOWNLOAD_TIMEOUT must be positive, got {self.timeout}")
        if self.local_dir is not None and not self.local_dir.is_dir():
            raise ValueError(f"LORA_LOCAL_DIR must be a directory, got {self.local_dir}")

    @classmethod
    def from_env(cls, environ=os.environ) -> "LoraSettings":
        defaults = cls()
        local_dir = environ.get("LORA_LOCAL_DIR")
        return cls(
            cache_dir=Path(environ.get("LORA_CACHE_DIR") or defaults.cache_dir),
            cache_files=int(environ.get("LORA_CACHE_SIZE", defaults.cache_files)),
            local_dir=Path(local_dir).resolve() if local_dir else None,
            hf_endpoint=(environ.get("HF_ENDPOINT") or defaults.hf_endpoint).rstrip("/"),
            civitai_base=(environ.get("CIVITAI_API_BASE") or defaults.civitai_base).rstrip("/"),
            max_bytes=int(float(environ.get("LORA_MAX_MB", defaults.max_bytes / 2**20)) * 2**20),
            max_rank=int(environ.get("MAX_LORA_RANK", defaults.max_rank)),
            timeout=float(environ.get("LORA_DOWNLOAD_TIMEOUT", defaults.timeout)),
            style_loras_dir=Path(environ["FLUX_STYLE_LORAS_DIR"]) if environ.get("FLUX_STYLE_LORAS_DIR") else None,
            style_revisions=MappingProxyType({
                name.removeprefix(STYLE_REVISION_PREFIX).lower().replace("_", "-"): value
                for name, value in environ.items() if name.startswith(STYLE_REVISION_PREFIX) and value
            }),
        )


def lora_identity(path: Path) -> str:
    """Changes whenever the file's content can have changed: what an engine keys its live LoRA on."""
    stat = Path(path).stat()
    return f"{Path(path).resolve()}|{stat.st_size}|{stat.st_mtime_ns}"


class LoraCache:
    def __init__(self, settings: LoraSettings):
        self.settings = settings
        self.directory = self.settings.cache_dir
        self._checked_local: set[str] = set()  # identities of local files that passed the check

    def path_for(self, key: str) -> Path:
        return self.directory / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.safetensors"

    def lookup(self, key: str) -> Path | None:
        """The cached file for `key`, marked most recently used, or None."""
        path = self.path_for(key)
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None
        os.utime(path, ns=(time.time_ns(), stat.st_mtime_ns))
        return path

    def validators(self, path: Path) -> dict:
        """What was recorded with the file (e.g. ETag, Last-Modified) to ask its server whether it changed."""
        try:
            return json.loads(path.with_suffix(".json").read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def store(self, key: str, fill: Callable[[Path], dict | None], field: str, name: str) -> Path:
        """Call `fill(partial)` to write the file, check it, and only then move it in under `key`.
        `fill` may return validators to keep beside it. A .tar is replaced by the LoRA file inside it."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.path_for(key)
        with tempfile.TemporaryDirectory(dir=self.directory, prefix=".partial-") as tmp:
            partial = Path(tmp) / "download.safetensors"
            validators = fill(partial) or {}
            if is_tar_archive(partial):  # a Replicate trainer's output: the LoRA inside is what is kept
                unpack_trainer_archive(partial, self.settings.max_bytes, field, name)
            check_lora_file(partial, field, name)
            path.with_suffix(".json").write_text(json.dumps(validators))
            partial.replace(path)
        self._evict()
        return path

    def check_local(self, path: Path, field: str, name: str) -> Path:
        """Check a file under LORA_LOCAL_DIR once per content (path, size, mtime)."""
        identity = lora_identity(path)
        if identity not in self._checked_local:
            check_lora_file(path, field, name)
            self._checked_local.add(identity)
        return path

    def discard(self, path: Path) -> None:
        """Forget a file the engine refused: a cached download is deleted, a local file is checked again."""
        path = Path(path)
        self._checked_local = {i for i in self._checked_local if not i.startswith(f"{path.resolve()}|")}
        if path.parent.resolve() == self.directory.resolve():
            path.unlink(missing_ok=True)
            path.with_suffix(".json").unlink(missing_ok=True)
            logger.info("LoRA cache: discarded %s", path.name)

    def _evict(self) -> None:
        files = sorted(self.directory.glob("*.safetensors"), key=lambda p: p.stat().st_atime_ns, reverse=True)
        for stale in files[self.settings.cache_files :]:
            stale.unlink(missing_ok=True)
            stale.with_suffix(".json").unlink(missing_ok=True)
            logger.info("LoRA cache: evicted %s", stale.name)
