"""Every form a LoRA reference is pasted in, parsed into one small value: no I/O, no environment."""

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

HF_HOSTS = {"huggingface.co", "www.huggingface.co", "hf.co"}
CIVITAI_HOSTS = {"civitai.com", "www.civitai.com"}
REPLICATE_HOSTS = {"replicate.com", "www.replicate.com"}
ACCEPTED = (
    "a Hugging Face repo owner/name or owner/name/file.safetensors, a huggingface.co link, "
    "a civitai.com/models/<id> link, or an http(s) URL of a .safetensors file or of a Replicate trainer's .tar"
)
LORA_SUFFIXES = (".safetensors", ".tar")  # a .tar: what Replicate's LoRA trainers output, the LoRA inside
_REPO_PART = r"[A-Za-z0-9](?:[\w.-]{0,94}[A-Za-z0-9])?"
_HF_SHORT = re.compile(rf"^({_REPO_PART}/{_REPO_PART})(?:/(.+))?$")
_SCHEMELESS_HOST = re.compile(r"^(?:www\.)?(?:huggingface\.co|hf\.co|civitai\.com|replicate\.com)/", re.IGNORECASE)
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*):")


class LoraSourceError(ValueError):
    """A LoRA reference that can't be used; the message starts with the input's name."""


@dataclass(frozen=True)
class LoraReference:
    """Where a LoRA comes from.

    kind        repo                   filename                   revision               url
    huggingface owner/name             path in the repo or None   branch/tag/commit/None  None
    civitai     model id or None       None                       version id or None      None
    url         None                   None                       None                   the URL as given
    local       None                   the path as given          None                   None
    """

    kind: str
    repo: str | None = None
    filename: str | None = None
    revision: str | None = None
    url: str | None = None

    def describe(self) -> str:
        """Safe to log and to show: a URL's query (signatures, tokens) is left out."""
        if self.kind == "huggingface":
            at = f"@{self.revision}" if self.revision else ""
            return f"{self.repo}{at}" + (f"/{self.filename}" if self.filename else "")
        if self.kind == "civitai":
            if self.revision:
                return f"civitai model version {self.revision}"
            return f"civitai model {self.repo}"
        if self.kind == "url":
            return without_query(self.url)
        return self.filename


def without_query(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}{parts.path}" + ("?..." if parts.query else "")


def parse_reference(reference: str, field: str = "lora_weights") -> LoraReference:
    """Parse any accepted form, or raise LoraSourceError("<field>: ...")."""
    text = reference.strip()
    if not text:
        raise LoraSourceError(f"{field}: empty reference ({ACCEPTED})")
    if text.lower().startswith("file:"):
        parts = urlsplit(text)
        if parts.netloc not in ("", "localhost"):
            raise LoraSourceError(f"{field}: file:// URIs name files on this server only ({ACCEPTED})")
        return LoraReference("local", filename=unquote(parts.path))
    if text.startswith(("/", "./", "../", "~")) or ("/" not in text and text.lower().endswith(LORA_SUFFIXES)):
        return LoraReference("local", filename=text)
    if _SCHEMELESS_HOST.match(text):
        text = f"https://{text}"
    scheme = _SCHEME.match(text)
    if scheme and text[len(scheme[0]):].startswith("//"):
        if scheme[1].lower() not in ("http", "https"):
            raise LoraSourceError(f"{field}: {scheme[1]}:// links are not accepted ({ACCEPTED})")
        return _parse_url(text, field)
    short = _HF_SHORT.match(text)
    if short and "--" not in short[1] and ".." not in short[1]:
        filename = short[2]
        if filename is not None:
            _require_safetensors(filename, field, short[1])
        return LoraReference("huggingface", repo=short[1], filename=filename)
    raise LoraSourceError(f"{field}: expected a Hugging Face repo, a civitai link or a .safetensors URL, got "
                          f"{_shown(text)} ({ACCEPTED})")


def _parse_url(url: str, field: str) -> LoraReference:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    segments = [unquote(s) for s in parts.path.split("/") if s]
    if host in HF_HOSTS:
        return _parse_hf_link(segments, url, field)
    if host in CIVITAI_HOSTS:
        return _parse_civitai_link(segments, parse_qs(parts.query), url, field)
    if host in REPLICATE_HOSTS:
        raise LoraSourceError(
            f"{field}: {without_query(url)} is a Replicate page, which this deployment can't download from: paste "
            "the URL of the trained weights instead (the training's output .tar or .safetensors file, "
            "https://replicate.delivery/...), or the Hugging Face repo they were pushed to; owner/name here means "
            f"a Hugging Face repo ({ACCEPTED})")
    if not parts.path.lower().endswith(LORA_SUFFIXES):
        raise LoraSourceError(f"{field}: {without_query(url)} is not a link to a .safetensors or .tar file "
                              f"({ACCEPTED})")
    return LoraReference("url", url=url)


def _parse_hf_link(segments: list[str], url: str, field: str) -> LoraReference:
    if segments and segments[0] in ("datasets", "spaces"):
        raise LoraSourceError(f"{field}: {without_query(url)} is a {segments[0][:-1]}, not a model repo ({ACCEPTED})")
    if len(segments) < 2:
        raise LoraSourceError(f"{field}: {without_query(url)} names no repo ({ACCEPTED})")
    repo, rest = "/".join(segments[:2]), segments[2:]
    if not rest:
        return LoraReference("huggingface", repo=repo)
    if rest[0] == "tree" and len(rest) == 2:
        return LoraReference("huggingface", repo=repo, revision=rest[1])
    if rest[0] in ("blob", "resolve") and len(rest) >= 3:
        filename = "/".join(rest[2:])
        _require_safetensors(filename, field, repo)
        return LoraReference("huggingface", repo=repo, filename=filename, revision=rest[1])
    filename = "/".join(rest)
    _require_safetensors(filename, field, repo)
    return LoraReference("huggingface", repo=repo, filename=filename)


def _parse_civitai_link(segments: list[str], query: dict, url: str, field: str) -> LoraReference:
    def number(value: str, what: str) -> str:
        if not value.isdigit():
            raise LoraSourceError(f"{field}: {what} {value!r} in {without_query(url)} is not a number ({ACCEPTED})")
        return value

    if len(segments) >= 2 and segments[0] == "models":
        version = query.get("modelVersionId", [None])[0]
        return LoraReference(
            "civitai", repo=number(segments[1], "model id"),
            revision=number(version, "modelVersionId") if version is not None else None,
        )
    if len(segments) == 4 and segments[:3] == ["api", "download", "models"]:
        return LoraReference("civitai", revision=number(segments[3], "model version id"))
    raise LoraSourceError(f"{field}: {without_query(url)} is not a civitai model link ({ACCEPTED})")


def _require_safetensors(filename: str, field: str, repo: str) -> None:
    if not filename.lower().endswith(".safetensors"):
        raise LoraSourceError(f"{field}: {repo}/{filename} is not a .safetensors file ({ACCEPTED})")


def _shown(text: str) -> str:
    return repr(text if len(text) <= 80 else text[:77] + "...")
