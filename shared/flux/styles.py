"""The built-in FLUX style LoRAs, their trigger words, and picking one for a prompt.

No heavy imports: predictors and the schema tools read it.
"""

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Style:
    """A built-in LoRA and the trigger words that select it."""

    name: str
    repo_id: str
    filename: str
    revision: str
    triggers: tuple[str, ...]



# Files are named (the GHIBSKY repo holds lora.safetensors and lora_v2.safetensors). Revisions: no commit of either
# repo could be established from public code when this was written (every public use found loads `main`), so
# both follow `main`; the LoRA cache keys each download on the file's ETag, so a changed file is fetched again.
# FLUX_STYLE_REVISION_<NAME> pins a commit.
OPEN_IMAGE_PREFERENCES = Style(
    name="open-image-preferences",
    repo_id="data-is-better-together/open-image-preferences-v1-flux-dev-lora",
    filename="pytorch_lora_weights.safetensors",
    revision="main",
    triggers=("Cinematic", "Photographic", "Anime", "Manga", "Digital art", "Pixel art", "Fantasy art",
              "Neonpunk", "3D Model", "Painting", "Animation", "Illustration"),
)
GHIBSKY = Style(
    name="ghibsky",
    repo_id="aleksa-codes/flux-ghibsky-illustration",
    filename="lora_v2.safetensors",
    revision="main",
    triggers=("GHIBSKY",),
)
STYLES = (OPEN_IMAGE_PREFERENCES, GHIBSKY)
TRIGGERS = {trigger: style for style in STYLES for trigger in style.triggers}


def pick_style(prompt: str, style: str) -> tuple[Style | None, str]:
    """The style to apply and the prompt to send. `auto` looks for a trigger word in the prompt; a trigger
    word given as `style` is added to the prompt when it isn't there yet."""
    if style == "none":
        return None, prompt
    if style == "auto":
        for trigger, found in TRIGGERS.items():
            if _mentions(prompt, trigger):
                return found, prompt
        return None, prompt
    chosen = TRIGGERS[style]
    if not _mentions(prompt, style):
        prompt = f"{style}, {prompt}"
    return chosen, prompt


def _mentions(prompt: str, trigger: str) -> bool:
    return re.search(rf"\b{re.escape(trigger)}\b", prompt, flags=re.IGNORECASE) is not None
