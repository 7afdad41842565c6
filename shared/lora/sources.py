"""Where LoRA files come from: a built-in style, a Hugging Face repo or link, a civitai model, a .safetensors URL
or a Replicate trainer's .tar URL, or a file under the operator's LORA_LOCAL_DIR. Never any other file on the
server. `owner/name` is a Hugging Face repo (on Replicate's own FLUX models it names a Replicate model: a
replicate.com link is refused with what to paste instead, as no Replicate token is at hand here).

Every download is checked before it enters the on-disk LRU cache (`shared/lora/cache.py`); every failure reads
`<field>: <what went wrong> (<what is accepted>)`, and no token or URL query ever reaches a message or a log line.
Hub and civitai addresses come from `LoraSettings` (HF_ENDPOINT, CIVITAI_API_BASE), which is how tests point
them at a loopback server.
"""

import logging
import shutil
import tempfile
from pathlib import Path

import requests

from shared.common.secrets import secret_value
from shared.flux.styles import Style
from shared.lora.cache import LoraCache, LoraSettings, lora_identity
from shared.lora.files import is_tar_archive
from shared.lora.references import ACCEPTED, LoraReference, LoraSourceError, parse_reference

__all__ = [
    "LoraCache", "LoraReference", "LoraSettings", "LoraSourceError", "Style", "lora_identity", "parse_reference",
    "resolve_lora", "resolve_style",
]

logger = logging.getLogger(__name__)

CIVITAI_LORA_TYPES = {"LORA", "LoCon", "DoRA"}
PREFERRED_HF_FILE = "pytorch_lora_weights.safetensors"  # what diffusers' training scripts write
PUBLIC_ONLY = "a URL anyone can download is accepted"
CIVITAI_TOKEN = "a model you may download is accepted; give civitai_api_token for one that needs a login"


def resolve_lora(
    reference: str, cache: LoraCache, hf_token=None, civitai_token=None, field: str = "lora_weights"
) -> Path:
    """A checked .safetensors file for a LoRA reference, or LoraSourceError("<field>: ...").

    Tokens may be Cog `Secret`s or strings; without one, HF_TOKEN / CIVITAI_API_TOKEN are used.
    """
    return resolve_reference(parse_reference(reference, field), cache, hf_token, civitai_token, field)


def resolve_reference(
    parsed: LoraReference, cache: LoraCache, hf_token=None, civitai_token=None, field: str = "lora_weights"
) -> Path:
    """`resolve_lora` for a reference already parsed (`parse_reference`)."""
    if parsed.kind == "local":
        return _local_file(parsed, cache, field)
    if parsed.kind == "huggingface":
        return _from_hugging_face(parsed, cache, secret_value(hf_token, "HF_TOKEN"), field)
    if parsed.kind == "civitai":
        return _from_civitai(parsed, cache, secret_value(civitai_token, "CIVITAI_API_TOKEN"), field)
    return _from_url(parsed, cache, field)


def resolve_style(style: Style, cache: LoraCache, token=None) -> Path:
    settings = cache.settings
    field = f"style {style.name}"
    if settings.style_loras_dir is not None:
        override = settings.style_loras_dir / f"{style.name}.safetensors"
        if not override.is_file():
            raise LoraSourceError(f"{field}: {override} not found (FLUX_STYLE_LORAS_DIR is set)")
        return cache.check_local(override, field, override.name)
    revision = settings.style_revisions.get(style.name, style.revision)
    reference = LoraReference("huggingface", repo=style.repo_id, filename=style.filename, revision=revision)
    return _from_hugging_face(reference, cache, secret_value(token, "HF_TOKEN"), field)


# ---- files under LORA_LOCAL_DIR ------------------------------------------------------------------------------

