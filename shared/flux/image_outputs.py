"""Writing generated images with their generation parameters inside the file, so any image can be re-made.

PNG keeps them in a `parameters` text chunk; WebP and JPEG in EXIF ImageDescription. Both hold the same
JSON (prompt, seed, steps, guidance, LoRA, scale, ...).
"""

import json
import os
import uuid
from pathlib import Path

from PIL import Image, PngImagePlugin

FORMATS = ("webp", "jpg", "png")
_EXIF_IMAGE_DESCRIPTION = 0x010E


def save_image(image: Image.Image, parameters: dict, output_format: str, quality: int, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"out-{parameters.get('seed', 0)}-{uuid.uuid4().hex[:8]}.{output_format}"
    text = json.dumps(parameters, sort_keys=True)
    if output_format == "png":
        info = PngImagePlugin.PngInfo()
        info.add_text("parameters", text)
        image.save(path, format="PNG", pnginfo=info)
    else:
        exif = Image.Exif()
        exif[_EXIF_IMAGE_DESCRIPTION] = text
        pil_format = "JPEG" if output_format == "jpg" else "WEBP"
        image.convert("RGB").save(path, format=pil_format, quality=quality, exif=exif.tobytes())
    return path


def read_parameters(path: str | os.PathLike) -> dict:
    """The generation parameters stored by `save_image`."""
    with Image.open(path) as image:
        text = image.info.get("parameters") or image.getexif().get(_EXIF_IMAGE_DESCRIPTION)
    if not text:
        raise ValueError(f"{path} carries no generation parameters")
    return json.loads(text)
