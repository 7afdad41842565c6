"""The built-in FLUX style LoRAs and their trigger words (no heavy imports: the input schema reads it)."""

from shared.lora_sources import Style

OPEN_IMAGE_PREFERENCES = Style(
    name="open-image-preferences",
    repo_id="data-is-better-together/open-image-preferences-v1-flux-dev-lora",
    filename=None,
    revision="main",
    triggers=("Cinematic", "Photographic", "Anime", "Manga", "Digital art", "Pixel art", "Fantasy art",
              "Neonpunk", "3D Model", "Painting", "Animation", "Illustration"),
)
GHIBSKY = Style(
    name="ghibsky",
    repo_id="aleksa-codes/flux-ghibsky-illustration",
    filename=None,
    revision="main",
    triggers=("GHIBSKY",),
)
STYLES = (OPEN_IMAGE_PREFERENCES, GHIBSKY)
TRIGGERS = {trigger: style for style in STYLES for trigger in style.triggers}
