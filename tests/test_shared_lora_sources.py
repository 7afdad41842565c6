"""LoRA references and the on-disk LRU cache; URLs are served from a loopback HTTP server."""

import os
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from shared.lora_sources import HF_REPO, LoraCache, LoraSourceError, resolve_lora


@pytest.fixture
def file_server(tmp_path):
    (tmp_path / "www").mkdir()
    handler = partial(SimpleHTTPRequestHandler, directory=str(tmp_path / "www"))
    handler.log_message = lambda *args: None
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield tmp_path / "www", f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_url_is_downloaded_once(file_server, tmp_path):
    www, url = file_server
    (www / "style.safetensors").write_bytes(b"weights-v1")
    cache = LoraCache(tmp_path / "cache", max_files=3)
    first = resolve_lora(f"{url}/style.safetensors", cache)
    (www / "style.safetensors").write_bytes(b"weights-v2")
    assert resolve_lora(f"{url}/style.safetensors", cache) == first
    assert first.read_bytes() == b"weights-v1", "a cached LoRA is not fetched again"


def test_least_recently_used_file_is_evicted(file_server, tmp_path):
    www, url = file_server
    cache = LoraCache(tmp_path / "cache", max_files=2)
    paths = {}
    for name in ("a", "b"):
        (www / f"{name}.safetensors").write_bytes(name.encode())
        paths[name] = resolve_lora(f"{url}/{name}.safetensors", cache)
    os.utime(paths["a"], (time.time() - 100, time.time() - 100))
    resolve_lora(f"{url}/b.safetensors", cache)  # a hit refreshes b
    (www / "c.safetensors").write_bytes(b"c")
    resolve_lora(f"{url}/c.safetensors", cache)
    assert not paths["a"].exists() and paths["b"].exists()
    assert len(list((tmp_path / "cache").glob("*.safetensors"))) == 2


def test_missing_url_names_the_status(file_server, tmp_path):
    _, url = file_server
    with pytest.raises(LoraSourceError, match="answered HTTP 404"):
        resolve_lora(f"{url}/nope.safetensors", LoraCache(tmp_path / "cache"))
    assert not list((tmp_path / "cache").glob("*.safetensors")), "a failed download leaves nothing behind"


def test_local_file_is_used_in_place(tmp_path):
    lora = tmp_path / "mine.safetensors"
    lora.write_bytes(b"x")
    assert resolve_lora(str(lora), LoraCache(tmp_path / "cache")) == lora


@pytest.mark.parametrize(
    ("reference", "repo", "file"),
    [
        ("aleksa-codes/flux-ghibsky-illustration", "aleksa-codes/flux-ghibsky-illustration", None),
        ("owner/repo/sub/lora.safetensors", "owner/repo", "sub/lora.safetensors"),
        ("https://huggingface.co/owner/repo/resolve/main/x.safetensors", "owner/repo", "x.safetensors"),
    ],
)
def test_hugging_face_references(reference, repo, file):
    match = HF_REPO.match(reference)
    assert (match[1], match[2]) == (repo, file)


def test_nonsense_reference_is_explained(tmp_path):
    with pytest.raises(LoraSourceError, match="lora_weights: expected a Hugging Face repo"):
        resolve_lora("just words", LoraCache(tmp_path / "cache"))