def _local_file(reference: LoraReference, cache: LoraCache, field: str) -> Path:
    root = cache.settings.local_dir
    if root is None:
        raise LoraSourceError(f"{field}: files on the server are not accepted ({ACCEPTED})")
    given = Path(reference.filename)
    path = (given if given.is_absolute() else root / given).resolve()  # symlinks and .. resolved before the check
    if not path.is_relative_to(root.resolve()):
        raise LoraSourceError(f"{field}: {reference.filename} is outside LORA_LOCAL_DIR ({ACCEPTED}, or a file "
                              "under LORA_LOCAL_DIR)")
    if not path.is_file():
        raise LoraSourceError(f"{field}: no file {reference.filename} under LORA_LOCAL_DIR ({ACCEPTED}, or a file "
                              "under LORA_LOCAL_DIR)")
    if is_tar_archive(path):  # a trainer's .tar: the LoRA inside is unpacked into the cache once per content
        return _unpacked_local_archive(path, cache, field)
    return cache.check_local(path, field, path.name)


def _unpacked_local_archive(path: Path, cache: LoraCache, field: str) -> Path:
    key = f"local-tar:{lora_identity(path)}"

    def fill(partial: Path) -> None:
        shutil.copyfile(path, partial)

    return cache.lookup(key) or cache.store(key, fill, field, path.name)


# ---- Hugging Face ---------------------------------------------------------------------------------------------

def _from_hugging_face(reference: LoraReference, cache: LoraCache, token: str | None, field: str) -> Path:
    """Keyed on the file's ETag (its content hash on the Hub): a branch that moves to new weights is fetched
    again, an unchanged one costs one HEAD request."""
    try:
        return _hub_download(reference, cache, token, field)
    except LoraSourceError:
        raise
    except Exception as error:
        message = _hub_failure(error, reference)
        if message is None:
            raise
        raise LoraSourceError(f"{field}: {message}") from None


def _hub_download(reference: LoraReference, cache: LoraCache, token: str | None, field: str) -> Path:
    from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url

    endpoint = cache.settings.hf_endpoint
    filename = reference.filename or _only_safetensors_file(reference, endpoint, token, field)
    url = hf_hub_url(reference.repo, filename, revision=reference.revision, endpoint=endpoint)
    meta = get_hf_file_metadata(url, token=token, timeout=cache.settings.timeout)
    key = f"hf:{endpoint}:" + (meta.etag or f"{reference.repo}@{meta.commit_hash}/{filename}")
    cached = cache.lookup(key)
    if cached is not None:
        return cached
    _check_size(meta.size, cache.settings, field, reference.describe())

    def fill(partial: Path) -> None:
        with tempfile.TemporaryDirectory(dir=partial.parent) as local_dir:
            downloaded = hf_hub_download(
                reference.repo, filename, revision=meta.commit_hash or reference.revision, token=token,
                endpoint=endpoint, local_dir=local_dir, etag_timeout=cache.settings.timeout,
            )
            shutil.move(downloaded, partial)

    return cache.store(key, fill, field, f"{reference.repo}/{filename}")


def _only_safetensors_file(reference: LoraReference, endpoint: str, token: str | None, field: str) -> str:
    from huggingface_hub import HfApi

    files = [f for f in HfApi(endpoint=endpoint).list_repo_files(reference.repo, revision=reference.revision,
                                                                  token=token) if f.endswith(".safetensors")]
    if len(files) == 1:
        return files[0]
    if PREFERRED_HF_FILE in files:
        return PREFERRED_HF_FILE
    if not files:
        raise LoraSourceError(f"{field}: {reference.describe()} holds no .safetensors file ({ACCEPTED})")
    listed = ", ".join(sorted(files)[:5])
    raise LoraSourceError(f"{field}: {reference.describe()} holds {len(files)} .safetensors files ({listed}); "
                          f"name one as {reference.repo}/<file>")


