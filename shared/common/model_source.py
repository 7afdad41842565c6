"""Where weights come from, in this order:

1. baked into the image: `make weights-<name>` downloads the pinned snapshot into the deployment folder
   (`weights/<owner>--<name>/`), which `cog build`/`cog push` copy into the image. This is the path for
   Replicate, where a container gets no secrets at boot and so can't fetch a gated model;
2. a local directory named by an environment variable (`<NAME>_MODEL_DIR`): air-gapped hosts, and the tests'
   tiny models;
3. the Hugging Face Hub at a pinned revision, into a cache folder (`docker run -v` a volume there so the
   download happens once). Gated models need HF_TOKEN in the environment.

Tokens are passed through, never logged.
"""

import logging
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from shared.common.settings import RuntimeSettings

logger = logging.getLogger(__name__)

WEIGHT_FILES = ("*.safetensors", "*.bin", "*.pt", "*.pth", "*.gguf")
REVISION_FILE = ".revision"  # written by `make weights-<name>`: baked weights of another revision are not used


class ModelSourceError(RuntimeError):
    """The weights could not be found or fetched; the message says what to set."""


def check_holds_model(path: Path, origin: str) -> None:
    """Raise with the reason when `path` lacks a model config or weight files (a half-finished download, a
    folder saved without weights)."""
    if not (path / "config.json").is_file() and not (path / "model_index.json").is_file():
        raise ModelSourceError(f"{origin} holds no model (no config.json or model_index.json in {path})")
    if not any(next(path.rglob(pattern), None) for pattern in WEIGHT_FILES):
        raise ModelSourceError(
            f"{origin} holds a model config but no weight files ({', '.join(WEIGHT_FILES)}) in {path}: "
            "the download or save did not finish"
        )


@dataclass(frozen=True)
class ModelSource:
    """A model's weights: its Hub repo at a pinned revision (`revision_env` may override it), and the
    `<NAME>_MODEL_DIR` variable that names a local folder instead."""

    repo_id: str
    revision: str
    local_dir_env: str
    gated: bool = False
    allow_patterns: tuple[str, ...] | None = None
    revision_env: str | None = None

    def pinned(self, runtime: RuntimeSettings) -> "ModelSource":
        """This source at the revision the environment asks for, if it overrides the pin."""
        revision = runtime.revisions.get(self.revision_env or "", self.revision)
        return self if revision == self.revision else replace(self, revision=revision)

    @property
    def baked_name(self) -> str:
        return self.repo_id.replace("/", "--")

    def resolve(self, token: str | None = None, runtime: RuntimeSettings | None = None) -> Path:
        """Return a local directory holding the weights (baked, local, or downloaded once), logging which."""
        runtime = runtime or RuntimeSettings()
        source = self.pinned(runtime)
        baked = source._baked_weights(runtime.weights_dir / self.baked_name)
        if baked is not None:
            logger.info("loading %s@%s from weights baked into the image: %s", self.repo_id, source.revision[:12],
                        baked)
            return baked
        local_dir = runtime.model_dirs.get(self.local_dir_env)
        if local_dir:
            path = Path(local_dir)
            check_holds_model(path, f"{self.local_dir_env}={local_dir}")
            logger.info("loading %s from local directory %s (%s)", self.repo_id, path, self.local_dir_env)
            return path
        path = source._download(token, runtime.model_cache_dir)
        check_holds_model(path, f"the Hub download of {self.repo_id}@{source.revision[:12]}")
        return path

    def _baked_weights(self, path: Path) -> Path | None:
        if not path.is_dir():
            return None
        marker = path / REVISION_FILE
        baked_revision = marker.read_text().strip() if marker.is_file() else None
        if baked_revision != self.revision:
            logger.warning(
                "ignoring baked weights in %s: revision %s, this deployment wants %s (run make weights-<name>)",
                path, baked_revision, self.revision,
            )
            return None
        check_holds_model(path, f"the baked weights of {self.repo_id}")
        return path

    def download_to(self, destination: Path, token: str | None) -> Path:
        """Download the pinned snapshot into `destination` and mark its revision (`make weights-<name>`)."""
        from huggingface_hub import snapshot_download

        self._check_token(token)
        with hub_errors(self.repo_id):
            snapshot_download(
                self.repo_id, revision=self.revision, token=token or None, local_dir=destination,
                allow_patterns=list(self.allow_patterns) if self.allow_patterns else None,
            )
        check_holds_model(destination, f"the download of {self.repo_id}")
        (destination / REVISION_FILE).write_text(self.revision + "\n")
        return destination

    def _download(self, token: str | None, cache_dir: Path) -> Path:
        from huggingface_hub import snapshot_download

        self._check_token(token)
        logger.info("fetching %s@%s from the Hub into %s", self.repo_id, self.revision[:12], cache_dir)
        with hub_errors(self.repo_id):
            path = snapshot_download(
                self.repo_id,
                revision=self.revision,
                token=token or None,
                cache_dir=cache_dir,
                allow_patterns=list(self.allow_patterns) if self.allow_patterns else None,
            )
        return Path(path)

    def _check_token(self, token: str | None) -> None:
        if self.gated and not token:
            raise ModelSourceError(
                f"{self.repo_id} is gated: set HF_TOKEN to a token of an account that accepted the model's "
                "licence (on Replicate, bake the weights into the image with make weights-<name>)"
            )


@contextmanager
def hub_errors(repo_id: str):
    """Turn huggingface_hub's exceptions into ModelSourceError saying what to do, without the token."""
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

    try:
        yield
    except GatedRepoError:
        raise ModelSourceError(
            f"{repo_id} is gated and the token was rejected: accept the licence on its model page with the "
            "token's account"
        ) from None
    except RepositoryNotFoundError:
        raise ModelSourceError(f"{repo_id} not found, or the token cannot see it (set HF_TOKEN)") from None
    except HfHubHTTPError as error:
        raise ModelSourceError(f"download of {repo_id} failed: {error.__class__.__name__}") from None
