"""LoRA references in every form users paste, resolved against a loopback stand-in for the Hub, civitai and any
web server; the checked on-disk cache; files on the server refused unless under LORA_LOCAL_DIR."""

import hashlib
import logging
import os
import re
import socket
import time
from dataclasses import replace

import pytest
import torch
from cog import Secret
from safetensors.torch import save

from shared.lora.files import check_lora_file, unpack_trainer_archive
from shared.lora.sources import (
    LoraCache,
    LoraReference,
    LoraSettings,
    LoraSourceError,
    lora_identity,
    parse_reference,
    resolve_lora,
)
from tests.fixture_server import FixtureServer, Reply
from tests.flux_helpers import lycoris_lokr, safetensors_bytes, sd15_kohya_lora, sdxl_kohya_lora, trainer_tar


def lora_bytes(rank: int = 2, seed: int = 0, **extra: torch.Tensor) -> bytes:
    generator = torch.Generator().manual_seed(seed)
    return save({
        "transformer.blocks.0.attn.to_q.lora_A.weight": torch.randn(rank, 8, generator=generator),
        "transformer.blocks.0.attn.to_q.lora_B.weight": torch.randn(8, rank, generator=generator),
        **extra,
    })


HF_MAIN, HF_V1, HF_OTHER = lora_bytes(seed=1), lora_bytes(seed=2), lora_bytes(seed=3)
CIVITAI_LATEST, CIVITAI_OLD, PLAIN = lora_bytes(seed=4), lora_bytes(seed=5), lora_bytes(seed=6)


@pytest.fixture(scope="module")
def web():
    with FixtureServer() as server:
        server.add_hf_file("owner/repo", "sub/lora.safetensors", HF_V1, revision="v1")
        server.web_commit = server.add_hf_file("owner/repo", "sub/lora.safetensors", HF_MAIN)
        server.add_hf_file("owner/two-files", "a.safetensors", HF_MAIN)
        server.add_hf_file("owner/two-files", "b.safetensors", HF_OTHER)
        server.add_hf_file("owner/gated", "lora.safetensors", HF_OTHER)
        server.gate_hf_repo("owner/gated", "hf_secret_token_123")
        # newest version first; its primary file is a pickle, so the .safetensors one must be picked
        server.add_civitai_model(
            1001, {2002: {"model.pt": b"pickle", "lora.safetensors": CIVITAI_LATEST},
                   2001: {"old.safetensors": CIVITAI_OLD}}, primary="model.pt",
        )
        server.add_civitai_model(1002, {2003: {"big.safetensors": PLAIN}}, kind="Checkpoint")
        server.serve("/files/style.safetensors", PLAIN)
        yield server


@pytest.fixture
def settings(web, tmp_path) -> LoraSettings:
    return LoraSettings(cache_dir=tmp_path / "cache", cache_files=5, hf_endpoint=web.url, civitai_base=web.url,
                        max_rank=8, timeout=5)


@pytest.fixture
def cache(settings) -> LoraCache:
    return LoraCache(settings)


# ---- parsing: one pure function, every form ----------------------------------------------------------------