def _hub_failure(error: Exception, reference: LoraReference) -> str | None:
    """What went wrong, in words, for huggingface_hub's and httpx's exceptions; None for anything else."""
    import httpx
    from huggingface_hub import errors

    what, repo = reference.describe(), reference.repo
    if isinstance(error, errors.GatedRepoError):
        return f"{repo} is gated on Hugging Face (accept its terms on the Hub and give hf_api_token)"
    if isinstance(error, errors.RepositoryNotFoundError):
        return f"no Hugging Face repo {repo}, or it is private (check the name; give hf_api_token for a private repo)"
    if isinstance(error, errors.RevisionNotFoundError):
        return f"{repo} has no revision {reference.revision!r} (a branch, tag or commit of the repo is accepted)"
    if isinstance(error, errors.RemoteEntryNotFoundError):
        return f"{what}: no such file in the repo (a .safetensors file in the repo is accepted)"
    if isinstance(error, errors.OfflineModeIsEnabled):
        return ("Hugging Face downloads are off on this server (HF_HUB_OFFLINE) (a file under LORA_LOCAL_DIR or a "
                "built-in style is accepted)")
    if isinstance(error, errors.HfHubHTTPError) and error.response is not None:
        return f"Hugging Face answered HTTP {error.response.status_code} for {what} (try again later)"
    if isinstance(error, (httpx.TransportError, errors.LocalEntryNotFoundError)):
        return f"could not reach Hugging Face for {what} ({type(error).__name__}; try again later)"
    return None


# ---- civitai --------------------------------------------------------------------------------------------------

def _from_civitai(reference: LoraReference, cache: LoraCache, token: str | None, field: str) -> Path:
    """A model version's files don't change once published: keyed on the version id."""
    base = cache.settings.civitai_base
    headers = {"Authorization": f"Bearer {token}"} if token else {}  # civitai's preferred form: never in a URL
    version, query = reference.revision, ""
    if version is None:
        version, query = _latest_civitai_version(reference, cache.settings, headers, field)
    key = f"civitai:{base}:{version}"  # the primary file when no query picks one: only a valid LoRA is ever kept
    cached = cache.lookup(key)
    if cached is not None:
        return cached
    url = f"{base}/api/download/models/{version}{query}"
    what = f"civitai model version {version}"
    return cache.store(
        key, lambda partial: _download(url, partial, headers, cache.settings, field, what, CIVITAI_TOKEN), field, what
    )


def _latest_civitai_version(reference: LoraReference, settings: LoraSettings, headers: dict, field: str):
    """The newest version of a model and the query that selects its .safetensors file (primary first)."""
    what = reference.describe()
    response = _request(f"{settings.civitai_base}/api/v1/models/{reference.repo}", headers, settings, field, what)
    with response:
        _raise_for_status(response, field, what, CIVITAI_TOKEN)
        try:
            model = response.json()
            kind, versions = model.get("type"), model["modelVersions"]
        except (ValueError, KeyError, TypeError, AttributeError):
            raise LoraSourceError(f"{field}: civitai sent an unreadable answer for {what} (try again later)") from None
    if kind not in CIVITAI_LORA_TYPES:
        raise LoraSourceError(f"{field}: {what} is a {kind}, not a LoRA ({ACCEPTED})")
    if not versions:
        raise LoraSourceError(f"{field}: {what} has no published version ({ACCEPTED})")
    latest = versions[0]  # civitai lists versions newest first
    files = [f for f in latest.get("files") or [] if _is_safetensors(f)]
    if not files:
        raise LoraSourceError(f"{field}: {what} version {latest.get('id')} has no .safetensors file ({ACCEPTED})")
    chosen = next((f for f in files if f.get("primary")), files[0])
    size_kb = chosen.get("sizeKB")
    _check_size(int(size_kb * 1024) if isinstance(size_kb, int | float) else None, settings, field, what)
    query = f"?type={chosen.get('type') or 'Model'}&format=SafeTensor"
    return str(latest["id"]), query


def _is_safetensors(file: dict) -> bool:
    return (file.get("metadata") or {}).get("format") == "SafeTensor" or str(file.get("name", "")).endswith(
        ".safetensors")


