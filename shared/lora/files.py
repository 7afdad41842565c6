"""Is this file a plausible LoRA? Checked before a download enters the cache, so a broken file is never kept.
A Replicate trainer's .tar is unpacked to the one .safetensors file inside it first."""

import os
import tarfile
from pathlib import Path, PurePosixPath

from shared.lora.references import LoraSourceError

ACCEPTED_FILE = "a .safetensors LoRA, or a Replicate trainer's .tar holding one, is accepted"
TRAINER_FILE = "lora.safetensors"  # what ostris/flux-dev-lora-trainer and cog-flux's trainers put in their .tar
MAX_ARCHIVE_MEMBERS = 10_000


def check_lora_file(path: Path, field: str = "lora_weights", name: str = "the file") -> None:
    """Raise LoraSourceError unless the safetensors header parses, every tensor reads, every value is finite,
    and the file converts into FLUX LoRA pairs (`shared.lora.formats.convert_lora`: kohya, ComfyUI, diffusers,
    XLabs, BFL names; refused with the reason for other models, DoRA, LoKr, LoHa). Its rank is not checked:
    the engine fits a higher one into its slots."""
    import torch  # here, not at the top: parsing references (and the input schema, via styles) needs no torch

    from shared.lora.errors import LoraRefused
    from shared.lora.formats import convert_lora, load_lora_tensors

    unreadable = f"{field}: {name} is not a readable LoRA file"
    try:
        tensors = load_lora_tensors(path)
    except LoraRefused as error:
        raise LoraSourceError(f"{field}: {name} is {error} ({ACCEPTED_FILE})") from None
    if not tensors:
        raise LoraSourceError(f"{unreadable}: it holds no tensors ({ACCEPTED_FILE})")
    for key, tensor in tensors.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise LoraSourceError(f"{unreadable}: {key} holds NaN or infinite values (finite weights are accepted)")
    try:
        convert_lora(tensors)
    except LoraRefused as error:
        raise LoraSourceError(f"{field}: {name} can't be used: {error}") from None


def is_tar_archive(path: Path) -> bool:
    """POSIX and GNU tar headers carry "ustar" at byte 257; a safetensors file starts with its header's length."""
    with open(path, "rb") as handle:
        head = handle.read(262)
    return head[257:262] == b"ustar"


def unpack_trainer_archive(path: Path, max_bytes: int, field: str, name: str) -> None:
    """Replace the .tar at `path` with the one .safetensors file inside it (cog-flux `weights.py` accepts these
    too). The member is streamed into `path`, never extracted by its name, so no name in the archive reaches
    the file system; links are refused, and the member may be at most `max_bytes`."""
    what = f"{field}: {name}"
    try:
        with tarfile.open(path, mode="r:") as archive:
            member = _the_lora_member(archive, what)
            if member.size > max_bytes:
                raise LoraSourceError(f"{what}: {member.name} in the archive is over {max_bytes / 2**20:.0f} MB "
                                      f"(LoRAs up to {max_bytes / 2**20:.0f} MB are accepted)")
            unpacked = path.with_name(path.name + ".unpacked")
            source = archive.extractfile(member)
            written = 0
            with source, open(unpacked, "wb") as out:
                while chunk := source.read(1 << 20):
                    written += len(chunk)
                    if written > max_bytes:
                        raise LoraSourceError(f"{what}: {member.name} in the archive is over "
                                              f"{max_bytes / 2**20:.0f} MB")
                    out.write(chunk)
    except (tarfile.TarError, EOFError, OSError) as error:
        raise LoraSourceError(f"{what} is not a readable .tar archive ({type(error).__name__}) "
                              f"({ACCEPTED_FILE})") from None
    os.replace(unpacked, path)


def _the_lora_member(archive: tarfile.TarFile, what: str) -> tarfile.TarInfo:
    """The archive's only .safetensors file, or `lora.safetensors` when it holds several."""
    found = []
    for count, member in enumerate(archive):
        if count >= MAX_ARCHIVE_MEMBERS:
            raise LoraSourceError(f"{what}: the archive holds over {MAX_ARCHIVE_MEMBERS} files ({ACCEPTED_FILE})")
        parts = PurePosixPath(member.name).parts
        if member.name.startswith(("/", "\\")) or ".." in parts:
            raise LoraSourceError(f"{what}: the archive names a file outside itself ({member.name[:80]!r}) "
                                  f"({ACCEPTED_FILE})")
        if not member.name.lower().endswith(".safetensors"):
            continue
        if member.issym() or member.islnk():
            raise LoraSourceError(f"{what}: {member.name[:80]} in the archive is a link ({ACCEPTED_FILE})")
        if member.isreg():
            found.append(member)
    if len(found) > 1:
        preferred = [m for m in found if PurePosixPath(m.name).name == TRAINER_FILE]
        if len(preferred) == 1:
            return preferred[0]
        listed = ", ".join(sorted(m.name[:80] for m in found)[:5])
        raise LoraSourceError(f"{what}: the archive holds {len(found)} .safetensors files ({listed}) "
                              f"({ACCEPTED_FILE})")
    if not found:
        raise LoraSourceError(f"{what}: the archive holds no .safetensors file ({ACCEPTED_FILE})")
    return found[0]
