"""FLUX output sizes: the aspect-ratio table (about one megapixel each, Replicate's FLUX list), custom sides, and
image-to-image's `match_input_image`.

No heavy imports: predictors and the schema tools read it.
"""

import math

ASPECT_RATIOS = {
    "1:1": (1024, 1024), "16:9": (1344, 768), "21:9": (1536, 640), "3:2": (1216, 832), "2:3": (832, 1216),
    "4:5": (896, 1088), "5:4": (1088, 896), "3:4": (896, 1152), "4:3": (1152, 896), "9:16": (768, 1344),
    "9:21": (640, 1536),
}
# FLUX packs 2x2 patches of 8x8-pixel latents: each side must be a multiple of 16.
SIDE_MULTIPLE = 16
MATCH_INPUT_PIXELS = 1024 * 1024  # about one megapixel, as the table's sizes
MATCH_INPUT_MAX_SIDE = 1440  # replicate/cog-flux's cap for sizes taken from an input image
MATCH_INPUT_MIN_SIDE = 64  # the smallest custom side: a 100:1 strip still gets a usable short side


def image_size(
    aspect_ratio: str, width: int, height: int, input_size: tuple[int, int] | None = None
) -> tuple[int, int]:
    """(width, height) of the output: the table's size, the custom sides rounded down to a multiple of 16, or
    for `match_input_image` the input image's shape at about one megapixel."""
    if aspect_ratio == "match_input_image":
        if input_size is None:
            raise ValueError("aspect_ratio: match_input_image needs an input image (use a ratio or custom)")
        return match_input(*input_size)
    if aspect_ratio != "custom":
        return ASPECT_RATIOS[aspect_ratio]
    return width - width % SIDE_MULTIPLE, height - height % SIDE_MULTIPLE


def match_input(width: int, height: int) -> tuple[int, int]:
    """The input's aspect ratio at about one megapixel, longest side at most 1440, sides multiples of 16."""
    scale = min(math.sqrt(MATCH_INPUT_PIXELS / (width * height)), MATCH_INPUT_MAX_SIDE / max(width, height))

    def side(length: int) -> int:
        rounded = round(length * scale / SIDE_MULTIPLE) * SIDE_MULTIPLE
        return min(max(rounded, MATCH_INPUT_MIN_SIDE), MATCH_INPUT_MAX_SIDE)

    return side(width), side(height)
