"""Reading user-supplied images: every way a file can be wrong gets an error that names the input."""

from pathlib import Path

from PIL import Image, UnidentifiedImageError

MAX_FILE_BYTES = 30 * 2**20
MAX_PIXELS = 40_000_000  # 40 MP, well past any camera image a model would be sent; decompression bombs fail


def load_image(path: str | Path, field: str = "image") -> Image.Image:
    """Open, fully decode and convert to RGB, or raise ValueError("<field>: ...")."""
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        raise ValueError(f"{field}: the file is empty")
    if size > MAX_FILE_BYTES:
        raise ValueError(f"{field}: the file is {size / 2**20:.1f} MB; the limit is {MAX_FILE_BYTES // 2**20} MB")
    try:
        with Image.open(path) as image:
            width, height = image.size
            if width * height > MAX_PIXELS:
                megapixels, limit = width * height / 1e6, MAX_PIXELS / 1e6
                raise ValueError(f"{field}: {width}x{height} is {megapixels:.0f} MP; the limit is {limit:.0f} MP")
            image.load()  # decode now: a truncated file fails here, not inside the model
            return image.convert("RGB")
    except UnidentifiedImageError:
        raise ValueError(f"{field}: not an image file PIL can read (PNG, JPEG, WebP, GIF, BMP, ...)") from None
    except (OSError, SyntaxError) as error:
        raise ValueError(f"{field}: the image is corrupt or truncated ({error})") from None