# ---- any .safetensors URL -------------------------------------------------------------------------------------

def _from_url(reference: LoraReference, cache: LoraCache, field: str) -> Path:
    """Keyed on the URL, and asked again each time with the validators it sent (ETag, Last-Modified): a file
    changed behind the same URL is fetched anew, an unchanged one costs a 304."""
    url, what, settings = reference.url, reference.describe(), cache.settings
    key = f"url:{url}"
    cached = cache.lookup(key)
    if cached is not None:
        validators = cache.validators(cached)
        if not validators:
            return cached
        conditional = {"If-None-Match": validators.get("etag"), "If-Modified-Since": validators.get("last_modified")}
        try:
            response = _request(url, {k: v for k, v in conditional.items() if v}, settings, field, what)
        except LoraSourceError as error:
            logger.warning("LoRA cache: serving %s as cached: %s", what, error)
            return cached
        with response:
            if response.status_code == 304 or response.status_code >= 500:
                return cached
            _raise_for_status(response, field, what)
            return cache.store(key, lambda partial: _write_body(response, partial, settings, field, what),
                               field, what)
    return cache.store(key, lambda partial: _download(url, partial, {}, settings, field, what), field, what)


# ---- HTTP -----------------------------------------------------------------------------------------------------

def _request(url: str, headers: dict, settings: LoraSettings, field: str, what: str) -> requests.Response:
    try:
        return requests.get(url, headers=headers, stream=True, timeout=(settings.timeout, settings.timeout))
    except requests.Timeout:
        reason = f"no answer in {settings.timeout:g} s"
    except requests.ConnectionError:
        reason = "could not connect"
    except requests.RequestException as error:
        reason = type(error).__name__
    raise LoraSourceError(f"{field}: could not download {what}: {reason} (try again later, or another source)")


def _raise_for_status(response: requests.Response, field: str, what: str, denied: str = PUBLIC_ONLY) -> None:
    status = response.status_code
    if status == 200:
        return
    if status in (401, 403):
        raise LoraSourceError(f"{field}: {what} answered HTTP {status}: access denied ({denied})")
    if status in (404, 410):
        raise LoraSourceError(f"{field}: {what} answered HTTP {status}: no such file ({ACCEPTED})")
    raise LoraSourceError(f"{field}: {what} answered HTTP {status} (try again later)")


def _download(url: str, partial: Path, headers: dict, settings: LoraSettings, field: str, what: str,
              denied: str = PUBLIC_ONLY) -> dict:
    with _request(url, headers, settings, field, what) as response:
        _raise_for_status(response, field, what, denied)
        return _write_body(response, partial, settings, field, what)


def _write_body(response: requests.Response, partial: Path, settings: LoraSettings, field: str, what: str) -> dict:
    """Stream the body to `partial` within the size limit; returns the validators to ask again with."""
    length = response.headers.get("Content-Length")
    _check_size(int(length) if length and length.isdigit() else None, settings, field, what)
    written = 0
    try:
        with open(partial, "wb") as out:
            for chunk in response.iter_content(1 << 20):
                written += len(chunk)
                _check_size(written, settings, field, what)
                out.write(chunk)
    except requests.RequestException as error:
        raise LoraSourceError(f"{field}: the download of {what} broke off ({type(error).__name__}; try again "
                              "later)") from None
    validators = {"etag": response.headers.get("ETag"), "last_modified": response.headers.get("Last-Modified")}
    return {name: value for name, value in validators.items() if value}


def _check_size(size: int | None, settings: LoraSettings, field: str, what: str) -> None:
    if size is not None and size > settings.max_bytes:
        raise LoraSourceError(f"{field}: {what} is over {settings.max_bytes / 2**20:.0f} MB (LoRAs up to "
                              f"{settings.max_bytes / 2**20:.0f} MB are accepted)")

