"""Where LoRA files come from: a built-in style, a Hugging Face repo, a .safetensors URL or a local path.

Downloads land in an on-disk LRU cache (`LORA_CACHE_DIR`, `LORA_CACHE_SIZE` files), so a LoRA is fetched
once and the disk never fills up with every LoRA ever asked for.
"""

import hashlib
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path

from shared.styles import Style

logger = logging.getLogger(__name__)

HF_REPO = re.compile(r"^(?:https://huggingface\.co/)?([\w.\-]+/[\w.\-]+)(?:/(?:resolve/[\w.\-]+/)?(.+\.safetensors))?$")


class LoraSourceError(ValueError):
    pass


class LoraCache:
    def __init__(self, directory: Path | None = None, max_files: int | None = None):
        self.directory = Path(directory or os.environ.get("LORA_CACHE_DIR", Path.home() / ".cache" / "lora-cache"))
        self.max_files = max_files or int(os.environ.get("LORA_CACHE_SIZE", "20"))

    def path_for(self, reference: str) -> Path:
        return self.directory / f"{hashlib.sha256(reference.encode()).hexdigest()[:24]}.safetensors"

    def get(self, reference: str, download) -> Path:
        """The cached file for `reference`, calling `download(destination)` on a miss."""
        path = self.path_for(reference)
        if path.exists():
            os.utime(path)  # most recently used
            return path
        self.directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.directory) as tmp:
            partial = Path(tmp) / "download.safetensors"
            download(partial)
            partial.replace(path)
        self._evict()
        return path

    def _evict(self) -> None:
        files = sorted(self.directory.glob("*.safetensors"), key=lambda p: p.stat().st_mtime, reverse=True)
        for stale in files[self.max_files :]:
            stale.unlink(missing_ok=True)
            logger.info("LoRA cache: evicted %s", stale.name)


def resolve_lora(reference: str, cache: LoraCache, token: str | None = None) -> Path:
    """A local .safetensors path for a LoRA reference (local path, URL or Hugging Face repo)."""
    reference = reference.strip()
    local = Path(reference)
    if local.is_file():
        return local
    if reference.startswith(("http://", "https://")) and not reference.startswith("https://huggingface.co/"):
        return cache.get(reference, lambda dest: _download_url(reference, dest))
    match = HF_REPO.match(reference)
    if match:
        repo_id, filename = match[1], match[2]
        return cache.get(reference, lambda dest: _download_hf(repo_id, filename, None, token, dest))
    raise LoraSourceError(
        "lora_weights: expected a Hugging Face repo (owner/name or owner/name/file.safetensors), "
        f"a .safetensors URL or a local file, got {reference!r}"
    )


def resolve_style(style: Style, cache: LoraCache, token: str | None = None) -> Path:
    override = style.local_override()
    if override is not None:
        if not override.is_file():
            raise LoraSourceError(f"style {style.name}: {override} not found (FLUX_STYLE_LORAS_DIR is set)")
        return override
    reference = f"{style.repo_id}@{style.revision}/{style.filename}"
    return cache.get(reference, lambda dest: _download_hf(style.repo_id, style.filename, style.revision, token, dest))


def _download_url(url: str, destination: Path) -> None:
    import requests

    with requests.get(url, stream=True, timeout=60) as response:
        if response.status_code != 200:
            raise LoraSourceError(f"lora_weights: {url} answered HTTP {response.status_code}")
        with open(destination, "wb") as out:
            for chunk in response.iter_content(1 << 20):
                out.write(chunk)


def _download_hf(repo_id: str, filename: str | None, revision: str | None, token, destination: Path) -> None:
    from huggingface_hub import HfApi, hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError

    try:
        if filename is None:
            listing = HfApi().list_repo_files(repo_id, revision=revision, token=token)
            files = [f for f in listing if f.endswith(".safetensors")]
            if len(files) != 1:
                raise LoraSourceError(
                    f"lora_weights: {repo_id} holds {len(files)} .safetensors files; name one as {repo_id}/<file>"
                )
            filename = files[0]
        downloaded = hf_hub_download(repo_id, filename, revision=revision, token=token)
    except HfHubHTTPError as error:
        raise LoraSourceError(f"lora_weights: could not fetch {repo_id}: {error.__class__.__name__}") from None
    shutil.copyfile(downloaded, destination)
