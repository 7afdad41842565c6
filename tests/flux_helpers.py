"""Reading FLUX predictions' image outputs (data URIs when the Cog server has no upload URL)."""

import base64
import io

from PIL import Image


def output_files(prediction: dict) -> list[bytes]:
    assert prediction["status"] == "succeeded", prediction.get("error")
    return [base64.b64decode(uri.split(",", 1)[1]) for uri in prediction["output"]]


def open_image(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def data_uri(payload: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(payload).decode()}"


def png_bytes(size=(64, 64), color=(30, 120, 200)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()