HF = "huggingface"


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("owner/repo", LoraReference(HF, repo="owner/repo")),
        ("  owner/repo  ", LoraReference(HF, repo="owner/repo")),
        ("owner/repo/sub/lora.safetensors", LoraReference(HF, repo="owner/repo", filename="sub/lora.safetensors")),
        ("huggingface.co/owner/repo", LoraReference(HF, repo="owner/repo")),
        ("www.huggingface.co/owner/repo", LoraReference(HF, repo="owner/repo")),
        ("hf.co/owner/repo", LoraReference(HF, repo="owner/repo")),
        ("https://huggingface.co/owner/repo", LoraReference(HF, repo="owner/repo")),
        ("https://huggingface.co/owner/repo/tree/v1", LoraReference(HF, repo="owner/repo", revision="v1")),
        ("https://huggingface.co/owner/repo/blob/main/x.safetensors",
         LoraReference(HF, repo="owner/repo", filename="x.safetensors", revision="main")),
        ("https://huggingface.co/owner/repo/resolve/refs%2Fpr%2F3/d/x.safetensors?download=true",
         LoraReference(HF, repo="owner/repo", filename="d/x.safetensors", revision="refs/pr/3")),
        ("civitai.com/models/123", LoraReference("civitai", repo="123")),
        ("https://civitai.com/models/123/some-style-name", LoraReference("civitai", repo="123")),
        ("https://civitai.com/models/123?modelVersionId=456", LoraReference("civitai", repo="123", revision="456")),
        ("https://www.civitai.com/api/download/models/456", LoraReference("civitai", revision="456")),
        ("https://civitai.com/api/download/models/456?type=Model&format=SafeTensor",
         LoraReference("civitai", revision="456")),
        ("https://example.com/loras/x.safetensors?sig=abc",
         LoraReference("url", url="https://example.com/loras/x.safetensors?sig=abc")),
        ("http://127.0.0.1:8000/X.SAFETENSORS", LoraReference("url", url="http://127.0.0.1:8000/X.SAFETENSORS")),
        ("/etc/passwd", LoraReference("local", filename="/etc/passwd")),
        ("file:///etc/passwd", LoraReference("local", filename="/etc/passwd")),
        ("../x.safetensors", LoraReference("local", filename="../x.safetensors")),
        ("mine.safetensors", LoraReference("local", filename="mine.safetensors")),
        ("trained.tar", LoraReference("local", filename="trained.tar")),
        ("https://replicate.delivery/xezq/abc/trained_model.tar",
         LoraReference("url", url="https://replicate.delivery/xezq/abc/trained_model.tar")),
    ],
)
def test_every_form_parses(reference, expected):
    assert parse_reference(reference) == expected


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("not a reference", "lora_weights: expected a Hugging Face repo"),
        ("", "lora_weights: empty reference"),
        ("ftp://example.com/x.safetensors", "lora_weights: ftp:// links are not accepted"),
        ("https://example.com/model.bin", "is not a link to a .safetensors or .tar file"),
        ("replicate.com/owner/model", "replicate.com/owner/model is a Replicate page"),
        ("https://replicate.com/owner/model/versions/abc123", "paste the URL of the trained weights instead"),
        ("owner/repo/README.md", "owner/repo/README.md is not a .safetensors file"),
        ("https://huggingface.co/datasets/owner/data", "is a dataset, not a model repo"),
        ("https://huggingface.co/owner", "names no repo"),
        ("https://civitai.com/user/someone", "is not a civitai model link"),
        ("https://civitai.com/models/abc", "model id 'abc'"),
        ("file://otherhost/x.safetensors", "file:// URIs name files on this server only"),
    ],
)
def test_unusable_forms_say_what_is_accepted(reference, message):
    with pytest.raises(LoraSourceError, match="^lora_weights: ") as error:
        parse_reference(reference)
    assert message in str(error.value) and "civitai.com/models/<id>" in str(error.value)


def test_the_field_name_is_the_one_given():
    with pytest.raises(LoraSourceError, match="^extra_lora: "):
        parse_reference("nonsense", field="extra_lora")


# ---- every form downloads the right file ----------------------------------------------------------------------

@pytest.mark.parametrize(
    ("reference", "content"),
    [
        ("owner/repo", HF_MAIN),
        ("owner/repo/sub/lora.safetensors", HF_MAIN),
        ("huggingface.co/owner/repo", HF_MAIN),
        ("https://huggingface.co/owner/repo/tree/v1", HF_V1),
        ("https://huggingface.co/owner/repo/blob/v1/sub/lora.safetensors", HF_V1),
        ("https://huggingface.co/owner/repo/resolve/main/sub/lora.safetensors?download=true", HF_MAIN),
        ("civitai.com/models/1001", CIVITAI_LATEST),
        ("https://civitai.com/models/1001/a-style", CIVITAI_LATEST),
        ("https://civitai.com/models/1001?modelVersionId=2001", CIVITAI_OLD),
        ("https://civitai.com/api/download/models/2001", CIVITAI_OLD),
        ("{web}/files/style.safetensors", PLAIN),
    ],
)
def test_every_form_resolves_to_the_right_download(web, cache, reference, content):
    path = resolve_lora(reference.format(web=web.url), cache)
    assert path.read_bytes() == content
    assert path.parent == cache.directory


def test_a_pinned_commit_is_honoured(web, cache):
    web.add_hf_file("owner/moving", "l.safetensors", HF_V1)
    first = web.hub["owner/moving"].commits["main"]
    web.add_hf_file("owner/moving", "l.safetensors", HF_MAIN)  # main moves on
    pinned = f"https://huggingface.co/owner/moving/resolve/{first}/l.safetensors"
    assert resolve_lora(pinned, cache).read_bytes() == HF_V1
    assert resolve_lora("owner/moving/l.safetensors", cache).read_bytes() == HF_MAIN


