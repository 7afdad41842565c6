"""Reading user-supplied images: only files Cog fetched for this request, and every way one can be wrong gets an
error that names the input.

What coglet 0.23.1 hands a `Path` input (measured through the real server): a string starting with `http://`,
`https://` or `data:` is downloaded or decoded into a `cog.Path` at `<tempdir>/tmpXXXXXXXX<name>` before `run()`
starts (and deleted after it); a failed download or a bad data URI fails the prediction before `run()`; any other
string (`/etc/passwd`, `file:///etc/passwd`, `predict.py`, words) reaches `run()` unchanged, as a plain `str`.
`cog_input_file` therefore accepts only a `cog.Path` that lives directly in the temp directory under the name
pattern coglet gives its downloads: a server file can never reach the decoder.
"""

import re
import tempfile
from pathlib import Path

import cog
from cog.types import URLPath
from PIL import Image, UnidentifiedImageError

MAX_FILE_BYTES = 30 * 2**20
MAX_PIXELS = 40_000_000  # 40 MP, well past any camera image a model would be sent; decompression bombs fail
ACCEPTED = "uploads, http(s) URLs and data URIs are accepted"
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*):")


def load_image(value, field: str = "image") -> Image.Image:
    """The request's image, decoded and converted to RGB, or ValueError("<field>: ...")."""
    return decode_image(cog_input_file(value, field), field)


def cog_input_file(value, field: str = "image") -> Path:
    """The file Cog downloaded or decoded for this request; anything else (a path, a file:// URI, words) is
    refused before it is opened."""
    if isinstance(value, URLPath):  # a runtime that hands over the URL undownloaded: let Cog fetch it
        value = value.convert()
    if isinstance(value, str):
        raise ValueError(f"{field}: {_describe_string(value)} ({ACCEPTED})")
    if not isinstance(value, cog.Path) or not _is_cog_temp_file(Path(value)):
        raise ValueError(f"{field}: a file on the server is not accepted ({ACCEPTED})")
    return Path(value)


def _describe_string(value: str) -> str:
    text = value.strip()
    shown = repr(text if len(text) <= 80 else text[:77] + "...")
    scheme = _SCHEME.match(text)
    if not text:
        return "no image given"
    if scheme and scheme[1].lower() == "file":
        return "file:// URIs are not accepted"
    if scheme and len(scheme[1]) > 1:  # "C:" is a Windows drive, not a scheme
        return f"{scheme[1]}: URIs are not accepted"
    if text.startswith(("/", "~", ".")) or "/" in text or "\\" in text:
        return f"{shown} is a path; files on the server are not accepted"
    return f"{shown} is not a URI"


def _is_cog_temp_file(path: Path) -> bool:
    """Directly in this process's temp directory, named as `tempfile.NamedTemporaryFile` names Cog's downloads,
    and a regular file (a symlink there could point anywhere)."""
    temp_dir = Path(tempfile.gettempdir()).resolve()
    return (
        path.is_absolute()
        and not path.is_symlink()
        and path.parent.resolve() == temp_dir
        and path.name.startswith(tempfile.gettempprefix())
        and path.is_file()
    )


def decode_image(path: str | Path, field: str = "image") -> Image.Image:
    """Open, check the size from the header, fully decode and convert to RGB, or raise ValueError("<field>: ...")."""
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        raise ValueError(f"{field}: the file is empty (PNG, JPEG, WebP, GIF, BMP, ... are accepted)")
    if size > MAX_FILE_BYTES:
        raise ValueError(f"{field}: the file is {size / 2**20:.1f} MB; the limit is {MAX_FILE_BYTES // 2**20} MB")
    limit = f"the limit is {MAX_PIXELS / 1e6:.0f} MP"
    try:
        image = Image.open(path)  # reads the header only
    except Image.DecompressionBombError as error:  # PIL's own guard, above twice its MAX_IMAGE_PIXELS
        pixels = re.search(r"\((\d+) pixels\)", str(error))
        what = f"{int(pixels[1]) / 1e6:.0f} MP" if pixels else "too many pixels"
        raise ValueError(f"{field}: the image is {what}; {limit}") from None
    except UnidentifiedImageError:
        raise ValueError(f"{field}: not an image file PIL can read (PNG, JPEG, WebP, GIF, BMP, ...)") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise ValueError(f"{field}: the image is corrupt or truncated ({error})") from None
    with image:
        width, height = image.size
        if width * height > MAX_PIXELS:
            raise ValueError(f"{field}: {width}x{height} is {width * height / 1e6:.0f} MP; {limit}")
        try:
            image.load()  # decode now: a truncated file fails here, not inside the model
            return image.convert("RGB")
        except (OSError, SyntaxError, ValueError) as error:  # PIL: OSError when truncated, ValueError for bad chunks
            raise ValueError(f"{field}: the image is corrupt or truncated ({error})") from None
