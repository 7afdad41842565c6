"""Input images: only files Cog fetched for the request are opened, and every bad one is refused with the field's
name and what is accepted; a throwaway predictor shows it through the real Cog server."""

import base64
import io
import struct
import tempfile
import zlib
from pathlib import Path as PlainPath

import pytest
from cog import Path
from PIL import Image

from scripts.harness.cog_server import CogServer
from shared.common.input_images import ACCEPTED, cog_input_file, decode_image, load_image
from tests.fixture_server import FixtureServer
from tests.throwaway_deployment import throwaway_deployment


def png(size=(5, 3), color=(200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def noise_png() -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise((64, 64), 60).save(buffer, format="PNG")
    return buffer.getvalue()


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims a size in its header and holds no pixels: what a decompression bomb looks like to a
    decoder that trusts it."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def data_uri(payload: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(payload).decode()}"


@pytest.fixture
def cog_download():
    """A file where and as coglet puts a downloaded input: tempfile.NamedTemporaryFile in the temp dir."""
    made = []

    def make(payload: bytes) -> Path:
        with tempfile.NamedTemporaryFile(suffix="file.png", delete=False) as handle:
            handle.write(payload)
        made.append(PlainPath(handle.name))
        return Path(handle.name)

    yield make
    for path in made:
        path.unlink(missing_ok=True)


# ---- decoding ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (png_header(8000, 6000), "image: 8000x6000 is 48 MP; the limit is 40 MP"),
        (png_header(12000, 10000), "image: 12000x10000 is 120 MP; the limit is 40 MP"),  # PIL only warns here
        (png_header(20000, 20000), "image: the image is 400 MP; the limit is 40 MP"),  # PIL's own bomb error
        (b"", "image: the file is empty"),
        (b"just some text", "image: not an image file PIL can read"),
        (noise_png()[:200], "image: the image is corrupt or truncated"),
    ],
)
@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_bad_images_are_refused_from_the_header_with_the_limit(tmp_path, payload, message):
    path = tmp_path / "in.png"
    path.write_bytes(payload)
    with pytest.raises(ValueError) as error:
        decode_image(path, "image")
    assert str(error.value).startswith(message)


def test_a_good_image_is_decoded_to_rgb(tmp_path):
    path = tmp_path / "in.png"
    Image.new("LA", (4, 2)).save(path)
    image = decode_image(path)
    assert image.mode == "RGB" and image.size == (4, 2)


# ---- only what Cog fetched ------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("/etc/passwd", "image: '/etc/passwd' is a path; files on the server are not accepted"),
        ("file:///etc/passwd", "image: file:// URIs are not accepted"),
        ("predict.py", "image: 'predict.py' is not a URI"),
        ("../secrets/key.png", "image: '../secrets/key.png' is a path; files on the server are not accepted"),
        ("ftp://example.com/a.png", "image: ftp: URIs are not accepted"),
        ("just some words", "image: 'just some words' is not a URI"),
        ("", "image: no image given"),
    ],
)
def test_strings_never_open_a_file(value, message):
    with pytest.raises(ValueError) as error:
        cog_input_file(value, "image")
    assert str(error.value) == f"{message} ({ACCEPTED})"


def test_a_file_cog_downloaded_is_accepted(cog_download):
    image = load_image(cog_download(png()), "image")
    assert image.size == (5, 3)


def test_files_elsewhere_are_refused_even_as_cog_paths(tmp_path, cog_download):
    real_image = tmp_path / "on-the-server.png"
    real_image.write_bytes(png())
    link = PlainPath(tempfile.gettempdir()) / f"{tempfile.gettempprefix()}-link-{id(real_image)}.png"
    link.symlink_to(real_image)
    downloaded = cog_download(png())
    try:
        for value in (Path(real_image), Path("/etc/passwd"), Path(link), PlainPath(downloaded)):
            with pytest.raises(ValueError, match=r"^image: a file on the server is not accepted \(uploads"):
                cog_input_file(value, "image")
    finally:
        link.unlink()


def test_an_undownloaded_url_path_is_fetched_by_cog(tmp_path):
    url_path = Path.validate(data_uri(png((2, 7))))  # what Cog builds from a data URI before downloading
    try:
        assert load_image(url_path).size == (2, 7)
    finally:
        url_path.unlink(missing_ok=True)


# ---- through the real Cog server -----------------------------------------------------------------------------

PREDICTOR = """
    from cog import BaseRunner, Input, Path

    from shared.common.input_images import load_image


    class Predictor(BaseRunner):
        def run(self, image: Path = Input(description="An image")) -> str:
            return "x".join(str(side) for side in load_image(image, "image").size)
"""


@pytest.fixture(scope="module")
def web():
    with FixtureServer() as server:
        server.serve("/red.png", png())
        yield server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with CogServer(throwaway_deployment(tmp_path_factory.mktemp("images-deployment"), PREDICTOR)) as running:
        yield running


def test_uploads_urls_and_data_uris_work(server, web):
    for value in (data_uri(png()), f"{web.url}/red.png"):
        result = server.predict(image=value)
        assert result["status"] == "succeeded" and result["output"] == "5x3", result


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("/etc/passwd", f"image: '/etc/passwd' is a path; files on the server are not accepted ({ACCEPTED})"),
        ("file:///etc/passwd", f"image: file:// URIs are not accepted ({ACCEPTED})"),
        ("not a uri", f"image: 'not a uri' is not a URI ({ACCEPTED})"),
        (data_uri(png_header(20000, 20000)), "image: the image is 400 MP; the limit is 40 MP"),
        (data_uri(b"%PDF-1.4", "application/pdf"), "image: not an image file PIL can read"),
        # coglet fails these before run() with its own words, not naming the input
        ("{web}/missing.png", "Input validation error: 404 Client Error"),
        ("data:image/png;base64,abcde", "Input validation error: Invalid base64-encoded string"),
        ("data:image/png;base64,@@@", "image: the file is empty"),  # decodes to nothing: our check answers
    ],
)
def test_bad_images_fail_clearly_and_the_next_request_works(server, web, tmp_path, value, error):
    result = server.predict(image=value.format(web=web.url))
    assert result["status"] == "failed" and error in result["error"], result
    server.wait_until_ready(timeout=10)
    assert server.predict(image=data_uri(png((3, 3))))["output"] == "3x3"


def test_an_image_file_on_the_server_is_never_read(server, tmp_path):
    on_server = tmp_path / "private.png"
    on_server.write_bytes(png())
    result = server.predict(image=str(on_server))
    assert result["status"] == "failed" and "files on the server are not accepted" in result["error"]