def test_a_branch_that_moves_is_fetched_again(web, cache):
    web.add_hf_file("owner/branch", "l.safetensors", HF_V1)
    before = resolve_lora("owner/branch", cache)
    assert resolve_lora("owner/branch", cache) == before  # unchanged: a HEAD, no download
    web.add_hf_file("owner/branch", "l.safetensors", HF_MAIN)
    after = resolve_lora("owner/branch", cache)
    assert after.read_bytes() == HF_MAIN and after != before


def test_repo_with_several_files_asks_for_one(cache):
    with pytest.raises(LoraSourceError, match="holds 2 .safetensors files .*name one as owner/two-files/<file>"):
        resolve_lora("owner/two-files", cache)
    assert resolve_lora("owner/two-files/b.safetensors", cache).read_bytes() == HF_OTHER


def test_civitai_model_that_is_no_lora_is_refused(cache):
    with pytest.raises(LoraSourceError, match="civitai model 1002 is a Checkpoint, not a LoRA"):
        resolve_lora("civitai.com/models/1002", cache)


# ---- tokens: from the input or the environment, never in a URL, a message or a log line ---------------------

def test_gated_repo_needs_the_token(cache, monkeypatch, caplog):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with pytest.raises(LoraSourceError, match="^lora_weights: owner/gated is gated on Hugging Face .*hf_api_token"):
        resolve_lora("owner/gated/lora.safetensors", cache)
    caplog.set_level(logging.DEBUG)
    path = resolve_lora("owner/gated/lora.safetensors", cache, hf_token=Secret("hf_secret_token_123"))
    assert path.read_bytes() == HF_OTHER
    assert "hf_secret_token_123" not in caplog.text


