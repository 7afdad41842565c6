"""Where weights come from: a pinned Hugging Face revision, or a local directory named by an env var.

The local directory is how the tests point a production predictor at a tiny model, and how an
air-gapped host serves weights it already has. Tokens are passed through, never logged.
"""

import logging
import os
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)


class ModelSourceError(RuntimeError):
    """The weights could not be found or fetched; the message says what to set."""


@dataclass(frozen=True)
class ModelSource:
    repo_id: str
    revision: str
    local_dir_env: str
    gated: bool = False
    allow_patterns: tuple[str, ...] | None = None

    def resolve(self, token: str | None = None) -> Path:
        """Return a local directory holding the weights, downloading them once if needed."""
        local_dir = os.environ.get(self.local_dir_env)
        if local_dir:
            path = Path(local_dir)
            if not (path / "config.json").is_file() and not (path / "model_index.json").is_file():
                raise ModelSourceError(
                    f"{self.local_dir_env}={local_dir} holds no model (no config.json or model_index.json)"
                )
            logger.info("loading %s from local directory %s", self.repo_id, path)
            return path
        return self._download(token)

    def _download(self, token: str | None) -> Path:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

        if self.gated and not token:
            raise ModelSourceError(
                f"{self.repo_id} is gated: set HF_TOKEN to a token of an account "
                "that accepted the model's licence"
            )
        logger.info("fetching %s@%s into %s", self.repo_id, self.revision[:12], weights_cache_dir())
        try:
            path = snapshot_download(
                self.repo_id,
                revision=self.revision,
                token=token or None,
                cache_dir=weights_cache_dir(),
                allow_patterns=list(self.allow_patterns) if self.allow_patterns else None,
            )
        except GatedRepoError:
            raise ModelSourceError(
                f"{self.repo_id} is gated and the token was rejected: accept the licence on its model page "
                "with the token's account"
            ) from None
        except RepositoryNotFoundError:
            raise ModelSourceError(
                f"{self.repo_id} not found, or the token cannot see it (set HF_TOKEN)"
            ) from None
        except HfHubHTTPError as error:
            raise ModelSourceError(f"download of {self.repo_id} failed: {error.__class__.__name__}") from None
        return Path(path)


def weights_cache_dir() -> Path:
    """A persistent folder for downloaded weights: mount a volume here with `docker run -v`."""
    return Path(os.environ.get("MODEL_CACHE_DIR", Path.home() / ".cache" / "huggingface" / "hub"))