def test_hf_token_from_the_environment(cache, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_secret_token_123")
    assert resolve_lora("owner/gated/lora.safetensors", cache).read_bytes() == HF_OTHER


def test_civitai_token_goes_in_a_header_never_in_a_url(web, cache, monkeypatch, caplog):
    monkeypatch.delenv("CIVITAI_API_TOKEN", raising=False)
    web.civitai_token = "civitai_secret_456"
    try:
        with pytest.raises(LoraSourceError, match="civitai model version 2001 answered HTTP 401.*civitai_api_token"):
            resolve_lora("https://civitai.com/api/download/models/2001?token=civitai_secret_456", cache)
        caplog.set_level(logging.DEBUG)
        path = resolve_lora("civitai.com/models/1001?modelVersionId=2001", cache,
                            civitai_token=Secret("civitai_secret_456"))
        assert path.read_bytes() == CIVITAI_OLD
        monkeypatch.setenv("CIVITAI_API_TOKEN", "civitai_secret_456")
        cache.discard(path)
        assert resolve_lora("civitai.com/models/1001?modelVersionId=2001", cache).read_bytes() == CIVITAI_OLD
    finally:
        web.civitai_token = None
    assert not any("civitai_secret_456" in r.path for r in web.requests), "the token pasted in a link is dropped"
    assert any(r.headers.get("Authorization") == "Bearer civitai_secret_456" for r in web.requests)
    assert "civitai_secret_456" not in caplog.text


def test_a_url_query_never_reaches_a_message(web, cache):
    with pytest.raises(LoraSourceError) as error:
        resolve_lora(f"{web.url}/missing/x.safetensors?token=very_secret", cache)
    assert "very_secret" not in str(error.value) and "x.safetensors?..." in str(error.value)


# ---- network failures read `<field>: ...` ----------------------------------------------------------------------

@pytest.fixture
def silent_port():
    """A port that accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_network_failures_name_the_field(web, cache, settings, silent_port, monkeypatch):
    cases = [
        (f"{web.url}/nope.safetensors", cache, "lora_weights: {url}/nope.safetensors answered HTTP 404"),
        (f"http://127.0.0.1:{closed_port()}/x.safetensors", cache, "could not download .* could not connect"),
        (f"http://127.0.0.1:{silent_port}/x.safetensors", LoraCache(replace(settings, timeout=0.5)),
         "no answer in 0.5 s"),
        ("owner/absent", cache, "no Hugging Face repo owner/absent, or it is private"),
        ("owner/repo/nope.safetensors", cache, "owner/repo/nope.safetensors: no such file in the repo"),
        ("https://huggingface.co/owner/repo/tree/v9", cache, "owner/repo has no revision 'v9'"),
        ("owner/repo", LoraCache(replace(settings, hf_endpoint=f"http://127.0.0.1:{closed_port()}")),
         "could not reach Hugging Face for owner/repo"),
        ("civitai.com/models/999", cache, "civitai model 999 answered HTTP 404: no such file"),
        ("civitai.com/models/1001", LoraCache(replace(settings, civitai_base=f"http://127.0.0.1:{closed_port()}")),
         "could not download civitai model 1001: could not connect"),
    ]
    for reference, which_cache, message in cases:
        with pytest.raises(LoraSourceError, match="^lora_weights: ") as error:
            resolve_lora(reference, which_cache)
        assert re.search(message.format(url=web.url), str(error.value)), str(error.value)


def test_offline_hub_is_explained(cache, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(LoraSourceError, match="^lora_weights: Hugging Face downloads are off on this server"):
        resolve_lora("owner/repo/sub/lora.safetensors", cache)


def test_oversized_download_is_refused_before_it_is_kept(web, settings):
    small = LoraCache(replace(settings, max_bytes=100))
    with pytest.raises(LoraSourceError, match="style.safetensors is over 0 MB"):
        resolve_lora(f"{web.url}/files/style.safetensors", small)
    assert not list(small.directory.glob("*.safetensors"))


# ---- files on the server ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("reference", ["/etc/passwd", "file:///etc/passwd", "mine.safetensors", "./x.safetensors"])
def test_server_files_are_refused_without_a_local_dir(cache, reference):
    with pytest.raises(LoraSourceError, match="^lora_weights: files on the server are not accepted \\(a Hugging"):
        resolve_lora(reference, cache)


@pytest.fixture
def local_cache(settings, tmp_path):
    loras = tmp_path / "loras"
    (loras / "sub").mkdir(parents=True)
    (loras / "sub" / "mine.safetensors").write_bytes(PLAIN)
    (tmp_path / "outside.safetensors").write_bytes(PLAIN)
    (loras / "escape.safetensors").symlink_to(tmp_path / "outside.safetensors")
    return LoraCache(replace(settings, local_dir=loras.resolve()))


def test_files_under_the_local_dir_are_used_in_place(local_cache):
    root = local_cache.settings.local_dir
    for reference in (str(root / "sub" / "mine.safetensors"), f"file://{root}/sub/mine.safetensors",
                      "./sub/mine.safetensors"):
        assert resolve_lora(reference, local_cache) == root / "sub" / "mine.safetensors"


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("{root}/../outside.safetensors", "is outside LORA_LOCAL_DIR"),
        ("{root}/escape.safetensors", "is outside LORA_LOCAL_DIR"),  # a symlink out
        ("/etc/passwd", "is outside LORA_LOCAL_DIR"),
        ("file:///etc/passwd", "is outside LORA_LOCAL_DIR"),
        ("{root}/sub/absent.safetensors", "no file .* under LORA_LOCAL_DIR"),
    ],
)
def test_nothing_outside_the_local_dir_is_read(local_cache, reference, message):
    with pytest.raises(LoraSourceError, match=f"^lora_weights: .*{message}"):
        resolve_lora(reference.format(root=local_cache.settings.local_dir), local_cache)


def test_a_local_file_replaced_under_the_same_name_is_not_served_stale(local_cache):
    path = local_cache.settings.local_dir / "sub" / "mine.safetensors"
    before = lora_identity(resolve_lora(str(path), local_cache))
    path.write_bytes(lora_bytes(seed=9))
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))  # a new mtime even on a coarse clock
    assert lora_identity(resolve_lora(str(path), local_cache)) != before
    path.write_bytes(b"broken now")
    with pytest.raises(LoraSourceError, match="mine.safetensors is not a readable LoRA file"):
        resolve_lora(str(path), local_cache)


# ---- the cache: checked before it keeps anything -----------------------------------------------------------------

def test_a_broken_download_is_not_cached_and_the_fixed_file_works_next_time(web, cache):
    url = web.serve("/flaky/lora.safetensors", b"<html>502 Bad Gateway</html>", lora_bytes(seed=7))
    with pytest.raises(LoraSourceError, match="^lora_weights: .*lora.safetensors is not a readable LoRA file"):
        resolve_lora(url, cache)
    assert not list(cache.directory.iterdir()), "nothing of the broken download is left"
    assert resolve_lora(url, cache).read_bytes() == lora_bytes(seed=7)


def test_a_changed_url_is_fetched_again_an_unchanged_one_costs_a_304(web, cache):
    url = web.serve("/changing/lora.safetensors", lora_bytes(seed=10), lora_bytes(seed=10), lora_bytes(seed=11))
    first = resolve_lora(url, cache)
    identity = lora_identity(first)
    assert lora_identity(resolve_lora(url, cache)) == identity  # 304: same file, same identity
    assert web.requests[-1].headers.get("If-None-Match")
    changed = resolve_lora(url, cache)
    assert changed.read_bytes() == lora_bytes(seed=11) and lora_identity(changed) != identity


def test_discard_evicts_a_file_the_engine_refused(web, cache):
    url = f"{web.url}/files/style.safetensors"
    path = resolve_lora(url, cache)
    cache.discard(path)
    assert not path.exists()
    downloads = sum(r.path == "/files/style.safetensors" for r in web.requests)
    assert resolve_lora(url, cache).read_bytes() == PLAIN
    assert sum(r.path == "/files/style.safetensors" for r in web.requests) == downloads + 1


def test_least_recently_used_file_is_evicted(web, settings):
    cache = LoraCache(replace(settings, cache_files=2))
    urls = {name: web.serve(f"/lru/{name}.safetensors", lora_bytes(seed=20 + i)) for i, name in enumerate("abc")}
    paths = {name: resolve_lora(urls[name], cache) for name in "ab"}
    os.utime(paths["a"], ns=(time.time_ns() - 10**11, paths["a"].stat().st_mtime_ns))
    resolve_lora(urls["b"], cache)  # a hit refreshes b
    resolve_lora(urls["c"], cache)
    assert not paths["a"].exists() and paths["b"].exists()
    assert len(list(cache.directory.glob("*.safetensors"))) == 2


# ---- what a plausible LoRA is --------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is not a readable LoRA file"),
        (b"\x00garbage", "is not a readable LoRA file"),
        (save({"a": torch.zeros(2)}), "unexpected key 'a': not a FLUX.1 LoRA layout"),
        (save({"transformer.x.lora_A.weight": torch.zeros(2, 8)}), "layer x has only one of its two LoRA matrices"),
        (save({"transformer.x.lora_A.weight": torch.zeros(2, 8, 1), "transformer.x.lora_B.weight": torch.zeros(8, 2)}),
         "shapes"),
        (save({"transformer.x.lora_A.weight": torch.zeros(2, 8), "transformer.x.lora_B.weight": torch.zeros(8, 3)}),
         "shapes"),
        (lora_bytes(**{"extra.weight": torch.tensor([float("nan")])}), "holds NaN or infinite values"),
        (safetensors_bytes(sdxl_kohya_lora()), "can't be used: this LoRA is for SDXL, not FLUX.1"),
        (safetensors_bytes(sd15_kohya_lora()), "can't be used: this LoRA is for SD 1.5 (or 2.x), not FLUX.1"),
        (safetensors_bytes(lycoris_lokr()), "can't be used: it is a LoKr (LyCORIS), not a LoRA"),
    ],
)
def test_implausible_files_are_refused(tmp_path, content, message):
    path = tmp_path / "x.safetensors"
    path.write_bytes(content)
    with pytest.raises(LoraSourceError, match="^lora_weights: ") as error:
        check_lora_file(path)
    assert message in str(error.value)


def test_kohya_and_diffusers_spellings_pass_whatever_their_rank(tmp_path):
    """A rank above MAX_LORA_RANK is no reason to refuse a download: the engine fits it into its slots."""
    stem = "lora_unet_double_blocks_0_img_attn_proj"
    kohya = save({f"{stem}.lora_down.weight": torch.zeros(4, 8), f"{stem}.lora_up.weight": torch.zeros(8, 4),
                  f"{stem}.alpha": torch.tensor(4.0)})
    (tmp_path / "k.safetensors").write_bytes(kohya)
    check_lora_file(tmp_path / "k.safetensors")
    (tmp_path / "d.safetensors").write_bytes(lora_bytes(rank=128))
    check_lora_file(tmp_path / "d.safetensors")


# ---- a Replicate trainer's .tar ---------------------------------------------------------------------------------

TRAINED = lora_bytes(seed=60)


def test_a_trainer_tar_url_is_kept_as_the_lora_inside_it(web, cache):
    url = web.serve("/xezq/abc/trained_model.tar", trainer_tar({
        "output/flux_train_replicate/config.yaml": b"job: extension\n",
        "output/flux_train_replicate/lora.safetensors": TRAINED,
    }))
    path = resolve_lora(url, cache)
    assert path.read_bytes() == TRAINED and path.parent == cache.directory


def test_a_trainer_tar_with_several_loras_gives_its_lora_safetensors(web, cache):
    url = web.serve("/several/trained_model.tar", trainer_tar({
        "out/lora_000000500.safetensors": lora_bytes(seed=61), "out/lora.safetensors": TRAINED}))
    assert resolve_lora(url, cache).read_bytes() == TRAINED


@pytest.mark.parametrize(
    ("members", "links", "message"),
    [
        ({"config.yaml": b"x"}, None, "the archive holds no .safetensors file"),
        ({"a.safetensors": TRAINED, "b.safetensors": TRAINED}, None, "the archive holds 2 .safetensors files"),
        ({"../lora.safetensors": TRAINED}, None, "the archive names a file outside itself"),
        ({"/etc/lora.safetensors": TRAINED}, None, "the archive names a file outside itself"),
        ({}, {"lora.safetensors": "/etc/passwd"}, "lora.safetensors in the archive is a link"),
        ({"lora.safetensors": safetensors_bytes(sdxl_kohya_lora())}, None, "this LoRA is for SDXL, not FLUX.1"),
        ({"lora.safetensors": b"\x00garbage"}, None, "is not a readable LoRA file"),
    ],
)
def test_a_tar_that_holds_no_usable_lora_is_refused_and_not_kept(web, cache, members, links, message):
    url = web.serve(f"/bad-{len(web.routes)}/trained_model.tar", trainer_tar(members, links))
    with pytest.raises(LoraSourceError, match="^lora_weights: ") as error:
        resolve_lora(url, cache)
    assert message in str(error.value)
    assert not list(cache.directory.glob("*")), "nothing of a refused archive is kept"


def test_a_truncated_tar_is_refused(web, cache):
    whole = trainer_tar({"lora.safetensors": TRAINED})
    url = web.serve("/truncated/trained_model.tar", whole[:700])
    with pytest.raises(LoraSourceError, match=r"^lora_weights: .*trained_model.tar is not a readable .tar archive"):
        resolve_lora(url, cache)
    assert not list(cache.directory.glob("*"))


def test_the_member_is_capped_at_the_size_limit(tmp_path):
    path = tmp_path / "download.safetensors"
    path.write_bytes(trainer_tar({"lora.safetensors": TRAINED}))
    with pytest.raises(LoraSourceError, match="lora.safetensors in the archive is over 0 MB"):
        unpack_trainer_archive(path, max_bytes=100, field="lora_weights", name="x")


def test_a_local_trainer_tar_is_unpacked_once_per_content(local_cache):
    archive = local_cache.settings.local_dir / "trained.tar"
    archive.write_bytes(trainer_tar({"output/lora.safetensors": TRAINED}))
    first = resolve_lora("trained.tar", local_cache)
    assert first.read_bytes() == TRAINED and first.parent == local_cache.directory
    assert resolve_lora(str(archive), local_cache) == first
    archive.write_bytes(trainer_tar({"output/lora.safetensors": lora_bytes(seed=62)}))
    os.utime(archive, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert resolve_lora("trained.tar", local_cache).read_bytes() == lora_bytes(seed=62)


def test_settings_from_env(tmp_path):
    settings = LoraSettings.from_env({
        "LORA_CACHE_DIR": str(tmp_path), "LORA_CACHE_SIZE": "3", "LORA_LOCAL_DIR": str(tmp_path),
        "HF_ENDPOINT": "http://hub.local/", "CIVITAI_API_BASE": "http://civitai.local", "LORA_MAX_MB": "10",
        "MAX_LORA_RANK": "16", "LORA_DOWNLOAD_TIMEOUT": "5",
    })
    assert settings == LoraSettings(tmp_path, 3, tmp_path.resolve(), "http://hub.local", "http://civitai.local",
                                    10 * 2**20, 16, 5.0)
    assert LoraSettings.from_env({}).local_dir is None
    with pytest.raises(ValueError, match="LORA_LOCAL_DIR must be a directory"):
        LoraSettings.from_env({"LORA_LOCAL_DIR": str(tmp_path / "absent")})
    with pytest.raises(ValueError, match="LORA_CACHE_SIZE must be at least 1"):
        LoraSettings.from_env({"LORA_CACHE_SIZE": "0"})


def test_refused_reply_kinds_are_not_cached(web, cache):
    url = web.serve("/gone/lora.safetensors", Reply(status=410))
    with pytest.raises(LoraSourceError, match="answered HTTP 410: no such file"):
        resolve_lora(url, cache)


# ---- through the real Cog server, with the token as a Secret input ---------------------------------------------

PREDICTOR = """
    import hashlib

    from cog import BaseRunner, Input, Secret

    import os

    from shared.lora.cache import LoraSettings
    from shared.lora.sources import LoraCache, resolve_lora


    class Predictor(BaseRunner):
        def setup(self):
            self.cache = LoraCache(LoraSettings.from_env(os.environ))

        def run(
            self,
            lora_weights: str = Input(description="A LoRA"),
            civitai_api_token: Secret | None = Input(default=None, description="civitai token"),
        ) -> str:
            path = resolve_lora(lora_weights, self.cache, civitai_token=civitai_api_token)
            return hashlib.sha256(path.read_bytes()).hexdigest()
"""


@pytest.fixture(scope="module")
def lora_server(web, tmp_path_factory):
    from scripts.harness.cog_server import CogServer
    from tests.throwaway_deployment import throwaway_deployment

    folder = throwaway_deployment(tmp_path_factory.mktemp("lora-deployment"), PREDICTOR)
    env = {"LORA_CACHE_DIR": str(folder / "cache"), "HF_ENDPOINT": web.url, "CIVITAI_API_BASE": web.url,
           "MAX_LORA_RANK": "8", "CIVITAI_API_TOKEN": "", "HF_TOKEN": ""}
    with CogServer(folder, env=env) as server:
        yield server


def sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def test_server_resolves_civitai_with_a_secret_and_never_shows_it(web, lora_server):
    web.civitai_token = "civitai_secret_789"
    try:
        denied = lora_server.predict(lora_weights="civitai.com/models/1001")
        assert denied["status"] == "failed" and "civitai_api_token" in denied["error"]
        lora_server.wait_until_ready(timeout=10)
        result = lora_server.predict(lora_weights="civitai.com/models/1001", civitai_api_token="civitai_secret_789")
    finally:
        web.civitai_token = None
    assert result["status"] == "succeeded" and result["output"] == sha(CIVITAI_LATEST), result
    assert "civitai_secret_789" not in str(result) and "civitai_secret_789" not in lora_server.log_tail(10**6)


def test_server_refuses_server_files_and_heals_a_broken_url(web, lora_server):
    refused = lora_server.predict(lora_weights="/etc/passwd")
    assert refused["status"] == "failed" and "lora_weights: files on the server are not accepted" in refused["error"]
    lora_server.wait_until_ready(timeout=10)
    url = web.serve("/server-flaky/lora.safetensors", b"truncated", lora_bytes(seed=30))
    broken = lora_server.predict(lora_weights=url)
    assert broken["status"] == "failed" and "is not a readable LoRA file" in broken["error"]
    lora_server.wait_until_ready(timeout=10)
    fixed = lora_server.predict(lora_weights=url)
    assert fixed["status"] == "succeeded" and fixed["output"] == sha(lora_bytes(seed=30))


def test_tokens_go_only_to_their_own_service(web, cache):
    url = web.serve("/third-party/lora.safetensors", lora_bytes(seed=40))
    resolve_lora(url, cache, hf_token=Secret("hf_secret_token_123"), civitai_token=Secret("civitai_secret_456"))
    sent = [r for r in web.requests if r.path == "/third-party/lora.safetensors"]
    assert sent and all("Authorization" not in r.headers for r in sent)


def test_a_url_without_validators_is_served_from_the_cache(web, cache):
    url = web.serve("/no-etag/lora.safetensors", Reply(body=lora_bytes(seed=50), headers={"ETag": ""}))
    first = resolve_lora(url, cache)
    requests_before = len(web.requests)
    assert resolve_lora(url, cache) == first and len(web.requests) == requests_before
